//! The job framework: what a job is, the files it reads and writes, and how it fails.
//!
//! A job has upstream's shape, `run_my_task(inputs, settings, outputs)`: inputs and outputs map
//! port names to files (a folder for list ports), settings are the workflow job's JSON object with
//! enum settings given as indices into the schema's `enum` list.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Map, Value};

/// One job: its catalogue entry and the function that runs it.
pub trait Job: fmt::Debug + Send + Sync {
    /// The job's unique name, upstream's (`"Otsu Threshold"`); equal to `descriptor().name`.
    fn name(&self) -> &'static str;

    /// What the catalogue stores about the job: name, category, settings schema, port types.
    fn descriptor(&self) -> JobDescriptor;

    /// Runs the job: reads `inputs`, writes every file of `outputs`.
    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError>;

    /// Runs the job as [`run`](Job::run) does, or, for an interactive job, stops and waits for a
    /// person (upstream's `run_my_task` returning `WAITING_FOR_INPUT`): then `outputs` need not be
    /// written, and the job runs again once the person's input is merged into its settings.
    fn run_or_wait(
        &self,
        inputs: &Inputs,
        settings: &Value,
        outputs: &Outputs,
    ) -> Result<Outcome, JobError> {
        self.run(inputs, settings, outputs)
            .map(|()| Outcome::Finished)
    }
}

/// How one run of a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every output is written.
    Finished,
    /// The job waits for a person.
    Waiting(Waiting),
}

/// An interactive job's "waiting for input": the runtime settings it keeps for its next run and
/// the page the person works in.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    /// Settings merged into the run job's settings; only `@` keys, as upstream keeps them.
    pub settings_update: Map<String, Value>,
    /// The page and its files.
    pub interface: Interface,
}

impl Waiting {
    /// Waits with `settings_update` (keys without `@` are dropped) and `interface`.
    pub fn new(settings_update: Map<String, Value>, interface: Interface) -> Self {
        Self {
            settings_update: rodan_core::interactive::runtime_only(settings_update),
            interface,
        }
    }
}

/// The interface bundle of a waiting job ([`rodan_core::interactive`]): its page, its files, and
/// the JSON Schema the person's input must meet.
#[derive(Debug, Clone, PartialEq)]
pub struct Interface {
    /// The page (HTML), the same for every run job of the job.
    pub page: &'static str,
    /// The job's own static files (path below the bundle's static folder, bytes).
    pub statics: &'static [(&'static str, &'static [u8])],
    /// Files made for this run job (path below the static folder, bytes): its data, images.
    pub files: Vec<(String, Vec<u8>)>,
    /// The JSON Schema of the person's input; what it accepts is merged into the settings.
    pub input_schema: Value,
}

/// One file of a port: a resource file, or for list ports the folder that holds the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Where the file (or the list's folder) is.
    pub path: PathBuf,
    /// Its resource type (mimetype), e.g. `image/onebit+png`.
    pub resource_type: String,
    /// The resource's name (upstream's `resource_name`), for jobs that name files after their
    /// input; `None` when the caller does not know it.
    pub name: Option<String>,
}

impl Resource {
    /// A resource at `path` of type `resource_type`.
    pub fn new(path: impl Into<PathBuf>, resource_type: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            resource_type: resource_type.into(),
            name: None,
        }
    }

    /// The same resource, named `name` (builder style).
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Upstream's `resource_name`: the name when known, else the file's name.
    pub fn resource_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
    }
}

/// Port name → the files connected to that port, in connection order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ports(BTreeMap<String, Vec<Resource>>);

/// The files a job reads, by input port name.
pub type Inputs = Ports;
/// The files a job must write, by output port name.
pub type Outputs = Ports;

impl Ports {
    /// No ports.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file to `port` (builder style).
    #[must_use]
    pub fn with(
        mut self,
        port: impl Into<String>,
        path: impl Into<PathBuf>,
        resource_type: impl Into<String>,
    ) -> Self {
        self.push(port, Resource::new(path, resource_type));
        self
    }

    /// Adds a file to `port`.
    pub fn push(&mut self, port: impl Into<String>, resource: Resource) {
        self.0.entry(port.into()).or_default().push(resource);
    }

    /// The files of `port`; empty when the port is not connected.
    pub fn get(&self, port: &str) -> &[Resource] {
        self.0.get(port).map_or(&[], Vec::as_slice)
    }

    /// Whether `port` has at least one file.
    pub fn contains(&self, port: &str) -> bool {
        !self.get(port).is_empty()
    }

    /// The first file of `port`, or a bad-input error naming the port when it has none.
    pub fn first(&self, port: &str) -> Result<&Resource, JobError> {
        self.get(port).first().ok_or_else(|| {
            JobError::bad_input(
                format!("no resource on port '{port}'"),
                format!("the job needs a resource on its port '{port}' and got none"),
            )
        })
    }

    /// Every (port, files) pair, ports in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[Resource])> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

/// Why a job failed. Bad input and bad settings are permanent (running again gives the same
/// result) and carry a user-facing summary and details, as upstream's `error_summary` /
/// `error_details`; IO errors may be retried.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The input files cannot be used (wrong format, wrong size, missing port...).
    #[error("failed to use the job's input: {summary}")]
    BadInput {
        /// One line for the user.
        summary: String,
        /// What exactly was wrong.
        details: String,
    },
    /// The settings cannot be used (wrong type, out of range, unknown enum index...).
    #[error("failed to use the job's settings: {summary}")]
    BadSettings {
        /// One line for the user.
        summary: String,
        /// What exactly was wrong.
        details: String,
    },
    /// A file could not be read.
    #[error("failed to read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("failed to write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl JobError {
    /// A permanent error about the input.
    pub fn bad_input(summary: impl Into<String>, details: impl Into<String>) -> Self {
        Self::BadInput {
            summary: summary.into(),
            details: details.into(),
        }
    }

    /// A permanent error about the settings.
    pub fn bad_settings(summary: impl Into<String>, details: impl Into<String>) -> Self {
        Self::BadSettings {
            summary: summary.into(),
            details: details.into(),
        }
    }

    /// A read error on `path`: data that ends early or is invalid (a truncated or corrupt file)
    /// is permanent bad input, as it reads the same the next time; other failures (the volume,
    /// permissions, a file not there yet) are [`JobError::Read`] and may pass.
    pub fn read(path: &Path, source: std::io::Error) -> Self {
        use std::io::ErrorKind;
        if matches!(
            source.kind(),
            ErrorKind::UnexpectedEof | ErrorKind::InvalidData
        ) {
            return Self::bad_input(
                "the input file is truncated or corrupt",
                format!("{} could not be read: {source}", path.display()),
            );
        }
        Self::Read {
            path: path.to_owned(),
            source,
        }
    }

    /// The file at `path` as UTF-8 text: a failure to read it is a [`JobError::Read`] (it may
    /// pass), a file over the text bound ([`crate::limits`]) or bytes that are not UTF-8 are bad
    /// input (they will not); `what` names the input in the summary.
    pub fn read_text(path: &Path, what: &str) -> Result<String, Self> {
        let bytes = crate::limits::read_text_input(path, what)?;
        String::from_utf8(bytes).map_err(|e| {
            Self::bad_input(
                format!("{what} is not UTF-8 text"),
                format!("{} is not UTF-8 text: {e}", path.display()),
            )
        })
    }

    /// A write error on `path`.
    pub fn write(path: &Path, source: std::io::Error) -> Self {
        Self::Write {
            path: path.to_owned(),
            source,
        }
    }

    /// Whether running the job again with the same input cannot succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::BadInput { .. } | Self::BadSettings { .. })
    }

    /// Upstream's `error_summary`: one line for the user.
    pub fn error_summary(&self) -> String {
        match self {
            Self::BadInput { summary, .. } | Self::BadSettings { summary, .. } => summary.clone(),
            Self::Read { .. } | Self::Write { .. } => self.to_string(),
        }
    }

    /// Upstream's `error_details`: the longer explanation.
    pub fn error_details(&self) -> String {
        match self {
            Self::BadInput { details, .. } | Self::BadSettings { details, .. } => details.clone(),
            Self::Read { source, .. } | Self::Write { source, .. } => source.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_of_an_unconnected_port_is_a_permanent_bad_input_naming_the_port() {
        let ports = Ports::new().with("A", "/a", "text/plain");
        assert_eq!(
            ports.first("A").expect("A is connected").path,
            PathBuf::from("/a")
        );
        let err = ports.first("B").expect_err("B is not connected");
        assert!(err.is_permanent());
        assert!(err.error_summary().contains("'B'"));
    }

    #[test]
    fn io_errors_are_retryable_and_keep_their_cause_in_the_details() {
        let err = JobError::read(
            Path::new("/x"),
            std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        );
        assert!(!err.is_permanent());
        assert_eq!(err.error_details(), "gone");
        assert_eq!(err.to_string(), "failed to read /x");
    }

    #[test]
    fn truncated_or_invalid_data_is_permanent_bad_input() {
        for kind in [
            std::io::ErrorKind::UnexpectedEof,
            std::io::ErrorKind::InvalidData,
        ] {
            let err = JobError::read(Path::new("/x"), std::io::Error::new(kind, "cut"));
            assert!(err.is_permanent(), "{kind:?}");
            assert_eq!(
                err.error_summary(),
                "the input file is truncated or corrupt"
            );
        }
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("cut.png");
        let mut png = crate::limits::tests::bomb_png(64, 64);
        png.truncate(png.len() - 30);
        std::fs::write(&path, png).expect("written");
        let err = crate::gamera::png::load_png(&path).expect_err("truncated");
        assert!(err.is_permanent(), "{err:?}");
    }
}
