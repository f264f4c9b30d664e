"""`python -m hera_workflows lint [PATH…]`: validate rendered Argo YAML offline.

Two layers, both without a cluster:

1. structure: each ClusterWorkflowTemplate / WorkflowTemplate / Workflow document (and each OpenChoreo
   runTemplate, an embedded Argo Workflow) against a strict structural schema, unknown fields forbidden
   (hera_workflows.lint.schema): by default Hera's Argo v4.0.5 models (nothing needed beside the package), or the
   exact upstream CRDs from --crd-dir or from the cluster (--from-cluster);
2. semantics: Argo's validation rules the pack relies on, references resolved across all linted files, and the
   OpenChoreo generate-workload-cr contract (hera_workflows.lint.semantics);
3. Argo version: fields newer than the target Argo line (--argo-version, default the line the OpenChoreo version
   runs) are errors, since that cluster drops them silently (hera_workflows.lint.versions).

Every finding names the file (with the line when known), the resource (Kind/name) and the JSON path. Exit status:
0 clean, 1 errors (or warnings with --strict), 2 usage errors (no CRDs, missing path).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hera_workflows.lint.schema import (
    CRD_DIR_ENV,
    CRD_SOURCE_HINT,
    CrdError,
    CrdSchemas,
    Issue,
    JsonPath,
    Severity,
    StructuralSchemas,
    format_path,
    hera_schemas,
)
from hera_workflows.lint.semantics import ARGO_KINDS, Resource, check
from hera_workflows.lint.versions import ARGO_LINE_BY_OPENCHOREO, ARGO_LINES, newer_fields

ROOT = Path(__file__).resolve().parents[2]  # hera_workflows/lint/__init__.py -> the checkout
DEFAULT_PATH = ROOT / "templates"
ARGO_GROUP = "argoproj.io"
OPENCHOREO_GROUP = "openchoreo.dev"
OPENCHOREO_RUN_TEMPLATE_KINDS = frozenset({"ClusterWorkflow", "Workflow"})
EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
DEFAULT_OPENCHOREO = "1.x"
DEFAULT_ARGO_LINE = ARGO_LINE_BY_OPENCHOREO[DEFAULT_OPENCHOREO]

EPILOG = f"""\
Structure: by default the JSON schema of Hera's Argo v4.0.5 models, made strict (unknown fields forbidden, types
checked); nothing beside the installed package is needed. For the exact upstream schema pass --crd-dir DIR (or
${CRD_DIR_ENV}) holding Argo's *full* CRDs (argoproj.io_clusterworkflowtemplates.yaml,
argoproj.io_workflowtemplates.yaml, argoproj.io_workflows.yaml), or --from-cluster to read them with
`kubectl get crd` from the current kube context (--context NAME for another one).
CRD files: {CRD_SOURCE_HINT}.

Argo version: OpenChoreo v1.2 runs Argo v4.0.x and v0.17 ran v3.6.x; fields added after the target line
(--argo-version, default the line --openchoreo runs) are reported as errors: that cluster drops them silently.

Exit status: 0 clean, 1 errors found (warnings too with --strict), 2 usage error.
"""


@dataclass(frozen=True)
class Finding:
    file: str
    line: int | None
    resource: str
    path: str
    message: str
    severity: Severity
    rule: str

    def text(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        parts = [where, self.severity]
        if self.resource:
            parts.append(self.resource)
        parts += [self.path, self.message]
        return ": ".join(parts)


@dataclass
class LintResult:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    resources: int = 0
    skipped: list[str] = field(default_factory=list)  # documents of other kinds, checked only for parsing
    structure: str = "not checked"  # where the structural schema came from
    argo_version: str | None = None  # the target Argo line of the version check

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def exit_code(self, *, strict: bool = False) -> int:
        if self.errors or (strict and self.warnings):
            return EXIT_FINDINGS
        return EXIT_CLEAN


# -- loading ---------------------------------------------------------------------------------------------------
LineMap = dict[JsonPath, int]


@dataclass
class _Document:
    file: str
    index: int
    data: Any
    lines: LineMap
    duplicate_keys: list[tuple[JsonPath, str]]

    def line(self, path: JsonPath) -> int | None:
        for end in range(len(path), -1, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return None

    def label(self) -> str:
        if not isinstance(self.data, dict):
            return ""
        meta = self.data.get("metadata") if isinstance(self.data.get("metadata"), dict) else {}
        name = (meta or {}).get("name") or (meta or {}).get("generateName")
        kind = self.data.get("kind", "(no kind)")
        return f"{kind}/{name}" if name else f"{kind} (document {self.index + 1})"


def _map_lines(node: yaml.Node, path: JsonPath, lines: LineMap, dups: list[tuple[JsonPath, str]]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key == "<<":
                continue
            if key in seen:
                dups.append(((*path, key), f"duplicate key '{key}' (YAML keeps the last one; kubectl rejects it)"))
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _map_lines(value_node, (*path, key), lines, dups)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _map_lines(item, (*path, i), lines, dups)


def load_documents(path: Path, display: str) -> tuple[list[_Document], Finding | None]:
    """Every document of a YAML file with a JSON-path -> line map; a parse error becomes a Finding."""
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], Finding(display, None, "", "(file)", f"cannot read: {exc}", "error", "parse")
    loader = loader_class(text)
    docs: list[_Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            lines: LineMap = {}
            dups: list[tuple[JsonPath, str]] = []
            _map_lines(node, (), lines, dups)
            docs.append(_Document(display, len(docs), data, lines, dups))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        what = ", ".join(str(p) for p in parts if p) or str(exc).replace("\n", " ")
        where = f" (line {line}, column {mark.column + 1})" if mark is not None else ""
        return docs, Finding(display, line, "", "(document)", f"YAML syntax error: {what}{where}", "error", "parse")
    finally:
        loader.dispose()
    return docs, None


def discover(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml"))
        else:
            files.append(path)
    return list(dict.fromkeys(files))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def default_schemas() -> StructuralSchemas:
    """${PACK_ARGO_CRD_DIR} when set, else Hera's models (strict)."""
    configured = os.environ.get(CRD_DIR_ENV)
    return CrdSchemas(Path(configured)) if configured else hera_schemas()


# -- linting ---------------------------------------------------------------------------------------------------
def _group(doc: dict[str, Any]) -> str:
    return str(doc.get("apiVersion", "")).partition("/")[0]


def _check_kustomization(doc: _Document, file: Path, result: LintResult) -> None:
    data = doc.data if isinstance(doc.data, dict) else {}
    for i, entry in enumerate(data.get("resources") or []):
        if not isinstance(entry, str) or "://" in entry or entry.startswith(("github.com/", "git@")):
            continue
        if not (file.parent / entry).exists():
            result.findings.append(
                Finding(
                    doc.file,
                    doc.line(("resources", i)),
                    doc.label(),
                    format_path(("resources", i)),
                    f"resource '{entry}' does not exist next to the kustomization",
                    "error",
                    "kustomization",
                )
            )


def lint_paths(
    paths: Iterable[Path],
    crd_dir: Path | None = None,
    *,
    schema: bool = True,
    schemas: StructuralSchemas | None = None,
    argo_version: str | None = DEFAULT_ARGO_LINE,
) -> LintResult:
    """Lint files and directories (recursively, *.yaml/*.yml). Raises CrdError when the CRDs are needed but missing.

    Structure from `schemas`, else the CRDs of `crd_dir`, else `default_schemas()`; `argo_version` (an Argo line
    such as "4.0", None for no check) flags fields newer than that line."""
    crds: StructuralSchemas | None = None
    if schema:
        crds = schemas or (CrdSchemas(crd_dir) if crd_dir else default_schemas())
    linter = _Linter(crds, argo_version)
    for file in discover(list(paths)):
        linter.lint_file(file)
    return linter.finish()


class _Linter:
    """One lint run: per document the parse and structure checks, then the semantic checks over all resources."""

    def __init__(self, crds: StructuralSchemas | None, argo_version: str | None) -> None:
        self.crds = crds
        self.argo_version = argo_version
        self.result = LintResult(structure=crds.source if crds else "not checked", argo_version=argo_version)
        self.resources: list[Resource] = []
        self.owners: dict[int, tuple[_Document, str]] = {}

    def add(self, doc: _Document, label: str, issue: Issue) -> None:
        self.result.findings.append(
            Finding(
                doc.file,
                doc.line(issue.path),
                label,
                format_path(issue.path),
                issue.message,
                issue.severity,
                issue.rule,
            )
        )

    def finish(self) -> LintResult:
        for res, issue in check(self.resources):
            self.add(*self.owners[id(res)], issue)
        self.result.findings.sort(key=lambda f: (f.file, f.line or 0, f.path, f.message))
        return self.result

    # -- structure

    def schema_check(self, doc: _Document, label: str, obj: dict[str, Any], prefix: JsonPath) -> None:
        if self.argo_version is not None:
            for field_path, line in newer_fields(obj, self.argo_version):
                self.add(
                    doc,
                    label,
                    Issue(
                        (*prefix, *field_path),
                        f"field added in Argo v{line}: an Argo v{self.argo_version} cluster drops it silently "
                        f"(target set by --argo-version / --openchoreo)",
                        "argo-version",
                    ),
                )
        if self.crds is not None:
            for issue in self._structure_issues(self.crds, obj, prefix):
                self.add(doc, label, issue)

    @staticmethod
    def _structure_issues(crds: StructuralSchemas, obj: dict[str, Any], prefix: JsonPath) -> list[Issue]:
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        if crds.covers(api_version, kind):
            return [
                Issue((*prefix, *issue.path), issue.message, issue.rule, issue.severity) for issue in crds.validate(obj)
            ]
        if kind in crds.kinds():
            served = ", ".join(crds.api_versions(kind))
            return [
                Issue(
                    (*prefix, "apiVersion"),
                    f"apiVersion '{api_version}' is not served for {kind} (expected {served})",
                    "schema",
                )
            ]
        return [
            Issue(
                (*prefix, "kind"),
                f"no schema for kind '{kind}' in {crds.source}: structure not checked",
                "schema",
                "warning",
            )
        ]

    # -- files and documents

    def lint_file(self, file: Path) -> None:
        result = self.result
        result.files += 1
        display = _display(file)
        docs, parse_error = load_documents(file, display)
        if parse_error is not None:
            result.findings.append(parse_error)
        for doc in docs:
            if doc.data is None:
                continue
            for dup_path, message in doc.duplicate_keys:
                result.findings.append(
                    Finding(doc.file, doc.line(dup_path), doc.label(), format_path(dup_path), message, "error", "parse")
                )
            if not isinstance(doc.data, dict):
                result.findings.append(
                    Finding(doc.file, doc.line(()), "", "(document)", "document is not a mapping", "error", "parse")
                )
                continue
            self.lint_document(doc, doc.data, file, display)

    def lint_document(self, doc: _Document, data: dict[str, Any], file: Path, display: str) -> None:
        label, kind = doc.label(), str(data.get("kind", ""))
        if kind == "Kustomization" or file.name in ("kustomization.yaml", "kustomization.yml"):
            _check_kustomization(doc, file, self.result)
            self.result.skipped.append(f"{display}: {label}")
            return
        meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        name = str((meta or {}).get("name") or (meta or {}).get("generateName") or "")
        namespace = str((meta or {}).get("namespace") or "")
        if _group(data) == ARGO_GROUP and (kind in ARGO_KINDS or (self.crds is not None and kind in self.crds.kinds())):
            self.result.resources += 1
            self.schema_check(doc, label, data, ())
            if kind in ARGO_KINDS:
                self._keep(Resource(kind, name, data, origin=display, namespace=namespace), doc, label)
            return
        run_template = (data.get("spec") or {}).get("runTemplate") if isinstance(data.get("spec"), dict) else None
        if (
            _group(data) == OPENCHOREO_GROUP
            and kind in OPENCHOREO_RUN_TEMPLATE_KINDS
            and isinstance(run_template, dict)
            and _group(run_template) == ARGO_GROUP
        ):
            # An OpenChoreo (Cluster)Workflow: its runTemplate is the Argo Workflow OpenChoreo submits.
            self.result.resources += 1
            prefix: JsonPath = ("spec", "runTemplate")
            self.schema_check(doc, label, run_template, prefix)
            res = Resource(
                str(run_template.get("kind", "")),
                f"{name} runTemplate",
                run_template,
                origin=display,
                prefix=prefix,
                embedded=True,
                namespace=namespace,
            )
            self._keep(res, doc, label)
            return
        self.result.skipped.append(f"{display}: {label}")

    def _keep(self, res: Resource, doc: _Document, label: str) -> None:
        """A resource for the semantic checks, remembering the document its findings point into."""
        self.resources.append(res)
        self.owners[id(res)] = (doc, label)


# -- command line ----------------------------------------------------------------------------------------------
def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="YAML files or directories, searched recursively (default: ./templates/, else the project's templates/)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--crd-dir", type=Path, default=None, help="directory holding Argo's full CRDs (default: Hera's models)"
    )
    source.add_argument(
        "--from-cluster", action="store_true", help="read Argo's CRDs from the kube context (kubectl get crd -o json)"
    )
    parser.add_argument("--context", default=None, help="kube context for --from-cluster (default: the current one)")
    parser.add_argument(
        "--openchoreo",
        choices=sorted(ARGO_LINE_BY_OPENCHOREO),
        default=DEFAULT_OPENCHOREO,
        help=f"the OpenChoreo version the pack targets; sets the default --argo-version (default {DEFAULT_OPENCHOREO})",
    )
    parser.add_argument(
        "--argo-version",
        choices=ARGO_LINES,
        default=None,
        help="target Argo line: fields added after it are errors (default: the line --openchoreo runs)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    parser.add_argument("--strict", action="store_true", help="warnings fail the run too")
    parser.add_argument(
        "--no-schema", dest="schema", action="store_false", help="skip the CRD schema layer (semantic checks only)"
    )


def main(args: argparse.Namespace) -> int:
    local = Path("templates")
    paths: list[Path] = list(args.paths) or [local if local.is_dir() else DEFAULT_PATH]
    if not args.paths and not paths[0].is_dir():  # an installed package has no templates/ of its own
        print("lint: no PATH given and no ./templates here (render one with `render -o templates/`)", file=sys.stderr)
        return EXIT_USAGE
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"lint: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    argo_version = args.argo_version or ARGO_LINE_BY_OPENCHOREO[args.openchoreo]
    try:
        schemas = CrdSchemas.from_cluster(args.context) if args.from_cluster and args.schema else None
        result = lint_paths(paths, args.crd_dir, schema=args.schema, schemas=schemas, argo_version=argo_version)
    except CrdError as exc:
        print(f"lint: {exc}", file=sys.stderr)
        return EXIT_USAGE
    code = result.exit_code(strict=args.strict)
    if args.format == "json":
        payload = {
            "ok": code == EXIT_CLEAN,
            "files": result.files,
            "resources": result.resources,
            "errors": len(result.errors),
            "warnings": len(result.warnings),
            "skipped": result.skipped,
            "structure": result.structure,
            "argoVersion": result.argo_version,
            "findings": [asdict(f) for f in result.findings],
        }
        print(json.dumps(payload, indent=2))
        return code
    for finding in result.findings:
        print(finding.text())
    summary = (
        f"{result.files} file(s), {result.resources} Argo resource(s): "
        f"{len(result.errors)} error(s), {len(result.warnings)} warning(s) "
        f"[structure: {result.structure}; target Argo v{result.argo_version or '(any)'}]"
    )
    print(summary, file=sys.stderr)
    return code
