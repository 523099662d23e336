//! Training, as upstream's trainers do it: one model per layer, trained on patches of the pages,
//! Adam at 1e-4 on binary cross-entropy, judged by the validation accuracy after every epoch,
//! the best epoch's model kept (Keras's `ModelCheckpoint(save_best_only=True)`) and training
//! stopped once `patience` epochs in a row bring no better one (`EarlyStopping`).
//!
//! Two samplers, as upstream's two trainers:
//! - [`Sampler::Random`] (Paco_classifier's `getTrain`, the current job): every batch comes from
//!   one page, pages taken in a shuffled round; a patch's top-left corner is a random pixel of
//!   the layer (any position when the layer has fewer such pixels than a batch). An epoch is
//!   `samples per label / batch size` batches; validation is one batch per page, pages in order.
//! - [`Sampler::Centred`] (Calvo-classifier's, the earlier job): one pass over the page keeps
//!   about one pixel in a hundred, and of those the pixels of each layer in proportion to how
//!   rare that layer is, up to `samples per label`; patches are centred on them. The last fifth
//!   of each layer's patches validates (Keras's `validation_split=0.2`); the rest is shuffled
//!   into batches every epoch.

use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use rand::seq::SliceRandom;

use crate::Error;
use crate::classify::Bgr;
use crate::conv::SaeBackend;
use crate::keras::Model;
use crate::net::Network;
use crate::sae;

/// Upstream's learning rate (`Adam(learning_rate=1e-4)`).
pub const LEARNING_RATE: f64 = 1e-4;

/// An 8-bit RGBA layer image, as Pixel.js exports layers: a pixel belongs to the layer when its
/// alpha is 255.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgba {
    pub height: usize,
    pub width: usize,
    /// `height × width × 4` bytes: red, green, blue, alpha.
    pub data: Vec<u8>,
}

impl Rgba {
    fn opaque(&self, y: usize, x: usize) -> bool {
        self.data[(y * self.width + x) * 4 + 3] == 255
    }
}

/// How patches are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampler {
    Random,
    Centred,
}

/// The trainer's settings, as the jobs name them.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub batch_size: usize,
    pub patch_height: usize,
    pub patch_width: usize,
    pub max_epochs: usize,
    pub samples_per_label: usize,
    pub patience: usize,
    pub sampler: Sampler,
}

/// One page of training data: the image and, for each label, the pixels that belong to it.
#[derive(Debug, Clone)]
pub struct Page {
    pub image: Bgr,
    /// One mask per label (label 0 is the background); `None` when the page has none of it.
    pub masks: Vec<Option<Vec<bool>>>,
}

/// What one epoch did.
#[derive(Debug, Clone, PartialEq)]
pub struct Epoch {
    pub label: usize,
    pub epoch: usize,
    /// Batches trained on.
    pub steps: usize,
    /// Patches trained on.
    pub patches: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    /// The validation accuracy beat every earlier epoch's: this epoch's model is kept.
    pub improved: bool,
    pub seconds: f64,
}

/// Checks upstream's preconditions before anything is trained.
pub fn check(settings: &Settings, pages: &[Page]) -> Result<(), Error> {
    if settings.batch_size == 0 || settings.max_epochs == 0 {
        return Err(Error::Input(
            "the batch size and the number of epochs must be at least 1".into(),
        ));
    }
    if settings.sampler == Sampler::Random && settings.batch_size > settings.samples_per_label {
        return Err(Error::Input(format!(
            "Not enough samples for one batch: the batch size is {} and the maximum number \
             of samples per label {}",
            settings.batch_size, settings.samples_per_label
        )));
    }
    let least = 4;
    if settings.patch_height < least
        || settings.patch_width < least
        || !settings.patch_height.is_multiple_of(4)
        || !settings.patch_width.is_multiple_of(4)
    {
        return Err(Error::Input(format!(
            "patches of {}×{} pixels: the model halves them twice, so each side must be a \
             multiple of 4",
            settings.patch_width, settings.patch_height
        )));
    }
    let labels = pages.first().map_or(0, |p| p.masks.len());
    if pages.is_empty() || labels < 2 {
        return Err(Error::Input(
            "training needs at least one page with a background and one more layer".into(),
        ));
    }
    for label in 0..labels {
        if pages.iter().all(|p| p.masks[label].is_none()) {
            return Err(Error::Input(format!(
                "All images in layer {} are empty",
                label_name(label)
            )));
        }
    }
    Ok(())
}

/// "Background" for label 0, "Layer n" otherwise.
pub fn label_name(label: usize) -> String {
    if label == 0 {
        "Background".into()
    } else {
        format!("Layer {label}")
    }
}

/// Prepares a page as upstream's `preprocess` does for one Pixel.js sample: crops the image and
/// every layer to the bounding box of the selected regions; pads a side shorter than the patch
/// to twice the patch, the image and the background with pixels drawn at random from the
/// background, the other layers with nothing; a layer without a pixel is `None` for this page.
pub fn prepare_sample(
    image: &Bgr,
    regions: &Rgba,
    layers: &[Rgba],
    settings: &Settings,
    rng: &mut impl Rng,
) -> Result<Page, Error> {
    let sizes = std::iter::once(("the selected regions", regions.height, regions.width))
        .chain(layers.iter().map(|l| ("a layer", l.height, l.width)));
    for (what, h, w) in sizes {
        if (h, w) != (image.height, image.width) {
            return Err(Error::Input(format!(
                "{what} ({w}×{h}) is not the size of the image ({}×{})",
                image.width, image.height
            )));
        }
    }
    let (mut top, mut left, mut bottom, mut right) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..regions.height {
        for x in 0..regions.width {
            if regions.opaque(y, x) {
                top = top.min(y);
                bottom = bottom.max(y + 1);
                left = left.min(x);
                right = right.max(x + 1);
            }
        }
    }
    if top == usize::MAX {
        return Err(Error::Input(
            "the selected regions layer has no opaque pixel: nothing is selected".into(),
        ));
    }
    let (h, w) = (bottom - top, right - left);
    let out_h = if h < settings.patch_height {
        settings.patch_height * 2
    } else {
        h
    };
    let out_w = if w < settings.patch_width {
        settings.patch_width * 2
    } else {
        w
    };
    let padded = (out_h, out_w) != (h, w);
    let background = &layers[0];
    let fill: Vec<[u8; 3]> = if padded {
        let mut fill = Vec::new();
        for y in top..bottom {
            for x in left..right {
                if background.opaque(y, x) {
                    let i = (y * background.width + x) * 4;
                    let d = &background.data;
                    fill.push([d[i + 2], d[i + 1], d[i]]);
                }
            }
        }
        if fill.is_empty() {
            return Err(Error::Input(
                "the page is smaller than a patch and its background layer is empty, so \
                 there is nothing to pad it with"
                    .into(),
            ));
        }
        fill
    } else {
        vec![]
    };
    let mut data = vec![0u8; out_h * out_w * 3];
    let mut bg_pad = vec![false; out_h * out_w];
    for y in 0..out_h {
        for x in 0..out_w {
            let o = (y * out_w + x) * 3;
            if y < h && x < w {
                let i = ((top + y) * image.width + left + x) * 3;
                data[o..o + 3].copy_from_slice(&image.data[i..i + 3]);
            } else {
                let c = fill[rng.random_range(0..fill.len())];
                data[o..o + 3].copy_from_slice(&c);
                bg_pad[y * out_w + x] = true;
            }
        }
    }
    let masks = layers
        .iter()
        .enumerate()
        .map(|(label, layer)| {
            let mut mask = vec![false; out_h * out_w];
            let mut any = false;
            for y in 0..out_h {
                for x in 0..out_w {
                    let m = if y < h && x < w {
                        layer.opaque(top + y, left + x)
                    } else {
                        label == 0 && bg_pad[y * out_w + x]
                    };
                    mask[y * out_w + x] = m;
                    any |= m;
                }
            }
            any.then_some(mask)
        })
        .collect();
    Ok(Page {
        image: Bgr {
            height: out_h,
            width: out_w,
            data,
        },
        masks,
    })
}

/// A patch: page, top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Patch {
    page: usize,
    row: usize,
    col: usize,
}

/// The pixels of one label on one page where a patch may start (Random sampler).
struct Starts {
    page: usize,
    height: usize,
    width: usize,
    /// Linear indices of the corners in `[0, h - ph) × [0, w - pw)` that belong to the layer.
    corners: Vec<u32>,
}

fn starts(pages: &[Page], label: usize, settings: &Settings) -> Vec<Starts> {
    let (ph, pw) = (settings.patch_height, settings.patch_width);
    pages
        .iter()
        .enumerate()
        .filter_map(|(i, page)| {
            let mask = page.masks[label].as_ref()?;
            let (h, w) = (page.image.height, page.image.width);
            let mut corners = Vec::new();
            for y in 0..h.saturating_sub(ph) {
                for x in 0..w.saturating_sub(pw) {
                    if mask[y * w + x] {
                        corners.push((y * w + x) as u32);
                    }
                }
            }
            Some(Starts {
                page: i,
                height: h,
                width: w,
                corners,
            })
        })
        .collect()
}

fn random_batch(s: &Starts, settings: &Settings, rng: &mut impl Rng) -> Vec<Patch> {
    let (ph, pw) = (settings.patch_height, settings.patch_width);
    (0..settings.batch_size)
        .map(|_| {
            if s.corners.len() >= settings.batch_size {
                let c = s.corners[rng.random_range(0..s.corners.len())] as usize;
                Patch {
                    page: s.page,
                    row: c / s.width,
                    col: c % s.width,
                }
            } else {
                Patch {
                    page: s.page,
                    row: rng.random_range(0..=s.height - ph),
                    col: rng.random_range(0..=s.width - pw),
                }
            }
        })
        .collect()
}

/// Centred patches of every label (Centred sampler), as Calvo-classifier's `getTrain`.
fn centred(pages: &[Page], settings: &Settings, rng: &mut impl Rng) -> Vec<Vec<Patch>> {
    const FACTOR: f64 = 100.0;
    let labels = pages[0].masks.len();
    let (ph, pw) = (settings.patch_height, settings.patch_width);
    let mut out = vec![Vec::new(); labels];
    for (p, page) in pages.iter().enumerate() {
        let (h, w) = (page.image.height, page.image.width);
        let count: Vec<usize> = page
            .masks
            .iter()
            .map(|m| m.as_ref().map_or(0, |m| m.iter().filter(|&&b| b).count()))
            .collect();
        let per_label = count
            .iter()
            .copied()
            .fold(settings.samples_per_label, usize::min);
        let ratio: Vec<f64> = count
            .iter()
            .map(|&c| {
                if c == 0 {
                    0.0
                } else {
                    FACTOR * per_label as f64 / c as f64
                }
            })
            .collect();
        for row in ph..h.saturating_sub(ph + 1) {
            for col in pw..w.saturating_sub(pw + 1) {
                if rng.random::<f64>() >= 1.0 / FACTOR {
                    continue;
                }
                for (label, mask) in page.masks.iter().enumerate() {
                    let Some(mask) = mask else { continue };
                    if mask[row * w + col] && rng.random::<f64>() < ratio[label] {
                        out[label].push(Patch {
                            page: p,
                            row: row - ph / 2,
                            col: col - pw / 2,
                        });
                    }
                }
            }
        }
    }
    out
}

fn batch_tensors<B: Backend>(
    pages: &[Page],
    label: usize,
    patches: &[Patch],
    settings: &Settings,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let (ph, pw) = (settings.patch_height, settings.patch_width);
    let mut x = Vec::with_capacity(patches.len() * ph * pw * 3);
    let mut y = Vec::with_capacity(patches.len() * ph * pw);
    for p in patches {
        let page = &pages[p.page];
        x.extend(page.image.window(p.row, p.col, ph, pw));
        let w = page.image.width;
        for r in p.row..p.row + ph {
            match &page.masks[label] {
                Some(mask) => y.extend(
                    mask[r * w + p.col..r * w + p.col + pw]
                        .iter()
                        .map(|&b| f32::from(u8::from(b))),
                ),
                None => y.extend(std::iter::repeat_n(0.0, pw)),
            }
        }
    }
    let n = patches.len();
    (
        Tensor::from_data(TensorData::new(x, [n, ph, pw, 3]), device),
        Tensor::from_data(TensorData::new(y, [n, 1, ph, pw]), device),
    )
}

/// Mean binary cross-entropy of logits `z` against `y`, and the number of pixels where
/// `z > 0` (probability above one half) agrees with `y`.
fn loss_and_hits<B: Backend>(z: Tensor<B, 4>, y: Tensor<B, 4>) -> (Tensor<B, 1>, Tensor<B, 1>) {
    let hits = z
        .clone()
        .greater_elem(0.0)
        .float()
        .equal(y.clone())
        .float()
        .sum();
    let loss = z.clone().clamp_min(0.0) - z.clone() * y + z.abs().neg().exp().log1p();
    (loss.mean(), hits)
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_data()
        .convert::<f64>()
        .into_vec::<f64>()
        .ok()
        .and_then(|v| v.first().copied())
        .unwrap_or(f64::NAN)
}

/// Trains the model of `label` and gives the best epoch's. `start` continues a model given to
/// the job; otherwise a new SAE for the patch size is made.
pub fn train_label<B>(
    pages: &[Page],
    label: usize,
    start: Option<&Model>,
    settings: &Settings,
    rng: &mut impl Rng,
    device: &B::Device,
    log: &mut dyn FnMut(&Epoch),
) -> Result<Model, Error>
where
    B: AutodiffBackend + SaeBackend,
    B::InnerBackend: SaeBackend,
{
    check(settings, pages)?;
    let mut model: Network<B> = match start {
        Some(m) => Network::from_model(m, device)?,
        None => Network::init(
            &sae::graph(settings.patch_height, settings.patch_width),
            rng,
            device,
        )?,
    };
    let mut optim = AdamConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(1e-7)
        .init::<B, Network<B>>();

    // Where the batches come from.
    let (train, valid): (Vec<Vec<Patch>>, Vec<Vec<Patch>>) = match settings.sampler {
        Sampler::Random => (vec![], vec![]),
        Sampler::Centred => {
            let all = centred(pages, settings, rng).swap_remove(label);
            let split = all.len() - (all.len() as f64 * 0.2) as usize;
            let (t, v) = all.split_at(split);
            if t.is_empty() || v.is_empty() {
                return Err(Error::Input(format!(
                    "{} has too few pixels on the page for training and validation patches \
                     ({} patches)",
                    label_name(label),
                    all.len()
                )));
            }
            (
                vec![t.to_vec()],
                v.chunks(settings.batch_size)
                    .map(<[Patch]>::to_vec)
                    .collect(),
            )
        }
    };
    let random_starts = starts(pages, label, settings);
    let mut round: Vec<usize> = Vec::new();
    let mut valid_next = 0usize;

    let mut best: Option<(f64, Model)> = None;
    let mut wait = 0usize;
    for epoch in 0..settings.max_epochs {
        let started = std::time::Instant::now();
        let batches: Vec<Vec<Patch>> = match settings.sampler {
            Sampler::Random => (0..(settings.samples_per_label / settings.batch_size).max(1))
                .map(|_| {
                    if round.is_empty() {
                        round = (0..random_starts.len()).collect();
                        round.shuffle(rng);
                    }
                    let s = &random_starts[round.pop().unwrap_or(0)];
                    random_batch(s, settings, rng)
                })
                .collect(),
            Sampler::Centred => {
                let mut t = train[0].clone();
                t.shuffle(rng);
                t.chunks(settings.batch_size)
                    .map(<[Patch]>::to_vec)
                    .collect()
            }
        };
        let (mut loss_sum, mut hits, mut pixels) = (0.0, 0.0, 0.0);
        for batch in &batches {
            let (x, y) = batch_tensors::<B>(pages, label, batch, settings, device);
            let (z, _) = model.forward_raw(x);
            let (loss, hit) = loss_and_hits(z, y);
            loss_sum += scalar(loss.clone().detach()) * batch.len() as f64;
            hits += scalar(hit.detach());
            pixels += (batch.len() * settings.patch_height * settings.patch_width) as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(LEARNING_RATE, model, grads);
        }
        let samples: usize = batches.iter().map(Vec::len).sum();
        let (loss, accuracy) = (loss_sum / samples as f64, hits / pixels);

        // Validation, without gradients.
        let inner = model.valid();
        let valid_batches: Vec<Vec<Patch>> = match settings.sampler {
            Sampler::Random => (0..pages.len())
                .map(|_| {
                    let s = &random_starts[valid_next % random_starts.len()];
                    valid_next += 1;
                    random_batch(s, settings, rng)
                })
                .collect(),
            Sampler::Centred => valid.clone(),
        };
        let (mut vloss, mut vhits, mut vpixels, mut vsamples) = (0.0, 0.0, 0.0, 0usize);
        for batch in &valid_batches {
            let (x, y) = batch_tensors::<B::InnerBackend>(pages, label, batch, settings, device);
            let (z, _) = inner.forward_raw(x);
            let (l, h) = loss_and_hits(z, y);
            vloss += scalar(l) * batch.len() as f64;
            vhits += scalar(h);
            vpixels += (batch.len() * settings.patch_height * settings.patch_width) as f64;
            vsamples += batch.len();
        }
        let val_accuracy = vhits / vpixels;
        // Keras's ModelCheckpoint and EarlyStopping, both `mode="max"` on val_accuracy.
        let improved = best.as_ref().is_none_or(|(b, _)| val_accuracy > *b);
        wait += 1;
        if improved {
            best = Some((val_accuracy, inner.to_model()?));
            wait = 0;
        }
        log(&Epoch {
            label,
            epoch: epoch + 1,
            steps: batches.len(),
            patches: samples,
            loss,
            accuracy,
            val_loss: vloss / vsamples as f64,
            val_accuracy,
            improved,
            seconds: started.elapsed().as_secs_f64(),
        });
        if wait >= settings.patience && epoch > 0 {
            break;
        }
    }
    match best {
        Some((_, m)) => Ok(m),
        None => model.valid().to_model(),
    }
}

/// Plain epochs on given patches, as Keras's `fit(x, y, batch_size, epochs, shuffle=False)`
/// runs them with upstream's optimiser and loss: `x` `[n, h, w, 3]` channels-last, `y` the
/// target of each pixel `[n, h, w]`, batches in order. From `start`'s weights; gives each
/// epoch's mean loss and seconds. For the benchmark against TensorFlow on the same patches
/// (`sae/examples/bench.rs`).
#[allow(clippy::too_many_arguments)]
pub fn fit_patches<B>(
    start: &Model,
    x: &[f32],
    y: &[f32],
    [n, h, w]: [usize; 3],
    batch: usize,
    epochs: usize,
    device: &B::Device,
) -> Result<Vec<(f64, f64)>, Error>
where
    B: AutodiffBackend + SaeBackend,
    B::InnerBackend: SaeBackend,
{
    if x.len() != n * h * w * 3 || y.len() != n * h * w || batch == 0 {
        return Err(Error::Input(format!(
            "{} inputs and {} targets for {n} patches of {h}×{w} in batches of {batch}",
            x.len(),
            y.len()
        )));
    }
    let mut model: Network<B> = Network::from_model(start, device)?;
    let mut optim = AdamConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(1e-7)
        .init::<B, Network<B>>();
    let mut out = Vec::with_capacity(epochs);
    for _ in 0..epochs {
        let started = std::time::Instant::now();
        let mut loss_sum = 0.0;
        for first in (0..n).step_by(batch) {
            let k = batch.min(n - first);
            let xs = x[first * h * w * 3..(first + k) * h * w * 3].to_vec();
            let ys = y[first * h * w..(first + k) * h * w].to_vec();
            let xt = Tensor::<B, 4>::from_data(TensorData::new(xs, [k, h, w, 3]), device);
            let yt = Tensor::<B, 4>::from_data(TensorData::new(ys, [k, 1, h, w]), device);
            let (z, _) = model.forward_raw(xt);
            let (loss, _) = loss_and_hits(z, yt);
            loss_sum += scalar(loss.clone().detach()) * k as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(LEARNING_RATE, model, grads);
        }
        out.push((loss_sum / n as f64, started.elapsed().as_secs_f64()));
    }
    Ok(out)
}
