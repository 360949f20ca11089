#!/usr/bin/env bash
# Install what the local Bluesky network needs; run by CI before the tests.
#
#   tests/pds/install.sh [--force]
#
# 1. Debian's postgresql-15 (apt-get), if its binaries are missing.
# 2. `npm ci` here, building better-sqlite3 from source against Node's local headers
#    (.npmrc: nodedir=/usr, build-from-source=true; no download from outside the registry).
#    Skipped when node_modules already matches package-lock.json and this Node (--force redoes it).
# Prints how long each step took. Needs root (or sudo) only for step 1.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
FORCE=${1:-}
log() { printf '[install] %s\n' "$*" >&2; }
die() { printf '[install] error: %s\n' "$*" >&2; exit 1; }
now() { date +%s%N; }
took() { local ms=$((($(now) - $1) / 1000000)); printf '%d.%01ds' $((ms / 1000)) $(((ms % 1000) / 100)); }
T_ALL=$(now)

# ---- 1. PostgreSQL 15
T=$(now)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
if [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && [ -x "$PG_BIN/postgres" ]; then
  log "postgresql-15: already installed ($PG_BIN) [$(took "$T")]"
else
  SUDO=
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "postgresql-15 missing and not root: apt-get install -y postgresql-15"
    SUDO=sudo
  fi
  log "postgresql-15: installing with apt-get"
  # No systemd in CI containers: Debian creates a 'main' cluster but does not start it.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >&2
  [ -x "$PG_BIN/initdb" ] || die "postgresql-15 installed but $PG_BIN/initdb is missing"
  log "postgresql-15: installed [$(took "$T")]"
fi

# ---- 2. Node dependencies
T=$(now)
command -v node >/dev/null 2>&1 || die "node not found (Node 20 expected at /usr/bin/node)"
command -v npm >/dev/null 2>&1 || die "npm not found"
NODE_VERSION=$(node -p 'process.versions.node')
NODE_MAJOR=${NODE_VERSION%%.*}
[ "$NODE_MAJOR" -ge 20 ] || die "Node >= 20 needed, found $NODE_VERSION"
# better-sqlite3 is compiled against these headers; they must be this Node's.
NODEDIR=${npm_config_nodedir:-/usr}
[ -f "$NODEDIR/include/node/node.h" ] || die "Node headers missing in $NODEDIR/include/node (Debian/nodesource package nodejs ships them)"
HDR_VERSION=$(sed -n 's/^#define NODE_\(MAJOR\|MINOR\|PATCH\)_VERSION \([0-9]*\).*/\2/p' "$NODEDIR/include/node/node_version.h" | paste -sd.)
[ "$HDR_VERSION" = "$NODE_VERSION" ] || log "warning: headers in $NODEDIR are $HDR_VERSION, node is $NODE_VERSION (ABI must match: same major)"
for tool in make g++ python3; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found: node-gyp needs it (apt-get install -y build-essential python3)"
done

STAMP=$HERE/node_modules/.cmops-install-stamp
WANT="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1) node-$NODE_VERSION"
if [ "$FORCE" != --force ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
  && [ -f "$HERE/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ]; then
  log "npm ci: node_modules up to date with package-lock.json, skipped (--force to redo) [$(took "$T")]"
else
  log "npm ci in $HERE (node $NODE_VERSION, npm $(npm -v 2>/dev/null), compiles better-sqlite3: ~1-2 min)"
  # .npmrc carries nodedir/build-from-source; the env vars repeat them for npm versions that
  # stop passing unknown .npmrc keys to install scripts.
  (cd "$HERE" && npm_config_nodedir="$NODEDIR" npm_config_build_from_source=true \
    npm ci --no-audit --no-fund --loglevel=error >&2)
  [ -f "$HERE/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ] \
    || die "better-sqlite3 was not built (node_modules/better-sqlite3/build/Release/better_sqlite3.node missing)"
  # Load the native module once: catches an ABI mismatch now, not in the middle of a test.
  (cd "$HERE" && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()") \
    || die "better-sqlite3 does not load in node $NODE_VERSION"
  printf '%s\n' "$WANT" >"$STAMP"
  log "npm ci: done [$(took "$T")]"
fi
log "total [$(took "$T_ALL")]"
