//! Export (format 0.2) and import (0.1 and 0.2) of workflows.

mod workflow_support;

use rodan_core::workflow::{ImportError, PortKind, Workflow, export, import, validate};
use serde_json::{Value, json};
use workflow_support::{Builder, catalogue};

/// `first -> second`, with an appearance on the first job and an extern second output.
fn sample() -> Workflow {
    let mut b = Builder::new();
    let (j1, _, o1) = b.a_node();
    let (_, i2, _) = b.a_node();
    let second = b.wf.jobs[1].uuid;
    b.output(second, "out_typeB");
    b.connect(o1, i2);
    b.wf.jobs[0].appearance = Some(json!({"x": 0.1, "y": 0.9, "color": "red"}));
    b.wf.jobs[0].settings = json!({"a": 7, "b": [1.5, 2]});
    let _ = j1;
    b.wf
}

#[test]
fn export_numbers_ports_across_the_document_as_upstream() {
    let wf = sample();
    let doc = serde_json::to_value(export(&wf)).expect("serializable");
    let ip = |i: usize| wf.input_ports[i].label.clone();
    let op = |i: usize| wf.output_ports[i].label.clone();
    assert_eq!(
        doc,
        json!({
            "__version__": 0.2,
            "name": "test workflow",
            "description": "built by a test",
            "workflow_jobs": [
                {
                    "job_name": "A",
                    "job_settings": {"a": 7, "b": [1.5, 2]},
                    "appearance": {"x": 0.1, "y": 0.9, "color": "red"},
                    "input_ports": [{"type": "in_typeA", "id": 1, "label": ip(0)}],
                    "output_ports": [{"type": "out_typeA", "id": 2, "label": op(0)}],
                },
                {
                    "job_name": "A",
                    "job_settings": {"a": 1, "b": [0.4]},
                    "appearance": {"x": 0.5, "y": 0.5},
                    "input_ports": [{"type": "in_typeA", "id": 3, "label": ip(1)}],
                    "output_ports": [
                        {"type": "out_typeA", "id": 4, "label": op(1)},
                        {"type": "out_typeB", "id": 5, "label": op(2)},
                    ],
                },
            ],
            "connections": [{"input_port": 3, "output_port": 2}],
        })
    );
}

/// The workflow without its ids: what an export → import round trip must keep.
fn shape(wf: &Workflow) -> Value {
    let jobs: Vec<Value> = wf
        .jobs
        .iter()
        .map(|j| {
            let ports = |inputs: bool| -> Vec<Value> {
                if inputs {
                    wf.input_ports
                        .iter()
                        .filter(|p| p.workflow_job == j.uuid)
                        .map(|p| json!([p.port_type_name, p.label]))
                        .collect()
                } else {
                    wf.output_ports
                        .iter()
                        .filter(|p| p.workflow_job == j.uuid)
                        .map(|p| json!([p.port_type_name, p.label]))
                        .collect()
                }
            };
            json!([
                j.job_name,
                j.settings,
                j.appearance,
                ports(true),
                ports(false)
            ])
        })
        .collect();
    let label_in = |u| {
        wf.input_ports
            .iter()
            .find(|p| p.uuid == u)
            .map(|p| p.label.clone())
    };
    let label_out = |u| {
        wf.output_ports
            .iter()
            .find(|p| p.uuid == u)
            .map(|p| p.label.clone())
    };
    let connections: Vec<Value> = wf
        .connections
        .iter()
        .map(|c| json!([label_out(c.output_port), label_in(c.input_port)]))
        .collect();
    json!({"name": wf.name, "description": wf.description, "jobs": jobs, "connections": connections})
}

#[test]
fn export_then_import_gives_the_same_workflow_with_new_ids() {
    let wf = sample();
    let doc = serde_json::to_value(export(&wf)).expect("serializable");
    let back = import(&doc, &catalogue()).expect("an export imports");
    let mut expected = wf.clone();
    expected.jobs[1].appearance = Some(json!({"x": 0.5, "y": 0.5}));
    assert_eq!(shape(&back), shape(&expected));
    assert_ne!(back.uuid, wf.uuid);
    assert_ne!(back.jobs[0].uuid, wf.jobs[0].uuid);
    let v = validate(&back, &catalogue()).expect("the import is valid");
    assert_eq!(v.extern_input_ports(), &[back.input_ports[0].uuid]);
    // And the import exports to the very same document.
    assert_eq!(
        serde_json::to_value(export(&back)).expect("serializable"),
        doc
    );
}

#[test]
fn an_upstream_0_1_document_imports_with_default_appearance_and_labels() {
    // Shaped as upstream's 0.1 dump: float ids, no appearance, an empty label.
    let doc = json!({
        "__version__": 0.1,
        "name": "Binarise",
        "description": "",
        "workflow_jobs": [
            {
                "job_name": "Strict",
                "job_settings": {},
                "input_ports": [{"type": "in", "id": 1.0, "label": "in"}],
                "output_ports": [{"type": "out", "id": 2.0, "label": ""}],
            },
            {
                "job_name": "A",
                "job_settings": {"a": 3, "b": []},
                "input_ports": [{"type": "in_typeA", "id": 3, "label": "from strict"}],
                "output_ports": [{"type": "out_typeA", "id": 4, "label": "result"}],
            },
        ],
        "connections": [{"input_port": 3, "output_port": 2}],
    });
    let wf = import(&doc, &catalogue()).expect("a 0.1 document imports");
    assert_eq!(wf.name, "Binarise");
    assert_eq!(wf.jobs.len(), 2);
    assert_eq!(wf.jobs[0].name, "Strict");
    assert_eq!(wf.jobs[1].settings, json!({"a": 3, "b": []}));
    for j in &wf.jobs {
        assert_eq!(j.appearance, Some(json!({"x": 0.5, "y": 0.5})));
    }
    assert_eq!(
        wf.output_ports[0].label, "out",
        "an empty label becomes the type name"
    );
    assert_eq!(wf.connections.len(), 1);
    assert_eq!(wf.connections[0].output_port, wf.output_ports[0].uuid);
    assert_eq!(wf.connections[0].input_port, wf.input_ports[1].uuid);
    validate(&wf, &catalogue()).expect("the imported workflow is valid");
}

fn doc_with(f: impl FnOnce(&mut Value)) -> Value {
    let mut doc = serde_json::to_value(export(&sample())).expect("serializable");
    f(&mut doc);
    doc
}

#[test]
fn import_refuses_documents_of_another_shape_or_version() {
    let cat = catalogue();
    assert_eq!(import(&json!([]), &cat), Err(ImportError::NotAnObject));
    assert_eq!(
        import(&json!({"name": "x"}), &cat)
            .expect_err("no version")
            .body(),
        json!({"serialized": "Please provide the version of serialization format."})
    );
    assert_eq!(
        import(&doc_with(|d| d["__version__"] = json!(0.3)), &cat)
            .expect_err("0.3")
            .body(),
        json!({"serialized": "Unsupported version of serialization format: 0.3"})
    );
    assert_eq!(
        import(&doc_with(|d| d["__version__"] = json!("0.2")), &cat)
            .expect_err("a string")
            .body(),
        json!({"serialized": "Unsupported version of serialization format: 0.2"})
    );
    let err = import(
        &doc_with(|d| d["workflow_jobs"][1]["input_ports"][0]["id"] = json!("3")),
        &cat,
    )
    .expect_err("a string id");
    let ImportError::Shape { path, .. } = &err else {
        panic!("a shape error, got {err:?}");
    };
    assert_eq!(path, "workflow_jobs[1].input_ports[0].id");
    let err = import(
        &doc_with(|d| {
            d.as_object_mut().expect("an object").remove("connections");
        }),
        &cat,
    )
    .expect_err("no connections");
    assert!(
        matches!(err, ImportError::Shape { ref path, .. } if path.is_empty()),
        "{err:?}"
    );
}

#[test]
fn import_checks_jobs_port_types_ids_settings_and_connections_against_the_catalogue() {
    let cat = catalogue();
    let cases: Vec<(Value, ImportError, Value)> = vec![
        (
            doc_with(|d| d["workflow_jobs"][1]["job_name"] = json!("Gone")),
            ImportError::UnknownJobs(vec![(1, "Gone".into())]),
            json!({"workflow_jobs[1].job_name": "Job Gone does not exist in current Rodan installation."}),
        ),
        (
            // Every missing job is named in the one answer, whatever else is wrong after them.
            doc_with(|d| {
                d["workflow_jobs"][0]["job_name"] = json!("Gone");
                d["workflow_jobs"][1]["job_name"] = json!("Also gone");
                d["connections"][0]["output_port"] = json!(99);
            }),
            ImportError::UnknownJobs(vec![(0, "Gone".into()), (1, "Also gone".into())]),
            json!({
                "workflow_jobs[0].job_name": "Job Gone does not exist in current Rodan installation.",
                "workflow_jobs[1].job_name": "Job Also gone does not exist in current Rodan installation.",
            }),
        ),
        (
            doc_with(|d| d["workflow_jobs"][0]["input_ports"][0]["type"] = json!("nope")),
            ImportError::UnknownPortType {
                kind: PortKind::Input,
                job: 0,
                port: 0,
                job_name: "A".into(),
                port_type: "nope".into(),
            },
            json!({"workflow_jobs[0].input_ports[0].type": "InputPortType nope of Job A does not exist in current Rodan installation."}),
        ),
        (
            doc_with(|d| d["workflow_jobs"][1]["output_ports"][1]["id"] = json!(4)),
            ImportError::DuplicatePortId {
                kind: PortKind::Output,
                job: 1,
                port: 1,
            },
            json!({"workflow_jobs[1].output_ports[1].id": "Duplicate OutputPort ID found."}),
        ),
        (
            doc_with(|d| d["connections"][0]["input_port"] = json!(2)),
            ImportError::UnknownPortId {
                kind: PortKind::Input,
                connection: 0,
            },
            json!({"connections[0].input_port": "Referencing an invalid InputPort ID."}),
        ),
        (
            doc_with(|d| d["connections"][0]["output_port"] = json!(99)),
            ImportError::UnknownPortId {
                kind: PortKind::Output,
                connection: 0,
            },
            json!({"connections[0].output_port": "Referencing an invalid OutputPort ID."}),
        ),
    ];
    for (doc, error, detail) in cases {
        let err = import(&doc, &cat).expect_err("a fault");
        assert_eq!(err, error);
        assert_eq!(err.body(), json!({ "serialized": detail }));
    }
    let err = import(
        &doc_with(|d| d["workflow_jobs"][0]["job_settings"] = json!({"a": "seven", "b": []})),
        &cat,
    )
    .expect_err("bad settings");
    let ImportError::InvalidSettings { job: 0, message } = &err else {
        panic!("invalid settings of job 0, got {err:?}");
    };
    assert!(message.starts_with("a: "), "{message}");
    let body = err.body();
    let text = body["serialized"]["workflow_jobs[0].job_settings"]
        .as_str()
        .expect("a message");
    assert!(text.starts_with("Job settings is invalid: "), "{text}");
}
