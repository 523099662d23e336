//! Gamera's glyph-level functions compared with Gamera 4.1.0 itself: `rotate` pixel for pixel on
//! generated one-bit images and a synthetic page, at many angles. The reference runs
//! `tests/gamera/glyphs.py` under the Python named by `RODAN_GAMERA_PYTHON` (what
//! `scripts/build-gamera.sh` prints); without it every trial is reported as skipped.

#[path = "gamera/page.rs"]
mod page;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rodan_jobs::gamera::png::{load_png, save_png};
use rodan_jobs::gamera::transformation::rotate;
use rodan_jobs::gamera::{BLACK, Image, Plane, WHITE};
use serde_json::{Value, json};

const PYTHON_VAR: &str = "RODAN_GAMERA_PYTHON";

fn work_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("gamera-glyphs")
}

/// One comparison with Gamera.
#[derive(Debug, Clone)]
enum Case {
    Rotate {
        input: &'static str,
        angle: f64,
        order: u8,
    },
}

impl Case {
    fn id(&self) -> String {
        match self {
            Case::Rotate {
                input,
                angle,
                order,
            } => format!("rotate/{input}/{angle}/{order}"),
        }
    }

    fn output(&self) -> PathBuf {
        let name: String = self
            .id()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        work_dir().join("gamera").join(name)
    }

    fn reference_job(&self) -> Value {
        match self {
            Case::Rotate {
                input,
                angle,
                order,
            } => json!({
                "op": "rotate",
                "input": input_path(input),
                "angle": angle,
                "order": order,
                "output": self.output(),
            }),
        }
    }
}

fn input_path(name: &str) -> PathBuf {
    work_dir().join("inputs").join(format!("{name}.png"))
}

// ---- inputs -----------------------------------------------------------------------------------

/// Random one-bit images: noise of the given density plus filled discs and bars.
fn blob(width: usize, height: usize, seed: u64) -> Plane<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut p = Plane::new(width, height, WHITE);
    for y in 0..height {
        for x in 0..width {
            if rng.random_range(0..100) < 15 {
                p.set(x, y, BLACK);
            }
        }
    }
    for _ in 0..3 {
        let (cx, cy) = (
            rng.random_range(0.0..width as f64),
            rng.random_range(0.0..height as f64),
        );
        let r = rng.random_range(1.0..(width.min(height) as f64 / 2.0).max(1.5));
        for y in 0..height {
            for x in 0..width {
                if (x as f64 - cx).hypot(y as f64 - cy) <= r {
                    p.set(x, y, BLACK);
                }
            }
        }
    }
    p
}

/// The inputs by name. Gamera's rotate reads outside a one-pixel-high (or wide) image that its
/// angle does not pad, and crashes; those are left to the unit tests.
fn inputs() -> Vec<(&'static str, Plane<u8>)> {
    let page = page::scanned_page(517, 389, 11);
    let grey: Vec<u8> = page
        .pixels
        .iter()
        .map(|&[r, g, b]| {
            let l = (u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114) / 1000;
            u8::from(l < 150)
        })
        .collect();
    let page = Plane::from_vec(page.width, page.height, grey).expect("the page's pixels");
    vec![
        ("dot", blob(1, 1, 1)),
        ("square", blob(2, 2, 4)),
        ("small", blob(7, 5, 5)),
        ("glyph", blob(23, 37, 6)),
        ("wide", blob(64, 18, 7)),
        ("page", page),
    ]
}

const ANGLES: [f64; 26] = [
    0.0, 0.5, -1.25, 3.0, 10.0, 30.0, 44.99, 45.0, 46.0, 60.0, 90.0, 100.0, 134.5, 135.0, 170.0,
    180.0, 200.0, 225.0, 250.0, 270.0, 300.0, 315.0, 330.0, -45.0, -100.0, 725.5,
];

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut rng = StdRng::seed_from_u64(2026);
    for (input, _) in inputs() {
        let random = (0..8).map(|_| (rng.random_range(-180.0..180.0f64) * 100.0).round() / 100.0);
        for angle in ANGLES.into_iter().chain(random) {
            cases.push(Case::Rotate {
                input,
                angle,
                order: 1,
            });
        }
    }
    cases
}

// ---- running ----------------------------------------------------------------------------------

fn main() {
    let args = Arguments::from_args();
    let trials = cases()
        .into_iter()
        .map(|case| {
            Trial::ignorable_test(case.id(), move || {
                let Some(python) = std::env::var_os(PYTHON_VAR) else {
                    return Ok(Completion::ignored_with(format!(
                        "skipped: {PYTHON_VAR} is not set (scripts/build-gamera.sh prints it)"
                    )));
                };
                reference(&PathBuf::from(python))?;
                compare(&case).map(|()| Completion::Completed)
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// Writes the inputs and runs the reference on every case, once for all trials.
fn reference(python: &Path) -> Result<(), Failed> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let _ = std::fs::remove_dir_all(work_dir());
        for dir in ["inputs", "gamera"] {
            std::fs::create_dir_all(work_dir().join(dir)).map_err(|e| e.to_string())?;
        }
        for (name, plane) in inputs() {
            save_png(&Image::OneBit(plane), &input_path(name)).map_err(|e| e.to_string())?;
        }
        let list: Vec<Value> = cases().iter().map(Case::reference_job).collect();
        let list_path = work_dir().join("cases.json");
        std::fs::write(
            &list_path,
            serde_json::to_vec(&list).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gamera/glyphs.py");
        let out = Command::new(python)
            .arg(script)
            .arg(&list_path)
            .output()
            .map_err(|e| format!("failed to start {}: {e}", python.display()))?;
        if !out.status.success() {
            return Err(format!(
                "the reference script failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    })
    .clone()
    .map_err(Failed::from)
}

fn onebit(path: &Path) -> Result<Plane<u8>, Failed> {
    match load_png(path).map_err(|e| format!("{}: {e}", path.display()))? {
        Image::OneBit(p) => Ok(p),
        other => Err(format!("{}: not one-bit: {:?}", path.display(), other.pixel_type()).into()),
    }
}

fn compare(case: &Case) -> Result<(), Failed> {
    let theirs = case.output();
    let error = PathBuf::from(format!("{}.error", theirs.display()));
    if error.exists() {
        return Err(format!("Gamera failed: {}", std::fs::read_to_string(&error)?).into());
    }
    match case {
        Case::Rotate {
            input,
            angle,
            order,
        } => {
            let source = onebit(&input_path(input))?;
            let expected = onebit(&theirs)?;
            let ours = rotate(&source, *angle, *order);
            let (ew, eh, ow, oh) = (
                expected.width(),
                expected.height(),
                ours.width(),
                ours.height(),
            );
            if (ew, eh) != (ow, oh) {
                return Err(format!("Gamera's image is {ew}×{eh}, ours {ow}×{oh}").into());
            }
            let differ: Vec<usize> = expected
                .pixels()
                .iter()
                .zip(ours.pixels())
                .enumerate()
                .filter(|(_, (a, b))| (**a != WHITE) != (**b != WHITE))
                .map(|(i, _)| i)
                .collect();
            if let Some(&first) = differ.first() {
                return Err(format!(
                    "{} pixels differ, the first at ({}, {})",
                    differ.len(),
                    first % ew,
                    first / ew
                )
                .into());
            }
        }
    }
    Ok(())
}
