//! The GPU queue's layer separation, with selectional auto-encoders (rodan-sae):
//! - 'Fast Pixelwise Analysis of Music Document, Classifying' (upstream
//!   `Paco_classifier/fast_paco_classifier.py`): one model per layer, the background's first;
//! - 'Fast Pixelwise Analysis of Music Document', the job as DDMAL's workflow exports of 2020
//!   name it (`Calvo-classifier/fast_calvo_classifier.py`), with fixed background, music symbol,
//!   staff line and text ports.
//!
//! Every page is read as `cv2.imread(path, 1)` reads it (BGR, alpha dropped), every pixel takes
//! the layer whose model scores it highest ([`rodan_sae::classify`]), and each layer is written
//! as upstream writes it: the page's own colour and full alpha where the pixel is the layer's,
//! transparent white elsewhere. The `Threshold` setting is upstream's too, and as there it only
//! matters to the unused "masks" mode.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use rodan_core::catalogue::{JobDescriptor, PortType};
use rodan_sae::{Bgr, keras};
use serde_json::{Value, json};

use super::write_file;
use crate::descriptor::{Spec, describe, image_types, port};
use crate::job::{Inputs, Job, JobError, Outputs, Resource};
use crate::opencv::{AnyMat, Mat, ReadMode, imread, imwrite};
use crate::settings::Settings;

const MODEL: &[&str] = &["keras/model+hdf5"];
const RGBA: &[&str] = &["image/rgba+png"];
const LOG: &str = "Log File";

/// Upstream's settings: the window's height and width, and the threshold of the masks mode.
fn settings_schema() -> Value {
    json!({
        "title": "Parameters",
        "type": "object",
        "job_queue": "GPU",
        "properties": {
            "Height": {"type": "integer", "minimum": 1, "default": 256},
            "Width": {"type": "integer", "minimum": 1, "default": 256},
            "Threshold": {"type": "integer", "minimum": 0, "maximum": 100, "default": 50}
        }
    })
}

fn window(schema: &Value, settings: &Value) -> Result<(usize, usize), JobError> {
    let s = Settings::new(schema, settings)?;
    let side = |key: &str| -> Result<usize, JobError> {
        let v = s.integer(key)?;
        usize::try_from(v)
            .ok()
            .filter(|&v| v <= 4096)
            .ok_or_else(|| {
                JobError::bad_settings(
                    format!("{key} is out of range"),
                    format!("{key} is {v}; a window of at most 4096 pixels is accepted"),
                )
            })
    };
    s.integer("Threshold")?;
    Ok((side("Height")?, side("Width")?))
}

/// The model at `resource`, refused as bad input when it is not a Keras SAE.
pub(crate) fn read_model(resource: &Resource, port: &str) -> Result<keras::Model, JobError> {
    keras::read(&resource.path).map_err(|e| {
        JobError::bad_input(
            format!("'{port}' is not a model this job can run"),
            format!("{}: {e}", resource.path.display()),
        )
    })
}

/// A page as `cv2.imread(path, 1)` gives it, in BGR.
pub(crate) fn read_page(path: &Path) -> Result<Bgr, JobError> {
    let AnyMat::U8(page) = imread(path, ReadMode::Color)? else {
        unreachable!("IMREAD_COLOR gives 8-bit samples")
    };
    let (width, height) = (page.width(), page.height());
    let data = page
        .data()
        .chunks_exact(3)
        .flat_map(|p| [p[2], p[1], p[0]])
        .collect();
    Ok(Bgr {
        height,
        width,
        data,
    })
}

fn sae_error(e: rodan_sae::Error) -> JobError {
    super::sae_error("the page cannot be analysed", "a model cannot be run")(e)
}

/// Writes the pixels of `page` labelled `label` as upstream's layer image.
fn write_layer(path: &Path, page: &Bgr, labels: &[u8], label: u8) -> Result<(), JobError> {
    let mut rgba = Vec::with_capacity(page.width * page.height * 4);
    for (bgr, &l) in page.data.chunks_exact(3).zip(labels) {
        if l == label {
            rgba.extend_from_slice(&[bgr[2], bgr[1], bgr[0], 255]);
        } else {
            rgba.extend_from_slice(&[255, 255, 255, 0]);
        }
    }
    let mat = Mat::new(page.width, page.height, 4, rgba).expect("the buffer is the page's size");
    imwrite(path, &AnyMat::U8(mat))
}

/// Classifies every page of the `Image` port with `models` (in label order) and writes layer
/// `label` of page `i` to the `i`-th resource of `ports[label]`, when that port is connected.
fn run_pages(
    inputs: &Inputs,
    outputs: &Outputs,
    models: &[(String, keras::Model)],
    ports: &[&str],
    (height, width): (usize, usize),
) -> Result<(), JobError> {
    let pages = inputs.get("Image");
    if pages.is_empty() {
        return Err(JobError::bad_input(
            "no image",
            "the 'Image' port has no page",
        ));
    }
    for port in ports.iter().filter(|p| outputs.contains(p)) {
        if outputs.get(port).len() != pages.len() {
            return Err(JobError::bad_input(
                format!("'{port}' needs one output per page"),
                format!(
                    "{} pages and {} outputs on '{port}'",
                    pages.len(),
                    outputs.get(port).len()
                ),
            ));
        }
    }
    let probe = rodan_sae::device::probe();
    let mut log = String::new();
    let _ = writeln!(log, "Device: {}", probe.device.describe());
    if let Some(why) = &probe.why_not_gpu {
        let _ = writeln!(log, "No GPU: {why}");
    }
    for (i, (name, _)) in models.iter().enumerate() {
        let _ = writeln!(log, "Label {i}: model '{name}'");
    }
    let plain: Vec<keras::Model> = models.iter().map(|(_, m)| m.clone()).collect();
    for (i, resource) in pages.iter().enumerate() {
        let page = read_page(&resource.path)?;
        let started = Instant::now();
        let labels = rodan_sae::analyse(&page, &plain, height, width).map_err(sae_error)?;
        let _ = writeln!(
            log,
            "Page {} ({}×{} pixels): {:.1} s",
            i + 1,
            page.width,
            page.height,
            started.elapsed().as_secs_f64()
        );
        for (label, port) in ports.iter().enumerate().take(models.len()) {
            if outputs.contains(port) {
                let out = &outputs.get(port)[i];
                write_layer(&out.path, &page, &labels, label as u8)?;
            }
        }
    }
    if let Ok(out) = outputs.first(LOG) {
        write_file(&out.path, log.as_bytes())?;
    }
    Ok(())
}

/// Upstream's author, description and category, which both classifiers share.
fn classifier_spec(name: &str) -> Spec<'_> {
    Spec {
        name,
        author: "Jorge Calvo-Zaragoza, Gabriel Vigliensoni, and Ichiro Fujinaga",
        description: "Given a pre-trained Convolutional neural network, the job performs a (fast) \
                      pixelwise analysis of music document images.",
        category: "OMR - Layout analysis",
    }
}

/// 'Fast Pixelwise Analysis of Music Document, Classifying'.
#[derive(Debug, Clone, Copy, Default)]
pub struct FastPacoClassifier;

/// Its numbered layers: `Model n` in, `Layer n` out.
const LAYERS: usize = 10;

impl Job for FastPacoClassifier {
    fn name(&self) -> &'static str {
        "Fast Pixelwise Analysis of Music Document, Classifying"
    }

    fn descriptor(&self) -> JobDescriptor {
        let mut inputs = vec![
            port("Image", 1, 100, &image_types()),
            port("Background Model", 1, 1, MODEL),
        ];
        inputs
            .extend((1..=LAYERS).map(|n| port(&format!("Model {n}"), u32::from(n == 1), 1, MODEL)));
        let mut outputs = vec![
            port(LOG, 0, 1, &["text/plain"]),
            port("Background Layer", 1, 1, RGBA),
        ];
        outputs
            .extend((1..=LAYERS).map(|n| port(&format!("Layer {n}"), u32::from(n == 1), 1, RGBA)));
        describe(
            classifier_spec(self.name()),
            settings_schema(),
            inputs,
            outputs,
        )
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let size = window(&settings_schema(), settings)?;
        let model_ports = inputs
            .iter()
            .filter(|(p, _)| p.starts_with("Model"))
            .count();
        let layer_ports = outputs
            .iter()
            .filter(|(p, _)| p.starts_with("Layer"))
            .count();
        if model_ports != layer_ports {
            return Err(JobError::bad_input(
                "the models and the layers do not match",
                format!(
                    "The number of input layers \"Model\" ({model_ports}) does not match the \
                     number of output \"Layer\" ({layer_ports})"
                ),
            ));
        }
        let mut names = vec!["Background Model".to_string()];
        let mut ports = vec!["Background Layer".to_string()];
        for n in 1..=model_ports {
            names.push(format!("Model {n}"));
            ports.push(format!("Layer {n}"));
        }
        let mut models = Vec::new();
        for name in &names {
            let resource = inputs.first(name).map_err(|_| {
                JobError::bad_input(
                    format!("'{name}' is not connected"),
                    format!(
                        "{model_ports} models are connected but not '{name}': connect Model 1 to \
                         Model {model_ports} without gaps"
                    ),
                )
            })?;
            models.push((name.clone(), read_model(resource, name)?));
        }
        let ports: Vec<&str> = ports.iter().map(String::as_str).collect();
        run_pages(inputs, outputs, &models, &ports, size)
    }
}

/// 'Fast Pixelwise Analysis of Music Document', as DDMAL's workflows of 2020 use it.
#[derive(Debug, Clone, Copy, Default)]
pub struct FastCalvoClassifier;

/// Its model ports in label order, and the layer port each fills.
const CALVO: [(&str, &str, u32); 4] = [
    ("Background model", "Background", 1),
    ("Symbol model", "Music symbol", 1),
    ("Staff-line model", "Staff lines", 0),
    ("Text model", "Text", 0),
];

impl Job for FastCalvoClassifier {
    fn name(&self) -> &'static str {
        "Fast Pixelwise Analysis of Music Document"
    }

    fn descriptor(&self) -> JobDescriptor {
        let mut inputs: Vec<PortType> = vec![port("Image", 1, 100, &image_types())];
        inputs.extend(
            CALVO
                .iter()
                .map(|(model, _, min)| port(model, *min, 1, MODEL)),
        );
        let layer = |name: &str| port(name, 0, 100, RGBA);
        let outputs = vec![
            layer("Background"),
            layer("Music symbol"),
            port(LOG, 0, 1, &["text/plain"]),
            layer("Staff lines"),
            layer("Text"),
        ];
        describe(
            classifier_spec(self.name()),
            settings_schema(),
            inputs,
            outputs,
        )
    }

    /// The background and music symbol models always, then the staff line and text models that
    /// are connected; each connected layer port gets the layer of its own model. (Upstream
    /// numbered the optional models by connection, so a text model without a staff line model
    /// wrote its layer to 'Staff lines'.)
    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let size = window(&settings_schema(), settings)?;
        let mut models = Vec::new();
        let mut ports = Vec::new();
        for (model, layer, _) in CALVO {
            if let Ok(resource) = inputs.first(model) {
                models.push((model.to_string(), read_model(resource, model)?));
                ports.push(layer);
            } else if outputs.contains(layer) {
                return Err(JobError::bad_input(
                    format!("'{layer}' has no model"),
                    format!("the output '{layer}' is connected but the input '{model}' is not"),
                ));
            }
        }
        run_pages(inputs, outputs, &models, &ports, size)
    }
}
