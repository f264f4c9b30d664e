"""The packs the linter tests run on: the hand-written fixture pack always, the rendered templates/ when present."""

from __future__ import annotations

from testkit.paths import ROOT, TEMPLATES

FIXTURES = ROOT / "tests" / "fixtures" / "lint"
FIXTURE_PACK = FIXTURES / "pack"
BROKEN = FIXTURES / "broken"


def _rendered_pack_available() -> bool:
    return (TEMPLATES / "steps").is_dir() and (TEMPLATES / "pipelines").is_dir()


# The rendered pack when it exists (it is committed), the fixture pack always.
PACK_SOURCES = {"fixture": FIXTURE_PACK} | ({"rendered": TEMPLATES} if _rendered_pack_available() else {})
