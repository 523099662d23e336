#!/usr/bin/env bash
# Tests the database image's pieces against a real PostgreSQL 15 with plpython3u (Debian
# packages postgresql-15 postgresql-plpython3-15 python3-redis): the init script enables
# plpython3u, a plpython function like upstream Rodan's survives rodan-backup + rodan-restore,
# and rodan-backup keeps only the newest BACKUP_KEEP dumps.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pgbin=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || true)
[[ -x "$pgbin/initdb" ]] || { echo "postgres-plpython test: PostgreSQL 15 is not installed" >&2; exit 1; }
work=$(mktemp -d)
chmod 0755 "$work"
run_as=()
if [[ $(id -u) == 0 ]]; then
  chown postgres:postgres "$work"
  run_as=(runuser -u postgres --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  "${run_as[@]}" "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"${run_as[@]}" "$pgbin/initdb" -D "$work/data" -U postgres --auth=trust >/dev/null
"${run_as[@]}" "$pgbin/pg_ctl" -D "$work/data" -l "$work/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $work -c fsync=off" start >/dev/null

export PGHOST="$work" PGPORT="$port"
psql -q -U postgres -v ON_ERROR_STOP=1 -c "CREATE ROLE rodan LOGIN SUPERUSER PASSWORD 'pw'" -c "CREATE DATABASE rodan OWNER rodan"
psql -q -U rodan -d rodan -v ON_ERROR_STOP=1 -f "$here/initdb/10-plpython.sql"
psql -q -U rodan -d rodan -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE rodan_project (uuid uuid PRIMARY KEY, name text NOT NULL);
INSERT INTO rodan_project VALUES ('11111111-1111-1111-1111-111111111111', 'Liber Usualis');
-- Shaped like upstream's publish_message: Python inside the server, importing redis.
CREATE FUNCTION publish_message(notify text) RETURNS text AS $$
import json, redis
status, table, uuid = notify.split('/')[:3]
return json.dumps({"status": status, "model": table.replace("rodan_", ""), "uuid": uuid.replace("-", "")})
$$ LANGUAGE plpython3u;
SQL

export POSTGRES_USER=rodan POSTGRES_PASSWORD=pw POSTGRES_DB=rodan BACKUP_DIR="$work/backups" BACKUP_KEEP=2
mkdir -p "$BACKUP_DIR"
for _ in 1 2 3; do
  "$here/rodan-backup" >/dev/null
  sleep 1.1  # names carry the second
done
count=$(ls -1 "$BACKUP_DIR"/rodan-*.dump | wc -l)
[[ "$count" == 2 ]] || { echo "FAIL: expected 2 backups after pruning, found $count" >&2; exit 1; }
"$here/rodan-backups" | grep -q 'rodan-.*\.dump' || { echo "FAIL: rodan-backups lists nothing" >&2; exit 1; }

psql -q -U rodan -d rodan -v ON_ERROR_STOP=1 -c "DROP FUNCTION publish_message(text)" -c "DELETE FROM rodan_project"
"$here/rodan-restore" >/dev/null
got=$(psql -qtA -U rodan -d rodan -c "SELECT publish_message('created/rodan_project/' || uuid) FROM rodan_project")
want='{"status": "created", "model": "project", "uuid": "11111111111111111111111111111111"}'
[[ "$got" == "$want" ]] || { echo "FAIL: after restore got '$got', want '$want'" >&2; exit 1; }

if BACKUP_KEEP=zero "$here/rodan-backup" >/dev/null 2>&1; then
  echo "FAIL: rodan-backup accepted BACKUP_KEEP=zero" >&2; exit 1
fi
echo "postgres-plpython: init script, backup, pruning and restore of a plpython3u function: ok"
