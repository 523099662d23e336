"""Runs upstream Rodan's Gamera and Pillow jobs the way their run_my_task does, as the reference the
Rust jobs are compared with (jobs/tests/gamera_reference.rs).

Usage: python reference.py CASES.json, where CASES.json is a list of
{"id": ID, "job": NAME, "settings": {...}, "inputs": {PORT: PNG}, "outputs": {PORT: PATH}}.
Enum settings are indices, as Rodan passes them. A case that raises writes ERROR to
outputs' first path + ".error" instead. Upstream bugs are not copied: 'Bernsen threshold' runs
bernsen_threshold (upstream's runs abutaleb_threshold), and the red filter blackens the pure white
pixels at their own positions (upstream transposes them).

The Miyao jobs need the MusicStaves toolkit (not on PyPI: `musicstaves/` of DDMAL/gamera4-rodan
built against Gamera 4.1.0, its `gamera/toolkits` folder named by RODAN_MUSICSTAVES unless it is
installed) and upstream's helper modules (`poly_lists.py`, `StaffFinding.py`, read from the Rodan
jobs folder named by RODAN_UPSTREAM_JOBS_DIR). Without them such a case writes SKIP to its first
output's path + ".skip".
"""

import importlib.util
import json
import os
import sys
import traceback

import numpy as np
from PIL import Image, ImageEnhance
from gamera import gamera_xml
from gamera.core import RGBPixel, init_gamera, load_image
from gamera.plugins.image_utilities import union_images

import celery_stand_in

STORAGE = "Storage format"


def save_all(image, outputs, port):
    image.save_PNG(outputs[port])


class Unavailable(Exception):
    """What a case needs is not installed here."""


def upstream_module(relative, name):
    root = os.environ.get("RODAN_UPSTREAM_JOBS_DIR")
    if not root:
        raise Unavailable("RODAN_UPSTREAM_JOBS_DIR is not set")
    # StaffFinding.py only takes a logger from Celery.
    celery_stand_in.install()
    spec = importlib.util.spec_from_file_location(name, os.path.join(root, relative))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def musicstaves():
    import gamera.toolkits

    extra = os.environ.get("RODAN_MUSICSTAVES")
    if extra and extra not in gamera.toolkits.__path__:
        gamera.toolkits.__path__.append(extra)
    try:
        from gamera.toolkits.musicstaves.stafffinder_miyao import StaffFinder_miyao
    except ImportError as e:
        raise Unavailable("MusicStaves is not importable: %s" % e)
    return StaffFinder_miyao


def run(job, s, i, o):
    if job == "Convert to RGB PNG":
        save_all(load_image(i["PNG image"]).to_rgb(), o, "RGB PNG image")
    elif job == "Convert to greyscale PNG":
        save_all(load_image(i["PNG image"]).to_greyscale(), o, "Greyscale PNG image")
    elif job == "Convert to greyscale 16 PNG":
        save_all(load_image(i["PNG image"]).to_grey16(), o, "Greyscale 16 PNG image")
    elif job == "Convert to one-bit (black and white) PNG":
        save_all(load_image(i["PNG image"]).to_onebit(), o, "One-bit PNG image")
    elif job == "Invert":
        image = load_image(i["PNG image"])
        image.invert()
        save_all(image, o, "PNG image")
    elif job == "Otsu Threshold":
        image = load_image(i["Greyscale PNG image"])
        save_all(image.otsu_threshold(s[STORAGE]), o, "Onebit PNG image")
    elif job == "Tsai Moment Preserving Threshold":
        image = load_image(i["Greyscale PNG image"])
        save_all(image.tsai_moment_preserving_threshold(s[STORAGE]), o, "Onebit PNG image")
    elif job == "Abutaleb locally-adaptive threshold":
        image = load_image(i["Greyscale PNG image"])
        save_all(image.abutaleb_threshold(s[STORAGE]), o, "Onebit PNG image")
    elif job == "Bernsen threshold":
        # Upstream's class ends up running abutaleb_threshold; the job is meant to run Bernsen.
        image = load_image(i["Greyscale PNG image"])
        result = image.bernsen_threshold(
            s[STORAGE], s["Region size"], s["Contrast limit"], s["Doubt to black"]
        )
        save_all(result, o, "Onebit PNG image")
    elif job == "Gatos Background":
        source = load_image(i["Greyscale PNG - source image to binarize"])
        prelim = load_image(i["Onebit PNG - preliminary binarization of the image"])
        result = source.gatos_background(prelim, s["Region size"])
        save_all(result, o, "Greyscale PNG - background estimation image")
    elif job == "Gatos Threshold":
        source = load_image(i["Greyscale PNG - source image to binarize"])
        background = load_image(i["Greyscale PNG - estimated background of the image"])
        prelim = load_image(i["Onebit PNG - preliminary binarization of the image"])
        result = source.gatos_threshold(background, prelim, s["q"], s["p1"], s["p2"])
        save_all(result, o, "Onebit PNG image")
    elif job == "Brink Threshold":
        save_all(load_image(i["Greyscale PNG image"]).brink_threshold(), o, "Onebit PNG image")
    elif job == "Sauvola Threshold":
        image = load_image(i["Greyscale PNG image"])
        result = image.sauvola_threshold(
            s["Region size"], s["Sensitivity"], s["Dynamic range"], s["Lower bound"], s["Upper bound"]
        )
        save_all(result, o, "Onebit PNG image")
    elif job == "Niblack Threshold":
        image = load_image(i["Greyscale PNG image"])
        result = image.niblack_threshold(
            s["Region size"], s["Sensitivity"], s["Lower bound"], s["Upper bound"]
        )
        save_all(result, o, "Onebit PNG image")
    elif job == "DjVu threshold":
        image = load_image(i["RGB PNG image"])
        result = image.djvu_threshold(
            s["Smoothness"], s["Maximum block size"], s["Minimum block size"], s["Block factor"]
        )
        save_all(result, o, "Onebit PNG image")
    elif job == "Despeckle":
        image = load_image(i["Onebit PNG image"])
        image.despeckle(s["Connected component size"])
        save_all(image, o, "Onebit PNG despeckled image")
    elif job == "Dilate":
        save_all(load_image(i["Onebit PNG image"]).dilate(), o, "Onebit PNG dilated image")
    elif job == "Mask (logical 'and')":
        source = load_image(i["Source image"])
        mask = load_image(i["Mask image"])
        save_all(source.and_image(mask), o, "Source image with mask applied")
    elif job == "Mask (logical 'xor')":
        source = load_image(i["Source image"])
        mask = load_image(i["Mask image"])
        save_all(source.xor_image(mask), o, "Source image with mask applied")
    elif job == "CC Analysis":
        ccs = load_image(i["1-Bit PNG Image"]).cc_analysis()
        port = "GameraXML - Connected Components"
        gamera_xml.WriteXMLFile(glyphs=ccs, with_features=True).write_filename(o[port])
    elif job == "Dirty Layer Repair":
        # Upstream's DirtyLayerRepairman with the job's settings (upstream's job fixes them at
        # 0.3 and 500): the dirty layer's components at least as loose as the density are added
        # to the base layer, then the result is despeckled.
        base = load_image(i["Base Layer"]).to_onebit()
        dirty = load_image(i["Dirty Layer"]).to_onebit()
        original = dirty.image_copy()
        canvas = dirty.image_copy()
        canvas.fill(RGBPixel(0, 0, 0))
        solid = [g for g in dirty.cc_analysis() if g.compactness()[0] < s["Minimum Density"]]
        dirt = original.xor_image(union_images([canvas] + solid))
        base.or_image(dirt, True)
        base.despeckle(s["Despeckle Size"])
        save_all(base, o, "Repaired Base Layer")
    elif job == "PNG (RGB)":
        image = Image.open(i["Image"])
        if image.mode == "RGBA":
            image.load()
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.split()[3])
            background.save(o["RGB PNG Image"], "PNG")
        else:
            image.convert("RGB").save(o["RGB PNG Image"], "PNG")
    elif job == "TIFF":
        Image.open(i["Image"]).convert("RGB").save(o["TIFF Image"], "TIFF")
    elif job == "Resize Image":
        image = Image.open(i["Image"])
        if ["Staff Scale Height", "Ratio"][s["Action"]] != "Ratio":
            ratio = 64.0 / float(s["Scale Value"])
        else:
            ratio = s["Scale Value"]
        width, height = image.size
        image = image.resize((int(width * ratio), int(height * ratio)))
        image.save(o["Resized PNG Image"], "PNG")
        if "Inverse Scale Ratio" in o:
            with open(o["Inverse Scale Ratio"], "w") as f:
                f.write(str(1 / ratio))
    elif job == "Red filtering":
        sal = Image.open(i["input"]).convert("RGB")
        red_layer = sal.split()[0]
        notes = red_layer.point(lambda v: v > 120 and 255).convert("1")
        notes.save(o["Staffless Image"], "PNG")
        pixels = np.array(sal)
        pixels[np.all(pixels == 255, axis=-1)] = 0
        sal = Image.fromarray(pixels, "RGB")
        enhanced_red = ImageEnhance.Color(sal).enhance(4).split()[0]
        staff = enhanced_red.point(lambda v: v < 255 and 255).convert("1")
        staff.save(o["Neumeless Image"], "PNG")
    elif job == "Miyao Staff Finder":
        finder_class = musicstaves()
        poly_lists = upstream_module("gamera_rodan/helpers/poly_lists.py", "poly_lists")
        finder = finder_class(load_image(i["Greyscale or one-bit PNG image"]), 0, 0)
        finder.find_staves(
            num_lines=s["Number of lines"],
            scanlines=s["Scan lines"],
            blackness=s["Blackness"],
            tolerance=s["Tolerance"],
        )
        polys = poly_lists.fix_poly_point_list(finder.get_polygon(), finder.staffspace_height)
        polys = poly_lists.create_polygon_outer_points_json_dict(polys)
        with open(o["Polygons (Miyao results)"], "w") as f:
            f.write(str(polys))
    elif job == "Miyao Staff Finding":
        musicstaves()
        staff_finding = upstream_module("heuristic_pitch_finding/StaffFinding.py", "StaffFinding")
        image = load_image(i["Image containing staves (RGB, greyscale, or onebit)"])
        finder = staff_finding.StaffFinder(
            lines_per_staff=s["Number of lines"],
            staff_finder=0,
            binarization=1,
            interpolation=s["Interpolation"],
        )
        jsomr = {"page": finder.get_page_properties(image), "staves": finder.get_staves(image)}
        with open(o["JSOMR"], "w") as f:
            f.write(json.dumps(jsomr))
    else:
        raise ValueError("no reference for job " + job)


def main(cases_path):
    init_gamera()
    with open(cases_path) as f:
        cases = json.load(f)
    for case in cases:
        try:
            run(case["job"], case["settings"], case["inputs"], case["outputs"])
        except Unavailable as e:
            first = next(iter(case["outputs"].values()))
            with open(first + ".skip", "w") as f:
                f.write(str(e))
        except Exception:
            first = next(iter(case["outputs"].values()))
            with open(first + ".error", "w") as f:
                f.write(traceback.format_exc())


if __name__ == "__main__":
    main(sys.argv[1])
