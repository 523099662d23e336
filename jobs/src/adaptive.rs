//! Gamera 4.1.0's adaptive thresholds (Sauvola, Niblack, Gatos, Bernsen) and Brink's global one,
//! pixel for pixel, over greyscale images.
//!
//! One-bit images are [`GrayImage`]s holding [`BLACK`] (0) and [`WHITE`] (255): what a one-bit PNG
//! decodes to and what Gamera's PNG writer stores, so a result can be written as it is. A one-bit
//! input (a preliminary binarization) counts a pixel as black when its value is below 128.
//!
//! Window statistics come from running column and row sums, O(1) a pixel whatever the region
//! size, with bands of rows in parallel. Gamera sums the window's pixels (and squares) as doubles;
//! those sums hold integers far below 2^53, so integer sums converted once give the same doubles,
//! and the arithmetic after them follows Gamera's operation order.
//!
//! Upstream Rodan's jobs (`gamera_rodan/wrappers/plugins/binarization.py`, `threshold.py`) pass
//! their settings straight through; each function's doc gives the mapping and the defaults.

use std::ops::Range;

use image::GrayImage;
use rayon::prelude::*;

/// The value of a black pixel in a one-bit image.
pub const BLACK: u8 = 0;
/// The value of a white pixel in a one-bit image.
pub const WHITE: u8 = 255;

/// Rodan's and Gamera's default `region_size` for [`gatos_background`].
pub const GATOS_BACKGROUND_REGION_SIZE: u32 = 15;

/// Why a threshold could not be computed (Gamera raises the same cases).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdaptiveError {
    /// The region is empty or larger than the image's shorter side.
    #[error(
        "failed to threshold: region size {region_size} is outside 1..={max} for a {width}x{height} image"
    )]
    RegionSize {
        /// The region size asked for.
        region_size: u32,
        /// The largest allowed, the image's shorter side.
        max: u32,
        /// The image's width.
        width: u32,
        /// The image's height.
        height: u32,
    },
    /// Two images that must have the same size do not.
    #[error("failed to threshold: the {name} is {found:?} but the source is {expected:?}")]
    SizeMismatch {
        /// Which image differs (`"binarization"`, `"background"`).
        name: &'static str,
        /// The source's (width, height).
        expected: (u32, u32),
        /// The other image's (width, height).
        found: (u32, u32),
    },
}

/// Settings of [`sauvola_threshold`]; `Default` is Gamera's and Rodan's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SauvolaParams {
    /// Side of the square window; Gamera clips it at the borders. Rodan: `Region size` (15).
    pub region_size: u32,
    /// Weight `k` on the adjusted deviation. Rodan: `Sensitivity` (0.5).
    pub sensitivity: f64,
    /// Dynamic range `R` of the deviation. Rodan: `Dynamic range` (1..=255, 128).
    pub dynamic_range: i32,
    /// Pixels below it are black whatever their window. Rodan: `Lower bound` (0..=255, 20).
    pub lower_bound: i32,
    /// Pixels at or above it are white, unless below `lower_bound`. Rodan: `Upper bound` (0..=255, 150).
    pub upper_bound: i32,
}

impl Default for SauvolaParams {
    fn default() -> Self {
        Self {
            region_size: 15,
            sensitivity: 0.5,
            dynamic_range: 128,
            lower_bound: 20,
            upper_bound: 150,
        }
    }
}

/// Settings of [`niblack_threshold`]; `Default` is Gamera's and Rodan's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NiblackParams {
    /// Side of the square window; Gamera clips it at the borders. Rodan: `Region size` (15).
    pub region_size: u32,
    /// Weight `k` on the deviation. Rodan: `Sensitivity` (-0.2).
    pub sensitivity: f64,
    /// Pixels below it are black whatever their window. Rodan: `Lower bound` (0..=255, 20).
    pub lower_bound: i32,
    /// Pixels at or above it are white, unless below `lower_bound`. Rodan: `Upper bound` (0..=255, 150).
    pub upper_bound: i32,
}

impl Default for NiblackParams {
    fn default() -> Self {
        Self {
            region_size: 15,
            sensitivity: -0.2,
            lower_bound: 20,
            upper_bound: 150,
        }
    }
}

/// Settings of [`gatos_threshold`]; `Default` is Gamera's and Rodan's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GatosParams {
    /// Rodan: `q` (0.6).
    pub q: f64,
    /// Rodan: `p1` (0.5).
    pub p1: f64,
    /// Rodan: `p2` (0.8).
    pub p2: f64,
}

impl Default for GatosParams {
    fn default() -> Self {
        Self {
            q: 0.6,
            p1: 0.5,
            p2: 0.8,
        }
    }
}

/// Settings of [`bernsen_threshold`]; `Default` is Gamera's and Rodan's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BernsenParams {
    /// Side of the window. Rodan: `Region size` (1..=50, 11).
    pub region_size: u32,
    /// Below this contrast (max - min) a pixel is doubtful. Rodan: `Contrast limit` (0..=255, 80).
    pub contrast_limit: u8,
    /// Doubtful pixels become black when true, white when false. Rodan: `Doubt to black` (false).
    pub doubt_to_black: bool,
}

impl Default for BernsenParams {
    fn default() -> Self {
        Self {
            region_size: 11,
            contrast_limit: 80,
            doubt_to_black: false,
        }
    }
}

/// Gamera's `sauvola_threshold(region_size, sensitivity, dynamic_range, lower_bound, upper_bound)`.
///
/// With `m` and `s` the mean and standard deviation of the window around a pixel `v` (variance
/// `E[v^2] - m^2`, as Gamera), `v` is white when `v > m + (1 - k (1 - s / R))`. That is Gamera's
/// formula, not the paper's `m (1 + k (s / R - 1))`; Rodan's job uses it, so it is kept.
///
/// Rodan's job "Sauvola Threshold" (`image/greyscale+png` in, `image/onebit+png` out) passes its
/// settings `Region size`, `Sensitivity`, `Dynamic range`, `Lower bound`, `Upper bound` as the
/// fields of [`SauvolaParams`], in that order.
pub fn sauvola_threshold(
    src: &GrayImage,
    params: &SauvolaParams,
) -> Result<GrayImage, AdaptiveError> {
    let SauvolaParams {
        region_size,
        sensitivity,
        dynamic_range,
        lower_bound,
        upper_bound,
    } = *params;
    let range = f64::from(dynamic_range);
    mean_deviation_threshold(src, region_size, lower_bound, upper_bound, |mean, var| {
        let deviation = var.sqrt();
        let adjusted_deviation = 1.0 - deviation / range;
        mean + (1.0 - sensitivity * adjusted_deviation)
    })
}

/// Gamera's `niblack_threshold(region_size, sensitivity, lower_bound, upper_bound)`.
///
/// A pixel `v` is white when `v > m + k s`, with `m` and `s` the mean and standard deviation of
/// its window.
///
/// Rodan's job "Niblack Threshold" (`image/greyscale+png` in, `image/onebit+png` out) passes its
/// settings `Region size`, `Sensitivity`, `Lower bound`, `Upper bound` as the fields of
/// [`NiblackParams`].
pub fn niblack_threshold(
    src: &GrayImage,
    params: &NiblackParams,
) -> Result<GrayImage, AdaptiveError> {
    let NiblackParams {
        region_size,
        sensitivity,
        lower_bound,
        upper_bound,
    } = *params;
    mean_deviation_threshold(src, region_size, lower_bound, upper_bound, |mean, var| {
        mean + sensitivity * var.sqrt()
    })
}

/// Gamera's `gatos_background(binarization, region_size)`: the source where the preliminary
/// binarization is white; elsewhere the truncated mean of the source over the window's white
/// pixels, or 255 when the window has none.
///
/// Rodan's job "Gatos Background" passes `Greyscale PNG - source image to binarize` as `src`,
/// `Onebit PNG - preliminary binarization of the image` as `binarization` and its setting
/// `Region size` (minimum 1, default [`GATOS_BACKGROUND_REGION_SIZE`]) as `region_size`; it writes
/// the result to `Greyscale PNG - background estimation image` (`image/greyscale+png`).
pub fn gatos_background(
    src: &GrayImage,
    binarization: &GrayImage,
    region_size: u32,
) -> Result<GrayImage, AdaptiveError> {
    check_region(src, region_size)?;
    check_same_size(src, binarization, "binarization")?;
    let bin = binarization.as_raw();
    let width = src.width() as usize;
    Ok(par_windows(
        src,
        region_size,
        |v, i| {
            if is_black(bin[i]) {
                (0, 0)
            } else {
                (1, u32::from(v))
            }
        },
        |y, sums, out_row| {
            let base = y * width;
            let src_row = &src.as_raw()[base..base + width];
            for (x, out) in out_row.iter_mut().enumerate() {
                *out = if !is_black(bin[base + x]) {
                    src_row[x]
                } else if sums.a[x] > 0 {
                    // Gamera converts the double quotient to the pixel type: truncation.
                    (sums.b[x] as f64 / sums.a[x] as f64) as u8
                } else {
                    WHITE
                };
            }
        },
    ))
}

/// Gamera's `gatos_threshold(background, binarization, q, p1, p2)`.
///
/// Gamera's quirks are kept: its `delta` sums `src - background` wrapped to a byte over all
/// pixels and divides by the number of black pixels of the binarization; `b` is the mean
/// background over the binarization's white pixels. A pixel is black when
/// `background - src > q delta ((1 - p2) / (1 + exp(-4 background / (b (1 - p1)) + 2 (1 + p1) / (1 - p1))) + p2)`.
///
/// Rodan's job "Gatos Threshold" passes `Greyscale PNG - source image to binarize` as `src`,
/// `Greyscale PNG - estimated background of the image` as `background`, `Onebit PNG -
/// preliminary binarization of the image` as `binarization` and its settings `q`, `p1`, `p2` as
/// [`GatosParams`]; it writes `Onebit PNG image` (`image/onebit+png`).
pub fn gatos_threshold(
    src: &GrayImage,
    background: &GrayImage,
    binarization: &GrayImage,
    params: &GatosParams,
) -> Result<GrayImage, AdaptiveError> {
    check_same_size(src, background, "background")?;
    check_same_size(src, binarization, "binarization")?;
    let GatosParams { q, p1, p2 } = *params;
    let (src_raw, bg_raw, bin_raw) = (src.as_raw(), background.as_raw(), binarization.as_raw());

    let delta_numerator: u64 = src_raw
        .iter()
        .zip(bg_raw)
        .map(|(&s, &g)| u64::from(s.wrapping_sub(g)))
        .sum();
    let delta_denominator = bin_raw.iter().filter(|&&m| is_black(m)).count();
    let delta = delta_numerator as f64 / delta_denominator as f64;
    let (white_count, white_background) = bin_raw
        .iter()
        .zip(bg_raw)
        .filter(|&(&m, _)| !is_black(m))
        .fold((0u64, 0u64), |(n, sum), (_, &g)| {
            (n + 1, sum + u64::from(g))
        });
    let b = white_background as f64 / white_count as f64;

    // The threshold depends on the background value alone: a table of the 256 values Gamera
    // computes, each with its operation order.
    let offset = (2.0 * (1.0 + p1)) / (1.0 - p1);
    let scale = b * (1.0 - p1);
    let table: Vec<f64> = (0..=255i32)
        .map(|g| {
            let logistic = (1.0 - p2) / (1.0 + (f64::from(-4 * g) / scale + offset).exp());
            q * delta * (logistic + p2)
        })
        .collect();
    let mut out = GrayImage::new(src.width(), src.height());
    out.par_iter_mut()
        .zip(src_raw.par_iter().zip(bg_raw.par_iter()))
        .for_each(|(out, (&s, &g))| {
            *out = if f64::from(i32::from(g) - i32::from(s)) > table[usize::from(g)] {
                BLACK
            } else {
                WHITE
            };
        });
    Ok(out)
}

/// The grey level Gamera's `brink_threshold()` splits at (Brink and Pendock's minimum
/// cross-entropy): pixels above it are white.
pub fn brink_find_threshold(src: &GrayImage) -> u8 {
    let mut histogram = [0u64; 256];
    for &v in src.as_raw() {
        histogram[usize::from(v)] += 1;
    }
    let total: u64 = histogram.iter().sum();
    let inverse_total = 1.0 / total as f64;
    let pmf = histogram.map(|n| n as f64 * inverse_total);
    let mut m_f = [0.0f64; 256];
    for i in 1..256 {
        m_f[i] = i as f64 * pmf[i] + m_f[i - 1];
    }
    let m_b = m_f.map(|m| m_f[255] - m);

    // One cell of Gamera's `tmp4` matrix: pmf[i] (m[j] ln(m[j] / i) + i ln(i / m[j])), zero for
    // i = 0 or m[j] = 0; both logs are taken as Gamera takes them.
    let cell = |moments: &[f64; 256], i: usize, j: usize| {
        let (ratio_log, inverse_log) = if moments[j] == 0.0 || i == 0 {
            (0.0, 0.0)
        } else {
            let ratio = moments[j] / i as f64;
            (ratio.ln(), (1.0 / ratio).ln())
        };
        pmf[i] * (moments[j] * ratio_log + i as f64 * inverse_log)
    };

    let mut best: Option<(f64, usize)> = None;
    for j in 0..256 {
        // Gamera's cumulative sums run down each column in row order; keep that order.
        let foreground = (0..=j).fold(0.0, |acc, i| acc + cell(&m_f, i, j));
        let mut background_total = 0.0;
        let mut background_prefix = 0.0;
        for i in 0..256 {
            background_total += cell(&m_b, i, j);
            if i == j {
                background_prefix = background_total;
            }
        }
        let entropy = foreground + (background_total - background_prefix);
        if m_f[j] != 0.0 && m_b[j] != 0.0 && best.is_none_or(|(minimum, _)| entropy < minimum) {
            best = Some((entropy, j));
        }
    }
    // Gamera adds one to the arg-min; m_b[255] is 0, so the arg-min is at most 254.
    best.map_or(1, |(_, j)| (j + 1) as u8)
}

/// Gamera's `brink_threshold()`: white above [`brink_find_threshold`], black at or below it.
///
/// Rodan's job "Brink Threshold" (`image/greyscale+png` in, `image/onebit+png` out) has no
/// settings.
pub fn brink_threshold(src: &GrayImage) -> GrayImage {
    let threshold = brink_find_threshold(src);
    let mut out = src.clone();
    for v in out.iter_mut() {
        *v = if *v > threshold { WHITE } else { BLACK };
    }
    out
}

/// Gamera's `bernsen_threshold(storage_format, region_size, contrast_limit, doubt_to_black)`.
///
/// Gamera's window is not centred: offsets `-h..h` (h = region_size / 2, end excluded) on each
/// axis, an offset that leaves the image taken mirrored (`-d`). A pixel whose window contrast
/// `max - min` is below `contrast_limit` is doubtful; otherwise it is white when at or above
/// `(max + min) / 2`. With region size 1 the window is empty, and Gamera's arithmetic then gives
/// contrast 1 and mid-point 127.
///
/// Rodan's job "Bernsen threshold" has the settings `Storage format` (an enum index; the storage
/// format never changes pixels, so it has no parameter here), `Region size`, `Contrast limit` and
/// `Doubt to black`, which map to [`BernsenParams`]. Beware: upstream's job class defines
/// `run_my_task` twice and the second, which runs `abutaleb_threshold(storage_format)`, wins; its
/// golden output is Abutaleb's, so a faithful port of that job runs Abutaleb, not this.
pub fn bernsen_threshold(
    src: &GrayImage,
    params: &BernsenParams,
) -> Result<GrayImage, AdaptiveError> {
    let BernsenParams {
        region_size,
        contrast_limit,
        doubt_to_black,
    } = *params;
    check_region(src, region_size)?;
    let (width, height) = (src.width() as usize, src.height() as usize);
    let half = (region_size / 2) as usize;
    let raw = src.as_raw();
    let doubtful = if doubt_to_black { BLACK } else { WHITE };

    // Minimum and maximum are separable: the columns a window takes depend on x alone and its
    // rows on y alone, so take each row's (min, max) over the columns, then over the rows.
    let mut row_min = vec![0u8; width * height];
    let mut row_max = vec![0u8; width * height];
    row_min
        .par_chunks_mut(width)
        .zip(row_max.par_chunks_mut(width))
        .zip(raw.par_chunks(width))
        .for_each(|((mins, maxs), row)| {
            for x in 0..width {
                let (mut lo, mut hi) = (u8::MAX, 0u8);
                for c in mirrored(x, half, width) {
                    lo = lo.min(row[c]);
                    hi = hi.max(row[c]);
                }
                mins[x] = lo;
                maxs[x] = hi;
            }
        });
    let mut out = GrayImage::new(src.width(), src.height());
    out.par_chunks_mut(width)
        .enumerate()
        .for_each(|(y, out_row)| {
            let rows: Vec<usize> = mirrored(y, half, height).collect();
            for (x, out) in out_row.iter_mut().enumerate() {
                let (mut lo, mut hi) = (u8::MAX, 0u8);
                for &r in &rows {
                    lo = lo.min(row_min[r * width + x]);
                    hi = hi.max(row_max[r * width + x]);
                }
                // Gamera stores max - min in the pixel type, so an empty window wraps to 1.
                let contrast = hi.wrapping_sub(lo);
                *out = if contrast < contrast_limit {
                    doubtful
                } else if u16::from(raw[y * width + x]) >= (u16::from(hi) + u16::from(lo)) / 2 {
                    WHITE
                } else {
                    BLACK
                };
            }
        });
    Ok(out)
}

/// The indices Gamera's Bernsen window visits along one axis for position `p`: `p + d` for `d`
/// in `-half..half`, or `p - d` when `p + d` leaves `0..len`.
fn mirrored(p: usize, half: usize, len: usize) -> impl Iterator<Item = usize> {
    let half = half as isize;
    let p = p as isize;
    (-half..half).map(move |d| {
        if p + d < 0 || p + d >= len as isize {
            (p - d) as usize
        } else {
            (p + d) as usize
        }
    })
}

/// The frame shared by Sauvola and Niblack: global bounds first, then `v > threshold(mean,
/// variance)` over Gamera's clipped window.
fn mean_deviation_threshold(
    src: &GrayImage,
    region_size: u32,
    lower_bound: i32,
    upper_bound: i32,
    threshold: impl Fn(f64, f64) -> f64 + Sync,
) -> Result<GrayImage, AdaptiveError> {
    check_region(src, region_size)?;
    let width = src.width() as usize;
    let raw = src.as_raw();
    Ok(par_windows(
        src,
        region_size,
        |v, _| (u32::from(v), u32::from(v) * u32::from(v)),
        |y, sums, out_row| {
            let src_row = &raw[y * width..(y + 1) * width];
            for (x, out) in out_row.iter_mut().enumerate() {
                let v = i32::from(src_row[x]);
                *out = if v < lower_bound {
                    BLACK
                } else if v >= upper_bound {
                    WHITE
                } else {
                    let area = f64::from(sums.area(x));
                    let mean = sums.a[x] as f64 / area;
                    let variance = sums.b[x] as f64 / area - mean * mean;
                    // NaN (a rounding-negative variance) compares false: black, as in Gamera.
                    if f64::from(v) > threshold(mean, variance) {
                        WHITE
                    } else {
                        BLACK
                    }
                };
            }
        },
    ))
}

/// Sums of two per-pixel channels over each window of one row: Gamera's square window of side
/// `2 * (region_size / 2) + 1`, clipped to the image.
#[derive(Debug)]
struct WindowSums {
    /// Channel `a` summed over each x's window.
    a: Vec<u64>,
    /// Channel `b` summed over each x's window.
    b: Vec<u64>,
    /// How many columns each x's window spans.
    columns: Vec<u32>,
    /// How many rows this row's windows span.
    rows: u32,
}

impl WindowSums {
    /// The number of pixels in x's window.
    fn area(&self, x: usize) -> u32 {
        self.columns[x] * self.rows
    }
}

/// Returns an image of the source's size whose rows `emit(y, sums, out_row)` fills, bands of
/// rows in parallel, with window sums of the channels `channels(value, index)` gives each pixel.
fn par_windows(
    src: &GrayImage,
    region_size: u32,
    channels: impl Fn(u8, usize) -> (u32, u32) + Sync,
    emit: impl Fn(usize, &WindowSums, &mut [u8]) + Sync,
) -> GrayImage {
    let (width, height) = (src.width() as usize, src.height() as usize);
    let mut out = GrayImage::new(src.width(), src.height());
    if width == 0 || height == 0 {
        return out;
    }
    let half = (region_size / 2) as usize;
    // A few bands a thread balance the load; each band re-sums its first window, so not too many.
    let bands = rayon::current_num_threads() * 4;
    let band_rows = height.div_ceil(bands).max(16);
    out.par_chunks_mut(band_rows * width)
        .enumerate()
        .for_each(|(band, band_out)| {
            let first = band * band_rows;
            let rows = first..first + band_out.len() / width;
            band_windows(src, half, rows, &channels, |y, sums| {
                let start = (y - first) * width;
                emit(y, sums, &mut band_out[start..start + width]);
            });
        });
    out
}

/// Slides the window down `rows`: column sums gain the row entering and lose the row leaving,
/// then a running sum along the row gives each x's window.
fn band_windows(
    src: &GrayImage,
    half: usize,
    rows: Range<usize>,
    channels: &impl Fn(u8, usize) -> (u32, u32),
    mut emit: impl FnMut(usize, &WindowSums),
) {
    let (width, height) = (src.width() as usize, src.height() as usize);
    let raw = src.as_raw();
    let mut col_a = vec![0u64; width];
    let mut col_b = vec![0u64; width];
    let add_row = |r: usize, col_a: &mut [u64], col_b: &mut [u64], sign: bool| {
        let base = r * width;
        for (x, (ca, cb)) in col_a.iter_mut().zip(col_b.iter_mut()).enumerate() {
            let (a, b) = channels(raw[base + x], base + x);
            if sign {
                *ca += u64::from(a);
                *cb += u64::from(b);
            } else {
                *ca -= u64::from(a);
                *cb -= u64::from(b);
            }
        }
    };
    let window = |p: usize, len: usize| p.saturating_sub(half)..(p + half).min(len - 1) + 1;
    let mut sums = WindowSums {
        a: vec![0; width],
        b: vec![0; width],
        columns: (0..width).map(|x| window(x, width).len() as u32).collect(),
        rows: 0,
    };
    for r in window(rows.start, height) {
        add_row(r, &mut col_a, &mut col_b, true);
    }
    for y in rows {
        sums.rows = window(y, height).len() as u32;
        let (mut run_a, mut run_b) = (0u64, 0u64);
        for x in 0..=half.min(width - 1) {
            run_a += col_a[x];
            run_b += col_b[x];
        }
        for x in 0..width {
            sums.a[x] = run_a;
            sums.b[x] = run_b;
            if x + half + 1 < width {
                run_a += col_a[x + half + 1];
                run_b += col_b[x + half + 1];
            }
            if x >= half {
                run_a -= col_a[x - half];
                run_b -= col_b[x - half];
            }
        }
        emit(y, &sums);
        // Move the column sums to y + 1's window.
        if y + half + 1 < height {
            add_row(y + half + 1, &mut col_a, &mut col_b, true);
        }
        if y >= half && y + 1 < height {
            add_row(y - half, &mut col_a, &mut col_b, false);
        }
    }
}

fn is_black(pixel: u8) -> bool {
    pixel < 128
}

fn check_region(src: &GrayImage, region_size: u32) -> Result<(), AdaptiveError> {
    let max = src.width().min(src.height());
    if region_size < 1 || region_size > max {
        return Err(AdaptiveError::RegionSize {
            region_size,
            max,
            width: src.width(),
            height: src.height(),
        });
    }
    Ok(())
}

fn check_same_size(
    src: &GrayImage,
    other: &GrayImage,
    name: &'static str,
) -> Result<(), AdaptiveError> {
    if src.dimensions() != other.dimensions() {
        return Err(AdaptiveError::SizeMismatch {
            name,
            expected: src.dimensions(),
            found: other.dimensions(),
        });
    }
    Ok(())
}
