//! 'Heuristic Pitch Finding' as a job: the upstream fixture byte for byte (upstream's test
//! compares it line by line, and the file is one line), and how inputs that are not a staff
//! JSOMR or GameraXML, and settings out of range, are reported.

mod support;

use std::path::Path;

use rodan_jobs::{JobError, Ports, find};
use serde_json::{Value, json};
use support::fixture;

const STAVES: &str = "JSOMR of staves and page properties";
const GLYPHS: &str = "GameraXML - Classified Connected Components";
const OUTPUT: &str = "JSOMR of glyphs, staves, and page properties";

fn run(staves: &Path, glyphs: &Path, settings: Value, out: &Path) -> Result<(), JobError> {
    let job = find("Heuristic Pitch Finding").expect("the job is in the catalogue");
    job.run(
        &Ports::new().with(STAVES, staves, "application/json").with(
            GLYPHS,
            glyphs,
            "application/gamera+xml",
        ),
        &settings,
        &Ports::new().with(OUTPUT, out, "application/json"),
    )
}

#[test]
fn the_238r_fixture_is_written_byte_for_byte() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("out.json");
    run(
        &fixture("238r-miyao-staff-finding.json"),
        &fixture("238r-nic.xml"),
        json!({"Discard Size": 12}),
        &out,
    )
    .expect("the fixture runs");
    let golden = std::fs::read(fixture("238r-heuristic_pitch_finding.json")).expect("golden");
    let written = std::fs::read(&out).expect("output");
    assert!(
        written == golden,
        "the output differs from upstream's golden"
    );
    // The default discard size is 12 too.
    run(
        &fixture("238r-miyao-staff-finding.json"),
        &fixture("238r-nic.xml"),
        Value::Null,
        &out,
    )
    .expect("the fixture runs with defaults");
    assert!(std::fs::read(&out).expect("output") == golden);
}

#[test]
fn inputs_that_are_not_a_staff_jsomr_or_gameraxml_are_bad_input() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("out.json");
    let staves = fixture("238r-miyao-staff-finding.json");
    let glyphs = fixture("238r-nic.xml");
    let not_xml = dir.path().join("not.xml");
    std::fs::write(&not_xml, b"<html><body>no glyphs</body></html>").expect("written");
    let not_jsomr = dir.path().join("not.json");
    std::fs::write(&not_jsomr, br#"{"pages": []}"#).expect("written");
    let latin1 = dir.path().join("latin1.json");
    std::fs::write(&latin1, b"{\"page\": \"\xe9\"}").expect("written");
    for (s, g) in [
        (&staves, &not_xml),
        (&not_jsomr, &glyphs),
        (&latin1, &glyphs),
        (&glyphs, &glyphs),
    ] {
        let e = run(s, g, json!({"Discard Size": 12}), &out).expect_err("bad input");
        assert!(
            matches!(e, JobError::BadInput { .. }),
            "{} + {}: {e}",
            s.display(),
            g.display()
        );
    }
    let e = run(&staves, &glyphs, json!({"Discard Size": 30}), &out).expect_err("above 25");
    assert!(matches!(e, JobError::BadSettings { .. }), "{e}");
    let e = run(&dir.path().join("missing.json"), &glyphs, Value::Null, &out)
        .expect_err("no such file");
    assert!(matches!(e, JobError::Read { .. }), "{e}");
}
