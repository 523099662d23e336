//! Workflows as graphs: validation, run planning, export and import.
//!
//! The API server loads a workflow from the database into these plain types, calls the pure
//! functions of the submodules and writes their results back. Job descriptors come separately, as
//! the catalogue slice the workers registered.

mod assign;
mod export;
mod plan;
mod settings;
mod validate;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::catalogue::{JobDescriptor, PortType};

pub use assign::{
    AssignmentError, AssignmentShapeError, CheckedAssignments, PortAssignment, ResourceInfo,
    ResourceKind, check_assignments, parse_assignments,
};
pub use export::{
    EXPORT_VERSION, ExportedConnection, ExportedJob, ExportedPort, ExportedWorkflow, ImportError,
    PortKind, export, import,
};
pub use plan::{
    PlannedInput, PlannedOutput, PlannedResource, PlannedRunJob, ResourceRef, RunInfo, RunPlan,
    plan_run,
};
pub use settings::{fill_defaults, validate_settings};
pub use validate::{AssociatedObject, ErrorCode, Validated, ValidationError, validate};

/// Name of upstream's Labeler job, the one job allowed to have no output port.
pub const LABELER_JOB: &str = "Labeler";

/// The mimetype of a placeholder resource whose concrete type is not chosen.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// A workflow as stored: its jobs, their ports and the connections between ports.
///
/// Vectors keep the database order (creation order), which decides which fault is reported first
/// and the order of planned run jobs, as upstream.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Workflow {
    /// The workflow's id.
    pub uuid: Uuid,
    /// Name shown in the client.
    pub name: String,
    /// Free description.
    pub description: String,
    /// The workflow's jobs.
    pub jobs: Vec<WorkflowJob>,
    /// Input ports of all its jobs.
    pub input_ports: Vec<InputPort>,
    /// Output ports of all its jobs.
    pub output_ports: Vec<OutputPort>,
    /// Connections from an output port to an input port.
    pub connections: Vec<Connection>,
}

/// One use of a catalogue job inside a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowJob {
    /// The workflow job's id.
    pub uuid: Uuid,
    /// Name of the catalogue job it runs.
    pub job_name: String,
    /// Display name (upstream defaults it to the job name).
    pub name: String,
    /// The job's settings, checked against the job's JSON schema.
    pub settings: Value,
    /// Position on the client's canvas (`{x, y, ...}`), kept as given.
    pub appearance: Option<Value>,
}

/// An input port of a workflow job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputPort {
    /// The port's id.
    pub uuid: Uuid,
    /// The workflow job it belongs to.
    pub workflow_job: Uuid,
    /// Name of its input port type among the job's `input_port_types`.
    pub port_type_name: String,
    /// Label shown in the client.
    pub label: String,
}

/// An output port of a workflow job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputPort {
    /// The port's id.
    pub uuid: Uuid,
    /// The workflow job it belongs to.
    pub workflow_job: Uuid,
    /// Name of its output port type among the job's `output_port_types`.
    pub port_type_name: String,
    /// Label shown in the client.
    pub label: String,
}

/// A connection carrying an output port's resource to an input port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// The connection's id.
    pub uuid: Uuid,
    /// The receiving input port.
    pub input_port: Uuid,
    /// The producing output port.
    pub output_port: Uuid,
}

/// Catalogue jobs by name.
pub(crate) struct Catalogue<'a>(HashMap<&'a str, &'a JobDescriptor>);

impl<'a> Catalogue<'a> {
    pub(crate) fn new(jobs: &'a [JobDescriptor]) -> Self {
        Self(jobs.iter().map(|j| (j.name.as_str(), j)).collect())
    }

    pub(crate) fn job(&self, name: &str) -> Option<&'a JobDescriptor> {
        self.0.get(name).copied()
    }
}

/// The port type of this name among `types`.
pub(crate) fn port_type<'a>(types: &'a [PortType], name: &str) -> Option<&'a PortType> {
    types.iter().find(|t| t.name == name)
}

/// Lookups over one workflow's graph, built once per call.
pub(crate) struct Graph<'a> {
    pub(crate) workflow: &'a Workflow,
    pub(crate) job_index: HashMap<Uuid, usize>,
    pub(crate) input_index: HashMap<Uuid, usize>,
    pub(crate) output_index: HashMap<Uuid, usize>,
    /// Connection indices per input port, in connection order.
    pub(crate) into_input: HashMap<Uuid, Vec<usize>>,
    /// Connection indices per output port, in connection order.
    pub(crate) from_output: HashMap<Uuid, Vec<usize>>,
    /// Input port indices per workflow job, in port order.
    inputs_by_job: HashMap<Uuid, Vec<usize>>,
    /// Output port indices per workflow job, in port order.
    outputs_by_job: HashMap<Uuid, Vec<usize>>,
}

impl<'a> Graph<'a> {
    pub(crate) fn new(workflow: &'a Workflow) -> Self {
        let mut into_input: HashMap<Uuid, Vec<usize>> = HashMap::new();
        let mut from_output: HashMap<Uuid, Vec<usize>> = HashMap::new();
        for (i, c) in workflow.connections.iter().enumerate() {
            into_input.entry(c.input_port).or_default().push(i);
            from_output.entry(c.output_port).or_default().push(i);
        }
        Self {
            workflow,
            job_index: index_by(&workflow.jobs, |j| j.uuid),
            input_index: index_by(&workflow.input_ports, |p| p.uuid),
            output_index: index_by(&workflow.output_ports, |p| p.uuid),
            into_input,
            from_output,
            inputs_by_job: group_by(&workflow.input_ports, |p| p.workflow_job),
            outputs_by_job: group_by(&workflow.output_ports, |p| p.workflow_job),
        }
    }

    pub(crate) fn input_port(&self, uuid: Uuid) -> Option<&'a InputPort> {
        self.input_index
            .get(&uuid)
            .map(|&i| &self.workflow.input_ports[i])
    }

    pub(crate) fn output_port(&self, uuid: Uuid) -> Option<&'a OutputPort> {
        self.output_index
            .get(&uuid)
            .map(|&i| &self.workflow.output_ports[i])
    }

    pub(crate) fn job(&self, uuid: Uuid) -> Option<&'a WorkflowJob> {
        self.job_index.get(&uuid).map(|&i| &self.workflow.jobs[i])
    }

    /// Connections arriving at an input port.
    pub(crate) fn connections_into(
        &self,
        input_port: Uuid,
    ) -> impl Iterator<Item = &'a Connection> {
        let conns = &self.workflow.connections;
        self.into_input
            .get(&input_port)
            .into_iter()
            .flatten()
            .map(move |&i| &conns[i])
    }

    /// Connections leaving an output port.
    pub(crate) fn connections_from(
        &self,
        output_port: Uuid,
    ) -> impl Iterator<Item = &'a Connection> {
        let conns = &self.workflow.connections;
        self.from_output
            .get(&output_port)
            .into_iter()
            .flatten()
            .map(move |&i| &conns[i])
    }

    /// Input ports of a workflow job, in port order.
    pub(crate) fn inputs_of(&self, job: Uuid) -> impl Iterator<Item = &'a InputPort> {
        let ports = &self.workflow.input_ports;
        self.inputs_by_job
            .get(&job)
            .into_iter()
            .flatten()
            .map(move |&i| &ports[i])
    }

    /// Output ports of a workflow job, in port order.
    pub(crate) fn outputs_of(&self, job: Uuid) -> impl Iterator<Item = &'a OutputPort> {
        let ports = &self.workflow.output_ports;
        self.outputs_by_job
            .get(&job)
            .into_iter()
            .flatten()
            .map(move |&i| &ports[i])
    }

    /// Connections arriving at a job's input ports, in connection order.
    pub(crate) fn upstream_connections(&self, job: Uuid) -> Vec<&'a Connection> {
        let mut indices: Vec<usize> = self
            .inputs_of(job)
            .flat_map(|p| self.into_input.get(&p.uuid).into_iter().flatten().copied())
            .collect();
        indices.sort_unstable();
        indices
            .into_iter()
            .map(|i| &self.workflow.connections[i])
            .collect()
    }

    /// Connections leaving a job's output ports, in port then connection order.
    pub(crate) fn downstream_connections(
        &self,
        job: Uuid,
    ) -> impl Iterator<Item = &'a Connection> + '_ {
        self.outputs_of(job)
            .flat_map(move |op| self.connections_from(op.uuid))
    }
}

fn group_by<T>(items: &[T], key: impl Fn(&T) -> Uuid) -> HashMap<Uuid, Vec<usize>> {
    let mut groups: HashMap<Uuid, Vec<usize>> = HashMap::new();
    for (i, t) in items.iter().enumerate() {
        groups.entry(key(t)).or_default().push(i);
    }
    groups
}

fn index_by<T>(items: &[T], key: impl Fn(&T) -> Uuid) -> HashMap<Uuid, usize> {
    items.iter().enumerate().map(|(i, t)| (key(t), i)).collect()
}
