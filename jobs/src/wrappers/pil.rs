//! The Pillow jobs (upstream `pil_rodan/`): 'PNG (RGB)', 'TIFF', 'Resize Image', 'Red filtering'.

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::write_file;
use crate::descriptor::{Spec, describe, image_types, port};
use crate::job::{Inputs, Job, JobError, Outputs};
use crate::pil::filter::red_filter;
use crate::pil::resample::resize;
use crate::pil::{PilImage, flatten_on_white, open, save_png, save_tiff, to_rgb};
use crate::settings::Settings;

const IMAGE: &str = "Image";

/// 'PNG (RGB)': any image to an RGB PNG; RGBA is composited on white.
#[derive(Debug, Clone, Copy, Default)]
pub struct ToPng;

const RGB_PNG: &str = "RGB PNG Image";

impl Job for ToPng {
    fn name(&self) -> &'static str {
        "PNG (RGB)"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: "Andrew Hankinson",
                description: "Convert image to png format",
                category: "PIL - Conversion",
            },
            json!({"job_queue": "Python3"}),
            vec![port(IMAGE, 1, 1, &image_types())],
            vec![port(RGB_PNG, 1, 1, &["image/rgb+png"])],
        )
    }

    fn run(&self, inputs: &Inputs, _settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let image = open(&inputs.first(IMAGE)?.path)?;
        let rgb = PilImage::Rgb(flatten_on_white(&image));
        save_png(&rgb, &outputs.first(RGB_PNG)?.path)
    }
}

/// 'TIFF': any image to an RGB TIFF (alpha dropped).
#[derive(Debug, Clone, Copy, Default)]
pub struct ToTiff;

const TIFF_IMAGE: &str = "TIFF Image";

impl Job for ToTiff {
    fn name(&self) -> &'static str {
        "TIFF"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: "Ling-Xiao Yang",
                description: "Convert image to tiff format",
                category: "PIL - Conversion",
            },
            json!({"job_queue": "Python3"}),
            vec![port(IMAGE, 1, 1, &image_types())],
            vec![port(TIFF_IMAGE, 1, 1, &["image/tiff"])],
        )
    }

    fn run(&self, inputs: &Inputs, _settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let image = open(&inputs.first(IMAGE)?.path)?;
        save_tiff(&to_rgb(&image), &outputs.first(TIFF_IMAGE)?.path)
    }
}

/// 'Resize Image': scales by a ratio, or to an ideal staff height of 64 pixels.
#[derive(Debug, Clone, Copy, Default)]
pub struct Resize;

const RESIZED: &str = "Resized PNG Image";
const INVERSE: &str = "Inverse Scale Ratio";
const SCALE_VALUE: &str = "Scale Value";
const ACTION: &str = "Action";
/// Upstream's `IDEAL_SSH_PX`, the staff height of the old Salzinnes images.
const IDEAL_STAFF_HEIGHT: f64 = 64.0;

impl Job for Resize {
    fn name(&self) -> &'static str {
        "Resize Image"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: "Juliette Regimbal",
                description: "Resize an image",
                category: "PIL - Manipulation",
            },
            json!({
                "title": "Options",
                "type": "object",
                "properties": {
                    SCALE_VALUE: {
                        "type": "number",
                        "default": 1,
                        "minimum": 0,
                        "exclusiveMinimum": true
                    },
                    ACTION: {
                        "enum": ["Staff Scale Height", "Ratio"],
                        "type": "string",
                        "default": "Ratio",
                        "description": "The way to interpret the provided value. If staff size height, then scale the image such that meets an ideal staff size height for layer training and it classification. If a ratio, scale by that ratio (i.e. 0.5 reduces dimensions by half.)"
                    }
                },
                "job_queue": "Python3"
            }),
            vec![port(IMAGE, 1, 1, &image_types())],
            vec![
                port(RESIZED, 1, 1, &["image/rgb+png"]),
                port(INVERSE, 0, 1, &["text/plain"]),
            ],
        )
    }

    /// Upstream keeps the image's mode (a grey image gives a grey PNG) and truncates the new size.
    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let schema = self.descriptor().settings;
        let s = Settings::new(&schema, settings)?;
        let value = s.number(SCALE_VALUE)?;
        let ratio = if s.enum_index(ACTION)? == 1 {
            value
        } else {
            IDEAL_STAFF_HEIGHT / value
        };
        let image = open(&inputs.first(IMAGE)?.path)?;
        let (w, h) = image.size();
        let (new_w, new_h) = ((w as f64 * ratio) as usize, (h as f64 * ratio) as usize);
        if new_w == 0 || new_h == 0 {
            return Err(JobError::bad_settings(
                "the resized image would be empty",
                format!("{w}x{h} scaled by {ratio} is {new_w}x{new_h}"),
            ));
        }
        save_png(&resize(&image, new_w, new_h), &outputs.first(RESIZED)?.path)?;
        if let Some(out) = outputs.get(INVERSE).first() {
            write_file(&out.path, python_float(1.0 / ratio).as_bytes())?;
        }
        Ok(())
    }
}

/// Python's `str(float)`: the shortest repr, with `.0` on integral values and exponents from
/// 1e16 and under 1e-4.
fn python_float(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "nan".to_owned()
        } else if v > 0.0 {
            "inf".to_owned()
        } else {
            "-inf".to_owned()
        };
    }
    let a = v.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let s = format!("{v:e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let s = format!("{v}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

/// 'Red filtering': separates red staff lines from black neumes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedFilter;

const RED_INPUT: &str = "input";
const NEUMELESS: &str = "Neumeless Image";
const STAFFLESS: &str = "Staffless Image";

impl Job for RedFilter {
    fn name(&self) -> &'static str {
        "Red filtering"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: "Rivu Khoda & Yihong Luo",
                description: "Filters a spectrum of red color from image (unlike upstream, the pure white pixels blackened before the colour enhancement are the image's own, not their transposed positions)",
                category: "PIL - Filter",
            },
            json!({"job_queue": "Python3"}),
            vec![port(RED_INPUT, 1, 1, &["image/rgb+png"])],
            vec![
                port(NEUMELESS, 1, 1, &["image/onebit+png"]),
                port(STAFFLESS, 1, 1, &["image/onebit+png"]),
            ],
        )
    }

    fn run(&self, inputs: &Inputs, _settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let image = to_rgb(&open(&inputs.first(RED_INPUT)?.path)?);
        let (staffless, neumeless) = red_filter(&image);
        save_png(&staffless, &outputs.first(STAFFLESS)?.path)?;
        save_png(&neumeless, &outputs.first(NEUMELESS)?.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python_prints_them() {
        assert_eq!(python_float(1.0 / 0.3), "3.3333333333333335");
        assert_eq!(python_float(2.0), "2.0");
        assert_eq!(python_float(0.5), "0.5");
        assert_eq!(python_float(1e16), "1e+16");
        assert_eq!(python_float(1.5e-5), "1.5e-05");
        assert_eq!(python_float(0.0001), "0.0001");
    }
}
