//! The Pillow operations upstream's PIL jobs use, re-implemented to give Pillow's pixels: opening
//! an image in Pillow's mode, `convert("RGB")`, pasting RGBA on white, resizing, and the red
//! filter's point, enhance and blend steps.

pub mod draw;
pub mod filter;
pub mod resample;

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use crate::gamera::png::encode_png;
use crate::gamera::{Image, Plane, Rgb};
use crate::job::JobError;

/// An image in one of the Pillow modes the jobs meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PilImage {
    /// `1`: 0 black, 255 white.
    One(Plane<u8>),
    /// `L`.
    L(Plane<u8>),
    /// `LA`.
    La(Plane<[u8; 2]>),
    /// `P`: palette indices, the palette, and the PNG's `tRNS` alphas if it had some.
    P {
        /// Palette indices.
        indices: Plane<u8>,
        /// The colours.
        palette: Vec<Rgb>,
        /// Alpha of the first palette entries (`tRNS`).
        transparency: Option<Vec<u8>>,
    },
    /// `I;16` (16-bit grey).
    I16(Plane<u16>),
    /// `RGB`.
    Rgb(Plane<Rgb>),
    /// `RGBA`.
    Rgba(Plane<[u8; 4]>),
}

impl PilImage {
    /// (width, height).
    pub fn size(&self) -> (usize, usize) {
        match self {
            Self::One(p) | Self::L(p) => (p.width(), p.height()),
            Self::La(p) => (p.width(), p.height()),
            Self::P { indices: p, .. } => (p.width(), p.height()),
            Self::Rgb(p) => (p.width(), p.height()),
            Self::I16(p) => (p.width(), p.height()),
            Self::Rgba(p) => (p.width(), p.height()),
        }
    }
}

fn make_plane<P: Copy>(
    path: &Path,
    w: usize,
    h: usize,
    data: Vec<P>,
) -> Result<Plane<P>, JobError> {
    Plane::from_vec(w, h, data).ok_or_else(|| bad_image(path, "truncated image data"))
}

fn bad_image(path: &Path, e: impl std::fmt::Display) -> JobError {
    JobError::bad_input(
        "the input is not an image Pillow can open",
        format!("{}: {e}", path.display()),
    )
}

/// Opens `path` as `PIL.Image.open` would, in Pillow's mode. PNGs are read with their exact
/// colour type and bit depth; other formats (JPEG, TIFF) through the `image` crate.
pub fn open(path: &Path) -> Result<PilImage, JobError> {
    // No image of the allowed size needs more than 8 bytes a pixel (16-bit RGBA, uncompressed).
    let len = std::fs::metadata(path)
        .map_err(|e| JobError::read(path, e))?
        .len();
    let most = crate::limits::get()
        .max_pixels
        .saturating_mul(8)
        .saturating_add(1 << 20);
    if len > most {
        return Err(JobError::bad_input(
            format!("the image file is too large: {len} bytes"),
            format!(
                "the image file has {len} bytes, more than an image of this worker's pixel limit needs ({most} bytes)"
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| JobError::read(path, e))?;
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return open_png(path);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF])
        && let Some(image) = open_jpeg(path, &bytes)?
    {
        return Ok(image);
    }
    // The declared size first, from the header alone.
    let (w, h) = image::ImageReader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|e| JobError::read(path, e))?
        .into_dimensions()
        .map_err(|e| bad_image(path, e))?;
    crate::limits::check_pixels(u64::from(w), u64::from(h))?;
    let image = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| JobError::read(path, e))?;
    let mut image = image;
    image.no_limits();
    let decoded = image.decode().map_err(|e| bad_image(path, e))?;
    let (w, h) = (decoded.width() as usize, decoded.height() as usize);
    use image::DynamicImage as D;
    Ok(match decoded {
        D::ImageLuma8(i) => PilImage::L(make_plane(path, w, h, i.into_raw())?),
        D::ImageLumaA8(i) => PilImage::La(make_plane(
            path,
            w,
            h,
            i.into_raw().chunks_exact(2).map(|c| [c[0], c[1]]).collect(),
        )?),
        D::ImageLuma16(i) => PilImage::I16(make_plane(path, w, h, i.into_raw())?),
        D::ImageRgba8(i) => PilImage::Rgba(make_plane(
            path,
            w,
            h,
            i.into_raw()
                .chunks_exact(4)
                .map(|c| [c[0], c[1], c[2], c[3]])
                .collect(),
        )?),
        D::ImageLumaA16(i) => PilImage::La(make_plane(
            path,
            w,
            h,
            i.into_raw()
                .chunks_exact(2)
                .map(|c| [high(c[0]), high(c[1])])
                .collect(),
        )?),
        D::ImageRgba16(i) => PilImage::Rgba(make_plane(
            path,
            w,
            h,
            i.into_raw()
                .chunks_exact(4)
                .map(|c| [high(c[0]), high(c[1]), high(c[2]), high(c[3])])
                .collect(),
        )?),
        other => PilImage::Rgb(make_plane(
            path,
            w,
            h,
            other
                .to_rgb8()
                .into_raw()
                .chunks_exact(3)
                .map(|c| [c[0], c[1], c[2]])
                .collect(),
        )?),
    })
}

/// Decodes a grey or colour JPEG with libjpeg-turbo's decoder (through mozjpeg, whose decoder
/// is libjpeg-turbo's), as Pillow does: same integer IDCT, same fancy upsampling, same colour
/// conversion, so the same pixels. `None` for CMYK / YCCK, which libjpeg cannot turn into RGB.
fn open_jpeg(path: &Path, bytes: &[u8]) -> Result<Option<PilImage>, JobError> {
    // libjpeg reports errors by unwinding through the decoder.
    type Decoded = Option<(usize, usize, JpegPixels)>;
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> std::io::Result<Decoded> {
            let d = mozjpeg::Decompress::new_mem(bytes)?;
            let (w, h) = (d.width(), d.height());
            if crate::limits::check_pixels(w as u64, h as u64).is_err() {
                return Ok(Some((w, h, JpegPixels::TooLarge)));
            }
            match d.color_space() {
                mozjpeg::ColorSpace::JCS_GRAYSCALE => {
                    let mut started = d.grayscale()?;
                    let pixels: Vec<u8> = started.read_scanlines()?;
                    started.finish()?;
                    Ok(Some((w, h, JpegPixels::Grey(pixels))))
                }
                mozjpeg::ColorSpace::JCS_CMYK | mozjpeg::ColorSpace::JCS_YCCK => Ok(None),
                _ => {
                    let mut started = d.rgb()?;
                    let pixels: Vec<[u8; 3]> = started.read_scanlines()?;
                    started.finish()?;
                    Ok(Some((w, h, JpegPixels::Rgb(pixels))))
                }
            }
        },
    ));
    match decoded {
        Ok(Ok(Some((w, h, JpegPixels::Grey(p))))) => {
            Ok(Some(PilImage::L(make_plane(path, w, h, p)?)))
        }
        Ok(Ok(Some((w, h, JpegPixels::Rgb(p))))) => {
            Ok(Some(PilImage::Rgb(make_plane(path, w, h, p)?)))
        }
        Ok(Ok(Some((w, h, JpegPixels::TooLarge)))) => {
            crate::limits::check_pixels(w as u64, h as u64)?;
            Err(bad_image(path, "the JPEG is too large"))
        }
        Ok(Ok(None)) => Ok(None),
        Ok(Err(e)) => Err(bad_image(path, e)),
        Err(_) => Err(bad_image(path, "libjpeg could not decode the JPEG")),
    }
}

enum JpegPixels {
    Grey(Vec<u8>),
    Rgb(Vec<[u8; 3]>),
    /// Over the pixel bound; not decoded.
    TooLarge,
}

/// Pillow reads 16-bit samples of RGB(A) and LA images by their most significant byte.
fn high(v: u16) -> u8 {
    (v >> 8) as u8
}

fn open_png(path: &Path) -> Result<PilImage, JobError> {
    let file = File::open(path).map_err(|e| JobError::read(path, e))?;
    let mut decoder =
        png::Decoder::new_with_limits(BufReader::new(file), png::Limits { bytes: usize::MAX });
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().map_err(|e| bad_image(path, e))?;
    crate::limits::check_pixels(
        u64::from(reader.info().width),
        u64::from(reader.info().height),
    )?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| bad_image(path, "too large"))?;
    let mut buf = vec![0; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| bad_image(path, e))?;
    let (w, h) = (frame.width as usize, frame.height as usize);
    let depth = frame.bit_depth as usize;
    let rows: Vec<&[u8]> = buf[..frame.buffer_size()]
        .chunks_exact(frame.line_size.max(1))
        .collect();
    // Sample `x` of a row at `depth` bits, for depths under 8.
    let sample = |row: &[u8], x: usize| -> u8 {
        let bit = x * depth;
        (row[bit / 8] >> (8 - depth - bit % 8)) & ((1u8 << depth) - 1)
    };
    let wide = depth == 16;
    // The 8-bit value of channel `c` of pixel `x` for `n`-channel 8- or 16-bit rows.
    let byte = |row: &[u8], x: usize, n: usize, c: usize| -> u8 {
        if wide {
            row[(x * n + c) * 2]
        } else {
            row[x * n + c]
        }
    };
    let mut pixels = Vec::with_capacity(w * h);
    use png::ColorType as C;
    Ok(match (frame.color_type, depth) {
        (C::Grayscale, 1) => {
            for row in &rows {
                pixels.extend((0..w).map(|x| sample(row, x) * 255));
            }
            PilImage::One(make_plane(path, w, h, pixels)?)
        }
        (C::Grayscale, 2 | 4) => {
            let scale = 255 / ((1u8 << depth) - 1);
            for row in &rows {
                pixels.extend((0..w).map(|x| sample(row, x) * scale));
            }
            PilImage::L(make_plane(path, w, h, pixels)?)
        }
        (C::Grayscale, 8) => {
            for row in &rows {
                pixels.extend_from_slice(&row[..w]);
            }
            PilImage::L(make_plane(path, w, h, pixels)?)
        }
        (C::Grayscale, 16) => {
            let mut wide_pixels = Vec::with_capacity(w * h);
            for row in &rows {
                wide_pixels.extend(
                    row.chunks_exact(2)
                        .take(w)
                        .map(|b| u16::from_be_bytes([b[0], b[1]])),
                );
            }
            PilImage::I16(make_plane(path, w, h, wide_pixels)?)
        }
        (C::GrayscaleAlpha, _) => {
            let mut la = Vec::with_capacity(w * h);
            for row in &rows {
                la.extend((0..w).map(|x| [byte(row, x, 2, 0), byte(row, x, 2, 1)]));
            }
            PilImage::La(make_plane(path, w, h, la)?)
        }
        (C::Rgb, _) => {
            let mut rgb = Vec::with_capacity(w * h);
            for row in &rows {
                rgb.extend((0..w).map(|x| [0, 1, 2].map(|c| byte(row, x, 3, c))));
            }
            PilImage::Rgb(make_plane(path, w, h, rgb)?)
        }
        (C::Rgba, _) => {
            let mut rgba = Vec::with_capacity(w * h);
            for row in &rows {
                rgba.extend((0..w).map(|x| [0, 1, 2, 3].map(|c| byte(row, x, 4, c))));
            }
            PilImage::Rgba(make_plane(path, w, h, rgba)?)
        }
        (C::Indexed, _) => {
            let info = reader.info();
            let palette: Vec<Rgb> = info
                .palette
                .as_deref()
                .unwrap_or(&[])
                .chunks_exact(3)
                .map(|c| [c[0], c[1], c[2]])
                .collect();
            let transparency = info.trns.as_deref().map(<[u8]>::to_vec);
            for row in &rows {
                pixels.extend((0..w).map(|x| if depth == 8 { row[x] } else { sample(row, x) }));
            }
            PilImage::P {
                indices: make_plane(path, w, h, pixels)?,
                palette,
                transparency,
            }
        }
        (other, d) => {
            return Err(bad_image(
                path,
                format!("unsupported PNG type {other:?}/{d}"),
            ));
        }
    })
}

/// Pillow's `image.convert("RGB")`: grey replicated, `I;16` clipped to 255, alpha dropped,
/// palettes looked up.
pub fn to_rgb(image: &PilImage) -> Plane<Rgb> {
    match image {
        PilImage::One(p) | PilImage::L(p) => p.map(|v| [v; 3]),
        PilImage::La(p) => p.map(|[l, _]| [l; 3]),
        PilImage::I16(p) => p.map(|v| [v.min(255) as u8; 3]),
        PilImage::P {
            indices, palette, ..
        } => indices.map(|i| palette.get(usize::from(i)).copied().unwrap_or([0, 0, 0])),
        PilImage::Rgb(p) => p.clone(),
        PilImage::Rgba(p) => p.map(|[r, g, b, _]| [r, g, b]),
    }
}

/// Pillow's `DIV255`: `v / 255` rounded, in integers.
#[inline]
pub fn div255(v: u32) -> u32 {
    let t = v + 128;
    ((t >> 8) + t) >> 8
}

/// Upstream 'PNG (RGB)': RGBA images pasted on white through their alpha (Pillow's
/// `paste(image, mask=alpha)`), every other mode converted to RGB.
pub fn flatten_on_white(image: &PilImage) -> Plane<Rgb> {
    match image {
        PilImage::Rgba(p) => p.map(|[r, g, b, a]| {
            let a = u32::from(a);
            [r, g, b].map(|c| div255(255 * (255 - a) + u32::from(c) * a) as u8)
        }),
        other => to_rgb(other),
    }
}

/// Saves a Pillow image as a PNG of its mode (`1` as 1-bit, `I;16` as 16-bit grey).
pub fn save_png(image: &PilImage, path: &Path) -> Result<(), JobError> {
    let file = File::create(path).map_err(|e| JobError::write(path, e))?;
    let mut out = BufWriter::new(file);
    let result = match image {
        PilImage::One(p) => encode_png(&Image::OneBit(p.map(|v| u8::from(v < 128))), &mut out),
        PilImage::L(p) => encode_png(&Image::GreyScale(p.clone()), &mut out),
        PilImage::Rgb(p) => encode_png(&Image::Rgb(p.clone()), &mut out),
        PilImage::P {
            indices,
            palette,
            transparency,
        } => encode_palette(&mut out, indices, palette, transparency.as_deref()),
        PilImage::I16(p) => encode_raw(
            &mut out,
            p.width(),
            p.height(),
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            &p.pixels()
                .iter()
                .flat_map(|v| v.to_be_bytes())
                .collect::<Vec<_>>(),
        ),
        PilImage::La(p) => encode_raw(
            &mut out,
            p.width(),
            p.height(),
            png::ColorType::GrayscaleAlpha,
            png::BitDepth::Eight,
            &p.pixels().concat(),
        ),
        PilImage::Rgba(p) => encode_raw(
            &mut out,
            p.width(),
            p.height(),
            png::ColorType::Rgba,
            png::BitDepth::Eight,
            &p.pixels().concat(),
        ),
    };
    result.map_err(|e| match e {
        png::EncodingError::IoError(io) => JobError::write(path, io),
        other => JobError::write(path, std::io::Error::other(other)),
    })?;
    out.flush().map_err(|e| JobError::write(path, e))
}

fn encode_raw<W: Write>(
    w: W,
    width: usize,
    height: usize,
    color: png::ColorType,
    depth: png::BitDepth,
    data: &[u8],
) -> Result<(), png::EncodingError> {
    let too_large = || png::EncodingError::IoError(std::io::Error::other("image too large"));
    let mut e = png::Encoder::new(
        w,
        u32::try_from(width).map_err(|_| too_large())?,
        u32::try_from(height).map_err(|_| too_large())?,
    );
    e.set_color(color);
    e.set_depth(depth);
    let mut writer = e.write_header()?;
    writer.write_image_data(data)?;
    writer.finish()
}

/// A palette PNG with the palette and `tRNS` alphas, as Pillow writes a `P` image.
fn encode_palette<W: Write>(
    w: W,
    indices: &Plane<u8>,
    palette: &[Rgb],
    transparency: Option<&[u8]>,
) -> Result<(), png::EncodingError> {
    let too_large = || png::EncodingError::IoError(std::io::Error::other("image too large"));
    let mut e = png::Encoder::new(
        w,
        u32::try_from(indices.width()).map_err(|_| too_large())?,
        u32::try_from(indices.height()).map_err(|_| too_large())?,
    );
    e.set_color(png::ColorType::Indexed);
    e.set_depth(png::BitDepth::Eight);
    // Indices past the palette read as black, as libpng does.
    let used = indices
        .pixels()
        .iter()
        .max()
        .map_or(0, |&m| usize::from(m) + 1);
    let mut colours = palette.to_vec();
    colours.resize(colours.len().max(used).max(1), [0, 0, 0]);
    e.set_palette(colours.concat());
    if let Some(alphas) = transparency.filter(|a| !a.is_empty()) {
        e.set_trns(alphas.to_vec());
    }
    let mut writer = e.write_header()?;
    writer.write_image_data(indices.pixels())?;
    writer.finish()
}

/// Saves RGB pixels as an uncompressed TIFF, as Pillow's `save(path, "TIFF")`.
pub fn save_tiff(image: &Plane<Rgb>, path: &Path) -> Result<(), JobError> {
    let (w, h) = (image.width(), image.height());
    let buffer = image::RgbImage::from_raw(
        u32::try_from(w).unwrap_or(u32::MAX),
        u32::try_from(h).unwrap_or(u32::MAX),
        image.pixels().concat(),
    )
    .ok_or_else(|| JobError::write(path, std::io::Error::other("image too large for TIFF")))?;
    let file = File::create(path).map_err(|e| JobError::write(path, e))?;
    let mut out = BufWriter::new(file);
    buffer
        .write_to(&mut out, image::ImageFormat::Tiff)
        .map_err(|e| JobError::write(path, std::io::Error::other(e)))?;
    out.flush().map_err(|e| JobError::write(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn div255_rounds_like_pillow() {
        // Exact rounding over every product of two bytes (255 is odd, so there are no ties).
        for v in 0..=255u32 * 255 {
            assert_eq!(div255(v), (f64::from(v) / 255.0).round() as u32, "v = {v}");
        }
    }

    #[test]
    fn rgba_is_flattened_on_white_and_other_modes_just_convert() {
        let rgba = PilImage::Rgba(
            Plane::from_vec(2, 1, vec![[0, 0, 0, 0], [10, 20, 30, 255]]).expect("2"),
        );
        assert_eq!(flatten_on_white(&rgba).pixels(), &[[255; 3], [10, 20, 30]]);
        let la = PilImage::La(Plane::from_vec(1, 1, vec![[7, 0]]).expect("1"));
        assert_eq!(flatten_on_white(&la).pixels(), &[[7; 3]]);
        let wide = PilImage::I16(Plane::from_vec(2, 1, vec![100, 6400]).expect("2"));
        assert_eq!(to_rgb(&wide).pixels(), &[[100; 3], [255; 3]]);
    }
}
