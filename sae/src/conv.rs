//! The SAE's convolution (stride 1, input already padded) with a backward pass made of fast
//! operations, for training on any backend.
//!
//! burn 0.20's generic conv2d backward computes the input's gradient with a transposed
//! convolution and the kernel's with a convolution whose kernel is the whole output; on the
//! ndarray backend both are direct loops, about a hundred times slower than the forward pass
//! (1.2 s for one 64-channel 3×3 layer on eight 32×32 patches, measured with
//! `cargo run --release -p rodan-sae --example op_time`). Here:
//! - the input's gradient is a forward convolution of the padded output gradient with the
//!   kernel turned half a turn and its channels swapped;
//! - the kernel's gradient is one matrix product per kernel tap: the output gradient
//!   `[out, n·h·w]` times the input shifted by that tap `[n·h·w, in]`;
//! - the bias's gradient is the output gradient summed over all but the channels.
//!
//! [`SaeBackend::sae_conv`] is the backend extension burn documents for custom autodiff: the
//! plain backends keep their own convolution, the autodiff backend records this backward.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, FloatTensor};
use burn::tensor::{Tensor, TensorPrimitive};

fn tensor<B: Backend, const D: usize>(p: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(p))
}

fn primitive<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

fn forward<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: Option<FloatTensor<B>>,
) -> FloatTensor<B> {
    primitive(conv2d(
        tensor::<B, 4>(x),
        tensor(weight),
        bias.map(tensor),
        ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
    ))
}

/// A backend that runs the SAE's convolution.
pub trait SaeBackend: Backend {
    /// A stride-1 convolution without padding: `x` `[n, in, h + kh - 1, w + kw - 1]`, `weight`
    /// `[out, in, kh, kw]`, `bias` `[out]`; gives `[n, out, h, w]`.
    fn sae_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        forward::<Self>(x, weight, bias)
    }
}

impl SaeBackend for crate::Cpu {}

#[cfg(feature = "cuda")]
impl SaeBackend for crate::Gpu {}

/// The gradients of the input and of the kernel.
fn gradients<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    want_x: bool,
    want_weight: bool,
) -> (Option<FloatTensor<B>>, Option<FloatTensor<B>>) {
    let x: Tensor<B, 4> = tensor(x);
    let weight: Tensor<B, 4> = tensor(weight);
    let grad: Tensor<B, 4> = tensor(grad);
    let [out, input, kh, kw] = weight.dims();
    let [n, _, h, w] = grad.dims();
    let dx = want_x.then(|| {
        let padded = grad.clone().pad((kw - 1, kw - 1, kh - 1, kh - 1), 0.0);
        let turned = weight.clone().flip([2, 3]).swap_dims(0, 1);
        primitive(conv2d(
            padded,
            turned,
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        ))
    });
    let dw = want_weight.then(|| {
        let g = grad.swap_dims(0, 1).reshape([out, n * h * w]);
        let taps: Vec<Tensor<B, 2>> = (0..kh * kw)
            .map(|t| {
                let (ky, kx) = (t / kw, t % kw);
                let shifted = x
                    .clone()
                    .slice([0..n, 0..input, ky..ky + h, kx..kx + w])
                    .swap_dims(0, 1)
                    .reshape([input, n * h * w]);
                g.clone().matmul(shifted.transpose())
            })
            .collect();
        // [kh·kw, out, in] → [out, in, kh, kw]
        primitive(
            Tensor::stack::<3>(taps, 0)
                .reshape([kh, kw, out, input])
                .permute([2, 3, 0, 1]),
        )
    });
    (dx, dw)
}

#[derive(Debug)]
struct ConvWithBias;

impl<B: Backend> Backward<B, 3> for ConvWithBias {
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, w_state) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        let weight = checkpointer.retrieve_node_output::<FloatTensor<B>>(w_state);
        if let Some(node) = node_b {
            let g: Tensor<B, 4> = tensor(grad.clone());
            let [_, out, _, _] = g.dims();
            let db = g.swap_dims(0, 1).reshape([out as i32, -1]).sum_dim(1);
            grads.register::<B>(node.id, primitive(db.reshape([out])));
        }
        let (dx, dw) = gradients::<B>(x, weight, grad, node_x.is_some(), node_w.is_some());
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<B>(node.id, dx);
        }
        if let (Some(node), Some(dw)) = (node_w, dw) {
            grads.register::<B>(node.id, dw);
        }
    }
}

#[derive(Debug)]
struct ConvNoBias;

impl<B: Backend> Backward<B, 2> for ConvNoBias {
    type State = (NodeId, NodeId);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, w_state) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        let weight = checkpointer.retrieve_node_output::<FloatTensor<B>>(w_state);
        let (dx, dw) = gradients::<B>(x, weight, grad, node_x.is_some(), node_w.is_some());
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<B>(node.id, dx);
        }
        if let (Some(node), Some(dw)) = (node_w, dw) {
            grads.register::<B>(node.id, dw);
        }
    }
}

impl<B: SaeBackend, C: CheckpointStrategy> SaeBackend for Autodiff<B, C> {
    fn sae_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        match bias {
            Some(bias) => match ConvWithBias
                .prepare::<C>([x.node.clone(), weight.node.clone(), bias.node.clone()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(mut prep) => {
                    let state = (prep.checkpoint(&x), prep.checkpoint(&weight));
                    prep.finish(
                        state,
                        B::sae_conv(x.primitive, weight.primitive, Some(bias.primitive)),
                    )
                }
                OpsKind::UnTracked(prep) => prep.finish(B::sae_conv(
                    x.primitive,
                    weight.primitive,
                    Some(bias.primitive),
                )),
            },
            None => match ConvNoBias
                .prepare::<C>([x.node.clone(), weight.node.clone()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(mut prep) => {
                    let state = (prep.checkpoint(&x), prep.checkpoint(&weight));
                    prep.finish(state, B::sae_conv(x.primitive, weight.primitive, None))
                }
                OpsKind::UnTracked(prep) => {
                    prep.finish(B::sae_conv(x.primitive, weight.primitive, None))
                }
            },
        }
    }
}

/// [`SaeBackend::sae_conv`] on tensors.
pub fn conv<B: SaeBackend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
) -> Tensor<B, 4> {
    tensor(B::sae_conv(
        primitive(x),
        primitive(weight),
        bias.map(primitive),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    type A = crate::CpuTraining;

    fn close(a: Tensor<crate::Cpu, 4>, b: Tensor<crate::Cpu, 4>) {
        let (a, b) = (
            a.into_data().into_vec::<f32>().unwrap(),
            b.into_data().into_vec::<f32>().unwrap(),
        );
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn the_gradients_are_those_of_burns_own_convolution() {
        let dev = Default::default();
        for (kh, kw, bias) in [(3, 3, true), (2, 2, true), (1, 1, false), (3, 2, true)] {
            let x = Tensor::<crate::Cpu, 4>::random([2, 3, 9, 8], Distribution::Default, &dev);
            let w = Tensor::<crate::Cpu, 4>::random([4, 3, kh, kw], Distribution::Default, &dev);
            let b = Tensor::<crate::Cpu, 1>::random([4], Distribution::Default, &dev);
            let r = Tensor::<crate::Cpu, 4>::random(
                [2, 4, 9 - kh + 1, 8 - kw + 1],
                Distribution::Default,
                &dev,
            );
            let run = |ours: bool| {
                let xa = Tensor::<A, 4>::from_inner(x.clone()).require_grad();
                let wa = Tensor::<A, 4>::from_inner(w.clone()).require_grad();
                let ba = Tensor::<A, 1>::from_inner(b.clone()).require_grad();
                let bias_arg = bias.then(|| ba.clone());
                let y = if ours {
                    conv(xa.clone(), wa.clone(), bias_arg)
                } else {
                    conv2d(
                        xa.clone(),
                        wa.clone(),
                        bias_arg,
                        ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
                    )
                };
                let grads = (y.clone() * Tensor::from_inner(r.clone())).sum().backward();
                (
                    y.inner(),
                    xa.grad(&grads).unwrap(),
                    wa.grad(&grads).unwrap(),
                    bias.then(|| ba.grad(&grads).unwrap()),
                )
            };
            let (y1, dx1, dw1, db1) = run(true);
            let (y2, dx2, dw2, db2) = run(false);
            close(y1, y2);
            close(dx1, dx2);
            close(dw1, dw2);
            if let (Some(a), Some(b)) = (db1, db2) {
                close(a.reshape([1, 1, 1, 4]), b.reshape([1, 1, 1, 4]));
            }
        }
    }
}
