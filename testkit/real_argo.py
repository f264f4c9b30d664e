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

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from testkit.real_node import (
    BUILD_SCRIPT,
    BUILD_TIMEOUT_SECONDS,
    LOG_TAIL_LINES,
    NAMESERVER,
    NodeSetupError,
    RealNode,
    _clean_env,
    image_archive,
)
from testkit.real_openchoreo import _Process

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
    try:
        result = subprocess.run(
            ["bash", str(BUILD_SCRIPT), *ARGO_COMPONENTS],
            capture_output=True,
            text=True,
            check=False,
            timeout=BUILD_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as error:
        raise ArgoSetupError(f"gate 3: building Argo took over {BUILD_TIMEOUT_SECONDS} s") from error
    paths = [Path(line) for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or len(paths) != 2 or not all(path.is_file() for path in paths):
        tail = "\n".join(result.stderr.splitlines()[-LOG_TAIL_LINES:])
        raise ArgoSetupError(
            f"gate 3: scripts/cluster/build.sh {' '.join(ARGO_COMPONENTS)} failed (exit {result.returncode}); "
            f"real Argo cannot be tested\n{tail}"
        )
    return ArgoBinaries(*paths)


def argo_module_dir(version: str) -> Path:
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "GOWORK": "off"}
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"{ARGO_MODULE}@{version}"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=600,
    )
    try:
        return Path(json.loads(result.stdout)["Dir"])
    except (ValueError, KeyError) as error:
        raise ArgoSetupError(
            f"gate 3: go mod download {ARGO_MODULE}@{version} failed: {result.stderr[:400]}"
        ) from error


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
        self.kubectl("wait", "--for", "condition=Established", "--timeout", "120s", "crd", "--all")
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

    def stop(self) -> None:
        if self.controller is not None and self.controller.popen is not None and self.controller.exited() is None:
            # v4.0.5 ignores SIGTERM (argo#15863): SIGKILL by its PID (its own process group).
            os.killpg(self.controller.popen.pid, signal.SIGKILL)
            self.controller.popen.wait(timeout=15)

    def logs(self) -> str:
        if self.controller is None:
            return "(workflow-controller not started)"
        tail = "\n".join(self.controller.log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
        return f"----- workflow-controller {self.controller.log}\n{tail}\n{self.node.logs()}"

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
            workflow = self.workflow(name)
            if workflow.get("status", {}).get("phase") in ("Succeeded", "Failed", "Error"):
                return workflow
            if self.controller is not None and self.controller.exited() is not None:
                raise ArgoSetupError(f"gate 3: workflow-controller exited\n{self.logs()}")
            time.sleep(1)
        raise AssertionError(f"workflow {name} not finished after {timeout} s: {workflow.get('status')}")
