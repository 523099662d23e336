//! rodan-sae's side of the benchmark against TensorFlow (`scripts/bench-sae.sh` runs both sides
//! in one go on the same machine): it writes the inputs both sides use to DIR, runs them here
//! and prints its figures as JSON.
//!
//! Usage: `bench DIR [key=value ...]`, keys (defaults in brackets): `patches` [32] 256×256
//! windows for inference, `batch` [8] windows at once, `models` [4] models for the page,
//! `page` [1024x1024] the page's size (`full` for the whole fixture page, 2930×4166),
//! `train_patches` [128], `train_size` [64], `train_batch` [8], `epochs` [2], `binarize` [1]
//! (0 skips SAE Binarization's REDNet on the page).
//!
//! The inputs, all from folio 068 of MS 73 (`ms73-068_neume.png` of upstream's fixtures, its
//! neume layer on white; `RODAN_SHARED_DIR` names the shared folder):
//! - `model{k}.h5`: upstream's SAE for 256×256 windows with Keras's initial weights (seed k);
//! - `windows.f32`: windows of the page, scaled as upstream scales them;
//! - `page.png`: the page, or its top-left part; `rednet.h5`: SAE Binarization's model;
//! - `train.h5`, `train_x.f32`, `train_y.f32`: the SAE for the training patches, the patches
//!   and their targets (ink: a sample below 200).

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rodan_sae::net::Network;
use rodan_sae::{Bgr, Cpu, keras, sae};
use serde_json::json;

fn arg(args: &[String], key: &str, default: &str) -> String {
    args.iter()
        .find_map(|a| a.strip_prefix(&format!("{key}=")).map(str::to_owned))
        .unwrap_or_else(|| default.to_owned())
}

fn num(args: &[String], key: &str, default: usize) -> usize {
    arg(args, key, &default.to_string())
        .parse()
        .unwrap_or_else(|_| panic!("{key} is a number"))
}

fn write_f32(path: &Path, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).expect("the inputs are written");
}

fn model(path: &Path, size: usize, seed: u64) -> keras::Model {
    let mut rng = StdRng::seed_from_u64(seed);
    let net = Network::<Cpu>::init(&sae::graph(size, size), &mut rng, &Default::default())
        .expect("the SAE is made");
    let m = net.to_model().expect("its weights");
    keras::write(path, &m, 1e-4).expect("the model is written");
    m
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().expect("usage: bench DIR [key=value ...]"));
    std::fs::create_dir_all(&dir).expect("the folder is made");
    let shared = std::env::var_os("RODAN_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared"));
    let fixture = shared.join("fixtures/upstream-jobs/files/ms73-068_neume.png");
    let source = image::open(&fixture)
        .unwrap_or_else(|e| panic!("{} (set RODAN_SHARED_DIR): {e}", fixture.display()))
        .to_rgb8();
    let (n, batch, models) = (
        num(&args, "patches", 32),
        num(&args, "batch", 8),
        num(&args, "models", 4),
    );
    let (tn, ts, tb, epochs) = (
        num(&args, "train_patches", 128),
        num(&args, "train_size", 64),
        num(&args, "train_batch", 8),
        num(&args, "epochs", 2),
    );
    let (pw, ph) = match arg(&args, "page", "1024x1024").as_str() {
        "full" => (source.width() as usize, source.height() as usize),
        s => {
            let (w, h) = s.split_once('x').expect("page=WxH or full");
            (w.parse().expect("a width"), h.parse().expect("a height"))
        }
    };
    let page = Bgr {
        height: ph,
        width: pw,
        data: (0..ph)
            .flat_map(|y| (0..pw).map(move |x| (x, y)))
            .flat_map(|(x, y)| {
                let p = source.get_pixel(x as u32, y as u32).0;
                [p[2], p[1], p[0]]
            })
            .collect(),
    };
    image::RgbImage::from_fn(pw as u32, ph as u32, |x, y| *source.get_pixel(x, y))
        .save(dir.join("page.png"))
        .expect("the page is written");
    std::fs::write(
        dir.join("rednet.h5"),
        include_bytes!("../models/sae-binarization-rednet-256.h5"),
    )
    .expect("the REDNet is written");
    let whole = Bgr {
        height: source.height() as usize,
        width: source.width() as usize,
        data: source
            .pixels()
            .flat_map(|p| [p.0[2], p.0[1], p.0[0]])
            .collect(),
    };
    // Windows and training patches spread over the written part of the page.
    let spot = |k: usize, size: usize| {
        (
            1000 + (k * 397) % (whole.height - 1000 - size),
            200 + (k * 211) % (whole.width - 400 - size),
        )
    };
    let windows: Vec<f32> = (0..n)
        .flat_map(|k| {
            let (r, c) = spot(k, 256);
            whole.window(r, c, 256, 256)
        })
        .collect();
    write_f32(&dir.join("windows.f32"), &windows);
    let nets: Vec<keras::Model> = (0..models)
        .map(|k| model(&dir.join(format!("model{k}.h5")), 256, k as u64 + 1))
        .collect();
    let mut train_x = Vec::with_capacity(tn * ts * ts * 3);
    let mut train_y = Vec::with_capacity(tn * ts * ts);
    for k in 0..tn {
        let (r, c) = spot(k + n, ts);
        train_x.extend(whole.window(r, c, ts, ts));
        for y in r..r + ts {
            for x in c..c + ts {
                let i = (y * whole.width + x) * 3;
                let ink = whole.data[i..i + 3].iter().any(|&v| v < 200);
                train_y.push(f32::from(u8::from(ink)));
            }
        }
    }
    write_f32(&dir.join("train_x.f32"), &train_x);
    write_f32(&dir.join("train_y.f32"), &train_y);
    let start = model(&dir.join("train.h5"), ts, 99);

    let probe = rodan_sae::device::probe();
    eprintln!("rodan-sae on {}", probe.device.describe());
    // Inference: one warm-up batch, then every window.
    rodan_sae::predict(
        &nets[0],
        &windows[..256 * 256 * 3 * batch.min(n)],
        [batch.min(n), 256, 256, 3],
        batch,
    )
    .expect("a warm-up batch");
    let started = Instant::now();
    let out = rodan_sae::predict(&nets[0], &windows, [n, 256, 256, 3], batch).expect("predict");
    let infer = started.elapsed().as_secs_f64();
    assert_eq!(out.len(), n * 256 * 256);
    // The page, with every model.
    let started = Instant::now();
    let labels = rodan_sae::analyse(&page, &nets, 256, 256).expect("the page is analysed");
    let page_s = started.elapsed().as_secs_f64();
    assert_eq!(labels.len(), pw * ph);
    // SAE Binarization on the page, grey as OpenCV makes it.
    let binarize_s = if num(&args, "binarize", 1) == 1 {
        let grey = page.grey();
        let rednet = rodan_sae::binarization_model().expect("the REDNet");
        let started = Instant::now();
        let ink = rodan_sae::binarize(&grey, &rednet).expect("the page is binarized");
        assert_eq!(ink.len(), pw * ph);
        Some(started.elapsed().as_secs_f64())
    } else {
        None
    };
    // Training.
    let epochs_run = rodan_sae::fit_patches(&start, &train_x, &train_y, [tn, ts, ts], tb, epochs)
        .expect("training");
    let report = json!({
        "engine": "rodan-sae (burn 0.20.1)",
        "device": probe.device.describe(),
        "windows": n, "batch": batch,
        "patches_per_second": n as f64 / infer,
        "page": format!("{pw}×{ph}"), "models": models,
        "seconds_per_page": page_s,
        "seconds_per_page_binarization": binarize_s,
        "train": format!("{tn} patches of {ts}×{ts}, batches of {tb}"),
        "epochs": epochs_run.iter().map(|(loss, s)| json!({"loss": loss, "seconds": s})).collect::<Vec<_>>(),
    });
    println!("{report}");
}
