#!/usr/bin/env bash
# Smoke test of the images scripts/build-images.sh makes, in a containerd of its own: imports
# them (through build-images.sh --import) and runs each with the settings the operator's pods
# give it (operator/src/build/snapshots/*minimal.snap): its uid:gid, read-only root filesystem,
# the default seccomp profile, no capabilities, no new privileges, the pod's env, command or
# args, and host directories (root-owned, group = fsGroup, setgid, as the kubelet prepares
# emptyDirs and volumes) where the pod mounts emptyDirs and volumes. Then, over loopback only:
#   postgres  the probe's pg_isready; a password login as POSTGRES_USER on a non-loopback local
#             address (scram-sha-256; a wrong password refused); POSTGRES_DB exists; the
#             initdb.d script made plpython3u (dropped and created again); a plpython function
#             imports redis; rodan-backup writes a dump; a restart reuses $PGDATA
#   rabbitmq  the probe's `rabbitmq-diagnostics -q ping`; AMQP login as RABBITMQ_DEFAULT_USER
#             opens vhost /, guest is refused; the management API on 15672 says administrator
#   redis     `--requirepass` enforced, CONFIG dir /data, protected mode off, no persistence
#   client    the web client as the operator runs it: uid 101 binding port 80 through the pod's
#             sysctl net.ipv4.ip_unprivileged_port_start=0 alone, the rendered configuration.json
#             from the snapshot mounted over the image's, emptyDirs for nginx's writes
#   nginx     the rendered nginx.conf from the snapshot: health, `/` and /configuration.json
#             from the web client, /api proxied to a stand-in API, media served through
#             X-Accel-Redirect only
#   project   each binary's --help as uid 10001 (read-only), and each imported image's config
#             (exported back from containerd) against its Dockerfile (oci.py check)
#   pause     runs as 65535
# ctr 1.6 has no --user, so each image runs from a copy whose config's User is the pod's
# runAsUser:runAsGroup (same layers; oci.py with-user), named rodan-test.local/<image>.
# Everything lives in one temp dir (containerd's root, state, socket, runc root, fifos, logs,
# volumes) and one network namespace with only loopback; containers' cgroups sit under one
# parent. All of it is removed at the end, pass or fail: containers, containerd (by pid), shims
# (by pid), mounts, the namespace, the cgroups, the dir.
#
#   scripts/test-images.sh            needs root, containerd, runc, ctr, psql, python3
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
log() { echo "test-images: $*" >&2; }
die() { echo "test-images: FAIL: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "needs root (containerd)"
for cmd in containerd ctr runc psql ip nsenter python3; do
  command -v "$cmd" >/dev/null || die "needs $cmd"
done

D=$(mktemp -d /tmp/rodan-test-images.XXXXXX)
id=$(basename "$D" | tr -c '[:alnum:]\n' '-' | tr '[:upper:]' '[:lower:]')
NETNS="$id"
CGROUP_PARENT="/$id"
sock="$D/containerd.sock"
containerd_pid=""
stub_pid=""
containers=()
run_dir_existed=false
[[ -d /run/containerd ]] && run_dir_existed=true

cleanup() {
  local rc=$? c p m hier
  set +e
  [[ -n $stub_pid ]] && kill "$stub_pid" 2>/dev/null
  for c in "${containers[@]}"; do
    ctr --address "$sock" -n k8s.io task kill -s SIGKILL "$c" >/dev/null 2>&1
  done
  sleep 0.5
  for c in "${containers[@]}"; do
    ctr --address "$sock" -n k8s.io task delete -f "$c" >/dev/null 2>&1
    ctr --address "$sock" -n k8s.io container delete "$c" >/dev/null 2>&1
  done
  if [[ -n $containerd_pid ]]; then
    kill "$containerd_pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$containerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$containerd_pid" 2>/dev/null
    wait "$containerd_pid" 2>/dev/null
  fi
  # shims started for this containerd name its socket path in their command line
  for p in $(pgrep -f "containerd-shim.*$sock" || true); do kill -9 "$p" 2>/dev/null; done
  while read -r m; do umount -l "$m" 2>/dev/null; done < <(awk -v d="$D" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r)
  for p in $(ip netns pids "$NETNS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  ip netns del "$NETNS" 2>/dev/null
  for hier in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
    [[ -d $hier$CGROUP_PARENT ]] || continue
    find "$hier$CGROUP_PARENT" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  $run_dir_existed || rmdir /run/containerd/s /run/containerd 2>/dev/null
  rm -rf "$D"
  if ((rc == 0)); then log "all checks passed; cleaned up"; else log "failed (rc $rc); cleaned up"; fi
}
trap cleanup EXIT

# --- containerd of our own ----------------------------------------------------------------------
mkdir -p "$D"/{cni,opt,runc,fifo,logs,vol}
cat >"$D/config.toml" <<EOF
version = 2
root = "$D/root"
state = "$D/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$D/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # This machine lacks CAP_SYS_RESOURCE: negative OOM score adjustments would fail containers.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$D/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
EOF
containerd --config "$D/config.toml" >"$D/containerd.log" 2>&1 &
containerd_pid=$!
for _ in $(seq 100); do ctr --address "$sock" version >/dev/null 2>&1 && break; sleep 0.1; done
ctr --address "$sock" version >/dev/null || { tail "$D/containerd.log" >&2; die "containerd did not start"; }
log "containerd $containerd_pid on $sock"

# --- import, through the build script's own --import ------------------------------------------
set_dir=$("$here/build-images.sh" --import "$sock" | tail -n 1)
log "containerd's root after the import: $(du -sm "$D/root" | cut -f1) MB (content store and unpacked snapshots)"
name_of() {  # name_of REPO: the full name of the image whose repository ends in /REPO
  awk -v r="/$1:" 'index($2, r) {print $2; exit}' "$set_dir/names.txt"
}
archive_of() { awk -v n="$1" '$2 == n {print $1; exit}' "$set_dir/names.txt"; }

# test copies that run as the pod's user
as_user() {  # as_user REPO UID:GID: imports the copy, prints its name
  local image name="rodan-test.local/$1:as-${2%%:*}"
  image=$(name_of "$1")
  [[ -n $image ]] || die "no $1 image in $set_dir/names.txt"
  python3 "$here/lib/oci.py" with-user "$set_dir/$(archive_of "$image")" --image "$image" --user "$2" \
    --name "$name" --out "$D/$1-as.tar"
  ctr --address "$sock" -n k8s.io images import "$D/$1-as.tar" >/dev/null
  rm -f "$D/$1-as.tar"
  echo "$name"
}

# --- running like a pod -------------------------------------------------------------------------
ip netns add "$NETNS"
ip netns exec "$NETNS" ip link set lo up
# A second local address: PostgreSQL trusts 127.0.0.1 (docker-library's pg_hba), so the password
# check connects from here. It is on lo, inside the namespace: nothing leaves it.
ip netns exec "$NETNS" ip addr add 192.0.2.10/32 dev lo
in_ns() { ip netns exec "$NETNS" "$@"; }

volume() {  # volume NAME GID: a directory as the kubelet makes an emptyDir or volume with fsGroup
  install -d -m 2775 -o 0 -g "$2" "$D/vol/$1"
  echo "$D/vol/$1"
}
default_caps=(CAP_CHOWN CAP_DAC_OVERRIDE CAP_FSETID CAP_FOWNER CAP_MKNOD CAP_NET_RAW CAP_SETGID
  CAP_SETUID CAP_SETFCAP CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_SYS_CHROOT CAP_KILL CAP_AUDIT_WRITE)
pod_flags() {  # the securityContext every pod of the operator has
  local c
  printf -- '--read-only\n--seccomp\n--runc-root\n%s\n--fifo-dir\n%s\n' "$D/runc" "$D/fifo"
  printf -- '--with-ns\nnetwork:/run/netns/%s\n' "$NETNS"
  for c in "${default_caps[@]}"; do printf -- '--cap-drop\n%s\n' "$c"; done
}
mapfile -t POD < <(pod_flags)
start() {  # start ID IMAGE [ctr run flags...] -- [args...]: a detached container
  local cid=$1 image=$2
  shift 2
  containers+=("$cid")
  local flags=()
  while (($#)) && [[ $1 != -- ]]; do flags+=("$1"); shift; done
  (($#)) && shift
  ctr --address "$sock" -n k8s.io run -d "${POD[@]}" --cgroup "$CGROUP_PARENT/$cid" \
    --log-uri "file://$D/logs/$cid.log" "${flags[@]}" "$image" "$cid" "$@" >/dev/null
}
execn=0
exec_in() {  # exec_in ID CMD...: like a kubelet exec probe (the container's env and user)
  execn=$((execn + 1))
  ctr --address "$sock" -n k8s.io task exec --fifo-dir "$D/fifo" --exec-id "probe$execn" "$@"
}
wait_for() {  # wait_for SECONDS ID CMD...: until the exec succeeds
  local secs=$1 cid=$2 i
  shift 2
  for ((i = 0; i < secs * 2; i++)); do
    exec_in "$cid" "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "--- $cid log:" >&2
  tail -n 30 "$D/logs/$cid.log" >&2
  die "$cid: '$*' did not succeed within ${secs}s"
}
stop() {  # stop ID [SIGNAL]: the kubelet's stop: the signal, then wait for the exit
  ctr --address "$sock" -n k8s.io task kill -s "${2:-SIGTERM}" "$1" >/dev/null
  for _ in $(seq 100); do
    ctr --address "$sock" -n k8s.io task ls | awk -v c="$1" '$1 == c {print $3}' | grep -q RUNNING || break
    sleep 0.2
  done
  ctr --address "$sock" -n k8s.io task delete "$1" >/dev/null
  ctr --address "$sock" -n k8s.io container delete "$1" >/dev/null
}
confined() {  # confined ID UID: the process runs as UID, no capabilities, no_new_privs, seccomp
  local status
  status=$(exec_in "$1" cat /proc/1/status)
  grep -Eq "^Uid:\s+$2\s" <<<"$status" || die "$1: not uid $2: $(grep ^Uid <<<"$status")"
  grep -Eq '^CapEff:\s+0+$' <<<"$status" || die "$1: has capabilities: $(grep ^CapEff <<<"$status")"
  grep -Eq '^NoNewPrivs:\s+1$' <<<"$status" || die "$1: may gain privileges"
  grep -Eq '^Seccomp:\s+2$' <<<"$status" || die "$1: no seccomp filter"
  exec_in "$1" sh -c 'touch /rootfs-write-test' 2>/dev/null && die "$1: the root filesystem is writable"
  log "$1: uid $2, CapEff 0, NoNewPrivs, seccomp, read-only root"
}

pw="p$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
t_start=$(date +%s)

# --- postgres -----------------------------------------------------------------------------------
log "postgres"
pg_image=$(as_user rodan-postgres-plpython 999:999)
pg_data=$(volume pg-data 999)
pg_flags=(--env POSTGRES_USER=rodan --env "POSTGRES_PASSWORD=$pw" --env POSTGRES_DB=rodan
  --env PGDATA=/var/lib/postgresql/data/pgdata
  --mount "type=bind,src=$pg_data,dst=/var/lib/postgresql/data,options=rbind:rw"
  --mount "type=bind,src=$(volume pg-run 999),dst=/var/run/postgresql,options=rbind:rw"
  --mount "type=bind,src=$(volume pg-tmp 999),dst=/tmp,options=rbind:rw")
# shellcheck disable=SC2016 # expanded in the container, as the operator's probe is
pg_probe=(sh -c 'exec pg_isready -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"')
start pg "$pg_image" "${pg_flags[@]}"
wait_for 60 pg "${pg_probe[@]}"
confined pg 999
grep -q 'PostgreSQL init process complete' "$D/logs/pg.log" || die "postgres: no init on an empty PGDATA"
psql_as() { in_ns env PGPASSWORD="$1" PGCONNECT_TIMEOUT=5 psql -X -q -tA -v ON_ERROR_STOP=1 "host=192.0.2.10 user=rodan dbname=rodan" "${@:2}"; }
[[ $(psql_as "$pw" -c 'select current_user, current_database()') == "rodan|rodan" ]] || die "postgres: password login"
psql_as "$pw-wrong" -c 'select 1' 2>"$D/pg-wrong.err" && die "postgres: a wrong password was accepted"
grep -q 'password authentication failed' "$D/pg-wrong.err" || die "postgres: wrong password: $(cat "$D/pg-wrong.err")"
[[ $(psql_as "$pw" -c "select rolpassword like 'SCRAM-SHA-256\$%' from pg_authid where rolname = 'rodan'") == t ]] ||
  die "postgres: the password is not stored as SCRAM"
[[ $(psql_as "$pw" -c 'show listen_addresses') == '*' ]] || die "postgres: listen_addresses"
# the stand-in leaves out the LLVM JIT (build-images.sh): the server must know it has none
[[ $(psql_as "$pw" -c 'select pg_jit_available()') == f ]] || die "postgres: JIT provider present"
[[ $(psql_as "$pw" -c "select count(*) from pg_extension where extname = 'plpython3u'") == 1 ]] ||
  die "postgres: initdb.d/10-plpython.sql did not run"
psql_as "$pw" -c 'DROP EXTENSION plpython3u' -c 'CREATE EXTENSION plpython3u' ||
  die "postgres: CREATE EXTENSION plpython3u"
py=$(psql_as "$pw" -c 'CREATE FUNCTION rodan_py() RETURNS text AS $$
import sys, redis
return "python %d.%d, redis %s" % (sys.version_info[0], sys.version_info[1], redis.__version__)
$$ LANGUAGE plpython3u' -c 'select rodan_py()')
[[ $py == python\ 3.* ]] || die "postgres: plpython function: $py"
log "postgres: password login (scram-sha-256), wrong password refused, plpython3u: $py"
exec_in pg env PGHOST=127.0.0.1 BACKUP_DIR=/tmp rodan-backup >/dev/null || die "postgres: rodan-backup"
exec_in pg sh -c 'ls /tmp/rodan-*.dump' >/dev/null || die "postgres: no dump written"
stop pg SIGINT
start pg "$pg_image" "${pg_flags[@]}"
wait_for 60 pg "${pg_probe[@]}"
grep -q 'Skipping initialization' "$D/logs/pg.log" || die "postgres: the restart initialised again"
[[ $(psql_as "$pw" -c 'select rodan_py() is not null') == t ]] || die "postgres: data lost over a restart"
log "postgres: rodan-backup wrote a dump; restarted on the same PGDATA without initialising"
stop pg SIGINT

# --- rabbitmq -----------------------------------------------------------------------------------
log "rabbitmq"
start rmq "$(as_user rabbitmq 999:999)" --env RABBITMQ_DEFAULT_USER=rodan --env "RABBITMQ_DEFAULT_PASS=$pw" \
  --env RABBITMQ_NODENAME=rabbit@localhost \
  --mount "type=bind,src=$(volume rmq-data 999),dst=/var/lib/rabbitmq,options=rbind:rw" \
  --mount "type=bind,src=$(volume rmq-log 999),dst=/var/log/rabbitmq,options=rbind:rw" \
  --mount "type=bind,src=$(volume rmq-tmp 999),dst=/tmp,options=rbind:rw"
wait_for 90 rmq rabbitmq-diagnostics -q ping
wait_for 90 rmq rabbitmqctl -q await_startup
confined rmq 999
smoke() { in_ns python3 "$here/lib/smoke.py" "$@" >&2; }
smoke amqp 127.0.0.1 5672 rodan "$pw"
smoke amqp 127.0.0.1 5672 guest guest --refused
smoke http http://127.0.0.1:15672/api/whoami --auth "rodan:$pw" --status 200 --body administrator
smoke http http://127.0.0.1:15672/api/permissions/%2F/rodan --auth "rodan:$pw" --status 200 --body '"configure":".*"'
smoke http http://127.0.0.1:15672/api/whoami --auth guest:guest --status 401
exec_in rmq rabbitmqctl -q environment | grep -q '{loopback_users,\[\]}' ||
  die "rabbitmq: /etc/rabbitmq/conf.d/10-defaults.conf not applied"
stop rmq

# --- redis --------------------------------------------------------------------------------------
log "redis"
# the pod gives args only: the image's entrypoint, then them (what the kubelet runs)
start redis "$(as_user redis 999:999)" --env "REDIS_PASSWORD=$pw" \
  --mount "type=bind,src=$(volume redis-data 999),dst=/data,options=rbind:rw" -- \
  docker-entrypoint.sh --save "" --appendonly no --requirepass "$pw"
for _ in $(seq 40); do in_ns python3 -c 'import socket; socket.create_connection(("192.0.2.10", 6379), 1)' 2>/dev/null && break; sleep 0.25; done
confined redis 999
smoke redis 192.0.2.10 6379 "$pw"
stop redis

# --- the web client -----------------------------------------------------------------------------
snap="$root/operator/src/build/snapshots/rodan_operator__build__tests__minimal.snap"
from_snap() {  # from_snap KEY OUT: a ConfigMap's data KEY in the snapshot, written to OUT
  python3 - "$snap" "$1" "$2" <<'PY'
import json, re, sys
snap = open(sys.argv[1]).read()
m = re.search(r'^    ' + re.escape(sys.argv[2]) + r': (".*")$', snap, re.M)  # YAML double-quoted, JSON-compatible here
open(sys.argv[3], "w").write(json.loads(m.group(1)))
PY
}
log "client"
mkdir -p "$D/client-conf"
from_snap configuration.json "$D/client-conf/configuration.json"
server_host=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["SERVER_HOST"])' "$D/client-conf/configuration.json")
chmod -R a+rX "$D/client-conf"
# The pod's sysctl: the kubelet sets it in the pod's network namespace. Port 80 with no capability.
in_ns sysctl -qw net.ipv4.ip_unprivileged_port_start=0
start client "$(as_user rodan-client 101:101)" \
  --mount "type=bind,src=$D/client-conf/configuration.json,dst=/client/configuration.json,options=rbind:ro" \
  --mount "type=bind,src=$(volume client-cache 101),dst=/var/cache/nginx,options=rbind:rw" \
  --mount "type=bind,src=$(volume client-run 101),dst=/run,options=rbind:rw" \
  --mount "type=bind,src=$(volume client-tmp 101),dst=/tmp,options=rbind:rw" -- \
  /docker-entrypoint.sh nginx  # the pod gives args only: the image's entrypoint, then them
for _ in $(seq 40); do smoke http http://127.0.0.1:80/ --status 200 2>/dev/null && break; sleep 0.25; done
confined client 101
smoke http http://127.0.0.1:80/ --status 200 --body '<title>Rodan Client</title>'
smoke http http://127.0.0.1:80/rodan_client.min.js --status 200 --body 'SocketUpdater'
smoke http http://127.0.0.1:80/configuration.json --status 200 --body "\"SERVER_HOST\": \"$server_host\""

# --- nginx --------------------------------------------------------------------------------------
log "nginx"
mkdir -p "$D/nginx-conf" "$D/media"
from_snap nginx.conf "$D/nginx-conf/nginx.conf"
upstream=$(sed -n 's/^ *server \([a-z0-9-]*\):8000;/\1/p' "$D/nginx-conf/nginx.conf")
[[ -n $upstream ]] || die "nginx: no API upstream in the rendered config"
client_upstream=$(sed -n 's/^ *server \([a-z0-9-]*\):80;/\1/p' "$D/nginx-conf/nginx.conf")
[[ -n $client_upstream ]] || die "nginx: no web client upstream in the rendered config"
printf '127.0.0.1\tlocalhost %s %s\n' "$upstream" "$client_upstream" >"$D/hosts"  # the kubelet writes /etc/hosts too
echo "a page scan" >"$D/media/page.txt"
chmod -R a+rX "$D/nginx-conf" "$D/media" "$D/hosts"
# nsenter execs the server itself (ip netns exec would leave it behind a wrapper's pid)
nsenter --net="/run/netns/$NETNS" python3 "$here/lib/smoke.py" stub-api 8000 &
stub_pid=$!
start web "$(as_user nginx 101:101)" \
  --mount "type=bind,src=$D/nginx-conf,dst=/etc/rodan-nginx,options=rbind:ro" \
  --mount "type=bind,src=$D/media,dst=/rodan/data,options=rbind:ro" \
  --mount "type=bind,src=$(volume web-tmp 101),dst=/tmp,options=rbind:rw" \
  --mount "type=bind,src=$(volume web-cache 101),dst=/var/cache/nginx,options=rbind:rw" \
  --mount "type=bind,src=$D/hosts,dst=/etc/hosts,options=rbind:ro" -- \
  nginx -c /etc/rodan-nginx/nginx.conf -g 'daemon off;'
for _ in $(seq 40); do smoke http http://127.0.0.1:8080/nginx-health --status 200 2>/dev/null && break; sleep 0.25; done
confined web 101
smoke http http://127.0.0.1:8080/nginx-health --status 200 --body ok
smoke http http://127.0.0.1:8080/ --status 200 --body '<title>Rodan Client</title>'
smoke http http://127.0.0.1:8080/configuration.json --status 200 --body "\"SERVER_HOST\": \"$server_host\""
smoke http http://127.0.0.1:8080/api/projects/ --status 200 --body '"stub": "rodan-api"'
smoke http http://127.0.0.1:8080/uploads/page.txt --status 200 --body "a page scan"
smoke http http://127.0.0.1:8080/_media/page.txt --status 404
stop web SIGQUIT
stop client SIGQUIT
kill "$stub_pid"
stub_pid=""

# --- the project's images -----------------------------------------------------------------------
log "project images"
for slug in rodan-operator rodan-api-server rodan-worker rodan-worker-gpu; do
  bin=/usr/local/bin/${slug%-gpu}
  img=$(as_user "$slug" 10001:10001)
  cid="${slug#rodan-}-help"
  containers+=("$cid")
  out=$(ctr --address "$sock" -n k8s.io run --rm "${POD[@]}" --cgroup "$CGROUP_PARENT/$cid" \
    --mount "type=bind,src=$(volume "$cid-tmp" 10001),dst=/tmp,options=rbind:rw" "$img" "$cid" "$bin" --help 2>&1) ||
    die "$slug: --help as 10001 failed: $out"
  grep -q 'Usage' <<<"$out" || die "$slug: --help printed no usage: $out"
  log "$slug: --help ran as 10001 on a read-only root"
done
while read -r _ name; do
  repo=${name%:*}
  repo=${repo##*/}
  case $repo in rodan-operator | rodan-api-server | rodan-worker | rodan-worker-gpu) ;; *) continue ;; esac
  dockerfile="$root/Dockerfile.${repo#rodan-}"
  ctr --address "$sock" -n k8s.io images export "$D/export.tar" "$name"
  python3 "$here/lib/oci.py" check "$D/export.tar" --dockerfile "${dockerfile%-gpu}" \
    --spec "$root/images/stand-ins/distroless-cc/spec.json"
  rm -f "$D/export.tar"
done <"$set_dir/names.txt"
log "imported project images match their Dockerfiles"

# --- pause --------------------------------------------------------------------------------------
start pause "$(name_of pause)"
sleep 0.5
ctr --address "$sock" -n k8s.io task ls | awk '$1 == "pause" {print $3}' | grep -q RUNNING || die "pause is not running"
confined_pause=$(ctr --address "$sock" -n k8s.io task ls | awk '$1 == "pause" {print $2}')
grep -Eq '^Uid:\s+65535\s' "/proc/$confined_pause/status" || die "pause: not uid 65535"
stop pause
log "pause runs as 65535"

log "smoke test: $(($(date +%s) - t_start)) s after the import"
