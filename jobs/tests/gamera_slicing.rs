//! 'Diagonal Neume Slicing' compared byte for byte with upstream's own algorithm
//! (`diagonal_neume_slicing/ProjectionSplitting.py` and `SliceFinding.py`) run under Gamera
//! 4.1.0 with its prioritisation flags set as the setting names them (upstream's job never sets
//! them), on pages other than the fixture's and with other settings. The reference runs
//! `tests/gamera/slicing.py` under the Python named by `RODAN_GAMERA_PYTHON` (what
//! `scripts/build-gamera.sh` prints); it reads upstream's code from `RODAN_UPSTREAM_JOBS_DIR`
//! (`rodan-main/code/rodan/jobs` of a DDMAL/Rodan checkout), which this project does not keep.
//! Without either, every trial is reported as skipped.

mod support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use rodan_jobs::{Ports, find};
use serde_json::{Value, json};
use support::{compare_lines, env_path, fixture, run_script, write_cases};

const PYTHON_VAR: &str = "RODAN_GAMERA_PYTHON";
const UPSTREAM_VAR: &str = "RODAN_UPSTREAM_JOBS_DIR";
const PORT: &str = "GameraXML - Connected Components";
const XML_TYPE: &str = "application/gamera+xml";

fn work_dir() -> PathBuf {
    support::work_dir("gamera-slicing")
}

/// The glyph files sliced: our CC Analysis of the one-bit conversions of the ms73-068 neume and
/// text layers (CC Analysis itself is compared with Gamera in `gamera_reference.rs`), and the
/// fixture's 240r glyphs with settings of their own.
const INPUTS: [&str; 3] = ["ms73-068_neume", "ms73-068_text", "240r"];

fn input_path(name: &str) -> PathBuf {
    if name == "240r" {
        fixture("240r_CC-analysis_output.xml")
    } else {
        work_dir().join("inputs").join(format!("{name}.xml"))
    }
}

#[derive(Debug, Clone)]
struct Case {
    id: String,
    input: &'static str,
    settings: Value,
}

impl Case {
    fn output(&self, side: &str) -> PathBuf {
        let name: String = self
            .id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        work_dir().join(side).join(format!("{name}.xml"))
    }
}

/// Settings in the schema's order: smoothing, minimum segment length, angle, minimum slice
/// spread, low valley threshold, minimum glyph size, maximum recursive cuts, prioritisation.
type Knobs = (u32, u32, u32, f64, f64, u32, u32, u8);

fn settings((smooth, segment, angle, spread, low, size, cuts, priority): Knobs) -> Value {
    json!({
        "Smoothing": smooth,
        "Minimum Segment Length": segment,
        "Angle": angle,
        "Minimum Slice Spread": spread,
        "Low Valley Threshold": low,
        "Minimum Glyph Size": size,
        "Maximum Recursive Cuts": cuts,
        "Slice Prioritization": priority,
    })
}

fn cases() -> Vec<Case> {
    let mut knobs: Vec<(&'static str, Knobs)> = Vec::new();
    // Upstream's defaults under each prioritisation.
    for priority in 0..4 {
        knobs.push(("ms73-068_neume", (1, 5, 45, 0.3, 1.0, 0, 10, priority)));
    }
    // Angles from 31° to 59° only: outside them Gamera leaves a one-pixel-thin glyph unpadded,
    // reads outside it and may crash (it does at 0° to 10° and at 90° on the 240r page); such
    // angles are left to the unit tests.
    knobs.extend([
        ("ms73-068_neume", (3, 3, 35, 0.2, 0.8, 4, 5, 1)),
        // Above 45°: Gamera turns the image a quarter before rotating.
        ("ms73-068_neume", (2, 0, 55, 0.1, 0.5, 2, 100, 3)),
        ("ms73-068_neume", (5, 4, 50, 0.25, 0.9, 0, 10, 2)),
        ("ms73-068_neume", (1, 2, 32, 0.2, 1.0, 0, 10, 2)),
        ("ms73-068_text", (1, 3, 45, 0.2, 1.0, 0, 10, 3)),
        ("ms73-068_text", (2, 5, 40, 0.3, 0.6, 5, 10, 0)),
        ("240r", (4, 2, 58, 0.15, 0.7, 3, 3, 1)),
        ("240r", (1, 1, 45, 0.05, 1.0, 0, 50, 2)),
    ]);
    knobs
        .into_iter()
        .map(|(input, k)| Case {
            id: format!(
                "{input}/smooth{}-segment{}-angle{}-spread{}-low{}-size{}-cuts{}-priority{}",
                k.0, k.1, k.2, k.3, k.4, k.5, k.6, k.7
            ),
            input,
            settings: settings(k),
        })
        .collect()
}

fn main() {
    let args = Arguments::from_args();
    let trials = cases()
        .into_iter()
        .map(|case| {
            Trial::ignorable_test(case.id.clone(), move || {
                let paths =
                    env_path(PYTHON_VAR, "scripts/build-gamera.sh prints it").and_then(|python| {
                        let upstream = env_path(
                            UPSTREAM_VAR,
                            "rodan-main/code/rodan/jobs of a DDMAL/Rodan checkout, whose \
                             slicing code the reference runs",
                        )?;
                        Ok((python, upstream))
                    });
                let (python, upstream) = match paths {
                    Ok(paths) => paths,
                    Err(skip) => return Ok(skip),
                };
                reference(&python, &upstream)?;
                compare(&case).map(|()| Completion::Completed)
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// Our CC Analysis of `page`'s one-bit conversion, as GameraXML at `out`.
fn glyphs_of(page: &Path, out: &Path) -> Result<(), String> {
    let onebit = out.with_extension("png");
    let convert = find("Convert to one-bit (black and white) PNG").ok_or("no conversion job")?;
    convert
        .run(
            &Ports::new().with("PNG image", page, "image/rgb+png"),
            &json!({}),
            &Ports::new().with("One-bit PNG image", &onebit, "image/onebit+png"),
        )
        .map_err(|e| e.to_string())?;
    let cc = find("CC Analysis").ok_or("no CC Analysis job")?;
    cc.run(
        &Ports::new().with("1-Bit PNG Image", &onebit, "image/onebit+png"),
        &json!({}),
        &Ports::new().with(PORT, out, XML_TYPE),
    )
    .map_err(|e| e.to_string())
}

/// Makes the inputs and runs the reference on every case, once for all trials.
fn reference(python: &Path, upstream: &Path) -> Result<(), Failed> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let _ = std::fs::remove_dir_all(work_dir());
        for dir in ["inputs", "gamera", "rust"] {
            std::fs::create_dir_all(work_dir().join(dir)).map_err(|e| e.to_string())?;
        }
        for name in INPUTS.iter().filter(|&&n| n != "240r") {
            glyphs_of(&fixture(&format!("{name}.png")), &input_path(name))?;
        }
        let list: Vec<Value> = cases()
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "input": input_path(c.input),
                    "settings": c.settings,
                    "output": c.output("gamera"),
                })
            })
            .collect();
        let list_path = write_cases(&work_dir(), &list)?;
        run_script(
            python,
            &["-W", "ignore::SyntaxWarning"],
            "gamera/slicing.py",
            &[upstream.as_os_str(), list_path.as_os_str()],
        )
        .map(drop)
    })
    .clone()
    .map_err(Failed::from)
}

fn compare(case: &Case) -> Result<(), Failed> {
    let job = find("Diagonal Neume Slicing").ok_or("the job is in the catalogue")?;
    let ours = case.output("rust");
    job.run(
        &Ports::new().with(PORT, input_path(case.input), XML_TYPE),
        &case.settings,
        &Ports::new().with(PORT, &ours, XML_TYPE),
    )
    .map_err(|e| format!("{e}: {}", e.error_details()))?;
    let mine = std::fs::read_to_string(&ours)?;
    let theirs = std::fs::read_to_string(case.output("gamera"))?;
    Ok(compare_lines(
        "the GameraXML (Gamera's vs ours)",
        &theirs,
        &mine,
    )?)
}
