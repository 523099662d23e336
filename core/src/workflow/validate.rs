//! Workflow validation with upstream's error codes (PATCH `{"valid": true}`, 409 on failure).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Catalogue, Graph, LABELER_JOB, Workflow, port_type, settings};
use crate::catalogue::JobDescriptor;

/// Upstream's workflow validation error codes, in the order upstream checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// A workflow job without output ports (the Labeler job excepted).
    WfjNoOp,
    /// Fewer input ports of a type than its `minimum`.
    WfjTooFewIp,
    /// More input ports of a type than its `maximum` (0 = no maximum).
    WfjTooManyIp,
    /// Fewer output ports of a type than its `minimum`.
    WfjTooFewOp,
    /// More output ports of a type than its `maximum` (0 = no maximum).
    WfjTooManyOp,
    /// Settings that fail the job's JSON schema (draft 4).
    WfjInvalidSettings,
    /// Not upstream's: the workflow job names a job the catalogue does not have. Upstream cannot
    /// reach this state (a foreign key), here a catalogue can shrink under stored workflows.
    WfjUnknownJob,
    /// An input port whose type does not belong to its workflow job's job.
    IpTypeMismatch,
    /// An input port with more than one connection.
    IpTooManyConnections,
    /// An output port whose type does not belong to its workflow job's job.
    OpTypeMismatch,
    /// A connection between a list port and a non-list port.
    ResourcetypeListConflict,
    /// No resource type common to an output port and all the input ports it feeds.
    NoCommonResourcetype,
    /// A workflow without jobs.
    WfEmpty,
    /// A cycle among the workflow's jobs.
    WfHasCycles,
    /// The jobs do not form one connected whole.
    WfNotConnected,
}

impl ErrorCode {
    /// The code as upstream writes it in the 409 body.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WfjNoOp => "WFJ_NO_OP",
            Self::WfjTooFewIp => "WFJ_TOO_FEW_IP",
            Self::WfjTooManyIp => "WFJ_TOO_MANY_IP",
            Self::WfjTooFewOp => "WFJ_TOO_FEW_OP",
            Self::WfjTooManyOp => "WFJ_TOO_MANY_OP",
            Self::WfjInvalidSettings => "WFJ_INVALID_SETTINGS",
            Self::WfjUnknownJob => "WFJ_UNKNOWN_JOB",
            Self::IpTypeMismatch => "IP_TYPE_MISMATCH",
            Self::IpTooManyConnections => "IP_TOO_MANY_CONNECTIONS",
            Self::OpTypeMismatch => "OP_TYPE_MISMATCH",
            Self::ResourcetypeListConflict => "RESOURCETYPE_LIST_CONFLICT",
            Self::NoCommonResourcetype => "NO_COMMON_RESOURCETYPE",
            Self::WfEmpty => "WF_EMPTY",
            Self::WfHasCycles => "WF_HAS_CYCLES",
            Self::WfNotConnected => "WF_NOT_CONNECTED",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An object a validation error points at; the API turns it into a URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AssociatedObject {
    /// A workflow job.
    WorkflowJob(Uuid),
    /// An input port.
    InputPort(Uuid),
    /// An output port.
    OutputPort(Uuid),
    /// A connection.
    Connection(Uuid),
    /// An input port type, by its job and name (the API knows its row id).
    InputPortType {
        /// The job owning the port type.
        job_name: String,
        /// The port type's name.
        name: String,
    },
    /// An output port type, by its job and name.
    OutputPortType {
        /// The job owning the port type.
        job_name: String,
        /// The port type's name.
        name: String,
    },
}

impl AssociatedObject {
    /// The key grouping such objects in upstream's `associated_objects` (model name + "s").
    pub fn group(&self) -> &'static str {
        match self {
            Self::WorkflowJob(_) => "workflowjobs",
            Self::InputPort(_) => "inputports",
            Self::OutputPort(_) => "outputports",
            Self::Connection(_) => "connections",
            Self::InputPortType { .. } => "inputporttypes",
            Self::OutputPortType { .. } => "outputporttypes",
        }
    }
}

/// Why a workflow is not valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("failed to validate the workflow ({code}): {details}")]
pub struct ValidationError {
    /// Upstream's error code.
    pub code: ErrorCode,
    /// A sentence naming the fault, as upstream words it.
    pub details: String,
    /// The objects at fault, in upstream's order.
    pub associated_objects: Vec<AssociatedObject>,
}

impl ValidationError {
    fn new(code: ErrorCode, details: String, objects: Vec<AssociatedObject>) -> Self {
        Self {
            code,
            details,
            associated_objects: objects,
        }
    }

    /// Upstream's 409 body: `{"error_code", "details": [details], "associated_objects":
    /// {"<model>s": [url, ...]}}`, with `url` giving each object's absolute URL.
    pub fn body(&self, url: impl Fn(&AssociatedObject) -> String) -> Value {
        let mut groups = Map::new();
        for o in &self.associated_objects {
            let entry = groups
                .entry(o.group())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(urls) = entry {
                urls.push(Value::String(url(o)));
            }
        }
        json!({
            "error_code": self.code.as_str(),
            "details": [self.details],
            "associated_objects": groups,
        })
    }
}

/// Proof that a workflow passed [`validate`], with the ports that become `extern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    extern_input_ports: Vec<Uuid>,
    extern_output_ports: Vec<Uuid>,
}

impl Validated {
    /// Input ports without a connection: they take resources assigned at run time.
    pub fn extern_input_ports(&self) -> &[Uuid] {
        &self.extern_input_ports
    }

    /// Output ports without a connection: the workflow's results.
    pub fn extern_output_ports(&self) -> &[Uuid] {
        &self.extern_output_ports
    }
}

/// Check a workflow as upstream's `_validate` does, in the same order, and say which ports become
/// `extern` (those without connections).
///
/// # Errors
///
/// The first fault found, with upstream's error code, details and associated objects.
pub fn validate(
    workflow: &Workflow,
    catalogue: &[JobDescriptor],
) -> Result<Validated, ValidationError> {
    let catalogue = Catalogue::new(catalogue);
    let graph = Graph::new(workflow);
    check_jobs(&graph, &catalogue)?;
    check_input_ports(&graph, &catalogue)?;
    check_output_ports(&graph, &catalogue)?;
    if workflow.jobs.is_empty() {
        return Err(ValidationError::new(
            ErrorCode::WfEmpty,
            "The Workflow is empty.".into(),
            vec![],
        ));
    }
    check_dangling_connections(&graph)?;
    check_acyclic(&graph)?;
    check_connected(&graph)?;
    Ok(Validated {
        extern_input_ports: workflow
            .input_ports
            .iter()
            .filter(|p| graph.connections_into(p.uuid).next().is_none())
            .map(|p| p.uuid)
            .collect(),
        extern_output_ports: workflow
            .output_ports
            .iter()
            .filter(|p| graph.connections_from(p.uuid).next().is_none())
            .map(|p| p.uuid)
            .collect(),
    })
}

fn check_jobs(graph: &Graph<'_>, catalogue: &Catalogue<'_>) -> Result<(), ValidationError> {
    for wfj in &graph.workflow.jobs {
        let wfj_obj = AssociatedObject::WorkflowJob(wfj.uuid);
        let Some(job) = catalogue.job(&wfj.job_name) else {
            return Err(ValidationError::new(
                ErrorCode::WfjUnknownJob,
                format!(
                    "The WorkflowJob {} runs job {}, which this Rodan does not have.",
                    wfj.name, wfj.job_name
                ),
                vec![wfj_obj],
            ));
        };
        if graph.outputs_of(wfj.uuid).next().is_none() && job.name != LABELER_JOB {
            return Err(ValidationError::new(
                ErrorCode::WfjNoOp,
                format!("The WorkflowJob {} has no OutputPort.", wfj.job_name),
                vec![wfj_obj],
            ));
        }
        for ipt in &job.input_port_types {
            let count = graph
                .inputs_of(wfj.uuid)
                .filter(|p| p.port_type_name == ipt.name)
                .count();
            let fault = if count < ipt.minimum as usize {
                Some((ErrorCode::WfjTooFewIp, "few"))
            } else if ipt.maximum != 0 && count > ipt.maximum as usize {
                Some((ErrorCode::WfjTooManyIp, "many"))
            } else {
                None
            };
            if let Some((code, word)) = fault {
                return Err(ValidationError::new(
                    code,
                    format!(
                        "The WorkflowJob {} has too {word} InputPorts of type {}.",
                        wfj.job_name, ipt.name
                    ),
                    vec![
                        wfj_obj,
                        AssociatedObject::InputPortType {
                            job_name: job.name.clone(),
                            name: ipt.name.clone(),
                        },
                    ],
                ));
            }
        }
        for opt in &job.output_port_types {
            let count = graph
                .outputs_of(wfj.uuid)
                .filter(|p| p.port_type_name == opt.name)
                .count();
            let fault = if count < opt.minimum as usize {
                Some((ErrorCode::WfjTooFewOp, "few"))
            } else if opt.maximum != 0 && count > opt.maximum as usize {
                Some((ErrorCode::WfjTooManyOp, "many"))
            } else {
                None
            };
            if let Some((code, word)) = fault {
                return Err(ValidationError::new(
                    code,
                    format!(
                        "The WorkflowJob {} has too {word} OutputPorts of type {}.",
                        wfj.job_name, opt.name
                    ),
                    vec![
                        wfj_obj,
                        AssociatedObject::OutputPortType {
                            job_name: job.name.clone(),
                            name: opt.name.clone(),
                        },
                    ],
                ));
            }
        }
        if settings::check(&job.settings, &wfj.settings).is_err() {
            return Err(ValidationError::new(
                ErrorCode::WfjInvalidSettings,
                format!("The WorkflowJob {} has invalid settings.", wfj.job_name),
                vec![wfj_obj],
            ));
        }
    }
    Ok(())
}

fn check_input_ports(graph: &Graph<'_>, catalogue: &Catalogue<'_>) -> Result<(), ValidationError> {
    for ip in &graph.workflow.input_ports {
        let known = graph
            .job(ip.workflow_job)
            .and_then(|wfj| catalogue.job(&wfj.job_name))
            .and_then(|job| port_type(&job.input_port_types, &ip.port_type_name))
            .is_some();
        if !known {
            return Err(ValidationError::new(
                ErrorCode::IpTypeMismatch,
                format!(
                    "The type of InputPort {} is incompatible with its associated WorkflowJob.",
                    ip.label
                ),
                vec![AssociatedObject::InputPort(ip.uuid)],
            ));
        }
        if graph.connections_into(ip.uuid).nth(1).is_some() {
            return Err(ValidationError::new(
                ErrorCode::IpTooManyConnections,
                format!("The InputPort {} has more than one Connections", ip.label),
                vec![AssociatedObject::InputPort(ip.uuid)],
            ));
        }
    }
    Ok(())
}

fn check_output_ports(graph: &Graph<'_>, catalogue: &Catalogue<'_>) -> Result<(), ValidationError> {
    let input_type = |uuid: Uuid| {
        let ip = graph.input_port(uuid)?;
        let job = catalogue.job(&graph.job(ip.workflow_job)?.job_name)?;
        Some((ip, port_type(&job.input_port_types, &ip.port_type_name)?))
    };
    for op in &graph.workflow.output_ports {
        let opt = graph
            .job(op.workflow_job)
            .and_then(|wfj| catalogue.job(&wfj.job_name))
            .and_then(|job| port_type(&job.output_port_types, &op.port_type_name));
        let Some(opt) = opt else {
            return Err(ValidationError::new(
                ErrorCode::OpTypeMismatch,
                format!(
                    "The type of OutputPort {} is incompatible with its associated WorkflowJob.",
                    op.label
                ),
                vec![AssociatedObject::OutputPort(op.uuid)],
            ));
        };
        let mut common: BTreeSet<&str> = opt.resource_types.iter().map(String::as_str).collect();
        // A connection to a port outside the workflow is reported later, as a disconnection.
        let targets: Vec<_> = graph
            .connections_from(op.uuid)
            .filter_map(|c| input_type(c.input_port))
            .collect();
        for (ip, ipt) in &targets {
            let conflict = match (ipt.is_list, opt.is_list) {
                (true, false) => Some(format!(
                    "InputPort {} accepts a list of resources but OutputPort {} is not list-typed.",
                    ip.label, op.label
                )),
                (false, true) => Some(format!(
                    "OutputPort {} is list-typed but InputPort {} is not.",
                    op.label, ip.label
                )),
                _ => None,
            };
            if let Some(details) = conflict {
                return Err(ValidationError::new(
                    ErrorCode::ResourcetypeListConflict,
                    details,
                    vec![
                        AssociatedObject::OutputPort(op.uuid),
                        AssociatedObject::InputPort(ip.uuid),
                    ],
                ));
            }
            let accepted: HashSet<&str> = ipt.resource_types.iter().map(String::as_str).collect();
            common.retain(|t| accepted.contains(t));
            if common.is_empty() {
                let mut objects = vec![AssociatedObject::OutputPort(op.uuid)];
                objects.extend(
                    targets
                        .iter()
                        .map(|(p, _)| AssociatedObject::InputPort(p.uuid)),
                );
                return Err(ValidationError::new(
                    ErrorCode::NoCommonResourcetype,
                    format!(
                        "There is no common ResourceType between OutputPort {} and its connected \
                         InputPorts.",
                        op.label
                    ),
                    objects,
                ));
            }
        }
    }
    Ok(())
}

/// Connections must join two ports of this workflow; upstream's foreign keys and same-workflow
/// check make this hold there, here the caller's data could break it.
fn check_dangling_connections(graph: &Graph<'_>) -> Result<(), ValidationError> {
    for c in &graph.workflow.connections {
        if graph.input_port(c.input_port).is_none() || graph.output_port(c.output_port).is_none() {
            return Err(ValidationError::new(
                ErrorCode::WfNotConnected,
                "The Workflow is not connected.".into(),
                vec![AssociatedObject::Connection(c.uuid)],
            ));
        }
    }
    Ok(())
}

/// Depth-first search with temporary and permanent marks, jobs taken in workflow order.
fn check_acyclic(graph: &Graph<'_>) -> Result<(), ValidationError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        None,
        Temporary,
        Permanent,
    }
    let jobs = &graph.workflow.jobs;
    let mut marks = vec![Mark::None; jobs.len()];
    // Successor edges per job: (connection, downstream job index), in port then connection order.
    let successors: Vec<Vec<(Uuid, usize)>> = jobs
        .iter()
        .map(|j| {
            graph
                .downstream_connections(j.uuid)
                .filter_map(|c| {
                    let ip = graph.input_port(c.input_port)?;
                    Some((c.uuid, *graph.job_index.get(&ip.workflow_job)?))
                })
                .collect()
        })
        .collect();
    for start in 0..jobs.len() {
        if marks[start] != Mark::None {
            continue;
        }
        // An explicit stack keeps long chains from exhausting the thread's stack.
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        marks[start] = Mark::Temporary;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&(conn, succ)) = successors[node].get(*next) {
                *next += 1;
                match marks[succ] {
                    Mark::Temporary => {
                        return Err(ValidationError::new(
                            ErrorCode::WfHasCycles,
                            "There is a cycle in the Workflow.".into(),
                            vec![AssociatedObject::Connection(conn)],
                        ));
                    }
                    Mark::None => {
                        marks[succ] = Mark::Temporary;
                        stack.push((succ, 0));
                    }
                    Mark::Permanent => {}
                }
            } else {
                marks[node] = Mark::Permanent;
                stack.pop();
            }
        }
    }
    Ok(())
}

/// Union-find over the connections: every job must end in the first job's set.
fn check_connected(graph: &Graph<'_>) -> Result<(), ValidationError> {
    let jobs = &graph.workflow.jobs;
    let mut parent: Vec<usize> = (0..jobs.len()).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let job_of_port: HashMap<Uuid, usize> = graph
        .workflow
        .input_ports
        .iter()
        .map(|p| (p.uuid, p.workflow_job))
        .chain(
            graph
                .workflow
                .output_ports
                .iter()
                .map(|p| (p.uuid, p.workflow_job)),
        )
        .filter_map(|(port, job)| Some((port, *graph.job_index.get(&job)?)))
        .collect();
    for c in &graph.workflow.connections {
        if let (Some(&a), Some(&b)) = (
            job_of_port.get(&c.output_port),
            job_of_port.get(&c.input_port),
        ) {
            let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
            parent[ra] = rb;
        }
    }
    let root = find(&mut parent, 0);
    if (0..jobs.len()).any(|j| find(&mut parent, j) != root) {
        return Err(ValidationError::new(
            ErrorCode::WfNotConnected,
            "The Workflow is not connected.".into(),
            vec![],
        ));
    }
    Ok(())
}
