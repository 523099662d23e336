//! A Keras functional graph as a burn module: the same code runs on any burn backend (the CPU's
//! ndarray, CUDA), and under autodiff it trains.
//!
//! Batch normalisation runs as at inference, from its moving statistics: the REDNet of SAE
//! Binarization is only run, never trained, here.
//!
//! Keras is channels-last; burn's convolutions are channels-first, so images enter as
//! `[n, height, width, channels]`, run as `[n, channels, height, width]`, and kernels are turned
//! from Keras's `[kh, kw, in, out]` into burn's `[out, in, kh, kw]` when loaded and back when
//! saved. Padding `same` is TensorFlow's: when the total is odd, the extra row and column go
//! after, not before.

use std::collections::HashMap;

use burn::module::{Ignored, Module, Param};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::backend::Backend;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};
use rand::Rng;

use crate::Error;
use crate::conv::SaeBackend;
use crate::keras::{Activation, Graph, Init, Model, Norm, Op, Weights};

/// One convolution's parameters, burn-shaped.
#[derive(Module, Debug)]
pub struct Conv<B: Backend> {
    pub weight: Param<Tensor<B, 4>>,
    pub bias: Option<Param<Tensor<B, 1>>>,
}

/// A batch normalisation folded into one scale and one shift per channel.
#[derive(Module, Debug)]
pub struct Affine<B: Backend> {
    pub scale: Param<Tensor<B, 1>>,
    pub shift: Param<Tensor<B, 1>>,
}

/// The graph and, for each layer, which convolution or normalisation it is and the last layer
/// reading it; the normalisations' stored weights, to save them again.
#[derive(Debug, Clone)]
pub struct Plan {
    pub graph: Graph,
    conv_of: Vec<Option<usize>>,
    norm_of: Vec<Option<usize>>,
    last_use: Vec<usize>,
    norms: HashMap<String, Norm>,
}

/// A functional model on backend `B`.
#[derive(Module, Debug)]
pub struct Network<B: Backend> {
    convs: Vec<Conv<B>>,
    norms: Vec<Affine<B>>,
    plan: Ignored<Plan>,
}

/// TensorFlow's `same` padding of one side: (before, after).
pub fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out.saturating_sub(1)) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// A normal sample truncated to two standard deviations, as Keras's TruncatedNormal: drawn
/// again until it falls inside (Box-Muller).
fn truncated_normal(rng: &mut impl Rng, stddev: f32) -> f32 {
    loop {
        let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
        let u2: f32 = rng.random();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos();
        if z.abs() <= 2.0 {
            return z * stddev;
        }
    }
}

/// The position of each layer among those of its kind (`Some(k)` for the k-th), `None` for the
/// layers of other kinds.
fn numbering(graph: &Graph, kind: impl Fn(&Op) -> bool) -> Vec<Option<usize>> {
    let mut n = 0;
    graph
        .layers
        .iter()
        .map(|layer| {
            kind(&layer.op).then(|| {
                n += 1;
                n - 1
            })
        })
        .collect()
}

fn plan(graph: Graph, norms: HashMap<String, Norm>) -> Plan {
    let conv_of = numbering(&graph, |op| matches!(op, Op::Conv2D { .. }));
    let norm_of = numbering(&graph, |op| matches!(op, Op::BatchNorm { .. }));
    let mut last_use: Vec<usize> = (0..graph.layers.len()).collect();
    for (i, layer) in graph.layers.iter().enumerate() {
        for &input in &layer.inputs {
            last_use[input] = last_use[input].max(i);
        }
    }
    last_use[graph.output] = usize::MAX;
    Plan {
        graph,
        conv_of,
        norm_of,
        last_use,
        norms,
    }
}

impl<B: Backend> Network<B> {
    /// The network of a stored model, its weights on `device`.
    pub fn from_model(model: &Model, device: &B::Device) -> Result<Self, Error> {
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        for layer in &model.graph.layers {
            if let Op::BatchNorm { epsilon } = layer.op {
                let n = model
                    .norms
                    .get(&layer.name)
                    .ok_or_else(|| Error::Model(format!("no weights for layer {}", layer.name)))?;
                let scale: Vec<f32> = n
                    .gamma
                    .iter()
                    .zip(&n.moving_variance)
                    .map(|(g, v)| g / (v + epsilon).sqrt())
                    .collect();
                let shift: Vec<f32> = n
                    .beta
                    .iter()
                    .zip(&n.moving_mean)
                    .zip(&scale)
                    .map(|((b, m), s)| b - m * s)
                    .collect();
                let vector = |v: Vec<f32>| {
                    let len = v.len();
                    Param::from_tensor(Tensor::<B, 1>::from_data(TensorData::new(v, [len]), device))
                };
                norms.push(Affine {
                    scale: vector(scale),
                    shift: vector(shift),
                });
                continue;
            }
            let Op::Conv2D { .. } = layer.op else {
                continue;
            };
            let w = model
                .weights
                .get(&layer.name)
                .ok_or_else(|| Error::Model(format!("no weights for layer {}", layer.name)))?;
            // Keras's [kh, kw, in, out] to burn's [out, in, kh, kw]; a transposed kernel,
            // [kh, kw, out, in] in Keras, to burn's [in, out, kh, kw].
            let weight = Tensor::<B, 4>::from_data(
                TensorData::new(w.kernel.clone(), w.kernel_shape),
                device,
            )
            .permute([3, 2, 0, 1]);
            let bias = w.bias.as_ref().map(|b| {
                Param::from_tensor(Tensor::<B, 1>::from_data(
                    TensorData::new(b.clone(), [b.len()]),
                    device,
                ))
            });
            convs.push(Conv {
                weight: Param::from_tensor(weight),
                bias,
            });
        }
        Ok(Self {
            convs,
            norms,
            plan: Ignored(plan(model.graph.clone(), model.norms.clone())),
        })
    }

    /// A new network for `graph`, initialised as Keras initialises it (He normal or Glorot
    /// uniform kernels, zero biases), from `rng`.
    pub fn init(graph: &Graph, rng: &mut impl Rng, device: &B::Device) -> Result<Self, Error> {
        let channels = graph.channels()?;
        let mut weights = HashMap::new();
        let mut norms = HashMap::new();
        for layer in &graph.layers {
            if let Op::BatchNorm { .. } = layer.op {
                norms.insert(layer.name.clone(), Norm::initial(channels[layer.inputs[0]]));
                continue;
            }
            let Op::Conv2D {
                filters,
                kernel,
                bias,
                init,
                transposed,
                ..
            } = layer.op
            else {
                continue;
            };
            let input = channels[layer.inputs[0]];
            // Keras's fans: the kernel's last two axes times its taps, whichever way round.
            let kernel_shape = if transposed {
                [kernel[0], kernel[1], filters, input]
            } else {
                [kernel[0], kernel[1], input, filters]
            };
            let fan_in = kernel[0] * kernel[1] * kernel_shape[2];
            let fan_out = kernel[0] * kernel[1] * kernel_shape[3];
            let count = fan_in * kernel_shape[3];
            let values: Vec<f32> = match init {
                Init::HeNormal => {
                    // VarianceScaling(2, fan_in, truncated_normal): the truncation's
                    // correction 0.8796… keeps the variance at 2 / fan_in.
                    let stddev = (2.0 / fan_in as f32).sqrt() / 0.879_625_7;
                    (0..count).map(|_| truncated_normal(rng, stddev)).collect()
                }
                Init::GlorotUniform => {
                    let limit = (6.0 / (fan_in + fan_out) as f32).sqrt();
                    (0..count)
                        .map(|_| rng.random_range(-limit..limit))
                        .collect()
                }
            };
            weights.insert(
                layer.name.clone(),
                Weights {
                    kernel: values,
                    kernel_shape,
                    bias: bias.then(|| vec![0.0; filters]),
                },
            );
        }
        Self::from_model(
            &Model {
                graph: graph.clone(),
                weights,
                norms,
            },
            device,
        )
    }

    /// The model as stored: the graph and the current weights, Keras-shaped.
    pub fn to_model(&self) -> Result<Model, Error> {
        let graph = &self.plan.0.graph;
        let mut weights = HashMap::new();
        for (layer, conv) in graph.layers.iter().zip(&self.plan.0.conv_of) {
            let Some(i) = conv else { continue };
            let c = &self.convs[*i];
            let kernel = c.weight.val().permute([2, 3, 1, 0]);
            let shape = kernel.dims();
            let kernel = kernel
                .into_data()
                .convert::<f32>()
                .into_vec::<f32>()
                .map_err(|e| Error::Model(format!("{}: {e:?}", layer.name)))?;
            let bias = match &c.bias {
                Some(b) => Some(
                    b.val()
                        .into_data()
                        .convert::<f32>()
                        .into_vec::<f32>()
                        .map_err(|e| Error::Model(format!("{}: {e:?}", layer.name)))?,
                ),
                None => None,
            };
            weights.insert(
                layer.name.clone(),
                Weights {
                    kernel,
                    kernel_shape: shape,
                    bias,
                },
            );
        }
        Ok(Model {
            graph: graph.clone(),
            weights,
            norms: self.plan.0.norms.clone(),
        })
    }

    /// The graph this network runs.
    pub fn graph(&self) -> &Graph {
        &self.plan.0.graph
    }
}

impl<B: SaeBackend> Network<B> {
    /// The output layer's values before its activation, `[n, channels, height, width]`, and
    /// that activation. `input` is channels-last, `[n, height, width, channels]`.
    pub fn forward_raw(&self, input: Tensor<B, 4>) -> (Tensor<B, 4>, Activation) {
        let plan = &self.plan.0;
        let layers = &plan.graph.layers;
        let mut values: Vec<Option<Tensor<B, 4>>> = vec![None; layers.len()];
        let mut input = Some(input.permute([0, 3, 1, 2]));
        let mut out_activation = Activation::Linear;
        for (i, layer) in layers.iter().enumerate() {
            let arg = |k: usize, values: &[Option<Tensor<B, 4>>]| {
                values[layer.inputs[k]]
                    .clone()
                    .expect("a layer's inputs are computed before it and kept until last read")
            };
            // Each layer's value, and the activation it still applies: the output layer's is
            // left to the caller (training wants the logits).
            let (value, activation) = match &layer.op {
                Op::Input { .. } => (
                    input
                        .take()
                        .expect("a functional model has one input layer"),
                    None,
                ),
                Op::Masking { value } => {
                    let x = arg(0, &values);
                    let keep = x.clone().not_equal_elem(*value).any_dim(1).float();
                    (x * keep, None)
                }
                Op::Conv2D {
                    kernel,
                    strides,
                    activation,
                    transposed: true,
                    ..
                } => {
                    let conv = &self.convs[plan.conv_of[i].expect("a Conv2D layer has a conv")];
                    let y = conv_transpose_same(
                        arg(0, &values),
                        conv.weight.val(),
                        conv.bias.as_ref().map(Param::val),
                        *kernel,
                        *strides,
                    );
                    (y, Some(*activation))
                }
                Op::Conv2D {
                    kernel,
                    strides,
                    same,
                    activation,
                    ..
                } => {
                    let mut x = arg(0, &values);
                    if *same {
                        x = pad_same(x, *kernel, *strides, 0.0);
                    }
                    let conv = &self.convs[plan.conv_of[i].expect("a Conv2D layer has a conv")];
                    let bias = conv.bias.as_ref().map(Param::val);
                    let y = if *strides == [1, 1] {
                        crate::conv::conv(x, conv.weight.val(), bias)
                    } else {
                        conv2d(
                            x,
                            conv.weight.val(),
                            bias,
                            ConvOptions::new(*strides, [0, 0], [1, 1], 1),
                        )
                    };
                    (y, Some(*activation))
                }
                Op::BatchNorm { .. } => {
                    let norm = &self.norms[plan.norm_of[i].expect("a norm layer has weights")];
                    let x = arg(0, &values);
                    let c = x.dims()[1];
                    (
                        x * norm.scale.val().reshape([1, c, 1, 1])
                            + norm.shift.val().reshape([1, c, 1, 1]),
                        None,
                    )
                }
                Op::Activate(activation) => (arg(0, &values), Some(*activation)),
                Op::Add => (
                    (1..layer.inputs.len()).fold(arg(0, &values), |sum, k| sum + arg(k, &values)),
                    None,
                ),
                Op::MaxPool {
                    pool,
                    strides,
                    same,
                } => {
                    let mut x = arg(0, &values);
                    if *same {
                        x = pad_same(x, *pool, *strides, f32::MIN);
                    }
                    (max_pool2d(x, *pool, *strides, [0, 0], [1, 1], false), None)
                }
                Op::UpSample { size } => {
                    let x = arg(0, &values);
                    let [n, c, h, w] = x.dims();
                    (
                        x.reshape([n, c, h, 1, w, 1])
                            .repeat_dim(3, size[0])
                            .repeat_dim(5, size[1])
                            .reshape([n, c, h * size[0], w * size[1]]),
                        None,
                    )
                }
                Op::Concat => (
                    Tensor::cat(
                        (0..layer.inputs.len()).map(|k| arg(k, &values)).collect(),
                        1,
                    ),
                    None,
                ),
            };
            let value = match activation {
                Some(a) if i == plan.graph.output => {
                    out_activation = a;
                    value
                }
                Some(a) => activate(value, a),
                None => value,
            };
            values[i] = Some(value);
            for &input in &layer.inputs {
                if plan.last_use[input] == i {
                    values[input] = None;
                }
            }
        }
        let out = values[plan.graph.output]
            .take()
            .expect("the output layer is computed");
        (out, out_activation)
    }

    /// The model's output for `input` (`[n, height, width, channels]`), channels-first:
    /// `[n, channels, height, width]`.
    pub fn forward(&self, input: Tensor<B, 4>) -> Tensor<B, 4> {
        let (raw, activation) = self.forward_raw(input);
        activate(raw, activation)
    }
}

/// `x` (`[n, c, h, w]`) padded with `value` as TensorFlow pads for a `same` window of
/// `window` moving by `strides`: the odd pixel after, not before.
fn pad_same<B: Backend>(
    x: Tensor<B, 4>,
    window: [usize; 2],
    strides: [usize; 2],
    value: f32,
) -> Tensor<B, 4> {
    let [_, _, h, w] = x.dims();
    let (top, bottom) = same_padding(h, window[0], strides[0]);
    let (left, right) = same_padding(w, window[1], strides[1]);
    if top + bottom + left + right > 0 {
        x.pad((left, right, top, bottom), value)
    } else {
        x
    }
}

fn activate<B: Backend>(x: Tensor<B, 4>, activation: Activation) -> Tensor<B, 4> {
    match activation {
        Activation::Linear => x,
        Activation::Relu => relu(x),
        Activation::Sigmoid => sigmoid(x),
    }
}

/// Keras's `Conv2DTranspose` with `same` padding: `x` `[n, in, h, w]`, `weight`
/// `[in, out, kh, kw]`; gives `[n, out, h·sh, w·sw]`, where output pixel `o` sums input pixel
/// `i` times tap `t` wherever `i·s + t − before = o` (`before` being TensorFlow's `same`
/// padding of the matching forward convolution).
///
/// Computed as `s × s` interleaved stride-1 convolutions, one per output phase, each with the
/// taps that reach that phase: the same arithmetic as a direct transposed convolution, none of
/// it on inserted zeros (burn 0.20's own transposed convolution on ndarray is a scalar loop).
fn conv_transpose_same<B: SaeBackend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    kernel: [usize; 2],
    strides: [usize; 2],
) -> Tensor<B, 4> {
    let [n, _, h, w] = x.dims();
    let out_channels = weight.dims()[1];
    // burn's forward convolution wants [out, in, kh, kw].
    let weight = weight.swap_dims(0, 1);
    let device = x.device();
    let phases = |axis: usize| -> Vec<Phase> {
        let (k, s, size) = (kernel[axis], strides[axis], [h, w][axis]);
        let before = (k.saturating_sub(s)) / 2;
        (0..s).map(|p| Phase::new(p, before, k, s, size)).collect()
    };
    let (rows, cols) = (phases(0), phases(1));
    let mut by_row = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut by_col = Vec::with_capacity(cols.len());
        for col in &cols {
            let y = if row.taps.is_empty() || col.taps.is_empty() {
                Tensor::zeros([n, out_channels, h, w], &device)
            } else {
                let index = |taps: &[usize]| {
                    Tensor::<B, 1, burn::tensor::Int>::from_data(
                        TensorData::new(
                            taps.iter().map(|&t| t as i64).collect::<Vec<_>>(),
                            [taps.len()],
                        ),
                        &device,
                    )
                };
                let sub = weight
                    .clone()
                    .select(2, index(&row.taps))
                    .select(3, index(&col.taps));
                let padded = x
                    .clone()
                    .pad((col.pad.0, col.pad.1, row.pad.0, row.pad.1), 0.0);
                let [_, _, ph, pw] = padded.dims();
                let window = padded.slice([
                    0..n,
                    0..x.dims()[1],
                    row.skip..ph.min(row.skip + h + row.taps.len() - 1),
                    col.skip..pw.min(col.skip + w + col.taps.len() - 1),
                ]);
                crate::conv::conv(window, sub, None)
            };
            by_col.push(y);
        }
        // Columns c·sw + phase: stack the phases last and merge them into the width.
        let [_, c, _, _] = by_col[0].dims();
        let sw = by_col.len();
        by_row.push(Tensor::stack::<5>(by_col, 4).reshape([n, c, h, w * sw]));
    }
    let sh = by_row.len();
    let [_, c, _, wide] = by_row[0].dims();
    let y = Tensor::stack::<5>(by_row, 3).reshape([n, c, h * sh, wide]);
    match bias {
        Some(b) => y + b.reshape([1, c, 1, 1]),
        None => y,
    }
}

/// One output phase of a transposed convolution along one axis: the outputs `o = s·m + p`.
#[derive(Debug)]
struct Phase {
    /// The kernel taps reaching this phase, in the order a forward convolution reads them.
    taps: Vec<usize>,
    /// Zeros added (before, after) to the input.
    pad: (usize, usize),
    /// Rows or columns of the padded input skipped before the first window.
    skip: usize,
}

impl Phase {
    fn new(p: usize, before: usize, k: usize, s: usize, size: usize) -> Self {
        // Taps t ≡ p + before (mod s) reach output s·m + p from input m + c − j, where
        // t = t0 + j·s; read forwards, tap t0 + (J−1−u)·s meets input m + start + u.
        let t0 = (p + before) % s;
        let count = if t0 < k { (k - t0).div_ceil(s) } else { 0 };
        let taps: Vec<usize> = (0..count).rev().map(|j| t0 + j * s).collect();
        let c = ((p + before - t0) / s) as isize;
        let start = c - (count as isize - 1);
        let last = (size as isize - 1) + start + count as isize - 1;
        let pad_before = (-start).max(0) as usize;
        let pad_after = (last - (size as isize - 1)).max(0) as usize;
        Self {
            taps,
            pad: (pad_before, pad_after),
            skip: (start + pad_before as isize) as usize,
        }
    }
}
