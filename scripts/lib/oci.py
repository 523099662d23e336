#!/usr/bin/env python3
"""OCI image archives without a Docker engine, for scripts/build-images.sh. Python stdlib only.

    oci.py layer-info TAR        digest, size, directories, symlinks, /etc/passwd and /etc/group of a
                                 root filesystem tar (computed once, cached beside it in TAR.json)
    oci.py dockerfile FILE       the final stage of a Dockerfile, as JSON
    oci.py build ...             write an archive of one or more images (`oci.py build --help`)
    oci.py check ARCHIVE ...     compare an image's names and config with its Dockerfile and spec
    oci.py need-libs ...         fail when binaries need shared libraries (ldd) the layers lack
    oci.py with-user ARCHIVE ... a copy that runs as another user (for tests: ctr 1.6 has no --user)
    oci.py show ARCHIVE          print an image's index, manifest and config
    oci.py prune DIR             remove archives and bases no recent set refers to

An archive is an OCI image layout in a tar (what `ctr images import` reads): `oci-layout`,
`index.json` and `blobs/sha256/*`. Layers are uncompressed tars (mediaType ...layer.v1.tar), so a
layer's digest is its diff_id and a root filesystem tar from mmdebstrap is used as it is: every
image built on the same base tar carries the same layer, which containerd stores and unpacks
once, and an archive of several such images stores it once. Each index entry names its image
twice, `io.containerd.image.name` (what containerd uses) and `org.opencontainers.image.ref.name`,
both the full name, so `ctr images import` keeps `ghcr.io/ddmal/rodan-worker:0.1.0` as is.
Several names may point at one manifest.

An image is: the given base layers, plus one top layer built here, deterministically (fixed
mtime, numeric owners, sorted entries), from
  - the final stage of a Dockerfile (`--dockerfile` or the spec's "dockerfile"): its COPY/ADD
    (files from the Dockerfile's directory; `COPY --from=<stage>` destinations must be supplied
    with `--file DEST=SRC`, which may replace any other source too) and its LABEL, USER, EXPOSE,
    ENV, WORKDIR, ENTRYPOINT, CMD, STOPSIGNAL and VOLUME, applied by Docker's rules on top of
  - a spec (JSON, `--spec`): "config" (the image config of what the Dockerfile's FROM names),
    "users" (passwd/group entries: the base's files with entries of the same name or id
    replaced), "dirs", "files" and "symlinks".
RUN instructions are not replayed: what they do must be in the spec.
Archives are named <slug>-<hash of index.json>.tar; the index names each manifest, whose digest
covers its layers and config, so an existing archive of that name is already up to date.
"""

import argparse
import copy
import hashlib
import io
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import tarfile
import time

LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
SIDE_CAR_VERSION = 2
SHARED_LIB = re.compile(r"\.so(\.[0-9]+)*$")


def die(msg):
    print(f"oci.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def norm(path):
    """A tar member or image path as `a/b/c` (no leading ./ or /, no trailing /)."""
    path = path.strip()
    while path.startswith("./"):
        path = path[2:]
    return path.strip("/")


# ---------------------------------------------------------------------------------------------
# Base layers


def layer_info(path):
    """Digest, size, directories, symlinks and account files of a layer tar, cached in PATH.json
    (keyed by the tar's size and mtime, so a rebuilt tar is read again)."""
    st = os.stat(path)
    side = path + ".json"
    try:
        with open(side) as f:
            info = json.load(f)
        if (info.get("version"), info.get("size"), info.get("mtime_ns")) == (SIDE_CAR_VERSION, st.st_size, st.st_mtime_ns):
            return info
    except (OSError, ValueError):
        pass
    dirs, links, files, libs = [], {}, {}, set()
    with tarfile.open(path, "r:") as tar:
        for m in tar:
            name = norm(m.name)
            if m.isdir():
                dirs.append(name)
                continue
            if m.issym():
                links[name] = m.linkname
            elif m.isfile() and name in ("etc/passwd", "etc/group"):
                files[name] = tar.extractfile(m).read().decode()
            if "lib" in name.split("/")[0:3] and SHARED_LIB.search(name):
                libs.add(os.path.basename(name))
    info = {
        "version": SIDE_CAR_VERSION,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "digest": "sha256:" + sha256_file(path),
        "dirs": sorted(d for d in dirs if d),
        "links": links,
        "files": files,
        "libs": sorted(libs),
    }
    tmp = f"{side}.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.replace(tmp, side)
    return info


# ---------------------------------------------------------------------------------------------
# Dockerfiles


def dockerfile_lines(text):
    """Instructions as (KEYWORD, rest): comments dropped, `\\` continuations joined."""
    out, cur = [], None
    for raw in text.splitlines():
        s = raw.strip()
        if s.startswith("#") or (not s and cur is None):
            continue  # comments (and the `# syntax=` directive), blank lines
        cont = s.endswith("\\")
        part = s[:-1].rstrip() if cont else s
        cur = part if cur is None else f"{cur} {part}"
        if not cont:
            out.append(cur)
            cur = None
    if cur:
        out.append(cur)
    result = []
    for line in out:
        word, _, rest = line.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


VAR = re.compile(r"\$(?:\{(\w+)(?::([-+])([^}]*))?\}|(\w+))")


def substitute(s, env):
    def repl(m):
        name = m.group(1) or m.group(4)
        val = env.get(name)
        if m.group(2) == "-":
            return val if val else m.group(3)
        if m.group(2) == "+":
            return m.group(3) if val else ""
        return val or ""

    return VAR.sub(repl, s)


def exec_form(rest):
    """ENTRYPOINT/CMD: the JSON form as is, the shell form through /bin/sh -c (Docker's rule)."""
    if rest.startswith("["):
        try:
            value = json.loads(rest)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value
        except ValueError:
            pass
    return ["/bin/sh", "-c", rest]


def key_values(rest, env):
    """LABEL/ENV arguments: `k=v k2="v 2"`, or the legacy `k v` form."""
    words = shlex.split(rest, posix=True)
    if words and "=" not in words[0]:
        return [(words[0], substitute(rest.partition(" ")[2].strip(), env))]
    pairs = []
    for w in words:
        k, sep, v = w.partition("=")
        if not sep:
            die(f"cannot parse {rest!r}")
        pairs.append((substitute(k, env), substitute(v, env)))
    return pairs


def parse_dockerfile(path):
    """The final stage of a Dockerfile: what it sets, and its COPY instructions."""
    with open(path) as f:
        instructions = dockerfile_lines(f.read())
    global_args, stage = {}, None
    for word, rest in instructions:
        if word == "FROM":
            base = substitute(rest.split()[0], global_args)
            name = rest.split()[2] if len(rest.split()) >= 3 and rest.split()[1].upper() == "AS" else None
            stage = {"from": base, "name": name, "args": {}, "env": {}, "labels": {}, "copies": [],
                     "expose": [], "volumes": [], "cmd_set": False}
            continue
        if stage is None:
            if word == "ARG":
                k, _, v = rest.partition("=")
                global_args[k.strip()] = v.strip().strip('"')
            continue
        scope = {**global_args, **stage["args"], **stage["env"]}
        if word == "ARG":
            k, sep, v = rest.partition("=")
            k = k.strip()
            stage["args"][k] = v.strip().strip('"') if sep else global_args.get(k, "")
        elif word == "ENV":
            for k, v in key_values(rest, scope):
                stage["env"][k] = v
        elif word == "LABEL":
            for k, v in key_values(rest, scope):
                stage["labels"][k] = v
        elif word == "USER":
            stage["user"] = substitute(rest, scope)
        elif word == "WORKDIR":
            wd = substitute(rest, scope)
            stage["workdir"] = wd if wd.startswith("/") else os.path.join(stage.get("workdir", "/"), wd)
        elif word == "EXPOSE":
            for p in substitute(rest, scope).split():
                stage["expose"].append(p if "/" in p else f"{p}/tcp")
        elif word == "ENTRYPOINT":
            stage["entrypoint"] = exec_form(rest)
        elif word == "CMD":
            stage["cmd"] = exec_form(rest)
            stage["cmd_set"] = True
        elif word == "STOPSIGNAL":
            stage["stopsignal"] = substitute(rest, scope)
        elif word == "VOLUME":
            vols = json.loads(rest) if rest.startswith("[") else rest.split()
            stage["volumes"].extend(substitute(v, scope) for v in vols)
        elif word in ("COPY", "ADD"):
            flags, words = {}, shlex.split(rest, posix=True) if not rest.startswith("[") else json.loads(rest)
            while words and words[0].startswith("--"):
                k, _, v = words.pop(0)[2:].partition("=")
                flags[k] = v
            if word == "ADD" and any(re.match(r"^[a-z]+://", w) for w in words[:-1]):
                die(f"{path}: ADD of a URL is not supported")
            words = [substitute(w, scope) for w in words]
            stage["copies"].append({"from": flags.get("from"), "srcs": words[:-1], "dest": words[-1],
                                    "chown": flags.get("chown"), "chmod": flags.get("chmod")})
        # RUN, SHELL, HEALTHCHECK, ONBUILD: not replayed (the spec carries what RUN does)
    if stage is None:
        die(f"{path}: no FROM")
    del stage["args"]
    return stage


def ports_dict(ports):
    if isinstance(ports, dict):
        return dict(ports)
    return {(p if "/" in p else f"{p}/tcp"): {} for p in ports or []}


def apply_stage(config, stage):
    """The image config a Dockerfile stage produces on top of its base's config, by Docker's
    rules: LABEL, EXPOSE, VOLUME and ENV merge; USER, WORKDIR, ENTRYPOINT, CMD, STOPSIGNAL
    replace; setting ENTRYPOINT drops a CMD inherited from the base unless the stage sets one."""
    c = copy.deepcopy(config)
    c["ExposedPorts"] = ports_dict(c.get("ExposedPorts"))
    vols = c.get("Volumes") or {}
    c["Volumes"] = dict(vols) if isinstance(vols, dict) else {v: {} for v in vols}
    if stage is None:
        return tidy(c)
    env = [e for e in c.get("Env", [])]
    for k, v in stage["env"].items():
        env = [e for e in env if e.partition("=")[0] != k] + [f"{k}={v}"]
    c["Env"] = env
    c.setdefault("Labels", {})
    c["Labels"].update(stage["labels"])
    for p in stage["expose"]:
        c["ExposedPorts"][p] = {}
    for v in stage["volumes"]:
        c["Volumes"][v] = {}
    for key, field in (("user", "User"), ("workdir", "WorkingDir"), ("stopsignal", "StopSignal")):
        if key in stage:
            c[field] = stage[key]
    if "entrypoint" in stage:
        c["Entrypoint"] = stage["entrypoint"]
        if not stage["cmd_set"]:
            c.pop("Cmd", None)
    if stage["cmd_set"]:
        c["Cmd"] = stage["cmd"]
    return tidy(c)


def tidy(c):
    """Drop empty fields, so two equal configs serialise the same."""
    return {k: v for k, v in c.items() if v not in (None, {}, [], "")}


# ---------------------------------------------------------------------------------------------
# Building the top layer


class Layer:
    """A deterministic tar built in memory: entries sorted by path, fixed mtime, numeric owners."""

    def __init__(self, base_infos, mtime):
        self.entries = {}
        self.mtime = mtime
        self.base_dirs = set()
        self.base_links = {}
        for info in base_infos:
            self.base_dirs.update(info["dirs"])
            self.base_links.update(info["links"])

    def _parents(self, path):
        """Parent directories this layer must carry: those no base layer has. A path through a
        symlink of a base layer (e.g. /var/run -> /run) is refused: name the real path."""
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p in self.base_links:
                die(f"/{path} goes through the symlink /{p} -> {self.base_links[p]}; use the real path")
            if p not in self.base_dirs and p not in self.entries:
                self.entries[p] = {"type": "dir", "mode": 0o755, "uid": 0, "gid": 0}

    def add(self, path, entry):
        path = norm(path)
        self._parents(path)
        self.entries[path] = entry

    def dir(self, path, mode=0o755, uid=0, gid=0):
        self.add(path, {"type": "dir", "mode": mode, "uid": uid, "gid": gid})

    def file(self, path, data, mode=0o644, uid=0, gid=0):
        self.add(path, {"type": "file", "data": data, "mode": mode, "uid": uid, "gid": gid})

    def symlink(self, path, target):
        self.add(path, {"type": "symlink", "target": target, "mode": 0o777, "uid": 0, "gid": 0})

    def tar_bytes(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.entries):
                e = self.entries[path]
                ti = tarfile.TarInfo(path)
                ti.mtime, ti.mode, ti.uid, ti.gid = self.mtime, e["mode"], e["uid"], e["gid"]
                ti.uname = ti.gname = ""
                if e["type"] == "dir":
                    ti.type = tarfile.DIRTYPE
                    tar.addfile(ti)
                elif e["type"] == "symlink":
                    ti.type, ti.linkname = tarfile.SYMTYPE, e["target"]
                    tar.addfile(ti)
                else:
                    ti.size = len(e["data"])
                    tar.addfile(ti, io.BytesIO(e["data"]))
        return buf.getvalue()


def octal(v, default):
    if v is None:
        return default
    return int(v, 8) if isinstance(v, str) else int(v)


def owner(spec):
    """`--chown`/spec owner as numeric uid, gid (names are not resolved: use numbers)."""
    if not spec:
        return 0, 0
    u, _, g = str(spec).partition(":")
    if not u.isdigit() or (g and not g.isdigit()):
        die(f"owner {spec!r}: use numeric uid:gid")
    return int(u), int(g or u)


def account_files(layer, base_infos, users):
    """/etc/passwd and /etc/group: the topmost base's, entries of the same name or id replaced."""
    texts = {"etc/passwd": "", "etc/group": ""}
    for info in base_infos:  # bottom first: the topmost layer's file wins
        for k in texts:
            if k in info["files"]:
                texts[k] = info["files"][k]
    passwd = [l for l in texts["etc/passwd"].splitlines() if l]
    group = [l for l in texts["etc/group"].splitlines() if l]
    for u in users:
        name, uid, gid = u["name"], int(u["uid"]), int(u.get("gid", u["uid"]))
        gname = u.get("group", name)
        passwd = [l for l in passwd if l.split(":")[0] != name and l.split(":")[2] != str(uid)]
        passwd.append(f"{name}:x:{uid}:{gid}:{u.get('comment', name)}:{u.get('home', '/nonexistent')}:"
                      f"{u.get('shell', '/usr/sbin/nologin')}")
        group = [l for l in group if l.split(":")[0] != gname and l.split(":")[2] != str(gid)]
        group.append(f"{gname}:x:{gid}:")
    layer.file("etc/passwd", ("\n".join(passwd) + "\n").encode())
    layer.file("etc/group", ("\n".join(group) + "\n").encode())


def copy_file(layer, src, dest, mode, uid, gid):
    st = os.lstat(src)
    if stat.S_ISLNK(st.st_mode):
        layer.symlink(dest, os.readlink(src))
        return
    with open(src, "rb") as f:
        data = f.read()
    layer.file(dest, data, mode if mode is not None else stat.S_IMODE(st.st_mode), uid, gid)


def copy_targets(stage, context):
    """What the stage's COPY/ADD instructions put where: (instruction, source path or None for
    another stage's file, destination) per file, directories expanded (a directory source
    copies its contents, Docker's rule)."""
    for c in stage["copies"]:
        into_dir = c["dest"].endswith("/") or len(c["srcs"]) > 1
        for src in c["srcs"]:
            target = os.path.join(c["dest"], os.path.basename(src.rstrip("/"))) if into_dir else c["dest"]
            path = None if c["from"] else os.path.join(context, src)
            if path and os.path.isdir(path):
                for dirpath, dirnames, filenames in os.walk(path):
                    dirnames.sort()
                    for f in sorted(filenames):
                        full = os.path.join(dirpath, f)
                        yield c, full, os.path.join(c["dest"], os.path.relpath(full, path))
            else:
                yield c, path, target


def apply_copies(layer, stage, context, supplied):
    """The stage's COPY/ADD instructions. A destination given with --file DEST=SRC takes that
    file (needed for `--from` sources: another stage's output, built here by other means);
    other sources are read from the context, the Dockerfile's directory."""
    for c, path, target in copy_targets(stage, context):
        mode = octal(c["chmod"], None)
        uid, gid = owner(c["chown"])
        key = "/" + norm(target)
        if key in supplied:  # built elsewhere (e.g. by the host's cargo)
            path = supplied.pop(key)
        elif path is None:
            die(f"COPY --from={c['from']} {' '.join(c['srcs'])} {c['dest']}: supply {key} with --file {key}=PATH")
        elif not os.path.exists(path):
            die(f"COPY {' '.join(c['srcs'])}: {path} does not exist")
        copy_file(layer, path, target, mode, uid, gid)  # missing parents: 0755 root, as Docker


def build_image(img, mtime):
    """One image: its blobs [(digest, bytes or a file path)] and its index entries."""
    spec, spec_dir = {}, os.getcwd()
    if img.spec:
        with open(img.spec) as f:
            spec = json.load(f)
        spec_dir = os.path.dirname(os.path.abspath(img.spec))
    dockerfile = img.dockerfile or (os.path.join(spec_dir, spec["dockerfile"]) if spec.get("dockerfile") else None)
    stage = parse_dockerfile(dockerfile) if dockerfile else None

    base_infos = [layer_info(p) for p in img.layer]
    layer = Layer(base_infos, mtime)
    supplied = {}
    for item in img.file:
        dest, sep, src = item.partition("=")
        if not sep or not dest.startswith("/"):
            die(f"--file {item!r}: expected /DEST=SRC")
        supplied["/" + norm(dest)] = src
    if stage:
        apply_copies(layer, stage, os.path.dirname(os.path.abspath(dockerfile)), supplied)
    for d in spec.get("dirs", []):
        layer.dir(d["path"], octal(d.get("mode"), 0o755), *owner(d.get("owner")))
    for f in spec.get("files", []):
        if "src" in f:
            with open(os.path.join(spec_dir, f["src"]), "rb") as fh:
                data = fh.read()
        else:
            data = f["content"].encode()
        layer.file(f["path"], data, octal(f.get("mode"), 0o644), *owner(f.get("owner")))
    for s in spec.get("symlinks", []):
        layer.symlink(s["path"], s["target"])
    for dest, src in supplied.items():
        copy_file(layer, src, dest, None, 0, 0)
    if spec.get("users"):
        account_files(layer, base_infos, spec["users"])

    blobs = []
    layers, diff_ids, history = [], [], []
    for path, info in zip(img.layer, base_infos):
        layers.append({"mediaType": LAYER_TAR, "digest": info["digest"], "size": info["size"]})
        diff_ids.append(info["digest"])
        history.append({"created": "1970-01-01T00:00:00Z", "created_by": f"base {os.path.basename(path)}"})
        blobs.append((info["digest"], path))
    if layer.entries:
        top = layer.tar_bytes()
        d = "sha256:" + sha256_bytes(top)
        layers.append({"mediaType": LAYER_TAR, "digest": d, "size": len(top)})
        diff_ids.append(d)
        history.append({"created": "1970-01-01T00:00:00Z", "created_by": f"scripts/build-images.sh: {img.name[0]}"})
        blobs.append((d, top))

    config = apply_stage(spec.get("config", {}), stage)
    cfg = {"created": "1970-01-01T00:00:00Z", "architecture": "amd64", "os": "linux", "config": config,
           "rootfs": {"type": "layers", "diff_ids": diff_ids}, "history": history}
    cfg_bytes = canonical(cfg)
    cfg_desc = {"mediaType": CONFIG, "digest": "sha256:" + sha256_bytes(cfg_bytes), "size": len(cfg_bytes)}
    blobs.append((cfg_desc["digest"], cfg_bytes))
    man_bytes = canonical({"schemaVersion": 2, "mediaType": MANIFEST, "config": cfg_desc, "layers": layers})
    man_digest = "sha256:" + sha256_bytes(man_bytes)
    blobs.append((man_digest, man_bytes))
    return blobs, [index_entry(man_digest, len(man_bytes), n) for n in img.name]


def index_entry(digest, size, name):
    return {"mediaType": MANIFEST, "digest": digest, "size": size,
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name}}


def image_parser():
    p = argparse.ArgumentParser(prog="oci.py build ... --image", add_help=False)
    p.add_argument("--name", action="append", required=True, help="full image name (repeatable)")
    p.add_argument("--layer", action="append", default=[], help="base layer tar, bottom first (repeatable)")
    p.add_argument("--spec", help="image spec JSON")
    p.add_argument("--dockerfile", help="Dockerfile whose final stage applies (overrides the spec's)")
    p.add_argument("--file", action="append", default=[], help="/DEST=SRC: a file for the top layer")
    return p


def build(args):
    """An archive of one or more images (each `--image ...` group); a blob several images share,
    such as their base layer, is stored once."""
    if not args.image:
        die("build: no --image")
    blobs, entries = [], []
    for group in args.image:
        b, e = build_image(image_parser().parse_args(group), args.mtime)
        blobs += b
        entries += e
    index_bytes = canonical({"schemaVersion": 2, "mediaType": INDEX, "manifests": entries})
    os.makedirs(args.out_dir, exist_ok=True)
    out = os.path.join(args.out_dir, f"{args.slug}-{sha256_bytes(index_bytes)[:16]}.tar")
    if os.path.exists(out):  # the index names every manifest, whose digest covers all the rest
        print(out)
        return
    tmp = f"{out}.{os.getpid()}.tmp"
    seen = set()
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        def add(name, data=None, path=None):
            ti = tarfile.TarInfo(name)
            ti.mtime, ti.mode = args.mtime, 0o644
            if path:
                ti.size = os.path.getsize(path)
                with open(path, "rb") as f:
                    tar.addfile(ti, f)
            else:
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
        for d, blob in blobs:
            if d in seen:
                continue
            seen.add(d)
            name = "blobs/sha256/" + d.split(":", 1)[1]
            if isinstance(blob, str):
                add(name, path=blob)
            else:
                add(name, data=blob)
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index_bytes)
    os.replace(tmp, out)
    print(out)


# ---------------------------------------------------------------------------------------------
# Reading archives


class Archive:
    """An OCI archive, looked at through one of its images: the one named `name`, or the only
    one when it holds a single manifest."""

    def __init__(self, path, name=None):
        self.tar = tarfile.open(path, "r:")
        self.members = {norm(m.name): m for m in self.tar.getmembers()}
        self.index = self.json("index.json")
        entries = [m for m in self.index["manifests"]
                   if name is None or m.get("annotations", {}).get("io.containerd.image.name") == name]
        digests = {m["digest"] for m in entries}
        if len(digests) != 1:
            self.tar.close()
            die(f"{path}: {len(digests)} manifests" + (f" named {name}" if name else "") + "; name one")
        self.digest = digests.pop()
        self.manifest = self.blob_json(self.digest)
        self.config = self.blob_json(self.manifest["config"]["digest"])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.tar.close()

    def read(self, name):
        if name not in self.members:
            die(f"archive lacks {name}")
        return self.tar.extractfile(self.members[name]).read()

    def json(self, name):
        return json.loads(self.read(name))

    def blob_json(self, digest):
        return json.loads(self.read("blobs/sha256/" + digest.split(":", 1)[1]))

    def layer_file(self, path):
        """The topmost layer's member at path: (TarInfo, bytes or None)."""
        path = norm(path)
        for desc in reversed(self.manifest["layers"]):
            blob = self.tar.extractfile(self.members["blobs/sha256/" + desc["digest"].split(":", 1)[1]])
            with tarfile.open(fileobj=blob, mode="r:") as layer:
                for m in layer:
                    if norm(m.name) == path:
                        return m, (layer.extractfile(m).read() if m.isfile() else None)
        return None, None


def check(args):
    """Fails (exit 1) when the archive's names or config differ from what its Dockerfile's final
    stage (on top of the spec's base config) declares, or a COPY destination or the USER's
    passwd entry is missing."""
    with Archive(args.archive, args.name[0] if args.name else None) as a:
        problems, source = check_archive(a, args)
    if problems:
        for p in problems:
            print(f"oci.py check: {args.archive}: {p}", file=sys.stderr)
        sys.exit(1)
    print(f"oci.py check: {os.path.basename(args.archive)} matches {source}", file=sys.stderr)


def check_archive(a, args):
    problems = []
    for n in args.name:  # every name, both annotations, on this one manifest
        if not any(m["digest"] == a.digest and m.get("annotations", {}).get("io.containerd.image.name") == n
                   and m["annotations"].get("org.opencontainers.image.ref.name") == n for m in a.index["manifests"]):
            problems.append(f"no index entry names {n} (io.containerd.image.name and org.opencontainers.image.ref.name)")
    spec = {}
    if args.spec:
        with open(args.spec) as f:
            spec = json.load(f)
    dockerfile = args.dockerfile
    if not dockerfile and spec.get("dockerfile"):
        dockerfile = os.path.join(os.path.dirname(os.path.abspath(args.spec)), spec["dockerfile"])
    stage = parse_dockerfile(dockerfile) if dockerfile else None
    source = dockerfile or args.spec
    want = apply_stage(spec.get("config", {}), stage)
    got = a.config.get("config", {})
    for field in ("User", "Entrypoint", "Cmd", "ExposedPorts", "Labels", "Env", "WorkingDir", "StopSignal", "Volumes"):
        if got.get(field) != want.get(field):
            problems.append(f"{field}: image has {json.dumps(got.get(field))}, {source} says {json.dumps(want.get(field))}")
    context = os.path.dirname(os.path.abspath(dockerfile)) if dockerfile else ""
    for c, _, dest in copy_targets(stage, context) if stage else []:
        m, _ = a.layer_file(dest)
        if m is None:
            problems.append(f"COPY {' '.join(c['srcs'])} {c['dest']}: {dest} is not in the image")
    user = want.get("User", "")
    uid = user.split(":")[0]
    from_scratch = stage is not None and stage["from"] in ("", "scratch")  # pause: no accounts at all
    if uid and uid != "0" and not from_scratch:
        _, passwd = a.layer_file("etc/passwd")
        entries = [l.split(":") for l in (passwd or b"").decode().splitlines() if l]
        if not any(e[2] == uid or e[0] == uid for e in entries):
            problems.append(f"USER {user}: no /etc/passwd entry for {uid}")
    return problems, (f"{dockerfile} + {args.spec}" if dockerfile and args.spec else source)


def need_libs(args):
    """Fails when a dynamically linked binary needs a shared library (by `ldd`) that none of the
    layers carries: the slim base's package list must then grow."""
    have = set()
    for layer in args.layer:
        have.update(layer_info(layer)["libs"])
    missing = []
    for binary in args.binary:
        p = subprocess.run(["ldd", binary], capture_output=True, text=True)
        if p.returncode != 0:  # "not a dynamic executable": a static binary needs nothing
            continue
        for line in p.stdout.splitlines():
            lib = line.split()[0] if line.split() else ""
            lib = os.path.basename(lib)
            if lib and not lib.startswith("linux-vdso") and lib not in have:
                missing.append(f"{os.path.basename(binary)} needs {lib}")
    if missing:
        die("the base lacks shared libraries: " + "; ".join(missing))


def with_user(args):
    """A copy of an archive whose config runs as --user (same layers, byte for byte), under new
    names: how a test runs an image as a pod's runAsUser where `ctr run` (1.6) has no --user."""
    with Archive(args.archive, args.image) as a:
        cfg = copy.deepcopy(a.config)
        cfg["config"]["User"] = args.user
        cfg_bytes = canonical(cfg)
        man = copy.deepcopy(a.manifest)
        man["config"] = {"mediaType": CONFIG, "digest": "sha256:" + sha256_bytes(cfg_bytes), "size": len(cfg_bytes)}
        man_bytes = canonical(man)
        index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [
            index_entry("sha256:" + sha256_bytes(man_bytes), len(man_bytes), n) for n in args.name]}
        with tarfile.open(args.out, "w") as out:
            def add(name, data):
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode = len(data), 0o644
                out.addfile(ti, io.BytesIO(data))
            for layer in a.manifest["layers"]:
                name = "blobs/sha256/" + layer["digest"].split(":", 1)[1]
                out.addfile(a.members[name], a.tar.extractfile(a.members[name]))
            add("blobs/sha256/" + man["config"]["digest"].split(":", 1)[1], cfg_bytes)
            add("blobs/sha256/" + index["manifests"][0]["digest"].split(":", 1)[1], man_bytes)
            add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            add("index.json", canonical(index))


def show(args):
    with Archive(args.archive, args.image) as a:
        json.dump({"index": a.index, "manifest": a.manifest, "config": a.config}, sys.stdout, indent=2)
    print()


def prune(args):
    """Remove archives (and base tars) that no set among the newest --keep refers to, when older
    than --min-age seconds (so a build running beside this one keeps what it just wrote)."""
    sets_dir = os.path.join(args.dir, "sets")
    names = [s for s in os.listdir(sets_dir) if not s.startswith(".")] if os.path.isdir(sets_dir) else []
    sets = sorted((os.path.join(sets_dir, s) for s in names), key=os.path.getmtime, reverse=True)
    keep = set()
    now = time.time()
    for i, s in enumerate(sets):
        if i >= args.keep and now - os.path.getmtime(s) > args.min_age:
            for f in os.listdir(s):
                os.unlink(os.path.join(s, f))
            os.rmdir(s)
            continue
        for f in os.listdir(s):
            p = os.path.join(s, f)
            if os.path.islink(p):
                keep.add(os.path.realpath(p))
            elif f == "inputs.json":
                with open(p) as fh:
                    keep.update(os.path.realpath(x) for x in json.load(fh).get("bases", []))
    for sub in ("oci", "rootfs"):
        d = os.path.join(args.dir, sub)
        if not os.path.isdir(d):
            continue
        for f in os.listdir(d):
            p = os.path.join(d, f)
            if not f.endswith((".tar", ".tar.json", ".tar.log")):
                continue
            if os.path.realpath(p[: p.rindex(".tar") + 4]) in keep:  # the tar, its sidecar or its log
                continue
            if now - os.path.getmtime(p) > args.min_age:
                os.unlink(p)
                print(f"oci.py prune: removed {p}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("layer-info", help="digest and contents summary of a layer tar")
    p.add_argument("tar")
    p = sub.add_parser("dockerfile", help="the final stage of a Dockerfile as JSON")
    p.add_argument("file")
    p = sub.add_parser("build", help="write an archive of one or more images",
                       epilog="each --image starts an image: " + image_parser().format_usage().split(": ", 1)[1])
    p.add_argument("--slug", required=True, help="archive file name prefix")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--mtime", type=int, default=0, help="mtime of the top layers' entries")
    p = sub.add_parser("check", help="compare an archive with its Dockerfile")
    p.add_argument("archive")
    p.add_argument("--dockerfile", help="default: the spec's")
    p.add_argument("--spec")
    p.add_argument("--name", action="append", default=[])
    p = sub.add_parser("need-libs", help="fail when binaries need shared libraries the layers lack")
    p.add_argument("--layer", action="append", required=True)
    p.add_argument("binary", nargs="+")
    p = sub.add_parser("with-user", help="a copy of an archive's image that runs as another user")
    p.add_argument("archive")
    p.add_argument("--image", help="the image's name, when the archive holds several")
    p.add_argument("--user", required=True)
    p.add_argument("--name", action="append", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("show", help="print an archive's index, manifest and config")
    p.add_argument("archive")
    p.add_argument("--image", help="the image's name, when the archive holds several")
    p = sub.add_parser("prune", help="remove archives no recent set refers to")
    p.add_argument("dir")
    p.add_argument("--keep", type=int, default=3)
    p.add_argument("--min-age", type=int, default=3600)
    argv, groups = sys.argv[1:], []
    if argv[:1] == ["build"] and "--image" in argv:  # `--image` starts each image's own arguments
        first = argv.index("--image")
        rest, argv = argv[first:], argv[:first]
        for word in rest:
            if word == "--image":
                groups.append([])
            else:
                groups[-1].append(word)
    args = ap.parse_args(argv)
    if args.cmd == "build":
        args.image = groups
    if args.cmd == "layer-info":
        info = layer_info(args.tar)
        print(json.dumps({k: info[k] for k in ("digest", "size")}))
    elif args.cmd == "dockerfile":
        print(json.dumps(parse_dockerfile(args.file), indent=2))
    else:
        {"build": build, "check": check, "need-libs": need_libs, "with-user": with_user, "show": show,
         "prune": prune}[args.cmd](args)


if __name__ == "__main__":
    main()
