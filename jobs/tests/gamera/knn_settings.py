"""Gamera's kNN leave-one-out and save_settings for the knnga test.

Usage: knn_settings.py CLASSIFIER.xml CASES.json OUT_DIR
CASES.json: {"features": [names], "cases": [{"selections": [...], "weights": [...],
"num_k": k, "distance": "CITY-BLOCK" | "EUCLIDEAN" | "FAST-EUCLIDEAN"}]}
Writes OUT_DIR/<i>.xml (save_settings of each case) and prints
{"num_features": n, "loo": [[correct, total], ...]} as JSON.
"""
import json
import sys
from array import array

from gamera.core import init_gamera

init_gamera()
from gamera import knn  # noqa: E402

xml, cases_path, out_dir = sys.argv[1:4]
with open(cases_path) as f:
    spec = json.load(f)
classifier = knn.kNNNonInteractive(xml, features=spec["features"])
distances = {"CITY-BLOCK": knn.CITY_BLOCK, "EUCLIDEAN": knn.EUCLIDEAN,
             "FAST-EUCLIDEAN": knn.FAST_EUCLIDEAN}
loo = []
for i, case in enumerate(spec["cases"]):
    classifier.num_k = case["num_k"]
    classifier.distance_type = distances[case["distance"]]
    classifier.set_selections(array("i", case["selections"]))
    classifier.set_weights(array("d", case["weights"]))
    loo.append(list(classifier.leave_one_out()))
    classifier.save_settings("%s/%d.xml" % (out_dir, i))
print(json.dumps({"num_features": classifier.num_features, "loo": loo}))
