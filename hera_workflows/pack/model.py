"""The pack as a model: step templates, pipelines and extra resources, rendered into Kubernetes documents.

This is also the extension API. A platform team's `extend(pack)` function (see hera_workflows.extension and
examples/image_scan_extension) can

- add a step ClusterWorkflowTemplate with the pack's secure defaults: `pack.add_step_template(...)` with a
  template built by `pack.container(...)` (or any Hera template);
- insert a step into every pipeline (or some): `pack.insert_step(PipelineStep(...), after="publish-image")`;
- add pipeline arguments (`pipeline.add_argument(...)`), also exposed through the OpenChoreo resources;
- add any other Kubernetes document: `pack.add_resource(Resource(...))`.

Nothing is rendered until `pack.render()`, so extensions see and change the same model the pack renders.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hera.workflows import ClusterWorkflowTemplate, Container, Env, Parameter, Step, Steps
from hera.workflows import models as m

from hera_workflows.pack import blocks as c
from hera_workflows.pack import openchoreo
from hera_workflows.pack.documents import (
    ARGO_FOLDERS,
    FOLDER_OPENCHOREO,
    FOLDER_OPENCHOREO_017,
    FOLDER_PIPELINES,
    FOLDER_STEPS,
    PackError,
    Resource,
)
from hera_workflows.pack.settings import Settings, StepSettings
from steps.common import contract


@dataclass
class PipelineArgument:
    """A pipeline (`spec.arguments`) parameter. `openchoreo` / `openchoreo_017` are the CEL expressions the
    ClusterWorkflow (v1.x) / Workflow (v0.17) runTemplates pass for it (None: the pipeline default applies)."""

    name: str
    default: str | None = None
    description: str = ""
    openchoreo: str | None = None
    openchoreo_017: str | None = None

    def parameter(self) -> Parameter:
        if self.default is None:
            return Parameter(name=self.name, description=self.description or None)
        return Parameter(name=self.name, value=self.default, description=self.description or None)


@dataclass
class PipelineStep:
    """One sequential step of a pipeline: calls `template` of the step ClusterWorkflowTemplate `cwt`.

    `arguments` values are Argo expressions such as `{{workflow.parameters.image-name}}` or
    `{{steps.publish-image.outputs.parameters.image}}` (see hera_workflows.pack.blocks.step_output_ref)."""

    name: str
    cwt: str
    template: str
    arguments: dict[str, str] = field(default_factory=dict)


@dataclass
class Pipeline:
    """One pipeline ClusterWorkflowTemplate (entrypoint `build-workflow`, a Steps template) per build type."""

    name: str
    build_type: str
    description: str
    arguments: list[PipelineArgument]
    steps: list[PipelineStep]
    # OpenChoreo resources: ClusterWorkflow/Workflow names and developer-facing parameter schemas.
    openchoreo_name: str = ""
    openchoreo_017_name: str = ""
    openchoreo_description: str = ""
    parameters_schema: dict[str, Any] = field(default_factory=dict)  # v1.x openAPIV3Schema
    schema_017: dict[str, Any] = field(default_factory=dict)  # v0.17 shorthand schema

    def step(self, name: str) -> PipelineStep:
        for step in self.steps:
            if step.name == name:
                return step
        raise PackError(f"pipeline {self.name}: no step named {name!r} (steps: {', '.join(self.step_names())})")

    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]

    def insert_step(self, step: PipelineStep, *, after: str | None = None, before: str | None = None) -> None:
        if (after is None) == (before is None):
            raise PackError("insert_step: give exactly one of after= or before=")
        if step.name in self.step_names():
            raise PackError(f"pipeline {self.name}: a step named {step.name!r} already exists")
        anchor = self.steps.index(self.step(after if after is not None else before or ""))
        self.steps.insert(anchor + 1 if after is not None else anchor, step)

    def argument(self, name: str) -> PipelineArgument:
        for argument in self.arguments:
            if argument.name == name:
                return argument
        raise PackError(f"pipeline {self.name}: no argument named {name!r}")

    def add_argument(self, argument: PipelineArgument) -> None:
        if argument.name in {a.name for a in self.arguments}:
            raise PackError(f"pipeline {self.name}: argument {argument.name!r} already exists")
        self.arguments.append(argument)


@dataclass
class Pack:
    settings: Settings
    step_templates: dict[str, c.StepTemplate] = field(default_factory=dict)
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    resources: list[Resource] = field(default_factory=list)

    # ------------------------------------------------------------------ extension API

    def add_step_template(self, template: c.StepTemplate) -> c.StepTemplate:
        if template.cwt in self.step_templates:
            raise PackError(f"a step ClusterWorkflowTemplate named {template.cwt!r} already exists")
        self.step_templates[template.cwt] = template
        return template

    def container(
        self,
        *,
        template: str,
        image: str,
        command: list[str],
        args: Iterable[str] = (),
        inputs: Iterable[Parameter] = (),
        env: dict[str, str] | None = None,
        param_env: dict[str, str] | None = None,
        outputs: Iterable[str] = (),
        secrets: Iterable[c.SecretMount] = (),
        step_settings: StepSettings | None = None,
        retry_on_transient: bool = False,
        workspace: bool = True,
    ) -> Container:
        """A container template with the pack's secure defaults (non-root, drop ALL, RuntimeDefault seccomp,
        read-only root with /tmp emptyDir, requests/limits, activeDeadlineSeconds, workspace at /mnt/vol).

        `param_env` maps ENV_NAME -> input parameter name (rendered as `{{inputs.parameters.<name>}}`);
        `env` holds constant values; `outputs` are output parameter names read from /tmp/outputs/<name>."""
        environment = [Env(name=name, value=c.param_ref(param)) for name, param in (param_env or {}).items()]
        environment.extend(Env(name=name, value=value) for name, value in (env or {}).items())
        retry = c.transient_retry_strategy(self.settings) if retry_on_transient else None
        return c.secure_container(
            c.ContainerSpec(
                template=template,
                image=image,
                command=list(command),
                args=list(args),
                settings=step_settings or StepSettings(),
                inputs=list(inputs),
                env=[*environment, *c.constant_env()],
                outputs=c.output_parameters(outputs),
                secrets=list(secrets),
                retry_strategy=retry,
                workspace=workspace,
            ),
            self.settings,
        )

    def insert_step(
        self,
        step: PipelineStep,
        *,
        after: str | None = None,
        before: str | None = None,
        pipelines: Iterable[str] | None = None,
    ) -> None:
        """Insert `step` into the named pipelines (default: all), after or before an existing step."""
        names = list(self.pipelines) if pipelines is None else list(pipelines)
        for name in names:
            if name not in self.pipelines:
                raise PackError(f"no pipeline named {name!r} (pipelines: {', '.join(self.pipelines)})")
            self.pipelines[name].insert_step(copy.deepcopy(step), after=after, before=before)

    def add_resource(self, resource: Resource) -> None:
        if resource.folder in ARGO_FOLDERS or resource.folder in (FOLDER_OPENCHOREO, FOLDER_OPENCHOREO_017):
            raise PackError(f"resource {resource.name}: folder {resource.folder!r} is reserved for the pack")
        self.resources.append(resource)

    # ------------------------------------------------------------------ rendering

    def validate(self) -> None:
        for pipeline in self.pipelines.values():
            for step in pipeline.steps:
                template = self.step_templates.get(step.cwt)
                if template is None:
                    raise PackError(f"pipeline {pipeline.name}: step {step.name} calls unknown template {step.cwt!r}")
                if template.template_name != step.template:
                    raise PackError(
                        f"pipeline {pipeline.name}: step {step.name} calls {step.cwt}/{step.template}, "
                        f"but that ClusterWorkflowTemplate's template is {template.template_name!r}"
                    )
                inputs = template.template.inputs
                items = inputs if isinstance(inputs, list) else []
                declared = {p.name for p in items if isinstance(p, Parameter)}
                unknown = sorted(set(step.arguments) - declared)
                if unknown:
                    raise PackError(
                        f"pipeline {pipeline.name}: step {step.name} passes undeclared input(s) {', '.join(unknown)}"
                    )

    def pipeline_cwt(self, pipeline: Pipeline) -> dict[str, Any]:
        inline = self.settings.openchoreo.inline_steps
        steps: list[Step] = []
        inlined: dict[str, Container] = {}
        for step in pipeline.steps:
            arguments = [Parameter(name=k, value=v) for k, v in step.arguments.items()] or None
            if inline:
                template = self.step_templates[step.cwt]
                name = template.template_name
                if name in inlined and inlined[name] is not template.template:
                    raise PackError(f"pipeline {pipeline.name}: two inlined templates are named {name!r}")
                inlined[name] = template.template
                steps.append(Step(name=step.name, template=name, arguments=arguments))
            else:
                ref = m.TemplateRef(name=step.cwt, template=step.template, cluster_scope=True)
                steps.append(Step(name=step.name, template_ref=ref, arguments=arguments))
        pipe = self.settings.pipelines
        claim = m.PersistentVolumeClaim(
            metadata=m.ObjectMeta(name=contract.WORKSPACE_VOLUME),
            spec=m.PersistentVolumeClaimSpec(
                access_modes=["ReadWriteOnce"],
                storage_class_name=pipe.storage_class,
                resources=m.VolumeResourceRequirements(requests={"storage": m.Quantity(pipe.workspace_size)}),
            ),
        )
        meta = c.metadata(
            pipeline.name,
            "pipeline",
            pipeline.description,
            {"ci-pack.openchoreo.dev/build-type": pipeline.build_type},
        )
        templates: list[Any] = [Steps(name=contract.PIPELINE_ENTRYPOINT, sub_steps=list[Any](steps))]
        templates.extend(copy.deepcopy(t) for t in inlined.values())
        cwt = ClusterWorkflowTemplate(
            name=pipeline.name,
            labels=meta["labels"],
            annotations=meta["annotations"],
            entrypoint=contract.PIPELINE_ENTRYPOINT,
            arguments=[a.parameter() for a in pipeline.arguments],
            volume_claim_templates=[claim],
            active_deadline_seconds=pipe.active_deadline_seconds,
            service_account_name=pipe.service_account or None,
            templates=templates,
        )
        result: dict[str, Any] = cwt.to_dict()
        return result

    def render(self) -> list[Resource]:
        """Every document of the pack, in a stable order (kustomization files are added by the renderer)."""
        self.validate()
        out: list[Resource] = []
        for name in sorted(self.step_templates):
            out.append(Resource(FOLDER_STEPS, name, self.step_templates[name].to_dict()))
        for name in sorted(self.pipelines):
            out.append(Resource(FOLDER_PIPELINES, name, self.pipeline_cwt(self.pipelines[name])))
        out.extend(openchoreo.resources(self))
        out.extend(sorted(self.resources, key=lambda r: (r.folder, r.name)))
        paths = [r.path for r in out]
        duplicates = sorted({p for p in paths if paths.count(p) > 1})
        if duplicates:
            raise PackError(f"two documents would be written to {', '.join(duplicates)}")
        return out


Extension = Callable[[Pack], None]
