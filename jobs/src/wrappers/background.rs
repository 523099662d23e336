//! The GPU queue's background removal:
//! - 'SAE Binarization' (upstream `SAE_binarization/SAE_binarization.py`, on
//!   DDMAL/SAE_binarization's `run_binarize`): the page in black ink on white, as the REDNet
//!   upstream ships sees it ([`rodan_sae::binarize`]);
//! - 'Background Removal' (upstream `background_removal/BgRemovalRodan.py`, on
//!   DDMAL/background-removal): the page's own pixels where there is ink, transparent
//!   elsewhere, the ink found by scikit-image's Sauvola threshold on a contrast-stretched grey
//!   or by the same REDNet.
//!
//! Both write RGBA PNGs, as their ports say (`image/rgba+png`). Upstream's 'SAE Binarization'
//! wrote a greyscale PNG under that type; here the same black and white pixels are written
//! opaque in RGBA. Pages are read as OpenCV reads them ([`crate::opencv`]); a 16-bit page is
//! taken at its high byte, which upstream's binarization did not do (it fed the network
//! values up to 65535).

use std::path::Path;

use rodan_core::catalogue::JobDescriptor;
use rodan_sae::Grey;
use serde_json::{Value, json};

use crate::descriptor::{Spec, describe, image_types, port};
use crate::job::{Inputs, Job, JobError, Outputs};
use crate::opencv::{AnyMat, Mat, ReadMode, imread, imwrite};
use crate::settings::Settings;

const RGBA: &[&str] = &["image/rgba+png"];
const AUTHOR: &str = "Wanyi Lin and Khoi Nguyen";

/// An 8-bit RGBA page, rows top to bottom.
struct Rgba {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

/// The page at `path` as `cv2.imread(path, cv2.IMREAD_UNCHANGED)` reads it, in RGBA: grey
/// repeated into red, green and blue, opaque where the file has no alpha, 16-bit samples cut to
/// their high byte.
fn read_unchanged(path: &Path) -> Result<Rgba, JobError> {
    let mat = imread(path, ReadMode::Unchanged)?;
    let (width, height, channels) = mat.shape();
    let samples: Vec<u8> = match mat {
        AnyMat::U8(m) => m.data().to_vec(),
        AnyMat::U16(m) => m.data().iter().map(|&v| (v >> 8) as u8).collect(),
    };
    let data = match channels {
        1 => samples.iter().flat_map(|&v| [v, v, v, 255]).collect(),
        3 => samples
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        4 => samples,
        n => {
            return Err(JobError::bad_input(
                "the page has an unusual number of channels",
                format!("{} has {n} channels per pixel", path.display()),
            ));
        }
    };
    Ok(Rgba {
        width,
        height,
        data,
    })
}

/// The grey page upstream's binarization gives the network: transparent pixels (alpha 0)
/// take the average colour of the others (each channel's mean, truncated), then OpenCV's
/// `COLOR_BGR2GRAY` (0.299 R + 0.587 G + 0.114 B in its 14-bit fixed point, rounded).
fn binarization_grey(page: &Rgba) -> Grey {
    let opaque: Vec<&[u8]> = page.data.chunks_exact(4).filter(|p| p[3] > 0).collect();
    let fill = if opaque.is_empty() || opaque.len() == page.width * page.height {
        None
    } else {
        let mut sums = [0u64; 3];
        for p in &opaque {
            for (s, &v) in sums.iter_mut().zip(p.iter()) {
                *s += u64::from(v);
            }
        }
        let n = opaque.len() as f64;
        Some(sums.map(|s| (s as f64 / n) as u8))
    };
    let data = page
        .data
        .chunks_exact(4)
        .map(|p| {
            let [r, g, b] = match fill {
                Some(avg) if p[3] == 0 => avg,
                _ => [p[0], p[1], p[2]],
            };
            rodan_sae::binarize::opencv_grey([b, g, r])
        })
        .collect();
    Grey {
        height: page.height,
        width: page.width,
        data,
    }
}

/// Where the REDNet finds ink on `page`.
fn sae_ink(page: &Rgba) -> Result<Vec<bool>, JobError> {
    let model =
        rodan_sae::binarization_model().map_err(|e| JobError::write(&std::env::temp_dir(), e))?;
    rodan_sae::binarize(&binarization_grey(page), &model).map_err(super::sae_error(
        "the page cannot be binarized",
        "the binarization model cannot be run",
    ))
}

fn write_rgba(path: &Path, width: usize, height: usize, data: Vec<u8>) -> Result<(), JobError> {
    let mat = Mat::new(width, height, 4, data).expect("the buffer is the page's size");
    imwrite(path, &AnyMat::U8(mat))
}

/// `page`'s pixels where `ink`, transparent black elsewhere: upstream's `original * mask`.
fn keep_ink(page: &Rgba, ink: &[bool]) -> Vec<u8> {
    page.data
        .chunks_exact(4)
        .zip(ink)
        .flat_map(|(p, &i)| if i { [p[0], p[1], p[2], p[3]] } else { [0; 4] })
        .collect()
}

/// 'SAE Binarization'.
#[derive(Debug, Clone, Copy, Default)]
pub struct SaeBinarization;

impl Job for SaeBinarization {
    fn name(&self) -> &'static str {
        "SAE Binarization"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: AUTHOR,
                description: "Uses Neural Network Model to perform background removal",
                category: "SAE Binarization - remove image background",
            },
            json!({"job_queue": "GPU"}),
            vec![port("Image", 1, 1, &image_types())],
            vec![port("RGB PNG image", 1, 1, RGBA)],
        )
    }

    fn run(&self, inputs: &Inputs, _settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let page = read_unchanged(&inputs.first("Image")?.path)?;
        let ink = sae_ink(&page)?;
        let data = ink
            .iter()
            .flat_map(|&i| {
                if i {
                    [0, 0, 0, 255]
                } else {
                    [255, 255, 255, 255]
                }
            })
            .collect();
        write_rgba(
            &outputs.first("RGB PNG image")?.path,
            page.width,
            page.height,
            data,
        )
    }
}

/// 'Background Removal'.
#[derive(Debug, Clone, Copy, Default)]
pub struct BackgroundRemoval;

const METHOD: &str = "Background Removal Method";

fn removal_schema() -> Value {
    json!({
        "title": "Remove Background",
        "type": "object",
        "job_queue": "GPU",
        "properties": {
            METHOD: {
                "enum": ["Sauvola Algorithm", "SAE Binarization Model"],
                "default": "Sauvola Algorithm",
                "description": "Choose one method for background removal"
            },
            "window_size": {"type": "integer", "minimum": 1, "default": 15},
            "k": {"type": "number", "minimum": 0.0, "default": 0.2},
            "contrast": {"type": "number", "default": 127.0},
            "brightness": {"type": "number", "default": 0.0}
        }
    })
}

/// The largest Sauvola window accepted: beyond it the window is the whole of any page.
const MAX_WINDOW: i64 = 4095;

impl Job for BackgroundRemoval {
    fn name(&self) -> &'static str {
        "Background Removal"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: AUTHOR,
                description: "Use Sauvola threshold to remove background",
                category: "Background removal - remove image background",
            },
            removal_schema(),
            vec![port("Image", 1, 1, &image_types())],
            vec![
                port("RGBA PNG image", 1, 1, RGBA),
                port("Empty Layer", 0, 1, RGBA),
            ],
        )
    }

    /// Upstream wrote the empty layer only after the Sauvola method (its SAE branch failed on
    /// it); here it is written after either.
    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let schema = removal_schema();
        let s = Settings::new(&schema, settings)?;
        let method = s.enum_index(METHOD)?;
        let window = s.integer("window_size")?;
        if window % 2 == 0 || window > MAX_WINDOW {
            return Err(JobError::bad_settings(
                "window_size must be odd and at most 4095",
                format!(
                    "window_size is {window}; Sauvola's window is centred on each pixel, so \
                     its size is odd (1, 3, 5 … {MAX_WINDOW})"
                ),
            ));
        }
        let k = s.number("k")?;
        let contrast = s.number("contrast")?;
        let brightness = s.number("brightness")?;
        let path = &inputs.first("Image")?.path;
        let (page, ink) = if method == 0 {
            let page = read_colour(path)?;
            let grey = sauvola::stretched_grey(&page.data, contrast, brightness);
            let ink = sauvola::ink(&grey, page.width, page.height, window as usize, k);
            (page, ink)
        } else {
            let page = read_unchanged(path)?;
            let ink = sae_ink(&page)?;
            (page, ink)
        };
        write_rgba(
            &outputs.first("RGBA PNG image")?.path,
            page.width,
            page.height,
            keep_ink(&page, &ink),
        )?;
        if let Ok(empty) = outputs.first("Empty Layer") {
            write_rgba(
                &empty.path,
                page.width,
                page.height,
                vec![0; page.width * page.height * 4],
            )?;
        }
        Ok(())
    }
}

/// The page as upstream's Sauvola method loads it: `cv2.imread(path, cv2.IMREAD_COLOR)`, then
/// opaque (`COLOR_BGR2BGRA`).
fn read_colour(path: &Path) -> Result<Rgba, JobError> {
    let AnyMat::U8(m) = imread(path, ReadMode::Color)? else {
        unreachable!("IMREAD_COLOR gives 8-bit samples")
    };
    Ok(Rgba {
        width: m.width(),
        height: m.height(),
        data: m
            .data()
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
    })
}

/// Upstream's Sauvola method, on scikit-image's `threshold_sauvola`.
pub mod sauvola {
    /// The grey upstream thresholds: scikit-image's `rgb2gray` (0.2125, 0.7154, 0.0721 on
    /// samples scaled by 1/255) truncated to 8 bits, then stretched as its
    /// `contrast_and_brightness`: `v · (contrast / 127 + 1) − contrast + brightness`, clipped to
    /// 0…255 and truncated.
    ///
    /// Upstream hands `rgb2gray` OpenCV's BGR samples, so its weights fall on blue, green and
    /// red in that order; so do they here. (numpy computes `rgb2gray`'s sum with BLAS, whose
    /// rounding depends on the CPU and even on a pixel's place in the array; here the three
    /// products are summed left to right, which numpy's own arithmetic also gives.)
    pub fn stretched_grey(rgba: &[u8], contrast: f64, brightness: f64) -> Vec<u8> {
        let factor = contrast / 127.0 + 1.0;
        let scale = 1.0 / 255.0;
        rgba.chunks_exact(4)
            .map(|p| {
                let (b, g, r) = (
                    f64::from(p[2]) * scale,
                    f64::from(p[1]) * scale,
                    f64::from(p[0]) * scale,
                );
                let grey = b * 0.2125 + g * 0.7154 + r * 0.0721;
                let v = f64::from((grey * 255.0) as u8);
                (v * factor - contrast + brightness).clamp(0.0, 255.0) as u8
            })
            .collect()
    }

    /// numpy's `reflect` padding: the index of the pixel that position `i` (which may lie
    /// outside `0..n`) mirrors, the edge pixel not repeated.
    fn reflect(i: isize, n: usize) -> usize {
        if n == 1 {
            return 0;
        }
        let period = 2 * (n as isize - 1);
        let j = i.rem_euclid(period);
        if j >= n as isize {
            (period - j) as usize
        } else {
            j as usize
        }
    }

    /// Where `grey` is below scikit-image's Sauvola threshold for an odd `window` and `k`
    /// (its `r`, half the range of 8-bit samples, is 127.5): `m · (1 + k · (s / r − 1))`, `m`
    /// and `s` the mean and standard deviation of the window around each pixel, the page
    /// mirrored at its edges. Sums are exact (integral images in integers), so the threshold
    /// is computed as scikit-image's float64 arithmetic computes it.
    pub fn ink(grey: &[u8], width: usize, height: usize, window: usize, k: f64) -> Vec<bool> {
        let half = window / 2;
        // The padded page: `half + 1` rows and columns before, `half` after, so that the
        // inclusive integral image gives each window as four corners.
        let (pw, ph) = (width + window, height + window);
        let mut sum = vec![0u64; pw * ph];
        let mut sq = vec![0u64; pw * ph];
        for y in 0..ph {
            let sy = reflect(y as isize - half as isize - 1, height);
            let mut row_sum = 0u64;
            let mut row_sq = 0u64;
            for x in 0..pw {
                let sx = reflect(x as isize - half as isize - 1, width);
                let v = u64::from(grey[sy * width + sx]);
                row_sum += v;
                row_sq += v * v;
                let above = if y > 0 { (y - 1) * pw + x } else { usize::MAX };
                sum[y * pw + x] = row_sum + if y > 0 { sum[above] } else { 0 };
                sq[y * pw + x] = row_sq + if y > 0 { sq[above] } else { 0 };
            }
        }
        let area = (window * window) as f64;
        let r = 127.5;
        let mut out = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                let corner = |table: &[u64]| {
                    let (a, b) = (y * pw + x, y * pw + x + window);
                    let (c, d) = ((y + window) * pw + x, (y + window) * pw + x + window);
                    // Exact: every sum is an integer far below 2^53.
                    (table[a] as f64 - table[b] as f64 - table[c] as f64) + table[d] as f64
                };
                let m = corner(&sum) / area;
                let g2 = corner(&sq) / area;
                let s = (g2 - m * m).max(0.0).sqrt();
                let threshold = m * (1.0 + k * ((s / r) - 1.0));
                out.push(f64::from(grey[y * width + x]) < threshold);
            }
        }
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn reflection_mirrors_without_repeating_the_edge() {
            let n = 4;
            let got: Vec<usize> = (-5..9).map(|i| reflect(i, n)).collect();
            // numpy.pad([0, 1, 2, 3], 5, mode='reflect')
            assert_eq!(got, vec![1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2]);
            assert_eq!(reflect(-3, 1), 0);
        }

        #[test]
        fn a_dark_stroke_on_light_paper_is_ink_and_the_paper_is_not() {
            let (w, h) = (40, 30);
            let mut grey = vec![220u8; w * h];
            for y in 10..20 {
                grey[y * w + 20] = 30;
                grey[y * w + 21] = 30;
            }
            let ink = ink(&grey, w, h, 15, 0.2);
            assert!(ink[15 * w + 20] && ink[15 * w + 21]);
            assert_eq!(ink.iter().filter(|&&i| i).count(), 20);
        }

        #[test]
        fn contrast_stretches_about_the_middle_and_clips() {
            // White stays white; 64 goes to 1 with the default contrast of 127.
            let g = stretched_grey(&[255, 255, 255, 255, 64, 64, 64, 255], 127.0, 0.0);
            assert_eq!(g, vec![255, 1]);
        }
    }
}
