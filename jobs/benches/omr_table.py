"""Prints the table of scripts/bench-omr.sh: each step's median seconds over the rounds for
rodan-jobs and for upstream's jobs under Gamera 4.1.0, the total, pages per minute and the ratio,
then what each side found on the page (glyphs after each step, pitches, MEI elements), so that a
reader sees both sides did the same work.

Usage: python3 omr_table.py WORK ROUNDS, where WORK/rust-R and WORK/gamera-R (R = 1..ROUNDS) are
the rounds' folders, each with result.json (WORK/rust1-R: rodan-jobs on one thread). A side
without results shows dashes.
"""

import json
import os
import re
import statistics
import sys


def results(work, side, rounds):
    found = []
    for r in range(1, rounds + 1):
        path = os.path.join(work, "%s-%d" % (side, r), "result.json")
        if os.path.isfile(path):
            with open(path) as f:
                found.append(json.load(f))
    return found


def per_step(runs):
    """Step name -> list of seconds over the rounds, in the plan's order, plus the totals."""
    steps = {}
    for run in runs:
        for s in run["steps"]:
            steps.setdefault(s["job"], []).append(s["seconds"])
    totals = [sum(s["seconds"] for s in run["steps"]) for run in runs]
    return steps, totals


def cell(values):
    if not values:
        return "—"
    median = statistics.median(values)
    if len(values) == 1:
        return "%.3f" % median
    return "%.3f (%.3f–%.3f)" % (median, min(values), max(values))


def ratio(ours, theirs):
    if not ours or not theirs:
        return "—"
    return "%.1fx" % (statistics.median(theirs) / statistics.median(ours))


def page_summary(folder):
    def count(name, pattern):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            return len(re.findall(pattern, f.read()))

    summary = {
        "CCs": count("ccs.xml", r"<glyph "),
        "glyphs after slicing": count("sliced.xml", r"<glyph "),
        "glyphs after classification": count("classified.xml", r"<glyph "),
        "MEI neumes": count("page.mei", r"<neume[ >]"),
        "MEI neume components": count("page.mei", r"<nc[ >/]"),
    }
    path = os.path.join(folder, "pitches.json")
    if os.path.isfile(path):
        with open(path) as f:
            glyphs = json.load(f)["glyphs"]
        summary["pitched glyphs"] = len(glyphs)
        summary["pitches"] = [
            (g["glyph"]["name"], g["pitch"]["staff"], g["pitch"]["note"], g["pitch"]["octave"])
            for g in glyphs
        ]
    return summary


def main(work, rounds):
    rounds = int(rounds)
    rust = results(work, "rust", rounds)
    rust1 = results(work, "rust1", rounds)
    gamera = results(work, "gamera", rounds)
    ours, our_totals = per_step(rust)
    ours1, our1_totals = per_step(rust1)
    theirs, their_totals = per_step(gamera)
    names = list(ours) + [n for n in theirs if n not in ours]
    threads = rust[0].get("threads") if rust else None

    print("One page (Salzinnes ms73-068 layers), %d round(s); seconds: median (min–max)" % rounds)
    print()
    print("| step | rodan-jobs, %s threads | rodan-jobs, 1 thread | Gamera 4.1.0 + upstream's jobs "
          "| Gamera / rodan-jobs (%s threads) | Gamera / rodan-jobs (1 thread) |" % (threads, threads))
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        a, b, t = ours.get(name, []), ours1.get(name, []), theirs.get(name, [])
        print("| %s | %s | %s | %s | %s | %s |" % (
            name, cell(a), cell(b), cell(t), ratio(a, t), ratio(b, t)))
    print("| **whole pipeline** | **%s** | **%s** | **%s** | **%s** | **%s** |" % (
        cell(our_totals), cell(our1_totals), cell(their_totals),
        ratio(our_totals, their_totals), ratio(our1_totals, their_totals)))

    def ppm(totals):
        return "%.1f" % (60 / statistics.median(totals)) if totals else "—"

    print("| pages per minute (median) | %s | %s | %s | | |" % (
        ppm(our_totals), ppm(our1_totals), ppm(their_totals)))
    if gamera:
        startups = [g["startup"] for g in gamera]
        print()
        print("Python start-up (imports, init_gamera), not counted above: %s s" % cell(startups))
        guarded = gamera[0].get("guarded") or []
        if guarded:
            print("Upstream crash guarded (PitchFinder.get_subimage) on: %s" % "; ".join(guarded))

    sides = [("rodan-jobs", os.path.join(work, "rust-1")), ("Gamera", os.path.join(work, "gamera-1"))]
    summaries = [(label, page_summary(folder)) for label, folder in sides if os.path.isdir(folder)]
    if summaries:
        print()
        print("What each side found (round 1):")
        print()
        print("| | " + " | ".join(label for label, _ in summaries) + " |")
        print("|---|" + "---:|" * len(summaries))
        keys = [k for k in summaries[0][1] if k != "pitches"]
        for key in keys:
            print("| %s | %s |" % (key, " | ".join(str(s.get(key)) for _, s in summaries)))
        if len(summaries) == 2:
            a, b = summaries[0][1].get("pitches"), summaries[1][1].get("pitches")
            if a is not None and b is not None:
                same = sum(1 for x, y in zip(a, b) if x == y)
                print()
                print("Pitched glyphs equal in order (class, staff, note, octave): %d (of %d and %d)" % (
                    same, len(a), len(b)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
