#!/usr/bin/env python3
"""Tests of scripts/lib/oci.py (stdlib unittest, no network, no root, well under a second):
the Dockerfile parser and Docker's config rules, the archive's layout and names, deterministic
top layers, account files, and `check`, which must fail when an image's config and its
Dockerfile diverge. Also builds each of the project's Dockerfiles with a stand-in binary.

    python3 scripts/lib/test_oci.py
"""

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OCI = os.path.join(HERE, "oci.py")
sys.path.insert(0, HERE)
import oci  # noqa: E402

DISTROLESS = os.path.join(ROOT, "images", "stand-ins", "distroless-cc", "spec.json")
PROJECT = ["operator", "api-server", "worker"]


def run(*args, ok=True):
    p = subprocess.run([sys.executable, OCI, *args], capture_output=True, text=True)
    if ok and p.returncode != 0:
        raise AssertionError(f"oci.py {' '.join(args)} failed:\n{p.stderr}")
    return p


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def base_tar(path, passwd="root:x:0:0:root:/root:/bin/sh\nredis:x:101:101::/var/lib/redis:/bin/false\n"):
    """A tiny root filesystem tar in mmdebstrap's shape (`./`-prefixed members)."""
    with tarfile.open(path, "w") as tar:
        def add(name, data=None, kind="file", target=None):
            ti = tarfile.TarInfo(name)
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(ti)
            elif kind == "link":
                ti.type, ti.linkname = tarfile.SYMTYPE, target
                tar.addfile(ti)
            else:
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
        for d in ("./", "./etc/", "./usr/", "./usr/local/", "./usr/local/bin/", "./run/", "./var/"):
            add(d, kind="dir")
        add("./var/run", kind="link", target="/run")
        add("./etc/passwd", passwd.encode())
        add("./etc/group", b"root:x:0:\nredis:x:101:\n")
    return path


DOCKERFILE = """# syntax=docker/dockerfile:1
ARG BASE=example/base
FROM docker.io/library/rust:1 AS build
RUN cargo build
FROM ${BASE}:1
# a comment
LABEL org.opencontainers.image.title="thing" \\
      org.opencontainers.image.description="a thing, with spaces"
COPY --from=build /out/thing /usr/local/bin/thing
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/thing"]
CMD ["serve"]
"""


class Prune(unittest.TestCase):
    def test_keeps_what_the_newest_sets_use(self):
        with tempfile.TemporaryDirectory() as real:
            d = os.path.join(real, "via-a-link")  # the cache reached through a symlink
            os.makedirs(os.path.join(real, "cache"))
            os.symlink(os.path.join(real, "cache"), d)
            for sub in ("oci", "rootfs", "sets"):
                os.makedirs(os.path.join(d, sub))
            for f in ("oci/a-1.tar", "oci/a-2.tar", "oci/a-3.tar", "oci/b-1.tar", "rootfs/base-1.tar",
                      "rootfs/base-1.tar.json", "rootfs/base-1.tar.log", "rootfs/base-0.tar", "rootfs/base-0.tar.json"):
                write(os.path.join(d, f), "x")
            for i, (archive, base) in enumerate([("a-1", "base-0"), ("a-2", "base-1"), ("a-3", "base-1")]):
                s = os.path.join(d, "sets", f"set{i}")
                os.makedirs(s)
                os.symlink(f"../../oci/{archive}.tar", os.path.join(s, "a.tar"))
                write(os.path.join(s, "inputs.json"), json.dumps({"bases": [os.path.join(d, "rootfs", base + ".tar")]}))
                os.utime(s, (1000 + i, 1000 + i))  # set0 is the oldest
            os.makedirs(os.path.join(d, "sets", ".new.x"))  # a run writing its set
            run("prune", d, "--keep", "2", "--min-age", "0")
            left = sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d + "/") for f in fs)
            self.assertEqual(left, ["oci/a-2.tar", "oci/a-3.tar", "rootfs/base-1.tar", "rootfs/base-1.tar.json",
                                    "rootfs/base-1.tar.log", "sets/set1/a.tar", "sets/set1/inputs.json",
                                    "sets/set2/a.tar", "sets/set2/inputs.json"])


class Parser(unittest.TestCase):
    def parse(self, text):
        with tempfile.TemporaryDirectory() as d:
            return oci.parse_dockerfile(write(os.path.join(d, "Dockerfile"), text))

    def test_final_stage(self):
        s = self.parse(DOCKERFILE)
        self.assertEqual(s["from"], "example/base:1")
        self.assertEqual(s["user"], "65532:65532")
        self.assertEqual(s["expose"], ["8080/tcp"])
        self.assertEqual(s["entrypoint"], ["/usr/local/bin/thing"])
        self.assertEqual(s["cmd"], ["serve"])
        self.assertEqual(s["labels"], {"org.opencontainers.image.title": "thing",
                                       "org.opencontainers.image.description": "a thing, with spaces"})
        self.assertEqual(s["copies"], [{"from": "build", "srcs": ["/out/thing"], "dest": "/usr/local/bin/thing",
                                        "chown": None, "chmod": None}])

    def test_docker_rules(self):
        s = self.parse("FROM x\nARG V=3\nENV A=1 B=\"two words\"\nENV C $V\nCMD echo hi\nEXPOSE 53/udp 80\n"
                       "WORKDIR /a\nWORKDIR b\nSTOPSIGNAL SIGINT\n")
        self.assertEqual(s["env"], {"A": "1", "B": "two words", "C": "3"})
        self.assertEqual(s["cmd"], ["/bin/sh", "-c", "echo hi"])
        self.assertEqual(s["expose"], ["53/udp", "80/tcp"])
        self.assertEqual(s["workdir"], "/a/b")
        base = {"Env": ["PATH=/bin", "A=0"], "Cmd": ["base"], "Labels": {"k": "base"}, "ExposedPorts": ["1/tcp"]}
        c = oci.apply_stage(base, s)
        self.assertEqual(c["Env"], ["PATH=/bin", "A=1", "B=two words", "C=3"])
        self.assertEqual(c["ExposedPorts"], {"1/tcp": {}, "53/udp": {}, "80/tcp": {}})
        self.assertEqual(c["StopSignal"], "SIGINT")
        # ENTRYPOINT drops an inherited CMD, not one the stage sets
        self.assertNotIn("Cmd", oci.apply_stage(base, self.parse("FROM x\nENTRYPOINT [\"/e\"]\n")))
        self.assertEqual(oci.apply_stage(base, self.parse("FROM x\nCMD [\"c\"]\nENTRYPOINT [\"/e\"]\n"))["Cmd"], ["c"])

    def test_project_dockerfiles_parse(self):
        for name in PROJECT:
            s = oci.parse_dockerfile(os.path.join(ROOT, f"Dockerfile.{name}"))
            self.assertEqual(s["copies"][0]["dest"], f"/usr/local/bin/rodan-{name}", name)
            self.assertTrue(s["user"] and s["entrypoint"] and s["cmd"] and s["expose"] and s["labels"], name)


class Archives(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        self.base = base_tar(os.path.join(self.d, "base.tar"))
        self.bin = write(os.path.join(self.d, "thing"), "#!/bin/sh\necho thing\n", 0o755)
        self.df = write(os.path.join(self.d, "Dockerfile"), DOCKERFILE)
        self.spec = write(os.path.join(self.d, "spec.json"), json.dumps({
            "config": {"Env": ["PATH=/usr/bin:/bin"], "User": "0"},
            "users": [{"name": "nonroot", "uid": 65532, "gid": 65532, "home": "/home/nonroot"}],
            "dirs": [{"path": "/home/nonroot", "mode": "0700", "owner": "65532:65532"}],
        }))

    def tearDown(self):
        self.tmp.cleanup()

    def build(self, *extra, names=("example.org/thing:1",), dockerfile=None):
        args = ["build", "--slug", "thing", "--out-dir", os.path.join(self.d, "out"), "--image", "--layer", self.base,
                "--spec", self.spec, "--dockerfile", dockerfile or self.df,
                "--file", f"/usr/local/bin/thing={self.bin}"]
        for n in names:
            args += ["--name", n]
        return run(*args, *extra).stdout.strip()

    def check(self, archive, dockerfile=None, ok=True, names=("example.org/thing:1",)):
        args = ["check", archive, "--dockerfile", dockerfile or self.df, "--spec", self.spec]
        for n in names:
            args += ["--name", n]
        return run(*args, ok=ok)

    def test_layout_names_and_layers(self):
        with oci.Archive(self.build(names=("example.org/thing:1", "example.org/thing:2"))) as a:
            self.layout_names_and_layers(a)

    def layout_names_and_layers(self, a):
        names = [m["annotations"] for m in a.index["manifests"]]
        self.assertEqual(names, [{"io.containerd.image.name": f"example.org/thing:{t}",
                                  "org.opencontainers.image.ref.name": f"example.org/thing:{t}"} for t in (1, 2)])
        self.assertEqual(len({m["digest"] for m in a.index["manifests"]}), 1)
        self.assertEqual(json.loads(a.read("oci-layout")), {"imageLayoutVersion": "1.0.0"})
        base_digest = oci.layer_info(self.base)["digest"]
        self.assertEqual(a.manifest["layers"][0]["digest"], base_digest)  # the base tar, as it is
        self.assertEqual(a.config["rootfs"]["diff_ids"], [l["digest"] for l in a.manifest["layers"]])
        m, data = a.layer_file("usr/local/bin/thing")
        self.assertEqual((m.mode, data), (0o755, b"#!/bin/sh\necho thing\n"))
        _, passwd = a.layer_file("etc/passwd")
        self.assertIn(b"nonroot:x:65532:65532:", passwd)
        self.assertIn(b"redis:x:101:", passwd)  # the base's other entries stay

    def test_several_images_share_one_base_blob(self):
        other = write(os.path.join(self.d, "other.json"), json.dumps({"config": {"Cmd": ["other"]}}))
        archive = self.build("--image", "--layer", self.base, "--spec", other, "--name", "example.org/other:1")
        with tarfile.open(archive) as tar:
            blobs = [m.name for m in tar.getmembers() if m.name.startswith("blobs/")]
        base = "blobs/sha256/" + oci.layer_info(self.base)["digest"].split(":")[1]
        self.assertEqual(blobs.count(base), 1)
        self.check(archive)
        with oci.Archive(archive, "example.org/other:1") as a:
            self.assertEqual(a.config["config"]["Cmd"], ["other"])
            self.assertEqual(a.manifest["layers"][0]["digest"], oci.layer_info(self.base)["digest"])
        p = run("check", archive, "--spec", other, "--name", "example.org/other:1")
        self.assertIn("matches", p.stderr)

    def test_deterministic_and_keyed_by_content(self):
        first = self.build()
        os.unlink(first)
        self.assertEqual(self.build(), first)  # same inputs, same archive name and bytes
        write(self.bin, "#!/bin/sh\necho changed\n", 0o755)
        self.assertNotEqual(self.build(), first)

    def test_check_passes_on_a_matching_image(self):
        self.check(self.build())

    def test_check_fails_when_image_and_dockerfile_diverge(self):
        archive = self.build()
        for old, new in [("USER 65532:65532", "USER 10001:10001"), ("EXPOSE 8080", "EXPOSE 8081"),
                         ('CMD ["serve"]', 'CMD ["run"]'), ('ENTRYPOINT ["/usr/local/bin/thing"]', 'ENTRYPOINT ["/thing"]'),
                         ('title="thing"', 'title="other"'), ("EXPOSE 8080", "EXPOSE 8080\nLABEL extra=1")]:
            changed = write(os.path.join(self.d, "Dockerfile.changed"), DOCKERFILE.replace(old, new))
            p = self.check(archive, changed, ok=False)
            self.assertEqual(p.returncode, 1, f"{old} -> {new}: check passed")
        p = self.check(archive, ok=False, names=("example.org/thing:9",))
        self.assertEqual(p.returncode, 1)
        self.assertIn("named example.org/thing:9", p.stderr)

    def test_check_fails_without_a_passwd_entry_for_the_user(self):
        write(self.spec, json.dumps({"config": {}}))
        p = self.check(self.build(), ok=False)
        self.assertIn("no /etc/passwd entry for 65532", p.stderr)

    def test_users_replace_entries_of_the_same_name_or_id(self):
        write(self.spec, json.dumps({"users": [{"name": "nginx", "uid": 101, "gid": 101}]}))
        with oci.Archive(self.build()) as a:
            _, passwd = a.layer_file("etc/passwd")
        self.assertIn(b"nginx:x:101:101:", passwd)
        self.assertNotIn(b"redis", passwd)

    def test_paths_through_a_base_symlink_are_refused(self):
        write(self.spec, json.dumps({"dirs": [{"path": "/var/run/postgresql"}]}))
        p = run("build", "--slug", "x", "--out-dir", self.d, "--image", "--layer", self.base, "--spec", self.spec,
                "--name", "x:1", ok=False)
        self.assertIn("goes through the symlink /var/run", p.stderr)

    def test_copy_of_context_files_and_directories(self):
        write(os.path.join(self.d, "conf", "a.conf"), "a\n")
        write(os.path.join(self.d, "conf", "sub", "b.conf"), "b\n")
        write(os.path.join(self.d, "tool"), "#!/bin/sh\n", 0o755)
        df = write(os.path.join(self.d, "Dockerfile.ctx"), DOCKERFILE + "COPY conf/ /etc/thing/\nCOPY tool thing /opt/\n")
        archive = self.build(dockerfile=df)
        self.check(archive, df)
        with oci.Archive(archive) as a:
            self.assertEqual(a.layer_file("etc/thing/a.conf")[1], b"a\n")
            self.assertEqual(a.layer_file("etc/thing/sub/b.conf")[1], b"b\n")
            self.assertEqual(a.layer_file("opt/tool")[0].mode, 0o755)
            self.assertEqual(a.layer_file("opt/thing")[1], b"#!/bin/sh\necho thing\n")

    def test_copy_from_another_stage_must_be_supplied(self):
        p = run("build", "--slug", "x", "--out-dir", self.d, "--image", "--layer", self.base, "--dockerfile", self.df,
                "--name", "x:1", ok=False)
        self.assertIn("supply /usr/local/bin/thing with --file", p.stderr)

    def test_project_dockerfiles_build_and_check(self):
        for name in PROJECT:
            df = os.path.join(ROOT, f"Dockerfile.{name}")
            archive = run("build", "--slug", name, "--out-dir", os.path.join(self.d, "out"), "--image", "--layer", self.base,
                          "--spec", DISTROLESS, "--dockerfile", df, "--name", f"example.org/{name}:1",
                          "--file", f"/usr/local/bin/rodan-{name}={self.bin}").stdout.strip()
            run("check", archive, "--dockerfile", df, "--spec", DISTROLESS, "--name", f"example.org/{name}:1")
            with open(df) as f:
                text = f.read()
            changed = write(os.path.join(self.d, f"Dockerfile.{name}"), text.replace("USER 65532:65532", "USER 0"))
            p = run("check", archive, "--dockerfile", changed, "--spec", DISTROLESS, ok=False)
            self.assertEqual(p.returncode, 1, name)


if __name__ == "__main__":
    unittest.main(verbosity=1)
