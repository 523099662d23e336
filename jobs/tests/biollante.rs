//! Biollante: the kNN settings file and leave-one-out accuracy against Gamera's on the Dalhousie
//! classifier, the GA's properties, and the job's states.
//!
//! The Gamera comparisons need `RODAN_GAMERA_PYTHON` (what `scripts/build-gamera.sh` prints)
//! and `RODAN_SHARED_DIR`; without Gamera they say they are skipped.

mod support;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::OnceLock;

use rodan_jobs::gamera::knn::{Distance, Knn, parse_settings};
use rodan_jobs::gamera::knnga::{
    BaseSetting, Bounds, Crossover, GaSettings, Mutation, OpMode, Replacement, Selection,
    StopCriterion, optimise,
};
use rodan_jobs::wrappers::biollante::{
    Biollante, INPUT, Loaded, OUTPUT, STATE_FINISHING, STATE_NOT_OPTIMIZING, input_schema,
    load_classifier,
};
use rodan_jobs::{Job, Outcome, Ports};
use serde_json::{Value, json};
use support::{fixture, run_script, work_dir};

const CLASSIFIER: &str = "Dalhousie_TD_421_422_NC-based_classifier.xml";
const XML: &str = "application/gamera+xml";

fn loaded() -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    LOADED.get_or_init(|| load_classifier(&fixture(CLASSIFIER)).expect("the classifier loads"))
}

/// The classifier's selections and weights in a few shapes: Gamera's defaults, a selection
/// with holes, weights of many digits (and 0), both at once; then k and the distance changed.
fn cases(n: usize) -> Vec<(Vec<i32>, Vec<f64>, usize, Distance)> {
    let mut all: Vec<(Vec<i32>, Vec<f64>, usize, Distance)> = shapes(n)
        .into_iter()
        .map(|(s, w)| (s, w, 1, Distance::CityBlock))
        .collect();
    let (s, w) = shapes(n).swap_remove(3);
    all.push((s.clone(), w.clone(), 3, Distance::Euclidean));
    all.push((s, w, 4, Distance::FastEuclidean));
    all
}

fn shapes(n: usize) -> Vec<(Vec<i32>, Vec<f64>)> {
    let ones = (vec![1; n], vec![1.0; n]);
    let holes: Vec<i32> = (0..n).map(|i| i32::from(i % 3 != 1)).collect();
    let weights: Vec<f64> = (0..n)
        .map(|i| match i % 5 {
            0 => 0.0,
            1 => 1.0 / (i as f64 + 3.0),
            2 => (i as f64).sqrt() / 11.0,
            3 => 1e-5 * i as f64,
            _ => 0.25,
        })
        .collect();
    vec![
        ones,
        (holes.clone(), vec![1.0; n]),
        (vec![1; n], weights.clone()),
        (holes, weights),
    ]
}

#[test]
fn settings_file_and_leave_one_out_equal_gameras() {
    let Some(python) = std::env::var_os("RODAN_GAMERA_PYTHON").map(PathBuf::from) else {
        eprintln!("skipped: RODAN_GAMERA_PYTHON is not set");
        return;
    };
    let l = loaded();
    let n = l.knn.num_features();
    let dir = work_dir("biollante-gamera");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let cases = cases(n);
    let spec = json!({
        "features": l.features.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        "cases": cases
            .iter()
            .map(|(s, w, k, d)| json!({"selections": s, "weights": w, "num_k": k, "distance": d.name()}))
            .collect::<Vec<_>>(),
    });
    let spec_path = dir.join("cases.json");
    std::fs::write(&spec_path, spec.to_string()).expect("cases written");
    let out = run_script(
        &python,
        &[],
        "gamera/knn_settings.py",
        &[
            fixture(CLASSIFIER).as_os_str(),
            spec_path.as_os_str(),
            OsStr::new(&dir),
        ],
    )
    .expect("Gamera runs");
    let theirs: Value = serde_json::from_slice(&out).expect("Gamera's JSON");
    assert_eq!(theirs["num_features"], json!(n));
    for (i, (selections, weights, k, distance)) in cases.iter().enumerate() {
        let mut knn: Knn = l.knn.clone();
        knn.selections = selections.clone();
        knn.weights = weights.clone();
        knn.num_k = *k;
        knn.distance = *distance;
        let started = std::time::Instant::now();
        let (correct, asked) = knn.leave_one_out(None, None);
        eprintln!(
            "case {i}: leave-one-out {correct}/{asked} in {:?}",
            started.elapsed()
        );
        assert_eq!(json!([correct, asked]), theirs["loo"][i], "case {i}");
        let ours = Loaded {
            knn,
            features: l.features.clone(),
        }
        .settings_file();
        let gamera = std::fs::read_to_string(dir.join(format!("{i}.xml"))).expect("Gamera's file");
        support::compare_lines(&format!("case {i} settings"), &gamera, &ours)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(gamera, ours, "case {i}: byte for byte");
        // Our parser reads it back.
        let parsed = parse_settings(ours.as_bytes()).expect("our parser reads it");
        assert_eq!(parsed.weights.len(), l.features.len());
    }
}

/// A smaller classifier (every fifth glyph) so that GA runs stay short in debug builds.
fn small() -> Knn {
    static SMALL: OnceLock<Knn> = OnceLock::new();
    SMALL
        .get_or_init(|| {
            let l = loaded();
            let ids = l.knn.ids();
            let vectors = l.knn.vectors();
            let keep: Vec<usize> = (0..l.knn.len()).filter(|i| i % 5 == 0).collect();
            Knn::new(
                keep.iter().map(|&i| vectors[i].clone()).collect(),
                keep.iter().map(|&i| ids[i].clone()).collect(),
                false,
            )
            .expect("a kNN")
        })
        .clone()
}

fn ga(mode: OpMode, pop: usize, stop: Vec<StopCriterion>) -> GaSettings {
    GaSettings {
        base: BaseSetting {
            op_mode: mode,
            pop_size: pop,
            ..BaseSetting::default()
        },
        selection: Selection::Tournament { t_size: 3 },
        crossover: vec![Crossover::Uniform { preference: 0.5 }],
        mutation: vec![
            Mutation::Swap,
            Mutation::Binary {
                rate: 0.05,
                normalize: false,
            },
            Mutation::Gauss {
                min: 0.0,
                max: 1.0,
                sigma: 0.5,
                rate: 0.5,
            },
        ],
        replacement: Replacement::SsgaDetTournament { t_size: 3 },
        stop,
    }
}

#[test]
fn the_ga_never_loses_its_best_and_keeps_selection_vectors_binary() {
    let knn = small();
    let settings = ga(
        OpMode::Selection,
        8,
        vec![StopCriterion::MaxGenerations { n: 4 }],
    );
    let r = optimise(&knn, &settings, 1, Bounds::default()).expect("runs");
    assert_eq!(r.generation, 4, "maxGenerations 4");
    assert_eq!(r.history.len(), 4);
    assert!(
        r.history.windows(2).all(|w| w[1] >= w[0]),
        "{:?}",
        r.history
    );
    assert!(r.best_fitness >= r.start_fitness);
    assert!(r.selections.iter().all(|&s| s == 0 || s == 1));
    assert_eq!(r.weights, knn.weights, "selection mode keeps the weights");
    // The result's fitness is what the classifier then scores.
    let (c, a) = knn.leave_one_out(Some(&r.selections), Some(&r.weights));
    assert_eq!(c as f64 / a as f64, r.best_fitness);
    // Seeded: the same seed gives the same run.
    assert_eq!(
        optimise(&knn, &settings, 1, Bounds::default()).expect("runs"),
        r
    );
}

#[test]
fn weighting_mode_changes_weights_within_bounds() {
    let knn = small();
    let mut settings = ga(
        OpMode::Weighting,
        6,
        vec![StopCriterion::MaxGenerations { n: 2 }],
    );
    settings.crossover = vec![Crossover::Sbx {
        min: 0.0,
        max: 1.0,
        eta: 1.0,
    }];
    let r = optimise(&knn, &settings, 3, Bounds::default()).expect("runs");
    assert_eq!(r.selections, knn.selections);
    assert!(r.weights.iter().all(|w| (0.0..=1.0).contains(w)));
    assert!(r.best_fitness >= r.start_fitness);
    if r.best_fitness > r.start_fitness {
        assert_ne!(r.weights, knn.weights);
    }
}

#[test]
fn stop_criteria_are_respected() {
    let knn = small();
    let bounds = Bounds::default();
    // Best fitness already reached: one generation.
    let r = optimise(
        &knn,
        &ga(
            OpMode::Selection,
            4,
            vec![StopCriterion::BestFitness { optimum: 0.01 }],
        ),
        2,
        bounds,
    )
    .expect("runs");
    assert_eq!(r.generation, 1);
    // Fitness evaluations: at most one generation past the count.
    let r = optimise(
        &knn,
        &ga(
            OpMode::Selection,
            4,
            vec![StopCriterion::MaxFitnessEvals { n: 10 }],
        ),
        2,
        bounds,
    )
    .expect("runs");
    assert!(
        r.evaluations >= 10 && r.evaluations < 10 + 4,
        "{}",
        r.evaluations
    );
    // Steady state: at least min_gens + no_change_gens + 1 generations.
    let r = optimise(
        &knn,
        &ga(
            OpMode::Selection,
            3,
            vec![
                StopCriterion::SteadyState {
                    min_gens: 2,
                    no_change_gens: 1,
                },
                StopCriterion::MaxGenerations { n: 30 },
            ],
        ),
        2,
        bounds,
    )
    .expect("runs");
    assert!(r.generation >= 5 && r.generation <= 30, "{}", r.generation);
    // The worker's bounds hold whatever the criteria say.
    let r = optimise(
        &knn,
        &ga(
            OpMode::Selection,
            3,
            vec![StopCriterion::BestFitness { optimum: 2.0 }],
        ),
        2,
        Bounds {
            max_generations: 3,
            max_evaluations: 1000,
        },
    )
    .expect("runs");
    assert_eq!(r.generation, 3);
}

#[test]
fn every_operator_runs() {
    let knn = small();
    let selections = [
        Selection::Random,
        Selection::Rank {
            pressure: 2.0,
            exponent: 1.0,
        },
        Selection::Roulette,
        Selection::RouletteScaled { pressure: 2.0 },
        Selection::StochasticUniversal,
        Selection::Tournament { t_size: 3 },
    ];
    let crossovers = [
        Crossover::NPoint { n: 2 },
        Crossover::Uniform { preference: 0.5 },
        Crossover::Sbx {
            min: 0.0,
            max: 1.0,
            eta: 1.0,
        },
        Crossover::Segment {
            min: 0.0,
            max: 1.0,
            alpha: 0.0,
        },
        Crossover::Hypercube {
            min: 0.0,
            max: 1.0,
            alpha: 1.0,
        },
    ];
    let mutations = [
        Mutation::Shift,
        Mutation::Swap,
        Mutation::Inversion,
        Mutation::Binary {
            rate: 0.05,
            normalize: true,
        },
        Mutation::Gauss {
            min: 0.0,
            max: 1.0,
            sigma: 0.5,
            rate: 0.5,
        },
    ];
    let replacements = [
        Replacement::Generational,
        Replacement::SsgaWorse,
        Replacement::SsgaDetTournament { t_size: 3 },
    ];
    let mut i = 0;
    for (k, selection) in selections.iter().enumerate() {
        let crossover = crossovers[k % crossovers.len()];
        let mutation = mutations[k % mutations.len()];
        let mode =
            if crossover.applies_to(OpMode::Selection) && mutation.applies_to(OpMode::Selection) {
                OpMode::Selection
            } else {
                OpMode::Weighting
            };
        let mutation = if mutation.applies_to(mode) {
            mutation
        } else {
            Mutation::Swap
        };
        let settings = GaSettings {
            base: BaseSetting {
                op_mode: mode,
                pop_size: 4,
                cross_rate: 1.0,
                mut_rate: 1.0,
            },
            selection: *selection,
            crossover: vec![crossover],
            mutation: vec![mutation],
            replacement: replacements[k % replacements.len()],
            stop: vec![StopCriterion::MaxGenerations { n: 1 }],
        };
        let r = optimise(&knn, &settings, k as u64, Bounds::default())
            .unwrap_or_else(|e| panic!("{settings:?}: {e}"));
        assert!(r.best_fitness >= r.start_fitness, "{settings:?}");
        assert_eq!(r.generation, 1);
        i += 1;
    }
    // The operators not met above.
    for (crossover, mutation) in [(crossovers[1], mutations[3]), (crossovers[4], mutations[4])] {
        let mode = if mutation.applies_to(OpMode::Selection) {
            OpMode::Selection
        } else {
            OpMode::Weighting
        };
        let mut settings = ga(mode, 4, vec![StopCriterion::MaxGenerations { n: 1 }]);
        settings.crossover = vec![crossover];
        settings.mutation = vec![mutation];
        optimise(&knn, &settings, 9, Bounds::default()).expect("runs");
        i += 1;
    }
    assert_eq!(i, 8);
    // Operators that do not fit the mode are left out; none left is Gamera's error.
    let mut settings = ga(
        OpMode::Selection,
        4,
        vec![StopCriterion::MaxGenerations { n: 1 }],
    );
    settings.crossover = vec![crossovers[2]];
    assert!(optimise(&knn, &settings, 1, Bounds::default()).is_err());
}

fn ports(dir: &std::path::Path) -> (Ports, Ports, PathBuf) {
    let out = dir.join("out.xml");
    (
        Ports::new().with(INPUT, fixture(CLASSIFIER), XML),
        Ports::new().with(OUTPUT, &out, XML),
        out,
    )
}

/// Upstream's `test_my_task` steps (the `biollante/dalhousie` fixture case), then a start and a
/// finish as the page posts them.
#[test]
fn the_job_waits_optimises_and_finishes() {
    let dir = work_dir("biollante-job");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let (inputs, outputs, out) = ports(&dir);
    let Outcome::Waiting(w) = Biollante
        .run_or_wait(&inputs, &json!({}), &outputs)
        .expect("runs")
    else {
        panic!("the first run waits");
    };
    let s = &w.settings_update;
    assert_eq!(s["@state"], json!(STATE_NOT_OPTIMIZING));
    assert_eq!(s["@num_features"], json!(loaded().knn.num_features()));
    assert_eq!(
        s["@base"],
        json!(r#"{"opMode": 0, "popSize": 75, "crossRate": 0.95, "mutRate": 0.05}"#)
    );
    assert_eq!(
        s["@selection"],
        json!(r#"{"method": null, "parameters": {}}"#)
    );
    assert_eq!(s["@mutation"], json!("[]"));
    assert_eq!(s["@results"], Value::Null);
    assert_eq!(s["@weights"]["moments"], json!(vec![1.0; 9]));
    assert!(
        s["@settings"]
            .as_str()
            .expect("text")
            .contains("<gamera-knn-settings")
    );

    // A start without GA settings is refused by the input schema.
    let schema = jsonschema::validator_for(&w.interface.input_schema).expect("compiles");
    assert!(!schema.is_valid(&json!({"method": "start"})));
    assert!(!schema.is_valid(&json!({"@state": 2})));
    assert!(schema.is_valid(&json!({"@state": 3})));
    let start = json!({
        "@state": 2,
        "@base": {"opMode": 0, "popSize": 4, "crossRate": 0.9, "mutRate": 0.2},
        "@selection": {"method": "roulette_scaled", "parameters": {"pressure": 2}},
        "@replacement": {"method": "SSGAdetTournament", "parameters": {"tSize": 3}},
        "@mutation": [{"method": "swap", "parameters": {}},
                      {"method": "binary", "parameters": {"rate": 0.05}}],
        "@crossover": [{"method": "uniform", "parameters": {"preference": 0.5}}],
        "@stop_criteria": [{"method": "maxGenerations", "parameters": {"n": 2}}]
    });
    assert!(
        schema.is_valid(&start),
        "{:?}",
        schema
            .iter_errors(&start)
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    );
    // A refusal names what is wrong.
    let mut wrong = start.clone();
    wrong["@mutation"][1]["parameters"]["rate"] = json!(2);
    let paths: Vec<String> = schema
        .iter_errors(&wrong)
        .map(|e| e.instance_path().to_string())
        .collect();
    assert!(
        paths.contains(&"/@mutation/1/parameters/rate".to_owned()),
        "{paths:?}"
    );
    let paths: Vec<String> = schema
        .iter_errors(&json!({"@state": 2}))
        .map(|e| e.to_string())
        .collect();
    assert!(paths.iter().any(|m| m.contains("@base")), "{paths:?}");
    // Weighting-only operators alone are refused in selection mode.
    let mut wrong = start.clone();
    wrong["@mutation"] =
        json!([{"method": "gauss", "parameters": {"min": 0, "max": 1, "sigma": 0.5, "rate": 0.5}}]);
    assert!(!schema.is_valid(&wrong));
    assert_eq!(input_schema(), w.interface.input_schema);

    // The start as the API merges it: the job optimises and waits again with results.
    let mut settings = Value::Object(w.settings_update.clone());
    for (k, v) in start.as_object().expect("object") {
        settings[k] = v.clone();
    }
    let Outcome::Waiting(w2) = Biollante
        .run_or_wait(&inputs, &settings, &outputs)
        .expect("optimises")
    else {
        panic!("waits again");
    };
    let s2 = &w2.settings_update;
    assert_eq!(s2["@state"], json!(STATE_NOT_OPTIMIZING));
    assert_eq!(s2["@results"]["generation"], json!(2));
    let best = s2["@results"]["bestFitness"].as_f64().expect("a fitness");
    assert_eq!(
        s2["@mutation"],
        json!(
            r#"[{"method": "binary", "parameters": {"rate": 0.05, "normalize": true}}, {"method": "swap", "parameters": {}}]"#
        )
    );
    // Upstream keeps the parameters as given (json.dumps of the dict).
    assert_eq!(
        s2["@selection"],
        json!(r#"{"method": "roulette_scaled", "parameters": {"pressure": 2}}"#)
    );
    assert_eq!(
        s2["@base"],
        json!(r#"{"opMode": 0, "popSize": 4, "crossRate": 0.9, "mutRate": 0.2}"#)
    );
    let text = s2["@settings"].as_str().expect("text").to_owned();
    let parsed = parse_settings(text.as_bytes()).expect("a settings file");
    let selections: Vec<i32> = loaded()
        .features
        .iter()
        .flat_map(|(n, _)| parsed.selections[n].iter().map(|&x| x as i32))
        .collect();
    let (c, a) = loaded().knn.leave_one_out(Some(&selections), None);
    assert_eq!(
        c as f64 / a as f64,
        best,
        "the settings hold the best selection"
    );
    // Selecting features helps this classifier: even 4 individuals over 2 generations beat
    // all of them (358/661).
    let (c0, a0) = loaded().knn.leave_one_out(None, None);
    assert!(best > c0 as f64 / a0 as f64, "{best}");

    // Finish: the settings file is the output.
    let mut settings = Value::Object(w2.settings_update.clone());
    settings["@state"] = json!(STATE_FINISHING);
    let done = Biollante
        .run_or_wait(&inputs, &settings, &outputs)
        .expect("finishes");
    assert_eq!(done, Outcome::Finished);
    assert_eq!(std::fs::read_to_string(&out).expect("written"), text);

    // Upstream's finishing step writes exactly '@settings'.
    let settings = json!({"@state": STATE_FINISHING, "@settings": "Hello, Test!"});
    Biollante
        .run(&inputs, &settings, &outputs)
        .expect("finishes");
    assert_eq!(std::fs::read(&out).expect("written"), b"Hello, Test!");
}
