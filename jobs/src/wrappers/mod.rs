//! The jobs themselves, with upstream's names, ports and settings: thin wrappers that read the
//! input files, call the Gamera- or Pillow-faithful algorithm and write every output file.

pub mod background;
pub mod binarization;
pub mod biollante;
pub mod cc_analysis;
pub mod classification;
pub mod column_split;
pub mod conversion;
pub mod diagonal_neume_slicing;
pub mod dirty_layer_repair;
pub mod extract_c_clefs;
pub mod gamera_xml_distributor;
pub mod helloworld;
pub mod interactive_classifier;
pub mod m2v_wrapper;
pub mod masking;
pub mod mei_encoding;
pub mod mei_resize;
pub mod miyao;
pub mod morphology;
pub mod paco_trainer;
pub mod pil;
pub mod pitch_finding;
pub mod pixelwise;
pub mod threshold;
pub mod utility;

use std::io::Write;
use std::path::Path;

use crate::gamera::png::{load_png, save_png};
use crate::gamera::{Image, PixelType, Plane, Rgb};
use crate::job::{Inputs, Job, JobError, Outputs};

/// Every job of this module.
pub fn jobs() -> Vec<&'static dyn Job> {
    vec![
        &helloworld::HelloWorld,
        &helloworld::HelloWorldMultiPort,
        &helloworld::HelloWorld3,
        &pil::ToPng,
        &pil::ToTiff,
        &pil::Resize,
        &pil::RedFilter,
        &conversion::ToRgb,
        &conversion::ToGreyscale,
        &conversion::ToGrey16,
        &conversion::ToOnebit,
        &utility::Invert,
        &threshold::OtsuThreshold,
        &threshold::TsaiMomentPreservingThreshold,
        &threshold::AbutalebThreshold,
        &threshold::DjvuThreshold,
        &binarization::BernsenThreshold,
        &binarization::GatosBackground,
        &binarization::GatosThreshold,
        &binarization::BrinkThreshold,
        &binarization::SauvolaThreshold,
        &binarization::NiblackThreshold,
        &morphology::Despeckle,
        &morphology::Dilate,
        &masking::MaskAnd,
        &masking::MaskXor,
        &cc_analysis::CcAnalysis,
        &column_split::ColumnSplit,
        &extract_c_clefs::ExtractCClefs,
        &pitch_finding::HeuristicPitchFinding,
        &diagonal_neume_slicing::DiagonalNeumeSlicing,
        &m2v_wrapper::Mei2Vol,
        &mei_resize::MeiResize,
        &mei_encoding::MeiEncoding,
        &miyao::MiyaoStaffFinder,
        &miyao::MiyaoStaffFinding,
        &dirty_layer_repair::DirtyLayerRepair,
        &classification::NonInteractiveClassifier,
        &gamera_xml_distributor::GameraXmlDistributor,
        &interactive_classifier::InteractiveClassifier,
        &biollante::Biollante,
        &pixelwise::FastPacoClassifier,
        &pixelwise::FastCalvoClassifier,
        &paco_trainer::FastPacoTrainer,
        &paco_trainer::FastCalvoTrainer,
        &background::SaeBinarization,
        &background::BackgroundRemoval,
    ]
}

/// Loads the first image of input `port` as Gamera's `load_image`.
pub fn load_input(inputs: &Inputs, port: &str) -> Result<Image, JobError> {
    load_png(&inputs.first(port)?.path)
}

/// Saves `image` to every file of output `port`, as upstream's loops over `outputs[port]`.
pub fn save_outputs(image: &Image, outputs: &Outputs, port: &str) -> Result<(), JobError> {
    for out in outputs.get(port) {
        save_png(image, &out.path)?;
    }
    Ok(())
}

/// Writes `bytes` to `path`.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), JobError> {
    let mut f = std::fs::File::create(path).map_err(|e| JobError::write(path, e))?;
    f.write_all(bytes).map_err(|e| JobError::write(path, e))
}

/// A rodan-sae error as the permanent bad input it is: `input` summarises a page or data the
/// engine refuses ([`rodan_sae::Error::Input`]), `model` a model it cannot run.
fn sae_error(input: &'static str, model: &'static str) -> impl Fn(rodan_sae::Error) -> JobError {
    move |e| match e {
        rodan_sae::Error::Input(msg) => JobError::bad_input(input, msg),
        other => JobError::bad_input(model, other.to_string()),
    }
}

/// Gamera's `TypeError` for an image of a type its function does not accept, as bad input.
fn wrong_type(job: &str, image: &Image, accepted: &[PixelType]) -> JobError {
    let names: Vec<_> = accepted.iter().map(|t| t.gamera_name()).collect();
    JobError::bad_input(
        format!(
            "{job} needs a {} image, got {}",
            names.join(" or "),
            image.pixel_type().gamera_name()
        ),
        format!(
            "Gamera's function behind '{job}' accepts {} images only; the input decoded as {}",
            names.join(", "),
            image.pixel_type().gamera_name()
        ),
    )
}

/// The ONEBIT pixels of `image`, or bad input.
pub fn onebit(job: &str, image: Image) -> Result<Plane<u8>, JobError> {
    match image {
        Image::OneBit(p) => Ok(p),
        other => Err(wrong_type(job, &other, &[PixelType::OneBit])),
    }
}

/// The GREYSCALE pixels of `image`, or bad input.
pub fn greyscale(job: &str, image: Image) -> Result<Plane<u8>, JobError> {
    match image {
        Image::GreyScale(p) => Ok(p),
        other => Err(wrong_type(job, &other, &[PixelType::GreyScale])),
    }
}

/// The RGB pixels of `image`, or bad input.
pub fn rgb(job: &str, image: Image) -> Result<Plane<Rgb>, JobError> {
    match image {
        Image::Rgb(p) => Ok(p),
        other => Err(wrong_type(job, &other, &[PixelType::Rgb])),
    }
}
