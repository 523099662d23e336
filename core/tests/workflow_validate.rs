//! Workflow validation: one minimal workflow per error code, valid graphs, extern ports, the body.

mod workflow_support;

use rodan_core::workflow::{AssociatedObject as Obj, ErrorCode, Workflow, validate};
use rstest::rstest;
use serde_json::json;
use uuid::Uuid;
use workflow_support::{Builder, catalogue};

type Case = (Workflow, Vec<Obj>);

fn ipt(job: &str, name: &str) -> Obj {
    Obj::InputPortType {
        job_name: job.into(),
        name: name.into(),
    }
}

fn opt(job: &str, name: &str) -> Obj {
    Obj::OutputPortType {
        job_name: job.into(),
        name: name.into(),
    }
}

fn no_output_port() -> Case {
    let mut b = Builder::new();
    let j = b.job("A");
    b.input(j, "in_typeA");
    (b.wf, vec![Obj::WorkflowJob(j)])
}

fn too_few_input_ports() -> Case {
    let mut b = Builder::new();
    let j = b.job("Strict");
    b.output(j, "out");
    (b.wf, vec![Obj::WorkflowJob(j), ipt("Strict", "in")])
}

fn too_many_input_ports() -> Case {
    let mut b = Builder::new();
    let j = b.job("Strict");
    b.input(j, "in");
    b.input(j, "in");
    b.output(j, "out");
    (b.wf, vec![Obj::WorkflowJob(j), ipt("Strict", "in")])
}

fn too_few_output_ports() -> Case {
    let mut b = Builder::new();
    let j = b.job("Strict");
    b.input(j, "in");
    b.output(j, "extra");
    (b.wf, vec![Obj::WorkflowJob(j), opt("Strict", "out")])
}

fn too_many_output_ports() -> Case {
    let mut b = Builder::new();
    let j = b.job("Strict");
    b.input(j, "in");
    b.output(j, "out");
    b.output(j, "out");
    (b.wf, vec![Obj::WorkflowJob(j), opt("Strict", "out")])
}

fn invalid_settings() -> Case {
    let mut b = Builder::new();
    let j = b.job_with("A", json!({"a": -1, "b": [0.4]}));
    b.output(j, "out_typeA");
    (b.wf, vec![Obj::WorkflowJob(j)])
}

fn unknown_job() -> Case {
    let mut b = Builder::new();
    let j = b.job("Retired Job");
    b.output(j, "out");
    (b.wf, vec![Obj::WorkflowJob(j)])
}

fn input_port_of_another_job() -> Case {
    let mut b = Builder::new();
    let j = b.job("A");
    let ip = b.input(j, "Resource");
    b.output(j, "out_typeA");
    (b.wf, vec![Obj::InputPort(ip)])
}

fn input_port_with_two_connections() -> Case {
    let mut b = Builder::new();
    let j1 = b.job("A");
    let o1 = b.output(j1, "out_typeA");
    let o2 = b.output(j1, "out_typeB");
    let (_, i2, _) = b.a_node();
    b.connect(o1, i2);
    b.connect(o2, i2);
    (b.wf, vec![Obj::InputPort(i2)])
}

fn output_port_of_another_job() -> Case {
    let mut b = Builder::new();
    let j = b.job("A");
    let op = b.output(j, "out");
    (b.wf, vec![Obj::OutputPort(op)])
}

fn list_input_fed_by_single_output() -> Case {
    let mut b = Builder::new();
    let (_, _, o1) = b.a_node();
    let j2 = b.job("A");
    let il = b.input(j2, "in_typeL");
    b.output(j2, "out_typeA");
    b.connect(o1, il);
    (b.wf, vec![Obj::OutputPort(o1), Obj::InputPort(il)])
}

fn no_common_resource_type() -> Case {
    let mut b = Builder::new();
    let (_, _, o1) = b.a_node();
    let j2 = b.job("OnlyB");
    let i2 = b.input(j2, "in");
    b.output(j2, "out");
    b.connect(o1, i2);
    (b.wf, vec![Obj::OutputPort(o1), Obj::InputPort(i2)])
}

fn empty() -> Case {
    (Builder::new().wf, vec![])
}

fn two_jobs_feeding_each_other() -> Case {
    let mut b = Builder::new();
    let (_, i1, o1) = b.a_node();
    let (_, i2, o2) = b.a_node();
    b.connect(o1, i2);
    let back = b.connect(o2, i1);
    (b.wf, vec![Obj::Connection(back)])
}

fn two_unconnected_jobs() -> Case {
    let mut b = Builder::new();
    b.a_node();
    b.a_node();
    (b.wf, vec![])
}

#[rstest]
#[case::wfj_no_op(no_output_port(), ErrorCode::WfjNoOp, "WFJ_NO_OP")]
#[case::wfj_too_few_ip(too_few_input_ports(), ErrorCode::WfjTooFewIp, "WFJ_TOO_FEW_IP")]
#[case::wfj_too_many_ip(too_many_input_ports(), ErrorCode::WfjTooManyIp, "WFJ_TOO_MANY_IP")]
#[case::wfj_too_few_op(too_few_output_ports(), ErrorCode::WfjTooFewOp, "WFJ_TOO_FEW_OP")]
#[case::wfj_too_many_op(too_many_output_ports(), ErrorCode::WfjTooManyOp, "WFJ_TOO_MANY_OP")]
#[case::wfj_invalid_settings(
    invalid_settings(),
    ErrorCode::WfjInvalidSettings,
    "WFJ_INVALID_SETTINGS"
)]
#[case::wfj_unknown_job(unknown_job(), ErrorCode::WfjUnknownJob, "WFJ_UNKNOWN_JOB")]
#[case::ip_type_mismatch(
    input_port_of_another_job(),
    ErrorCode::IpTypeMismatch,
    "IP_TYPE_MISMATCH"
)]
#[case::ip_too_many_connections(
    input_port_with_two_connections(),
    ErrorCode::IpTooManyConnections,
    "IP_TOO_MANY_CONNECTIONS"
)]
#[case::op_type_mismatch(
    output_port_of_another_job(),
    ErrorCode::OpTypeMismatch,
    "OP_TYPE_MISMATCH"
)]
#[case::resourcetype_list_conflict(
    list_input_fed_by_single_output(),
    ErrorCode::ResourcetypeListConflict,
    "RESOURCETYPE_LIST_CONFLICT"
)]
#[case::no_common_resourcetype(
    no_common_resource_type(),
    ErrorCode::NoCommonResourcetype,
    "NO_COMMON_RESOURCETYPE"
)]
#[case::wf_empty(empty(), ErrorCode::WfEmpty, "WF_EMPTY")]
#[case::wf_has_cycles(two_jobs_feeding_each_other(), ErrorCode::WfHasCycles, "WF_HAS_CYCLES")]
#[case::wf_not_connected(two_unconnected_jobs(), ErrorCode::WfNotConnected, "WF_NOT_CONNECTED")]
fn each_fault_gives_its_error_code_and_objects(
    #[case] case: Case,
    #[case] code: ErrorCode,
    #[case] wire: &str,
) {
    let (wf, objects) = case;
    let err = validate(&wf, &catalogue()).expect_err("the workflow has a fault");
    assert_eq!(err.code, code, "{}", err.details);
    assert_eq!(err.code.as_str(), wire);
    assert_eq!(err.associated_objects, objects);
}

#[test]
fn details_name_the_job_and_port_type_as_upstream() {
    let (wf, _) = too_many_input_ports();
    let err = validate(&wf, &catalogue()).expect_err("two inputs of a 1..1 type");
    assert_eq!(
        err.details,
        "The WorkflowJob Strict has too many InputPorts of type in."
    );
    let (wf, _) = no_output_port();
    let err = validate(&wf, &catalogue()).expect_err("no output port");
    assert_eq!(err.details, "The WorkflowJob A has no OutputPort.");
}

#[test]
fn the_labeler_needs_no_output_port_and_has_no_input_maximum() {
    let mut b = Builder::new();
    let (_, _, o) = b.a_node();
    let labeler = b.job("Labeler");
    let ip = b.input(labeler, "Resource");
    b.connect(o, ip);
    for _ in 0..150 {
        b.input(labeler, "Resource");
    }
    validate(&b.wf, &catalogue()).expect("the Labeler is exempt and maximum 0 means no limit");
}

#[test]
fn a_list_output_into_a_single_input_is_a_list_conflict_too() {
    let mut b = Builder::new();
    let j1 = b.job("A");
    let ol = b.output(j1, "out_typeL");
    let (_, i2, _) = b.a_node();
    b.connect(ol, i2);
    let err = validate(&b.wf, &catalogue()).expect_err("list into single");
    assert_eq!(err.code, ErrorCode::ResourcetypeListConflict);
    assert!(
        err.details.starts_with("OutputPort out_typeL"),
        "{}",
        err.details
    );
}

#[test]
fn no_common_type_counts_every_connected_input_together() {
    // Each target alone shares a type with the output; together they share none.
    let mut b = Builder::new();
    let (_, _, o) = b.a_node();
    let s = b.job("Strict");
    let is = b.input(s, "in");
    b.output(s, "out");
    let a2 = b.job("OnlyA2");
    let ia2 = b.input(a2, "in");
    b.output(a2, "out");
    b.connect(o, is);
    b.connect(o, ia2);
    let err = validate(&b.wf, &catalogue()).expect_err("a1 ∩ a2 is empty");
    assert_eq!(err.code, ErrorCode::NoCommonResourcetype);
    assert_eq!(
        err.associated_objects,
        vec![Obj::OutputPort(o), Obj::InputPort(is), Obj::InputPort(ia2)]
    );
}

#[test]
fn a_valid_workflow_marks_unconnected_ports_extern() {
    let mut b = Builder::new();
    let j1 = b.job("A");
    let i1 = b.input(j1, "in_typeA");
    let o1 = b.output(j1, "out_typeA");
    let o1b = b.output(j1, "out_typeB");
    let (_, i2, o2) = b.a_node();
    b.connect(o1, i2);
    let v = validate(&b.wf, &catalogue()).expect("a valid chain");
    assert_eq!(v.extern_input_ports(), &[i1]);
    assert_eq!(v.extern_output_ports(), &[o1b, o2]);
}

#[test]
fn branching_and_merging_graphs_are_valid() {
    // s feeds l and r, which both feed m: a diamond has no cycle.
    let mut b = Builder::new();
    let s = b.job("A");
    let so1 = b.output(s, "out_typeA");
    let so2 = b.output(s, "out_typeB");
    let (_, li, lo) = b.a_node();
    let (_, ri, ro) = b.a_node();
    let m = b.job("A");
    let mi1 = b.input(m, "in_typeA");
    let mi2 = b.input(m, "in_typeB");
    b.output(m, "out_typeA");
    b.connect(so1, li);
    b.connect(so2, ri);
    b.connect(lo, mi1);
    b.connect(ro, mi2);
    validate(&b.wf, &catalogue()).expect("a diamond is acyclic and connected");
}

#[rstest]
#[case::self_loop(1)]
#[case::three_jobs(3)]
#[case::seven_jobs(7)]
fn any_ring_of_jobs_is_a_cycle(#[case] n: usize) {
    let mut b = Builder::new();
    let nodes: Vec<_> = (0..n).map(|_| b.a_node()).collect();
    for k in 0..n {
        b.connect(nodes[k].2, nodes[(k + 1) % n].1);
    }
    let err = validate(&b.wf, &catalogue()).expect_err("a ring");
    assert_eq!(err.code, ErrorCode::WfHasCycles);
}

#[test]
fn a_cycle_downstream_of_a_valid_start_is_found() {
    let mut b = Builder::new();
    let start = b.job("A");
    let so = b.output(start, "out_typeA");
    let j1 = b.job("A");
    let j1a = b.input(j1, "in_typeA");
    let j1b = b.input(j1, "in_typeB");
    let j1o = b.output(j1, "out_typeA");
    let (_, j2i, j2o) = b.a_node();
    b.connect(so, j1a);
    b.connect(j1o, j2i);
    b.connect(j2o, j1b);
    let err = validate(&b.wf, &catalogue()).expect_err("j1 and j2 loop");
    assert_eq!(err.code, ErrorCode::WfHasCycles);
}

#[test]
fn a_long_chain_validates_without_exhausting_the_stack() {
    let mut b = Builder::new();
    let mut prev = b.a_node().2;
    for _ in 0..20_000 {
        let (_, i, o) = b.a_node();
        b.connect(prev, i);
        prev = o;
    }
    validate(&b.wf, &catalogue()).expect("a chain is valid");
}

#[test]
fn two_connected_parts_are_not_connected() {
    let mut b = Builder::new();
    let (_, i1, o1) = b.a_node();
    let (_, _, o2) = b.a_node();
    let (_, i3, _) = b.a_node();
    let (_, i4, _) = b.a_node();
    let _ = i1;
    b.connect(o1, i3);
    b.connect(o2, i4);
    let err = validate(&b.wf, &catalogue()).expect_err("two parts");
    assert_eq!(err.code, ErrorCode::WfNotConnected);
}

#[test]
fn a_connection_leaving_the_workflow_is_refused() {
    let mut b = Builder::new();
    let (_, _, o) = b.a_node();
    let dangling = b.connect(o, Uuid::new_v4());
    let err = validate(&b.wf, &catalogue()).expect_err("a connection to nowhere");
    assert_eq!(err.code, ErrorCode::WfNotConnected);
    assert_eq!(err.associated_objects, vec![Obj::Connection(dangling)]);
}

#[test]
fn job_faults_are_reported_before_port_and_graph_faults() {
    // Both an unconnected second part and a job with too many outputs: upstream reports the job.
    let (mut wf, objects) = too_many_output_ports();
    let mut extra = Builder::new();
    extra.a_node();
    wf.jobs.extend(extra.wf.jobs);
    wf.input_ports.extend(extra.wf.input_ports);
    wf.output_ports.extend(extra.wf.output_ports);
    let err = validate(&wf, &catalogue()).expect_err("two faults");
    assert_eq!(err.code, ErrorCode::WfjTooManyOp);
    assert_eq!(err.associated_objects, objects);
}

#[test]
fn the_body_groups_object_urls_by_model_as_upstream() {
    let (wf, objects) = no_common_resource_type();
    let err = validate(&wf, &catalogue()).expect_err("no common type");
    let body = err.body(|o| match o {
        Obj::OutputPort(u) => format!("http://h/api/outputport/{u}/"),
        Obj::InputPort(u) => format!("http://h/api/inputport/{u}/"),
        other => panic!("unexpected object {other:?}"),
    });
    let (Obj::OutputPort(op), Obj::InputPort(ip)) = (&objects[0], &objects[1]) else {
        panic!("objects are an output then an input port");
    };
    assert_eq!(
        body,
        json!({
            "error_code": "NO_COMMON_RESOURCETYPE",
            "details": [format!(
                "There is no common ResourceType between OutputPort {} and its connected InputPorts.",
                wf.output_ports[0].label
            )],
            "associated_objects": {
                "outputports": [format!("http://h/api/outputport/{op}/")],
                "inputports": [format!("http://h/api/inputport/{ip}/")],
            },
        })
    );
}

#[test]
fn an_empty_workflow_body_has_no_associated_objects() {
    let err = validate(&Builder::new().wf, &catalogue()).expect_err("empty");
    assert_eq!(
        err.body(|_| unreachable!("no objects")),
        json!({"error_code": "WF_EMPTY", "details": ["The Workflow is empty."], "associated_objects": {}})
    );
}
