#!/bin/sh
# /docker-entrypoint.sh of the nginx stand-in (Debian's nginx-light 1.22). The operator's pod
# gives its own command (`nginx -c /etc/rodan-nginx/nginx.conf -g 'daemon off;'`), which
# bypasses this; for `nginx ...` it runs /docker-entrypoint.d/*.sh first, as docker-library's
# entrypoint does, then execs the command.
set -e

if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
  for f in /docker-entrypoint.d/*.sh; do
    [ -x "$f" ] || continue
    echo "$0: running $f"
    "$f"
  done
fi

exec "$@"
