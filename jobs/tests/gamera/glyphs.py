"""Gamera 4.1.0's glyph-level functions as the reference jobs/tests/gamera_glyphs.rs compares
ours with.

Usage: python glyphs.py CASES.json, where CASES.json is a list of
  {"op": "rotate", "input": PNG, "angle": DEGREES, "order": N, "output": PNG}
  {"op": "features", "input": XML, "output": XML}
  {"op": "cc_compactness", "input": PNG, "output": TEXT}
'rotate' saves image.rotate(angle, None, order); and 'cc_compactness' writes the compactness of each connected component of a page, one a line;
'features' reads the glyphs of a GameraXML file,
computes every feature and writes them with their
features: the 16 of features='all' in the Gamera of upstream's production Rodan (Gamera 4.1.0
adds 'fourier_broken', which that Gamera lacks). A case that raises writes its traceback to output + ".error".
"""

import json
import sys
import traceback

from gamera import gamera_xml
from gamera.core import ImageBase, init_gamera, load_image

FEATURES = [
    "area",
    "aspect_ratio",
    "black_area",
    "compactness",
    "diagonal_projection",
    "moments",
    "ncols_feature",
    "nholes",
    "nholes_extended",
    "nrows_feature",
    "skeleton_features",
    "top_bottom",
    "volume",
    "volume16regions",
    "volume64regions",
    "zernike_moments",
]


def run(case):
    if case["op"] == "rotate":
        image = load_image(case["input"])
        image.rotate(case["angle"], None, case["order"]).save_PNG(case["output"])
    elif case["op"] == "features":
        glyphs = gamera_xml.glyphs_from_xml(case["input"])
        functions = ImageBase.get_feature_functions(FEATURES)
        for glyph in glyphs:
            glyph.generate_features(functions, True)
        gamera_xml.WriteXMLFile(glyphs=glyphs, with_features=True).write_filename(case["output"])
    elif case["op"] == "cc_compactness":
        # compactness of each connected component as cc_analysis returns it (a view onto the
        # labelled page), one repr a line.
        ccs = load_image(case["input"]).cc_analysis()
        with open(case["output"], "w") as f:
            for cc in ccs:
                f.write(repr(cc.compactness()[0]) + "\n")
    else:
        raise ValueError("unknown op " + case["op"])


def main(cases_path):
    init_gamera()
    with open(cases_path) as f:
        cases = json.load(f)
    for case in cases:
        try:
            run(case)
        except Exception:
            with open(case["output"] + ".error", "w") as f:
                f.write(traceback.format_exc())


if __name__ == "__main__":
    main(sys.argv[1])
