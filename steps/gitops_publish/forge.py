"""Opening or updating the pull request through the forge's REST API (stdlib HTTP, the token from a Secret file).

GitHub (REST API v3, https://docs.github.com/rest/pulls/pulls):
  GET   /repos/{owner}/{repo}/pulls?head={owner}:{branch}&base={base}&state=open   find the open pull request
  POST  /repos/{owner}/{repo}/pulls            {title, head, base, body}       create (201; html_url)
  PATCH /repos/{owner}/{repo}/pulls/{number}   {title, body}                   update
  headers: Authorization: Bearer <token>, Accept: application/vnd.github+json, X-GitHub-Api-Version: 2022-11-28
GitLab (REST API v4, https://docs.gitlab.com/api/merge_requests/):
  GET  /projects/{id}/merge_requests?source_branch=&target_branch=&state=opened   find (id = URL-encoded path)
  POST /projects/{id}/merge_requests         {source_branch, target_branch, title, description}   create (web_url)
  PUT  /projects/{id}/merge_requests/{iid}   {title, description}                                 update
  header: PRIVATE-TOKEN: <token>
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from steps.common.contract import EXIT_TRANSIENT
from steps.common.log import StepError, StepLogger, redactor

FORGES = ("github", "gitlab")
DEFAULT_API_URLS = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
TIMEOUT_SECONDS = 30


class ForgeHTTPError(StepError):
    """The forge answered with an HTTP error status."""

    def __init__(self, message: str, status: int, exit_code: int) -> None:
        super().__init__(message, exit_code)
        self.status = status


@dataclass(frozen=True)
class PullRequest:
    url: str
    number: int
    created: bool


@dataclass(frozen=True)
class ForgeRequest:
    forge: str
    api_url: str
    project: str  # owner/repo (GitHub) or the project path (GitLab)
    token: str
    head: str  # source branch
    base: str  # target branch
    title: str
    body: str


class Forge:
    def __init__(self, request: ForgeRequest, log: StepLogger) -> None:
        self.request = request
        self.log = log
        redactor.add(request.token)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = self.request
        url = request.api_url.rstrip("/") + path
        headers = {"Accept": "application/json", "User-Agent": "openchoreo-ci-pack-gitops-publish"}
        if request.forge == "github":
            headers.update(
                {
                    "Authorization": f"Bearer {request.token}",
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                }
            )
        else:
            headers["PRIVATE-TOKEN"] = request.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        http_request = urllib.request.Request(url, data=data, method=method, headers=headers)
        context = ssl.create_default_context() if url.startswith("https://") else None
        try:
            with urllib.request.urlopen(http_request, timeout=TIMEOUT_SECONDS, context=context) as response:
                payload = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as error:
            detail = error.read(2048).decode("utf-8", "replace").strip()
            raise self._http_error(method, path, error.code, detail) from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise StepError(
                redactor(f"{request.forge} API {method} {path}: cannot reach {request.api_url} ({reason})"),
                EXIT_TRANSIENT,
            ) from None
        if len(payload) > MAX_RESPONSE_BYTES:
            raise StepError(f"{request.forge} API {method} {path}: response larger than {MAX_RESPONSE_BYTES} bytes")
        try:
            return json.loads(payload) if payload.strip() else None
        except ValueError:
            raise StepError(f"{request.forge} API {method} {path}: the response is not JSON") from None

    def _http_error(self, method: str, path: str, status: int, detail: str) -> ForgeHTTPError:
        forge = self.request.forge
        hint = ""
        if status == 401:
            hint = " hint: the token in the GitOps Secret (key token) was rejected; check it and its expiry."
        elif status == 403:
            hint = " hint: the token may not create pull requests in this repository (scope/permission)."
        elif status == 404:
            hint = f" hint: check the forge project {self.request.project!r} and the API URL {self.request.api_url}."
        code = EXIT_TRANSIENT if status in (429, 502, 503, 504) else 1
        return ForgeHTTPError(
            redactor(f"{forge} API {method} {path}: HTTP {status}: {detail[:500]}{hint}"), status, code
        )

    # ------------------------------------------------------------------------------------------------ GitHub

    def _github_path(self) -> str:
        owner, _, repo = self.request.project.partition("/")
        return f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}/pulls"

    def _github(self) -> PullRequest:
        request = self.request
        owner = request.project.split("/", 1)[0]
        query = urlencode({"head": f"{owner}:{request.head}", "base": request.base, "state": "open"})
        found = self._call("GET", f"{self._github_path()}?{query}")
        if isinstance(found, list) and found:
            number = int(found[0]["number"])
            updated = self._call(
                "PATCH", f"{self._github_path()}/{number}", {"title": request.title, "body": request.body}
            )
            return PullRequest(str(updated["html_url"]), number, created=False)
        body = {"title": request.title, "head": request.head, "base": request.base, "body": request.body}
        created = self._call("POST", self._github_path(), body)
        return PullRequest(str(created["html_url"]), int(created["number"]), created=True)

    # ------------------------------------------------------------------------------------------------ GitLab

    def _gitlab_path(self) -> str:
        return f"/projects/{quote(self.request.project, safe='')}/merge_requests"

    def _gitlab(self) -> PullRequest:
        request = self.request
        query = urlencode({"source_branch": request.head, "target_branch": request.base, "state": "opened"})
        found = self._call("GET", f"{self._gitlab_path()}?{query}")
        if isinstance(found, list) and found:
            iid = int(found[0]["iid"])
            updated = self._call(
                "PUT", f"{self._gitlab_path()}/{iid}", {"title": request.title, "description": request.body}
            )
            return PullRequest(str(updated["web_url"]), iid, created=False)
        body = {
            "source_branch": request.head,
            "target_branch": request.base,
            "title": request.title,
            "description": request.body,
        }
        created = self._call("POST", self._gitlab_path(), body)
        return PullRequest(str(created["web_url"]), int(created["iid"]), created=True)

    def upsert(self) -> PullRequest:
        """The open pull request from head to base, created or updated (title and body). A create that loses a
        race with another run (GitHub 422, GitLab 409: one is open already) is answered by updating that one."""
        try:
            try:
                return self._github() if self.request.forge == "github" else self._gitlab()
            except ForgeHTTPError as error:
                if error.status not in (409, 422):
                    raise
                self.log.warning(f"creating the pull request lost a race ({error.status}): updating the open one")
                return self._github() if self.request.forge == "github" else self._gitlab()
        except (KeyError, TypeError, ValueError) as error:
            raise StepError(
                f"{self.request.forge} API: unexpected response ({type(error).__name__}: {error})"
            ) from None
