"""Running git from a step: argv lists (never a shell), a private environment that no config but ours can steer,
captured output turned into one error with a hint (shared by checkout-source and gitops-publish)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from steps.common.log import StepError, redactor

# Always on the git command line: no credential helper from any config, trust only the repository we create.
GIT_CONFIG = (
    "-c",
    "credential.helper=",
    "-c",
    "safe.directory=*",  # the destination may be a volume directory owned by another uid
    "-c",
    "advice.detachedHead=false",
    "-c",
    "init.defaultBranch=main",
    "-c",
    "gc.auto=0",
)
# Variables of the caller's environment git may see; every other GIT_* is dropped (GIT_DIR, GIT_SSL_NO_VERIFY,
# GIT_CURL_VERBOSE, our own option variables...).
_KEEP_GIT_ENV = {"GIT_SSL_CAINFO", "GIT_SSL_CAPATH"}
_DROP_ENV = {"SSH_AUTH_SOCK", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE", "DISPLAY", "LD_PRELOAD"}
HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key is known"),
        "the server's SSH host key is not in the known_hosts given (git secret key known_hosts or --known-hosts). "
        "Add the server's key, checked against the provider's published fingerprints.",
    ),
    (
        re.compile(r"Permission denied \(publickey|Load key .*: (invalid format|incorrect passphrase)"),
        "the SSH key was refused or cannot be used: the git secret's ssh-privatekey must be an unencrypted key "
        "whose public half is registered with the server (deploy key or user key).",
    ),
    (
        re.compile(
            r"Authentication failed|could not read (Username|Password)|terminal prompts disabled|"
            r"returned error: 40[13]|askpass: not answering",
            re.IGNORECASE,
        ),
        "the server wants (other) credentials: check the git secret's username and password (or token), "
        "or add a git secret for a private repository.",
    ),
    (
        re.compile(r"Remote branch .* not found|couldn't find remote ref", re.IGNORECASE),
        "the branch does not exist in the repository.",
    ),
    (
        re.compile(r"not a git repository|repository .* not found|does not appear to be a git repository"),
        "check the repository URL.",
    ),
    (
        re.compile(r"Could not resolve host|Connection refused|timed out|Network is unreachable|Failed to connect"),
        "the git server could not be reached from the build pod.",
    ),
    (
        re.compile(r"transport '.*' not allowed"),
        "submodules may use https, http and ssh URLs (file only when the repository itself is a file:// URL).",
    ),
)


class Git:
    """Runs git with argv lists (never a shell), a private environment and output captured for errors."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def run(self, *args: str, cwd: Path | None = None, what: str) -> subprocess.CompletedProcess[str]:
        result = self.attempt(*args, cwd=cwd)
        if result.returncode != 0:
            raise self.failure(what, result)
        return result

    def attempt(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                ["git", *GIT_CONFIG, *args],
                env=self.env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                check=False,
            )
        except FileNotFoundError as error:
            raise StepError("git is not installed (no `git` on PATH)") from error

    @staticmethod
    def failure(what: str, result: subprocess.CompletedProcess[str], extra_hint: str = "") -> StepError:
        output = "\n".join(part.strip() for part in (result.stderr, result.stdout) if part.strip())
        lines = output.splitlines()
        if len(lines) > 40:
            lines = ["...", *lines[-40:]]
        hint = extra_hint or next((text for pattern, text in HINTS if pattern.search(output)), "")
        message = f"{what} failed (git exit code {result.returncode})"
        if lines:
            message += ":\n  " + "\n  ".join(lines)
        if hint:
            message += f"\nhint: {hint}"
        return StepError(redactor(message))


def base_env(tmp: Path, transport: str | None = None) -> dict[str, str]:
    """The caller's environment minus anything that could steer git, plus a private HOME: the container may
    run with HOME unset or read-only, and no config but ours must apply."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _DROP_ENV and (not key.startswith("GIT_") or key in _KEEP_GIT_ENV)
    }
    home = tmp / "home"
    home.mkdir(exist_ok=True, mode=0o700)
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CEILING_DIRECTORIES": str(tmp.parent),
            "LC_ALL": "C",
        }
    )
    if transport is not None:
        # Submodules may not switch to other transports; file:// only for a repository that is itself local.
        env["GIT_ALLOW_PROTOCOL"] = "https:http:ssh" + (":file" if transport == "file" else "")
    return env
