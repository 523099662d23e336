//! Writing a results package: the planned files as a BagIt bag in a zip, with its manifests.

use super::error::PackageError;
use super::plan::{Entry, Source};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// How writing a bag ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Complete.
    Done,
    /// `stop` was raised; the output is incomplete.
    Stopped,
}

/// BagIt's encoding of a path in a manifest (RFC 8493 §2.1.3).
fn manifest_path(path: &str) -> String {
    path.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Writes the groups of [`plan`] as a BagIt bag in folder `root` of a zip: payload under
/// `root/data/`, `manifest-sha256.txt`, `bagit.txt`, `bag-info.txt` (with `date` as
/// `Bagging-Date`) and `tagmanifest-sha256.txt`. Files are read below `media_root`. After each
/// group it calls `progress` with the number of groups done; it checks `stop` between chunks.
pub fn write_bag<W: Write + Seek>(
    out: W,
    root: &str,
    media_root: &Path,
    groups: &[Vec<Entry>],
    date: &str,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(usize),
) -> Result<(W, Written), PackageError> {
    let mut zip = zip::ZipWriter::new(out);
    let mut manifest = String::new();
    let (mut bytes, mut count) = (0_u64, 0_u64);
    let mut buffer = vec![0_u8; 1 << 20];
    for (done, group) in groups.iter().enumerate() {
        for entry in group {
            let name = format!("data/{}", entry.path);
            let mut hasher = Sha256::new();
            match &entry.source {
                Source::Text(text) => {
                    zip.start_file(format!("{root}/{name}"), options(text.len() as u64))?;
                    zip.write_all(text.as_bytes())?;
                    hasher.update(text.as_bytes());
                    bytes += text.len() as u64;
                }
                Source::File(file) => {
                    let path = media_root.join(file);
                    let read = |source| PackageError::Read {
                        entry: name.clone(),
                        path: path.clone(),
                        source,
                    };
                    let mut input = std::fs::File::open(&path).map_err(read)?;
                    let size = input.metadata().map_err(read)?.len();
                    zip.start_file(format!("{root}/{name}"), options(size))?;
                    loop {
                        if stop.load(Ordering::Relaxed) {
                            return Ok((zip.finish()?, Written::Stopped));
                        }
                        let n = input.read(&mut buffer).map_err(read)?;
                        if n == 0 {
                            break;
                        }
                        let chunk = buffer.get(..n).unwrap_or_default();
                        zip.write_all(chunk)?;
                        hasher.update(chunk);
                        bytes += n as u64;
                    }
                }
            }
            count += 1;
            let _ = writeln!(
                manifest,
                "{:x}  {}",
                hasher.finalize(),
                manifest_path(&name)
            );
        }
        if stop.load(Ordering::Relaxed) {
            return Ok((zip.finish()?, Written::Stopped));
        }
        progress(done + 1);
    }
    let tags = [
        ("manifest-sha256.txt", manifest),
        (
            "bagit.txt",
            "BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n".to_owned(),
        ),
        (
            "bag-info.txt",
            format!("Bagging-Date: {date}\nPayload-Oxum: {bytes}.{count}\n"),
        ),
    ];
    let mut tag_manifest = String::new();
    for (name, text) in &tags {
        zip.start_file(format!("{root}/{name}"), options(text.len() as u64))?;
        zip.write_all(text.as_bytes())?;
        let _ = writeln!(
            tag_manifest,
            "{:x}  {name}",
            Sha256::digest(text.as_bytes())
        );
    }
    zip.start_file(
        format!("{root}/tagmanifest-sha256.txt"),
        options(tag_manifest.len() as u64),
    )?;
    zip.write_all(tag_manifest.as_bytes())?;
    Ok((zip.finish()?, Written::Done))
}

fn options(size: u64) -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(size >= u64::from(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn media() -> tempfile::TempDir {
        let media = tempfile::tempdir().expect("a media dir");
        std::fs::write(media.path().join("one"), "first file").expect("file");
        std::fs::write(media.path().join("two"), "second").expect("file");
        media
    }

    fn groups() -> Vec<Vec<Entry>> {
        vec![
            vec![Entry {
                path: "A - x/r.txt".to_owned(),
                source: Source::File("one".to_owned()),
            }],
            vec![],
            vec![
                Entry {
                    path: "B - y/r.list/0.txt".to_owned(),
                    source: Source::File("two".to_owned()),
                },
                Entry {
                    path: "r/C - z - ERROR.txt".to_owned(),
                    source: Source::Text("Error Summary: no\n".to_owned()),
                },
            ],
        ]
    }

    fn read(zip: &mut zip::ZipArchive<Cursor<Vec<u8>>>, name: &str) -> String {
        let mut text = String::new();
        zip.by_name(name)
            .expect("the entry exists")
            .read_to_string(&mut text)
            .expect("UTF-8");
        text
    }

    #[test]
    fn a_bag_holds_the_payload_and_valid_manifests() {
        let media = media();
        let mut steps = Vec::new();
        let (out, written) = write_bag(
            Cursor::new(Vec::new()),
            "abc",
            media.path(),
            &groups(),
            "2025-01-02",
            &AtomicBool::new(false),
            &mut |done| steps.push(done),
        )
        .expect("the bag is written");
        assert_eq!(written, Written::Done);
        assert_eq!(steps, [1, 2, 3]);
        let mut zip = zip::ZipArchive::new(Cursor::new(out.into_inner())).expect("a zip");
        let mut names: Vec<&str> = zip.file_names().collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "abc/bag-info.txt",
                "abc/bagit.txt",
                "abc/data/A - x/r.txt",
                "abc/data/B - y/r.list/0.txt",
                "abc/data/r/C - z - ERROR.txt",
                "abc/manifest-sha256.txt",
                "abc/tagmanifest-sha256.txt",
            ]
        );
        assert_eq!(read(&mut zip, "abc/data/A - x/r.txt"), "first file");
        let manifest = read(&mut zip, "abc/manifest-sha256.txt");
        for line in manifest.lines() {
            let (sum, path) = line.split_once("  ").expect("sum and path");
            let bytes = read(&mut zip, &format!("abc/{path}"));
            assert_eq!(
                sum,
                format!("{:x}", Sha256::digest(bytes.as_bytes())),
                "{path}"
            );
        }
        assert_eq!(manifest.lines().count(), 3);
        let oxum = "first file".len() + "second".len() + "Error Summary: no\n".len();
        assert_eq!(
            read(&mut zip, "abc/bag-info.txt"),
            format!("Bagging-Date: 2025-01-02\nPayload-Oxum: {oxum}.3\n")
        );
        let tags = read(&mut zip, "abc/tagmanifest-sha256.txt");
        assert_eq!(tags.lines().count(), 3);
        assert!(tags.contains(&format!(
            "{:x}  manifest-sha256.txt",
            Sha256::digest(manifest.as_bytes())
        )));
    }

    #[test]
    fn a_raised_stop_ends_the_bag_before_the_next_file() {
        let media = media();
        let stop = AtomicBool::new(false);
        let (out, written) = write_bag(
            Cursor::new(Vec::new()),
            "abc",
            media.path(),
            &groups(),
            "2025-01-02",
            &stop,
            &mut |_| stop.store(true, Ordering::Relaxed),
        )
        .expect("stopping is not an error");
        assert_eq!(written, Written::Stopped);
        let zip = zip::ZipArchive::new(Cursor::new(out.into_inner())).expect("a zip");
        assert!(zip.file_names().all(|n| !n.contains("B - y")));
    }

    #[test]
    fn an_unreadable_file_fails_with_its_place_in_the_bag_not_its_server_path() {
        let media = tempfile::tempdir().expect("a media dir");
        let error = write_bag(
            Cursor::new(Vec::new()),
            "abc",
            media.path(),
            &groups(),
            "d",
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .expect_err("the files are missing");
        assert_eq!(
            error.to_string(),
            "failed to read the file of data/A - x/r.txt",
            "users read this"
        );
        assert!(
            matches!(&error, PackageError::Read { path, .. } if path == &media.path().join("one")),
            "the logs keep the server path: {error:?}"
        );
    }
}
