"""Runs upstream Rodan's OpenCV jobs (Column Splitting, Extract C Clefs, Background Removal's
Sauvola method) the way their run_my_task does, with numpy, OpenCV and scikit-image, as the
reference the Rust jobs are compared with (jobs/tests/opencv_reference.rs).

Usage: python reference.py CASES.json, where CASES.json is a list of
{"id": ID, "job": NAME, "settings": {...}, "inputs": {PORT: PATH}, "outputs": {PORT: PATH}}.
A list output's PATH is a folder. A case that raises writes the error to the first output's
path + ".error" instead.

The helpers below restate upstream's helper modules (column_split/column_split.py,
extract_c_clefs/extract_c_clefs.py) step for step in numpy. When RODAN_UPSTREAM_JOBS_DIR names
rodan-main/code/rodan/jobs of a DDMAL/Rodan checkout, upstream's own helpers are loaded from there
(never copied here) and used instead.
"""

import importlib.util
import json
import os
import sys
import traceback
import xml.etree.ElementTree as ET

import cv2
import numpy as np

MAIN_LAYERS = ("Staff Layer", "Text Layer", "Music Notes Layer")


# ---- Column Splitting (column_split/base.py, column_split.py) ----------------------------------

def ink(layer):
    # Upstream: (255 - alpha) == False, in the array's own dtype.
    return (255 - layer[:, :, 3]) == 0


def merge(masks):
    merged = masks[0]
    for mask in masks[1:]:
        merged = np.logical_or(merged, mask)
    return merged


def smooth(values, half):
    out = np.zeros(len(values))
    for n in range(half, len(values) - half):
        out[n] = np.mean(values[n - half:n + half + 1])
    return out


def splits_of(merged, columns):
    signal = np.sqrt(smooth(np.sum(merged, axis=0), 30) + 1)
    signal = (signal / np.max(signal)) > 0.5
    runs = []
    x = 0
    while x < len(signal):
        if not signal[x]:
            x += 1
            continue
        start = x
        # Upstream indexes the signal before checking the bound: a run reaching the end fails.
        while signal[x]:
            x += 1
        runs.append((start, x - 1))
    runs.sort(key=lambda r: r[0] - r[1])
    runs = sorted(runs[:columns], key=lambda r: r[0])
    return [(runs[i][1] + runs[i + 1][0]) // 2 for i in range(len(runs) - 1)]


def ranges_of(merged, splits):
    edges = [0] + splits + [merged.shape[1]]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def stacked(image, ranges):
    parts = [image[:, a:b] for a, b in ranges]
    widest = max(p.shape[1] for p in parts)
    padded = [np.pad(p, ((0, 0), (0, widest - p.shape[1]), (0, 0)), mode="constant",
                     constant_values=255) for p in parts]
    return np.vstack(padded)


def write(path, image):
    # Upstream writes to path + ".png" (so OpenCV picks PNG) and renames.
    cv2.imwrite(path + ".png", image)
    os.rename(path + ".png", path)


def column_split(settings, inputs, outputs):
    layers = {port: cv2.imread(inputs[port], cv2.IMREAD_UNCHANGED) for port in MAIN_LAYERS}
    merged = merge([ink(layers["Text Layer"]), ink(layers["Staff Layer"]),
                    ink(layers["Music Notes Layer"])])
    ranges = ranges_of(merged, splits_of(merged, settings["Number of columns"]))
    for port in MAIN_LAYERS:
        write(outputs[port], stacked(layers[port], ranges))
    everything = [layers[p] for p in MAIN_LAYERS]
    for port in inputs:
        if port in MAIN_LAYERS:
            continue
        image = cv2.imread(inputs[port], cv2.IMREAD_UNCHANGED)
        result = stacked(image, ranges)
        everything.append(image)
        if port in outputs:
            write(outputs[port], result)
    if "All Layers" in outputs:
        total = stacked(everything[0], ranges)
        for image in everything[1:]:
            total = total + stacked(image, ranges)
        write(outputs["All Layers"], total)
    with open(outputs["Column Splitting Data"], "w") as f:
        json.dump({"width": merged.shape[1], "height": merged.shape[0], "split_ranges": ranges}, f)


# ---- Extract C Clefs (extract_c_clefs/base.py, extract_c_clefs.py) ---------------------------

def load_page(path):
    return cv2.imread(path, cv2.IMREAD_COLOR)


def clef_boxes(path):
    boxes = []
    # Every <glyph>, once per <id> inside it named clef.c.
    for glyph in ET.parse(path).getroot().iter("glyph"):
        for ident in glyph.iter("id"):
            if ident.attrib["name"] == "clef.c":
                left, top = int(glyph.attrib["ulx"]), int(glyph.attrib["uly"])
                right = left + int(glyph.attrib["ncols"])
                bottom = top + int(glyph.attrib["nrows"])
                boxes.append((left, top, right, bottom))
    return boxes


def crops_of(page, boxes):
    return [page[top:bottom, left:right] for left, top, right, bottom in boxes]


def extract_c_clefs(settings, inputs, outputs):
    page = load_page(inputs["PNG Image"])
    boxes = clef_boxes(inputs["XML file"])
    if not boxes:
        raise Exception("No C Clefs found in XML File.")
    # The resource's name: the harness names each input after its file.
    name = os.path.basename(inputs["PNG Image"])
    folder = outputs["C Clef"] + os.sep
    for n, crop in enumerate(crops_of(page, boxes), start=1):
        cv2.imwrite(f"{folder}{name}_{n}.png", crop)


# ---- Background Removal (background_removal/BgRemovalRodan.py, on DDMAL/background-removal's
# background_removal_engine.py) ---------------------------------------------------------------


def grey_of(bgr):
    """rgb2gray's weights on OpenCV's BGR samples, as upstream's engine calls it, summed left to
    right: numpy computes rgb2gray's `rgb @ coeffs` with BLAS, whose rounding changes with the
    CPU and with a pixel's place in the array, so its truncation to 8 bits may differ by one
    level on a few pixels from one run of upstream to another. Checked against rgb2gray itself:
    never more than one level apart."""
    from skimage.color import rgb2gray
    from skimage.util import img_as_float

    f = img_as_float(bgr)
    grey = (f[..., 0] * 0.2125 + f[..., 1] * 0.7154) + f[..., 2] * 0.0721
    ours, theirs = np.uint8(grey * 255).astype(int), np.uint8(rgb2gray(bgr) * 255).astype(int)
    assert np.abs(ours - theirs).max() <= 1, "rgb2gray differs by more than its rounding"
    return np.uint8(grey * 255)


def contrast_and_brightness(img, contrast, brightness):
    img = np.int16(img)
    img = img * (contrast / 127 + 1) - contrast + brightness
    return np.uint8(np.clip(img, 0, 255))


def background_removal(settings, inputs, outputs):
    from skimage.filters import threshold_sauvola

    # Rodan stores an enum setting as its index; the name is accepted too.
    if settings.get("Background Removal Method", 0) not in (0, "Sauvola Algorithm"):
        raise ValueError("this reference runs the Sauvola method only")
    window = settings.get("window_size", 15)
    k = settings.get("k", 0.2)
    contrast, brightness = settings.get("contrast", 127.0), settings.get("brightness", 0.0)
    image = cv2.imread(inputs["Image"], cv2.IMREAD_COLOR)
    img = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    grey = contrast_and_brightness(grey_of(img[:, :, :3]), contrast, brightness)
    mask = grey < threshold_sauvola(grey, window_size=window, k=k)
    cv2.imwrite(outputs["RGBA PNG image"], img * mask[:, :, np.newaxis])


def use_upstream_helpers(jobs_dir):
    """Replaces the helpers above with upstream's own, loaded from jobs_dir."""
    def load(relative):
        spec = importlib.util.spec_from_file_location(
            relative.replace("/", "_")[:-3], os.path.join(jobs_dir, relative))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    global ink, merge, splits_of, ranges_of, stacked, load_page, clef_boxes, crops_of
    cs = load("column_split/column_split.py")
    ink = lambda layer: cs.convert_to_grayscale(layer) == False  # noqa: E712 (upstream's test)
    merge = cs.get_merged_layers
    splits_of = cs.get_split_locations
    ranges_of = cs.get_split_ranges
    stacked = cs.get_stacked_image
    ec = load("extract_c_clefs/extract_c_clefs.py")
    load_page = ec.load_image
    clef_boxes = lambda path: ec.extract_coords(ec.load_xml(path))
    crops_of = ec.crop_images


JOBS = {
    "Column Splitting": column_split,
    "Extract C Clefs": extract_c_clefs,
    "Background Removal": background_removal,
}


def main(path):
    if os.environ.get("RODAN_UPSTREAM_JOBS_DIR"):
        use_upstream_helpers(os.environ["RODAN_UPSTREAM_JOBS_DIR"])
    with open(path) as f:
        cases = json.load(f)
    for case in cases:
        try:
            JOBS[case["job"]](case["settings"], case["inputs"], case["outputs"])
        except Exception:
            first = next(iter(case["outputs"].values()))
            with open(first.rstrip(os.sep) + ".error", "w") as f:
                f.write(traceback.format_exc())


if __name__ == "__main__":
    main(sys.argv[1])
