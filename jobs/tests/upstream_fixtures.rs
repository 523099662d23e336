//! Upstream Rodan's own job test cases (`shared/fixtures/upstream-jobs/manifest.json`), one
//! trial per case of a job this crate runs, compared the way upstream's test compares. Cases whose
//! files are missing upstream (`present: false`) are listed as ignored with the reason.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use rodan_jobs::{Job, Ports, find};
use serde::Deserialize;
use serde_json::Value;
use support::{
    compare_exact, compare_text_count_and_first, compare_text_lines, decode_like_cv2, sanitize,
    shared_dir, stripped_lines,
};

fn fixtures() -> PathBuf {
    shared_dir().join("fixtures/upstream-jobs")
}

#[derive(Debug, Clone, Deserialize)]
struct Case {
    id: String,
    job: String,
    kind: String,
    #[serde(default)]
    settings: Value,
    #[serde(default)]
    inputs: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    outputs: BTreeMap<String, String>,
    #[serde(default)]
    input_resource_types: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    output_resource_types: BTreeMap<String, String>,
    #[serde(default)]
    compare: String,
    #[serde(default)]
    compare_by_port: BTreeMap<String, String>,
    #[serde(default)]
    expected: Value,
    present: bool,
    #[serde(default)]
    missing_files: Vec<String>,
}

fn main() {
    let args = Arguments::from_args();
    let manifest = fixtures().join("manifest.json");
    let text = std::fs::read_to_string(&manifest).expect("the fixtures manifest is readable");
    let cases: Vec<Case> = serde_json::from_str(&text).expect("the manifest parses");
    let trials = cases
        .into_iter()
        .filter_map(|case| find(&case.job).map(|job| (case, job)))
        .map(|(case, job)| {
            let name = case.id.clone();
            if case.present {
                Trial::test(name, move || run_case(&case, job))
            } else if let Some(sub) = SUBSTITUTES.iter().find(|s| s.id == case.id) {
                let case = substituted(case, sub);
                Trial::test(name, move || run_case(&case, job))
            } else {
                let reason = format!(
                    "skipped: files missing upstream: {}",
                    case.missing_files.join(", ")
                );
                Trial::ignorable_test(name, move || Ok(Completion::ignored_with(&reason)))
            }
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// A case whose files are missing upstream but whose check any file of the same kind exercises:
/// the missing file is replaced by a fixture that is present (input and golden alike).
struct Substitute {
    id: &'static str,
    missing: &'static str,
    with: &'static str,
    why: &'static str,
}

const SUBSTITUTES: &[Substitute] = &[Substitute {
    id: "gameraxml-distributor/ic-training-data",
    missing: "Interactive_Classifier_GameraXML_TrainingData.xml",
    with: "Dalhousie_TD_421_422_NC-based_classifier.xml",
    why: "the job copies its GameraXML input; the Dalhousie file is another interactive \
          classifier's training data, hand-classified (MANUAL), from upstream's Biollante tests",
}];

/// `case` with `sub.missing` replaced by `sub.with` in its inputs and outputs.
fn substituted(mut case: Case, sub: &Substitute) -> Case {
    let swap = |name: &mut String| {
        if name == sub.missing {
            sub.with.clone_into(name);
        }
    };
    case.inputs.values_mut().flatten().for_each(swap);
    case.outputs.values_mut().for_each(swap);
    case.missing_files.retain(|f| f != sub.missing);
    assert!(
        case.missing_files.is_empty(),
        "{}: still missing {:?} ({})",
        case.id,
        case.missing_files,
        sub.why
    );
    case.present = true;
    case
}

/// Cases whose golden records an upstream bug the job fixes (the fixtures README's policy): the
/// output must differ from the golden, and `check` says why the golden is what it is. The right
/// behaviour is compared with Gamera's own function in `gamera_reference.rs`.
struct UpstreamBug {
    id: &'static str,
    why: &'static str,
    check: fn(&Case, &Path) -> Result<(), Failed>,
}

const UPSTREAM_BUGS: &[UpstreamBug] = &[
    UpstreamBug {
        id: "bernsen-threshold/lenna",
        why: "upstream's class defines run_my_task twice and the second runs abutaleb_threshold, \
              so its golden is Abutaleb's output; this job runs Bernsen",
        check: golden_is_abutaleb,
    },
    UpstreamBug {
        id: "diagonal-neume-slicing/240r",
        why: "upstream compares the 'Slice Prioritization' index (2, 'Vertical') with the \
              choices' names, so it never prioritises and its golden was cut with none; this job \
              prefers the column slices 'Vertical' asks for, which cuts some neumes elsewhere",
        check: golden_is_unprioritised_slicing,
    },
];

/// The Bernsen golden equals what 'Abutaleb locally-adaptive threshold' gives on the same input.
fn golden_is_abutaleb(case: &Case, tmp: &Path) -> Result<(), Failed> {
    let abutaleb =
        find("Abutaleb locally-adaptive threshold").ok_or("Abutaleb is in the catalogue")?;
    let port = "Greyscale PNG image";
    let input = fixtures().join("files").join(&case.inputs[port][0]);
    let out = tmp.join("abutaleb.png");
    abutaleb.run(
        &Ports::new().with(port, input, "image/greyscale+png"),
        &serde_json::json!({"Storage format": 0}),
        &Ports::new().with("Onebit PNG image", &out, "image/onebit+png"),
    )?;
    let golden = fixtures()
        .join("files")
        .join(&case.outputs["Onebit PNG image"]);
    compare_exact(&golden, &out).map_err(Failed::from)
}

/// The slicing golden equals this job's output with 'Slice Prioritization' 0 ('None'), the
/// other settings as the case gives them.
fn golden_is_unprioritised_slicing(case: &Case, tmp: &Path) -> Result<(), Failed> {
    let job = find(&case.job).ok_or("the job is in the catalogue")?;
    let mut settings = case.settings.clone();
    settings["Slice Prioritization"] = 0.into();
    let unprioritised = Case {
        settings,
        ..case.clone()
    };
    golden_file(&unprioritised, job, tmp)
}

fn run_case(case: &Case, job: &dyn Job) -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    if let Some(bug) = UPSTREAM_BUGS.iter().find(|b| b.id == case.id) {
        return match golden_file(case, job, dir.path()) {
            Ok(()) => {
                Err(format!("expected to differ from the upstream golden ({})", bug.why).into())
            }
            Err(_) => (bug.check)(case, dir.path()),
        };
    }
    match case.kind.as_str() {
        "golden-file" => golden_file(case, job, dir.path()),
        "inline-expected" => inline_expected(case, job, dir.path()),
        "property" => property(case, job, dir.path()),
        "interactive-protocol" => interactive_protocol(case, job, dir.path()),
        other => Err(format!("case kind {other} is not handled for {}", case.job).into()),
    }
}

fn golden_file(case: &Case, job: &dyn Job, tmp: &Path) -> Result<(), Failed> {
    let files = fixtures().join("files");
    let mut inputs = Ports::new();
    for (port, names) in &case.inputs {
        let types = case.input_resource_types.get(port);
        for (i, name) in names.iter().enumerate() {
            let resource_type = types.and_then(|t| t.get(i)).cloned().unwrap_or_default();
            inputs = inputs.with(port.as_str(), files.join(name), resource_type);
        }
    }
    let mut outputs = Ports::new();
    for port in case.outputs.keys() {
        let resource_type = case
            .output_resource_types
            .get(port)
            .cloned()
            .unwrap_or_default();
        outputs = outputs.with(port.as_str(), tmp.join(sanitize(port)), resource_type);
    }
    job.run(&inputs, &case.settings, &outputs)
        .map_err(|e| format!("{e} ({})", e.error_details()))?;
    for (port, golden) in &case.outputs {
        let written = tmp.join(sanitize(port));
        let mode = case
            .compare_by_port
            .get(port)
            .map_or("exact", String::as_str);
        let golden = files.join(golden);
        match mode {
            "exact" => compare_exact(&golden, &written)?,
            "text-lines" => compare_text_lines(&golden, &written)?,
            "text-lines-ids-masked" => compare_text_lines_ids_masked(&golden, &written)?,
            // The case's `exact+polygons-first-line`: the polygons port compares this way, the
            // mask port `exact`.
            "text-lines-count-and-first" => compare_text_count_and_first(&golden, &written)?,
            other => return Err(format!("comparison {other} is not handled").into()),
        }
    }
    Ok(())
}

/// Upstream's MEI Encoding declares this version, which no published MEI schema accepts; the
/// jobs declare [`rodan_jobs::mei::MEI_VERSION`] instead, the one difference from upstream's MEI.
const UPSTREAM_MEI_VERSION: &str = "meiversion=\"5.0.0-dev\"";

/// `text-lines` after replacing every MEI id (`m-` and a UUID) with `_`: the ids are random. An
/// expected `meiversion="5.0.0-dev"` is read as the jobs' MEI version ([`UPSTREAM_MEI_VERSION`]).
fn compare_text_lines_ids_masked(expected: &Path, actual: &Path) -> Result<(), String> {
    let id = regex::Regex::new(r"m-\w{8}-\w{4}-\w{4}-\w{4}-\w{12}").map_err(|e| e.to_string())?;
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let masked = |text: String| -> Vec<String> {
        stripped_lines(&text)
            .iter()
            .map(|l| id.replace_all(l, "_").into_owned())
            .collect()
    };
    let ours = format!("meiversion=\"{}\"", rodan_jobs::mei::MEI_VERSION);
    let expected_text = read(expected)?.replacen(UPSTREAM_MEI_VERSION, &ours, 1);
    let (e, a) = (masked(expected_text), masked(read(actual)?));
    if e.len() != a.len() {
        return Err(format!("{} lines expected, {} written", e.len(), a.len()));
    }
    for (i, (x, y)) in e.iter().zip(&a).enumerate() {
        if x != y {
            let at = x.bytes().zip(y.bytes()).take_while(|(p, q)| p == q).count();
            let from = at.saturating_sub(200);
            return Err(format!(
                "line {} differs at byte {at}: expected ...{:?}, got ...{:?}",
                i + 1,
                x.get(from..(at + 200).min(x.len())).unwrap_or_default(),
                y.get(from..(at + 200).min(y.len())).unwrap_or_default(),
            ));
        }
    }
    Ok(())
}

/// An interactive job's steps as upstream's `test_my_task` takes them (`kind:
/// interactive-protocol`): a run with `settings` that must wait (`WAITING_FOR_INPUT` with the
/// `@state` the step names) or finish (`returns True`, the output holding exactly the bytes the
/// step names); a `validate_user_input` that upstream refuses (`ManualPhaseException`), which
/// here the input schema of the last wait must refuse, as the API answers 400 before anything
/// changes.
fn interactive_protocol(case: &Case, job: &dyn Job, tmp: &Path) -> Result<(), Failed> {
    let files = fixtures().join("files");
    let mut inputs = Ports::new();
    for (port, names) in &case.inputs {
        let types = case.input_resource_types.get(port);
        for (i, name) in names.iter().enumerate() {
            let resource_type = types.and_then(|t| t.get(i)).cloned().unwrap_or_default();
            inputs = inputs.with(port.as_str(), files.join(name), resource_type);
        }
    }
    let mut outputs = Ports::new();
    for (port, resource_type) in &case.output_resource_types {
        outputs = outputs.with(
            port.as_str(),
            tmp.join(sanitize(port)),
            resource_type.as_str(),
        );
    }
    let steps = case.expected["steps"]
        .as_array()
        .ok_or("the case has no steps")?;
    let state = regex::Regex::new(r#"settings_update\["@state"\] == (\d+)"#)?;
    let bytes = regex::Regex::new(r#"holds exactly b"([^"]*)""#)?;
    let mut schema: Option<Value> = None;
    for (i, step) in steps.iter().enumerate() {
        let expect = step["expect"].as_str().unwrap_or_default();
        if let Some(validate) = step.get("validate_user_input") {
            let schema = schema.as_ref().ok_or("no wait before the input")?;
            let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
            let input = &validate["user_input"];
            if expect.contains("ManualPhaseException") && validator.is_valid(input) {
                return Err(format!("step {i}: the input schema accepts {input}").into());
            }
            continue;
        }
        let outcome = job
            .run_or_wait(&inputs, &step["settings"], &outputs)
            .map_err(|e| format!("step {i}: {e} ({})", e.error_details()))?;
        match outcome {
            rodan_jobs::Outcome::Waiting(w) => {
                if !expect.contains("WAITING_FOR_INPUT") {
                    return Err(format!("step {i} waits; expected: {expect}").into());
                }
                if let Some(c) = state.captures(expect) {
                    let want: i64 = c[1].parse()?;
                    if w.settings_update.get("@state") != Some(&Value::from(want)) {
                        return Err(format!(
                            "step {i}: @state {:?}, expected {want}",
                            w.settings_update.get("@state")
                        )
                        .into());
                    }
                }
                schema = Some(w.interface.input_schema);
            }
            rodan_jobs::Outcome::Finished => {
                if !expect.contains("returns True") {
                    return Err(format!("step {i} finishes; expected: {expect}").into());
                }
                if let Some(c) = bytes.captures(expect) {
                    for port in case.output_resource_types.keys() {
                        let written = std::fs::read(tmp.join(sanitize(port)))?;
                        if written != c[1].as_bytes() {
                            return Err(format!(
                                "step {i}: {port} holds {:?}, expected {:?}",
                                String::from_utf8_lossy(&written),
                                &c[1]
                            )
                            .into());
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Cases checked against a rule (`kind: property`), by the case's `compare`.
fn property(case: &Case, job: &dyn Job, tmp: &Path) -> Result<(), Failed> {
    match case.compare.as_str() {
        "property:scaled-coordinates" => scaled_coordinates(case, job, tmp),
        other => Err(format!("property {other} is not handled").into()),
    }
}

/// MEI Resizing: every `ulx`, `uly`, `lrx`, `lry` under `root[1][0][0]` (the surface), in
/// document order, is `int(input * factor)` of the input's; the output keeps lxml's declaration
/// and is otherwise the same document (same elements, other attributes and text unchanged).
fn scaled_coordinates(case: &Case, job: &dyn Job, tmp: &Path) -> Result<(), Failed> {
    use rodan_jobs::mei::{Document, Element, Node};
    let port = case.expected["output_port"]
        .as_str()
        .ok_or("the case names no output port")?;
    let factor = case.settings["Scale Factor"]
        .as_f64()
        .ok_or("the case sets no Scale Factor")?;
    let files = fixtures().join("files");
    let input = files.join(&case.inputs[port][0]);
    let output = tmp.join("out.mei");
    job.run(
        &Ports::new().with(port, &input, "application/mei+xml"),
        &case.settings,
        &Ports::new().with(port, &output, "application/mei+xml"),
    )
    .map_err(|e| format!("{e} ({})", e.error_details()))?;
    let written = std::fs::read_to_string(&output)?;
    if !written.starts_with("<?xml version='1.0' encoding='UTF-8'?>\n") {
        return Err(format!("no lxml declaration: {:?}", written.get(..60)).into());
    }
    let parse = |text: &str| Document::parse(text).map_err(|e| e.to_string());
    let (before, after) = (parse(&std::fs::read_to_string(&input)?)?, parse(&written)?);
    fn surface(root: &Element) -> Option<&Element> {
        fn nth(e: &Element, n: usize) -> Option<&Element> {
            e.elements().nth(n)
        }
        nth(nth(nth(root, 1)?, 0)?, 0)
    }
    fn coordinates(e: &Element) -> Vec<i64> {
        e.descendants()
            .iter()
            .flat_map(|d| {
                ["ulx", "uly", "lrx", "lry"]
                    .into_iter()
                    .filter_map(|k| d.get(k).and_then(|v| v.parse().ok()))
                    .collect::<Vec<i64>>()
            })
            .collect()
    }
    let (b, a) = (
        coordinates(surface(&before.root).ok_or("input has no surface")?),
        coordinates(surface(&after.root).ok_or("output has no surface")?),
    );
    if b.len() != a.len() || b.is_empty() {
        return Err(format!("{} coordinates in, {} out", b.len(), a.len()).into());
    }
    for (i, (x, y)) in b.iter().zip(&a).enumerate() {
        if (*x as f64 * factor).trunc() as i64 != *y {
            return Err(format!("coordinate {i}: {x} * {factor} gave {y}").into());
        }
    }
    // The same document apart from the scaled coordinates.
    fn shape(e: &Element, in_surface: bool, out: &mut Vec<String>) {
        out.push(format!("<{} {:?}>", e.name, e.namespace));
        // In any order: lxml writes namespace declarations first.
        let mut attributes = e.attributes.clone();
        attributes.sort();
        for (k, v) in &attributes {
            let scaled = in_surface && ["ulx", "uly", "lrx", "lry"].contains(&k.as_str());
            out.push(format!("@{k}={}", if scaled { "#" } else { v }));
        }
        for c in &e.children {
            match c {
                Node::Element(c) => shape(c, in_surface || c.name == "surface", out),
                other => out.push(format!("{other:?}")),
            }
        }
        out.push(format!("</{}>", e.name));
    }
    let (mut sb, mut sa) = (Vec::new(), Vec::new());
    shape(&before.root, false, &mut sb);
    shape(&after.root, false, &mut sa);
    if let Some(i) = (0..sb.len().max(sa.len())).find(|&i| sb.get(i) != sa.get(i)) {
        return Err(format!(
            "the output differs from the input beyond the coordinates: {:?} became {:?}",
            sb.get(i),
            sa.get(i)
        )
        .into());
    }
    if before.prolog != after.prolog || before.doctype != after.doctype {
        return Err("the output's prolog differs from the input's".into());
    }
    Ok(())
}

fn inline_expected(case: &Case, job: &dyn Job, tmp: &Path) -> Result<(), Failed> {
    let port = case.expected["output_port"]
        .as_str()
        .ok_or("the case names no output port")?;
    if let Some(lines) = case.expected.get("lines").and_then(Value::as_array) {
        // Text jobs: n outputs on the port, each holding exactly these lines.
        let count = case.expected["outputs"].as_u64().unwrap_or(1) as usize;
        let mut outputs = Ports::new();
        for i in 0..count {
            outputs = outputs.with(port, tmp.join(format!("out{i}")), "text/plain");
        }
        job.run(&Ports::new(), &case.settings, &outputs)?;
        let expected: Vec<&str> = lines.iter().filter_map(Value::as_str).collect();
        for i in 0..count {
            let text = std::fs::read_to_string(tmp.join(format!("out{i}")))?;
            let got = stripped_lines(&text);
            if got != expected {
                return Err(format!("output {i} holds {got:?}, expected {expected:?}").into());
            }
        }
        return Ok(());
    }
    if case.expected.get("input").is_some() && case.id.ends_with("generated-jpeg") {
        return converted_jpeg_equals_input(case, job, port, tmp);
    }
    Err(format!("inline case {} is not handled", case.id).into())
}

/// `PIL.Image.new("RGB", (50, 50), color=(256, 0, 0)).save(path, "JPEG")` (Pillow clips 256 to
/// 255), converted by the job; the output must be of the job's format and decode to the same
/// pixels as the JPEG.
fn converted_jpeg_equals_input(
    case: &Case,
    job: &dyn Job,
    port: &str,
    tmp: &Path,
) -> Result<(), Failed> {
    let input = tmp.join("input.jpg");
    let red = image::RgbImage::from_pixel(50, 50, image::Rgb([255, 0, 0]));
    red.save_with_format(&input, image::ImageFormat::Jpeg)?;
    let output = tmp.join("output");
    let output_type = case.expected["output_resource_type"]
        .as_str()
        .unwrap_or_default();
    job.run(
        &Ports::new().with("Image", &input, "image/jpeg"),
        &case.settings,
        &Ports::new().with(port, &output, output_type),
    )?;
    let expected_format = if output_type == "image/tiff" {
        image::ImageFormat::Tiff
    } else {
        image::ImageFormat::Png
    };
    let bytes = std::fs::read(&output)?;
    let format = image::guess_format(&bytes)?;
    if format != expected_format {
        return Err(format!("output is {format:?}, expected {expected_format:?}").into());
    }
    let written = image::load_from_memory_with_format(&bytes, format)?;
    let original = image::open(&input)?;
    if written.color() != image::ColorType::Rgb8 || written.to_rgb8() != original.to_rgb8() {
        return Err("output pixels differ from the decoded JPEG".into());
    }
    if format == image::ImageFormat::Png {
        // And as upstream's comparison sees it.
        let d = decode_like_cv2(&output)?;
        if d.channels != 3 || d.sixteen_bit {
            return Err("the PNG is not 8-bit RGB".into());
        }
    }
    Ok(())
}
