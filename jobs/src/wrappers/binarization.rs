//! Gamera's adaptive binarization jobs (upstream `gamera_rodan/wrappers/plugins/binarization.py`
//! and the Bernsen job of `threshold.py`) over the algorithms of [`crate::adaptive`].

use image::GrayImage;
use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::{greyscale, load_input, onebit, save_outputs};
use crate::adaptive::{
    self, AdaptiveError, BernsenParams, GatosParams, NiblackParams, SauvolaParams,
};
use crate::descriptor::{Spec, describe, port};
use crate::gamera::{BLACK, Image, Plane, WHITE};
use crate::job::{Inputs, Job, JobError, Outputs};
use crate::settings::Settings;

const AUTHOR: &str = "Ryan Bannon";
const CATEGORY: &str = "Gamera - Binarization";
const GREYSCALE_INPUT: &str = "Greyscale PNG image";
const ONEBIT_OUTPUT: &str = "Onebit PNG image";
const PRELIMINARY: &str = "Onebit PNG - preliminary binarization of the image";
const SOURCE: &str = "Greyscale PNG - source image to binarize";
const BACKGROUND_INPUT: &str = "Greyscale PNG - estimated background of the image";
const BACKGROUND_OUTPUT: &str = "Greyscale PNG - background estimation image";
const REGION_SIZE: &str = "Region size";
const SENSITIVITY: &str = "Sensitivity";
const LOWER_BOUND: &str = "Lower bound";
const UPPER_BOUND: &str = "Upper bound";

fn gray(p: Plane<u8>) -> GrayImage {
    let (w, h) = (p.width() as u32, p.height() as u32);
    GrayImage::from_raw(w, h, p.pixels().to_vec()).unwrap_or_else(|| GrayImage::new(w, h))
}

/// A ONEBIT image as the adaptive functions read binarizations: black 0, white 255.
fn onebit_gray(p: &Plane<u8>) -> GrayImage {
    gray(p.map(|v| {
        if v == WHITE {
            adaptive::WHITE
        } else {
            adaptive::BLACK
        }
    }))
}

/// An adaptive function's black-and-white result as a ONEBIT image.
fn to_onebit(result: GrayImage) -> Image {
    let (w, h) = (result.width() as usize, result.height() as usize);
    let data = result
        .into_raw()
        .into_iter()
        .map(|v| if v == adaptive::BLACK { BLACK } else { WHITE })
        .collect();
    Image::OneBit(Plane::from_vec(w, h, data).unwrap_or_else(|| Plane::new(w, h, WHITE)))
}

fn to_greyscale(result: GrayImage) -> Image {
    let (w, h) = (result.width() as usize, result.height() as usize);
    Image::GreyScale(
        Plane::from_vec(w, h, result.into_raw()).unwrap_or_else(|| Plane::new(w, h, 255)),
    )
}

impl From<AdaptiveError> for JobError {
    fn from(e: AdaptiveError) -> Self {
        match e {
            AdaptiveError::RegionSize { .. } => {
                JobError::bad_settings("the region size does not fit the image", e.to_string())
            }
            AdaptiveError::SizeMismatch { .. } => {
                JobError::bad_input("the input images differ in size", e.to_string())
            }
        }
    }
}

fn u32_setting(s: &Settings<'_>, key: &str) -> Result<u32, JobError> {
    let v = s.integer(key)?;
    u32::try_from(v).map_err(|_| {
        JobError::bad_settings(
            format!("setting '{key}' is out of range"),
            format!("'{key}' must be a positive integer, got {v}"),
        )
    })
}

fn i32_setting(s: &Settings<'_>, key: &str) -> Result<i32, JobError> {
    let v = s.integer(key)?;
    i32::try_from(v).map_err(|_| {
        JobError::bad_settings(
            format!("setting '{key}' is out of range"),
            format!("'{key}' must fit 32 bits, got {v}"),
        )
    })
}

fn spec<'a>(name: &'a str, description: &'a str) -> Spec<'a> {
    Spec {
        name,
        author: AUTHOR,
        description,
        category: CATEGORY,
    }
}

fn greyscale_to_onebit_ports() -> (
    Vec<rodan_core::catalogue::PortType>,
    Vec<rodan_core::catalogue::PortType>,
) {
    (
        vec![port(GREYSCALE_INPUT, 1, 1, &["image/greyscale+png"])],
        vec![port(ONEBIT_OUTPUT, 1, 2, &["image/onebit+png"])],
    )
}

const GATOS_BACKGROUND_DESCRIPTION: &str = r#"
    Estimates the background of an image according to Gatos et al.'s
    method. See:

    Gatos, Basilios, Ioannis Pratikakis, and Stavros
    J. Perantonis. 2004. An adaptive binarization technique for low
    quality historical documents. *Lecture Notes in Computer
    Science* 3163: 102--113.

    *region_size* 
      Region size for interpolation.

    *binarization*
      A preliminary binarization of the image.
    "#;
const GATOS_THRESHOLD_DESCRIPTION: &str = r#"
    Thresholds an image according to Gatos et al.'s method. See:

    Gatos, Basilios, Ioannis Pratikakis, and Stavros
    J. Perantonis. 2004. An adaptive binarization technique for low
    quality historical documents. *Lecture Notes in Computer
    Science* 3163: 102-113.

    *background*
      Estimated background of the image.

    *binarization*
      A preliminary binarization of the image.

    Use the default settings for the other parameters unless you know
    what you are doing.
    "#;
const BRINK_DESCRIPTION: &str = r#"
    Calculates threshold for image with Brink and Pendock's minimum-cross    
    entropy method and returns corrected image. It is best used for binarising
    images with dark, near-black foreground and significant bleed-through.
    To that end, it generally predicts lower thresholds than other
    thresholding algorithms.

    Reference: A.D. Brink, N.E. Pendock: Minimum cross-entropy threshold selection.
    Pattern Recognition 29 (1), 1996. 179-188.
    "#;
const SAUVOLA_DESCRIPTION: &str = r#"
    Creates a binary image using Sauvola's adaptive algorithm.

    Sauvola, J. and M. Pietikainen. 2000. Adaptive document image
    binarization.  *Pattern Recognition* 33: 225--236.

    Like the QGAR library, there are two extra global thresholds for
    the lightest and darkest regions.

    *region_size*
      The size of the region in which to calculate a threshold.

    *sensitivity*
      The sensitivity weight on the adjusted variance.

    *dynamic_range*
      The dynamic range of the variance.

    *lower bound*
      A global threshold beneath which all pixels are considered black.

    *upper bound*
      A global threshold above which all pixels are considered white.
    "#;
const NIBLACK_DESCRIPTION: &str = r#"
    Creates a binary image using Niblack's adaptive algorithm.

    Niblack, W. 1986. *An Introduction to Digital Image Processing.* Englewood
    Cliffs, NJ: Prentice Hall.

    Like the QGAR library, there are two extra global thresholds for
    the lightest and darkest regions.

    *region_size*
      The size of the region in which to calculate a threshold.

    *sensitivity*
      The sensitivity weight on the variance.

    *lower bound*
      A global threshold beneath which all pixels are considered black.

    *upper bound*
      A global threshold above which all pixels are considered white.
    "#;
const BERNSEN_UPSTREAM_DESCRIPTION: &str = r#"
    Creates a binary image by using the Bernsen algorithm.

    Each point is thresholded by the mean between the maximum and minimum
    value in the surrounding region of size *region_size*. When the difference
    between maximum and minimum is below *contrast_limit* the pixel is set
    to black in case of *doubt_to_black* = ``True``, otherwise to white.

    Reference: J. Bernsen: *Dynamic thresholding of grey-level images.* 
    Proc. 8th International Conference on Pattern Recognition (ICPR8),
    pp. 1251-1255, 1986.

    *storage_format*
      specifies the compression type for the result:

      DENSE (0)
        no compression
      RLE (1)
        run-length encoding compression

    *region_size*
      The size of each region in which to calculate a threshold

    *contrast_limit*
      The minimum amount of contrast required to threshold.

    *doubt_to_black*
      When ``True``, 'doubtful' values are set to black, otherwise to white.
    "#;

/// 'Gatos Background': the background of a greyscale page estimated around a preliminary
/// binarization.
#[derive(Debug, Clone, Copy, Default)]
pub struct GatosBackground;

impl Job for GatosBackground {
    fn name(&self) -> &'static str {
        "Gatos Background"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            spec(self.name(), GATOS_BACKGROUND_DESCRIPTION),
            json!({
                "title": "Gatos background settings",
                "type": "object",
                "job_queue": "Python3",
                "properties": {
                    REGION_SIZE: {"type": "integer", "minimum": 1, "default": 15}
                }
            }),
            vec![
                port(PRELIMINARY, 1, 1, &["image/onebit+png"]),
                port(SOURCE, 1, 1, &["image/greyscale+png"]),
            ],
            vec![port(BACKGROUND_OUTPUT, 1, 2, &["image/greyscale+png"])],
        )
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let schema = self.descriptor().settings;
        let region = u32_setting(&Settings::new(&schema, settings)?, REGION_SIZE)?;
        let source = greyscale(self.name(), load_input(inputs, SOURCE)?)?;
        let prelim = onebit(self.name(), load_input(inputs, PRELIMINARY)?)?;
        let result = adaptive::gatos_background(&gray(source), &onebit_gray(&prelim), region)?;
        save_outputs(&to_greyscale(result), outputs, BACKGROUND_OUTPUT)
    }
}

/// 'Gatos Threshold': binarizes a greyscale page against its estimated background.
#[derive(Debug, Clone, Copy, Default)]
pub struct GatosThreshold;

impl Job for GatosThreshold {
    fn name(&self) -> &'static str {
        "Gatos Threshold"
    }

    fn descriptor(&self) -> JobDescriptor {
        let default = "Use default setting (unless you know what you are doing).";
        describe(
            spec(self.name(), GATOS_THRESHOLD_DESCRIPTION),
            json!({
                "title": "Gatos threshold settings",
                "type": "object",
                "job_queue": "Python3",
                "properties": {
                    "q": {"type": "number", "default": 0.6, "description": default},
                    "p1": {"type": "number", "default": 0.5, "description": default},
                    "p2": {"type": "number", "default": 0.8, "description": default}
                }
            }),
            vec![
                port(PRELIMINARY, 1, 1, &["image/onebit+png"]),
                port(BACKGROUND_INPUT, 1, 1, &["image/greyscale+png"]),
                port(SOURCE, 1, 1, &["image/greyscale+png"]),
            ],
            vec![port(ONEBIT_OUTPUT, 1, 2, &["image/onebit+png"])],
        )
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let schema = self.descriptor().settings;
        let s = Settings::new(&schema, settings)?;
        let params = GatosParams {
            q: s.number("q")?,
            p1: s.number("p1")?,
            p2: s.number("p2")?,
        };
        let source = greyscale(self.name(), load_input(inputs, SOURCE)?)?;
        let background = greyscale(self.name(), load_input(inputs, BACKGROUND_INPUT)?)?;
        let prelim = onebit(self.name(), load_input(inputs, PRELIMINARY)?)?;
        let result = adaptive::gatos_threshold(
            &gray(source),
            &gray(background),
            &onebit_gray(&prelim),
            &params,
        )?;
        save_outputs(&to_onebit(result), outputs, ONEBIT_OUTPUT)
    }
}

/// 'Brink Threshold': Brink and Pendock's minimum cross-entropy global threshold.
#[derive(Debug, Clone, Copy, Default)]
pub struct BrinkThreshold;

impl Job for BrinkThreshold {
    fn name(&self) -> &'static str {
        "Brink Threshold"
    }

    fn descriptor(&self) -> JobDescriptor {
        let (inputs, outputs) = greyscale_to_onebit_ports();
        describe(
            spec(self.name(), BRINK_DESCRIPTION),
            json!({"job_queue": "Python3"}),
            inputs,
            outputs,
        )
    }

    fn run(&self, inputs: &Inputs, _settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let source = greyscale(self.name(), load_input(inputs, GREYSCALE_INPUT)?)?;
        let result = adaptive::brink_threshold(&gray(source));
        save_outputs(&to_onebit(result), outputs, ONEBIT_OUTPUT)
    }
}

fn bound(description: &str, default: i64) -> Value {
    json!({
        "type": "integer",
        "minimum": 0,
        "maximum": 255,
        "default": default,
        "description": description
    })
}

/// 'Sauvola Threshold': Sauvola's adaptive threshold with global bounds.
#[derive(Debug, Clone, Copy, Default)]
pub struct SauvolaThreshold;

impl Job for SauvolaThreshold {
    fn name(&self) -> &'static str {
        "Sauvola Threshold"
    }

    fn descriptor(&self) -> JobDescriptor {
        let (inputs, outputs) = greyscale_to_onebit_ports();
        describe(
            spec(self.name(), SAUVOLA_DESCRIPTION),
            json!({
                "title": "Sauvola threshold settings",
                "type": "object",
                "job_queue": "Python3",
                "properties": {
                    REGION_SIZE: {
                        "type": "integer",
                        "default": 15,
                        "description": "The size of the region in which to calculate a threshold."
                    },
                    SENSITIVITY: {
                        "type": "number",
                        "default": 0.5,
                        "description": "The sensitivity weight on the adjusted variance."
                    },
                    "Dynamic range": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 255,
                        "default": 128,
                        "description": "The dynamic range of the variance."
                    },
                    LOWER_BOUND: bound("A global threshold beneath which all pixels are considered black.", 20),
                    UPPER_BOUND: bound("A global threshold above which all pixels are considered white.", 150)
                }
            }),
            inputs,
            outputs,
        )
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let schema = self.descriptor().settings;
        let s = Settings::new(&schema, settings)?;
        let params = SauvolaParams {
            region_size: u32_setting(&s, REGION_SIZE)?,
            sensitivity: s.number(SENSITIVITY)?,
            dynamic_range: i32_setting(&s, "Dynamic range")?,
            lower_bound: i32_setting(&s, LOWER_BOUND)?,
            upper_bound: i32_setting(&s, UPPER_BOUND)?,
        };
        let source = greyscale(self.name(), load_input(inputs, GREYSCALE_INPUT)?)?;
        let result = adaptive::sauvola_threshold(&gray(source), &params)?;
        save_outputs(&to_onebit(result), outputs, ONEBIT_OUTPUT)
    }
}

/// 'Niblack Threshold': Niblack's adaptive threshold with global bounds.
#[derive(Debug, Clone, Copy, Default)]
pub struct NiblackThreshold;

impl Job for NiblackThreshold {
    fn name(&self) -> &'static str {
        "Niblack Threshold"
    }

    fn descriptor(&self) -> JobDescriptor {
        let (inputs, outputs) = greyscale_to_onebit_ports();
        describe(
            spec(self.name(), NIBLACK_DESCRIPTION),
            json!({
                "title": "Niblack threshold settings",
                "type": "object",
                "job_queue": "Python3",
                "properties": {
                    REGION_SIZE: {
                        "type": "integer",
                        "default": 15,
                        "description": "The size of the region in which to calculate a threshold."
                    },
                    SENSITIVITY: {
                        "type": "number",
                        "default": -0.2,
                        "description": "The sensitivity weight on the adjusted variance."
                    },
                    LOWER_BOUND: bound("A global threshold beneath which all pixels are considered black.", 20),
                    UPPER_BOUND: bound("A global threshold above which all pixels are considered white.", 150)
                }
            }),
            inputs,
            outputs,
        )
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let schema = self.descriptor().settings;
        let s = Settings::new(&schema, settings)?;
        let params = NiblackParams {
            region_size: u32_setting(&s, REGION_SIZE)?,
            sensitivity: s.number(SENSITIVITY)?,
            lower_bound: i32_setting(&s, LOWER_BOUND)?,
            upper_bound: i32_setting(&s, UPPER_BOUND)?,
        };
        let source = greyscale(self.name(), load_input(inputs, GREYSCALE_INPUT)?)?;
        let result = adaptive::niblack_threshold(&gray(source), &params)?;
        save_outputs(&to_onebit(result), outputs, ONEBIT_OUTPUT)
    }
}

/// 'Bernsen threshold': Bernsen's local contrast threshold. Upstream's class defines
/// `run_my_task` twice and ends up running Abutaleb; this job runs Bernsen with its settings,
/// and says so in its description.
#[derive(Debug, Clone, Copy, Default)]
pub struct BernsenThreshold;

/// What this job does differently from upstream, appended to upstream's description.
pub const BERNSEN_CHANGE: &str = "
    Note: upstream Rodan's version of this job ran the Abutaleb threshold and ignored its
    settings (its class defines run_my_task twice). This one runs Bernsen with the settings above.
    ";

impl Job for BernsenThreshold {
    fn name(&self) -> &'static str {
        "Bernsen threshold"
    }

    fn descriptor(&self) -> JobDescriptor {
        let (inputs, outputs) = greyscale_to_onebit_ports();
        let description = format!(
            "{BERNSEN_UPSTREAM_DESCRIPTION}{}",
            BERNSEN_CHANGE.trim_start_matches('\n')
        );
        describe(
            Spec {
                name: self.name(),
                author: AUTHOR,
                description: &description,
                category: "Gamera - Threshold",
            },
            json!({
                "title": "Bernsen threshold",
                "type": "object",
                "job_queue": "Python3",
                "properties": {
                    "Storage format": {
                        "enum": ["Dense (no compression)", "RLE (run-length encoding compression)"],
                        "type": "string",
                        "default": "Dense (no compression)",
                        "description": "Specifies the compression type for the result."
                    },
                    REGION_SIZE: {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 50,
                        "default": 11,
                        "description": "The size of each region in which to calculate a threshold."
                    },
                    "Contrast limit": {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": 255,
                        "default": 80,
                        "description": "The minimum amount of contrast required to threshold."
                    },
                    "Doubt to black": {
                        "type": "boolean",
                        "default": false,
                        "description": "When True, doubtful values are set to black, otherwise to white."
                    }
                }
            }),
            inputs,
            outputs,
        )
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let schema = self.descriptor().settings;
        let s = Settings::new(&schema, settings)?;
        s.enum_index("Storage format")?;
        let contrast = s.integer("Contrast limit")?;
        let params = BernsenParams {
            region_size: u32_setting(&s, REGION_SIZE)?,
            contrast_limit: u8::try_from(contrast).map_err(|_| {
                JobError::bad_settings(
                    "setting 'Contrast limit' is out of range",
                    format!("'Contrast limit' must be 0 to 255, got {contrast}"),
                )
            })?,
            doubt_to_black: s.boolean("Doubt to black")?,
        };
        let source = greyscale(self.name(), load_input(inputs, GREYSCALE_INPUT)?)?;
        let result = adaptive::bernsen_threshold(&gray(source), &params)?;
        save_outputs(&to_onebit(result), outputs, ONEBIT_OUTPUT)
    }
}
