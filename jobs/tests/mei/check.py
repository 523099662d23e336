"""Checks MEI files as a person moving workflows would: each must render with Verovio without
errors and, when a RelaxNG schema is given, validate against it (lxml's RelaxNG) if it declares
the schema's MEI version.

Usage: python check.py SVG_DIR [--rng SCHEMA] FILE...
Writes FILE's first page as SVG_DIR/<name>.svg and prints one JSON object per file:
{"file", "pages", "errors": [Verovio's error lines], "warnings": [...],
 "declared": its mei/@meiversion or null,
 "schema": "valid" | "invalid" | "not checked", "schema_errors": [...]}.
A file declaring another MEI version than the schema's (the values the schema allows for
mei/@meiversion) is "not checked", its schema_errors saying why: validating it against another
version's schema would say nothing about it.
"""

import json
import os
import sys
import tempfile

import lxml.etree
import verovio


def render(path, svg_dir):
    # Verovio's Python module writes its log to the process's stderr: catch it in a file.
    verovio.enableLog(verovio.LOG_WARNING)
    with tempfile.TemporaryFile(mode="w+") as log:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            tk = verovio.toolkit()
            with open(path, encoding="utf-8") as f:
                loaded = tk.loadData(f.read())
            pages = tk.getPageCount() if loaded else 0
            svg = tk.renderToSVG(1) if pages else ""
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        lines = [l.strip() for l in log.read().splitlines() if l.strip()]
    if svg:
        name = os.path.splitext(os.path.basename(path))[0] + ".svg"
        with open(os.path.join(svg_dir, name), "w", encoding="utf-8") as f:
            f.write(svg)
    errors = [l for l in lines if l.startswith("[Error]")]
    if not loaded:
        errors.append("[Error] Verovio could not load the file")
    warnings = [l for l in lines if l.startswith("[Warning]")]
    return pages, errors, warnings


RNG = "http://relaxng.org/ns/structure/1.0"


def schema_versions(rng):
    """The values the schema allows for @meiversion (MEI 5.0's: "5.0")."""
    return {
        v.text.strip()
        for a in rng.iter(f"{{{RNG}}}attribute")
        if a.get("name") == "meiversion"
        for v in a.iter(f"{{{RNG}}}value")
    }


def validate(path, schema, versions):
    doc = lxml.etree.parse(path)
    declared = doc.getroot().get("meiversion")
    if schema is None:
        return declared, "not checked", []
    if declared not in versions:
        return declared, "not checked", [
            f"declares MEI {declared}; the schema is MEI {' or '.join(sorted(versions))}"
        ]
    if schema.validate(doc):
        return declared, "valid", []
    return declared, "invalid", [f"{e.line}: {e.message}" for e in schema.error_log][:50]


def main(argv):
    svg_dir, files = argv[0], argv[1:]
    schema, versions = None, set()
    if files[:1] == ["--rng"]:
        rng = lxml.etree.parse(files[1])
        schema, versions = lxml.etree.RelaxNG(rng), schema_versions(rng)
        if not versions:
            sys.exit(f"{files[1]} names no MEI version (mei/@meiversion values)")
        files = files[2:]
    os.makedirs(svg_dir, exist_ok=True)
    for path in files:
        pages, errors, warnings = render(path, svg_dir)
        declared, state, schema_errors = validate(path, schema, versions)
        print(json.dumps({"file": path, "pages": pages, "errors": errors, "warnings": warnings,
                          "declared": declared, "schema": state,
                          "schema_errors": schema_errors}))


if __name__ == "__main__":
    main(sys.argv[1:])
