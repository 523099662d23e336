//! Job catalogue descriptors: what a worker registers about each job it runs, and what the API
//! server validates workflows against. The shape follows upstream's `RodanTask` class attributes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One job as the catalogue knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDescriptor {
    /// Unique job name, exactly upstream's (`"Sauvola Threshold"`); workflows refer to jobs by it.
    pub name: String,
    /// Author line shown in the client.
    pub author: String,
    /// Category (`"Binarization"`, `"Resource Distributor"`, ...).
    pub category: String,
    /// Human description.
    pub description: String,
    /// Queue whose workers run it: `celery`, `Python3` or `GPU`.
    pub queue: String,
    /// JSON Schema (draft 4) of the job's settings, with `default`s; enum settings reach the job
    /// as the index of the chosen value, as upstream.
    pub settings: Value,
    /// Whether the job waits for a person (interactive jobs).
    pub interactive: bool,
    /// Whether the job may be used in new workflows.
    pub enabled: bool,
    /// Input port types.
    pub input_port_types: Vec<PortType>,
    /// Output port types.
    pub output_port_types: Vec<PortType>,
}

/// An input or output port type of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortType {
    /// Port name, upstream's (`"Greyscale PNG image"`).
    pub name: String,
    /// Fewest ports of this type a workflow job must have.
    pub minimum: u32,
    /// Most ports of this type a workflow job may have; 0 means no limit.
    pub maximum: u32,
    /// Whether the port carries a resource list instead of one resource.
    pub is_list: bool,
    /// Accepted resource types (mimetypes), already resolved against the registered types.
    pub resource_types: Vec<String>,
}
