"""Runs upstream Rodan's PitchFinder (heuristic_pitch_finding/PitchFinding.py, read from the
upstream checkout named on the command line, never copied here) the way the job's run_my_task
drives it, as the reference for jobs/tests/pitch_finding_reference.rs.

Usage: python pitch_reference.py RODAN_JOBS_DIR CASES.json, where RODAN_JOBS_DIR is
rodan-main/code/rodan/jobs of a DDMAL/Rodan checkout and CASES.json a list of
{"id": ID, "staves": JSON, "glyphs": XML, "discard_size": N, "output": PATH}. A case that
raises writes its traceback to PATH + ".error" instead.
"""

import importlib.util
import json
import os
import sys
import traceback

from gamera import gamera_xml
from gamera.core import init_gamera

import celery_stand_in


def load_pitch_finder(jobs_dir):
    path = os.path.join(jobs_dir, "heuristic_pitch_finding", "PitchFinding.py")
    spec = importlib.util.spec_from_file_location("upstream_pitch_finding", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PitchFinder


def decoded(value):
    # What the job's rec_serialize does: bytes become str, recursively.
    if isinstance(value, list):
        return [decoded(v) for v in value]
    if isinstance(value, dict):
        return {k: decoded(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("UTF-8")
    return value


def run(pitch_finder, case):
    with open(case["staves"], "r") as f:
        jsomr = json.loads(f.read())
    glyphs = gamera_xml.glyphs_from_xml(case["glyphs"])
    finder = pitch_finder(discard_size=case["discard_size"])
    result = {
        "page": jsomr["page"],
        "staves": jsomr["staves"],
        "glyphs": finder.get_pitches(glyphs, jsomr["staves"]),
    }
    with open(case["output"], "w") as f:
        f.write(json.dumps(decoded(result)))


def main(jobs_dir, cases_path):
    init_gamera()
    # PitchFinding.py only takes a logger from Celery.
    celery_stand_in.install()
    pitch_finder = load_pitch_finder(jobs_dir)
    with open(cases_path) as f:
        cases = json.load(f)
    for case in cases:
        try:
            run(pitch_finder, case)
        except Exception:
            with open(case["output"] + ".error", "w") as f:
                f.write(traceback.format_exc())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
