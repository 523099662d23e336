"""Reference for tests/gamera_slicing.rs: upstream Rodan's Diagonal Neume Slicing algorithm run
under Gamera 4.1.0, read at run time from an upstream checkout (nothing of it is kept here).

Usage: python slicing.py UPSTREAM_JOBS_DIR CASES_JSON, where UPSTREAM_JOBS_DIR is
rodan-main/code/rodan/jobs of a DDMAL/Rodan checkout and CASES_JSON a list of
{"id", "input", "settings", "output"}. For each case the glyphs of the GameraXML `input` go through
upstream's ProjectionSplitter with the keyword arguments upstream's job builds from its settings,
except that 'slice_prioritization' is the chosen name rather than its index (upstream passes the
index, which its string comparisons never match), and the pieces are written as the job writes
them: WriteXMLFile(glyphs=..., with_features=True).
"""

import importlib.util
import json
import os
import sys
import types

from gamera.core import init_gamera
from gamera import gamera_xml

PRIORITIZATIONS = ["None", "Horizontal", "Vertical", "Multi-Cut"]


def load_upstream(jobs_dir):
    """The upstream package's ProjectionSplitting module, without running its __init__.py (which
    needs Rodan itself)."""
    folder = os.path.join(jobs_dir, "diagonal_neume_slicing")
    package = types.ModuleType("upstream_slicing")
    package.__path__ = [folder]
    sys.modules["upstream_slicing"] = package
    for name in ["SliceFinding", "ProjectionSplitting"]:
        spec = importlib.util.spec_from_file_location(
            "upstream_slicing." + name, os.path.join(folder, name + ".py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules["upstream_slicing.ProjectionSplitting"]


def kwargs(settings):
    """base.py's kwargs, with the prioritisation as the name ProjectionSplitter compares."""
    priority = PRIORITIZATIONS[settings["Slice Prioritization"]]
    return {
        "smoothing": settings["Smoothing"],
        "extrema_threshold": 0,
        "min_glyph_size": settings["Minimum Glyph Size"],
        "max_recursive_cuts": settings["Maximum Recursive Cuts"],
        "rotation": settings["Angle"],
        "min_slice_spread_rel": settings["Minimum Slice Spread"],
        "low_projection_threshold": settings["Low Valley Threshold"],
        "min_projection_segments": settings["Minimum Segment Length"],
        "slice_prioritization": priority,
        "check_axis": False,
        "print_projection_array": False,
        "plot_projection_array": False,
        "save_cuts": False,
    }


def main(jobs_dir, cases_path):
    init_gamera()
    upstream = load_upstream(jobs_dir)
    with open(cases_path) as f:
        cases = json.load(f)
    for case in cases:
        glyphs = gamera_xml.glyphs_from_xml(case["input"])
        splitter = upstream.ProjectionSplitter(**kwargs(case["settings"]))
        pieces = []
        for g in glyphs:
            pieces += splitter.run(g)
        gamera_xml.WriteXMLFile(glyphs=pieces, with_features=True).write_filename(case["output"])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
