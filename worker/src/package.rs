//! Results packages (upstream's `package_results` and `expire_package`): a BagIt zip of a
//! workflow run's outputs at `results_packages/<uuid hex>.zip` below the media root, built from a
//! [`PackageMessage`] on the `celery` queue, and expired by the reaper.

use crate::runtime::{Settle, Shared};
use rodan_core::message::PackageMessage;
use rodan_core::status;
use rodan_db::events::{Change, Event};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::Hash;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Folder of the packages below the media root.
pub const PACKAGES_DIR: &str = "results_packages";

/// The model name of results packages in events.
const MODEL: &str = "resultspackage";

/// Share of the progress spent on the outputs; the rest is the zip's end (upstream's 70 %).
const OUTPUTS_PERCENT: usize = 70;

/// A package that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Mode 2 (diagnosis), which upstream never implemented.
    #[error("failed to package: the diagnosis mode (2) is not implemented")]
    DiagnosisMode,
    /// A mode upstream does not know.
    #[error("failed to package: packaging mode {0} is not supported")]
    UnknownMode(i32),
    /// A finished run job's output has no file.
    #[error("failed to find the file of the output '{0}'")]
    MissingFile(String),
    /// An output's file could not be read.
    #[error("failed to read {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The zip could not be written.
    #[error("failed to write the zip")]
    Zip(#[from] zip::result::ZipError),
    /// The package file could not be written or moved into place.
    #[error("failed to write the package file")]
    Write(#[from] std::io::Error),
    /// The run's outputs could not be read.
    #[error("failed to read the run's outputs")]
    Database(#[from] sqlx::Error),
}

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

/// The package file of `package`, relative to the media root.
pub fn package_file(package: Uuid) -> String {
    format!("{PACKAGES_DIR}/{}.zip", package.simple())
}

/// A package this worker claimed.
#[derive(Debug, Clone)]
struct Claimed {
    package: Uuid,
    task: String,
    run: Uuid,
    project: Uuid,
    mode: i32,
    date: String,
}

async fn claim(pool: &PgPool, message: &PackageMessage) -> Result<Option<Claimed>, sqlx::Error> {
    let row: Option<(Uuid, Uuid, i32, String)> = sqlx::query_as(
        r#"UPDATE results_packages rp SET status = $3, percent_completed = 0, updated = now()
           FROM workflow_runs wr
           WHERE rp.uuid = $1 AND rp.status = $4 AND rp.celery_task_id = $2
             AND wr.uuid = rp.workflow_run_uuid
           RETURNING rp.workflow_run_uuid, wr.project_uuid, rp.packaging_mode,
                     to_char(now(), 'YYYY-MM-DD')"#,
    )
    .bind(message.results_package)
    .bind(message.task_id.to_string())
    .bind(status::PROCESSING)
    .bind(status::SCHEDULED)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(run, project, mode, date)| Claimed {
        package: message.results_package,
        task: message.task_id.to_string(),
        run,
        project,
        mode,
        date,
    }))
}

// Workflow job, job name, port, run job status, error summary, error details, endpoint,
// resource, resource name, resource file, extension, list, list name.
type OutputJoin = (
    String,
    String,
    String,
    i32,
    String,
    String,
    bool,
    Option<Uuid>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Uuid>,
    Option<String>,
);

/// The outputs of `run`, in run job creation order.
pub async fn outputs(pool: &PgPool, run: Uuid) -> Result<Vec<Output>, sqlx::Error> {
    let rows: Vec<OutputJoin> = sqlx::query_as(
        r#"SELECT rj.workflow_job_hex, rj.job_name, o.output_port_type_name, rj.status,
                  rj.error_summary, rj.error_details,
                  NOT EXISTS (SELECT 1 FROM inputs i JOIN run_jobs c ON c.uuid = i.run_job_uuid
                              WHERE c.workflow_run_uuid = $1
                                AND (i.resource_uuid = o.resource_uuid
                                     OR i.resource_list_uuid = o.resource_list_uuid)),
                  o.resource_uuid, r.name, r.resource_file, rt.extension,
                  o.resource_list_uuid, l.name
           FROM outputs o
           JOIN run_jobs rj ON rj.uuid = o.run_job_uuid
           LEFT JOIN resources r ON r.uuid = o.resource_uuid
           LEFT JOIN resource_types rt ON rt.uuid = r.resource_type_uuid
           LEFT JOIN resource_lists l ON l.uuid = o.resource_list_uuid
           WHERE rj.workflow_run_uuid = $1
           ORDER BY rj.created, rj.uuid, o.created, o.output_port_type_name, o.uuid"#,
    )
    .bind(run)
    .fetch_all(pool)
    .await?;
    let lists: Vec<Uuid> = rows.iter().filter_map(|row| row.11).collect();
    let member_rows: Vec<(Uuid, Option<String>, String)> = sqlx::query_as(
        r#"SELECT m.resource_list_uuid, r.resource_file, rt.extension
           FROM resource_list_members m
           JOIN resources r ON r.uuid = m.resource_uuid
           JOIN resource_types rt ON rt.uuid = r.resource_type_uuid
           WHERE m.resource_list_uuid = ANY($1)
           ORDER BY m.resource_list_uuid, m.position"#,
    )
    .bind(&lists)
    .fetch_all(pool)
    .await?;
    let mut members: HashMap<Uuid, Vec<(Option<String>, String)>> = HashMap::new();
    for (list, file, extension) in member_rows {
        members.entry(list).or_default().push((file, extension));
    }
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let content = match (row.7, row.11) {
                (Some(uuid), _) => Content::Resource {
                    uuid,
                    name: row.8.unwrap_or_default(),
                    file: row.9,
                    extension: row.10.unwrap_or_default(),
                },
                (None, Some(uuid)) => Content::List {
                    uuid,
                    name: row.12.unwrap_or_default(),
                    members: members.remove(&uuid).unwrap_or_default(),
                },
                (None, None) => return None,
            };
            Some(Output {
                workflow_job: row.0,
                job_name: row.1,
                port: row.2,
                run_job_status: row.3,
                error_summary: row.4,
                error_details: row.5,
                endpoint: row.6,
                content,
            })
        })
        .collect())
}

/// Records progress (or just renews `updated`, the heartbeat the reaper looks at). `false`
/// means the package is no longer ours: cancelled, or reaped.
async fn touch(
    pool: &PgPool,
    claimed: &Claimed,
    percent: Option<i32>,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        r#"UPDATE results_packages
           SET percent_completed = COALESCE($3, percent_completed), updated = now()
           WHERE uuid = $1 AND celery_task_id = $2 AND status = $4"#,
    )
    .bind(claimed.package)
    .bind(&claimed.task)
    .bind(percent)
    .bind(status::PROCESSING)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Moves a claimed package to `to` (guarded by the claim); `false` when no longer ours.
async fn settle_row(
    pool: &PgPool,
    claimed: &Claimed,
    to: i32,
    summary: &str,
    details: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        r#"UPDATE results_packages
           SET status = $3,
               percent_completed = CASE WHEN $3 = $5 THEN 100
                                        WHEN $3 = $6 THEN 0 ELSE percent_completed END,
               error_summary = $7, error_details = $8, updated = now()
           WHERE uuid = $1 AND celery_task_id = $2 AND status = $4"#,
    )
    .bind(claimed.package)
    .bind(&claimed.task)
    .bind(to)
    .bind(status::PROCESSING)
    .bind(status::FINISHED)
    .bind(status::SCHEDULED)
    .bind(summary)
    .bind(details)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1)
}

async fn event(shared: &Shared, package: Uuid, project: Uuid) {
    shared
        .events
        .publish(&Event::new(Change::Updated, MODEL, package, Some(project)))
        .await;
}

/// Handles a [`PackageMessage`]: claims the package, builds its zip on a blocking thread while
/// recording progress, and finishes, fails, or (at shutdown) gives it back to the queue.
pub(crate) async fn handle(shared: &Shared, body: &[u8], hard: &CancellationToken) -> Settle {
    let message: PackageMessage = match serde_json::from_slice(body) {
        Ok(message) => message,
        Err(error) => {
            tracing::warn!(%error, "dropping a results-package message that does not decode");
            return Settle::Reject;
        }
    };
    let claimed = match claim(&shared.pool, &message).await {
        Ok(Some(claimed)) => claimed,
        Ok(None) => {
            tracing::debug!(package = %message.results_package, "stale or duplicate package message; dropped");
            return Settle::Ack;
        }
        Err(error) => {
            tracing::warn!(%error, package = %message.results_package, "package claim failed; requeueing");
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Settle::Requeue;
        }
    };
    event(shared, claimed.package, claimed.project).await;
    let how = build(shared, &claimed, hard).await;
    match how {
        Built::Finished => {
            tracing::info!(package = %claimed.package, "results package finished");
            event(shared, claimed.package, claimed.project).await;
            Settle::Ack
        }
        Built::Failed(error) => {
            let summary = error.to_string();
            let details = crate::error_chain(&error);
            tracing::info!(package = %claimed.package, %details, "results package failed");
            match settle_row(&shared.pool, &claimed, status::FAILED, &summary, &details).await {
                Ok(true) => event(shared, claimed.package, claimed.project).await,
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "failed to record a package failure"),
            }
            Settle::Ack
        }
        Built::Taken => {
            tracing::info!(package = %claimed.package, "results package cancelled while building");
            Settle::Ack
        }
        Built::Shutdown => {
            match settle_row(&shared.pool, &claimed, status::SCHEDULED, "", "").await {
                Ok(true) => {
                    event(shared, claimed.package, claimed.project).await;
                    Settle::Requeue
                }
                Ok(false) => Settle::Ack,
                Err(error) => {
                    // The reaper fails it once its heartbeat is old.
                    tracing::warn!(%error, "failed to give a package back at shutdown");
                    Settle::Ack
                }
            }
        }
    }
}

/// How building a claimed package ended.
enum Built {
    Finished,
    Failed(PackageError),
    /// Cancelled or reaped meanwhile; nothing left behind.
    Taken,
    Shutdown,
}

async fn build(shared: &Shared, claimed: &Claimed, hard: &CancellationToken) -> Built {
    let outputs = match outputs(&shared.pool, claimed.run).await {
        Ok(outputs) => outputs,
        Err(error) => return Built::Failed(error.into()),
    };
    let groups = match plan(claimed.mode, &outputs) {
        Ok(groups) => groups,
        Err(error) => return Built::Failed(error),
    };
    // Written in the scratch space of the media volume, so the finished zip is renamed in.
    let temp = match tempfile::Builder::new()
        .prefix(&claimed.package.simple().to_string())
        .suffix(".zip")
        .tempfile_in(&shared.scratch)
    {
        Ok(temp) => temp,
        Err(error) => return Built::Failed(error.into()),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (sender, mut progress) = tokio::sync::mpsc::unbounded_channel::<i32>();
    let media_root = shared.config.media_root.clone();
    let root = claimed.package.simple().to_string();
    let date = claimed.date.clone();
    let stop_flag = stop.clone();
    let steps = groups.len().max(1);
    let mut work = tokio::task::spawn_blocking(move || {
        let mut temp = temp;
        let mut last = 0;
        let mut report = |done: usize| {
            let percent = i32::try_from(OUTPUTS_PERCENT * done / steps).unwrap_or(0);
            if percent != last {
                last = percent;
                let _ = sender.send(percent);
            }
        };
        let written = write_bag(
            std::io::BufWriter::new(temp.as_file_mut()),
            &root,
            &media_root,
            &groups,
            &date,
            &stop_flag,
            &mut report,
        )
        .and_then(|(out, written)| {
            let file = out
                .into_inner()
                .map_err(std::io::IntoInnerError::into_error)?;
            file.sync_all()?;
            Ok(written)
        });
        (temp, written)
    });
    let mut heartbeat = tokio::time::interval(shared.config.lease() / 3);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut taken, mut shutdown) = (false, false);
    let done = loop {
        let percent = tokio::select! {
            done = &mut work => break done,
            Some(percent) = progress.recv() => Some(percent),
            _ = heartbeat.tick() => None,
            () = hard.cancelled(), if !shutdown => {
                shutdown = true;
                stop.store(true, Ordering::Relaxed);
                continue;
            }
        };
        if taken {
            continue;
        }
        match touch(&shared.pool, claimed, percent).await {
            Ok(true) => {}
            Ok(false) => {
                taken = true;
                stop.store(true, Ordering::Relaxed);
            }
            Err(error) => {
                tracing::warn!(%error, package = %claimed.package, "package heartbeat failed")
            }
        }
    };
    // The temporary file is removed when dropped, on every path but the rename.
    let (temp, written) = match done {
        Ok(done) => done,
        Err(error) => {
            return Built::Failed(PackageError::Write(std::io::Error::other(
                error.to_string(),
            )));
        }
    };
    if taken {
        return Built::Taken;
    }
    if shutdown {
        return Built::Shutdown;
    }
    match written {
        Ok(Written::Done) => {}
        Ok(Written::Stopped) => return Built::Taken,
        Err(error) => return Built::Failed(error),
    }
    let relative = package_file(claimed.package);
    let target = shared.config.media_root.join(&relative);
    let placed = target
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| temp.persist(&target).map(|_| ()).map_err(|e| e.error));
    if let Err(error) = placed {
        return Built::Failed(error.into());
    }
    match settle_row(&shared.pool, claimed, status::FINISHED, "", "").await {
        Ok(true) => Built::Finished,
        Ok(false) => {
            // Cancelled between the last heartbeat and now: the zip must not outlive it.
            remove(&target);
            Built::Taken
        }
        Err(error) => {
            remove(&target);
            Built::Failed(error.into())
        }
    }
}

fn remove(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "failed to remove a package file")
        }
    }
}

/// One reaper pass over packages: finished ones past their `expiry_time` become EXPIRED and lose
/// their zip; ones PROCESSING without a heartbeat for a lease (their worker died) fail.
pub(crate) async fn reap(shared: &Shared) -> Result<(), sqlx::Error> {
    let expired: Vec<(Uuid, Uuid)> = sqlx::query_as(
        r#"UPDATE results_packages rp SET status = $1, updated = now()
           FROM workflow_runs wr
           WHERE rp.status = $2 AND rp.expiry_time <= now() AND wr.uuid = rp.workflow_run_uuid
           RETURNING rp.uuid, wr.project_uuid"#,
    )
    .bind(status::EXPIRED)
    .bind(status::FINISHED)
    .fetch_all(&shared.pool)
    .await?;
    let lease_ms = i64::try_from(shared.config.lease().as_millis()).unwrap_or(i64::MAX);
    let stale: Vec<(Uuid, Uuid)> = sqlx::query_as(
        r#"UPDATE results_packages rp SET status = $1, updated = now(),
               error_summary = 'the worker building the package stopped before it finished',
               error_details = 'no worker renewed the package for ' || $3 || ' ms; create a new package'
           FROM workflow_runs wr
           WHERE rp.status = $2 AND rp.updated < now() - $3 * interval '1 millisecond'
             AND wr.uuid = rp.workflow_run_uuid
           RETURNING rp.uuid, wr.project_uuid"#,
    )
    .bind(status::FAILED)
    .bind(status::PROCESSING)
    .bind(lease_ms)
    .fetch_all(&shared.pool)
    .await?;
    for (package, _) in &expired {
        tracing::info!(%package, "results package expired");
        remove(&shared.config.media_root.join(package_file(*package)));
    }
    for (package, _) in &stale {
        tracing::warn!(%package, "results package lost its worker; failed");
    }
    let events: Vec<Event> = expired
        .iter()
        .chain(&stale)
        .map(|(package, project)| Event::new(Change::Updated, MODEL, *package, Some(*project)))
        .collect();
    shared.events.publish_all(&events).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

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
    fn an_unreadable_file_fails_with_its_path() {
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
        assert!(error.to_string().starts_with("failed to read "), "{error}");
        assert!(error.to_string().ends_with("one"), "{error}");
    }
}
