//! The checks on `resource_assignments` of POST /api/workflowruns/, with upstream's messages.

mod workflow_support;

use rodan_core::workflow::{
    AssignmentError, AssignmentShapeError, ResourceInfo, ResourceKind, Validated, Workflow,
    check_assignments, parse_assignments, validate,
};
use serde_json::json;
use uuid::Uuid;
use workflow_support::{A1, A2, B, Builder, catalogue};

/// A chain `first -> second`; `first` takes a single resource (`in_typeA`) and a list
/// (`in_typeL`), both extern.
struct Fixture {
    wf: Workflow,
    validated: Validated,
    project: Uuid,
    single: Uuid,
    list: Uuid,
    connected: Uuid,
}

fn fixture() -> Fixture {
    let mut b = Builder::new();
    let j = b.job("A");
    let single = b.input(j, "in_typeA");
    let list = b.input(j, "in_typeL");
    let o = b.output(j, "out_typeA");
    let (_, connected, _) = b.a_node();
    b.connect(o, connected);
    let validated = validate(&b.wf, &catalogue()).expect("the fixture is valid");
    Fixture {
        wf: b.wf,
        validated,
        project: Uuid::new_v4(),
        single,
        list,
        connected,
    }
}

fn resource(project: Uuid, name: &str, mimetype: &str) -> ResourceInfo {
    ResourceInfo {
        uuid: Uuid::new_v4(),
        name: name.into(),
        project,
        resource_type: mimetype.into(),
        kind: ResourceKind::Resource { has_file: true },
    }
}

fn list(project: Uuid, members: Vec<bool>) -> ResourceInfo {
    ResourceInfo {
        uuid: Uuid::new_v4(),
        name: "list".into(),
        project,
        resource_type: A1.into(),
        kind: ResourceKind::List {
            members_have_files: members,
        },
    }
}

impl Fixture {
    fn check(
        &self,
        assignments: &[(Uuid, Vec<Uuid>)],
        resources: &[ResourceInfo],
    ) -> Result<rodan_core::workflow::CheckedAssignments, AssignmentError> {
        check_assignments(
            &self.wf,
            &self.validated,
            &catalogue(),
            self.project,
            assignments,
            resources,
        )
    }

    fn pages(&self, n: usize) -> Vec<ResourceInfo> {
        (0..n)
            .map(|i| resource(self.project, &format!("page {i}"), A1))
            .collect()
    }
}

fn ids(resources: &[ResourceInfo]) -> Vec<Uuid> {
    resources.iter().map(|r| r.uuid).collect()
}

fn url(port: Uuid) -> String {
    format!("http://h/api/inputport/{port}/")
}

#[test]
fn a_complete_assignment_passes_with_its_batch_size() {
    let f = fixture();
    let pages = f.pages(3);
    let l = list(f.project, vec![true, true]);
    let mut all = pages.clone();
    all.push(l.clone());
    let checked = f
        .check(&[(f.single, ids(&pages)), (f.list, vec![l.uuid])], &all)
        .expect("every extern port has ready resources of the right kind");
    assert_eq!(checked.batch_size(), 3);
    assert_eq!(checked.ports[0].input_port, f.single);
    assert_eq!(checked.ports[0].resources, pages);
    assert_eq!(checked.ports[1].resources, vec![l]);
}

#[test]
fn a_connected_port_must_not_be_assigned() {
    let f = fixture();
    let r = f.pages(1);
    let err = f
        .check(&[(f.connected, ids(&r))], &r)
        .expect_err("connected port");
    assert_eq!(err, AssignmentError::PortSatisfied { port: f.connected });
    assert_eq!(
        err.body(url),
        json!({"resource_assignments": {url(f.connected): ["Assigned InputPort must be unsatisfied"]}})
    );
}

#[test]
fn a_port_assigned_twice_is_refused_the_second_time() {
    let f = fixture();
    let r = f.pages(1);
    let err = f
        .check(&[(f.single, ids(&r)), (f.single, ids(&r))], &r)
        .expect_err("the same port twice");
    assert_eq!(err, AssignmentError::PortSatisfied { port: f.single });
}

#[test]
fn an_unknown_resource_is_refused_at_its_index() {
    let f = fixture();
    let r = f.pages(1);
    let err = f
        .check(&[(f.single, vec![r[0].uuid, Uuid::new_v4()])], &r)
        .expect_err("unknown resource");
    assert_eq!(
        err.body(url),
        json!({"resource_assignments": {url(f.single): {"1": ["Invalid hyperlink - Object does not exist."]}}})
    );
}

#[test]
fn an_empty_collection_is_refused() {
    let f = fixture();
    let err = f.check(&[(f.single, vec![])], &[]).expect_err("empty");
    assert_eq!(
        err.body(url),
        json!({"resource_assignments": {url(f.single): ["It is not allowed to assign an empty collection"]}})
    );
}

#[test]
fn collections_of_unequal_lengths_are_refused() {
    let mut b = Builder::new();
    let j = b.job("A");
    let p1 = b.input(j, "in_typeA");
    let p2 = b.input(j, "in_typeB");
    b.output(j, "out_typeA");
    let validated = validate(&b.wf, &catalogue()).expect("valid");
    let project = Uuid::new_v4();
    let three: Vec<_> = (0..3)
        .map(|i| resource(project, &i.to_string(), A1))
        .collect();
    let two: Vec<_> = (0..2)
        .map(|i| resource(project, &i.to_string(), A2))
        .collect();
    let all: Vec<_> = three.iter().chain(&two).cloned().collect();
    let err = check_assignments(
        &b.wf,
        &validated,
        &catalogue(),
        project,
        &[(p1, ids(&three)), (p2, ids(&two))],
        &all,
    )
    .expect_err("3 pages against 2");
    assert_eq!(
        err,
        AssignmentError::UnevenCollections {
            port: p2,
            first_port: p1
        }
    );
    assert_eq!(
        err.body(url),
        json!({"resource_assignments": {url(p2): [format!(
            "The number of assigned Resources of ResourceLists is not even with that of {}",
            url(p1)
        )]}})
    );
    // A single resource next to a collection is shared by the batch, not a length mismatch.
    check_assignments(
        &b.wf,
        &validated,
        &catalogue(),
        project,
        &[(p1, ids(&three)), (p2, vec![two[0].uuid])],
        &all,
    )
    .expect("one resource beside three");
}

#[test]
fn a_resource_for_a_list_port_and_a_list_for_a_single_port_are_refused() {
    let f = fixture();
    let pages = f.pages(2);
    let l = list(f.project, vec![true]);
    let all: Vec<_> = pages.iter().cloned().chain([l.clone()]).collect();
    let err = f
        .check(&[(f.list, vec![l.uuid, pages[0].uuid])], &all)
        .expect_err("resource into a list port");
    assert_eq!(
        err.body(url),
        json!({"resource_assignments": {url(f.list): {"1": ["The InputPort requires ResourceLists but is provided with Resources"]}}})
    );
    let err = f
        .check(&[(f.single, vec![pages[0].uuid, l.uuid])], &all)
        .expect_err("list into a single port");
    assert_eq!(
        err.body(url),
        json!({"resource_assignments": {url(f.single): {"1": ["The InputPort requires Resources but is provided with ResourceLists"]}}})
    );
}

#[test]
fn resources_without_files_are_not_ready() {
    let f = fixture();
    let mut r = resource(f.project, "uploading", A1);
    r.kind = ResourceKind::Resource { has_file: false };
    let err = f
        .check(&[(f.single, vec![r.uuid])], std::slice::from_ref(&r))
        .expect_err("no file");
    assert_eq!(
        err,
        AssignmentError::ResourceNotReady {
            port: f.single,
            index: 0
        }
    );
    assert_eq!(
        err.body(url)["resource_assignments"][url(f.single)]["0"][0],
        "The resource file is not ready"
    );

    let l = list(f.project, vec![true, true, false]);
    let err = f
        .check(&[(f.list, vec![l.uuid])], std::slice::from_ref(&l))
        .expect_err("a member without file");
    assert_eq!(
        err,
        AssignmentError::ListMemberNotReady {
            port: f.list,
            index: 0,
            member: 2
        }
    );
    assert_eq!(
        err.body(url)["resource_assignments"][url(f.list)]["0"][0],
        "The resource file of #2 in theresource list is not ready"
    );
}

#[test]
fn resources_of_another_project_are_refused() {
    let f = fixture();
    let mut pages = f.pages(3);
    pages[2].project = Uuid::new_v4();
    let err = f
        .check(&[(f.single, ids(&pages))], &pages)
        .expect_err("another project");
    assert_eq!(
        err.body(url),
        json!({"resource_assignments": {url(f.single): {"2": ["Resource or ResourceList is not in the project of Workflow"]}}})
    );
}

#[test]
fn a_type_the_port_does_not_accept_is_refused_naming_both() {
    let f = fixture();
    let mut pages = f.pages(6);
    pages[5].resource_type = B.into();
    let err = f
        .check(&[(f.single, ids(&pages))], &pages)
        .expect_err("wrong type");
    let message = err.body(url)["resource_assignments"][url(f.single)]["5"][0]
        .as_str()
        .expect("one message")
        .to_owned();
    assert!(message.starts_with("The resource type <ResourceType test/b> does not match"));
    assert!(message.contains(A1) && message.contains(A2), "{message}");
}

#[test]
fn extern_ports_left_unassigned_are_listed() {
    let f = fixture();
    let r = f.pages(1);
    let err = f
        .check(&[(f.single, ids(&r))], &r)
        .expect_err("the list port is unassigned");
    assert_eq!(
        err,
        AssignmentError::Unsatisfied {
            ports: vec![f.list]
        }
    );
    assert_eq!(
        err.body(url),
        json!({"resource_assignments": [format!("There are still unsatisfied InputPorts: {}", url(f.list))]})
    );
}

#[test]
fn the_first_faulty_port_in_request_order_is_reported() {
    let f = fixture();
    let r = f.pages(1);
    let l = list(f.project, vec![false]);
    let all: Vec<_> = r.iter().cloned().chain([l.clone()]).collect();
    let err = f
        .check(&[(f.list, vec![l.uuid]), (f.single, vec![])], &all)
        .expect_err("two faults");
    assert!(matches!(err, AssignmentError::ListMemberNotReady { .. }));
}

#[test]
fn the_shape_of_resource_assignments_is_checked_first() {
    assert_eq!(
        parse_assignments(&json!([]))
            .expect_err("not an object")
            .body(),
        json!({"resource_assignments": ["This field must be a JSON object"]})
    );
    let err = parse_assignments(&json!({"http://h/api/inputport/1/": "http://h/api/resource/2/"}))
        .expect_err("not a list");
    assert_eq!(
        err.body(),
        json!({"resource_assignments": {"http://h/api/inputport/1/": ["A list of resources or resource lists is expected"]}})
    );
    let err = parse_assignments(&json!({"p": ["u", 3]})).expect_err("a number");
    assert_eq!(
        err,
        AssignmentShapeError::NotAUrl {
            key: "p".into(),
            index: 1,
            found: "int"
        }
    );
    assert_eq!(
        parse_assignments(&json!({"p": ["u1", "u2"], "q": []})).expect("well formed"),
        vec![
            ("p".to_owned(), vec!["u1".to_owned(), "u2".to_owned()]),
            ("q".to_owned(), vec![])
        ]
    );
}
