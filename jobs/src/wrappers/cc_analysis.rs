//! Gamera's connected-component analysis job (upstream
//! `gamera_rodan/wrappers/plugins/cc_analysis.py`), writing GameraXML.

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::{load_input, onebit, write_file};
use crate::descriptor::{Spec, describe, port};
use crate::gamera::segmentation::cc_analysis;
use crate::gamera::xml::glyphs_xml;
use crate::job::{Inputs, Job, JobError, Outputs};

const INPUT: &str = "1-Bit PNG Image";
const OUTPUT: &str = "GameraXML - Connected Components";

const DESCRIPTION: &str = r#"
    Performs connected component analysis on the image.

    This algorithm assumes 8-connected components, meaning any two
    pixels are considered "connected" if they are adjacent in any
    direction, including diagonally.

    The original image will have all of its pixels "labeled" with a
    number representing each connected component.  This is so the
    connected components can share data with their source image and
    makes things much more efficient.

    Returns a list of ccs found in the image.  Since all the CC's
    share the same data with the original image, changing the CC's
    will affect the original.  If you do not want this behavior, use
    the image_copy_ function on each of the CCs::

      ccs = [x.image_copy() for x in ccs]

    .. _image_copy: utility.html#image-copy
    "#;

/// 'CC Analysis': the 8-connected components of a one-bit image as GameraXML glyphs.
#[derive(Debug, Clone, Copy, Default)]
pub struct CcAnalysis;

impl Job for CcAnalysis {
    fn name(&self) -> &'static str {
        "CC Analysis"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: "Andrew Fogarty",
                description: DESCRIPTION,
                category: "Gamera - Classification",
            },
            json!({"job_queue": "Python3"}),
            vec![port(INPUT, 1, 1, &["image/onebit+png"])],
            vec![port(OUTPUT, 1, 1, &["application/gamera+xml"])],
        )
    }

    fn run(&self, inputs: &Inputs, _settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let image = onebit(self.name(), load_input(inputs, INPUT)?)?;
        let xml = glyphs_xml(&cc_analysis(&image)?);
        write_file(&outputs.first(OUTPUT)?.path, xml.as_bytes())
    }
}
