"""generate-workload-cr: conversion rules, error messages, both profiles, outputs, the occ conformance cases.

Every CR a test produces is also validated against the upstream CRD of its profile (jsonschema with closed objects
plus the CRD's CEL rules, testkit/crd_schema.py), and every failing run is checked to leave no output file.
The occ conformance cases (contract §3.6) are re-expressed here with our own inputs and expectations.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

import steps.generate_workload
from steps.common import contract
from steps.common.sigs_yaml_v1_6 import format_float32
from steps.generate_workload.descriptor import resolve_plain
from steps.generate_workload.options import GenerateWorkloadOptions
from testkit import processes
from testkit.crd_schema import workload_validator
from testkit.generate_workload import (
    DELIVERY_NOTICE,
    IMAGE,
    P017,
    P1X,
    check_result,
    fails,
    generate,
    invoke,
    ok,
)
from testkit.paths import ROOT

BOTH = pytest.mark.parametrize("profile", [P1X, P017])


BASIC_SPEC = {
    "owner": {"projectName": "shop", "componentName": "cart"},
    "container": {"image": IMAGE},
}


# ---------------------------------------------------------------------------------------------------------------------
# The basic workload, parameters, descriptor discovery


@BOTH
def test_no_descriptor_gives_the_basic_workload(tmp_path: Path, profile: str) -> None:
    # occ TestCreateBasicWorkload / TestGenerateWorkloadCR_BasicSuccess
    result = ok(tmp_path, None, profile=profile)
    assert result.cr == {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": "cart-workload", "namespace": "team-ns"},
        "spec": BASIC_SPEC,
    }
    assert "no descriptor (basic workload)" in result.err


@pytest.mark.parametrize("text", ["", "# only a comment\n", "~\n", "---\n", "apiVersion: openchoreo.dev/v1alpha1\n"])
def test_empty_descriptors_give_the_basic_workload(tmp_path: Path, text: str) -> None:
    assert ok(tmp_path, text).spec == BASIC_SPEC


def test_descriptor_with_only_container_gives_the_basic_workload_and_a_warning(tmp_path: Path) -> None:
    # occ TestCreate_APIServer_WithDescriptor: `container.image` in the descriptor is not read
    result = ok(tmp_path, "container:\n  image: other/image:9\n")
    assert result.spec == BASIC_SPEC
    assert any("workload.yaml:1: container: unknown key" in line for line in result.warnings)


def test_default_descriptor_is_read_from_the_app_path(tmp_path: Path) -> None:
    descriptor = "endpoints: [{name: web, port: 8080, type: HTTP}]\n"
    result = ok(tmp_path, descriptor, app_path="services/web")
    assert result.spec["endpoints"] == {"web": {"port": 8080, "type": "HTTP"}}
    assert "services/web/workload.yaml" in result.err


def test_relative_descriptor_is_relative_to_the_app_directory(tmp_path: Path) -> None:
    descriptor = "endpoints: [{name: api, port: 9000, type: gRPC}]\n"
    result = ok(tmp_path, descriptor, app_path="svc", descriptor_name="deploy/custom.yaml")
    assert result.spec["endpoints"] == {"api": {"port": 9000, "type": "gRPC"}}


def test_a_given_descriptor_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    # occ TestReadWorkloadDescriptor (missing file) / TestConvertWorkloadDescriptorToWorkloadCR
    result = fails(tmp_path, None, "--descriptor", "nope.yaml")
    assert "failed to read workload descriptor: failed to open file nope.yaml" in result.error


def test_descriptor_outside_the_source_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("endpoints: []\n")
    result = fails(tmp_path, None, "--descriptor", str(outside))
    assert "is outside the source root" in result.error


def test_symlinked_descriptor_leading_outside_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("endpoints: []\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "workload.yaml").symlink_to(secret)
    result = fails(tmp_path, None)
    assert "outside the source root" in result.error


def test_app_path_escaping_the_source_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    code, _out, err = invoke(
        [
            *("--image", IMAGE, "-n", "a", "-p", "b", "-c", "c", "--source-dir", str(tmp_path / "src")),
            *("--app-path", "../..", "-o", str(tmp_path / "o.yaml")),
        ]
    )
    assert code == contract.EXIT_USAGE
    assert "--app-path" in err and "outside the source root" in err


@pytest.mark.parametrize(
    ("missing", "flag"),
    [
        ("NAMESPACE_NAME", "--namespace"),
        ("PROJECT_NAME", "--project"),
        ("COMPONENT_NAME", "--component"),
        ("IMAGE", "--image"),
    ],
)
def test_missing_required_parameters(tmp_path: Path, missing: str, flag: str) -> None:
    # occ TestValidateConversionParams / TestCreate_Missing*: every required parameter is named
    environ = {"NAMESPACE_NAME": "ns", "PROJECT_NAME": "p", "COMPONENT_NAME": "c", "IMAGE": IMAGE}
    environ[missing] = ""
    output = tmp_path / "o.yaml"
    code, _out, err = invoke(["--source-dir", str(tmp_path), "-o", str(output)], environ)
    assert code == contract.EXIT_USAGE
    assert "missing required parameter(s)" in err and flag in err and missing in err
    assert not output.exists()


def test_parameters_come_from_env_when_flags_are_absent(tmp_path: Path) -> None:
    output = tmp_path / "o.yaml"
    environ = {
        "IMAGE": IMAGE,
        "NAMESPACE_NAME": "env-ns",
        "PROJECT_NAME": "env-p",
        "COMPONENT_NAME": "env-c",
        "SOURCE_DIR": str(tmp_path),
        "WORKLOAD_CR_OUTPUT": str(output),
        "OPENCHOREO_PROFILE": P017,
    }
    code, _out, err = invoke([], environ)
    cr = check_result(code, err, output, P017)
    assert cr is not None and cr["metadata"] == {"name": "env-c-workload", "namespace": "env-ns"}


def test_unknown_profile_and_bad_max_bytes_are_usage_errors(tmp_path: Path) -> None:
    result = generate(tmp_path, None, profile="openchoreo-2.0")
    assert result.code == contract.EXIT_USAGE and "--profile" in result.error
    result = generate(tmp_path, None, "--max-bytes", "lots")
    assert result.code == contract.EXIT_USAGE and "--max-bytes" in result.error


# ---------------------------------------------------------------------------------------------------------------------
# The full conversion (occ TestConvertWorkloadDescriptorToWorkloadCR, §3.5 expected shape)

FULL_DESCRIPTOR = """\
apiVersion: openchoreo.dev/v1alpha1
metadata:
  name: ignored-name
endpoints:
  - name: http
    port: 8080
    type: HTTP
    basePath: /api
    visibility: [external]
    schemaFile: openapi.yaml
dependencies:
  endpoints:
    - component: db-service
      name: tcp
      visibility: project
      envBindings:
        address: DB_URL
configurations:
  env:
    - name: LOG_LEVEL
      value: info
  files:
    - name: cfg
      mountPath: /etc/app/cfg.yaml
      value: "key: val"
"""


def test_full_descriptor_converts_like_occ(tmp_path: Path) -> None:
    result = ok(tmp_path, FULL_DESCRIPTOR, files={"openapi.yaml": 'openapi: "3.0.0"'})
    assert result.cr == {
        "apiVersion": "openchoreo.dev/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": "cart-workload", "namespace": "team-ns"},
        "spec": {
            "owner": {"projectName": "shop", "componentName": "cart"},
            "container": {
                "image": IMAGE,
                "env": [{"key": "LOG_LEVEL", "value": "info"}],
                "files": [{"key": "cfg", "mountPath": "/etc/app/cfg.yaml", "value": "key: val"}],
            },
            "endpoints": {
                "http": {
                    "port": 8080,
                    "type": "HTTP",
                    "basePath": "/api",
                    "visibility": ["external"],
                    "schema": {"type": "openapi", "content": 'openapi: "3.0.0"'},
                }
            },
            "dependencies": {
                "endpoints": [
                    {
                        "component": "db-service",
                        "name": "tcp",
                        "visibility": "project",
                        "envBindings": {"address": "DB_URL"},
                    }
                ]
            },
        },
    }
    assert result.warnings == []


def test_output_yaml_shape(tmp_path: Path) -> None:
    # occ TestConvertWorkloadCRToYAML / TestCreateWorkload_OutputToFile: substring checks plus key order
    result = ok(tmp_path, FULL_DESCRIPTOR, files={"openapi.yaml": 'openapi: "3.0.0"'})
    text = result.output.read_text()
    for fragment in (
        "name: cart-workload",
        "namespace: team-ns",
        "projectName: shop",
        "componentName: cart",
        f"image: {IMAGE}",
    ):
        assert fragment in text
    assert text.startswith("apiVersion: openchoreo.dev/v1alpha1\nkind: Workload\nmetadata:\n")
    assert "\n- " in text or "\n  - " in text or "    - key" in text
    assert oct(result.output.stat().st_mode & 0o777) == "0o644"


def test_stdout_output(tmp_path: Path) -> None:
    # occ TestCreate_APIServer_Stdout: `-o -` puts the YAML (and nothing else) on stdout
    (tmp_path / "src").mkdir()
    code, out, err = invoke(
        [
            *("--image", IMAGE, "-n", "test-ns", "-p", "myproj", "-c", "my-svc"),
            "--source-dir",
            str(tmp_path / "src"),
            "-o",
            "-",
        ]
    )
    assert code == 0, err
    cr = yaml.safe_load(out)
    workload_validator(P1X).validate(cr)
    assert cr["metadata"] == {"name": "my-svc-workload", "namespace": "test-ns"}
    assert cr["spec"] == {"owner": {"projectName": "myproj", "componentName": "my-svc"}, "container": {"image": IMAGE}}
    assert err.count("\n") == 2 and "Workload CR written to stdout" in err
    assert f"{DELIVERY_NOTICE} on openchoreo-1.x; the CR is only written to stdout" in err


# ---------------------------------------------------------------------------------------------------------------------
# Endpoints


def test_endpoint_fields_are_copied(tmp_path: Path) -> None:
    descriptor = """\
    endpoints:
      - name: api
        displayName: Public API
        port: 443
        targetPort: 8443
        type: HTTP
        basePath: /v1
        context: /ignored
        visibility: [project, namespace, internal, external]
    """
    endpoint = ok(tmp_path, descriptor).spec["endpoints"]["api"]
    assert endpoint == {
        "displayName": "Public API",
        "port": 443,
        "targetPort": 8443,
        "type": "HTTP",
        "basePath": "/v1",
        "visibility": ["project", "namespace", "internal", "external"],
    }


def test_empty_endpoint_list_leaves_endpoints_out(tmp_path: Path) -> None:
    assert "endpoints" not in ok(tmp_path, "endpoints: []\n").spec


@pytest.mark.parametrize("visibility", [["project", "external"], ["namespace"], []])
def test_valid_endpoint_visibility(tmp_path: Path, visibility: list[str]) -> None:
    # occ TestAddEndpointsFromDescriptorVisibilityValidation (valid case)
    descriptor = yaml.safe_dump({"endpoints": [{"name": "ep", "port": 80, "type": "HTTP", "visibility": visibility}]})
    endpoint = ok(tmp_path, descriptor).spec["endpoints"]["ep"]
    assert endpoint.get("visibility", []) == visibility


@BOTH
@pytest.mark.parametrize("bad", ["bogus", "public"])
def test_invalid_endpoint_visibility_has_occs_message(tmp_path: Path, profile: str, bad: str) -> None:
    descriptor = (
        f"endpoints:\n  - name: ep\n    port: 80\n    type: HTTP\n    visibility:\n      - project\n      - {bad}\n"
    )
    result = fails(tmp_path, descriptor, profile=profile)
    assert (
        f'workload.yaml:7: endpoints[0].visibility[1]: invalid endpoint visibility "{bad}" for endpoint "ep": '
        "must be one of [project, namespace, internal, external]"
    ) in result.error


def test_duplicate_visibility_is_rejected(tmp_path: Path) -> None:
    result = fails(tmp_path, "endpoints: [{name: ep, port: 80, type: HTTP, visibility: [external, external]}]\n")
    assert 'endpoints[0].visibility[1]: duplicate visibility "external"' in result.error


@pytest.mark.parametrize(
    ("endpoint_type", "schema_type"),
    [("HTTP", "openapi"), ("gRPC", "proto"), ("GraphQL", "graphql"), ("TCP", None), ("UDP", None), ("Websocket", None)],
)
def test_schema_type_is_derived_on_1x(tmp_path: Path, endpoint_type: str, schema_type: str | None) -> None:
    # occ TestAddEndpointsFromDescriptorSchemaTypeDerivation
    descriptor = f"endpoints: [{{name: ep, port: 80, type: {endpoint_type}, schemaFile: schema.txt}}]\n"
    schema = ok(tmp_path, descriptor, files={"schema.txt": "S"}).spec["endpoints"]["ep"]["schema"]
    assert schema == ({"type": schema_type, "content": "S"} if schema_type else {"content": "S"})


@pytest.mark.parametrize("endpoint_type", ["HTTP", "REST", "gRPC", "TCP"])
def test_schema_type_is_the_endpoint_type_on_017(tmp_path: Path, endpoint_type: str) -> None:
    descriptor = f"endpoints: [{{name: ep, port: 80, type: {endpoint_type}, schemaFile: schema.txt}}]\n"
    result = ok(tmp_path, descriptor, profile=P017, files={"schema.txt": "S"})
    assert result.spec["endpoints"]["ep"]["schema"] == {"type": endpoint_type, "content": "S"}


def test_schema_file_is_relative_to_the_descriptor_and_inlined_byte_exact(tmp_path: Path) -> None:
    # occ TestAddEndpointsFromDescriptorWithSchemaFile / TestReadSchemaFile: content as is
    content = 'openapi: "3.0.0"\ninfo:\n  title: "t"   \n\ttabbed: x\n\n'
    descriptor = "endpoints: [{name: api, port: 8080, type: HTTP, schemaFile: docs/openapi.yaml}]\n"
    result = ok(tmp_path, descriptor, app_path="svc", files={"svc/docs/openapi.yaml": content})
    assert result.spec["endpoints"]["api"]["schema"] == {"type": "openapi", "content": content}


def test_file_contents_round_trip_exactly(tmp_path: Path) -> None:
    """Whatever bytes a schema or config file holds, the CR carries them (invalid UTF-8 becomes U+FFFD, as when
    Go's encoding/json writes the string)."""
    raw = b"\xef\xbb\xbfline one  \r\n\ttab\x00nul \xe2\x80\xa8 sep\n\xff bad byte\n\n  trailing  "
    descriptor = "endpoints: [{name: api, port: 1, type: HTTP, schemaFile: s.bin}]\n"
    descriptor += "configurations:\n  files: [{name: f, mountPath: /m, valueFrom: {path: s.bin}}]\n"
    result = ok(tmp_path, descriptor, files={"s.bin": raw})
    expected = raw.decode("utf-8", errors="replace")
    assert result.spec["endpoints"]["api"]["schema"]["content"] == expected
    assert result.spec["container"]["files"][0]["value"] == expected


def test_multi_line_values_are_written_as_literal_blocks(tmp_path: Path) -> None:
    result = ok(tmp_path, 'configurations:\n  files: [{name: f, mountPath: /m, value: "a: 1\\nb: 2\\n"}]\n')
    assert "value: |\n" in result.output.read_text()
    assert result.spec["container"]["files"][0]["value"] == "a: 1\nb: 2\n"


def test_missing_app_directory_gives_the_basic_workload_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    output = tmp_path / "o.yaml"
    argv = ["--image", IMAGE, "-n", "a", "-p", "b", "-c", "c", "--source-dir", str(tmp_path / "src")]
    code, _out, err = invoke([*argv, "--app-path", "nope", "-o", str(output)])
    cr = check_result(code, err, output, P1X)
    assert cr is not None and "the app directory nope does not exist" in err


def test_schema_file_with_an_absolute_path_stays_under_the_descriptor_directory(tmp_path: Path) -> None:
    # Go's filepath.Join(dir, "/x") is dir/x
    descriptor = "endpoints: [{name: api, port: 8080, type: HTTP, schemaFile: /api.yaml}]\n"
    result = ok(tmp_path, descriptor, app_path="svc", files={"svc/api.yaml": "A"})
    assert result.spec["endpoints"]["api"]["schema"]["content"] == "A"


def test_missing_schema_file(tmp_path: Path) -> None:
    # occ TestAddEndpointsFromDescriptorSchemaFileMissing
    result = fails(tmp_path, "endpoints:\n  - name: api\n    port: 1\n    type: HTTP\n    schemaFile: missing.yaml\n")
    assert (
        "workload.yaml:5: endpoints[0].schemaFile: failed to read schema file missing.yaml: no such file or directory"
        in result.error
    )


@pytest.mark.parametrize("path", ["../outside.yaml", "../../../../../etc/passwd", "sub/../../outside.yaml"])
def test_schema_file_escaping_the_source_root_is_refused(tmp_path: Path, path: str) -> None:
    (tmp_path / "outside.yaml").write_text("secret")
    result = fails(tmp_path, f"endpoints: [{{name: api, port: 1, type: HTTP, schemaFile: '{path}'}}]\n")
    assert "endpoints[0].schemaFile" in result.error and "outside the source root" in result.error


def test_schema_file_in_a_parent_directory_inside_the_root_is_fine(tmp_path: Path) -> None:
    descriptor = "endpoints: [{name: api, port: 1, type: HTTP, schemaFile: ../shared/api.yaml}]\n"
    result = ok(tmp_path, descriptor, app_path="svc", files={"shared/api.yaml": "shared"})
    assert result.spec["endpoints"]["api"]["schema"]["content"] == "shared"


def test_symlinked_schema_file_leading_outside_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("top secret")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "api.yaml").symlink_to(tmp_path / "secret.txt")
    result = fails(tmp_path, "endpoints: [{name: api, port: 1, type: HTTP, schemaFile: api.yaml}]\n")
    assert "symlink that leads outside the source root" in result.error
    assert "top secret" not in result.err


def test_rest_maps_to_http_on_1x_with_a_warning(tmp_path: Path) -> None:
    # occ TestReadWorkloadDescriptor uses type REST, which occ passes and the 1.x CRD rejects
    result = ok(
        tmp_path,
        "endpoints:\n  - name: api\n    port: 80\n    type: REST\n    schemaFile: s.yaml\n",
        files={"s.yaml": "x"},
    )
    assert result.spec["endpoints"]["api"] == {
        "port": 80,
        "type": "HTTP",
        "schema": {"type": "openapi", "content": "x"},
    }
    assert any("workload.yaml:4: endpoints[0].type: REST is not an endpoint type" in w for w in result.warnings)


def test_rest_is_kept_on_017(tmp_path: Path) -> None:
    result = ok(tmp_path, "endpoints: [{name: api, port: 80, type: REST}]\n", profile=P017)
    assert result.spec["endpoints"]["api"] == {"port": 80, "type": "REST"}
    assert result.warnings == []


@BOTH
def test_unknown_endpoint_type(tmp_path: Path, profile: str) -> None:
    result = fails(tmp_path, "endpoints:\n  - name: api\n    port: 80\n    type: http\n", profile=profile)
    assert 'workload.yaml:4: endpoints[0].type: "http" is not one of [HTTP, ' in result.error
    assert 'did you mean "HTTP"?' in result.error
    result = fails(tmp_path, "endpoints: [{name: api, port: 80, type: SOAP}]\n", profile=profile)
    assert '"SOAP" is not one of' in result.error and profile in result.error


def test_missing_endpoint_type(tmp_path: Path) -> None:
    result = fails(tmp_path, "endpoints:\n  - name: api\n    port: 80\n")
    assert (
        "workload.yaml:2: endpoints[0].type: is required: one of [HTTP, gRPC, GraphQL, Websocket, TCP, UDP]"
        in result.error
    )


@BOTH
@pytest.mark.parametrize(
    ("port", "message"), [("70000", "got 70000"), ("0", "got 0"), ("-1", "got -1"), ("3000000000", "got 3000000000")]
)
def test_port_out_of_range(tmp_path: Path, profile: str, port: str, message: str) -> None:
    descriptor = f"endpoints:\n  - name: api\n    type: HTTP\n    port: {port}\n"
    result = fails(tmp_path, descriptor, profile=profile)
    assert "workload.yaml:4: endpoints[0].port: must be " in result.error and message in result.error


def test_port_example_message_from_the_brief(tmp_path: Path) -> None:
    descriptor = "\n" * 10 + "endpoints:\n  - {name: api, type: HTTP,\n     port: 70000}\n"
    assert "workload.yaml:13: endpoints[0].port: must be 1..65535, got 70000" in fails(tmp_path, descriptor).error


def test_missing_port(tmp_path: Path) -> None:
    result = fails(tmp_path, "endpoints:\n  - name: api\n    type: HTTP\n")
    assert "workload.yaml:2: endpoints[0].port: is required: must be 1..65535" in result.error


@pytest.mark.parametrize("port", ['"8080"', "'8080'", "http", "true", "[80]", "{a: 1}", "8080.5"])
def test_port_that_is_not_an_integer_fails(tmp_path: Path, port: str) -> None:
    result = fails(tmp_path, f"endpoints:\n  - name: api\n    type: HTTP\n    port: {port}\n")
    assert "workload.yaml:4: endpoints[0].port: expected an integer, got " in result.error


@pytest.mark.parametrize(("port", "expected"), [("8080.0", 8080), ("0x1F90", 8080), ("8_080", 8080), ("017", 15)])
def test_port_numbers_resolve_like_go_yaml(tmp_path: Path, port: str, expected: int) -> None:
    result = ok(tmp_path, f"endpoints: [{{name: api, type: HTTP, port: {port}}}]\n")
    assert result.spec["endpoints"]["api"]["port"] == expected


def test_target_port(tmp_path: Path) -> None:
    assert (
        "targetPort"
        not in ok(tmp_path, "endpoints: [{name: a, type: TCP, port: 5, targetPort: 0}]\n").spec["endpoints"]["a"]
    )
    result = fails(tmp_path, "endpoints: [{name: a, type: TCP, port: 5, targetPort: 65536}]\n")
    assert "endpoints[0].targetPort: must be 1..65535, got 65536" in result.error


def test_duplicate_endpoint_names_are_rejected(tmp_path: Path) -> None:
    descriptor = "endpoints:\n  - {name: api, port: 80, type: HTTP}\n  - {name: api, port: 81, type: HTTP}\n"
    result = fails(tmp_path, descriptor)
    assert (
        'workload.yaml:3: endpoints[1].name: duplicate endpoint name "api" (also endpoints[0] at line 2)'
        in result.error
    )


def test_endpoint_without_a_name_is_rejected(tmp_path: Path) -> None:
    result = fails(tmp_path, "endpoints:\n  - port: 80\n    type: HTTP\n")
    assert "workload.yaml:2: endpoints[0].name: is required" in result.error


# ---------------------------------------------------------------------------------------------------------------------
# Dependencies (1.x) and connections (0.17)

DEPENDENCIES = """\
dependencies:
  endpoints:
    - component: postgres
      name: tcp
      visibility: project
      envBindings: {address: DATABASE_URL, host: DB_HOST, port: DB_PORT}
    - project: other
      component: billing
      name: api
      visibility: namespace
      envBindings: {basePath: BILLING_PATH}
    - component: cache
      name: redis
      visibility: project
"""


def test_dependency_endpoints_are_mapped(tmp_path: Path) -> None:
    # occ TestAddDependenciesFromDescriptor (two connections mapped) + empty envBindings written as {}
    assert ok(tmp_path, DEPENDENCIES).spec["dependencies"] == {
        "endpoints": [
            {
                "component": "postgres",
                "name": "tcp",
                "visibility": "project",
                "envBindings": {"address": "DATABASE_URL", "host": "DB_HOST", "port": "DB_PORT"},
            },
            {
                "project": "other",
                "component": "billing",
                "name": "api",
                "visibility": "namespace",
                "envBindings": {"basePath": "BILLING_PATH"},
            },
            {"component": "cache", "name": "redis", "visibility": "project", "envBindings": {}},
        ]
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{name: tcp, visibility: project}",
            "dependencies.endpoints[0].component: dependency endpoint[0]: component is required",
        ),
        (
            "{component: db, visibility: project}",
            'dependencies.endpoints[0].name: dependency endpoint[0] (component "db"): name is required',
        ),
        (
            "{component: db, name: tcp}",
            'dependencies.endpoints[0].visibility: dependency endpoint[0] (component "db"): visibility is required',
        ),
        (
            "{component: db, name: tcp, visibility: external}",
            'invalid dependency endpoint visibility "external" for component "db" endpoint "tcp": '
            "must be one of [project, namespace]",
        ),
    ],
)
def test_dependency_endpoint_errors_have_occs_messages(tmp_path: Path, entry: str, message: str) -> None:
    result = fails(tmp_path, f"dependencies:\n  endpoints:\n    - {entry}\n")
    assert "workload.yaml:3: " in result.error and message in result.error


@pytest.mark.parametrize(
    "text", ["dependencies: {}\n", "dependencies: {endpoints: [], resources: []}\n", "dependencies:\n"]
)
def test_empty_dependencies_are_left_out(tmp_path: Path, text: str) -> None:
    assert "dependencies" not in ok(tmp_path, text).spec


def test_more_than_50_dependency_endpoints_are_rejected(tmp_path: Path) -> None:
    entries = [{"component": f"c{i}", "name": "e", "visibility": "project"} for i in range(51)]
    result = fails(tmp_path, yaml.safe_dump({"dependencies": {"endpoints": entries}}))
    assert "dependencies.endpoints: at most 50 entries (CRD maxItems), got 51" in result.error
    entries.pop()
    assert (
        len(ok(tmp_path, yaml.safe_dump({"dependencies": {"endpoints": entries}})).spec["dependencies"]["endpoints"])
        == 50
    )


def test_old_connections_are_ignored_on_1x_with_a_warning(tmp_path: Path) -> None:
    # occ TestReadWorkloadDescriptorDependencies: "old connections field is ignored"
    result = ok(tmp_path, "connections:\n  - {component: db, endpoint: tcp, visibility: project}\n")
    assert result.spec == BASIC_SPEC
    assert any(
        "workload.yaml:1: connections: unknown key" in w and "dependencies.endpoints" in w for w in result.warnings
    )


def test_resource_dependencies_are_copied_in_order(tmp_path: Path) -> None:
    # occ TestAddDependenciesFromDescriptor_Resources / TestGenerateWorkloadCR_WithResourceDependencies
    descriptor = """\
    dependencies:
      resources:
        - ref: orders-db
          envBindings: {host: DB_HOST, password: DB_PASSWORD}
          fileBindings: {ca: /etc/ssl/db-ca.pem}
        - ref: cache
          envBindings: {url: REDIS_URL}
    """
    assert ok(tmp_path, descriptor).spec["dependencies"] == {
        "resources": [
            {
                "ref": "orders-db",
                "envBindings": {"host": "DB_HOST", "password": "DB_PASSWORD"},
                "fileBindings": {"ca": "/etc/ssl/db-ca.pem"},
            },
            {"ref": "cache", "envBindings": {"url": "REDIS_URL"}},
        ]
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{envBindings: {a: B}}", "dependency resource[0]: ref is required"),
        (
            "{ref: db, envBindings: {'': B}}",
            'dependency resource[0] (ref "db"): envBindings keys (output names) and values (env var names) '
            "cannot be empty",
        ),
        (
            "{ref: db, envBindings: {a: ''}}",
            'dependency resource[0] (ref "db"): envBindings keys (output names) and values (env var names) '
            "cannot be empty",
        ),
        ("{ref: db, envBindings: {a: }}", "envBindings keys (output names) and values (env var names) cannot be empty"),
        (
            "{ref: db, fileBindings: {a: ''}}",
            'dependency resource[0] (ref "db"): fileBindings keys (output names) and values (mount paths) '
            "cannot be empty",
        ),
    ],
)
def test_resource_dependency_errors_have_occs_messages(tmp_path: Path, entry: str, message: str) -> None:
    assert message in fails(tmp_path, f"dependencies:\n  resources:\n    - {entry}\n").error


def test_duplicate_resource_refs_and_too_many_bindings_are_rejected(tmp_path: Path) -> None:
    result = fails(tmp_path, "dependencies:\n  resources: [{ref: db}, {ref: db}]\n")
    assert 'dependencies.resources[1].ref: duplicate resource ref "db"' in result.error
    bindings = {f"out{i}": f"ENV_{i}" for i in range(51)}
    result = fails(tmp_path, yaml.safe_dump({"dependencies": {"resources": [{"ref": "db", "envBindings": bindings}]}}))
    assert "dependencies.resources[0].envBindings: at most 50 entries (CRD maxProperties), got 51" in result.error


CONNECTIONS = """\
connections:
  - component: postgres
    endpoint: tcp
    visibility: project
    envBindings: {address: DATABASE_URL}
  - project: platform
    component: auth
    endpoint: grpc
    visibility: internal
"""


def test_connections_on_017(tmp_path: Path) -> None:
    result = ok(tmp_path, CONNECTIONS, profile=P017)
    assert result.spec["connections"] == [
        {
            "component": "postgres",
            "endpoint": "tcp",
            "visibility": "project",
            "envBindings": {"address": "DATABASE_URL"},
        },
        {"project": "platform", "component": "auth", "endpoint": "grpc", "visibility": "internal", "envBindings": {}},
    ]
    assert "dependencies" not in result.spec


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{endpoint: tcp, visibility: project}", "connections[0].component: connection[0]: component is required"),
        (
            "{component: db, visibility: project}",
            'connections[0].endpoint: connection[0] (component "db"): endpoint is required',
        ),
        ("{component: db, endpoint: tcp}", 'connection[0] (component "db"): visibility is required'),
        (
            "{component: db, endpoint: tcp, visibility: external}",
            'invalid connection visibility "external" for component "db" endpoint "tcp": '
            "must be one of [project, namespace, internal]",
        ),
    ],
)
def test_connection_errors_on_017(tmp_path: Path, entry: str, message: str) -> None:
    assert message in fails(tmp_path, f"connections:\n  - {entry}\n", profile=P017).error


def test_dependencies_are_ignored_on_017_with_a_warning(tmp_path: Path) -> None:
    result = ok(tmp_path, DEPENDENCIES, profile=P017)
    assert result.spec == BASIC_SPEC
    assert any("dependencies: unknown key" in w and "connections" in w for w in result.warnings)


# ---------------------------------------------------------------------------------------------------------------------
# Configurations: env and files (occ TestAddConfigurationsFromDescriptor, TestConvertEnvVarSource)


@BOTH
def test_env_inline_and_secret(tmp_path: Path, profile: str) -> None:
    descriptor = """\
    configurations:
      env:
        - name: LOG_LEVEL
          value: debug
        - name: DB_PASSWORD
          valueFrom:
            secretKeyRef: {name: db-credentials, key: password}
    """
    ref = "secretKeyRef" if profile == P1X else "secretRef"
    assert ok(tmp_path, descriptor, profile=profile).spec["container"]["env"] == [
        {"key": "LOG_LEVEL", "value": "debug"},
        {"key": "DB_PASSWORD", "valueFrom": {ref: {"name": "db-credentials", "key": "password"}}},
    ]


def test_env_without_value_is_key_only_on_1x(tmp_path: Path) -> None:
    descriptor = "configurations:\n  env:\n    - name: EMPTY\n      value: ''\n    - name: BARE\n"
    assert ok(tmp_path, descriptor).spec["container"]["env"] == [{"key": "EMPTY"}, {"key": "BARE"}]


def test_env_without_value_fails_on_017(tmp_path: Path) -> None:
    result = fails(tmp_path, "configurations:\n  env:\n    - name: EMPTY\n", profile=P017)
    assert "workload.yaml:3: configurations.env[0]: needs a non-empty value or valueFrom.secretKeyRef" in result.error
    assert "exactly one of value or valueFrom" in result.error


def test_env_value_from_path_is_ignored_with_a_warning(tmp_path: Path) -> None:
    # occ TestConvertEnvVarSource (path only): the env var gets only its key
    descriptor = "configurations:\n  env:\n    - name: FROM_FILE\n      valueFrom:\n        path: value.txt\n"
    result = ok(tmp_path, descriptor)
    assert result.spec["container"]["env"] == [{"key": "FROM_FILE"}]
    assert any(
        "workload.yaml:5: configurations.env[0].valueFrom.path: ignored for env vars" in w for w in result.warnings
    )
    kept = ok(tmp_path, "configurations:\n  env:\n    - {name: X, value: v, valueFrom: {path: p.txt}}\n")
    assert kept.spec["container"]["env"] == [{"key": "X", "value": "v"}]


@BOTH
def test_env_with_both_value_and_secret_is_rejected(tmp_path: Path, profile: str) -> None:
    descriptor = (
        "configurations:\n  env:\n    - name: X\n      value: v\n      valueFrom: {secretKeyRef: {name: s, key: k}}\n"
    )
    result = fails(tmp_path, descriptor, profile=profile)
    assert "workload.yaml:4: configurations.env[0]: both value and valueFrom.secretKeyRef are set" in result.error


@pytest.mark.parametrize("ref", ["{name: '', key: k}", "{key: k}", "{name: s}"])
def test_secret_key_ref_needs_name_and_key(tmp_path: Path, ref: str) -> None:
    result = fails(tmp_path, f"configurations:\n  env:\n    - name: X\n      valueFrom: {{secretKeyRef: {ref}}}\n")
    assert "configurations.env[0].valueFrom.secretKeyRef." in result.error and "is required" in result.error


@BOTH
def test_files_inline_secret_and_path(tmp_path: Path, profile: str) -> None:
    descriptor = """\
    configurations:
      files:
        - name: inline.conf
          mountPath: /etc/app
          value: "a = 1"
        - name: tls.key
          mountPath: /etc/tls
          valueFrom:
            secretKeyRef: {name: tls, key: key}
        - name: app.properties
          mountPath: /etc/app
          valueFrom:
            path: config/app.properties
    """
    properties = "server.port=8080\nfeature.x=true\n"
    ref = "secretKeyRef" if profile == P1X else "secretRef"
    result = ok(tmp_path, descriptor, profile=profile, files={"config/app.properties": properties})
    assert result.spec["container"]["files"] == [
        {"key": "inline.conf", "mountPath": "/etc/app", "value": "a = 1"},
        {"key": "tls.key", "mountPath": "/etc/tls", "valueFrom": {ref: {"name": "tls", "key": "key"}}},
        {"key": "app.properties", "mountPath": "/etc/app", "value": properties},
    ]


def test_file_priority_secret_over_path(tmp_path: Path) -> None:
    descriptor = (
        "configurations:\n  files:\n    - name: f\n      mountPath: /m\n      valueFrom:\n"
        "        secretKeyRef: {name: s, key: k}\n        path: missing.txt\n"
    )
    result = ok(tmp_path, descriptor)
    assert result.spec["container"]["files"] == [
        {"key": "f", "mountPath": "/m", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    ]
    assert any("valueFrom.path: ignored because secretKeyRef is set" in w for w in result.warnings)


@pytest.mark.parametrize("value_from", ["{path: a.txt}", "{secretKeyRef: {name: s, key: k}}"])
def test_file_with_both_value_and_value_from_is_rejected(tmp_path: Path, value_from: str) -> None:
    descriptor = f"configurations:\n  files:\n    - {{name: f, mountPath: /m, value: v, valueFrom: {value_from}}}\n"
    result = fails(tmp_path, descriptor, files={"a.txt": "A"})
    assert "configurations.files[0]: both value and valueFrom." in result.error


def test_missing_file_path(tmp_path: Path) -> None:
    descriptor = "configurations:\n  files:\n    - name: f\n      mountPath: /m\n"
    descriptor += "      valueFrom:\n        path: nope.properties\n"
    result = fails(tmp_path, descriptor)
    assert (
        "workload.yaml:6: configurations.files[0].valueFrom.path: failed to read file nope.properties" in result.error
    )


def test_file_path_escaping_the_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "host.txt").write_text("host data")
    result = fails(
        tmp_path, "configurations:\n  files:\n    - {name: f, mountPath: /m, valueFrom: {path: ../host.txt}}\n"
    )
    assert "configurations.files[0].valueFrom.path" in result.error and "outside the source root" in result.error
    assert "host data" not in result.err


def test_file_without_content_is_key_and_mount_path_on_1x_and_an_error_on_017(tmp_path: Path) -> None:
    descriptor = "configurations:\n  files:\n    - {name: f, mountPath: /m}\n"
    assert ok(tmp_path, descriptor).spec["container"]["files"] == [{"key": "f", "mountPath": "/m"}]
    assert "configurations.files[0]: needs a non-empty value" in fails(tmp_path, descriptor, profile=P017).error


def test_empty_configurations_leave_env_and_files_out(tmp_path: Path) -> None:
    assert ok(tmp_path, "configurations: {env: [], files: []}\n").spec == BASIC_SPEC


# ---------------------------------------------------------------------------------------------------------------------
# Decoding like sigs.k8s.io/yaml: case-insensitive keys, unknown keys, scalar coercion, type errors


def test_keys_match_case_insensitively(tmp_path: Path) -> None:
    descriptor = """\
    ENDPOINTS:
      - NAME: api
        Port: 80
        TYPE: HTTP
        SchemaFILE: s.yaml
    Configurations:
      Files:
        - Name: f
          MOUNTPATH: /m
          VALUEFROM: {SECRETKEYREF: {NAME: s, KEY: k}}
    """
    result = ok(tmp_path, descriptor, files={"s.yaml": "x"})
    assert result.spec["endpoints"]["api"] == {
        "port": 80,
        "type": "HTTP",
        "schema": {"type": "openapi", "content": "x"},
    }
    assert result.spec["container"]["files"] == [
        {"key": "f", "mountPath": "/m", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    ]
    assert result.warnings == []


def test_snake_case_does_not_match_and_is_named_in_a_warning(tmp_path: Path) -> None:
    descriptor = "configurations:\n  files:\n    - name: f\n      mount_path: /m\n      value: v\n"
    result = ok(tmp_path, descriptor)
    assert result.spec["container"]["files"] == [{"key": "f", "mountPath": "", "value": "v"}]
    assert any(
        "workload.yaml:4: configurations.files[0].mount_path: unknown key, ignored as occ does "
        '(did you mean "mountPath"?' in w
        for w in result.warnings
    )


def test_every_unknown_key_is_named_with_file_and_line(tmp_path: Path) -> None:
    descriptor = """\
    kind: Workload
    metadata:
      name: x
      labels: {a: b}
    endpoints:
      - name: api
        port: 80
        type: HTTP
        protocol: h2
    spec: {}
    """
    result = ok(tmp_path, descriptor, app_path="svc")
    warnings = "\n".join(result.warnings)
    for expected in (
        "svc/workload.yaml:1: kind: unknown key",
        "svc/workload.yaml:4: metadata.labels: unknown key",
        "svc/workload.yaml:9: endpoints[0].protocol: unknown key",
        "svc/workload.yaml:10: spec: unknown key",
    ):
        assert expected in warnings
    assert len(result.warnings) == 4


@pytest.mark.parametrize(
    ("scalar", "expected"),
    [
        ("yes", "true"),
        ("no", "false"),
        ("on", "true"),
        ("Off", "false"),
        ("y", "true"),
        ("N", "false"),
        ("TRUE", "true"),
        ("8080", "8080"),
        ("1.10", "1.1"),
        ("1000000.0", "1e+06"),
        ("3.14159265358979", "3.1415927"),
        ("010", "8"),
        ("08", "8"),
        ("0x1F", "31"),
        ("0o17", "15"),
        ("0b101", "5"),
        ("1_000", "1000"),
        ("1e3", "1000"),
        (".5", "0.5"),
        ("-0", "0"),
        (".inf", "+Inf"),
        ("12345678901234567890", "12345678901234567890"),
        ("2001-12-14", "2001-12-14"),
        ("190:20:30", "190:20:30"),
        ('"yes"', "yes"),
        ("'1.10'", "1.10"),
        ("!!str 1.10", "1.10"),
        ("hello world", "hello world"),
    ],
)
def test_scalars_are_coerced_into_string_fields_like_occ(tmp_path: Path, scalar: str, expected: str) -> None:
    descriptor = f"configurations:\n  env:\n    - name: V\n      value: {scalar}\n"
    assert ok(tmp_path, descriptor).spec["container"]["env"] == [{"key": "V", "value": expected}]


@pytest.mark.parametrize("scalar", ["~", "null", ""])
def test_null_in_a_string_field_is_empty(tmp_path: Path, scalar: str) -> None:
    assert ok(tmp_path, f"configurations:\n  env:\n    - name: V\n      value: {scalar}\n").spec["container"][
        "env"
    ] == [{"key": "V"}]


def test_a_bare_n_is_a_boolean_even_as_a_name(tmp_path: Path) -> None:
    # go-yaml v2 resolves `N` to false: occ writes key "false"
    assert ok(tmp_path, "configurations:\n  env:\n    - {name: N, value: x}\n").spec["container"]["env"] == [
        {"key": "false", "value": "x"}
    ]


def test_go_float_formatting() -> None:
    cases = {
        1.1: "1.1",
        1e6: "1e+06",
        123456.0: "123456",
        1e-5: "1e-05",
        0.0001: "0.0001",
        2.5e-7: "2.5e-07",
        -1.5: "-1.5",
        0.1: "0.1",
        1e39: "+Inf",
        16777217.0: "1.6777216e+07",
    }
    for value, expected in cases.items():
        assert format_float32(value) == expected, value
    assert resolve_plain("0x") == ("str", "0x")
    assert resolve_plain("+") == ("str", "+")
    assert resolve_plain("-.inf")[0] == "float"


@pytest.mark.parametrize(
    ("descriptor", "message"),
    [
        (
            "endpoints: [{name: ep, port: 80, type: HTTP, visibility: external}]\n",
            "endpoints[0].visibility: expected a list, got a string",
        ),
        (
            "configurations:\n  env:\n    - name: A\n      value: {a: 1}\n",
            "workload.yaml:4: configurations.env[0].value: expected a string, got a mapping",
        ),
        ("- a\n- b\n", "workload.yaml:1: descriptor: expected a mapping, got a list"),
        ("just text\n", "descriptor: expected a mapping, got a string"),
        ("endpoints: {name: ep}\n", "endpoints: expected a list, got a mapping"),
        ("endpoints: [ep]\n", "endpoints[0]: expected a mapping, got a string"),
        ("dependencies: [a]\n", "dependencies: expected a mapping, got a list"),
        ("configurations:\n  env:\n    - name: [A]\n", "configurations.env[0].name: expected a string, got a list"),
        ("metadata: [x]\n", "metadata: expected a mapping, got a list"),
        ("endpoints:\n  - name: a\n   port: 1\n", "workload.yaml:3: invalid YAML"),
        ("a: [1, 2\n", "invalid YAML"),
        ("a: *missing\n", "invalid YAML"),
    ],
)
def test_type_mismatches_and_bad_yaml_fail(tmp_path: Path, descriptor: str, message: str) -> None:
    assert message in fails(tmp_path, descriptor).error


def test_invalid_utf8_fails(tmp_path: Path) -> None:
    result = fails(tmp_path, None, files={"workload.yaml": b"endpoints: \xff\xfe\n"})
    assert "not valid UTF-8" in result.error


@pytest.mark.parametrize(
    ("descriptor", "message"),
    [
        (
            "endpoints:\n  - name: a\n    port: 1\n    port: 2\n    type: HTTP\n",
            "workload.yaml:4: endpoints[0].port: duplicate key, also at line 3",
        ),
        (
            "endpoints:\n  - name: a\n    port: 1\n    Port: 2\n    type: HTTP\n",
            "(as 'port'; occ matches keys case-insensitively)",
        ),
        ("endpoints: []\nEndpoints: []\n", "workload.yaml:2: Endpoints: duplicate key, also at line 1"),
        (
            "dependencies:\n  resources:\n    - ref: r\n      envBindings: {a: X, a: Y}\n",
            "dependencies.resources[0].envBindings.a: duplicate key",
        ),
    ],
)
def test_duplicate_keys_are_rejected(tmp_path: Path, descriptor: str, message: str) -> None:
    assert message in fails(tmp_path, descriptor).error


def test_merge_keys_and_anchors_work_like_go_yaml(tmp_path: Path) -> None:
    descriptor = """\
    x-defaults: &http {type: HTTP, port: 8080, visibility: [project]}
    endpoints:
      - <<: *http
        name: a
      - <<: *http
        name: b
        port: 9090
    """
    result = ok(tmp_path, descriptor)
    assert result.spec["endpoints"] == {
        "a": {"port": 8080, "type": "HTTP", "visibility": ["project"]},
        "b": {"port": 9090, "type": "HTTP", "visibility": ["project"]},
    }


def test_only_the_first_document_is_read(tmp_path: Path) -> None:
    result = ok(
        tmp_path, "endpoints: [{name: a, port: 1, type: TCP}]\n---\nendpoints: [{name: b, port: 2, type: TCP}]\n"
    )
    assert list(result.spec["endpoints"]) == ["a"]
    assert any("workload.yaml:3: only the first YAML document is read" in w for w in result.warnings)


# ---------------------------------------------------------------------------------------------------------------------
# Output: size limits, atomic write, stale files, the summary line


def test_warns_above_256_kib_and_fails_above_max_bytes(tmp_path: Path) -> None:
    big = "x" * (300 * 1024)
    descriptor = "endpoints: [{name: api, port: 80, type: HTTP, schemaFile: big.yaml}]\n"
    result = ok(tmp_path, descriptor, files={"big.yaml": big})
    assert any("above 262144 bytes" in w for w in result.warnings)
    result = fails(tmp_path, descriptor, "--max-bytes", "200000", files={"big.yaml": big})
    assert "big.yaml is 307200 bytes, above --max-bytes 200000" in result.error
    result = fails(tmp_path, descriptor, "--max-bytes", "307250", files={"big.yaml": big})
    assert "the Workload CR is" in result.error and "bytes, above --max-bytes 307250" in result.error


def test_stale_cr_from_an_earlier_run_is_removed_on_failure(tmp_path: Path) -> None:
    first = ok(tmp_path, "endpoints: [{name: a, port: 1, type: TCP}]\n")
    assert first.output.is_file()
    second = fails(tmp_path, "endpoints: [{name: a, port: 0, type: TCP}]\n")  # fails() also checks: no file
    assert any("removed the Workload CR an earlier run left" in w for w in second.warnings)


def test_other_files_at_the_output_path_are_left_alone_on_failure(tmp_path: Path) -> None:
    output = tmp_path / "out" / "workload-cr.yaml"
    output.parent.mkdir(parents=True)
    output.write_text("not: a workload\n")
    result = generate(tmp_path, "endpoints: [{name: a, port: 0, type: TCP}]\n", check=False)
    assert result.code != 0 and "port: must be 1..65535" in result.err
    assert output.read_text() == "not: a workload\n"


def test_output_path_that_is_the_descriptor_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    descriptor = source / "workload.yaml"
    descriptor.write_text("endpoints: []\n")
    code, _out, err = invoke(
        ["--image", IMAGE, "-n", "a", "-p", "b", "-c", "c", "--source-dir", str(source), "-o", str(descriptor)]
    )
    assert code == contract.EXIT_USAGE and "is the descriptor itself" in err
    assert descriptor.read_text() == "endpoints: []\n"


def test_success_prints_one_summary_line(tmp_path: Path) -> None:
    result = ok(tmp_path, FULL_DESCRIPTOR, files={"openapi.yaml": "o"})
    assert result.out == ""
    notice, summary = result.err.splitlines()
    assert notice.startswith(f"[generate-workload-cr] warning: {DELIVERY_NOTICE} on openchoreo-1.x")
    assert summary.startswith("[generate-workload-cr] Workload CR written to ")
    assert summary.endswith("; delivery: none: no Workload was applied (api-mode=off)")
    assert "cart-workload" in result.err and "1 endpoint, 1 env var, 1 file, 1 endpoint dependency" in result.err


# ---------------------------------------------------------------------------------------------------------------------
# Secrets never leak; secretKeyRef names are not secrets


def test_secret_values_never_appear_anywhere(tmp_path: Path) -> None:
    secret = "s3cr3t-OAUTH-value-93f1c"
    descriptor = """\
    endpoints: [{name: api, port: 80, type: HTTP}]
    configurations:
      env:
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db-credentials, key: password}}
    """
    environ = {"OAUTH_CLIENT_SECRET": secret}
    result = ok(tmp_path, descriptor, "--oauth-client-secret", secret, environ=environ)
    text = result.output.read_text()
    assert "db-credentials" in text and "[REDACTED]" not in text
    for stream in (result.out, result.err, text):
        assert secret not in stream
    failed = fails(tmp_path, "endpoints: [{name: api, port: 0, type: HTTP}]\n", environ=environ)
    assert secret not in failed.out + failed.err


# ---------------------------------------------------------------------------------------------------------------------
# The API hook


def test_api_publish_is_called_after_validation_and_before_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stand-in for steps.generate_workload.api (owned and tested elsewhere): this only checks the step's side of
    the contract -- called with the validated CR when --api-mode is not off, and a failure there leaves no file."""
    calls: list[dict[str, Any]] = []

    def publish(
        workload: dict[str, Any], *, from_source: bool, opts: GenerateWorkloadOptions, log: Any, settings: Any = None
    ) -> str:
        output = Path(opts.output)
        calls.append({"workload": workload, "from_source": from_source, "file_existed": output.exists()})
        if opts.api_mode == "legacy":
            from steps.common.log import StepError

            raise StepError("API server said no")
        return "API server: Workload created"

    fake = types.ModuleType("steps.generate_workload.api")
    fake.publish = publish  # type: ignore[attr-defined]
    fake.validate_api_options = lambda opts, log=None: object()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "steps.generate_workload.api", fake)
    monkeypatch.setattr(steps.generate_workload, "api", fake, raising=False)

    ok(tmp_path, "endpoints: [{name: a, port: 1, type: TCP}]\n")
    assert calls == []
    result = ok(tmp_path, "endpoints: [{name: a, port: 1, type: TCP}]\n", "--api-mode", "workloads")
    assert len(calls) == 1 and calls[0]["from_source"] is True
    assert calls[0]["workload"] == result.cr
    result = fails(tmp_path / "second", None, "--api-mode", "legacy")
    assert calls[-1]["from_source"] is False and calls[-1]["file_existed"] is False
    assert "API server said no" in result.error


# ---------------------------------------------------------------------------------------------------------------------
# As a subprocess: `python -m steps.generate_workload`


def _subprocess(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "HOME": str(cwd), "API_MODE": "off"}
    return processes.python_module("steps.generate_workload", args, cwd=cwd, env=env, timeout=60)


def test_subprocess_success_to_file_and_stdout(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "docs").mkdir(parents=True)
    (source / "docs" / "api.yaml").write_text("openapi: 3.1.0\n")
    (source / "workload.yaml").write_text(FULL_DESCRIPTOR.replace("openapi.yaml", "docs/api.yaml"))
    output = tmp_path / "cr.yaml"
    base = ["--image", IMAGE, "-n", "team-ns", "-p", "shop", "-c", "cart", "--source-dir", str(source)]
    proc = _subprocess([*base, "-o", str(output)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr.count("\n") == 2 and DELIVERY_NOTICE in proc.stderr
    cr = yaml.safe_load(output.read_text())
    workload_validator(P1X).validate(cr)
    assert cr["spec"]["endpoints"]["http"]["schema"]["content"] == "openapi: 3.1.0\n"
    proc = _subprocess([*base, "-o", "-", "--profile", P017], tmp_path)
    assert proc.returncode == 0, proc.stderr
    workload_validator(P017).validate(yaml.safe_load(proc.stdout))


def test_subprocess_failure(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "workload.yaml").write_text(
        "endpoints:\n  - name: ep\n    port: 80\n    type: HTTP\n    visibility: [bogus]\n"
    )
    output = tmp_path / "cr.yaml"
    proc = _subprocess(
        ["--image", IMAGE, "-n", "n", "-p", "p", "-c", "c", "--source-dir", str(source), "-o", str(output)], tmp_path
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == (
        "[generate-workload-cr] error: workload.yaml:5: endpoints[0].visibility[0]: invalid endpoint visibility "
        '"bogus" for endpoint "ep": must be one of [project, namespace, internal, external]\n'
    )
    assert not output.exists()
    proc = _subprocess(["-n", "n"], tmp_path)
    assert proc.returncode == contract.EXIT_USAGE and "missing required parameter(s)" in proc.stderr


def test_subprocess_help_lists_the_occ_flags(tmp_path: Path) -> None:
    proc = _subprocess(["--help"], tmp_path)
    assert proc.returncode == 0
    for flag in ("--image", "--descriptor", "-n", "-p", "-c", "-o", "--output-path", "--profile", "--max-bytes"):
        assert flag in proc.stdout


def test_step_code_imports_neither_hera_nor_httpx(tmp_path: Path) -> None:
    code = (
        "import sys, steps.generate_workload.main; "
        "print([m for m in ('hera', 'hera_workflows', 'httpx') if m in sys.modules])"
    )
    proc = processes.python_code(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
