//! The GameraXML Distributor job (upstream `interactive_classifier/gamera_xml_distributor.py`):
//! copies its GameraXML input to its output unchanged, byte for byte.

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use crate::descriptor::{Spec, describe, port};
use crate::job::{Inputs, Job, JobError, Outputs};

const PORT: &str = "GameraXML File";

/// 'GameraXML Distributor': a plain copy of a GameraXML file.
#[derive(Debug, Clone, Copy, Default)]
pub struct GameraXmlDistributor;

impl Job for GameraXmlDistributor {
    fn name(&self) -> &'static str {
        "GameraXML Distributor"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: "Andrew Fogarty",
                description: "Distribute a GameraXML file.",
                category: "Resource Distributor",
            },
            json!({"job_queue": "Python3"}),
            vec![port(PORT, 1, 1, &["application/gamera+xml"])],
            vec![port(PORT, 1, 1, &["application/gamera+xml"])],
        )
    }

    fn run(&self, inputs: &Inputs, _settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let from = &inputs.first(PORT)?.path;
        let to = &outputs.first(PORT)?.path;
        std::fs::copy(from, to).map_err(|e| {
            if std::fs::metadata(from).is_err() {
                JobError::read(from, e)
            } else {
                JobError::write(to, e)
            }
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_file_byte_for_byte() {
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let (a, b) = (dir.path().join("in.xml"), dir.path().join("out.xml"));
        let text = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<gamera-database version=\"2.0\">\n  <glyphs>\n  </glyphs>\n</gamera-database>\n \t";
        assert!(std::fs::write(&a, text).is_ok());
        let inputs = Inputs::new().with(PORT, &a, "application/gamera+xml");
        let outputs = Outputs::new().with(PORT, &b, "application/gamera+xml");
        assert!(
            GameraXmlDistributor
                .run(&inputs, &json!({}), &outputs)
                .is_ok()
        );
        assert_eq!(std::fs::read(&b).ok(), Some(text.as_bytes().to_vec()));
        let missing =
            Inputs::new().with(PORT, dir.path().join("nope.xml"), "application/gamera+xml");
        assert!(matches!(
            GameraXmlDistributor.run(&missing, &json!({}), &outputs),
            Err(JobError::Read { .. })
        ));
        assert!(matches!(
            GameraXmlDistributor.run(&Inputs::new(), &json!({}), &outputs),
            Err(JobError::BadInput { .. })
        ));
    }

    /// The upstream case's training file is missing upstream; a real GameraXML training set
    /// (the Dalhousie classifier, 2.6 MB) exercises the same check: every line equal.
    #[test]
    fn copies_a_real_training_set() {
        let Some(shared) = std::env::var_os("RODAN_SHARED_DIR") else {
            eprintln!("skipped: RODAN_SHARED_DIR is not set");
            return;
        };
        let input = std::path::Path::new(&shared)
            .join("fixtures/upstream-jobs/files/Dalhousie_TD_421_422_NC-based_classifier.xml");
        let Ok(dir) = tempfile::tempdir() else {
            panic!("tempdir")
        };
        let out = dir.path().join("out.xml");
        let inputs = Inputs::new().with(PORT, &input, "application/gamera+xml");
        let outputs = Outputs::new().with(PORT, &out, "application/gamera+xml");
        assert!(
            GameraXmlDistributor
                .run(&inputs, &json!({}), &outputs)
                .is_ok()
        );
        let (a, b) = (
            std::fs::read_to_string(&input),
            std::fs::read_to_string(&out),
        );
        let (Ok(a), Ok(b)) = (a, b) else {
            panic!("readable")
        };
        assert!(a.lines().count() > 1000);
        assert!(a.lines().map(str::trim).eq(b.lines().map(str::trim)));
    }
}
