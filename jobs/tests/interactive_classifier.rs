//! 'Interactive Classifier' through its three states on the first 40 connected components of the
//! 240r page (`RODAN_SHARED_DIR`): it waits with its page on the first run, suggests classes
//! from the glyphs a person classified, and on finishing writes training data that the
//! 'Non-Interactive Classifier' trains from.

mod support;

use rodan_jobs::gamera::xml::{State, read_file, write};
use rodan_jobs::wrappers::classification::NonInteractiveClassifier;
use rodan_jobs::wrappers::interactive_classifier::{
    CONTEXT_FILE, InteractiveClassifier, PREVIEW_FILE, descriptor, input_schema,
};
use rodan_jobs::{Inputs, Job, Outcome, Outputs, Waiting};
use serde_json::{Value, json};
use std::path::PathBuf;

const GLYPHS: usize = 40;

struct Page {
    _dir: tempfile::TempDir,
    ccs: PathBuf,
    preview: PathBuf,
    out: PathBuf,
}

fn page() -> Page {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut db =
        read_file(&support::fixture("240r_CC-analysis_output.xml")).expect("the 240r CCs read");
    db.glyphs.truncate(GLYPHS);
    let ccs = dir.path().join("ccs.xml");
    std::fs::write(&ccs, write(&db, true)).expect("the CCs are written");
    let preview = support::fixture("240r_onebit-png_output.png");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("an output dir");
    Page {
        ccs,
        preview,
        out: out.clone(),
        _dir: dir,
    }
}

fn inputs(page: &Page) -> Inputs {
    Inputs::new()
        .with(
            "PNG (includes RGB, 1-Bit, and Greyscale) - Preview Image",
            &page.preview,
            "image/onebit+png",
        )
        .with(
            "GameraXML - Connected Components",
            &page.ccs,
            "application/gamera+xml",
        )
}

fn outputs(page: &Page) -> Outputs {
    Outputs::new()
        .with(
            "GameraXML - Training Data",
            page.out.join("training.xml"),
            "application/gamera+xml",
        )
        .with(
            "GameraXML - Classified Glyphs",
            page.out.join("classified.xml"),
            "application/gamera+xml",
        )
        .with(
            "Plain Text - Class Names",
            page.out.join("classes.txt"),
            "text/plain",
        )
}

fn waiting(outcome: Outcome) -> Waiting {
    match outcome {
        Outcome::Waiting(w) => w,
        Outcome::Finished => panic!("the job waits for a person"),
    }
}

fn context(w: &Waiting) -> Value {
    let (_, bytes) = w
        .interface
        .files
        .iter()
        .find(|(name, _)| name == CONTEXT_FILE)
        .expect("the bundle has its context");
    serde_json::from_slice(bytes).expect("the context is JSON")
}

/// Settings after merging `update` into `settings`, as the API server and the worker do.
fn merged(mut settings: Value, update: &serde_json::Map<String, Value>) -> Value {
    for (k, v) in update {
        settings[k] = v.clone();
    }
    settings
}

#[test]
fn the_descriptor_is_interactive_with_upstreams_ports() {
    let d = descriptor();
    assert!(d.interactive && d.enabled);
    assert_eq!(d.queue, "Python3");
    let names: Vec<&str> = d
        .output_port_types
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "GameraXML - Training Data",
            "GameraXML - Classified Glyphs",
            "Plain Text - Class Names"
        ]
    );
}

#[test]
fn a_page_waits_then_suggests_then_finishes_with_training_data_the_nic_reads() {
    let page = page();
    let job = InteractiveClassifier;
    let outs = outputs(&page);

    // First run: nothing classified, no training data: every glyph UNCLASSIFIED, and it waits.
    let first = waiting(
        job.run_or_wait(&inputs(&page), &json!({}), &outs)
            .expect("the first run waits"),
    );
    assert_eq!(
        Value::Object(first.settings_update.clone()),
        json!({"@state": 1, "@changed_glyphs": [], "@manual_glyphs": []})
    );
    let ctx = context(&first);
    let glyphs = ctx["glyphs"].as_array().expect("glyphs");
    assert_eq!(glyphs.len(), GLYPHS);
    assert!(glyphs.iter().all(|g| g["class_name"] == "UNCLASSIFIED"));
    assert!(
        glyphs[0]["image"]
            .as_str()
            .is_some_and(|s| s.starts_with("data:image/png;base64,"))
    );
    assert_eq!(ctx["preview"], PREVIEW_FILE);
    assert!(first.interface.page.contains("ic-finish"));
    assert_eq!(first.interface.input_schema, input_schema(GLYPHS));
    assert!(
        !page.out.join("classified.xml").exists(),
        "no output while waiting"
    );

    // The person classifies two glyphs and asks for suggestions.
    let settings = merged(json!({}), &first.settings_update);
    let input = json!({"@state": 1, "@changed_glyphs": [
        {"id": 0, "class_name": "neume.punctum"}, {"id": 1, "class_name": "clef.c"}]});
    let settings = merged(settings, input.as_object().expect("an object"));
    let second = waiting(
        job.run_or_wait(&inputs(&page), &settings, &outs)
            .expect("the second run waits"),
    );
    let ctx = context(&second);
    let glyphs = ctx["glyphs"].as_array().expect("glyphs");
    assert_eq!(glyphs[0]["class_name"], "neume.punctum");
    assert_eq!(glyphs[0]["id_state_manual"], true);
    assert_eq!(glyphs[1]["class_name"], "clef.c");
    assert!(
        glyphs[2..].iter().all(|g| g["id_state_manual"] == false
            && ["neume.punctum", "clef.c"].contains(&g["class_name"].as_str().unwrap_or(""))),
        "every other glyph gets a suggestion from the two: {glyphs:?}"
    );
    assert_eq!(
        second.settings_update["@manual_glyphs"],
        json!([{"id": 0, "class_name": "neume.punctum"}, {"id": 1, "class_name": "clef.c"}])
    );
    assert_eq!(second.settings_update["@changed_glyphs"], json!([]));

    // The person classifies a third and finishes.
    let settings = merged(settings, &second.settings_update);
    let input = json!({"@state": 2, "@changed_glyphs": [{"id": 5, "class_name": "custos"}]});
    let settings = merged(settings, input.as_object().expect("an object"));
    let done = job
        .run_or_wait(&inputs(&page), &settings, &outs)
        .expect("the last run finishes");
    assert_eq!(done, Outcome::Finished);

    let training = read_file(&page.out.join("training.xml")).expect("training data reads");
    let mut classes: Vec<(String, State)> = training
        .glyphs
        .iter()
        .map(|g| (g.main_id().to_owned(), g.state))
        .collect();
    classes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        classes,
        [
            ("clef.c".to_owned(), State::Manual),
            ("custos".to_owned(), State::Manual),
            ("neume.punctum".to_owned(), State::Manual)
        ]
    );
    assert!(training.glyphs.iter().all(|g| !g.features.is_empty()));
    let classified = read_file(&page.out.join("classified.xml")).expect("the glyphs read");
    assert_eq!(classified.glyphs.len(), GLYPHS);
    assert_eq!(classified.glyphs[5].main_id(), "custos");
    assert_eq!(classified.glyphs[5].state, State::Manual);
    assert!(
        classified.glyphs[2..5]
            .iter()
            .all(|g| g.state == State::Automatic),
        "the rest are classified by the kNN"
    );
    assert_eq!(
        std::fs::read_to_string(page.out.join("classes.txt")).expect("class names"),
        "clef.c\ncustos\nneume.punctum\n"
    );

    // The Non-Interactive Classifier trains from that training data.
    let nic_out = page.out.join("nic.xml");
    NonInteractiveClassifier
        .run(
            &Inputs::new()
                .with(
                    "GameraXML - Connected Components",
                    &page.ccs,
                    "application/gamera+xml",
                )
                .with(
                    "GameraXML - Training Data",
                    page.out.join("training.xml"),
                    "application/gamera+xml",
                ),
            &json!({"Bounding box size": 4}),
            &Outputs::new().with(
                "GameraXML - Classified Glyphs",
                &nic_out,
                "application/gamera+xml",
            ),
        )
        .expect("the NIC trains from the training data");
    let nic = read_file(&nic_out).expect("the NIC's output reads");
    assert!(
        nic.glyphs
            .iter()
            .any(|g| ["clef.c", "custos", "neume.punctum"].contains(&g.main_id()))
    );
}

#[test]
fn a_glyph_that_is_not_on_the_page_is_a_permanent_settings_error() {
    let page = page();
    let settings = json!({"@state": 1, "@changed_glyphs": [{"id": GLYPHS, "class_name": "x"}]});
    let err = InteractiveClassifier
        .run_or_wait(&inputs(&page), &settings, &outputs(&page))
        .expect_err("glyph 40 is not on a page of 40");
    assert!(err.is_permanent());
    assert!(err.error_summary().contains("not on the page"), "{err}");
    let err = InteractiveClassifier
        .run(&inputs(&page), &json!({}), &outputs(&page))
        .expect_err("run alone cannot wait");
    assert!(err.is_permanent());
}
