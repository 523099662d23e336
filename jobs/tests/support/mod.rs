//! Helpers shared by the integration tests: decoding PNGs as upstream's tests compare them
//! (OpenCV's `IMREAD_UNCHANGED`), and upstream's line comparison.

#![allow(dead_code, unreachable_pub)]

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// A decoded image as `cv2.imread(path, cv2.IMREAD_UNCHANGED)` gives it: 1-, 2- and 4-bit grey
/// scaled to 8 bits (so one-bit is 0/255), palettes expanded, 16-bit samples kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub width: u32,
    pub height: u32,
    pub channels: usize,
    pub sixteen_bit: bool,
    pub samples: Vec<u16>,
}

impl Decoded {
    /// How many samples differ, or a description of a shape/type difference.
    pub fn difference(&self, other: &Decoded) -> Option<String> {
        let shape = |d: &Decoded| {
            (
                d.width,
                d.height,
                d.channels,
                if d.sixteen_bit { "uint16" } else { "uint8" },
            )
        };
        if shape(self) != shape(other) {
            return Some(format!(
                "shape/dtype {:?} differs from {:?}",
                shape(self),
                shape(other)
            ));
        }
        let differing = self
            .samples
            .iter()
            .zip(&other.samples)
            .filter(|(a, b)| a != b)
            .count();
        (differing > 0).then(|| {
            let first = self
                .samples
                .iter()
                .zip(&other.samples)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            let pixel = first / self.channels;
            format!(
                "{differing} of {} samples differ; first at x={} y={}: {} vs {}",
                self.samples.len(),
                pixel % self.width as usize,
                pixel / self.width as usize,
                self.samples[first],
                other.samples[first]
            )
        })
    }
}

/// Decodes the PNG at `path` as OpenCV's `IMREAD_UNCHANGED`.
pub fn decode_like_cv2(path: &Path) -> Result<Decoded, String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut decoder =
        png::Decoder::new_with_limits(BufReader::new(file), png::Limits { bytes: usize::MAX });
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder
        .read_info()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or("too large")?];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let sixteen_bit = frame.bit_depth == png::BitDepth::Sixteen;
    let channels = frame.color_type.samples();
    let bytes = &buf[..frame.buffer_size()];
    let samples: Vec<u16> = if sixteen_bit {
        bytes
            .chunks_exact(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .collect()
    } else {
        bytes.iter().map(|&b| u16::from(b)).collect()
    };
    Ok(Decoded {
        width: frame.width,
        height: frame.height,
        channels,
        sixteen_bit,
        samples,
    })
}

/// Whether two images are equal as upstream's `np.testing.assert_array_equal` on `cv2.imread`
/// sees them; `Err` explains the difference.
pub fn compare_exact(expected: &Path, actual: &Path) -> Result<(), String> {
    let e = decode_like_cv2(expected)?;
    let a = decode_like_cv2(actual)?;
    match e.difference(&a) {
        None => Ok(()),
        Some(d) => Err(format!(
            "{} vs {}: {d}",
            expected.display(),
            actual.display()
        )),
    }
}

/// The file's lines with surrounding whitespace stripped (Python's `[l.strip() for l in
/// f.readlines()]`).
pub fn stripped_lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n')
        .map(|l| l.trim().to_owned())
        .collect()
}

/// Upstream's `text-lines` comparison; `Err` names the first differing line.
pub fn compare_text_lines(expected: &Path, actual: &Path) -> Result<(), String> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let e = stripped_lines(&read(expected)?);
    let a = stripped_lines(&read(actual)?);
    if e.len() != a.len() {
        return Err(format!("{} lines expected, {} written", e.len(), a.len()));
    }
    match e.iter().zip(&a).position(|(x, y)| x != y) {
        None => Ok(()),
        Some(i) => Err(format!(
            "line {} differs: expected {:?}, got {:?}",
            i + 1,
            e[i],
            a[i]
        )),
    }
}

/// Upstream's `text-lines-count-and-first` comparison (Miyao Staff Finder's polygons): the same
/// number of stripped lines and an equal first line.
pub fn compare_text_count_and_first(expected: &Path, actual: &Path) -> Result<(), String> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let e = stripped_lines(&read(expected)?);
    let a = stripped_lines(&read(actual)?);
    if e.len() != a.len() {
        return Err(format!("{} lines expected, {} written", e.len(), a.len()));
    }
    match (e.first(), a.first()) {
        (Some(x), Some(y)) if x != y => {
            Err(format!("first line differs: expected {x:?}, got {y:?}"))
        }
        _ => Ok(()),
    }
}
