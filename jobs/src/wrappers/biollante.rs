//! 'Biollante' (upstream `biollante_rodan/biollante_rodan.py` and `knnga_util.py`): a genetic
//! algorithm optimises a kNN classifier's feature selection or weights, with the person
//! choosing the algorithm's settings in its page, starting it, looking at the result, and
//! finishing with the classifier's settings file (`<gamera-knn-settings>`).
//!
//! Upstream's states in `@state`: 0 INIT (read the classifier, keep its settings file in
//! `@settings`, its feature count in `@num_features`, its weights by feature in `@weights`, the
//! default GA settings, then wait), 1 NOT_OPTIMIZING (wait for the person), 2 OPTIMIZING (run the
//! GA on the classifier with `@settings`, keep the best selection or weights in `@settings` and
//! `@weights`, the generation and best fitness in `@results`, then wait again), 3 FINISHING
//! (write `@settings` to the output). The GA settings are kept as upstream keeps them, as JSON
//! text in `@base`, `@selection`, `@replacement`, `@mutation`, `@crossover`, `@stop_criteria`.
//!
//! Upstream's page posts `{"method": "start", "base": ..., ...}` and its
//! `validate_my_user_input` turns it into settings; here the page posts the settings themselves
//! (`{"@state": 2, "@base": {...}, ...}` or `{"@state": 3}`), and the input schema refuses a
//! start without complete GA settings (upstream's `ManualPhaseException`) before anything
//! changes. The job reads the GA settings as objects or as upstream's JSON text.

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Map, Value, json};

use super::classification::{FeatureFunctions, GameraFeatures};
use super::write_file;
use crate::descriptor::{Spec, describe, port};
use crate::gamera::Plane;
use crate::gamera::classify::{Classifier, Features};
use crate::gamera::knn::{Knn, parse_settings, write_settings};
use crate::gamera::knnga::{
    BaseSetting, Bounds, Crossover, GaSettings, Mutation, OpMode, Replacement, Selection,
    StopCriterion, optimise,
};
use crate::gamera::xml::read_file;
use crate::job::{Inputs, Interface, Job, JobError, Outcome, Outputs, Waiting};
use crate::pyjson;

/// The job's name.
pub const NAME: &str = "Biollante";
/// The input port.
pub const INPUT: &str = "Classifier Data";
/// The output port.
pub const OUTPUT: &str = "Feature Weights/Selection";
const GAMERA_XML: &str = "application/gamera+xml";

/// `STATE_INIT`.
pub const STATE_INIT: i64 = 0;
/// `STATE_NOT_OPTIMIZING`.
pub const STATE_NOT_OPTIMIZING: i64 = 1;
/// `STATE_OPTIMIZING`.
pub const STATE_OPTIMIZING: i64 = 2;
/// `STATE_FINISHING`.
pub const STATE_FINISHING: i64 = 3;

/// The largest population the schema accepts (a run's cost grows with it).
pub const MAX_POPULATION: u64 = 500;

/// The largest tournament size or number of cut points the job uses (the schema's bound; GA
/// settings kept as text are clamped to it).
const MAX_SIZE: usize = 1000;

const PAGE: &str = include_str!("../../interfaces/biollante/index.html");
const STATICS: &[(&str, &[u8])] = &[
    (
        "biollante.css",
        include_bytes!("../../interfaces/biollante/biollante.css"),
    ),
    (
        "biollante.js",
        include_bytes!("../../interfaces/biollante/biollante.js"),
    ),
];

/// The run job's data for the page, in the bundle's static folder.
pub const CONTEXT_FILE: &str = "context.json";

/// 'Biollante'.
#[derive(Debug, Clone, Copy, Default)]
pub struct Biollante;

impl Job for Biollante {
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
                "Biollante waits for a person",
                "the job is interactive: it finishes only once a person has finished it in its \
                 page ('@state' 3)",
            )),
        }
    }

    fn run_or_wait(
        &self,
        inputs: &Inputs,
        settings: &Value,
        outputs: &Outputs,
    ) -> Result<Outcome, JobError> {
        run(inputs, settings, outputs)
    }
}

/// The descriptor: upstream's attributes, `interactive`.
pub fn descriptor() -> JobDescriptor {
    let mut d = describe(
        Spec {
            name: NAME,
            author: "Juliette Regimbal",
            description: "GA Optimizer for kNN Classifiers",
            category: "Optimization",
        },
        json!({"job_queue": "Python3"}),
        vec![port(INPUT, 1, 1, &[GAMERA_XML])],
        vec![port(OUTPUT, 1, 1, &[GAMERA_XML])],
    );
    d.interactive = true;
    d
}

fn bad(summary: impl Into<String>, details: impl Into<String>) -> JobError {
    JobError::bad_settings(summary, details)
}

/// A classifier read from a GameraXML database: `kNNNonInteractive(file)` with all of
/// Gamera's features, and the features' names and lengths in order.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The kNN (k = 1, city block, every feature selected with weight 1).
    pub knn: Knn,
    /// (feature name, number of values), in the classifier's order.
    pub features: Vec<(String, usize)>,
}

/// Reads the classifier's glyphs and computes their features.
pub fn load_classifier(path: &std::path::Path) -> Result<Loaded, JobError> {
    let functions = GameraFeatures;
    let names = functions.all_names();
    let feature_fn = |image: &Plane<u8>| -> Features {
        names
            .iter()
            .map(|n| {
                (
                    (*n).to_owned(),
                    functions.compute(n, image).unwrap_or_default(),
                )
            })
            .collect()
    };
    let db = read_file(path)?;
    let first = db.glyphs.first().ok_or_else(|| {
        JobError::bad_input(
            "the classifier has no glyph",
            "'Classifier Data' must be a GameraXML database with classified glyphs",
        )
    })?;
    let features = feature_fn(&first.image)
        .into_iter()
        .map(|(n, v)| (n, v.len()))
        .collect();
    let classifier = Classifier::train(&db.glyphs, &feature_fn, false).map_err(|e| {
        JobError::bad_input(
            format!("the classifier cannot be built: {e}"),
            format!("'Classifier Data' does not give a kNN classifier: {e}"),
        )
    })?;
    Ok(Loaded {
        knn: classifier.knn,
        features,
    })
}

impl Loaded {
    /// `save_settings`.
    pub fn settings_file(&self) -> String {
        write_settings(
            self.knn.num_k,
            self.knn.distance,
            &self.features,
            &self.knn.selections,
            &self.knn.weights,
        )
    }

    /// `get_weights_by_features`.
    pub fn weights_by_feature(&self) -> Value {
        let mut map = Map::new();
        let mut at = 0;
        for (name, len) in &self.features {
            map.insert(name.clone(), json!(self.knn.weights[at..at + len]));
            at += len;
        }
        Value::Object(map)
    }

    /// `load_settings` of a settings file (k, distance, selections, weights; the feature set
    /// must be the classifier's).
    pub fn apply_settings_file(&mut self, text: &str) -> Result<(), JobError> {
        let s = parse_settings(text.as_bytes()).map_err(|e| {
            bad(
                "'@settings' is not a kNN settings file",
                format!("'@settings' must be Gamera's <gamera-knn-settings>: {e}"),
            )
        })?;
        if s.num_k < 1 {
            return Err(bad(
                "'@settings' asks for k < 1",
                format!("num-k is {}", s.num_k),
            ));
        }
        let mut selections = Vec::new();
        let mut weights = Vec::new();
        for (name, len) in &self.features {
            let w = s
                .weights
                .get(name)
                .filter(|w| w.len() == *len)
                .ok_or_else(|| {
                    bad(
                        format!("'@settings' has no weights of {len} for '{name}'"),
                        "the settings file must weigh every feature of the classifier",
                    )
                })?;
            weights.extend_from_slice(w);
            match s.selections.get(name).filter(|v| v.len() == *len) {
                Some(v) => selections.extend(v.iter().map(|&x| i32::from(x != 0))),
                None => selections.extend(std::iter::repeat_n(1, *len)),
            }
        }
        self.knn.num_k = usize::try_from(s.num_k).unwrap_or(usize::MAX);
        self.knn.distance = s.distance;
        self.knn.selections = selections;
        self.knn.weights = weights;
        Ok(())
    }
}

fn state_of(settings: &Value) -> Result<i64, JobError> {
    match settings.get("@state") {
        None | Some(Value::Null) => Ok(STATE_INIT),
        Some(v) => v
            .as_i64()
            .filter(|s| (STATE_INIT..=STATE_FINISHING).contains(s))
            .ok_or_else(|| {
                bad(
                    format!("'@state' {v} is not a state of Biollante"),
                    "'@state' must be 0 (init), 1 (not optimizing), 2 (optimizing) or 3 \
                     (finishing)",
                )
            }),
    }
}

/// Runs the job (one step of its state machine).
pub fn run(inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<Outcome, JobError> {
    let state = state_of(settings)?;
    if state == STATE_FINISHING {
        let text = settings
            .get("@settings")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                bad(
                    "there are no kNN settings to write",
                    "'@settings' must hold the settings file's text when finishing",
                )
            })?;
        for out in outputs.get(OUTPUT) {
            write_file(&out.path, text.as_bytes())?;
        }
        return Ok(Outcome::Finished);
    }
    let mut loaded = load_classifier(&inputs.first(INPUT)?.path)?;
    let mut update = Map::new();
    match state {
        STATE_INIT => {
            let defaults = Defaults::new();
            update.insert("@settings".into(), json!(loaded.settings_file()));
            update.insert("@num_features".into(), json!(loaded.knn.num_features()));
            update.insert("@weights".into(), loaded.weights_by_feature());
            defaults.insert_into(&mut update);
            update.insert("@results".into(), Value::Null);
        }
        STATE_NOT_OPTIMIZING => {
            for key in KEYS {
                if let Some(v) = settings.get(key) {
                    update.insert(key.to_owned(), v.clone());
                }
            }
            if let Some(text) = settings.get("@settings").and_then(Value::as_str) {
                loaded.apply_settings_file(text)?;
            }
            let defaults = Defaults::new();
            for (key, value) in defaults.pairs() {
                update.entry(key).or_insert(value);
            }
            update.insert("@settings".into(), json!(loaded.settings_file()));
            update.insert("@num_features".into(), json!(loaded.knn.num_features()));
            update.insert("@weights".into(), loaded.weights_by_feature());
            update.entry("@results").or_insert(Value::Null);
        }
        _ => {
            let text = settings
                .get("@settings")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    bad(
                        "there are no kNN settings to optimise",
                        "'@settings' must hold the classifier's settings file",
                    )
                })?
                .to_owned();
            loaded.apply_settings_file(&text)?;
            let ga = ga_settings(settings, loaded.knn.num_features())?;
            let seed = seed_of(&text, &ga);
            let result = optimise(&loaded.knn, &ga.settings, seed, Bounds::default())
                .map_err(|e| bad(format!("the GA cannot run: {e}"), e.to_string()))?;
            loaded.knn.selections = result.selections;
            loaded.knn.weights = result.weights;
            update.insert("@settings".into(), json!(loaded.settings_file()));
            update.insert("@num_features".into(), json!(loaded.knn.num_features()));
            update.insert("@weights".into(), loaded.weights_by_feature());
            ga.insert_into(&mut update);
            update.insert(
                "@results".into(),
                json!({"generation": result.generation, "bestFitness": result.best_fitness}),
            );
        }
    }
    update.insert("@state".into(), json!(STATE_NOT_OPTIMIZING));
    let interface = interface(&loaded, &update);
    Ok(Outcome::Waiting(Waiting::new(update, interface)))
}

/// The GA settings' keys.
const KEYS: [&str; 6] = [
    "@base",
    "@selection",
    "@replacement",
    "@mutation",
    "@crossover",
    "@stop_criteria",
];

/// The GA settings as upstream serialises them (`knnga_dict`).
struct Defaults;

impl Defaults {
    fn new() -> Self {
        Self
    }

    /// INIT's settings: Gamera's `GABaseSetting()` and empty operator lists.
    fn pairs(&self) -> Vec<(String, Value)> {
        let base = BaseSetting::default();
        vec![
            ("@base".into(), json!(base_json(&base))),
            (
                "@selection".into(),
                json!(r#"{"method": null, "parameters": {}}"#),
            ),
            (
                "@replacement".into(),
                json!(r#"{"method": null, "parameters": {}}"#),
            ),
            ("@mutation".into(), json!("[]")),
            ("@crossover".into(), json!("[]")),
            ("@stop_criteria".into(), json!("[]")),
        ]
    }

    fn insert_into(&self, update: &mut Map<String, Value>) {
        for (k, v) in self.pairs() {
            update.insert(k, v);
        }
    }
}

/// `base_to_json`.
fn base_json(base: &BaseSetting) -> String {
    pyjson::Value::dict([
        (
            "opMode",
            pyjson::Value::Int(match base.op_mode {
                OpMode::Selection => 0,
                OpMode::Weighting => 1,
            }),
        ),
        ("popSize", pyjson::Value::Int(base.pop_size as i64)),
        ("crossRate", pyjson::Value::Float(base.cross_rate)),
        ("mutRate", pyjson::Value::Float(base.mut_rate)),
    ])
    .to_json()
}

/// The GA settings read from the job's settings, with their serialised forms.
struct Ga {
    settings: GaSettings,
    /// key → upstream's JSON text.
    texts: Vec<(&'static str, String)>,
}

impl Ga {
    fn insert_into(&self, update: &mut Map<String, Value>) {
        for (k, text) in &self.texts {
            update.insert((*k).to_owned(), json!(text));
        }
    }
}

/// A GA setting as an object: the object itself, or upstream's JSON text of it.
fn ga_value(settings: &Value, key: &str) -> Result<pyjson::Value, JobError> {
    let missing = || {
        bad(
            format!("'{key}' is missing: not enough GA optimizer settings"),
            format!("starting the optimisation needs '{key}'"),
        )
    };
    let v = settings.get(key).ok_or_else(missing)?;
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Null => return Err(missing()),
        other => other.to_string(),
    };
    pyjson::Value::parse(&text).map_err(|e| {
        bad(
            format!("'{key}' is not JSON"),
            format!("'{key}' must be a JSON object or list: {e}"),
        )
    })
}

fn num(p: &pyjson::Value, key: &str, default: Option<f64>, what: &str) -> Result<f64, JobError> {
    match p.get(key) {
        Some(v) => v.as_f64().ok_or_else(|| {
            bad(
                format!("'{key}' of {what} is not a number"),
                format!("{what}: '{key}' must be a number"),
            )
        }),
        None => default.ok_or_else(|| {
            bad(
                format!("{what} needs '{key}'"),
                format!("{what}: '{key}' is required"),
            )
        }),
    }
}

/// A parameter as the person gave it (upstream keeps `2` as `2`, `2.5` as `2.5`), else the
/// default as a float.
fn given(p: &pyjson::Value, key: &str, value: f64) -> pyjson::Value {
    match p.get(key) {
        Some(v @ (pyjson::Value::Int(_) | pyjson::Value::Float(_))) => v.clone(),
        _ => pyjson::Value::Float(value),
    }
}

fn count(p: &pyjson::Value, key: &str, default: usize, what: &str) -> Result<usize, JobError> {
    match p.get(key) {
        Some(v) => v
            .as_f64()
            .filter(|x| *x >= 0.0 && x.fract() == 0.0)
            .map(|x| x as usize)
            .ok_or_else(|| {
                bad(
                    format!("'{key}' of {what} is not a count"),
                    format!("{what}: '{key}' must be a whole number ≥ 0"),
                )
            }),
        None => Ok(default),
    }
}

fn method_of<'a>(item: &'a pyjson::Value, key: &str) -> Result<(&'a str, pyjson::Value), JobError> {
    let method = item
        .get("method")
        .and_then(pyjson::Value::as_str)
        .ok_or_else(|| {
            bad(
                format!("'{key}' has no method: not enough GA optimizer settings"),
                format!("each item of '{key}' needs a 'method'"),
            )
        })?;
    let params = item
        .get("parameters")
        .cloned()
        .unwrap_or(pyjson::Value::Dict(Vec::new()));
    Ok((method, params))
}

fn unknown(key: &str, method: &str) -> JobError {
    bad(
        format!("'{method}' is not a method of '{key}'"),
        format!("'{key}' names an unknown method '{method}'"),
    )
}

fn list<'a>(v: &'a pyjson::Value, key: &str) -> Result<&'a [pyjson::Value], JobError> {
    let items = v.as_list().ok_or_else(|| {
        bad(
            format!("'{key}' is not a list"),
            format!("'{key}' must be a list of methods"),
        )
    })?;
    if items.is_empty() {
        return Err(bad(
            format!("'{key}' is empty: not enough GA optimizer settings"),
            format!("'{key}' needs at least one method"),
        ));
    }
    Ok(items)
}

/// Upstream's `setup_optimizer`: the six GA settings, each complete.
fn ga_settings(settings: &Value, num_features: usize) -> Result<Ga, JobError> {
    use pyjson::Value as P;
    let base_v = ga_value(settings, "@base")?;
    let op_mode = match base_v.get("opMode").and_then(P::as_i64) {
        Some(0) => OpMode::Selection,
        Some(1) => OpMode::Weighting,
        _ => {
            return Err(bad(
                "'@base' has no valid opMode",
                "'opMode' must be 0 (feature selection) or 1 (feature weighting)",
            ));
        }
    };
    let defaults = BaseSetting::default();
    let base = BaseSetting {
        op_mode,
        pop_size: count(&base_v, "popSize", defaults.pop_size, "'@base'")?,
        cross_rate: num(&base_v, "crossRate", Some(defaults.cross_rate), "'@base'")?,
        mut_rate: num(&base_v, "mutRate", Some(defaults.mut_rate), "'@base'")?,
    };
    if base.pop_size == 0 || base.pop_size as u64 > MAX_POPULATION {
        return Err(bad(
            "the population size is out of range",
            format!("'popSize' must be 1 to {MAX_POPULATION}"),
        ));
    }

    let sel_v = ga_value(settings, "@selection")?;
    let (m, p) = method_of(&sel_v, "@selection")?;
    let what = "the selection";
    let (selection, sel_json) = match m {
        "random" => (Selection::Random, P::dict::<&str>([])),
        "rank" => {
            let pressure = num(&p, "pressure", Some(2.0), what)?;
            let exponent = num(&p, "exponent", Some(1.0), what)?;
            (
                Selection::Rank { pressure, exponent },
                P::dict([
                    ("pressure", given(&p, "pressure", pressure)),
                    ("exponent", given(&p, "exponent", exponent)),
                ]),
            )
        }
        "roulette" => (Selection::Roulette, P::dict::<&str>([])),
        "roulette_scaled" => {
            let pressure = num(&p, "pressure", Some(2.0), what)?;
            (
                Selection::RouletteScaled { pressure },
                P::dict([("pressure", given(&p, "pressure", pressure))]),
            )
        }
        "stochiastic" => (Selection::StochasticUniversal, P::dict::<&str>([])),
        "tournament" => {
            let t_size = count(&p, "tSize", 3, what)?.clamp(1, MAX_SIZE);
            (
                Selection::Tournament { t_size },
                P::dict([("tSize", P::Int(t_size as i64))]),
            )
        }
        other => return Err(unknown("@selection", other)),
    };

    let rep_v = ga_value(settings, "@replacement")?;
    let (m, p) = method_of(&rep_v, "@replacement")?;
    let (replacement, rep_json) = match m {
        "generational" => (Replacement::Generational, P::dict::<&str>([])),
        "SSGAworse" => (Replacement::SsgaWorse, P::dict::<&str>([])),
        "SSGAdetTournament" => {
            let t_size = count(&p, "tSize", 3, "the replacement")?.clamp(1, MAX_SIZE);
            (
                Replacement::SsgaDetTournament { t_size },
                P::dict([("tSize", P::Int(t_size as i64))]),
            )
        }
        other => return Err(unknown("@replacement", other)),
    };

    let nf = P::Int(num_features as i64);
    let mut_v = ga_value(settings, "@mutation")?;
    let mut mutation = Vec::new();
    let mut mut_json: Vec<(String, P)> = Vec::new();
    for item in list(&mut_v, "@mutation")? {
        let (m, p) = method_of(item, "@mutation")?;
        let what = "the mutation";
        let (op, params) = match m {
            "binary" => {
                let rate = num(&p, "rate", Some(0.05), what)?;
                let normalize = match p.get("normalize") {
                    Some(P::Bool(b)) => *b,
                    None => true,
                    Some(_) => return Err(bad("'normalize' is not a boolean", what)),
                };
                (
                    Mutation::Binary { rate, normalize },
                    P::dict([
                        ("rate", given(&p, "rate", rate)),
                        ("normalize", P::Bool(normalize)),
                    ]),
                )
            }
            "gauss" => {
                let (min, max) = (num(&p, "min", None, what)?, num(&p, "max", None, what)?);
                let sigma = num(&p, "sigma", None, what)?;
                let rate = num(&p, "rate", None, what)?;
                (
                    Mutation::Gauss {
                        min,
                        max,
                        sigma,
                        rate,
                    },
                    P::dict([
                        ("numFeatures", nf.clone()),
                        ("min", given(&p, "min", min)),
                        ("max", given(&p, "max", max)),
                        ("sigma", given(&p, "sigma", sigma)),
                        ("rate", given(&p, "rate", rate)),
                    ]),
                )
            }
            "inversion" => (Mutation::Inversion, P::dict::<&str>([])),
            "shift" => (Mutation::Shift, P::dict::<&str>([])),
            "swap" => (Mutation::Swap, P::dict::<&str>([])),
            other => return Err(unknown("@mutation", other)),
        };
        // One of each method, the last given wins (upstream's set… methods).
        if let Some(i) = mut_json.iter().position(|(k, _)| k == m) {
            mut_json.remove(i);
            mutation.remove(i);
        }
        mutation.push(op);
        mut_json.push((m.to_owned(), params));
    }

    let cross_v = ga_value(settings, "@crossover")?;
    let mut crossover = Vec::new();
    let mut cross_json: Vec<(String, P)> = Vec::new();
    for item in list(&cross_v, "@crossover")? {
        let (m, p) = method_of(item, "@crossover")?;
        let what = "the crossover";
        let bounded = |extra: &str, default: f64| -> Result<(f64, f64, f64, P), JobError> {
            let (min, max) = (num(&p, "min", None, what)?, num(&p, "max", None, what)?);
            let x = num(&p, extra, Some(default), what)?;
            let json = P::dict([
                ("numFeatures", nf.clone()),
                ("min", given(&p, "min", min)),
                ("max", given(&p, "max", max)),
                (extra, given(&p, extra, x)),
            ]);
            Ok((min, max, x, json))
        };
        let (op, params) = match m {
            "nPoint" => {
                let n = count(&p, "n", 1, what)?.clamp(1, MAX_SIZE);
                (Crossover::NPoint { n }, P::dict([("n", P::Int(n as i64))]))
            }
            "uniform" => {
                let preference = num(&p, "preference", Some(0.5), what)?;
                (
                    Crossover::Uniform { preference },
                    P::dict([("preference", given(&p, "preference", preference))]),
                )
            }
            "sbx" => {
                let (min, max, eta, json) = bounded("eta", 1.0)?;
                (Crossover::Sbx { min, max, eta }, json)
            }
            "segment" => {
                let (min, max, alpha, json) = bounded("alpha", 0.0)?;
                (Crossover::Segment { min, max, alpha }, json)
            }
            "hypercube" => {
                let (min, max, alpha, json) = bounded("alpha", 0.0)?;
                (Crossover::Hypercube { min, max, alpha }, json)
            }
            other => return Err(unknown("@crossover", other)),
        };
        if let Some(i) = cross_json.iter().position(|(k, _)| k == m) {
            cross_json.remove(i);
            crossover.remove(i);
        }
        crossover.push(op);
        cross_json.push((m.to_owned(), params));
    }

    let stop_v = ga_value(settings, "@stop_criteria")?;
    let mut stop = Vec::new();
    let mut stop_json: Vec<(String, P)> = Vec::new();
    for item in list(&stop_v, "@stop_criteria")? {
        let (m, p) = method_of(item, "@stop_criteria")?;
        let what = "the stop criteria";
        let (op, params) = match m {
            "bestFitness" => {
                let optimum = num(&p, "optimum", Some(1.0), what)?;
                (
                    StopCriterion::BestFitness { optimum },
                    P::dict([("optimum", given(&p, "optimum", optimum))]),
                )
            }
            "maxGenerations" => {
                let n = count(&p, "n", 100, what)?;
                (
                    StopCriterion::MaxGenerations { n },
                    P::dict([("n", P::Int(n as i64))]),
                )
            }
            "maxFitnessEvals" => {
                let n = count(&p, "n", 5000, what)?;
                (
                    StopCriterion::MaxFitnessEvals { n },
                    P::dict([("n", P::Int(n as i64))]),
                )
            }
            "steadyState" => {
                let min_gens = count(&p, "minGens", 40, what)?;
                let no_change_gens = count(&p, "noChangeGens", 10, what)?;
                (
                    StopCriterion::SteadyState {
                        min_gens,
                        no_change_gens,
                    },
                    P::dict([
                        ("minGens", P::Int(min_gens as i64)),
                        ("noChangeGens", P::Int(no_change_gens as i64)),
                    ]),
                )
            }
            other => return Err(unknown("@stop_criteria", other)),
        };
        if let Some(i) = stop_json.iter().position(|(k, _)| k == m) {
            stop_json.remove(i);
            stop.remove(i);
        }
        stop.push(op);
        stop_json.push((m.to_owned(), params));
    }

    // Upstream keeps each list sorted (`simple_sort`, Python 2's dict order: by "method"), and
    // its optimising run builds the operators from that text, so in that order.
    let mutation = sorted_by_method(&mut mut_json, mutation);
    let crossover = sorted_by_method(&mut cross_json, crossover);
    let stop = sorted_by_method(&mut stop_json, stop);
    let methods = |items: &[(String, P)]| -> String {
        P::List(
            items
                .iter()
                .map(|(m, p)| P::dict([("method", P::Str(m.clone())), ("parameters", p.clone())]))
                .collect(),
        )
        .to_json()
    };
    let single = |m: &str, p: P| -> String {
        P::dict([("method", P::Str(m.to_owned())), ("parameters", p)]).to_json()
    };
    let sel_method = method_of(&sel_v, "@selection")?.0.to_owned();
    let rep_method = method_of(&rep_v, "@replacement")?.0.to_owned();
    Ok(Ga {
        texts: vec![
            ("@base", base_json(&base)),
            ("@selection", single(&sel_method, sel_json)),
            ("@replacement", single(&rep_method, rep_json)),
            ("@mutation", methods(&mut_json)),
            ("@crossover", methods(&cross_json)),
            ("@stop_criteria", methods(&stop_json)),
        ],
        settings: GaSettings {
            base,
            selection,
            crossover,
            mutation,
            replacement,
            stop,
        },
    })
}

/// Sorts `texts` (method, parameters) by method and `ops` along with them.
fn sorted_by_method<T>(texts: &mut Vec<(String, pyjson::Value)>, ops: Vec<T>) -> Vec<T> {
    let mut pairs: Vec<((String, pyjson::Value), T)> = texts.drain(..).zip(ops).collect();
    pairs.sort_by(|a, b| a.0.0.cmp(&b.0.0));
    let (t, o): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
    *texts = t;
    o
}

/// A seed from the classifier's settings and the GA settings (FNV-1a): the same start gives
/// the same result, another start another.
fn seed_of(settings_file: &str, ga: &Ga) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(settings_file.as_bytes());
    for (_, t) in &ga.texts {
        feed(t.as_bytes());
    }
    h
}

/// One method of a list (`{"method": ..., "parameters": {...}}`): the method among
/// `variants`, its parameters as that method's schema says (by `if`/`then`, so that a refusal
/// names the parameter).
fn methods_schema(variants: &[(&str, Value)]) -> Value {
    let names: Vec<&str> = variants.iter().map(|(m, _)| *m).collect();
    let rules: Vec<Value> = variants
        .iter()
        .map(|(m, params)| {
            json!({
                "if": {"properties": {"method": {"const": m}}},
                "then": {"properties": {"parameters": params}}
            })
        })
        .collect();
    json!({
        "type": "object",
        "required": ["method", "parameters"],
        "additionalProperties": false,
        "properties": {
            "method": {"enum": names},
            "parameters": {"type": "object"}
        },
        "allOf": rules
    })
}

fn params(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required})
}

/// The JSON Schema of the person's input: finish (`{"@state": 3}`, GA settings optional, as
/// upstream's page posts them with its finish too), or start (`{"@state": 2}` with every GA
/// setting complete; upstream refuses a start without them). Refusals name the setting, the
/// item and the parameter (`@mutation/1/parameters/rate`).
pub fn input_schema() -> Value {
    let number = json!({"type": "number"});
    let rate = json!({"type": "number", "minimum": 0, "maximum": 1});
    let size = json!({"type": "integer", "minimum": 1, "maximum": 1000});
    let bounds = |extra: &str| {
        params(
            json!({"numFeatures": {"type": "integer"}, "min": number, "max": number, extra: number}),
            &["min", "max"],
        )
    };
    let selection = methods_schema(&[
        ("random", json!({"type": "object"})),
        (
            "rank",
            params(
                json!({"pressure": {"type": "number", "exclusiveMinimum": 1, "maximum": 2},
                       "exponent": {"type": "number", "exclusiveMinimum": 0}}),
                &[],
            ),
        ),
        ("roulette", json!({"type": "object"})),
        (
            "roulette_scaled",
            params(json!({"pressure": {"type": "number", "minimum": 1}}), &[]),
        ),
        ("stochiastic", json!({"type": "object"})),
        ("tournament", params(json!({"tSize": size}), &[])),
    ]);
    let replacement = methods_schema(&[
        ("generational", json!({"type": "object"})),
        ("SSGAworse", json!({"type": "object"})),
        ("SSGAdetTournament", params(json!({"tSize": size}), &[])),
    ]);
    let mutation = methods_schema(&[
        (
            "binary",
            params(json!({"rate": rate, "normalize": {"type": "boolean"}}), &[]),
        ),
        (
            "gauss",
            params(
                json!({"numFeatures": {"type": "integer"}, "min": number, "max": number,
                       "sigma": {"type": "number", "minimum": 0}, "rate": rate}),
                &["min", "max", "sigma", "rate"],
            ),
        ),
        ("inversion", json!({"type": "object"})),
        ("shift", json!({"type": "object"})),
        ("swap", json!({"type": "object"})),
    ]);
    let crossover = methods_schema(&[
        ("nPoint", params(json!({"n": size}), &[])),
        ("uniform", params(json!({"preference": rate}), &[])),
        ("sbx", bounds("eta")),
        ("segment", bounds("alpha")),
        ("hypercube", bounds("alpha")),
    ]);
    let stop = methods_schema(&[
        ("bestFitness", params(json!({"optimum": number}), &[])),
        (
            "maxGenerations",
            params(json!({"n": {"type": "integer", "minimum": 1}}), &[]),
        ),
        (
            "maxFitnessEvals",
            params(json!({"n": {"type": "integer", "minimum": 1}}), &[]),
        ),
        (
            "steadyState",
            params(
                json!({"minGens": {"type": "integer", "minimum": 0},
                       "noChangeGens": {"type": "integer", "minimum": 0}}),
                &[],
            ),
        ),
    ]);
    let method_in =
        |methods: &[&str]| json!({"contains": {"properties": {"method": {"enum": methods}}}});
    let mode_is =
        |mode: i64| json!({"properties": {"@base": {"properties": {"opMode": {"const": mode}}}}});
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "Biollante input",
        "type": "object",
        "required": ["@state"],
        "additionalProperties": false,
        "properties": {
            "@state": {"enum": [STATE_OPTIMIZING, STATE_FINISHING]},
            "@base": {
                "type": "object",
                "required": ["opMode", "popSize", "crossRate", "mutRate"],
                "additionalProperties": false,
                "properties": {
                    "opMode": {"enum": [0, 1]},
                    "popSize": {"type": "integer", "minimum": 1, "maximum": MAX_POPULATION},
                    "crossRate": rate,
                    "mutRate": rate
                }
            },
            "@selection": selection,
            "@replacement": replacement,
            "@mutation": {"type": "array", "minItems": 1, "maxItems": 5, "items": mutation},
            "@crossover": {"type": "array", "minItems": 1, "maxItems": 5, "items": crossover},
            "@stop_criteria": {"type": "array", "minItems": 1, "maxItems": 4, "items": stop}
        },
        "allOf": [{
            // A start needs every GA setting (upstream's ManualPhaseException otherwise), with
            // operators that apply to the mode.
            "if": {"required": ["@state"], "properties": {"@state": {"const": STATE_OPTIMIZING}}},
            "then": {
                "required": ["@base", "@selection", "@replacement", "@mutation", "@crossover",
                             "@stop_criteria"],
                "allOf": [
                    {
                        "if": mode_is(0),
                        "then": {"properties": {
                            "@crossover": method_in(&["nPoint", "uniform"]),
                            "@mutation": method_in(&["shift", "swap", "inversion", "binary"])
                        }}
                    },
                    {
                        "if": mode_is(1),
                        "then": {"properties": {
                            "@mutation": method_in(&["shift", "swap", "inversion", "gauss"])
                        }}
                    }
                ]
            }
        }]
    })
}

/// The page's bundle: the page, its files, the run job's data as [`CONTEXT_FILE`].
fn interface(loaded: &Loaded, update: &Map<String, Value>) -> Interface {
    let parsed = |key: &str| -> Value {
        match update.get(key) {
            Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
            Some(v) => v.clone(),
            None => Value::Null,
        }
    };
    let features: Vec<Value> = {
        let mut at = 0;
        loaded
            .features
            .iter()
            .map(|(name, len)| {
                let v = json!({
                    "name": name,
                    "selections": loaded.knn.selections[at..at + len],
                    "weights": loaded.knn.weights[at..at + len],
                });
                at += len;
                v
            })
            .collect()
    };
    let context = json!({
        "job": NAME,
        "num_features": loaded.knn.num_features(),
        "features": features,
        "base": parsed("@base"),
        "selection": parsed("@selection"),
        "replacement": parsed("@replacement"),
        "mutation": parsed("@mutation"),
        "crossover": parsed("@crossover"),
        "stop_criteria": parsed("@stop_criteria"),
        "results": update.get("@results").cloned().unwrap_or(Value::Null),
    });
    Interface {
        page: PAGE,
        statics: STATICS,
        files: vec![(
            CONTEXT_FILE.to_owned(),
            serde_json::to_vec(&context).unwrap_or_default(),
        )],
        input_schema: input_schema(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every method, as upstream's `knnga_util` serialises them, read and written back.
    #[test]
    fn ga_settings_read_upstreams_text_and_write_it_back() {
        let settings = json!({
            "@base": r#"{"opMode": 1, "popSize": 10, "crossRate": 0.9, "mutRate": 0.1}"#,
            "@selection": r#"{"method": "rank", "parameters": {"pressure": 1.5, "exponent": 2}}"#,
            "@replacement": r#"{"method": "SSGAworse", "parameters": {}}"#,
            "@mutation": r#"[{"method": "shift", "parameters": {}}, {"method": "gauss", "parameters": {"numFeatures": 42, "min": 0.0, "max": 1.0, "sigma": 0.5, "rate": 0.25}}]"#,
            "@crossover": r#"[{"method": "uniform", "parameters": {}}, {"method": "sbx", "parameters": {"numFeatures": 42, "min": 0.0, "max": 1.0, "eta": 2.0}}, {"method": "segment", "parameters": {"numFeatures": 42, "min": 0.0, "max": 1.0}}, {"method": "hypercube", "parameters": {"numFeatures": 42, "min": 0.0, "max": 1.0, "alpha": 0.5}}, {"method": "nPoint", "parameters": {"n": 3}}]"#,
            "@stop_criteria": r#"[{"method": "steadyState", "parameters": {}}, {"method": "maxGenerations", "parameters": {"n": 7}}, {"method": "bestFitness", "parameters": {}}, {"method": "maxFitnessEvals", "parameters": {"n": 99}}]"#
        });
        let ga = ga_settings(&settings, 7).expect("reads");
        let s = &ga.settings;
        assert_eq!(s.base.op_mode, OpMode::Weighting);
        assert_eq!(s.base.pop_size, 10);
        assert_eq!(
            s.selection,
            Selection::Rank {
                pressure: 1.5,
                exponent: 2.0
            }
        );
        assert_eq!(s.replacement, Replacement::SsgaWorse);
        assert_eq!(s.crossover.len(), 5);
        assert!(s.crossover.contains(&Crossover::Segment {
            min: 0.0,
            max: 1.0,
            alpha: 0.0
        }));
        assert!(s.stop.contains(&StopCriterion::SteadyState {
            min_gens: 40,
            no_change_gens: 10
        }));
        assert!(
            s.stop
                .contains(&StopCriterion::BestFitness { optimum: 1.0 })
        );
        let text = |k: &str| {
            ga.texts
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, t)| t.clone())
                .expect("kept")
        };
        // Sorted by method as upstream's simple_sort; numFeatures from the classifier.
        assert_eq!(
            text("@mutation"),
            r#"[{"method": "gauss", "parameters": {"numFeatures": 7, "min": 0.0, "max": 1.0, "sigma": 0.5, "rate": 0.25}}, {"method": "shift", "parameters": {}}]"#
        );
        assert_eq!(
            text("@stop_criteria"),
            r#"[{"method": "bestFitness", "parameters": {"optimum": 1.0}}, {"method": "maxFitnessEvals", "parameters": {"n": 99}}, {"method": "maxGenerations", "parameters": {"n": 7}}, {"method": "steadyState", "parameters": {"minGens": 40, "noChangeGens": 10}}]"#
        );
        assert_eq!(
            text("@selection"),
            r#"{"method": "rank", "parameters": {"pressure": 1.5, "exponent": 2}}"#
        );
        // What it writes reads back the same.
        let mut again = Map::new();
        ga.insert_into(&mut again);
        let back = ga_settings(&Value::Object(again), 7).expect("reads back");
        assert_eq!(back.settings, ga.settings);
        assert_eq!(back.texts, ga.texts);
    }

    #[test]
    fn a_start_without_ga_settings_is_bad_settings() {
        let err = ga_settings(&json!({"@base": {"opMode": 0, "popSize": 4}}), 7)
            .err()
            .expect("refused");
        assert!(err.is_permanent());
        assert!(err.error_summary().contains("@selection"), "{err}");
        let err = ga_settings(
            &json!({
                "@base": {"opMode": 0, "popSize": 4},
                "@selection": {"method": null, "parameters": {}},
            }),
            7,
        )
        .err()
        .expect("refused");
        assert!(err.error_summary().contains("no method"), "{err}");
    }
}
