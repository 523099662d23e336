//! A page with layers for the tests, made from upstream's fixtures.
//!
//! Upstream's job fixtures hold the layers its pixel classifier separated from folio 068 of
//! MS 73 (`ms73-068_neume.png`, `ms73-068_text.png`: the page's own colours where the layer is,
//! white elsewhere) and that page's staff lines as Miyao Staff Finding draws them
//! (`ms73-068_miyao-staff-finder_png.png`, black on white). The test page puts them together:
//! neume pixels in their colours, then text pixels, then staff lines in a red-brown ink, on a
//! parchment colour with a fixed texture. Its layers are those pixel sets, as Pixel.js would
//! export them (the page's colour where the layer is, fully opaque; transparent elsewhere):
//! 1 music symbols, 2 staff lines, 3 text, and the background (everything else), as in DDMAL's
//! square-notation models.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::OnceLock;

use rodan_sae::Bgr;
use rodan_sae::train::Rgba;

pub fn shared_dir() -> PathBuf {
    std::env::var_os("RODAN_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

fn fixture(name: &str) -> PathBuf {
    shared_dir().join("fixtures/upstream-jobs/files").join(name)
}

struct Sources {
    neume: image::RgbImage,
    text: image::RgbImage,
    staff: image::GrayImage,
}

fn sources() -> &'static Sources {
    static S: OnceLock<Sources> = OnceLock::new();
    S.get_or_init(|| {
        let open = |name: &str| {
            image::open(fixture(name))
                .unwrap_or_else(|e| panic!("{name} (set RODAN_SHARED_DIR): {e}"))
        };
        let neume = open("ms73-068_neume.png").to_rgb8();
        Sources {
            text: open("ms73-068_text.png").to_rgb8(),
            staff: open("ms73-068_miyao-staff-finder_png.png").to_luma8(),
            neume,
        }
    })
}

/// The layer each pixel belongs to: 0 background, 1 music symbols, 2 staff lines, 3 text.
pub const LABELS: usize = 4;

/// The page cut at `(top, left)`, `height × width`: its BGR image, its layers (background
/// first) and each pixel's label.
pub fn page(top: usize, left: usize, height: usize, width: usize) -> (Bgr, Vec<Rgba>, Vec<u8>) {
    let s = sources();
    let mut bgr = Vec::with_capacity(height * width * 3);
    let mut labels = Vec::with_capacity(height * width);
    let mut layers: Vec<Rgba> = (0..LABELS)
        .map(|_| Rgba {
            height,
            width,
            data: vec![0; height * width * 4],
        })
        .collect();
    for y in 0..height {
        for x in 0..width {
            let (py, px) = ((top + y) as u32, (left + x) as u32);
            let n = s.neume.get_pixel(px, py).0;
            let t = s.text.get_pixel(px, py).0;
            let dark = |c: [u8; 3]| c.iter().copied().min().unwrap_or(255) < 200;
            let (label, rgb) = if dark(n) {
                (1, n)
            } else if dark(t) {
                (3, t)
            } else if s.staff.get_pixel(px, py).0[0] < 128 {
                (2, [170, 70, 60])
            } else {
                // Parchment with a fixed texture of ±10.
                let v = ((py.wrapping_mul(7919) ^ px.wrapping_mul(104_729)) % 21) as i16 - 10;
                let c = |base: i16| (base + v).clamp(0, 255) as u8;
                (0, [c(230), c(215), c(190)])
            };
            bgr.extend_from_slice(&[rgb[2], rgb[1], rgb[0]]);
            labels.push(label as u8);
            let i = (y * width + x) * 4;
            layers[label].data[i..i + 4].copy_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
        }
    }
    (
        Bgr {
            height,
            width,
            data: bgr,
        },
        layers,
        labels,
    )
}

/// A selected-regions layer covering the whole page.
pub fn everything(height: usize, width: usize) -> Rgba {
    Rgba {
        height,
        width,
        data: [0, 0, 0, 255].repeat(height * width),
    }
}

/// Writes a BGR page as an RGB PNG.
pub fn save_png(page: &Bgr, path: &std::path::Path) {
    let rgb: Vec<u8> = page
        .data
        .chunks(3)
        .flat_map(|p| [p[2], p[1], p[0]])
        .collect();
    image::RgbImage::from_raw(page.width as u32, page.height as u32, rgb)
        .expect("the buffer is the page's size")
        .save(path)
        .expect("the PNG is written");
}
