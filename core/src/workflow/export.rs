//! Workflow export (format 0.2) and import (formats 0.1 and 0.2), checked against the catalogue.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value, json};
use uuid::Uuid;

use super::settings::{check, dotted_path};
use super::{
    Catalogue, Connection, Graph, InputPort, OutputPort, Workflow, WorkflowJob, port_type,
};
use crate::catalogue::JobDescriptor;

/// The format version [`export`] writes.
pub const EXPORT_VERSION: f64 = 0.2;

/// A workflow as a portable document (`GET /api/workflow/<uuid>/?export`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedWorkflow {
    /// Format version: 0.1 (no appearance) or 0.2.
    #[serde(rename = "__version__")]
    pub version: f64,
    /// The workflow's name.
    pub name: String,
    /// The workflow's description.
    pub description: String,
    /// Its jobs with their ports.
    pub workflow_jobs: Vec<ExportedJob>,
    /// Connections between ports, by document-local port ids.
    pub connections: Vec<ExportedConnection>,
}

/// A workflow job in a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedJob {
    /// The catalogue job's name.
    pub job_name: String,
    /// Its settings.
    pub job_settings: Value,
    /// Canvas position (0.2 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appearance: Option<Value>,
    /// Its input ports.
    pub input_ports: Vec<ExportedPort>,
    /// Its output ports.
    pub output_ports: Vec<ExportedPort>,
}

/// A port in a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedPort {
    /// The port type's name.
    #[serde(rename = "type")]
    pub port_type: String,
    /// Document-local id (a number; upstream counts from 1 across all ports).
    pub id: Number,
    /// The port's label.
    pub label: String,
}

/// A connection in a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedConnection {
    /// Id of the receiving input port.
    pub input_port: Number,
    /// Id of the producing output port.
    pub output_port: Number,
}

/// Why a document cannot be imported (a 400 under `serialized`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    /// The document is not a JSON object.
    #[error("failed to import the workflow: the document is not a JSON object")]
    NotAnObject,
    /// No `__version__`.
    #[error("failed to import the workflow: the document has no __version__")]
    MissingVersion,
    /// A version other than 0.1 and 0.2.
    #[error("failed to import the workflow: unsupported format version {version}")]
    UnsupportedVersion {
        /// The version as given.
        version: String,
    },
    /// The document does not have the format's shape.
    #[error("failed to import the workflow: {path}: {message}")]
    Shape {
        /// Where (`workflow_jobs[0].job_name`); empty for the whole document.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Jobs the catalogue does not have, every one of them (position, name), in document order,
    /// so that a user moving a workflow learns at once which jobs this installation lacks.
    #[error("failed to import the workflow: {}", unknown_jobs_message(.0))]
    UnknownJobs(Vec<(usize, String)>),
    /// A port type the job does not have.
    #[error("failed to import the workflow: job {job_name} has no {kind} port type {port_type}")]
    UnknownPortType {
        /// `input` or `output`.
        kind: PortKind,
        /// Position of the workflow job.
        job: usize,
        /// Position of the port.
        port: usize,
        /// The job's name.
        job_name: String,
        /// The port type's name.
        port_type: String,
    },
    /// Two ports of the same kind with one id.
    #[error("failed to import the workflow: duplicate {kind} port id")]
    DuplicatePortId {
        /// `input` or `output`.
        kind: PortKind,
        /// Position of the workflow job.
        job: usize,
        /// Position of the port.
        port: usize,
    },
    /// Settings that fail the job's schema.
    #[error("failed to import the workflow: invalid settings for job {job}: {message}")]
    InvalidSettings {
        /// Position of the workflow job.
        job: usize,
        /// The schema's complaints.
        message: String,
    },
    /// A connection naming a port id the document does not define.
    #[error("failed to import the workflow: connection {connection} names an unknown {kind} port")]
    UnknownPortId {
        /// `input` or `output`.
        kind: PortKind,
        /// Position of the connection.
        connection: usize,
    },
}

/// Input or output side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortKind {
    /// Input port.
    Input,
    /// Output port.
    Output,
}

fn unknown_jobs_message(jobs: &[(usize, String)]) -> String {
    let mut names: Vec<&str> = jobs.iter().map(|(_, name)| name.as_str()).collect();
    names.dedup();
    let (noun, verb) = if names.len() == 1 {
        ("job", "does")
    } else {
        ("jobs", "do")
    };
    format!("{noun} {} {verb} not exist", names.join(", "))
}

impl std::fmt::Display for PortKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Input => "input",
            Self::Output => "output",
        })
    }
}

impl PortKind {
    fn model(self) -> &'static str {
        match self {
            Self::Input => "Input",
            Self::Output => "Output",
        }
    }

    fn field(self) -> &'static str {
        match self {
            Self::Input => "input_ports",
            Self::Output => "output_ports",
        }
    }
}

impl ImportError {
    /// Upstream's 400 body: `{"serialized": message}` or `{"serialized": {path: message}}`.
    pub fn body(&self) -> Value {
        let detail = match self {
            Self::NotAnObject => json!("This field must be a JSON object."),
            Self::MissingVersion => json!("Please provide the version of serialization format."),
            Self::UnsupportedVersion { version } => {
                json!(format!(
                    "Unsupported version of serialization format: {version}"
                ))
            }
            Self::Shape { path, message } => json!({ path.as_str(): message }),
            Self::UnknownJobs(jobs) => Value::Object(
                jobs.iter()
                    .map(|(job, job_name)| {
                        (
                            format!("workflow_jobs[{job}].job_name"),
                            json!(format!(
                                "Job {job_name} does not exist in current Rodan installation."
                            )),
                        )
                    })
                    .collect(),
            ),
            Self::UnknownPortType {
                kind,
                job,
                port,
                job_name,
                port_type,
            } => json!({
                format!("workflow_jobs[{job}].{}[{port}].type", kind.field()): format!(
                    "{}PortType {port_type} of Job {job_name} does not exist in current Rodan \
                     installation.",
                    kind.model()
                )
            }),
            Self::DuplicatePortId { kind, job, port } => json!({
                format!("workflow_jobs[{job}].{}[{port}].id", kind.field()):
                    format!("Duplicate {}Port ID found.", kind.model())
            }),
            Self::InvalidSettings { job, message } => json!({
                format!("workflow_jobs[{job}].job_settings"):
                    format!("Job settings is invalid: {message}.")
            }),
            Self::UnknownPortId { kind, connection } => json!({
                format!("connections[{connection}].{}_port", kind):
                    format!("Referencing an invalid {}Port ID.", kind.model())
            }),
        };
        json!({ "serialized": detail })
    }
}

/// Write a workflow as a format 0.2 document: ports numbered from 1 across the document (each
/// job's input ports, then its output ports), connections by those numbers. A job without an
/// appearance gets upstream's default `{"x": 0.5, "y": 0.5}` so the document imports again.
pub fn export(workflow: &Workflow) -> ExportedWorkflow {
    let graph = Graph::new(workflow);
    let mut next_id = 0u64;
    let mut ids: HashMap<Uuid, u64> = HashMap::new();
    let mut number = |uuid: Uuid| {
        next_id += 1;
        ids.insert(uuid, next_id);
        Number::from(next_id)
    };
    let workflow_jobs = workflow
        .jobs
        .iter()
        .map(|wfj| ExportedJob {
            job_name: wfj.job_name.clone(),
            job_settings: wfj.settings.clone(),
            appearance: Some(wfj.appearance.clone().unwrap_or_else(default_appearance)),
            input_ports: graph
                .inputs_of(wfj.uuid)
                .map(|p| ExportedPort {
                    port_type: p.port_type_name.clone(),
                    id: number(p.uuid),
                    label: p.label.clone(),
                })
                .collect(),
            output_ports: graph
                .outputs_of(wfj.uuid)
                .map(|p| ExportedPort {
                    port_type: p.port_type_name.clone(),
                    id: number(p.uuid),
                    label: p.label.clone(),
                })
                .collect(),
        })
        .collect();
    let connections = workflow
        .connections
        .iter()
        .filter_map(|c| {
            Some(ExportedConnection {
                input_port: Number::from(*ids.get(&c.input_port)?),
                output_port: Number::from(*ids.get(&c.output_port)?),
            })
        })
        .collect();
    ExportedWorkflow {
        version: EXPORT_VERSION,
        name: workflow.name.clone(),
        description: workflow.description.clone(),
        workflow_jobs,
        connections,
    }
}

fn default_appearance() -> Value {
    json!({"x": 0.5, "y": 0.5})
}

/// Read a format 0.1 or 0.2 document into a new workflow with fresh ids, after checking its
/// shape, that every job and port type exists in the catalogue, that port ids are unique per
/// kind, that settings pass each job's schema and that connections name defined ports. Empty
/// labels become the port type's name and each workflow job is named after its job, as
/// upstream; the settings are kept as given.
///
/// # Errors
///
/// The first fault, in upstream's order, with its path and message ([`ImportError::body`]).
pub fn import(document: &Value, catalogue: &[JobDescriptor]) -> Result<Workflow, ImportError> {
    let Value::Object(fields) = document else {
        return Err(ImportError::NotAnObject);
    };
    let version = fields
        .get("__version__")
        .ok_or(ImportError::MissingVersion)?;
    let with_appearance = match version.as_f64() {
        Some(0.1) => false,
        Some(0.2) => true,
        _ => {
            return Err(ImportError::UnsupportedVersion {
                version: match version {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            });
        }
    };
    check_shape(document, with_appearance)?;
    let doc: ExportedWorkflow =
        serde_json::from_value(document.clone()).map_err(|e| ImportError::Shape {
            path: String::new(),
            message: e.to_string(),
        })?;
    check_against_catalogue(&doc, catalogue)?;
    Ok(build(doc, with_appearance))
}

fn check_shape(document: &Value, with_appearance: bool) -> Result<(), ImportError> {
    let port = json!({
        "type": "object",
        "required": ["type", "id", "label"],
        "properties": {
            "type": {"type": "string"},
            "id": {"type": "number"},
            "label": {"type": "string"},
        },
    });
    let mut job_properties = json!({
        "input_ports": {"type": "array", "items": port, "uniqueItems": true},
        "output_ports": {"type": "array", "items": port, "uniqueItems": true},
        "job_name": {"type": "string"},
        "job_settings": {"type": "object"},
    });
    if with_appearance {
        job_properties["appearance"] = json!({"type": "object"});
    }
    let schema = json!({
        "type": "object",
        "required": ["__version__", "name", "description", "workflow_jobs", "connections"],
        "properties": {
            "__version__": {"type": "number"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "workflow_jobs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["input_ports", "output_ports", "job_name", "job_settings"],
                    "properties": job_properties,
                },
                "uniqueItems": true,
            },
            "connections": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["input_port", "output_port"],
                    "properties": {
                        "input_port": {"type": "number"},
                        "output_port": {"type": "number"},
                    },
                },
            },
        },
    });
    let validator = jsonschema::draft4::new(&schema).map_err(|e| ImportError::Shape {
        path: String::new(),
        message: e.to_string(),
    })?;
    match validator.iter_errors(document).next() {
        Some(e) => Err(ImportError::Shape {
            path: dotted_path(e.instance_path()),
            message: e.to_string(),
        }),
        None => Ok(()),
    }
}

/// A port id as a map key: JSON `1` and `1.0` name the same port, as in upstream's Python.
fn id_key(id: &Number) -> u64 {
    id.as_f64().map_or(u64::MAX, f64::to_bits)
}

fn check_against_catalogue(
    doc: &ExportedWorkflow,
    catalogue: &[JobDescriptor],
) -> Result<(), ImportError> {
    let catalogue = Catalogue::new(catalogue);
    let unknown: Vec<(usize, String)> = doc
        .workflow_jobs
        .iter()
        .enumerate()
        .filter(|(_, wfj)| catalogue.job(&wfj.job_name).is_none())
        .map(|(j, wfj)| (j, wfj.job_name.clone()))
        .collect();
    if !unknown.is_empty() {
        return Err(ImportError::UnknownJobs(unknown));
    }
    let mut input_ids = HashSet::new();
    let mut output_ids = HashSet::new();
    for (j, wfj) in doc.workflow_jobs.iter().enumerate() {
        let Some(job) = catalogue.job(&wfj.job_name) else {
            continue;
        };
        for (kind, ports, types, ids) in [
            (
                PortKind::Input,
                &wfj.input_ports,
                &job.input_port_types,
                &mut input_ids,
            ),
            (
                PortKind::Output,
                &wfj.output_ports,
                &job.output_port_types,
                &mut output_ids,
            ),
        ] {
            for (p, port) in ports.iter().enumerate() {
                if port_type(types, &port.port_type).is_none() {
                    return Err(ImportError::UnknownPortType {
                        kind,
                        job: j,
                        port: p,
                        job_name: wfj.job_name.clone(),
                        port_type: port.port_type.clone(),
                    });
                }
                if !ids.insert(id_key(&port.id)) {
                    return Err(ImportError::DuplicatePortId {
                        kind,
                        job: j,
                        port: p,
                    });
                }
            }
        }
        check(&job.settings, &wfj.job_settings).map_err(|messages| {
            ImportError::InvalidSettings {
                job: j,
                message: messages.join("; "),
            }
        })?;
    }
    for (i, c) in doc.connections.iter().enumerate() {
        if !input_ids.contains(&id_key(&c.input_port)) {
            return Err(ImportError::UnknownPortId {
                kind: PortKind::Input,
                connection: i,
            });
        }
        if !output_ids.contains(&id_key(&c.output_port)) {
            return Err(ImportError::UnknownPortId {
                kind: PortKind::Output,
                connection: i,
            });
        }
    }
    Ok(())
}

fn build(doc: ExportedWorkflow, with_appearance: bool) -> Workflow {
    let mut workflow = Workflow {
        uuid: Uuid::new_v4(),
        name: doc.name,
        description: doc.description,
        ..Workflow::default()
    };
    let mut inputs: HashMap<u64, Uuid> = HashMap::new();
    let mut outputs: HashMap<u64, Uuid> = HashMap::new();
    let label = |port: &ExportedPort| {
        if port.label.is_empty() {
            port.port_type.clone()
        } else {
            port.label.clone()
        }
    };
    for wfj in doc.workflow_jobs {
        let uuid = Uuid::new_v4();
        for p in &wfj.input_ports {
            let port = InputPort {
                uuid: Uuid::new_v4(),
                workflow_job: uuid,
                port_type_name: p.port_type.clone(),
                label: label(p),
            };
            inputs.insert(id_key(&p.id), port.uuid);
            workflow.input_ports.push(port);
        }
        for p in &wfj.output_ports {
            let port = OutputPort {
                uuid: Uuid::new_v4(),
                workflow_job: uuid,
                port_type_name: p.port_type.clone(),
                label: label(p),
            };
            outputs.insert(id_key(&p.id), port.uuid);
            workflow.output_ports.push(port);
        }
        let appearance = match (with_appearance, wfj.appearance) {
            (true, Some(a)) => a,
            _ => default_appearance(),
        };
        workflow.jobs.push(WorkflowJob {
            uuid,
            name: wfj.job_name.clone(),
            job_name: wfj.job_name,
            settings: wfj.job_settings,
            appearance: Some(appearance),
        });
    }
    for c in doc.connections {
        if let (Some(&ip), Some(&op)) = (
            inputs.get(&id_key(&c.input_port)),
            outputs.get(&id_key(&c.output_port)),
        ) {
            workflow.connections.push(Connection {
                uuid: Uuid::new_v4(),
                input_port: ip,
                output_port: op,
            });
        }
    }
    workflow
}
