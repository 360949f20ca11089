#!/usr/bin/env bash
# Stop the throwaway cluster made by start-postgres.sh and delete its directory.
#
#   stop-postgres.sh DIR [--keep]
#
# --keep  stop the server but keep DIR (data survives for the next start-postgres.sh).
# Idempotent: a missing DIR or a stopped server is not an error. Refuses to delete a
# directory that start-postgres.sh did not create (no .cmops-pg marker).
set -euo pipefail

log() { printf '[stop-postgres] %s\n' "$*" >&2; }
die() { printf '[stop-postgres] error: %s\n' "$*" >&2; exit 1; }

[ $# -ge 1 ] && [ -n "$1" ] || die "usage: $0 DIR [--keep]"
DIR=$(realpath -m -- "$1")
KEEP=${2:-}
[ "$DIR" != / ] || die "refusing to touch /"

if [ ! -e "$DIR" ]; then
  log "$DIR does not exist: nothing to do"
  exit 0
fi
[ -e "$DIR/.cmops-pg" ] || die "$DIR has no .cmops-pg marker: not a cluster made by start-postgres.sh, not touching it"

PG_BIN=${PG_BIN:-}
if [ -z "$PG_BIN" ]; then
  for cand in /usr/lib/postgresql/15/bin "$(command -v pg_config >/dev/null 2>&1 && pg_config --bindir || true)"; do
    if [ -n "$cand" ] && [ -x "$cand/pg_ctl" ]; then PG_BIN=$cand; break; fi
  done
fi

DATA=$DIR/data
if [ -n "$PG_BIN" ] && [ -f "$DATA/postmaster.pid" ]; then
  owner=$(stat -c %U "$DATA")
  if [ "$(id -u)" = 0 ] && [ "$owner" != root ]; then
    as_owner() { (cd "$DIR" && runuser -u "$owner" -- "$@"); }
  else
    as_owner() { (cd "$DIR" && "$@"); }
  fi
  if as_owner "$PG_BIN/pg_ctl" status --pgdata="$DATA" >/dev/null 2>&1; then
    log "stopping postgres in $DATA"
    as_owner "$PG_BIN/pg_ctl" stop --pgdata="$DATA" --mode=fast --wait --timeout=30 >/dev/null 2>&1 \
      || as_owner "$PG_BIN/pg_ctl" stop --pgdata="$DATA" --mode=immediate --wait --timeout=15 >/dev/null 2>&1 \
      || {
        pid=$(head -n1 "$DATA/postmaster.pid" 2>/dev/null || true)
        if [[ "$pid" =~ ^[0-9]+$ ]]; then log "pg_ctl stop failed; sending SIGKILL to postmaster $pid"; kill -KILL "$pid" 2>/dev/null || true; sleep 1; fi
      }
  fi
fi

if [ "$KEEP" = --keep ]; then
  log "stopped; kept $DIR"
else
  rm -rf -- "$DIR"
  log "stopped and removed $DIR"
fi
