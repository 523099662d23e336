//! `rodan-worker run-job`: one job on local files, no broker, no database.

use rodan_jobs::{Inputs, Job, JobError, Outputs, Resource};
use std::path::PathBuf;

/// Arguments of `run-job`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunJobArgs {
    /// The job's name, upstream's (`"Otsu Threshold"`).
    pub name: String,
    /// An input file, `Port=path`; repeat for more.
    #[arg(long = "input")]
    pub inputs: Vec<String>,
    /// An output file, `Port=path`; repeat for more.
    #[arg(long = "output")]
    pub outputs: Vec<String>,
    /// The settings, a JSON object.
    #[arg(long, default_value = "{}")]
    pub settings: String,
    /// A port's resource type, `Port=mimetype`; by default the port's first accepted type.
    #[arg(long = "type")]
    pub types: Vec<String>,
}

/// A failed `run-job`.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// No job has that name.
    #[error("failed to find a job named '{0}'")]
    UnknownJob(String),
    /// A `Port=value` argument has no `=`.
    #[error("failed to read '{0}': expected Port=value")]
    BadPair(String),
    /// The job has no such port.
    #[error("failed to find port '{port}' on job '{job}'")]
    UnknownPort {
        /// The port named.
        port: String,
        /// The job.
        job: String,
    },
    /// The settings are not JSON.
    #[error("failed to parse the settings")]
    Settings(#[source] serde_json::Error),
    /// The job failed.
    #[error("failed to run the job: {summary} ({details})")]
    Job {
        /// Upstream's `error_summary`.
        summary: String,
        /// Upstream's `error_details`.
        details: String,
        /// The error.
        #[source]
        source: JobError,
    },
}

fn split(pair: &str) -> Result<(&str, &str), LocalError> {
    pair.split_once('=')
        .ok_or_else(|| LocalError::BadPair(pair.to_owned()))
}

/// Runs `args.name` from `catalogue` on the given files.
pub fn run_job(args: &RunJobArgs, catalogue: &[&'static dyn Job]) -> Result<(), LocalError> {
    let job = catalogue
        .iter()
        .find(|j| j.name() == args.name)
        .ok_or_else(|| LocalError::UnknownJob(args.name.clone()))?;
    let descriptor = job.descriptor();
    let settings: serde_json::Value =
        serde_json::from_str(&args.settings).map_err(LocalError::Settings)?;
    let mut types = std::collections::HashMap::new();
    for pair in &args.types {
        let (port, mimetype) = split(pair)?;
        types.insert(port.to_owned(), mimetype.to_owned());
    }
    let resource = |pair: &str, ports: &[rodan_core::catalogue::PortType]| {
        let (port, path) = split(pair)?;
        let declared =
            ports
                .iter()
                .find(|p| p.name == port)
                .ok_or_else(|| LocalError::UnknownPort {
                    port: port.to_owned(),
                    job: args.name.clone(),
                })?;
        let mimetype = types
            .get(port)
            .cloned()
            .or_else(|| declared.resource_types.first().cloned())
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        Ok::<_, LocalError>((
            port.to_owned(),
            Resource::new(PathBuf::from(path), mimetype),
        ))
    };
    let mut inputs = Inputs::new();
    for pair in &args.inputs {
        let (port, r) = resource(pair, &descriptor.input_port_types)?;
        inputs.push(port, r);
    }
    let mut outputs = Outputs::new();
    for pair in &args.outputs {
        let (port, r) = resource(pair, &descriptor.output_port_types)?;
        outputs.push(port, r);
    }
    job.run(&inputs, &settings, &outputs)
        .map_err(|source| LocalError::Job {
            summary: source.error_summary(),
            details: source.error_details(),
            source,
        })
}
