"""Times Gamera 4.1.0's and scikit-image's Sauvola on the page the Rust bench wrote, checks that
Gamera's pixels equal ours, and prints one table with the Rust figures.

Usage: python sauvola_reference.py DIR GAMERA_RUNS SKIMAGE_RUNS, where DIR holds page.png,
ours.png and ours.json from `cargo bench -p rodan-jobs --bench sauvola -- --out DIR`.
"""

import json
import os
import sys
import time

import numpy as np
import skimage
from gamera.core import init_gamera, load_image
from PIL import Image
from skimage.filters import threshold_sauvola

# Gamera's and Rodan's defaults.
REGION, SENSITIVITY, DYNAMIC_RANGE, LOWER, UPPER = 15, 0.5, 128, 20, 150


def timed(runs, function):
    result = function()
    start = time.perf_counter()
    for _ in range(runs):
        function()
    return (time.perf_counter() - start) / runs, result


def main(folder, gamera_runs, skimage_runs):
    init_gamera()
    page_path = os.path.join(folder, "page.png")
    page = load_image(page_path)
    pixels = np.asarray(Image.open(page_path))
    height, width = pixels.shape

    gamera_seconds, gamera_result = timed(
        gamera_runs,
        lambda: page.sauvola_threshold(REGION, SENSITIVITY, DYNAMIC_RANGE, LOWER, UPPER),
    )
    gamera_path = os.path.join(folder, "gamera.png")
    gamera_result.save_PNG(gamera_path)
    gamera_pixels = np.asarray(Image.open(gamera_path).convert("L"))
    ours_pixels = np.asarray(Image.open(os.path.join(folder, "ours.png")).convert("L"))
    differing = int(np.count_nonzero(gamera_pixels != ours_pixels))

    # scikit-image's Sauvola (the paper's formula) with the same window, k and R, binarized.
    skimage_seconds, _ = timed(
        skimage_runs,
        lambda: pixels > threshold_sauvola(pixels, window_size=REGION, k=SENSITIVITY, r=DYNAMIC_RANGE),
    )

    with open(os.path.join(folder, "ours.json")) as f:
        ours = json.load(f)
    rows = [(f"rodan-jobs, {o['config']}, {o['threads']} thread(s)", o["seconds"], o["runs"]) for o in ours]
    rows.append(("Gamera 4.1.0 sauvola_threshold", gamera_seconds, gamera_runs))
    rows.append((f"scikit-image {skimage.__version__} threshold_sauvola", skimage_seconds, skimage_runs))

    print(f"Sauvola, window {REGION}, k {SENSITIVITY}, R {DYNAMIC_RANGE}, on a {width}x{height} greyscale page")
    print(f"{'implementation':<48} {'runs':>5} {'ms/page':>10} {'pages/s':>9} {'vs scikit-image':>16}")
    for name, seconds, runs in rows:
        print(f"{name:<48} {runs:>5} {seconds * 1e3:>10.1f} {1 / seconds:>9.2f} {skimage_seconds / seconds:>15.1f}x")
    print(f"pixels differing between rodan-jobs (default) and Gamera: {differing}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
