"""Step logging to stderr with secret redaction, and the one error type steps raise for bad input."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import NoReturn, TextIO

from steps.common.contract import EXIT_FAILURE

REDACTED = "[REDACTED]"
# Very short values would turn ordinary words into redaction marks; secrets are never this short.
_MIN_SECRET_LENGTH = 4


class StepError(Exception):
    """A failure the user can act on. The message is shown as is (after redaction), without a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Redactor:
    """Replaces every registered secret value (and each of its lines) in text written anywhere."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, *values: str | None) -> None:
        for value in values:
            if not value:
                continue
            for candidate in (value, value.strip(), *value.splitlines()):
                if len(candidate.strip()) >= _MIN_SECRET_LENGTH:
                    self._secrets.add(candidate.strip())

    def add_all(self, values: Iterable[str | None]) -> None:
        self.add(*values)

    def __call__(self, text: str) -> str:
        # Longest first, so a secret that contains another is replaced whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


redactor = Redactor()


class StepLogger:
    """Prefixed, redacted lines on stderr. stdout stays free for data (e.g. the CR when no output file is set)."""

    def __init__(self, step: str, stream: TextIO | None = None) -> None:
        self.step = step
        self._stream = stream

    def _write(self, level: str, message: str) -> None:
        stream = self._stream or sys.stderr
        for line in redactor(message).splitlines() or [""]:
            stream.write(f"[{self.step}] {level}{line}\n")
        stream.flush()

    def info(self, message: str) -> None:
        self._write("", message)

    def warning(self, message: str) -> None:
        self._write("warning: ", message)

    def error(self, message: str) -> None:
        self._write("error: ", message)


def fail(message: str, exit_code: int = EXIT_FAILURE) -> NoReturn:
    raise StepError(message, exit_code)
