//! Synthetic scanned manuscript pages: parchment with uneven shading and grain, red four-line
//! staves, square neumes with stems and ligatures in brown-black ink, text-like letter strokes
//! under each staff, and speckles; edges are anti-aliased so the greys are realistic.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// An RGB page, row-major.
pub(crate) struct Page {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) pixels: Vec<[u8; 3]>,
}

const INK: [f32; 3] = [45.0, 35.0, 30.0];
const RED: [f32; 3] = [185.0, 45.0, 40.0];

struct Coverage {
    width: usize,
    height: usize,
    ink: Vec<f32>,
    red: Vec<f32>,
}

impl Coverage {
    /// Adds a stroke from (x0, y0) to (x1, y1) of half-width `r`.
    fn segment(&mut self, red: bool, (x0, y0): (f32, f32), (x1, y1): (f32, f32), r: f32) {
        let (minx, maxx) = (x0.min(x1) - r - 1.0, x0.max(x1) + r + 1.0);
        let (miny, maxy) = (y0.min(y1) - r - 1.0, y0.max(y1) + r + 1.0);
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len2 = (dx * dx + dy * dy).max(1e-6);
        for y in (miny.max(0.0) as usize)..(maxy.max(0.0) as usize).min(self.height) {
            for x in (minx.max(0.0) as usize)..(maxx.max(0.0) as usize).min(self.width) {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let t = (((px - x0) * dx + (py - y0) * dy) / len2).clamp(0.0, 1.0);
                let (cx, cy) = (x0 + t * dx, y0 + t * dy);
                let d = ((px - cx).powi(2) + (py - cy).powi(2)).sqrt();
                let c = (r + 0.5 - d).clamp(0.0, 1.0);
                let layer = if red { &mut self.red } else { &mut self.ink };
                let v = &mut layer[y * self.width + x];
                *v = v.max(c);
            }
        }
    }

    /// Adds a ring (a letter bowl) of radius `radius` and half-width `r`.
    fn ring(&mut self, (cx, cy): (f32, f32), radius: f32, r: f32) {
        let steps = 24;
        for i in 0..steps {
            let a0 = i as f32 / steps as f32 * std::f32::consts::TAU;
            let a1 = (i + 1) as f32 / steps as f32 * std::f32::consts::TAU;
            self.segment(
                false,
                (cx + radius * a0.cos(), cy + radius * a0.sin()),
                (cx + radius * a1.cos(), cy + radius * a1.sin()),
                r,
            );
        }
    }
}

/// A `width` × `height` page drawn from `seed`.
pub(crate) fn scanned_page(width: usize, height: usize, seed: u64) -> Page {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cov = Coverage {
        width,
        height,
        ink: vec![0.0; width * height],
        red: vec![0.0; width * height],
    };
    let (w, h) = (width as f32, height as f32);
    let staff_gap = (h / 7.0).max(40.0);
    let line_gap = (staff_gap / 9.0).max(4.0);
    let mut staff_top = staff_gap * 0.4;
    while staff_top + 4.0 * line_gap < h - 10.0 {
        let slope = rng.random_range(-0.01f32..0.01);
        let (x0, x1) = (w * 0.06, w * 0.94);
        for l in 0..4 {
            let y = staff_top + l as f32 * line_gap;
            cov.segment(true, (x0, y), (x1, y + slope * (x1 - x0)), 1.0);
        }
        // Neumes on the lines and spaces, some with stems, some joined in ligatures.
        let mut x = x0 + rng.random_range(5.0..20.0);
        while x < x1 - 20.0 {
            let step = rng.random_range(0..7) as f32;
            let y = staff_top - line_gap + step * line_gap / 2.0 + slope * (x - x0);
            let size = line_gap * 0.45;
            for k in 0..3 {
                let o = k as f32 - 1.0;
                cov.segment(
                    false,
                    (x, y + o * size / 2.0),
                    (x + size * 2.0, y + o * size / 2.0),
                    size / 3.0,
                );
            }
            match rng.random_range(0..4) {
                0 => cov.segment(false, (x + 0.5, y), (x + 0.5, y + line_gap * 2.5), 0.8),
                1 => {
                    let dy = rng.random_range(-2.0..2.0) * line_gap;
                    cov.segment(
                        false,
                        (x + size * 2.0, y),
                        (x + size * 5.0, y + dy),
                        size / 2.0,
                    );
                }
                _ => {}
            }
            x += rng.random_range(line_gap * 2.5..line_gap * 6.0);
        }
        // A line of text-like strokes under the staff.
        let base = staff_top + 4.0 * line_gap + staff_gap * 0.35;
        let mut x = x0;
        while x < x1 - 15.0 && base < h - 5.0 {
            let letters = rng.random_range(2..8);
            for _ in 0..letters {
                match rng.random_range(0..3) {
                    0 => cov.segment(false, (x, base - 12.0), (x, base), 1.0),
                    1 => cov.ring((x + 3.0, base - 4.0), 3.5, 0.9),
                    _ => {
                        cov.segment(false, (x, base - 8.0), (x, base), 1.0);
                        cov.segment(false, (x, base - 8.0), (x + 5.0, base - 6.0), 0.8);
                    }
                }
                x += rng.random_range(7.0..10.0);
            }
            x += rng.random_range(8.0..16.0);
        }
        staff_top += staff_gap;
    }
    // Speckles of one to a few pixels.
    for _ in 0..(width * height / 1500) {
        let (sx, sy) = (rng.random_range(0.0..w), rng.random_range(0.0..h));
        let r = rng.random_range(0.0f32..1.2);
        cov.segment(false, (sx, sy), (sx + rng.random_range(0.0..1.5), sy), r);
    }
    let phase = rng.random_range(0.0f32..6.0);
    let pixels = (0..width * height)
        .map(|i| {
            let (x, y) = ((i % width) as f32, (i / width) as f32);
            let shade = 14.0 * (x / 97.0 + phase).sin() + 10.0 * (y / 131.0).cos()
                - 25.0
                    * (-(((x - w * 0.7) / (w * 0.2)).powi(2)
                        + ((y - h * 0.3) / (h * 0.15)).powi(2)))
                    .exp();
            let grain = rng.random_range(-7.0f32..7.0);
            let bg = [228.0 + shade, 214.0 + shade, 182.0 + shade * 0.8];
            let (ci, cr) = (cov.ink[i], cov.red[i]);
            let mut c = [0.0f32; 3];
            for k in 0..3 {
                let v = bg[k] * (1.0 - cr) + RED[k] * cr;
                c[k] = v * (1.0 - ci) + INK[k] * ci + grain;
            }
            c.map(|v| v.round().clamp(0.0, 255.0) as u8)
        })
        .collect();
    Page {
        width,
        height,
        pixels,
    }
}
