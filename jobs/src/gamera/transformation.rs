//! Gamera's `rotate` on ONEBIT images (`transformation.hpp` over VIGRA's `rotateImage` and its
//! bilinear `SplineImageView<1, _>`), with the same sizes and pixels.

use super::{BLACK, Plane, WHITE};

/// Gamera's `image.rotate(angle, None, order)` of a ONEBIT image: rotated `angle` degrees
/// clockwise as displayed (rows downwards) about the centre, onto a white canvas padded to hold
/// the turned image.
///
/// Angles between 45° and 135° (or 225° and 315°) first turn the image a quarter, as Gamera does
/// because VIGRA rotates within a fixed canvas. Interpolation is bilinear (order 1); Gamera's
/// orders 2 and 3 (cubic splines over a prefiltered image) are not re-implemented, and such an
/// order is rotated as order 1. Images of one pixel come back unchanged.
pub fn rotate(image: &Plane<u8>, angle: f64, order: u8) -> Plane<u8> {
    let _ = order;
    if (image.height() < 2 && image.width() < 2) || image.width() == 0 || image.height() == 0 {
        return image.clone();
    }
    let mut angle = angle;
    if !angle.is_finite() {
        // Gamera loops forever on an infinite angle and gives a NaN-sized image on NaN; a
        // non-finite angle leaves the image as it is here.
        return image.clone();
    }
    while angle < 0.0 {
        angle += 360.0;
    }
    while angle >= 360.0 {
        angle -= 360.0;
    }

    let turned;
    let source = if (45.0 < angle && angle < 135.0) || (225.0 < angle && angle < 315.0) {
        turned = quarter_turn(image);
        angle -= 90.0;
        if angle < 0.0 {
            angle += 360.0;
        }
        &turned
    } else {
        image
    };

    let rad = (angle / 180.0) * std::f64::consts::PI;
    // Gamera measures with its Rect's width() and height(), one less than the columns and rows.
    let (w, h) = (source.width() - 1, source.height() - 1);
    let (wf, hf) = (w as f64, h as f64);
    let (sin, cos) = (rad.sin(), rad.cos());
    let extent = |v: f64| (0.5 + v.abs()) as usize;
    let (new_width, new_height) =
        if (0.0..=90.0).contains(&angle) || (180.0..=270.0).contains(&angle) {
            (extent(cos * wf + sin * hf), extent(sin * wf + cos * hf))
        } else {
            (extent(cos * wf - sin * hf), extent(sin * wf - cos * hf))
        };
    let pad_x = if new_width > w {
        (new_width - w) / 2 + 2
    } else {
        0
    };
    let pad_y = if new_height > h {
        (new_height - h) / 2 + 2
    } else {
        0
    };

    // VIGRA reads ONEBIT through Gamera's accessor, which inverts: white is 1, black 0.
    let (pw, ph) = (source.width() + 2 * pad_x, source.height() + 2 * pad_y);
    let mut light = Plane::new(pw, ph, 1.0f64);
    for (y, row) in source.rows().enumerate() {
        for (x, &v) in row.iter().enumerate() {
            if v != WHITE {
                light.set(x + pad_x, y + pad_y, 0.0);
            }
        }
    }
    let mut out = Plane::new(pw, ph, WHITE);
    rotate_bilinear(&light, &mut out, -angle);
    out
}

/// The quarter turn Gamera makes before VIGRA's rotation: source pixel (x, y) lands at column
/// `rows - 1 - y`, row `x`.
fn quarter_turn(image: &Plane<u8>) -> Plane<u8> {
    let ymax = image.height() - 1;
    let mut out = Plane::new(image.height(), image.width(), WHITE);
    for (y, row) in image.rows().enumerate() {
        for (x, &v) in row.iter().enumerate() {
            out.set(ymax - y, x, v);
        }
    }
    out
}

/// VIGRA's `rotateImage(SplineImageView<1, _>, dest, degrees)` about the canvas centre, on the
/// inverted values of `light`; `out` pixels whose source point lies outside stay white.
fn rotate_bilinear(light: &Plane<f64>, out: &mut Plane<u8>, degrees: f64) {
    let (w, h) = (light.width(), light.height());
    let theta = degrees * std::f64::consts::PI / 180.0;
    let (mut c, mut s) = (theta.cos(), theta.sin());
    // VIGRA snaps multiples of 45° to exact sines and cosines.
    let rem = degrees % 45.0;
    if rem.abs() <= 2.0 * f64::EPSILON {
        let octant = if degrees < 0.0 {
            (degrees / 45.0 - 0.5) as i64 % 8
        } else {
            (degrees / 45.0 + 0.5) as i64 % 8
        };
        let octant = if octant < 0 { octant + 8 } else { octant } as usize;
        let r = 0.5 * std::f64::consts::SQRT_2;
        const SIGNS: [(f64, f64); 8] = [
            (0.0, 1.0),
            (1.0, 1.0),
            (1.0, 0.0),
            (1.0, -1.0),
            (0.0, -1.0),
            (-1.0, -1.0),
            (-1.0, 0.0),
            (-1.0, 1.0),
        ];
        let (ss, cc) = SIGNS[octant];
        // The diagonal entries are ±√2/2, the others exact 0 or ±1.
        s = if octant % 2 == 1 { ss * r } else { ss };
        c = if octant % 2 == 1 { cc * r } else { cc };
    }
    let center_x = (w as f64 - 1.0) / 2.0;
    let center_y = (h as f64 - 1.0) / 2.0;
    let (max_x, max_y) = (w as f64 - 1.0, h as f64 - 1.0);
    for y in 0..h {
        let dy = y as f64 - center_y;
        let mut sy = dy * c - center_x * s + center_y;
        let mut sx = -dy * s - center_x * c + center_x;
        for x in 0..w {
            if sx >= 0.0 && sx <= max_x && sy >= 0.0 && sy <= max_y {
                let v = bilinear(light, sx, sy);
                // Rounded to a 16-bit pixel (v + 0.5 truncated, negatives 0): 0 is black.
                if v < 0.0 || v + 0.5 < 1.0 {
                    out.set(x, y, BLACK);
                }
            }
            sx += c;
            sy += s;
        }
    }
}

/// `SplineImageView1::unchecked(x, y)` for a point inside the image.
///
/// On a canvas one pixel high (or wide) VIGRA reads a row (column) outside the image, and Gamera
/// crashes or returns garbage; here that row (column) is the image's only one.
fn bilinear(p: &Plane<f64>, x: f64, y: f64) -> f64 {
    let (w, h) = (p.width(), p.height());
    let (ix, ix1, tx) = cell(x, w);
    let (iy, iy1, ty) = cell(y, h);
    (1.0 - ty) * ((1.0 - tx) * p.get(ix, iy) + tx * p.get(ix1, iy))
        + ty * ((1.0 - tx) * p.get(ix, iy1) + tx * p.get(ix1, iy1))
}

/// The two sample indices around `t` (0 ≤ t ≤ n - 1) and its offset from the first; the last
/// sample interpolates from the one before it, as VIGRA does.
fn cell(t: f64, n: usize) -> (usize, usize, f64) {
    if n < 2 {
        return (0, 0, t);
    }
    let mut i = t.floor() as usize;
    if i >= n - 1 {
        i = n - 2;
    }
    (i, i + 1, t - i as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(rows: &[&str]) -> Plane<u8> {
        let w = rows[0].len();
        let data = rows
            .iter()
            .flat_map(|r| r.bytes().map(|b| u8::from(b == b'#')))
            .collect();
        Plane::from_vec(w, rows.len(), data).expect("rectangular")
    }

    fn black(p: &Plane<u8>) -> usize {
        p.pixels().iter().filter(|&&v| v != WHITE).count()
    }

    #[test]
    fn a_zero_rotation_pads_nothing_and_keeps_the_pixels() {
        let p = plane(&["#..", ".#.", "..#", "##."]);
        assert_eq!(rotate(&p, 0.0, 1), p);
        assert_eq!(rotate(&p, 360.0, 1), p);
    }

    #[test]
    fn a_quarter_turn_transposes_and_a_half_turn_flips() {
        let p = plane(&["##.", "...", "..."]);
        // 90° clockwise on screen: the top row becomes the right column.
        let q = rotate(&p, 90.0, 1);
        assert_eq!(q, plane(&["..#", "..#", "..."]));
        assert_eq!(rotate(&p, -90.0, 1), plane(&["...", "#..", "#.."]));
        let h = rotate(&p, 180.0, 1);
        assert_eq!(h, plane(&["...", "...", ".##"]));
    }

    #[test]
    fn small_angles_pad_the_canvas_and_keep_the_mass() {
        let mut p = Plane::new(40, 20, WHITE);
        for y in 5..15 {
            for x in 5..35 {
                p.set(x, y, BLACK);
            }
        }
        let r = rotate(&p, 10.0, 1);
        // new size 40cos+20sin ≈ 42.9 -> 42, 40sin+20cos ≈ 26.6 -> 27; padded by half the growth + 2.
        assert_eq!((r.width(), r.height()), (40 + 2 * 3, 20 + 2 * 5));
        let (a, b) = (black(&p) as f64, black(&r) as f64);
        assert!((a - b).abs() / a < 0.05, "{a} vs {b}");
    }

    #[test]
    fn single_pixels_and_infinite_angles_come_back_unchanged() {
        let p = plane(&["#"]);
        assert_eq!(rotate(&p, 33.0, 1), p);
        let q = plane(&["#.", ".#"]);
        assert_eq!(rotate(&q, f64::INFINITY, 1), q);
    }

    #[test]
    fn one_pixel_high_images_rotate_without_reading_outside() {
        let p = plane(&["#.##."]);
        assert_eq!(rotate(&p, 0.0, 1), p);
        assert_eq!(rotate(&p, 180.0, 1), plane(&[".##.#"]));
        let q = rotate(&p, 90.0, 1);
        assert_eq!((q.width(), q.height()), (1, 5));
        let r = rotate(&p, 20.0, 1);
        assert!(r.height() > 1 && black(&r) > 0);
    }
}
