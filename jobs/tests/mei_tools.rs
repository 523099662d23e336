//! Every MEI the jobs write in the upstream fixture cases (`shared/fixtures/upstream-jobs`), MEI
//! Encoding's output without its optional inputs, and MEI Resizing of that output, must render
//! with Verovio without errors and, when `RODAN_MEI_SCHEMA` names MEI 5.0's RelaxNG schema (what
//! `scripts/build-mei-schema.sh` prints), validate against it when they declare MEI 5.0. MEI
//! Encoding must declare 5.0 ([`rodan_jobs::mei::MEI_VERSION`]); MEI Resizing declares its
//! input's version, unchanged (a Neon file of MEI 4.0.0 stays 4.0.0: no registry ships MEI 4's
//! schema, so such an output is reported as not checked). The checks run `tests/mei/check.py`
//! under the Python named by `RODAN_MEI_TOOLS_PYTHON` (what `scripts/build-mei-tools.sh` prints);
//! without it every trial is reported as skipped. The first page of each rendering is kept as SVG
//! under the target's temporary folder, to look at.
//!
//! The `schema:` trials check the schema itself (`tests/mei/schema.py`, under the schema's own
//! venv beside it, which has Verovio 4.5.1): its elements, classes, macros, attributes and
//! values against MEI 5.0's compiled ODD kept beside it; mutations of MEI Encoding's output
//! refused with their specific messages; Verovio 4.5.1's MEI 5.0 accepted. Without
//! `RODAN_MEI_SCHEMA` they are reported as skipped.

mod support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use rodan_jobs::{Ports, find};
use serde::Deserialize;
use serde_json::Value;
use support::{env_path, run_script, sanitize, shared_dir};

use rodan_jobs::mei::{Document, MEI_VERSION};

const PYTHON_VAR: &str = "RODAN_MEI_TOOLS_PYTHON";
const SCHEMA_VAR: &str = "RODAN_MEI_SCHEMA";
const MEI: &str = "application/mei+xml";
const SCHEMA_HINT: &str = "scripts/build-mei-schema.sh prints it";

#[derive(Debug, Clone, Deserialize)]
struct Case {
    id: String,
    job: String,
    #[serde(default)]
    settings: Value,
    #[serde(default)]
    inputs: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    input_resource_types: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    output_resource_types: BTreeMap<String, String>,
    present: bool,
}

fn main() {
    let args = Arguments::from_args();
    let manifest = shared_dir().join("fixtures/upstream-jobs/manifest.json");
    let text = std::fs::read_to_string(&manifest).expect("the fixtures manifest is readable");
    let cases: Vec<Case> = serde_json::from_str(&text).expect("the manifest parses");
    let mut runs: Vec<Case> = cases
        .into_iter()
        .filter(|c| c.present && find(&c.job).is_some())
        .filter(|c| c.output_resource_types.values().any(|t| t == MEI))
        .collect();
    // MEI Encoding without text alignment and column splitting: one syllable per staff.
    let bare = runs
        .iter()
        .find(|c| c.job == "MEI Encoding")
        .cloned()
        .map(|mut bare| {
            bare.id = format!("{} (JSOMR and mapping only)", bare.id);
            bare.inputs
                .retain(|port, _| port == "JSOMR" || port == "MEI Mapping CSV");
            bare
        });
    // Its case with every input: a column break (`cb`, `colLayout`) among its elements.
    let full = runs.iter().find(|c| c.job == "MEI Encoding").cloned();
    runs.extend(bare.clone());
    let mut trials: Vec<Trial> = runs
        .into_iter()
        .map(|case| {
            Trial::ignorable_test(case.id.clone(), move || {
                let python = match env_path(PYTHON_VAR, "scripts/build-mei-tools.sh prints it") {
                    Ok(python) => python,
                    Err(skip) => return Ok(skip),
                };
                check(&case, &python).map(|_| Completion::Completed)
            })
        })
        .collect();
    let (bare, full) = bare
        .zip(full)
        .expect("the fixtures have an MEI Encoding case");
    let encoding = bare.clone();
    trials.push(Trial::ignorable_test(
        "mei-resizing of MEI Encoding's output (MEI 5.0)",
        move || {
            let python = match env_path(PYTHON_VAR, "scripts/build-mei-tools.sh prints it") {
                Ok(python) => python,
                Err(skip) => return Ok(skip),
            };
            let schema = match env_path(SCHEMA_VAR, SCHEMA_HINT) {
                Ok(schema) => schema,
                Err(skip) => return Ok(skip),
            };
            resize_encoding(&encoding, &python, &schema).map(|()| Completion::Completed)
        },
    ));
    for (name, mode, needs_mei) in [
        (
            "schema: its elements, classes, attributes and values are the ODD's",
            "structure",
            false,
        ),
        (
            "schema: mutations of MEI Encoding's output (all inputs) are refused",
            "mutations",
            true,
        ),
        ("schema: Verovio 4.5.1's MEI 5.0 validates", "verovio", true),
    ] {
        let encoding = full.clone();
        trials.push(Trial::ignorable_test(name, move || {
            let schema = match env_path(SCHEMA_VAR, SCHEMA_HINT) {
                Ok(schema) => schema,
                Err(skip) => return Ok(skip),
            };
            let mei = if needs_mei {
                Some(run_encoding(&encoding, &format!("schema-{mode}"))?)
            } else {
                None
            };
            schema_checks(&schema, mode, mei.as_deref()).map(|()| Completion::Completed)
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}

/// Runs MEI Encoding as `case` says; its MEI's path.
fn run_encoding(case: &Case, name: &str) -> Result<PathBuf, Failed> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("mei-tools")
        .join(name);
    std::fs::create_dir_all(&dir)?;
    let (inputs, outputs, written) = ports(case, &dir);
    let job = find(&case.job).ok_or("the job is in the catalogue")?;
    job.run(&inputs, &case.settings, &outputs)
        .map_err(|e| format!("{e} ({})", e.error_details()))?;
    Ok(written
        .into_iter()
        .next()
        .ok_or("MEI Encoding writes MEI")?)
}

/// MEI Resizing of MEI Encoding's output: MEI 5.0 in, MEI 5.0 out, valid against the schema.
fn resize_encoding(case: &Case, python: &Path, schema: &Path) -> Result<(), Failed> {
    let input = run_encoding(case, "resize-encoding")?;
    let dir = input.parent().ok_or("a folder")?;
    let output = dir.join("resized.mei");
    find("MEI Resizing")
        .ok_or("the job is in the catalogue")?
        .run(
            &Ports::new().with("MEI", &input, MEI),
            &serde_json::json!({"Scale Factor": 0.5}),
            &Ports::new().with("MEI", &output, MEI),
        )
        .map_err(|e| format!("{e} ({})", e.error_details()))?;
    let reports = validate(python, Some(schema), &dir.join("svg"), &[output])?;
    let report = reports.first().ok_or("one report")?;
    if report["declared"] != MEI_VERSION || report["schema"] != "valid" {
        return Err(format!("the resized MEI 5.0 is not valid MEI 5.0: {report}").into());
    }
    Ok(())
}

/// `tests/mei/schema.py RNG MODE [MEI]` under the schema's venv; every check must hold.
fn schema_checks(schema: &Path, mode: &str, mei: Option<&Path>) -> Result<(), Failed> {
    let python = schema
        .parent()
        .ok_or("the schema is in its build folder")?
        .join("bin/python");
    let mut args: Vec<&OsStr> = vec![schema.as_os_str(), OsStr::new(mode)];
    args.extend(mei.map(Path::as_os_str));
    let stdout = run_script(&python, &[], "mei/schema.py", &args)?;
    let mut failed = Vec::new();
    let mut checks = 0;
    for line in String::from_utf8_lossy(&stdout).lines() {
        let report: Value = serde_json::from_str(line)?;
        checks += 1;
        if report["ok"] != true {
            failed.push(line.to_owned());
        }
        eprintln!("{mode}: {}: {}", report["check"], report["detail"]);
    }
    if checks == 0 {
        return Err(format!("tests/mei/schema.py {mode} made no check").into());
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n").into())
    }
}

/// The case's input ports (fixture files), output ports (files in `dir`) and the MEI outputs.
fn ports(case: &Case, dir: &Path) -> (Ports, Ports, Vec<PathBuf>) {
    let files = shared_dir().join("fixtures/upstream-jobs/files");
    let mut inputs = Ports::new();
    for (port, names) in &case.inputs {
        for (i, name) in names.iter().enumerate() {
            let t = case
                .input_resource_types
                .get(port)
                .and_then(|t| t.get(i))
                .cloned()
                .unwrap_or_default();
            inputs = inputs.with(port.as_str(), files.join(name), t);
        }
    }
    let mut outputs = Ports::new();
    let mut written = Vec::new();
    for (port, t) in &case.output_resource_types {
        let path = dir.join(format!("{}.mei", sanitize(port)));
        outputs = outputs.with(port.as_str(), &path, t.as_str());
        if t == MEI {
            written.push(path);
        }
    }
    (inputs, outputs, written)
}

/// `tests/mei/check.py`'s reports on `files`, validated against `schema` if given.
fn validate(
    python: &Path,
    schema: Option<&Path>,
    svg: &Path,
    files: &[PathBuf],
) -> Result<Vec<Value>, Failed> {
    let mut args: Vec<&OsStr> = vec![svg.as_os_str()];
    if let Some(schema) = schema {
        args.extend([OsStr::new("--rng"), schema.as_os_str()]);
    }
    args.extend(files.iter().map(|w| w.as_os_str()));
    let stdout = run_script(python, &[], "mei/check.py", &args)?;
    let reports = String::from_utf8_lossy(&stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<Vec<Value>, _>>()?;
    if reports.len() != files.len() {
        return Err(format!("{} reports for {} files", reports.len(), files.len()).into());
    }
    Ok(reports)
}

/// The `mei/@meiversion` a file declares.
fn declared_version(path: &Path) -> Result<Option<String>, Failed> {
    let doc = Document::parse(&std::fs::read_to_string(path)?).map_err(|e| e.to_string())?;
    Ok(doc.root.get("meiversion").map(str::to_owned))
}

fn check(case: &Case, python: &Path) -> Result<(), Failed> {
    let job = find(&case.job).ok_or("the job is in the catalogue")?;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("mei-tools")
        .join(sanitize(&case.id));
    std::fs::create_dir_all(&dir)?;
    let (inputs, outputs, written) = ports(case, &dir);
    job.run(&inputs, &case.settings, &outputs)
        .map_err(|e| format!("{e} ({})", e.error_details()))?;
    // The version each output must declare: MEI Encoding's own, or the MEI input's, unchanged.
    let expected = match inputs.get("MEI").first() {
        Some(input) => declared_version(&input.path)?,
        None => Some(MEI_VERSION.to_owned()),
    };

    let schema = std::env::var_os(SCHEMA_VAR).map(PathBuf::from);
    let reports = validate(python, schema.as_deref(), &dir.join("svg"), &written)?;
    let mut problems = Vec::new();
    for report in reports {
        let file = report["file"].as_str().unwrap_or_default();
        if report["declared"].as_str() != expected.as_deref() {
            problems.push(format!(
                "{file}: declares MEI {}, not {expected:?}",
                report["declared"]
            ));
        }
        if report["pages"].as_u64().unwrap_or(0) == 0 {
            problems.push(format!("{file}: Verovio rendered no page"));
        }
        for e in report["errors"].as_array().into_iter().flatten() {
            problems.push(format!("{file}: {e}"));
        }
        if report["schema"] == "invalid" {
            problems.push(format!(
                "{file}: not valid against {}: {}",
                std::env::var(SCHEMA_VAR).unwrap_or_default(),
                report["schema_errors"]
            ));
        }
        if report["schema"] == "not checked" && schema.is_some() {
            // Only a version the schema is not for: MEI Resizing of an older MEI.
            if expected.as_deref() == Some(MEI_VERSION) {
                problems.push(format!("{file}: not checked: {}", report["schema_errors"]));
            } else {
                eprintln!("{file}: not checked: {}", report["schema_errors"]);
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}
