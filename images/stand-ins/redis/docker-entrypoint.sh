#!/bin/sh
# docker-entrypoint.sh of the Redis stand-in (Debian's redis-server 7.0): the docker-library
# redis image's entrypoint contract, which the operator's Deployment relies on (it gives only
# args: `--save "" --appendonly no --requirepass ...`).
#   - a first argument that starts with `-` or ends in `.conf` means `redis-server "$@"`;
#   - redis-server runs with protected mode off, as docker-library builds it, and Redis's
#     compiled-in default `bind * -::*` (all addresses; Debian's /etc/redis/redis.conf, which
#     binds loopback only, is not used); later arguments still override both;
#   - started as root: hand the working directory (/data) and itself over to `redis`.
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi

if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "$1" = redis-server ]; then
  shift
  # a configuration file must stay the first argument
  if [ "${1%.conf}" != "$1" ]; then
    conf=$1
    shift
    set -- redis-server "$conf" --protected-mode no "$@"
  else
    set -- redis-server --protected-mode no "$@"
  fi
  # docker-library sets a private umask unless one was chosen (redis/redis#305: dumps and logs)
  um=$(umask)
  [ "$um" = 0022 ] && umask 0077
fi

exec "$@"
