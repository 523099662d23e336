//! Between the database's rows and a job's files: input paths below the media root, scratch
//! output paths, and moving finished outputs to their resources' place
//! (`projects/<project hex>/resources/<resource hex>/original_file`).

use crate::store::{InputRow, OutputRow};
use rodan_jobs::{Inputs, Outputs, Resource};
use std::path::{Path, PathBuf};
use uuid::Uuid;

/// A failure to prepare a job's files or to keep its outputs.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// An input resource has no file yet.
    #[error("failed to find a file for input port '{0}'")]
    MissingInput(String),
    /// The job finished without writing one of its outputs.
    #[error("failed to find the output of port '{0}': the job did not write it")]
    MissingOutput(String),
    /// A file operation failed.
    #[error("failed to {what} {}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl ExecuteError {
    fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |source| Self::Io { what, path, source }
    }

    /// Whether running again cannot help.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, Self::Io { .. })
    }
}

/// Runs file work on the blocking pool: the worker's async side is one thread, and a file system
/// (a network volume above all) may take its time over the links and renames of a long list.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ExecuteError> + Send + 'static,
) -> Result<T, ExecuteError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|error| {
            Err(ExecuteError::Io {
                what: "finish the file work in",
                path: PathBuf::from("the blocking pool"),
                source: std::io::Error::other(error),
            })
        })
}

/// [`job_inputs`] and [`job_outputs`] together.
pub fn job_files(
    media_root: &Path,
    inputs: &[InputRow],
    outputs: &[OutputRow],
    scratch: &Path,
) -> Result<(Inputs, Outputs), ExecuteError> {
    Ok((
        job_inputs(media_root, inputs, scratch)?,
        job_outputs(outputs, scratch)?,
    ))
}

/// The job's inputs: resources as their files below `media_root`; each list as a folder in
/// `scratch` holding its members in order (`00000`, `00001`, ...).
pub fn job_inputs(
    media_root: &Path,
    rows: &[InputRow],
    scratch: &Path,
) -> Result<Inputs, ExecuteError> {
    let mut inputs = Inputs::new();
    for (n, row) in rows.iter().enumerate() {
        if let Some((file, mimetype)) = &row.resource {
            if file.is_empty() {
                return Err(ExecuteError::MissingInput(row.port.clone()));
            }
            // The resource's name goes along: jobs name files after it (upstream's
            // `resource_name`, e.g. Extract C Clefs' `{name}_{n}.png`).
            let resource = Resource::new(media_root.join(file), mimetype);
            let resource = if row.name.is_empty() {
                resource
            } else {
                resource.named(&row.name)
            };
            inputs.push(&row.port, resource);
        } else if let Some(members) = &row.list {
            let folder = scratch.join(format!("input-{n}"));
            std::fs::create_dir_all(&folder).map_err(ExecuteError::io("create", &folder))?;
            let mut mimetype = String::new();
            for (position, (file, member_type)) in members.iter().enumerate() {
                if file.is_empty() {
                    return Err(ExecuteError::MissingInput(row.port.clone()));
                }
                let from = media_root.join(file);
                let to = folder.join(format!("{position:05}"));
                link_or_copy(&from, &to)?;
                mimetype.clone_from(member_type);
            }
            inputs.push(&row.port, Resource::new(folder, mimetype));
        }
    }
    Ok(inputs)
}

fn link_or_copy(from: &Path, to: &Path) -> Result<(), ExecuteError> {
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(ExecuteError::io("copy", from))
}

/// The job's outputs: a fresh path in `scratch` per output (a folder for lists).
pub fn job_outputs(rows: &[OutputRow], scratch: &Path) -> Result<Outputs, ExecuteError> {
    let mut outputs = Outputs::new();
    for path_and_row in output_paths(rows, scratch) {
        let (path, row) = path_and_row;
        if row.list.is_some() {
            std::fs::create_dir_all(&path).map_err(ExecuteError::io("create", &path))?;
        }
        outputs.push(&row.port, Resource::new(path, &row.mimetype));
    }
    Ok(outputs)
}

/// The scratch path of each output row, in order.
pub fn output_paths<'a>(
    rows: &'a [OutputRow],
    scratch: &Path,
) -> impl Iterator<Item = (PathBuf, &'a OutputRow)> {
    let scratch = scratch.to_owned();
    rows.iter()
        .enumerate()
        .map(move |(n, row)| (scratch.join(format!("output-{n}")), row))
}

/// The files a list output's folder holds, sorted by name (upstream's member order).
pub fn list_files(folder: &Path, port: &str) -> Result<Vec<PathBuf>, ExecuteError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(ExecuteError::io("read", folder))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ExecuteError::MissingOutput(port.to_owned()));
    }
    Ok(files)
}

/// Checks that the job wrote every output: each file exists, each list folder has a file.
pub fn check_outputs(rows: &[OutputRow], scratch: &Path) -> Result<(), ExecuteError> {
    for (path, row) in output_paths(rows, scratch) {
        if row.list.is_some() {
            list_files(&path, &row.port)?;
        } else if !path.is_file() {
            return Err(ExecuteError::MissingOutput(row.port.clone()));
        }
    }
    Ok(())
}

/// Moves `from` to `relative` below `media_root`, creating folders; a rename when both are on
/// one file system, else a copy.
pub fn place(from: &Path, media_root: &Path, relative: &str) -> Result<(), ExecuteError> {
    let to = media_root.join(relative);
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(ExecuteError::io("create", parent))?;
    }
    if std::fs::rename(from, &to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, &to)
        .map(|_| ())
        .map_err(ExecuteError::io("copy", from))
}

/// `text` (an error for users) with the server's paths replaced by what users know: an input's
/// file by its port and resource name, an output's by its port, the files a job sees in its
/// scratch folder (`input-N`, list members, `output-N`) likewise, and any other file of the
/// media volume by that phrase. Users see errors through the API; paths tell them nothing and
/// show how the server is laid out.
pub fn redact(
    text: &str,
    media_root: &Path,
    scratch_root: &Path,
    project: Uuid,
    inputs: &[InputRow],
    outputs: &[OutputRow],
) -> String {
    let input = |row: &InputRow| {
        if row.name.is_empty() {
            format!("input '{}'", row.port)
        } else {
            format!("input '{}' (resource '{}')", row.port, row.name)
        }
    };
    let mut known: Vec<(String, String)> = Vec::new();
    for row in inputs {
        if let Some((file, _)) = &row.resource
            && !file.is_empty()
        {
            known.push((media_root.join(file).display().to_string(), input(row)));
        }
        for (position, (file, _)) in row.list.iter().flatten().enumerate() {
            if !file.is_empty() {
                known.push((
                    media_root.join(file).display().to_string(),
                    format!("member {} of input '{}'", position + 1, row.port),
                ));
            }
        }
    }
    for row in outputs {
        if let Some(resource) = row.resource {
            known.push((
                media_root
                    .join(rodan_core::media::resource_file(project, resource))
                    .display()
                    .to_string(),
                format!("output '{}'", row.port),
            ));
        }
    }
    // Longest first, so a path is not replaced by a shorter one's replacement.
    known.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
    let mut text = text.to_owned();
    for (path, name) in &known {
        text = text.replace(path.as_str(), name);
    }
    let scratch = scratch_root.display().to_string();
    let text = replace_paths(&text, &scratch, |rest| {
        // `<job folder>/input-N[/member]` or `<job folder>/output-N[/file]`.
        let mut parts = rest.trim_start_matches('/').split('/').skip(1);
        let (kind, n) = parts
            .next()
            .and_then(|p| p.split_once('-'))
            .and_then(|(kind, n)| Some((kind, n.parse::<usize>().ok()?)))
            .unwrap_or(("", 0));
        let member = parts.next().and_then(|m| m.parse::<usize>().ok());
        match (kind, inputs.get(n), outputs.get(n), member) {
            ("input", Some(row), _, Some(m)) => {
                format!("member {} of input '{}'", m + 1, row.port)
            }
            ("input", Some(row), _, None) => input(row),
            ("output", _, Some(row), _) => format!("output '{}'", row.port),
            _ => "the job's scratch folder".to_owned(),
        }
    });
    let media = media_root.display().to_string();
    replace_paths(&text, &media, |_| "a file of the media volume".to_owned())
}

/// `text` with each path that starts with `root` replaced by `name(the rest of it)`; a path
/// ends at white space, a quote, a colon, a comma or a closing bracket.
fn replace_paths(text: &str, root: &str, name: impl Fn(&str) -> String) -> String {
    if root.is_empty() || root == "/" {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(root) {
        out.push_str(&rest[..at]);
        let after = &rest[at + root.len()..];
        // Only whole components: `/media` is not the root of `/media2/x`.
        if !(after.is_empty() || after.starts_with('/')) {
            out.push_str(root);
            rest = after;
            continue;
        }
        let end = after
            .find(|c: char| c.is_whitespace() || "'\":,)]}".contains(c))
            .unwrap_or(after.len());
        out.push_str(&name(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rodan_core::media::resource_file;

    fn output(port: &str, list: bool) -> OutputRow {
        OutputRow {
            port: port.into(),
            resource: (!list).then(Uuid::new_v4),
            list: list.then(Uuid::new_v4),
            mimetype: "text/plain".into(),
            resource_type: None,
        }
    }

    #[test]
    fn errors_for_users_name_ports_and_resources_instead_of_server_paths() {
        let media = Path::new("/var/media");
        let scratch = Path::new("/var/media/.scratch/worker-a");
        let project = Uuid::from_u128(1);
        let page = "projects/p/resources/r/original_file";
        let inputs = [
            InputRow {
                port: "PNG image".into(),
                resource: Some((page.into(), "image/rgb+png".into())),
                list: None,
                resource_uuid: None,
                name: "folio 068r.png".into(),
            },
            InputRow {
                port: "Pages".into(),
                resource: None,
                list: Some(vec![(
                    "projects/p/resources/m/original_file".into(),
                    "image/rgb+png".into(),
                )]),
                resource_uuid: None,
                name: String::new(),
            },
        ];
        let outputs = [output("Greyscale PNG image", false)];
        let out_file = media.join(resource_file(project, outputs[0].resource.expect("one")));
        let redact = |text: &str| redact(text, media, scratch, project, &inputs, &outputs);
        assert_eq!(
            redact("failed to read /var/media/projects/p/resources/r/original_file: truncated"),
            "failed to read input 'PNG image' (resource 'folio 068r.png'): truncated"
        );
        assert_eq!(
            redact("/var/media/.scratch/worker-a/0a1bXyZ/input-1/00003: bad"),
            "member 4 of input 'Pages': bad"
        );
        assert_eq!(
            redact("failed to copy /var/media/.scratch/worker-a/0a1bXyZ/output-0 to it"),
            "failed to copy output 'Greyscale PNG image' to it"
        );
        assert_eq!(
            redact(&format!("failed to create {}", out_file.display())),
            "failed to create output 'Greyscale PNG image'"
        );
        assert_eq!(
            redact("failed to open /var/media/projects/q/other (No such file), /var/media2/x"),
            "failed to open a file of the media volume (No such file), /var/media2/x"
        );
        assert_eq!(
            redact(
                "projects/p/resources/m/original_file at /var/media/projects/p/resources/m/original_file"
            ),
            "projects/p/resources/m/original_file at member 1 of input 'Pages'"
        );
    }

    #[test]
    fn resource_files_follow_upstream_layout() {
        let p = Uuid::from_u128(0xab);
        let r = Uuid::from_u128(0xcd);
        assert_eq!(
            resource_file(p, r),
            "projects/000000000000000000000000000000ab/resources/000000000000000000000000000000cd/original_file"
        );
    }

    #[test]
    fn a_single_input_carries_its_resource_name_for_jobs_that_name_files_after_it() {
        let media = tempfile::tempdir().expect("a temp dir");
        let scratch = tempfile::tempdir().expect("a temp dir");
        let row = |name: &str| InputRow {
            port: "P".into(),
            resource: Some((
                "projects/p/resources/r/original_file".into(),
                "image/rgba+png".into(),
            )),
            list: None,
            resource_uuid: None,
            name: name.into(),
        };
        let inputs =
            job_inputs(media.path(), &[row("folio 068r.png")], scratch.path()).expect("inputs");
        assert_eq!(
            inputs.first("P").expect("P").resource_name(),
            "folio 068r.png"
        );
        // A resource without a name falls back to its file's, as upstream's resource_name.
        let inputs = job_inputs(media.path(), &[row("")], scratch.path()).expect("inputs");
        assert_eq!(
            inputs.first("P").expect("P").resource_name(),
            "original_file"
        );
    }

    #[test]
    fn list_inputs_become_folders_of_members_in_order_and_missing_files_are_refused() {
        let media = tempfile::tempdir().expect("a temp dir");
        std::fs::write(media.path().join("a"), "A").expect("write a");
        std::fs::write(media.path().join("b"), "B").expect("write b");
        let scratch = tempfile::tempdir().expect("a temp dir");
        let rows = vec![InputRow {
            port: "L".into(),
            resource: None,
            list: Some(vec![
                ("b".into(), "text/plain".into()),
                ("a".into(), "text/plain".into()),
            ]),
            resource_uuid: None,
            name: String::new(),
        }];
        let inputs = job_inputs(media.path(), &rows, scratch.path()).expect("inputs");
        let folder = &inputs.first("L").expect("L").path;
        let names: Vec<String> = list_files(folder, "L")
            .expect("members")
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("readable"))
            .collect();
        assert_eq!(names, ["B", "A"]);
        let missing = vec![InputRow {
            port: "P".into(),
            resource: Some((String::new(), "text/plain".into())),
            list: None,
            resource_uuid: None,
            name: String::new(),
        }];
        let err = job_inputs(media.path(), &missing, scratch.path()).expect_err("no file");
        assert!(err.is_permanent());
        assert!(err.to_string().contains("'P'"));
    }

    #[test]
    fn unwritten_outputs_and_empty_lists_are_reported_by_port() {
        let scratch = tempfile::tempdir().expect("a temp dir");
        let rows = vec![output("One", false), output("Many", true)];
        job_outputs(&rows, scratch.path()).expect("outputs");
        let err = check_outputs(&rows, scratch.path()).expect_err("nothing written");
        assert!(err.to_string().contains("'One'"));
        std::fs::write(scratch.path().join("output-0"), "x").expect("write");
        let err = check_outputs(&rows, scratch.path()).expect_err("list empty");
        assert!(err.to_string().contains("'Many'"));
        std::fs::write(scratch.path().join("output-1").join("p1"), "x").expect("write");
        check_outputs(&rows, scratch.path()).expect("all written");
    }
}
