//! The 'Heuristic Pitch Finding' job (upstream `heuristic_pitch_finding/base.py`,
//! `HeuristicPitchFinding`): the staff-finding JSOMR and classified GameraXML glyphs in, the
//! JSOMR of page, staves and pitched glyphs out, as `json.dumps` writes it.

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::write_file;
use crate::descriptor::{Spec, describe, port};
use crate::gamera::xml;
use crate::job::{Inputs, Job, JobError, Outputs};
use crate::pitch_finding::find_pitches;
use crate::settings::Settings;

const STAVES: &str = "JSOMR of staves and page properties";
const GLYPHS: &str = "GameraXML - Classified Connected Components";
const OUTPUT: &str = "JSOMR of glyphs, staves, and page properties";
const DISCARD_SIZE: &str = "Discard Size";

/// 'Heuristic Pitch Finding': the staff, position, note and octave of each classified glyph.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeuristicPitchFinding;

impl Job for HeuristicPitchFinding {
    fn name(&self) -> &'static str {
        "Heuristic Pitch Finding"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: "Noah Baxter",
                description: "Calculates pitch values for Classified Connected Componenets from \
                              a JSOMR containing staves, and returns the results as a JSOMR file",
                category: "aOMR",
            },
            json!({
                "title": "aOMR settings",
                "type": "object",
                "job_queue": "Python3",
                "required": [DISCARD_SIZE],
                "properties": {
                    DISCARD_SIZE: {
                        "type": "integer",
                        "default": 12,
                        "minimum": 5,
                        "maximum": 25,
                        "description": "",
                    },
                },
            }),
            vec![
                port(STAVES, 1, 1, &["application/json"]),
                port(GLYPHS, 1, 1, &["application/gamera+xml"]),
            ],
            vec![port(OUTPUT, 1, 1, &["application/json"])],
        )
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let schema = self.descriptor().settings;
        let discard_size = Settings::new(&schema, settings)?.integer(DISCARD_SIZE)?;
        let path = &inputs.first(STAVES)?.path;
        let jsomr = JobError::read_text(path, "the staves input")?;
        let glyphs = xml::read_file(&inputs.first(GLYPHS)?.path)?.glyphs;
        let out = find_pitches(&jsomr, &glyphs, discard_size)?;
        write_file(&outputs.first(OUTPUT)?.path, out.as_bytes())
    }
}
