//! Gamera's `draw_line` (`draw.hpp`): Bresenham lines between floating-point page coordinates,
//! clipped to the image, in several parallel strokes for a thickness.

use super::Plane;

/// C's `(int)` of a double as x86-64 computes it (`cvttsd2si`): truncation toward zero, and
/// `INT_MIN` for NaN or a value out of range.
fn c_int(v: f64) -> i32 {
    if v.is_nan() || v >= 2_147_483_648.0 || v <= -2_147_483_649.0 {
        i32::MIN
    } else {
        v as i32
    }
}

/// Moves the end points of a line onto the band `lower..=upper` of one axis (`y1`/`y2` on that
/// axis, `x1`/`x2` on the other), as Gamera's `_cut_line`: the first point when below the band
/// (it lands on 0), the second when above it.
#[allow(clippy::too_many_arguments)]
fn cut_line(
    x1: &mut f64,
    y1: &mut f64,
    x2: &mut f64,
    y2: &mut f64,
    x_len: f64,
    y_len: f64,
    lower: f64,
    upper: f64,
) {
    if *y1 < lower {
        *x1 += (-*y1 * x_len) / y_len;
        *y1 = 0.0;
    }
    if *y2 > upper {
        *x2 += (-(*y2 - upper) * x_len) / y_len;
        *y2 = upper;
    }
}

/// One stroke of Gamera's `_draw_line` from `a` to `b` (page coordinates; the image's upper left
/// corner is at `offset`).
fn stroke<P: Copy>(
    image: &mut Plane<P>,
    offset: (usize, usize),
    a: (f64, f64),
    b: (f64, f64),
    value: P,
) {
    let (ncols, nrows) = (image.width(), image.height());
    if ncols == 0 || nrows == 0 {
        return;
    }
    let (mut x1, mut y1, mut x2, mut y2) = (a.0, a.1, b.0, b.1);
    y1 -= offset.1 as f64;
    y2 -= offset.1 as f64;
    x1 -= offset.0 as f64;
    x2 -= offset.0 as f64;
    let y_len = y2 - y1;
    let x_len = x2 - x1;
    let (cols, rows) = (ncols as f64, nrows as f64);
    if c_int(y_len) == 0 && c_int(x_len) == 0 {
        if y1 >= 0.0 && y1 < rows && x1 >= 0.0 && x1 < cols {
            image.set(x1 as usize, y1 as usize, value);
        }
        return;
    }
    if y_len > 0.0 {
        cut_line(
            &mut x1,
            &mut y1,
            &mut x2,
            &mut y2,
            x_len,
            y_len,
            0.0,
            rows - 1.0,
        );
    } else {
        cut_line(
            &mut x2,
            &mut y2,
            &mut x1,
            &mut y1,
            x_len,
            y_len,
            0.0,
            rows - 1.0,
        );
    }
    if x_len > 0.0 {
        cut_line(
            &mut y1,
            &mut x1,
            &mut y2,
            &mut x2,
            y_len,
            x_len,
            0.0,
            cols - 1.0,
        );
    } else {
        cut_line(
            &mut y2,
            &mut x2,
            &mut y1,
            &mut x1,
            y_len,
            x_len,
            0.0,
            cols - 1.0,
        );
    }
    let inside = |x: f64, y: f64| y >= 0.0 && y < rows && x >= 0.0 && x < cols;
    if !(inside(x1, y1) && inside(x2, y2)) {
        return;
    }
    // Every coordinate is now in the image, so the truncations below are exact casts.
    let x_dist = c_int(x2) - c_int(x1);
    let y_dist = c_int(y2) - c_int(y1);
    let (x_dist_abs, y_dist_abs) = (x_dist.abs(), y_dist.abs());
    let mut set = |x: i32, y: i32| image.set(x as usize, y as usize, value);
    if x_dist_abs > y_dist_abs {
        if x1 > x2 {
            std::mem::swap(&mut x1, &mut x2);
            std::mem::swap(&mut y1, &mut y2);
        }
        let y_sign = if c_int(y2) - c_int(y1) < 0 { -1 } else { 1 };
        let mut e = y_dist_abs - x_dist_abs;
        let mut y = c_int(y1);
        for x in c_int(x1)..=c_int(x2) {
            set(x, y);
            if e >= 0 {
                y += y_sign;
                e -= x_dist_abs;
            }
            e += y_dist_abs;
        }
    } else {
        if y1 > y2 {
            std::mem::swap(&mut x1, &mut x2);
            std::mem::swap(&mut y1, &mut y2);
        }
        let x_sign = if c_int(x2) - c_int(x1) < 0 { -1 } else { 1 };
        let mut e = x_dist_abs - y_dist_abs;
        let mut x = c_int(x1);
        for y in c_int(y1)..=c_int(y2) {
            set(x, y);
            if e >= 0 {
                x += x_sign;
                e -= y_dist_abs;
            }
            e += x_dist_abs;
        }
    }
}

/// Gamera's `draw_line(a, b, value, thickness)`: `a` and `b` are page coordinates (the image's
/// upper left corner is at `offset`); a thickness above 1 draws extra strokes shifted by whole
/// pixels, as Gamera does (for 3: the eight neighbouring shifts but (-1, +1) and (+1, -1)).
pub fn draw_line<P: Copy>(
    image: &mut Plane<P>,
    offset: (usize, usize),
    a: (f64, f64),
    b: (f64, f64),
    value: P,
    thickness: f64,
) {
    let half = (thickness - 1.0) / 2.0;
    let shifted = |dx: f64, dy: f64| ((a.0 + dx, a.1 + dy), (b.0 + dx, b.1 + dy));
    let mut dx = -half;
    while dx <= 0.0 {
        let mut dy = -half;
        while dy <= 0.0 {
            let (p, q) = shifted(dx, dy);
            stroke(image, offset, p, q, value);
            dy += 1.0;
        }
        dx += 1.0;
    }
    let mut dx = half;
    while dx >= 0.0 {
        let mut dy = half;
        while dy >= 0.0 {
            let (p, q) = shifted(dx, dy);
            stroke(image, offset, p, q, value);
            dy -= 1.0;
        }
        dx -= 1.0;
    }
    stroke(image, offset, a, b, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drawn(width: usize, height: usize, a: (f64, f64), b: (f64, f64), t: f64) -> Vec<String> {
        let mut p = Plane::new(width, height, 0u8);
        draw_line(&mut p, (10, 20), a, b, 1, t);
        p.rows()
            .map(|r| r.iter().map(|&v| if v == 1 { '#' } else { '.' }).collect())
            .collect()
    }

    #[test]
    fn a_thin_line_follows_bresenham_and_is_clipped_to_the_image() {
        // From (-2, -1) to (7, 3) in image coordinates: cut to the image's top and left edges.
        let rows = drawn(6, 4, (8.0, 19.0), (17.0, 23.0), 1.0);
        assert_eq!(rows, ["###...", "...##.", ".....#", "......"]);
        // Steep lines step along y.
        let rows = drawn(3, 4, (10.0, 20.0), (12.0, 23.0), 1.0);
        assert_eq!(rows, ["#..", "#..", ".#.", "..#"]);
    }

    #[test]
    fn a_line_wholly_outside_or_through_nan_draws_nothing() {
        let empty = vec!["....".to_owned(); 3];
        assert_eq!(drawn(4, 3, (0.0, 0.0), (5.0, 1.0), 1.0), empty);
        assert_eq!(drawn(4, 3, (10.0, f64::NAN), (14.0, f64::NAN), 3.0), empty);
    }

    #[test]
    fn thickness_three_adds_seven_shifted_strokes() {
        // A single point drawn thick: the 3x3 square less two opposite corners.
        let rows = drawn(5, 5, (12.2, 22.2), (12.4, 22.4), 3.0);
        assert_eq!(rows, [".....", ".##..", ".###.", "..##.", "....."]);
    }
}
