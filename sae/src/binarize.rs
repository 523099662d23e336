//! SAE Binarization's page walk (upstream's `run_binarize`, DDMAL/SAE_binarization): a
//! residual encoder-decoder (REDNet) scores 256×256 windows of a greyscale page, and every
//! pixel whose score passes 0.5 is ink.
//!
//! As upstream:
//! - the network reads `255 − grey` as it is, unscaled;
//! - the page gets a 5-pixel border copied from its edges; windows move by 246 pixels and each
//!   keeps its interior, 5 pixels in from every side; later windows overwrite earlier ones.
//!
//! Where upstream differs, and why:
//! - upstream's last window of a row or column stops one pixel short of the border, so the
//!   page's last row and column were never scored (they came out as noise); here the last
//!   window ends at the border and every pixel is scored;
//! - pages under 256 pixels on a side are extended by repeating their edge pixels rather than
//!   stretched with cubic interpolation and shrunk back, so the ink keeps the size the model
//!   was trained on and the result stays two-valued.

use burn::tensor::{Tensor, TensorData};

use crate::Error;
use crate::classify::Bgr;
use crate::conv::SaeBackend;
use crate::net::Network;

/// The model's window, on each side.
pub const WINDOW: usize = 256;
/// Pixels of each side of a window whose scores are dropped; also the page's border.
pub const MARGIN: usize = 5;
/// The score from which a pixel is ink.
pub const THRESHOLD: f32 = 0.5;

/// An 8-bit greyscale page, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grey {
    pub height: usize,
    pub width: usize,
    pub data: Vec<u8>,
}

/// OpenCV's `COLOR_BGR2GRAY` of one 8-bit pixel: 0.114 B + 0.587 G + 0.299 R in its 14-bit
/// fixed point, rounded; how upstream's loader makes a colour page grey.
pub fn opencv_grey([b, g, r]: [u8; 3]) -> u8 {
    ((u32::from(b) * 1868 + u32::from(g) * 9617 + u32::from(r) * 4899 + (1 << 13)) >> 14) as u8
}

impl Bgr {
    /// The page made grey as OpenCV's `COLOR_BGR2GRAY` makes it ([`opencv_grey`]).
    pub fn grey(&self) -> Grey {
        Grey {
            height: self.height,
            width: self.width,
            data: self
                .data
                .chunks_exact(3)
                .map(|p| opencv_grey([p[0], p[1], p[2]]))
                .collect(),
        }
    }
}

/// The windows' first rows (or columns) along a side of `len` pixels, border included: every
/// `WINDOW − 2·MARGIN` pixels, the last pulled back to end at the side's end.
pub fn starts(len: usize) -> Vec<usize> {
    let step = WINDOW - 2 * MARGIN;
    let mut out: Vec<usize> = (0..len.div_ceil(step))
        .map(|i| (i * step).min(len - WINDOW))
        .collect();
    out.dedup();
    out
}

/// The page extended to at least `WINDOW` pixels on each side and then by `MARGIN` on every
/// side, all by repeating the nearest edge pixel; with the offset of the page's first pixel.
fn bordered(page: &Grey) -> (Grey, usize, usize) {
    let grow = |side: usize| WINDOW.saturating_sub(side + 2 * MARGIN);
    let (extra_h, extra_w) = (grow(page.height), grow(page.width));
    let (top, left) = (MARGIN + extra_h / 2, MARGIN + extra_w / 2);
    let height = page.height + 2 * MARGIN + extra_h;
    let width = page.width + 2 * MARGIN + extra_w;
    let mut data = Vec::with_capacity(height * width);
    for y in 0..height {
        let sy = y.saturating_sub(top).min(page.height - 1);
        let row = &page.data[sy * page.width..(sy + 1) * page.width];
        data.extend((0..width).map(|x| row[x.saturating_sub(left).min(page.width - 1)]));
    }
    (
        Grey {
            height,
            width,
            data,
        },
        top,
        left,
    )
}

/// Every pixel of `page`, `true` where `model` finds ink. `batch` windows go through the model
/// at once (the result does not depend on it).
pub fn binarize<B: SaeBackend>(
    page: &Grey,
    model: &Network<B>,
    batch: usize,
    device: &B::Device,
) -> Result<Vec<bool>, Error> {
    Ok(scores(page, model, batch, device)?
        .into_iter()
        .map(|s| s > THRESHOLD)
        .collect())
}

/// Every pixel's score: the model's output for it in the last window whose interior holds it.
pub fn scores<B: SaeBackend>(
    page: &Grey,
    model: &Network<B>,
    batch: usize,
    device: &B::Device,
) -> Result<Vec<f32>, Error> {
    if page.height == 0 || page.width == 0 || page.data.len() != page.height * page.width {
        return Err(Error::Input(format!(
            "a {}×{} page with {} pixels",
            page.width,
            page.height,
            page.data.len()
        )));
    }
    match model.graph().input()? {
        (Some(WINDOW), Some(WINDOW), 1) | (None, None, 1) => {}
        other => {
            return Err(Error::Model(format!(
                "the model takes {other:?} (height, width, channels); SAE Binarization feeds \
                 it {WINDOW}×{WINDOW} greyscale windows"
            )));
        }
    }
    let (padded, top, left) = bordered(page);
    let mut score = vec![0.0f32; padded.height * padded.width];
    let rows = starts(padded.height);
    let cols = starts(padded.width);
    let all: Vec<(usize, usize)> = rows
        .iter()
        .flat_map(|&r| cols.iter().map(move |&c| (r, c)))
        .collect();
    for chunk in all.chunks(batch.max(1)) {
        let mut input = Vec::with_capacity(chunk.len() * WINDOW * WINDOW);
        for &(row, col) in chunk {
            for y in row..row + WINDOW {
                let start = y * padded.width + col;
                input.extend(
                    padded.data[start..start + WINDOW]
                        .iter()
                        .map(|&v| 255.0 - f32::from(v)),
                );
            }
        }
        let x = Tensor::<B, 4>::from_data(
            TensorData::new(input, [chunk.len(), WINDOW, WINDOW, 1]),
            device,
        );
        let y = model.forward(x);
        let [_, c, h, w] = y.dims();
        if (c, h, w) != (1, WINDOW, WINDOW) {
            return Err(Error::Model(format!(
                "the model gives {c} channels of {h}×{w}; SAE Binarization needs one score per \
                 pixel of the window"
            )));
        }
        let out = y
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| Error::Model(format!("{e:?}")))?;
        for (k, &(row, col)) in chunk.iter().enumerate() {
            let base = k * WINDOW * WINDOW;
            for y in MARGIN..WINDOW - MARGIN {
                let at = (row + y) * padded.width + col;
                let scored = &out[base + y * WINDOW..base + (y + 1) * WINDOW];
                score[at + MARGIN..at + WINDOW - MARGIN]
                    .copy_from_slice(&scored[MARGIN..WINDOW - MARGIN]);
            }
        }
    }
    let mut out = Vec::with_capacity(page.height * page.width);
    for y in 0..page.height {
        let start = (y + top) * padded.width + left;
        out.extend_from_slice(&score[start..start + page.width]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_interiors_cover_every_pixel_of_the_page() {
        for (h, w) in [(1, 1), (10, 300), (256, 256), (257, 1000), (3000, 4000)] {
            let page = Grey {
                height: h,
                width: w,
                data: vec![0; h * w],
            };
            let (padded, top, left) = bordered(&page);
            assert!(padded.height >= WINDOW && padded.width >= WINDOW);
            let mut covered = vec![false; padded.height * padded.width];
            for &r in &starts(padded.height) {
                for &c in &starts(padded.width) {
                    assert!(r + WINDOW <= padded.height && c + WINDOW <= padded.width);
                    for y in r + MARGIN..r + WINDOW - MARGIN {
                        for x in c + MARGIN..c + WINDOW - MARGIN {
                            covered[y * padded.width + x] = true;
                        }
                    }
                }
            }
            for y in top..top + h {
                for x in left..left + w {
                    assert!(covered[y * padded.width + x], "{h}×{w}: ({y}, {x})");
                }
            }
        }
    }

    #[test]
    fn windows_step_as_upstream_and_the_last_ends_at_the_border() {
        assert_eq!(starts(266), vec![0, 10]);
        assert_eq!(starts(502), vec![0, 246]);
        assert_eq!(starts(1010), vec![0, 246, 492, 738, 754]);
    }

    #[test]
    fn small_pages_grow_by_their_edge_pixels() {
        let page = Grey {
            height: 1,
            width: 2,
            data: vec![7, 9],
        };
        let (p, top, left) = bordered(&page);
        assert_eq!((p.height, p.width), (WINDOW, WINDOW));
        assert_eq!(p.data[top * p.width + left], 7);
        assert_eq!(p.data[top * p.width + left + 1], 9);
        assert_eq!(p.data[0], 7);
        assert_eq!(p.data[p.data.len() - 1], 9);
    }
}
