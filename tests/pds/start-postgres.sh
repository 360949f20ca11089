#!/usr/bin/env bash
# Create (if needed) and start a throwaway PostgreSQL 15 cluster for the local AppView.
#
#   start-postgres.sh DIR [PORT]
#
# DIR   absolute or relative path; created if missing. Holds data/, the unix socket,
#       postgres.log and a marker file. Every parent of DIR must be traversable by the
#       cluster's owner (the default under /tmp is fine).
# PORT  TCP port on 127.0.0.1 (default: $PGPORT or 55432).
#
# Prints ONE line on stdout, the connection URL:
#   postgresql://cmops@127.0.0.1:PORT/postgres
# Progress and errors go to stderr. Idempotent: a running cluster is left running and its
# URL printed again; a stopped one is started.
#
# initdb/postgres refuse to run as root, so when run as root (as CI does) the cluster is
# owned by the system user $CMOPS_PG_USER (default cmops-pg), created here if missing.
# Otherwise it runs as the calling user. Auth is "trust" on 127.0.0.1 only (throwaway,
# loopback): do not point it at anything that matters.
set -euo pipefail

log() { printf '[start-postgres] %s\n' "$*" >&2; }
die() { printf '[start-postgres] error: %s\n' "$*" >&2; exit 1; }
elapsed() { local ms=$(( ($(date +%s%N) - $1) / 1000000 )); printf '%d.%01d' $((ms / 1000)) $(((ms % 1000) / 100)); }

[ $# -ge 1 ] && [ -n "$1" ] || die "usage: $0 DIR [PORT]"
DIR=$(realpath -m -- "$1")
PORT=${2:-${PGPORT:-55432}}
[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -ge 1 ] && [ "$PORT" -le 65535 ] || die "bad port: $PORT"
[ "$DIR" != / ] || die "refusing to use / as the cluster directory"
DB_USER=cmops
PG_OS_USER=${CMOPS_PG_USER:-cmops-pg}
START_TIMEOUT=${PG_START_TIMEOUT:-60}

# ---- binaries (Debian: /usr/lib/postgresql/15/bin is not on PATH)
PG_BIN=${PG_BIN:-}
if [ -z "$PG_BIN" ]; then
  for cand in /usr/lib/postgresql/15/bin "$(command -v pg_config >/dev/null 2>&1 && pg_config --bindir || true)"; do
    if [ -n "$cand" ] && [ -x "$cand/initdb" ] && [ -x "$cand/pg_ctl" ]; then PG_BIN=$cand; break; fi
  done
fi
[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 binaries not found (apt-get install -y postgresql-15, or set PG_BIN)"

# ---- who owns the cluster
if [ "$(id -u)" = 0 ]; then
  if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
    log "creating system user $PG_OS_USER"
    useradd --system --user-group --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin "$PG_OS_USER" 2>/dev/null || id -u "$PG_OS_USER" >/dev/null 2>&1 \
      || die "could not create user $PG_OS_USER"
  fi
  as_owner() { (cd "$DIR" && runuser -u "$PG_OS_USER" -- "$@"); }
  OWNER=$PG_OS_USER
else
  as_owner() { (cd "$DIR" && "$@"); }
  OWNER=$(id -un)
fi

mkdir -p -- "$DIR"
if [ "$(id -u)" = 0 ]; then
  chown "$OWNER": "$DIR"
  chmod 0700 "$DIR"
  runuser -u "$OWNER" -- test -x "$DIR" -a -w "$DIR" \
    || die "$OWNER cannot enter $DIR: make every parent directory traversable (chmod o+x) or choose another DIR"
fi
touch "$DIR/.cmops-pg"   # marker: stop-postgres.sh only deletes directories carrying it

DATA=$DIR/data
URL="postgresql://$DB_USER@127.0.0.1:$PORT/postgres"

if [ ! -s "$DATA/PG_VERSION" ]; then
  log "initdb in $DATA (owner $OWNER)"
  rm -rf -- "$DATA"
  t0=$(date +%s%N)
  as_owner "$PG_BIN/initdb" --pgdata="$DATA" --username="$DB_USER" --auth=trust \
    --encoding=UTF8 --locale=C.UTF-8 --no-instructions >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
  # Throwaway test cluster: loopback only, no durability, enough connections for the AppView.
  cat >>"$DATA/postgresql.conf" <<EOF

# ---- cmops tests/pds (throwaway cluster)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
EOF
  log "initdb took $(elapsed "$t0")s"
fi

if as_owner "$PG_BIN/pg_ctl" status --pgdata="$DATA" >/dev/null 2>&1; then
  running_port=$(sed -n 4p "$DATA/postmaster.pid" 2>/dev/null || true)
  if [ -n "$running_port" ] && [ "$running_port" != "$PORT" ]; then
    die "cluster in $DIR already runs on port $running_port, not $PORT (stop it first)"
  fi
  log "already running on 127.0.0.1:$PORT"
else
  t0=$(date +%s%N)
  as_owner "$PG_BIN/pg_ctl" start --pgdata="$DATA" --wait --timeout="$START_TIMEOUT" \
    --log="$DIR/postgres.log" -o "-p $PORT -c listen_addresses=127.0.0.1 -k $DIR" >/dev/null \
    || { tail -n 30 "$DIR/postgres.log" >&2 || true; die "postgres did not start on 127.0.0.1:$PORT"; }
  log "started on 127.0.0.1:$PORT in $(elapsed "$t0")s"
fi

# Bounded readiness check over TCP (pg_ctl --wait used the socket).
for _ in $(seq 1 50); do
  if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -d postgres -t 2; then
    printf '%s\n' "$URL"
    exit 0
  fi
  sleep 0.2
done
die "postgres not accepting TCP connections on 127.0.0.1:$PORT (see $DIR/postgres.log)"
