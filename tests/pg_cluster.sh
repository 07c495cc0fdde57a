# A private PostgreSQL cluster for a test: initdb + pg_ctl in a temporary directory, run by an
# unprivileged user (initdb refuses root), reachable only through a Unix socket in that
# directory, removed by pg_cluster_stop. Source it, then:
#   pg_cluster_start || exit 77        # prints why when PostgreSQL's binaries are missing
#   ... $PG_CONNINFO (libpq keywords), pg_createdb NAME, pg_sql DB "SQL", pg_ctl_as restart ...
#   pg_cluster_stop
# scripts/setup installs the binaries (Debian's postgresql package).

pg_bin=""
for d in /usr/lib/postgresql/*/bin; do
  [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && pg_bin=$d
done

PG_DIR=""
PG_RUNAS=()

pg_cluster_start() {
  if [ -z "$pg_bin" ]; then
    echo "SKIP: PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb); scripts/setup installs them"
    return 1
  fi
  command -v psql >/dev/null || { echo "SKIP: psql not found (postgresql-client)"; return 1; }
  PG_DIR=$(mktemp -d /tmp/faceid-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then
    local who=postgres
    id "$who" >/dev/null 2>&1 || who=nobody
    chown "$who" "$PG_DIR"
    PG_RUNAS=(runuser -u "$who" --)
  fi
  # trust on the socket only: nothing listens on a network interface
  "${PG_RUNAS[@]}" "$pg_bin/initdb" -D "$PG_DIR/data" -U faceid --auth=trust -E UTF8 --locale=C.UTF-8 \
      >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log"; return 1; }
  pg_ctl_as start || return 1
  PG_CONNINFO="host=$PG_DIR user=faceid"
  export PG_DIR PG_CONNINFO
}

# pg_ctl_as start|stop|restart [extra pg_ctl options]: the cluster's server, as its owner.
pg_ctl_as() {
  local action=$1
  shift
  case "$action" in
    start|restart)
      "${PG_RUNAS[@]}" "$pg_bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
        -o "-c listen_addresses='' -c unix_socket_directories='$PG_DIR' -c fsync=on -c max_connections=200" \
        "$action" "$@" >/dev/null || { tail -20 "$PG_DIR/server.log"; return 1; } ;;
    *) "${PG_RUNAS[@]}" "$pg_bin/pg_ctl" -D "$PG_DIR/data" -w -t 30 "$action" "$@" >/dev/null ;;
  esac
}

pg_createdb() { psql "$PG_CONNINFO dbname=postgres" -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$1\"" >/dev/null; }
pg_sql() { psql "$PG_CONNINFO dbname=$1" -qAt -v ON_ERROR_STOP=1 -c "$2"; }

pg_cluster_stop() {
  [ -n "$PG_DIR" ] || return 0
  pg_ctl_as stop -m immediate 2>/dev/null || true
  rm -rf "$PG_DIR"
  PG_DIR=""
}
