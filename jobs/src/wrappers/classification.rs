//! Gamera's Non-Interactive Classifier job (upstream `gamera_rodan/wrappers/classification.py`):
//! a kNN trained on a GameraXML training set (`kNNNonInteractive`, all features, k = 1, city
//! block, no normalisation), optionally with a kNN settings file (features, selections, weights,
//! k, distance), classifies the connected components, groups neighbouring ones
//! (`BoundingBoxGroupingFunction`, at most 4 parts per group, subgraphs of at most 16) and
//! writes the glyphs with their features as GameraXML.

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::write_file;
use crate::descriptor::{Spec, describe, port};
use crate::gamera::Plane;
use crate::gamera::classify::{Classifier, ClassifyError, Features};
use crate::gamera::features;
use crate::gamera::knn::{KnnSettings, parse_settings};
use crate::gamera::xml::{Database, State, read_file, write};
use crate::job::{Inputs, Job, JobError, Outputs};
use crate::settings::Settings;

const CCS: &str = "GameraXML - Connected Components";
const TRAINING: &str = "GameraXML - Training Data";
const FEATURE_SELECTION: &str = "GameraXML - Feature Selection";
const OUTPUT: &str = "GameraXML - Classified Glyphs";
const BBOX: &str = "Bounding box size";
const GAMERA_XML: &str = "application/gamera+xml";

/// Upstream's description, and what this job does where upstream's fails.
const DESCRIPTION: &str = "Performs classification on a binarized staff-less image and outputs an xml file.\n\n\
Unlike upstream's job, which fails when a connected component is already classified MANUAL or \
HEURISTIC (Gamera 4.1.0 reads their class names as bytes), such glyphs are kept: MANUAL ones \
take no part in classification and grouping, HEURISTIC ones keep their class.";

/// Gamera's feature functions: the names of all of them in Gamera's (sorted) order, and the
/// values of the named ones for an image.
pub trait FeatureFunctions: Sync {
    /// Every feature name, sorted (the `'all'` feature set).
    fn all_names(&self) -> Vec<&'static str>;
    /// The values of feature `name` for `image`; `None` for an unknown name.
    fn compute(&self, name: &str, image: &Plane<u8>) -> Option<Vec<f64>>;
}

/// Gamera's feature functions as `gamera::features` computes them: the 16 that upstream's
/// production Gamera has (Gamera 4.1.0's `fourier_broken` is not among them).
#[derive(Debug, Clone, Copy, Default)]
pub struct GameraFeatures;

impl FeatureFunctions for GameraFeatures {
    fn all_names(&self) -> Vec<&'static str> {
        features::NAMES.to_vec()
    }

    fn compute(&self, name: &str, image: &Plane<u8>) -> Option<Vec<f64>> {
        features::compute(name, image)
    }
}

/// 'Non-Interactive Classifier'.
#[derive(Debug, Clone, Copy, Default)]
pub struct NonInteractiveClassifier;

impl Job for NonInteractiveClassifier {
    fn name(&self) -> &'static str {
        "Non-Interactive Classifier"
    }

    fn descriptor(&self) -> JobDescriptor {
        descriptor()
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        run_with(&GameraFeatures, inputs, settings, outputs)
    }
}

/// The descriptor of 'Non-Interactive Classifier'.
pub fn descriptor() -> JobDescriptor {
    describe(
        Spec {
            name: "Non-Interactive Classifier",
            author: "Ling-Xiao Yang",
            description: DESCRIPTION,
            category: "Gamera - Classification",
        },
        json!({
            "title": "Bounding box size",
            "type": "object",
            "job_queue": "Python3",
            "properties": {
                "Bounding box size": {"type": "integer", "minimum": 1, "default": 4}
            }
        }),
        vec![
            port(CCS, 1, 1, &[GAMERA_XML]),
            port(TRAINING, 1, 1, &[GAMERA_XML]),
            port(FEATURE_SELECTION, 0, 1, &[GAMERA_XML]),
        ],
        vec![port(OUTPUT, 1, 2, &[GAMERA_XML])],
    )
}

fn bad(summary: impl Into<String>, details: impl Into<String>) -> JobError {
    JobError::bad_input(summary, details)
}

fn classify_error(e: ClassifyError) -> JobError {
    bad(format!("failed to classify: {e}"), e.to_string())
}

/// Runs the job with `functions` computing the features: reads the ports, trains, classifies,
/// groups and writes every output file.
pub fn run_with(
    functions: &dyn FeatureFunctions,
    inputs: &Inputs,
    settings: &Value,
    outputs: &Outputs,
) -> Result<(), JobError> {
    let schema = descriptor().settings;
    let bbox = Settings::new(&schema, settings)?.integer(BBOX)?;
    let training = read_file(&inputs.first(TRAINING)?.path).map_err(|e| match e {
        JobError::BadInput { summary, details } => bad(
            format!("the training data is not GameraXML: {summary}"),
            details,
        ),
        other => other,
    })?;
    if !training
        .glyphs
        .iter()
        .any(|g| g.state != State::Unclassified)
    {
        return Err(bad(
            "the training data has no classified glyph",
            format!(
                "'{TRAINING}' holds {} glyphs and none is classified; a non-interactive kNN \
                 classifier needs at least one training glyph",
                training.glyphs.len()
            ),
        ));
    }
    if let Some(g) = training
        .glyphs
        .iter()
        .find(|g| g.state != State::Unclassified && g.ids.is_empty())
    {
        return Err(bad(
            "a training glyph has no class name",
            format!(
                "the {} glyph at ({}, {}) has no <id>; Gamera's kNN cannot read its class",
                g.state.name(),
                g.ul_x,
                g.ul_y
            ),
        ));
    }
    let (knn_settings, names) = feature_set(functions, inputs, FEATURE_SELECTION)?;
    let feature_fn = |image: &Plane<u8>| -> Features {
        names
            .iter()
            .map(|n| (n.clone(), functions.compute(n, image).unwrap_or_default()))
            .collect()
    };
    let mut classifier =
        Classifier::train(&training.glyphs, &feature_fn, false).map_err(classify_error)?;
    if let Some(s) = &knn_settings {
        apply_settings(&mut classifier, s, &names, functions, &training)?;
    }
    let ccs = read_file(&inputs.first(CCS)?.path)?.glyphs;
    let glyphs = classifier
        .group_and_update(ccs, bbox as f64, 4, 16)
        .map_err(classify_error)?;
    let xml = write(
        &Database {
            symbols: Vec::new(),
            glyphs,
        },
        true,
    );
    for out in outputs.get(OUTPUT) {
        write_file(&out.path, xml.as_bytes())?;
    }
    Ok(())
}

/// The kNN settings of the optional port `port` (Gamera's `<gamera-knn-settings>`) and the
/// feature names the classifier uses: the weighted ones when settings are given
/// (`load_settings`), else every feature of `functions`.
pub(crate) fn feature_set(
    functions: &dyn FeatureFunctions,
    inputs: &Inputs,
    port: &str,
) -> Result<(Option<KnnSettings>, Vec<String>), JobError> {
    let knn_settings = match inputs.get(port).first() {
        Some(r) => {
            let text = crate::limits::read_text_input(&r.path, "the feature selection")?;
            Some(parse_settings(&text).map_err(|e| {
                bad(
                    "the feature selection is not a kNN settings file",
                    format!("'{port}' must be Gamera's <gamera-knn-settings> file: {e}"),
                )
            })?)
        }
        None => None,
    };
    let names: Vec<String> = match &knn_settings {
        // load_settings: the weighted features, sorted, are the feature set.
        Some(s) => {
            let known = functions.all_names();
            if let Some(unknown) = s.weights.keys().find(|n| !known.contains(&n.as_str())) {
                return Err(bad(
                    format!("'{unknown}' is not a known feature function"),
                    format!("the kNN settings weigh '{unknown}', which Gamera does not have"),
                ));
            }
            s.weights.keys().cloned().collect()
        }
        None => functions
            .all_names()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    };
    Ok((knn_settings, names))
}

/// `load_settings` after the feature set changed: k, the distance, the selections when every
/// feature has a valid one (Gamera ignores them otherwise, keeping those before a bad value),
/// the weights (whose lengths must fit).
pub(crate) fn apply_settings(
    classifier: &mut Classifier<'_>,
    s: &KnnSettings,
    names: &[String],
    functions: &dyn FeatureFunctions,
    training: &Database,
) -> Result<(), JobError> {
    if s.num_k < 1 {
        return Err(bad(
            "the kNN settings ask for k < 1",
            format!(
                "num-k is {}; Gamera's kNN needs at least one neighbour",
                s.num_k
            ),
        ));
    }
    classifier.knn.num_k = usize::try_from(s.num_k).unwrap_or(usize::MAX);
    classifier.knn.distance = s.distance;
    let n = classifier.knn.num_features();
    let selections: Option<Vec<i64>> = names
        .iter()
        .map(|name| s.selections.get(name).cloned())
        .collect::<Option<Vec<_>>>()
        .map(|v| v.concat());
    if let Some(sel) = selections
        && sel.len() == n
    {
        for (i, &v) in sel.iter().enumerate() {
            match v {
                0 | 1 => classifier.knn.selections[i] = v as i32,
                _ => break,
            }
        }
    }
    let weights: Vec<f64> = names
        .iter()
        .flat_map(|name| s.weights.get(name).cloned().unwrap_or_default())
        .collect();
    if weights.len() != n {
        let lengths: Vec<String> = training
            .glyphs
            .first()
            .map(|g| {
                names
                    .iter()
                    .map(|name| {
                        let l = functions.compute(name, &g.image).map_or(0, |v| v.len());
                        format!("{name} {l}")
                    })
                    .collect()
            })
            .unwrap_or_default();
        return Err(bad(
            "the kNN settings' weights do not fit the features",
            format!(
                "knn: weight vector is not the correct size: {} weights for {n} feature values ({})",
                weights.len(),
                lengths.join(", ")
            ),
        ));
    }
    classifier.knn.weights = weights;
    Ok(())
}
