//! 'MEI2Volpiano' (upstream `mei2vol_wrapper/m2v_wrapper.py`): the Volpiano of an MEI file in
//! neume notation.

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::write_file;
use crate::descriptor::{Spec, describe, port};
use crate::job::{Inputs, Job, JobError, Outputs};
use crate::mei::read_document;
use crate::mei::volpiano::mei_to_volpiano;

const INPUT: &str = "MEI";
const OUTPUT: &str = "Volpiano";

/// 'MEI2Volpiano': converts an MEI file into a Volpiano string.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mei2Vol;

impl Job for Mei2Vol {
    fn name(&self) -> &'static str {
        "MEI2Volpiano"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: "Ravi Raina, Kemal Kongar, & Gabrielle Halpin",
                description: "Converts MEI or XML files into volpiano strings.",
                category: "Type conversion",
            },
            json!({
                "title": "Parameters",
                "type": "object",
                "job_queue": "Python3",
                "properties": {"Output": {"type": "string", "default": ""}},
            }),
            vec![port(INPUT, 1, 1, &["application/mei+xml"])],
            vec![port(OUTPUT, 1, 1, &["text/plain"])],
        )
    }

    fn run(&self, inputs: &Inputs, _settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        // Upstream's 'Output' setting is declared but never read.
        let doc = read_document(&inputs.first(INPUT)?.path)?;
        let volpiano = mei_to_volpiano(&doc.root).map_err(|e| {
            JobError::bad_input(
                "the MEI has a neume component without a pitch",
                format!("MEI2Volpiano needs @pname and @oct on every <nc>: {e}"),
            )
        })?;
        write_file(&outputs.first(OUTPUT)?.path, volpiano.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Ports;

    #[test]
    fn a_file_that_is_not_xml_is_a_permanent_bad_input() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let input = dir.path().join("in.mei");
        std::fs::write(&input, "not <xml").expect("written");
        let err = Mei2Vol
            .run(
                &Ports::new().with(INPUT, &input, "application/mei+xml"),
                &Value::Null,
                &Ports::new().with(OUTPUT, dir.path().join("out"), "text/plain"),
            )
            .expect_err("not MEI");
        assert!(err.is_permanent(), "{err}");
    }

    #[test]
    fn the_volpiano_is_written_without_a_trailing_newline() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let input = dir.path().join("in.mei");
        std::fs::write(
            &input,
            "<mei xmlns=\"http://www.music-encoding.org/ns/mei\"><syllable><syl>a</syl><neume>\
             <nc pname=\"g\" oct=\"2\"/></neume></syllable></mei>",
        )
        .expect("written");
        let out = dir.path().join("out");
        Mei2Vol
            .run(
                &Ports::new().with(INPUT, &input, "application/mei+xml"),
                &json!({}),
                &Ports::new().with(OUTPUT, &out, "text/plain"),
            )
            .expect("runs");
        assert_eq!(std::fs::read_to_string(out).expect("written"), "1---g");
    }
}
