"""Smoke test of the local Bluesky network, end to end, with timings.

    python3 tests/pds/smoke.py [--with-ozone] [--pg-dir DIR]

Starts PostgreSQL and the network, creates two accounts, posts with a TID record key, reads
the post back, likes it from the second account, and polls the AppView (through the PDS,
with the author's session token) until ``likeCount`` is 1; then stops everything.
Prints a timing summary; exits 0 when every step worked, 1 otherwise. Standard library only.
Run ``tests/pds/install.sh`` first.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import HarnessError, Network, Postgres, installed, start_postgres

S32 = "234567abcdefghijklmnopqrstuvwxyz"
POLL_TIMEOUT = 30.0
POLL_INTERVAL = 0.05


def tid(micros: int | None = None, clock_id: int = 0) -> str:
    """A record key TID: 13 base32-sortable chars of ``micros << 10 | clock_id``."""
    value = ((micros if micros is not None else time.time_ns() // 1000) << 10) | (clock_id & 0x3FF)
    value &= (1 << 63) - 1
    return "".join(S32[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def xrpc(
    base: str,
    nsid: str,
    *,
    body: dict[str, Any] | None = None,
    params: dict[str, str | list[str]] | None = None,
    token: str | None = None,
    timeout: float = 15.0,
) -> tuple[int, Any]:
    """Call an XRPC method; a JSON body makes it a procedure (POST). Returns (status, json)."""
    url = f"{base}/xrpc/{nsid}"
    if params:
        url += "?" + urllib.parse.urlencode(params, doseq=True)
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            return err.code, json.loads(raw)
        except ValueError:
            return err.code, raw.decode(errors="replace")


def create_record(
    pds: str, session: dict[str, Any], collection: str, record: dict[str, Any], rkey: str | None = None
) -> tuple[int, Any]:
    """com.atproto.repo.createRecord in the session's own repo; ``$type`` is the collection."""
    body: dict[str, Any] = {
        "repo": session["did"],
        "collection": collection,
        "record": {"$type": collection, **record, "createdAt": now_iso()},
    }
    if rkey is not None:
        body["rkey"] = rkey
    return xrpc(pds, "com.atproto.repo.createRecord", token=session["accessJwt"], body=body)


def ok(status_body: tuple[int, Any], what: str) -> Any:
    status, body = status_body
    if status != 200:
        raise HarnessError(f"{what}: HTTP {status} {body}")
    return body


def poll(check: Callable[[], Any], what: str, timeout: float = POLL_TIMEOUT) -> tuple[Any, float]:
    """Call ``check`` until it returns something truthy; bounded by ``timeout``."""
    t0 = time.monotonic()
    last: Any = None
    while time.monotonic() - t0 < timeout:
        last = check()
        if last:
            return last, time.monotonic() - t0
        time.sleep(POLL_INTERVAL)
    raise HarnessError(f"{what}: not seen within {timeout:.0f}s (last: {last!r})")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run(args: argparse.Namespace) -> dict[str, float]:
    timings: dict[str, float] = {}
    suffix = secrets.token_hex(3)
    pg_dir = Path(args.pg_dir or Path(tempfile.gettempdir()) / f"cmops-pds-smoke-{os.getpid()}")
    log_path = Path(tempfile.gettempdir()) / f"cmops-pds-smoke-{os.getpid()}.log"
    pg: Postgres | None = None
    net: Network | None = None
    succeeded = False
    try:
        pg = start_postgres(pg_dir)
        timings["postgres_start_s"] = round(pg.seconds, 2)
        print(f"postgres: {pg.url} ({pg.seconds:.1f}s)")

        net = Network.start(pg.url, schema="cmops_smoke", log_path=log_path, with_ozone=args.with_ozone)
        timings["network_start_s"] = round(net.seconds, 2)
        print(f"network: {json.dumps(net.info)} ({net.seconds:.1f}s, log {log_path})")
        pds = net.pds

        # --- accounts
        t0 = time.monotonic()
        sessions = []
        for who in ("a", "b"):
            sessions.append(
                ok(
                    xrpc(
                        pds,
                        "com.atproto.server.createAccount",
                        body={
                            "handle": f"smoke-{who}-{suffix}.test",
                            "email": f"smoke-{who}-{suffix}@example.com",
                            "password": f"pw-{secrets.token_hex(8)}",
                        },
                    ),
                    f"createAccount {who}",
                )
            )
        alice, bob = sessions
        timings["create_two_accounts_s"] = round(time.monotonic() - t0, 3)
        print(f"accounts: {alice['handle']} {alice['did']}, {bob['handle']} {bob['did']}")

        # --- post with a TID record key
        rkey = tid()
        text = f"cmops smoke {suffix} \N{SNOWFLAKE}"
        t0 = time.monotonic()
        created = ok(
            create_record(pds, alice, "app.bsky.feed.post", {"text": text, "langs": ["en"]}, rkey),
            "createRecord",
        )
        t_posted = time.monotonic()
        timings["create_record_s"] = round(t_posted - t0, 3)
        uri, cid = created["uri"], created["cid"]
        timings["first_post_after_ready_s"] = round(
            timings["create_two_accounts_s"] + timings["create_record_s"], 3
        )
        print(f"post: {uri} rkey={rkey} ({timings['create_record_s']}s)")

        got = ok(
            xrpc(
                pds,
                "com.atproto.repo.getRecord",
                params={"repo": alice["did"], "collection": "app.bsky.feed.post", "rkey": rkey},
            ),
            "getRecord",
        )
        if got["value"]["text"] != text or got["cid"] != cid:
            raise HarnessError(f"getRecord returned something else: {got}")
        print("getRecord: same text and cid")

        # Facts SPEC.md relies on (informational; the smoke does not fail on them).
        dup = create_record(pds, alice, "app.bsky.feed.post", {"text": "dup"}, rkey)
        missing = xrpc(
            pds,
            "com.atproto.repo.getRecord",
            params={"repo": alice["did"], "collection": "app.bsky.feed.post", "rkey": tid(1)},
        )
        print(f"createRecord with an existing rkey: HTTP {dup[0]} {dup[1]}")
        print(f"getRecord of a missing rkey: HTTP {missing[0]} {missing[1]}")

        # --- AppView: the post appears, then the like is counted
        def get_post() -> Any:
            status, body = xrpc(
                pds, "app.bsky.feed.getPosts", params={"uris": [uri]}, token=alice["accessJwt"]
            )
            if status != 200:
                raise HarnessError(f"getPosts via PDS: HTTP {status} {body}")
            return body["posts"][0] if body["posts"] else None

        _, visible_after = poll(get_post, "post in AppView")
        timings["post_indexed_s"] = round(time.monotonic() - t_posted, 3)
        delay = timings["post_indexed_s"]
        print(f"AppView shows the post {delay}s after createRecord (polled {visible_after:.2f}s)")

        t0 = time.monotonic()
        like = ok(
            create_record(pds, bob, "app.bsky.feed.like", {"subject": {"uri": uri, "cid": cid}}),
            "like",
        )
        post, _ = poll(lambda: (p := get_post()) and p.get("likeCount") == 1 and p, "likeCount == 1")
        timings["like_indexed_s"] = round(time.monotonic() - t0, 3)
        print(f"like {like['uri']}: likeCount=1 after {timings['like_indexed_s']}s")
        counts = ("likeCount", "repostCount", "replyCount", "quoteCount", "bookmarkCount")
        print(f"post view counts: {json.dumps({k: post.get(k) for k in counts})}")

        direct = ok(
            xrpc(net.appview, "app.bsky.feed.getPosts", params={"uris": [uri]}), "getPosts on AppView"
        )
        print(f"AppView directly, no auth: likeCount={direct['posts'][0].get('likeCount')}")
        succeeded = True
    finally:
        t0 = time.monotonic()
        if net is not None:
            code = net.stop()
            print(f"network stopped (exit {code})")
            if succeeded:
                log_path.unlink(missing_ok=True)
        if pg is not None:
            pg.stop()
            print("postgres stopped and removed")
        timings["shutdown_s"] = round(time.monotonic() - t0, 2)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--with-ozone", action="store_true", help="use dev-env's full TestNetwork (adds Ozone)"
    )
    parser.add_argument("--pg-dir", help="cluster directory (default: a new one under the temp dir)")
    args = parser.parse_args()
    if not installed():
        print("tests/pds/node_modules missing: run tests/pds/install.sh first", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    try:
        timings = run(args)
    except (HarnessError, OSError, KeyError, ValueError) as exc:
        print(f"SMOKE FAILED: {exc}", file=sys.stderr)
        return 1
    timings["total_s"] = round(time.monotonic() - t0, 2)
    print("timings: " + json.dumps(timings))
    print("SMOKE OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
