//! Selectional auto-encoders (SAE) for Rodan's `GPU` queue: the models behind "Fast Pixelwise
//! Analysis of Music Document" and its trainer (DDMAL/Paco_classifier).
//!
//! - [`keras`] reads and writes the models as Keras HDF5 files (`keras/model+hdf5`), the format
//!   upstream's trainer saves and its classifier loads.
//! - [`net`] runs a model's graph with [burn], whose backends share the model code: the CPU
//!   (ndarray) always, CUDA with the `cuda` feature. CUDA is loaded when the worker starts
//!   (libcuda and NVRTC), so building needs no CUDA toolkit.
//! - [`sae`] is upstream's architecture, [`classify`] its patchwise page analysis and [`train`]
//!   its trainer.
//! - [`device`] picks the device: a working CUDA GPU when there is one, else the CPU.

pub mod classify;
pub mod conv;
pub mod device;
pub mod keras;
pub mod net;
pub mod sae;
pub mod train;

pub use classify::Bgr;
pub use device::Device;

/// What can go wrong, by whose fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model file is not a model this engine can run (named in the message).
    #[error("model: {0}")]
    Model(String),
    /// The model uses something the engine does not run.
    #[error("the engine does not run {0}")]
    Unsupported(String),
    /// The inputs or settings cannot be used (the message says why).
    #[error("{0}")]
    Input(String),
}

/// The CPU backend.
pub type Cpu = burn::backend::NdArray<f32>;

/// The CPU backend with gradients, for training.
pub type CpuTraining = burn::backend::Autodiff<Cpu>;

/// The CUDA backend.
#[cfg(feature = "cuda")]
pub type Gpu = burn::backend::Cuda<f32, i32>;

/// The CUDA backend with gradients, for training.
#[cfg(feature = "cuda")]
pub type GpuTraining = burn::backend::Autodiff<Gpu>;

/// Windows classified at once: enough to keep a GPU busy, few on the CPU, where a larger batch
/// only costs memory.
fn windows_per_batch(device: &Device) -> usize {
    match device {
        Device::Cpu { .. } => 2,
        Device::Cuda { .. } => 16,
    }
}

/// Labels every pixel of `page` with the index of the model in `models` that scores it highest,
/// on the probed device ([`device::probe`]), as upstream's `process_image_msae` in `logical`
/// mode.
pub fn analyse(
    page: &Bgr,
    models: &[keras::Model],
    height: usize,
    width: usize,
) -> Result<Vec<u8>, Error> {
    let device = &device::probe().device;
    match device {
        Device::Cpu { .. } => {
            let dev = Default::default();
            let nets = models
                .iter()
                .map(|m| net::Network::<Cpu>::from_model(m, &dev))
                .collect::<Result<Vec<_>, _>>()?;
            classify::classify(page, &nets, height, width, windows_per_batch(device), &dev)
        }
        #[cfg(feature = "cuda")]
        Device::Cuda { index, .. } => {
            let dev = burn::backend::cuda::CudaDevice::new(*index);
            let nets = models
                .iter()
                .map(|m| net::Network::<Gpu>::from_model(m, &dev))
                .collect::<Result<Vec<_>, _>>()?;
            classify::classify(page, &nets, height, width, windows_per_batch(device), &dev)
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda { .. } => Err(Error::Input("this build has no CUDA backend".into())),
    }
}

/// Trains the model of one label on the probed device ([`device::probe`]); see
/// [`train::train_label`]. Not generic, so that the training code is compiled (and optimised)
/// here, whoever calls it.
pub fn train(
    pages: &[train::Page],
    label: usize,
    start: Option<&keras::Model>,
    settings: &train::Settings,
    rng: &mut rand::rngs::StdRng,
    log: &mut dyn FnMut(&train::Epoch),
) -> Result<keras::Model, Error> {
    match &device::probe().device {
        Device::Cpu { .. } => train::train_label::<CpuTraining>(
            pages,
            label,
            start,
            settings,
            rng,
            &Default::default(),
            log,
        ),
        #[cfg(feature = "cuda")]
        Device::Cuda { index, .. } => train::train_label::<GpuTraining>(
            pages,
            label,
            start,
            settings,
            rng,
            &burn::backend::cuda::CudaDevice::new(*index),
            log,
        ),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda { .. } => Err(Error::Input("this build has no CUDA backend".into())),
    }
}
