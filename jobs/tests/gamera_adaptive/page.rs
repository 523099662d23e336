//! Synthetic scanned music pages for the adaptive threshold tests and benchmark: paper under
//! uneven light with a stain, staves, note heads and stems, lyric-like strokes (some faded), noise.

use image::GrayImage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A greyscale page of `width` x `height` drawn from `seed`; features scale with the height.
pub(crate) fn synthetic_page(width: u32, height: u32, seed: u64) -> GrayImage {
    let mut rng = StdRng::seed_from_u64(seed);
    let (w, h) = (width as usize, height as usize);
    let (fw, fh) = (width as f64, height as f64);
    let stain = (
        rng.random_range(0.2..0.8) * fw,
        rng.random_range(0.2..0.8) * fh,
    );
    let stain_radius = 0.15 * fw.min(fh);
    let mut page = Page {
        width: w,
        height: h,
        paper: vec![0.0; w * h],
        ink: vec![255.0; w * h],
    };
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f64 / fw, y as f64 / fh);
            let (dx, dy) = (x as f64 - stain.0, y as f64 - stain.1);
            let stain_depth = 45.0 * (-(dx * dx + dy * dy) / (stain_radius * stain_radius)).exp();
            page.paper[y * w + x] = 200.0 + 35.0 * fx - 60.0 * (fy - 0.4).powi(2) - stain_depth;
        }
    }

    let space = (fh / 100.0).max(3.0);
    let mut top = 2.0 * space;
    while top + 8.0 * space < fh {
        let slope = rng.random_range(-0.004..0.004);
        let ink = rng.random_range(30.0..70.0);
        for line in 0..5 {
            let y0 = top + line as f64 * space;
            let thickness = (space / 6.0).max(1.0);
            page.segment(
                (0.05 * fw, y0),
                (0.95 * fw, y0 + slope * 0.9 * fw),
                thickness,
                ink,
            );
        }
        let mut x = 0.08 * fw;
        while x < 0.92 * fw {
            let step = rng.random_range(0..9);
            let y = top + slope * (x - 0.05 * fw) + f64::from(step) * space / 2.0;
            let ink = rng.random_range(20.0..90.0);
            page.ellipse((x, y), 0.65 * space, 0.45 * space, ink);
            let stem = if step < 4 { 3.5 * space } else { -3.5 * space };
            page.segment((x + 0.6 * space, y), (x + 0.6 * space, y - stem), 1.5, ink);
            x += rng.random_range(1.5..4.0) * space;
        }
        // Lyrics under the staff: letter-sized strokes, a third of the words faded.
        let base = top + 6.5 * space;
        let mut x = 0.08 * fw;
        while x < 0.9 * fw {
            let ink = if rng.random_bool(0.33) { 120.0 } else { 45.0 };
            for _ in 0..rng.random_range(2..7) {
                let (x0, y0) = (x + rng.random_range(0.0..0.8) * space, base);
                let x1 = x0 + rng.random_range(-0.6..0.6) * space;
                page.segment((x0, y0), (x1, y0 - 1.2 * space), 1.2, ink);
                x += 0.9 * space;
            }
            x += 1.5 * space;
        }
        top += 10.0 * space;
    }

    let mut out = GrayImage::new(width, height);
    for (i, pixel) in out.iter_mut().enumerate() {
        let noise = rng.random_range(-10.0..10.0) + rng.random_range(-10.0..10.0);
        *pixel = (page.paper[i].min(page.ink[i]) + noise).clamp(0.0, 255.0) as u8;
    }
    out
}

/// The paper's brightness and the darkest ink over each pixel, antialiased by coverage.
struct Page {
    width: usize,
    height: usize,
    paper: Vec<f64>,
    ink: Vec<f64>,
}

impl Page {
    /// Inks pixels in the box around a shape, `distance(x, y)` from its edge (negative inside).
    fn shape(
        &mut self,
        lo: (f64, f64),
        hi: (f64, f64),
        ink: f64,
        distance: impl Fn(f64, f64) -> f64,
    ) {
        let clip = |v: f64, len: usize| (v.max(0.0) as usize).min(len);
        for y in clip(lo.1 - 1.0, self.height)..clip(hi.1 + 2.0, self.height) {
            for x in clip(lo.0 - 1.0, self.width)..clip(hi.0 + 2.0, self.width) {
                let coverage = (0.5 - distance(x as f64, y as f64)).clamp(0.0, 1.0);
                if coverage > 0.0 {
                    let i = y * self.width + x;
                    let inked = self.paper[i] * (1.0 - coverage) + ink * coverage;
                    self.ink[i] = self.ink[i].min(inked);
                }
            }
        }
    }

    fn segment(&mut self, a: (f64, f64), b: (f64, f64), thickness: f64, ink: f64) {
        let (lo, hi) = ((a.0.min(b.0), a.1.min(b.1)), (a.0.max(b.0), a.1.max(b.1)));
        let pad = thickness;
        let (vx, vy) = (b.0 - a.0, b.1 - a.1);
        let length2 = (vx * vx + vy * vy).max(1e-9);
        self.shape(
            (lo.0 - pad, lo.1 - pad),
            (hi.0 + pad, hi.1 + pad),
            ink,
            |x, y| {
                let t = (((x - a.0) * vx + (y - a.1) * vy) / length2).clamp(0.0, 1.0);
                let (px, py) = (a.0 + t * vx - x, a.1 + t * vy - y);
                (px * px + py * py).sqrt() - thickness / 2.0
            },
        );
    }

    fn ellipse(&mut self, c: (f64, f64), rx: f64, ry: f64, ink: f64) {
        self.shape((c.0 - rx, c.1 - ry), (c.0 + rx, c.1 + ry), ink, |x, y| {
            let (nx, ny) = ((x - c.0) / rx, (y - c.1) / ry);
            ((nx * nx + ny * ny).sqrt() - 1.0) * rx.min(ry)
        });
    }
}
