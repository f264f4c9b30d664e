"""Git credentials from a mounted Secret directory, turned into an environment for git (checkout-source and
gitops-publish share it).

Keys of the secret (OpenChoreo's names; a Kubernetes `kubernetes.io/ssh-auth` or `kubernetes.io/basic-auth`
Secret has exactly these):
  ssh-privatekey  -> SSH: GIT_SSH_COMMAND with `-i <0600 copy>`, IdentitiesOnly and strict host key checking
  known_hosts     -> the host keys SSH trusts (or the --known-hosts option); required for SSH
  password        -> HTTP(S) basic auth answered by a GIT_ASKPASS helper (token or password)
  username        -> optional, default `git`
Every value is registered with the redactor as soon as it is read.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from steps.common import git_askpass as askpass
from steps.common.contract import EXIT_USAGE
from steps.common.log import StepError, StepLogger, redactor

KEY_SSH_PRIVATE_KEY = "ssh-privatekey"
KEY_KNOWN_HOSTS = "known_hosts"
KEY_PASSWORD = "password"
KEY_USERNAME = "username"
SECRET_KEYS = (KEY_SSH_PRIVATE_KEY, KEY_KNOWN_HOSTS, KEY_PASSWORD, KEY_USERNAME)
DEFAULT_USERNAME = "git"

# Where Debian, Alpine, Fedora and friends put nss_wrapper (used only when the uid has no passwd entry).
_NSS_WRAPPER_GLOBS = (
    "/usr/lib/*/libnss_wrapper.so",
    "/usr/lib/libnss_wrapper.so",
    "/usr/lib64/libnss_wrapper.so",
    "/usr/local/lib/libnss_wrapper.so",
)


@dataclass(frozen=True)
class GitSecret:
    ssh_private_key: str | None = None
    known_hosts: str | None = None
    username: str | None = None
    password: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.ssh_private_key or self.password)


def _strip_line_end(value: str) -> str:
    # `kubectl create secret --from-file` keeps the file's trailing newline; the shipped template read the
    # values with $(cat ...), which drops it. Do the same.
    return value.rstrip("\r\n")


def read_secret(secret_dir: Path, log: StepLogger, field: str = "--secret-dir (env GIT_SECRET_DIR)") -> GitSecret:
    """Read the secret's keys. An absent or empty directory means anonymous access. `field` names the option in
    errors."""
    if not secret_dir.exists():
        log.info(f"no git secret at {secret_dir}: anonymous access")
        return GitSecret()
    if not secret_dir.is_dir():
        raise StepError(f"{field}: {secret_dir} is not a directory", EXIT_USAGE)
    values: dict[str, str] = {}
    for key in SECRET_KEYS:
        path = secret_dir / key
        if not path.exists():
            continue
        try:
            raw = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise StepError(f"{field}: key {key!r} is not UTF-8 text", EXIT_USAGE) from error
        except OSError as error:
            raise StepError(f"{field}: cannot read key {key!r}: {error.strerror}", EXIT_USAGE) from error
        if key in (KEY_SSH_PRIVATE_KEY, KEY_PASSWORD):  # usernames and host keys are not secret
            redactor.add(raw)
        value = _strip_line_end(raw) if key in (KEY_PASSWORD, KEY_USERNAME) else raw
        if value.strip():
            values[key] = value
    secret = GitSecret(
        ssh_private_key=values.get(KEY_SSH_PRIVATE_KEY),
        known_hosts=values.get(KEY_KNOWN_HOSTS),
        username=values.get(KEY_USERNAME),
        password=values.get(KEY_PASSWORD),
    )
    if secret.empty:
        others = sorted(p.name for p in secret_dir.iterdir() if not p.name.startswith("."))
        if others and not values:
            log.warning(
                f"git secret at {secret_dir} has none of the keys {KEY_SSH_PRIVATE_KEY} or {KEY_PASSWORD} "
                f"(found: {', '.join(others)}): anonymous access"
            )
        else:
            log.info(f"git secret at {secret_dir} holds no credentials: anonymous access")
    return secret


def _write_private(path: Path, data: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(data)
    return path


def _normalise_lines(text: str) -> str:
    """CRLF -> LF and a final newline: OpenSSH rejects a key file without one ("invalid format")."""
    text = text.replace("\r\n", "\n").strip("\n")
    return text + "\n"


def _nss_wrapper_env(tmp: Path) -> dict[str, str]:
    """OpenSSH refuses to run for a uid without a passwd entry ("No user exists for uid N"), which is what a
    container started with an arbitrary runAsUser gets. Give ssh one through nss_wrapper when the image has it."""
    uid, gid = os.getuid(), os.getgid()
    try:
        pwd.getpwuid(uid)
        return {}
    except KeyError:
        pass
    libraries = sorted(path for pattern in _NSS_WRAPPER_GLOBS for path in glob.glob(pattern))
    if not libraries:
        raise StepError(
            f"SSH needs a passwd entry for uid {uid}, and there is none: run the container as a user listed in "
            "/etc/passwd, or add libnss_wrapper to the image"
        )
    passwd = _write_private(tmp / "passwd", f"checkout:x:{uid}:{gid}:checkout:{tmp}:/bin/sh\n")
    group = _write_private(tmp / "group", f"checkout:x:{gid}:\n")
    return {"LD_PRELOAD": libraries[0], "NSS_WRAPPER_PASSWD": str(passwd), "NSS_WRAPPER_GROUP": str(group)}


def ssh_env(
    secret: GitSecret,
    known_hosts_option: str,
    tmp: Path,
    log: StepLogger,
    *,
    option_label: str = "--known-hosts (env GIT_SSH_KNOWN_HOSTS, parameter ssh-known-hosts)",
    secret_label: str = "the git secret",
) -> tuple[dict[str, str], str]:
    """GIT_SSH_COMMAND for a strict, self-contained ssh: no config files, no agent, only our key and hosts.
    Returns the environment and where the host keys came from. The labels name the option and the Secret in
    messages."""
    known_hosts = known_hosts_option.strip() and known_hosts_option
    source = option_label.split(", parameter", 1)[0] + (")" if ", parameter" in option_label else "")
    if not known_hosts:
        known_hosts, source = secret.known_hosts or "", f"{secret_label}'s {KEY_KNOWN_HOSTS} key"
    entries = [line for line in known_hosts.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not entries:
        raise StepError(
            f"SSH needs the server's host key and none was given: set {secret_label}'s "
            f"{KEY_KNOWN_HOSTS} key or {option_label} to "
            "known_hosts lines, e.g. from `ssh-keyscan <host>` checked against the provider's published "
            "fingerprints. Host key checking is never turned off.",
            EXIT_USAGE,
        )
    known_hosts_file = _write_private(tmp / "known_hosts", _normalise_lines("\n".join(entries)))
    command = [
        "ssh",
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "IdentityAgent=none",
        "-o",
        f"UserKnownHostsFile={known_hosts_file}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "UpdateHostKeys=no",
        "-o",
        "ConnectTimeout=30",
    ]
    if secret.ssh_private_key:
        key = secret.ssh_private_key
        if "PRIVATE KEY-----" not in key:
            raise StepError(
                f"{secret_label}'s {KEY_SSH_PRIVATE_KEY} key does not hold a private key "
                "(expected a PEM or OpenSSH '-----BEGIN ... PRIVATE KEY-----' block)",
                EXIT_USAGE,
            )
        key_file = _write_private(tmp / "id_git", _normalise_lines(key))
        command += ["-i", str(key_file)]
    env = {"GIT_SSH_COMMAND": shlex.join(command), "GIT_SSH_VARIANT": "ssh"}
    wrapper = _nss_wrapper_env(tmp)
    if wrapper:
        log.info(f"uid {os.getuid()} has no passwd entry: ssh runs with nss_wrapper ({wrapper['LD_PRELOAD']})")
    env.update(wrapper)
    return env, source


def _askpass_source() -> str:
    """The helper with this interpreter as its shebang ("-IS": no site, no PYTHON* variables: starts fast and
    cannot be redirected)."""
    body = Path(askpass.__file__).read_text(encoding="utf-8").split("\n", 1)[1]
    return f"#!{sys.executable} -IS\n{body}"


def _askpass_program(tmp: Path, log: StepLogger) -> str:
    """Where git can execute the helper from. The private temp dir first; when it is on a noexec filesystem
    (Docker's --tmpfs default), an in-memory file reached through /proc/<pid>/fd (open until the step exits);
    then the packaged file if it is executable."""
    source = _askpass_source()
    if not (os.statvfs(tmp).f_flag & os.ST_NOEXEC):
        program = tmp / "askpass"
        fd = os.open(program, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(source)
        return str(program)
    try:
        memfd = os.memfd_create("git-askpass", os.MFD_CLOEXEC)
        os.write(memfd, source.encode())
        os.fchmod(memfd, 0o500)
        log.info(f"the temp dir {tmp.parent} is mounted noexec: the GIT_ASKPASS helper runs from memory")
        return f"/proc/{os.getpid()}/fd/{memfd}"
    except (AttributeError, OSError):
        pass
    packaged = Path(askpass.__file__)
    if os.access(packaged, os.X_OK):
        return str(packaged)
    raise StepError(
        f"the temp dir {tmp.parent} is mounted noexec, so the GIT_ASKPASS helper cannot run: "
        "mount a /tmp that allows execution or set TMPDIR to a writable directory that does"
    )


def askpass_env(secret: GitSecret, url: str, tmp: Path, log: StepLogger) -> dict[str, str]:
    """GIT_ASKPASS helper + a 0600 credentials file. The password is in neither argv nor environment."""
    credentials = {
        "origin": askpass.origin_of(url),
        "username": secret.username or DEFAULT_USERNAME,
        "password": secret.password or "",
    }
    credentials_file = _write_private(tmp / "credentials.json", json.dumps(credentials))
    return {"GIT_ASKPASS": _askpass_program(tmp, log), askpass.CREDENTIALS_FILE_ENV: str(credentials_file)}
