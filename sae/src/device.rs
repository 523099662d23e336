//! Which device runs the models: a CUDA GPU when the build has the `cuda` feature, the driver
//! loads, a device answers and a kernel compiled by NVRTC gives the right answer; the CPU
//! otherwise, with the reason in the log. The probe never panics: a missing libcuda is a
//! fallback, not a crash.
//!
//! `RODAN_SAE_DEVICE=cpu` keeps a CUDA build on the CPU.
//!
//! One job at a time per GPU: a job takes a GPU with [`acquire`] and holds it until it ends;
//! with every GPU taken, the next job waits for one. On the CPU jobs share the cores.

use std::sync::{Condvar, Mutex, OnceLock};

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

/// The probe's result: the device (the first GPU, or the CPU), and why it is not a GPU when it
/// is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub device: Device,
    pub why_not_gpu: Option<String>,
    /// Every GPU the jobs may use, the first being `device`; empty on the CPU.
    pub gpus: Vec<Device>,
}

fn cpu() -> Device {
    Device::Cpu {
        threads: std::thread::available_parallelism().map_or(1, usize::from),
    }
}

#[cfg(feature = "cuda")]
fn cuda() -> Result<Vec<Device>, String> {
    use burn::tensor::Tensor;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    let quiet = |f: &mut dyn FnMut() -> Result<Vec<Device>, String>| {
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
        let mut gpus = vec![Device::Cuda { index: 0, name }];
        for index in 1..usize::try_from(count).unwrap_or(1) {
            if let Ok(name) = cudarc::driver::CudaContext::new(index).and_then(|c| c.name()) {
                gpus.push(Device::Cuda { index, name });
            }
        }
        Ok(gpus)
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
                gpus: Vec::new(),
            };
        }
        #[cfg(feature = "cuda")]
        {
            match cuda() {
                Ok(gpus) => Probe {
                    device: gpus[0].clone(),
                    why_not_gpu: None,
                    gpus,
                },
                Err(why) => Probe {
                    device: cpu(),
                    why_not_gpu: Some(why),
                    gpus: Vec::new(),
                },
            }
        }
        #[cfg(not(feature = "cuda"))]
        Probe {
            device: cpu(),
            why_not_gpu: Some("this build has no CUDA backend (feature `cuda`)".into()),
            gpus: Vec::new(),
        }
    })
}

/// Slots handed to one holder at a time: the GPUs' indices.
#[derive(Debug)]
pub struct Pool {
    free: Mutex<Vec<usize>>,
    freed: Condvar,
}

impl Pool {
    /// A pool of the slots `0..count`.
    pub fn new(count: usize) -> Self {
        Self {
            free: Mutex::new((0..count).rev().collect()),
            freed: Condvar::new(),
        }
    }

    /// A free slot, waiting for one when all are taken; it is free again when the guard drops.
    pub fn take(&self) -> Taken<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(slot) = free.pop() {
                return Taken { pool: self, slot };
            }
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A slot of a [`Pool`], held until dropped.
#[derive(Debug)]
pub struct Taken<'a> {
    pool: &'a Pool,
    slot: usize,
}

impl Taken<'_> {
    /// The slot.
    pub fn slot(&self) -> usize {
        self.slot
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        self.pool
            .free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(self.slot);
        self.pool.freed.notify_one();
    }
}

/// The device a job runs on, held for the job: a GPU of its own, or the CPU.
#[derive(Debug)]
pub struct Lease {
    pub device: Device,
    _gpu: Option<Taken<'static>>,
}

/// The device for one job: a free GPU, waiting while every GPU runs a job, or the CPU where
/// there is no GPU.
pub fn acquire() -> Lease {
    let probe = probe();
    if probe.gpus.is_empty() {
        return Lease {
            device: probe.device.clone(),
            _gpu: None,
        };
    }
    static GPUS: OnceLock<Pool> = OnceLock::new();
    let taken = GPUS.get_or_init(|| Pool::new(probe.gpus.len())).take();
    Lease {
        device: probe.gpus[taken.slot()].clone(),
        _gpu: Some(taken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_slot_has_one_holder_and_the_others_wait() {
        let pool = Arc::new(Pool::new(2));
        let holding: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let most = Arc::new(AtomicUsize::new(0));
        let busy = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let (pool, holding, most, busy) =
                    (pool.clone(), holding.clone(), most.clone(), busy.clone());
                std::thread::spawn(move || {
                    for _ in 0..20 {
                        let taken = pool.take();
                        let held = holding[taken.slot()].fetch_add(1, Ordering::SeqCst);
                        assert_eq!(held, 0, "slot {} has two holders", taken.slot());
                        let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        busy.fetch_sub(1, Ordering::SeqCst);
                        holding[taken.slot()].fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("no holder saw a shared slot");
        }
        assert_eq!(
            most.load(Ordering::SeqCst),
            2,
            "both slots were used, never more"
        );
    }
}
