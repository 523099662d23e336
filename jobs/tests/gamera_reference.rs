//! Every Gamera and Pillow job compared pixel for pixel with the library upstream runs (Gamera
//! 4.1.0, Pillow) on synthetic scanned pages in every PNG flavour and on the fixtures' images with
//! other settings. The reference runs `tests/gamera/reference.py` under the Python named by
//! `RODAN_GAMERA_PYTHON` (what `scripts/build-gamera.sh` prints); without it every trial is
//! reported as skipped. The Miyao trials also need MusicStaves and upstream's helper modules
//! (`RODAN_MUSICSTAVES`, `RODAN_UPSTREAM_JOBS_DIR`: see `reference.py`), and are skipped without them.

mod support;

#[path = "gamera/page.rs"]
mod page;

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use page::scanned_page;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rodan_jobs::{Ports, find};
use serde_json::{Value, json};
use support::{compare_exact, env_path, fixture, run_script, write_cases};

const PYTHON_VAR: &str = "RODAN_GAMERA_PYTHON";

fn work_dir() -> PathBuf {
    support::work_dir("gamera-reference")
}

type Case = support::JobCase;

fn main() {
    let args = Arguments::from_args();
    let cases = cases();
    let trials = cases
        .iter()
        .cloned()
        .map(|case| {
            Trial::ignorable_test(case.id.clone(), move || {
                let python = match env_path(PYTHON_VAR, "scripts/build-gamera.sh prints it") {
                    Ok(python) => python,
                    Err(skip) => return Ok(skip),
                };
                reference(&python)?;
                compare(&case)
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

// ---- inputs -----------------------------------------------------------------------------------

/// The generated input files, by name.
fn input(name: &str) -> PathBuf {
    work_dir().join("inputs").join(name)
}

fn write_png(
    path: &Path,
    (width, height): (usize, usize),
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
    palette: Option<(Vec<u8>, Vec<u8>)>,
) {
    let file = File::create(path).expect("the input file can be created");
    let mut e = png::Encoder::new(BufWriter::new(file), width as u32, height as u32);
    e.set_color(color);
    e.set_depth(depth);
    if let Some((plte, trns)) = palette {
        e.set_palette(plte);
        e.set_trns(trns);
    }
    let mut w = e.write_header().expect("header");
    w.write_image_data(data).expect("data");
    w.finish().expect("finish");
}

fn pack_bits(values: &[u8], width: usize, bits: usize) -> Vec<u8> {
    let stride = (width * bits).div_ceil(8);
    let rows = values.len() / width;
    let mut out = vec![0u8; stride * rows];
    for (i, &v) in values.iter().enumerate() {
        let (x, y) = (i % width, i / width);
        let bit = x * bits;
        out[y * stride + bit / 8] |= v << (8 - bits - bit % 8);
    }
    out
}

/// Writes every generated input: two pages in each PNG flavour Gamera and Pillow read.
fn generate_inputs() {
    let dir = work_dir().join("inputs");
    std::fs::create_dir_all(&dir).expect("the inputs folder can be created");
    for (name, (w, h, seed)) in [("a", (1000, 1400, 7u64)), ("b", (517, 389, 11))] {
        let page = scanned_page(w, h, seed);
        let size = (page.width, page.height);
        let mut rng = StdRng::seed_from_u64(seed + 100);
        let rgb: Vec<u8> = page.pixels.iter().flatten().copied().collect();
        write_png(
            &input(&format!("rgb8_{name}.png")),
            size,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &rgb,
            None,
        );
        let grey: Vec<u8> = page
            .pixels
            .iter()
            .map(|&[r, g, b]| {
                ((u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114) / 1000) as u8
            })
            .collect();
        write_png(
            &input(&format!("gray8_{name}.png")),
            size,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            &grey,
            None,
        );
        let onebit: Vec<u8> = grey
            .iter()
            .map(|&g| {
                let black = (g < 150) ^ (rng.random_range(0..1000) < 3);
                u8::from(!black)
            })
            .collect();
        write_png(
            &input(&format!("onebit_{name}.png")),
            size,
            png::ColorType::Grayscale,
            png::BitDepth::One,
            &pack_bits(&onebit, w, 1),
            None,
        );
        // A mask: two large discs.
        let mask: Vec<u8> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                let d1 = (x - w as f64 * 0.3).hypot(y - h as f64 * 0.4);
                let d2 = (x - w as f64 * 0.7).hypot(y - h as f64 * 0.6);
                u8::from(!(d1 < h as f64 * 0.3 || d2 < h as f64 * 0.25))
            })
            .collect();
        write_png(
            &input(&format!("mask_{name}.png")),
            size,
            png::ColorType::Grayscale,
            png::BitDepth::One,
            &pack_bits(&mask, w, 1),
            None,
        );
        if name != "b" {
            continue;
        }
        let rgb16: Vec<u8> = rgb.iter().flat_map(|&v| [v, rng.random::<u8>()]).collect();
        write_png(
            &input("rgb16_b.png"),
            size,
            png::ColorType::Rgb,
            png::BitDepth::Sixteen,
            &rgb16,
            None,
        );
        let rgba: Vec<u8> = page
            .pixels
            .iter()
            .enumerate()
            .flat_map(|(i, &[r, g, b])| [r, g, b, ((i % w) * 255 / w.max(1)) as u8])
            .collect();
        write_png(
            &input("rgba8_b.png"),
            size,
            png::ColorType::Rgba,
            png::BitDepth::Eight,
            &rgba,
            None,
        );
        let grey16: Vec<u8> = grey
            .iter()
            .enumerate()
            .flat_map(|(i, &g)| (u16::from(g) * 256 + (i % 251) as u16).to_be_bytes())
            .collect();
        write_png(
            &input("gray16_b.png"),
            size,
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            &grey16,
            None,
        );
        // One row: Gamera refuses to scale it (find_max needs two rows and two columns).
        let row: Vec<u8> = grey16[..w * 2].to_vec();
        write_png(
            &input("gray16_row.png"),
            (w, 1),
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            &row,
            None,
        );
        let grey4: Vec<u8> = grey.iter().map(|&g| g >> 4).collect();
        write_png(
            &input("gray4_b.png"),
            size,
            png::ColorType::Grayscale,
            png::BitDepth::Four,
            &pack_bits(&grey4, w, 4),
            None,
        );
        // A 64-colour palette (2 bits a channel), the darkest entries marked transparent.
        let plte: Vec<u8> = (0..64u8)
            .flat_map(|i| [(i >> 4) * 85, ((i >> 2) & 3) * 85, (i & 3) * 85])
            .collect();
        let indices: Vec<u8> = page
            .pixels
            .iter()
            .map(|&[r, g, b]| ((r >> 6) << 4) | ((g >> 6) << 2) | (b >> 6))
            .collect();
        let trns = vec![0u8, 128, 200];
        write_png(
            &input("palette_b.png"),
            size,
            png::ColorType::Indexed,
            png::BitDepth::Eight,
            &indices,
            Some((plte, trns)),
        );
        let jpeg = image::RgbImage::from_raw(w as u32, h as u32, rgb.clone()).expect("rgb page");
        jpeg.save_with_format(input("rgb_b.jpg"), image::ImageFormat::Jpeg)
            .expect("the JPEG input can be written");
        let grey_jpeg =
            image::GrayImage::from_raw(w as u32, h as u32, grey.clone()).expect("grey page");
        grey_jpeg
            .save_with_format(input("gray_b.jpg"), image::ImageFormat::Jpeg)
            .expect("the JPEG input can be written");
    }
}

// ---- cases ------------------------------------------------------------------------------------

fn case(
    id: String,
    job: &'static str,
    settings: Value,
    inputs: &[(&'static str, PathBuf)],
    outputs: &[(&'static str, &'static str)],
) -> Case {
    Case {
        root: work_dir(),
        id,
        job,
        settings,
        inputs: inputs.iter().cloned().collect(),
        outputs: outputs.to_vec(),
    }
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let every_png = [
        "rgb8_b",
        "rgb16_b",
        "rgba8_b",
        "palette_b",
        "gray8_b",
        "gray4_b",
        "gray16_b",
        "onebit_b",
        "rgb8_a",
    ];
    let conversions = [
        ("Convert to RGB PNG", "RGB PNG image"),
        ("Convert to greyscale PNG", "Greyscale PNG image"),
        ("Convert to greyscale 16 PNG", "Greyscale 16 PNG image"),
        (
            "Convert to one-bit (black and white) PNG",
            "One-bit PNG image",
        ),
        ("Invert", "PNG image"),
    ];
    for (job, output) in conversions {
        for name in every_png {
            cases.push(case(
                format!("{job}/{name}"),
                job,
                json!({}),
                &[("PNG image", input(&format!("{name}.png")))],
                &[(output, "png")],
            ));
        }
    }
    // Inputs Gamera refuses: both sides must fail, ours with a permanent error.
    for job in ["Convert to RGB PNG", "Convert to greyscale PNG"] {
        let output = if job.contains("RGB") {
            "RGB PNG image"
        } else {
            "Greyscale PNG image"
        };
        cases.push(case(
            format!("{job}/gray16_row"),
            job,
            json!({}),
            &[("PNG image", input("gray16_row.png"))],
            &[(output, "png")],
        ));
    }
    cases.push(case(
        "Otsu Threshold/rgb8_b-refused".to_owned(),
        "Otsu Threshold",
        json!({"Storage format": 0}),
        &[("Greyscale PNG image", input("rgb8_b.png"))],
        &[("Onebit PNG image", "png")],
    ));
    let lenna_grey = fixture("lenna_greyscale-png_output.png");
    for job in [
        "Otsu Threshold",
        "Tsai Moment Preserving Threshold",
        "Abutaleb locally-adaptive threshold",
    ] {
        for (name, path) in [
            ("gray8_a", input("gray8_a.png")),
            ("gray8_b", input("gray8_b.png")),
            ("lenna-rle", lenna_grey.clone()),
        ] {
            let storage = u8::from(name.ends_with("rle"));
            cases.push(case(
                format!("{job}/{name}"),
                job,
                json!({"Storage format": storage}),
                &[("Greyscale PNG image", path)],
                &[("Onebit PNG image", "png")],
            ));
        }
    }
    let binarization_cases = [
        (
            "Sauvola Threshold",
            "gray8_a",
            json!({"Region size": 15, "Sensitivity": 0.5, "Dynamic range": 128, "Lower bound": 20, "Upper bound": 150}),
        ),
        (
            "Sauvola Threshold",
            "gray8_b",
            json!({"Region size": 31, "Sensitivity": 0.3, "Dynamic range": 100, "Lower bound": 40, "Upper bound": 200}),
        ),
        (
            "Niblack Threshold",
            "gray8_a",
            json!({"Region size": 15, "Sensitivity": -0.2, "Lower bound": 20, "Upper bound": 150}),
        ),
        (
            "Niblack Threshold",
            "gray8_b",
            json!({"Region size": 9, "Sensitivity": -0.5, "Lower bound": 10, "Upper bound": 220}),
        ),
        ("Brink Threshold", "gray8_a", json!({})),
        ("Brink Threshold", "gray8_b", json!({})),
        (
            "Bernsen threshold",
            "gray8_a",
            json!({"Storage format": 0, "Region size": 11, "Contrast limit": 80, "Doubt to black": false}),
        ),
        (
            "Bernsen threshold",
            "gray8_b",
            json!({"Storage format": 1, "Region size": 15, "Contrast limit": 40, "Doubt to black": true}),
        ),
    ];
    for (i, (job, name, settings)) in binarization_cases.into_iter().enumerate() {
        cases.push(case(
            format!("{job}/{name}/{i}"),
            job,
            settings,
            &[("Greyscale PNG image", input(&format!("{name}.png")))],
            &[("Onebit PNG image", "png")],
        ));
    }
    cases.push(case(
        "Bernsen threshold/lenna/upstream-test-settings".to_owned(),
        "Bernsen threshold",
        json!({"Storage format": 0, "Region size": 11, "Contrast limit": 80, "Doubt to black": false}),
        &[("Greyscale PNG image", lenna_grey.clone())],
        &[("Onebit PNG image", "png")],
    ));
    for (page, region) in [("a", 15), ("b", 7)] {
        cases.push(case(
            format!("Gatos Background/{page}/{region}"),
            "Gatos Background",
            json!({"Region size": region}),
            &[
                (
                    "Greyscale PNG - source image to binarize",
                    input(&format!("gray8_{page}.png")),
                ),
                (
                    "Onebit PNG - preliminary binarization of the image",
                    input(&format!("onebit_{page}.png")),
                ),
            ],
            &[("Greyscale PNG - background estimation image", "png")],
        ));
        cases.push(case(
            format!("Gatos Threshold/{page}"),
            "Gatos Threshold",
            json!({"q": 0.6, "p1": 0.5, "p2": 0.8}),
            &[
                (
                    "Greyscale PNG - source image to binarize",
                    input(&format!("gray8_{page}.png")),
                ),
                (
                    "Greyscale PNG - estimated background of the image",
                    input(&format!("gray8_{page}.png")),
                ),
                (
                    "Onebit PNG - preliminary binarization of the image",
                    input(&format!("onebit_{page}.png")),
                ),
            ],
            &[("Onebit PNG image", "png")],
        ));
    }
    let djvu = [
        ("rgb8_a/defaults", input("rgb8_a.png"), (0.2, 512, 64, 2)),
        (
            "rgb8_b/small-blocks",
            input("rgb8_b.png"),
            (0.5, 256, 16, 2),
        ),
        (
            "rgb8_b/uneven-blocks",
            input("rgb8_b.png"),
            (0.0, 100, 30, 3),
        ),
        ("lenna/smooth", fixture("lenna.png"), (0.8, 128, 8, 4)),
    ];
    for (name, path, (smoothness, max, min, factor)) in djvu {
        cases.push(case(
            format!("DjVu threshold/{name}"),
            "DjVu threshold",
            json!({"Smoothness": smoothness, "Maximum block size": max, "Minimum block size": min, "Block factor": factor}),
            &[("RGB PNG image", path)],
            &[("Onebit PNG image", "png")],
        ));
    }
    for (name, size) in [
        ("onebit_a", 1),
        ("onebit_a", 2),
        ("onebit_a", 5),
        ("onebit_a", 20),
        ("onebit_b", 3),
    ] {
        cases.push(case(
            format!("Despeckle/{name}/{size}"),
            "Despeckle",
            json!({"Connected component size": size}),
            &[("Onebit PNG image", input(&format!("{name}.png")))],
            &[("Onebit PNG despeckled image", "png")],
        ));
    }
    for name in ["onebit_a", "onebit_b", "gray8_b"] {
        cases.push(case(
            format!("Dilate/{name}"),
            "Dilate",
            json!({}),
            &[("Onebit PNG image", input(&format!("{name}.png")))],
            &[("Onebit PNG dilated image", "png")],
        ));
    }
    for job in ["Mask (logical 'and')", "Mask (logical 'xor')"] {
        for page in ["a", "b"] {
            cases.push(case(
                format!("{job}/{page}"),
                job,
                json!({}),
                &[
                    ("Source image", input(&format!("onebit_{page}.png"))),
                    ("Mask image", input(&format!("mask_{page}.png"))),
                ],
                &[("Source image with mask applied", "png")],
            ));
        }
    }
    for name in ["onebit_a", "onebit_b", "mask_b"] {
        cases.push(case(
            format!("CC Analysis/{name}"),
            "CC Analysis",
            json!({}),
            &[("1-Bit PNG Image", input(&format!("{name}.png")))],
            &[("GameraXML - Connected Components", "xml")],
        ));
    }
    for name in [
        "rgba8_b.png",
        "palette_b.png",
        "gray16_b.png",
        "rgb16_b.png",
        "onebit_b.png",
        "gray4_b.png",
        "rgb_b.jpg",
        "gray_b.jpg",
    ] {
        cases.push(case(
            format!("PNG (RGB)/{name}"),
            "PNG (RGB)",
            json!({}),
            &[("Image", input(name))],
            &[("RGB PNG Image", "png")],
        ));
    }
    for name in ["rgb8_b.png", "rgba8_b.png", "gray8_b.png", "palette_b.png"] {
        cases.push(case(
            format!("TIFF/{name}"),
            "TIFF",
            json!({}),
            &[("Image", input(name))],
            &[("TIFF Image", "tiff")],
        ));
    }
    let resizes = [
        ("rgb8_a", 1, 0.3),
        ("rgb8_b", 1, 0.77),
        ("gray8_b", 1, 1.6),
        ("onebit_b", 1, 0.5),
        ("rgba8_b", 1, 0.45),
        ("palette_b", 1, 0.6),
        ("gray16_b", 1, 0.5),
        ("rgb8_b", 0, 100.0),
        ("rgb_b.jpg", 1, 0.5),
    ];
    for (name, action, value) in resizes {
        let file = if name.contains('.') {
            name.to_owned()
        } else {
            format!("{name}.png")
        };
        cases.push(case(
            format!("Resize Image/{name}/{action}/{value}"),
            "Resize Image",
            json!({"Action": action, "Scale Value": value}),
            &[("Image", input(&file))],
            &[("Resized PNG Image", "png"), ("Inverse Scale Ratio", "txt")],
        ));
    }
    miyao_cases(&mut cases);
    // Upstream's Dirty Layer Repair ignores its settings (always 0.3 and 500); ours honours
    // them, so other settings are compared with Gamera's own functions run with them.
    let layers = [
        (
            "ms73-068",
            fixture("ms73-068_neume.png"),
            fixture("ms73-068_text.png"),
        ),
        ("synthetic_a", input("gray8_a.png"), input("onebit_a.png")),
    ];
    let repairs = [
        ("ms73-068", 0.3, 500),
        ("ms73-068", 0.6, 100),
        ("ms73-068", 1.0, 0),
        ("ms73-068", 0.0, 1000),
        ("ms73-068", 0.45, 20),
        ("synthetic_a", 0.3, 500),
        ("synthetic_a", 0.8, 3),
    ];
    for (name, density, size) in repairs {
        let (_, base, dirty) = layers
            .iter()
            .find(|(n, _, _)| *n == name)
            .expect("a named pair of layers");
        cases.push(case(
            format!("Dirty Layer Repair/{name}/{density}/{size}"),
            "Dirty Layer Repair",
            json!({"Minimum Density": density, "Despeckle Size": size}),
            &[("Base Layer", base.clone()), ("Dirty Layer", dirty.clone())],
            &[("Repaired Base Layer", "png")],
        ));
    }
    for name in ["rgb8_a", "rgb8_b"] {
        cases.push(case(
            format!("Red filtering/{name}"),
            "Red filtering",
            json!({}),
            &[("input", input(&format!("{name}.png")))],
            &[("Staffless Image", "png"), ("Neumeless Image", "png")],
        ));
    }
    cases
}

/// The Miyao jobs on the synthetic pages (red four-line staves) and the fixture page with other
/// settings. The finder's polygons are compared; its mask needs Pillow 8.2.0's polygon filling,
/// which the upstream case checks.
fn miyao_cases(cases: &mut Vec<Case>) {
    let dilated = fixture("ms73-068_dilate_output.png");
    let finder_inputs = [
        ("onebit_a", input("onebit_a.png")),
        ("gray8_a", input("gray8_a.png")),
        ("onebit_b", input("onebit_b.png")),
        ("ms73-068", dilated.clone()),
    ];
    let finder_settings = [
        json!({"Number of lines": 0, "Scan lines": 20, "Blackness": 0.8, "Tolerance": -1}),
        json!({"Number of lines": 4, "Scan lines": 35, "Blackness": 0.7, "Tolerance": 2}),
        json!({"Number of lines": 5, "Scan lines": 12, "Blackness": 0.9, "Tolerance": -1}),
    ];
    for (name, path) in &finder_inputs {
        for (k, settings) in finder_settings.iter().enumerate() {
            cases.push(case(
                format!("Miyao Staff Finder/{name}/{k}"),
                "Miyao Staff Finder",
                settings.clone(),
                &[("Greyscale or one-bit PNG image", path.clone())],
                &[("Polygons (Miyao results)", "txt")],
            ));
        }
    }
    let finding_inputs = [
        ("rgb8_a", input("rgb8_a.png")),
        ("gray8_a", input("gray8_a.png")),
        ("onebit_a", input("onebit_a.png")),
        ("rgb8_b", input("rgb8_b.png")),
        ("ms73-068", dilated),
    ];
    let finding_settings = [
        json!({"Number of lines": 4, "Interpolation": true}),
        json!({"Number of lines": 0, "Interpolation": false}),
        json!({"Number of lines": 5, "Interpolation": true}),
    ];
    for (name, path) in &finding_inputs {
        for (k, settings) in finding_settings.iter().enumerate() {
            cases.push(case(
                format!("Miyao Staff Finding/{name}/{k}"),
                "Miyao Staff Finding",
                settings.clone(),
                &[(
                    "Image containing staves (RGB, greyscale, or onebit)",
                    path.clone(),
                )],
                &[("JSOMR", "json")],
            ));
        }
    }
}

// ---- running ----------------------------------------------------------------------------------

/// Generates the inputs and runs the reference on every case, once for all trials.
fn reference(python: &Path) -> Result<(), Failed> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let _ = std::fs::remove_dir_all(work_dir());
        generate_inputs();
        let cases = cases();
        let list: Vec<Value> = cases
            .iter()
            .map(|c| {
                std::fs::create_dir_all(c.dir("gamera")).map_err(|e| e.to_string())?;
                Ok(c.reference_job("gamera"))
            })
            .collect::<Result<_, String>>()?;
        let list_path = write_cases(&work_dir(), &list)?;
        run_script(python, &[], "gamera/reference.py", &[list_path.as_os_str()]).map(drop)
    })
    .clone()
    .map_err(Failed::from)
}

/// Compares the job with the reference; ignored where the reference lacked what the case needs
/// (MusicStaves for the Miyao jobs).
fn compare(case: &Case) -> Result<Completion, Failed> {
    let job = find(case.job).ok_or_else(|| format!("no job {}", case.job))?;
    let dir = case.dir("rust");
    std::fs::create_dir_all(&dir)?;
    let mut inputs = Ports::new();
    for (port, path) in &case.inputs {
        inputs = inputs.with(*port, path, "image/png");
    }
    let mut outputs = Ports::new();
    for (port, path) in case.output_paths("rust") {
        outputs = outputs.with(port, path, "");
    }
    let ours = job.run(&inputs, &case.settings, &outputs);
    let reference = case.output_paths("gamera");
    let first = reference.values().next().ok_or("the case has no output")?;
    let marker = |kind: &str| {
        first.with_extension(format!(
            "{}.{kind}",
            first
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or_default()
        ))
    };
    let skip = marker("skip");
    if skip.exists() {
        let why = std::fs::read_to_string(&skip)?;
        return Ok(Completion::ignored_with(format!("skipped: {}", why.trim())));
    }
    let error = marker("error");
    if error.exists() {
        let why = std::fs::read_to_string(&error)?;
        return match ours {
            Err(e) if e.is_permanent() => Ok(Completion::Completed),
            Err(e) => {
                Err(format!("the reference failed and we failed with a retryable {e}").into())
            }
            Ok(()) => Err(format!("the reference failed but the job succeeded:\n{why}").into()),
        };
    }
    ours.map_err(|e| format!("{e}: {}", e.error_details()))?;
    for (port, theirs) in &reference {
        let mine = &case.output_paths("rust")[port];
        match theirs.extension().and_then(|e| e.to_str()) {
            Some("png") => compare_exact(theirs, mine)?,
            Some("tiff") => {
                let a = image::open(theirs)?;
                let b = image::open(mine)?;
                if a.color() != b.color() || a.to_rgb8() != b.to_rgb8() {
                    return Err(format!("{port}: TIFF pixels differ").into());
                }
            }
            _ => {
                let (a, b) = (std::fs::read(theirs)?, std::fs::read(mine)?);
                if a != b {
                    let at = a
                        .iter()
                        .zip(&b)
                        .position(|(x, y)| x != y)
                        .unwrap_or(a.len().min(b.len()));
                    return Err(format!(
                        "{port}: files differ at byte {at} ({} vs {} bytes): {:?} vs {:?}",
                        a.len(),
                        b.len(),
                        String::from_utf8_lossy(&a[at.saturating_sub(40)..(at + 40).min(a.len())]),
                        String::from_utf8_lossy(&b[at.saturating_sub(40)..(at + 40).min(b.len())]),
                    )
                    .into());
                }
            }
        }
    }
    Ok(Completion::Completed)
}
