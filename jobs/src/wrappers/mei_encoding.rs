//! 'MEI Encoding' (upstream `MEI_encoding/MEI_encoding.py`): the MEI of a page from pitch
//! finding, the MEI mapping table and, when given, text alignment and column splitting.

use std::path::Path;

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::write_file;
use crate::descriptor::{Spec, describe, port};
use crate::job::{Inputs, Job, JobError, Outputs};
use crate::mei::encoding::{ClassifierTable, encode};
use crate::mei::write;
use crate::settings::Settings;

const JSOMR: &str = "JSOMR";
const TEXT_ALIGNMENT: &str = "Text Alignment JSON";
const MAPPING: &str = "MEI Mapping CSV";
const COLUMNS: &str = "Column Splitting Data";
const OUTPUT: &str = "MEI";
const SPACING: &str = "Neume Component Spacing";

/// 'MEI Encoding': builds an MEI file from pitch finding and text alignment results.
#[derive(Debug, Clone, Copy, Default)]
pub struct MeiEncoding;

impl Job for MeiEncoding {
    fn name(&self) -> &'static str {
        "MEI Encoding"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: "Tim de Reuse",
                description: "Builds an MEI file from pitchfinding information and transcript alignment results.",
                category: "Encoding",
            },
            json!({
                "title": "Mei Encoding Settings",
                "type": "object",
                "job_queue": "Python3",
                "required": [SPACING],
                "properties": {
                    SPACING: {
                        "type": "number",
                        "default": 0.5,
                        "minimum": 0.0,
                        "maximum": 10.0,
                        "description": "A multiplier controlling the spacing allowed between two neume components when grouping into neumes. 1.0 will use the median width of all glyphs on the page, 2.0 will use twice the median width, and so on. At 0, neume components will not be merged together, and each one will be treated as its own neume.",
                    }
                }
            }),
            vec![
                port(JSOMR, 1, 1, &["application/json"]),
                port(TEXT_ALIGNMENT, 0, 1, &["application/json"]),
                port(MAPPING, 1, 1, &["text/csv"]),
                port(COLUMNS, 0, 1, &["application/json"]),
            ],
            vec![port(OUTPUT, 1, 1, &["application/mei+xml"])],
        )
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let schema = self.descriptor().settings;
        let width_mult = Settings::new(&schema, settings)?.number(SPACING)?;
        let jsomr = read_json(&inputs.first(JSOMR)?.path, JSOMR)?;
        let optional = |port: &str| -> Result<Option<Value>, JobError> {
            inputs
                .get(port)
                .first()
                .map(|r| read_json(&r.path, port))
                .transpose()
        };
        let (syls, columns) = (optional(TEXT_ALIGNMENT)?, optional(COLUMNS)?);
        let mapping = &inputs.first(MAPPING)?.path;
        let text = JobError::read_text(mapping, &format!("the '{MAPPING}' input"))?;
        let table = ClassifierTable::from_csv(&text).map_err(|e| {
            JobError::bad_input(
                "the MEI mapping CSV cannot be used",
                format!("the '{MAPPING}' input is not a table of the MEI mapping tool: {e}"),
            )
        })?;
        let root =
            encode(&jsomr, syls.as_ref(), &table, width_mult, columns.as_ref()).map_err(|e| {
                JobError::bad_input(
                    "the inputs cannot be encoded as MEI",
                    format!("MEI Encoding failed: {e}"),
                )
            })?;
        write_file(&outputs.first(OUTPUT)?.path, &write::etree(&root))
    }
}

fn read_json(path: &Path, port: &str) -> Result<Value, JobError> {
    let text = JobError::read_text(path, &format!("the '{port}' input"))?;
    serde_json::from_str(&text).map_err(|e| {
        JobError::bad_input(
            format!("the '{port}' input is not JSON"),
            format!("{}: {e}", path.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Ports;

    fn run(csv: &str, settings: Value) -> Result<String, JobError> {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let jsomr = dir.path().join("hpf.json");
        std::fs::write(
            &jsomr,
            json!({
                "page": {"bounding_box": {"ncols": 100, "nrows": 80, "ulx": 0, "uly": 0}},
                "staves": [{"bounding_box": {"ncols": 90, "nrows": 10, "ulx": 5, "uly": 10}}],
                "glyphs": [{
                    "glyph": {"bounding_box": {"ncols": 4, "nrows": 4, "ulx": 20, "uly": 12}, "name": "neume.punctum"},
                    "pitch": {"staff": "1", "offset": "20", "strt_pos": "5", "note": "f", "octave": "3"}
                }]
            })
            .to_string(),
        )
        .expect("written");
        let mapping = dir.path().join("map.csv");
        std::fs::write(&mapping, csv).expect("written");
        let out = dir.path().join("out.mei");
        MeiEncoding.run(
            &Ports::new()
                .with(JSOMR, &jsomr, "application/json")
                .with(MAPPING, &mapping, "text/csv"),
            &settings,
            &Ports::new().with(OUTPUT, &out, "application/mei+xml"),
        )?;
        Ok(std::fs::read_to_string(out).expect("written"))
    }

    #[test]
    fn without_text_alignment_the_page_is_one_syllable_per_staff_in_one_line() {
        let mei = run(
            "classification,width,mei\nneume.punctum,1,<neume><nc/></neume>\n",
            json!({}),
        )
        .expect("encodes");
        let (declaration, root) = mei.split_once('\n').expect("two lines");
        assert_eq!(declaration, "<?xml version='1.0' encoding='utf8'?>");
        assert!(!root.contains('\n'));
        assert!(root.starts_with("<mei meiversion=\"5.0\" xml:id=\"m-"));
        assert!(root.contains("<nc facs=\"#m-"), "{root}");
        assert!(root.contains("oct=\"3\" pname=\"f\""), "{root}");
    }

    #[test]
    fn a_table_without_its_columns_and_a_spacing_out_of_range_are_refused() {
        let err = run("classification,mei\n", json!({})).expect_err("no width column");
        assert!(matches!(err, JobError::BadInput { .. }), "{err}");
        let err = run(
            "classification,width,mei\n",
            json!({"Neume Component Spacing": 11}),
        )
        .expect_err("above the maximum");
        assert!(matches!(err, JobError::BadSettings { .. }), "{err}");
    }
}
