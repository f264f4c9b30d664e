"""hera_workflows.engine.podrun: an Argo container template run as a Docker container the way a Pod runs it.

Plan tests need no Docker; run tests use a ~2 MB busybox image imported from the host's static busybox.
"""

from __future__ import annotations

import copy
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hera_workflows.engine import podrun
from hera_workflows.engine.podrun import InvalidTemplate, PodError, UnsupportedTemplate, plan_pod, run_pod
from testkit.containers import step_template, tiny_image

STEP_TEMPLATES = [
    ("checkout-source.yaml", "checkout"),
    ("containerfile-build.yaml", "build-image"),
    ("publish-image.yaml", "publish-image"),
    ("generate-workload.yaml", "generate-workload-cr"),
]


def template(image: str = "img:1", script: str = "true", **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "t",
        "inputs": {"parameters": [{"name": "msg", "default": "hello"}]},
        "container": {"image": image, "command": ["sh", "-c"], "args": [script]},
    }
    base.update(extra)
    return base


# ------------------------------------------------------------------------------------------ plan (no Docker)


def test_substitution_uses_given_values_then_input_defaults() -> None:
    tpl = template(script="echo {{inputs.parameters.msg}} {{workflow.parameters.repo}} {{pod.name}}")
    plan = plan_pod(tpl, {"workflow.parameters.repo": "r1"}, name="wf-abc")
    assert plan.main.command == ["echo hello r1 wf-abc"]
    plan = plan_pod(tpl, {"workflow.parameters.repo": "r1", "inputs.parameters.msg": "hi"}, name="p")
    assert plan.main.command == ["echo hi r1 p"]


def test_unresolved_variable_names_the_field() -> None:
    tpl = template(script="echo {{workflow.parameters.nope}}")
    with pytest.raises(UnsupportedTemplate) as raised:
        plan_pod(tpl, {}, name="p")
    assert raised.value.field == "container.args[0]"
    assert "{{workflow.parameters.nope}}" in str(raised.value)


def test_expression_tags_are_unsupported() -> None:
    with pytest.raises(UnsupportedTemplate, match=r"container\.args\[0\].*expression"):
        plan_pod(template(script="{{=sprig.upper('x')}}"), {}, name="p")


def test_input_without_value_or_default_and_enum_violation_are_invalid() -> None:
    tpl = template()
    tpl["inputs"]["parameters"].append({"name": "required"})
    with pytest.raises(InvalidTemplate, match="required"):
        plan_pod(tpl, {}, name="p")
    tpl = template()
    tpl["inputs"]["parameters"][0]["enum"] = ["a", "b"]
    with pytest.raises(InvalidTemplate, match="not one of"):
        plan_pod(tpl, {"inputs.parameters.msg": "c"}, name="p")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda t: t.update(script={"source": "x"}), "script"),
        (lambda t: t.update(sidecars=[{"name": "s"}]), "sidecars"),
        (lambda t: t["container"].update(lifecycle={}), "container.lifecycle"),
        (lambda t: t["container"].update(livenessProbe={}), "container.livenessProbe"),
        (lambda t: t.update(volumes=[{"name": "h", "hostPath": {"path": "/"}}]), "volumes[0].hostPath"),
        (lambda t: t.update(podSpecPatch='{"hostNetwork": true}'), "podSpecPatch.hostNetwork"),
        (lambda t: t.update(outputs={"artifacts": [{"name": "a"}]}), "outputs.artifacts"),
        (
            lambda t: t["container"].update(securityContext={"seccompProfile": {"type": "Localhost"}}),
            "container.securityContext.seccompProfile.type",
        ),
        (lambda t: t["container"].update(resources={"limits": {"nvidia.com/gpu": 1}}), "container.resources"),
        (
            lambda t: t["container"].update(volumeMounts=[{"name": "w", "mountPath": "/w", "subPathExpr": "$(X)"}]),
            "container.volumeMounts[0].subPathExpr",
        ),
    ],
)
def test_unsupported_fields_are_named_before_anything_runs(change: Any, field: str) -> None:
    tpl = template()
    change(tpl)
    with pytest.raises(UnsupportedTemplate) as raised:
        plan_pod(tpl, {}, {"workspace": "/nonexistent"}, name="p")
    assert raised.value.field.startswith(field), raised.value


def test_security_context_maps_to_docker_options() -> None:
    tpl = template(
        securityContext={
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "fsGroup": 2000,
            "supplementalGroups": [3000],
            "seccompProfile": {"type": "Unconfined"},
        }
    )
    tpl["container"]["securityContext"] = {
        "runAsUser": 1001,  # the container's own field wins
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
        "seccompProfile": {"type": "RuntimeDefault"},
        "privileged": False,
    }
    kwargs = plan_pod(tpl, {}, name="p").main.docker_kwargs()
    assert kwargs["user"] == "1001:1000"
    assert kwargs["group_add"] == ["3000", "2000"]
    assert kwargs["cap_drop"] == ["ALL"] and kwargs["cap_add"] == ["NET_BIND_SERVICE"]
    assert kwargs["read_only"] is True
    assert kwargs["security_opt"] == ["no-new-privileges"]  # RuntimeDefault = Docker's default profile
    assert kwargs["network_mode"] == "host"
    assert "privileged" not in kwargs
    tpl["container"]["securityContext"].pop("seccompProfile")  # the pod's Unconfined applies again
    assert plan_pod(tpl, {}, name="p").main.docker_kwargs()["security_opt"] == [
        "no-new-privileges",
        "seccomp=unconfined",
    ]


def test_no_privilege_escalation_with_sys_admin_is_invalid_as_in_kubernetes() -> None:
    tpl = template()
    tpl["container"]["securityContext"] = {"allowPrivilegeEscalation": False, "capabilities": {"add": ["SYS_ADMIN"]}}
    with pytest.raises(InvalidTemplate, match="allowPrivilegeEscalation"):
        plan_pod(tpl, {}, name="p")


def test_resources_limits_and_k8s_variable_expansion() -> None:
    tpl = template()
    tpl["container"].update(
        resources={"limits": {"memory": "512Mi", "cpu": "500m"}, "requests": {"cpu": "100m"}},
        env=[{"name": "A", "value": "x"}, {"name": "B", "value": "$(A)-$$(A)-$(MISSING)"}],
        args=["$(B)"],
    )
    main = plan_pod(tpl, {}, name="p").main
    assert main.mem_limit == 512 * 2**20 and main.docker_kwargs()["memswap_limit"] == 512 * 2**20
    assert main.nano_cpus == 500_000_000
    assert main.environment["B"] == "x-$(A)-$(MISSING)"
    assert main.command == ["x-$(A)-$(MISSING)"]
    assert podrun.parse_quantity("1.5Gi", "f") == 1.5 * 2**30
    assert podrun.parse_duration("1m30s", "f") == 90.0


def test_host_users_patch_is_a_noted_no_op() -> None:
    plan = plan_pod(template(podSpecPatch='{"hostUsers": false}'), {}, name="p")
    assert any("hostUsers" in note for note in plan.notes)


@pytest.mark.parametrize(("file", "name"), STEP_TEMPLATES)
def test_every_rendered_step_template_can_be_planned(file: str, name: str, tmp_path: Path) -> None:
    tpl = step_template(file, name)
    required = {
        f"inputs.parameters.{p['name']}": "x"
        for p in tpl["inputs"]["parameters"]
        if "default" not in p and "value" not in p
    }
    # inputs that fall back to a workflow parameter (OpenChoreo's drop-in shape) need that parameter
    prefix = "{{workflow.parameters."
    workflow = {
        f"workflow.parameters.{p['default'][len(prefix) : -2]}": "x"
        for p in tpl["inputs"]["parameters"]
        if str(p.get("default", "")).startswith(prefix)
    }
    plan = plan_pod(tpl, required | workflow, {"workspace": tmp_path}, name="p")
    assert plan.main.image == tpl["container"]["image"]
    assert plan.main.entrypoint == tpl["container"]["command"]
    assert plan.deadline == float(tpl["activeDeadlineSeconds"])


# ------------------------------------------------------------------------------------------------ run


@pytest.fixture(scope="module")
def tiny(docker_client: Any) -> str:
    return tiny_image(docker_client)


@pytest.mark.docker
def test_volumes_env_secrets_and_outputs(docker_client: Any, tiny: str, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    secret = tmp_path / "secret"
    secret.mkdir(mode=0o700)
    (secret / "password").write_text("s3cr3t-value")
    (secret / "password").chmod(0o600)
    script = (
        "set -e; mkdir -p /tmp/outputs; id -u > /tmp/outputs/uid; printf 'a\\n\\n' > /tmp/outputs/two;"
        "printf 'no-newline' > /mnt/vol/plain; echo $GREETING; echo to-stderr >&2;"
        "cat /etc/secrets/git/password > /tmp/outputs/secret-copy; ls -ln /etc/secrets/git > /tmp/outputs/ls;"
        'test "$PW" = s3cr3t-value'
    )
    tpl = template(tiny, script)
    tpl["container"].update(
        env=[
            {"name": "GREETING", "value": "hi-{{inputs.parameters.msg}}"},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "git-secret", "key": "password"}}},
            {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "none", "key": "k", "optional": True}}},
        ],
        volumeMounts=[
            {"name": "workspace", "mountPath": "/mnt/vol"},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "git", "mountPath": "/etc/secrets/git"},
        ],
        securityContext={"runAsUser": 1000, "runAsGroup": 1000, "readOnlyRootFilesystem": True},
    )
    tpl["securityContext"] = {"fsGroup": 1000}
    tpl["volumes"] = [
        {"name": "tmp", "emptyDir": {}},
        {"name": "git", "secret": {"secretName": "git-secret", "defaultMode": 0o440}},
    ]
    tpl["outputs"] = {
        "parameters": [
            {"name": "uid", "valueFrom": {"path": "/tmp/outputs/uid"}},
            {"name": "two", "valueFrom": {"path": "/tmp/outputs/two"}},
            {"name": "plain", "valueFrom": {"path": "/mnt/vol/plain"}},
            {"name": "ls", "valueFrom": {"path": "/tmp/outputs/ls"}},
            {"name": "missing", "valueFrom": {"path": "/tmp/outputs/none", "default": "fallback"}},
        ]
    }
    lines: list[str] = []
    result = run_pod(
        tpl,
        {},
        {"workspace": workspace, "secrets": {"git-secret": secret}},
        name="podrun-vol",
        client=docker_client,
        on_log=lines.append,
    )
    assert result.phase == "Succeeded", (result.message, result.logs)
    assert result.exit_code == 0
    assert result.outputs["uid"] == "1000"
    assert result.outputs["two"] == "a\n"  # exactly one trailing newline trimmed
    assert result.outputs["plain"] == "no-newline"
    assert result.outputs["missing"] == "fallback"
    assert "-r--r-----    1 0        1000" in result.outputs["ls"]  # defaultMode 0440, group fsGroup
    assert (workspace / "plain").read_text() == "no-newline"
    assert lines == ["hi-hello", "to-stderr"] or sorted(lines) == ["hi-hello", "to-stderr"]
    assert result.stdout == "hi-hello\n"
    assert result.logs.count("\n") == 2
    assert result.started_at <= result.finished_at


@pytest.mark.docker
def test_missing_output_without_default_is_an_error(docker_client: Any, tiny: str) -> None:
    tpl = template(tiny, "true", outputs={"parameters": [{"name": "x", "valueFrom": {"path": "/tmp/x"}}]})
    result = run_pod(tpl, {}, name="podrun-missing", client=docker_client)
    assert (result.phase, result.exit_code) == ("Error", 0)
    assert "/tmp/x" in result.message


@pytest.mark.docker
def test_failure_exit_code_and_outputs_of_a_failed_pod(docker_client: Any, tiny: str) -> None:
    tpl = template(
        tiny, "echo partial > /tmp/o; exit 3", outputs={"parameters": [{"name": "o", "valueFrom": {"path": "/tmp/o"}}]}
    )
    result = run_pod(tpl, {}, name="podrun-fail", client=docker_client)
    assert (result.phase, result.exit_code, result.message) == ("Failed", 3, "main: Error (exit code 3)")
    assert result.outputs == {"o": "partial"}  # read from the stopped container's filesystem


@pytest.mark.docker
def test_optional_secret_volume_is_empty_and_required_one_is_an_error(docker_client: Any, tiny: str) -> None:
    tpl = template(
        tiny, "ls -A /s | wc -l > /tmp/n", outputs={"parameters": [{"name": "n", "valueFrom": {"path": "/tmp/n"}}]}
    )
    tpl["container"]["volumeMounts"] = [{"name": "s", "mountPath": "/s"}]
    tpl["volumes"] = [{"name": "s", "secret": {"secretName": "absent", "optional": True}}]
    result = run_pod(tpl, {}, name="podrun-optional", client=docker_client)
    assert result.phase == "Succeeded" and result.outputs["n"].strip() == "0"
    tpl["volumes"][0]["secret"]["optional"] = False
    with pytest.raises(PodError, match="not found and not optional"):
        run_pod(tpl, {}, name="podrun-required", client=docker_client)


@pytest.mark.docker
def test_init_containers_share_volumes_and_run_first(docker_client: Any, tiny: str) -> None:
    tpl = template(
        tiny, "cat /work/seed", outputs={"parameters": [{"name": "seed", "valueFrom": {"path": "/work/seed"}}]}
    )
    tpl["container"]["volumeMounts"] = [{"name": "work", "mountPath": "/work"}]
    tpl["volumes"] = [{"name": "work", "emptyDir": {"medium": "Memory"}}]
    tpl["initContainers"] = [
        {
            "name": "seed",
            "image": tiny,
            "command": ["sh", "-c", "echo from-init > /work/seed"],
            "mirrorVolumeMounts": True,
        }
    ]
    lines: list[str] = []
    result = run_pod(tpl, {}, name="podrun-init", client=docker_client, on_log=lines.append)
    assert result.phase == "Succeeded", result.logs
    assert result.outputs["seed"] == "from-init"
    assert lines == ["from-init"]
    tpl["initContainers"][0]["command"] = ["sh", "-c", "echo init-log; exit 4"]
    result = run_pod(tpl, {}, name="podrun-init-fail", client=docker_client, on_log=lines.append)
    assert result.phase == "Failed" and "exit code 4" in result.message
    assert "[seed] init-log" in result.logs


@pytest.mark.docker
def test_deadline_kills_the_pod(docker_client: Any, tiny: str) -> None:
    started = time.monotonic()
    result = run_pod(
        template(tiny, "sleep 30", activeDeadlineSeconds=1), {}, name="podrun-deadline", client=docker_client
    )
    assert result.deadline_exceeded
    assert (result.phase, result.message) == ("Failed", podrun.DEADLINE_MESSAGE)
    assert time.monotonic() - started < 15


@pytest.mark.docker
def test_cancel_stops_the_pod(docker_client: Any, tiny: str) -> None:
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    result = run_pod(template(tiny, "sleep 30"), {}, name="podrun-cancel", client=docker_client, cancel=cancel)
    assert (result.phase, result.message) == ("Failed", podrun.CANCEL_MESSAGE)


@pytest.mark.docker
def test_security_context_is_enforced_in_the_container(docker_client: Any, tiny: str) -> None:
    script = (
        "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status > /tmp/o/status; id > /tmp/o/id;"
        "touch /rootfs-write 2> /dev/null && echo writable > /tmp/o/root || echo read-only > /tmp/o/root"
    )
    tpl = template(tiny, script)
    tpl["container"]["volumeMounts"] = [{"name": "o", "mountPath": "/tmp/o"}]
    tpl["container"]["securityContext"] = {
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    tpl["securityContext"] = {"fsGroup": 3000, "supplementalGroups": [4000]}
    tpl["volumes"] = [{"name": "o", "emptyDir": {}}]
    tpl["outputs"] = {
        "parameters": [{"name": n, "valueFrom": {"path": f"/tmp/o/{n}"}} for n in ("status", "id", "root")]
    }
    result = run_pod(tpl, {}, name="podrun-sec", client=docker_client)
    assert result.phase == "Succeeded", result.logs
    status = dict(line.split(":\t") for line in result.outputs["status"].splitlines())
    assert status == {"CapEff": "0000000000000000", "NoNewPrivs": "1", "Seccomp": "2"}
    assert result.outputs["id"].startswith("uid=1000(user) gid=1000(user)")
    assert "3000" in result.outputs["id"] and "4000" in result.outputs["id"]
    assert result.outputs["root"] == "read-only"
    # capabilities.add SYS_ADMIN as root (the build step's setting): bit 21 in the effective set
    tpl["container"]["securityContext"] = {"runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}}
    result = run_pod(tpl, {}, name="podrun-sysadmin", client=docker_client)
    assert int(dict(line.split(":\t") for line in result.outputs["status"].splitlines())["CapEff"], 16) & (1 << 21)


@pytest.mark.docker
def test_run_as_non_root_refuses_a_root_image_user(docker_client: Any, tiny: str) -> None:
    tpl = template(tiny, "true", securityContext={"runAsNonRoot": True})  # image user is root (unset)
    result = run_pod(tpl, {}, name="podrun-nonroot", client=docker_client)
    assert (result.phase, result.exit_code) == ("Error", None)
    assert "runAsNonRoot and image will run as root" in result.message
    assert podrun.image_user_problem("app", None) is not None  # non-numeric: cannot verify
    assert podrun.image_user_problem("10001", None) is None


@pytest.mark.docker
def test_missing_image_fails_clearly_and_is_never_pulled(docker_client: Any) -> None:
    with pytest.raises(PodError, match=r"never pulls.*images build"):
        run_pod(template("local/does-not-exist:0"), {}, name="podrun-noimage", client=docker_client)


@pytest.mark.docker
def test_resources_reach_the_container_and_it_is_removed_after(docker_client: Any, tiny: str) -> None:
    tpl = template(tiny, "true")
    tpl["container"]["resources"] = {"limits": {"memory": "64Mi", "cpu": "250m"}}
    result = run_pod(tpl, {}, name="podrun-res", client=docker_client, keep=True)
    try:
        (container,) = docker_client.containers.list(all=True, filters={"label": f"{podrun.LABEL_POD}=podrun-res"})
        host = container.attrs["HostConfig"]
        assert (host["Memory"], host["MemorySwap"], host["NanoCpus"]) == (64 * 2**20, 64 * 2**20, 250_000_000)
        assert host["NetworkMode"] == "host"
        assert result.phase == "Succeeded"
    finally:
        for container in docker_client.containers.list(all=True, filters={"label": f"{podrun.LABEL_POD}=podrun-res"}):
            container.remove(force=True)
    run_pod(copy.deepcopy(tpl), {}, name="podrun-res2", client=docker_client)
    assert not docker_client.containers.list(all=True, filters={"label": f"{podrun.LABEL_POD}=podrun-res2"})


@pytest.mark.docker
def test_fs_group_makes_the_workspace_writable_for_the_step_user(docker_client: Any, tiny: str, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir(mode=0o755)  # root-owned, not writable by uid 1000 without fsGroup
    tpl = template(tiny, "echo ok > /mnt/vol/f")
    tpl["container"]["volumeMounts"] = [{"name": "workspace", "mountPath": "/mnt/vol"}]
    tpl["securityContext"] = {"runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000}
    result = run_pod(tpl, {}, {"workspace": workspace}, name="podrun-fsgroup", client=docker_client)
    assert result.phase == "Succeeded", result.logs
    info = workspace.stat()
    assert info.st_gid == 1000 and info.st_mode & stat.S_ISGID
    assert (workspace / "f").read_text() == "ok\n"
    assert os.geteuid() == 0  # the kubelet-like chown needs root, as on the CI machines


def test_claims_and_undeclared_volumes_map_to_host_directories(tmp_path: Path) -> None:
    tpl = template()
    tpl["container"]["volumeMounts"] = [
        {"name": "data", "mountPath": "/data", "readOnly": True},
        {"name": "workspace", "mountPath": "/mnt/vol", "subPath": "source"},
    ]
    tpl["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "cache-claim"}}]
    mounts = podrun.Mounts(workspace=tmp_path / "ws", volumes={"cache-claim": tmp_path / "cache"})
    plan = plan_pod(tpl, {}, mounts, name="p")
    assert (plan.volumes["data"].kind, plan.volumes["data"].source) == ("host", tmp_path / "cache")
    assert (plan.volumes["workspace"].kind, plan.volumes["workspace"].source) == ("host", tmp_path / "ws")
    assert [(m.target, m.sub_path, m.read_only) for m in plan.main.mounts] == [
        ("/data", "", True),
        ("/mnt/vol", "source", False),
    ]
    with pytest.raises(PodError, match=r"mounts\.workspace"):
        plan_pod(tpl, {}, {"volumes": {"cache-claim": tmp_path}}, name="p")
    with pytest.raises(TypeError, match="unknown keys"):
        plan_pod(tpl, {}, {"workspaces": tmp_path}, name="p")
