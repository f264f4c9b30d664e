"""Refresh the README's template table from `python -m hera_workflows list --markdown`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- templates-table:start -->", "<!-- templates-table:end -->"


def main() -> int:
    table = subprocess.run(
        [sys.executable, "-m", "hera_workflows", "list", "--markdown"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = re.sub(f"{re.escape(START)}.*?{re.escape(END)}", f"{START}\n{table}{END}", text, flags=re.S)
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
