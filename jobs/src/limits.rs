//! Bounds on what a job loads into memory, checked where jobs open their inputs: the declared
//! dimensions of an image before it is decoded (a 76 kB PNG can declare 20000 x 20000 pixels),
//! and the size of a text input (GameraXML, JSON, MEI) before it is read and parsed.
//!
//! The bounds are process-wide: the worker sets them once at start from its settings, or from
//! the memory limit of its container (see [`Limits::for_memory`]); without either they are
//! [`Limits::DEFAULT`].

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::job::JobError;

/// Pillow's decompression bomb limit: `Image.open` refuses images of more than twice
/// `Image.MAX_IMAGE_PIXELS` (89 478 485) pixels, so upstream's jobs never decoded larger ones.
pub const PILLOW_BOMB_PIXELS: u64 = 2 * 89_478_485;

/// The largest text input by default (bytes).
pub const DEFAULT_TEXT_BYTES: u64 = 256 * 1024 * 1024;

/// Memory a worker keeps for itself, its runtime and its buffers, before it shares the rest
/// among the jobs it runs at once.
pub const RESERVED_BYTES: u64 = 128 * 1024 * 1024;

/// Peak memory of a job per pixel of its input image, for deriving the pixel bound from a memory
/// limit: the decoded image (up to 8 bytes per pixel for 16-bit RGBA), its conversion, and the
/// working planes of the heaviest jobs (Sauvola's integral images of sums and squares, 16 bytes
/// per pixel, the output). `docs` and the worker's README give the measurement.
pub const BYTES_PER_PIXEL: u64 = 40;

/// Parsed text takes several times its size (GameraXML's glyphs, `serde_json` values).
pub const TEXT_EXPANSION: u64 = 16;

/// The bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most pixels (width x height) an input image may declare.
    pub max_pixels: u64,
    /// Most bytes a text input may have.
    pub max_text_bytes: u64,
}

impl Limits {
    /// Without a memory limit: Pillow's bomb limit, and 256 MiB of text.
    pub const DEFAULT: Self = Self {
        max_pixels: PILLOW_BOMB_PIXELS,
        max_text_bytes: DEFAULT_TEXT_BYTES,
    };

    /// The bounds for a process limited to `memory` bytes running `concurrency` jobs at once:
    /// each job gets an equal share of what is left after [`RESERVED_BYTES`], and may load an
    /// image of its share over [`BYTES_PER_PIXEL`] pixels and text of its share over
    /// [`TEXT_EXPANSION`] bytes, never more than [`Limits::DEFAULT`].
    pub fn for_memory(memory: u64, concurrency: u64) -> Self {
        let share = memory.saturating_sub(RESERVED_BYTES) / concurrency.max(1);
        Self {
            max_pixels: (share / BYTES_PER_PIXEL).clamp(1, PILLOW_BOMB_PIXELS),
            max_text_bytes: (share / TEXT_EXPANSION).clamp(1, DEFAULT_TEXT_BYTES),
        }
    }
}

static MAX_PIXELS: AtomicU64 = AtomicU64::new(Limits::DEFAULT.max_pixels);
static MAX_TEXT_BYTES: AtomicU64 = AtomicU64::new(Limits::DEFAULT.max_text_bytes);

/// Sets the bounds of this process.
pub fn set(limits: Limits) {
    MAX_PIXELS.store(limits.max_pixels.max(1), Ordering::Relaxed);
    MAX_TEXT_BYTES.store(limits.max_text_bytes.max(1), Ordering::Relaxed);
}

/// The bounds of this process.
pub fn get() -> Limits {
    Limits {
        max_pixels: MAX_PIXELS.load(Ordering::Relaxed),
        max_text_bytes: MAX_TEXT_BYTES.load(Ordering::Relaxed),
    }
}

/// Refuses, as permanent bad input, an image declaring `width` x `height` pixels when that is
/// more than the pixel bound. Called with the header's dimensions, before any pixel is decoded.
pub fn check_pixels(width: u64, height: u64) -> Result<(), JobError> {
    let max = get().max_pixels;
    let pixels = width.saturating_mul(height);
    if pixels <= max {
        return Ok(());
    }
    Err(JobError::bad_input(
        format!(
            "the image is too large: {width} x {height} pixels, over this worker's limit of {max} pixels"
        ),
        format!(
            "the image declares {width} x {height} = {pixels} pixels; this worker decodes images of at most {max} pixels (RODAN_WORKER_MAX_IMAGE_PIXELS, by default derived from its memory limit), so it was not decoded"
        ),
    ))
}

/// Refuses, as permanent bad input, a text input of `len` bytes over the text bound.
pub fn check_text(len: u64, what: &str) -> Result<(), JobError> {
    let max = get().max_text_bytes;
    if len <= max {
        return Ok(());
    }
    Err(JobError::bad_input(
        format!("{what} is too large: {len} bytes, over this worker's limit of {max} bytes"),
        format!(
            "{what} has {len} bytes; this worker reads text inputs of at most {max} bytes (RODAN_WORKER_MAX_INPUT_TEXT_BYTES, by default derived from its memory limit)"
        ),
    ))
}

/// The bytes of the text input at `path`, refused before reading when over the text bound.
pub fn read_text_input(path: &Path, what: &str) -> Result<Vec<u8>, JobError> {
    let len = std::fs::metadata(path)
        .map_err(|e| JobError::read(path, e))?
        .len();
    check_text(len, what)?;
    std::fs::read(path).map_err(|e| JobError::read(path, e))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A PNG that declares `width` x `height` 8-bit grey pixels and holds one short, valid IDAT
    /// (a few rows): a decompression bomb's header without its megabytes.
    pub(crate) fn bomb_png(width: u32, height: u32) -> Vec<u8> {
        fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            out.extend((data.len() as u32).to_be_bytes());
            let start = out.len();
            out.extend(kind);
            out.extend(data);
            let crc = crc32(&out[start..]);
            out.extend(crc.to_be_bytes());
        }
        fn crc32(bytes: &[u8]) -> u32 {
            let mut crc = !0u32;
            for &b in bytes {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = if crc & 1 == 1 {
                        (crc >> 1) ^ 0xEDB8_8320
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        }
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend(width.to_be_bytes());
        ihdr.extend(height.to_be_bytes());
        ihdr.extend([8, 0, 0, 0, 0]);
        chunk(&mut png, b"IHDR", &ihdr);
        // A zlib stream of stored blocks of zero rows (filter 0), not finished.
        let mut idat = vec![0x78, 0x01];
        let row = (width as usize + 1).min(65_535);
        idat.push(0);
        idat.extend((row as u16).to_le_bytes());
        idat.extend((!(row as u16)).to_le_bytes());
        idat.extend(std::iter::repeat_n(0u8, row));
        chunk(&mut png, b"IDAT", &idat);
        png
    }

    #[test]
    fn every_image_reader_refuses_a_bomb_by_its_header_before_decoding() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("bomb.png");
        // 1.6 Gpx of 8-bit grey: 1.5 GiB once decoded, from a file of a few kB.
        std::fs::write(&path, bomb_png(40_000, 40_000)).expect("written");
        let started = std::time::Instant::now();
        let errors = [
            crate::gamera::png::load_png(&path).map(|_| ()),
            crate::opencv::imread(&path, crate::opencv::ReadMode::Unchanged).map(|_| ()),
            crate::opencv::imread(&path, crate::opencv::ReadMode::Color).map(|_| ()),
            crate::pil::open(&path).map(|_| ()),
        ];
        for error in errors {
            let error = error.expect_err("a bomb is refused");
            assert!(error.is_permanent(), "{error:?}");
            assert!(
                error
                    .error_summary()
                    .starts_with("the image is too large: 40000 x 40000 pixels"),
                "{}",
                error.error_summary()
            );
        }
        // Refused from the header: no time spent inflating or allocating.
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    /// A baseline JPEG of 8 x 8 pixels whose frame header says `width` x `height`.
    fn bomb_jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut bytes)
            .encode(&[128; 64], 8, 8, image::ExtendedColorType::L8)
            .expect("encoded");
        let sof = bytes
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("a baseline frame header");
        bytes[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
        bytes[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
        bytes
    }

    /// An uncompressed grey TIFF whose one directory says `width` x `height` in one strip, with
    /// one row of it.
    fn bomb_tiff(width: u32, height: u32) -> Vec<u8> {
        let entries: [(u16, u16, u32); 8] = [
            (256, 4, width),
            (257, 4, height),
            (258, 3, 8),
            (259, 3, 1),
            (262, 3, 1),
            (273, 4, 8 + 2 + 8 * 12 + 4),
            (278, 4, height),
            (279, 4, width.saturating_mul(height)),
        ];
        let mut tiff = b"II*\0".to_vec();
        tiff.extend(8u32.to_le_bytes());
        tiff.extend((entries.len() as u16).to_le_bytes());
        for (tag, kind, value) in entries {
            tiff.extend(tag.to_le_bytes());
            tiff.extend(kind.to_le_bytes());
            tiff.extend(1u32.to_le_bytes());
            if kind == 3 {
                tiff.extend((value as u16).to_le_bytes());
                tiff.extend([0, 0]);
            } else {
                tiff.extend(value.to_le_bytes());
            }
        }
        tiff.extend(0u32.to_le_bytes());
        tiff.extend(std::iter::repeat_n(0u8, width as usize));
        tiff
    }

    #[test]
    fn pillows_reader_refuses_jpeg_and_tiff_bombs_by_their_headers() {
        let dir = tempfile::tempdir().expect("a temp dir");
        for (name, bytes) in [
            ("bomb.jpg", bomb_jpeg(40_000, 40_000)),
            ("bomb.tif", bomb_tiff(40_000, 40_000)),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).expect("written");
            let error = crate::pil::open(&path)
                .map(|_| ())
                .expect_err("a bomb is refused");
            assert!(
                error.is_permanent()
                    && error
                        .error_summary()
                        .starts_with("the image is too large: 40000 x 40000 pixels"),
                "{name}: {} / {}",
                error.error_summary(),
                error.error_details()
            );
        }
        // The same files at a size within the bound decode (the headers are honest otherwise).
        let path = dir.path().join("small.jpg");
        std::fs::write(&path, bomb_jpeg(8, 8)).expect("written");
        crate::pil::open(&path).expect("an 8 x 8 JPEG opens");
    }

    #[test]
    fn the_memory_limit_is_shared_among_the_jobs_and_capped_at_pillows_bomb_limit() {
        let gib = 1024 * 1024 * 1024;
        let one = Limits::for_memory(gib, 1);
        assert_eq!(one.max_pixels, (gib - RESERVED_BYTES) / BYTES_PER_PIXEL);
        assert_eq!(one.max_text_bytes, (gib - RESERVED_BYTES) / TEXT_EXPANSION);
        let four = Limits::for_memory(gib, 4);
        assert_eq!(
            four.max_pixels,
            (gib - RESERVED_BYTES) / 4 / BYTES_PER_PIXEL
        );
        assert_eq!(Limits::for_memory(1024 * gib, 1), Limits::DEFAULT);
        assert_eq!(Limits::for_memory(0, 1).max_pixels, 1);
    }

    #[test]
    fn images_over_the_bound_are_refused_by_their_declared_size_as_permanent_bad_input() {
        // The default bound (other tests of this process do not change it).
        check_pixels(10_000, 10_000).expect("100 Mpx is within Pillow's limit");
        let err = check_pixels(20_000, 20_000).expect_err("400 Mpx is a bomb");
        assert!(err.is_permanent());
        assert!(
            err.error_summary()
                .contains("too large: 20000 x 20000 pixels"),
            "{}",
            err.error_summary()
        );
        let err = check_text(DEFAULT_TEXT_BYTES + 1, "the GameraXML input").expect_err("too long");
        assert!(err.is_permanent());
        assert!(
            err.error_summary()
                .starts_with("the GameraXML input is too large")
        );
    }
}
