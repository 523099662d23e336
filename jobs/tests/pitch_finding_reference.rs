//! 'Heuristic Pitch Finding' compared byte for byte with upstream's own `PitchFinder`
//! (`heuristic_pitch_finding/PitchFinding.py`) under Gamera 4.1.0, on the fixture's glyphs and
//! staves with other discard sizes, on staves moved, renumbered, dropped and given float
//! coordinates, and on glyphs relabelled (F and G clefs, bottom-left-head neumes, virgas,
//! custodes, several class names per glyph, other classification states). The reference runs
//! `tests/gamera/pitch_reference.py` under the Python named by `RODAN_GAMERA_PYTHON`, reading
//! upstream's module from the jobs tree named by `RODAN_UPSTREAM_JOBS_DIR`
//! (`rodan-main/code/rodan/jobs` of a DDMAL/Rodan checkout; nothing of it is kept here). Without
//! either, every trial is reported as skipped.

mod support;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rodan_jobs::gamera::xml::{self, State};
use rodan_jobs::pyjson::Value;
use rodan_jobs::{JobError, Ports, find};
use serde_json::json;
use support::{compare_bytes, env_path, fixture, run_script, write_cases};

const PYTHON_VAR: &str = "RODAN_GAMERA_PYTHON";
const UPSTREAM_VAR: &str = "RODAN_UPSTREAM_JOBS_DIR";
const STAVES_PORT: &str = "JSOMR of staves and page properties";
const GLYPHS_PORT: &str = "GameraXML - Classified Connected Components";
const OUTPUT_PORT: &str = "JSOMR of glyphs, staves, and page properties";

fn work_dir() -> PathBuf {
    support::work_dir("pitch-reference")
}

/// One comparison: the staves and glyphs files and the discard size.
#[derive(Debug, Clone)]
struct Case {
    id: String,
    staves: PathBuf,
    glyphs: PathBuf,
    discard_size: i64,
}

impl Case {
    fn output(&self, side: &str) -> PathBuf {
        work_dir()
            .join(side)
            .join(format!("{}.json", self.id.replace('/', "_")))
    }
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
                            "rodan-main/code/rodan/jobs of a DDMAL/Rodan checkout",
                        )?;
                        Ok((python, upstream))
                    });
                let (python, upstream) = match paths {
                    Ok(paths) => paths,
                    Err(skip) => return Ok(skip),
                };
                if !upstream
                    .join("heuristic_pitch_finding/PitchFinding.py")
                    .is_file()
                {
                    return Ok(Completion::ignored_with(format!(
                        "skipped: {} has no heuristic_pitch_finding/PitchFinding.py",
                        upstream.display()
                    )));
                }
                reference(&python, &upstream)?;
                compare(&case).map(|()| Completion::Completed)
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

// ---- inputs -----------------------------------------------------------------------------------

fn input(name: &str) -> PathBuf {
    work_dir().join("inputs").join(name)
}

fn cases() -> Vec<Case> {
    let staves = fixture("238r-miyao-staff-finding.json");
    let glyphs = fixture("238r-nic.xml");
    let case = |id: String, staves: &Path, glyphs: &Path, discard_size| Case {
        id,
        staves: staves.to_owned(),
        glyphs: glyphs.to_owned(),
        discard_size,
    };
    let mut cases = Vec::new();
    for size in [5, 18, 25] {
        cases.push(case(format!("238r/discard-{size}"), &staves, &glyphs, size));
    }
    for seed in 1..=3 {
        let s = input(&format!("staves-{seed}.json"));
        let g = input(&format!("glyphs-{seed}.xml"));
        cases.push(case(format!("staves-moved/{seed}"), &s, &glyphs, 12));
        cases.push(case(format!("glyphs-relabelled/{seed}"), &staves, &g, 12));
        let size = 5 + 4 * seed;
        cases.push(case(format!("both/{seed}"), &s, &g, size));
    }
    cases.push(case(
        "no-punctums".into(),
        &staves,
        &input("no-punctums.xml"),
        12,
    ));
    cases.push(case(
        "clef-without-shape".into(),
        &staves,
        &input("clef-without-shape.xml"),
        12,
    ));
    cases.push(case(
        "uneven-lines".into(),
        &input("uneven-lines.json"),
        &glyphs,
        12,
    ));
    cases
}

fn with_value(v: &mut Value, key: &str, f: impl FnOnce(&mut Value)) {
    if let Value::Dict(pairs) = v
        && let Some((_, value)) = pairs.iter_mut().rev().find(|(k, _)| k == key)
    {
        f(value);
    }
}

fn shift(v: &mut Value, by: i64, as_float: bool) {
    *v = match *v {
        Value::Int(i) if as_float => Value::Float(i as f64 + by as f64 + 0.5),
        Value::Int(i) => Value::Int(i + by),
        Value::Float(f) => Value::Float(f + by as f64),
        ref other => other.clone(),
    };
}

/// The fixture's staves moved up or down (lines jittered), some shifted sideways, renumbered,
/// given float coordinates or dropped.
fn moved_staves(text: &str, seed: u64) -> Value {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut doc = Value::parse(text).expect("the fixture parses");
    with_value(&mut doc, "staves", |staves| {
        let Value::List(list) = staves else { return };
        list.retain(|_| rng.random_range(0..10) >= 2);
        for st in list.iter_mut() {
            let dy = rng.random_range(-40..=40);
            let dx = rng.random_range(-60..=60);
            let floats = rng.random_range(0..10) < 2;
            match rng.random_range(0..10) {
                0..3 => {
                    let n = rng.random_range(1..=20);
                    with_value(st, "staff_no", |v| *v = Value::Int(n));
                }
                3 => {
                    let n = f64::from(rng.random_range(2..=40)) / 2.0;
                    with_value(st, "staff_no", |v| *v = Value::Float(n));
                }
                _ => {}
            }
            with_value(st, "bounding_box", |bb| {
                with_value(bb, "uly", |v| shift(v, dy, false));
                with_value(bb, "ulx", |v| shift(v, dx, false));
            });
            with_value(st, "line_positions", |lines| {
                let Value::List(lines) = lines else { return };
                for line in lines {
                    let Value::List(points) = line else { continue };
                    for p in points {
                        if let Value::List(xy) = p
                            && let Some(y) = xy.get_mut(1)
                        {
                            shift(y, dy + rng.random_range(-3..=3), floats);
                        }
                    }
                }
            });
        }
    });
    doc
}

const BOTTOM_LEFTS: [&str; 3] = ["neume.podatus2b", "neume.podatus3", "neume.scandicus22b"];

/// The fixture's glyphs relabelled at random.
fn relabelled(db: &xml::Database, seed: u64) -> xml::Database {
    let mut rng = StdRng::seed_from_u64(100 + seed);
    let mut db = db.clone();
    for g in &mut db.glyphs {
        let confidence = g.ids.first().map_or(0.5, |id| id.1);
        let roll = rng.random_range(0..100);
        let rename = |g: &mut xml::Glyph, name: &str| g.ids = vec![(name.to_owned(), confidence)];
        match roll {
            0..4 => rename(g, "clef.f"),
            4..7 => rename(g, "clef.g"),
            7..12 if g.nrows() >= 80 => rename(g, BOTTOM_LEFTS[rng.random_range(0..3)]),
            12..17 => rename(g, "neume.virga"),
            17..20 => rename(g, "custos"),
            // A second class name, more or less confident than the first.
            20..30 => {
                let other = ["neume.punctum", "clef.c", "neume.virga"][rng.random_range(0..3)];
                let c = rng.random_range(0.0..1.0);
                g.ids.insert(0, (other.to_owned(), c));
            }
            30..35 => g.state = State::Manual,
            35..38 => g.state = State::Heuristic,
            38..40 => rename(g, "skip"),
            _ => {}
        }
    }
    db
}

fn generate_inputs() -> Result<(), String> {
    std::fs::create_dir_all(work_dir().join("inputs")).map_err(|e| e.to_string())?;
    let staves = std::fs::read_to_string(fixture("238r-miyao-staff-finding.json"))
        .map_err(|e| e.to_string())?;
    let glyphs_xml = std::fs::read(fixture("238r-nic.xml")).map_err(|e| e.to_string())?;
    let db = xml::parse(&glyphs_xml).map_err(|e| e.to_string())?;
    let write = |name: &str, text: String| {
        std::fs::write(input(name), text).map_err(|e| format!("{name}: {e}"))
    };
    for seed in 1..=3 {
        write(
            &format!("staves-{seed}.json"),
            moved_staves(&staves, seed).to_json(),
        )?;
        write(
            &format!("glyphs-{seed}.xml"),
            xml::write(&relabelled(&db, seed), false),
        )?;
    }
    let mut none = db.clone();
    for g in &mut none.glyphs {
        if g.ids
            .iter()
            .any(|id| id.0 == "neume.punctum" || id.0 == "neume.virga")
        {
            g.ids = vec![("neume.clivis2".to_owned(), 0.9)];
        }
    }
    write("no-punctums.xml", xml::write(&none, false))?;
    let mut shapeless = db.clone();
    if let Some(g) = shapeless
        .glyphs
        .iter_mut()
        .find(|g| g.ids.iter().any(|id| id.0 == "clef.c"))
    {
        g.ids = vec![("clef".to_owned(), 0.9)];
    }
    write("clef-without-shape.xml", xml::write(&shapeless, false))?;
    // The last line of each staff loses its last point.
    let mut uneven = Value::parse(&staves).map_err(|e| e.to_string())?;
    with_value(&mut uneven, "staves", |staves| {
        let Value::List(list) = staves else { return };
        for st in list {
            with_value(st, "line_positions", |lines| {
                if let Value::List(lines) = lines
                    && let Some(Value::List(points)) = lines.last_mut()
                {
                    points.pop();
                }
            });
        }
    });
    write("uneven-lines.json", uneven.to_json())
}

// ---- running ----------------------------------------------------------------------------------

/// Generates the inputs and runs the reference on every case, once for all trials.
fn reference(python: &Path, upstream: &Path) -> Result<(), Failed> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let _ = std::fs::remove_dir_all(work_dir());
        generate_inputs()?;
        std::fs::create_dir_all(work_dir().join("gamera")).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(work_dir().join("rust")).map_err(|e| e.to_string())?;
        let list: Vec<_> = cases()
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "staves": c.staves,
                    "glyphs": c.glyphs,
                    "discard_size": c.discard_size,
                    "output": c.output("gamera"),
                })
            })
            .collect();
        let list_path = write_cases(&work_dir(), &list)?;
        run_script(
            python,
            &[],
            "gamera/pitch_reference.py",
            &[upstream.as_os_str(), list_path.as_os_str()],
        )
        .map(drop)
    })
    .clone()
    .map_err(Failed::from)
}

fn compare(case: &Case) -> Result<(), Failed> {
    let job = find("Heuristic Pitch Finding").ok_or("the job is in the catalogue")?;
    let mine = case.output("rust");
    let ours = job.run(
        &Ports::new()
            .with(STAVES_PORT, &case.staves, "application/json")
            .with(GLYPHS_PORT, &case.glyphs, "application/gamera+xml"),
        &json!({"Discard Size": case.discard_size}),
        &Ports::new().with(OUTPUT_PORT, &mine, "application/json"),
    );
    let theirs = case.output("gamera");
    let error = PathBuf::from(format!("{}.error", theirs.display()));
    if error.exists() {
        let why = std::fs::read_to_string(&error)?;
        return match ours {
            Err(JobError::BadInput { .. }) => Ok(()),
            Err(e) => Err(format!("the reference failed and we failed with {e}").into()),
            Ok(()) => Err(format!("the reference failed but the job succeeded:\n{why}").into()),
        };
    }
    ours.map_err(|e| format!("{e}: {}", e.error_details()))?;
    Ok(compare_bytes(&theirs, &mine)?)
}
