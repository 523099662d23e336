"""Applies Gamera 4.1.0 functions to PNG files: the reference the adaptive thresholds are compared with.

Usage: python apply.py CASES.json, where CASES.json is a list of
{"function": NAME, "inputs": {"src": PNG, "background": PNG, "binarization": PNG}, "args": [...],
 "output": PNG}. "src" is required; "background" is loaded as greyscale; "binarization" is an 8-bit
PNG turned into Gamera's ONEBIT with threshold(127) (values up to 127 black), as the Rust side reads
it. The function is called as src.NAME(*images, *args) with the images in the order background,
binarization, and its result is written with save_PNG.
"""

import json
import sys

from gamera.core import init_gamera, load_image

IMAGE_ORDER = ("background", "binarization")


def main(cases_path):
    init_gamera()
    with open(cases_path) as f:
        cases = json.load(f)
    for case in cases:
        inputs = case["inputs"]
        src = load_image(inputs["src"])
        images = []
        for name in IMAGE_ORDER:
            if name in inputs:
                image = load_image(inputs[name])
                images.append(image.threshold(127) if name == "binarization" else image)
        result = getattr(src, case["function"])(*images, *case["args"])
        result.save_PNG(case["output"])


if __name__ == "__main__":
    main(sys.argv[1])
