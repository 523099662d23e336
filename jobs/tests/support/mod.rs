//! Helpers shared by the integration tests: finding `shared/` and the fixtures, skipping a trial
//! without its reference tools, running a reference script on a list of cases, decoding PNGs as
//! upstream's tests compare them (OpenCV's `IMREAD_UNCHANGED`), upstream's line comparison and
//! other file comparisons.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::Completion;
use serde_json::{Value, json};

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

/// `shared/` beside the repository, or where `RODAN_SHARED_DIR` says (`scripts/test.sh` sets it).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("RODAN_SHARED_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
        PathBuf::from,
    )
}

/// A file of the upstream fixture cases (`shared/fixtures/upstream-jobs/files/`).
pub fn fixture(name: &str) -> PathBuf {
    shared_dir().join("fixtures/upstream-jobs/files").join(name)
}

/// This test's scratch folder under Cargo's `CARGO_TARGET_TMPDIR` (not created).
pub fn work_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// A port or case name as a file name: every character but ASCII letters and digits made `_`.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The path an environment variable names, or the reason to skip a trial without it (`hint`
/// says where to get it).
pub fn env_path(var: &str, hint: &str) -> Result<PathBuf, Completion> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .ok_or_else(|| Completion::ignored_with(format!("skipped: {var} is not set ({hint})")))
}

/// Writes `cases` as `cases.json` in `dir` (a reference script's list of cases) and returns its
/// path.
pub fn write_cases(dir: &Path, cases: &[Value]) -> Result<PathBuf, String> {
    let path = dir.join("cases.json");
    let bytes = serde_json::to_vec(cases).map_err(|e| e.to_string())?;
    std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Runs `python` with `flags`, the script `tests/{script}` and `args`; its standard output, or
/// an error with its status and standard error when it fails.
pub fn run_script(
    python: &Path,
    flags: &[&str],
    script: &str,
    args: &[&OsStr],
) -> Result<Vec<u8>, String> {
    let out = Command::new(python)
        .args(flags)
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests")
                .join(script),
        )
        .args(args)
        .output()
        .map_err(|e| format!("failed to start {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "tests/{script} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

/// Whether two texts are equal; `Err` names the first differing line and the lines around it.
pub fn compare_lines(what: &str, theirs: &str, ours: &str) -> Result<(), String> {
    if theirs == ours {
        return Ok(());
    }
    let (a, b): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), ours.lines().collect());
    let at = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    Err(format!(
        "{what} differs at line {} ({} vs {} lines): {:?} vs {:?}",
        at + 1,
        a.len(),
        b.len(),
        a.get(at.saturating_sub(3)..(at + 3).min(a.len())),
        b.get(at.saturating_sub(3)..(at + 3).min(b.len())),
    ))
}

/// Whether two files are equal byte for byte; `Err` shows where they first differ.
pub fn compare_bytes(theirs: &Path, ours: &Path) -> Result<(), String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let (a, b) = (read(theirs)?, read(ours)?);
    if a == b {
        return Ok(());
    }
    let at = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let around = |v: &[u8]| {
        String::from_utf8_lossy(&v[at.saturating_sub(200).min(v.len())..(at + 80).min(v.len())])
            .into_owned()
    };
    Err(format!(
        "outputs differ at byte {at} ({} vs {} bytes):\nreference: {}\nours:      {}",
        a.len(),
        b.len(),
        around(&a),
        around(&b)
    ))
}

/// The same file names in both folders, each pair of PNGs equal as `compare_exact` sees them.
pub fn compare_folders(theirs: &Path, ours: &Path) -> Result<(), String> {
    let names = |dir: &Path| -> Result<Vec<String>, String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    };
    let (t, m) = (names(theirs)?, names(ours)?);
    if t != m {
        return Err(format!("files {t:?} != {m:?}"));
    }
    for name in &t {
        compare_exact(&theirs.join(name), &ours.join(name))?;
    }
    Ok(())
}

/// One comparison of a job with a reference script: the job, its settings, input files by port,
/// and output ports with the extension of the file each writes (`""` for a list's folder). Each
/// side's outputs lie in `root/{side}/{id}`.
#[derive(Debug, Clone)]
pub struct JobCase {
    pub root: PathBuf,
    pub id: String,
    pub job: &'static str,
    pub settings: Value,
    pub inputs: BTreeMap<&'static str, PathBuf>,
    pub outputs: Vec<(&'static str, &'static str)>,
}

impl JobCase {
    /// The folder of this case's outputs on `side`.
    pub fn dir(&self, side: &str) -> PathBuf {
        self.root.join(side).join(self.id.replace('/', "_"))
    }

    /// Each output port's file (or folder) on `side`.
    pub fn output_paths(&self, side: &str) -> BTreeMap<&'static str, PathBuf> {
        self.outputs
            .iter()
            .map(|(port, ext)| {
                let name = sanitize(port);
                let file = if ext.is_empty() {
                    name
                } else {
                    format!("{name}.{ext}")
                };
                (*port, self.dir(side).join(file))
            })
            .collect()
    }

    /// The case as the reference scripts read it, writing to `side`.
    pub fn reference_job(&self, side: &str) -> Value {
        json!({
            "id": self.id,
            "job": self.job,
            "settings": self.settings,
            "inputs": self.inputs,
            "outputs": self.output_paths(side),
        })
    }
}
