//! DDMAL's own square-notation pipeline (`fixtures/upstream-workflows/Full-Workflow.json`)
//! imported against this crate's catalogue with `rodan_core::workflow::import`, as
//! `POST /api/workflows/` imports it: the jobs still missing are named all at once, the rest of
//! the workflow imports, and `examples/workflows/square-notation-omr.json` is exactly that rest.

mod support;

use rodan_core::catalogue::JobDescriptor;
use rodan_core::workflow::{ImportError, Workflow, import, validate};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use support::shared_dir;

/// The jobs of Full-Workflow.json that this project does not have yet, with their positions in
/// the document: Text Alignment and the Neon editor (other issues).
const MISSING: [(usize, &str); 2] = [(3, "Text Alignment"), (7, "Neon")];

/// The GPU layer separation, which runs here but needs models trained on the manuscript.
const LAYER_SEPARATION: usize = 6;

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{} is readable (set RODAN_SHARED_DIR): {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is JSON: {e}", path.display()))
}

fn full_workflow() -> Value {
    read_json(&shared_dir().join("fixtures/upstream-workflows/Full-Workflow.json"))
}

fn example() -> Value {
    read_json(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/workflows/square-notation-omr.json"),
    )
}

fn catalogue() -> Vec<JobDescriptor> {
    rodan_jobs::catalogue()
        .iter()
        .map(|j| j.descriptor())
        .collect()
}

fn port_ids(job: &Value) -> BTreeSet<u64> {
    ["input_ports", "output_ports"]
        .iter()
        .flat_map(|k| job[*k].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["id"].as_u64())
        .collect()
}

/// `document` without the workflow jobs at `positions`, without the input ports whose ids are in
/// `ports`, and without every connection touching a removed port.
fn without(document: &Value, positions: &[usize], ports: &[u64]) -> Value {
    let mut doc = document.clone();
    let jobs = doc["workflow_jobs"].as_array().cloned().unwrap_or_default();
    let mut removed: BTreeSet<u64> = ports.iter().copied().collect();
    let mut kept = Vec::new();
    for (i, mut job) in jobs.into_iter().enumerate() {
        if positions.contains(&i) {
            removed.extend(port_ids(&job));
            continue;
        }
        if let Some(inputs) = job["input_ports"].as_array_mut() {
            inputs.retain(|p| !p["id"].as_u64().is_some_and(|id| removed.contains(&id)));
        }
        kept.push(job);
    }
    doc["workflow_jobs"] = Value::Array(kept);
    let connections = doc["connections"].as_array().cloned().unwrap_or_default();
    doc["connections"] = Value::Array(
        connections
            .into_iter()
            .filter(|c| {
                ["input_port", "output_port"]
                    .iter()
                    .all(|k| !c[*k].as_u64().is_some_and(|id| removed.contains(&id)))
            })
            .collect(),
    );
    doc
}

/// A connection as (producing job, its port type, receiving job, its port type).
type Link = (String, String, String, String);

/// The workflow's jobs as (name, settings) and its connections as (producing job and port
/// type, receiving job and port type), both sorted: what an import makes of a document,
/// independent of ids and order.
fn shape(w: &Workflow) -> (Vec<(String, String)>, Vec<Link>) {
    let job_name = |uuid| {
        w.jobs
            .iter()
            .find(|j| j.uuid == uuid)
            .map(|j| j.job_name.clone())
            .unwrap_or_default()
    };
    let mut jobs: Vec<(String, String)> = w
        .jobs
        .iter()
        .map(|j| (j.job_name.clone(), j.settings.to_string()))
        .collect();
    jobs.sort();
    let mut connections: Vec<Link> = w
        .connections
        .iter()
        .filter_map(|c| {
            let out = w.output_ports.iter().find(|p| p.uuid == c.output_port)?;
            let inp = w.input_ports.iter().find(|p| p.uuid == c.input_port)?;
            Some((
                job_name(out.workflow_job),
                out.port_type_name.clone(),
                job_name(inp.workflow_job),
                inp.port_type_name.clone(),
            ))
        })
        .collect();
    connections.sort();
    (jobs, connections)
}

#[test]
fn full_workflow_names_exactly_the_missing_jobs_at_once() {
    let err = import(&full_workflow(), &catalogue()).expect_err("two jobs are still missing");
    let expected: Vec<(usize, String)> =
        MISSING.iter().map(|(i, n)| (*i, (*n).to_owned())).collect();
    assert_eq!(err, ImportError::UnknownJobs(expected));
    assert_eq!(
        err.body(),
        json!({"serialized": {
            "workflow_jobs[3].job_name": "Job Text Alignment does not exist in current Rodan installation.",
            "workflow_jobs[7].job_name": "Job Neon does not exist in current Rodan installation.",
        }}),
        "upstream's 400 shape, one entry per missing job"
    );
    // The layer separation, classifier, staff finding, pitch finding and encoding jobs of the
    // pipeline are here.
    for name in [
        "Fast Pixelwise Analysis of Music Document",
        "Non-Interactive Classifier",
        "Miyao Staff Finding",
        "Heuristic Pitch Finding",
        "MEI Encoding",
        "Diagonal Neume Slicing",
    ] {
        assert!(
            rodan_jobs::find(name).is_some(),
            "{name} is in the catalogue"
        );
    }
}

#[test]
fn full_workflow_without_the_missing_jobs_imports_as_upstream_wired_it() {
    let full = full_workflow();
    let positions: Vec<usize> = MISSING.iter().map(|(i, _)| *i).collect();
    let doc = without(&full, &positions, &[]);
    let workflow = import(&doc, &catalogue()).unwrap_or_else(|e| panic!("imports: {e}"));
    assert_eq!(workflow.jobs.len(), 16, "18 jobs less the two missing");
    // 20 connections less the four touching the missing jobs. The GPU layer separation keeps
    // its five: the page in, and its music symbol, staff line and text layers out to the PNG
    // conversions that feed the binarisation, staff finding and text jobs.
    assert_eq!(workflow.connections.len(), 16);
    // MEI Encoding keeps its 'Text Alignment JSON' port, now unconnected.
    assert_eq!(workflow.input_ports.len(), 25);
    let (_, links) = shape(&workflow);
    let gpu = "Fast Pixelwise Analysis of Music Document";
    for layer in ["Music symbol", "Staff lines", "Text"] {
        assert!(
            links
                .iter()
                .any(|(from, port, to, _)| from == gpu && port == layer && to == "PNG (RGB)"),
            "the {layer} layer feeds a CPU job: {links:?}"
        );
    }
    let dns = workflow
        .jobs
        .iter()
        .find(|j| j.job_name == "Diagonal Neume Slicing")
        .expect("the slicing job");
    assert_eq!(
        dns.settings["Slice Prioritization"], "Vertical",
        "the settings are kept as upstream stored them"
    );
}

/// The example is Full-Workflow.json less its missing jobs, less the GPU layer separation (it
/// needs models trained on the manuscript, which the example cannot ship), less the two
/// 'PNG (RGB)' jobs that only fed those (the original page for the GPU job and Neon, the text
/// layer for Text Alignment), and less two optional input ports left unconnected: MEI
/// Encoding's 'Text Alignment JSON' and the classifier's 'GameraXML - Feature Selection'.
/// Everything else, settings and port ids included, is upstream's.
#[test]
fn the_square_notation_example_is_full_workflow_less_the_missing_jobs() {
    let full = full_workflow();
    let example = example();
    let text_alignment_json = 7;
    let feature_selection = 32;
    let expected = without(
        &full,
        &[0, 1, 3, LAYER_SEPARATION, 7],
        &[text_alignment_json, feature_selection],
    );
    let by_ids = |doc: &Value| -> BTreeMap<BTreeSet<u64>, Value> {
        doc["workflow_jobs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|j| (port_ids(&j), j))
            .collect()
    };
    assert_eq!(
        by_ids(&example),
        by_ids(&expected),
        "the same workflow jobs"
    );
    let connections = |doc: &Value| -> BTreeSet<(u64, u64)> {
        doc["connections"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|c| Some((c["output_port"].as_u64()?, c["input_port"].as_u64()?)))
            .collect()
    };
    assert_eq!(connections(&example), connections(&expected));
    assert_eq!(example["__version__"], json!(0.1));

    let catalogue = catalogue();
    let workflow = import(&example, &catalogue).unwrap_or_else(|e| panic!("imports: {e}"));
    assert_eq!(
        shape(&workflow),
        shape(&import(&expected, &catalogue).unwrap_or_else(|e| panic!("imports: {e}")))
    );
    assert_eq!(workflow.jobs.len(), 13);
    assert_eq!(workflow.connections.len(), 12);
    let validated =
        validate(&workflow, &catalogue).unwrap_or_else(|e| panic!("the example validates: {e:?}"));
    // What a run assigns: the two layers, the training set and the mapping CSV.
    let mut externs: Vec<(String, String)> = validated
        .extern_input_ports()
        .iter()
        .filter_map(|u| {
            let port = workflow.input_ports.iter().find(|p| p.uuid == *u)?;
            let job = workflow.jobs.iter().find(|j| j.uuid == port.workflow_job)?;
            Some((job.job_name.clone(), port.port_type_name.clone()))
        })
        .collect();
    externs.sort();
    assert_eq!(
        externs,
        [
            ("MEI Encoding", "MEI Mapping CSV"),
            ("Non-Interactive Classifier", "GameraXML - Training Data"),
            ("PNG (RGB)", "Image"),
            ("PNG (RGB)", "Image"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
}
