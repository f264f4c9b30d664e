"""Step logging to stderr with secret redaction, and the one error type steps raise for bad input."""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Iterable
from typing import NoReturn, TextIO
from urllib.parse import quote, quote_plus

from steps.common.contract import EXIT_FAILURE

REDACTED = "[REDACTED]"
# Values shorter than this are replaced only where they stand alone (not inside a longer word or number), so a
# three-letter secret does not turn every word that contains it into a redaction mark, yet never shows by itself.
_MIN_SUBSTRING_LENGTH = 4


class StepError(Exception):
    """A failure the user can act on. The message is shown as is (after redaction), without a traceback."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def encodings(value: str) -> set[str]:
    """The forms a secret takes in what the steps send and what servers echo back: as is, URL/form-encoded
    (`quote`, `quote_plus`: a token endpoint that echoes the form), JSON-escaped (with and without `ensure_ascii`)
    and Python-repr-escaped (error messages quote values with `!r`)."""
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value)}
    forms.add(json.dumps(value)[1:-1])
    forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
    forms.add(repr(value)[1:-1])
    return {form for form in forms if form}


class Redactor:
    """Replaces every registered secret value (each of its lines, and each encoding of it) in text written
    anywhere."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._short: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *values: str | None) -> None:
        for value in values:
            if not value:
                continue
            for candidate in (value, value.strip(), *value.splitlines()):
                stripped = candidate.strip()
                if not stripped:
                    continue
                for form in encodings(stripped):
                    (self._secrets if len(form) >= _MIN_SUBSTRING_LENGTH else self._short).add(form)
            self._pattern = None

    def add_basic_auth(self, user: str | None, secret: str | None) -> None:
        """Also redact `user:secret` and its base64 form (an HTTP Basic Authorization header, as an IdP or a
        proxy might echo it)."""
        if not secret or not secret.strip():
            return
        pair = f"{user or ''}:{secret.strip()}"
        self.add(pair, base64.b64encode(pair.encode()).decode(), base64.b64encode(secret.strip().encode()).decode())

    def add_all(self, values: Iterable[str | None]) -> None:
        self.add(*values)

    def _compiled(self) -> re.Pattern[str] | None:
        if self._pattern is None and (self._secrets or self._short):
            # Longest first, so a secret that contains another is replaced whole.
            long = [re.escape(item) for item in sorted(self._secrets, key=len, reverse=True)]
            short = [
                rf"(?<![A-Za-z0-9]){re.escape(item)}(?![A-Za-z0-9])"
                for item in sorted(self._short, key=len, reverse=True)
            ]
            self._pattern = re.compile("|".join(long + short))
        return self._pattern

    def __call__(self, text: str) -> str:
        pattern = self._compiled()
        if pattern is None:
            return text
        return pattern.sub(REDACTED, text)


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
    """Stop the step with one redacted error line and `exit_code`."""
    raise StepError(redactor(message), exit_code)
