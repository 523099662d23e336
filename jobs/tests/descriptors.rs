//! Every job's catalogue entry equals upstream's class attributes (`tests/upstream/descriptors.json`,
//! extracted from DDMAL/Rodan by `tests/upstream/extract_descriptors.py`): name, author, category,
//! description, settings schema, queue and ports. Jobs that fix an upstream bug keep upstream's
//! description and add a note about the change.

use std::collections::BTreeMap;

use rodan_jobs::catalogue;
use rodan_jobs::descriptor::{all_types, image_types};
use serde_json::Value;

/// Jobs whose description adds a note about a fixed upstream bug.
const CHANGED_DESCRIPTIONS: &[&str] = &[
    "Bernsen threshold",
    "Red filtering",
    "Diagonal Neume Slicing",
    "Dirty Layer Repair",
    "Non-Interactive Classifier",
];

fn upstream() -> BTreeMap<String, Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/upstream/descriptors.json"
    );
    let text = std::fs::read_to_string(path).expect("the extracted descriptors are readable");
    serde_json::from_str(&text).expect("the extracted descriptors parse")
}

fn resolve(types: &Value) -> Vec<String> {
    let types: Vec<String> = types
        .as_array()
        .expect("resource types are a list")
        .iter()
        .map(|t| t.as_str().expect("a mimetype").to_owned())
        .collect();
    if types == ["image/*"] {
        image_types().into_iter().map(str::to_owned).collect()
    } else if types == ["*png"] {
        all_types()
            .into_iter()
            .filter(|t| t.ends_with("png"))
            .map(str::to_owned)
            .collect()
    } else {
        types
    }
}

#[test]
fn every_job_matches_upstreams_class_attributes() {
    let upstream = upstream();
    let mut problems = Vec::new();
    for job in catalogue() {
        let d = job.descriptor();
        let Some(u) = upstream.get(&d.name) else {
            problems.push(format!("{}: not an upstream job", d.name));
            continue;
        };
        let text = |k: &str| u[k].as_str().unwrap_or_default().to_owned();
        for (field, ours, theirs) in [
            ("author", &d.author, text("author")),
            ("category", &d.category, text("category")),
        ] {
            if *ours != theirs {
                problems.push(format!("{}: {field} {ours:?} != {theirs:?}", d.name));
            }
        }
        let description_ok = if CHANGED_DESCRIPTIONS.contains(&d.name.as_str()) {
            d.description.starts_with(text("description").trim_end())
                && d.description.contains("upstream")
        } else {
            d.description == text("description")
        };
        if !description_ok {
            problems.push(format!("{}: description differs", d.name));
        }
        if d.settings != u["settings"] {
            problems.push(format!(
                "{}: settings {} != {}",
                d.name, d.settings, u["settings"]
            ));
        }
        let queue = u["settings"]["job_queue"].as_str().unwrap_or("celery");
        let interactive = u["interactive"].as_bool().unwrap_or(false);
        if d.queue != queue || !d.enabled || d.interactive != interactive {
            problems.push(format!("{}: queue/enabled/interactive", d.name));
        }
        for (ours, theirs) in [
            (&d.input_port_types, &u["input_port_types"]),
            (&d.output_port_types, &u["output_port_types"]),
        ] {
            let theirs = theirs.as_array().expect("ports are a list");
            if ours.len() != theirs.len() {
                problems.push(format!(
                    "{}: {} ports != {}",
                    d.name,
                    ours.len(),
                    theirs.len()
                ));
                continue;
            }
            for (p, t) in ours.iter().zip(theirs) {
                let same = p.name == t["name"].as_str().unwrap_or_default()
                    && Some(u64::from(p.minimum)) == t["minimum"].as_u64()
                    && Some(u64::from(p.maximum)) == t["maximum"].as_u64()
                    && p.is_list == t["is_list"].as_bool().unwrap_or(false)
                    && p.resource_types == resolve(&t["resource_types"]);
                if !same {
                    problems.push(format!("{}: port {p:?} != {t}", d.name));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_catalogue_covers_every_extracted_job() {
    let names: Vec<String> = catalogue().iter().map(|j| j.name().to_owned()).collect();
    let missing: Vec<_> = upstream()
        .into_keys()
        .filter(|n| !names.contains(n))
        .collect();
    assert!(missing.is_empty(), "not in the catalogue: {missing:?}");
}
