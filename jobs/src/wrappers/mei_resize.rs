//! 'MEI Resizing' (upstream `MEI_resizing/mei_resize.py`): scales the facsimile coordinates of an
//! MEI file, written back as lxml writes it.

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::write_file;
use crate::descriptor::{Spec, describe, port};
use crate::job::{Inputs, Job, JobError, Outputs};
use crate::mei::read_document;
use crate::mei::resize::scale_facsimile;
use crate::mei::write;
use crate::settings::Settings;

const INPUT: &str = "MEI";
const SCALE_INPUT: &str = "Scale Value";
const OUTPUT: &str = "MEI";

/// 'MEI Resizing': scales the facsimile of an MEI file.
#[derive(Debug, Clone, Copy, Default)]
pub struct MeiResize;

impl Job for MeiResize {
    fn name(&self) -> &'static str {
        "MEI Resizing"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: "Juliette Regimbal",
                description: "Scale the facsimile of an MEI file",
                category: "Encoding",
            },
            json!({
                "job_queue": "Python3",
                "type": "object",
                "title": "Settings",
                "properties": {
                    "Scale Factor": {
                        "type": "number",
                        "minimum": 0,
                        "default": 1,
                        "exclusiveMinimum": true,
                        "description": "Only used when scale input port is unused.",
                    }
                }
            }),
            vec![
                port(INPUT, 1, 1, &["application/mei+xml"]),
                port(SCALE_INPUT, 0, 1, &["text/plain"]),
            ],
            vec![port(OUTPUT, 1, 1, &["application/mei+xml"])],
        )
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let factor = match inputs.get(SCALE_INPUT).first() {
            Some(scale) => read_factor(&scale.path)?,
            None => {
                let schema = self.descriptor().settings;
                Settings::new(&schema, settings)?.number("Scale Factor")?
            }
        };
        let mut doc = read_document(&inputs.first(INPUT)?.path)?;
        scale_facsimile(&mut doc.root, factor).map_err(|e| {
            JobError::bad_input(
                "the MEI's facsimile cannot be scaled",
                format!("MEI Resizing scales the first <surface> of music/facsimile: {e}"),
            )
        })?;
        write_file(&outputs.first(OUTPUT)?.path, &write::lxml(&doc))
    }
}

/// The factor in a 'Scale Value' file, read as Python's `float(f.read())`.
fn read_factor(path: &std::path::Path) -> Result<f64, JobError> {
    let text = JobError::read_text(path, "the 'Scale Value' file")?;
    text.trim().replace('_', "").parse::<f64>().map_err(|_| {
        JobError::bad_input(
            "the scale value is not a number",
            format!("the 'Scale Value' file must hold one number, it holds {text:?}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Ports;

    fn run(scale_file: Option<&str>, settings: Value) -> Result<String, JobError> {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let input = dir.path().join("in.mei");
        std::fs::write(
            &input,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<mei xmlns=\"http://www.music-encoding.org/ns/mei\">\
             <meiHead/><music><facsimile><surface lrx=\"100\"><zone ulx=\"7\"/></surface></facsimile></music></mei>",
        )
        .expect("written");
        let mut inputs = Ports::new().with(INPUT, &input, "application/mei+xml");
        if let Some(text) = scale_file {
            let scale = dir.path().join("scale.txt");
            std::fs::write(&scale, text).expect("written");
            inputs = inputs.with(SCALE_INPUT, &scale, "text/plain");
        }
        let out = dir.path().join("out");
        MeiResize.run(
            &inputs,
            &settings,
            &Ports::new().with(OUTPUT, &out, "application/mei+xml"),
        )?;
        Ok(std::fs::read_to_string(out).expect("written"))
    }

    #[test]
    fn the_scale_value_input_wins_over_the_setting() {
        let body =
            "<mei xmlns=\"http://www.music-encoding.org/ns/mei\"><meiHead/><music><facsimile>";
        let out = run(Some(" 0.5\n"), json!({"Scale Factor": 3})).expect("runs");
        assert_eq!(
            out,
            format!(
                "<?xml version='1.0' encoding='UTF-8'?>\n{body}<surface lrx=\"50\"><zone ulx=\"3\"/>\
                 </surface></facsimile></music></mei>"
            )
        );
        let out = run(None, json!({"Scale Factor": 3})).expect("runs");
        assert!(
            out.contains("<surface lrx=\"300\"><zone ulx=\"21\"/>"),
            "{out}"
        );
    }

    #[test]
    fn a_zero_factor_setting_and_a_non_numeric_scale_file_are_refused() {
        let err = run(None, json!({"Scale Factor": 0})).expect_err("0 is excluded");
        assert!(matches!(err, JobError::BadSettings { .. }));
        let err = run(Some("half"), json!({})).expect_err("not a number");
        assert!(matches!(err, JobError::BadInput { .. }));
    }
}
