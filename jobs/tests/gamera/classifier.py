"""Runs upstream's 'Non-Interactive Classifier' (gamera_rodan/wrappers/classification.py) with
Gamera 4.1.0, as the reference jobs/tests/classifier.rs compares the Rust job with.

Usage: python classifier.py TRAINING.xml CCS.xml OUT.xml BBOX FEATURES [SETTINGS.xml]
FEATURES is 'all' (upstream's call) or a comma-separated list of feature names, given to
kNNNonInteractive as its feature set; everything else is upstream's calls.
"""

import sys

from gamera.core import init_gamera

init_gamera()

import gamera.classify  # noqa: E402
import gamera.gamera_xml  # noqa: E402
import gamera.knn  # noqa: E402
from gamera.gamera_xml import glyphs_from_xml  # noqa: E402


def main(training, ccs_path, out, bbox, features, settings=None):
    if features == "all":
        cknn = gamera.knn.kNNNonInteractive(training)
    else:
        cknn = gamera.knn.kNNNonInteractive(training, features=features.split(","))
    if settings is not None:
        cknn.load_settings(settings)
    func = gamera.classify.BoundingBoxGroupingFunction(int(bbox))
    ccs = glyphs_from_xml(ccs_path)
    cs_image = cknn.group_and_update_list_automatic(
        ccs, grouping_function=func, max_parts_per_group=4, max_graph_size=16
    )
    cknn.generate_features_on_glyphs(cs_image)
    gamera.gamera_xml.WriteXMLFile(glyphs=cs_image, with_features=True).write_filename(out)


if __name__ == "__main__":
    main(*sys.argv[1:])
