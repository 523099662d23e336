//! Gamera's image utility job 'Invert' (upstream `gamera_rodan/wrappers/plugins/image_utilities.py`).

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::{load_input, save_outputs};
use crate::descriptor::{GAMERA_PNG_TYPES, Spec, describe, port};
use crate::gamera::conversion::invert;
use crate::job::{Inputs, Job, JobError, Outputs};

const PORT: &str = "PNG image";

/// 'Invert': inverts an image of any Gamera PNG type; the output keeps the input's type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Invert;

impl Job for Invert {
    fn name(&self) -> &'static str {
        "Invert"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: "Ryan Bannon",
                description: "Invert the image",
                category: "Gamera - Image Utilities",
            },
            json!({"job_queue": "Python3"}),
            vec![port(PORT, 1, 1, &GAMERA_PNG_TYPES)],
            vec![port(PORT, 1, 2, &GAMERA_PNG_TYPES)],
        )
    }

    fn run(&self, inputs: &Inputs, _settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let image = load_input(inputs, PORT)?;
        save_outputs(&invert(&image), outputs, PORT)
    }
}
