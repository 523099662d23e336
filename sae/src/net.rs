//! A Keras functional graph as a burn module: the same code runs on any burn backend (the CPU's
//! ndarray, CUDA), and under autodiff it trains.
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
use crate::keras::{Activation, Graph, Init, Model, Op, Weights};

/// One convolution's parameters, burn-shaped.
#[derive(Module, Debug)]
pub struct Conv<B: Backend> {
    pub weight: Param<Tensor<B, 4>>,
    pub bias: Option<Param<Tensor<B, 1>>>,
}

/// The graph and, for each layer, which convolution it is and the last layer reading it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub graph: Graph,
    conv_of: Vec<Option<usize>>,
    last_use: Vec<usize>,
}

/// A functional model on backend `B`.
#[derive(Module, Debug)]
pub struct Network<B: Backend> {
    convs: Vec<Conv<B>>,
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

fn plan(graph: Graph) -> Plan {
    let mut conv_of = Vec::with_capacity(graph.layers.len());
    let mut n = 0;
    for layer in &graph.layers {
        if matches!(layer.op, Op::Conv2D { .. }) {
            conv_of.push(Some(n));
            n += 1;
        } else {
            conv_of.push(None);
        }
    }
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
        last_use,
    }
}

impl<B: Backend> Network<B> {
    /// The network of a stored model, its weights on `device`.
    pub fn from_model(model: &Model, device: &B::Device) -> Result<Self, Error> {
        let mut convs = Vec::new();
        for layer in &model.graph.layers {
            let Op::Conv2D { .. } = layer.op else {
                continue;
            };
            let w = model
                .weights
                .get(&layer.name)
                .ok_or_else(|| Error::Model(format!("no weights for layer {}", layer.name)))?;
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
            plan: Ignored(plan(model.graph.clone())),
        })
    }

    /// A new network for `graph`, initialised as Keras initialises it (He normal or Glorot
    /// uniform kernels, zero biases), from `rng`.
    pub fn init(graph: &Graph, rng: &mut impl Rng, device: &B::Device) -> Result<Self, Error> {
        let channels = graph.channels()?;
        let mut weights = HashMap::new();
        for layer in &graph.layers {
            let Op::Conv2D {
                filters,
                kernel,
                bias,
                init,
                ..
            } = layer.op
            else {
                continue;
            };
            let input = channels[layer.inputs[0]];
            let fan_in = kernel[0] * kernel[1] * input;
            let fan_out = kernel[0] * kernel[1] * filters;
            let count = fan_in * filters;
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
                    kernel_shape: [kernel[0], kernel[1], input, filters],
                    bias: bias.then(|| vec![0.0; filters]),
                },
            );
        }
        Self::from_model(
            &Model {
                graph: graph.clone(),
                weights,
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
            let value = match &layer.op {
                Op::Input { .. } => input
                    .take()
                    .expect("a functional model has one input layer"),
                Op::Masking { value } => {
                    let x = arg(0, &values);
                    let keep = x.clone().not_equal_elem(*value).any_dim(1).float();
                    x * keep
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
                        let [_, _, h, w] = x.dims();
                        let (top, bottom) = same_padding(h, kernel[0], strides[0]);
                        let (left, right) = same_padding(w, kernel[1], strides[1]);
                        if top + bottom + left + right > 0 {
                            x = x.pad((left, right, top, bottom), 0.0);
                        }
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
                    if i == plan.graph.output {
                        out_activation = *activation;
                        y
                    } else {
                        match activation {
                            Activation::Linear => y,
                            Activation::Relu => relu(y),
                            Activation::Sigmoid => sigmoid(y),
                        }
                    }
                }
                Op::MaxPool {
                    pool,
                    strides,
                    same,
                } => {
                    let mut x = arg(0, &values);
                    if *same {
                        let [_, _, h, w] = x.dims();
                        let (top, bottom) = same_padding(h, pool[0], strides[0]);
                        let (left, right) = same_padding(w, pool[1], strides[1]);
                        if top + bottom + left + right > 0 {
                            x = x.pad((left, right, top, bottom), f32::MIN);
                        }
                    }
                    max_pool2d(x, *pool, *strides, [0, 0], [1, 1], false)
                }
                Op::UpSample { size } => {
                    let x = arg(0, &values);
                    let [n, c, h, w] = x.dims();
                    x.reshape([n, c, h, 1, w, 1])
                        .repeat_dim(3, size[0])
                        .repeat_dim(5, size[1])
                        .reshape([n, c, h * size[0], w * size[1]])
                }
                Op::Concat => Tensor::cat(
                    (0..layer.inputs.len()).map(|k| arg(k, &values)).collect(),
                    1,
                ),
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
        match activation {
            Activation::Linear => raw,
            Activation::Relu => relu(raw),
            Activation::Sigmoid => sigmoid(raw),
        }
    }
}
