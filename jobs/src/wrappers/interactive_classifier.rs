//! Gamera's 'Interactive Classifier' (upstream `interactive_classifier/wrapper.py` and
//! `interactive_classifier.py`): the connected components of a page are shown to a person with
//! the classes a kNN suggests (`kNNInteractive`: k = 1, all features or a feature selection, no
//! normalisation), trained on the optional training data's MANUAL glyphs and on the glyphs the
//! person classified so far; the person sets classes and asks for new suggestions, or finishes.
//! The job then writes upstream's outputs: the training data (every MANUAL glyph, with
//! features), the classified glyphs (every glyph: MANUAL as set, AUTOMATIC as the kNN says), and
//! the class names.
//!
//! Upstream's state machine in `@state` (`ClassifierStateEnum`): 0 IMPORT_XML (first run: read
//! the inputs, classify when training data is given, wait), 1 CLASSIFYING (merge the person's
//! classes, classify again, wait), 2 EXPORT_XML (merge, write the outputs, finish). The person's
//! changes arrive as upstream's `@changed_glyphs` (`{id, class_name}`; ids are the components'
//! positions in the CC file), merged into `@manual_glyphs`, which the job keeps between its runs
//! (upstream keeps the whole glyph list in non-`@` settings; the glyphs here are read again from
//! the CC file, so only the person's classes are kept). Grouping, splitting and deleting glyphs
//! (upstream's states 3 to 5 and its "manual" answers, which run Gamera in the API process) are
//! not offered.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use rodan_core::catalogue::JobDescriptor;
use serde_json::{Map, Value, json};

use super::classification::{FeatureFunctions, GameraFeatures, apply_settings, feature_set};
use super::write_file;
use crate::descriptor::{Spec, all_types, describe, port};
use crate::gamera::classify::{Classifier, Features};
use crate::gamera::png::encode_png;
use crate::gamera::xml::{Database, Glyph, State, read_file, write};
use crate::gamera::{Image, Plane};
use crate::job::{Inputs, Interface, Job, JobError, Outcome, Outputs, Waiting};

/// The job's name.
pub const NAME: &str = "Interactive Classifier";
const PREVIEW: &str = "PNG (includes RGB, 1-Bit, and Greyscale) - Preview Image";
const TRAINING: &str = "GameraXML - Training Data";
const CCS: &str = "GameraXML - Connected Components";
const FEATURE_SELECTION: &str = "GameraXML - Feature Selection";
const CLASS_NAMES: &str = "Plain Text - Class Names";
const CLASSIFIED: &str = "GameraXML - Classified Glyphs";
const GAMERA_XML: &str = "application/gamera+xml";
const TEXT: &str = "text/plain";
const UNCLASSIFIED: &str = "UNCLASSIFIED";

/// `ClassifierStateEnum.IMPORT_XML`.
pub const IMPORT_XML: i64 = 0;
/// `ClassifierStateEnum.CLASSIFYING`.
pub const CLASSIFYING: i64 = 1;
/// `ClassifierStateEnum.EXPORT_XML`.
pub const EXPORT_XML: i64 = 2;

/// The page and its static files, served from the bundle (HTML, CSS and plain JS, no build).
const PAGE: &str = include_str!("../../interfaces/interactive-classifier/index.html");
const STATICS: &[(&str, &[u8])] = &[
    (
        "classifier.css",
        include_bytes!("../../interfaces/interactive-classifier/classifier.css"),
    ),
    (
        "classifier.js",
        include_bytes!("../../interfaces/interactive-classifier/classifier.js"),
    ),
];

/// The run job's data for the page, in the bundle's static folder.
pub const CONTEXT_FILE: &str = "context.json";
/// The preview image, copied into the bundle's static folder.
pub const PREVIEW_FILE: &str = "preview.png";

/// 'Interactive Classifier'.
#[derive(Debug, Clone, Copy, Default)]
pub struct InteractiveClassifier;

impl Job for InteractiveClassifier {
    fn name(&self) -> &'static str {
        NAME
    }

    fn descriptor(&self) -> JobDescriptor {
        descriptor()
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        match self.run_or_wait(inputs, settings, outputs)? {
            Outcome::Finished => Ok(()),
            Outcome::Waiting(_) => Err(JobError::bad_settings(
                "the Interactive Classifier waits for a person",
                "the job is interactive: it finishes only once a person has classified the \
                 glyphs in its page ('@state' 2)",
            )),
        }
    }

    fn run_or_wait(
        &self,
        inputs: &Inputs,
        settings: &Value,
        outputs: &Outputs,
    ) -> Result<Outcome, JobError> {
        run_with(&GameraFeatures, inputs, settings, outputs)
    }
}

/// The descriptor of 'Interactive Classifier': upstream's attributes, `interactive`.
pub fn descriptor() -> JobDescriptor {
    let png: Vec<&str> = all_types()
        .into_iter()
        .filter(|t| t.ends_with("png"))
        .collect();
    let mut d = describe(
        Spec {
            name: NAME,
            author: "Andrew Fogarty",
            description: "A GUI for Gamera interactive kNN classification.",
            category: "Gamera - Classification",
        },
        json!({"job_queue": "Python3"}),
        vec![
            port(PREVIEW, 1, 1, &png),
            port(TRAINING, 0, 1, &[GAMERA_XML]),
            port(CCS, 1, 1, &[GAMERA_XML]),
            port(FEATURE_SELECTION, 0, 1, &[GAMERA_XML]),
            port(CLASS_NAMES, 0, 1, &[TEXT]),
        ],
        vec![
            port(TRAINING, 0, 1, &[GAMERA_XML]),
            port(CLASSIFIED, 1, 1, &[GAMERA_XML]),
            port(CLASS_NAMES, 0, 1, &[TEXT]),
        ],
    );
    d.interactive = true;
    d
}

fn bad_settings(summary: impl Into<String>, details: impl Into<String>) -> JobError {
    JobError::bad_settings(summary, details)
}

/// The person's classes so far: glyph id → class name.
type Manual = BTreeMap<usize, String>;

/// Reads `{id, class_name}` objects of `key` into `manual`; ids must name a glyph of `count`.
fn merge_classes(
    manual: &mut Manual,
    settings: &Value,
    key: &str,
    count: usize,
) -> Result<(), JobError> {
    let Some(list) = settings.get(key) else {
        return Ok(());
    };
    let list = list.as_array().ok_or_else(|| {
        bad_settings(
            format!("'{key}' is not a list"),
            format!("'{key}' must be a list of {{id, class_name}} objects, got {list}"),
        )
    })?;
    for item in list {
        let id = item
            .get("id")
            .and_then(Value::as_u64)
            .and_then(|id| usize::try_from(id).ok())
            .filter(|&id| id < count);
        let class = item.get("class_name").and_then(Value::as_str);
        let (Some(id), Some(class)) = (id, class) else {
            return Err(bad_settings(
                format!("'{key}' holds a glyph that is not on the page"),
                format!(
                    "each item of '{key}' needs an 'id' below {count} (the glyphs of the page) \
                     and a 'class_name'; got {item}"
                ),
            ));
        };
        if class == UNCLASSIFIED {
            manual.remove(&id);
        } else {
            manual.insert(id, class.to_owned());
        }
    }
    Ok(())
}

/// The JSON Schema of the person's input for a page of `count` glyphs: the next state (1: new
/// suggestions, 2: finish) and the changed glyphs. Class names are Gamera's dotted names (no
/// white space, not starting with `_`, which Gamera keeps for `_group`, `_split`, `_delete`).
pub fn input_schema(count: usize) -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Interactive Classifier input",
        "type": "object",
        "required": ["@state", "@changed_glyphs"],
        "additionalProperties": false,
        "properties": {
            "@state": {"enum": [CLASSIFYING, EXPORT_XML]},
            "@changed_glyphs": {
                "type": "array",
                "maxItems": count,
                "items": {
                    "type": "object",
                    "required": ["id", "class_name"],
                    "properties": {
                        "id": {"type": "integer", "minimum": 0, "maximum": count.saturating_sub(1)},
                        "class_name": {
                            "type": "string",
                            "pattern": "^[^_\\s][^\\s]{0,99}$"
                        },
                        "id_state_manual": {"type": "boolean"},
                        "confidence": {"type": "number"}
                    }
                }
            }
        }
    })
}

fn state_of(settings: &Value) -> Result<i64, JobError> {
    match settings.get("@state") {
        None | Some(Value::Null) => Ok(IMPORT_XML),
        Some(v) => v
            .as_i64()
            .filter(|s| [IMPORT_XML, CLASSIFYING, EXPORT_XML].contains(s))
            .ok_or_else(|| {
                bad_settings(
                    format!("'@state' {v} is not a state of the classifier"),
                    "'@state' must be 0 (import), 1 (classifying) or 2 (export)",
                )
            }),
    }
}

/// The training data's MANUAL glyphs with a class (upstream drops the rest).
fn training_glyphs(inputs: &Inputs) -> Result<Vec<Glyph>, JobError> {
    let Some(r) = inputs.get(TRAINING).first() else {
        return Ok(Vec::new());
    };
    Ok(read_file(&r.path)?
        .glyphs
        .into_iter()
        .filter(|g| g.state == State::Manual && !matches!(g.main_id(), UNCLASSIFIED | "_delete"))
        .collect())
}

fn imported_class_names(inputs: &Inputs) -> Result<BTreeSet<String>, JobError> {
    let Some(r) = inputs.get(CLASS_NAMES).first() else {
        return Ok(BTreeSet::new());
    };
    let text = JobError::read_text(&r.path, "the class names")?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

fn manual_glyph(cc: &Glyph, class: &str) -> Glyph {
    let mut g = cc.clone();
    g.state = State::Manual;
    g.ids = vec![(class.to_owned(), 1.0)];
    g.features.clear();
    g
}

/// Runs the job with `functions` computing the features.
pub fn run_with(
    functions: &dyn FeatureFunctions,
    inputs: &Inputs,
    settings: &Value,
    outputs: &Outputs,
) -> Result<Outcome, JobError> {
    let state = state_of(settings)?;
    let ccs = read_file(&inputs.first(CCS)?.path)?.glyphs;
    let training = training_glyphs(inputs)?;
    let mut manual = Manual::new();
    if state != IMPORT_XML {
        merge_classes(&mut manual, settings, "@manual_glyphs", ccs.len())?;
        merge_classes(&mut manual, settings, "@changed_glyphs", ccs.len())?;
    }
    // kNNInteractive's database: the page's MANUAL glyphs, then the training data's.
    let database: Vec<Glyph> = manual
        .iter()
        .map(|(&id, class)| manual_glyph(&ccs[id], class))
        .chain(training.iter().cloned())
        .collect();
    let (knn_settings, names) = feature_set(functions, inputs, FEATURE_SELECTION)?;
    let feature_fn = |image: &Plane<u8>| -> Features {
        names
            .iter()
            .map(|n| (n.clone(), functions.compute(n, image).unwrap_or_default()))
            .collect()
    };
    let classifier = if database.is_empty() {
        None
    } else {
        let mut c = Classifier::train(&database, &feature_fn, false).map_err(classify_error)?;
        if let Some(s) = &knn_settings {
            let db = Database {
                symbols: Vec::new(),
                glyphs: database.clone(),
            };
            apply_settings(&mut c, s, &names, functions, &db)?;
        }
        Some(c)
    };
    // Every glyph of the page: MANUAL as the person set it, else the kNN's guess (AUTOMATIC),
    // else UNCLASSIFIED; with features.
    let glyphs: Vec<Glyph> = {
        use rayon::prelude::*;
        ccs.par_iter()
            .enumerate()
            .map(|(id, cc)| -> Result<Glyph, JobError> {
                let mut g = match manual.get(&id) {
                    Some(class) => manual_glyph(cc, class),
                    None => {
                        let mut g = cc.clone();
                        g.state = State::Unclassified;
                        g.ids.clear();
                        g
                    }
                };
                match (&classifier, g.state) {
                    (Some(c), State::Unclassified) => {
                        let (features, ids) =
                            c.features_and_classes(&g.image).map_err(classify_error)?;
                        g.features = features;
                        g.ids = ids;
                        g.state = State::Automatic;
                    }
                    _ => g.features = feature_fn(&g.image),
                }
                Ok(g)
            })
            .collect::<Result<_, _>>()?
    };
    let mut class_names = imported_class_names(inputs)?;
    class_names.extend(
        glyphs
            .iter()
            .chain(&training)
            .map(|g| g.main_id().to_owned())
            .filter(|n| n != UNCLASSIFIED),
    );
    if state == EXPORT_XML {
        write_outputs(outputs, &glyphs, &database, &feature_fn, &class_names)?;
        return Ok(Outcome::Finished);
    }
    let interface = interface(inputs, &glyphs, &class_names, training.len())?;
    let manual_list: Vec<Value> = manual
        .iter()
        .map(|(id, class)| json!({"id": id, "class_name": class}))
        .collect();
    let mut update = Map::new();
    update.insert("@state".into(), json!(CLASSIFYING));
    update.insert("@changed_glyphs".into(), json!([]));
    update.insert("@manual_glyphs".into(), Value::Array(manual_list));
    Ok(Outcome::Waiting(Waiting::new(update, interface)))
}

fn classify_error(e: crate::gamera::classify::ClassifyError) -> JobError {
    JobError::bad_input(format!("failed to classify: {e}"), e.to_string())
}

fn write_outputs(
    outputs: &Outputs,
    glyphs: &[Glyph],
    database: &[Glyph],
    feature_fn: &(dyn Fn(&Plane<u8>) -> Features + Sync),
    class_names: &BTreeSet<String>,
) -> Result<(), JobError> {
    if let Some(out) = outputs.get(TRAINING).first() {
        // `to_xml_filename`: the classifier's database with features, less group parts.
        let database: Vec<Glyph> = database
            .iter()
            .filter(|g| !g.main_id().starts_with("_group._part"))
            .map(|g| {
                let mut g = g.clone();
                g.features = feature_fn(&g.image);
                g
            })
            .collect();
        let xml = write(
            &Database {
                symbols: Vec::new(),
                glyphs: database,
            },
            true,
        );
        write_file(&out.path, xml.as_bytes())?;
    }
    if let Some(out) = outputs.get(CLASS_NAMES).first() {
        let text: String = class_names.iter().map(|n| format!("{n}\n")).collect();
        write_file(&out.path, text.as_bytes())?;
    }
    let xml = write(
        &Database {
            symbols: Vec::new(),
            glyphs: glyphs.to_vec(),
        },
        true,
    );
    for out in outputs.get(CLASSIFIED) {
        write_file(&out.path, xml.as_bytes())?;
    }
    Ok(())
}

/// A glyph's image as a `data:` URL of a one-bit PNG.
fn data_url(image: &Plane<u8>) -> Result<String, JobError> {
    let mut png = Vec::new();
    encode_png(&Image::OneBit(image.clone()), &mut png).map_err(|e| {
        JobError::bad_input(
            "a glyph cannot be drawn",
            format!("a glyph's PNG failed to encode: {e}"),
        )
    })?;
    Ok(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    ))
}

/// The page's bundle: the job's page and files, the glyphs with their classes as
/// [`CONTEXT_FILE`], the preview as [`PREVIEW_FILE`], and the input's schema.
fn interface(
    inputs: &Inputs,
    glyphs: &[Glyph],
    class_names: &BTreeSet<String>,
    training: usize,
) -> Result<Interface, JobError> {
    let glyph_list = glyphs
        .iter()
        .enumerate()
        .map(|(id, g)| {
            Ok(json!({
                "id": id,
                "ulx": g.ul_x,
                "uly": g.ul_y,
                "ncols": g.ncols(),
                "nrows": g.nrows(),
                "class_name": g.main_id(),
                "confidence": g.main_confidence(),
                "id_state_manual": g.state == State::Manual,
                "image": data_url(&g.image)?,
            }))
        })
        .collect::<Result<Vec<Value>, JobError>>()?;
    let preview = inputs.first(PREVIEW)?;
    let preview_bytes =
        std::fs::read(&preview.path).map_err(|e| JobError::read(&preview.path, e))?;
    let context = json!({
        "job": NAME,
        "preview": PREVIEW_FILE,
        "class_names": class_names,
        "training_glyphs": training,
        "glyphs": glyph_list,
    });
    Ok(Interface {
        page: PAGE,
        statics: STATICS,
        files: vec![
            (
                CONTEXT_FILE.to_owned(),
                serde_json::to_vec(&context).unwrap_or_default(),
            ),
            (PREVIEW_FILE.to_owned(), preview_bytes),
        ],
        input_schema: input_schema(glyphs.len()),
    })
}
