//! Gamera's masking jobs (upstream `gamera_rodan/wrappers/masking.py`).

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::{load_input, onebit, save_outputs};
use crate::descriptor::{Spec, describe, port};
use crate::gamera::logical::{and_image, xor_image};
use crate::gamera::{GameraError, Image, Plane};
use crate::job::{Inputs, Job, JobError, Outputs};

const SOURCE: &str = "Source image";
const MASK: &str = "Mask image";
const OUTPUT: &str = "Source image with mask applied";

fn mask_descriptor(name: &str, description: &str) -> JobDescriptor {
    describe(
        Spec {
            name,
            author: "Ryan Bannon",
            description,
            category: "Gamera - Masking",
        },
        json!({"job_queue": "Python3"}),
        vec![
            port(SOURCE, 1, 1, &["image/onebit+png"]),
            port(MASK, 1, 1, &["image/onebit+png"]),
        ],
        vec![port(OUTPUT, 1, 2, &["image/onebit+png"])],
    )
}

/// Gamera's `and_image` / `xor_image`.
type Combine = fn(&Plane<u8>, &Plane<u8>) -> Result<Plane<u8>, GameraError>;

fn run_mask(
    job: &str,
    inputs: &Inputs,
    outputs: &Outputs,
    combine: Combine,
) -> Result<(), JobError> {
    let source = onebit(job, load_input(inputs, SOURCE)?)?;
    let mask = onebit(job, load_input(inputs, MASK)?)?;
    save_outputs(&Image::OneBit(combine(&source, &mask)?), outputs, OUTPUT)
}

const AND_DESCRIPTION: &str = r#"
  Perform the AND operation on two images.

  Since it would be difficult to determine what exactly to do if the images
  are a different size, the two images must be the same size.

  *in_place*
    If true, the operation will be performed in-place, changing the
    contents of the current image.

  See or_image_ for some usage examples.
  "#;
const XOR_DESCRIPTION: &str = r#"
  Perform the XOR operation on two images.

  Since it would be difficult to determine what exactly to do if the images
  are a different size, the two images must be the same size.

  *in_place*
    If true, the operation will be performed in-place, changing the
    contents of the current image.

  See or_image_ for some usage examples.
  "#;

/// "Mask (logical 'and')": black where both the source and the mask are black.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaskAnd;

impl Job for MaskAnd {
    fn name(&self) -> &'static str {
        "Mask (logical 'and')"
    }

    fn descriptor(&self) -> JobDescriptor {
        mask_descriptor(self.name(), AND_DESCRIPTION)
    }

    fn run(&self, inputs: &Inputs, _settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        run_mask(self.name(), inputs, outputs, and_image)
    }
}

/// "Mask (logical 'xor')": black where exactly one of the source and the mask is black.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaskXor;

impl Job for MaskXor {
    fn name(&self) -> &'static str {
        "Mask (logical 'xor')"
    }

    fn descriptor(&self) -> JobDescriptor {
        mask_descriptor(self.name(), XOR_DESCRIPTION)
    }

    fn run(&self, inputs: &Inputs, _settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        run_mask(self.name(), inputs, outputs, xor_image)
    }
}
