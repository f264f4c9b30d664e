"""A local stand-in for the pull-request routes of GitHub's and GitLab's REST APIs, on 127.0.0.1.

The real forges cannot run on this machine (no network beyond package registries), so the gitops-publish tests talk
to this server instead. It implements only the documented routes the step uses, with their documented shapes:

GitHub REST v3 (docs.github.com/rest/pulls/pulls): `Authorization: Bearer <token>` (401 otherwise)
  GET   /repos/{owner}/{repo}/pulls?head=owner:branch&base=&state=open  -> [pull]
  POST  /repos/{owner}/{repo}/pulls {title, head, base, body}          -> 201 pull; 422 when head does not exist
                                                                           or an open pull request for head exists
  PATCH /repos/{owner}/{repo}/pulls/{number} {title, body}             -> pull
GitLab REST v4 (docs.gitlab.com/api/merge_requests): `PRIVATE-TOKEN: <token>` (401 otherwise)
  GET  /projects/{url-encoded path}/merge_requests?source_branch=&target_branch=&state=opened -> [mr]
  POST /projects/{id}/merge_requests {source_branch, target_branch, title, description}       -> 201 mr; 409 when
                                                                                                 one is open
  PUT  /projects/{id}/merge_requests/{iid} {title, description}                               -> mr

Branch existence is checked against the bare repositories the git servers serve (`repos_root/<repo>.git`).
"""

from __future__ import annotations

import json
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from testkit.loopback_http import LoopbackHttpServer


@dataclass
class PullRecord:
    forge: str
    project: str
    number: int
    head: str
    base: str
    title: str
    body: str
    head_sha: str
    state: str = "open"
    updates: int = 0


@dataclass
class ForgeServer:
    """Use as a context manager; `pulls` holds what the step created, `requests` every (method, path, status)."""

    repos_root: Path
    token: str
    pulls: list[PullRecord] = field(default_factory=list)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    _http: LoopbackHttpServer = field(default_factory=lambda: LoopbackHttpServer("forge"))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.port}"

    @property
    def github_api(self) -> str:
        return self.url + "/github"

    @property
    def gitlab_api(self) -> str:
        return self.url + "/gitlab/api/v4"

    def __enter__(self) -> ForgeServer:
        self._http.start(self._handler())
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.stop()

    def branch_sha(self, project: str, branch: str) -> str:
        repo = self.repos_root / (project.rsplit("/", 1)[-1] + ".git")
        result = subprocess.run(
            ["git", "--git-dir", str(repo), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    def _github_view(self, pull: PullRecord) -> dict[str, Any]:
        return {
            "number": pull.number,
            "state": pull.state,
            "title": pull.title,
            "body": pull.body,
            "html_url": f"https://github.example/{pull.project}/pull/{pull.number}",
            "head": {"ref": pull.head, "sha": pull.head_sha},
            "base": {"ref": pull.base},
        }

    def _gitlab_view(self, pull: PullRecord) -> dict[str, Any]:
        return {
            "iid": pull.number,
            "state": "opened" if pull.state == "open" else pull.state,
            "title": pull.title,
            "description": pull.body,
            "web_url": f"https://gitlab.example/{pull.project}/-/merge_requests/{pull.number}",
            "source_branch": pull.head,
            "target_branch": pull.base,
            "sha": pull.head_sha,
        }

    def handle(self, method: str, raw_path: str, headers: Any, body: Any) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        segments = parts.path.split("/")
        if parts.path.startswith("/github/repos/"):
            if headers.get("Authorization") != f"Bearer {self.token}":
                return 401, {"message": "Bad credentials"}
            # /github/repos/{owner}/{repo}/pulls[/{number}]
            if len(segments) < 6 or segments[5] != "pulls":
                return 404, {"message": "Not Found"}
            project = f"{unquote(segments[3])}/{unquote(segments[4])}"
            return self._github(method, project, segments[6:], query, body)
        if parts.path.startswith("/gitlab/api/v4/projects/"):
            if headers.get("PRIVATE-TOKEN") != self.token:
                return 401, {"message": "401 Unauthorized"}
            # /gitlab/api/v4/projects/{id}/merge_requests[/{iid}] (the id arrives URL-encoded)
            if len(segments) < 7 or segments[6] != "merge_requests":
                return 404, {"message": "404 Not Found"}
            return self._gitlab(method, unquote(segments[5]), segments[7:], query, body)
        return 404, {"message": "Not Found"}

    def _find(self, forge: str, project: str, head: str, base: str | None) -> list[PullRecord]:
        return [
            p
            for p in self.pulls
            if p.forge == forge
            and p.project == project
            and p.head == head
            and p.state == "open"
            and (base is None or p.base == base)
        ]

    def _by_number(self, forge: str, project: str, number: str) -> PullRecord | None:
        return next(
            (p for p in self.pulls if p.forge == forge and p.project == project and str(p.number) == number), None
        )

    def _github(self, method: str, project: str, rest: list[str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if method == "GET" and not rest:
            owner_head = query.get("head", "")
            head = owner_head.split(":", 1)[1] if ":" in owner_head else owner_head
            found = self._find("github", project, head, query.get("base"))
            return 200, [self._github_view(p) for p in found]
        if method == "POST" and not rest:
            head, base = body.get("head", ""), body.get("base", "")
            sha = self.branch_sha(project, head)
            if not sha or not self.branch_sha(project, base):
                return 422, {"message": "Validation Failed", "errors": [{"field": "head", "code": "invalid"}]}
            if self._find("github", project, head, base):
                return 422, {"message": "Validation Failed", "errors": [{"message": "A pull request already exists"}]}
            pull = PullRecord(
                "github", project, len(self.pulls) + 1, head, base, body["title"], body.get("body", ""), sha
            )
            self.pulls.append(pull)
            return 201, self._github_view(pull)
        if method == "PATCH" and len(rest) == 1:
            match = self._by_number("github", project, rest[0])
            if match is None:
                return 404, {"message": "Not Found"}
            match.title = body.get("title", match.title)
            match.body = body.get("body", match.body)
            match.head_sha = self.branch_sha(project, match.head)
            match.updates += 1
            return 200, self._github_view(match)
        return 404, {"message": "Not Found"}

    def _gitlab(self, method: str, project: str, rest: list[str], query: dict[str, str], body: Any) -> tuple[int, Any]:
        if method == "GET" and not rest:
            found = self._find("gitlab", project, query.get("source_branch", ""), query.get("target_branch"))
            return 200, [self._gitlab_view(p) for p in found]
        if method == "POST" and not rest:
            head, base = body.get("source_branch", ""), body.get("target_branch", "")
            sha = self.branch_sha(project, head)
            if not sha or not self.branch_sha(project, base):
                return 400, {"message": ["Source branch does not exist"]}
            if self._find("gitlab", project, head, base):
                return 409, {"message": ["Another open merge request already exists for this source branch"]}
            pull = PullRecord(
                "gitlab", project, len(self.pulls) + 1, head, base, body["title"], body.get("description", ""), sha
            )
            self.pulls.append(pull)
            return 201, self._gitlab_view(pull)
        if method == "PUT" and len(rest) == 1:
            match = self._by_number("gitlab", project, rest[0])
            if match is None:
                return 404, {"message": "404 Not found"}
            match.title = body.get("title", match.title)
            match.body = body.get("description", match.body)
            match.head_sha = self.branch_sha(project, match.head)
            match.updates += 1
            return 200, self._gitlab_view(match)
        return 404, {"message": "404 Not Found"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = None
                with server._lock:
                    if body is None:
                        status, payload = 400, {"message": "Problems parsing JSON"}
                    else:
                        status, payload = server.handle(self.command, self.path, self.headers, body)
                    server.requests.append((self.command, self.path, status))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = _serve

        return Handler
