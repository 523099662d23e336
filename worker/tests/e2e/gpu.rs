//! The `GPU` queue end to end, with a third worker that consumes only that queue (on this
//! machine's CPU: the engine falls back to it where there is no GPU). DDMAL's two exports of
//! the GPU jobs are imported as a user brings them:
//! - `v2fast-trainer.json` trains a background model and an ink model from a page cut from
//!   folio 068 of MS 73 and its two layers. Its saved settings (1000 samples per label, batches
//!   of one, five epochs of 64×64 patches) take most of an hour on a CPU, so the test sets, as a
//!   user would through the API, the least number of samples the job takes (100), one epoch
//!   and batches of 8.
//! - `Fast-Calvo.json` classifies the middle of the page with those models (the ink model as its symbol,
//!   staff line and text model), its window set to the models' 64×64; its music symbol layer
//!   feeds 'PNG (RGB)' on the CPU queues, as in DDMAL's Full-Workflow.json.
//!
//! The GPU worker alone runs the GPU jobs and the others the CPU job, as each worker's
//! `/metrics` counts them; the GPU worker reports the device its models run on.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use image::{Rgba, RgbaImage};
use serde_json::{Value, json};

use crate::omr::shared_dir;
use crate::world::{World, url_of};

const RUN_WITHIN: Duration = Duration::from_secs(600);
/// The training page's side: the trainer centres its patches at least a patch (64) from the
/// edges.
const SIDE: u32 = 256;
/// The classified page's side: the middle of the training page.
const MIDDLE: u32 = 128;

fn workflow(name: &str) -> Value {
    let path = shared_dir().join("fixtures/upstream-workflows").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} (set RODAN_SHARED_DIR): {e}", path.display()));
    serde_json::from_str(&text).expect("the export is JSON")
}

fn png(img: &RgbaImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("the image encodes as PNG");
    out.into_inner()
}

/// The page (RGB, as the trainer's `Image` port takes), its background and ink layers as Pixel.js exports them, and the
/// selected region (all of it).
fn page() -> [Vec<u8>; 5] {
    let path = shared_dir().join("fixtures/upstream-jobs/files/ms73-068_neume.png");
    let neume = image::open(Path::new(&path))
        .unwrap_or_else(|e| panic!("{} (set RODAN_SHARED_DIR): {e}", path.display()))
        .to_rgb8();
    // A part of the folio with neumes across its middle, where the trainer centres its patches.
    let (left, top) = (1536, 1024);
    let mut page = image::RgbImage::new(SIDE, SIDE);
    let mut background = RgbaImage::new(SIDE, SIDE);
    let mut ink = RgbaImage::new(SIDE, SIDE);
    for y in 0..SIDE {
        for x in 0..SIDE {
            let p = neume.get_pixel(left + x, top + y).0;
            let is_ink = p.iter().copied().min().unwrap_or(255) < 200;
            let c = if is_ink { p } else { [230, 215, 190] };
            page.put_pixel(x, y, image::Rgb(c));
            let layer = if is_ink { &mut ink } else { &mut background };
            layer.put_pixel(x, y, Rgba([c[0], c[1], c[2], 255]));
        }
    }
    let region = RgbaImage::from_pixel(SIDE, SIDE, Rgba([255, 255, 255, 255]));
    let rgb = |img: &image::RgbImage| {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("the page encodes as PNG");
        out.into_inner()
    };
    let edge = (SIDE - MIDDLE) / 2;
    let middle = image::imageops::crop_imm(&page, edge, edge, MIDDLE, MIDDLE).to_image();
    [
        rgb(&page),
        png(&background),
        png(&ink),
        png(&region),
        rgb(&middle),
    ]
}

/// A link's URL: the link itself, or the `url` of the object it is.
fn link(v: &Value) -> &str {
    v.as_str()
        .or_else(|| v["url"].as_str())
        .unwrap_or_else(|| panic!("a URL or an object with one: {v}"))
}

/// Imports `document` and sets its one job's `settings` (over the saved ones); gives the
/// workflow's URL.
async fn import(world: &World, project: &str, document: Value, settings: Value) -> String {
    let workflow = world
        .post(
            "/api/workflows/",
            json!({"project": project, "serialized": document}),
        )
        .await;
    let wf = url_of(&workflow).to_owned();
    let detail = world.get(&wf).await;
    let wfj = &detail["workflow_jobs"][0];
    let wfj = world.get(link(wfj)).await;
    let wfj_url = url_of(&wfj).to_owned();
    let mut merged = wfj["job_settings"].clone();
    for (k, v) in settings.as_object().expect("settings") {
        merged[k] = v.clone();
    }
    world.patch(&wfj_url, json!({"job_settings": merged})).await;
    wf
}

/// The validated workflow's extern input ports, by port type name.
async fn externs(world: &World, wf: &str) -> BTreeMap<String, String> {
    let valid = world.patch(wf, json!({"valid": true})).await;
    assert_eq!(valid["valid"], true, "{valid}");
    let mut out = BTreeMap::new();
    for port in valid["workflow_input_ports"]
        .as_array()
        .expect("extern ports")
    {
        let ip = world.get(link(port)).await;
        let name = ip["input_port_type_name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        out.insert(name, url_of(&ip).to_owned());
    }
    out
}

/// The resource behind each output of the run's jobs named `job`: (port type, resource).
async fn outputs_of(world: &World, run: &str, job: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for rj in world.run_jobs(run).await {
        if rj["job_name"] != job {
            continue;
        }
        for output in rj["outputs"].as_array().expect("outputs") {
            let output = world.get(link(output)).await;
            let resource = world.get(link(&output["resource"])).await;
            out.push((
                output["output_port_type_name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                resource,
            ));
        }
    }
    out
}

/// Jobs worker `i` finished, by job, from its `/metrics`; and its model device lines.
async fn finished_by(world: &World, i: usize) -> (BTreeMap<String, u64>, Vec<String>) {
    let (_, text) = world
        .worker_http(i, "/metrics")
        .await
        .unwrap_or_else(|| panic!("worker {i} answers /metrics"));
    let mut jobs = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("rodan_worker_jobs_finished_total{job=\"") else {
            continue;
        };
        let (job, count) = rest.split_once("\"} ").expect("a labelled counter");
        jobs.insert(job.to_owned(), count.parse().expect("a count"));
    }
    let devices = text
        .lines()
        .filter(|l| l.starts_with("rodan_worker_model_device{"))
        .map(str::to_owned)
        .collect();
    (jobs, devices)
}

pub async fn trainer_and_classifier_on_the_gpu_queue(mut world: World) {
    let started = Instant::now();
    let gpu_worker = world.add_worker("gpu", "GPU").await;
    let project = world.project().await;
    let [page, background, ink, region, middle] = page();
    let uploaded = world
        .upload_into(
            &project,
            &[
                ("page.png".into(), page),
                ("background.png".into(), background),
                ("ink.png".into(), ink),
                ("region.png".into(), region),
                ("middle.png".into(), middle),
            ],
        )
        .await;
    let url = |i: usize| url_of(&uploaded[i]).to_owned();

    // Training.
    let trainer = import(
        &world,
        &project,
        workflow("v2fast-trainer.json"),
        json!({"Maximum number of samples per label": 100, "Maximum number of training epochs": 1,
            "Batch Size": 8}),
    )
    .await;
    let ports = externs(&world, &trainer).await;
    let run = world
        .post(
            "/api/workflowruns/",
            json!({"workflow": trainer, "resource_assignments": {
                ports["Image"].as_str(): [url(0)],
                ports["rgba PNG - Background layer"].as_str(): [url(1)],
                ports["rgba PNG - Layer 0"].as_str(): [url(2)],
                ports["rgba PNG - Selected regions"].as_str(): [url(3)],
            }}),
        )
        .await;
    let run = url_of(&run).to_owned();
    world.wait_run(&run, 4, RUN_WITHIN).await;
    let models: BTreeMap<String, Value> = outputs_of(
        &world,
        &run,
        "Training model for Patchwise Analysis of Music Document",
    )
    .await
    .into_iter()
    .collect();
    for port in ["Background Model", "Model 0"] {
        assert_eq!(
            models[port]["resource_type_mimetype"], "keras/model+hdf5",
            "{port}: {}",
            models[port]
        );
    }

    // Classification, its symbol layer on to the CPU queues.
    let classifier = import(
        &world,
        &project,
        workflow("Fast-Calvo.json"),
        json!({"Height": 64, "Width": 64}),
    )
    .await;
    let detail = world.get(&classifier).await;
    let pixelwise = world.get(link(&detail["workflow_jobs"][0])).await;
    let mut symbol_port = None;
    for port in pixelwise["output_ports"].as_array().expect("output ports") {
        let port = world.get(link(port)).await;
        if port["output_port_type_name"] == "Music symbol" {
            symbol_port = Some(url_of(&port).to_owned());
        }
    }
    let symbol_port = symbol_port.expect("a Music symbol output");
    let to_rgb = world.job("PNG (RGB)").await;
    let wfj = world
        .post(
            "/api/workflowjobs/",
            json!({"workflow": classifier, "job": to_rgb["url"], "job_settings": {}}),
        )
        .await;
    let input = world
        .post(
            "/api/inputports/",
            json!({"workflow_job": wfj["url"], "input_port_type": crate::world::port_type(&to_rgb, "input_port_types", "Image")}),
        )
        .await;
    world
        .post(
            "/api/outputports/",
            json!({"workflow_job": wfj["url"], "output_port_type": crate::world::port_type(&to_rgb, "output_port_types", "RGB PNG Image")}),
        )
        .await;
    world
        .post(
            "/api/connections/",
            json!({"output_port": symbol_port, "input_port": input["url"]}),
        )
        .await;
    let ports = externs(&world, &classifier).await;
    let model = |port: &str| url_of(&models[port]).to_owned();
    let run = world
        .post(
            "/api/workflowruns/",
            json!({"workflow": classifier, "resource_assignments": {
                ports["Image"].as_str(): [url(4)],
                ports["Background model"].as_str(): [model("Background Model")],
                ports["Symbol model"].as_str(): [model("Model 0")],
                ports["Staff-line model"].as_str(): [model("Model 0")],
                ports["Text model"].as_str(): [model("Model 0")],
            }}),
        )
        .await;
    let run = url_of(&run).to_owned();
    world.wait_run(&run, 4, RUN_WITHIN).await;
    let layers = outputs_of(&world, &run, "Fast Pixelwise Analysis of Music Document").await;
    let mut opaque = vec![0usize; (MIDDLE * MIDDLE) as usize];
    for (port, resource) in &layers {
        assert_eq!(
            resource["resource_type_mimetype"], "image/rgba+png",
            "{port}"
        );
        let bytes = world
            .download(resource["resource_file"].as_str().unwrap_or_default())
            .await;
        let layer = image::load_from_memory(&bytes)
            .unwrap_or_else(|e| panic!("{port} decodes: {e}"))
            .to_rgba8();
        assert_eq!(layer.dimensions(), (MIDDLE, MIDDLE), "{port}");
        for (i, p) in layer.pixels().enumerate() {
            opaque[i] += usize::from(p.0[3] == 255);
        }
    }
    assert_eq!(layers.len(), 4, "four layers: {layers:?}");
    assert!(
        opaque.iter().all(|&n| n == 1),
        "every pixel is in exactly one layer"
    );
    let rgb = outputs_of(&world, &run, "PNG (RGB)").await;
    assert_eq!(rgb.len(), 1, "{rgb:?}");
    assert_eq!(rgb[0].1["resource_type_mimetype"], "image/rgb+png");
    let trainer_name = "Training model for Patchwise Analysis of Music Document";
    let classifier_name = "Fast Pixelwise Analysis of Music Document";
    let mut cpu_converted = 0;
    for i in 0..world.workers.len() {
        let (jobs, devices) = finished_by(&world, i).await;
        let gpu_jobs = jobs.get(trainer_name).copied().unwrap_or(0)
            + jobs.get(classifier_name).copied().unwrap_or(0);
        if i == gpu_worker {
            assert_eq!(
                gpu_jobs, 2,
                "the GPU worker trains and classifies: {jobs:?}"
            );
            assert!(
                !jobs.contains_key("PNG (RGB)"),
                "and nothing else: {jobs:?}"
            );
            assert!(
                devices
                    .iter()
                    .any(|d| d.contains("kind=\"cpu\"") && d.ends_with(" 1")),
                "it reports the CPU as its model device: {devices:?}"
            );
        } else {
            assert_eq!(gpu_jobs, 0, "worker {i} runs no GPU job: {jobs:?}");
            cpu_converted += jobs.get("PNG (RGB)").copied().unwrap_or(0);
        }
    }
    assert_eq!(cpu_converted, 1, "a CPU worker converts the layer");
    eprintln!(
        "trained and classified on the GPU queue in {:?}",
        started.elapsed()
    );
}
