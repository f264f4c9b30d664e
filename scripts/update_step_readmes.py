"""Write each step's README parameter table from its option table (`steps/<step>/options.py`).

The option table is the single source of a step's flags, env vars, template parameters, defaults and help; the
README table is generated from it so the two cannot drift. `--check` changes nothing and exits 1 when a README is
stale (`tests/test_step_readmes.py` runs it).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from steps.common.cli import Option  # noqa: E402 - after the sys.path line so a plain checkout works

START, END = "<!-- parameters-table:start -->", "<!-- parameters-table:end -->"
STEPS = ("checkout", "build", "publish_image", "generate_workload", "gitops_publish")
HEADER = "| Flag | Env | Template parameter | Default | Description |\n|---|---|---|---|---|\n"


def _code(text: str) -> str:
    return f"`{text}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(option: Option) -> str:
    if option.required:
        return "required"
    if option.flag_only:
        return "off"
    if option.default is None:
        return "–"
    return _code(option.default) if option.default else '`""`'


# `<name>` placeholders in help text would be read as HTML tags by a markdown renderer: show them as code.
_PLACEHOLDER_RE = re.compile(r"[\w./:-]*<[\w-]+>(?:[\w./:-]*<[\w-]+>)*[\w./:-]*")


def _description(option: Option) -> str:
    text = option.help[:1].upper() + option.help[1:]
    text = _PLACEHOLDER_RE.sub(lambda match: _code(match.group(0)), text)
    if not text.endswith("."):
        text += "."
    if option.secret:
        text += " Secret: redacted from every log line."
    return text


def parameters_table(options: Sequence[Option]) -> str:
    """The markdown table of a step's options, one row per option in table order."""
    rows = [
        "| "
        + " | ".join(
            _cell(cell)
            for cell in (
                ", ".join(_code(flag) for flag in option.flags),
                _code(option.env),
                _code(option.param) if option.param else "–",
                _default(option),
                _description(option),
            )
        )
        + " |\n"
        for option in options
    ]
    return HEADER + "".join(rows)


def updated_readme(text: str, options: Sequence[Option], readme: Path) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"{readme}: no {START} … {END} block")
    block = f"{START}\n{parameters_table(options)}{END}"
    return re.sub(f"{re.escape(START)}.*?{re.escape(END)}", lambda _match: block, text, count=1, flags=re.S)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a README is stale")
    args = parser.parse_args(argv)
    stale: list[str] = []
    for step in STEPS:
        options: Sequence[Option] = importlib.import_module(f"steps.{step}.options").OPTIONS
        readme = ROOT / "steps" / step / "README.md"
        text = readme.read_text(encoding="utf-8")
        new = updated_readme(text, options, readme)
        if new != text:
            stale.append(str(readme.relative_to(ROOT)))
            if not args.check:
                readme.write_text(new, encoding="utf-8")
    if stale and args.check:
        print(f"stale parameter tables: {', '.join(stale)} (run python scripts/update_step_readmes.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
