//! The GPU queue's trainers, one selectional auto-encoder per layer (rodan-sae):
//! - 'Training model for Patchwise Analysis of Music Document, Training' (upstream
//!   `Paco_classifier/fast_paco_trainer.py`): pages come as Pixel.js sample zips (`Image.png`,
//!   `rgba PNG - Selected regions.png` and one PNG per layer, the background's first in name
//!   order), alone or many to a "Multi-Sample Zip"; patches are drawn at random from every
//!   layer's pixels; models given on the input ports are trained further.
//! - 'Training model for Patchwise Analysis of Music Document', the job as DDMAL's workflow
//!   exports of 2020 name it (`Calvo-classifier/fast_calvo_trainer.py`): one page and its layers
//!   on their own ports, patches centred on a pixel sample of the page.
//!
//! Both write each model as Keras writes it (`keras/model+hdf5`), the one of the epoch with the
//! best validation accuracy, and a log with one line per epoch in Keras's words.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::Path;

use rand::SeedableRng;
use rodan_core::catalogue::JobDescriptor;
use rodan_sae::train::{self, Epoch, Page, Rgba, Sampler};
use rodan_sae::{Bgr, keras};
use serde_json::{Value, json};

use super::pixelwise::{read_model, read_page};
use super::write_file;
use crate::descriptor::{Spec, describe, port};
use crate::job::{Inputs, Job, JobError, Outputs};
use crate::opencv::{AnyMat, ReadMode, imread};
use crate::settings::Settings;

const MODEL: &[&str] = &["keras/model+hdf5"];
const ZIP: &[&str] = &["application/zip"];
const RGBA: &[&str] = &["image/rgba+png"];
const LOG: &str = "Log File";
const MULTI: &str = "Multi-Sample Zip";
/// The most bytes a training zip may unpack to.
const MAX_UNZIPPED: u64 = 4 << 30;

fn int(s: &Settings<'_>, key: &str) -> Result<usize, JobError> {
    let v = s.integer(key)?;
    usize::try_from(v).map_err(|_| {
        JobError::bad_settings(format!("{key} is out of range"), format!("{key} is {v}"))
    })
}

/// The trainer's settings against `schema`: the patience from its `Patience` setting, or
/// `patience` where the job has none.
fn trainer_settings(
    schema: &Value,
    settings: &Value,
    patience: Option<usize>,
    sampler: Sampler,
) -> Result<train::Settings, JobError> {
    let s = Settings::new(schema, settings)?;
    Ok(train::Settings {
        batch_size: int(&s, "Batch Size")?,
        patch_height: int(&s, "Patch height")?,
        patch_width: int(&s, "Patch width")?,
        max_epochs: int(&s, "Maximum number of training epochs")?,
        samples_per_label: int(&s, "Maximum number of samples per label")?,
        patience: match patience {
            Some(p) => p,
            None => int(&s, "Patience")?,
        },
        sampler,
    })
}

/// A layer PNG as `cv2.imread(path, IMREAD_UNCHANGED)`; it must have 8-bit RGBA.
fn read_rgba(path: &Path, what: &str) -> Result<Rgba, JobError> {
    match imread(path, ReadMode::Unchanged)? {
        AnyMat::U8(m) if m.channels() == 4 => Ok(Rgba {
            height: m.height(),
            width: m.width(),
            data: m.data().to_vec(),
        }),
        other => Err(JobError::bad_input(
            format!("{what} is not an RGBA PNG"),
            format!(
                "{what} has {} channels of {}; a layer needs 8-bit RGBA, its alpha saying which \
                 pixels are the layer's",
                other.shape().2,
                other.dtype()
            ),
        )),
    }
}

fn sae_error(e: rodan_sae::Error) -> JobError {
    super::sae_error(
        "the training data cannot be used",
        "a model cannot be trained",
    )(e)
}

/// Keras's `verbose=2` line for an epoch, and its checkpoint's.
fn log_epoch(log: &mut String, e: &Epoch, epochs: usize, best: f64) {
    let _ = writeln!(
        log,
        "Epoch {}/{epochs}\n{steps}/{steps} - {:.0}s - loss: {:.4} - accuracy: {:.4} - val_loss: {:.4} - val_accuracy: {:.4}",
        e.epoch,
        e.seconds,
        e.loss,
        e.accuracy,
        e.val_loss,
        e.val_accuracy,
        steps = e.steps
    );
    if e.improved {
        let _ = writeln!(
            log,
            "Epoch {}: val_accuracy improved from {best:.5} to {:.5}, saving model",
            e.epoch, e.val_accuracy
        );
    } else {
        let _ = writeln!(
            log,
            "Epoch {}: val_accuracy did not improve from {best:.5}",
            e.epoch
        );
    }
}

/// Trains one model per label and writes them to `outputs[ports[label]]`, with the log.
fn train_all(
    pages: &[Page],
    starts: &[Option<keras::Model>],
    settings: &train::Settings,
    outputs: &Outputs,
    ports: &[String],
    log: &mut String,
) -> Result<(), JobError> {
    train::check(settings, pages).map_err(sae_error)?;
    let probe = rodan_sae::device::probe();
    let _ = writeln!(log, "Device: {}", probe.device.describe());
    if let Some(why) = &probe.why_not_gpu {
        let _ = writeln!(log, "No GPU: {why}");
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(rand::random());
    for (label, port) in ports.iter().enumerate() {
        let _ = writeln!(
            log,
            "Training a new model for label #{label} ({port}){}",
            if starts[label].is_some() {
                ", from the given model"
            } else {
                ""
            }
        );
        let mut best = f64::NEG_INFINITY;
        let model = rodan_sae::train(
            pages,
            label,
            starts[label].as_ref(),
            settings,
            &mut rng,
            &mut |e| {
                log_epoch(log, e, settings.max_epochs, best);
                if e.improved {
                    best = e.val_accuracy;
                }
            },
        )
        .map_err(sae_error)?;
        let out = outputs.first(port)?;
        keras::write(&out.path, &model, train::LEARNING_RATE as f32)
            .map_err(|e| JobError::write(&out.path, std::io::Error::other(e.to_string())))?;
    }
    let _ = writeln!(log, "Finishing the Fast CM trainer job.");
    Ok(())
}

/// Upstream's author, description and category, which both trainers share.
fn trainer_spec(name: &str) -> Spec<'_> {
    Spec {
        name,
        author: "Jorge Calvo-Zaragoza, Francisco J. Castellanos, Gabriel Vigliensoni, and Ichiro \
                 Fujinaga",
        description: "The job performs the training of many Selection Auto-Encoder model for the \
                      pixelwise analysis of music document images.",
        category: "OMR - Layout analysis",
    }
}

/// 'Training model for Patchwise Analysis of Music Document, Training'.
#[derive(Debug, Clone, Copy, Default)]
pub struct FastPacoTrainer;

fn paco_settings() -> Value {
    json!({
        "title": "Training parameters",
        "type": "object",
        "properties": {
            "Batch Size": {"type": "integer", "minimum": 1, "default": 8, "maximum": 64},
            "Maximum number of training epochs": {"type": "integer", "minimum": 1, "default": 50},
            "Maximum number of samples per label": {"type": "integer", "minimum": 1, "default": 1000},
            "Patience": {"type": "integer", "minimum": 0, "default": 15},
            "Patch height": {"type": "integer", "minimum": 32, "default": 256},
            "Patch width": {"type": "integer", "minimum": 32, "default": 256}
        },
        "job_queue": "GPU"
    })
}

/// One Pixel.js sample: its folder name and its files by name.
struct Sample {
    folder: String,
    files: BTreeMap<String, Vec<u8>>,
}

/// The samples of a zip: one per top-level folder when `folders`, else the whole zip.
fn unzip(path: &Path, folders: bool, folder: &str) -> Result<Vec<Sample>, JobError> {
    let bad = |msg: String| JobError::bad_input("the sample zip cannot be read", msg);
    let file = std::fs::File::open(path).map_err(|e| JobError::read(path, e))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    let mut out: BTreeMap<String, Sample> = BTreeMap::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| bad(e.to_string()))?;
        if entry.is_dir() {
            continue;
        }
        let Some(name) = entry.enclosed_name() else {
            return Err(bad(format!(
                "the entry {:?} leaves the zip's folder",
                entry.name()
            )));
        };
        let parts: Vec<String> = name
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let (key, file) = match (folders, parts.as_slice()) {
            (true, [dir, file]) => (dir.clone(), file.clone()),
            (true, [_]) => continue,
            (false, [file]) => (folder.to_string(), file.clone()),
            _ => {
                return Err(bad(format!(
                    "{} is nested deeper than a sample's files",
                    name.display()
                )));
            }
        };
        total += entry.size();
        if total > MAX_UNZIPPED {
            return Err(bad(format!("it unpacks to more than {MAX_UNZIPPED} bytes")));
        }
        let mut bytes = Vec::with_capacity(entry.size().min(1 << 30) as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("{}: {e}", name.display())))?;
        out.entry(key.clone())
            .or_insert_with(|| Sample {
                folder: key,
                files: BTreeMap::new(),
            })
            .files
            .insert(file, bytes);
    }
    Ok(out.into_values().collect())
}

fn stem(file: &str) -> &str {
    file.split('.').next().unwrap_or(file)
}

impl Job for FastPacoTrainer {
    fn name(&self) -> &'static str {
        "Training model for Patchwise Analysis of Music Document, Training"
    }

    fn descriptor(&self) -> JobDescriptor {
        let mut inputs = vec![
            port(MULTI, 0, 1, ZIP),
            port("Background Model", 0, 1, MODEL),
        ];
        inputs.extend((1..=4).map(|n| port(&format!("Model {n}"), 0, 1, MODEL)));
        inputs.extend((1..=20).map(|n| port(&format!("Sample {n}"), 0, 1, ZIP)));
        let mut outputs = vec![
            port(MULTI, 0, 1, ZIP),
            port(LOG, 1, 1, &["text/plain"]),
            port("Background Model", 1, 1, MODEL),
        ];
        outputs.extend((1..=9).map(|n| port(&format!("Model {n}"), u32::from(n == 1), 1, MODEL)));
        describe(trainer_spec(self.name()), paco_settings(), inputs, outputs)
    }

    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let settings = trainer_settings(&paco_settings(), settings, None, Sampler::Random)?;
        // The samples: the multi-sample zip's folders, then each sample zip.
        let mut samples = Vec::new();
        if let Ok(multi) = inputs.first(MULTI) {
            samples = unzip(&multi.path, true, "")?;
            if samples.is_empty() {
                return Err(JobError::bad_input(
                    "Cannot input a normal sample into Multi-Sample Zip input",
                    "the Multi-Sample Zip holds no folder: put each sample in a folder of its own, \
                     or connect a single sample to a 'Sample' port",
                ));
            }
        }
        for (port, resources) in inputs.iter() {
            if port.starts_with("Sample") {
                for r in resources {
                    let folder = format!("zip{}", samples.len() + 1);
                    samples.extend(unzip(&r.path, false, &folder)?);
                }
            }
        }
        if samples.is_empty() {
            return Err(JobError::bad_input(
                "no training sample",
                "connect a Pixel.js sample zip to a 'Sample' port or a 'Multi-Sample Zip'",
            ));
        }
        let model_inputs: Vec<&str> = inputs
            .iter()
            .map(|(p, _)| p)
            .filter(|p| p.contains("Model"))
            .collect();
        let model_outputs = outputs.iter().filter(|(p, _)| p.contains("Model")).count();
        let is_layer = |f: &str| !stem(f).contains("Image") && !stem(f).contains("regions");
        let names: Vec<String> = samples[0]
            .files
            .keys()
            .filter(|f| is_layer(f))
            .map(|f| stem(f).to_string())
            .collect();
        for sample in &samples {
            let layers: Vec<String> = sample
                .files
                .keys()
                .filter(|f| is_layer(f))
                .map(|f| stem(f).to_string())
                .collect();
            let n = layers.len();
            if n < model_inputs.len() {
                return Err(JobError::bad_input(
                    "more models than layers",
                    format!(
                        "Number of models ({}) exceeds number of layers ({n})",
                        model_inputs.len()
                    ),
                ));
            }
            if n != model_outputs {
                return Err(JobError::bad_input(
                    "the layers and the model outputs do not match",
                    format!(
                        "Number of Model output ports ({model_outputs}) differs to number of layers ({n})"
                    ),
                ));
            }
            if layers != names {
                return Err(JobError::bad_input(
                    "the samples have different layers",
                    format!(
                        "sample '{}' has the layers {layers:?}, the first sample {names:?}",
                        sample.folder
                    ),
                ));
            }
        }
        if let Ok(out) = outputs.first(MULTI) {
            write_multi(&out.path, &samples)?;
        }
        // Prepare every page, with a scratch folder for decoding.
        let scratch = outputs.first(LOG)?.path.with_extension("samples");
        std::fs::create_dir_all(&scratch).map_err(|e| JobError::write(&scratch, e))?;
        let prepared = prepare(&samples, &names, &settings, &scratch);
        let _ = std::fs::remove_dir_all(&scratch);
        let pages = prepared?;
        let ports: Vec<String> = (0..names.len())
            .map(|i| {
                if i == 0 {
                    "Background Model".to_string()
                } else {
                    format!("Model {i}")
                }
            })
            .collect();
        let mut starts = Vec::new();
        for port in &ports {
            starts.push(match inputs.first(port) {
                Ok(r) => Some(read_model(r, port)?),
                Err(_) => None,
            });
        }
        let mut log = String::new();
        for (i, n) in names.iter().enumerate() {
            let _ = writeln!(log, "Label {i}: {n} → {}", ports[i]);
        }
        let result = train_all(&pages, &starts, &settings, outputs, &ports, &mut log);
        write_file(&outputs.first(LOG)?.path, log.as_bytes())?;
        result
    }
}

fn write_multi(path: &Path, samples: &[Sample]) -> Result<(), JobError> {
    let file = std::fs::File::create(path).map_err(|e| JobError::write(path, e))?;
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default();
    let err = |e: zip::result::ZipError| JobError::write(path, std::io::Error::other(e));
    for sample in samples {
        for (name, bytes) in &sample.files {
            zip.start_file(format!("{}/{name}", sample.folder), options)
                .map_err(err)?;
            zip.write_all(bytes).map_err(|e| JobError::write(path, e))?;
        }
    }
    zip.finish().map_err(err)?;
    Ok(())
}

fn prepare(
    samples: &[Sample],
    names: &[String],
    settings: &train::Settings,
    scratch: &Path,
) -> Result<Vec<Page>, JobError> {
    let mut rng = rand::rng();
    let mut pages = Vec::new();
    for sample in samples {
        let file =
            |want: &dyn Fn(&str) -> bool, what: &str| -> Result<std::path::PathBuf, JobError> {
                let (name, bytes) = sample
                    .files
                    .iter()
                    .find(|(f, _)| want(stem(f)))
                    .ok_or_else(|| {
                        JobError::bad_input(
                            format!("a sample has no {what}"),
                            format!("sample '{}' has no file named {what}", sample.folder),
                        )
                    })?;
                let path = scratch.join(format!("{}-{}", pages.len(), name.replace('/', "_")));
                write_file(&path, bytes)?;
                Ok(path)
            };
        let image = read_page(&file(&|s| s.contains("Image"), "Image")?)?;
        let regions = read_rgba(
            &file(&|s| s.contains("regions"), "rgba PNG - Selected regions")?,
            "the selected regions",
        )?;
        let mut layers = Vec::new();
        for n in names {
            layers.push(read_rgba(&file(&|s| s == n, n)?, n)?);
        }
        pages.push(
            train::prepare_sample(&image, &regions, &layers, settings, &mut rng)
                .map_err(sae_error)?,
        );
    }
    Ok(pages)
}

/// 'Training model for Patchwise Analysis of Music Document', as DDMAL's workflows of 2020 use it.
#[derive(Debug, Clone, Copy, Default)]
pub struct FastCalvoTrainer;

fn calvo_settings() -> Value {
    json!({
        "title": "Training parameters",
        "type": "object",
        "properties": {
            "Batch Size": {"type": "integer", "minimum": 1, "default": 16, "maximum": 64},
            "Maximum number of training epochs": {"type": "integer", "minimum": 1, "default": 15},
            "Maximum number of samples per label": {"type": "integer", "minimum": 100, "default": 2000},
            "Patch height": {"type": "integer", "minimum": 32, "default": 256},
            "Patch width": {"type": "integer", "minimum": 32, "default": 256}
        },
        "job_queue": "GPU"
    })
}

impl Job for FastCalvoTrainer {
    fn name(&self) -> &'static str {
        "Training model for Patchwise Analysis of Music Document"
    }

    fn descriptor(&self) -> JobDescriptor {
        let mut inputs = vec![
            port("Image", 1, 1, &["image/rgb+png", "image/rgb+jpg"]),
            port("rgba PNG - Background layer", 1, 1, RGBA),
            port("rgba PNG - Selected regions", 1, 1, RGBA),
        ];
        inputs.extend(
            (0..=9).map(|n| port(&format!("rgba PNG - Layer {n}"), u32::from(n == 0), 1, RGBA)),
        );
        let mut outputs = vec![
            port("Background Model", 1, 1, MODEL),
            port(LOG, 1, 1, &["text/plain"]),
        ];
        outputs.extend((0..=9).map(|n| port(&format!("Model {n}"), u32::from(n == 0), 1, MODEL)));
        describe(trainer_spec(self.name()), calvo_settings(), inputs, outputs)
    }

    /// As upstream: the background is its layer's opaque pixels; every other layer is its
    /// opaque pixels within the selected regions; the page is not cropped. Early stopping waits
    /// 3 epochs.
    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let settings = trainer_settings(&calvo_settings(), settings, Some(3), Sampler::Centred)?;
        let layer_ports = inputs
            .iter()
            .filter(|(p, _)| {
                p.strip_prefix("rgba PNG - Layer ")
                    .is_some_and(|n| n.len() == 1 && n.chars().all(|c| c.is_ascii_digit()))
            })
            .count();
        let model_ports = outputs
            .iter()
            .filter(|(p, _)| p.starts_with("Model"))
            .count();
        if layer_ports != model_ports {
            return Err(JobError::bad_input(
                "the layers and the models do not match",
                format!(
                    "The number of input layers \"rgba PNG - Layers\" does not match the number of \
                     output \"Adjustable models\"\ninput_ports: {layer_ports} output_ports: {model_ports}"
                ),
            ));
        }
        let image: Bgr = read_page(&inputs.first("Image")?.path)?;
        let background = read_rgba(
            &inputs.first("rgba PNG - Background layer")?.path,
            "the background layer",
        )?;
        let regions = read_rgba(
            &inputs.first("rgba PNG - Selected regions")?.path,
            "the selected regions",
        )?;
        let mut layers = Vec::new();
        let mut ports = vec!["Background Model".to_string()];
        for i in 0..layer_ports {
            let port = format!("rgba PNG - Layer {i}");
            let resource = inputs.first(&port).map_err(|_| {
                JobError::bad_input(
                    format!("'{port}' is not connected"),
                    format!("{layer_ports} layers are connected: connect Layer 0 to Layer {} without gaps", layer_ports - 1),
                )
            })?;
            layers.push(read_rgba(&resource.path, &port)?);
            ports.push(format!("Model {i}"));
        }
        for (what, l) in std::iter::once(("the background layer", &background))
            .chain(std::iter::once(("the selected regions", &regions)))
            .chain(layers.iter().map(|l| ("a layer", l)))
        {
            if (l.height, l.width) != (image.height, image.width) {
                return Err(JobError::bad_input(
                    "the layers differ in size from the image",
                    format!(
                        "{what} is {}×{}, the image {}×{}",
                        l.width, l.height, image.width, image.height
                    ),
                ));
            }
        }
        let alpha = |l: &Rgba, i: usize| l.data[i * 4 + 3] == 255;
        let n = image.height * image.width;
        let mut masks = vec![Some(
            (0..n).map(|i| alpha(&background, i)).collect::<Vec<bool>>(),
        )];
        for l in &layers {
            masks.push(Some(
                (0..n).map(|i| alpha(l, i) && alpha(&regions, i)).collect(),
            ));
        }
        let masks = masks
            .into_iter()
            .map(|m| m.filter(|m| m.iter().any(|&b| b)))
            .collect();
        let pages = [Page { image, masks }];
        let starts = vec![None; ports.len()];
        let mut log = String::new();
        let result = train_all(&pages, &starts, &settings, outputs, &ports, &mut log);
        write_file(&outputs.first(LOG)?.path, log.as_bytes())?;
        result
    }
}
