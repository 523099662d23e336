//! Gamera's feature functions on one-bit glyphs (`features.hpp`, with the thinning of
//! `thinning.hpp` and the rotation of `transformation.hpp`): every feature `generate_features`
//! computes with `features='all'` in upstream's production Gamera (Gamera 4.1.0 adds
//! `fourier_broken`, which it lacks), bit-identical in float64 to Gamera 4.1.0 (the same
//! operations in the same order, the same libm calls).
//!
//! Two limits: `compactness` of a glyph one or two rows high reads, in Gamera, uninitialised
//! memory below the image, so Gamera's own value varies by run; we take what it finds most often
//! (see `border_outer_volume`). And `zernike_moments` calls `pow`, `atan2`, `sin` and `cos`: on a
//! libm that rounds them differently (production Gamera's did, rarely) the last bits differ.

use super::morphology::dilate;
use super::transformation::rotated_projections;
use super::{BLACK, Plane, WHITE};

/// Gamera's feature names in the order generate_features computes and GameraXML lists them.
pub const NAMES: [&str; 16] = [
    "area",
    "aspect_ratio",
    "black_area",
    "compactness",
    "diagonal_projection",
    "moments",
    "ncols_feature",
    "nholes",
    "nholes_extended",
    "nrows_feature",
    "skeleton_features",
    "top_bottom",
    "volume",
    "volume16regions",
    "volume64regions",
    "zernike_moments",
];

/// Every feature of a one-bit glyph image (BLACK = 1), in NAMES order.
///
/// Gamera has no empty images; a plane without pixels is featured as one white pixel.
pub fn all(image: &Plane<u8>) -> Vec<(&'static str, Vec<f64>)> {
    NAMES
        .iter()
        .filter_map(|&name| compute(name, image).map(|values| (name, values)))
        .collect()
}

/// One feature by Gamera's name; None for an unknown name.
pub fn compute(name: &str, image: &Plane<u8>) -> Option<Vec<f64>> {
    let blank;
    let image = if image.width() == 0 || image.height() == 0 {
        blank = Plane::new(1, 1, WHITE);
        &blank
    } else {
        image
    };
    let values = match name {
        "area" => vec![area(image)],
        "aspect_ratio" => vec![image.width() as f64 / image.height() as f64],
        "black_area" => vec![black_area(image)],
        "compactness" => vec![compactness(image)],
        "diagonal_projection" => vec![diagonal_projection(image)],
        "moments" => moments(image).to_vec(),
        "ncols_feature" => vec![image.width() as f64],
        "nholes" => nholes(image).to_vec(),
        "nholes_extended" => nholes_extended(image).to_vec(),
        "nrows_feature" => vec![image.height() as f64],
        "skeleton_features" => skeleton_features(image).to_vec(),
        "top_bottom" => top_bottom(image).to_vec(),
        "volume" => vec![volume(image)],
        "volume16regions" => volume_regions(image, 4),
        "volume64regions" => volume_regions(image, 8),
        "zernike_moments" => zernike_moments(image).to_vec(),
        _ => return None,
    };
    Some(values)
}

fn is_black(v: u8) -> bool {
    v != WHITE
}

/// `nrows * ncols / scaling`, Gamera's scaling being 1 for glyphs from a page.
fn area(image: &Plane<u8>) -> f64 {
    (image.height() * image.width()) as f64 / 1.0
}

fn black_area(image: &Plane<u8>) -> f64 {
    image.pixels().iter().filter(|&&v| is_black(v)).count() as f64
}

/// The fraction of black pixels in the `w` × `h` box at (`x0`, `y0`).
fn volume_of(image: &Plane<u8>, x0: usize, y0: usize, w: usize, h: usize) -> f64 {
    let (pixels, width) = (image.pixels(), image.width());
    let count = (y0..y0 + h)
        .map(|y| {
            let start = y * width + x0;
            pixels[start..start + w]
                .iter()
                .filter(|&&v| is_black(v))
                .count()
        })
        .sum::<usize>();
    count as f64 / (h * w) as f64
}

fn volume(image: &Plane<u8>) -> f64 {
    volume_of(image, 0, 0, image.width(), image.height())
}

/// The black pixels of each row (`rows`) or column, in order.
fn projections(image: &Plane<u8>, rows: bool) -> Vec<usize> {
    let (w, h) = (image.width(), image.height());
    if rows {
        image
            .rows()
            .map(|r| r.iter().filter(|&&v| is_black(v)).count())
            .collect()
    } else {
        // Row by row, in memory order.
        let mut columns = vec![0usize; w];
        for row in image.rows().take(h) {
            for (count, &v) in columns.iter_mut().zip(row) {
                *count += usize::from(is_black(v));
            }
        }
        columns
    }
}

/// Gamera's `moments_1d` over the lines' projections: zeroth to third moments.
fn moments_1d(projections: &[usize]) -> [f64; 4] {
    let (mut m0, mut m1, mut m2, mut m3) = (0.0, 0.0, 0.0, 0.0);
    for (x, &proj) in projections.iter().enumerate() {
        m0 += proj as f64;
        // x * proj is an integer product in Gamera, then a double.
        let mut tmp = (x * proj) as f64;
        m1 += tmp;
        tmp *= x as f64;
        m2 += tmp;
        m3 += tmp * x as f64;
    }
    [m0, m1, m2, m3]
}

/// Normalised centre of gravity and central moments u20, u02, u11, u30, u12, u21, u03.
fn moments(image: &Plane<u8>) -> [f64; 9] {
    let (w, h) = (image.width(), image.height());
    let [mut m00, m01, m02, m03] = moments_1d(&projections(image, true));
    let [_, m10, m20, m30] = moments_1d(&projections(image, false));
    let (mut m11, mut m12, mut m21) = (0.0, 0.0, 0.0);
    for x in 0..w {
        for y in 0..h {
            if is_black(image.get(x, y)) {
                let tmp = (x * y) as f64;
                m11 += tmp;
                m21 += tmp * x as f64;
                m12 += tmp * y as f64;
            }
        }
    }
    if m00 == 0.0 {
        m00 = 1.0;
    }
    let x = m10 / m00;
    let x2 = 2.0 * x * x;
    let y = m01 / m00;
    let y2 = 2.0 * y * y;
    let cx = if w > 1 { x / (w - 1) as f64 } else { 0.5 };
    let cy = if h > 1 { y / (h - 1) as f64 } else { 0.5 };
    let mut div = m00 * m00;
    let u20 = (m20 - (x * m10)) / div;
    let u02 = (m02 - (y * m01)) / div;
    let u11 = (m11 - (y * m10)) / div;
    div *= m00.sqrt();
    let u30 = (m30 - (3.0 * x * m20) + (x2 * m10)) / div;
    let u12 = (m12 - (2.0 * y * m11) - (x * m02) + (y2 * m10)) / div;
    let u21 = (m21 - (2.0 * x * m11) - (y * m20) + (x2 * m01)) / div;
    let u03 = (m03 - (3.0 * y * m02) + (y2 * m01)) / div;
    [cx, cy, u20, u02, u11, u30, u12, u21, u03]
}

/// Gamera's `nholes_1d` over lines `from..to` (columns when `columns`, else rows): the gaps
/// after black runs, a line ending white not counting its last gap.
fn nholes_1d(image: &Plane<u8>, columns: bool, from: usize, to: usize) -> i64 {
    let (w, h) = (image.width(), image.height());
    let len = if columns { h } else { w };
    let mut holes: i64 = 0;
    for line in from..to {
        let mut last = false;
        let mut has_black = false;
        for i in 0..len {
            let v = if columns {
                image.get(line, i)
            } else {
                image.get(i, line)
            };
            if is_black(v) {
                last = true;
                has_black = true;
            } else if last {
                last = false;
                holes += 1;
            }
        }
        if !last && holes != 0 && has_black {
            holes -= 1;
        }
    }
    holes
}

fn nholes(image: &Plane<u8>) -> [f64; 2] {
    let (w, h) = (image.width(), image.height());
    let vert = nholes_1d(image, true, 0, w);
    let horiz = nholes_1d(image, false, 0, h);
    [vert as f64 / w as f64, horiz as f64 / h as f64]
}

/// `nholes_1d` on four vertical then four horizontal strips, each divided by a quarter of the
/// size.
fn nholes_extended(image: &Plane<u8>) -> [f64; 8] {
    let mut out = [0.0; 8];
    for (k, (columns, n)) in [(true, image.width()), (false, image.height())]
        .into_iter()
        .enumerate()
    {
        let quarter = n as f64 / 4.0;
        let mut start = 0.0f64;
        for i in 0..4 {
            let from = start as usize;
            let to = from + quarter as usize;
            out[k * 4 + i] = nholes_1d(image, columns, from, to) as f64 / quarter;
            start += quarter;
        }
    }
    out
}

/// Gamera's `compactness_border_outer_volume`: the pixels a dilation would add outside the
/// image along its border, over the area. Its first row tests the upper right corner against
/// the number of rows, as Gamera does. `below` is what it takes for the pixels it reads below a
/// one- or two-row image (see `compactness` and `component_compactness`).
fn border_outer_volume(image: &Plane<u8>, below: bool) -> f64 {
    let rows = image.height() as i64;
    let cols = image.width() as i64;
    let at = |x: i64, y: i64| -> bool {
        if y >= rows {
            below
        } else {
            is_black(image.get(x as usize, y as usize))
        }
    };
    let mut last: i64 = 0;
    let mut n = 0.0f64;
    // A black border pixel adds the outer pixels its predecessor did not.
    let black_step = |last: &mut i64, n: &mut f64| {
        *n += match *last {
            2 => 1.0,
            1 => 2.0,
            _ => 3.0,
        };
    };
    let start = at(0, 0);
    for i in 0..cols {
        if at(i, 0) {
            black_step(&mut last, &mut n);
            if i == 0 || i == rows - 1 {
                n += 2.0;
            }
            last = 2;
        } else {
            last -= 1;
            if i == rows - 1 {
                last = 0;
            }
        }
    }
    for i in 1..rows {
        if at(cols - 1, i) {
            black_step(&mut last, &mut n);
            if i == rows - 1 {
                n += 2.0;
            }
            last = 2;
        } else {
            last -= 1;
            if i == rows - 1 {
                last = 0;
            }
        }
    }
    let mut i = cols - 2;
    while i >= 0 {
        if at(i, rows - 1) {
            black_step(&mut last, &mut n);
            if i == 0 {
                n += 2.0;
            }
            last = 2;
        } else {
            last -= 1;
            if i == 0 {
                last = 0;
            }
        }
        i -= 1;
    }
    let mut i = rows - 2;
    while i > 0 {
        if at(0, i) {
            black_step(&mut last, &mut n);
            last = 2;
        } else {
            last -= 1;
        }
        i -= 1;
    }
    if start {
        if at(0, 1) {
            n -= 2.0;
        } else if at(0, 2) {
            n -= 1.0;
        }
    }
    n / (rows * cols) as f64
}

/// (volume of the dilated image + the border's outer volume - volume) / volume; the largest
/// double for a white image.
///
/// Below a one- or two-row glyph image Gamera reads past its pixel buffer, uninitialised heap
/// memory: its result varies from run to run. Most often it finds non-zero bytes there (a black
/// pixel), in Gamera 4.1.0 as in production Gamera's stored features; so do we.
fn compactness(image: &Plane<u8>) -> f64 {
    compactness_with(image, true)
}

/// Gamera's `compactness` of a connected component as `cc_analysis` returns it (a view onto the
/// labelled page, as upstream's Dirty Layer Repair measures them), given its own pixels: where
/// Gamera reads below a one- or two-row component it reads the page, where no pixel of that
/// component can lie, so white.
pub fn component_compactness(image: &Plane<u8>) -> f64 {
    if image.width() == 0 || image.height() == 0 {
        return f64::MAX;
    }
    compactness_with(image, false)
}

fn compactness_with(image: &Plane<u8>, below: bool) -> f64 {
    let vol = volume(image);
    let outer = border_outer_volume(image, below);
    if vol == 0.0 {
        return f64::MAX;
    }
    (volume(&dilate(image)) + outer - vol) / vol
}

/// The volumes of an `n` × `n` grid of regions, column by column.
fn volume_regions(image: &Plane<u8>, n: usize) -> Vec<f64> {
    let (w, h) = (image.width(), image.height());
    let rows = h as f64 / n as f64;
    let cols = w as f64 / n as f64;
    let mut size_cols = (cols as usize).max(1);
    let mut size_rows = (rows as usize).max(1);
    let mut out = Vec::with_capacity(n * n);
    let mut start_col = 0.0f64;
    for _ in 0..n {
        let mut start_row = 0.0f64;
        for _ in 0..n {
            out.push(volume_of(
                image,
                start_col as usize,
                start_row as usize,
                size_cols,
                size_rows,
            ));
            start_row += rows;
            size_rows = ((start_row + rows) as usize - start_row as usize).max(1);
        }
        start_col += cols;
        size_cols = ((start_col + cols) as usize - start_col as usize).max(1);
    }
    out
}

/// Gamera's radial Zernike polynomial R(n, m) at distance |(x, y)|, with its table of
/// factorials.
fn zernike_radial(n: usize, m: usize, x: f64, y: f64) -> f64 {
    const FACTORIALS: [f64; 16] = [
        1.0,
        1.0,
        2.0,
        6.0,
        24.0,
        120.0,
        720.0,
        5040.0,
        40320.0,
        362880.0,
        3.6288e+06,
        3.99168e+7,
        4.790016e+8,
        6.2270208e+09,
        8.71782912e+10,
        1.307674368e+12,
    ];
    let mut sign: i64 = 1;
    let mut result = 0.0;
    let distance = (x * x + y * y).sqrt();
    let d_pow_n = distance.powf(n as f64);
    let mut d_pow_2s = 1.0;
    let mut zb = d_pow_n;
    for s in 0..=(n - m) / 2 {
        // Gamera keeps these quotients in long ints.
        let na = (FACTORIALS[n - s] / FACTORIALS[s]) as i64;
        let nb = FACTORIALS[(n + m) / 2 - s] as i64;
        let nc = FACTORIALS[(n - m) / 2 - s] as i64;
        result += ((sign * na) as f64 * zb) / (nb * nc) as f64;
        sign = -sign;
        d_pow_2s *= distance * distance;
        zb = d_pow_n / d_pow_2s;
    }
    result
}

/// Gamera's `zer_pol`: the conjugate of R(n, m) e^{i m θ}, zero outside the unit circle.
fn zernike_polynomial(n: usize, m: usize, x: f64, y: f64, turns: &[(f64, f64); 7]) -> (f64, f64) {
    if (x * x + y * y).sqrt() > 1.0 {
        return (0.0, 0.0);
    }
    let r = zernike_radial(n, m, x * 1.0, y * 1.0);
    let (sin, cos) = turns[m];
    (r * cos, -(r * sin))
}

/// exp(i m θ) as (sin, cos) of the phase m θ for m = 0..=6, θ the point's `atan2`: computed
/// once a point, where Gamera computes them for every n (the same values). exp(i φ) is
/// (cos φ, sin φ) exactly (glibc's cexp of a zero real part).
fn turns(x: f64, y: f64) -> [(f64, f64); 7] {
    let angle = y.atan2(x);
    std::array::from_fn(|m| {
        let phase = m as f64 * angle;
        if phase.abs() > f64::MIN_POSITIVE {
            (phase.sin(), phase.cos())
        } else {
            (phase, 1.0)
        }
    })
}

/// The magnitudes of the Zernike moments A(n, m) for n = 2..6, m ≡ n (mod 2), m ≤ n, over a
/// circle about the centroid holding every black pixel, normalised by (n + 1) / π / mass.
fn zernike_moments(image: &Plane<u8>) -> [f64; 14] {
    const ORDER: usize = 6;
    let (w, h) = (image.width(), image.height());
    let [m00, m01, _, _] = moments_1d(&projections(image, true));
    let [_, m10, _, _] = moments_1d(&projections(image, false));
    let centroid_x = m10 / m00;
    let centroid_y = m01 / m00;
    let mut scale = 0.0f64;
    for y in 0..h {
        for x in 0..w {
            if is_black(image.get(x, y)) {
                let t = (centroid_x - x as f64) * (centroid_x - x as f64)
                    + (centroid_y - y as f64) * (centroid_y - y as f64);
                if t > scale {
                    scale = t;
                }
            }
        }
    }
    scale = 1.01 * scale.sqrt();
    if scale < 0.00001 {
        scale = 1.0;
    }
    let mut re = [0.0f64; 14];
    let mut im = [0.0f64; 14];
    for y in 0..h {
        for x in 0..w {
            if !is_black(image.get(x, y)) {
                continue;
            }
            let xd = (x as f64 - centroid_x) / scale;
            let yd = (y as f64 - centroid_y) / scale;
            if xd.abs() > 0.00001 || yd.abs() > 0.00001 {
                // Outside the unit circle every polynomial is 0 and the turns are not read.
                let turns = if (xd * xd + yd * yd).sqrt() > 1.0 {
                    [(0.0, 1.0); 7]
                } else {
                    turns(xd, yd)
                };
                let mut idx = 0;
                for n in 2..=ORDER {
                    for m in (n % 2..=n).step_by(2) {
                        let (r, i) = zernike_polynomial(n, m, xd, yd, &turns);
                        re[idx] += r;
                        im[idx] += i;
                        idx += 1;
                    }
                }
            }
        }
    }
    let mut out = [0.0f64; 14];
    for (o, (r, i)) in out.iter_mut().zip(re.iter().zip(&im)) {
        *o = (r * r + i * i).sqrt();
    }
    let mut idx = 0;
    for n in 2..=ORDER {
        let mut multiplier = (n + 1) as f64 / std::f64::consts::PI;
        if m00 != 0.0 {
            multiplier /= m00;
        }
        for _ in (n % 2..=n).step_by(2) {
            out[idx] *= multiplier;
            idx += 1;
        }
    }
    out
}

/// The 8 neighbours of (x, y) as Gamera's `thin_zs_get` packs them (bit 0 north, clockwise
/// from north-west at bit 7 down the west side), mirrored at the image border, with the count
/// of black neighbours and of white-to-black transitions around.
fn neighbourhood(image: &Plane<u8>, x: usize, y: usize) -> (u8, u32, u32) {
    let (w, h) = (image.width(), image.height());
    let yb = if y == 0 { 1 } else { y - 1 };
    let ya = if y == h - 1 { h - 2 } else { y + 1 };
    let xb = if x == 0 { 1 } else { x - 1 };
    let xa = if x == w - 1 { w - 2 } else { x + 1 };
    let b = |xx: usize, yy: usize| u8::from(is_black(image.get(xx, yy)));
    let p = (b(xb, yb) << 7)
        | (b(xb, y) << 6)
        | (b(xb, ya) << 5)
        | (b(x, ya) << 4)
        | (b(xa, ya) << 3)
        | (b(xa, y) << 2)
        | (b(xa, yb) << 1)
        | b(x, yb);
    let mut n = 0;
    let mut s = 0;
    let mut prev = p & 0x80 != 0;
    for i in 0..8 {
        if p & (1 << i) != 0 {
            n += 1;
            s += u32::from(!prev);
            prev = true;
        } else {
            prev = false;
        }
    }
    (p, n, s)
}

/// Gamera's `thin_zs` (Zhang and Suen): alternating sub-iterations flag then delete contour
/// pixels until none is deleted. Images one pixel high or wide are copied.
fn thin_zs(image: &Plane<u8>) -> Plane<u8> {
    let mut thin = image.map(|v| if is_black(v) { BLACK } else { WHITE });
    let (w, h) = (image.width(), image.height());
    if w == 1 || h == 1 {
        return thin;
    }
    const CONSTANTS: [[u8; 2]; 2] = [[21, 84], [69, 81]];
    // The black pixels flagged in a sub-iteration, deleted once all are flagged (Gamera keeps a
    // flag image: only its black pixels' flags are rewritten and read).
    let mut flagged = Vec::new();
    let mut phase = 0;
    loop {
        let [a, b] = CONSTANTS[phase];
        flagged.clear();
        for (y, row) in thin.rows().enumerate() {
            for (x, &v) in row.iter().enumerate() {
                if is_black(v) {
                    let (p, n, s) = neighbourhood(&thin, x, y);
                    if (2..=6).contains(&n) && s == 1 && p & a != a && p & b != b {
                        flagged.push(y * w + x);
                    }
                }
            }
        }
        if flagged.is_empty() {
            return thin;
        }
        let pixels = thin.pixels_mut();
        for &i in &flagged {
            pixels[i] = WHITE;
        }
        phase = 1 - phase;
    }
}

/// Gamera's `thin_lc`: Zhang–Suen thinning, then Lee and Chen's look-up table removes the
/// pixels that keep the skeleton two pixels thick (in place, in reading order).
fn thin_lc(image: &Plane<u8>) -> Plane<u8> {
    const LOOK_UP: [u16; 16] = [
        0x2020, 0x20d0, 0x0, 0x20f0, 0xa08a, 0x5b49, 0xa0aa, 0xa5a, 0x2020, 0x20a0, 0x0, 0xa0a0,
        0x2020, 0x5b5b, 0xa020, 0x4850,
    ];
    let mut thin = thin_zs(image);
    let (w, h) = (thin.width(), thin.height());
    if w == 1 || h == 1 {
        return thin;
    }
    for y in 0..h {
        let yb = if y == 0 { 1 } else { y - 1 };
        let ya = if y == h - 1 { h - 2 } else { y + 1 };
        for x in 0..w {
            if !is_black(thin.get(x, y)) {
                continue;
            }
            let xb = if x == 0 { 1 } else { x - 1 };
            let xa = if x == w - 1 { w - 2 } else { x + 1 };
            let b = |xx: usize, yy: usize| usize::from(is_black(thin.get(xx, yy)));
            let j = (b(xa, ya) << 3) | (b(xa, y) << 2) | (b(xa, yb) << 1) | b(x, yb);
            let i = (b(xb, yb) << 3) | (b(xb, y) << 2) | (b(xb, ya) << 1) | b(x, ya);
            if LOOK_UP[i] & (1 << j) != 0 {
                thin.set(x, y, WHITE);
            }
        }
    }
    thin
}

/// Of the Lee–Chen skeleton: X joints, T joints, bend points per skeleton pixel, end points,
/// and crossings of the vertical and horizontal lines through its centre.
fn skeleton_features(image: &Plane<u8>) -> [f64; 6] {
    let (w, h) = (image.width(), image.height());
    if w == 1 || h == 1 {
        return [0.0, 0.0, 0.0, 3.0, 3.0, 3.0];
    }
    let skel = thin_lc(image);
    let (mut x_joints, mut t_joints, mut bends, mut ends, mut total) = (0usize, 0, 0, 0, 0usize);
    let (mut center_x, mut center_y) = (0usize, 0usize);
    for y in 0..h {
        for x in 0..w {
            if !is_black(skel.get(x, y)) {
                continue;
            }
            total += 1;
            center_x += x;
            center_y += y;
            let (p, n, _) = neighbourhood(&skel, x, y);
            match n {
                4 => x_joints += 1,
                3 => t_joints += 1,
                2 => {
                    let crosswise = p & 17 == 17 || p & 34 == 34 || p & 68 == 68 || p & 136 == 136;
                    if !crosswise {
                        bends += 1;
                    }
                }
                1 => ends += 1,
                _ => {}
            }
        }
    }
    if total == 0 {
        return [0.0; 6];
    }
    center_x /= total;
    center_y /= total;
    // Gamera's crossing counters reset on every pixel that does not start a run, so a run
    // of black pixels counts again every other pixel.
    let crossings = |black: &mut dyn Iterator<Item = bool>| {
        let mut last = false;
        let mut count = 0usize;
        for b in black {
            if b && !last {
                last = true;
                count += 1;
            } else {
                last = false;
            }
        }
        count
    };
    let x_crossings = crossings(&mut (0..h).map(|y| is_black(skel.get(center_x, y))));
    let y_crossings = crossings(&mut (0..w).map(|x| is_black(skel.get(x, center_y))));
    [
        x_joints as f64,
        t_joints as f64,
        bends as f64 / total as f64,
        ends as f64,
        x_crossings as f64,
        y_crossings as f64,
    ]
}

/// The first and last rows holding black, over the number of rows. Gamera's search for the
/// last row stops before row 0, so a glyph black only in its first row has bottom -1.
fn top_bottom(image: &Plane<u8>) -> [f64; 2] {
    let (w, h) = (image.width(), image.height());
    let has_black = |y: usize| {
        image.pixels()[y * w..(y + 1) * w]
            .iter()
            .any(|&v| is_black(v))
    };
    let Some(top) = (0..h).find(|&y| has_black(y)) else {
        return [1.0, 0.0];
    };
    let bottom = (1..h)
        .rev()
        .find(|&y| has_black(y))
        .map_or(-1.0, |y| y as f64);
    [top as f64 / h as f64, bottom / h as f64]
}

/// The mean of the middle half of the column projections over that of the row projections of
/// the glyph turned 45°.
fn diagonal_projection(image: &Plane<u8>) -> f64 {
    let (rows, columns) = rotated_projections(image, 45.0, 1)
        .unwrap_or_else(|| (projections(image, true), projections(image, false)));
    let mean = |proj: &[usize]| {
        let size = proj.len();
        if size <= 1 {
            return 1.0;
        }
        let sum: u32 = proj[size / 4..size * 3 / 4 + 1]
            .iter()
            .fold(0u32, |s, &v| s.wrapping_add(v as u32));
        f64::from(sum) / (size / 2) as f64
    };
    let mean_x = mean(&columns);
    let mean_y = mean(&rows);
    if mean_y == 0.0 { 0.0 } else { mean_x / mean_y }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::gamera::plane_from_rows as plane;

    fn feature(name: &str, p: &Plane<u8>) -> Vec<f64> {
        compute(name, p).expect("a known feature")
    }

    #[test]
    fn all_gives_every_feature_in_gamera_order_with_its_length() {
        let p = plane(&[".##.", "#..#", "#..#", ".##."]);
        let features = all(&p);
        let names: Vec<&str> = features.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, NAMES);
        let lengths: Vec<usize> = features.iter().map(|(_, v)| v.len()).collect();
        assert_eq!(lengths, [1, 1, 1, 1, 1, 9, 1, 2, 8, 1, 6, 2, 1, 16, 64, 14]);
        assert!(compute("no_such_feature", &p).is_none());
    }

    #[test]
    fn the_simple_features_count_pixels_and_sides() {
        let p = plane(&["##.", "#..", "..."]);
        assert_eq!(feature("area", &p), [9.0]);
        assert_eq!(feature("black_area", &p), [3.0]);
        assert_eq!(feature("volume", &p), [3.0 / 9.0]);
        assert_eq!(feature("aspect_ratio", &plane(&["##."])), [3.0]);
        assert_eq!(feature("nrows_feature", &p), [3.0]);
        assert_eq!(feature("top_bottom", &p), [0.0, 1.0 / 3.0]);
        // Gamera never looks at row 0 for the bottom.
        assert_eq!(feature("top_bottom", &plane(&["#", "."])), [0.0, -0.5]);
        assert_eq!(feature("top_bottom", &plane(&["."])), [1.0, 0.0]);
    }

    #[test]
    fn a_ring_has_one_hole_each_way() {
        let p = plane(&[".##.", "#..#", "#..#", ".##."]);
        assert_eq!(feature("nholes", &p), [0.5, 0.5]);
        let q = plane(&["####", "####"]);
        assert_eq!(feature("nholes", &q), [0.0, 0.0]);
    }

    #[test]
    fn volume_regions_cover_the_glyph_column_by_column() {
        let mut p = Plane::new(8, 8, WHITE);
        for y in 0..2 {
            for x in 2..4 {
                p.set(x, y, BLACK);
            }
        }
        let v = feature("volume16regions", &p);
        // Column 1 (x 2..4), row 0 (y 0..2).
        assert_eq!(v[4], 1.0);
        assert_eq!(v.iter().sum::<f64>(), 1.0);
        // Tiny images still give 16 regions of at least one pixel.
        assert_eq!(feature("volume16regions", &plane(&["#"])), [1.0; 16]);
    }

    #[test]
    fn thinning_a_bar_leaves_a_line_with_two_ends() {
        let mut p = Plane::new(12, 5, WHITE);
        for y in 1..4 {
            for x in 1..11 {
                p.set(x, y, BLACK);
            }
        }
        let skel = thin_lc(&p);
        let black: Vec<(usize, usize)> = (0..5)
            .flat_map(|y| (0..12).map(move |x| (x, y)))
            .filter(|&(x, y)| skel.get(x, y) != WHITE)
            .collect();
        assert!(black.iter().all(|&(_, y)| y == 2), "{black:?}");
        let s = feature("skeleton_features", &p);
        assert_eq!((s[0], s[1], s[3]), (0.0, 0.0, 2.0));
        assert_eq!(
            feature("skeleton_features", &plane(&["###"])),
            [0.0, 0.0, 0.0, 3.0, 3.0, 3.0]
        );
    }

    #[test]
    fn compactness_of_a_white_glyph_is_the_largest_double() {
        assert_eq!(feature("compactness", &plane(&["...", "..."])), [f64::MAX]);
        // A lone pixel: Gamera's border count gives it 5 outer pixels, less 2 for the black it
        // (usually) finds reading below the image.
        assert_eq!(feature("compactness", &plane(&["#"])), [3.0]);
        // As a component of a page, white lies below it.
        assert_eq!(component_compactness(&plane(&["#"])), 5.0);
        let bar = plane(&["###", "###", "###"]);
        assert_eq!(component_compactness(&bar), feature("compactness", &bar)[0]);
    }

    #[test]
    fn zernike_moments_are_zero_for_a_white_glyph_and_finite_otherwise() {
        assert_eq!(feature("zernike_moments", &plane(&["..", ".."])), [0.0; 14]);
        let z = feature("zernike_moments", &plane(&[".##.", "#..#", "#..#", ".##."]));
        assert!(z.iter().all(|v| v.is_finite()));
        assert!(z[0] > 0.0);
    }

    #[test]
    fn empty_planes_are_featured_as_one_white_pixel() {
        let empty = Plane::new(0, 3, WHITE);
        assert_eq!(all(&empty), all(&plane(&["."])));
    }
}
