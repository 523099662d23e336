//! The OpenCV jobs (Column Splitting, Extract C Clefs) compared with upstream's Python logic on
//! numpy and OpenCV, run by `tests/opencv/reference.py` under the Python named by
//! `RODAN_OPENCV_PYTHON` (what `scripts/build-opencv.sh` prints); without it every trial is
//! reported as skipped. Column Splitting: synthetic folios of two and three columns in several
//! PNG flavours, and folios made of the layers of a real page (`ms73-068` of the fixtures).
//! Extract C Clefs: the classified glyphs of the fixtures' GameraXML files (`238r-nic.xml`, the
//! Dalhousie classifier) on pages drawn from those glyphs, whole, clipped and in other flavours.
//! Background Removal (its Sauvola method, on scikit-image): the real page's layers in their
//! colours on parchment, with several windows, thresholds and contrasts, in several PNG flavours.
//! With `RODAN_UPSTREAM_JOBS_DIR` (Rodan's `code/rodan/jobs` folder) the script runs upstream's
//! own helper modules from there instead of its restatement of them. Images must be
//! equal as `cv2.imread(IMREAD_UNCHANGED)` reads them, JSON byte for byte; where upstream fails,
//! ours must fail with a permanent error.

mod support;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rodan_jobs::gamera::xml::{Database, read_file};
use rodan_jobs::opencv::{AnyMat, ReadMode, imread};
use rodan_jobs::{Ports, find};
use serde_json::{Value, json};
use support::{compare_exact, compare_folders, env_path, fixture, run_script, write_cases};

const PYTHON_VAR: &str = "RODAN_OPENCV_PYTHON";

fn work_dir() -> PathBuf {
    support::work_dir("opencv-reference")
}

type Case = support::JobCase;

fn main() {
    let args = Arguments::from_args();
    let trials = cases()
        .into_iter()
        .map(|case| {
            Trial::ignorable_test(case.id.clone(), move || {
                let python = match env_path(PYTHON_VAR, "scripts/build-opencv.sh prints it") {
                    Ok(python) => python,
                    Err(skip) => return Ok(skip),
                };
                reference(&python)?;
                compare(&case).map(|()| Completion::Completed)
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

// ---- inputs -----------------------------------------------------------------------------------

fn input(name: &str) -> PathBuf {
    work_dir().join("inputs").join(name)
}

/// Writes an 8-bit (or 16-bit, `samples` big-endian pairs) PNG.
fn write_png(path: &Path, size: (usize, usize), color: png::ColorType, sixteen: bool, data: &[u8]) {
    write_png_exif(path, size, color, sixteen, data, None);
}

/// [`write_png`] with an `eXIf` chunk holding an orientation tag.
fn write_png_exif(
    path: &Path,
    (width, height): (usize, usize),
    color: png::ColorType,
    sixteen: bool,
    data: &[u8],
    orientation: Option<u16>,
) {
    let file = File::create(path).expect("the input file can be created");
    let mut e = png::Encoder::new(BufWriter::new(file), width as u32, height as u32);
    e.set_color(color);
    e.set_compression(png::Compression::Fast);
    e.set_depth(if sixteen {
        png::BitDepth::Sixteen
    } else {
        png::BitDepth::Eight
    });
    let mut w = e.write_header().expect("header");
    if let Some(o) = orientation {
        // Little-endian TIFF: one IFD entry, Orientation (0x0112), SHORT, count 1.
        let mut exif = b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
        exif.extend_from_slice(&o.to_le_bytes());
        exif.extend_from_slice(&[0; 6]);
        w.write_chunk(png::chunk::eXIf, &exif).expect("eXIf");
    }
    w.write_image_data(data).expect("data");
    w.finish().expect("finish");
}

/// A layer: RGBA pixels, row by row.
#[derive(Clone)]
struct Layer {
    width: usize,
    height: usize,
    rgba: Vec<[u8; 4]>,
}

impl Layer {
    fn blank(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            rgba: vec![[0; 4]; width * height],
        }
    }

    fn ink(&mut self, x: usize, y: usize, colour: [u8; 3]) {
        if x < self.width && y < self.height {
            self.rgba[y * self.width + x] = [colour[0], colour[1], colour[2], 255];
        }
    }

    fn save_rgba(&self, path: &Path) {
        self.save_rgba_oriented(path, None);
    }

    /// RGBA with an EXIF orientation, which IMREAD_COLOR applies.
    fn save_rgba_oriented(&self, path: &Path, orientation: Option<u16>) {
        let data: Vec<u8> = self.rgba.iter().flatten().copied().collect();
        let size = (self.width, self.height);
        write_png_exif(path, size, png::ColorType::Rgba, false, &data, orientation);
    }

    /// Grey + alpha: the red channel as grey.
    fn save_grey_alpha(&self, path: &Path) {
        let data: Vec<u8> = self.rgba.iter().flat_map(|p| [p[0], p[3]]).collect();
        write_png(
            path,
            (self.width, self.height),
            png::ColorType::GrayscaleAlpha,
            false,
            &data,
        );
    }

    /// 16-bit RGBA with each 8-bit sample v as v * 257, except alpha 255 stays 255 (upstream's
    /// ink test at 16 bits) and alpha 0 stays 0.
    fn save_rgba16(&self, path: &Path) {
        let data: Vec<u8> = self
            .rgba
            .iter()
            .flat_map(|p| {
                let alpha: u16 = if p[3] == 255 { 255 } else { 0 };
                [
                    u16::from(p[0]) * 257,
                    u16::from(p[1]) * 257,
                    u16::from(p[2]) * 257,
                    alpha,
                ]
            })
            .flat_map(u16::to_be_bytes)
            .collect();
        write_png(
            path,
            (self.width, self.height),
            png::ColorType::Rgba,
            true,
            &data,
        );
    }
}

const MARGIN: usize = 60;
const COLUMN_WIDTH: usize = 420;
const GUTTER: usize = 90;
const JITTER: usize = 20;

/// The x range of the synthetic folio's gutter `c` (between columns `c` and `c + 1`), where a
/// split must fall.
fn gutter(c: usize) -> (usize, usize) {
    let left = MARGIN + c * (COLUMN_WIDTH + GUTTER);
    (left + COLUMN_WIDTH + JITTER, left + COLUMN_WIDTH + GUTTER)
}

/// A synthetic folio of `columns` text columns: five-line staves, neumes on them and a line of
/// text under each, drawn into staff, music and text layers, with specks in the margins.
fn synthetic_folio(columns: usize, seed: u64) -> [Layer; 3] {
    let mut rng = StdRng::seed_from_u64(seed);
    let (column_width, gutter) = (COLUMN_WIDTH, GUTTER);
    let width = MARGIN + columns * column_width + (columns - 1) * gutter + 50;
    let height = 700;
    let [mut staff, mut notes, mut text] = [(); 3].map(|()| Layer::blank(width, height));
    for c in 0..columns {
        let left = MARGIN + c * (column_width + gutter) + rng.random_range(0..JITTER);
        let right = left + column_width - rng.random_range(0..60);
        for system in 0..6 {
            let top = 40 + system * 105 + rng.random_range(0..5);
            for line in 0..5 {
                let y = top + line * 12;
                for x in left..right {
                    staff.ink(
                        x,
                        y + usize::from(rng.random_range(0..30) == 0),
                        [30, 20, 10],
                    );
                    staff.ink(x, y + 1, [30, 20, 10]);
                }
            }
            let mut x = left + 10;
            while x + 12 < right {
                let y = top + rng.random_range(0..44);
                for dy in 0..8 {
                    for dx in 0..10 {
                        notes.ink(x + dx, y + dy, [120, 40, 30]);
                    }
                }
                x += rng.random_range(14..40);
            }
            let mut x = left;
            while x + 20 < right {
                let word = rng.random_range(10..40);
                for dx in 0..word.min(right - x) {
                    for dy in 0..14 {
                        if rng.random_range(0..3) > 0 {
                            text.ink(x + dx, top + 66 + dy, [80, 60, 50]);
                        }
                    }
                }
                x += word + rng.random_range(6..16);
            }
        }
    }
    for _ in 0..200 {
        let (x, y) = (rng.random_range(0..width), rng.random_range(0..height));
        text.ink(x, y, [90, 90, 90]);
    }
    [staff, notes, text]
}

/// Layers from a fixture page drawn dark on white: its pixels darker than 200 (on any channel)
/// become opaque with their colour, the rest transparent; one layer per subsampling step.
fn fixture_layers<const N: usize>(name: &str, steps: [usize; N]) -> [Layer; N] {
    let AnyMat::U8(m) = imread(&fixture(name), ReadMode::Color).expect("the fixture page decodes")
    else {
        panic!("IMREAD_COLOR gives 8 bits");
    };
    steps.map(|step| {
        let (width, height) = (m.width().div_ceil(step), m.height().div_ceil(step));
        let mut layer = Layer::blank(width, height);
        for y in 0..height {
            let row = m.row(y * step);
            for x in 0..width {
                let p = &row[x * step * 3..x * step * 3 + 3];
                if p.iter().any(|&v| v < 200) {
                    layer.ink(x, y, [p[0], p[1], p[2]]);
                }
            }
        }
        layer
    })
}

/// `copies` copies of `layer` side by side, `gap` transparent pixels apart.
fn side_by_side(layer: &Layer, copies: usize, gap: usize) -> Layer {
    let width = layer.width * copies + gap * (copies - 1);
    let mut out = Layer::blank(width, layer.height);
    for y in 0..layer.height {
        for c in 0..copies {
            let from = &layer.rgba[y * layer.width..(y + 1) * layer.width];
            let at = y * width + c * (layer.width + gap);
            out.rgba[at..at + layer.width].copy_from_slice(from);
        }
    }
    out
}

/// A page drawn from the glyphs of a GameraXML file: each glyph's black pixels in a colour of
/// its own, opaque, on a transparent page as large as the glyphs reach plus a margin; at most
/// `max_width` x `max_height` (glyphs beyond are cut).
fn glyph_page(db: &Database, (max_width, max_height): (usize, usize)) -> Layer {
    let width = db
        .glyphs
        .iter()
        .map(|g| g.ul_x + g.ncols())
        .max()
        .unwrap_or(0)
        + 17;
    let height = db
        .glyphs
        .iter()
        .map(|g| g.ul_y + g.nrows())
        .max()
        .unwrap_or(0)
        + 23;
    let mut page = Layer::blank(width.min(max_width), height.min(max_height));
    for (i, g) in db.glyphs.iter().enumerate() {
        let colour = [
            (i * 37 % 200) as u8,
            (i * 91 % 200) as u8,
            (i * 13 % 200) as u8,
        ];
        for y in 0..g.nrows() {
            for x in 0..g.ncols() {
                if g.image.get(x, y) == rodan_jobs::gamera::BLACK {
                    page.ink(g.ul_x + x, g.ul_y + y, colour);
                }
            }
        }
    }
    page
}

/// The C clefs' rightmost left edge (a page one pixel wider still holds a column of each), and
/// how far right and down they reach.
fn clef_extent(db: &Database) -> (usize, usize, usize) {
    let clefs = || {
        db.glyphs
            .iter()
            .filter(|g| g.ids.iter().any(|(n, _)| n == "clef.c"))
    };
    let max = |f: fn(&rodan_jobs::gamera::xml::Glyph) -> usize| clefs().map(f).max().unwrap_or(0);
    (
        max(|g| g.ul_x),
        max(|g| g.ul_x + g.ncols()),
        max(|g| g.ul_y + g.nrows()),
    )
}

const LAYER_PORTS: [&str; 3] = ["Staff Layer", "Music Notes Layer", "Text Layer"];

fn generate_inputs() {
    std::fs::create_dir_all(work_dir().join("inputs")).expect("the inputs folder can be created");
    for (name, columns, seed) in [("two", 2, 3u64), ("three", 3, 5)] {
        let layers = synthetic_folio(columns, seed);
        for (port, layer) in LAYER_PORTS.iter().zip(&layers) {
            layer.save_rgba(&input(&format!("{name}_{}.png", port_file(port))));
            layer.save_grey_alpha(&input(&format!("{name}_{}_ga.png", port_file(port))));
            layer.save_rgba16(&input(&format!("{name}_{}_16.png", port_file(port))));
        }
        // Extra layers: the staff layer shifted, and an RGB image.
        let mut shifted = layers[0].clone();
        shifted.rgba.rotate_right(7);
        shifted.save_rgba(&input(&format!("{name}_extra.png")));
        let rgb: Vec<u8> = layers[1]
            .rgba
            .iter()
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        write_png(
            &input(&format!("{name}_extra_rgb.png")),
            (layers[1].width, layers[1].height),
            png::ColorType::Rgb,
            false,
            &rgb,
        );
    }
    // The real page: staff (Miyao's staff mask), neume and text layers of ms73-068.
    let real = [
        ("Staff Layer", "ms73-068_miyao-staff-finder_png.png"),
        ("Music Notes Layer", "ms73-068_neume.png"),
        ("Text Layer", "ms73-068_text.png"),
    ];
    for (port, file) in real {
        // Subsampled to keep the debug-build test quick.
        let [page, third, quarter] = fixture_layers(file, [2, 3, 4]);
        page.save_rgba(&input(&format!("ms73_{}.png", port_file(port))));
        side_by_side(&third, 2, 40).save_rgba(&input(&format!("folio2_{}.png", port_file(port))));
        side_by_side(&quarter, 3, 0).save_rgba(&input(&format!("folio3_{}.png", port_file(port))));
    }
    // Pages of classified glyphs for Extract C Clefs.
    let read = |xml: &str| read_file(&fixture(xml)).expect("the fixture GameraXML reads");
    let nic = read("238r-nic.xml");
    let all = (usize::MAX, usize::MAX);
    glyph_page(&nic, all).save_rgba(&input("238r.png"));
    // The other flavours on the part of the page that holds the clefs, to keep the test quick.
    let (last_left, right, bottom) = clef_extent(&nic);
    let clefs = glyph_page(&nic, (right, bottom));
    clefs.save_grey_alpha(&input("238r_ga.png"));
    clefs.save_rgba16(&input("238r_16.png"));
    let cut = glyph_page(&nic, (last_left + 1, bottom));
    cut.save_rgba(&input("238r_cut.png"));
    cut.save_rgba_oriented(&input("238r_cut_exif3.png"), Some(3));
    cut.save_rgba_oriented(&input("238r_cut_exif6.png"), Some(6));
    glyph_page(&nic, (last_left, bottom)).save_rgba(&input("238r_cut_more.png"));
    let dalhousie = read("Dalhousie_TD_421_422_NC-based_classifier.xml");
    glyph_page(&dalhousie, all).save_rgba(&input("dalhousie.png"));
    // Nothing to split: an empty page, and a page too narrow for the smoothing window.
    let empty = Layer::blank(400, 100);
    empty.save_rgba(&input("empty.png"));
    let mut narrow = Layer::blank(60, 100);
    for y in 0..100 {
        for x in 0..60 {
            narrow.ink(x, y, [0, 0, 0]);
        }
    }
    narrow.save_rgba(&input("narrow.png"));
    // Background Removal: the page in colour, whole and in parts in other flavours.
    let page = parchment_page(3);
    page.save_rgba(&input("parchment.png"));
    let part = crop(&page, page.width / 3, page.height / 3, 500, 400);
    part.save_rgba16(&input("parchment_16.png"));
    part.save_grey_alpha(&input("parchment_ga.png"));
    crop(&part, 200, 150, 40, 30).save_rgba(&input("parchment_tiny.png"));
}

/// The ms73-068 page in colour, subsampled by `step`: its staff, neume and text layers over a
/// parchment colour, opaque.
fn parchment_page(step: usize) -> Layer {
    let layers = [
        "ms73-068_miyao-staff-finder_png.png",
        "ms73-068_neume.png",
        "ms73-068_text.png",
    ]
    .map(|file| {
        let [layer] = fixture_layers(file, [step]);
        layer
    });
    let mut page = layers[0].clone();
    for (i, p) in page.rgba.iter_mut().enumerate() {
        *p = [228, 212, 186, 255];
        for layer in &layers {
            if let Some(q) = layer.rgba.get(i).filter(|q| q[3] == 255) {
                *p = *q;
            }
        }
    }
    page
}

/// The part of `layer` from (`left`, `top`), `width` × `height`.
fn crop(layer: &Layer, left: usize, top: usize, width: usize, height: usize) -> Layer {
    let mut out = Layer::blank(width, height);
    for y in 0..height {
        let start = (top + y) * layer.width + left;
        out.rgba[y * width..(y + 1) * width].copy_from_slice(&layer.rgba[start..start + width]);
    }
    out
}

fn port_file(port: &str) -> String {
    port.split(' ').next().unwrap_or(port).to_lowercase()
}

// ---- cases ------------------------------------------------------------------------------------

const DATA: (&str, &str) = ("Column Splitting Data", "json");

fn column_case(
    id: &str,
    columns: u32,
    layers: [PathBuf; 3],
    extra: &[(&'static str, PathBuf)],
    extra_outputs: &[&'static str],
) -> Case {
    let mut inputs: BTreeMap<&'static str, PathBuf> =
        LAYER_PORTS.iter().copied().zip(layers).collect();
    inputs.extend(extra.iter().cloned());
    let mut outputs: Vec<(&'static str, &'static str)> =
        LAYER_PORTS.iter().map(|p| (*p, "png")).collect();
    outputs.extend(extra_outputs.iter().map(|p| (*p, "png")));
    outputs.push(DATA);
    Case {
        root: work_dir(),
        id: format!("Column Splitting/{id}"),
        job: "Column Splitting",
        settings: json!({"Number of columns": columns}),
        inputs,
        outputs,
    }
}

fn layers(prefix: &str, suffix: &str) -> [PathBuf; 3] {
    LAYER_PORTS.map(|p| input(&format!("{prefix}_{}{suffix}.png", port_file(p))))
}

fn clef_case(id: &str, image: &str, xml: &str) -> Case {
    Case {
        root: work_dir(),
        id: format!("Extract C Clefs/{id}"),
        job: "Extract C Clefs",
        settings: json!({}),
        inputs: [("PNG Image", input(image)), ("XML file", fixture(xml))]
            .into_iter()
            .collect(),
        outputs: vec![("C Clef", "")],
    }
}

fn removal_case(id: &str, image: &str, settings: Value) -> Case {
    Case {
        root: work_dir(),
        id: format!("Background Removal/{id}"),
        job: "Background Removal",
        settings,
        inputs: [("Image", input(image))].into_iter().collect(),
        outputs: vec![("RGBA PNG image", "png")],
    }
}

fn cases() -> Vec<Case> {
    let nic = "238r-nic.xml";
    vec![
        removal_case("ms73-068-defaults", "parchment.png", json!({})),
        removal_case(
            "ms73-068-wide-window-low-contrast",
            "parchment.png",
            json!({"window_size": 51, "k": 0.35, "contrast": 60.0, "brightness": 20.0,
                "Background Removal Method": 0}),
        ),
        removal_case(
            "ms73-068-16-bit",
            "parchment_16.png",
            json!({"Background Removal Method": "Sauvola Algorithm"}),
        ),
        removal_case(
            "ms73-068-grey-alpha",
            "parchment_ga.png",
            json!({"window_size": 25, "k": 0.1, "contrast": 0.0, "brightness": -30.0}),
        ),
        removal_case(
            "ms73-068-window-of-one",
            "parchment_16.png",
            json!({"window_size": 1}),
        ),
        removal_case(
            "window-wider-than-the-page",
            "parchment_tiny.png",
            json!({"window_size": 101}),
        ),
        removal_case(
            "even-window-refused",
            "parchment_tiny.png",
            json!({"window_size": 16}),
        ),
        clef_case("238r", "238r.png", nic),
        clef_case("238r-grey-alpha", "238r_ga.png", nic),
        clef_case("238r-16-bit", "238r_16.png", nic),
        clef_case("238r-clipped", "238r_cut.png", nic),
        clef_case("238r-exif-turned-180", "238r_cut_exif3.png", nic),
        // Turned a quarter, the page is narrower than some clefs are far right.
        clef_case("238r-exif-turned-90-refused", "238r_cut_exif6.png", nic),
        clef_case("238r-clef-off-the-page-refused", "238r_cut_more.png", nic),
        clef_case(
            "dalhousie-classifier",
            "dalhousie.png",
            "Dalhousie_TD_421_422_NC-based_classifier.xml",
        ),
        clef_case(
            "240r-no-clefs-refused",
            "238r.png",
            "240r_CC-analysis_output.xml",
        ),
        column_case("two-columns", 2, layers("two", ""), &[], &[]),
        column_case(
            "two-columns-every-optional-port",
            2,
            layers("two", ""),
            &[
                ("Background Layer", input("two_extra.png")),
                ("Layer 4", input("two_extra.png")),
                ("Layer 10", input("two_extra.png")),
            ],
            &["Background Layer", "Layer 10", "All Layers"],
        ),
        column_case(
            "two-columns-rgb-extra-layer",
            2,
            layers("two", ""),
            &[("Layer 6", input("two_extra_rgb.png"))],
            &["Layer 6"],
        ),
        column_case(
            "two-columns-rgb-extra-layer-all-refused",
            2,
            layers("two", ""),
            &[("Layer 6", input("two_extra_rgb.png"))],
            &["Layer 6", "All Layers"],
        ),
        column_case(
            "two-columns-grey-alpha",
            2,
            layers("two", "_ga"),
            &[],
            &["All Layers"],
        ),
        column_case(
            "two-columns-16-bit",
            2,
            layers("two", "_16"),
            &[],
            &["All Layers"],
        ),
        column_case(
            "three-columns",
            3,
            layers("three", ""),
            &[],
            &["All Layers"],
        ),
        column_case("three-columns-as-two", 2, layers("three", ""), &[], &[]),
        column_case("three-columns-as-ten", 10, layers("three", ""), &[], &[]),
        column_case("ms73-068-page", 2, layers("ms73", ""), &[], &[]),
        column_case(
            "ms73-068-folio",
            2,
            layers("folio2", ""),
            &[],
            &["All Layers"],
        ),
        column_case("ms73-068-three-pages", 3, layers("folio3", ""), &[], &[]),
        column_case(
            "empty-page-refused",
            2,
            [0, 1, 2].map(|_| input("empty.png")),
            &[],
            &[],
        ),
        column_case(
            "narrow-page-refused",
            2,
            [0, 1, 2].map(|_| input("narrow.png")),
            &[],
            &[],
        ),
    ]
}

// ---- running and comparing --------------------------------------------------------------------

fn reference(python: &Path) -> Result<(), Failed> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let _ = std::fs::remove_dir_all(work_dir());
        generate_inputs();
        let list: Vec<Value> = cases()
            .iter()
            .map(|c| {
                std::fs::create_dir_all(c.dir("opencv")).map_err(|e| e.to_string())?;
                for (port, ext) in &c.outputs {
                    if ext.is_empty() {
                        std::fs::create_dir_all(&c.output_paths("opencv")[port])
                            .map_err(|e| e.to_string())?;
                    }
                }
                Ok(c.reference_job("opencv"))
            })
            .collect::<Result<_, String>>()?;
        let list_path = write_cases(&work_dir(), &list)?;
        run_script(python, &[], "opencv/reference.py", &[list_path.as_os_str()]).map(drop)
    })
    .clone()
    .map_err(Failed::from)
}

fn compare(case: &Case) -> Result<(), Failed> {
    let job = find(case.job).ok_or_else(|| format!("no job {}", case.job))?;
    std::fs::create_dir_all(case.dir("rust"))?;
    let mut inputs = Ports::new();
    for (port, path) in &case.inputs {
        inputs = inputs.with(*port, path, "image/rgba+png");
    }
    let mut outputs = Ports::new();
    for (port, path) in case.output_paths("rust") {
        if case
            .outputs
            .iter()
            .any(|(p, ext)| *p == port && ext.is_empty())
        {
            std::fs::create_dir_all(&path)?;
        }
        outputs = outputs.with(port, path, "");
    }
    let ours = job.run(&inputs, &case.settings, &outputs);
    let reference = case.output_paths("opencv");
    let first = reference.values().next().ok_or("the case has no output")?;
    let mut error = first.clone().into_os_string();
    error.push(".error");
    if let Ok(trace) = std::fs::read_to_string(&error) {
        let last = trace.lines().last().unwrap_or_default().to_owned();
        return match ours {
            Err(e) if e.is_permanent() => Ok(()),
            Err(e) => {
                Err(format!("upstream fails ({last}); ours fails but not permanently: {e}").into())
            }
            Ok(()) => Err(format!("upstream fails ({last}); ours succeeds").into()),
        };
    }
    ours.map_err(|e| format!("upstream succeeds, ours fails: {e}: {}", e.error_details()))?;
    let rust = case.output_paths("rust");
    if case.id.contains("-columns") {
        check_splits_in_gutters(&rust[DATA.0])?;
    }
    for (port, ext) in &case.outputs {
        let (theirs, mine) = (&reference[port], &rust[port]);
        match *ext {
            "png" => compare_exact(theirs, mine).map_err(|e| format!("{port}: {e}"))?,
            "" => compare_folders(theirs, mine).map_err(|e| format!("{port}: {e}"))?,
            _ => {
                let (t, m) = (std::fs::read(theirs)?, std::fs::read(mine)?);
                if t != m {
                    return Err(format!(
                        "{port}: {:?} != {:?}",
                        String::from_utf8_lossy(&t),
                        String::from_utf8_lossy(&m)
                    )
                    .into());
                }
            }
        }
    }
    Ok(())
}

/// The synthetic folios' splits fall in their gutters, the known places between columns.
fn check_splits_in_gutters(data: &Path) -> Result<(), String> {
    let data: Value = serde_json::from_slice(&std::fs::read(data).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let ranges = data["split_ranges"].as_array().ok_or("no split_ranges")?;
    for (c, range) in ranges.iter().enumerate().skip(1) {
        let split = range[0].as_u64().ok_or("a split is a number")? as usize;
        let (lo, hi) = gutter(c - 1);
        if !(lo..hi).contains(&split) {
            return Err(format!("split {split} is outside gutter {c} ({lo}..{hi})"));
        }
    }
    Ok(())
}
