//! Patchwise page analysis, as upstream's `process_image_msae` in `logical` mode (the mode
//! Rodan's job uses): the page gets a 25-pixel border copied from its edges, windows of the
//! model's size walk it with a step of the window less 51 pixels (the last row and column of
//! windows pulled back inside), every model scores every pixel of a window, and each pixel of a
//! window's interior (25 pixels in from each side) takes the index of the model that scored it
//! highest, the first on a tie. Later windows overwrite earlier ones where interiors overlap.

use burn::tensor::{Tensor, TensorData};

use crate::Error;
use crate::conv::SaeBackend;
use crate::net::Network;

/// The border added around the page, and the margin of a window whose predictions are dropped.
pub const PADDING: usize = 25;

/// An 8-bit BGR page, rows top to bottom, as OpenCV's `imread(path, 1)` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bgr {
    pub height: usize,
    pub width: usize,
    /// `height × width × 3` bytes: blue, green, red.
    pub data: Vec<u8>,
}

impl Bgr {
    /// The page with `pad` pixels on every side copied from the nearest edge pixel (OpenCV's
    /// `BORDER_REPLICATE`).
    pub fn replicate_border(&self, pad: usize) -> Bgr {
        let (h, w) = (self.height + 2 * pad, self.width + 2 * pad);
        let mut data = Vec::with_capacity(h * w * 3);
        for y in 0..h {
            let sy = y.saturating_sub(pad).min(self.height - 1);
            for x in 0..w {
                let sx = x.saturating_sub(pad).min(self.width - 1);
                let i = (sy * self.width + sx) * 3;
                data.extend_from_slice(&self.data[i..i + 3]);
            }
        }
        Bgr {
            height: h,
            width: w,
            data,
        }
    }

    /// The `height × width` window at `(row, col)` scaled as upstream feeds its models,
    /// `(255 - v) / 255`, channels-last.
    pub fn window(&self, row: usize, col: usize, height: usize, width: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(height * width * 3);
        for y in row..row + height {
            let start = (y * self.width + col) * 3;
            out.extend(
                self.data[start..start + width * 3]
                    .iter()
                    .map(|&v| (255.0 - f32::from(v)) / 255.0),
            );
        }
        out
    }
}

/// The windows' top-left corners on a page padded to `padded_height × padded_width`, in
/// upstream's order. Rows walk the padded height; columns walk the page's own width
/// (`page_width`), as upstream's loop does; both are pulled back to fit.
pub fn windows(
    padded_height: usize,
    padded_width: usize,
    page_width: usize,
    height: usize,
    width: usize,
) -> Vec<(usize, usize)> {
    let row_step = height - 2 * PADDING - 1;
    let col_step = width - 2 * PADDING - 1;
    let mut out = Vec::new();
    for row in (0..padded_height).step_by(row_step) {
        for col in (0..page_width).step_by(col_step) {
            out.push((
                row.min(padded_height - height),
                col.min(padded_width - width),
            ));
        }
    }
    out
}

/// Checks that `height × width` windows can analyse a `page_height × page_width` page.
pub fn check_window(
    page_height: usize,
    page_width: usize,
    height: usize,
    width: usize,
) -> Result<(), Error> {
    let least = 2 * PADDING + 2;
    if height < least || width < least {
        return Err(Error::Input(format!(
            "the window ({height}×{width}) must be at least {least} pixels on each side: \
             {PADDING} pixels of each side are dropped and it moves by its size less {}",
            2 * PADDING + 1
        )));
    }
    if page_height + 2 * PADDING < height || page_width + 2 * PADDING < width {
        return Err(Error::Input(format!(
            "the page ({page_width}×{page_height} pixels) is smaller than the window \
             ({width}×{height}) less {PADDING} pixels on each side"
        )));
    }
    Ok(())
}

/// Every pixel's label: the index in `models` of the model that scores it highest.
/// `batch` windows go through the models at once (the result does not depend on it).
pub fn classify<B: SaeBackend>(
    page: &Bgr,
    models: &[Network<B>],
    height: usize,
    width: usize,
    batch: usize,
    device: &B::Device,
) -> Result<Vec<u8>, Error> {
    if models.is_empty() || models.len() > usize::from(u8::MAX) {
        return Err(Error::Input(format!("{} models (1 to 255)", models.len())));
    }
    check_window(page.height, page.width, height, width)?;
    let padded = page.replicate_border(PADDING);
    let out_w = padded.width + 2 * PADDING;
    let mut labels = vec![0u8; (padded.height + 2 * PADDING) * out_w];
    let all = windows(padded.height, padded.width, page.width, height, width);
    let inner_h = height - 2 * PADDING;
    let inner_w = width - 2 * PADDING;
    for chunk in all.chunks(batch.max(1)) {
        let mut input = Vec::with_capacity(chunk.len() * height * width * 3);
        for &(row, col) in chunk {
            input.extend(padded.window(row, col, height, width));
        }
        let x = Tensor::<B, 4>::from_data(
            TensorData::new(input, [chunk.len(), height, width, 3]),
            device,
        );
        let mut scores: Vec<Vec<f32>> = Vec::with_capacity(models.len());
        for model in models {
            let y = model.forward(x.clone());
            let [_, c, _, _] = y.dims();
            if c != 1 {
                return Err(Error::Model(format!(
                    "a model gives {c} channels; a selectional auto-encoder gives one"
                )));
            }
            scores.push(
                y.into_data()
                    .convert::<f32>()
                    .into_vec::<f32>()
                    .map_err(|e| Error::Model(format!("{e:?}")))?,
            );
        }
        for (k, &(row, col)) in chunk.iter().enumerate() {
            let base = k * height * width;
            for y in 0..inner_h {
                let out_row = (row + PADDING + y) * out_w + col + PADDING;
                for x in 0..inner_w {
                    let i = base + (y + PADDING) * width + x + PADDING;
                    let mut best = 0;
                    let mut best_score = scores[0][i];
                    for (m, s) in scores.iter().enumerate().skip(1) {
                        if s[i] > best_score {
                            best = m;
                            best_score = s[i];
                        }
                    }
                    labels[out_row + x] = best as u8;
                }
            }
        }
    }
    let mut out = Vec::with_capacity(page.height * page.width);
    for y in 0..page.height {
        let start = (y + PADDING) * out_w + PADDING;
        out.extend_from_slice(&labels[start..start + page.width]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_every_pixel_of_the_page_with_their_interiors() {
        for (h, w, win) in [
            (300, 206, 256),
            (1000, 700, 256),
            (60, 500, 64),
            (257, 64, 64),
        ] {
            let ph = h + 2 * PADDING;
            let pw = w + 2 * PADDING;
            let mut covered = vec![false; ph * pw];
            for (row, col) in windows(ph, pw, w, win, win) {
                assert!(row + win <= ph && col + win <= pw);
                for y in row + PADDING..row + win - PADDING {
                    for x in col + PADDING..col + win - PADDING {
                        covered[y * pw + x] = true;
                    }
                }
            }
            for y in PADDING..PADDING + h {
                for x in PADDING..PADDING + w {
                    assert!(
                        covered[y * pw + x],
                        "{h}x{w} window {win}: ({y},{x}) uncovered"
                    );
                }
            }
        }
    }

    #[test]
    fn small_windows_and_pages_are_refused_with_the_reason() {
        assert!(check_window(100, 100, 51, 256).is_err());
        assert!(check_window(100, 100, 52, 52).is_ok());
        assert!(check_window(100, 100, 256, 256).is_err());
        assert!(check_window(206, 206, 256, 256).is_ok());
    }

    #[test]
    fn the_border_repeats_the_edge_pixels() {
        let page = Bgr {
            height: 1,
            width: 2,
            data: vec![1, 2, 3, 4, 5, 6],
        };
        let p = page.replicate_border(2);
        assert_eq!((p.height, p.width), (5, 6));
        assert_eq!(&p.data[0..3], &[1, 2, 3]);
        assert_eq!(&p.data[p.data.len() - 3..], &[4, 5, 6]);
    }
}
