"""Repository URLs a step may use with git: https, http, ssh (URL or scp-like) and file. Credentials embedded in a
URL are refused (and redacted); they belong in the git Secret. Errors name the option through `label`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from steps.common.contract import EXIT_USAGE
from steps.common.log import StepError, redactor

# [user@]host:path, scp-like syntax (git treats it as ssh when a ':' comes before any '/').
_SCP = re.compile(r"(?P<user>[A-Za-z0-9._~+-]+)@(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?P<path>.+)")
_SCP_WITH_PASSWORD = re.compile(r"[^@/:\s]+:[^@/\s]*@[^@/\s]+:")
SUPPORTED_URLS = "https://host/path, http://host/path, ssh://[user@]host[:port]/path, user@host:path or file:///path"


def _bad(label: str, message: str) -> StepError:
    return StepError(f"{label}: {message}", EXIT_USAGE)


@dataclass(frozen=True)
class RepoUrl:
    url: str
    transport: str  # https, http, ssh or file
    host: str  # empty for file://

    @property
    def is_ssh(self) -> bool:
        return self.transport == "ssh"

    @property
    def is_http(self) -> bool:
        return self.transport in ("http", "https")

    def as_ssh(self) -> RepoUrl:
        """`https://host/org/repo.git` -> `git@host:org/repo.git`, as OpenChoreo's template did when the git
        secret held an SSH key. The HTTPS port is dropped: SSH uses its own."""
        path = urlsplit(self.url).path.lstrip("/")
        return RepoUrl(f"git@{self.host}:{path}", "ssh", self.host)


def _credentials_error(label: str, userinfo: str) -> StepError:
    redactor.add(userinfo, *userinfo.split(":", 1))
    return _bad(
        label,
        "credentials must not be embedded in the URL (found user information before '@'): remove them and put "
        "username/password (or an SSH key) in the git secret",
    )


def parse_repo_url(value: str, label: str) -> RepoUrl:
    url = value.strip()
    if not url:
        raise _bad(label, "must not be empty")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise _bad(label, "must not contain whitespace or control characters")
    if url.startswith("-"):
        raise _bad(label, "must not start with '-'")
    scheme_match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", url)
    if scheme_match:
        scheme = scheme_match.group(1).lower()
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise _bad(label, f"not a valid URL ({error})") from error
        del port
        if scheme in ("http", "https"):
            if "@" in parts.netloc:
                raise _credentials_error(label, parts.netloc.rsplit("@", 1)[0])
            if not parts.hostname:
                raise _bad(label, f"no host in {url!r}")
            return RepoUrl(url, scheme, parts.hostname)
        if scheme == "ssh":
            if parts.password is not None:
                raise _credentials_error(label, parts.netloc.rsplit("@", 1)[0])
            if not parts.hostname or not parts.path.strip("/"):
                raise _bad(label, f"expected ssh://[user@]host[:port]/path, got {url!r}")
            return RepoUrl(url, "ssh", parts.hostname)
        if scheme == "file":
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
                raise _bad(label, f"expected file:///absolute/path, got {url!r}")
            return RepoUrl(url, "file", "")
        raise _bad(label, f"unsupported URL scheme {scheme!r}: use {SUPPORTED_URLS}")
    if _SCP_WITH_PASSWORD.match(url):
        raise _credentials_error(label, url.split("@", 1)[0])
    scp = _SCP.fullmatch(url)
    if scp:
        return RepoUrl(url, "ssh", scp.group("host").strip("[]"))
    raise _bad(label, f"unsupported repository URL {url!r}: use {SUPPORTED_URLS}")
