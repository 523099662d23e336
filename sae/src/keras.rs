//! Keras HDF5 models (`keras/model+hdf5`), read and written as Keras 2 `model.save(path)` lays
//! them out: the functional graph as JSON in the root's `model_config` attribute, the compile
//! settings in `training_config`, and each layer's weights under
//! `model_weights/<layer>/<weight name>`, listed by the group's `weight_names` attribute.
//!
//! Only the layers of upstream's two model families are understood: the selectional
//! auto-encoders of Pixelwise Analysis (convolutions, pooling, upsampling, concatenation) and
//! the residual encoder-decoder (REDNet) of SAE Binarization (strided and transposed
//! convolutions, batch normalisation, activations, sums). Any other layer is refused by name,
//! before anything runs.

use std::collections::HashMap;
use std::path::Path;

use hdf5::types::{FixedAscii, FixedUnicode, TypeDescriptor, VarLenAscii, VarLenUnicode};
use serde_json::{Value, json};

use crate::Error;

/// The Keras version written into the files this crate saves: the one upstream's trainer runs
/// (`tensorflow==2.15.1` in DDMAL/Paco_classifier).
pub const KERAS_VERSION: &str = "2.15.0";

/// A layer's activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Linear,
    Relu,
    Sigmoid,
}

impl Activation {
    fn parse(name: &str) -> Result<Self, Error> {
        match name {
            "linear" => Ok(Self::Linear),
            "relu" => Ok(Self::Relu),
            "sigmoid" => Ok(Self::Sigmoid),
            other => Err(Error::Unsupported(format!("the activation {other:?}"))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Relu => "relu",
            Self::Sigmoid => "sigmoid",
        }
    }
}

/// A kernel initializer, kept so that a saved model says how it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    HeNormal,
    GlorotUniform,
}

/// What one layer computes. Tensors are channels-last in Keras and in the files.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// The model input: `[height, width, channels]`, a side `None` when any size is accepted.
    Input {
        height: Option<usize>,
        width: Option<usize>,
        channels: usize,
    },
    /// Zeroes the pixels whose every channel equals `value`.
    Masking { value: f32 },
    /// A 2-D convolution, or with `transposed` Keras's `Conv2DTranspose` (`same` padding only),
    /// whose kernel is stored `[kh, kw, filters, in]`.
    Conv2D {
        filters: usize,
        kernel: [usize; 2],
        strides: [usize; 2],
        same: bool,
        activation: Activation,
        bias: bool,
        init: Init,
        transposed: bool,
    },
    /// Batch normalisation over the channels, as at inference: each channel scaled and shifted
    /// by its moving statistics.
    BatchNorm { epsilon: f32 },
    /// An activation on its own.
    Activate(Activation),
    /// The sum of its inputs.
    Add,
    /// Max pooling.
    MaxPool {
        pool: [usize; 2],
        strides: [usize; 2],
        same: bool,
    },
    /// Nearest-neighbour upsampling.
    UpSample { size: [usize; 2] },
    /// Concatenation along the channels.
    Concat,
}

/// One layer: its Keras name, what it computes and the layers it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub name: String,
    pub op: Op,
    /// Indices of the layers whose outputs are its inputs, in order; always earlier layers.
    pub inputs: Vec<usize>,
}

/// A functional model: its layers in an order where every layer comes after its inputs, and the
/// output layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    pub name: String,
    pub layers: Vec<Layer>,
    pub output: usize,
}

/// A layer's weights, Keras-shaped: a kernel `[kh, kw, in, out]` and a bias `[out]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    pub kernel: Vec<f32>,
    pub kernel_shape: [usize; 4],
    pub bias: Option<Vec<f32>>,
}

/// A batch normalisation's weights, one value per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Norm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub moving_mean: Vec<f32>,
    pub moving_variance: Vec<f32>,
}

impl Norm {
    /// Keras's initial values: scale 1, shift 0, mean 0, variance 1.
    pub fn initial(channels: usize) -> Self {
        Self {
            gamma: vec![1.0; channels],
            beta: vec![0.0; channels],
            moving_mean: vec![0.0; channels],
            moving_variance: vec![1.0; channels],
        }
    }
}

/// A model as stored: the graph, the weights of its convolutions and of its batch
/// normalisations, by layer name.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub graph: Graph,
    pub weights: HashMap<String, Weights>,
    pub norms: HashMap<String, Norm>,
}

impl Graph {
    /// The input layer's `(height, width, channels)`.
    pub fn input(&self) -> Result<(Option<usize>, Option<usize>, usize), Error> {
        self.layers
            .iter()
            .find_map(|l| match l.op {
                Op::Input {
                    height,
                    width,
                    channels,
                } => Some((height, width, channels)),
                _ => None,
            })
            .ok_or_else(|| Error::Model("the model has no input layer".into()))
    }

    /// Channels of every layer's output, given the input's.
    pub fn channels(&self) -> Result<Vec<usize>, Error> {
        let mut out: Vec<usize> = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let first = layer.inputs.first().map(|&i| out[i]);
            let c = match &layer.op {
                Op::Input { channels, .. } => *channels,
                Op::Conv2D { filters, .. } => *filters,
                Op::Concat => layer.inputs.iter().map(|&i| out[i]).sum(),
                Op::Add => {
                    let c = first.ok_or_else(|| {
                        Error::Model(format!("layer {} has no input", layer.name))
                    })?;
                    if layer.inputs.iter().any(|&i| out[i] != c) {
                        return Err(Error::Model(format!(
                            "layer {} adds tensors of different channel counts",
                            layer.name
                        )));
                    }
                    c
                }
                Op::Masking { .. }
                | Op::MaxPool { .. }
                | Op::UpSample { .. }
                | Op::BatchNorm { .. }
                | Op::Activate(_) => first
                    .ok_or_else(|| Error::Model(format!("layer {} has no input", layer.name)))?,
            };
            out.push(c);
        }
        Ok(out)
    }
}

fn model_err(msg: impl Into<String>) -> Error {
    Error::Model(msg.into())
}

fn pair(v: &Value, what: &str, layer: &str) -> Result<[usize; 2], Error> {
    match v {
        Value::Number(n) => {
            let k = n
                .as_u64()
                .ok_or_else(|| model_err(format!("{layer}: {what} is not a size")))?
                as usize;
            Ok([k, k])
        }
        Value::Array(a) if a.len() == 2 => {
            let get = |i: usize| {
                a[i].as_u64()
                    .map(|x| x as usize)
                    .ok_or_else(|| model_err(format!("{layer}: {what} is not a size")))
            };
            Ok([get(0)?, get(1)?])
        }
        _ => Err(model_err(format!("{layer}: {what} is not a pair of sizes"))),
    }
}

fn padding(config: &Value, layer: &str) -> Result<bool, Error> {
    match config["padding"].as_str().unwrap_or("valid") {
        "same" => Ok(true),
        "valid" => Ok(false),
        other => Err(model_err(format!("{layer}: padding {other:?}"))),
    }
}

fn channels_last(config: &Value, layer: &str) -> Result<(), Error> {
    match config["data_format"].as_str() {
        None | Some("channels_last") => Ok(()),
        Some(other) => Err(Error::Unsupported(format!(
            "layer {layer}'s data format {other:?} (only channels_last)"
        ))),
    }
}

fn parse_op(class: &str, config: &Value, name: &str) -> Result<Op, Error> {
    Ok(match class {
        "InputLayer" => {
            let shape = config
                .get("batch_input_shape")
                .or_else(|| config.get("batch_shape"))
                .and_then(Value::as_array)
                .ok_or_else(|| model_err(format!("{name}: no input shape")))?;
            if shape.len() != 4 {
                return Err(model_err(format!(
                    "{name}: the input is not an image batch (shape {shape:?})"
                )));
            }
            let side = |v: &Value| v.as_u64().map(|x| x as usize);
            Op::Input {
                height: side(&shape[1]),
                width: side(&shape[2]),
                channels: side(&shape[3])
                    .ok_or_else(|| model_err(format!("{name}: unknown channel count")))?,
            }
        }
        "Masking" => Op::Masking {
            value: config["mask_value"].as_f64().unwrap_or(0.0) as f32,
        },
        "Conv2D" | "Conv2DTranspose" => {
            let transposed = class == "Conv2DTranspose";
            channels_last(config, name)?;
            if pair(&config["dilation_rate"], "dilation_rate", name).unwrap_or([1, 1]) != [1, 1]
                || config["groups"].as_u64().unwrap_or(1) != 1
            {
                return Err(Error::Unsupported(format!(
                    "layer {name}'s dilated or grouped convolution"
                )));
            }
            if transposed && (!padding(config, name)? || !config["output_padding"].is_null()) {
                return Err(Error::Unsupported(format!(
                    "layer {name}'s transposed convolution without `same` padding or with an \
                     output padding"
                )));
            }
            let init = match config["kernel_initializer"]["class_name"].as_str() {
                Some("HeNormal") => Init::HeNormal,
                _ => Init::GlorotUniform,
            };
            Op::Conv2D {
                filters: config["filters"]
                    .as_u64()
                    .ok_or_else(|| model_err(format!("{name}: no filters")))?
                    as usize,
                kernel: pair(&config["kernel_size"], "kernel_size", name)?,
                strides: pair(&config["strides"], "strides", name).unwrap_or([1, 1]),
                same: padding(config, name)?,
                activation: Activation::parse(config["activation"].as_str().unwrap_or("linear"))?,
                bias: config["use_bias"].as_bool().unwrap_or(true),
                init,
                transposed,
            }
        }
        "BatchNormalization" => {
            let axis = match &config["axis"] {
                Value::Array(a) if a.len() == 1 => a[0].as_i64(),
                v => v.as_i64(),
            };
            if !matches!(axis, Some(3) | Some(-1)) {
                return Err(Error::Unsupported(format!(
                    "layer {name}'s batch normalisation along axis {}",
                    config["axis"]
                )));
            }
            Op::BatchNorm {
                epsilon: config["epsilon"].as_f64().unwrap_or(1e-3) as f32,
            }
        }
        "Activation" => Op::Activate(Activation::parse(
            config["activation"].as_str().unwrap_or_default(),
        )?),
        "Add" => Op::Add,
        "MaxPooling2D" => {
            channels_last(config, name)?;
            let pool = pair(&config["pool_size"], "pool_size", name)?;
            let strides = match &config["strides"] {
                Value::Null => pool,
                v => pair(v, "strides", name)?,
            };
            Op::MaxPool {
                pool,
                strides,
                same: padding(config, name)?,
            }
        }
        "UpSampling2D" => {
            channels_last(config, name)?;
            if config["interpolation"].as_str().unwrap_or("nearest") != "nearest" {
                return Err(Error::Unsupported(format!(
                    "layer {name}'s {} upsampling",
                    config["interpolation"]
                )));
            }
            Op::UpSample {
                size: pair(&config["size"], "size", name)?,
            }
        }
        "Concatenate" => match config["axis"].as_i64() {
            Some(3) | Some(-1) | None => Op::Concat,
            Some(axis) => {
                return Err(Error::Unsupported(format!(
                    "layer {name}'s concatenation along axis {axis}"
                )));
            }
        },
        other => {
            return Err(Error::Unsupported(format!(
                "layer {name}, a {other} (the engine runs InputLayer, Masking, Conv2D, \
                 Conv2DTranspose, MaxPooling2D, UpSampling2D, Concatenate, BatchNormalization, \
                 Activation and Add)"
            )));
        }
    })
}

/// Reads a functional model from Keras's `model_config` JSON.
pub fn parse_config(text: &str) -> Result<Graph, Error> {
    let root: Value =
        serde_json::from_str(text).map_err(|e| model_err(format!("model_config: {e}")))?;
    let class = root["class_name"].as_str().unwrap_or_default();
    if class != "Functional" && class != "Model" {
        return Err(Error::Unsupported(format!(
            "a {class:?} model (only functional models)"
        )));
    }
    let config = &root["config"];
    let layers = config["layers"]
        .as_array()
        .ok_or_else(|| model_err("model_config has no layers"))?;
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(layers.len());
    for layer in layers {
        let name = layer["name"]
            .as_str()
            .or_else(|| layer["config"]["name"].as_str())
            .ok_or_else(|| model_err("a layer has no name"))?
            .to_string();
        let class = layer["class_name"].as_str().unwrap_or_default();
        let op = parse_op(class, &layer["config"], &name)?;
        let mut inputs = Vec::new();
        if let Some(nodes) = layer["inbound_nodes"].as_array() {
            if nodes.len() > 1 {
                return Err(Error::Unsupported(format!(
                    "layer {name}, which is called more than once"
                )));
            }
            for node in nodes.iter().filter_map(Value::as_array) {
                for inbound in node {
                    let source = inbound[0].as_str().ok_or_else(|| {
                        Error::Unsupported(format!("layer {name}'s inbound node format"))
                    })?;
                    let i = *index.get(source).ok_or_else(|| {
                        model_err(format!("layer {name} reads {source}, which comes later"))
                    })?;
                    inputs.push(i);
                }
            }
        }
        let arity_ok = match op {
            Op::Input { .. } => inputs.is_empty(),
            Op::Concat | Op::Add => inputs.len() >= 2,
            _ => inputs.len() == 1,
        };
        if !arity_ok {
            return Err(model_err(format!(
                "layer {name} has {} inputs",
                inputs.len()
            )));
        }
        index.insert(name.clone(), out.len());
        out.push(Layer { name, op, inputs });
    }
    let outputs = config["output_layers"]
        .as_array()
        .ok_or_else(|| model_err("model_config has no output_layers"))?;
    if outputs.len() != 1 {
        return Err(Error::Unsupported(format!(
            "a model with {} outputs (one)",
            outputs.len()
        )));
    }
    let output_name = outputs[0][0]
        .as_str()
        .ok_or_else(|| model_err("bad output_layers"))?;
    let output = *index
        .get(output_name)
        .ok_or_else(|| model_err(format!("output layer {output_name} is not a layer")))?;
    if config["input_layers"].as_array().map_or(0, Vec::len) > 1 {
        return Err(Error::Unsupported("a model with several inputs".into()));
    }
    Ok(Graph {
        name: config["name"].as_str().unwrap_or("model").to_string(),
        layers: out,
        output,
    })
}

fn he_or_glorot(init: Init) -> Value {
    match init {
        Init::HeNormal => json!({"module": "keras.initializers", "class_name": "HeNormal",
            "config": {"seed": null}, "registered_name": null}),
        Init::GlorotUniform => {
            json!({"module": "keras.initializers", "class_name": "GlorotUniform",
            "config": {"seed": null}, "registered_name": null})
        }
    }
}

fn layer_config(layer: &Layer) -> (&'static str, Value) {
    let name = &layer.name;
    match &layer.op {
        Op::Input {
            height,
            width,
            channels,
        } => (
            "InputLayer",
            json!({"batch_input_shape": [null, height, width, channels], "dtype": "float32",
                "sparse": false, "ragged": false, "name": name}),
        ),
        Op::Masking { value } => (
            "Masking",
            json!({"name": name, "trainable": true, "dtype": "float32", "mask_value": value}),
        ),
        Op::Conv2D {
            filters,
            kernel,
            strides,
            same,
            activation,
            bias,
            init,
            transposed,
        } => (
            if *transposed {
                "Conv2DTranspose"
            } else {
                "Conv2D"
            },
            json!({"name": name, "trainable": true, "dtype": "float32", "filters": filters,
                "kernel_size": kernel, "strides": strides,
                "padding": if *same { "same" } else { "valid" }, "data_format": "channels_last",
                "dilation_rate": [1, 1], "groups": 1, "activation": activation.name(),
                "use_bias": bias, "kernel_initializer": he_or_glorot(*init),
                "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros",
                    "config": {}, "registered_name": null},
                "kernel_regularizer": null, "bias_regularizer": null,
                "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}),
        ),
        Op::BatchNorm { epsilon } => (
            "BatchNormalization",
            json!({"name": name, "trainable": true, "dtype": "float32", "axis": [3],
                "momentum": 0.99, "epsilon": epsilon, "center": true, "scale": true}),
        ),
        Op::Activate(activation) => (
            "Activation",
            json!({"name": name, "trainable": true, "dtype": "float32",
                "activation": activation.name()}),
        ),
        Op::Add => (
            "Add",
            json!({"name": name, "trainable": true, "dtype": "float32"}),
        ),
        Op::MaxPool {
            pool,
            strides,
            same,
        } => (
            "MaxPooling2D",
            json!({"name": name, "trainable": true, "dtype": "float32", "pool_size": pool,
                "padding": if *same { "same" } else { "valid" }, "strides": strides,
                "data_format": "channels_last"}),
        ),
        Op::UpSample { size } => (
            "UpSampling2D",
            json!({"name": name, "trainable": true, "dtype": "float32", "size": size,
                "data_format": "channels_last", "interpolation": "nearest"}),
        ),
        Op::Concat => (
            "Concatenate",
            json!({"name": name, "trainable": true, "dtype": "float32", "axis": 3}),
        ),
    }
}

/// The `model_config` JSON Keras 2 writes for `graph`.
pub fn config_json(graph: &Graph) -> String {
    let layers: Vec<Value> = graph
        .layers
        .iter()
        .map(|layer| {
            let (class, config) = layer_config(layer);
            let inbound: Vec<Value> = if layer.inputs.is_empty() {
                vec![]
            } else {
                vec![Value::Array(
                    layer
                        .inputs
                        .iter()
                        .map(|&i| json!([graph.layers[i].name, 0, 0, {}]))
                        .collect(),
                )]
            };
            json!({"class_name": class, "config": config, "name": layer.name,
                "inbound_nodes": inbound})
        })
        .collect();
    let inputs: Vec<Value> = graph
        .layers
        .iter()
        .filter(|l| matches!(l.op, Op::Input { .. }))
        .map(|l| json!([l.name, 0, 0]))
        .collect();
    json!({"class_name": "Functional", "config": {"name": graph.name, "trainable": true,
        "layers": layers, "input_layers": inputs,
        "output_layers": [[graph.layers[graph.output].name, 0, 0]]},
        "keras_version": KERAS_VERSION, "backend": "tensorflow"})
    .to_string()
}

/// The `training_config` upstream's `get_sae` compiles with: Adam at 1e-4, binary
/// cross-entropy, accuracy.
pub fn training_config_json(learning_rate: f32) -> String {
    json!({"loss": "binary_crossentropy",
        "metrics": [[{"class_name": "MeanMetricWrapper",
            "config": {"name": "accuracy", "dtype": "float32", "fn": "binary_accuracy"}}]],
        "weighted_metrics": null, "loss_weights": null,
        "optimizer_config": {"class_name": "Custom>Adam", "config": {"name": "Adam",
            "weight_decay": null, "clipnorm": null, "global_clipnorm": null, "clipvalue": null,
            "use_ema": false, "ema_momentum": 0.99, "ema_overwrite_frequency": null,
            "jit_compile": false, "is_legacy_optimizer": false,
            "learning_rate": learning_rate, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
            "amsgrad": false}}})
    .to_string()
}

fn h5(context: &str) -> impl Fn(hdf5::Error) -> Error + '_ {
    move |e| Error::Model(format!("{context}: {e}"))
}

/// Reads a string attribute however h5py stored it (Keras writes fixed-length bytes, this
/// crate variable-length strings); `None` when the attribute is not there.
fn string_attr(loc: &hdf5::Location, name: &str) -> Result<Option<String>, Error> {
    if !loc
        .attr_names()
        .map_err(h5(name))?
        .iter()
        .any(|n| n == name)
    {
        return Ok(None);
    }
    Ok(strings_attr(loc, name)?.into_iter().next())
}

/// Reads a string or list-of-strings attribute (`model_config`, `layer_names`,
/// `weight_names`), fixed or variable length; an empty list may be stored as an empty array of
/// any type.
fn strings_attr(loc: &hdf5::Location, name: &str) -> Result<Vec<String>, Error> {
    let attr = loc.attr(name).map_err(h5(name))?;
    if attr.size() == 0 {
        return Ok(vec![]);
    }
    let descriptor = attr
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(h5(name))?;
    // Fixed-length strings are read as the type they are stored as: HDF5 converts neither
    // way between ASCII and UTF-8.
    macro_rules! fixed {
        ($ty:ident, $n:expr, $($size:literal)*) => {
            $(if $n <= $size {
                return Ok(attr.read_raw::<$ty<$size>>().map_err(h5(name))?
                    .iter().map(|s| s.as_str().to_string()).collect());
            })*
        };
    }
    match descriptor {
        TypeDescriptor::VarLenUnicode => Ok(attr
            .read_raw::<VarLenUnicode>()
            .map_err(h5(name))?
            .iter()
            .map(|s| s.as_str().to_string())
            .collect()),
        TypeDescriptor::VarLenAscii => Ok(attr
            .read_raw::<VarLenAscii>()
            .map_err(h5(name))?
            .iter()
            .map(|s| s.as_str().to_string())
            .collect()),
        TypeDescriptor::FixedAscii(n) => {
            fixed!(FixedAscii, n, 64 1024 16384 262144 4194304);
            Err(model_err(format!(
                "attribute {name} holds {n}-byte strings"
            )))
        }
        TypeDescriptor::FixedUnicode(n) => {
            fixed!(FixedUnicode, n, 64 1024 16384 262144 4194304);
            Err(model_err(format!(
                "attribute {name} holds {n}-byte strings"
            )))
        }
        other => Err(model_err(format!("attribute {name} is a {other:?}"))),
    }
}

/// Reads a Keras HDF5 model saved whole (`model.save`), as upstream's trainer writes it.
pub fn read(path: &Path) -> Result<Model, Error> {
    let file = hdf5::File::open(path)
        .map_err(|e| Error::Model(format!("{} is not an HDF5 file: {e}", path.display())))?;
    let config = string_attr(&file, "model_config")?.ok_or_else(|| {
        model_err(
            "the file holds no model_config: it is not a whole Keras model saved with \
             model.save (weights alone do not say the architecture)",
        )
    })?;
    let graph = parse_config(&config)?;
    let root = file
        .group("model_weights")
        .map_err(|_| model_err("the file has no model_weights group"))?;
    let channels = graph.channels()?;
    let mut weights = HashMap::new();
    let mut norms = HashMap::new();
    for layer in &graph.layers {
        let vector = |values: &LayerWeights, what: &str, channels: usize| -> Result<_, Error> {
            match values.get(what)? {
                Some((v, shape)) if shape == [channels] => Ok(Some(v)),
                Some((_, shape)) => Err(model_err(format!(
                    "layer {}'s {what} is {shape:?}, not [{channels}]",
                    layer.name
                ))),
                None => Ok(None),
            }
        };
        let missing = |what: &str| model_err(format!("layer {} has no {what}", layer.name));
        match layer.op {
            Op::Conv2D {
                filters,
                kernel,
                bias,
                transposed,
                ..
            } => {
                let values = LayerWeights::open(&root, &layer.name)?;
                let (k, shape) = values.get("kernel")?.ok_or_else(|| missing("kernel"))?;
                let input_channels = channels[layer.inputs[0]];
                let expected = if transposed {
                    [kernel[0], kernel[1], filters, input_channels]
                } else {
                    [kernel[0], kernel[1], input_channels, filters]
                };
                if shape != expected {
                    return Err(model_err(format!(
                        "layer {}'s kernel is {shape:?}, the graph says {expected:?}",
                        layer.name
                    )));
                }
                let b = if bias {
                    Some(vector(&values, "bias", filters)?.ok_or_else(|| missing("bias"))?)
                } else {
                    None
                };
                weights.insert(
                    layer.name.clone(),
                    Weights {
                        kernel: k,
                        kernel_shape: expected,
                        bias: b,
                    },
                );
            }
            Op::BatchNorm { .. } => {
                let values = LayerWeights::open(&root, &layer.name)?;
                let c = channels[layer.inputs[0]];
                let initial = Norm::initial(c);
                norms.insert(
                    layer.name.clone(),
                    Norm {
                        gamma: vector(&values, "gamma", c)?.unwrap_or(initial.gamma),
                        beta: vector(&values, "beta", c)?.unwrap_or(initial.beta),
                        moving_mean: vector(&values, "moving_mean", c)?
                            .ok_or_else(|| missing("moving_mean"))?,
                        moving_variance: vector(&values, "moving_variance", c)?
                            .ok_or_else(|| missing("moving_variance"))?,
                    },
                );
            }
            _ => {}
        }
    }
    Ok(Model {
        graph,
        weights,
        norms,
    })
}

/// A stored weight's values and shape.
type Stored = (Vec<f32>, Vec<usize>);

/// One layer's group under `model_weights` and the names its `weight_names` lists.
struct LayerWeights {
    group: hdf5::Group,
    layer: String,
    names: Vec<String>,
}

impl LayerWeights {
    fn open(root: &hdf5::Group, layer: &str) -> Result<Self, Error> {
        let group = root
            .group(layer)
            .map_err(|_| model_err(format!("no weights for layer {layer}")))?;
        let names = strings_attr(&group, "weight_names")?;
        Ok(Self {
            group,
            layer: layer.to_string(),
            names,
        })
    }

    /// The weight whose name ends in `what` (`kernel`, `bias`, `gamma`…) and its shape, if the
    /// layer lists one.
    fn get(&self, what: &str) -> Result<Option<Stored>, Error> {
        let Some(name) = self.names.iter().find(|n| {
            let leaf = n.rsplit('/').next().unwrap_or(n);
            leaf == what || leaf.strip_suffix(":0") == Some(what)
        }) else {
            return Ok(None);
        };
        let context = format!("{}/{name}", self.layer);
        let ds = self.group.dataset(name).map_err(h5(&context))?;
        let data = ds.read_raw::<f32>().map_err(h5(&context))?;
        Ok(Some((data, ds.shape())))
    }
}

fn put_string(loc: &hdf5::Location, name: &str, value: &str) -> Result<(), Error> {
    let v: VarLenUnicode = value
        .parse()
        .map_err(|e| model_err(format!("{name}: {e}")))?;
    loc.new_attr::<VarLenUnicode>()
        .create(name)
        .and_then(|a| a.write_scalar(&v))
        .map_err(h5(name))
}

fn put_strings(loc: &hdf5::Location, name: &str, values: &[String]) -> Result<(), Error> {
    if values.is_empty() {
        // What h5py writes for Keras's empty lists: a float64 array of length 0.
        return loc
            .new_attr::<f64>()
            .shape([0])
            .create(name)
            .map(drop)
            .map_err(h5(name));
    }
    let v = values
        .iter()
        .map(|s| s.parse::<VarLenUnicode>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| model_err(format!("{name}: {e}")))?;
    loc.new_attr::<VarLenUnicode>()
        .shape([v.len()])
        .create(name)
        .and_then(|a| a.write_raw(&v))
        .map_err(h5(name))
}

/// Writes `model` as Keras 2's `model.save(path)` does, compiled as upstream's `get_sae`
/// (Adam at `learning_rate`, binary cross-entropy), so that `keras.models.load_model` gives a
/// model ready to predict and to train further.
pub fn write(path: &Path, model: &Model, learning_rate: f32) -> Result<(), Error> {
    let file = hdf5::File::create(path)
        .map_err(|e| Error::Model(format!("cannot create {}: {e}", path.display())))?;
    put_string(&file, "backend", "tensorflow")?;
    put_string(&file, "keras_version", KERAS_VERSION)?;
    put_string(&file, "model_config", &config_json(&model.graph))?;
    put_string(
        &file,
        "training_config",
        &training_config_json(learning_rate),
    )?;
    let root = file
        .create_group("model_weights")
        .map_err(h5("model_weights"))?;
    put_string(&root, "backend", "tensorflow")?;
    put_string(&root, "keras_version", KERAS_VERSION)?;
    let names: Vec<String> = model.graph.layers.iter().map(|l| l.name.clone()).collect();
    put_strings(&root, "layer_names", &names)?;
    for layer in &model.graph.layers {
        let group = root.create_group(&layer.name).map_err(h5(&layer.name))?;
        let mut stored: Vec<(&str, Vec<usize>, &[f32])> = Vec::new();
        if let Some(w) = model.weights.get(&layer.name) {
            stored.push(("kernel", w.kernel_shape.to_vec(), &w.kernel));
            if let Some(b) = &w.bias {
                stored.push(("bias", vec![b.len()], b));
            }
        }
        if let Some(n) = model.norms.get(&layer.name) {
            for (what, v) in [
                ("gamma", &n.gamma),
                ("beta", &n.beta),
                ("moving_mean", &n.moving_mean),
                ("moving_variance", &n.moving_variance),
            ] {
                stored.push((what, vec![v.len()], v));
            }
        }
        let mut weight_names = Vec::with_capacity(stored.len());
        if !stored.is_empty() {
            let inner = group.create_group(&layer.name).map_err(h5(&layer.name))?;
            for (what, shape, values) in stored {
                inner
                    .new_dataset::<f32>()
                    .shape(shape)
                    .create(format!("{what}:0").as_str())
                    .and_then(|d| d.write_raw(values))
                    .map_err(h5(&layer.name))?;
                weight_names.push(format!("{}/{what}:0", layer.name));
            }
        }
        put_strings(&group, "weight_names", &weight_names)?;
    }
    let top = root
        .create_group("top_level_model_weights")
        .map_err(h5("top_level_model_weights"))?;
    put_strings(&top, "weight_names", &[])?;
    file.flush().map_err(h5("flush"))?;
    Ok(())
}
