"""Start and stop the local Bluesky network (PLC + PDS + AppView) from Python.

Standard library only, so it runs with any ``python3`` and can be imported by a pytest
fixture. Every wait is bounded. The pieces:

- :func:`start_postgres` / :meth:`Postgres.stop` wrap ``start-postgres.sh`` /
  ``stop-postgres.sh`` (a throwaway PostgreSQL 15 cluster on 127.0.0.1).
- :meth:`Network.start` runs ``node start-network.mjs`` with its stdin on a pipe that this
  process keeps open: if this process dies, the pipe closes and the network shuts itself
  down. Its stderr goes to a log file (never an unread pipe, which would block it when full).
  It waits for the one JSON ready line on stdout.

See README.md beside this file.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
START_POSTGRES = HERE / "start-postgres.sh"
STOP_POSTGRES = HERE / "stop-postgres.sh"
START_NETWORK = HERE / "start-network.mjs"


class HarnessError(RuntimeError):
    """The local network could not be started or stopped."""


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def installed() -> bool:
    """Whether ``install.sh`` has been run (node_modules with the built native module)."""
    return (HERE / "node_modules" / "better-sqlite3" / "build" / "Release" / "better_sqlite3.node").is_file()


@dataclass
class Postgres:
    """A running throwaway cluster made by ``start-postgres.sh``."""

    directory: Path
    port: int
    url: str
    seconds: float

    def stop(self, *, keep: bool = False, timeout: float = 90.0) -> None:
        args = [str(STOP_POSTGRES), str(self.directory)] + (["--keep"] if keep else [])
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise HarnessError(f"stop-postgres.sh failed ({done.returncode}): {done.stderr.strip()}")


def start_postgres(directory: Path, port: int | None = None, *, timeout: float = 120.0) -> Postgres:
    """Create/start the cluster in ``directory`` (idempotent) and return its URL."""
    port = port or free_port()
    t0 = time.monotonic()
    done = subprocess.run(
        [str(START_POSTGRES), str(directory), str(port)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise HarnessError(f"start-postgres.sh failed ({done.returncode}):\n{done.stderr.strip()}")
    url = done.stdout.strip().splitlines()[-1]
    return Postgres(directory=directory, port=port, url=url, seconds=time.monotonic() - t0)


@dataclass
class Network:
    """A running ``start-network.mjs``; ``info`` is its ready line."""

    process: subprocess.Popen[str]
    info: dict[str, Any]
    log_path: Path
    seconds: float
    _log: IO[str] = field(repr=False)

    @property
    def pds(self) -> str:
        return str(self.info["pds"])

    @property
    def plc(self) -> str:
        return str(self.info["plc"])

    @property
    def appview(self) -> str:
        return str(self.info["appview"])

    @classmethod
    def start(
        cls,
        db_url: str,
        *,
        schema: str = "cmops",
        log_path: Path,
        ports: dict[str, int] | None = None,
        with_ozone: bool = False,
        timeout: float = 180.0,
        node: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> Network:
        """Start the network and wait (at most ``timeout`` s) for its ready line.

        ``ports`` may hold ``plc``, ``pds``, ``appview`` (and ``ozone``); missing ones are
        picked free by the script itself and reported in ``info``.
        """
        node = node or shutil.which("node") or "/usr/bin/node"
        env = dict(os.environ)
        env.update(extra_env or {})
        env["DB_POSTGRES_URL"] = db_url
        env["DB_POSTGRES_SCHEMA"] = schema
        env.pop("PDS_IGNORE_STDIN", None)
        for key, var in (
            ("plc", "PLC_PORT"),
            ("pds", "PDS_PORT"),
            ("appview", "APPVIEW_PORT"),
            ("ozone", "OZONE_PORT"),
        ):
            env.pop(var, None)
            if ports and key in ports:
                env[var] = str(ports[key])
        if with_ozone:
            env["PDS_WITH_OZONE"] = "1"
        log = log_path.open("w", encoding="utf-8")
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [node, str(START_NETWORK)],
            cwd=HERE,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert proc.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(
            target=lambda: lines.put(proc.stdout.readline() if proc.stdout else ""), daemon=True
        )
        reader.start()
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            _terminate(proc, 40.0)
            log.close()
            raise HarnessError(f"no ready line within {timeout:.0f}s; log:\n{_tail(log_path)}") from None
        if not line.strip():
            code = _terminate(proc, 40.0)
            log.close()
            raise HarnessError(
                f"start-network.mjs exited ({code}) before it was ready; log:\n{_tail(log_path)}"
            )
        try:
            info: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            _terminate(proc, 40.0)
            log.close()
            raise HarnessError(f"unexpected output from start-network.mjs: {line!r}") from None
        return cls(process=proc, info=info, log_path=log_path, seconds=time.monotonic() - t0, _log=log)

    def stop(self, timeout: float = 40.0) -> int:
        """Shut the network down cleanly (it drops its schemas); kill it past ``timeout``."""
        try:
            return _terminate(self.process, timeout)
        finally:
            self._log.close()


def _terminate(proc: subprocess.Popen[str], timeout: float) -> int:
    """Close stdin (the script's clean-shutdown trigger), then SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        try:
            if proc.stdin:
                proc.stdin.close()
        except OSError:
            pass
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout=10)
    return proc.returncode


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"
