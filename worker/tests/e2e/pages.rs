//! Synthetic manuscript pages and the reference pipeline (greyscale -> Sauvola -> Despeckle run
//! directly through rodan-jobs) that the workers' outputs are compared with.

use rodan_jobs::{Inputs, Outputs};
use serde_json::Value;

/// The three jobs of the pipeline, in order: (job name, input port, output port, output type).
pub const PIPELINE: [(&str, &str, &str, &str); 3] = [
    (
        "Convert to greyscale PNG",
        "PNG image",
        "Greyscale PNG image",
        "image/greyscale+png",
    ),
    (
        "Sauvola Threshold",
        "Greyscale PNG image",
        "Onebit PNG image",
        "image/onebit+png",
    ),
    (
        "Despeckle",
        "Onebit PNG image",
        "Onebit PNG despeckled image",
        "image/onebit+png",
    ),
];

/// A small deterministic generator (xorshift64*), so every run sees the same pages.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u32) -> u32 {
        u32::try_from(self.next() % u64::from(n.max(1))).unwrap_or(0)
    }
}

/// An RGB PNG of a `size`×`size` page: parchment with a lighting gradient, water stains and
/// grain, lines of ink "words" (slanted strokes and bowls, some faded), and dark specks for
/// Despeckle to remove. Paper and ink overlap in brightness, so Sauvola's window matters.
pub fn page(seed: u64, size: u32) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut img = image::RgbImage::new(size, size);
    let stains: Vec<(i64, i64, i64)> = (0..3)
        .map(|_| {
            let r = i64::from(size / 8 + rng.below(size / 6));
            (i64::from(rng.below(size)), i64::from(rng.below(size)), r)
        })
        .collect();
    for (x, y, p) in img.enumerate_pixels_mut() {
        let shade = (x + y) * 70 / (2 * size);
        let (xi, yi) = (i64::from(x), i64::from(y));
        let stained = stains
            .iter()
            .any(|(sx, sy, r)| (xi - sx).pow(2) + (yi - sy).pow(2) < r * r);
        let stain = if stained { 45 } else { 0 };
        let grain = rng.below(24);
        let base = 225u32.saturating_sub(shade + stain) + grain;
        let c = |v: u32| u8::try_from(v.min(255)).unwrap_or(255);
        *p = image::Rgb([c(base + 8), c(base), c(base.saturating_sub(30))]);
    }
    let ink = |rng: &mut Rng| {
        let v = u8::try_from(30 + rng.below(110)).unwrap_or(50);
        image::Rgb([v + 20, v, v / 2])
    };
    let line_height = 22;
    let margin = size / 12;
    let mut y = margin + line_height;
    while y + line_height < size - margin {
        let mut x = margin;
        while x + 30 < size - margin {
            let letters = 2 + rng.below(6);
            for _ in 0..letters {
                let color = ink(&mut rng);
                let height = 8 + rng.below(8);
                let slant = i64::from(rng.below(5)) - 2;
                // A stroke two pixels wide, slanted.
                for dy in 0..height {
                    let off = slant * i64::from(dy) / 4;
                    for w in 0..2 {
                        put(&mut img, i64::from(x) + off + w, i64::from(y - dy), color);
                    }
                }
                if rng.below(2) == 0 {
                    // A bowl next to the stroke.
                    let r = 3 + rng.below(3);
                    for t in 0..48 {
                        let a = f64::from(t) * std::f64::consts::TAU / 48.0;
                        let px = f64::from(x + r + 2) + f64::from(r) * a.cos();
                        let py = f64::from(y - r) + f64::from(r) * a.sin();
                        put(&mut img, px as i64, py as i64, color);
                    }
                }
                x += 6 + rng.below(5);
            }
            x += 8 + rng.below(8);
        }
        y += line_height + rng.below(6);
    }
    for _ in 0..(size * size / 400) {
        let (sx, sy) = (rng.below(size), rng.below(size));
        let color = image::Rgb([20, 15, 10]);
        put(&mut img, i64::from(sx), i64::from(sy), color);
        if rng.below(3) == 0 {
            put(&mut img, i64::from(sx) + 1, i64::from(sy), color);
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("the page encodes as PNG");
    out.into_inner()
}

fn put(img: &mut image::RgbImage, x: i64, y: i64, color: image::Rgb<u8>) {
    if let (Ok(x), Ok(y)) = (u32::try_from(x), u32::try_from(y))
        && x < img.width()
        && y < img.height()
    {
        img.put_pixel(x, y, color);
    }
}

/// Runs the pipeline on `page` (PNG bytes) with each job's `settings`, directly through
/// rodan-jobs, and returns the three outputs' bytes in order.
pub fn reference(page: &[u8], settings: &[Value; 3]) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut input = dir.path().join("page.png");
    std::fs::write(&input, page).expect("the page is written");
    let mut input_type = "image/rgb+png";
    let mut outputs = Vec::new();
    for ((name, in_port, out_port, out_type), settings) in PIPELINE.iter().zip(settings) {
        let output = dir.path().join(format!("{}.png", outputs.len()));
        rodan_jobs::find(name)
            .unwrap_or_else(|| panic!("rodan-jobs has the job '{name}'"))
            .run(
                &Inputs::new().with(*in_port, &input, input_type),
                settings,
                &Outputs::new().with(*out_port, &output, *out_type),
            )
            .unwrap_or_else(|e| panic!("the reference '{name}' runs: {e}"));
        outputs.push(std::fs::read(&output).expect("the reference output exists"));
        input = output;
        input_type = out_type;
    }
    outputs
}

/// Decoded pixels: (width, height, colour type, bytes).
pub fn pixels(png: &[u8], what: &str) -> (u32, u32, image::ColorType, Vec<u8>) {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .unwrap_or_else(|e| panic!("{what} decodes as PNG: {e}"));
    (img.width(), img.height(), img.color(), img.into_bytes())
}

/// Black pixels of a decoded one-bit page (stored as 0 = black in PNG greyscale).
pub fn black(png: &[u8], what: &str) -> usize {
    pixels(png, what).3.iter().filter(|&&v| v == 0).count()
}

/// Writes `bytes` to `name` in a folder that outlives the case, for a failure's post-mortem,
/// and returns the path.
pub fn keep(name: &str, bytes: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("rodan-e2e-{}", std::process::id()));
    let path = dir.join(name.replace(' ', "-"));
    let _ = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, bytes));
    path.display().to_string()
}
