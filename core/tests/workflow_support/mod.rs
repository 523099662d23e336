//! Test catalogue and a workflow builder shared by the workflow tests.
#![allow(dead_code, unreachable_pub)]

use rodan_core::catalogue::{JobDescriptor, PortType};
use rodan_core::workflow::{Connection, InputPort, OutputPort, Workflow, WorkflowJob};
use serde_json::{Value, json};
use uuid::Uuid;

pub const A1: &str = "test/a1";
pub const A2: &str = "test/a2";
pub const B: &str = "test/b";

pub fn port(name: &str, minimum: u32, maximum: u32, is_list: bool, types: &[&str]) -> PortType {
    PortType {
        name: name.into(),
        minimum,
        maximum,
        is_list,
        resource_types: types.iter().map(|t| (*t).to_owned()).collect(),
    }
}

pub fn job(
    name: &str,
    queue: &str,
    settings: Value,
    inputs: Vec<PortType>,
    outputs: Vec<PortType>,
) -> JobDescriptor {
    JobDescriptor {
        name: name.into(),
        author: "test".into(),
        category: "Test".into(),
        description: String::new(),
        queue: queue.into(),
        settings,
        interactive: false,
        enabled: true,
        input_port_types: inputs,
        output_port_types: outputs,
    }
}

/// The settings schema of upstream's dummy jobs.
pub fn dummy_schema() -> Value {
    json!({
        "type": "object",
        "required": ["a", "b"],
        "properties": {
            "a": {"type": "integer", "minimum": 0, "default": 1},
            "b": {"type": "array", "items": {"type": "number"}, "default": [0.4]},
        },
        "job_queue": "Python3",
    })
}

pub fn dummy_settings() -> Value {
    json!({"a": 1, "b": [0.4]})
}

/// Jobs shaped like upstream's test jobs, plus a few with tight port limits.
pub fn catalogue() -> Vec<JobDescriptor> {
    let ab = &[A1, A2];
    vec![
        // Upstream's dummy automatic job: every port type optional, up to 10 of each.
        job(
            "A",
            "Python3",
            dummy_schema(),
            vec![
                port("in_typeA", 0, 10, false, ab),
                port("in_typeB", 0, 10, false, ab),
                port("in_typeL", 0, 10, true, ab),
            ],
            vec![
                port("out_typeA", 0, 10, false, ab),
                port("out_typeB", 0, 10, false, ab),
                port("out_typeL", 0, 10, true, ab),
            ],
        ),
        // Exactly one input and one main output; an optional extra output.
        job(
            "Strict",
            "celery",
            json!({"type": "object"}),
            vec![port("in", 1, 1, false, &[A1])],
            vec![
                port("out", 1, 1, false, ab),
                port("extra", 0, 1, false, &[A1]),
            ],
        ),
        job(
            "OnlyA2",
            "celery",
            json!({"type": "object"}),
            vec![port("in", 0, 1, false, &[A2])],
            vec![port("out", 0, 1, false, &[A2])],
        ),
        job(
            "OnlyB",
            "GPU",
            json!({"type": "object"}),
            vec![port("in", 0, 1, false, &[B])],
            vec![port("out", 0, 1, false, &[B])],
        ),
        // Unlimited inputs (maximum 0), no outputs at all: exempt from WFJ_NO_OP by name.
        job(
            "Labeler",
            "celery",
            json!({"type": "object", "properties": {"Label": {"type": "string"}}}),
            vec![port("Resource", 1, 0, false, &[A1, A2, B])],
            vec![],
        ),
    ]
}

/// Builds a workflow one object at a time, in creation order.
#[derive(Debug, Default)]
pub struct Builder {
    pub wf: Workflow,
}

impl Builder {
    pub fn new() -> Self {
        Self {
            wf: Workflow {
                uuid: Uuid::new_v4(),
                name: "test workflow".into(),
                description: "built by a test".into(),
                ..Workflow::default()
            },
        }
    }

    pub fn job_with(&mut self, job_name: &str, settings: Value) -> Uuid {
        let uuid = Uuid::new_v4();
        self.wf.jobs.push(WorkflowJob {
            uuid,
            job_name: job_name.into(),
            name: job_name.into(),
            settings,
            appearance: None,
        });
        uuid
    }

    /// A job with settings its schema accepts.
    pub fn job(&mut self, job_name: &str) -> Uuid {
        let settings = if job_name == "A" {
            dummy_settings()
        } else {
            json!({})
        };
        self.job_with(job_name, settings)
    }

    pub fn input(&mut self, workflow_job: Uuid, port_type: &str) -> Uuid {
        let uuid = Uuid::new_v4();
        self.wf.input_ports.push(InputPort {
            uuid,
            workflow_job,
            port_type_name: port_type.into(),
            label: format!("{port_type} {}", self.wf.input_ports.len()),
        });
        uuid
    }

    pub fn output(&mut self, workflow_job: Uuid, port_type: &str) -> Uuid {
        let uuid = Uuid::new_v4();
        self.wf.output_ports.push(OutputPort {
            uuid,
            workflow_job,
            port_type_name: port_type.into(),
            label: format!("{port_type} {}", self.wf.output_ports.len()),
        });
        uuid
    }

    pub fn connect(&mut self, output_port: Uuid, input_port: Uuid) -> Uuid {
        let uuid = Uuid::new_v4();
        self.wf.connections.push(Connection {
            uuid,
            input_port,
            output_port,
        });
        uuid
    }

    /// An "A" job with one `in_typeA` input and one `out_typeA` output: (job, input, output).
    pub fn a_node(&mut self) -> (Uuid, Uuid, Uuid) {
        let j = self.job("A");
        let i = self.input(j, "in_typeA");
        let o = self.output(j, "out_typeA");
        (j, i, o)
    }
}
