//! Gamera's global and DjVu thresholds (`threshold.hpp`): Otsu, Tsai moment preserving,
//! Abutaleb, DjVu, and the helpers they share (`histogram`, the 3×3 `mean` filter). Floating point
//! operations are kept in Gamera's order so that results agree bit for bit.

use super::conversion::round_to_u8;
use super::{BLACK, Plane, Rgb, WHITE};

/// Gamera's `histogram`: the fraction of pixels of each grey value.
pub fn histogram(p: &Plane<u8>) -> [f64; 256] {
    let mut h = [0.0f64; 256];
    for &v in p.pixels() {
        h[usize::from(v)] += 1.0;
    }
    let size = (p.height() * p.width()) as f64;
    for v in &mut h {
        *v /= size;
    }
    h
}

/// Gamera's `threshold_fill`: values above `threshold` become white, the others black.
pub fn threshold(p: &Plane<u8>, threshold: u8) -> Plane<u8> {
    p.map(|v| if v > threshold { WHITE } else { BLACK })
}

/// Gamera's `otsu_find_threshold`.
pub fn otsu_find_threshold(p: &Plane<u8>) -> u8 {
    let h = histogram(p);
    let mut mu_t = 0.0;
    for (i, &pi) in h.iter().enumerate() {
        mu_t += i as f64 * pi;
    }
    let mut sigma_t = 0.0;
    for (i, &pi) in h.iter().enumerate() {
        sigma_t += (i as f64 - mu_t) * (i as f64 - mu_t) * pi;
    }
    let mut k_low = 0;
    while h[k_low] == 0.0 && k_low < 255 {
        k_low += 1;
    }
    let mut k_high = 255;
    while h[k_high] == 0.0 && k_high > 0 {
        k_high -= 1;
    }
    let mut criterion = 0.0;
    let mut thresh = 127;
    let mut omega_k = 0.0;
    let mut mu_k = 0.0;
    for (k, &pk) in h.iter().enumerate().take(k_high + 1).skip(k_low) {
        omega_k += pk;
        mu_k += k as f64 * pk;
        let expr_1 = mu_t * omega_k - mu_k;
        let sigma_b_k = expr_1 * expr_1 / (omega_k * (1.0 - omega_k));
        if criterion < sigma_b_k / sigma_t {
            criterion = sigma_b_k / sigma_t;
            thresh = k;
        }
    }
    thresh as u8
}

/// Gamera's `otsu_threshold`.
pub fn otsu_threshold(p: &Plane<u8>) -> Plane<u8> {
    threshold(p, otsu_find_threshold(p))
}

/// Gamera's `tsai_moment_preserving_find_threshold` (0 to 256).
pub fn tsai_moment_preserving_find_threshold(p: &Plane<u8>) -> u32 {
    let h = histogram(p);
    let (mut m1, mut m2, mut m3) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &pi) in h.iter().enumerate() {
        let i = i as i32;
        m1 += f64::from(i) * pi;
        m2 += f64::from(i * i) * pi;
        m3 += f64::from(i * i * i) * pi;
    }
    let cd = m2 - m1 * m1;
    let c0 = (-m2 * m2 + m1 * m3) / cd;
    let c1 = (-m3 + m2 * m1) / cd;
    let z0 = 0.5 * (-c1 - (c1 * c1 - 4.0 * c0).sqrt());
    let z1 = 0.5 * (-c1 + (c1 * c1 - 4.0 * c0).sqrt());
    let pd = z1 - z0;
    let p0 = (z1 - m1) / pd;
    let mut criterion = 0.0;
    let mut thresh = 0;
    while thresh < 256 {
        criterion += h[thresh as usize];
        if criterion > p0 {
            break;
        }
        thresh += 1;
    }
    thresh
}

/// Gamera's `tsai_moment_preserving_threshold`. A threshold of 255 becomes 0, and 256 (no
/// threshold found) wraps to 0 when Gamera passes it on as a pixel value.
pub fn tsai_moment_preserving_threshold(p: &Plane<u8>) -> Plane<u8> {
    let t = tsai_moment_preserving_find_threshold(p);
    let t = if t == 255 { 0 } else { t };
    threshold(p, t as u8)
}

/// Gamera's `mean` filter with a `k`×`k` window and reflected borders, rounded half up.
pub fn mean(p: &Plane<u8>, k: usize) -> Plane<u8> {
    let (ncols, nrows) = (p.width() as i64, p.height() as i64);
    if p.height() < k || p.width() < k {
        return p.clone();
    }
    let get = |mut column: i64, mut row: i64| -> f64 {
        if column < 0 {
            column = -column;
        }
        if column >= ncols {
            column = ncols - (column - ncols) - 2;
        }
        if row < 0 {
            row = -row;
        }
        if row >= nrows {
            row = nrows - (row - nrows) - 2;
        }
        f64::from(p.get(column as usize, row as usize))
    };
    let kk = 1.0 / (k * k) as f64;
    let r = ((k - 1) / 2) as i64;
    let mut out = Plane::new(p.width(), p.height(), 0u8);
    for row in 0..nrows {
        let mut window_sum = 0.0;
        for ri in -r..=r {
            for ci in -r..=r {
                window_sum += get(ci, row + ri);
            }
        }
        out.set(0, row as usize, (window_sum * kk + 0.5) as u8);
        for column in 1..ncols {
            for ci in -r..=r {
                window_sum -= get(column - 1 - r, row + ci);
                window_sum += get(column + r, row + ci);
            }
            out.set(column as usize, row as usize, (window_sum * kk + 0.5) as u8);
        }
    }
    out
}

/// Gamera's `abutaleb_threshold`: a two-dimensional entropy threshold on (grey value, 3×3 mean).
pub fn abutaleb_threshold(p: &Plane<u8>) -> Plane<u8> {
    let average = mean(p, 3);
    // hist[t * 256 + s]: s the grey value, t the mean (Gamera's Point(s, t)).
    let mut hist = vec![0.0f64; 256 * 256];
    for (&a, &b) in p.pixels().iter().zip(average.pixels()) {
        hist[usize::from(b) * 256 + usize::from(a)] += 1.0;
    }
    let one_over_area = 1.0 / (p.height() * p.width()) as f64;
    for v in &mut hist {
        *v *= one_over_area;
    }
    let mut p_hist = vec![0.0f64; 256 * 256];
    let mut h_hist = vec![0.0f64; 256 * 256];
    let mut p_sum = 0.0;
    let mut h_sum = 0.0;
    for s in 0..256 {
        p_sum += hist[s];
        p_hist[s] = p_sum;
        let v = hist[s];
        if v != 0.0 {
            h_sum -= v * v.ln();
        }
        h_hist[s] = h_sum;
    }
    for t in 1..256 {
        p_sum = 0.0;
        h_sum = 0.0;
        for s in 0..256 {
            let v = hist[t * 256 + s];
            p_sum += v;
            p_hist[t * 256 + s] = p_hist[(t - 1) * 256 + s] + p_sum;
            if v != 0.0 {
                h_sum -= v * v.ln();
            }
            h_hist[t * 256 + s] = h_hist[(t - 1) * 256 + s] + h_sum;
        }
    }
    // Gamera starts from the smallest positive double, so a negative Phi never wins.
    let mut phi_max = f64::MIN_POSITIVE;
    let tiny = 1e-6;
    let h_end = h_hist[255 * 256 + 255];
    let (mut threshold, mut avg_threshold) = (0u8, 0u8);
    for s in 0..256usize {
        for t in 0..256usize {
            let pp = p_hist[t * 256 + s];
            let h = h_hist[t * 256 + s];
            if pp > tiny && (1.0 - pp) > tiny {
                let phi = (pp * (1.0 - pp)).ln() + h / pp + (h_end - h) / (1.0 - pp);
                if phi > phi_max {
                    phi_max = phi;
                    threshold = s as u8;
                    avg_threshold = t as u8;
                }
            }
        }
    }
    let mut out = Plane::new(p.width(), p.height(), WHITE);
    for ((o, &a), &b) in out
        .pixels_mut()
        .iter_mut()
        .zip(p.pixels())
        .zip(average.pixels())
    {
        if a <= threshold && b <= avg_threshold {
            *o = BLACK;
        }
    }
    out
}

/// An RGB colour in doubles (Gamera's `Rgb<double>`).
type Colour = [f64; 3];

fn colour(p: Rgb) -> Colour {
    [f64::from(p[0]), f64::from(p[1]), f64::from(p[2])]
}

/// Gamera's `djvu_distance`, an approximation of the YUV distance.
#[inline]
fn djvu_distance(x: Colour, y: Colour) -> f64 {
    let r = x[0] - y[0];
    let g = x[1] - y[1];
    let b = x[2] - y[2];
    0.75 * r * r + g * g + 0.5 * b * b
}

/// A rectangle of the source image, both corners inclusive (Gamera's views).
#[derive(Debug, Clone, Copy)]
struct Block {
    ul_x: usize,
    ul_y: usize,
    lr_x: usize,
    lr_y: usize,
}

struct Djvu<'a> {
    image: &'a Plane<Rgb>,
    smoothness: f64,
    min_block_size: usize,
    fg: Plane<Rgb>,
    bg: Plane<Rgb>,
}

impl Djvu<'_> {
    fn recurse(&mut self, block: Block, fg_init: Colour, bg_init: Colour, block_size: usize) {
        let smoothness = self.smoothness;
        let mut fg = fg_init;
        let mut bg = bg_init;
        let fg_init_scaled = fg_init.map(|c| c * smoothness);
        let bg_init_scaled = bg_init.map(|c| c * smoothness);
        loop {
            let last_fg = fg;
            let last_bg = bg;
            let mut fg_avg = [0.0f64; 3];
            let mut bg_avg = [0.0f64; 3];
            let (mut fg_count, mut bg_count) = (0usize, 0usize);
            for y in block.ul_y..=block.lr_y {
                for x in block.ul_x..=block.lr_x {
                    let p = colour(self.image.get(x, y));
                    if djvu_distance(p, fg) <= djvu_distance(p, bg) {
                        for c in 0..3 {
                            fg_avg[c] += p[c];
                        }
                        fg_count += 1;
                    } else {
                        for c in 0..3 {
                            bg_avg[c] += p[c];
                        }
                        bg_count += 1;
                    }
                }
            }
            let fg_converged = if fg_count > 0 {
                let n = fg_count as f64;
                fg = [0, 1, 2].map(|c| fg_avg[c] / n * (1.0 - smoothness) + fg_init_scaled[c]);
                djvu_distance(fg, last_fg) < 2.0
            } else {
                true
            };
            let bg_converged = if bg_count > 0 {
                let n = bg_count as f64;
                bg = [0, 1, 2].map(|c| bg_avg[c] / n * (1.0 - smoothness) + bg_init_scaled[c]);
                djvu_distance(bg, last_bg) < 2.0
            } else {
                true
            };
            if fg_converged && bg_converged {
                break;
            }
        }
        if block_size < self.min_block_size {
            let (cx, cy) = (
                block.ul_x / self.min_block_size,
                block.ul_y / self.min_block_size,
            );
            self.fg.set(cx, cy, fg.map(round_to_u8));
            self.bg.set(cx, cy, bg.map(round_to_u8));
        } else {
            let nrows = block.lr_y - block.ul_y + 1;
            let ncols = block.lr_x - block.ul_x + 1;
            for r in 0..=(nrows - 1) / block_size {
                for c in 0..=(ncols - 1) / block_size {
                    // Gamera's lower-right corners are inclusive, so neighbouring blocks share
                    // their border row and column.
                    let sub = Block {
                        ul_x: c * block_size + block.ul_x,
                        ul_y: r * block_size + block.ul_y,
                        lr_x: ((c + 1) * block_size + block.ul_x).min(block.lr_x),
                        lr_y: ((r + 1) * block_size + block.ul_y).min(block.lr_y),
                    };
                    self.recurse(sub, fg, bg, block_size / 2);
                }
            }
        }
    }
}

/// VIGRA's `BilinearInterpolatingAccessor` on an RGB image, at single-precision `(x, y)`.
fn interpolate(image: &Plane<Rgb>, x: f32, y: f32) -> Rgb {
    let ix = x as usize;
    let iy = y as usize;
    let dx = x - ix as f32;
    let dy = y - iy as f32;
    let px = |x: usize, y: usize| colour(image.get(x, y));
    let weighted = |w: f64, p: Colour| p.map(|c| c * w);
    let add = |a: Colour, b: Colour| [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
    let (dxd, dyd) = (f64::from(dx), f64::from(dy));
    let v = if dx == 0.0 {
        if dy == 0.0 {
            return image.get(ix, iy);
        }
        add(
            weighted(1.0 - dyd, px(ix, iy)),
            weighted(dyd, px(ix, iy + 1)),
        )
    } else if dy == 0.0 {
        add(
            weighted(1.0 - dxd, px(ix, iy)),
            weighted(dxd, px(ix + 1, iy)),
        )
    } else {
        let a = weighted((1.0 - dxd) * (1.0 - dyd), px(ix, iy));
        let b = weighted(dxd * (1.0 - dyd), px(ix + 1, iy));
        let c = weighted((1.0 - dxd) * dyd, px(ix, iy + 1));
        // float × float stays single precision in C++.
        let d = weighted(f64::from(dx * dy), px(ix + 1, iy + 1));
        add(add(add(a, b), c), d)
    };
    v.map(round_to_u8)
}

/// Gamera's `djvu_threshold` on an RGB image. `block_factor` is accepted and, as in Gamera,
/// unused: blocks always halve.
pub fn djvu_threshold(
    image: &Plane<Rgb>,
    smoothness: f64,
    max_block_size: usize,
    min_block_size: usize,
    _block_factor: usize,
) -> Plane<u8> {
    let (ncols, nrows) = (image.width(), image.height());
    if ncols == 0 || nrows == 0 || min_block_size == 0 {
        return Plane::new(ncols, nrows, WHITE);
    }
    // The most frequent colour on 6 bits per channel is the initial background.
    let mut max_color: Rgb = [0, 0, 0];
    let mut counts = vec![0usize; 64 * 64 * 64];
    let mut max_count = 0;
    for &[r, g, b] in image.pixels() {
        let approx = (usize::from(r & 0xfc) << 10)
            | (usize::from(g & 0xfc) << 4)
            | (usize::from(b & 0xfc) >> 2);
        let x = counts[approx];
        counts[approx] += 1;
        if x > max_count {
            max_count = x;
            max_color = [r & 0xfc, g & 0xfc, b & 0xfc];
        }
    }
    if max_color.iter().any(|&c| c < 128) {
        max_color = [255, 255, 255];
    }
    let cells = (ncols / min_block_size + 1, nrows / min_block_size + 1);
    let mut djvu = Djvu {
        image,
        smoothness,
        min_block_size,
        // Gamera's new RGB images start white.
        fg: Plane::new(cells.0, cells.1, [255; 3]),
        bg: Plane::new(cells.0, cells.1, [255; 3]),
    };
    let whole = Block {
        ul_x: 0,
        ul_y: 0,
        lr_x: ncols - 1,
        lr_y: nrows - 1,
    };
    djvu.recurse(whole, [0.0; 3], colour(max_color), max_block_size);

    let min = min_block_size as f64;
    let max_c = ((ncols - 1) as f64 / min).floor();
    let max_r = ((nrows - 1) as f64 / min).floor();
    let mut out = Plane::new(ncols, nrows, WHITE);
    for r in 0..nrows {
        let r_frac = ((r as f64 - 0.5 * min) / min).min(max_r).max(0.0) as f32;
        for c in 0..ncols {
            let c_frac = ((c as f64 - 0.5 * min) / min).min(max_c).max(0.0) as f32;
            let fg = interpolate(&djvu.fg, c_frac, r_frac);
            let bg = interpolate(&djvu.bg, c_frac, r_frac);
            let p = colour(image.get(c, r));
            if djvu_distance(p, colour(fg)) <= djvu_distance(p, colour(bg)) {
                out.set(c, r, BLACK);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(width: usize, data: Vec<u8>) -> Plane<u8> {
        let height = data.len() / width;
        Plane::from_vec(width, height, data).expect("rectangular")
    }

    #[test]
    fn otsu_splits_two_clusters_between_them() {
        let p = plane(4, vec![10, 12, 10, 12, 200, 202, 200, 202]);
        let t = otsu_find_threshold(&p);
        assert!((12..200).contains(&t), "threshold {t}");
        assert_eq!(
            otsu_threshold(&p).pixels(),
            &[BLACK, BLACK, BLACK, BLACK, WHITE, WHITE, WHITE, WHITE]
        );
    }

    #[test]
    fn tsai_of_a_flat_image_finds_no_threshold_and_wraps_to_zero() {
        // One grey value: cd = 0 makes the moments NaN, the search runs to 256, which Gamera
        // passes on as the pixel value 0: every pixel above 0 turns white.
        let p = plane(2, vec![7, 7, 7, 7]);
        assert_eq!(tsai_moment_preserving_find_threshold(&p), 256);
        assert_eq!(tsai_moment_preserving_threshold(&p).pixels(), &[WHITE; 4]);
    }

    #[test]
    fn mean_reflects_at_the_borders_and_rounds_half_up() {
        // Reflection mirrors about the edge pixel: column -1 reads column 1, column 3 reads 1.
        let p = plane(3, vec![9, 0, 0, 9, 0, 0, 9, 0, 0]);
        assert_eq!(mean(&p, 3).pixels(), &[3, 3, 0, 3, 3, 0, 3, 3, 0]);
        // A lone 5 in the centre: 5/9 = 0.56 rounds up to 1; corners see it four times (20/9).
        let p = plane(3, vec![0, 0, 0, 0, 5, 0, 0, 0, 0]);
        assert_eq!(mean(&p, 3).pixels(), &[2, 1, 2, 1, 1, 1, 2, 1, 2]);
    }

    #[test]
    fn abutaleb_blackens_a_dark_square_on_a_light_page() {
        let mut p = Plane::new(16, 16, 220u8);
        for y in 4..12 {
            for x in 4..12 {
                p.set(x, y, 30);
            }
        }
        let out = abutaleb_threshold(&p);
        assert_eq!(out.get(7, 7), BLACK);
        assert_eq!(out.get(0, 0), WHITE);
    }

    #[test]
    fn djvu_separates_dark_ink_from_a_light_background() {
        let mut p = Plane::new(40, 30, [230u8, 220, 200]);
        for x in 5..35 {
            p.set(x, 15, [20, 20, 30]);
        }
        let out = djvu_threshold(&p, 0.2, 512, 8, 2);
        assert_eq!(out.get(10, 15), BLACK);
        assert_eq!(out.get(10, 5), WHITE);
    }
}
