"""Option parsing shared by the steps: every flag can also be set through an environment variable.

Argo parameters reach a step only through env (or argv), never through script text. Each step declares
its options once as `Option`s; the Hera side renders the same table into the template's `env`.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from steps.common.contract import EXIT_FAILURE, EXIT_USAGE
from steps.common.log import StepError, StepLogger, redactor

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Option:
    """One step option.

    `flags` are argparse flags (first one is the long form), `env` the environment variable that sets it
    when the flag is absent, `param` the Argo input parameter that feeds `env` (None: not a template input).
    A `secret` option's value is redacted from every log line and error message.
    """

    dest: str
    flags: tuple[str, ...]
    env: str
    help: str
    default: str | None = None
    required: bool = False
    secret: bool = False
    param: str | None = None
    flag_only: bool = False  # a store_true switch; its env value is parsed as a boolean

    @property
    def long_flag(self) -> str:
        return self.flags[0]

    @property
    def label(self) -> str:
        """How every error names this option: `--flag (env VAR, parameter name)`."""
        where = f"env {self.env}" + (f", parameter {self.param}" if self.param else "")
        return f"{self.long_flag} ({where})"


def option_label(options: Sequence[Option], dest: str) -> str:
    """The label of the option `dest` in `options` (the dest itself when there is none)."""
    return next((option.label for option in options if option.dest == dest), dest)


def parse_bool(value: str | None, *, field: str) -> bool:
    normalized = (value or "").strip().lower()
    if normalized in _TRUE:
        return True
    if normalized in _FALSE:
        return False
    raise StepError(f"{field}: expected true or false, got {value!r}", EXIT_USAGE)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise StepError(f"{message}\n\nTo see usage details:\n  {self.prog} --help", EXIT_USAGE)


def parse_options(
    prog: str,
    description: str,
    options: Sequence[Option],
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str | bool | None]:
    """Parse argv, falling back to env then to defaults. Missing required options raise a StepError naming
    both the flag and its environment variable."""
    env = os.environ if environ is None else environ
    parser = _Parser(prog=prog, description=description)
    for option in options:
        help_text = f"{option.help} (env {option.env})"
        if option.flag_only:
            parser.add_argument(*option.flags, dest=option.dest, action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(*option.flags, dest=option.dest, default=None, help=help_text)
    namespace = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    values: dict[str, str | bool | None] = {}
    missing: list[str] = []
    for option in options:
        value: str | bool | None = getattr(namespace, option.dest)
        if value is None and option.env in env:
            value = env[option.env]
        if option.flag_only:
            value = parse_bool(value, field=option.long_flag) if isinstance(value, str) else bool(value)
        elif value is None or value == "":
            value = option.default
        if option.secret and isinstance(value, str):
            redactor.add(value)
        if option.required and (value is None or value == ""):
            missing.append(option.label)
        values[option.dest] = value
    if missing:
        raise StepError(
            "missing required parameter(s): "
            + ", ".join(sorted(missing))
            + f"\n\nTo see usage details:\n  {prog} --help",
            EXIT_USAGE,
        )
    return values


def run_step(step: str, main: Callable[[StepLogger], int]) -> int:
    """Run a step's main function: StepErrors become one redacted error line and their exit code;
    anything unexpected becomes a one-line internal error (traceback only with PACK_DEBUG=1)."""
    log = StepLogger(step)
    try:
        return main(log)
    except StepError as error:
        log.error(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except Exception as error:  # noqa: BLE001 - the last line of defence must catch everything
        log.error(f"internal error: {type(error).__name__}: {error}")
        if os.environ.get("PACK_DEBUG") == "1":
            log.error(traceback.format_exc())
        return EXIT_FAILURE
