"""`python -m hera_workflows list`: the pack's templates with their parameters and outputs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hera_workflows.extension import ExtensionError
from hera_workflows.pack.documents import PackError
from hera_workflows.pack.render import add_settings_arguments, build_pack_resources, settings_from_args
from hera_workflows.pack.settings import SettingsError


def _parameters(section: dict[str, Any] | None) -> list[dict[str, Any]]:
    out = []
    for p in (section or {}).get("parameters", []):
        entry: dict[str, Any] = {"name": p["name"]}
        if "default" in p or "value" in p:
            entry["default"] = p.get("default", p.get("value"))
        else:
            entry["required"] = True
        if "valueFrom" in p:
            entry["from"] = p["valueFrom"].get("path") or p["valueFrom"]
        out.append(entry)
    return out


def describe(resources_: list[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for resource in resources_:
        body = resource.body
        if body.get("kind") != "ClusterWorkflowTemplate":
            rows.append({"kind": body.get("kind"), "name": resource.name, "file": resource.path})
            continue
        spec = body["spec"]
        annotations = body["metadata"].get("annotations", {})
        row: dict[str, Any] = {
            "kind": "ClusterWorkflowTemplate",
            "name": body["metadata"]["name"],
            "file": resource.path,
            "description": annotations.get("workflows.argoproj.io/description", ""),
            "templates": [],
        }
        if "entrypoint" in spec:
            row["entrypoint"] = spec["entrypoint"]
            row["arguments"] = _parameters(spec.get("arguments"))
        for template in spec["templates"]:
            item: dict[str, Any] = {"name": template["name"]}
            if "steps" in template:
                item["steps"] = [
                    {"name": s["name"], "calls": f"{s['templateRef']['name']}/{s['templateRef']['template']}"}
                    if "templateRef" in s
                    else {"name": s["name"], "calls": s["template"]}
                    for group in template["steps"]
                    for s in group
                ]
            else:
                item["image"] = template.get("container", {}).get("image", "")
                item["inputs"] = _parameters(template.get("inputs"))
                item["outputs"] = _parameters(template.get("outputs"))
            row["templates"].append(item)
        rows.append(row)
    return rows


def _fmt(params: list[dict[str, Any]]) -> str:
    parts = []
    for p in params:
        if p.get("required"):
            parts.append(f"{p['name']}*")
        elif "default" in p:
            parts.append(f"{p['name']}={p['default']!s}" if p["default"] != "" else f"{p['name']}=''")
        else:
            parts.append(p["name"])
    return ", ".join(parts) or "-"


def print_table(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        if row["kind"] != "ClusterWorkflowTemplate":
            print(f"{row['kind']:<24} {row['name']:<28} {row['file']}")
            continue
        for template in row["templates"]:
            head = f"{row['name']}/{template['name']}"
            print(head)
            if "steps" in template:
                print("  arguments: " + _fmt(row.get("arguments", [])))
                print("  steps:     " + " -> ".join(f"{s['name']} ({s['calls']})" for s in template["steps"]))
            else:
                print(f"  image:     {template['image']}")
                print("  inputs:    " + _fmt(template["inputs"]))
                print("  outputs:   " + (", ".join(o["name"] for o in template["outputs"]) or "-"))
        print()
    print("* required")


def _md_params(params: list[dict[str, Any]]) -> str:
    return _fmt(params).replace("|", "\\|") if params else "-"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The README's table of templates: step templates with inputs/outputs, then pipelines with their steps."""
    lines = [
        "| ClusterWorkflowTemplate / template | image | inputs (`*` required, `=default`) | outputs |",
        "|---|---|---|---|",
    ]
    pipelines = [
        "",
        "| pipeline (entrypoint `build-workflow`) | arguments (`*` required, `=default`) | steps |",
        "|---|---|---|",
    ]
    for row in rows:
        if row["kind"] != "ClusterWorkflowTemplate":
            continue
        for template in row["templates"]:
            name = f"`{row['name']}` / `{template['name']}`"
            if "steps" in template:
                steps = " → ".join(f"`{s['name']}`" for s in template["steps"])
                pipelines.append(f"| `{row['name']}` | {_md_params(row.get('arguments', []))} | {steps} |")
            else:
                outputs = ", ".join(f"`{o['name']}`" for o in template["outputs"]) or "-"
                lines.append(f"| {name} | `{template['image']}` | {_md_params(template['inputs'])} | {outputs} |")
    return "\n".join(lines + pipelines) + "\n"


def configure(parser: argparse.ArgumentParser) -> None:
    add_settings_arguments(parser)
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="machine-readable output")
    output.add_argument("--markdown", action="store_true", help="the Markdown table shown in the README")


def main(args: argparse.Namespace) -> int:
    try:
        rows = describe(build_pack_resources(settings_from_args(args)))
    except (SettingsError, ExtensionError, PackError) as error:
        print(f"list: {error}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    elif args.markdown:
        sys.stdout.write(markdown_table(rows))
    else:
        print_table(rows)
    return 0
