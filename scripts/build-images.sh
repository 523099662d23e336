#!/usr/bin/env bash
# Builds, without a Docker engine, every container image the operator's defaults name, as OCI
# image archives, and optionally imports them into containerd's k8s.io namespace (where the
# kubelet finds them: they carry version tags, so it never pulls them).
#
#   scripts/build-images.sh [--import <containerd grpc socket>] [--tag <extra version tag>]...
#
# The last line on stdout is the directory holding the archives (rodan.tar, services.tar,
# pause.tar) and names.txt (`<archive> <image name>` per line); logs go to stderr. --tag
# (repeatable, or comma-separated) also names every project image <repo>:<tag>: the "second
# build" an upgrade test moves `spec.version` to (the same bytes under a second name).
#
# The images, and where their names come from (read from these files here, not repeated):
#   rodan.tar, release binaries from the host's cargo on a slim Debian base standing in for
#   gcr.io/distroless/cc-debian12:nonroot, with the LABEL, USER, EXPOSE, ENTRYPOINT and CMD of
#   Dockerfile.<name>'s final stage (parsed by scripts/lib/oci.py, then checked on the archive):
#     <values.yaml image.repository>:<Chart.yaml appVersion>  ghcr.io/ddmal/rodan-operator:0.1.0
#     <release.rs IMAGE_REPOSITORY>/rodan-api-server:<version>
#     .../rodan-worker:<version> and .../rodan-worker-gpu:<version>: one image under two names
#       (the test node has no GPU, and a GPU worker without one runs its jobs on the CPU, as
#       this build does; Dockerfile.worker-gpu builds the CUDA one, with NVRTC)
#     <version>: the workspace Cargo.toml's, which is the operator's DEFAULT_VERSION and so
#     RODAN_VERSION's default.
#   services.tar, stand-ins built from Debian bookworm's packages that keep the contracts of
#   the docker-library images the operator relies on (uids, entrypoint behaviour, environment;
#   see images/stand-ins/*/spec.json and the entrypoint shims beside them):
#     backing.rs POSTGRES_IMAGE (ghcr.io/ddmal/rodan-postgres-plpython:15, with what
#     images/postgres-plpython/Dockerfile adds), RABBITMQ_IMAGE, REDIS_IMAGE; web.rs NGINX_IMAGE;
#     client.rs CLIENT_IMAGE (docker.io/ddmal/rodan-client:v3.1.0): nginx serving upstream's
#     built web client, whose files come from ${RODAN_SHARED_DIR:-../shared}/fixtures/rodan-client.
#   pause.tar, registry.k8s.io/pause:3.10: pause.c of the k8s.io/kubernetes module (Go module
#     proxy), gcc -Os -static, stripped, configured by that module's build/pause/Dockerfile.
#
# Why this shape. Root filesystems come from mmdebstrap, one tar per package list, and each tar
# is used as it is as the images' bottom layer (uncompressed: its digest is its diff_id, nothing
# is compressed or unpacked here). Two bases serve all ten names:
#   - slim (22 MB): libc6 and libgcc-s1 (all that `ldd` finds in the binaries; checked on every
#     run), ca-certificates, tzdata, netbase, extracted without maintainer scripts as distroless
#     is made;
#   - services (315 MB): PostgreSQL 15 with plpython3u and python3-redis, RabbitMQ 3.10, Redis
#     7.0, nginx-light 1.22, procps.
# Each image is a base plus one small top layer of its own (passwd/group entries, an entrypoint
# shim, configuration, or the binary). containerd stores and unpacks a base once however many
# images share it; a change to a shim or a binary rewrites kilobytes to megabytes, never a base;
# one mmdebstrap run serves four services instead of four runs over mostly the same packages
# (libc, perl, python). Images that share a base share an archive, where the base is stored
# once: containerd's importer reads every blob of an archive before it can tell it already has
# it, so one archive per image would read the services base four times per import.
#
# Cache, outside the repository: ${RODAN_CACHE:-~/.cache/rodan}/images/
#   rootfs/<base>-<hash of the mmdebstrap command>.tar   (+ .json: digest, directories, libs)
#   pause/pause-<hash of pause.c, gcc's version and the flags>
#   oci/<archive>-<hash of its index.json>.tar    the index names each manifest, whose digest
#                                                 covers layers and config: same inputs, same file
#   sets/<hash of the archives>/                  what a run printed: links, names.txt
# A second run with the same inputs only hashes the binaries and the small layers (seconds).
# Debian updates are not noticed (the key is the package list): remove rootfs/ to take them.
# Sets beyond the newest three, and archives and bases none of them uses, go after an hour.
#
# Needs: mmdebstrap, python3, cargo, go (for the pause source), gcc with a static libc, ldd,
# flock; root (mmdebstrap's root mode; otherwise it needs user namespaces), and ctr for --import.
# scripts/test-images.sh runs every image in a containerd of its own and checks its contract.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
stand_ins="$root/images/stand-ins"

log() { echo "build-images: $*" >&2; }
die() { echo "build-images: error: $*" >&2; exit 1; }
oci() { python3 "$here/lib/oci.py" "$@"; }
usage() { sed -n '6,11p' "$0" | sed 's/^# \{0,1\}//' >&2; }

import_sock=""
extra_tags=()
while (($#)); do
  case $1 in
    --import) import_sock=${2:?--import needs a socket path}; shift 2 ;;
    --import=*) import_sock=${1#*=}; shift ;;
    --tag) IFS=', ' read -ra t <<<"${2:?--tag needs a tag}"; extra_tags+=("${t[@]}"); shift 2 ;;
    --tag=*) IFS=', ' read -ra t <<<"${1#*=}"; extra_tags+=("${t[@]}"); shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage; die "unknown argument: $1" ;;
  esac
done
if [[ -n $import_sock && ! -S $import_sock ]]; then die "--import $import_sock: not a socket"; fi

CACHE="${RODAN_CACHE:-$HOME/.cache/rodan}/images"
MIRROR="${RODAN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
PAUSE_MODULE_VERSION=v1.34.4  # k8s.io/kubernetes, whose build/pause/ is the pause image's source
PAUSE_IMAGE=registry.k8s.io/pause:3.10
mkdir -p "$CACHE"/{rootfs,pause,oci,sets}

# Timing: every stage logs its wall time; the summary repeats them.
now_ms() { local us=${EPOCHREALTIME/[.,]/}; echo $((us / 1000)); }
timings=()
started=$(now_ms)
stage_start() { stage_t0=$(now_ms); }
stage_done() {
  local ms=$(($(now_ms) - stage_t0))
  timings+=("$(printf '%-34s %6d.%01d s' "$1" $((ms / 1000)) $((ms % 1000 / 100)))")
  log "$(printf '%s: %d.%01d s' "$1" $((ms / 1000)) $((ms % 1000 / 100)))"
}

# --- Names, read from where the operator and the chart define them ----------------------------
const() {  # const FILE NAME: the string value of `const NAME: &str = "...";`
  local v
  v=$(sed -n "s/.*const $2: &str = \"\\(.*\\)\";.*/\\1/p" "$root/$1")
  [[ -n $v ]] || die "no $2 in $1"
  echo "$v"
}
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml")
[[ -n $version ]] || die "no [workspace.package] version in Cargo.toml"
registry=$(const operator/src/build/release.rs IMAGE_REPOSITORY)
operator_repo=$(sed -n '/^image:/,/^[^ ]/s/^  repository: *\([^ #]*\).*/\1/p' "$root/charts/rodan-operator/values.yaml")
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/charts/rodan-operator/Chart.yaml")
[[ -n $operator_repo && -n $app_version ]] || die "no image.repository or appVersion in charts/rodan-operator"
[[ $app_version == "$version" ]] || log "warning: chart appVersion $app_version differs from the workspace version $version"
postgres_image=$(const operator/src/build/backing.rs POSTGRES_IMAGE)
rabbitmq_image=$(const operator/src/build/backing.rs RABBITMQ_IMAGE)
redis_image=$(const operator/src/build/backing.rs REDIS_IMAGE)
nginx_image=$(const operator/src/build/web.rs NGINX_IMAGE)
client_image=$(const operator/src/build/client.rs CLIENT_IMAGE)
# The built web client (upstream's, a fixture): shared/ beside the repository unless
# RODAN_SHARED_DIR says where.
client_dir="${RODAN_SHARED_DIR:-$root/../shared}/fixtures/rodan-client"
[[ -f $client_dir/index.html && -f $client_dir/rodan_client.min.js ]] ||
  die "no built web client in $client_dir (set RODAN_SHARED_DIR)"

names() {  # names TAG REPO...: REPO:TAG and REPO:<each extra tag>, as --name arguments
  local repo tag tags=("$1")
  shift
  for tag in "${extra_tags[@]}"; do [[ " ${tags[*]} " == *" $tag "* ]] || tags+=("$tag"); done
  for repo; do for tag in "${tags[@]}"; do printf -- '--name\n%s:%s\n' "$repo" "$tag"; done; done
}

# One build at a time per cache (a second one waits, then finds everything built).
exec 9>"$CACHE/.lock"
flock 9

# --- Root filesystems ---------------------------------------------------------------------------
# Debian's doc, man, info and locale files are left out (copyright files kept), as in Debian's
# own slim images. dpkg's path-exclude takes one glob per option: a brace list is not expanded.
# The binaries need libc6 and libgcc-s1 only (ldd; need-libs below checks it on every run);
# libssl3 and openssl come with ca-certificates, as distroless cc has them too.
slim_packages=(libc6 libgcc-s1 ca-certificates tzdata netbase)
# shellcheck disable=SC2016 # the hooks' "$1" (the root directory) is expanded by mmdebstrap's sh
slim_args=(
  --variant=extract --include="$(IFS=,; echo "${slim_packages[*]}")"
  # extract runs no maintainer scripts and no customize hooks, and ignores dpkg options
  # (distroless is made the same way), so the extract hook does their work: the bundle of
  # every certificate ca-certificates ships (what its postinst assembles), no documentation
  --extract-hook='cd "$1" && find usr/share/ca-certificates -name "*.crt" | LC_ALL=C sort | xargs awk 1 > etc/ssl/certs/ca-certificates.crt'
  --extract-hook='cd "$1" && find usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete && find usr/share/man usr/share/info usr/share/locale usr/share/lintian -mindepth 1 -delete 2>/dev/null || true'
  --extract-hook='rm -f "$1/etc/resolv.conf" "$1/etc/hostname"'
)
services_packages=(postgresql-15 postgresql-plpython3-15 python3-redis rabbitmq-server redis-server
  nginx-light procps ca-certificates netbase tzdata)
# shellcheck disable=SC2016
services_args=(
  --variant=essential --include="$(IFS=,; echo "${services_packages[*]}")"
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*'
  # PostgreSQL's LLVM JIT (libLLVM and libz3 alone are 128 MB). Without llvmjit.so the server
  # leaves JIT off by itself (jit.c checks the provider library exists), which docker-library's
  # image would only do on `jit = off`; nothing else in the list links them.
  --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/libLLVM-*'
  --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/libz3.so*'
  --dpkgopt='path-exclude=/usr/lib/postgresql/15/lib/llvmjit*'
  --dpkgopt='path-exclude=/usr/lib/postgresql/15/lib/bitcode/*'
  # no cluster at install time: the entrypoint makes one in $PGDATA (docker-library does this)
  --essential-hook='mkdir -p "$1/etc/postgresql-common/createcluster.d" && echo "create_main_cluster = false" > "$1/etc/postgresql-common/createcluster.d/inhibit-main-cluster.conf"'
  --customize-hook='rm -f "$1/etc/resolv.conf" "$1/etc/hostname"'
)
mmdebstrap_version=$(mmdebstrap --version)
rootfs_path() {  # rootfs_path NAME ARGS...: the cache path for that mmdebstrap command
  local name=$1 key
  shift
  key=$(printf '%s\0' "$mmdebstrap_version" "$SUITE" "$MIRROR" "$@" | sha256sum | cut -c1-16)
  echo "$CACHE/rootfs/$name-$key.tar"
}
build_rootfs() {  # build_rootfs PATH ARGS...
  local out=$1 t0
  shift
  t0=$(now_ms)
  log "mmdebstrap $(basename "$out" .tar) (log: $out.log)"
  if ! mmdebstrap --format=tar "$@" "$SUITE" "$out.tmp" "$MIRROR" >"$out.log" 2>&1; then
    tail -n 20 "$out.log" >&2
    rm -f "$out.tmp"
    die "mmdebstrap of $(basename "$out") failed"
  fi
  mv "$out.tmp" "$out"
  log "mmdebstrap $(basename "$out" .tar): $((($(now_ms) - t0) / 1000)) s, $(du -m "$out" | cut -f1) MB"
}
slim_tar=$(rootfs_path slim "${slim_args[@]}")
services_tar=$(rootfs_path services "${services_args[@]}")

# The base builds (mostly downloads and dpkg) run while cargo compiles.
bg=()
trap 'for p in "${bg[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
stage_start
[[ -f $slim_tar ]] || { build_rootfs "$slim_tar" "${slim_args[@]}" & bg+=($!); }
[[ -f $services_tar ]] || { build_rootfs "$services_tar" "${services_args[@]}" & bg+=($!); }

# --- The project's binaries ---------------------------------------------------------------------
target_dir=${CARGO_TARGET_DIR:-$root/target}
cargo_t0=$(now_ms)
log "cargo build --release (operator, api-server, worker)"
(cd "$root" && cargo build --release --locked -p rodan-operator -p rodan-api-server -p rodan-worker) >&2
cargo_ms=$(($(now_ms) - cargo_t0))
timings+=("$(printf '%-34s %6d.%01d s' "cargo build --release" $((cargo_ms / 1000)) $((cargo_ms % 1000 / 100)))")
for p in "${bg[@]}"; do wait "$p" || die "a base build failed"; done
bg=()
stage_done "bases + cargo (in parallel)"

stage_start
oci layer-info "$slim_tar" >/dev/null
oci layer-info "$services_tar" >/dev/null
bin() { echo "$target_dir/release/rodan-$1"; }
oci need-libs --layer "$slim_tar" "$(bin operator)" "$(bin api-server)" "$(bin worker)"
stage_done "base digests, library check"

# --- pause --------------------------------------------------------------------------------------
stage_start
pause_dir=$(cd /tmp && go mod download -json "k8s.io/kubernetes@$PAUSE_MODULE_VERSION" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
pause_src="$pause_dir/build/pause/linux/pause.c"
[[ -f $pause_src ]] || die "no build/pause/linux/pause.c in k8s.io/kubernetes@$PAUSE_MODULE_VERSION"
pause_flags=(-Os -Wall -Werror -static "-DVERSION=v${PAUSE_IMAGE##*:}-$PAUSE_MODULE_VERSION")
pause_key=$( { cat "$pause_src"; gcc --version; printf '%s\0' "${pause_flags[@]}"; } | sha256sum | cut -c1-16)
pause_bin="$CACHE/pause/pause-$pause_key"
if [[ ! -x $pause_bin ]]; then
  gcc "${pause_flags[@]}" -o "$pause_bin.tmp" "$pause_src"
  strip "$pause_bin.tmp"
  mv "$pause_bin.tmp" "$pause_bin"
fi
stage_done "pause (gcc -static)"

# --- Archives: one per base, so that an import reads each base once ------------------------------
# (containerd's importer cannot tell a blob is already stored before reading it, so four
# archives each carrying the 300 MB services base cost three extra reads of it on every import.)
archives=()     # SLUG=PATH
image_names=()  # "SLUG.tar NAME", one line per name: names.txt, the import check
build_archive() {  # build_archive SLUG --image ARGS... [--image ARGS...]: writes or finds it
  local slug=$1 t0 path prev=""
  shift
  t0=$(now_ms)
  path=$(oci build --slug "$slug" --out-dir "$CACHE/oci" "$@")
  archives+=("$slug=$path")
  for arg; do
    [[ $prev == --name ]] && image_names+=("$slug.tar $arg")
    prev=$arg
  done
  log "$(printf '%-9s %5d ms  %s' "$slug" $(($(now_ms) - t0)) "$(basename "$path")")"
}
project_spec="$stand_ins/distroless-cc/spec.json"
project_image() {  # project_image NAME REPO...: the --image arguments of a project image
  printf -- '--image\n--layer\n%s\n--spec\n%s\n--dockerfile\n%s\n--file\n/usr/local/bin/rodan-%s=%s\n' \
    "$slim_tar" "$project_spec" "$root/Dockerfile.$1" "$1" "$(bin "$1")"
  local tag=$version
  [[ $1 == operator ]] && tag=$app_version
  shift
  names "$tag" "$@"
}
stage_start
mapfile -t rodan_args < <(
  project_image operator "$operator_repo"
  project_image api-server "$registry/rodan-api-server"
  # The GPU queue's image is the CPU worker under a second name: the node has no GPU.
  project_image worker "$registry/rodan-worker" "$registry/rodan-worker-gpu"
)
build_archive rodan "${rodan_args[@]}"
service() { printf -- '--image\n--layer\n%s\n--spec\n%s\n--name\n%s\n' "$services_tar" "$stand_ins/$1/spec.json" "$2"; }
client_files() {  # the --file arguments that put the built client under /client, as upstream's image
  local f
  while IFS= read -r -d '' f; do
    printf -- '--file\n/client/%s=%s\n' "${f#"$client_dir"/}" "$f"
  done < <(find "$client_dir" -type f ! -path "$client_dir/README.md" -print0 | LC_ALL=C sort -z)
}
mapfile -t services_args < <(
  service postgres "$postgres_image"
  service rabbitmq "$rabbitmq_image"
  service redis "$redis_image"
  service nginx "$nginx_image"
  service rodan-client "$client_image"
  client_files
)
build_archive services "${services_args[@]}"
build_archive pause --image --name "$PAUSE_IMAGE" --dockerfile "$pause_dir/build/pause/Dockerfile" --file "/pause=$pause_bin"
stage_done "archives (oci.py build)"

# --- Checks: every image against its Dockerfile and spec ----------------------------------------
stage_start
archive_of() { local a; for a in "${archives[@]}"; do [[ ${a%%=*} == "$1" ]] && echo "${a#*=}"; done; }
for name in operator api-server worker; do
  mapfile -t n < <(names "$version" "$registry/rodan-$name")
  [[ $name == worker ]] && mapfile -t n < <(names "$version" "$registry/rodan-worker" "$registry/rodan-worker-gpu")
  [[ $name == operator ]] && mapfile -t n < <(names "$app_version" "$operator_repo")
  oci check "$(archive_of rodan)" --dockerfile "$root/Dockerfile.$name" --spec "$project_spec" "${n[@]}"
done
oci check "$(archive_of services)" --spec "$stand_ins/postgres/spec.json" --name "$postgres_image"
oci check "$(archive_of services)" --spec "$stand_ins/rabbitmq/spec.json" --name "$rabbitmq_image"
oci check "$(archive_of services)" --spec "$stand_ins/redis/spec.json" --name "$redis_image"
oci check "$(archive_of services)" --spec "$stand_ins/nginx/spec.json" --name "$nginx_image"
oci check "$(archive_of services)" --spec "$stand_ins/rodan-client/spec.json" --name "$client_image"
oci check "$(archive_of pause)" --dockerfile "$pause_dir/build/pause/Dockerfile" --name "$PAUSE_IMAGE"
stage_done "checks (oci.py check)"

# --- The set this run printed -------------------------------------------------------------------
set_key=$(printf '%s\n' "${archives[@]}" | sha256sum | cut -c1-16)
set_dir="$CACHE/sets/$set_key"
if [[ ! -d $set_dir ]]; then
  tmp=$(mktemp -d "$CACHE/sets/.new.XXXXXX")
  chmod 0755 "$tmp"
  for a in "${archives[@]}"; do
    ln -s "../../oci/$(basename "${a#*=}")" "$tmp/${a%%=*}.tar"
  done
  printf '%s\n' "${image_names[@]}" >"$tmp/names.txt"
  printf '{"bases": ["%s", "%s"]}\n' "$slim_tar" "$services_tar" >"$tmp/inputs.json"
  mv -T "$tmp" "$set_dir" 2>/dev/null || rm -rf "$tmp"  # a concurrent run made the same set
fi
touch "$set_dir"
oci prune "$CACHE" --keep 3 --min-age 3600
flock -u 9

# --- Import -------------------------------------------------------------------------------------
if [[ -n $import_sock ]]; then
  stage_start
  for a in "${archives[@]}"; do
    t0=$(now_ms)
    ctr --address "$import_sock" -n k8s.io images import "$set_dir/${a%%=*}.tar" >&2
    log "$(printf 'imported %-9s %6d ms' "${a%%=*}" $(($(now_ms) - t0)))"
  done
  have=$(ctr --address "$import_sock" -n k8s.io images ls -q)
  while read -r _ name; do
    grep -qxF "$name" <<<"$have" || die "$name is not in containerd after the import"
  done <"$set_dir/names.txt"
  stage_done "ctr images import"
fi

log "summary:"
printf '  %s\n' "${timings[@]}" >&2
total=$(($(now_ms) - started))
log "$(printf 'total %d.%01d s; archives in %s:' $((total / 1000)) $((total % 1000 / 100)) "$set_dir")"
for a in "${archives[@]}"; do
  log "$(printf '  %-14s %5d MB' "${a%%=*}.tar" "$(($(stat -Lc %s "${a#*=}") / 1048576))")"
done
echo "$set_dir"
