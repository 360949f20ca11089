"""Throwaway workspaces for tests: a minimal one with one channel per platform."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

from cmops.findings import Finding

SETTINGS = """\
name: Test brand
timezone: Europe/Berlin
channels:
  bsky:
    platform: bluesky
    service: http://127.0.0.1:1
    handle: brand.test
    password_env: TEST_BSKY_PASSWORD
  bsky-us:
    platform: bluesky
    service: http://127.0.0.1:1
    handle: brand-us.test
    password_env: TEST_BSKY_US_PASSWORD
    timezone: America/New_York
  masto:
    platform: mastodon
    instance: http://127.0.0.1:2
    token_env: TEST_MASTO_TOKEN
  x:
    platform: x
  news:
    platform: feed
    path: public/feed.xml
    site_url: https://brand.example/
  chat:
    platform: slack
    webhook_env: TEST_SLACK_URL
"""


@dataclass
class Space:
    root: Path

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def post(self, post_id: str, front: str, body: str = "Hello world.") -> Path:
        front = textwrap.dedent(front).strip("\n")
        return self.write(f"content/posts/{post_id}.md", f"---\n{front}\n---\n{body}\n")

    def findings(self) -> list[Finding]:
        from cmops import validation

        return validation.run(self.root).findings

    def codes(self) -> list[tuple[str, int, str]]:
        """(file, line, code) of every finding: the shape most assertions need."""
        return [(f.file, f.line, f.code) for f in self.findings()]


def make_space(root: Path, settings: str = SETTINGS) -> Space:
    space = Space(root)
    space.write("cmops.yaml", settings)
    return space
