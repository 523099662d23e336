//! Upstream's 'Red filtering' (`pil_rodan/red_filtering.py`) in Pillow's integer and float
//! arithmetic: a red-channel threshold for the staffless layer, and a 4× colour enhancement of the
//! image (pure white first turned black) whose saturated red marks the neumeless layer.

use super::PilImage;
use crate::gamera::{Plane, Rgb};

/// Pillow's `RGB` → `L` (ITU-R 601-2 luma in 16-bit fixed point, rounded).
#[inline]
pub fn luma(p: Rgb) -> u8 {
    ((u32::from(p[0]) * 19595 + u32::from(p[1]) * 38470 + u32::from(p[2]) * 7471 + 0x8000) >> 16)
        as u8
}

/// Pillow's `Image.blend(a, b, alpha)` on one sample for `alpha` outside [0, 1]: single-precision
/// extrapolation, clipped.
#[inline]
pub fn extrapolate(a: u8, b: u8, alpha: f32) -> u8 {
    let temp = i32::from(a) as f32 + alpha * (i32::from(b) - i32::from(a)) as f32;
    if temp <= 0.0 {
        0
    } else if temp >= 255.0 {
        255
    } else {
        temp as u8
    }
}

/// The red filter's two layers as Pillow `1` images (0 black, 255 white):
/// `(staffless, neumeless)`.
///
/// Staffless: white where red > 120. Neumeless: pure white pixels are first turned black (upstream
/// loops over `np.where` results in (row, column) order but calls `putpixel((x, y))` with them,
/// blackening transposed positions, or failing on portrait pages; this does what the code
/// means), then `ImageEnhance.Color(image).enhance(4)`; white where the enhanced red stays under
/// 255.
pub fn red_filter(image: &Plane<Rgb>) -> (PilImage, PilImage) {
    let staffless = image.map(|[r, _, _]| if r > 120 { 255 } else { 0 });
    let neumeless = image.map(|p| {
        let p = if p == [255, 255, 255] { [0, 0, 0] } else { p };
        let enhanced = extrapolate(luma(p), p[0], 4.0);
        if enhanced < 255 { 255 } else { 0 }
    });
    (PilImage::One(staffless), PilImage::One(neumeless))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_matches_pillows_fixed_point_weights() {
        assert_eq!(luma([255, 255, 255]), 255);
        assert_eq!(luma([255, 0, 0]), 76);
        assert_eq!(luma([0, 255, 0]), 150);
        assert_eq!(luma([0, 0, 255]), 29);
    }

    #[test]
    fn red_ink_is_kept_out_of_the_neumeless_layer_and_white_paper_is_blackened_first() {
        let p =
            Plane::from_vec(3, 1, vec![[200, 30, 30], [40, 40, 40], [255, 255, 255]]).expect("3");
        let (staffless, neumeless) = red_filter(&p);
        assert_eq!(
            staffless,
            PilImage::One(Plane::from_vec(3, 1, vec![255, 0, 255]).expect("3"))
        );
        // Saturated red: black; grey and (blackened) white: white.
        assert_eq!(
            neumeless,
            PilImage::One(Plane::from_vec(3, 1, vec![0, 255, 255]).expect("3"))
        );
    }
}
