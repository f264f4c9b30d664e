"""Option parsing shared by the steps: every flag can also be set through an environment variable.

Argo parameters reach a step only through env (or argv), never through script text. Each step declares
its options once as `Option`s; the Hera side renders the same table into the template's `env`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from types import FrameType
from typing import ClassVar, Generic, Self, TypeVar, get_args, get_origin

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


def parse_bool(value: str | None, *, field: str) -> bool:
    normalized = (value or "").strip().lower()
    if normalized in _TRUE:
        return True
    if normalized in _FALSE:
        return False
    raise StepError(f"{field}: expected true or false, got {value!r}", EXIT_USAGE)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line, like every other error of a step (usage details are one `--help` away).
        raise StepError(f"{message} (usage: {self.prog} --help)", EXIT_USAGE)


def flag_values(argv: Sequence[str], flags: Sequence[str]) -> list[str]:
    """Every value given to one of `flags` in argv (`--flag value`, `--flag=value`, `-fvalue` for a short flag),
    read without parsing: for secrets that must be redacted even when parsing fails, and for the output path
    a failed run must clean up."""
    values: list[str] = []
    items = list(argv)
    for index, item in enumerate(items):
        for flag in flags:
            if item == flag and index + 1 < len(items):
                values.append(items[index + 1])
            elif flag.startswith("--") and item.startswith(flag + "="):
                values.append(item[len(flag) + 1 :])
            elif not flag.startswith("--") and item.startswith(flag) and len(item) > len(flag):
                values.append(item[len(flag) :].removeprefix("="))
    return values


def _unrecognized(extras: Sequence[str]) -> str:
    """Name unknown flags without their values: a mistyped secret flag is followed by the secret."""
    flags = [item.split("=", 1)[0] for item in extras if item.startswith("-") and item != "-"]
    values = len(extras) - len(flags) + sum("=" in item for item in extras if item.startswith("-"))
    text = f"unrecognized option(s): {', '.join(flags)}" if flags else "unexpected argument(s)"
    if values:
        text += f" ({values} value(s) not shown)"
    return text


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
    args = list(sys.argv[1:] if argv is None else argv)
    for option in options:
        if option.secret:
            redactor.add(*flag_values(args, option.flags), env.get(option.env))
    parser = _Parser(prog=prog, description=description, allow_abbrev=False)
    for option in options:
        help_text = f"{option.help} (env {option.env})"
        if option.flag_only:
            parser.add_argument(*option.flags, dest=option.dest, action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(*option.flags, dest=option.dest, default=None, help=help_text)
    namespace, extras = parser.parse_known_args(args)
    if extras:
        parser.error(_unrecognized(extras))
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
            "missing required parameter(s): " + ", ".join(sorted(missing)) + f" (usage: {prog} --help)",
            EXIT_USAGE,
        )
    return values


# The option names of one step: a `Literal[...]` of its table's dests, so `opts.label("contxt")` is a mypy error.
OptionName = TypeVar("OptionName", bound=str)


@dataclass(frozen=True)
class StepOptions(Generic[OptionName]):
    """Base of every step's typed options: one frozen dataclass per step whose fields are exactly the `dest`s of
    its option table (`OPTIONS`), so a mistyped option name is a mypy error, not a KeyError at run time.

    A step declares its option names once more as a `Literal` and subclasses `StepOptions[ThatLiteral]`: then
    `label()` and `option()` take only those names (mypy checks the string), and `check_table()` (run by the tests)
    proves that the table, the fields and the Literal list the same names.

    A text option is a `str` (an absent value is ""); a `flag_only` option is a `bool`. The table stays the single
    source for flags, env vars, defaults and the template's parameters; the dataclass only gives its values types.
    """

    OPTIONS: ClassVar[Sequence[Option]] = ()

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """The names of the `Literal` this class was parameterised with (empty when it was not)."""
        for klass in cls.__mro__:
            for base in getattr(klass, "__orig_bases__", ()):
                if get_origin(base) is StepOptions:
                    return tuple(name for name in get_args(get_args(base)[0]) if isinstance(name, str))
        return ()

    @classmethod
    def check_table(cls) -> None:
        """Raise TypeError unless the dataclass fields and the option-name Literal are exactly the option table's
        dests (run by the tests)."""
        table = sorted(option.dest for option in cls.OPTIONS)
        for what, declared in (("dataclass", [field.name for field in fields(cls)]), ("Literal", cls.option_names())):
            if sorted(declared) != table:
                missing = sorted(set(table) - set(declared))
                extra = sorted(set(declared) - set(table))
                raise TypeError(
                    f"{cls.__name__}'s {what} does not match its option table: missing {missing}, extra {extra}"
                )

    @classmethod
    def from_values(cls, values: Mapping[str, str | bool | None]) -> Self:
        """Typed options from `parse_options`' result (an option absent from `values` reads as unset)."""
        typed: dict[str, str | bool] = {}
        for option in cls.OPTIONS:
            value = values.get(option.dest)
            if option.flag_only:
                typed[option.dest] = bool(value)
            else:
                typed[option.dest] = value if isinstance(value, str) else ""
        return cls(**typed)

    @classmethod
    def parse(
        cls,
        prog: str,
        description: str,
        argv: Sequence[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Self:
        return cls.from_values(parse_options(prog, description, cls.OPTIONS, argv, environ))

    @classmethod
    def option(cls, dest: OptionName) -> Option:
        """The table entry of the option `dest` (its default, env var, flags)."""
        for option in cls.OPTIONS:
            if option.dest == dest:
                return option
        raise KeyError(f"{cls.__name__} has no option {dest!r}")

    @classmethod
    def label(cls, dest: OptionName) -> str:
        """How errors name the option `dest`: `--flag (env VAR, parameter name)`."""
        return cls.option(dest).label


class Terminated(BaseException):
    """SIGTERM/SIGHUP arrived (Argo stops a pod with SIGTERM). Raised in the main thread where the step is, so
    its cleanup (no stale output, temporary files) runs like on any failure; the exit code is 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextmanager
def termination_as_exception() -> Iterator[None]:
    """While inside: SIGTERM and SIGHUP raise Terminated (only in the main thread, where handlers can be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise_terminated) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_step(step: str, main: Callable[[StepLogger], int]) -> int:
    """Run a step's main function: StepErrors become one redacted error line and their exit code;
    anything unexpected becomes a one-line internal error (traceback only with PACK_DEBUG=1)."""
    log = StepLogger(step)
    try:
        with termination_as_exception():
            return main(log)
    except StepError as error:
        log.error(str(error))
        return error.exit_code
    except Terminated as stop:
        log.error(f"terminated by {stop}")
        return 128 + stop.signum
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except Exception as error:  # noqa: BLE001 - the last line of defence must catch everything
        log.error(f"internal error: {type(error).__name__}: {error}")
        if os.environ.get("PACK_DEBUG") == "1":
            log.error(traceback.format_exc())
        return EXIT_FAILURE
