//! Pillow's `Image.resize(size)` with its default filter: bicubic (`Resample.c`: separable
//! convolution, coefficients in 22-bit fixed point, horizontal pass first), nearest neighbour for
//! `1` and `P` images (`ImagingScaleAffine`), and RGBA / LA resized premultiplied.

use super::{PilImage, div255};
use crate::gamera::Plane;

const PRECISION_BITS: u32 = 32 - 8 - 2;

fn bicubic(x: f64) -> f64 {
    let a = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * a
    } else {
        0.0
    }
}

/// Per output index: the first input index and the normalised weights (Pillow's
/// `precompute_coeffs`).
fn float_coefficients(in_size: usize, out_size: usize) -> Vec<(usize, Vec<f64>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 2.0 * filterscale;
    let ss = 1.0 / filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let weights: Vec<f64> = (xmin..xmax)
                .map(|x| bicubic((x as f64 - center + 0.5) * ss))
                .collect();
            let ww: f64 = weights.iter().sum();
            let normalised = weights
                .iter()
                .map(|&w| if ww != 0.0 { w / ww } else { w })
                .collect();
            (xmin, normalised)
        })
        .collect()
}

/// The weights of [`float_coefficients`] in 22-bit fixed point (`normalize_coeffs_8bpc`).
fn coefficients(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i32>)> {
    float_coefficients(in_size, out_size)
        .into_iter()
        .map(|(min, k)| {
            let fixed = k
                .iter()
                .map(|&k| {
                    let scaled = k * f64::from(1u32 << PRECISION_BITS);
                    if k < 0.0 {
                        (-0.5 + scaled) as i32
                    } else {
                        (0.5 + scaled) as i32
                    }
                })
                .collect();
            (min, fixed)
        })
        .collect()
}

#[inline]
fn clip8(ss: i32) -> u8 {
    (ss >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Bicubic resize of `N`-channel 8-bit pixels to `width` × `height`.
pub fn resize_bicubic<const N: usize>(
    image: &Plane<[u8; N]>,
    width: usize,
    height: usize,
) -> Plane<[u8; N]> {
    let (in_w, in_h) = (image.width(), image.height());
    if (in_w, in_h) == (width, height) {
        return image.clone();
    }
    let horizontal = coefficients(in_w, width);
    let vertical = coefficients(in_h, height);
    let first_row = vertical.first().map_or(0, |(min, _)| *min);
    let last_row = vertical.last().map_or(0, |(min, k)| min + k.len());
    let mut current = image.clone();
    let mut row_offset = 0;
    if in_w != width {
        // Only the rows the vertical pass reads are resized horizontally.
        let rows = last_row - first_row;
        let mut tmp = Plane::new(width, rows, [0u8; N]);
        for y in 0..rows {
            for (xx, (xmin, k)) in horizontal.iter().enumerate() {
                let mut ss = [1i32 << (PRECISION_BITS - 1); N];
                for (i, &w) in k.iter().enumerate() {
                    let p = image.get(xmin + i, y + first_row);
                    for c in 0..N {
                        ss[c] += i32::from(p[c]) * w;
                    }
                }
                tmp.set(xx, y, ss.map(clip8));
            }
        }
        current = tmp;
        row_offset = first_row;
    }
    if in_h == height {
        return current;
    }
    let mut out = Plane::new(current.width(), height, [0u8; N]);
    for (yy, (ymin, k)) in vertical.iter().enumerate() {
        for x in 0..current.width() {
            let mut ss = [1i32 << (PRECISION_BITS - 1); N];
            for (i, &w) in k.iter().enumerate() {
                let p = current.get(x, ymin - row_offset + i);
                for c in 0..N {
                    ss[c] += i32::from(p[c]) * w;
                }
            }
            out.set(x, yy, ss.map(clip8));
        }
    }
    out
}

/// Bicubic resize of 16-bit grey as Pillow's 32-bit path: double weights, each pass rounded half
/// away from zero.
pub fn resize_bicubic_16(image: &Plane<u16>, width: usize, height: usize) -> Plane<u16> {
    let (in_w, in_h) = (image.width(), image.height());
    if (in_w, in_h) == (width, height) {
        return image.clone();
    }
    let round = |v: f64| {
        if v >= 0.0 {
            (v + 0.5).floor()
        } else {
            -(v.abs() + 0.5).floor()
        }
    };
    let horizontal = float_coefficients(in_w, width);
    let vertical = float_coefficients(in_h, height);
    let mut tmp = Plane::new(width, in_h, 0f64);
    for y in 0..in_h {
        for (xx, (xmin, k)) in horizontal.iter().enumerate() {
            let mut ss = 0.0;
            for (i, w) in k.iter().enumerate() {
                ss += f64::from(image.get(xmin + i, y)) * w;
            }
            tmp.set(xx, y, round(ss));
        }
    }
    let mut out = Plane::new(width, height, 0u16);
    for (yy, (ymin, k)) in vertical.iter().enumerate() {
        for x in 0..width {
            let mut ss = 0.0;
            for (i, w) in k.iter().enumerate() {
                ss += tmp.get(x, ymin + i) * w;
            }
            out.set(x, yy, round(ss).clamp(0.0, 65535.0) as u16);
        }
    }
    out
}

/// Pillow's nearest-neighbour scaling (`ImagingScaleAffine`), with its accumulated offsets.
pub fn resize_nearest<P: Copy>(image: &Plane<P>, width: usize, height: usize) -> Plane<P> {
    let a0 = image.width() as f64 / width as f64;
    let a4 = image.height() as f64 / height as f64;
    let coord = |v: f64| if v < 0.0 { None } else { Some(v as usize) };
    let mut xs = Vec::with_capacity(width);
    let mut xo = a0 * 0.5;
    for _ in 0..width {
        xs.push(coord(xo).map(|x| x.min(image.width() - 1)));
        xo += a0;
    }
    let mut yo = a4 * 0.5;
    let mut data = Vec::with_capacity(width * height);
    for _ in 0..height {
        let y = coord(yo).map_or(0, |y| y.min(image.height() - 1));
        yo += a4;
        data.extend(xs.iter().map(|x| image.get(x.unwrap_or(0), y)));
    }
    Plane::from_vec(width, height, data).unwrap_or_else(|| image.clone())
}

/// Pillow's `RGBA` → `RGBa`.
fn premultiply<const N: usize>(p: [u8; N]) -> [u8; N] {
    let alpha = u32::from(p[N - 1]);
    let mut out = p;
    for c in out.iter_mut().take(N - 1) {
        *c = div255(u32::from(*c) * alpha) as u8;
    }
    out
}

/// Pillow's `RGBa` → `RGBA`.
fn unpremultiply<const N: usize>(p: [u8; N]) -> [u8; N] {
    let alpha = u32::from(p[N - 1]);
    if alpha == 0 || alpha == 255 {
        return p;
    }
    let mut out = p;
    for c in out.iter_mut().take(N - 1) {
        *c = ((255 * u32::from(*c)) / alpha).min(255) as u8;
    }
    out
}

/// Pillow's `image.resize((width, height))` with the default filter, in the image's own mode.
pub fn resize(image: &PilImage, width: usize, height: usize) -> PilImage {
    match image {
        PilImage::One(p) => PilImage::One(resize_nearest(p, width, height)),
        PilImage::P {
            indices,
            palette,
            transparency,
        } => PilImage::P {
            indices: resize_nearest(indices, width, height),
            palette: palette.clone(),
            transparency: transparency.clone(),
        },
        PilImage::L(p) => {
            let wrapped = p.map(|v| [v]);
            PilImage::L(resize_bicubic(&wrapped, width, height).map(|[v]| v))
        }
        PilImage::Rgb(p) => PilImage::Rgb(resize_bicubic(p, width, height)),
        PilImage::I16(p) => PilImage::I16(resize_bicubic_16(p, width, height)),
        PilImage::La(p) => {
            PilImage::La(resize_bicubic(&p.map(premultiply), width, height).map(unpremultiply))
        }
        PilImage::Rgba(p) => {
            PilImage::Rgba(resize_bicubic(&p.map(premultiply), width, height).map(unpremultiply))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coefficients_of_each_output_sum_to_one_in_fixed_point() {
        for (in_size, out_size) in [(100, 30), (30, 100), (7, 7), (5, 1)] {
            for (min, k) in coefficients(in_size, out_size) {
                let sum: i64 = k.iter().map(|&w| i64::from(w)).sum();
                assert!(
                    (sum - (1 << PRECISION_BITS)).abs() <= k.len() as i64,
                    "{sum}"
                );
                assert!(min + k.len() <= in_size);
            }
        }
    }

    #[test]
    fn a_flat_image_stays_flat_and_gets_the_new_size() {
        let p = Plane::new(40, 30, [200u8, 100, 7]);
        let out = resize_bicubic(&p, 12, 9);
        assert_eq!((out.width(), out.height()), (12, 9));
        assert!(out.pixels().iter().all(|&v| v == [200, 100, 7]));
    }

    #[test]
    fn nearest_picks_the_centre_pixel_of_each_cell() {
        let p = Plane::from_vec(4, 1, vec![1u8, 2, 3, 4]).expect("4");
        assert_eq!(resize_nearest(&p, 2, 1).pixels(), &[2, 4]);
        assert_eq!(resize_nearest(&p, 8, 1).pixels(), &[1, 1, 2, 2, 3, 3, 4, 4]);
    }

    #[test]
    fn premultiplied_round_trips_keep_opaque_and_transparent_pixels() {
        assert_eq!(
            unpremultiply(premultiply([10u8, 20, 30, 255])),
            [10, 20, 30, 255]
        );
        assert_eq!(premultiply([10u8, 20, 30, 0]), [0, 0, 0, 0]);
        // Half transparent: 200 × 128 / 255 rounds to 100, and back 255 × 100 / 128 floors to 199.
        assert_eq!(premultiply([200u8, 128]), [100, 128]);
        assert_eq!(unpremultiply([100u8, 128]), [199, 128]);
    }
}
