//! Gamera's `to_rgb`, `to_greyscale`, `to_grey16`, `to_onebit` and `invert`
//! (`image_conversion.hpp`, `image_utilities.hpp`).

use super::threshold::otsu_threshold;
use super::{BLACK, GameraError, Image, Plane, Rgb, WHITE};

/// VIGRA's `RGBValue::luminance()`: `0.3 R + 0.59 G + 0.11 B`, rounded half up and clamped.
#[inline]
pub fn luminance(p: Rgb) -> u8 {
    let v = 0.3 * f64::from(p[0]) + 0.59 * f64::from(p[1]) + 0.11 * f64::from(p[2]);
    round_to_u8(v)
}

/// VIGRA's `NumericTraits<unsigned char>::fromRealPromote`: clamp, then add 0.5 and truncate.
#[inline]
pub fn round_to_u8(v: f64) -> u8 {
    if v < 0.0 {
        0
    } else if v > 255.0 {
        255
    } else {
        (v + 0.5) as u8
    }
}

/// Gamera's `find_max`, which refuses images with a single row or column.
fn find_max(p: &Plane<u16>) -> Result<u16, GameraError> {
    if p.height() <= 1 || p.width() <= 1 {
        return Err(GameraError::TooSmall);
    }
    Ok(p.pixels().iter().copied().max().unwrap_or(0))
}

/// The factor that maps `[0, max]` onto `[0, top]` (0 for an all-zero image).
fn scale(max: u16, top: f64) -> f64 {
    if max > 0 { top / f64::from(max) } else { 0.0 }
}

/// `image.to_rgb()`: ONEBIT white → white, black → black; grey copied to the three channels;
/// GREY16 scaled by `255 / max`; RGB copied.
pub fn to_rgb(image: &Image) -> Result<Plane<Rgb>, GameraError> {
    Ok(match image {
        Image::OneBit(p) => p.map(|v| if v == WHITE { [255; 3] } else { [0; 3] }),
        Image::GreyScale(p) => p.map(|v| [v; 3]),
        Image::Grey16(p) => {
            let s = scale(find_max(p)?, 255.0);
            p.map(|v| {
                let g = (f64::from(v) * s) as u8;
                [g; 3]
            })
        }
        Image::Rgb(p) => p.clone(),
    })
}

/// `image.to_greyscale()`: ONEBIT white → 255, black → 0; GREY16 scaled by `255 / max`; RGB by
/// luminance; GREYSCALE copied.
pub fn to_greyscale(image: &Image) -> Result<Plane<u8>, GameraError> {
    Ok(match image {
        Image::OneBit(p) => p.map(|v| if v == WHITE { 255 } else { 0 }),
        Image::GreyScale(p) => p.clone(),
        Image::Grey16(p) => {
            let s = scale(find_max(p)?, 255.0);
            p.map(|v| (f64::from(v) * s) as u8)
        }
        Image::Rgb(p) => p.map(luminance),
    })
}

/// `image.to_grey16()`: ONEBIT white → 65535, black → 0; GREYSCALE copied unchanged; RGB by
/// luminance (so only 0–255); GREY16 copied.
pub fn to_grey16(image: &Image) -> Plane<u16> {
    match image {
        Image::OneBit(p) => p.map(|v| if v == WHITE { 65535 } else { 0 }),
        Image::GreyScale(p) => p.map(u16::from),
        Image::Grey16(p) => p.clone(),
        Image::Rgb(p) => p.map(|v| u16::from(luminance(v))),
    }
}

/// `image.to_onebit()`: ONEBIT copied; anything else converted to GREYSCALE, then Otsu threshold.
pub fn to_onebit(image: &Image) -> Result<Plane<u8>, GameraError> {
    match image {
        Image::OneBit(p) => Ok(p.map(|v| if v == WHITE { WHITE } else { BLACK })),
        Image::GreyScale(p) => Ok(otsu_threshold(p)),
        other => Ok(otsu_threshold(&to_greyscale(other)?)),
    }
}

/// `image.invert()`: ONEBIT black ↔ white, every other channel `max - value`.
pub fn invert(image: &Image) -> Image {
    match image {
        Image::OneBit(p) => Image::OneBit(p.map(|v| if v == WHITE { BLACK } else { WHITE })),
        Image::GreyScale(p) => Image::GreyScale(p.map(|v| 255 - v)),
        // Gamera computes `UINT_MAX - v` on 32 bits; the low 16 bits it saves are `65535 - v`.
        Image::Grey16(p) => Image::Grey16(p.map(|v| 65535 - v)),
        Image::Rgb(p) => Image::Rgb(p.map(|[r, g, b]| [255 - r, 255 - g, 255 - b])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luminance_rounds_half_up_like_vigra() {
        assert_eq!(luminance([255, 255, 255]), 255);
        assert_eq!(luminance([0, 0, 0]), 0);
        // 0.3 * 1 + 0.59 * 1 + 0.11 * 0 = 0.89 → 1; 0.3 * 1 = 0.3 → 0.
        assert_eq!(luminance([1, 1, 0]), 1);
        assert_eq!(luminance([1, 0, 0]), 0);
    }

    #[test]
    fn grey16_is_scaled_by_its_maximum_and_single_rows_are_refused() {
        let p = Plane::from_vec(2, 2, vec![0u16, 100, 200, 400]).expect("4");
        let grey = to_greyscale(&Image::Grey16(p)).expect("2x2 is large enough");
        // Truncation, as Gamera: 100 × (255 / 400) = 63.75 → 63, and even the maximum gives
        // 400 × (255 / 400) = 254.999… → 254.
        assert_eq!(grey.pixels(), &[0, 63, 127, 254]);
        let row = Plane::from_vec(3, 1, vec![1u16, 2, 3]).expect("3");
        assert_eq!(
            to_rgb(&Image::Grey16(row)).expect_err("one row"),
            GameraError::TooSmall
        );
    }

    #[test]
    fn invert_maps_each_type_onto_itself() {
        let onebit = Image::OneBit(Plane::from_vec(2, 1, vec![WHITE, BLACK]).expect("2"));
        assert_eq!(
            invert(&onebit),
            Image::OneBit(Plane::from_vec(2, 1, vec![BLACK, WHITE]).expect("2"))
        );
        let grey16 = Image::Grey16(Plane::from_vec(1, 1, vec![6400]).expect("1"));
        assert_eq!(
            invert(&grey16),
            Image::Grey16(Plane::from_vec(1, 1, vec![59135]).expect("1"))
        );
    }
}
