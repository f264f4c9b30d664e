"""`occ` v1.2.3's file-system mode, as the GitOps flow runs it (`occ workload create`, `occ componentrelease
generate --name`, `occ releasebinding generate --component-release`, each with `--mode file-system --root-dir`),
computed in memory: which files change and their exact bytes. Nothing is written here.

The facts it follows (read from openchoreo/openchoreo v1.2.3, `internal/occ/fsmode` and `pkg/fsindex`):
- the index: every `.yaml`/`.yml` file under the root, skipping directories whose name starts with `.` and
  `node_modules`, `vendor`, `.terraform`, `target`, `build`, `dist`; every document with apiVersion and kind;
  ComponentTypes, Traits, ClusterComponentTypes, ClusterTraits and DeploymentPipelines are found by name alone,
  Components and Projects by namespace and name, Workloads, ComponentReleases and ReleaseBindings by their
  `spec.owner`;
- the Workload replaces the component's existing Workload file, else goes next to the Component as `workload.yaml`;
- the ComponentRelease freezes the Component's profile, its (Cluster)ComponentType spec, every Trait it and its type
  use (sorted by kind, then name) and the Workload, each through OpenChoreo's Go types (shapes.py); it goes next to
  the component's existing releases, else into `releases/` beside the Component;
- the ReleaseBinding of the target environment (default: the root of the project's deployment pipeline) keeps
  every field of an existing binding file and only sets `spec.releaseName`, else a new `<component>-<env>` binding
  goes next to the component's existing bindings, else into `release-bindings/` beside the Component.
Every file is written as sigs.k8s.io/yaml writes it (steps.common.goyaml_v2).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from steps.common.goyaml_v2 import GoYamlError, dump_go_yaml, load_go_yaml, load_go_yaml_float64
from steps.gitops_publish.shapes import ShapeError, convert_struct

API_VERSION = "openchoreo.dev/v1alpha1"
EXCLUDED_DIRS = frozenset({".git", ".ocg", "node_modules", "vendor", ".terraform", "target", "build", "dist"})
RELEASE_CONFIG = "release-config.yaml"


class OccError(ValueError):
    """What occ would refuse, named as occ names it, plus the file to look at."""


@dataclass(frozen=True)
class Entry:
    kind: str
    namespace: str
    name: str
    path: PurePosixPath  # relative to the root
    obj: dict[str, Any]

    def nested(self, *keys: str) -> Any:
        node: Any = self.obj
        for key in keys:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        return node

    def owner(self) -> tuple[str, str]:
        owner = self.nested("spec", "owner")
        owner = owner if isinstance(owner, dict) else {}
        project = owner.get("projectName") if isinstance(owner.get("projectName"), str) else ""
        component = owner.get("componentName") if isinstance(owner.get("componentName"), str) else ""
        return str(project), str(component)


@dataclass
class RepoIndex:
    root: Path
    entries: list[Entry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def scan(cls, root: Path) -> RepoIndex:
        index = cls(root)
        for path in _yaml_files(root):
            relative = PurePosixPath(path.relative_to(root).as_posix())
            try:
                documents = load_go_yaml(path.read_text(encoding="utf-8"))
            except (GoYamlError, UnicodeDecodeError) as error:
                index.warnings.append(f"{relative}: skipped, not readable YAML ({error})")
                continue
            for document in documents:
                index.add(document, relative)
        return index

    def add(self, document: Any, path: PurePosixPath) -> None:
        if not isinstance(document, dict) or document.get("apiVersion") != API_VERSION:
            return
        kind = document.get("kind")
        raw_metadata = document.get("metadata")
        metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
        name, namespace = metadata.get("name"), metadata.get("namespace")
        if not isinstance(kind, str) or not kind:
            return
        self.entries.append(
            Entry(
                kind,
                namespace if isinstance(namespace, str) else "",
                name if isinstance(name, str) else "",
                path,
                document,
            )
        )

    def of_kind(self, kind: str) -> Iterator[Entry]:
        return (entry for entry in self.entries if entry.kind == kind)

    def by_name(self, kind: str, name: str) -> Entry | None:
        """Cluster-wide lookups (types, traits, pipelines): the last file scanned wins, as in occ's map."""
        found = [entry for entry in self.of_kind(kind) if entry.name == name]
        return found[-1] if found else None

    def namespaced(self, kind: str, namespace: str, name: str) -> Entry | None:
        found = [entry for entry in self.of_kind(kind) if entry.name == name and entry.namespace == namespace]
        return found[-1] if found else None

    def owned(self, kind: str, project: str, component: str) -> list[Entry]:
        return [entry for entry in self.of_kind(kind) if entry.owner() == (project, component)]

    def replace_file(self, path: PurePosixPath, documents: list[dict[str, Any]]) -> None:
        self.entries = [entry for entry in self.entries if entry.path != path]
        for document in documents:
            self.add(document, path)


def _yaml_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith(".") and d not in EXCLUDED_DIRS)
        for name in sorted(files):
            if name.lower().endswith((".yaml", ".yml")):
                found.append(Path(directory) / name)
    return found


@dataclass(frozen=True)
class Request:
    namespace: str
    project: str
    component: str
    release_name: str
    target_env: str  # "" = the root environment of the project's deployment pipeline


@dataclass
class Plan:
    """The files to write (path relative to the root -> bytes) and what they are."""

    files: dict[PurePosixPath, str] = field(default_factory=dict)
    workload_path: PurePosixPath | None = None
    release_path: PurePosixPath | None = None
    release_name: str = ""
    release_reused: bool = False  # an identical latest release exists: no new release file (see README)
    binding_path: PurePosixPath | None = None
    environment: str = ""
    notes: list[str] = field(default_factory=list)


def _shape(value: Any, struct: str, path: PurePosixPath, where: str) -> dict[str, Any]:
    try:
        return convert_struct(value, struct, where)
    except ShapeError as error:
        raise OccError(f"{path}: {error}") from None


def plan(root: Path, workload_cr: dict[str, Any], request: Request) -> Plan:
    """Everything occ's three commands would write for `request`, or an OccError before anything is decided."""
    if (root / RELEASE_CONFIG).exists():
        raise OccError(
            f"{RELEASE_CONFIG}: the GitOps repository has a release-config.yaml; its output directories are not "
            "supported by gitops-publish yet (remove it, or keep the default layout next to each Component)"
        )
    index = RepoIndex.scan(root)
    result = Plan(notes=list(index.warnings))
    workload = _workload(index, workload_cr, request, result)
    _release(index, workload, request, result)
    _binding(index, request, result)
    return result


# ------------------------------------------------------------------------------------------------------ workload


def _workload(index: RepoIndex, cr: dict[str, Any], request: Request, result: Plan) -> dict[str, Any]:
    typed = _shape(cr, "Workload", PurePosixPath("workload-cr"), "workload-cr")
    owner = typed["spec"]["owner"]
    if (owner["projectName"], owner["componentName"]) != (request.project, request.component):
        raise OccError(
            f"workload-cr: spec.owner is {owner['projectName']}/{owner['componentName']}, but the run is for "
            f"{request.project}/{request.component}"
        )
    existing = index.owned("Workload", request.project, request.component)
    component = index.namespaced("Component", request.namespace, request.component)
    if existing:
        path = existing[-1].path
    elif component is not None:
        path = component.path.parent / "workload.yaml"
    else:
        path = PurePosixPath("projects", request.project, "components", request.component, "workload.yaml")
    result.workload_path = path
    result.files[path] = dump_go_yaml(typed)
    index.replace_file(path, [typed])
    return typed


# ------------------------------------------------------------------------------------------------------- release


def _missing(kind: str, name: str, referrer: str, index: RepoIndex) -> OccError:
    known = sorted({entry.name for entry in index.of_kind(kind)})
    listing = ", ".join(known[:10]) if known else "none"
    return OccError(
        f"{kind} {name!r} (referenced by {referrer}) not found in the GitOps repository ({kind}s: {listing})"
    )


def _component(index: RepoIndex, request: Request) -> Entry:
    entry = index.namespaced("Component", request.namespace, request.component)
    if entry is None:
        expected = PurePosixPath(
            "namespaces", request.namespace, "projects", request.project, "components", request.component
        )
        raise OccError(
            f"component {request.component!r} not found in namespace {request.namespace!r}: the GitOps repository "
            f"has no Component {request.namespace}/{request.component} (e.g. {expected}/component.yaml); create it "
            "there first"
        )
    return entry


def _component_type(index: RepoIndex, spec: dict[str, Any], component: Entry) -> tuple[str, dict[str, Any]]:
    ref = spec["componentType"]
    kind = ref.get("kind") or "ComponentType"
    full_name: str = ref["name"]
    name = full_name.rsplit("/", 1)[-1]
    referrer = f"Component {component.name} in {component.path}"
    if kind == "ComponentType":
        entry = index.by_name("ComponentType", name)
        if entry is None:
            raise _missing("ComponentType", name, referrer, index)
        return kind, _shape(entry.obj.get("spec"), "ComponentTypeSpec", entry.path, "spec")
    if kind == "ClusterComponentType":
        entry = index.by_name("ClusterComponentType", name)
        if entry is None:
            raise _missing("ClusterComponentType", name, referrer, index)
        cluster = _shape(entry.obj.get("spec"), "ClusterComponentTypeSpec", entry.path, "spec")
        # ToComponentTypeSpec: the same fields, reference kinds carried over as they are
        return kind, _shape(cluster, "ComponentTypeSpec", entry.path, "spec")
    raise OccError(f"{component.path}: unsupported component type kind {kind!r} for component {component.name!r}")


def _default_trait_kinds(ct_spec: dict[str, Any], comp_spec: dict[str, Any], ct_kind: str) -> None:
    default = "ClusterTrait" if ct_kind == "ClusterComponentType" else "Trait"
    for key in ("traits", "allowedTraits"):
        for ref in ct_spec.get(key) or []:
            if not ref.get("kind"):
                ref["kind"] = default
    for ref in comp_spec.get("traits") or []:
        if not ref.get("kind"):
            ref["kind"] = "Trait"


def _validate_traits(comp_spec: dict[str, Any], ct_spec: dict[str, Any], component: Entry) -> None:
    traits = comp_spec.get("traits") or []
    allowed = ct_spec.get("allowedTraits") or []
    prefix = f"{component.path}: component {component.name!r} trait validation failed"
    if traits and not allowed:
        raise OccError(f"{prefix}: no traits are allowed, but component has {len(traits)} trait(s)")
    allowed_keys = {(ref.get("kind", ""), ref["name"]) for ref in allowed}
    disallowed = [
        f"{t.get('kind', '')}:{t['name']}" for t in traits if (t.get("kind", ""), t["name"]) not in allowed_keys
    ]
    if disallowed:
        listing = " ".join(f"{r.get('kind', '')}:{r['name']}" for r in allowed)
        raise OccError(f"{prefix}: traits [{' '.join(disallowed)}] are not in the allowed list [{listing}]")
    for label, group in (("embedded traits", ct_spec.get("traits") or []), ("component traits", traits)):
        names = [t["instanceName"] for t in group]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise OccError(f"{prefix}: duplicate trait instance names {duplicates} in {label}")
    embedded = {t["instanceName"] for t in ct_spec.get("traits") or []}
    colliding = [t["instanceName"] for t in traits if t["instanceName"] in embedded]
    if colliding:
        raise OccError(f"{prefix}: trait instance names {colliding} collide with the ComponentType's embedded traits")


def _gather_traits(
    index: RepoIndex, ct_spec: dict[str, Any], comp_spec: dict[str, Any], component: Entry
) -> list[dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    referrer = f"Component {component.name} or its type"
    for ref in [*(ct_spec.get("traits") or []), *(comp_spec.get("traits") or [])]:
        kind, name = ref.get("kind") or "Trait", ref["name"]
        if kind not in ("Trait", "ClusterTrait"):
            raise OccError(f"{component.path}: unsupported trait kind {kind!r} for trait {name!r}")
        if (kind, name) in found:
            continue
        entry = index.by_name(kind, name)
        if entry is None:
            raise _missing(kind, name, referrer, index)
        found[(kind, name)] = _shape(entry.obj.get("spec"), "TraitSpec", entry.path, "spec")
    return [{"kind": kind, "name": name, "spec": spec} for (kind, name), spec in sorted(found.items())]


def _profile(comp_spec: dict[str, Any]) -> dict[str, Any] | None:
    traits = comp_spec.get("traits") or []
    if comp_spec.get("parameters") is None and not traits:
        return None
    profile: dict[str, Any] = {}
    if comp_spec.get("parameters") is not None:
        profile["parameters"] = comp_spec["parameters"]
    entries = []
    for trait in traits:
        item = {"instanceName": trait["instanceName"], "kind": trait.get("kind") or "Trait", "name": trait["name"]}
        if trait.get("parameters") is not None:
            item["parameters"] = trait["parameters"]
        entries.append(item)
    if entries:
        profile["traits"] = entries
    return profile


def release_spec(index: RepoIndex, workload: dict[str, Any], request: Request) -> dict[str, Any]:
    component = _component(index, request)
    comp_spec = _shape(component.obj.get("spec"), "ComponentSpec", component.path, "spec")
    if comp_spec["owner"]["projectName"] != request.project:
        raise OccError(
            f"{component.path}: component {request.component!r} belongs to project "
            f"{comp_spec['owner']['projectName']!r}, not {request.project!r}"
        )
    ct_kind, ct_spec = _component_type(index, comp_spec, component)
    _default_trait_kinds(ct_spec, comp_spec, ct_kind)
    _validate_traits(comp_spec, ct_spec, component)
    traits = _gather_traits(index, ct_spec, comp_spec, component)
    template = {key: value for key, value in workload["spec"].items() if key != "owner"}
    spec: dict[str, Any] = {
        "owner": {"projectName": comp_spec["owner"]["projectName"], "componentName": component.name},
        "componentType": {"kind": ct_kind, "name": comp_spec["componentType"]["name"], "spec": ct_spec},
        "workload": template,
    }
    if traits:
        spec["traits"] = traits
    profile = _profile(comp_spec)
    if profile is not None:
        spec["componentProfile"] = profile
    return spec


def _latest_release(root: Path, directory: PurePosixPath, component: str) -> tuple[str, Any] | None:
    """FindLatestRelease: the file `<component>-*.yaml` with the greatest name in the directory."""
    folder = root / directory
    if not folder.is_dir():
        return None
    names = sorted(
        (
            p.name
            for p in folder.iterdir()
            if p.is_file() and p.name.startswith(component + "-") and p.name.endswith(".yaml")
        ),
        reverse=True,
    )
    if not names:
        return None
    try:
        documents = load_go_yaml((folder / names[0]).read_text(encoding="utf-8"))
    except (GoYamlError, UnicodeDecodeError, OSError):
        return None
    first = documents[0] if documents else None
    return names[0][: -len(".yaml")], first.get("spec") if isinstance(first, dict) else None


def _release(index: RepoIndex, workload: dict[str, Any], request: Request, result: Plan) -> None:
    spec = release_spec(index, workload, request)
    component = _component(index, request)
    existing = index.owned("ComponentRelease", request.project, request.component)
    directory = existing[0].path.parent if existing else component.path.parent / "releases"
    latest = _latest_release(index.root, directory, request.component)
    release = {
        "apiVersion": API_VERSION,
        "kind": "ComponentRelease",
        "metadata": {"name": request.release_name, "namespace": request.namespace},
        "spec": spec,
    }
    if latest is not None and latest[1] == load_go_yaml(dump_go_yaml(spec))[0]:
        result.release_name, result.release_reused = latest[0], True
        result.notes.append(
            f"the latest release {latest[0]} already has this exact spec: no new ComponentRelease (as occ skips it)"
        )
        return
    path = directory / f"{request.release_name}.yaml"
    result.release_name, result.release_path = request.release_name, path
    result.files[path] = dump_go_yaml(release)
    index.replace_file(path, [release])


# ------------------------------------------------------------------------------------------------------- binding


def _pipeline_root(index: RepoIndex, request: Request) -> tuple[str, set[str], str]:
    project = index.namespaced("Project", request.namespace, request.project)
    if project is None:
        raise OccError(
            f"project {request.project!r} not found in namespace {request.namespace!r}: the GitOps repository has "
            f"no Project {request.namespace}/{request.project}"
        )
    ref = project.nested("spec", "deploymentPipelineRef", "name")
    if not isinstance(ref, str) or not ref:
        raise OccError(f"{project.path}: project {request.project!r} has no deploymentPipelineRef set")
    pipeline = index.by_name("DeploymentPipeline", ref)
    if pipeline is None:
        raise _missing("DeploymentPipeline", ref, f"Project {request.project} in {project.path}", index)
    paths = pipeline.nested("spec", "promotionPaths")
    if not isinstance(paths, list) or not paths:
        raise OccError(f"{pipeline.path}: deployment pipeline {ref} has no promotion paths defined")
    promotions: dict[str, list[str]] = {}
    sources: list[str] = []
    for item in paths:
        if not isinstance(item, dict):
            continue
        source_ref = item.get("sourceEnvironmentRef")
        source = source_ref.get("name") if isinstance(source_ref, dict) else source_ref
        if not isinstance(source, str) or not source:
            continue
        sources.append(source)
        targets = item.get("targetEnvironmentRefs")
        names = [t.get("name") for t in targets if isinstance(t, dict)] if isinstance(targets, list) else []
        promotions[source] = [n for n in names if isinstance(n, str) and n]
    all_targets = {t for targets in promotions.values() for t in targets}
    root_env = next((s for s in sources if s not in all_targets), "")
    if not root_env:
        raise OccError(
            f"{pipeline.path}: deployment pipeline {ref} has no root environment (all sources are also targets)"
        )
    reachable, queue = {root_env}, [root_env]
    while queue:
        for target in promotions.get(queue.pop(0), []):
            if target not in reachable:
                reachable.add(target)
                queue.append(target)
    return root_env, reachable, str(pipeline.path)


def _binding(index: RepoIndex, request: Request, result: Plan) -> None:
    root_env, environments, pipeline_path = _pipeline_root(index, request)
    environment = request.target_env or root_env
    if environment not in environments:
        raise OccError(
            f"invalid target environment: environment {environment!r} does not exist in the deployment pipeline "
            f"({pipeline_path}: {', '.join(sorted(environments))})"
        )
    owned = [
        entry
        for entry in index.owned("ReleaseBinding", request.project, request.component)
        if entry.nested("spec", "environment") == environment
    ]
    result.environment = environment
    if owned:
        path = owned[0].path
        try:
            documents = load_go_yaml_float64((index.root / path).read_text(encoding="utf-8"))
        except (GoYamlError, UnicodeDecodeError, OSError) as error:
            raise OccError(f"{path}: failed to parse existing binding file: {error}") from None
        binding = documents[0]
        if not isinstance(binding.get("spec"), dict):
            raise OccError(f"{path}: the existing ReleaseBinding has no spec mapping")
        binding["spec"]["releaseName"] = result.release_name
    else:
        bindings = [e for e in index.of_kind("ReleaseBinding") if e.owner() == (request.project, request.component)]
        component = _component(index, request)
        directory = bindings[0].path.parent if bindings else component.path.parent / "release-bindings"
        name = f"{request.component}-{environment}"
        path = directory / f"{name}.yaml"
        binding = {
            "apiVersion": API_VERSION,
            "kind": "ReleaseBinding",
            "metadata": {"name": name, "namespace": request.namespace},
            "spec": {
                "owner": {"projectName": request.project, "componentName": request.component},
                "environment": environment,
                "releaseName": result.release_name,
            },
        }
    result.binding_path = path
    result.files[path] = dump_go_yaml(binding)
