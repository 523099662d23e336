//! Every MEI the jobs write in the upstream fixture cases (`shared/fixtures/upstream-jobs`), and
//! MEI Encoding's output without its optional inputs, must render with Verovio without errors and,
//! when `RODAN_MEI_SCHEMA` names an MEI RelaxNG schema, validate against it. The checks run
//! `tests/mei/check.py` under the Python named by `RODAN_MEI_TOOLS_PYTHON` (what
//! `scripts/build-mei-tools.sh` prints); without it every trial is reported as skipped. The first
//! page of each rendering is kept as SVG under the target's temporary folder, to look at.

mod support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use rodan_jobs::{Ports, find};
use serde::Deserialize;
use serde_json::Value;
use support::{env_path, run_script, sanitize, shared_dir};

const PYTHON_VAR: &str = "RODAN_MEI_TOOLS_PYTHON";
const SCHEMA_VAR: &str = "RODAN_MEI_SCHEMA";
const MEI: &str = "application/mei+xml";

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
    if let Some(encoding) = runs.iter().find(|c| c.job == "MEI Encoding").cloned() {
        let mut bare = encoding;
        bare.id = format!("{} (JSOMR and mapping only)", bare.id);
        bare.inputs
            .retain(|port, _| port == "JSOMR" || port == "MEI Mapping CSV");
        runs.push(bare);
    }
    let trials = runs
        .into_iter()
        .map(|case| {
            Trial::ignorable_test(case.id.clone(), move || {
                let python = match env_path(PYTHON_VAR, "scripts/build-mei-tools.sh prints it") {
                    Ok(python) => python,
                    Err(skip) => return Ok(skip),
                };
                check(&case, &python).map(|()| Completion::Completed)
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

fn check(case: &Case, python: &Path) -> Result<(), Failed> {
    let job = find(&case.job).ok_or("the job is in the catalogue")?;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("mei-tools")
        .join(sanitize(&case.id));
    std::fs::create_dir_all(&dir)?;
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
    job.run(&inputs, &case.settings, &outputs)
        .map_err(|e| format!("{e} ({})", e.error_details()))?;

    let svg = dir.join("svg");
    let schema = std::env::var_os(SCHEMA_VAR);
    let mut args: Vec<&OsStr> = vec![svg.as_os_str()];
    if let Some(schema) = &schema {
        args.extend([OsStr::new("--rng"), schema.as_os_str()]);
    }
    args.extend(written.iter().map(|w| w.as_os_str()));
    let stdout = run_script(python, &[], "mei/check.py", &args)?;
    let mut problems = Vec::new();
    for line in String::from_utf8_lossy(&stdout).lines() {
        let report: Value = serde_json::from_str(line)?;
        let file = report["file"].as_str().unwrap_or_default();
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
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}
