#!/usr/bin/env bash
# The PostgreSQL gallery at scale on a private cluster (tests/pg_cluster.sh): bench/pg_scale.c's
# bulk load, node load time and RSS, change propagation, identification latency against SQLite,
# and a bounded load run of several nodes at once.
#   bench/pg_scale.sh [BUILD_DIR] [pg_scale options: --people N --nodes K --seconds S]
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}; shift || true
. "$here/../tests/pg_cluster.sh"
trap pg_cluster_stop EXIT
trap 'exit 130' INT TERM
pg_cluster_start || exit 77
pg_createdb scale
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) CPUs; PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') (defaults, fsync on, Unix socket)"
"$build/bench/pg_scale" --pg "$PG_CONNINFO dbname=scale" --sqlite "$PG_DIR/scale.db" "$@"
