//! Gamera's global threshold jobs (upstream `gamera_rodan/wrappers/plugins/threshold.py`):
//! Otsu, Tsai moment preserving, Abutaleb and DjVu. (Bernsen lives with the adaptive
//! thresholds.)

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::{greyscale, load_input, rgb, save_outputs};
use crate::descriptor::{Spec, describe, port};
use crate::gamera::threshold::{
    abutaleb_threshold, djvu_threshold, otsu_threshold, tsai_moment_preserving_threshold,
};
use crate::gamera::{Image, Plane};
use crate::job::{Inputs, Job, JobError, Outputs};
use crate::settings::Settings;

const AUTHOR: &str = "Ryan Bannon";
const CATEGORY: &str = "Gamera - Threshold";
const GREYSCALE_INPUT: &str = "Greyscale PNG image";
const RGB_INPUT: &str = "RGB PNG image";
const OUTPUT: &str = "Onebit PNG image";
const STORAGE_FORMAT: &str = "Storage format";

/// Upstream's settings schema of a threshold whose only setting is the storage format.
fn storage_format_schema(title: &str) -> Value {
    json!({
        "title": title,
        "type": "object",
        "job_queue": "Python3",
        "properties": {
            STORAGE_FORMAT: {
                "enum": ["Dense (no compression)", "RLE (run-length encoding compression)"],
                "type": "string",
                "default": "Dense (no compression)",
                "description": "Specifies the compression type for the result."
            }
        }
    })
}

fn greyscale_threshold_descriptor(name: &str, description: &str, title: &str) -> JobDescriptor {
    describe(
        Spec {
            name,
            author: AUTHOR,
            description,
            category: CATEGORY,
        },
        storage_format_schema(title),
        vec![port(GREYSCALE_INPUT, 1, 1, &["image/greyscale+png"])],
        vec![port(OUTPUT, 1, 2, &["image/onebit+png"])],
    )
}

/// Runs a GREYSCALE → ONEBIT threshold. The storage format (dense or run-length) changes how
/// Gamera holds the result in memory, not its pixels, so it is only validated.
fn run_greyscale_threshold(
    job: &dyn Job,
    inputs: &Inputs,
    settings: &Value,
    outputs: &Outputs,
    threshold: fn(&Plane<u8>) -> Plane<u8>,
) -> Result<(), JobError> {
    let schema = job.descriptor().settings;
    Settings::new(&schema, settings)?.enum_index(STORAGE_FORMAT)?;
    let image = greyscale(job.name(), load_input(inputs, GREYSCALE_INPUT)?)?;
    save_outputs(&Image::OneBit(threshold(&image)), outputs, OUTPUT)
}

const OTSU_DESCRIPTION: &str = r#"
    Creates a binary image by splitting along a threshold value
    determined using the Otsu algorithm.

    Equivalent to ``image.threshold(image.otsu_find_threshold())``.

    *storage_format* (optional)
      specifies the compression type for the result:
      
      DENSE (0)
        no compression
      RLE (1)
        run-length encoding compression
    "#;
const TSAI_DESCRIPTION: &str = r#"
    Finds a threshold point using the Tsai Moment Preserving threshold
    algorithm. Reference:

    W.H. Tsai: *Moment-Preserving Thresholding: A New Approach.*
    Computer Vision Graphics and Image Processing (29), pp. 377-393
    (1985)
    "#;
const ABUTALEB_DESCRIPTION: &str = r#"
    Creates a binary image by using the Abutaleb locally-adaptive
    thresholding algorithm.

    *storage_format* (optional)
      specifies the compression type for the result:

      DENSE (0)
        no compression
      RLE (1)
        run-length encoding compression
    "#;
const DJVU_DESCRIPTION: &str = r#"
    Creates a binary image by using the DjVu thresholding algorithm.

    See Section 5.1 in:

      Bottou, L., P. Haffner, P. G. Howard, P. Simard, Y. Bengio and
      Y. LeCun.  1998.  High Quality Document Image Compression with
      DjVu.  AT&T Labs, Lincroft, NJ.

      http://research.microsoft.com/~patrice/PDF/jei.pdf

    This implementation features an additional extension to the
    algorithm described above.  Once the background and foreground
    colors are determined for each block, the image is thresholded by
    interpolating the foreground and background colors between the
    blocks.  This prevents "blockiness" along boundaries of strong
    color change.

    *smoothness*
      The amount of effect that parent blocks have on their children
      blocks.  Higher values will result in more smoothness between
      blocks.  Expressed as a percentage between 0.0 and 1.0.

    *max_block_size*
      The size of the largest block to determine a threshold.

    *min_block_size*
      The size of the smallest block to determine a threshold.

    *block_factor*
      The number of child blocks (in each direction) per parent block.
      For instance, a *block_factor* of 2 results in 4 children per
      parent.
    "#;

macro_rules! greyscale_threshold_job {
    ($ty:ident, $name:literal, $description:ident, $title:literal, $threshold:path) => {
        #[doc = concat!("'", $name, "': GREYSCALE → ONEBIT.")]
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $ty;

        impl Job for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn descriptor(&self) -> JobDescriptor {
                greyscale_threshold_descriptor($name, $description, $title)
            }

            fn run(
                &self,
                inputs: &Inputs,
                settings: &Value,
                outputs: &Outputs,
            ) -> Result<(), JobError> {
                run_greyscale_threshold(self, inputs, settings, outputs, $threshold)
            }
        }
    };
}

greyscale_threshold_job!(
    OtsuThreshold,
    "Otsu Threshold",
    OTSU_DESCRIPTION,
    "Otsu threshold settings",
    otsu_threshold
);
greyscale_threshold_job!(
    TsaiMomentPreservingThreshold,
    "Tsai Moment Preserving Threshold",
    TSAI_DESCRIPTION,
    "Tsai Moment Preserving Threshold",
    tsai_moment_preserving_threshold
);
greyscale_threshold_job!(
    AbutalebThreshold,
    "Abutaleb locally-adaptive threshold",
    ABUTALEB_DESCRIPTION,
    "Abutaleb locally-adaptive threshold",
    abutaleb_threshold
);

/// 'DjVu threshold': RGB → ONEBIT with Gamera's `djvu_threshold`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DjvuThreshold;

const SMOOTHNESS: &str = "Smoothness";
const MAX_BLOCK: &str = "Maximum block size";
const MIN_BLOCK: &str = "Minimum block size";
const BLOCK_FACTOR: &str = "Block factor";

impl Job for DjvuThreshold {
    fn name(&self) -> &'static str {
        "DjVu threshold"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: AUTHOR,
                description: DJVU_DESCRIPTION,
                category: CATEGORY,
            },
            json!({
                "title": "DjVu threshold",
                "type": "object",
                "job_queue": "Python3",
                "properties": {
                    SMOOTHNESS: {
                        "type": "number",
                        "minimum": 0.0,
                        "maximum": 1.0,
                        "default": 0.2,
                        "description": "The amount of effect that parent blocks have on their children blocks. Higher values will result in more smoothness between blocks.  Expressed as a percentage between 0.0 and 1.0."
                    },
                    MAX_BLOCK: {
                        "type": "integer",
                        "minimum": 1,
                        "default": 512,
                        "description": "The size of the largest block to determine a threshold."
                    },
                    MIN_BLOCK: {
                        "type": "integer",
                        "minimum": 1,
                        "default": 64,
                        "description": "The size of the smallest block to determine a threshold."
                    },
                    BLOCK_FACTOR: {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 8,
                        "default": 2,
                        "description": "The number of child blocks (in each direction) per parent block. For instance, a *block_factor* of 2 results in 4 children per parent."
                    }
                }
            }),
            vec![port(RGB_INPUT, 1, 1, &["image/rgb+png"])],
            vec![port(OUTPUT, 1, 2, &["image/onebit+png"])],
        )
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let schema = self.descriptor().settings;
        let s = Settings::new(&schema, settings)?;
        let smoothness = s.number(SMOOTHNESS)?;
        let max_block = s.integer(MAX_BLOCK)? as usize;
        let min_block = s.integer(MIN_BLOCK)? as usize;
        let block_factor = s.integer(BLOCK_FACTOR)? as usize;
        let image = rgb(self.name(), load_input(inputs, RGB_INPUT)?)?;
        let result = djvu_threshold(&image, smoothness, max_block, min_block, block_factor);
        save_outputs(&Image::OneBit(result), outputs, OUTPUT)
    }
}
