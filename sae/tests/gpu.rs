//! The engine on a CUDA GPU against itself on the CPU: built only with the `cuda` feature
//! (`scripts/gpu-check.sh` builds and runs it). Without a working GPU each test says why and
//! passes, unless `RODAN_REQUIRE_GPU=1` (the GPU check sets it), where that is a failure.
//!
//! Tolerances: the two backends sum convolutions in different orders in float32, so the
//! pixelwise SAE's probabilities agree within 1e-4 and the REDNet's (raw 0–255 inputs, larger
//! logits) within 1e-3.
#![cfg(feature = "cuda")]

use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rodan_sae::device::{Device, probe};
use rodan_sae::net::Network;
use rodan_sae::{Cpu, Gpu, sae};

/// The GPU to test on, or `None` (with the reason printed) where there is none and none is
/// required.
fn gpu() -> Option<burn::backend::cuda::CudaDevice> {
    let p = probe();
    match &p.device {
        Device::Cuda { index, name } => {
            eprintln!("testing on CUDA GPU {index} ({name})");
            Some(burn::backend::cuda::CudaDevice::new(*index))
        }
        Device::Cpu { .. } => {
            let why = p.why_not_gpu.clone().unwrap_or_default();
            assert!(
                std::env::var("RODAN_REQUIRE_GPU").as_deref() != Ok("1"),
                "RODAN_REQUIRE_GPU=1 but there is no GPU: {why}"
            );
            eprintln!("skipped: no GPU ({why})");
            None
        }
    }
}

fn input(n: usize, size: usize, channels: usize, scale: f32) -> Vec<f32> {
    (0..n * size * size * channels)
        .map(|i| ((i * 7919) % 251) as f32 / 250.0 * scale)
        .collect()
}

fn compare(model: &rodan_sae::keras::Model, x: Vec<f32>, shape: [usize; 4], tolerance: f32) {
    let Some(device) = gpu() else { return };
    let cpu_net = Network::<Cpu>::from_model(model, &Default::default()).expect("CPU network");
    let gpu_net = Network::<Gpu>::from_model(model, &device).expect("GPU network");
    let on_cpu = cpu_net
        .forward(Tensor::<Cpu, 4>::from_data(
            TensorData::new(x.clone(), shape),
            &Default::default(),
        ))
        .into_data()
        .into_vec::<f32>()
        .expect("float32");
    let on_gpu = gpu_net
        .forward(Tensor::<Gpu, 4>::from_data(
            TensorData::new(x, shape),
            &device,
        ))
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("float32");
    assert_eq!(on_cpu.len(), on_gpu.len());
    let worst = on_cpu
        .iter()
        .zip(&on_gpu)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!("largest difference {worst:e}");
    assert!(worst <= tolerance, "CPU and GPU differ by {worst}");
}

#[test]
fn the_pixelwise_sae_gives_the_cpus_probabilities_on_the_gpu() {
    let mut rng = StdRng::seed_from_u64(3);
    let net = Network::<Cpu>::init(&sae::graph(256, 256), &mut rng, &Default::default())
        .expect("the SAE");
    let model = net.to_model().expect("its weights");
    compare(&model, input(4, 256, 3, 1.0), [4, 256, 256, 3], 1e-4);
}

#[test]
fn the_binarization_rednet_gives_the_cpus_scores_on_the_gpu() {
    let model = rodan_sae::binarization_model().expect("the bundled model");
    compare(&model, input(2, 256, 1, 255.0), [2, 256, 256, 1], 1e-3);
}

#[test]
fn training_on_the_gpu_lowers_the_loss() {
    if gpu().is_none() {
        return;
    }
    let mut rng = StdRng::seed_from_u64(5);
    let start = Network::<Cpu>::init(&sae::graph(64, 64), &mut rng, &Default::default())
        .expect("the SAE")
        .to_model()
        .expect("its weights");
    let n = 32;
    let x = input(n, 64, 3, 1.0);
    // Dark pixels (a large scaled value) are the layer.
    let y: Vec<f32> = x
        .chunks_exact(3)
        .map(|p| f32::from(u8::from(p.iter().sum::<f32>() > 1.5)))
        .collect();
    let epochs = rodan_sae::fit_patches(&start, &x, &y, [n, 64, 64], 8, 3).expect("training");
    eprintln!("{epochs:?}");
    assert!(epochs[2].0 < epochs[0].0, "the loss falls: {epochs:?}");
}
