"""Refresh the README's settings reference from the pydantic models' field descriptions (one source)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hera_workflows.pack.settings import settings_reference_markdown  # noqa: E402

START, END = "<!-- settings-reference:start -->", "<!-- settings-reference:end -->"


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"README.md has no {START} ... {END} section", file=sys.stderr)
        return 1
    table = settings_reference_markdown()
    new = re.sub(f"{re.escape(START)}.*?{re.escape(END)}", lambda _: f"{START}\n{table}{END}", text, flags=re.S)
    readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
