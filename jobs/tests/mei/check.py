"""Checks MEI files as a person moving workflows would: each must render with Verovio without
errors and, when a RelaxNG schema is given, validate against it (lxml's RelaxNG).

Usage: python check.py SVG_DIR [--rng SCHEMA] FILE...
Writes FILE's first page as SVG_DIR/<name>.svg and prints one JSON object per file:
{"file", "pages", "errors": [Verovio's error lines], "warnings": [...],
 "schema": "valid" | "invalid" | "not checked", "schema_errors": [...]}.
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


def validate(path, schema):
    if schema is None:
        return "not checked", []
    doc = lxml.etree.parse(path)
    if schema.validate(doc):
        return "valid", []
    return "invalid", [f"{e.line}: {e.message}" for e in schema.error_log][:50]


def main(argv):
    svg_dir, files = argv[0], argv[1:]
    schema = None
    if files[:1] == ["--rng"]:
        schema = lxml.etree.RelaxNG(lxml.etree.parse(files[1]))
        files = files[2:]
    os.makedirs(svg_dir, exist_ok=True)
    for path in files:
        pages, errors, warnings = render(path, svg_dir)
        state, schema_errors = validate(path, schema)
        print(json.dumps({"file": path, "pages": pages, "errors": errors, "warnings": warnings,
                          "schema": state, "schema_errors": schema_errors}))


if __name__ == "__main__":
    main(sys.argv[1:])
