//! Gamera's `rotate` on ONEBIT images (`transformation.hpp` over VIGRA's `rotateImage` and its
//! `SplineImageView`s: bilinear, and quadratic and cubic B-splines over a prefiltered image), with
//! the same sizes and pixels.

use super::{BLACK, Plane, WHITE};

/// Gamera's `image.rotate(angle, None, order)` of a ONEBIT image: rotated `angle` degrees
/// clockwise as displayed (rows downwards) about the centre, onto a white canvas padded to hold
/// the turned image.
///
/// Angles between 45° and 135° (or 225° and 315°) first turn the image a quarter, as Gamera does
/// because VIGRA rotates within a fixed canvas. `order` is the spline's: 1 bilinear, 2
/// quadratic, 3 cubic (Gamera refuses others; here 0 is taken as 1 and above 3 as 3). Images of
/// one pixel come back unchanged.
///
/// On canvases a few pixels wide or high that the angle does not pad, VIGRA reads outside the
/// image (Gamera crashes, or returns what memory held); here those samples reflect back inside.
pub fn rotate(image: &Plane<u8>, angle: f64, order: u8) -> Plane<u8> {
    let mut out = Plane::new(0, 0, WHITE);
    if rotate_onto(image, angle, order, &mut out) {
        out
    } else {
        image.clone()
    }
}

/// The black pixels of each row and of each column of `rotate(image, angle, order)`, counted as
/// the rotation marks them (the turned image itself is not made); `None` where `rotate` gives
/// the image back unchanged.
pub fn rotated_projections(
    image: &Plane<u8>,
    angle: f64,
    order: u8,
) -> Option<(Vec<usize>, Vec<usize>)> {
    let mut counts = Projections::default();
    rotate_onto(image, angle, order, &mut counts).then_some((counts.rows, counts.columns))
}

/// Where a rotation puts its black pixels: a white canvas of the turned size is started, then
/// each black pixel is marked once.
trait Canvas {
    fn start(&mut self, width: usize, height: usize);
    fn mark(&mut self, x: usize, y: usize);
}

impl Canvas for Plane<u8> {
    fn start(&mut self, width: usize, height: usize) {
        *self = Plane::new(width, height, WHITE);
    }

    fn mark(&mut self, x: usize, y: usize) {
        self.set(x, y, BLACK);
    }
}

#[derive(Default)]
struct Projections {
    rows: Vec<usize>,
    columns: Vec<usize>,
}

impl Canvas for Projections {
    fn start(&mut self, width: usize, height: usize) {
        self.rows = vec![0; height];
        self.columns = vec![0; width];
    }

    fn mark(&mut self, x: usize, y: usize) {
        self.rows[y] += 1;
        self.columns[x] += 1;
    }
}

/// `rotate` onto `canvas`; false (nothing started) where the image comes back unchanged.
fn rotate_onto(image: &Plane<u8>, angle: f64, order: u8, canvas: &mut impl Canvas) -> bool {
    let order = order.clamp(1, 3);
    if (image.height() < 2 && image.width() < 2) || image.width() == 0 || image.height() == 0 {
        return false;
    }
    let mut angle = angle;
    if !angle.is_finite() {
        // Gamera loops forever on an infinite angle and gives a NaN-sized image on NaN; a
        // non-finite angle leaves the image as it is here.
        return false;
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
    let mut ink = Plane::new(pw, ph, false);
    for (y, row) in source.rows().enumerate() {
        for (x, &v) in row.iter().enumerate() {
            if v != WHITE {
                ink.set(x + pad_x, y + pad_y, true);
            }
        }
    }
    canvas.start(pw, ph);
    if order == 1 {
        // A bilinear sample reads the cell's two columns and rows: one whose point lies more
        // than a pixel outside the source's place on the canvas reads only padding (white).
        let ink_box = [
            pad_x as f64 - 1.0,
            pad_y as f64 - 1.0,
            (pad_x + source.width()) as f64,
            (pad_y + source.height()) as f64,
        ];
        rotate_with(canvas, (pw, ph), -angle, Some(ink_box), |x, y| {
            bilinear(&ink, x, y)
        });
    } else {
        let light = ink.map(|black| if black { 0.0 } else { 1.0 });
        let spline = Spline::new(usize::from(order), light);
        rotate_with(canvas, (pw, ph), -angle, None, |x, y| spline.value(x, y));
    }
    true
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

/// VIGRA's `rotateImage(spline view, dest, degrees)` about the centre of a `w` × `h` canvas:
/// `sample` gives the view's value (white 1, black 0) at a point inside the canvas; `out` gets
/// the black pixels (those whose source point lies outside stay white).
///
/// `ink_box` (left, top, right, bottom), when given, is where `sample` may be below 1: outside
/// it every sample is white, so each row only visits the columns whose source point may lie in
/// it (bounds computed with a pixel to spare), still accumulating the coordinates one column at
/// a time as VIGRA does.
fn rotate_with(
    out: &mut impl Canvas,
    (w, h): (usize, usize),
    degrees: f64,
    ink_box: Option<[f64; 4]>,
    sample: impl Fn(f64, f64) -> f64,
) {
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
        let (first, last) = match ink_box {
            None => (0, w),
            Some([left, top, right, bottom]) => {
                let (a, b) = columns_between(sx, c, left - 1.0, right + 1.0);
                let (d, e) = columns_between(sy, s, top - 1.0, bottom + 1.0);
                let (a, b) = (a.max(d), b.min(e));
                if a > b || b < 0.0 || a > (w - 1) as f64 {
                    continue;
                }
                (a.max(0.0) as usize, (b.min((w - 1) as f64) as usize) + 1)
            }
        };
        for _ in 0..first {
            sx += c;
            sy += s;
        }
        for x in first..last {
            if sx >= 0.0 && sx <= max_x && sy >= 0.0 && sy <= max_y {
                // Rounded to a 16-bit pixel (v + 0.5 truncated, negatives 0): 0 is black.
                let v = sample(sx, sy);
                if v < 0.0 || v + 0.5 < 1.0 {
                    out.mark(x, y);
                }
            }
            sx += c;
            sy += s;
        }
    }
}

/// The columns `x` (as whole numbers, widened by one on each side) where `start + x * step` lies
/// between `low` and `high`: everything when `step` is 0 and `start` lies between them, else
/// an empty range.
fn columns_between(start: f64, step: f64, low: f64, high: f64) -> (f64, f64) {
    if step == 0.0 {
        return if (low..=high).contains(&start) {
            (f64::MIN, f64::MAX)
        } else {
            (1.0, 0.0)
        };
    }
    let (a, b) = ((low - start) / step, (high - start) / step);
    (a.min(b).floor() - 1.0, a.max(b).ceil() + 1.0)
}

/// `SplineImageView1::unchecked(x, y)` for a point inside the image, over the ONEBIT canvas
/// `ink` as VIGRA sees it (white 1.0, black 0.0).
///
/// On a canvas one pixel high (or wide) VIGRA reads a row (column) outside the image, and Gamera
/// crashes or returns garbage; here that row (column) is the image's only one. Where the four
/// samples are white the value is 1 (the weights sum to 1 within a rounding, far from the 0.5
/// that decides the pixel), so only cells touching ink are interpolated.
fn bilinear(ink: &Plane<bool>, x: f64, y: f64) -> f64 {
    let (w, h) = (ink.width(), ink.height());
    let (ix, ix1, tx) = cell(x, w);
    let (iy, iy1, ty) = cell(y, h);
    let pixels = ink.pixels();
    let (top, bottom) = (iy * w, iy1 * w);
    let corners = [
        pixels[top + ix],
        pixels[top + ix1],
        pixels[bottom + ix],
        pixels[bottom + ix1],
    ];
    if corners == [false; 4] {
        return 1.0;
    }
    let [a, b, c, d] = corners.map(|black| if black { 0.0 } else { 1.0 });
    (1.0 - ty) * ((1.0 - tx) * a + tx * b) + ty * ((1.0 - tx) * c + tx * d)
}

/// The two sample indices around `t` (0 ≤ t ≤ n - 1) and its offset from the first; the last
/// sample interpolates from the one before it, as VIGRA does.
fn cell(t: f64, n: usize) -> (usize, usize, f64) {
    if n < 2 {
        return (0, 0, t);
    }
    // t ≥ 0: truncation is the floor.
    let mut i = t as usize;
    if i >= n - 1 {
        i = n - 2;
    }
    (i, i + 1, t - i as f64)
}

/// VIGRA's `SplineImageView<ORDER, _>` for orders 2 and 3: B-spline coefficients from the
/// image by the recursive prefilter (rows, then columns, reflecting at the borders), sampled
/// with the B-spline's weights.
struct Spline {
    order: usize,
    coefficients: Plane<f64>,
}

impl Spline {
    fn new(order: usize, mut image: Plane<f64>) -> Self {
        let pole = if order == 2 {
            2.0 * std::f64::consts::SQRT_2 - 3.0
        } else {
            3.0f64.sqrt() - 2.0
        };
        let (w, h) = (image.width(), image.height());
        for row in image.pixels_mut().chunks_exact_mut(w.max(1)) {
            recursive_filter_line(row, pole);
        }
        let mut column = vec![0.0; h];
        for x in 0..w {
            for (y, v) in column.iter_mut().enumerate() {
                *v = image.get(x, y);
            }
            recursive_filter_line(&mut column, pole);
            for (y, &v) in column.iter().enumerate() {
                image.set(x, y, v);
            }
        }
        Self {
            order,
            coefficients: image,
        }
    }

    /// The B-spline of the order at `x`.
    fn kernel(&self, x: f64) -> f64 {
        let x = x.abs();
        if self.order == 2 {
            if x < 0.5 {
                0.75 - x * x
            } else if x < 1.5 {
                0.5 * ((1.5 - x) * (1.5 - x))
            } else {
                0.0
            }
        } else if x < 1.0 {
            2.0 / 3.0 + x * x * (-1.0 + 0.5 * x)
        } else if x < 2.0 {
            let t = 2.0 - x;
            t * t * t / 6.0
        } else {
            0.0
        }
    }

    /// The sample indices along one axis of `n` samples around `t`, and `t`'s offset from the
    /// central one (`calculateIndices`).
    fn indices(&self, t: f64, n: usize) -> ([usize; 4], f64) {
        let k = self.order + 1;
        let center = 1i64; // ORDER / 2 for orders 2 and 3
        let odd = self.order % 2 == 1;
        let n1 = n as i64 - 1;
        // VIGRA computes the upper bound in unsigned arithmetic; below 3 samples it wraps.
        let hi = if n >= 3 {
            (n - 3) as f64
        } else {
            f64::from(u32::MAX - (2 - n as u32))
        };
        let mut idx = [0i64; 4];
        let offset;
        if t > center as f64 && t < hi {
            let first = if odd {
                (t - center as f64) as i64
            } else {
                (t + 0.5 - center as f64) as i64
            };
            for (i, v) in idx.iter_mut().enumerate().take(k) {
                *v = first + i as i64;
            }
            offset = t - idx[1] as f64;
        } else {
            let c = if odd { t.floor() } else { (t + 0.5).floor() } as i64;
            for (i, v) in idx.iter_mut().enumerate().take(k) {
                let i = i as i64;
                *v = if t >= hi {
                    n1 - (n1 - c - (i - center)).abs()
                } else {
                    (c - (center - i)).abs()
                };
            }
            offset = t - c as f64;
        }
        let mut out = [0usize; 4];
        for (o, &v) in out.iter_mut().zip(&idx) {
            *o = reflect(v, n);
        }
        (out, offset)
    }

    /// The spline's value at (x, y), summed in VIGRA's order.
    fn value(&self, x: f64, y: f64) -> f64 {
        let k = self.order + 1;
        let (w, h) = (self.coefficients.width(), self.coefficients.height());
        let (ix, u) = self.indices(x, w);
        let (iy, v) = self.indices(y, h);
        let mut kx = [0.0; 4];
        let mut ky = [0.0; 4];
        for i in 0..k {
            kx[i] = self.kernel(u + 1.0 - i as f64);
            ky[i] = self.kernel(v + 1.0 - i as f64);
        }
        let row = |r: usize| {
            (1..k).fold(kx[0] * self.coefficients.get(ix[0], r), |acc, i| {
                acc + kx[i] * self.coefficients.get(ix[i], r)
            })
        };
        let mut sum = ky[0] * row(iy[0]);
        for (&kj, &r) in ky.iter().zip(&iy).take(k).skip(1) {
            sum += kj * row(r);
        }
        sum
    }
}

/// An index VIGRA may compute outside `0..n` on a tiny canvas, reflected back inside.
fn reflect(i: i64, n: usize) -> usize {
    let n = n as i64;
    if n < 2 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - m }) as usize
}

/// VIGRA's first-order `recursiveFilterLine(…, b, BORDER_TREATMENT_REFLECT)` in place: a causal
/// pass started from the reflected line, then an anti-causal pass, scaled by (1 - b) / (1 + b).
fn recursive_filter_line(line: &mut [f64], b: f64) {
    let w = line.len();
    if w == 0 {
        return;
    }
    let kernel = ((0.00001f64).ln() / b.abs().ln()) as i64;
    let kernel = kernel.min(w as i64 - 1).max(0) as usize;
    let norm = (1.0 - b) / (1.0 + b);
    let mut old = (1.0 / (1.0 - b)) * line[kernel];
    for x in 0..kernel {
        old = line[kernel - x] + b * old;
    }
    let mut causal = vec![0.0; w];
    for (x, c) in causal.iter_mut().enumerate() {
        old = line[x] + b * old;
        *c = old;
    }
    // VIGRA starts the second pass from the causal value before the last (outside the line
    // when it has one sample).
    old = causal[w.saturating_sub(2)];
    for x in (0..w).rev() {
        let f = b * old;
        old = line[x] + f;
        line[x] = norm * (causal[x] + f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::gamera::plane_from_rows as plane;

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
    fn spline_orders_keep_a_solid_block_and_tiny_canvases_stay_inside() {
        let mut p = Plane::new(30, 20, WHITE);
        for y in 5..15 {
            for x in 5..25 {
                p.set(x, y, BLACK);
            }
        }
        for order in [2, 3] {
            assert_eq!(rotate(&p, 0.0, order), p, "order {order}");
            let r = rotate(&p, 20.0, order);
            let (a, b) = (black(&p) as f64, black(&r) as f64);
            assert!((a - b).abs() / a < 0.05, "order {order}: {a} vs {b}");
        }
        // VIGRA would read outside these; here every sample reflects inside.
        for order in [2, 3] {
            let q = plane(&["#.", ".#"]);
            assert_eq!(rotate(&q, 0.0, order).width(), 2);
            let _ = rotate(&plane(&["###"]), 10.0, order);
        }
        assert_eq!(reflect(-1, 3), 1);
        assert_eq!(reflect(3, 3), 1);
        assert_eq!(reflect(5, 2), 1);
    }

    #[test]
    fn the_recursive_prefilter_keeps_a_constant_line() {
        for b in [2.0 * std::f64::consts::SQRT_2 - 3.0, 3.0f64.sqrt() - 2.0] {
            let mut line = vec![1.0; 12];
            recursive_filter_line(&mut line, b);
            assert!(line.iter().all(|v| (v - 1.0).abs() < 1e-12), "{line:?}");
        }
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
