//! Gamera's morphology jobs (upstream `gamera_rodan/wrappers/plugins/morphology.py`).

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::{load_input, onebit, save_outputs, wrong_type};
use crate::descriptor::{Spec, describe, port};
use crate::gamera::morphology::{despeckle, dilate, dilate_greyscale};
use crate::gamera::{Image, PixelType};
use crate::job::{Inputs, Job, JobError, Outputs};
use crate::settings::Settings;

const CATEGORY: &str = "Gamera - Morphology";
const INPUT: &str = "Onebit PNG image";
const CC_SIZE: &str = "Connected component size";

const DESPECKLE_DESCRIPTION: &str = r#"
  Removes connected components that are smaller than the given size.

  *size*
    The maximum number of pixels in each connected component that
    will be removed.

  This approach to finding connected components uses a pseudo-recursive
  descent, which gets around the hard limit of ~64k connected components
  per page in ``cc_analysis``.  Unfortunately, this approach is much
  slower as the connected components get large, so *size* should be
  kept relatively small.

  *size* == 1 is a special case and runs much faster, since it does not
  require recursion.
  "#;
const DILATE_DESCRIPTION: &str = r#"
  Morpholgically dilates the image with a 3x3 square structuring element.

  The returned image is of the same size as the input image, which means
  that border pixels are not dilated beyond the image dimensions. If you
  also want the border pixels to be dilated, apply pad_image_ to the input
  image beforehand.

.. _pad_image: utility.html#pad-image
  "#;

/// 'Despeckle': removes black connected components smaller than a size.
#[derive(Debug, Clone, Copy, Default)]
pub struct Despeckle;

const DESPECKLE_OUTPUT: &str = "Onebit PNG despeckled image";

impl Job for Despeckle {
    fn name(&self) -> &'static str {
        "Despeckle"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: "Ryan Bannon",
                description: DESPECKLE_DESCRIPTION,
                category: CATEGORY,
            },
            json!({
                "title": "Despeckle settings",
                "type": "object",
                "job_queue": "Python3",
                "properties": {
                    CC_SIZE: {
                        "type": "integer",
                        "default": 1,
                        "minimum": 1,
                        "description": "iThe maximum number of pixels in each connected component that will be removed. 1 is a special case that runs faster as it does not require recursion."
                    }
                }
            }),
            vec![port(INPUT, 1, 1, &["image/onebit+png"])],
            vec![port(DESPECKLE_OUTPUT, 1, 2, &["image/onebit+png"])],
        )
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let schema = self.descriptor().settings;
        let size = Settings::new(&schema, settings)?.integer(CC_SIZE)?;
        let mut image = onebit(self.name(), load_input(inputs, INPUT)?)?;
        despeckle(&mut image, usize::try_from(size).unwrap_or(0));
        save_outputs(&Image::OneBit(image), outputs, DESPECKLE_OUTPUT)
    }
}

/// 'Dilate': a 3×3 morphological dilation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dilate;

const DILATE_OUTPUT: &str = "Onebit PNG dilated image";

impl Job for Dilate {
    fn name(&self) -> &'static str {
        "Dilate"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: "Gabriel Vigliensoni",
                description: DILATE_DESCRIPTION,
                category: CATEGORY,
            },
            json!({"title": "Despeckle settings", "type": "object", "job_queue": "Python3"}),
            vec![port(INPUT, 1, 1, &["image/onebit+png"])],
            vec![port(DILATE_OUTPUT, 1, 2, &["image/onebit+png"])],
        )
    }

    /// Gamera's `dilate()` also takes GREYSCALE images (a 3×3 minimum), so a greyscale PNG on the
    /// one-bit port is dilated as Gamera would, not refused.
    fn run(&self, inputs: &Inputs, _settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let result = match load_input(inputs, INPUT)? {
            Image::OneBit(p) => Image::OneBit(dilate(&p)),
            Image::GreyScale(p) => Image::GreyScale(dilate_greyscale(&p)),
            other => {
                return Err(wrong_type(
                    self.name(),
                    &other,
                    &[PixelType::OneBit, PixelType::GreyScale],
                ));
            }
        };
        save_outputs(&result, outputs, DILATE_OUTPUT)
    }
}
