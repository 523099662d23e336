//! 'Dirty Layer Repair' (upstream `diagonal_neume_slicing/base.py` over `DirtyLayerRepair.py`):
//! mends a broken layer (neumes) with the dense blobs of a dirty layer (text) of the same page.

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::{load_input, save_outputs};
use crate::descriptor::{Spec, describe, port};
use crate::gamera::conversion::to_onebit;
use crate::gamera::features::component_compactness;
use crate::gamera::logical::{or_image, xor_image};
use crate::gamera::morphology::despeckle;
use crate::gamera::segmentation::cc_analysis;
use crate::gamera::{BLACK, GameraError, Image, Plane, WHITE};
use crate::job::{Inputs, Job, JobError, Outputs};
use crate::settings::Settings;

const BASE: &str = "Base Layer";
const DIRTY: &str = "Dirty Layer";
const OUTPUT: &str = "Repaired Base Layer";
const DENSITY: &str = "Minimum Density";
const DESPECKLE: &str = "Despeckle Size";

const UPSTREAM_DESCRIPTION: &str = "A tool for 'repairing' broken layers by adding errors from a dirty layer. For example, using a text layer to repair its neume layer.";

/// What this job does differently from upstream, appended to upstream's description.
pub const CHANGE: &str = " Note: upstream Rodan's version of this job ignored its settings and always used a minimum density of 0.3 and a despeckle size of 500; this one uses the settings given.";

/// Upstream's `DirtyLayerRepairman.run`: the connected components of `dirty` whose Gamera
/// compactness (outline over area) is below `density`, the solid ones, stay out; the others
/// (thin strokes, fragments) are added to `base`; then components of fewer than
/// `despeckle_size` pixels are removed.
///
/// As in upstream, the components that stay out are gathered with Gamera's `union_images`,
/// which skips components one pixel high or wide; so those are always added.
pub fn repair(
    base: &Plane<u8>,
    dirty: &Plane<u8>,
    density: f64,
    despeckle_size: usize,
) -> Result<Plane<u8>, GameraError> {
    let labelled = cc_analysis(dirty)?;
    let mut kept = Plane::new(dirty.width(), dirty.height(), WHITE);
    for c in &labelled.components {
        if c.nrows < 2 || c.ncols < 2 {
            continue;
        }
        let mut glyph = Plane::new(c.ncols, c.nrows, WHITE);
        for y in 0..c.nrows {
            for x in 0..c.ncols {
                if labelled.labels.get(c.ul_x + x, c.ul_y + y) == c.label {
                    glyph.set(x, y, BLACK);
                }
            }
        }
        if component_compactness(&glyph) >= density {
            continue;
        }
        for y in 0..c.nrows {
            for x in 0..c.ncols {
                if glyph.get(x, y) == BLACK {
                    kept.set(c.ul_x + x, c.ul_y + y, BLACK);
                }
            }
        }
    }
    let dirt = xor_image(dirty, &kept)?;
    let mut out = or_image(base, &dirt)?;
    despeckle(&mut out, despeckle_size);
    Ok(out)
}

/// 'Dirty Layer Repair'.
#[derive(Debug, Clone, Copy, Default)]
pub struct DirtyLayerRepair;

impl Job for DirtyLayerRepair {
    fn name(&self) -> &'static str {
        "Dirty Layer Repair"
    }

    fn descriptor(&self) -> JobDescriptor {
        let description = format!("{UPSTREAM_DESCRIPTION}{CHANGE}");
        let types = ["image/rgb+png", "image/onebit+png", "image/greyscale+png"];
        describe(
            Spec {
                name: self.name(),
                author: "Noah Baxter",
                description: &description,
                category: "Image Processing",
            },
            json!({
                "title": "Settings",
                "type": "object",
                "job_queue": "Python3",
                "required": [DENSITY, DESPECKLE],
                "properties": {
                    DENSITY: {
                        "type": "number",
                        "default": 0.3,
                        "minimum": 0.0,
                        "maximum": 1.0,
                        "description": "Use only glyphs with a density less than the maximum from the dirty layer. Smaller values bring more dirt from the dirty layer but may eventually bring undesired glyphs."
                    },
                    DESPECKLE: {
                        "type": "integer",
                        "default": 500,
                        "minimum": 0,
                        "maximum": 1000,
                        "description": "How much post despeckle to apply to the combined output image."
                    }
                }
            }),
            vec![port(BASE, 1, 1, &types), port(DIRTY, 1, 1, &types)],
            vec![port(OUTPUT, 1, 1, &["image/onebit+png"])],
        )
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let schema = self.descriptor().settings;
        let s = Settings::new(&schema, settings)?;
        let density = s.number(DENSITY)?;
        let size = usize::try_from(s.integer(DESPECKLE)?).unwrap_or(0);
        let base = to_onebit(&load_input(inputs, BASE)?)?;
        let dirty = to_onebit(&load_input(inputs, DIRTY)?)?;
        if (base.width(), base.height()) != (dirty.width(), dirty.height()) {
            return Err(JobError::bad_input(
                "the base and dirty layers must be the same size",
                format!(
                    "Gamera's or_image needs images of the same size: the base layer is {}×{}, \
                     the dirty layer {}×{}",
                    base.width(),
                    base.height(),
                    dirty.width(),
                    dirty.height()
                ),
            ));
        }
        let repaired = repair(&base, &dirty, density, size)?;
        save_outputs(&Image::OneBit(repaired), outputs, OUTPUT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::gamera::plane_from_rows as plane;

    #[test]
    fn dense_blobs_of_the_dirty_layer_mend_the_base_and_sparse_ones_stay_out() {
        // A filled 4×4 square (compactness 1.25) and a thin hook (more) are both added at 0.3;
        // at a density above both, both stay out.
        let dirty = plane(&[
            "..........",
            ".####.....",
            ".####..##.",
            ".####...#.",
            ".####...#.",
            "..........",
        ]);
        let base = Plane::new(10, 6, WHITE);
        let all = repair(&base, &dirty, 0.3, 0).expect("same size");
        assert_eq!(all, dirty);
        let none = repair(&base, &dirty, 100.0, 0).expect("same size");
        assert_eq!(none, base);
        // Despeckling then removes what is smaller than its size.
        let big_only = repair(&base, &dirty, 0.3, 5).expect("same size");
        assert_eq!(
            big_only.pixels().iter().filter(|&&v| v == BLACK).count(),
            16
        );
    }

    #[test]
    fn components_one_pixel_high_or_wide_are_always_added() {
        let dirty = plane(&["......", ".####.", "......"]);
        let base = Plane::new(6, 3, WHITE);
        assert_eq!(repair(&base, &dirty, 100.0, 0).expect("same size"), dirty);
    }

    #[test]
    fn layers_of_different_sizes_are_refused() {
        let a = Plane::new(3, 3, WHITE);
        let b = Plane::new(4, 3, WHITE);
        assert_eq!(repair(&a, &b, 0.3, 0), Err(GameraError::SizeMismatch));
    }
}
