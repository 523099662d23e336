//! PNG reading and writing as OpenCV's `cv2.imread` / `cv2.imwrite` do them, for the jobs that
//! upstream writes with OpenCV (Column Splitting, Extract C Clefs).
//!
//! `IMREAD_UNCHANGED` keeps the bit depth (8 or 16) and gives 1 channel for grey (a grey `tRNS`
//! is ignored), 3 for RGB and palettes, 4 for any image with an alpha channel or a `tRNS` chunk
//! (grey + alpha becomes grey replicated three times + alpha). `IMREAD_COLOR` gives 8-bit,
//! 3 channels: grey replicated, alpha dropped (not composited), 16-bit samples cut to their high
//! byte, and the image turned as its `eXIf` orientation says (`IMREAD_UNCHANGED` ignores it). OpenCV holds colour as BGR(A); a [`Mat`] keeps the PNG's RGB(A) order, which is what
//! `imwrite` turns BGR(A) back into, so pixels written equal upstream's.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use crate::job::JobError;

/// An image as an OpenCV array: `height` rows of `width` pixels of `channels` samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mat<T> {
    width: usize,
    height: usize,
    channels: usize,
    data: Vec<T>,
}

impl<T: Copy> Mat<T> {
    /// A matrix from its samples, row by row; `None` when their count is not
    /// `width * height * channels`.
    pub fn new(width: usize, height: usize, channels: usize, data: Vec<T>) -> Option<Self> {
        (width.checked_mul(height)?.checked_mul(channels)? == data.len()).then_some(Self {
            width,
            height,
            channels,
            data,
        })
    }

    /// A `width` × `height` matrix of `channels` channels, every sample `value`.
    pub fn filled(width: usize, height: usize, channels: usize, value: T) -> Self {
        Self {
            width,
            height,
            channels,
            data: vec![value; width * height * channels],
        }
    }

    /// Columns (numpy's `shape[1]`).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Rows (numpy's `shape[0]`).
    pub fn height(&self) -> usize {
        self.height
    }

    /// Samples per pixel.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Every sample, row by row, pixel by pixel.
    pub fn data(&self) -> &[T] {
        &self.data
    }

    /// Row `y`'s samples.
    pub fn row(&self, y: usize) -> &[T] {
        let stride = self.width * self.channels;
        &self.data[y * stride..(y + 1) * stride]
    }

    /// Row `y`'s samples, mutable.
    pub fn row_mut(&mut self, y: usize) -> &mut [T] {
        let stride = self.width * self.channels;
        &mut self.data[y * stride..(y + 1) * stride]
    }

    /// The pixels of columns `x0..x1` and rows `y0..y1` (numpy's `img[y0:y1, x0:x1]`, bounds
    /// already inside the image).
    pub fn crop(&self, (x0, x1): (usize, usize), (y0, y1): (usize, usize)) -> Self {
        let c = self.channels;
        let mut data = Vec::with_capacity((x1 - x0) * (y1 - y0) * c);
        for y in y0..y1 {
            data.extend_from_slice(&self.row(y)[x0 * c..x1 * c]);
        }
        Self {
            width: x1 - x0,
            height: y1 - y0,
            channels: c,
            data,
        }
    }
}

/// An `IMREAD_UNCHANGED` image: 8-bit (`uint8`) or 16-bit (`uint16`) samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyMat {
    /// `uint8` samples.
    U8(Mat<u8>),
    /// `uint16` samples.
    U16(Mat<u16>),
}

impl AnyMat {
    /// (width, height, channels).
    pub fn shape(&self) -> (usize, usize, usize) {
        match self {
            Self::U8(m) => (m.width, m.height, m.channels),
            Self::U16(m) => (m.width, m.height, m.channels),
        }
    }

    /// numpy's name of the sample type.
    pub fn dtype(&self) -> &'static str {
        match self {
            Self::U8(_) => "uint8",
            Self::U16(_) => "uint16",
        }
    }
}

/// How [`imread`] decodes, as OpenCV's flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// `cv2.IMREAD_UNCHANGED`.
    Unchanged,
    /// `cv2.IMREAD_COLOR`: always 8-bit, 3 channels.
    Color,
}

/// Reads the PNG at `path` as `cv2.imread(path, mode)`; anything that is not a PNG is bad input
/// (OpenCV would read other formats, but the jobs' ports take PNGs only).
pub fn imread(path: &Path, mode: ReadMode) -> Result<AnyMat, JobError> {
    let file = File::open(path).map_err(|e| JobError::read(path, e))?;
    let mut too_large = None;
    let decoded = decode(BufReader::new(file), mode, &mut too_large);
    if let Some(error) = too_large {
        return Err(error);
    }
    decoded.map_err(|e| match e {
        png::DecodingError::IoError(io) if io.kind() != std::io::ErrorKind::UnexpectedEof => {
            JobError::read(path, io)
        }
        other => JobError::bad_input(
            "the input is not a PNG image",
            format!("{} could not be decoded as a PNG: {other}", path.display()),
        ),
    })
}

/// Decodes PNG data; an image over the pixel bound ([`crate::limits`]) is refused before its
/// pixels are decoded, with the error left in `too_large`.
fn decode<R: std::io::BufRead + std::io::Seek>(
    reader: R,
    mode: ReadMode,
    too_large: &mut Option<JobError>,
) -> Result<AnyMat, png::DecodingError> {
    let mut decoder = png::Decoder::new_with_limits(reader, png::Limits { bytes: usize::MAX });
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info()?;
    let (width, height) = (reader.info().width, reader.info().height);
    if let Err(error) = crate::limits::check_pixels(u64::from(width), u64::from(height)) {
        *too_large = Some(error);
        return Err(png::DecodingError::LimitsExceeded);
    }
    let source = reader.info().color_type;
    let orientation = match mode {
        ReadMode::Color => reader
            .info()
            .exif_metadata
            .as_deref()
            .and_then(exif_orientation)
            .unwrap_or(1),
        ReadMode::Unchanged => 1,
    };
    let size = reader
        .output_buffer_size()
        .ok_or(png::DecodingError::LimitsExceeded)?;
    let mut buf = vec![0; size];
    let frame = reader.next_frame(&mut buf)?;
    buf.truncate(frame.buffer_size());
    let (width, height) = (frame.width as usize, frame.height as usize);
    let layout = Layout {
        mode,
        channels_in: frame.color_type.samples(),
        // Grey + alpha made from a grey image's tRNS: OpenCV ignores that tRNS.
        grey_trns: source == png::ColorType::Grayscale
            && frame.color_type == png::ColorType::GrayscaleAlpha,
    };
    let mat = if frame.bit_depth == png::BitDepth::Sixteen {
        let samples: Vec<u16> = buf
            .chunks_exact(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .collect();
        drop(buf);
        let (channels, data) = layout.apply(samples);
        match mode {
            ReadMode::Unchanged => AnyMat::U16(Mat {
                width,
                height,
                channels,
                data,
            }),
            // OpenCV strips 16-bit samples to their high byte for IMREAD_COLOR.
            ReadMode::Color => AnyMat::U8(Mat {
                width,
                height,
                channels,
                data: data.iter().map(|&v| (v >> 8) as u8).collect(),
            }),
        }
    } else {
        let (channels, data) = layout.apply(buf);
        AnyMat::U8(Mat {
            width,
            height,
            channels,
            data,
        })
    };
    Ok(match mat {
        AnyMat::U8(m) => AnyMat::U8(orient(m, orientation)),
        AnyMat::U16(m) => AnyMat::U16(orient(m, orientation)),
    })
}

/// The EXIF orientation tag (0x0112) of TIFF-structured EXIF data (`eXIf`'s content, with or
/// without a leading `Exif\0\0`), when present and valid (1 to 8).
fn exif_orientation(data: &[u8]) -> Option<u16> {
    let tiff = data.strip_prefix(b"Exif\0\0").unwrap_or(data);
    let big = match tiff.get(..4)? {
        b"MM\0*" => true,
        b"II*\0" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(at..at + 2)?.try_into().ok()?;
        Some(if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<usize> {
        let b: [u8; 4] = tiff.get(at..at + 4)?.try_into().ok()?;
        let v = if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        };
        usize::try_from(v).ok()
    };
    let ifd = u32_at(4)?;
    let entries = usize::from(u16_at(ifd)?);
    (0..entries)
        .map(|i| ifd + 2 + 12 * i)
        .find(|&entry| u16_at(entry) == Some(0x0112))
        .and_then(|entry| u16_at(entry + 8))
        .filter(|o| (1..=8).contains(o))
}

/// `image` turned as OpenCV's `ApplyExifOrientation` turns it for EXIF `orientation`: a
/// transpose for 5 to 8, then horizontal and/or vertical flips.
fn orient<T: Copy>(image: Mat<T>, orientation: u16) -> Mat<T> {
    let (transpose, flip_x, flip_y) = match orientation {
        2 => (false, true, false),
        3 => (false, true, true),
        4 => (false, false, true),
        5 => (true, false, false),
        6 => (true, true, false),
        7 => (true, true, true),
        8 => (true, false, true),
        _ => return image,
    };
    let (w, h) = if transpose {
        (image.height, image.width)
    } else {
        (image.width, image.height)
    };
    let c = image.channels;
    let mut data = Vec::with_capacity(image.data.len());
    for y in 0..h {
        let ty = if flip_y { h - 1 - y } else { y };
        for x in 0..w {
            let tx = if flip_x { w - 1 - x } else { x };
            let (sx, sy) = if transpose { (ty, tx) } else { (tx, ty) };
            let at = (sy * image.width + sx) * c;
            data.extend_from_slice(&image.data[at..at + c]);
        }
    }
    Mat {
        width: w,
        height: h,
        channels: c,
        data,
    }
}

/// How OpenCV lays out the samples the PNG decoder expanded.
#[derive(Debug, Clone, Copy)]
struct Layout {
    mode: ReadMode,
    channels_in: usize,
    grey_trns: bool,
}

impl Layout {
    /// The channel count and samples OpenCV gives for `samples` (pixels of `channels_in`).
    fn apply<T: Copy>(self, samples: Vec<T>) -> (usize, Vec<T>) {
        let pixels = || samples.chunks_exact(self.channels_in);
        match (self.mode, self.channels_in) {
            (ReadMode::Unchanged, 2) if self.grey_trns => (1, pixels().map(|p| p[0]).collect()),
            (ReadMode::Unchanged, 2) => {
                (4, pixels().flat_map(|p| [p[0], p[0], p[0], p[1]]).collect())
            }
            (ReadMode::Color, 1 | 2) => (3, pixels().flat_map(|p| [p[0]; 3]).collect()),
            (ReadMode::Color, 4) => (3, pixels().flat_map(|p| [p[0], p[1], p[2]]).collect()),
            (_, n) => (n, samples),
        }
    }
}

/// Writes `mat` to `path` as `cv2.imwrite` writes a PNG: 1 channel grey, 3 RGB, 4 RGBA, at the
/// matrix's bit depth.
pub fn imwrite(path: &Path, mat: &AnyMat) -> Result<(), JobError> {
    let file = File::create(path).map_err(|e| JobError::write(path, e))?;
    let mut out = BufWriter::new(file);
    encode(mat, &mut out).map_err(|e| match e {
        png::EncodingError::IoError(io) => JobError::write(path, io),
        other => JobError::write(path, std::io::Error::other(other)),
    })?;
    out.flush().map_err(|e| JobError::write(path, e))
}

fn encode<W: Write>(mat: &AnyMat, w: W) -> Result<(), png::EncodingError> {
    let (width, height, channels) = mat.shape();
    let color = match channels {
        1 => png::ColorType::Grayscale,
        2 => png::ColorType::GrayscaleAlpha,
        3 => png::ColorType::Rgb,
        _ => png::ColorType::Rgba,
    };
    let (depth, data): (_, Vec<u8>) = match mat {
        AnyMat::U8(m) => (png::BitDepth::Eight, m.data.clone()),
        AnyMat::U16(m) => (
            png::BitDepth::Sixteen,
            m.data.iter().flat_map(|v| v.to_be_bytes()).collect(),
        ),
    };
    let invalid = |what: &str| {
        png::EncodingError::IoError(std::io::Error::other(format!(
            "cannot write a PNG of {what}"
        )))
    };
    if width == 0 || height == 0 {
        return Err(invalid("no pixels"));
    }
    if channels > 4 {
        return Err(invalid("more than 4 channels"));
    }
    let mut encoder = png::Encoder::new(
        w,
        u32::try_from(width).map_err(|_| invalid("that width"))?,
        u32::try_from(height).map_err(|_| invalid("that height"))?,
    );
    encoder.set_color(color);
    encoder.set_depth(depth);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&data)?;
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn png(
        (width, height): (u32, u32),
        color: png::ColorType,
        depth: png::BitDepth,
        data: &[u8],
        palette: Option<&[u8]>,
        trns: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = png::Encoder::new(&mut out, width, height);
        e.set_color(color);
        e.set_depth(depth);
        if let Some(p) = palette {
            e.set_palette(p.to_vec());
        }
        if let Some(t) = trns {
            e.set_trns(t.to_vec());
        }
        let mut w = e.write_header().expect("header");
        w.write_image_data(data).expect("data");
        w.finish().expect("finish");
        out
    }

    fn read(bytes: Vec<u8>, mode: ReadMode) -> AnyMat {
        decode(Cursor::new(bytes), mode, &mut None).expect("a valid PNG")
    }

    fn u8_mat(m: AnyMat) -> Mat<u8> {
        match m {
            AnyMat::U8(m) => m,
            AnyMat::U16(_) => panic!("expected uint8"),
        }
    }

    // The expectations below are what cv2 4.12 gives for the same files (RGB order here).
    #[test]
    fn unchanged_gives_four_channels_for_alpha_and_trns_and_one_for_grey_trns() {
        use png::{BitDepth::Eight, ColorType::*};
        let ga = read(
            png(
                (2, 1),
                GrayscaleAlpha,
                Eight,
                &[10, 20, 30, 255],
                None,
                None,
            ),
            ReadMode::Unchanged,
        );
        assert_eq!(u8_mat(ga).data, [10, 10, 10, 20, 30, 30, 30, 255]);
        let rgb_trns = read(
            png(
                (2, 1),
                Rgb,
                Eight,
                &[1, 2, 3, 4, 5, 6],
                None,
                Some(&[0, 1, 0, 2, 0, 3]),
            ),
            ReadMode::Unchanged,
        );
        assert_eq!(u8_mat(rgb_trns).data, [1, 2, 3, 0, 4, 5, 6, 255]);
        let palette = read(
            png(
                (2, 1),
                Indexed,
                Eight,
                &[0, 1],
                Some(&[9, 8, 7, 6, 5, 4]),
                Some(&[100]),
            ),
            ReadMode::Unchanged,
        );
        assert_eq!(u8_mat(palette).data, [9, 8, 7, 100, 6, 5, 4, 255]);
        let grey_trns = read(
            png((2, 1), Grayscale, Eight, &[7, 9], None, Some(&[0, 7])),
            ReadMode::Unchanged,
        );
        assert_eq!(grey_trns.shape(), (2, 1, 1));
        assert_eq!(u8_mat(grey_trns).data, [7, 9]);
    }

    #[test]
    fn unchanged_keeps_sixteen_bits_and_color_keeps_the_high_byte() {
        use png::{BitDepth::Sixteen, ColorType::Rgba};
        let bytes = png((1, 1), Rgba, Sixteen, &[1, 2, 3, 4, 5, 6, 7, 8], None, None);
        match read(bytes.clone(), ReadMode::Unchanged) {
            AnyMat::U16(m) => assert_eq!(m.data, [0x0102, 0x0304, 0x0506, 0x0708]),
            AnyMat::U8(_) => panic!("16-bit expected"),
        }
        assert_eq!(u8_mat(read(bytes, ReadMode::Color)).data, [1, 3, 5]);
        let rgb16 = png(
            (2, 1),
            png::ColorType::Rgb,
            Sixteen,
            &[1, 0x80, 2, 0x7f, 3, 0xff, 0xff, 0xff, 0, 0, 0x12, 0x34],
            None,
            None,
        );
        assert_eq!(
            u8_mat(read(rgb16, ReadMode::Color)).data,
            [1, 2, 3, 255, 0, 0x12]
        );
    }

    #[test]
    fn color_replicates_grey_and_drops_alpha() {
        use png::{BitDepth::*, ColorType::*};
        let ga = read(
            png(
                (2, 1),
                GrayscaleAlpha,
                Eight,
                &[10, 20, 30, 255],
                None,
                None,
            ),
            ReadMode::Color,
        );
        assert_eq!(u8_mat(ga).data, [10, 10, 10, 30, 30, 30]);
        let two_bit = read(
            png((4, 1), Grayscale, Two, &[0b0001_1011], None, None),
            ReadMode::Color,
        );
        assert_eq!(
            u8_mat(two_bit).data,
            [0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255]
        );
    }

    /// A 3 x 2 RGB PNG, red = 1..=6 row by row, with an `eXIf` orientation.
    fn oriented(orientation: u16, big_endian: bool) -> Vec<u8> {
        let mut exif = Vec::new();
        let put16 = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let put32 = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        exif.extend_from_slice(if big_endian { b"MM\0*" } else { b"II*\0" });
        exif.extend_from_slice(&put32(8));
        exif.extend_from_slice(&put16(1));
        for v in [put16(0x0112), put16(3)] {
            exif.extend_from_slice(&v);
        }
        exif.extend_from_slice(&put32(1));
        exif.extend_from_slice(&put16(orientation));
        exif.extend_from_slice(&[0; 6]);
        let mut out = Vec::new();
        let mut e = png::Encoder::new(&mut out, 3, 2);
        e.set_color(png::ColorType::Rgb);
        let mut w = e.write_header().expect("header");
        w.write_chunk(png::chunk::eXIf, &exif).expect("eXIf");
        let data: Vec<u8> = (1..=6).flat_map(|r| [r, 0, 0]).collect();
        w.write_image_data(&data).expect("data");
        w.finish().expect("finish");
        out
    }

    fn reds(m: AnyMat) -> (usize, Vec<u8>) {
        let m = u8_mat(m);
        (m.width, m.data.chunks(3).map(|p| p[0]).collect())
    }

    // Each expectation is what cv2 4.12 reads from the same file.
    #[test]
    fn color_turns_the_image_as_its_exif_orientation_says_and_unchanged_does_not() {
        let cases: [(u16, usize, [u8; 6]); 8] = [
            (1, 3, [1, 2, 3, 4, 5, 6]),
            (2, 3, [3, 2, 1, 6, 5, 4]),
            (3, 3, [6, 5, 4, 3, 2, 1]),
            (4, 3, [4, 5, 6, 1, 2, 3]),
            (5, 2, [1, 4, 2, 5, 3, 6]),
            (6, 2, [4, 1, 5, 2, 6, 3]),
            (7, 2, [6, 3, 5, 2, 4, 1]),
            (8, 2, [3, 6, 2, 5, 1, 4]),
        ];
        for (orientation, width, expected) in cases {
            for big in [true, false] {
                let got = reds(read(oriented(orientation, big), ReadMode::Color));
                assert_eq!(got, (width, expected.to_vec()), "orientation {orientation}");
            }
            let unchanged = reds(read(oriented(orientation, true), ReadMode::Unchanged));
            assert_eq!(unchanged, (3, vec![1, 2, 3, 4, 5, 6]));
        }
    }

    #[test]
    fn written_pngs_read_back_equal_at_both_depths() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let m8 = AnyMat::U8(Mat::new(2, 2, 4, (0..16).collect()).expect("16 samples"));
        let m16 = AnyMat::U16(Mat::new(3, 1, 3, vec![0, 258, 65535, 1, 2, 3, 4, 5, 6]).expect("9"));
        for (name, mat) in [("a.png", m8), ("b.png", m16)] {
            let path = dir.path().join(name);
            imwrite(&path, &mat).expect("written");
            assert_eq!(imread(&path, ReadMode::Unchanged).expect("read"), mat);
        }
    }

    #[test]
    fn a_file_that_is_not_a_png_is_bad_input() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("x.png");
        std::fs::write(&path, b"GIF89a not a png").expect("written");
        let err = imread(&path, ReadMode::Unchanged).expect_err("not a PNG");
        assert!(err.is_permanent(), "{err:?}");
        let truncated = dir.path().join("t.png");
        let whole = png(
            (1, 1),
            png::ColorType::Rgba,
            png::BitDepth::Eight,
            &[1, 2, 3, 4],
            None,
            None,
        );
        std::fs::write(&truncated, &whole[..whole.len() / 2]).expect("written");
        assert!(
            imread(&truncated, ReadMode::Unchanged)
                .expect_err("truncated")
                .is_permanent()
        );
    }
}
