#!/usr/bin/env bash
# docker-entrypoint.sh of the PostgreSQL stand-in (Debian's postgresql-15): the contract of the
# docker-library postgres image's entrypoint, which the operator's StatefulSet relies on.
#   - `postgres ...` (the default CMD) or `-flags...`: on an empty $PGDATA, initdb with
#     $POSTGRES_USER as superuser and $POSTGRES_PASSWORD as its password, local connections and
#     loopback trusted, every other host connection by password (scram-sha-256, the server's
#     password_encryption, or $POSTGRES_HOST_AUTH_METHOD); listen on all addresses; create
#     $POSTGRES_DB; run /docker-entrypoint-initdb.d/*.sh, *.sql and *.sql.gz against it; then
#     exec postgres in the foreground. A $PGDATA that holds a database is used as it is.
#   - started as root: make the directories and hand them and itself over to `postgres`.
#   - anything else: exec'd as it is.
# VAR_FILE variants (POSTGRES_PASSWORD_FILE...) are read as upstream does.
set -Eeo pipefail

file_env() {
  local var=$1 file_var="${1}_FILE" def=${2:-}
  if [[ -n ${!var:-} && -n ${!file_var:-} ]]; then
    echo "error: both $var and $file_var are set (but are exclusive)" >&2
    exit 1
  fi
  local val=$def
  if [[ -n ${!var:-} ]]; then
    val=${!var}
  elif [[ -n ${!file_var:-} ]]; then
    val=$(<"${!file_var}")
  fi
  export "$var"="$val"
  unset "$file_var"
}

setup_env() {
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  : "${POSTGRES_HOST_AUTH_METHOD:=}"
  DATABASE_ALREADY_EXISTS=
  [[ -s $PGDATA/PG_VERSION ]] && DATABASE_ALREADY_EXISTS=true
  return 0
}

create_db_directories() {
  local user
  user=$(id -u)
  mkdir -p "$PGDATA"
  # ignore failure: a volume with a foreign owner still works if it is writable
  chmod 00700 "$PGDATA" || :
  mkdir -p /var/run/postgresql || :
  chmod 03775 /var/run/postgresql || :
  if [[ $user == 0 ]]; then
    find "$PGDATA" \! -user postgres -exec chown postgres '{}' +
    find /var/run/postgresql \! -user postgres -exec chown postgres '{}' +
  fi
}

verify_minimum_env() {
  if [[ -z $POSTGRES_PASSWORD && $POSTGRES_HOST_AUTH_METHOD != trust ]]; then
    cat >&2 <<'EOM'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser, or
       POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a password.
EOM
    exit 1
  fi
}

init_database_dir() {
  # --pwfile refuses a properly empty file, hence the newline
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words, as upstream
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    $POSTGRES_INITDB_ARGS
  # docker-library sets this in the sample configuration; appended here, it is the last word
  printf "\n# docker-entrypoint.sh: listen on every address, as the docker-library image does\nlisten_addresses = '*'\n" \
    >>"$PGDATA/postgresql.conf"
}

setup_hba_conf() {
  local auth
  auth=$(postgres -C password_encryption "$@")
  : "${POSTGRES_HOST_AUTH_METHOD:=$auth}"
  {
    printf '\n'
    [[ $POSTGRES_HOST_AUTH_METHOD == trust ]] && printf '# warning trust is enabled for all connections\n'
    printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD"
  } >>"$PGDATA/pg_hba.conf"
}

process_sql() {
  local args=(--username "$POSTGRES_USER" --no-password --no-psqlrc)
  [[ -n $POSTGRES_DB ]] && args+=(--dbname "$POSTGRES_DB")
  PGHOST='' PGHOSTADDR='' psql -v ON_ERROR_STOP=1 "${args[@]}" "$@"
}

temp_server_start() {
  # only the Unix socket: nothing can connect from outside while initialising
  set -- "$@" -c listen_addresses='' -p "${PGPORT:-5432}"
  PGUSER="${PGUSER:-$POSTGRES_USER}" pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@")" -w start
}

temp_server_stop() {
  PGUSER="${PGUSER:-postgres}" pg_ctl -D "$PGDATA" -m fast -w stop
}

setup_db() {
  local exists
  # POSTGRES_DB='' for the function only: the --set expansion still sees the real name
  # shellcheck disable=SC2097,SC2098
  exists=$(POSTGRES_DB='' process_sql --dbname postgres --set db="$POSTGRES_DB" --tuples-only <<-'EOSQL'
		SELECT 1 FROM pg_database WHERE datname = :'db' ;
	EOSQL
  )
  if [[ -z $exists ]]; then
    # shellcheck disable=SC2097,SC2098
    POSTGRES_DB='' process_sql --dbname postgres --set db="$POSTGRES_DB" <<-'EOSQL'
			CREATE DATABASE :"db" ;
		EOSQL
  fi
}

process_init_files() {
  local f
  for f; do
    case $f in
      *.sh)
        if [[ -x $f ]]; then
          echo "$0: running $f"
          "$f"
        else
          echo "$0: sourcing $f"
          # shellcheck disable=SC1090
          . "$f"
        fi
        ;;
      *.sql) echo "$0: running $f"; process_sql -f "$f" ;;
      *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | process_sql ;;
      *) echo "$0: ignoring $f" ;;
    esac
  done
}

# `-flag ...` means `postgres -flag ...`
if [[ ${1:0:1} == - ]]; then
  set -- postgres "$@"
fi

if [[ $1 == postgres ]]; then
  setup_env
  create_db_directories
  if [[ $(id -u) == 0 ]]; then
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
  fi
  if [[ -z $DATABASE_ALREADY_EXISTS ]]; then
    verify_minimum_env
    ls /docker-entrypoint-initdb.d/ >/dev/null  # fail early when it is unreadable
    init_database_dir
    shift
    setup_hba_conf "$@"
    export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
    temp_server_start "$@"
    setup_db
    process_init_files /docker-entrypoint-initdb.d/*
    temp_server_stop
    unset PGPASSWORD
    set -- postgres "$@"
    echo "PostgreSQL init process complete; ready for start up."
  else
    echo "PostgreSQL Database directory appears to contain a database; Skipping initialization"
  fi
fi

exec "$@"
