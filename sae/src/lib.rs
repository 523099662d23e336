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
//! - [`binarize`] is SAE Binarization's page walk, with the REDNet model upstream ships
//!   ([`binarization_model`]).
//! - [`device`] picks the device: a working CUDA GPU when there is one, else the CPU.

pub mod binarize;
pub mod classify;
pub mod conv;
pub mod device;
pub mod keras;
pub mod net;
pub mod sae;
pub mod train;

pub use binarize::Grey;
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
/// on a device of its own ([`device::acquire`]), as upstream's `process_image_msae` in `logical`
/// mode.
pub fn analyse(
    page: &Bgr,
    models: &[keras::Model],
    height: usize,
    width: usize,
) -> Result<Vec<u8>, Error> {
    let lease = device::acquire();
    let device = &lease.device;
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

/// The model SAE Binarization runs, as upstream ships it (DDMAL/SAE_binarization,
/// `model_weights_all_None_256x256_s96_aug_m205_f64_k5_s2_se3_e200_b32_esp.h5`, MIT; see
/// `sae/models/README.md`): a REDNet of five strided convolutions and five transposed ones,
/// trained on all of its authors' datasets.
pub fn binarization_model() -> std::io::Result<keras::Model> {
    const MODEL: &[u8] = include_bytes!("../models/sae-binarization-rednet-256.h5");
    // HDF5 reads files: the model is staged in one, removed once read.
    let mut file = tempfile::NamedTempFile::new()?;
    std::io::Write::write_all(&mut file, MODEL)?;
    Ok(keras::read(file.path())
        .expect("the bundled binarization model is a Keras model this crate reads (tested)"))
}

/// Every pixel of `page`, `true` where `model` (SAE Binarization's REDNet) finds ink, on the
/// a device of its own ([`device::acquire`]); see [`binarize::binarize`].
pub fn binarize(page: &Grey, model: &keras::Model) -> Result<Vec<bool>, Error> {
    let lease = device::acquire();
    let device = &lease.device;
    match device {
        Device::Cpu { .. } => {
            let dev = Default::default();
            let net = net::Network::<Cpu>::from_model(model, &dev)?;
            binarize::binarize(page, &net, windows_per_batch(device), &dev)
        }
        #[cfg(feature = "cuda")]
        Device::Cuda { index, .. } => {
            let dev = burn::backend::cuda::CudaDevice::new(*index);
            let net = net::Network::<Gpu>::from_model(model, &dev)?;
            binarize::binarize(page, &net, windows_per_batch(device), &dev)
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda { .. } => Err(Error::Input("this build has no CUDA backend".into())),
    }
}

/// Trains the model of one label on a device of its own ([`device::acquire`]); see
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
    let lease = device::acquire();
    match &lease.device {
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

/// Epochs of plain training on given patches on a device of its own; see
/// [`train::fit_patches`] (the benchmark's entry point, not generic for the same reason as
/// [`train`]).
pub fn fit_patches(
    start: &keras::Model,
    x: &[f32],
    y: &[f32],
    shape: [usize; 3],
    batch: usize,
    epochs: usize,
) -> Result<Vec<(f64, f64)>, Error> {
    let lease = device::acquire();
    match &lease.device {
        Device::Cpu { .. } => train::fit_patches::<CpuTraining>(
            start,
            x,
            y,
            shape,
            batch,
            epochs,
            &Default::default(),
        ),
        #[cfg(feature = "cuda")]
        Device::Cuda { index, .. } => train::fit_patches::<GpuTraining>(
            start,
            x,
            y,
            shape,
            batch,
            epochs,
            &burn::backend::cuda::CudaDevice::new(*index),
        ),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda { .. } => Err(Error::Input("this build has no CUDA backend".into())),
    }
}

/// The model's output for `input` (`[n, height, width, channels]`, channels-last), one value
/// per pixel, on a device of its own: for benchmarks. `windows` go through at once.
pub fn predict(
    model: &keras::Model,
    input: &[f32],
    shape: [usize; 4],
    windows: usize,
) -> Result<Vec<f32>, Error> {
    fn run<B: conv::SaeBackend>(
        model: &keras::Model,
        input: &[f32],
        [n, h, w, c]: [usize; 4],
        windows: usize,
        device: &B::Device,
    ) -> Result<Vec<f32>, Error> {
        let net = net::Network::<B>::from_model(model, device)?;
        let mut out = Vec::with_capacity(n * h * w);
        for first in (0..n).step_by(windows.max(1)) {
            let k = windows.max(1).min(n - first);
            let x = burn::tensor::Tensor::<B, 4>::from_data(
                burn::tensor::TensorData::new(
                    input[first * h * w * c..(first + k) * h * w * c].to_vec(),
                    [k, h, w, c],
                ),
                device,
            );
            out.extend(
                net.forward(x)
                    .into_data()
                    .convert::<f32>()
                    .into_vec::<f32>()
                    .map_err(|e| Error::Model(format!("{e:?}")))?,
            );
        }
        Ok(out)
    }
    let lease = device::acquire();
    match &lease.device {
        Device::Cpu { .. } => run::<Cpu>(model, input, shape, windows, &Default::default()),
        #[cfg(feature = "cuda")]
        Device::Cuda { index, .. } => run::<Gpu>(
            model,
            input,
            shape,
            windows,
            &burn::backend::cuda::CudaDevice::new(*index),
        ),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda { .. } => Err(Error::Input("this build has no CUDA backend".into())),
    }
}
