//! PNG loading and saving as Gamera's `load_PNG` / `save_PNG` (libpng) do them.
//!
//! Loading: 1-bit grey → ONEBIT (bit 0 is black); 2/4/8-bit grey → GREYSCALE (scaled to 8 bits);
//! 16-bit grey → GREY16; RGB, palette → RGB (16-bit samples scaled as `png_set_scale_16`). Alpha
//! is dropped, not composited. Saving: ONEBIT → 1-bit grey, GREYSCALE → 8-bit grey, RGB → 8-bit
//! RGB, GREY16 → 16-bit grey *with its two bytes swapped*, because Gamera hands libpng its native
//! little-endian words; every upstream golden has that encoding, so it is kept. A `pHYs` chunk of
//! 0 pixels per metre is written, as Gamera does for a new image.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, Write};
use std::path::Path;

use super::{BLACK, Image, Plane, WHITE};
use crate::job::JobError;

/// Why a PNG could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The reader failed.
    #[error("failed to read the PNG data")]
    Io(#[source] std::io::Error),
    /// The data is not a PNG Gamera can load.
    #[error("failed to decode the PNG: {0}")]
    Format(String),
    /// The PNG declares more pixels than this process decodes ([`crate::limits`]).
    #[error("{}", .0.error_summary())]
    TooLarge(JobError),
}

impl From<png::DecodingError> for DecodeError {
    fn from(e: png::DecodingError) -> Self {
        match e {
            png::DecodingError::IoError(io) => Self::Io(io),
            other => Self::Format(other.to_string()),
        }
    }
}

/// Loads the PNG at `path` as Gamera does; undecodable files are bad input.
pub fn load_png(path: &Path) -> Result<Image, JobError> {
    let file = File::open(path).map_err(|e| JobError::read(path, e))?;
    decode_png(BufReader::new(file)).map_err(|e| match e {
        DecodeError::Io(io) => JobError::read(path, io),
        DecodeError::TooLarge(error) => error,
        DecodeError::Format(msg) => JobError::bad_input(
            "the input is not a PNG image Gamera can load",
            format!("{}: {msg}", path.display()),
        ),
    })
}

/// Decodes PNG data as Gamera's `load_PNG`.
pub fn decode_png<R: BufRead + Seek>(reader: R) -> Result<Image, DecodeError> {
    let mut decoder = png::Decoder::new_with_limits(reader, png::Limits { bytes: usize::MAX });
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info()?;
    let (width, height) = (reader.info().width, reader.info().height);
    crate::limits::check_pixels(u64::from(width), u64::from(height))
        .map_err(DecodeError::TooLarge)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| DecodeError::Format("image too large for memory".to_owned()))?;
    let mut buf = vec![0; size];
    let frame = reader.next_frame(&mut buf)?;
    let (width, height) = (frame.width as usize, frame.height as usize);
    let depth = frame.bit_depth as usize;
    let rows = buf[..frame.buffer_size()].chunks_exact(frame.line_size.max(1));
    let unsupported = || {
        DecodeError::Format(format!(
            "unsupported PNG type {:?}/{depth}",
            frame.color_type
        ))
    };
    let image = match frame.color_type {
        png::ColorType::Grayscale | png::ColorType::GrayscaleAlpha => {
            let channels = if frame.color_type == png::ColorType::Grayscale {
                1
            } else {
                2
            };
            match depth {
                1 => {
                    let mut data = Vec::with_capacity(width * height);
                    for row in rows {
                        data.extend(
                            (0..width).map(|x| if sample(row, x, 1) == 0 { BLACK } else { WHITE }),
                        );
                    }
                    Image::OneBit(plane(width, height, data)?)
                }
                2 | 4 => {
                    let scale = 255 / ((1 << depth) - 1);
                    let mut data = Vec::with_capacity(width * height);
                    for row in rows {
                        data.extend((0..width).map(|x| sample(row, x, depth) * scale));
                    }
                    Image::GreyScale(plane(width, height, data)?)
                }
                8 => {
                    let mut data = Vec::with_capacity(width * height);
                    for row in rows {
                        data.extend(row.chunks_exact(channels).take(width).map(|p| p[0]));
                    }
                    Image::GreyScale(plane(width, height, data)?)
                }
                16 => {
                    let mut data = Vec::with_capacity(width * height);
                    for row in rows {
                        data.extend(
                            row.chunks_exact(2 * channels)
                                .take(width)
                                .map(|p| u16::from_be_bytes([p[0], p[1]])),
                        );
                    }
                    Image::Grey16(plane(width, height, data)?)
                }
                _ => return Err(unsupported()),
            }
        }
        png::ColorType::Rgb | png::ColorType::Rgba => {
            let channels = if frame.color_type == png::ColorType::Rgb {
                3
            } else {
                4
            };
            let mut data = Vec::with_capacity(width * height);
            match depth {
                8 => {
                    for row in rows {
                        data.extend(
                            row.chunks_exact(channels)
                                .take(width)
                                .map(|p| [p[0], p[1], p[2]]),
                        );
                    }
                }
                16 => {
                    for row in rows {
                        data.extend(row.chunks_exact(2 * channels).take(width).map(|p| {
                            [
                                scale_16(p[0], p[1]),
                                scale_16(p[2], p[3]),
                                scale_16(p[4], p[5]),
                            ]
                        }));
                    }
                }
                _ => return Err(unsupported()),
            }
            Image::Rgb(plane(width, height, data)?)
        }
        png::ColorType::Indexed => {
            let palette = reader.info().palette.as_deref().unwrap_or(&[]);
            let lookup = |i: u8| {
                let i = usize::from(i) * 3;
                palette
                    .get(i..i + 3)
                    .map_or([0, 0, 0], |c| [c[0], c[1], c[2]])
            };
            let mut data = Vec::with_capacity(width * height);
            for row in rows {
                data.extend((0..width).map(|x| lookup(sample(row, x, depth))));
            }
            Image::Rgb(plane(width, height, data)?)
        }
    };
    Ok(image)
}

fn plane<P: Copy>(width: usize, height: usize, data: Vec<P>) -> Result<Plane<P>, DecodeError> {
    Plane::from_vec(width, height, data)
        .ok_or_else(|| DecodeError::Format("truncated image data".to_owned()))
}

/// Sample `x` of a row packed at `depth` bits per sample (1, 2, 4 or 8), most significant first.
fn sample(row: &[u8], x: usize, depth: usize) -> u8 {
    if depth == 8 {
        return row[x];
    }
    let bit = x * depth;
    let shift = 8 - depth - bit % 8;
    (row[bit / 8] >> shift) & ((1u8 << depth) - 1)
}

/// libpng's `png_do_scale_16_to_8`: the 16-bit sample `hi:lo` rounded to 8 bits.
fn scale_16(hi: u8, lo: u8) -> u8 {
    let hi = i32::from(hi);
    let lo = i32::from(lo);
    // The arithmetic shift of a negative value floors, as in libpng's C.
    (hi + (((lo - hi + 128) * 65535) >> 24)) as u8
}

/// Saves `image` to `path` as Gamera's `save_PNG`.
pub fn save_png(image: &Image, path: &Path) -> Result<(), JobError> {
    let file = File::create(path).map_err(|e| JobError::write(path, e))?;
    let mut out = BufWriter::new(file);
    encode_png(image, &mut out).map_err(|e| match e {
        png::EncodingError::IoError(io) => JobError::write(path, io),
        other => JobError::write(path, std::io::Error::other(other)),
    })?;
    out.flush().map_err(|e| JobError::write(path, e))
}

/// Encodes `image` as Gamera's `save_PNG` does.
pub fn encode_png<W: Write>(image: &Image, w: W) -> Result<(), png::EncodingError> {
    let (width, height) = image.dimensions();
    let (color, depth, data): (_, _, Vec<u8>) = match image {
        Image::OneBit(p) => {
            let stride = width.div_ceil(8);
            let mut data = vec![0u8; stride * height];
            for (y, row) in p.rows().enumerate() {
                for (x, &v) in row.iter().enumerate() {
                    if v == WHITE {
                        data[y * stride + x / 8] |= 0x80 >> (x % 8);
                    }
                }
            }
            (png::ColorType::Grayscale, png::BitDepth::One, data)
        }
        Image::GreyScale(p) => (
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            p.pixels().to_vec(),
        ),
        Image::Grey16(p) => (
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            p.pixels().iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        Image::Rgb(p) => (
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            p.pixels().iter().flatten().copied().collect(),
        ),
    };
    let too_large = || {
        png::EncodingError::IoError(std::io::Error::other(
            "image too large for a PNG".to_owned(),
        ))
    };
    let mut encoder = png::Encoder::new(
        w,
        u32::try_from(width).map_err(|_| too_large())?,
        u32::try_from(height).map_err(|_| too_large())?,
    );
    encoder.set_color(color);
    encoder.set_depth(depth);
    encoder.set_pixel_dims(Some(png::PixelDimensions {
        xppu: 0,
        yppu: 0,
        unit: png::Unit::Meter,
    }));
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&data)?;
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn encode_raw(
        width: u32,
        height: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        data: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = png::Encoder::new(&mut out, width, height);
        e.set_color(color);
        e.set_depth(depth);
        if color == png::ColorType::Indexed {
            e.set_palette(vec![10, 20, 30, 40, 50, 60]);
        }
        let mut w = e.write_header().expect("header");
        w.write_image_data(data).expect("data");
        w.finish().expect("finish");
        out
    }

    #[test]
    fn one_bit_pngs_load_as_onebit_with_zero_bits_black_and_save_back_identically() {
        let bytes = encode_raw(
            3,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::One,
            &[0b0100_0000],
        );
        let image = decode_png(Cursor::new(bytes)).expect("decodes");
        let Image::OneBit(p) = &image else {
            panic!(
                "1-bit grey must load as ONEBIT, got {:?}",
                image.pixel_type()
            );
        };
        assert_eq!(p.pixels(), &[BLACK, WHITE, BLACK]);
        let mut out = Vec::new();
        encode_png(&image, &mut out).expect("encodes");
        assert_eq!(decode_png(Cursor::new(out)).expect("decodes"), image);
    }

    #[test]
    fn low_bit_grey_is_scaled_to_eight_bits_and_palettes_become_rgb() {
        let bytes = encode_raw(
            2,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::Four,
            &[0x0f],
        );
        let image = decode_png(Cursor::new(bytes)).expect("decodes");
        assert_eq!(
            image,
            Image::GreyScale(Plane::from_vec(2, 1, vec![0, 255]).expect("2"))
        );
        let bytes = encode_raw(2, 1, png::ColorType::Indexed, png::BitDepth::Eight, &[1, 0]);
        let image = decode_png(Cursor::new(bytes)).expect("decodes");
        assert_eq!(
            image,
            Image::Rgb(Plane::from_vec(2, 1, vec![[40, 50, 60], [10, 20, 30]]).expect("2"))
        );
    }

    #[test]
    fn sixteen_bit_rgb_is_rounded_like_libpng_and_alpha_is_dropped() {
        // 0x8140 * 255 / 65535 = 128.75 rounds up to 129 (truncation would give 128); 0xFF00 is
        // 254.0 through libpng's negative intermediate; 0x0080 rounds down to 0.
        let data = [0x81, 0x40, 0xFF, 0x00, 0x00, 0x80, 0x12, 0x34];
        let bytes = encode_raw(1, 1, png::ColorType::Rgba, png::BitDepth::Sixteen, &data);
        let image = decode_png(Cursor::new(bytes)).expect("decodes");
        assert_eq!(
            image,
            Image::Rgb(Plane::from_vec(1, 1, vec![[129, 254, 0]]).expect("1"))
        );
    }

    #[test]
    fn grey16_is_saved_with_its_bytes_swapped_as_gamera_does() {
        let image = Image::Grey16(Plane::from_vec(2, 1, vec![25, 0x1234]).expect("2"));
        let mut out = Vec::new();
        encode_png(&image, &mut out).expect("encodes");
        let reloaded = decode_png(Cursor::new(out)).expect("decodes");
        assert_eq!(
            reloaded,
            Image::Grey16(Plane::from_vec(2, 1, vec![25 * 256, 0x3412]).expect("2"))
        );
    }

    #[test]
    fn garbage_is_a_format_error() {
        let err = decode_png(Cursor::new(b"not a png at all".to_vec())).expect_err("garbage");
        assert!(matches!(err, DecodeError::Format(_)));
    }
}
