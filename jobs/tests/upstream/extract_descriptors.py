"""Extracts the class attributes of upstream Rodan's jobs (name, author, description, category,
settings, ports) into descriptors.json, which tests/descriptors.rs compares the Rust jobs with.

Usage: python extract_descriptors.py RODAN_JOBS_DIR CALVO_GIT_DIR > descriptors.json, where
RODAN_JOBS_DIR is rodan-main/code/rodan/jobs of a DDMAL/Rodan checkout and CALVO_GIT_DIR a clone
of DDMAL/Calvo-classifier, from whose history come the GPU jobs as DDMAL's workflow exports of
2020 name them (CALVO below: the commit of each file). Only the files of the jobs this crate runs
are read (an entry FILE:CLASS takes that class only, for files that define other jobs too);
nothing is imported (the attributes are evaluated from the syntax tree). A port whose
resource types are `lambda mime: mime.startswith('image/')` is written as ["image/*"], one of
`lambda mime: mime.endswith('png')` as ["*png"].
"""

import ast
import json
import os
import subprocess
import sys

FILES = [
    "helloworld/helloworld.py",
    "pil_rodan/red_filtering.py",
    "pil_rodan/resize.py",
    "pil_rodan/to_png.py",
    "pil_rodan/to_tiff.py",
    "gamera_rodan/wrappers/plugins/image_conversion.py",
    "gamera_rodan/wrappers/plugins/image_utilities.py",
    "gamera_rodan/wrappers/plugins/threshold.py",
    "gamera_rodan/wrappers/plugins/binarization.py",
    "gamera_rodan/wrappers/plugins/morphology.py",
    "gamera_rodan/wrappers/plugins/cc_analysis.py",
    "gamera_rodan/wrappers/masking.py",
    "column_split/base.py",
    "extract_c_clefs/base.py",
    "heuristic_pitch_finding/base.py",
    "diagonal_neume_slicing/base.py",
    "mei2vol_wrapper/m2v_wrapper.py",
    "MEI_resizing/mei_resize.py",
    "MEI_encoding/MEI_encoding.py",
    "gamera_rodan/wrappers/toolkits/music_staves/miyao.py",
    "gamera_rodan/wrappers/classification.py",
    "interactive_classifier/gamera_xml_distributor.py",
    "interactive_classifier/wrapper.py",
    "biollante_rodan/biollante_rodan.py",
    "Paco_classifier/fast_paco_classifier.py",
    "Paco_classifier/fast_paco_trainer.py",
    "SAE_binarization/SAE_binarization.py",
    "background_removal/BgRemovalRodan.py",
]
# (commit, file) of DDMAL/Calvo-classifier: 'Fast Pixelwise Analysis of Music Document' with its
# four named models (Fast-Calvo.json, Full-Workflow.json) and 'Training model for Patchwise
# Analysis of Music Document' with numbered layers (v2fast-trainer.json).
CALVO = [
    ("a66a7ca9b1b32535c6374b3ce1e6d000d8e98a70", "fast_calvo_classifier.py"),
    ("c45e882c83796422998b3ad094fcbec624b64595", "fast_calvo_trainer.py"),
]
ATTRIBUTES = ["name", "author", "description", "category", "settings", "enabled", "interactive",
              "input_port_types", "output_port_types"]


class Lambdas(ast.NodeTransformer):
    def visit_Lambda(self, node):
        text = ast.unparse(node)
        if text == "lambda mime: mime.startswith('image/')":
            return ast.copy_location(ast.List(elts=[ast.Constant("image/*")], ctx=ast.Load()), node)
        if text == "lambda mime: mime.endswith('png')":
            return ast.copy_location(ast.List(elts=[ast.Constant("*png")], ctx=ast.Load()), node)
        raise ValueError("unknown resource type filter " + text)


def evaluate(node):
    node = ast.fix_missing_locations(ast.Expression(Lambdas().visit(node)))
    # Literals joined with + (Resize's settings): evaluate without names or builtins.
    return eval(compile(node, "<attr>", "eval"), {"__builtins__": {}}, {})


def sources(root, calvo):
    for entry in FILES:
        name, _, only = entry.partition(":")
        with open(os.path.join(root, name)) as f:
            yield f.read(), only
    for commit, name in CALVO:
        text = subprocess.run(["git", "-C", calvo, "show", f"{commit}:{name}"], check=True,
                              capture_output=True, text=True).stdout
        yield text, ""


def main(root, calvo):
    jobs = {}
    for source, only in sources(root, calvo):
        tree = ast.parse(source)
        classes = (n for n in tree.body if isinstance(n, ast.ClassDef))
        for cls in (c for c in classes if not only or c.name == only):
            attrs = {}
            for st in cls.body:
                if isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Name):
                    if st.targets[0].id in ATTRIBUTES:
                        attrs[st.targets[0].id] = evaluate(st.value)
                elif isinstance(st, ast.AugAssign) and st.target.id == "description":
                    attrs["description"] += evaluate(st.value)
            if "name" in attrs:
                attrs["input_port_types"] = list(attrs.get("input_port_types", []))
                attrs["output_port_types"] = list(attrs.get("output_port_types", []))
                jobs[attrs["name"]] = attrs
    json.dump(jobs, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
