//! Adaptive thresholds: properties checked on their own, and pixel-for-pixel comparisons with
//! Gamera 4.1.0 on synthetic pages and lenna when `RODAN_GAMERA_PYTHON` names the python of
//! `scripts/build-gamera.sh` (skipped, and said so, without it).

#[path = "gamera_adaptive/page.rs"]
mod page;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use image::{GrayImage, Luma};
use libtest_mimic::{Arguments, Completion, Failed, Trial};
use page::synthetic_page;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rodan_jobs::adaptive::{
    AdaptiveError, BLACK, BernsenParams, GatosParams, NiblackParams, SauvolaParams, WHITE,
    bernsen_threshold, brink_find_threshold, brink_threshold, gatos_background, gatos_threshold,
    niblack_threshold, sauvola_threshold,
};
use serde_json::{Value, json};
use support::fixture;

fn lenna() -> std::path::PathBuf {
    fixture("lenna_greyscale-png_output.png")
}
const APPLY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/gamera_adaptive/apply.py"
);

/// A comparison with Gamera, given the venv's python.
type GameraTest = fn(&Path) -> Result<(), Failed>;

fn main() {
    let args = Arguments::from_args();
    let properties: [(&str, fn()); 14] = [
        (
            "constant_images_are_white_above_the_bounds_and_black_below",
            constant_images,
        ),
        (
            "a_dark_square_on_white_paper_is_found_by_each_threshold",
            dark_square_found,
        ),
        (
            "a_region_larger_than_the_image_is_refused",
            region_larger_than_image,
        ),
        (
            "a_one_pixel_image_thresholds_with_region_one",
            one_pixel_image,
        ),
        (
            "sliding_window_sums_equal_direct_window_statistics",
            sliding_equals_direct,
        ),
        (
            "niblack_sliding_window_equals_direct_statistics",
            niblack_sliding_equals_direct,
        ),
        (
            "gatos_background_equals_the_direct_window_mean",
            gatos_background_equals_direct,
        ),
        (
            "gatos_background_keeps_white_pixels_and_fills_black_ones",
            gatos_background_fills,
        ),
        (
            "gatos_threshold_refuses_images_of_other_sizes",
            gatos_size_mismatch,
        ),
        (
            "bernsen_equals_gameras_mirrored_window_computed_directly",
            bernsen_equals_direct,
        ),
        (
            "bernsen_doubtful_pixels_follow_doubt_to_black",
            bernsen_doubt,
        ),
        (
            "brink_splits_a_two_level_image_between_its_levels",
            brink_two_levels,
        ),
        ("sauvola_bounds_override_the_window", sauvola_bounds),
        ("results_hold_only_black_and_white", results_are_binary),
    ];
    let mut trials: Vec<Trial> = properties
        .into_iter()
        .map(|(name, test)| {
            Trial::test(name, move || {
                test();
                Ok(())
            })
        })
        .collect();
    let gamera: [(&str, GameraTest); 6] = [
        ("sauvola_matches_gamera", gamera_sauvola),
        ("niblack_matches_gamera", gamera_niblack),
        ("brink_matches_gamera", gamera_brink),
        ("gatos_background_matches_gamera", gamera_gatos_background),
        ("gatos_threshold_matches_gamera", gamera_gatos_threshold),
        ("bernsen_matches_gamera", gamera_bernsen),
    ];
    trials.extend(gamera.into_iter().map(|(name, test)| {
        Trial::ignorable_test(name, move || {
            match std::env::var_os("RODAN_GAMERA_PYTHON") {
                Some(python) => test(Path::new(&python)).map(|()| Completion::Completed),
                None => Ok(Completion::ignored_with(
                    "skipped: RODAN_GAMERA_PYTHON is not set (scripts/build-gamera.sh prints it)",
                )),
            }
        })
    }));
    libtest_mimic::run(&args, trials).exit();
}

// ---- properties -------------------------------------------------------------------------------

fn constant(width: u32, height: u32, value: u8) -> GrayImage {
    GrayImage::from_pixel(width, height, Luma([value]))
}

fn random_image(width: u32, height: u32, seed: u64) -> GrayImage {
    let mut rng = StdRng::seed_from_u64(seed);
    GrayImage::from_fn(width, height, |_, _| Luma([rng.random()]))
}

fn constant_images() {
    let no_bounds = SauvolaParams {
        lower_bound: 0,
        upper_bound: 256,
        ..SauvolaParams::default()
    };
    // Sauvola's threshold on a flat window is m + 1 - k: flat paper at v is black, since v < v + 0.5.
    for value in [0u8, 19, 20, 100, 149, 150, 255] {
        let image = constant(40, 30, value);
        let expected = if value >= 150 { WHITE } else { BLACK };
        let out = sauvola_threshold(&image, &SauvolaParams::default()).expect("region fits");
        assert!(
            out.iter().all(|&p| p == expected),
            "Sauvola on flat {value}"
        );
        let out = sauvola_threshold(&image, &no_bounds).expect("region fits");
        assert!(
            out.iter().all(|&p| p == BLACK),
            "unbounded Sauvola on flat {value}"
        );
        // Niblack's threshold on a flat window is the value itself, and v > v is false.
        let out = niblack_threshold(&image, &NiblackParams::default()).expect("region fits");
        assert!(
            out.iter().all(|&p| p == expected),
            "Niblack on flat {value}"
        );
        // Bernsen: contrast 0 is doubtful.
        let out = bernsen_threshold(&image, &BernsenParams::default()).expect("region fits");
        assert!(out.iter().all(|&p| p == WHITE), "Bernsen on flat {value}");
        // Brink finds no split (no foreground and background moments): threshold 1.
        let expected = if value > 1 { WHITE } else { BLACK };
        assert!(
            brink_threshold(&image).iter().all(|&p| p == expected),
            "Brink on flat {value}"
        );
    }
}

/// Bernsen with a window (14 wide) that always reaches past [`square_on_paper`]'s square: with a
/// smaller one the square's middle has no contrast and is doubtful.
const BERNSEN_15: BernsenParams = BernsenParams {
    region_size: 15,
    contrast_limit: 80,
    doubt_to_black: false,
};

/// Paper at 220 with an inked 12x12 square at 40 from (20, 16).
fn square_on_paper() -> GrayImage {
    GrayImage::from_fn(64, 48, |x, y| {
        let inside = (20..32).contains(&x) && (16..28).contains(&y);
        Luma([if inside { 40 } else { 220 }])
    })
}

fn dark_square_found() {
    let image = square_on_paper();
    let outputs = [
        (
            "sauvola",
            sauvola_threshold(&image, &SauvolaParams::default()).expect("region fits"),
        ),
        (
            "niblack",
            niblack_threshold(&image, &NiblackParams::default()).expect("region fits"),
        ),
        ("brink", brink_threshold(&image)),
        (
            "bernsen",
            bernsen_threshold(&image, &BERNSEN_15).expect("region fits"),
        ),
    ];
    for (name, out) in outputs {
        for (x, y, pixel) in out.enumerate_pixels() {
            if image.get_pixel(x, y).0[0] == 40 {
                assert_eq!(pixel.0[0], BLACK, "{name}: ink at ({x}, {y}) is black");
            }
        }
        let black = out.iter().filter(|&&p| p == BLACK).count();
        assert_eq!(black, 144, "{name}: nothing but the square is black");
    }
}

fn region_larger_than_image() {
    let image = random_image(20, 12, 1);
    let expected = AdaptiveError::RegionSize {
        region_size: 13,
        max: 12,
        width: 20,
        height: 12,
    };
    let sauvola = SauvolaParams {
        region_size: 13,
        ..SauvolaParams::default()
    };
    assert_eq!(sauvola_threshold(&image, &sauvola), Err(expected.clone()));
    let niblack = NiblackParams {
        region_size: 13,
        ..NiblackParams::default()
    };
    assert_eq!(niblack_threshold(&image, &niblack), Err(expected.clone()));
    assert_eq!(gatos_background(&image, &image, 13), Err(expected.clone()));
    let bernsen = BernsenParams {
        region_size: 13,
        ..BernsenParams::default()
    };
    assert_eq!(bernsen_threshold(&image, &bernsen), Err(expected));
    let zero = SauvolaParams {
        region_size: 0,
        ..SauvolaParams::default()
    };
    assert!(matches!(
        sauvola_threshold(&image, &zero),
        Err(AdaptiveError::RegionSize { region_size: 0, .. })
    ));
    let twelve = SauvolaParams {
        region_size: 12,
        ..SauvolaParams::default()
    };
    assert!(
        sauvola_threshold(&image, &twelve).is_ok(),
        "the shorter side itself fits"
    );
}

fn one_pixel_image() {
    for value in [0u8, 60, 126, 127, 200] {
        let image = constant(1, 1, value);
        let sauvola = SauvolaParams {
            region_size: 1,
            ..SauvolaParams::default()
        };
        let expected = if value >= 150 { WHITE } else { BLACK };
        assert_eq!(
            sauvola_threshold(&image, &sauvola).expect("fits").as_raw(),
            &[expected]
        );
        // Bernsen's empty window: contrast 1, mid-point 127.
        let strict = BernsenParams {
            region_size: 1,
            contrast_limit: 1,
            doubt_to_black: true,
        };
        let expected = if value >= 127 { WHITE } else { BLACK };
        assert_eq!(
            bernsen_threshold(&image, &strict).expect("fits").as_raw(),
            &[expected]
        );
        let doubtful = BernsenParams {
            contrast_limit: 2,
            ..strict
        };
        assert_eq!(
            bernsen_threshold(&image, &doubtful).expect("fits").as_raw(),
            &[BLACK]
        );
        let background = gatos_background(&image, &constant(1, 1, BLACK), 1).expect("fits");
        assert_eq!(
            background.as_raw(),
            &[WHITE],
            "no white pixel in the window"
        );
    }
}

/// Gamera's window around (x, y): clipped to the image, side 2 * (region / 2) + 1.
fn window(image: &GrayImage, x: u32, y: u32, region: u32) -> impl Iterator<Item = (u32, u32)> {
    let half = region / 2;
    let (x0, x1) = (x.saturating_sub(half), (x + half).min(image.width() - 1));
    let (y0, y1) = (y.saturating_sub(half), (y + half).min(image.height() - 1));
    (y0..=y1).flat_map(move |wy| (x0..=x1).map(move |wx| (wx, wy)))
}

/// Gamera's `mean_filter` and `variance_filter` at (x, y): double sums in row order.
fn direct_stats(image: &GrayImage, x: u32, y: u32, region: u32) -> (f64, f64) {
    let (mut sum, mut squares, mut area) = (0.0f64, 0.0f64, 0usize);
    for (wx, wy) in window(image, x, y, region) {
        let v = f64::from(image.get_pixel(wx, wy).0[0]);
        sum += v;
        squares += v * v;
        area += 1;
    }
    let mean = sum / area as f64;
    (mean, squares / area as f64 - mean * mean)
}

fn check_against_direct(
    image: &GrayImage,
    region: u32,
    ours: &GrayImage,
    threshold: impl Fn(f64, f64) -> f64,
    label: &str,
) {
    for (x, y, pixel) in ours.enumerate_pixels() {
        let (mean, variance) = direct_stats(image, x, y, region);
        let value = f64::from(image.get_pixel(x, y).0[0]);
        let expected = if value > threshold(mean, variance) {
            WHITE
        } else {
            BLACK
        };
        assert_eq!(pixel.0[0], expected, "{label}: pixel ({x}, {y})");
    }
}

fn sliding_equals_direct() {
    for (seed, (width, height), region, k, range) in [
        (1, (37, 29), 15, 0.5, 128),
        (2, (64, 17), 4, 0.2, 64),
        (3, (9, 40), 9, 0.9, 255),
        (4, (50, 50), 1, 0.5, 128),
    ] {
        let image = random_image(width, height, seed);
        let params = SauvolaParams {
            region_size: region,
            sensitivity: k,
            dynamic_range: range,
            lower_bound: 0,
            upper_bound: 256,
        };
        let ours = sauvola_threshold(&image, &params).expect("region fits");
        let range = f64::from(range);
        check_against_direct(
            &image,
            region,
            &ours,
            |mean, var| mean + (1.0 - k * (1.0 - var.sqrt() / range)),
            &format!("Sauvola seed {seed}"),
        );
    }
    // Large pages split into several bands of rows.
    let page = synthetic_page(300, 700, 9);
    let params = SauvolaParams {
        lower_bound: 0,
        upper_bound: 256,
        ..SauvolaParams::default()
    };
    let ours = sauvola_threshold(&page, &params).expect("region fits");
    check_against_direct(
        &page,
        15,
        &ours,
        |mean, var| mean + (1.0 - 0.5 * (1.0 - var.sqrt() / 128.0)),
        "Sauvola page",
    );
}

fn niblack_sliding_equals_direct() {
    let image = random_image(45, 33, 5);
    for (region, k) in [(15, -0.2), (6, 0.3), (33, -1.0)] {
        let params = NiblackParams {
            region_size: region,
            sensitivity: k,
            lower_bound: 0,
            upper_bound: 256,
        };
        let ours = niblack_threshold(&image, &params).expect("region fits");
        check_against_direct(
            &image,
            region,
            &ours,
            |mean, var| mean + k * var.sqrt(),
            &format!("Niblack region {region}"),
        );
    }
}

fn gatos_background_equals_direct() {
    let image = random_image(41, 35, 6);
    let binarization = random_image(41, 35, 7);
    for region in [1, 2, 15, 35] {
        let ours = gatos_background(&image, &binarization, region).expect("region fits");
        for (x, y, pixel) in ours.enumerate_pixels() {
            let expected = if binarization.get_pixel(x, y).0[0] >= 128 {
                image.get_pixel(x, y).0[0]
            } else {
                let (mut count, mut sum) = (0u32, 0.0f64);
                for (wx, wy) in window(&image, x, y, region) {
                    if binarization.get_pixel(wx, wy).0[0] >= 128 {
                        count += 1;
                        sum += f64::from(image.get_pixel(wx, wy).0[0]);
                    }
                }
                if count > 0 {
                    (sum / f64::from(count)) as u8
                } else {
                    WHITE
                }
            };
            assert_eq!(pixel.0[0], expected, "region {region}, pixel ({x}, {y})");
        }
    }
}

fn gatos_background_fills() {
    let image = square_on_paper();
    let binarization = bernsen_threshold(&image, &BERNSEN_15).expect("fits");
    let background = gatos_background(&image, &binarization, 15).expect("fits");
    for (x, y, pixel) in background.enumerate_pixels() {
        // The square is 12 wide: every window of 15 around it reaches paper, so the ink is
        // replaced by the paper's mean.
        assert_eq!(pixel.0[0], 220, "background at ({x}, {y})");
    }
    let threshold = gatos_threshold(&image, &background, &binarization, &GatosParams::default())
        .expect("same sizes");
    assert_eq!(
        threshold, binarization,
        "Gatos keeps the square and nothing else"
    );
}

fn gatos_size_mismatch() {
    let image = random_image(10, 10, 8);
    let other = random_image(10, 11, 8);
    assert_eq!(
        gatos_threshold(&image, &other, &image, &GatosParams::default()),
        Err(AdaptiveError::SizeMismatch {
            name: "background",
            expected: (10, 10),
            found: (10, 11),
        })
    );
    assert!(matches!(
        gatos_background(&image, &other, 3),
        Err(AdaptiveError::SizeMismatch {
            name: "binarization",
            ..
        })
    ));
}

fn bernsen_equals_direct() {
    let image = random_image(23, 19, 10);
    for (region, limit, doubt) in [
        (11, 80, false),
        (2, 30, true),
        (19, 200, true),
        (5, 0, false),
    ] {
        let params = BernsenParams {
            region_size: region,
            contrast_limit: limit,
            doubt_to_black: doubt,
        };
        let ours = bernsen_threshold(&image, &params).expect("region fits");
        let half = (region / 2) as i64;
        let (width, height) = (i64::from(image.width()), i64::from(image.height()));
        for (x, y, pixel) in ours.enumerate_pixels() {
            let (x, y) = (i64::from(x), i64::from(y));
            let (mut lo, mut hi) = (255u8, 0u8);
            for dy in -half..half {
                let wy = if (0..height).contains(&(y + dy)) {
                    y + dy
                } else {
                    y - dy
                };
                for dx in -half..half {
                    let wx = if (0..width).contains(&(x + dx)) {
                        x + dx
                    } else {
                        x - dx
                    };
                    let v = image.get_pixel(wx as u32, wy as u32).0[0];
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
            let v = image.get_pixel(x as u32, y as u32).0[0];
            let expected = if hi - lo < limit {
                if doubt { BLACK } else { WHITE }
            } else if u16::from(v) >= (u16::from(hi) + u16::from(lo)) / 2 {
                WHITE
            } else {
                BLACK
            };
            assert_eq!(pixel.0[0], expected, "region {region}, pixel ({x}, {y})");
        }
    }
}

fn bernsen_doubt() {
    let image = constant(8, 8, 90);
    for (doubt, expected) in [(true, BLACK), (false, WHITE)] {
        let params = BernsenParams {
            region_size: 3,
            contrast_limit: 1,
            doubt_to_black: doubt,
        };
        let out = bernsen_threshold(&image, &params).expect("fits");
        assert!(out.iter().all(|&p| p == expected));
    }
}

fn brink_two_levels() {
    let image = GrayImage::from_fn(30, 30, |x, _| Luma([if x < 10 { 30 } else { 210 }]));
    let threshold = brink_find_threshold(&image);
    assert!((30..210).contains(&threshold), "threshold {threshold}");
    let out = brink_threshold(&image);
    for (x, _, pixel) in out.enumerate_pixels() {
        assert_eq!(pixel.0[0], if x < 10 { BLACK } else { WHITE });
    }
}

fn sauvola_bounds() {
    let image = random_image(30, 30, 11);
    let params = SauvolaParams {
        lower_bound: 100,
        upper_bound: 120,
        ..SauvolaParams::default()
    };
    let out = sauvola_threshold(&image, &params).expect("fits");
    for (pixel, value) in out.iter().zip(image.iter()) {
        if *value < 100 {
            assert_eq!(*pixel, BLACK);
        } else if *value >= 120 {
            assert_eq!(*pixel, WHITE);
        }
    }
    // A lower bound above the upper one wins, as Gamera tests it first.
    let crossed = SauvolaParams {
        lower_bound: 256,
        upper_bound: 0,
        ..SauvolaParams::default()
    };
    let out = sauvola_threshold(&image, &crossed).expect("fits");
    assert!(out.iter().all(|&p| p == BLACK));
}

fn results_are_binary() {
    let page = synthetic_page(200, 150, 12);
    let sauvola = sauvola_threshold(&page, &SauvolaParams::default()).expect("fits");
    let background = gatos_background(&page, &sauvola, 15).expect("fits");
    let outputs = [
        niblack_threshold(&page, &NiblackParams::default()).expect("fits"),
        gatos_threshold(&page, &background, &sauvola, &GatosParams::default()).expect("fits"),
        bernsen_threshold(&page, &BernsenParams::default()).expect("fits"),
        brink_threshold(&page),
        sauvola,
    ];
    for out in outputs {
        let black = out.iter().filter(|&&p| p == BLACK).count();
        let white = out.iter().filter(|&&p| p == WHITE).count();
        assert_eq!(black + white, out.len(), "only black and white");
        assert!(black > 0 && white > 0, "a page has ink and paper");
    }
}

// ---- comparisons with Gamera ------------------------------------------------------------------

/// One call of a Gamera function and our result for it.
struct Case {
    label: String,
    function: &'static str,
    inputs: Vec<(&'static str, GrayImage)>,
    args: Value,
    ours: GrayImage,
}

/// The images compared: synthetic pages of three shapes and lenna (when shared/ is there).
fn reference_images() -> Vec<(String, GrayImage)> {
    let mut images = vec![
        ("page 600x800".to_string(), synthetic_page(600, 800, 1)),
        ("page 640x480".to_string(), synthetic_page(640, 480, 2)),
        ("page 301x257".to_string(), synthetic_page(301, 257, 3)),
    ];
    match image::open(lenna()) {
        Ok(lenna) => images.push(("lenna".to_string(), lenna.to_luma8())),
        Err(error) => eprintln!("lenna left out: {}: {error}", lenna().display()),
    }
    images
}

/// Runs every case through Gamera in one process and compares each output pixel for pixel.
fn compare_with_gamera(python: &Path, cases: Vec<Case>) -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let mut requests = Vec::new();
    let mut outputs: Vec<PathBuf> = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let mut inputs = serde_json::Map::new();
        for (name, image) in &case.inputs {
            let path = dir.path().join(format!("{i}-{name}.png"));
            image
                .save(&path)
                .map_err(|e| format!("write {}: {e}", path.display()))?;
            inputs.insert((*name).to_string(), json!(path));
        }
        let output = dir.path().join(format!("{i}-gamera.png"));
        requests.push(json!({
            "function": case.function,
            "inputs": inputs,
            "args": case.args,
            "output": output,
        }));
        outputs.push(output);
    }
    let cases_path = dir.path().join("cases.json");
    std::fs::write(&cases_path, Value::Array(requests).to_string())
        .map_err(|e| format!("write cases: {e}"))?;
    let run = Command::new(python)
        .arg(APPLY)
        .arg(&cases_path)
        .output()
        .map_err(|e| format!("run {}: {e}", python.display()))?;
    if !run.status.success() {
        return Err(format!("Gamera failed: {}", String::from_utf8_lossy(&run.stderr)).into());
    }
    let mut failures = Vec::new();
    for (case, output) in cases.iter().zip(&outputs) {
        let theirs = image::open(output)
            .map_err(|e| format!("read {}: {e}", output.display()))?
            .to_luma8();
        if theirs.dimensions() != case.ours.dimensions() {
            failures.push(format!("{}: size {:?}", case.label, theirs.dimensions()));
            continue;
        }
        let differing: Vec<(u32, u32)> = case
            .ours
            .enumerate_pixels()
            .filter(|(x, y, p)| theirs.get_pixel(*x, *y) != *p)
            .map(|(x, y, _)| (x, y))
            .collect();
        if let Some(first) = differing.first() {
            failures.push(format!(
                "{}: {} pixels differ, first at {first:?}",
                case.label,
                differing.len()
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n").into())
    }
}

fn gamera_sauvola(python: &Path) -> Result<(), Failed> {
    let settings = [
        SauvolaParams::default(),
        SauvolaParams {
            region_size: 3,
            ..SauvolaParams::default()
        },
        SauvolaParams {
            region_size: 16,
            sensitivity: 0.2,
            dynamic_range: 64,
            ..SauvolaParams::default()
        },
        SauvolaParams {
            region_size: 41,
            sensitivity: 0.8,
            lower_bound: 0,
            upper_bound: 255,
            ..SauvolaParams::default()
        },
    ];
    let mut cases = Vec::new();
    for (name, image) in reference_images() {
        for p in settings {
            cases.push(Case {
                label: format!("{name} {p:?}"),
                function: "sauvola_threshold",
                args: json!([
                    p.region_size,
                    p.sensitivity,
                    p.dynamic_range,
                    p.lower_bound,
                    p.upper_bound
                ]),
                ours: sauvola_threshold(&image, &p).map_err(|e| e.to_string())?,
                inputs: vec![("src", image.clone())],
            });
        }
    }
    compare_with_gamera(python, cases)
}

fn gamera_niblack(python: &Path) -> Result<(), Failed> {
    let settings = [
        NiblackParams::default(),
        NiblackParams {
            region_size: 31,
            sensitivity: -0.5,
            ..NiblackParams::default()
        },
        NiblackParams {
            region_size: 6,
            sensitivity: 0.3,
            lower_bound: 0,
            upper_bound: 255,
        },
    ];
    let mut cases = Vec::new();
    for (name, image) in reference_images() {
        for p in settings {
            cases.push(Case {
                label: format!("{name} {p:?}"),
                function: "niblack_threshold",
                args: json!([p.region_size, p.sensitivity, p.lower_bound, p.upper_bound]),
                ours: niblack_threshold(&image, &p).map_err(|e| e.to_string())?,
                inputs: vec![("src", image.clone())],
            });
        }
    }
    compare_with_gamera(python, cases)
}

fn gamera_brink(python: &Path) -> Result<(), Failed> {
    let mut images = reference_images();
    images.push(("random 64x48".to_string(), random_image(64, 48, 13)));
    images.push(("square".to_string(), square_on_paper()));
    let cases = images
        .into_iter()
        .map(|(name, image)| Case {
            label: name,
            function: "brink_threshold",
            args: json!([]),
            ours: brink_threshold(&image),
            inputs: vec![("src", image)],
        })
        .collect();
    compare_with_gamera(python, cases)
}

/// A preliminary binarization as a Rodan workflow makes it: Sauvola with default settings.
fn preliminary(image: &GrayImage) -> Result<GrayImage, Failed> {
    Ok(sauvola_threshold(image, &SauvolaParams::default()).map_err(|e| e.to_string())?)
}

fn gamera_gatos_background(python: &Path) -> Result<(), Failed> {
    let mut cases = Vec::new();
    for (name, image) in reference_images() {
        let binarization = preliminary(&image)?;
        for region in [15, 5, 40] {
            cases.push(Case {
                label: format!("{name} region {region}"),
                function: "gatos_background",
                args: json!([region]),
                ours: gatos_background(&image, &binarization, region).map_err(|e| e.to_string())?,
                inputs: vec![
                    ("src", image.clone()),
                    ("binarization", binarization.clone()),
                ],
            });
        }
    }
    compare_with_gamera(python, cases)
}

fn gamera_gatos_threshold(python: &Path) -> Result<(), Failed> {
    let settings = [
        GatosParams::default(),
        GatosParams {
            q: 0.8,
            p1: 0.3,
            p2: 0.6,
        },
    ];
    let mut cases = Vec::new();
    for (name, image) in reference_images() {
        let binarization = preliminary(&image)?;
        let background = gatos_background(&image, &binarization, 15).map_err(|e| e.to_string())?;
        for p in settings {
            cases.push(Case {
                label: format!("{name} {p:?}"),
                function: "gatos_threshold",
                args: json!([p.q, p.p1, p.p2]),
                ours: gatos_threshold(&image, &background, &binarization, &p)
                    .map_err(|e| e.to_string())?,
                inputs: vec![
                    ("src", image.clone()),
                    ("background", background.clone()),
                    ("binarization", binarization.clone()),
                ],
            });
        }
    }
    compare_with_gamera(python, cases)
}

fn gamera_bernsen(python: &Path) -> Result<(), Failed> {
    let settings = [
        BernsenParams::default(),
        BernsenParams {
            region_size: 2,
            contrast_limit: 30,
            doubt_to_black: true,
        },
        BernsenParams {
            region_size: 25,
            contrast_limit: 20,
            doubt_to_black: false,
        },
        BernsenParams {
            region_size: 1,
            contrast_limit: 0,
            doubt_to_black: false,
        },
    ];
    let mut cases = Vec::new();
    for (name, image) in reference_images() {
        for p in settings {
            cases.push(Case {
                label: format!("{name} {p:?}"),
                function: "bernsen_threshold",
                // Storage format 0 (dense): it never changes pixels.
                args: json!([0, p.region_size, p.contrast_limit, p.doubt_to_black]),
                ours: bernsen_threshold(&image, &p).map_err(|e| e.to_string())?,
                inputs: vec![("src", image.clone())],
            });
        }
    }
    compare_with_gamera(python, cases)
}
