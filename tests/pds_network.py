"""pytest plugin: a real local Bluesky network (PLC + PDS + AppView) for the tests that need one.

- ``pds_network`` (session scope) starts a throwaway PostgreSQL cluster and the network from
  ``tests/pds/harness.py`` once per test session and stops both at the end. If it cannot
  start (``tests/pds/install.sh`` not run, PostgreSQL missing, a timeout), tests that use it
  are skipped, except in CI (``CI=true`` or ``CI=1``) where that is a failure: CI installs
  everything, so a network that does not come up there is a bug, not a missing tool.
- ``bsky_account`` (function scope) is a fresh account on that PDS: a :class:`BskyAccount`.
  More accounts: ``pds_network.create_account()``.

Every test using these fixtures gets the ``pds`` marker (registered in pyproject.toml), so
``pytest -m "not pds"`` runs without the network. Loaded by ``tests/conftest.py``
(``pytest_plugins``).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "pds"))

from harness import HarnessError, Network, Postgres, installed, start_postgres

POST = "app.bsky.feed.post"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
#: The network is up in 3-5 s here; CI machines can be several times slower.
START_TIMEOUT = 120.0
#: Not ``tmp_path``: that is 0700 under /tmp/pytest-of-USER and the postgres user cannot enter it.
RUN_DIR = Path("/tmp")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def _unavailable(reason: str) -> NoReturn:
    """Skip locally, fail in CI."""
    if in_ci():
        pytest.fail(f"the local Bluesky network is required in CI: {reason}", pytrace=False)
    pytest.skip(f"local Bluesky network unavailable: {reason}")


@dataclass(frozen=True)
class BskyAccount:
    """An account on the local PDS, and reads of its repository (no session needed)."""

    service: str
    handle: str
    did: str
    password: str
    email: str
    access_jwt: str = field(repr=False)
    refresh_jwt: str = field(repr=False)

    def list_posts(self) -> list[dict[str, Any]]:
        """Every ``app.bsky.feed.post`` record (``uri``, ``cid``, ``value``), following cursors."""
        return self.list_records(POST)

    def list_records(self, collection: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(1000):
            params = {"repo": self.did, "collection": collection, "limit": "100"}
            if cursor:
                params["cursor"] = cursor
            page = _ok(httpx.get(f"{self.service}/xrpc/com.atproto.repo.listRecords", params=params),
                       "listRecords")
            if not page.get("records"):
                return records
            records.extend(page["records"])
            cursor = page.get("cursor")
            if not cursor:
                return records
        raise AssertionError("listRecords: more than 1000 pages")

    def get_record(self, rkey: str, collection: str = POST) -> dict[str, Any] | None:
        """``{"uri", "cid", "value"}`` of one record, or ``None`` if the PDS has none (RecordNotFound)."""
        params = {"repo": self.did, "collection": collection, "rkey": rkey}
        response = httpx.get(f"{self.service}/xrpc/com.atproto.repo.getRecord", params=params)
        if response.status_code == 400 and response.json().get("error") == "RecordNotFound":
            return None
        return _ok(response, "getRecord")

    def options(self, password_env: str = "TEST_BSKY_PASSWORD") -> dict[str, Any]:
        """The channel options of cmops.yaml for this account."""
        return {"service": self.service, "handle": self.handle, "password_env": password_env}


@dataclass(frozen=True)
class PdsNetwork:
    """The running network: URLs, and how long it took to start."""

    service: str
    appview: str
    plc: str
    admin_password: str
    start_seconds: float
    log_path: Path

    def create_account(self, prefix: str = "u") -> BskyAccount:
        """A new account with a unique handle ``<prefix><random>.test``, e-mail and password."""
        suffix = secrets.token_hex(5)
        handle, email = f"{prefix}{suffix}.test", f"{prefix}{suffix}@example.com"
        password = secrets.token_urlsafe(16)
        body = {"handle": handle, "email": email, "password": password}
        answer = _ok(httpx.post(f"{self.service}/xrpc/com.atproto.server.createAccount", json=body,
                                timeout=30), "createAccount")
        return BskyAccount(service=self.service, handle=answer["handle"], did=answer["did"],
                           password=password, email=email, access_jwt=answer["accessJwt"],
                           refresh_jwt=answer["refreshJwt"])


def _ok(response: httpx.Response, what: str) -> dict[str, Any]:
    assert response.status_code == 200, f"{what}: HTTP {response.status_code} {response.text}"
    data: dict[str, Any] = response.json()
    return data


def _start(log_path: Path) -> tuple[Postgres, Network]:
    """PostgreSQL, then the network; on failure nothing is left running."""
    if not installed():
        _unavailable("tests/pds/node_modules is missing; run tests/pds/install.sh")
    if not (PG_BIN / "initdb").is_file():
        _unavailable(f"PostgreSQL 15 is missing ({PG_BIN}/initdb); run tests/pds/install.sh")
    directory = RUN_DIR / f"cmops-pytest-pg-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        pg = start_postgres(directory)
    except (HarnessError, OSError, subprocess.TimeoutExpired) as exc:
        _unavailable(f"PostgreSQL did not start: {exc}")
    try:
        net = Network.start(pg.url, schema="cmops_pytest", log_path=log_path, timeout=START_TIMEOUT)
    except (HarnessError, OSError) as exc:
        _stop_postgres(pg)
        _unavailable(f"the network did not start (log {log_path}): {exc}")
    return pg, net


def _stop_postgres(pg: Postgres) -> None:
    try:
        pg.stop()
    except (HarnessError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"pds_network: stopping PostgreSQL in {pg.directory} failed: {exc}", file=sys.stderr)


@pytest.fixture(scope="session")
def pds_network(request: pytest.FixtureRequest) -> Iterator[PdsNetwork]:
    """The local network, started once per session (about 4-6 s), stopped at the end."""
    log_path = RUN_DIR / f"cmops-pytest-pds-{os.getpid()}.log"
    started = time.monotonic()
    pg, net = _start(log_path)
    network = PdsNetwork(service=net.pds, appview=net.appview, plc=net.plc,
                         admin_password=str(net.info.get("adminPassword", "")),
                         start_seconds=time.monotonic() - started, log_path=log_path)
    try:
        yield network
    finally:
        code = net.stop()
        _stop_postgres(pg)
        if code == 0 and not request.session.testsfailed:
            log_path.unlink(missing_ok=True)
        else:
            print(f"pds_network: network exit {code}; its log is kept in {log_path}", file=sys.stderr)


@pytest.fixture
def bsky_account(pds_network: PdsNetwork) -> BskyAccount:
    """A fresh account on the local PDS (tests never share one, so no state leaks)."""
    return pds_network.create_account()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use the network get the ``pds`` marker even if they forgot it."""
    for item in items:
        if "pds_network" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.pds)
