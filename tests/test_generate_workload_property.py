"""Property test: over generated descriptors (valid and invalid shapes, both profiles) the step never shows a
traceback, and either writes a CR that the upstream CRD accepts (schema + CEL) or fails cleanly: one error line,
non-zero exit, no output file. A seeded secret never appears in stdout, stderr or the output.

The hostile shapes of issue 10 are part of the generator: `<<` merge-key fan-out (anchors that merge anchors),
deep nesting (flow and block, under ignored keys), odd names and images, and referenced files that are FIFOs,
symlinks to sockets, directories or sparse files far above the size limit.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from steps.generate_workload.model import PROFILES
from steps.generate_workload.validate import validate_cr
from testkit.generate_workload import IMAGE, P017, P1X, check_result, invoke

pytestmark = pytest.mark.slow  # hypothesis runs hundreds of generated descriptors

SECRET = "oauth-secret-value-7d1e9a"

# Plain scalars chosen for go-yaml v2 resolution corners, plus values that hit enums and ranges.
PORTS = ["80", "8080", "0", "70000", '"8080"', "8080.0", "0x1F", "~"]
PLAIN = [
    "yes", "no", "on", "Off", "y", "N", "true", "~", "null", "0", "1", "80", "8080", "65535", "65536", "70000", "-1",
    "3000000000", "1.10", "8080.0", "1e3", "0x1F", "010", "08", ".5", ".inf", "2001-12-14",
    "HTTP", "REST", "gRPC", "GraphQL", "Websocket", "TCP", "UDP", "http", "SOAP",
    "project", "namespace", "internal", "external", "bogus", "api", "db", "web", "/api", "/etc/app",
    "schema.yaml", "missing.yaml", "../outside.txt", "/schema.yaml", "sub/../schema.yaml", "link.txt", "config.txt",
]  # fmt: skip
FIELDS = [
    "name", "port", "targetPort", "type", "basePath", "displayName", "schemaFile", "visibility", "context",
    "component", "project", "endpoint", "envBindings", "address", "host", "ref", "fileBindings",
    "value", "valueFrom", "secretKeyRef", "key", "path", "mountPath", "env", "files",
]  # fmt: skip


# Referenced files that are not regular (or far too large): made by _layout, refused without being read.
ODD_FILES = ["fifo", "sock-link", "fifo-link", "sparse.yaml", "sub"]


class Raw(str):
    """A scalar written into the YAML text as is (plain)."""


def _case(name: str) -> st.SearchStrategy[str]:
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name)
    return st.sampled_from([name, name, name, name.upper(), name.capitalize(), snake, "x-" + name])


scalar: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(PLAIN).map(Raw),
    st.text(max_size=12),
    st.integers(min_value=-5, max_value=70000),
)


def _mapping(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A mapping with a random subset of `fields` (random key case), sometimes with an unknown key."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, strategy in fields.items():
            if draw(st.integers(0, 9)) < 7:
                out[draw(_case(name))] = draw(strategy)
        if draw(st.integers(0, 9)) == 0:
            out[draw(st.sampled_from(FIELDS))] = draw(scalar)
        return out

    return build()


def _mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` about nine times in ten; `bad` (a wrong shape or value) otherwise."""
    return st.integers(min_value=0, max_value=9).flatmap(lambda pick: bad if pick == 9 else good)


def _list(item: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return _mostly(st.lists(item, max_size=3), scalar)


port = _mostly(st.integers(min_value=1, max_value=65535), st.one_of(st.sampled_from(PORTS).map(Raw), scalar))


visibility_value = _mostly(st.sampled_from(["project", "namespace", "internal", "external"]).map(Raw), scalar)
endpoint = _mapping(
    {
        "name": st.sampled_from(["api", "web", "grpc", "api"]).map(Raw),
        "port": port,
        "targetPort": port,
        "type": _mostly(
            st.sampled_from(["HTTP", "REST", "gRPC", "GraphQL", "TCP", "UDP", "Websocket"]).map(Raw), scalar
        ),
        "basePath": scalar,
        "displayName": scalar,
        "schemaFile": _mostly(
            st.sampled_from(["schema.yaml", "/schema.yaml", "sub/../schema.yaml"]).map(Raw),
            st.sampled_from(["missing.yaml", "../outside.txt", "link.txt", "sub", *ODD_FILES]).map(Raw),
        ),
        "visibility": _mostly(st.lists(visibility_value, max_size=2, unique=True), _list(scalar)),
    }
)
env_bindings = _mapping({"address": scalar, "host": scalar, "port": scalar, "basePath": scalar})
dependency = _mapping(
    {
        "project": scalar,
        "component": st.sampled_from(["db", "cache", ""]).map(json.dumps).map(Raw),
        "name": st.sampled_from(["tcp", "api"]).map(Raw),
        "endpoint": st.sampled_from(["tcp", "api"]).map(Raw),
        "visibility": st.sampled_from(["project", "namespace", "internal", "project", "external"]).map(Raw),
        "envBindings": _mostly(env_bindings, scalar),
    }
)
bindings = st.dictionaries(st.sampled_from(["a", "b", "out", ""]), scalar, max_size=3)
resource = _mapping(
    {"ref": st.sampled_from(["db", "cache", "db"]).map(Raw), "envBindings": bindings, "fileBindings": bindings}
)
secret_ref = _mapping({"name": scalar, "key": scalar})
value_from = _mostly(
    _mapping(
        {
            "secretKeyRef": secret_ref,
            "path": st.sampled_from(["config.txt", "missing.txt", "../outside.txt", *ODD_FILES]).map(Raw),
        }
    ),
    scalar,
)
env_var = _mapping({"name": scalar, "value": scalar, "valueFrom": value_from})
file_var = _mapping({"name": scalar, "mountPath": scalar, "value": scalar, "valueFrom": value_from})
descriptor_strategy = _mapping(
    {
        "apiVersion": scalar,
        "metadata": _mostly(_mapping({"name": scalar}), scalar),
        "endpoints": _list(endpoint),
        "dependencies": _mostly(_mapping({"endpoints": _list(dependency), "resources": _list(resource)}), scalar),
        "connections": _list(dependency),
        "configurations": _mapping({"env": _list(env_var), "files": _list(file_var)}),
        "container": _mapping({"image": scalar}),
    }
)


def to_yaml(value: Any) -> str:
    """Flow-style YAML with `Raw` scalars written plain and other strings JSON-quoted."""
    if isinstance(value, Raw):
        return str(value) if str(value) else '""'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {to_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_yaml(item) for item in value) + "]"
    return json.dumps(value)


def _layout(root: Path) -> Path:
    source = root / "src"
    (source / "sub").mkdir(parents=True)
    (source / "schema.yaml").write_text("openapi: 3.0.0\n")
    (source / "config.txt").write_text("k=v\n")
    (root / "outside.txt").write_text("outside the root\n")
    (source / "link.txt").symlink_to(root / "outside.txt")
    os.mkfifo(source / "fifo")
    (source / "fifo-link").symlink_to(source / "fifo")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(root / "s"))  # a socket file; it stays after the socket object is closed
    listener.close()
    (source / "sock-link").symlink_to(root / "s")
    with open(source / "sparse.yaml", "wb") as handle:
        handle.truncate(4 * 2**30)
    return source


def _run(text: str, profile: str, names: tuple[str, str, str, str] = (IMAGE, "ns", "proj", "comp")) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        root = Path(tmp)
        source = _layout(root)
        (source / "workload.yaml").write_text(text, encoding="utf-8")
        output = root / "out" / "cr.yaml"
        image, namespace, project, component = names
        argv = ["--image", image, "-n", namespace, "-p", project, "-c", component, "--source-dir", str(source)]
        argv += ["-o", str(output), "--profile", profile, "--oauth-client-secret", SECRET]
        code, out, err = invoke(argv, {"OAUTH_CLIENT_SECRET": SECRET})
        cr = check_result(code, err, output, profile)
        assert SECRET not in out and SECRET not in err
        assert "outside the root" not in err
        if cr is not None:
            assert code == 0
            text_out = output.read_text()
            assert SECRET not in text_out and "outside the root" not in text_out
            assert validate_cr(cr, PROFILES[profile]) == []
        else:
            assert code != 0


PROPERTY = settings(
    max_examples=250,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("profile", [P1X, P017])
@PROPERTY
@given(descriptor=descriptor_strategy)
def test_generated_descriptors_give_a_valid_cr_or_a_clean_error(profile: str, descriptor: dict[str, Any]) -> None:
    _run(to_yaml(descriptor), profile)


# -- hostile shapes ----------------------------------------------------------------------------------------------


@st.composite
def merge_fan_out(draw: st.DrawFn) -> str:
    """Anchors that each merge the previous one (twice, or more): exponential for a naive expansion."""
    levels = draw(st.integers(min_value=1, max_value=40))
    width = draw(st.integers(min_value=1, max_value=4))
    lines = ["x-a0: &a0 {name: api, port: 8080, type: HTTP}"]
    for level in range(1, levels + 1):
        sources = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"x-a{level}: &a{level} {{<<: [{sources}], k{level}: {draw(scalar_text)}}}")
    lines.append(f"endpoints: [{{<<: *a{levels}}}]")
    return "\n".join(lines) + "\n"


scalar_text = st.sampled_from(["v", "1", "yes", "~", '"q"', "[a, b]", "{c: d}"])


@st.composite
def deep_nesting(draw: st.DrawFn) -> str:
    depth = draw(st.one_of(st.integers(min_value=1, max_value=120), st.integers(min_value=1, max_value=5000)))
    key = draw(st.sampled_from(["x-ignored", "metadata", "endpoints", "container"]))
    if draw(st.booleans()):
        opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
        return f"{key}: {opener * depth}{closer * depth}\n"
    depth = min(depth, 400)
    return f"{key}:\n" + "".join(" " * level + "- \n" for level in range(1, depth + 1))


odd_names = st.sampled_from(
    ["ns", "a", "n" * 63, "n" * 64, "Cärt_Service", "a/b", "bad\nname", " ", "-lead", "trail-", "UPPER", "a.b"]
)
odd_images = st.sampled_from(
    [IMAGE, "nginx", "NOT A VALID IMAGE!!", "registry.local/Acme/App:v1", "nginx:", " nginx", "a" * 300,
     "localhost:5000/x/y:z@sha256:" + "0" * 64, "reg.io/x@sha256:short"]
)  # fmt: skip


@PROPERTY
@given(
    base=descriptor_strategy,
    shape=st.sampled_from(["merge", "deep", "both", "none"]),
    merge=merge_fan_out(),
    deep=deep_nesting(),
    names=st.tuples(odd_images, odd_names, odd_names, odd_names),
    profile=st.sampled_from([P1X, P017]),
)
def test_hostile_shapes_give_a_valid_cr_or_a_clean_error(  # noqa: PLR0917 - hypothesis passes them by name
    base: dict[str, Any], shape: str, merge: str, deep: str, names: tuple[str, str, str, str], profile: str
) -> None:
    ignored = f"x-base: {to_yaml(base)}\n"  # the generated descriptor under an ignored key: parsed, not read
    text = {
        "none": to_yaml(base) + "\n",
        "merge": merge + ignored,
        "deep": deep + ignored,
        "both": merge.replace("endpoints:", "x-endpoints:") + deep,
    }[shape]
    _run(text, profile, names)


@settings(max_examples=100, deadline=None, database=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab: -[]{}#&*!|>'\"\n\t%@`,?~0\\")), max_size=60))
def test_arbitrary_text_never_crashes(text: str) -> None:
    _run(text, P1X)


def test_the_strategy_reaches_both_outcomes() -> None:
    """Guard against a strategy that only ever produces failures (or only successes)."""
    outcomes: set[bool] = set()

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(descriptor=descriptor_strategy)
    def probe(descriptor: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            source = _layout(Path(tmp))
            (source / "workload.yaml").write_text(to_yaml(descriptor))
            argv = [
                "--image",
                IMAGE,
                "-n",
                "n",
                "-p",
                "p",
                "-c",
                "c",
                "--source-dir",
                str(source),
                "-o",
                str(Path(tmp) / "o"),
            ]
            code, _out, _err = invoke(argv)
            outcomes.add(code == 0)

    probe()
    assert outcomes == {True, False}
