//! 'Column Splitting' (upstream `column_split/base.py`): finds a folio's columns on its merged
//! staff, music and text layers, stacks the columns of every layer one below the other and writes
//! the split ranges as JSON for MEI Encoding.
//!
//! As upstream: layers are read as `cv2.imread(IMREAD_UNCHANGED)` and written as `cv2.imwrite`;
//! optional input layers are stacked too and written when their output port is connected ('Layer
//! 4' has no output port of its own); 'All Layers' is the sum of every stacked layer, wrapping at
//! the sample type's size as numpy adds (the layers are disjoint, so the sum is their union).
//! Where upstream fails (a layer without alpha, layers of other sizes, an optional output whose
//! input is not connected, a page too narrow or empty to find an edge) the job refuses the input
//! with a message saying why.

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::write_file;
use crate::columns::{self, SplitError};
use crate::descriptor::{Spec, describe, port};
use crate::job::{Inputs, Job, JobError, Outputs};
use crate::opencv::{AnyMat, ReadMode, imread, imwrite};
use crate::pyjson;
use crate::settings::Settings;

const RGBA: &[&str] = &["image/rgba+png"];
const STAFF: &str = "Staff Layer";
const NOTES: &str = "Music Notes Layer";
const TEXT: &str = "Text Layer";
const ALL: &str = "All Layers";
const DATA: &str = "Column Splitting Data";
const COLUMNS: &str = "Number of columns";
/// The optional layer ports, inputs and outputs alike except 'Layer 4' (input only).
const OPTIONAL: [&str; 8] = [
    "Background Layer",
    "Layer 4",
    "Layer 5",
    "Layer 6",
    "Layer 7",
    "Layer 8",
    "Layer 9",
    "Layer 10",
];

/// 'Column Splitting': stacks a folio's columns in every layer.
#[derive(Debug, Clone, Copy, Default)]
pub struct ColumnSplit;

impl Job for ColumnSplit {
    fn name(&self) -> &'static str {
        "Column Splitting"
    }

    fn descriptor(&self) -> JobDescriptor {
        let layer = |name: &str, minimum: u32| port(name, minimum, 1, RGBA);
        let mut inputs = vec![
            layer(STAFF, 1),
            layer("Background Layer", 0),
            layer(NOTES, 1),
            layer(TEXT, 1),
        ];
        inputs.extend(OPTIONAL[1..].iter().map(|name| layer(name, 0)));
        let mut outputs = vec![
            layer(STAFF, 1),
            layer("Background Layer", 0),
            layer(NOTES, 1),
            layer(TEXT, 1),
            layer(ALL, 0),
        ];
        outputs.extend(OPTIONAL[2..].iter().map(|name| layer(name, 0)));
        outputs.push(port(DATA, 1, 1, &["application/json"]));
        describe(
            Spec {
                name: self.name(),
                author: "Anthony Tan",
                description: "Finds the locations of the columns of a folio based on the staff \
                              layers then stacks them into a single image.",
                category: "OMR - Layout analysis",
            },
            json!({
                "title": "Settings",
                "type": "object",
                "job_queue": "Python3",
                "required": [COLUMNS],
                "properties": {
                    COLUMNS: {
                        "type": "integer",
                        "default": 2,
                        "minimum": 2,
                        "maximum": 10,
                        "description": "Number of columns in the folio. Must be at least 2. If \
                                        there is only one, don't use this job."
                    }
                }
            }),
            inputs,
            outputs,
        )
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let schema = self.descriptor().settings;
        let num_columns = usize::try_from(Settings::new(&schema, settings)?.integer(COLUMNS)?)
            .map_err(|_| JobError::bad_settings("setting out of range", COLUMNS))?;
        // Every required output before any work.
        let data_out = outputs.first(DATA)?;
        for name in [STAFF, TEXT, NOTES] {
            outputs.first(name)?;
        }
        for name in OPTIONAL.iter().filter(|n| **n != "Layer 4") {
            if outputs.contains(name) && !inputs.contains(name) {
                return Err(JobError::bad_input(
                    format!("output '{name}' has no input layer"),
                    format!(
                        "the output port '{name}' is connected but its input port '{name}' is \
                         not, so there is no layer to write to it"
                    ),
                ));
            }
        }
        let staff = read_layer(inputs, STAFF, true)?;
        let text = read_layer(inputs, TEXT, true)?;
        let notes = read_layer(inputs, NOTES, true)?;
        let (width, height, _) = staff.shape();
        let mut optional = Vec::new();
        for name in OPTIONAL {
            if inputs.contains(name) {
                optional.push((name, read_layer(inputs, name, false)?));
            }
        }
        for (name, layer) in [(TEXT, &text), (NOTES, &notes)]
            .into_iter()
            .chain(optional.iter().map(|(n, l)| (*n, l)))
        {
            let (w, h, _) = layer.shape();
            if (w, h) != (width, height) {
                return Err(JobError::bad_input(
                    "the layers differ in size",
                    format!(
                        "'{name}' is {w} x {h} pixels and '{STAFF}' is {width} x {height}; every \
                         layer of a folio must have the same size"
                    ),
                ));
            }
        }
        if outputs.contains(ALL) {
            let kind = |m: &AnyMat| (m.dtype(), m.shape().2);
            let main = [(STAFF, &staff), (TEXT, &text), (NOTES, &notes)];
            let all: Vec<_> = main
                .into_iter()
                .chain(optional.iter().map(|(n, l)| (*n, l)))
                .collect();
            if all.iter().any(|(_, l)| kind(l) != kind(&staff)) {
                let kinds: Vec<String> = all
                    .iter()
                    .map(|(name, m)| format!("'{name}' {} x {}", m.dtype(), m.shape().2))
                    .collect();
                return Err(cannot_add(&kinds));
            }
        }
        let projection = columns::ink_projection(&[&text, &staff, &notes]);
        let splits = columns::split_locations(&projection, num_columns).map_err(|e| match e {
            SplitError::NoEdge => JobError::bad_input(
                "no columns found in the layers",
                format!(
                    "{e}; the merged staff, music and text layers are {width} pixels wide and \
                     need ink in columns separated by gaps"
                ),
            ),
        })?;
        let ranges = columns::split_ranges(width, &splits);

        // Stacked layers are kept only when 'All Layers' adds them up.
        let keep = outputs.contains(ALL);
        let mut stacked = Vec::new();
        let main = [(STAFF, &staff), (TEXT, &text), (NOTES, &notes)];
        for (name, layer) in main
            .into_iter()
            .chain(optional.iter().map(|(n, l)| (*n, l)))
        {
            let image = stack(layer, &ranges);
            let out = if main.iter().any(|(n, _)| *n == name) {
                Some(outputs.first(name)?)
            } else {
                outputs.get(name).first()
            };
            if let Some(out) = out {
                imwrite(&out.path, &image)?;
            }
            if keep {
                stacked.push((name, image));
            }
        }
        if let Some(out) = outputs.get(ALL).first() {
            imwrite(&out.path, &all_layers(&stacked)?)?;
        }

        let int = |v: usize| pyjson::Value::Int(i64::try_from(v).unwrap_or(i64::MAX));
        let data = pyjson::Value::dict([
            ("width", int(width)),
            ("height", int(height)),
            (
                "split_ranges",
                pyjson::Value::List(
                    ranges
                        .iter()
                        .map(|&(a, b)| pyjson::Value::List(vec![int(a), int(b)]))
                        .collect(),
                ),
            ),
        ]);
        write_file(&data_out.path, data.to_json().as_bytes())
    }
}

/// Reads the layer of input `port`; the three main layers need an alpha channel (upstream reads
/// it), the others 3 or 4 channels (upstream pads them as colour images).
fn read_layer(inputs: &Inputs, port: &str, needs_alpha: bool) -> Result<AnyMat, JobError> {
    let path = &inputs.first(port)?.path;
    let image = imread(path, ReadMode::Unchanged)?;
    let channels = image.shape().2;
    let ok = if needs_alpha {
        channels == 4
    } else {
        channels >= 3
    };
    if !ok {
        let wanted = if needs_alpha {
            "an RGBA image (4 channels, with alpha)"
        } else {
            "a colour image (3 or 4 channels)"
        };
        return Err(JobError::bad_input(
            format!("'{port}' is not {wanted}"),
            format!(
                "{} decodes to {channels} channel(s); '{port}' must be {wanted}",
                path.display()
            ),
        ));
    }
    Ok(image)
}

fn stack(layer: &AnyMat, ranges: &[(usize, usize)]) -> AnyMat {
    match layer {
        AnyMat::U8(m) => AnyMat::U8(columns::stack(m, ranges)),
        AnyMat::U16(m) => AnyMat::U16(columns::stack(m, ranges)),
    }
}

/// The 'All Layers' image: every stacked layer added up as numpy adds equal arrays.
fn all_layers(stacked: &[(&str, AnyMat)]) -> Result<AnyMat, JobError> {
    let mismatch = || {
        let kinds: Vec<String> = stacked
            .iter()
            .map(|(name, m)| format!("'{name}' {} x {}", m.dtype(), m.shape().2))
            .collect();
        cannot_add(&kinds)
    };
    let eight: Option<Vec<_>> = stacked
        .iter()
        .map(|(_, m)| match m {
            AnyMat::U8(m) => Some(m),
            AnyMat::U16(_) => None,
        })
        .collect();
    if let Some(layers) = eight {
        return columns::wrapping_sum(&layers)
            .map(AnyMat::U8)
            .ok_or_else(mismatch);
    }
    let sixteen: Option<Vec<_>> = stacked
        .iter()
        .map(|(_, m)| match m {
            AnyMat::U16(m) => Some(m),
            AnyMat::U8(_) => None,
        })
        .collect();
    sixteen
        .and_then(|layers| columns::wrapping_sum(&layers))
        .map(AnyMat::U16)
        .ok_or_else(mismatch)
}

fn cannot_add(kinds: &[String]) -> JobError {
    JobError::bad_input(
        "the layers cannot be added into 'All Layers'",
        format!(
            "'All Layers' adds every layer up, which needs the same sample type and channel count \
             in each; got {}",
            kinds.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Ports;
    use crate::opencv::Mat;
    use std::path::{Path, PathBuf};

    /// A `width` x `height` RGBA layer: opaque `colour` where `ink(x, y)`, transparent black
    /// elsewhere.
    fn layer(
        (width, height): (usize, usize),
        colour: [u8; 3],
        ink: impl Fn(usize, usize) -> bool,
    ) -> AnyMat {
        let data = (0..height)
            .flat_map(|y| (0..width).map(move |x| (x, y)))
            .flat_map(|(x, y)| {
                if ink(x, y) {
                    [colour[0], colour[1], colour[2], 255]
                } else {
                    [0; 4]
                }
            })
            .collect();
        AnyMat::U8(Mat::new(width, height, 4, data).expect("width * height * 4 samples"))
    }

    /// Two columns of ink, x 20..120 and 200..300, on a 320 x 60 page: staff lines every 10
    /// rows, notes on even rows, text on rows 55..58.
    fn page(dir: &Path) -> Inputs {
        let size = (320, 60);
        let in_columns = |x: usize| (20..120).contains(&x) || (200..300).contains(&x);
        let layers = [
            (
                STAFF,
                layer(size, [1, 2, 3], |x, y| in_columns(x) && y % 10 == 0),
            ),
            (
                NOTES,
                layer(size, [4, 5, 6], |x, y| {
                    in_columns(x) && y % 2 == 0 && x % 7 == 0
                }),
            ),
            (
                TEXT,
                layer(size, [7, 8, 9], |x, y| {
                    in_columns(x) && (55..58).contains(&y)
                }),
            ),
        ];
        let mut inputs = Ports::new();
        for (port, image) in layers {
            let path = dir.join(format!("{port}.png"));
            imwrite(&path, &image).expect("the input is written");
            inputs = inputs.with(port, path, "image/rgba+png");
        }
        inputs
    }

    fn outputs(dir: &Path, ports: &[&str]) -> Outputs {
        ports.iter().fold(Ports::new(), |o, port| {
            o.with(*port, dir.join(format!("out-{port}")), "image/rgba+png")
        })
    }

    fn read(path: PathBuf) -> Mat<u8> {
        match imread(&path, ReadMode::Unchanged).expect("an output PNG") {
            AnyMat::U8(m) => m,
            AnyMat::U16(_) => panic!("8-bit expected"),
        }
    }

    #[test]
    fn a_two_column_page_is_split_in_its_gap_and_stacked_in_every_layer() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let inputs = page(dir.path());
        let out = outputs(dir.path(), &[STAFF, NOTES, TEXT, DATA]);
        ColumnSplit
            .run(&inputs, &json!({}), &out)
            .expect("the page splits");
        let data = std::fs::read_to_string(dir.path().join(format!("out-{DATA}"))).expect("JSON");
        // The gap is x 140..180: the strong regions end and start symmetrically around 160.
        assert_eq!(
            data,
            r#"{"width": 320, "height": 60, "split_ranges": [[0, 159], [159, 320]]}"#
        );
        let staff = read(dir.path().join(format!("out-{STAFF}")));
        assert_eq!(
            (staff.width(), staff.height(), staff.channels()),
            (161, 120, 4)
        );
        let original = match imread(&inputs.get(STAFF)[0].path, ReadMode::Unchanged) {
            Ok(AnyMat::U8(m)) => m,
            other => panic!("{other:?}"),
        };
        // Top half: columns 0..159, then one padding pixel of 255; bottom: columns 159..320.
        assert_eq!(&staff.row(10)[..159 * 4], &original.row(10)[..159 * 4]);
        assert_eq!(&staff.row(10)[159 * 4..], [255; 8]);
        assert_eq!(staff.row(70), &original.row(10)[159 * 4..]);
    }

    #[test]
    fn optional_layers_are_stacked_layer_4_only_into_all_layers() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut inputs = page(dir.path());
        let extra = layer((320, 60), [50, 60, 70], |x, y| x == 30 && y == 5);
        for port in ["Background Layer", "Layer 4", "Layer 7"] {
            let path = dir.path().join(format!("{port}.png"));
            imwrite(&path, &extra).expect("written");
            inputs = inputs.with(port, path, "image/rgba+png");
        }
        let out = outputs(
            dir.path(),
            &[STAFF, NOTES, TEXT, DATA, "Background Layer", "Layer 7", ALL],
        );
        ColumnSplit
            .run(&inputs, &json!({"Number of columns": 2}), &out)
            .expect("the page splits");
        let background = read(dir.path().join("out-Background Layer"));
        assert_eq!(&background.row(5)[30 * 4..31 * 4], [50, 60, 70, 255]);
        assert!(dir.path().join("out-Layer 7").is_file());
        let all = read(dir.path().join(format!("out-{ALL}")));
        // Three copies of the extra pixel (background, 4, 7) on a transparent page.
        assert_eq!(&all.row(5)[30 * 4..31 * 4], [150, 180, 210, 253]);
        // A staff-line pixel of its own layer only.
        assert_eq!(&all.row(0)[20 * 4..21 * 4], [1, 2, 3, 255]);
        // The padding: 255 added six times, wrapping.
        assert_eq!(&all.row(0)[159 * 4..160 * 4], [250; 4]);
    }

    fn error(inputs: &Inputs, outputs: &Outputs) -> JobError {
        let err = ColumnSplit
            .run(inputs, &json!({}), outputs)
            .expect_err("the input is refused");
        assert!(err.is_permanent(), "{err:?}");
        err
    }

    #[test]
    fn layers_of_other_sizes_non_pngs_and_missing_ports_are_bad_input() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let out = outputs(dir.path(), &[STAFF, NOTES, TEXT, DATA]);
        let small = dir.path().join("small.png");
        imwrite(&small, &layer((300, 60), [0; 3], |_, _| true)).expect("written");
        let inputs = page(dir.path()).with("Layer 5", &small, "image/rgba+png");
        let err = error(&inputs, &out);
        assert!(
            err.error_details().contains("'Layer 5' is 300 x 60"),
            "{err:?}"
        );

        let text = dir.path().join("text.txt");
        std::fs::write(&text, "not an image").expect("written");
        let mut inputs = Ports::new();
        for (port, files) in page(dir.path()).iter() {
            let path = if port == TEXT { &text } else { &files[0].path };
            inputs = inputs.with(port, path, "image/rgba+png");
        }
        assert!(error(&inputs, &out).error_summary().contains("not a PNG"));

        let mut inputs = Ports::new();
        for (port, files) in page(dir.path()).iter().filter(|(p, _)| *p != NOTES) {
            inputs = inputs.with(port, &files[0].path, "image/rgba+png");
        }
        assert!(error(&inputs, &out).error_summary().contains(NOTES));
        let no_data = outputs(dir.path(), &[STAFF, NOTES, TEXT]);
        assert!(
            error(&page(dir.path()), &no_data)
                .error_summary()
                .contains(DATA)
        );
    }

    #[test]
    fn layers_without_alpha_or_an_output_without_its_input_are_bad_input() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        for port in ["Layer 6", "Background Layer"] {
            let out = outputs(dir.path(), &[STAFF, NOTES, TEXT, DATA, port]);
            let err = error(&page(dir.path()), &out);
            assert!(
                err.error_summary().contains(&format!("'{port}'")),
                "{err:?}"
            );
        }

        let rgb = dir.path().join("rgb.png");
        let data = vec![0u8; 320 * 60 * 3];
        imwrite(
            &rgb,
            &AnyMat::U8(Mat::new(320, 60, 3, data).expect("samples")),
        )
        .expect("written");
        let mut inputs = Ports::new();
        for (port, files) in page(dir.path()).iter() {
            let path = if port == STAFF { &rgb } else { &files[0].path };
            inputs = inputs.with(port, path, "image/rgba+png");
        }
        let out = outputs(dir.path(), &[STAFF, NOTES, TEXT, DATA]);
        assert!(error(&inputs, &out).error_summary().contains("RGBA"));
        // An RGB extra layer is stacked as upstream pads it, but cannot join 'All Layers'.
        let inputs = page(dir.path()).with("Layer 8", &rgb, "image/rgba+png");
        let out_all = outputs(dir.path(), &[STAFF, NOTES, TEXT, DATA, "Layer 8"]);
        ColumnSplit
            .run(&inputs, &json!({}), &out_all)
            .expect("an RGB extra layer is stacked");
        assert_eq!(read(dir.path().join("out-Layer 8")).channels(), 3);
        let out_all = outputs(dir.path(), &[STAFF, NOTES, TEXT, DATA, ALL]);
        assert!(
            error(&inputs, &out_all)
                .error_summary()
                .contains("All Layers")
        );
    }

    #[test]
    fn an_empty_page_and_a_bad_column_count_are_refused() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let empty = dir.path().join("empty.png");
        imwrite(&empty, &layer((320, 60), [0; 3], |_, _| false)).expect("written");
        let inputs = [STAFF, NOTES, TEXT]
            .iter()
            .fold(Ports::new(), |i, p| i.with(*p, &empty, "image/rgba+png"));
        let out = outputs(dir.path(), &[STAFF, NOTES, TEXT, DATA]);
        assert!(error(&inputs, &out).error_summary().contains("no columns"));
        let err = ColumnSplit
            .run(&page(dir.path()), &json!({"Number of columns": 11}), &out)
            .expect_err("11 columns is over the maximum");
        assert!(matches!(err, JobError::BadSettings { .. }));
    }
}
