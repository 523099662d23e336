//! Which device runs the models: a CUDA GPU when the build has the `cuda` feature, the driver
//! loads, a device answers and a kernel compiled by NVRTC gives the right answer; the CPU
//! otherwise, with the reason in the log. The probe never panics: a missing libcuda is a
//! fallback, not a crash.
//!
//! `RODAN_SAE_DEVICE=cpu` keeps a CUDA build on the CPU.

use std::sync::OnceLock;

/// The device the models run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    /// The CPU, with this many threads.
    Cpu { threads: usize },
    /// CUDA device `index`, named by its driver.
    Cuda { index: usize, name: String },
}

impl Device {
    /// `cuda` or `cpu`, for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Cpu { .. } => "cpu",
            Self::Cuda { .. } => "cuda",
        }
    }

    /// A sentence for people: "CUDA GPU 0 (NVIDIA H200)", "the CPU (16 threads)".
    pub fn describe(&self) -> String {
        match self {
            Self::Cpu { threads } => format!("the CPU ({threads} threads)"),
            Self::Cuda { index, name } => format!("CUDA GPU {index} ({name})"),
        }
    }
}

/// The probe's result: the device, and why it is not a GPU when it is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub device: Device,
    pub why_not_gpu: Option<String>,
}

fn cpu() -> Device {
    Device::Cpu {
        threads: std::thread::available_parallelism().map_or(1, usize::from),
    }
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<Device, String> {
    use burn::tensor::Tensor;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    let quiet = |f: &mut dyn FnMut() -> Result<Device, String>| {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let out = catch_unwind(AssertUnwindSafe(f));
        std::panic::set_hook(hook);
        out.unwrap_or_else(|panic| {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "the CUDA runtime panicked".into());
            Err(msg)
        })
    };
    quiet(&mut || {
        let count = cudarc::driver::CudaContext::device_count()
            .map_err(|e| format!("the CUDA driver: {e:?}"))?;
        if count < 1 {
            return Err("the CUDA driver sees no device".into());
        }
        let name = cudarc::driver::CudaContext::new(0)
            .and_then(|c| c.name())
            .map_err(|e| format!("CUDA device 0: {e:?}"))?;
        let device = burn::backend::cuda::CudaDevice::new(0);
        let x = Tensor::<crate::Gpu, 1>::from_floats([1.0, 2.0, 3.0], &device);
        let sum: f32 = x.mul_scalar(2.0).sum().into_scalar();
        if (sum - 12.0).abs() > 1e-4 {
            return Err(format!("a test kernel on CUDA device 0 gave {sum}, not 12"));
        }
        Ok(Device::Cuda { index: 0, name })
    })
}

/// Probes once; later calls give the first answer.
pub fn probe() -> &'static Probe {
    static PROBE: OnceLock<Probe> = OnceLock::new();
    PROBE.get_or_init(|| {
        if std::env::var("RODAN_SAE_DEVICE").is_ok_and(|v| v.eq_ignore_ascii_case("cpu")) {
            return Probe {
                device: cpu(),
                why_not_gpu: Some("RODAN_SAE_DEVICE=cpu".into()),
            };
        }
        #[cfg(feature = "cuda")]
        {
            match cuda() {
                Ok(device) => Probe {
                    device,
                    why_not_gpu: None,
                },
                Err(why) => Probe {
                    device: cpu(),
                    why_not_gpu: Some(why),
                },
            }
        }
        #[cfg(not(feature = "cuda"))]
        Probe {
            device: cpu(),
            why_not_gpu: Some("this build has no CUDA backend (feature `cuda`)".into()),
        }
    })
}
