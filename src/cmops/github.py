"""The GitHub REST API, as the GitOps commands use it: pull requests, reviews, team members,
file contents, comments and commit statuses.

Every call goes through :meth:`GitHub.request`, which pages through ``Link: rel="next"``,
waits out primary and secondary rate limits (``Retry-After``, ``X-RateLimit-Reset``) and
retries 5xx a bounded number of times. Requests that create something are not retried
blindly: the caller is told the outcome is unknown and checks first (see
:func:`upsert_comment`), so a rerun job never leaves two comments.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from cmops.errors import CmopsError, ConfigError

API = "https://api.github.com"
ATTEMPTS = 4
#: The longest single wait for a rate limit; longer ones fail the step with the reset time.
LONGEST_PAUSE = 120.0
#: GitHub refuses comment bodies over 65,536 characters.
MAX_COMMENT = 65_000
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class GitHubError(CmopsError):
    """The API refused or failed after retries: the job is left undone (exit 1)."""

    exit_code = 1


class Superseded(CmopsError):
    """The pull request moved on to a newer commit; the run for that commit does the job."""

    exit_code = 0


class OutcomeUnknown(GitHubError):
    """A request that creates something failed in a way that may have created it anyway."""


@dataclass(frozen=True)
class Target:
    """Where the API is and which repository it is about."""

    api: str
    repo: str
    token: str = field(repr=False)

    @classmethod
    def from_env(cls, repo: str | None, env: Mapping[str, str] | None = None,
                 env_name: str = "GITHUB_TOKEN") -> Target:
        env = os.environ if env is None else env
        token = env.get(env_name) or env.get("GH_TOKEN") or ""
        if not token:
            raise ConfigError(f"no GitHub token: set {env_name} (in a workflow: "
                              f"env: {env_name}: ${{{{ github.token }}}})")
        repo = repo or env.get("GITHUB_REPOSITORY", "")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
            raise ConfigError("which repository? give --repo OWNER/NAME (in a workflow GITHUB_REPOSITORY "
                              "is set for you)" if not repo else f"--repo {repo!r} is not OWNER/NAME")
        return cls(env.get("GITHUB_API_URL") or API, repo, token)


class GitHub:
    def __init__(self, client: httpx.Client, target: Target, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, say: Callable[[str], None] | None = None) -> None:
        self.client = client
        self.target = target
        self.sleep = sleep
        self.clock = clock
        self.say = say or (lambda _: None)
        self.calls = 0

    @property
    def repo(self) -> str:
        return self.target.repo

    # -- transport ---------------------------------------------------------------------------

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None,
                idempotent: bool = True, allow: tuple[int, ...] = ()) -> httpx.Response:
        """One API call, waiting out rate limits and retrying 5xx; ``allow`` lists error
        statuses the caller handles itself (such as 404)."""
        url = path if path.startswith("https://") or path.startswith("http://") else self.target.api + path
        headers = {"Authorization": f"Bearer {self.target.token}", "Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "cmops"}
        delay = 1.0
        for attempt in range(1, ATTEMPTS + 1):
            self.calls += 1
            last = attempt == ATTEMPTS
            try:
                response = self.client.request(method, url, headers=headers, json=json, params=params)
            except httpx.TransportError as exc:
                if not idempotent:
                    raise OutcomeUnknown(f"{method} {path}: {type(exc).__name__}") from None
                if last:
                    raise GitHubError(f"GitHub did not answer {method} {path}: {exc}") from None
                self._pause(delay, f"no answer ({type(exc).__name__})")
                delay *= 2
                continue
            status = response.status_code
            if status < 300 or status in allow:
                return response
            wait = self._rate_limit_wait(response)
            if wait is not None:
                if last or wait > LONGEST_PAUSE:
                    raise GitHubError(f"GitHub's rate limit for {method} {path} lasts {wait:.0f} s more; "
                                      "run the job again later")
                self._pause(wait, "rate limited")
                continue
            if status >= 500:
                if not idempotent:
                    raise OutcomeUnknown(f"{method} {path}: HTTP {status}")
                if last:
                    raise GitHubError(f"GitHub answered {status} to {method} {path} {ATTEMPTS} times")
                self._pause(delay, f"HTTP {status}")
                delay *= 2
                continue
            raise GitHubError(self._refusal(method, path, response))
        raise AssertionError("unreachable")  # pragma: no cover

    def _pause(self, seconds: float, why: str) -> None:
        self.say(f"GitHub: {why}; waiting {seconds:.0f} s")
        self.sleep(seconds)

    def _rate_limit_wait(self, response: httpx.Response) -> float | None:
        """Seconds to wait when the answer is a (primary or secondary) rate limit, else None."""
        if response.status_code not in (403, 429):
            return None
        if response.headers.get("retry-after") is not None:
            from cmops.platforms.base import retry_after_seconds

            # Seconds or an HTTP date, as the platforms send it; unreadable: a minute.
            seconds = retry_after_seconds(response)
            return 60.0 if seconds is None else seconds
        if response.headers.get("x-ratelimit-remaining") == "0":
            try:
                return max(0.0, float(response.headers.get("x-ratelimit-reset", "")) - self.clock()) + 1
            except ValueError:
                return 60.0
        if response.status_code == 429 or "secondary rate limit" in response.text.lower():
            return 60.0  # GitHub: without headers, wait at least a minute
        return None

    def _refusal(self, method: str, path: str, response: httpx.Response) -> str:
        try:
            message = str(response.json().get("message", ""))
        except ValueError:
            message = response.text[:200]
        status = response.status_code
        hint = {
            401: "the token is missing, expired or revoked",
            403: "the token lacks a permission this step needs (see the workflow's permissions:)",
            404: f"not found, or the token cannot see {self.repo}",
            422: "GitHub rejected the request",
        }.get(status, "")
        return f"GitHub refused {method} {path} ({status} {message}){': ' + hint if hint else ''}"

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Every item of a list endpoint, following ``Link: rel="next"``."""
        url: str | None = path
        query: Mapping[str, Any] | None = {"per_page": 100, **(params or {})}
        while url is not None:
            response = self.request("GET", url, params=query)
            body = response.json()
            if not isinstance(body, list):
                raise GitHubError(f"GitHub answered GET {path} with something that is not a list")
            yield from body
            found = _NEXT.search(response.headers.get("link", ""))
            url, query = (found.group(1), None) if found else (None, None)
            if url is not None and urlsplit(url)[:2] != urlsplit(self.target.api)[:2]:
                # The token goes with every request: never to another host.
                raise GitHubError(f"GitHub's next page for {path} is on another host: {url}")

    # -- the calls cmops makes ---------------------------------------------------------------

    def pull(self, number: int) -> dict[str, Any]:
        body: dict[str, Any] = self.request("GET", f"/repos/{self.repo}/pulls/{number}").json()
        return body

    def pull_files(self, number: int) -> list[dict[str, Any]]:
        return list(self.pages(f"/repos/{self.repo}/pulls/{number}/files"))

    def reviews(self, number: int) -> list[dict[str, Any]]:
        return list(self.pages(f"/repos/{self.repo}/pulls/{number}/reviews"))

    def team_members(self, org: str, team: str) -> list[str]:
        return [str(m.get("login", "")) for m in self.pages(f"/orgs/{org}/teams/{team}/members")]

    def file_at(self, path: str, ref: str) -> bytes | None:
        """A file's bytes at a commit, or None when it does not exist there."""
        where = f"/repos/{self.repo}/contents/{quote(path, safe='/')}"
        response = self.request("GET", where, params={"ref": ref}, allow=(404,))
        if response.status_code == 404:
            return None
        body = response.json()
        if not isinstance(body, dict) or body.get("type") != "file":
            return None
        if body.get("encoding") == "base64":
            return base64.b64decode(str(body.get("content", "")))
        # Files over 1 MB come without content; a post that large is an error anyway.
        raise GitHubError(f"{path} at {ref[:12]} is too large to read through the API")

    def comments(self, number: int) -> list[dict[str, Any]]:
        return list(self.pages(f"/repos/{self.repo}/issues/{number}/comments"))

    def create_comment(self, number: int, body: str) -> dict[str, Any]:
        made: dict[str, Any] = self.request("POST", f"/repos/{self.repo}/issues/{number}/comments",
                                            json={"body": body}, idempotent=False).json()
        return made

    def update_comment(self, comment_id: int, body: str) -> None:
        self.request("PATCH", f"/repos/{self.repo}/issues/comments/{comment_id}", json={"body": body})

    def commit_pulls(self, sha: str) -> list[dict[str, Any]]:
        return list(self.pages(f"/repos/{self.repo}/commits/{sha}/pulls"))

    def set_status(self, sha: str, state: str, context: str, description: str, url: str | None) -> None:
        payload = {"state": state, "context": context, "description": description[:140]}
        if url:
            payload["target_url"] = url
        # Setting a status twice is harmless: the newest one with the same context counts.
        self.request("POST", f"/repos/{self.repo}/statuses/{sha}", json=payload)


def upsert_comment(gh: GitHub, number: int, marker: str, body: str) -> str:
    """Keep exactly one comment that starts with ``marker`` on issue/PR ``number``, with this
    body. Returns "created", "updated" or "unchanged"."""
    text = marker + "\n" + body
    if len(text) > MAX_COMMENT:
        text = text[:MAX_COMMENT] + "\n\n… (cut: too long for one comment)"
    for attempt in (1, 2):
        # Only the bot's own comments: a person who pastes the marker does not take it over.
        mine = [c for c in gh.comments(number) if str(c.get("body", "")).startswith(marker)
                and (c.get("user") or {}).get("type") == "Bot"]
        if mine:
            if mine[0].get("body") == text:
                return "unchanged"
            gh.update_comment(int(mine[0]["id"]), text)
            return "updated"
        try:
            gh.create_comment(number, text)
        except OutcomeUnknown:
            if attempt == 2:
                raise
            gh.say("GitHub: creating the comment may have failed; checking before trying again")
            continue
        return "created"
    raise AssertionError("unreachable")  # pragma: no cover


def run_url(env: Mapping[str, str]) -> str | None:
    """The link to the running workflow job, when there is one."""
    server, repo, run = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


def _client() -> httpx.Client:
    return httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0), follow_redirects=True)


#: Tests replace these with a MockTransport client and a recorded sleep.
CLIENT_FACTORY: Callable[[], httpx.Client] = _client
SLEEP: Callable[[float], None] = time.sleep
CLOCK: Callable[[], float] = time.time


def connect(repo: str | None, say: Callable[[str], None], *, env_name: str = "GITHUB_TOKEN",
            env: Mapping[str, str] | None = None) -> GitHub:
    """A client for the repository from ``--repo`` or GITHUB_REPOSITORY, token from the env."""
    return GitHub(CLIENT_FACTORY(), Target.from_env(repo, env, env_name), sleep=SLEEP, clock=CLOCK,
                  say=say)
