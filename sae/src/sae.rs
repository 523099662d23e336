//! Upstream's selectional auto-encoder (`get_sae` of DDMAL/Paco_classifier's
//! `training_engine_sae.py`): a two-level U-Net with 32 base filters over a BGR patch scaled to
//! `(255 - v) / 255`, ending in one sigmoid channel, "this pixel belongs to the layer".
//!
//! The layers carry the names Keras gives them in a fresh session, so that a model written here
//! reads in Keras exactly as one upstream's trainer wrote.

use crate::keras::{Activation, Graph, Init, Layer, Op};

/// Base filter count (`ff` upstream).
const FF: usize = 32;

/// Builds the graph, layer by layer, naming each as Keras would.
struct Builder {
    layers: Vec<Layer>,
    counts: std::collections::HashMap<&'static str, usize>,
}

impl Builder {
    fn add(&mut self, base: &'static str, op: Op, inputs: Vec<usize>) -> usize {
        let n = self.counts.entry(base).or_insert(0);
        let name = if *n == 0 {
            base.to_string()
        } else {
            format!("{base}_{n}")
        };
        *n += 1;
        self.layers.push(Layer { name, op, inputs });
        self.layers.len() - 1
    }

    fn conv(&mut self, input: usize, filters: usize, kernel: usize) -> usize {
        self.add(
            "conv2d",
            Op::Conv2D {
                filters,
                kernel: [kernel, kernel],
                strides: [1, 1],
                same: true,
                activation: Activation::Relu,
                bias: true,
                init: Init::HeNormal,
                transposed: false,
            },
            vec![input],
        )
    }

    fn pool(&mut self, input: usize) -> usize {
        self.add(
            "max_pooling2d",
            Op::MaxPool {
                pool: [2, 2],
                strides: [2, 2],
                same: false,
            },
            vec![input],
        )
    }

    fn up(&mut self, input: usize) -> usize {
        self.add("up_sampling2d", Op::UpSample { size: [2, 2] }, vec![input])
    }

    fn concat(&mut self, a: usize, b: usize) -> usize {
        self.add("concatenate", Op::Concat, vec![a, b])
    }
}

/// The SAE for `height × width` BGR patches.
pub fn graph(height: usize, width: usize) -> Graph {
    let mut b = Builder {
        layers: Vec::new(),
        counts: Default::default(),
    };
    let input = b.add(
        "input_1",
        Op::Input {
            height: Some(height),
            width: Some(width),
            channels: 3,
        },
        vec![],
    );
    let mask = b.add("masking", Op::Masking { value: -1.0 }, vec![input]);
    let conv1 = b.conv(mask, FF, 3);
    let conv1 = b.conv(conv1, FF, 3);
    let pool1 = b.pool(conv1);
    let conv2 = b.conv(pool1, FF * 2, 3);
    let conv2 = b.conv(conv2, FF * 2, 3);
    let pool2 = b.pool(conv2);
    let conv3 = b.conv(pool2, FF * 8, 3);
    let conv7 = b.conv(conv3, FF * 8, 3);
    let up8 = b.up(conv7);
    let up8 = b.conv(up8, FF * 4, 2);
    let merge8 = b.concat(conv2, up8);
    let conv8 = b.conv(merge8, FF * 4, 3);
    let conv8 = b.conv(conv8, FF * 4, 3);
    let up9 = b.up(conv8);
    let up9 = b.conv(up9, FF * 2, 2);
    let merge9 = b.concat(conv1, up9);
    let conv9 = b.conv(merge9, FF * 2, 3);
    let conv9 = b.conv(conv9, FF * 2, 3);
    let conv9 = b.conv(conv9, 2, 3);
    let output = b.add(
        "conv2d",
        Op::Conv2D {
            filters: 1,
            kernel: [1, 1],
            strides: [1, 1],
            same: false,
            activation: Activation::Sigmoid,
            bias: true,
            init: Init::GlorotUniform,
            transposed: false,
        },
        vec![conv9],
    );
    Graph {
        name: "model".into(),
        layers: b.layers,
        output,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layers_are_named_and_shaped_as_keras_names_and_shapes_them() {
        let g = graph(256, 256);
        let names: Vec<&str> = g.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names.len(), 22);
        assert_eq!(&names[..4], ["input_1", "masking", "conv2d", "conv2d_1"]);
        assert_eq!(names[12], "concatenate");
        assert_eq!(names[21], "conv2d_13");
        let channels = g.channels().unwrap();
        // merge8 = conv2 (64) + up8 (128); merge9 = conv1 (32) + up9 (64).
        assert_eq!(channels[12], 192);
        assert_eq!(channels[17], 96);
        assert_eq!(channels[g.output], 1);
    }
}
