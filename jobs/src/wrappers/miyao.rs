//! The MusicStaves Miyao jobs: 'Miyao Staff Finder' (upstream
//! `gamera_rodan/wrappers/toolkits/music_staves/miyao.py`: staff polygons and the image masked by
//! them) and the aOMR 'Miyao Staff Finding' (upstream `heuristic_pitch_finding/base.py`: the staves
//! as JSOMR).

use std::path::Path;

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::{load_input, write_file};
use crate::descriptor::{Spec, describe, port};
use crate::gamera::conversion::{to_grey16, to_greyscale, to_onebit, to_rgb};
use crate::gamera::png::save_png;
use crate::gamera::{Image, Plane, Rgb, WHITE};
use crate::job::{Inputs, Job, JobError, Outputs};
use crate::musicstaves::jsomr::{self, JsomrError};
use crate::musicstaves::{StaffError, StaffFinder, polygons};
use crate::pil::draw::fill_polygon;
use crate::settings::Settings;

const FINDER_INPUT: &str = "Greyscale or one-bit PNG image";
const FINDER_MASK: &str = "PNG image (Miyao results used as mask)";
const FINDER_POLYGONS: &str = "Polygons (Miyao results)";

const FINDING_INPUT: &str = "Image containing staves (RGB, greyscale, or onebit)";
const FINDING_OUTPUT: &str = "JSOMR";

/// A page without a single black pixel has no staves to find.
fn refuse_blank(job: &str, onebit: &Plane<u8>) -> Result<(), JobError> {
    if onebit.pixels().iter().all(|&v| v == WHITE) {
        return Err(JobError::bad_input(
            format!("{job}: the image is blank"),
            format!(
                "'{job}' looks for staff lines, and the image (once one-bit) has no black pixel"
            ),
        ));
    }
    Ok(())
}

fn staff_error(job: &str, e: StaffError) -> JobError {
    JobError::bad_input(
        format!("{job}: Miyao staff finding failed: {e}"),
        format!(
            "MusicStaves' StaffFinder_miyao.find_staves fails on this image with these settings \
             ({e}); upstream's job fails the same way"
        ),
    )
}

/// Upstream's `ensure_pixel_type`: `image` converted to the pixel type of `resource_type`.
fn ensure_pixel_type(image: Image, resource_type: &str) -> Result<Image, JobError> {
    let converted = match resource_type {
        "image/onebit+png" => Image::OneBit(to_onebit(&image)?),
        "image/greyscale+png" => Image::GreyScale(to_greyscale(&image)?),
        "image/grey16+png" => Image::Grey16(to_grey16(&image)),
        "image/rgb+png" => Image::Rgb(to_rgb(&image)?),
        other => {
            return Err(JobError::bad_input(
                format!("cannot write an image as {other}"),
                format!("the output resource type {other} is not a Gamera PNG image type"),
            ));
        }
    };
    Ok(converted)
}

/// "Miyao Staff Finder": the staves' outlines as polygons (Python `str()` of a list of lists of
/// `(x, y)`) and the image with everything outside them white.
#[derive(Debug, Clone, Copy, Default)]
pub struct MiyaoStaffFinder;

impl MiyaoStaffFinder {
    fn schema() -> Value {
        json!({
            "title": "Miyao settings",
            "type": "object",
            "job_queue": "Python3",
            "required": ["Number of lines", "Scan lines", "Blackness", "Tolerance"],
            "properties": {
                "Number of lines": {
                    "type": "integer",
                    "default": 0,
                    "minimum": -1048576,
                    "maximum": 1048576,
                    "description": "Number of lines within one staff. When zero, the number is automatically detected."
                },
                "Scan lines": {
                    "type": "integer",
                    "default": 20,
                    "minimum": -1048576,
                    "maximum": 1048576,
                    "description": "Number of vertical scan lines for extracting candidate points."
                },
                "Blackness": {
                    "type": "number",
                    "default": 0.8,
                    "minimum": -1048576,
                    "maximum": 1048576,
                    "description": "Required blackness on the connection line between two candidate points in order to consider them matching."
                },
                "Tolerance": {
                    "type": "integer",
                    "default": -1,
                    "minimum": -1048576,
                    "maximum": 1048576,
                    "description": "How much the vertical black runlength of a candidate point may deviate from staffline_height. When negative, this value is set to *max([2, staffline_height / 4])*"
                }
            }
        })
    }
}

/// A setting that must not be negative (MusicStaves loops without end or fails on one).
fn non_negative(s: &Settings<'_>, key: &str) -> Result<i64, JobError> {
    let v = s.integer(key)?;
    if v < 0 {
        return Err(JobError::bad_settings(
            format!("setting '{key}' is negative"),
            format!("'{key}' must be 0 or more for Miyao's staff finding, got {v}"),
        ));
    }
    Ok(v)
}

/// Pillow's white `L` image of the page with the polygons filled black.
fn polygon_mask(
    width: usize,
    height: usize,
    polys: &[Vec<crate::musicstaves::Point>],
) -> Plane<u8> {
    let mut mask = Plane::new(width, height, 255u8);
    for poly in polys {
        let pts: Vec<(i32, i32)> = poly.iter().map(|p| (p.x as i32, p.y as i32)).collect();
        fill_polygon(&mut mask, &pts, 0);
    }
    mask
}

/// Gamera's `mask`: the pixels of `rgb` where `mask` is black, white elsewhere.
fn apply_mask(rgb: &Plane<Rgb>, mask: &Plane<u8>) -> Plane<Rgb> {
    let data = rgb
        .pixels()
        .iter()
        .zip(mask.pixels())
        .map(|(&p, &m)| if m != WHITE { p } else { [255; 3] })
        .collect();
    Plane::from_vec(rgb.width(), rgb.height(), data).unwrap_or_else(|| rgb.clone())
}

impl Job for MiyaoStaffFinder {
    fn name(&self) -> &'static str {
        "Miyao Staff Finder"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: "Deepanjan Roy",
                description: "use Miyao staff finding algorithm to detect staff lines.",
                category: "Gamera - Music Staves",
            },
            Self::schema(),
            vec![port(
                FINDER_INPUT,
                1,
                1,
                &["image/onebit+png", "image/greyscale+png"],
            )],
            vec![
                port(
                    FINDER_MASK,
                    0,
                    2,
                    &["image/onebit+png", "image/greyscale+png"],
                ),
                port(FINDER_POLYGONS, 0, 1, &["application/gamera-polygons+txt"]),
            ],
        )
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let schema = Self::schema();
        let s = Settings::new(&schema, settings)?;
        let num_lines = non_negative(&s, "Number of lines")?;
        let scanlines = non_negative(&s, "Scan lines")?;
        let blackness = s.number("Blackness")?;
        let tolerance = s.integer("Tolerance")?;

        let image = load_input(inputs, FINDER_INPUT)?;
        let onebit = to_onebit(&image)?;
        refuse_blank(self.name(), &onebit)?;
        let finder = StaffFinder::new(&onebit);
        let mut staves = finder
            .find_staves_miyao(num_lines, scanlines as u32, blackness, tolerance)
            .map_err(|e| staff_error(self.name(), e))?;
        polygons::even_out(&mut staves, finder.staffspace_height);
        let polys = polygons::outlines(&staves);

        if let Some(out) = outputs.get(FINDER_POLYGONS).first() {
            write_file(&out.path, polygons::python_str(&polys).as_bytes())?;
        }
        let masks = outputs.get(FINDER_MASK);
        if let Some(first) = masks.first() {
            let (w, h) = image.dimensions();
            let mask = to_onebit(&Image::GreyScale(polygon_mask(w, h, &polys)))?;
            let masked = Image::Rgb(apply_mask(&to_rgb(&image)?, &mask));
            let result = ensure_pixel_type(masked, &first.resource_type)?;
            for out in masks {
                save_png(&result, &out.path)?;
            }
        }
        Ok(())
    }
}

/// "Miyao Staff Finding": the staves of the page as aOMR JSOMR.
#[derive(Debug, Clone, Copy, Default)]
pub struct MiyaoStaffFinding;

impl MiyaoStaffFinding {
    fn schema() -> Value {
        json!({
            "title": "Settings",
            "type": "object",
            "job_queue": "Python3",
            "required": ["Number of lines", "Interpolation"],
            "properties": {
                "Number of lines": {
                    "type": "integer",
                    "default": 4,
                    "minimum": 0,
                    "maximum": 8,
                    "description": "Number of lines within each staff. When zero, the number is automatically detected."
                },
                "Interpolation": {
                    "type": "boolean",
                    "default": true,
                    "description": "Interpolate found line points so all lines have the same number of points. This MUST be True for pitch finding to succeed."
                }
            }
        })
    }
}

/// Gamera's `image.resolution` of a PNG: the mean of its horizontal and vertical pixels per
/// inch from `pHYs` (0 without one or with an unspecified unit).
fn png_resolution(path: &Path) -> f64 {
    let Ok(file) = std::fs::File::open(path) else {
        return 0.0;
    };
    let Ok(reader) = png::Decoder::new(std::io::BufReader::new(file)).read_info() else {
        return 0.0;
    };
    match reader.info().pixel_dims {
        Some(d) if d.unit == png::Unit::Meter => {
            (f64::from(d.xppu) * 0.0254 + f64::from(d.yppu) * 0.0254) / 2.0
        }
        _ => 0.0,
    }
}

impl Job for MiyaoStaffFinding {
    fn name(&self) -> &'static str {
        "Miyao Staff Finding"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: "Noah Baxter",
                description: "Finds the location of staves in an image and returns them as a JSOMR file.",
                category: "aOMR",
            },
            Self::schema(),
            vec![port(
                FINDING_INPUT,
                1,
                1,
                &["image/rgb+png", "image/onebit+png", "image/greyscale+png"],
            )],
            vec![port(FINDING_OUTPUT, 1, 1, &["application/json"])],
        )
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let schema = Self::schema();
        let s = Settings::new(&schema, settings)?;
        let lines = s.integer("Number of lines")?;
        let interpolation = s.boolean("Interpolation")?;

        let input = inputs.first(FINDING_INPUT)?;
        let image = load_input(inputs, FINDING_INPUT)?;
        let resolution = png_resolution(&input.path);
        let (w, h) = image.dimensions();
        let onebit = match &image {
            Image::OneBit(p) => p.clone(),
            other => jsomr::binarize(other)?,
        };
        refuse_blank(self.name(), &onebit)?;
        let staves = jsomr::staff_records(&onebit, lines, interpolation).map_err(|e| {
            let why = match &e {
                JsomrError::NoStaves => {
                    "Miyao's staff finder found no staves with any blackness from 0.8 down to 0.3"
                        .to_owned()
                }
                other => other.to_string(),
            };
            JobError::bad_input(
                format!("{}: {e}", self.name()),
                format!("{why}; upstream's job fails on this image too"),
            )
        })?;
        let json = jsomr::to_json(resolution, w, h, &staves).to_json();
        write_file(&outputs.first(FINDING_OUTPUT)?.path, json.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gamera::BLACK;
    use crate::gamera::png::load_png;
    use crate::job::Ports;
    use crate::pyjson;

    /// A one-bit page with two staves of five 3-pixel lines 20 rows apart.
    fn staves_page(dir: &Path) -> std::path::PathBuf {
        let mut p = Plane::new(400, 300, WHITE);
        for top in [40usize, 170] {
            for l in 0..5 {
                for t in 0..3 {
                    for x in 20..380 {
                        p.set(x, top + l * 20 + t, BLACK);
                    }
                }
            }
        }
        let path = dir.join("staves.png");
        save_png(&Image::OneBit(p), &path).expect("written");
        path
    }

    fn finder_ports(input: &Path, dir: &Path) -> (Ports, Ports) {
        (
            Ports::new().with(FINDER_INPUT, input, "image/onebit+png"),
            Ports::new()
                .with(FINDER_MASK, dir.join("mask.png"), "image/onebit+png")
                .with(
                    FINDER_POLYGONS,
                    dir.join("polys.txt"),
                    "application/gamera-polygons+txt",
                ),
        )
    }

    fn finding_ports(input: &Path, dir: &Path) -> (Ports, Ports) {
        (
            Ports::new().with(FINDING_INPUT, input, "image/onebit+png"),
            Ports::new().with(FINDING_OUTPUT, dir.join("out.json"), "application/json"),
        )
    }

    #[test]
    fn the_finder_outlines_each_staff_and_masks_everything_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let page = staves_page(dir.path());
        let (i, o) = finder_ports(&page, dir.path());
        MiyaoStaffFinder
            .run(&i, &json!({}), &o)
            .expect("staves found");
        let polys = std::fs::read_to_string(dir.path().join("polys.txt")).expect("written");
        // Scan lines at k × 400 / 21: the first (19) and last (380) miss the lines, which are
        // then followed to their ends at 20 and 379.
        let mut xs = vec![20];
        xs.extend((2..20).map(|k| (f64::from(k) * (400.0 / 21.0)) as i64));
        xs.push(379);
        let outline = |top: i64, bottom: i64| {
            let mut pts: Vec<String> = xs.iter().map(|x| format!("({x}, {top})")).collect();
            pts.extend(xs.iter().rev().map(|x| format!("({x}, {bottom})")));
            format!("[{}]", pts.join(", "))
        };
        assert_eq!(
            polys,
            format!("[{}, {}]", outline(41, 121), outline(171, 251))
        );
        let Image::OneBit(mask) = load_png(&dir.path().join("mask.png")).expect("a PNG") else {
            panic!("the mask is written one-bit");
        };
        // Inside the outline (rows 41..=121) the page's pixels stay: line and space; the first
        // line's top row (40) and the last line's bottom row (122) lie outside and turn white.
        assert_eq!(mask.get(100, 41), BLACK);
        assert_eq!(mask.get(100, 50), WHITE);
        assert_eq!(mask.get(100, 60), BLACK);
        assert_eq!(mask.get(100, 121), BLACK);
        assert_eq!(mask.get(100, 40), WHITE);
        assert_eq!(mask.get(100, 122), WHITE);
    }

    #[test]
    fn the_jsomr_has_the_page_and_each_staff_with_its_ledger_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let page = staves_page(dir.path());
        let (i, o) = finding_ports(&page, dir.path());
        MiyaoStaffFinding
            .run(&i, &json!({"Number of lines": 5}), &o)
            .expect("staves found");
        let text = std::fs::read_to_string(dir.path().join("out.json")).expect("written");
        let v = pyjson::Value::parse(&text).expect("JSON");
        assert_eq!(v.to_json(), text, "written as json.dumps writes");
        let page = v.get("page").expect("page");
        assert_eq!(page.get("resolution"), Some(&pyjson::Value::Float(0.0)));
        let staves = v
            .get("staves")
            .and_then(pyjson::Value::as_list)
            .expect("staves");
        assert_eq!(staves.len(), 2);
        let first = &staves[0];
        assert_eq!(
            first.get("staff_no").and_then(pyjson::Value::as_i64),
            Some(1)
        );
        assert_eq!(
            first.get("num_lines").and_then(pyjson::Value::as_i64),
            Some(5)
        );
        let lines = first
            .get("line_positions")
            .and_then(pyjson::Value::as_list)
            .expect("lines");
        let ys: Vec<i64> = lines
            .iter()
            .filter_map(|l| l.as_list()?.first()?.as_list()?.get(1)?.as_i64())
            .collect();
        // Ledger lines two and four half-gaps (of 20 rows) above and below.
        assert_eq!(ys, [1, 21, 41, 61, 81, 101, 121, 141, 161]);
        let bbox = first.get("bounding_box").expect("bbox");
        assert_eq!(bbox.get("uly").and_then(pyjson::Value::as_i64), Some(41));
        assert_eq!(bbox.get("nrows").and_then(pyjson::Value::as_i64), Some(80));
    }

    #[test]
    fn non_images_and_blank_pages_are_refused_as_bad_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = dir.path().join("text.png");
        std::fs::write(&text, "not an image").expect("write");
        let blank = dir.path().join("blank.png");
        save_png(&Image::OneBit(Plane::new(60, 40, WHITE)), &blank).expect("written");
        for input in [&text, &blank] {
            let (i, o) = finder_ports(input, dir.path());
            let err = MiyaoStaffFinder
                .run(&i, &json!({}), &o)
                .expect_err("refused");
            assert!(matches!(err, JobError::BadInput { .. }), "{err}");
            let (i, o) = finding_ports(input, dir.path());
            let err = MiyaoStaffFinding
                .run(&i, &json!({}), &o)
                .expect_err("refused");
            assert!(matches!(err, JobError::BadInput { .. }), "{err}");
        }
        let (i, o) = finder_ports(&blank, dir.path());
        let err = MiyaoStaffFinder.run(&i, &json!({}), &o).expect_err("blank");
        assert!(
            err.error_summary().contains("blank"),
            "{}",
            err.error_summary()
        );
    }

    #[test]
    fn a_page_without_staves_fails_staff_finding_but_gives_the_finder_no_polygons() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Black only on the bottom row: no vertical run ends on the page, so there is no staff
        // line height and no candidate point.
        let mut p = Plane::new(100, 100, WHITE);
        for x in 0..100 {
            p.set(x, 99, BLACK);
        }
        let path = dir.path().join("bottom.png");
        save_png(&Image::OneBit(p), &path).expect("written");
        let (i, o) = finding_ports(&path, dir.path());
        let err = MiyaoStaffFinding
            .run(&i, &json!({}), &o)
            .expect_err("no staves");
        assert!(matches!(err, JobError::BadInput { .. }), "{err}");
        assert!(
            err.error_details().contains("0.3"),
            "{}",
            err.error_details()
        );
        // Upstream's finder writes an empty list and an all-white mask.
        let (i, o) = finder_ports(&path, dir.path());
        MiyaoStaffFinder
            .run(&i, &json!({}), &o)
            .expect("nothing found is no error");
        let polys = std::fs::read_to_string(dir.path().join("polys.txt")).expect("written");
        assert_eq!(polys, "[]");
        let Image::OneBit(mask) = load_png(&dir.path().join("mask.png")).expect("a PNG") else {
            panic!("the mask is written one-bit");
        };
        assert!(mask.pixels().iter().all(|&v| v == WHITE));
    }

    #[test]
    fn negative_line_or_scan_line_counts_are_settings_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let page = staves_page(dir.path());
        let (i, o) = finder_ports(&page, dir.path());
        for settings in [json!({"Number of lines": -1}), json!({"Scan lines": -5})] {
            let err = MiyaoStaffFinder
                .run(&i, &settings, &o)
                .expect_err("negative");
            assert!(matches!(err, JobError::BadSettings { .. }), "{err}");
        }
        let (i, o) = finding_ports(&page, dir.path());
        let err = MiyaoStaffFinding
            .run(&i, &json!({"Number of lines": 9}), &o)
            .expect_err("above the schema's maximum");
        assert!(matches!(err, JobError::BadSettings { .. }), "{err}");
        // Staves of fewer than four lines cannot get upstream's ledger lines.
        let err = MiyaoStaffFinding
            .run(&i, &json!({"Number of lines": 3}), &o)
            .expect_err("three lines");
        assert!(
            err.error_summary().contains("at least 4"),
            "{}",
            err.error_summary()
        );
    }

    #[test]
    fn the_page_resolution_is_the_mean_of_the_png_pixels_per_inch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dpi.png");
        let file = std::fs::File::create(&path).expect("create");
        let mut enc = png::Encoder::new(std::io::BufWriter::new(file), 2, 2);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_pixel_dims(Some(png::PixelDimensions {
            xppu: 2835,
            yppu: 5906,
            unit: png::Unit::Meter,
        }));
        let mut w = enc.write_header().expect("header");
        w.write_image_data(&[0, 255, 255, 0]).expect("data");
        w.finish().expect("finished");
        // Gamera 4.1.0 gives 111.01069999999999 for this file.
        assert_eq!(png_resolution(&path), 111.01069999999999);
        assert_eq!(png_resolution(&dir.path().join("none.png")), 0.0);
    }
}
