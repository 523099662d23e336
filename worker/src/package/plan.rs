//! Planning a results package: which files of a run's outputs go where in the bag, as upstream
//! lays them out (pure; no file or database is touched).

use super::error::PackageError;
use rodan_core::status;
use std::collections::HashMap;
use std::hash::Hash;
use uuid::Uuid;

/// What an output holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// One resource.
    Resource {
        /// The resource.
        uuid: Uuid,
        /// Its name.
        name: String,
        /// Its file below the media root, once written.
        file: Option<String>,
        /// Its type's extension, without the dot.
        extension: String,
    },
    /// A resource list.
    List {
        /// The list.
        uuid: Uuid,
        /// Its name.
        name: String,
        /// Each member's file below the media root and extension, in position order.
        members: Vec<(Option<String>, String)>,
    },
}

/// One output of the packaged run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The workflow job the run job came from (names are unique per workflow job).
    pub workflow_job: String,
    /// The run job's job name.
    pub job_name: String,
    /// The output port type's name.
    pub port: String,
    /// The run job's status.
    pub run_job_status: i32,
    /// The run job's error summary.
    pub error_summary: String,
    /// The run job's error details.
    pub error_details: String,
    /// No run job of the same run takes this output as an input.
    pub endpoint: bool,
    /// The resource or list.
    pub content: Content,
}

/// Where a zip entry's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file below the media root.
    File(String),
    /// Literal text.
    Text(String),
}

/// One file of the package, at `path` below the bag's `data/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path inside the payload, `/`-separated.
    pub path: String,
    /// Its bytes.
    pub source: Source,
}

/// Upstream's `_NameFinder`: the first owner of a name keeps it, later ones get `name (n)`.
#[derive(Debug)]
struct NameFinder<K> {
    counts: HashMap<String, usize>,
    names: HashMap<K, String>,
}

impl<K: Eq + Hash> NameFinder<K> {
    fn new() -> Self {
        Self {
            counts: HashMap::new(),
            names: HashMap::new(),
        }
    }

    fn find(&mut self, key: K, name: &str) -> String {
        if let Some(found) = self.names.get(&key) {
            return found.clone();
        }
        let count = self.counts.entry(name.to_owned()).or_insert(0);
        *count += 1;
        let found = if *count == 1 {
            name.to_owned()
        } else {
            format!("{name} ({count})")
        };
        self.names.insert(key, found.clone());
        found
    }
}

/// A name usable as one path component: no separators, never `.` or `..`, so a user's resource
/// name cannot place files outside the bag when the zip is extracted.
fn component(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect();
    match clean.as_str() {
        "" | "." | ".." => "_".to_owned(),
        _ => clean,
    }
}

fn dotted(extension: &str) -> String {
    if extension.is_empty() {
        String::new()
    } else {
        format!(".{extension}")
    }
}

fn list_entries(
    folder: &str,
    members: &[(Option<String>, String)],
    owner: &str,
) -> Result<Vec<Entry>, PackageError> {
    let width = members.len().to_string().len();
    members
        .iter()
        .enumerate()
        .map(|(index, (file, extension))| {
            let file = file
                .clone()
                .ok_or_else(|| PackageError::MissingFile(format!("{owner} #{index}")))?;
            Ok(Entry {
                path: format!("{folder}/{index:0width$}{}", dotted(extension)),
                source: Source::File(file),
            })
        })
        .collect()
}

/// The package's files, one group per output in order (empty for an output left out), as
/// upstream lays them out: mode 0 keeps endpoint outputs of finished run jobs in
/// `<job> - <port>/<resource>.<ext>`, mode 1 keeps every output in
/// `<resource>/<job> - <port>.<ext>` and an `ERROR.txt` for a failed run job; lists become
/// `<name>.list/<index>.<ext>` folders.
pub fn plan(mode: i32, outputs: &[Output]) -> Result<Vec<Vec<Entry>>, PackageError> {
    match mode {
        0 | 1 => {}
        2 => return Err(PackageError::DiagnosisMode),
        other => return Err(PackageError::UnknownMode(other)),
    }
    let mut jobs = NameFinder::new();
    let mut resources = NameFinder::new();
    let mut groups = Vec::with_capacity(outputs.len());
    for output in outputs {
        let (uuid, name) = match &output.content {
            Content::Resource { uuid, name, .. } | Content::List { uuid, name, .. } => {
                (*uuid, name.as_str())
            }
        };
        let port = component(&output.port);
        let mut group = Vec::new();
        if mode == 0 {
            if !output.endpoint {
                groups.push(group);
                continue;
            }
            let job = component(&jobs.find(output.workflow_job.clone(), &output.job_name));
            if output.run_job_status == status::FINISHED {
                let resource = component(&resources.find(uuid, name));
                match &output.content {
                    Content::Resource {
                        file, extension, ..
                    } => group.push(Entry {
                        path: format!("{job} - {port}/{resource}{}", dotted(extension)),
                        source: Source::File(
                            file.clone()
                                .ok_or_else(|| PackageError::MissingFile(name.to_owned()))?,
                        ),
                    }),
                    Content::List { members, .. } => group.extend(list_entries(
                        &format!("{job} - {port}/{resource}.list"),
                        members,
                        name,
                    )?),
                }
            }
        } else {
            let resource = component(&resources.find(uuid, name));
            let job = component(&jobs.find(output.workflow_job.clone(), &output.job_name));
            if output.run_job_status == status::FINISHED {
                match &output.content {
                    Content::Resource {
                        file, extension, ..
                    } => group.push(Entry {
                        path: format!("{resource}/{job} - {port}{}", dotted(extension)),
                        source: Source::File(
                            file.clone()
                                .ok_or_else(|| PackageError::MissingFile(name.to_owned()))?,
                        ),
                    }),
                    Content::List { members, .. } => group.extend(list_entries(
                        &format!("{resource}/{job} - {port}.list"),
                        members,
                        name,
                    )?),
                }
            } else if output.run_job_status == status::FAILED {
                group.push(Entry {
                    path: format!("{resource}/{job} - {port} - ERROR.txt"),
                    source: Source::Text(format!(
                        "Error Summary: {}\n\nError Details:\n{}",
                        output.error_summary, output.error_details
                    )),
                });
            }
        }
        groups.push(group);
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(wfj: &str, job: &str, status: i32, endpoint: bool, content: Content) -> Output {
        Output {
            workflow_job: wfj.to_owned(),
            job_name: job.to_owned(),
            port: "Out".to_owned(),
            run_job_status: status,
            error_summary: "it broke".to_owned(),
            error_details: "trace".to_owned(),
            endpoint,
            content,
        }
    }

    fn resource(n: u128, name: &str, file: Option<&str>) -> Content {
        Content::Resource {
            uuid: Uuid::from_u128(n),
            name: name.to_owned(),
            file: file.map(str::to_owned),
            extension: "png".to_owned(),
        }
    }

    fn list(n: u128, name: &str, members: usize) -> Content {
        Content::List {
            uuid: Uuid::from_u128(n),
            name: name.to_owned(),
            members: (0..members)
                .map(|i| (Some(format!("m{i}")), "txt".to_owned()))
                .collect(),
        }
    }

    /// A: non-endpoint; B: same job name and resource name as A; C: failed endpoint;
    /// D: an eleven-member list.
    fn run() -> Vec<Output> {
        vec![
            output(
                "a",
                "Job",
                status::FINISHED,
                false,
                resource(1, "page", Some("fa")),
            ),
            output(
                "b",
                "Job",
                status::FINISHED,
                true,
                resource(2, "page", Some("fb")),
            ),
            output("c", "Bad", status::FAILED, true, resource(3, "page", None)),
            output("d", "Lister", status::FINISHED, true, list(4, "pages", 11)),
        ]
    }

    fn paths(groups: &[Vec<Entry>]) -> Vec<Vec<&str>> {
        groups
            .iter()
            .map(|g| g.iter().map(|e| e.path.as_str()).collect())
            .collect()
    }

    #[test]
    fn mode_0_keeps_finished_endpoint_outputs_by_job_and_port() {
        let groups = plan(0, &run()).expect("mode 0 plans");
        let got = paths(&groups);
        assert_eq!(got.len(), 4, "one progress step per output");
        assert!(got[0].is_empty() && got[2].is_empty());
        // A was skipped before naming, so B's job keeps its plain name.
        assert_eq!(got[1], ["Job - Out/page.png"]);
        assert_eq!(got[3].len(), 11);
        assert_eq!(got[3][0], "Lister - Out/pages.list/00.txt");
        assert_eq!(got[3][10], "Lister - Out/pages.list/10.txt");
        assert_eq!(groups[1][0].source, Source::File("fb".to_owned()));
        assert_eq!(groups[3][10].source, Source::File("m10".to_owned()));
    }

    #[test]
    fn mode_1_groups_by_resource_name_and_reports_failed_run_jobs() {
        let groups = plan(1, &run()).expect("mode 1 plans");
        let got = paths(&groups);
        assert_eq!(got[0], ["page/Job - Out.png"]);
        assert_eq!(got[1], ["page (2)/Job (2) - Out.png"]);
        assert_eq!(got[2], ["page (3)/Bad - Out - ERROR.txt"]);
        assert_eq!(
            groups[2][0].source,
            Source::Text("Error Summary: it broke\n\nError Details:\ntrace".to_owned())
        );
        assert_eq!(got[3][0], "pages/Lister - Out.list/00.txt");
    }

    #[test]
    fn the_same_workflow_job_and_resource_keep_one_name() {
        let outputs = vec![
            output(
                "a",
                "Job",
                status::FINISHED,
                true,
                resource(1, "p", Some("f1")),
            ),
            output(
                "a",
                "Job",
                status::FINISHED,
                true,
                resource(1, "p", Some("f1")),
            ),
            output(
                "b",
                "Job",
                status::FINISHED,
                true,
                resource(2, "p", Some("f2")),
            ),
        ];
        let got = plan(1, &outputs).expect("plans");
        assert_eq!(
            paths(&got),
            [
                ["p/Job - Out.png"],
                ["p/Job - Out.png"],
                ["p (2)/Job (2) - Out.png"]
            ]
        );
    }

    #[test]
    fn diagnosis_and_unknown_modes_and_missing_files_fail_clearly() {
        let diagnosis = plan(2, &run()).expect_err("mode 2 is not implemented");
        assert!(matches!(diagnosis, PackageError::DiagnosisMode));
        assert!(
            diagnosis.to_string().contains("not implemented"),
            "{diagnosis}"
        );
        assert!(matches!(plan(5, &run()), Err(PackageError::UnknownMode(5))));
        let missing = vec![output(
            "a",
            "J",
            status::FINISHED,
            true,
            resource(1, "r", None),
        )];
        assert!(matches!(plan(0, &missing), Err(PackageError::MissingFile(n)) if n == "r"));
    }

    #[test]
    fn names_cannot_escape_the_bag() {
        let outputs = vec![output(
            "a",
            "../..",
            status::FINISHED,
            true,
            resource(1, "..", Some("f")),
        )];
        let got = plan(0, &outputs).expect("plans");
        assert_eq!(paths(&got), [[".._.. - Out/_.png"]]);
        assert_eq!(component("a/b\\c"), "a_b_c");
        assert_eq!(component("."), "_");
        assert_eq!(component(""), "_");
    }
}
