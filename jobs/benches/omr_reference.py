"""The OMR pipeline of jobs/benches/omr_pipeline.json run by upstream Rodan's own job classes under
Gamera 4.1.0, each through its run_my_task as Rodan's worker calls it, with every step timed:
the Python side of scripts/bench-omr.sh.

Usage: python omr_reference.py PLAN.json DIR RESULT.json

DIR holds the plan's input files; each step reads and writes files there. RESULT.json gets the
seconds of each step and of the start-up (imports, Gamera's plugins), which a worker pays once.

Upstream's code is read at run time from the jobs folder named by RODAN_UPSTREAM_JOBS_DIR
(rodan-main/code/rodan/jobs of a DDMAL/Rodan checkout); nothing of it is kept here. Miyao Staff
Finding needs the MusicStaves toolkit built against Gamera 4.1.0 (its `gamera/toolkits` folder
named by RODAN_MUSICSTAVES unless it is installed). Stand-ins replace Rodan's framework only:
`rodan.jobs.base.RodanTask` (a logger and `tempdir()`, what these jobs use of it), Celery's
`get_task_logger`, and the job packages' `__init__.py`, which only register jobs with Rodan.

Settings are given as the plan has them. Rodan's framework would turn 'Slice Prioritization'
("Vertical") into its index, which ProjectionSplitter compares with the names and so never
applies; the name is passed, so that both sides slice the same way (as tests/gamera_slicing.rs).

One upstream crash is guarded, as rodan-jobs fixes it (jobs/README.md, "Known differences"):
PitchFinder.get_subimage of a bottom-left-head neume less than an average punctum plus one row
high asks Gamera for a view starting above the glyph, and Gamera raises "Image view dimensions
out of range" (upstream's job fails on this page for one such glyph). Upstream's function runs
for every glyph; only where it raises that, the glyph's rows from its top are used (y_add 0),
as ours does.
"""

import contextlib
import importlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import types

# The Celery stand-in the reference scripts of the tests share.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "gamera"))
import celery_stand_in  # noqa: E402

START = time.perf_counter()

# Upstream's modules that define the plan's jobs, relative to the jobs folder.
MODULES = [
    "gamera_rodan.wrappers.plugins.image_conversion",
    "gamera_rodan.wrappers.plugins.morphology",
    "gamera_rodan.wrappers.plugins.cc_analysis",
    "gamera_rodan.wrappers.classification",
    "diagonal_neume_slicing.base",
    "heuristic_pitch_finding.base",
    "MEI_encoding.MEI_encoding",
]
# Packages whose __init__.py registers jobs with Rodan (module_loader); they are given bare.
PACKAGES = ["gamera_rodan", "diagonal_neume_slicing", "heuristic_pitch_finding", "MEI_encoding"]

TASKS = {}


class RodanTask:
    """Stand-in for rodan.jobs.base.RodanTask: records each job class by name and gives what
    run_my_task uses of the real one."""

    logger = logging.getLogger("rodan")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if isinstance(getattr(cls, "name", None), str):
            TASKS[cls.name] = cls

    @contextlib.contextmanager
    def tempdir(self):
        folder = tempfile.mkdtemp()
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def framework_stand_ins(jobs_dir):
    celery_stand_in.install()

    rodan = types.ModuleType("rodan")
    rodan.__path__ = [os.path.dirname(os.path.abspath(jobs_dir))]
    sys.modules["rodan"] = rodan
    jobs = importlib.import_module("rodan.jobs")  # upstream's: logging and module_loader only
    base = types.ModuleType("rodan.jobs.base")
    base.RodanTask = RodanTask
    sys.modules["rodan.jobs.base"] = base
    jobs.base = base
    for name in PACKAGES:
        package = types.ModuleType("rodan.jobs." + name)
        package.__path__ = [os.path.join(jobs_dir, name)]
        sys.modules[package.__name__] = package
        setattr(jobs, name, package)


def load_upstream_jobs(jobs_dir):
    if not os.path.isfile(os.path.join(jobs_dir, "MEI_encoding", "MEI_encoding.py")):
        sys.exit("RODAN_UPSTREAM_JOBS_DIR=%s is not rodan-main/code/rodan/jobs" % jobs_dir)
    import gamera.toolkits
    from gamera.core import init_gamera

    extra = os.environ.get("RODAN_MUSICSTAVES")
    if extra and extra not in gamera.toolkits.__path__:
        gamera.toolkits.__path__.append(extra)
    init_gamera()
    framework_stand_ins(jobs_dir)
    for name in MODULES:
        module = importlib.import_module("rodan.jobs." + name)
        # Upstream's modules swallow ImportError around their Gamera imports: check they held.
        if name == "heuristic_pitch_finding.base" and not hasattr(module, "StaffFinder"):
            sys.exit("MusicStaves is not importable: set RODAN_MUSICSTAVES to its gamera/toolkits")
        if name == "heuristic_pitch_finding.base":
            guard_pitch_finder(module)


BOTTOM_LEFTS = ["neume.podatus2b", "neume.podatus3", "neume.podatus4", "neume.podatus5",
                "neume.scandicus22b"]
GUARDED = []


def guard_pitch_finder(module):
    finder = module.PitchFinder
    upstream_get_subimage = finder.get_subimage

    def get_subimage(self, glyph, extend_by_cols, extend_by_rows):
        try:
            return upstream_get_subimage(self, glyph, extend_by_cols, extend_by_rows)
        except RuntimeError:
            name = glyph.get_main_id()
            name = name.decode() if isinstance(name, bytes) else name
            top = int(glyph.offset_y + glyph.nrows - 1 - extend_by_rows)
            if name not in BOTTOM_LEFTS or top >= glyph.offset_y:
                raise
            GUARDED.append("%s at (%d, %d)" % (name, glyph.offset_x, glyph.offset_y))
            part = glyph.subimage(
                (glyph.offset_x + 0.0 * extend_by_cols, glyph.offset_y),
                ((glyph.offset_x + 1.0 * extend_by_cols - 1), (glyph.offset_y + glyph.nrows - 1)),
            )
            return part, 0

    finder.get_subimage = get_subimage


def port_files(folder, ports):
    return {
        port: [{"resource_path": os.path.join(folder, name), "resource_type": mimetype}]
        for port, (name, mimetype) in ports.items()
    }


def main(plan_path, folder, result_path):
    jobs_dir = os.environ.get("RODAN_UPSTREAM_JOBS_DIR")
    if not jobs_dir:
        sys.exit("RODAN_UPSTREAM_JOBS_DIR is not set")
    with open(plan_path) as f:
        plan = json.load(f)
    load_upstream_jobs(jobs_dir)
    startup = time.perf_counter() - START
    steps = []
    for step in plan["steps"]:
        task = TASKS[step["job"]]()
        inputs = port_files(folder, step["inputs"])
        outputs = port_files(folder, step["outputs"])
        settings = dict(step["settings"])
        began = time.perf_counter()
        task.run_my_task(inputs, settings, outputs)
        steps.append({"job": step["job"], "seconds": time.perf_counter() - began})
    with open(result_path, "w") as f:
        json.dump({"side": "gamera", "startup": startup, "steps": steps, "guarded": GUARDED}, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
