//! The GPU queue's jobs run on files: SAE Binarization and Background Removal with the REDNet
//! upstream ships; the two pixelwise classifiers with Keras models written by
//! rodan-sae, and the two trainers on a page cut from upstream's ms73-068 fixtures (its neume
//! layer's ink on a plain parchment colour: the layers are the ink and the rest).

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rodan_jobs::{Inputs, JobError, Outputs, Resource, find};
use rodan_sae::net::Network;
use rodan_sae::{Cpu, keras, sae};
use serde_json::json;
use support::fixture;

/// A page and its two layers (background, ink), as RGBA images.
struct Page {
    rgb: image::RgbImage,
    background: image::RgbaImage,
    ink: image::RgbaImage,
}

fn page(width: u32, height: u32) -> Page {
    let neume = image::open(fixture("ms73-068_neume.png"))
        .expect("the neume layer (set RODAN_SHARED_DIR)")
        .to_rgb8();
    let (left, top) = (1536, 1792);
    let mut rgb = image::RgbImage::new(width, height);
    let mut background = image::RgbaImage::new(width, height);
    let mut ink = image::RgbaImage::new(width, height);
    for y in 0..height {
        for x in 0..width {
            let p = neume.get_pixel(left + x, top + y).0;
            let is_ink = p.iter().copied().min().unwrap_or(255) < 200;
            let c = if is_ink { p } else { [230, 215, 190] };
            rgb.put_pixel(x, y, image::Rgb(c));
            let layer = if is_ink { &mut ink } else { &mut background };
            layer.put_pixel(x, y, image::Rgba([c[0], c[1], c[2], 255]));
        }
    }
    Page {
        rgb,
        background,
        ink,
    }
}

fn dir(name: &str) -> PathBuf {
    let d = support::work_dir(&format!("pixelwise-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("the work folder");
    d
}

fn model(path: &Path, size: usize, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let net =
        Network::<Cpu>::init(&sae::graph(size, size), &mut rng, &Default::default()).expect("init");
    keras::write(path, &net.to_model().expect("weights"), 1e-4).expect("the model is written");
}

fn input(ports: &mut Inputs, port: &str, path: &Path, kind: &str) {
    ports.push(port, Resource::new(path, kind));
}

#[test]
fn the_classifier_writes_one_layer_per_model_covering_the_page_once() {
    let d = dir("classify");
    let p = page(120, 90);
    let png = d.join("page.png");
    p.rgb.save(&png).expect("the page is saved");
    let mut inputs = Inputs::new();
    input(&mut inputs, "Image", &png, "image/rgb+png");
    let names = ["Background Model", "Model 1", "Model 2"];
    for (i, name) in names.iter().enumerate() {
        let path = d.join(format!("m{i}.hdf5"));
        model(&path, 128, i as u64 + 1);
        input(&mut inputs, name, &path, "keras/model+hdf5");
    }
    let mut outputs = Outputs::new();
    let layers = ["Background Layer", "Layer 1", "Layer 2"];
    for name in layers.iter().chain(&["Log File"]) {
        outputs.push(
            *name,
            Resource::new(d.join(name.replace(' ', "_")), "image/rgba+png"),
        );
    }
    let job = find("Fast Pixelwise Analysis of Music Document, Classifying").expect("the job");
    job.run(&inputs, &json!({"Height": 128, "Width": 128}), &outputs)
        .expect("the page is classified");
    let images: Vec<image::RgbaImage> = layers
        .iter()
        .map(|l| open(&outputs.get(l)[0].path))
        .collect();
    let mut per_layer = [0usize; 3];
    for (x, y, px) in p.rgb.enumerate_pixels() {
        let opaque: Vec<usize> = (0..3)
            .filter(|&i| images[i].get_pixel(x, y).0[3] == 255)
            .collect();
        assert_eq!(opaque.len(), 1, "pixel ({x}, {y}) is in exactly one layer");
        let i = opaque[0];
        per_layer[i] += 1;
        assert_eq!(
            &images[i].get_pixel(x, y).0[..3],
            &px.0,
            "the layer keeps the page's colour"
        );
        for (j, other) in images.iter().enumerate().filter(|(j, _)| *j != i) {
            assert_eq!(
                other.get_pixel(x, y).0,
                [255, 255, 255, 0],
                "layer {j} is clear there"
            );
        }
    }
    let log = std::fs::read_to_string(&outputs.get("Log File")[0].path).expect("the log");
    assert!(
        log.contains("Device: ") && log.contains("Page 1 (120×90 pixels)"),
        "{log}"
    );
    eprintln!("pixels per layer {per_layer:?}");
}

#[test]
fn models_and_layers_that_do_not_pair_up_are_refused() {
    let d = dir("mismatch");
    let p = page(64, 64);
    let png = d.join("page.png");
    p.rgb.save(&png).expect("saved");
    let m = d.join("m.hdf5");
    model(&m, 64, 1);
    let not_a_model = d.join("x.hdf5");
    std::fs::write(&not_a_model, b"not HDF5").expect("written");
    let job = find("Fast Pixelwise Analysis of Music Document, Classifying").expect("the job");
    let run = |models: &[(&str, &Path)], layers: &[&str]| {
        let mut inputs = Inputs::new();
        input(&mut inputs, "Image", &png, "image/rgb+png");
        for (name, path) in models {
            input(&mut inputs, name, path, "keras/model+hdf5");
        }
        let mut outputs = Outputs::new();
        for l in layers {
            outputs.push(
                *l,
                Resource::new(d.join(l.replace(' ', "_")), "image/rgba+png"),
            );
        }
        job.run(&inputs, &json!({}), &outputs)
    };
    let err = run(
        &[("Background Model", &m), ("Model 1", &m)],
        &["Background Layer"],
    );
    assert!(matches!(err, Err(JobError::BadInput { .. })), "{err:?}");
    let err = run(
        &[("Background Model", &m), ("Model 1", &not_a_model)],
        &["Background Layer", "Layer 1"],
    );
    match err {
        Err(JobError::BadInput { summary, .. }) => {
            assert!(summary.contains("Model 1"), "{summary}")
        }
        other => panic!("a file that is no model is bad input: {other:?}"),
    }
    // The default 256×256 window is larger than this page.
    let err = run(
        &[("Background Model", &m), ("Model 1", &m)],
        &["Background Layer", "Layer 1"],
    );
    assert!(matches!(err, Err(JobError::BadInput { .. })), "{err:?}");
}

#[test]
fn the_2020_classifier_fills_the_layers_of_its_named_models() {
    let d = dir("calvo");
    let p = page(120, 90);
    let png = d.join("page.png");
    p.rgb.save(&png).expect("saved");
    let mut inputs = Inputs::new();
    input(&mut inputs, "Image", &png, "image/rgb+png");
    for (i, name) in ["Background model", "Symbol model", "Text model"]
        .iter()
        .enumerate()
    {
        let path = d.join(format!("m{i}.hdf5"));
        model(&path, 128, 10 + i as u64);
        input(&mut inputs, name, &path, "keras/model+hdf5");
    }
    let mut outputs = Outputs::new();
    for name in ["Background", "Music symbol", "Text"] {
        outputs.push(
            name,
            Resource::new(d.join(name.replace(' ', "_")), "image/rgba+png"),
        );
    }
    let job = find("Fast Pixelwise Analysis of Music Document").expect("the job");
    job.run(
        &inputs,
        &json!({"Height": 128, "Width": 128, "Threshold": 50}),
        &outputs,
    )
    .expect("classified");
    let total: usize = ["Background", "Music symbol", "Text"]
        .iter()
        .map(|l| {
            open(&outputs.get(l)[0].path)
                .pixels()
                .filter(|p| p.0[3] == 255)
                .count()
        })
        .sum();
    assert_eq!(total, 120 * 90, "every pixel is in one of the three layers");
    // A layer port without its model is refused.
    outputs.push(
        "Staff lines",
        Resource::new(d.join("staff"), "image/rgba+png"),
    );
    let err = job.run(&inputs, &json!({"Height": 128, "Width": 128}), &outputs);
    assert!(matches!(err, Err(JobError::BadInput { .. })), "{err:?}");
}

fn open(path: &Path) -> image::RgbaImage {
    image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .expect("the output is readable")
        .decode()
        .expect("the output is a PNG")
        .to_rgba8()
}

fn png_bytes(img: &image::DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encoded");
    out.into_inner()
}

/// A Pixel.js sample zip of `p`: the page, its selected region (all of it) and its two layers.
fn sample_zip(path: &Path, p: &Page, prefix: &str) {
    let file = std::fs::File::create(path).expect("the zip");
    let mut zip = zip::ZipWriter::new(file);
    let regions =
        image::RgbaImage::from_pixel(p.rgb.width(), p.rgb.height(), image::Rgba([0, 0, 0, 255]));
    let files = [
        (
            "Image.png",
            png_bytes(&image::DynamicImage::ImageRgb8(p.rgb.clone())),
        ),
        (
            "rgba PNG - Layer 0 (Background).png",
            png_bytes(&image::DynamicImage::ImageRgba8(p.background.clone())),
        ),
        (
            "rgba PNG - Layer 1.png",
            png_bytes(&image::DynamicImage::ImageRgba8(p.ink.clone())),
        ),
        (
            "rgba PNG - Selected regions.png",
            png_bytes(&image::DynamicImage::ImageRgba8(regions)),
        ),
    ];
    for (name, bytes) in files {
        zip.start_file(
            format!("{prefix}{name}"),
            zip::write::SimpleFileOptions::default(),
        )
        .expect("an entry");
        zip.write_all(&bytes).expect("written");
    }
    zip.finish().expect("the zip is finished");
}

#[test]
fn the_trainer_writes_a_keras_model_per_layer_from_pixel_js_samples() {
    let d = dir("train");
    let p = page(96, 80);
    let sample = d.join("sample.zip");
    sample_zip(&sample, &p, "");
    let multi = d.join("multi.zip");
    sample_zip(&multi, &p, "folio/");
    let mut inputs = Inputs::new();
    input(&mut inputs, "Sample 1", &sample, "application/zip");
    input(&mut inputs, "Multi-Sample Zip", &multi, "application/zip");
    let mut outputs = Outputs::new();
    for (name, kind) in [
        ("Background Model", "keras/model+hdf5"),
        ("Model 1", "keras/model+hdf5"),
        ("Log File", "text/plain"),
        ("Multi-Sample Zip", "application/zip"),
    ] {
        outputs.push(name, Resource::new(d.join(name.replace(' ', "_")), kind));
    }
    let settings = json!({"Batch Size": 2, "Maximum number of training epochs": 2,
        "Maximum number of samples per label": 4, "Patience": 1, "Patch height": 32, "Patch width": 32});
    let job =
        find("Training model for Patchwise Analysis of Music Document, Training").expect("the job");
    job.run(&inputs, &settings, &outputs).expect("trained");
    for name in ["Background Model", "Model 1"] {
        let m = keras::read(&outputs.get(name)[0].path).expect("a Keras model");
        assert_eq!(m.graph.input().expect("an input"), (Some(32), Some(32), 3));
    }
    let log = std::fs::read_to_string(&outputs.get("Log File")[0].path).expect("the log");
    assert!(
        log.contains("Epoch 1/2") && log.contains("val_accuracy"),
        "{log}"
    );
    assert!(
        log.contains("rgba PNG - Layer 0 (Background) → Background Model"),
        "{log}"
    );
    let zip = zip::ZipArchive::new(
        std::fs::File::open(&outputs.get("Multi-Sample Zip")[0].path).expect("zip"),
    )
    .expect("a zip");
    let names: Vec<&str> = zip.file_names().collect();
    assert_eq!(
        names.len(),
        8,
        "both samples, each in its folder: {names:?}"
    );
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("folio/") || n.starts_with("zip2/")),
        "{names:?}"
    );

    // A sample whose layer count differs from the model outputs is refused before training.
    outputs.push(
        "Model 2",
        Resource::new(d.join("Model_2"), "keras/model+hdf5"),
    );
    let err = job.run(&inputs, &settings, &outputs);
    assert!(matches!(err, Err(JobError::BadInput { .. })), "{err:?}");
}

#[test]
fn the_2020_trainer_trains_from_its_layer_ports() {
    let d = dir("calvo-train");
    let p = page(320, 320);
    let save = |name: &str, img: image::DynamicImage| {
        let path = d.join(name);
        img.save(&path).expect("saved");
        path
    };
    let regions = image::RgbaImage::from_pixel(320, 320, image::Rgba([0, 0, 0, 255]));
    let mut inputs = Inputs::new();
    input(
        &mut inputs,
        "Image",
        &save("page.png", image::DynamicImage::ImageRgb8(p.rgb.clone())),
        "image/rgb+png",
    );
    input(
        &mut inputs,
        "rgba PNG - Background layer",
        &save(
            "bg.png",
            image::DynamicImage::ImageRgba8(p.background.clone()),
        ),
        "image/rgba+png",
    );
    input(
        &mut inputs,
        "rgba PNG - Selected regions",
        &save("regions.png", image::DynamicImage::ImageRgba8(regions)),
        "image/rgba+png",
    );
    input(
        &mut inputs,
        "rgba PNG - Layer 0",
        &save("ink.png", image::DynamicImage::ImageRgba8(p.ink.clone())),
        "image/rgba+png",
    );
    let mut outputs = Outputs::new();
    for (name, kind) in [
        ("Background Model", "keras/model+hdf5"),
        ("Model 0", "keras/model+hdf5"),
        ("Log File", "text/plain"),
    ] {
        outputs.push(name, Resource::new(d.join(name.replace(' ', "_")), kind));
    }
    let job = find("Training model for Patchwise Analysis of Music Document").expect("the job");
    // One pass over the page keeps about 650 pixels, of which the ink's (6 %) all and the
    // background's in proportion: about 40 and 60 patches, a fifth of each to validate.
    let settings = json!({"Batch Size": 8, "Maximum number of samples per label": 100,
        "Patch height": 32, "Maximum number of training epochs": 1, "Patch width": 32});
    job.run(&inputs, &settings, &outputs).expect("trained");
    for name in ["Background Model", "Model 0"] {
        let m = keras::read(&outputs.get(name)[0].path).expect("a Keras model");
        assert_eq!(m.graph.input().expect("an input"), (Some(32), Some(32), 3));
    }
    let log = std::fs::read_to_string(&outputs.get("Log File")[0].path).expect("the log");
    assert!(
        log.contains("Training a new model for label #1 (Model 0)"),
        "{log}"
    );
    // Layers and models must pair up.
    outputs.push(
        "Model 1",
        Resource::new(d.join("Model_1"), "keras/model+hdf5"),
    );
    let err = job.run(&inputs, &settings, &outputs);
    assert!(matches!(err, Err(JobError::BadInput { .. })), "{err:?}");
}

/// SAE Binarization and Background Removal's SAE method run the same network: the second keeps
/// the page's own colours exactly where the first draws black, and clears the rest; the empty
/// layer is transparent and the page's size.
#[test]
fn sae_binarization_and_background_removal_find_the_same_ink() {
    let d = dir("binarize");
    let p = page(300, 280);
    let png = d.join("page.png");
    p.rgb.save(&png).expect("saved");
    let mut inputs = Inputs::new();
    input(&mut inputs, "Image", &png, "image/rgb+png");
    let mut outputs = Outputs::new();
    outputs.push(
        "RGB PNG image",
        Resource::new(d.join("binarized"), "image/rgba+png"),
    );
    find("SAE Binarization")
        .expect("the job")
        .run(&inputs, &json!({}), &outputs)
        .expect("the page is binarized");
    let binarized = open(&outputs.get("RGB PNG image")[0].path);
    let mut outputs = Outputs::new();
    outputs.push(
        "RGBA PNG image",
        Resource::new(d.join("removed"), "image/rgba+png"),
    );
    outputs.push(
        "Empty Layer",
        Resource::new(d.join("empty"), "image/rgba+png"),
    );
    find("Background Removal")
        .expect("the job")
        .run(&inputs, &json!({"Background Removal Method": 1}), &outputs)
        .expect("the background is removed");
    let removed = open(&outputs.get("RGBA PNG image")[0].path);
    let empty = open(&outputs.get("Empty Layer")[0].path);
    assert_eq!(binarized.dimensions(), (300, 280));
    assert_eq!(removed.dimensions(), (300, 280));
    assert_eq!(empty.dimensions(), (300, 280));
    assert!(empty.pixels().all(|px| px.0 == [0, 0, 0, 0]));
    let (mut ink, mut found_ink_on_ink) = (0, 0);
    for (x, y, px) in binarized.enumerate_pixels() {
        let kept = removed.get_pixel(x, y).0;
        match px.0 {
            [0, 0, 0, 255] => {
                ink += 1;
                let c = p.rgb.get_pixel(x, y).0;
                assert_eq!(kept, [c[0], c[1], c[2], 255], "({x}, {y}) keeps its colour");
                found_ink_on_ink += usize::from(p.ink.get_pixel(x, y).0[3] == 255);
            }
            [255, 255, 255, 255] => assert_eq!(kept, [0, 0, 0, 0], "({x}, {y}) is cleared"),
            other => panic!("({x}, {y}) is {other:?}, neither black nor white"),
        }
    }
    let total = 300 * 280;
    let truth = p.ink.pixels().filter(|px| px.0[3] == 255).count();
    eprintln!("ink: {ink} pixels found, {truth} drawn, {found_ink_on_ink} of them found");
    // The page is dark neume ink on one flat parchment colour: the model finds most of the ink
    // and little else.
    assert!(
        ink > 0 && ink < total / 2,
        "{ink} of {total} pixels are ink"
    );
    assert!(
        found_ink_on_ink * 10 >= truth * 8,
        "only {found_ink_on_ink} of the {truth} ink pixels are found"
    );
    assert!(
        found_ink_on_ink * 10 >= ink * 8,
        "{ink} found, {found_ink_on_ink} of them ink"
    );
}

#[test]
fn background_removal_refuses_settings_scikit_image_refuses() {
    let d = dir("removal-settings");
    let p = page(40, 30);
    let png = d.join("page.png");
    p.rgb.save(&png).expect("saved");
    let mut inputs = Inputs::new();
    input(&mut inputs, "Image", &png, "image/rgb+png");
    let mut outputs = Outputs::new();
    outputs.push(
        "RGBA PNG image",
        Resource::new(d.join("removed"), "image/rgba+png"),
    );
    let job = find("Background Removal").expect("the job");
    for settings in [
        json!({"window_size": 16}),
        json!({"window_size": 0}),
        json!({"window_size": 5001}),
        json!({"k": -0.1}),
        json!({"Background Removal Method": 2}),
    ] {
        let err = job.run(&inputs, &settings, &outputs);
        assert!(
            matches!(err, Err(JobError::BadSettings { .. })),
            "{settings}: {err:?}"
        );
    }
}
