//! The checks of POST /api/workflowruns/ on `resource_assignments`, with upstream's messages.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Catalogue, Graph, Validated, Workflow, port_type};
use crate::catalogue::JobDescriptor;

/// What the checks need to know of an assigned resource or resource list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceInfo {
    /// The resource's (or list's) id.
    pub uuid: Uuid,
    /// Its name; outputs planned for its batch item are named after it.
    pub name: String,
    /// The project it belongs to.
    pub project: Uuid,
    /// Its mimetype; for a list, the list's type or else its first member's, as upstream.
    pub resource_type: String,
    /// Whether it is a single resource or a list, and whether its files exist.
    pub kind: ResourceKind,
}

/// A single resource or a resource list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResourceKind {
    /// A single resource.
    Resource {
        /// Whether its file exists (uploads being processed and unrun outputs have none).
        has_file: bool,
    },
    /// A resource list.
    List {
        /// For each member, in list order, whether its file exists.
        members_have_files: Vec<bool>,
    },
}

impl ResourceInfo {
    /// Whether this is a resource list.
    pub fn is_list(&self) -> bool {
        matches!(self.kind, ResourceKind::List { .. })
    }
}

/// The resources assigned to one extern input port, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortAssignment {
    /// The input port.
    pub input_port: Uuid,
    /// Its resources or resource lists.
    pub resources: Vec<ResourceInfo>,
}

/// Assignments that passed [`check_assignments`], ports in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedAssignments {
    /// The project of the workflow (and of every assigned resource).
    pub project: Uuid,
    /// One entry per extern input port.
    pub ports: Vec<PortAssignment>,
}

impl CheckedAssignments {
    /// How many times the batch runs: the common length of the collections of more than one
    /// element, or 1 when there are none.
    pub fn batch_size(&self) -> usize {
        self.ports
            .iter()
            .map(|p| p.resources.len())
            .find(|&n| n > 1)
            .unwrap_or(1)
    }
}

/// Why `resource_assignments` is not an object of lists of URLs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentShapeError {
    /// The field is not a JSON object.
    #[error("failed to read resource assignments: not a JSON object")]
    NotAnObject,
    /// A port's value is not a list.
    #[error("failed to read resource assignments: the value of {key} is not a list")]
    NotAList {
        /// The port key as given.
        key: String,
    },
    /// A list element is not a string.
    #[error("failed to read resource assignments: element {index} of {key} is not a URL string")]
    NotAUrl {
        /// The port key as given.
        key: String,
        /// Position in the list.
        index: usize,
        /// Python's name of the JSON type found (upstream's message names it).
        found: &'static str,
    },
}

impl AssignmentShapeError {
    /// Upstream's 400 body.
    pub fn body(&self) -> Value {
        let detail = match self {
            Self::NotAnObject => json!(["This field must be a JSON object"]),
            Self::NotAList { key } => {
                json!({ key: ["A list of resources or resource lists is expected"] })
            }
            Self::NotAUrl { key, index, found } => json!({ key: { index.to_string(): [
                format!("Incorrect type. Expected URL string, received {found}.")
            ] } }),
        };
        json!({ "resource_assignments": detail })
    }
}

/// Read `resource_assignments` (`{input_port_url: [resource_or_list_url, ...]}`) into its
/// strings, in the object's order, for the caller to resolve.
///
/// # Errors
///
/// The first shape fault, with upstream's message.
pub fn parse_assignments(
    value: &Value,
) -> Result<Vec<(String, Vec<String>)>, AssignmentShapeError> {
    let Value::Object(map) = value else {
        return Err(AssignmentShapeError::NotAnObject);
    };
    map.iter()
        .map(|(key, urls)| {
            let Value::Array(urls) = urls else {
                return Err(AssignmentShapeError::NotAList { key: key.clone() });
            };
            let urls = urls
                .iter()
                .enumerate()
                .map(|(index, u)| match u {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(AssignmentShapeError::NotAUrl {
                        key: key.clone(),
                        index,
                        found: python_type(other),
                    }),
                })
                .collect::<Result<_, _>>()?;
            Ok((key.clone(), urls))
        })
        .collect()
}

fn python_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Why the resource assignments of a new run are refused (a 400 under `resource_assignments`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    /// The port is not an unconnected input port of this workflow, or is assigned twice.
    #[error(
        "failed to assign resources: input port {port} is not an unsatisfied port of the workflow"
    )]
    PortSatisfied {
        /// The port.
        port: Uuid,
    },
    /// A resource the caller did not describe (its URL named no existing object).
    #[error("failed to assign resources: element {index} of port {port} does not exist")]
    UnknownResource {
        /// The port.
        port: Uuid,
        /// Position in the port's list.
        index: usize,
    },
    /// An empty list for a port.
    #[error("failed to assign resources: port {port} was given an empty collection")]
    EmptyCollection {
        /// The port.
        port: Uuid,
    },
    /// Two collections of more than one element with different lengths.
    #[error(
        "failed to assign resources: port {port} has a collection of another length than port {first_port}"
    )]
    UnevenCollections {
        /// The port whose collection differs.
        port: Uuid,
        /// The first port with a collection of more than one element.
        first_port: Uuid,
    },
    /// A single resource for a list port.
    #[error(
        "failed to assign resources: element {index} of port {port} is a resource, the port takes lists"
    )]
    ResourceForListPort {
        /// The port.
        port: Uuid,
        /// Position in the port's list.
        index: usize,
    },
    /// A resource without a file.
    #[error("failed to assign resources: element {index} of port {port} has no file yet")]
    ResourceNotReady {
        /// The port.
        port: Uuid,
        /// Position in the port's list.
        index: usize,
    },
    /// A resource list for a port that takes single resources.
    #[error(
        "failed to assign resources: element {index} of port {port} is a list, the port takes resources"
    )]
    ListForResourcePort {
        /// The port.
        port: Uuid,
        /// Position in the port's list.
        index: usize,
    },
    /// A resource list with a member without a file.
    #[error(
        "failed to assign resources: member {member} of list {index} of port {port} has no file yet"
    )]
    ListMemberNotReady {
        /// The port.
        port: Uuid,
        /// Position in the port's list.
        index: usize,
        /// Position of the member in the resource list.
        member: usize,
    },
    /// A resource of another project.
    #[error("failed to assign resources: element {index} of port {port} is in another project")]
    NotInProject {
        /// The port.
        port: Uuid,
        /// Position in the port's list.
        index: usize,
    },
    /// A resource of a type the port does not accept.
    #[error(
        "failed to assign resources: element {index} of port {port} has type {resource_type}, which the port does not accept"
    )]
    TypeMismatch {
        /// The port.
        port: Uuid,
        /// Position in the port's list.
        index: usize,
        /// The resource's type.
        resource_type: String,
        /// The types the port accepts.
        accepted: Vec<String>,
    },
    /// Extern input ports left without resources.
    #[error("failed to assign resources: {} input ports are still unsatisfied", ports.len())]
    Unsatisfied {
        /// The ports, in workflow order.
        ports: Vec<Uuid>,
    },
}

impl AssignmentError {
    /// Upstream's 400 body, `{"resource_assignments": ...}`, with `port_url` giving each input
    /// port's URL (best the very string the client sent).
    pub fn body(&self, port_url: impl Fn(Uuid) -> String) -> Value {
        let at_port = |port: Uuid, message: String| {
            let mut m = Map::new();
            m.insert(port_url(port), json!([message]));
            Value::Object(m)
        };
        let at_item = |port: Uuid, index: usize, message: String| {
            let mut m = Map::new();
            m.insert(port_url(port), json!({ index.to_string(): [message] }));
            Value::Object(m)
        };
        let detail = match self {
            Self::PortSatisfied { port } => {
                at_port(*port, "Assigned InputPort must be unsatisfied".into())
            }
            Self::UnknownResource { port, index } => at_item(
                *port,
                *index,
                "Invalid hyperlink - Object does not exist.".into(),
            ),
            Self::EmptyCollection { port } => at_port(
                *port,
                "It is not allowed to assign an empty collection".into(),
            ),
            Self::UnevenCollections { port, first_port } => at_port(
                *port,
                format!(
                    "The number of assigned Resources of ResourceLists is not even with that of {}",
                    port_url(*first_port)
                ),
            ),
            Self::ResourceForListPort { port, index } => at_item(
                *port,
                *index,
                "The InputPort requires ResourceLists but is provided with Resources".into(),
            ),
            Self::ResourceNotReady { port, index } => {
                at_item(*port, *index, "The resource file is not ready".into())
            }
            Self::ListForResourcePort { port, index } => at_item(
                *port,
                *index,
                "The InputPort requires Resources but is provided with ResourceLists".into(),
            ),
            // Upstream's message lacks the space between "the" and "resource"; kept verbatim.
            Self::ListMemberNotReady {
                port,
                index,
                member,
            } => at_item(
                *port,
                *index,
                format!("The resource file of #{member} in theresource list is not ready"),
            ),
            Self::NotInProject { port, index } => at_item(
                *port,
                *index,
                "Resource or ResourceList is not in the project of Workflow".into(),
            ),
            Self::TypeMismatch {
                port,
                index,
                resource_type,
                accepted,
            } => {
                let accepted: Vec<String> = accepted
                    .iter()
                    .map(|t| format!("<ResourceType {t}>"))
                    .collect();
                at_item(
                    *port,
                    *index,
                    format!(
                        "The resource type <ResourceType {resource_type}> does not match the \
                         InputPort <QuerySet [{}]>",
                        accepted.join(", ")
                    ),
                )
            }
            Self::Unsatisfied { ports } => {
                let urls: Vec<String> = ports.iter().map(|&p| port_url(p)).collect();
                json!([format!(
                    "There are still unsatisfied InputPorts: {}",
                    urls.join(" ")
                )])
            }
        };
        json!({ "resource_assignments": detail })
    }
}

/// Check the resources assigned to a new run of a validated workflow, in upstream's order: per
/// port as given, the port must be an unconnected input port; its resources must exist, be
/// non-empty, have the length of any earlier collection of more than one element; each must be
/// a resource for a plain port (with its file) or a list for a list port (every member with its
/// file), be in `project` and have a type the port accepts. Finally no extern port may be left
/// unassigned.
///
/// `assignments` pairs input port ids with resource or list ids, in the request's order (the
/// first collection of more than one element names the batch's outputs); `resources` describes
/// every id the caller could resolve.
///
/// # Errors
///
/// The first fault, with enough to build upstream's 400 body ([`AssignmentError::body`]).
pub fn check_assignments(
    workflow: &Workflow,
    validated: &Validated,
    catalogue: &[JobDescriptor],
    project: Uuid,
    assignments: &[(Uuid, Vec<Uuid>)],
    resources: &[ResourceInfo],
) -> Result<CheckedAssignments, AssignmentError> {
    let catalogue = Catalogue::new(catalogue);
    let graph = Graph::new(workflow);
    let by_uuid: HashMap<Uuid, &ResourceInfo> = resources.iter().map(|r| (r.uuid, r)).collect();
    let mut unsatisfied: HashSet<Uuid> = validated.extern_input_ports().iter().copied().collect();
    let mut first_collection: Option<(Uuid, usize)> = None;
    let mut ports = Vec::with_capacity(assignments.len());

    for (port, ids) in assignments {
        let port = *port;
        if !unsatisfied.remove(&port) {
            return Err(AssignmentError::PortSatisfied { port });
        }
        let ipt = graph
            .input_port(port)
            .and_then(|ip| Some((ip, graph.job(ip.workflow_job)?)))
            .and_then(|(ip, wfj)| {
                port_type(
                    &catalogue.job(&wfj.job_name)?.input_port_types,
                    &ip.port_type_name,
                )
            })
            // A validated workflow's extern ports all have a known type.
            .ok_or(AssignmentError::PortSatisfied { port })?;

        let assigned = ids
            .iter()
            .enumerate()
            .map(|(index, id)| {
                by_uuid
                    .get(id)
                    .map(|r| (*r).clone())
                    .ok_or(AssignmentError::UnknownResource { port, index })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if assigned.is_empty() {
            return Err(AssignmentError::EmptyCollection { port });
        }
        if assigned.len() > 1 {
            match first_collection {
                None => first_collection = Some((port, assigned.len())),
                Some((first_port, len)) if len != assigned.len() => {
                    return Err(AssignmentError::UnevenCollections { port, first_port });
                }
                Some(_) => {}
            }
        }

        for (index, res) in assigned.iter().enumerate() {
            match &res.kind {
                ResourceKind::Resource { has_file } => {
                    if ipt.is_list {
                        return Err(AssignmentError::ResourceForListPort { port, index });
                    }
                    if !has_file {
                        return Err(AssignmentError::ResourceNotReady { port, index });
                    }
                }
                ResourceKind::List { members_have_files } => {
                    if !ipt.is_list {
                        return Err(AssignmentError::ListForResourcePort { port, index });
                    }
                    if let Some(member) = members_have_files.iter().position(|ready| !ready) {
                        return Err(AssignmentError::ListMemberNotReady {
                            port,
                            index,
                            member,
                        });
                    }
                }
            }
            if res.project != project {
                return Err(AssignmentError::NotInProject { port, index });
            }
            if !ipt.resource_types.contains(&res.resource_type) {
                return Err(AssignmentError::TypeMismatch {
                    port,
                    index,
                    resource_type: res.resource_type.clone(),
                    accepted: ipt.resource_types.clone(),
                });
            }
        }
        ports.push(PortAssignment {
            input_port: port,
            resources: assigned,
        });
    }

    if !unsatisfied.is_empty() {
        return Err(AssignmentError::Unsatisfied {
            ports: validated
                .extern_input_ports()
                .iter()
                .copied()
                .filter(|p| unsatisfied.contains(p))
                .collect(),
        });
    }
    Ok(CheckedAssignments { project, ports })
}
