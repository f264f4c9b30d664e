"""Real Argo Workflows on the real node (issue 12, gate 3): `workflow-controller` and `argoexec` v4.0.5 built from
the `github.com/argoproj/argo-workflows/v4` module by scripts/cluster/build.sh (argoexec needs one file the module
zip drops; the script restores it), on a `RealNode` (testkit/real_node.py).

`RealArgo` applies the 8 CRDs of the module's `manifests/base/crds/full/` (server-side, as upstream says), imports
an executor image made locally (static argoexec + the few /etc files upstream's image has; `PATH=/bin`,
`ENTRYPOINT ["argoexec"]`) and the pack's step images (from the local Docker engine, renamed to
`127.0.0.1:5000/openchoreo-ci-pack/<step>`, a registry name that is never contacted: pull policy Never), writes
the controller's configmap (executor `KUBERNETES_SERVICE_HOST=127.0.0.1` and the apiserver's port, pull policy
Never, workflow defaults `hostNetwork: true`, `dnsPolicy: None`, nameserver 127.0.0.1, metrics off) and starts the
controller as a host process with an admin kubeconfig whose context namespace is `argo`.

Limits of the tier, on purpose: every pod is on the host network, so the build step's user namespace is off
(`build.user_namespace=false`, `build.isolation=none`; the API server refuses `hostUsers: false` with
`hostNetwork: true`); the controller's health listener is hard-coded to `:6060` (all interfaces) in v4.0.5; the
v4.0.5 controller ignores SIGTERM (argo#15863), so it is stopped with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from testkit.gitserver import git
from testkit.real_node import (
    NAMESERVER,
    NodeSetupError,
    RealNode,
    _clean_env,
    image_archive,
)
from testkit.real_openchoreo import (
    _Process,
    _tail,
    _wait_for,
    collection_path,
    crd_established,
    go_module_dir,
    object_path,
    run_build_script,
)

ARGO_MODULE = "github.com/argoproj/argo-workflows/v4"
ARGO_COMPONENTS = ("workflow-controller", "argoexec")
NAMESPACE = "argo"
EXECUTOR_ACCOUNT = "workflow-sa"
STEP_IMAGES = ("checkout", "build", "publish-image", "generate-workload")
SOURCE_IMAGE_REGISTRY = "ghcr.io/openchoreo-ci-pack"  # what `images build --local-base` tags on the engine
NODE_IMAGE_REGISTRY = "127.0.0.1:5000/openchoreo-ci-pack"  # the name the tier renders; never contacted
IMAGE_TAG = "0.1.0"
DOCKER = "/usr/bin/docker"
# The render settings of this tier (README "Tested against real OpenChoreo and Argo"): host network => no user ns.
TIER_SETTINGS = (
    "build.user_namespace=false",
    "build.isolation=none",
    f"images.registry={NODE_IMAGE_REGISTRY}",
    "images.pull_policy=Never",
)


class ArgoSetupError(NodeSetupError):
    """Argo could not be built or started on the node. First line says what; the rest are logs."""


@dataclass(frozen=True)
class ArgoBinaries:
    workflow_controller: Path
    argoexec: Path

    @property
    def version(self) -> str:
        return self.argoexec.name.removeprefix("argoexec-")


def build_argo_binaries() -> ArgoBinaries:
    paths = run_build_script(ARGO_COMPONENTS, len(ARGO_COMPONENTS), gate="gate 3", what="real Argo",
                             error=ArgoSetupError)  # fmt: skip
    return ArgoBinaries(*paths)


def argo_module_dir(version: str) -> Path:
    return go_module_dir(ARGO_MODULE, version, gate="gate 3", error=ArgoSetupError)


def executor_image(argoexec: Path, reference: str) -> bytes:
    """The executor image, made locally: what upstream's distroless image holds that argoexec uses."""
    mime_types = Path("/etc/mime.types")
    files = {
        "bin/argoexec": (argoexec.read_bytes(), 0o755),
        "etc/nsswitch.conf": (b"hosts: files dns\n", 0o644),
        "etc/passwd": (b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n",
                       0o644),
        "etc/group": (b"root:x:0:\nnonroot:x:65532:\n", 0o644),
        "etc/ssh/ssh_known_hosts": (b"", 0o644),
        "etc/mime.types": (mime_types.read_bytes() if mime_types.exists() else b"", 0o644),
    }  # fmt: skip
    return image_archive(reference, files, {}, ["argoexec"], ["PATH=/bin"])


@dataclass
class RealArgo:
    node: RealNode
    binaries: ArgoBinaries
    timings: dict[str, float] = field(default_factory=dict)
    controller: _Process | None = None

    @property
    def executor_reference(self) -> str:
        return f"pack.local/argoexec:{self.binaries.version}"

    def __enter__(self) -> RealArgo:
        try:
            self.start()
        except BaseException as error:
            logs = self.logs()
            self.stop()
            raise ArgoSetupError(f"gate 3: starting Argo on the node failed: {error}\n{logs}") from error
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def kubectl(self, *args: str, timeout: float = 300) -> str:
        result = self.node.kubectl(*args, timeout=timeout)
        if result.returncode != 0:
            raise ArgoSetupError(f"gate 3: kubectl {' '.join(args)} failed: {result.stderr.strip()[:800]}")
        return result.stdout

    def start(self) -> None:
        started = time.monotonic()
        crds = argo_module_dir(self.binaries.version) / "manifests" / "base" / "crds" / "full"
        files = sorted(str(path) for path in crds.glob("argoproj.io_*.yaml"))
        if len(files) != 8:
            raise ArgoSetupError(f"gate 3: expected 8 CRDs in {crds}, found {len(files)}")
        self.kubectl("apply", "--server-side", *[arg for path in files for arg in ("-f", path)])
        # Polled through the API: `kubectl wait --for condition=Established crd --all` fails outright on a CRD that
        # has no conditions yet, right after the apply.
        names = [yaml.safe_load(Path(path).read_text())["metadata"]["name"] for path in files]
        _wait_for(f"{len(names)} Argo CRDs Established", lambda: all(crd_established(self.node.api, name)
                  for name in names), [], 120)  # fmt: skip
        self.timings["CRDs"] = time.monotonic() - started

        images_started = time.monotonic()
        self.node.import_image(executor_image(self.binaries.argoexec, self.executor_reference))
        self._import_step_images()
        self.timings["images"] = time.monotonic() - images_started

        self.node.api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
        port = self.node.api_url.rsplit(":", 1)[1]
        executor = {
            "imagePullPolicy": "Never",
            "env": [
                {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
                {"name": "KUBERNETES_SERVICE_PORT", "value": port},
            ],
        }
        defaults = {"spec": {"hostNetwork": True, "dnsPolicy": "None", "dnsConfig": {"nameservers": [NAMESERVER]}}}
        self.node.api.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "workflow-controller-configmap", "namespace": NAMESPACE},
                "data": {
                    "executor": yaml.safe_dump(executor),
                    "workflowDefaults": yaml.safe_dump(defaults),
                    "metricsConfig": "enabled: false\n",
                    "telemetryConfig": "enabled: false\n",
                },
            }
        )
        # The pack's steps run their executor as `workflow-sa` (OpenChoreo creates it with this Role); Argo mounts
        # the account's token Secret `<account>.service-account-token`, which the token controller fills.
        self.node.api.create(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": EXECUTOR_ACCOUNT, "namespace": NAMESPACE},
            }
        )
        self.node.api.create(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/service-account-token",
                "metadata": {
                    "name": f"{EXECUTOR_ACCOUNT}.service-account-token",
                    "namespace": NAMESPACE,
                    "annotations": {"kubernetes.io/service-account.name": EXECUTOR_ACCOUNT},
                },
            }
        )
        # What the executor needs (upstream's quick-start executor role).
        self.node.api.create(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "executor", "namespace": NAMESPACE},
                "rules": [
                    {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}
                ],
            }
        )
        self.node.api.create(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "executor-default", "namespace": NAMESPACE},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "executor"},
                "subjects": [
                    {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}
                    for account in (EXECUTOR_ACCOUNT, "default")
                ],
            }
        )
        assert self.node.admin_kubeconfig is not None and self.node.directory is not None
        kubeconfig = yaml.safe_load(self.node.admin_kubeconfig.read_text())
        kubeconfig["contexts"][0]["context"]["namespace"] = NAMESPACE
        controller_kubeconfig = self.node.directory / "argo.kubeconfig"
        controller_kubeconfig.write_text(yaml.safe_dump(kubeconfig))
        controller_kubeconfig.chmod(0o600)
        env = _clean_env(
            KUBECONFIG=str(controller_kubeconfig), LEADER_ELECTION_DISABLE="true", HOME=str(self.node.directory)
        )
        self.controller = _Process(
            "workflow-controller",
            [
                str(self.binaries.workflow_controller),
                "--executor-image", self.executor_reference,
                "--executor-image-pull-policy", "Never",
                "--configmap", "workflow-controller-configmap",
            ],
            self.node.directory / "workflow-controller.log",
            env=env,
        )  # fmt: skip
        self.controller.start()
        time.sleep(2)
        if self.controller.exited() is not None:
            raise ArgoSetupError(f"gate 3: workflow-controller exited with {self.controller.exited()}")
        self.timings["total"] = time.monotonic() - started

    def _import_step_images(self) -> None:
        assert self.node.directory is not None
        for step in STEP_IMAGES:
            source = f"{SOURCE_IMAGE_REGISTRY}/{step}:{IMAGE_TAG}"
            archive = self.node.directory / f"{step}.tar"
            result = subprocess.run(
                [DOCKER, "save", "-o", str(archive), source], capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                raise ArgoSetupError(
                    f"gate 3: docker save {source} failed (build the step images first: python -m hera_workflows "
                    f"images build --local-base): {result.stderr.strip()[:300]}"
                )
            self.node.import_image(archive)
            archive.unlink()
            target = f"{NODE_IMAGE_REGISTRY}/{step}:{IMAGE_TAG}"
            tagged = self.node.ctr("images", "tag", "--force", f"docker.io/{source}", target)
            if tagged.returncode != 0:
                tagged = self.node.ctr("images", "tag", "--force", source, target)
            if tagged.returncode != 0:
                raise ArgoSetupError(f"gate 3: ctr images tag {source} failed: {tagged.stderr.decode()[:300]}")
            self.node.ctr("images", "remove", source)
            self.node.images.append(target)

    def name_step_images_as_committed(self) -> list[str]:
        """Give the imported step images also the names the committed templates/ use
        (`ghcr.io/openchoreo-ci-pack/<step>:0.1.0`, pull policy IfNotPresent): present, so never pulled."""
        names = []
        for step in STEP_IMAGES:
            target = f"{SOURCE_IMAGE_REGISTRY}/{step}:{IMAGE_TAG}"
            tagged = self.node.ctr("images", "tag", "--force", f"{NODE_IMAGE_REGISTRY}/{step}:{IMAGE_TAG}", target)
            if tagged.returncode != 0:
                raise ArgoSetupError(f"gate 3: ctr images tag {target} failed: {tagged.stderr.decode()[:300]}")
            self.node.images.append(target)
            names.append(target)
        return names

    def stop(self) -> None:
        if self.controller is not None and self.controller.popen is not None and self.controller.exited() is None:
            # v4.0.5 ignores SIGTERM (argo#15863): SIGKILL by its PID (its own process group).
            os.killpg(self.controller.popen.pid, signal.SIGKILL)
            self.controller.popen.wait(timeout=15)

    def logs(self) -> str:
        if self.controller is None:
            return "(workflow-controller not started)"
        return f"----- workflow-controller {self.controller.log}\n{_tail(self.controller.log)}\n{self.node.logs()}"

    # -------------------------------------------------------------------------------------------- use
    def hostpath_volume(self, name: str, size: str = "2Gi") -> Path:
        """A hostPath PersistentVolume for a workflow's workspace claim (the node has no provisioner). Owned by
        10001:10001, mode 2775: hostPath ignores fsGroup."""
        assert self.node.directory is not None
        path = self.node.directory / "volumes" / name
        path.mkdir(parents=True)
        os.chown(path, 10001, 10001)
        path.chmod(0o2775)
        self.node.api.create(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": name},
                "spec": {
                    "capacity": {"storage": size},
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "",
                    "persistentVolumeReclaimPolicy": "Retain",
                    "hostPath": {"path": str(path), "type": "Directory"},
                },
            }
        )
        return path

    def workflow(self, name: str) -> dict[str, Any]:
        document: dict[str, Any] = self.node.api.get(
            f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/workflows/{name}"
        )
        return document

    def submit(self, document: dict[str, Any]) -> str:
        created = self.node.api.request(
            "POST", f"/apis/argoproj.io/v1alpha1/namespaces/{NAMESPACE}/workflows", document
        )
        name: str = created["metadata"]["name"]
        return name

    def wait_finished(self, name: str, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        workflow: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                workflow = self.workflow(name)
            except httpx.TransportError:
                # A poll is an idempotent read: one slow answer from an API server starved of CPU (a TLS handshake
                # that timed out once in CI while a build ran on the node) is asked again, within the same deadline.
                time.sleep(1)
                continue
            if workflow.get("status", {}).get("phase") in ("Succeeded", "Failed", "Error"):
                return workflow
            if self.controller is not None and self.controller.exited() is not None:
                raise ArgoSetupError(f"gate 3: workflow-controller exited\n{self.logs()}")
            time.sleep(1)
        raise AssertionError(f"workflow {name} not finished after {timeout} s: {workflow.get('status')}")

    # -------------------------------------------------------------------------------------------- helpers of the tests
    def ensure(self, document: dict[str, Any]) -> None:
        """Create `document`, or replace it when it exists (tests of one session share the node)."""
        path = collection_path(document)
        response = self.node.api._client.post(path, json=document)
        if response.status_code == 409:
            current = self.node.api.get(object_path(document))
            version = current["metadata"]["resourceVersion"]
            replaced = dict(document, metadata={**document["metadata"], "resourceVersion": version})
            self.node.api.replace(replaced)
        elif response.status_code not in (200, 201):
            raise RuntimeError(f"kube-apiserver POST {path} -> {response.status_code}: {response.text[:800]}")

    def git_secret(self, name: str, username: str, password: str) -> None:
        self.ensure(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "stringData": {"username": username, "password": password},
            }
        )

    def apply_pack(self, directory: Path) -> None:
        """`kubectl apply -k` of a rendered pack directory (the committed templates/ or a tier render)."""
        self.kubectl("apply", "-k", str(directory))

    def pods_of(self, workflow: str) -> list[dict[str, Any]]:
        selector = f"workflows.argoproj.io/workflow={workflow}"
        pods: list[dict[str, Any]] = self.node.api.get(f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector={selector}")[
            "items"
        ]
        return pods

    def claims(self) -> list[dict[str, Any]]:
        claims: list[dict[str, Any]] = self.node.api.get(f"/api/v1/namespaces/{NAMESPACE}/persistentvolumeclaims")[
            "items"
        ]
        return claims


def render_pack(directory: Path, *settings: str) -> Path:
    """The pack rendered with this tier's settings (plus `settings`) into `directory`."""
    arguments = [arg for setting in (*TIER_SETTINGS, *settings) for arg in ("--set", setting)]
    result = subprocess.run([sys.executable, "-m", "hera_workflows", "render", "-o", str(directory), *arguments],
                            capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
    if result.returncode != 0:
        raise ArgoSetupError(f"gate 3: render {' '.join(settings)} failed: {result.stderr.strip()[:600]}")
    return directory


def dockerfile_builder(parameters: dict[str, str], *, name: str | None = None) -> dict[str, Any]:
    """The Workflow a platform submits for the pack's `dockerfile-builder` (workflowTemplateRef, cluster scope)."""
    metadata: dict[str, str] = {"namespace": NAMESPACE}
    metadata.update({"name": name} if name else {"generateName": "dockerfile-builder-"})
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": metadata,
        "spec": {
            "workflowTemplateRef": {"name": "dockerfile-builder", "clusterScope": True},
            "arguments": {"parameters": [{"name": key, "value": value} for key, value in parameters.items()]},
        },
    }


def node_outputs(node: dict[str, Any]) -> dict[str, str]:
    """A node's output parameters, name -> value."""
    return {p["name"]: p.get("value", "") for p in (node.get("outputs") or {}).get("parameters") or []}


def nodes_by_display_name(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["displayName"]: node for node in (workflow.get("status") or {}).get("nodes", {}).values()}


def sample_app(root: Path, dockerfile: str, name: str = "app.git") -> str:
    """A bare repository `root/name` holding one Dockerfile; returns its commit."""
    work = root / f"{name}.work"
    git("init", "--quiet", "--bare", str(root / name))
    git("clone", "--quiet", str(root / name), str(work))
    (work / "Dockerfile").write_text(dockerfile)
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "sample app", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)
