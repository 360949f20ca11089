"""An in-memory GitHub REST API for tests: ``httpx.MockTransport(fake.handle)``.

It models the parts cmops uses, the way api.github.com answers them:

- ``Authorization: Bearer`` tokens; an unknown one is 401 ``Bad credentials``. The workflow
  token cannot list team members (403 ``Resource not accessible by integration``); only the
  tokens in :attr:`FakeGitHub.org_tokens` can;
- list endpoints page with ``per_page`` (default 30, at most 100) and ``page``, and say so in
  a ``Link`` header with ``rel="next"`` and ``rel="last"``, none on the last page;
- ``GET /repos/{repo}/pulls/{n}`` (``head.sha``, ``base.sha``, ``user.login``),
  ``.../pulls/{n}/files`` (``filename``, ``status``, ``previous_filename`` for renames),
  ``.../pulls/{n}/reviews`` (oldest first, with ``state`` and ``commit_id``),
  ``GET /orgs/{org}/teams/{slug}/members``, ``GET /repos/{repo}/contents/{path}?ref=``
  (base64, 404 when absent at that ref), ``GET/POST /repos/{repo}/issues/{n}/comments``,
  ``PATCH /repos/{repo}/issues/comments/{id}``, ``GET /repos/{repo}/commits/{sha}/pulls``,
  ``POST /repos/{repo}/statuses/{sha}``; anything else is 404 ``Not Found``;
- faults queued with :meth:`FakeGitHub.fail_next`: a secondary rate limit (403 with
  ``Retry-After``), a primary one (403/429 with ``X-RateLimit-Remaining: 0`` and ``-Reset``),
  a 502, or "accept then fail" (the comment is created, the answer is a 502).

Every request is kept in :attr:`FakeGitHub.requests`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

REPO = "acme/social"
TOKEN = "ghs_workflow"
ORG_TOKEN = "ghp_readorg"
BOT = {"login": "github-actions[bot]", "type": "Bot"}


@dataclass
class Pull:
    number: int
    head: str
    base: str
    author: str
    files: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)

    def review(self, login: str, state: str, commit: str | None = None) -> None:
        self.reviews.append({"id": 1000 + len(self.reviews), "user": {"login": login}, "state": state,
                             "commit_id": commit or self.head,
                             "submitted_at": f"2026-11-2{len(self.reviews) % 10}T10:00:00Z"})

    def push(self, sha: str) -> None:
        self.head = sha


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    #: Do the work, then answer with the fault anyway.
    after: bool = False


class FakeGitHub:
    def __init__(self, repo: str = REPO, clock: Callable[[], float] = lambda: 1_800_000_000.0) -> None:
        self.repo = repo
        self.clock = clock
        self.tokens = {TOKEN, ORG_TOKEN}
        self.org_tokens = {ORG_TOKEN}
        self.pulls: dict[int, Pull] = {}
        self.teams: dict[str, list[str]] = {}
        self.contents: dict[tuple[str, str], bytes] = {}
        self.symlinks: set[tuple[str, str]] = set()
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.commit_prs: dict[str, list[int]] = {}
        self.merged: set[int] = set()
        self.statuses: list[dict[str, Any]] = []
        self.requests: list[httpx.Request] = []
        self.faults: list[Fault] = []
        self._next_id = 500

    # -- setting up ------------------------------------------------------------------------

    def pull(self, number: int, head: str, base: str, author: str = "writer") -> Pull:
        made = self.pulls[number] = Pull(number, head, base, author)
        return made

    def file(self, path: str, ref: str, text: str) -> None:
        self.contents[(path, ref)] = text.encode("utf-8")

    def comment_by(self, number: int, login: str, body: str) -> None:
        self._next_id += 1
        self.comments.setdefault(number, []).append(
            {"id": self._next_id, "body": body, "user": {"login": login, "type": "User"}})

    def fail_next(self, method: str, path: str, status: int, headers: dict[str, str] | None = None,
                  message: str = "", after: bool = False) -> None:
        self.faults.append(Fault(method, re.compile(path), status, headers or {},
                                 {"message": message or f"HTTP {status}"}, after))

    def calls(self, method: str, path: str) -> int:
        pattern = re.compile(path)
        return sum(1 for r in self.requests if r.method == method and pattern.search(r.url.path))

    # -- the server --------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host != "api.github.com":
            raise httpx.ConnectError("no route to host", request=request)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            return _json(401, {"message": "Bad credentials"})
        for fault in self.faults:
            if fault.method == request.method and fault.path.search(request.url.path):
                self.faults.remove(fault)
                if fault.after:
                    self._route(request, token)
                return _json(fault.status, fault.body, fault.headers)
        return self._route(request, token)

    def _route(self, request: httpx.Request, token: str) -> httpx.Response:
        path = request.url.path
        method = request.method
        repo = f"/repos/{self.repo}"
        if not path.startswith(repo) and not path.startswith("/orgs/"):
            return _not_found()
        rest = path.removeprefix(repo)
        if method == "GET" and (m := re.fullmatch(r"/pulls/(\d+)", rest)):
            pull = self.pulls.get(int(m[1]))
            if pull is None:
                return _not_found()
            return _json(200, {"number": pull.number, "head": {"sha": pull.head}, "base": {"sha": pull.base},
                               "user": {"login": pull.author}, "state": "open",
                               "changed_files": len(pull.files)})
        if method == "GET" and (m := re.fullmatch(r"/pulls/(\d+)/(files|reviews)", rest)):
            pull = self.pulls.get(int(m[1]))
            if pull is None:
                return _not_found()
            # GitHub lists at most 3000 files of a pull request.
            return self._page(request, pull.files[:3000] if m[2] == "files" else pull.reviews)
        if method == "GET" and (m := re.fullmatch(r"/orgs/([^/]+)/teams/([^/]+)/members", path)):
            if token not in self.org_tokens:
                return _json(403, {"message": "Resource not accessible by integration"})
            members = self.teams.get(f"{m[1]}/{m[2]}".lower())
            if members is None:
                return _not_found()
            return self._page(request, [{"login": login, "type": "User"} for login in members])
        if method == "GET" and rest.startswith("/contents/"):
            ref = request.url.params.get("ref", "")
            if (rest.removeprefix("/contents/"), ref) in self.symlinks:
                return _json(200, {"type": "symlink", "target": "elsewhere.md"})
            data = self.contents.get((rest.removeprefix("/contents/"), ref))
            if data is None:
                return _not_found()
            return _json(200, {"type": "file", "encoding": "base64",
                               "content": base64.encodebytes(data).decode("ascii")})
        if (m := re.fullmatch(r"/issues/(\d+)/comments", rest)):
            number = int(m[1])
            if number not in self.pulls:
                return _not_found()
            if method == "GET":
                return self._page(request, self.comments.get(number, []))
            if method == "POST":
                body = json.loads(request.content)["body"]
                self._next_id += 1
                made = {"id": self._next_id, "body": body, "user": BOT}
                self.comments.setdefault(number, []).append(made)
                return _json(201, made)
        if method == "PATCH" and (m := re.fullmatch(r"/issues/comments/(\d+)", rest)):
            for comments in self.comments.values():
                for comment in comments:
                    if comment["id"] == int(m[1]):
                        comment["body"] = json.loads(request.content)["body"]
                        return _json(200, comment)
            return _not_found()
        if method == "GET" and (m := re.fullmatch(r"/commits/([0-9a-f]{40})/pulls", rest)):
            prs = [{"number": n, "merged_at": "2026-11-20T10:00:00Z" if n in self.merged else None}
                   for n in self.commit_prs.get(m[1], [])]
            return self._page(request, prs)
        if method == "POST" and (m := re.fullmatch(r"/statuses/([0-9a-f]{40})", rest)):
            status = json.loads(request.content)
            if status.get("state") not in ("error", "failure", "pending", "success"):
                return _json(422, {"message": "Validation Failed"})
            self.statuses.append({"sha": m[1], **status})
            return _json(201, status)
        return _not_found()

    def _page(self, request: httpx.Request, items: list[dict[str, Any]]) -> httpx.Response:
        query = parse_qs(urlsplit(str(request.url)).query)
        per_page = min(100, int(query.get("per_page", ["30"])[0]))
        page = int(query.get("page", ["1"])[0])
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {}
        if page < last:
            base = str(request.url.copy_with(query=None))

            def link(n: int) -> str:
                return f"{base}?{urlencode({'per_page': per_page, 'page': n})}"

            headers["link"] = f'<{link(page + 1)}>; rel="next", <{link(last)}>; rel="last"'
        return _json(200, chunk, headers)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers or {})


def _not_found() -> httpx.Response:
    return _json(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
