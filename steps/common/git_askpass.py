#!/usr/bin/env python3
"""GIT_ASKPASS helper of the steps that run git (checkout-source, gitops-publish). Stdlib only and self-contained:
the step copies this file into its private temp dir (with the running interpreter as the shebang) and points
GIT_ASKPASS at the copy.

git runs it as `askpass "Username for 'https://host': "` or `askpass "Password for 'https://user@host': "`.
It answers from the 0600 JSON file named by PACK_GIT_ASKPASS_FILE ({"origin", "username", "password"}) and
only for the origin (scheme, host, port) of the repository the secret belongs to: a submodule on another host
never receives the credentials. The password is never in any argv or environment variable.
"""

from __future__ import annotations

import json
import os
import re
import sys
from urllib.parse import urlsplit

CREDENTIALS_FILE_ENV = "PACK_GIT_ASKPASS_FILE"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str:
    """`scheme://host:port` of an http(s) URL, lower-cased, with the default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def answer(prompt: str, credentials: dict[str, str]) -> str | None:
    """The value to print for `prompt`, or None when the prompt is not one this helper may answer."""
    quoted = re.search(r"'([^']+)'", prompt)
    if quoted is None or origin_of(quoted.group(1)) != credentials.get("origin"):
        return None
    kind = prompt.strip().split(" ", 1)[0].lower()
    if kind == "username":
        return credentials.get("username") or None
    if kind == "password":
        return credentials.get("password") or None
    return None


def main(argv: list[str]) -> int:
    prompt = argv[1] if len(argv) > 1 else ""
    path = os.environ.get(CREDENTIALS_FILE_ENV, "")
    try:
        with open(path, encoding="utf-8") as handle:
            credentials = json.load(handle)
    except (OSError, ValueError):
        sys.stderr.write("askpass: the credentials file is missing or unreadable\n")
        return 1
    value = answer(prompt, credentials)
    if value is None:
        # The prompt is git's own text (a URL without a password): safe to show.
        sys.stderr.write(
            f"askpass: not answering {prompt.strip()!r}: the git secret is for {credentials.get('origin')}\n"
        )
        return 1
    sys.stdout.write(value + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
