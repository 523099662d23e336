//! The CPU OMR pipeline of `omr_pipeline.json` (staff finding, one-bit, despeckle, CC analysis,
//! slicing, classification, pitch finding, MEI encoding) run on one page by rodan-jobs, each job
//! found by name and run as the worker runs it (`rodan_jobs::find(name).run(inputs, settings,
//! outputs)`), each step timed: the Rust side of `scripts/bench-omr.sh`.
//!
//! `cargo bench -p rodan-jobs --bench omr_pipeline -- --plan PLAN --dir DIR --result FILE`: DIR
//! holds the plan's input files and gets every step's outputs; FILE gets the seconds of each
//! step. With `--workflow Full-Workflow.json` the plan's settings are first checked against the
//! workflow's job settings.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rodan_jobs::{Ports, Resource};
use serde_json::{Map, Value, json};

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let (mut plan, mut dir, mut result, mut workflow) = (None, None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .map(PathBuf::from)
                .ok_or(format!("{arg} needs a path"))
        };
        match arg.as_str() {
            "--plan" => plan = Some(value()?),
            "--dir" => dir = Some(value()?),
            "--result" => result = Some(value()?),
            "--workflow" => workflow = Some(value()?),
            // cargo bench passes --bench; libtest's other flags mean nothing here.
            _ => {}
        }
    }
    let (Some(plan), Some(dir)) = (plan, dir) else {
        return Err(
            "usage: omr_pipeline --plan PLAN.json --dir DIR [--result FILE] [--workflow WF.json]"
                .into(),
        );
    };
    let plan = read_json(&plan)?;
    let steps = plan["steps"].as_array().ok_or("the plan has no steps")?;
    if let Some(workflow) = workflow {
        check_settings(steps, &workflow)?;
    }
    let mut timed = Vec::new();
    for step in steps {
        let name = step["job"].as_str().ok_or("a step has no job")?;
        let job = rodan_jobs::find(name).ok_or(format!("rodan-jobs has no job '{name}'"))?;
        let inputs = ports(&dir, &step["inputs"])?;
        let outputs = ports(&dir, &step["outputs"])?;
        let began = Instant::now();
        job.run(&inputs, &step["settings"], &outputs)
            .map_err(|e| format!("{name}: {}: {}", e.error_summary(), e.error_details()))?;
        let seconds = began.elapsed().as_secs_f64();
        eprintln!("{name}: {seconds:.4} s");
        timed.push(json!({"job": name, "seconds": seconds}));
    }
    if let Some(result) = result {
        let threads = rayon::current_num_threads();
        let figures = json!({"side": "rodan-jobs", "threads": threads, "steps": timed});
        std::fs::write(result, serde_json::to_vec(&figures)?)?;
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<Value, Error> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?)
}

/// The plan's `{port: [file, type]}` as the job's ports, files in `dir`.
fn ports(dir: &Path, spec: &Value) -> Result<Ports, Error> {
    let mut ports = Ports::new();
    for (port, file) in spec.as_object().ok_or("ports must be an object")? {
        let (Some(name), Some(mimetype)) = (file[0].as_str(), file[1].as_str()) else {
            return Err(format!("port '{port}' must be [file, type]").into());
        };
        ports.push(port.as_str(), Resource::new(dir.join(name), mimetype));
    }
    Ok(ports)
}

/// Fails unless every step's settings equal those of the workflow's job of the same name (every
/// one of them, where the workflow has the job more than once).
fn check_settings(steps: &[Value], workflow: &Path) -> Result<(), Error> {
    let workflow = read_json(workflow)?;
    let jobs = workflow["workflow_jobs"]
        .as_array()
        .ok_or("the workflow has no workflow_jobs")?;
    for step in steps {
        let name = &step["job"];
        let empty = Value::Object(Map::new());
        for job in jobs.iter().filter(|j| &j["job_name"] == name) {
            let theirs = job.get("job_settings").unwrap_or(&empty);
            if theirs != &step["settings"] {
                return Err(format!(
                    "the plan's settings of {name} ({}) are not the workflow's ({theirs})",
                    step["settings"]
                )
                .into());
            }
        }
        if !jobs.iter().any(|j| &j["job_name"] == name) {
            return Err(format!("the workflow has no job {name}").into());
        }
    }
    Ok(())
}
