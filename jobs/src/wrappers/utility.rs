//! Gamera's image utility job 'Invert' (upstream `gamera_rodan/wrappers/plugins/image_utilities.py`),
//! and the catalogue entries of 'Resource Distributor' and 'Labeler', which change resources in
//! the database and so run in the worker.

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::{load_input, save_outputs};
use crate::descriptor::{GAMERA_PNG_TYPES, Spec, all_types, describe, port};
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

/// Upstream 'Resource Distributor' (`resource_distributor.py`): copies its input to its output
/// after checking the input's type against the `Resource type` setting (an index into every
/// registered type), and renames the input resource with a prefix and suffix.
pub fn resource_distributor() -> JobDescriptor {
    let types = all_types();
    describe(
        Spec {
            name: "Resource Distributor",
            author: "Nicky Mirfallah",
            description: "Distributes the resource to output",
            category: "Miscellaneous",
        },
        json!({
            "title": "Resource Distributor setting",
            "type": "object",
            "properties": {
                "Resource type": {
                    "enum": types,
                    "type": "string",
                    "default": "image/rgba+png",
                    "description": "Specifies the eligible resource types for input"
                },
                "User custom prefix": {
                    "type": "string",
                    "default": "custom prefix - ",
                    "description": "User specified prefix (please also include space, hyphen, etc.)"
                },
                "User custom suffix": {
                    "type": "string",
                    "default": "- custom suffix",
                    "description": "User specified suffix (please also include space, hyphen, etc.)"
                }
            }
        }),
        vec![port("Resource input", 1, 1, &types)],
        vec![port("Resource output", 1, 1, &types)],
    )
}

/// Upstream 'Labeler' (`labeler.py`): adds the `Label` setting (or the run's uuid when empty) as
/// a label of each input resource; no outputs.
pub fn labeler() -> JobDescriptor {
    // Upstream's filter `^[-\w]+/[-\w+]+$` accepts every registered mimetype.
    let types: Vec<&str> = all_types()
        .into_iter()
        .filter(|t| {
            t.split_once('/').is_some_and(|(a, b)| {
                let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
                !a.is_empty()
                    && a.chars().all(word)
                    && !b.is_empty()
                    && b.chars().all(|c| word(c) || c == '+')
            })
        })
        .collect();
    describe(
        Spec {
            name: "Labeler",
            author: "Juliette Regimbal",
            description: "Add a label to resources",
            category: "Utility",
        },
        json!({
            "title": "Parameters",
            "type": "object",
            "job_queue": "celery",
            "properties": {
                "Label": {"type": "string", "default": "", "maxLength": 36}
            }
        }),
        vec![port("Resource", 1, 100, &types)],
        vec![],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributor_and_labeler_accept_every_registered_type() {
        let all = all_types();
        let d = resource_distributor();
        assert_eq!(d.input_port_types[0].resource_types.len(), all.len());
        assert_eq!(
            d.settings["properties"]["Resource type"]["enum"]
                .as_array()
                .map(Vec::len),
            Some(all.len())
        );
        assert_eq!(d.queue, "celery");
        let l = labeler();
        assert_eq!(l.input_port_types[0].resource_types.len(), all.len());
        assert!(l.output_port_types.is_empty());
    }
}
