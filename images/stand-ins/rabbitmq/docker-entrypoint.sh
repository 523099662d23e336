#!/bin/sh
# docker-entrypoint.sh of the RabbitMQ stand-in (Debian's rabbitmq-server 3.10): what the
# docker-library rabbitmq image's entrypoint does that the operator relies on. RabbitMQ itself
# creates the default user from RABBITMQ_DEFAULT_USER/RABBITMQ_DEFAULT_PASS (administrator, all
# permissions on vhost /, no guest user) on a fresh node, so nothing is needed for that here.
#   - `-flags...` means `rabbitmq-server -flags...`;
#   - RABBITMQ_ERLANG_COOKIE, when set, becomes $HOME/.erlang.cookie (deprecated upstream, kept);
#   - started as root: hand /var/lib/rabbitmq and /var/log/rabbitmq and itself to `rabbitmq`.
# rabbitmq-server is Debian's /usr/lib/rabbitmq/bin one (first on PATH), not the /usr/sbin
# wrapper, which sends the log to /var/log/rabbitmq/startup_log instead of stdout.
set -e

case "$1" in
  -*) set -- rabbitmq-server "$@" ;;
esac

if [ "$1" = rabbitmq-server ] && [ "$(id -u)" = 0 ]; then
  find /var/lib/rabbitmq /var/log/rabbitmq \! -user rabbitmq -exec chown rabbitmq:rabbitmq '{}' +
  exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "$0" "$@"
fi

if [ -n "${RABBITMQ_ERLANG_COOKIE:-}" ]; then
  cookie="${HOME:-/var/lib/rabbitmq}/.erlang.cookie"
  if [ ! -e "$cookie" ] || [ "$(cat "$cookie")" != "$RABBITMQ_ERLANG_COOKIE" ]; then
    umask 077
    printf '%s' "$RABBITMQ_ERLANG_COOKIE" >"$cookie"
  fi
fi

exec "$@"
