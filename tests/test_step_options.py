"""Typed step options: each step's frozen dataclass matches its option table, and each step README's parameter
table is the one generated from that table (scripts/update_step_readmes.py)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import pytest

from steps.build.options import BuildOptions
from steps.checkout.options import CheckoutOptions
from steps.common.cli import Option, StepOptions, parse_options
from steps.generate_workload.options import GenerateWorkloadOptions
from steps.publish_image.buildpacks_prepare import PrepareOptions
from steps.publish_image.options import PublishOptions

ROOT = Path(__file__).resolve().parents[1]
TYPED: list[type[StepOptions[Any]]] = [
    BuildOptions,
    CheckoutOptions,
    GenerateWorkloadOptions,
    PublishOptions,
    PrepareOptions,
]


@pytest.mark.parametrize("options_class", TYPED, ids=lambda cls: cls.__name__)
def test_dataclass_fields_are_the_option_table(options_class: type[StepOptions[Any]]) -> None:
    options_class.check_table()
    assert dataclasses.fields(options_class)  # not the empty base
    with pytest.raises(dataclasses.FrozenInstanceError):
        instance = options_class.from_values({})
        instance.__setattr__(dataclasses.fields(options_class)[0].name, "changed")


def test_check_table_names_a_missing_and_an_extra_field() -> None:
    @dataclasses.dataclass(frozen=True)
    class Drifted(StepOptions[Literal["wanted"]]):
        OPTIONS = (Option("wanted", ("--wanted",), "WANTED", "an option"),)
        unwanted: str

    with pytest.raises(TypeError, match=r"dataclass does not match .* missing \['wanted'\], extra \['unwanted'\]"):
        Drifted.check_table()


def test_check_table_names_a_drifted_option_name_literal() -> None:
    @dataclasses.dataclass(frozen=True)
    class Drifted(StepOptions[Literal["wanted", "stale"]]):
        OPTIONS = (Option("wanted", ("--wanted",), "WANTED", "an option"),)
        wanted: str

    with pytest.raises(TypeError, match=r"Literal does not match .* missing \[\], extra \['stale'\]"):
        Drifted.check_table()


def test_values_are_typed_text_with_defaults_and_labels() -> None:
    opts = PublishOptions.from_values(
        parse_options(
            "test",
            "test",
            PublishOptions.OPTIONS,
            ["--registry", "r.example", "--image-name", "a", "--git-revision", "0123abcd"],
            {},
        )
    )
    assert opts.registry == "r.example"
    assert opts.retries == "3"  # the table's default
    assert PublishOptions.from_values({}).git_revision == ""  # unset reads as "" (parse_options reports it)
    assert opts.label("retries") == "--retries (env PUBLISH_RETRIES, parameter push-retries)"
    with pytest.raises(KeyError, match="no option 'retrys'"):
        opts.label("retrys")  # type: ignore[arg-type]  # mypy refuses it too: test_mypy_refuses_misspelt_options


def test_push_retries_means_retries_after_the_first_attempt() -> None:
    """One meaning everywhere: the table (and so the template and the README) and the step's loop."""
    retries = next(option for option in PublishOptions.OPTIONS if option.dest == "retries")
    assert retries.help.startswith("retries after the first attempt")
    template = (ROOT / "templates" / "steps" / "publish-image.yaml").read_text()
    assert f"description: {retries.help}" in template
    readme = (ROOT / "steps" / "publish_image" / "README.md").read_text()
    assert "Retries after the first attempt, for transient push failures only (0 = one attempt)." in readme


def test_step_readme_parameter_tables_are_generated_from_the_option_tables() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/update_step_readmes.py", "--check"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# One line per way of naming an option, for every step: each must be a mypy error (and only those lines).
_MISSPELT = """\
from steps.build.options import BuildOptions
from steps.checkout.options import CheckoutOptions
from steps.generate_workload.options import GenerateWorkloadOptions
from steps.publish_image.buildpacks_prepare import PrepareOptions
from steps.publish_image.options import PublishOptions


def spelt_right(build: BuildOptions) -> str:
    return build.context + build.label("context") + GenerateWorkloadOptions.label("api_mode")


def misspelt(
    build: BuildOptions, checkout: CheckoutOptions, publish: PublishOptions, prepare: PrepareOptions
) -> list[str]:
    return [
        build.contxt,  # MISSPELT
        build.label("contxt"),  # MISSPELT
        BuildOptions.label("contxt"),  # MISSPELT
        checkout.label("repository"),  # MISSPELT
        publish.label("retrys"),  # MISSPELT
        prepare.option("runimage").label,  # MISSPELT
        GenerateWorkloadOptions.label("api_server"),  # MISSPELT
        GenerateWorkloadOptions.option("api_retry").default or "",  # MISSPELT
    ]
"""


def test_mypy_refuses_misspelt_options(tmp_path: Path) -> None:
    """The point of the typed options: a misspelt option name, as an attribute or as the text given to `label()`/
    `option()`, fails the type check (the project's own mypy settings, strict) instead of failing at run time."""
    snippet = tmp_path / "misspelt_options.py"
    snippet.write_text(_MISSPELT)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-version", "3.11", str(snippet)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "MYPYPATH": str(ROOT)},
    )
    expected = {number for number, line in enumerate(_MISSPELT.splitlines(), 1) if line.endswith("# MISSPELT")}
    flagged = {
        int(line.split(":")[1])
        for line in result.stdout.splitlines()
        if line.startswith(f"{snippet}:") and ": error:" in line
    }
    assert result.returncode == 1, result.stdout + result.stderr
    assert flagged == expected, result.stdout
