use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, Tensor};
use rodan_sae::CpuTraining as B;
use std::time::Instant;

fn main() {
    let dev = Default::default();
    let x = Tensor::<B, 4>::random([8, 64, 32, 32], Distribution::Default, &dev).require_grad();
    let w = Tensor::<B, 4>::random([64, 64, 3, 3], Distribution::Default, &dev).require_grad();
    let t = Instant::now();
    let y = conv2d(
        x.clone(),
        w.clone(),
        None,
        ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
    );
    let _ = y.clone().backward();
    println!("conv pad1 fwd+bwd {:?}", t.elapsed());
    let t = Instant::now();
    let y = conv2d(
        x.clone().pad((1, 1, 1, 1), 0.0),
        w.clone(),
        None,
        ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
    );
    let _ = y.sum().backward();
    println!("pad + conv fwd+bwd {:?}", t.elapsed());
    let t = Instant::now();
    let y = x.clone().pad((1, 1, 1, 1), 0.0);
    let _ = y.sum().backward();
    println!("pad fwd+bwd {:?}", t.elapsed());
    let t = Instant::now();
    let y = max_pool2d(x.clone(), [2, 2], [2, 2], [0, 0], [1, 1], false);
    let _ = y.sum().backward();
    println!("maxpool fwd+bwd {:?}", t.elapsed());
    let t = Instant::now();
    let [n, c, h, wd] = x.dims();
    let y = x
        .clone()
        .reshape([n, c, h, 1, wd, 1])
        .repeat_dim(3, 2)
        .repeat_dim(5, 2)
        .reshape([n, c, h * 2, wd * 2]);
    let _ = y.sum().backward();
    println!("upsample fwd+bwd {:?}", t.elapsed());
    let t = Instant::now();
    let y = Tensor::cat(vec![x.clone(), x.clone()], 1);
    let _ = y.sum().backward();
    println!("cat fwd+bwd {:?}", t.elapsed());
    let t = Instant::now();
    let keep = x.clone().not_equal_elem(-1.0).any_dim(1).float();
    let y = x.clone() * keep;
    let _ = y.sum().backward();
    println!("mask fwd+bwd {:?}", t.elapsed());
}
