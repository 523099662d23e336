//! Run planning with upstream's batch semantics.

mod workflow_support;

use std::collections::{HashMap, HashSet};

use rodan_core::workflow::{
    CheckedAssignments, OCTET_STREAM, PlannedRunJob, ResourceInfo, ResourceKind, ResourceRef,
    RunInfo, RunPlan, Workflow, check_assignments, plan_run, validate,
};
use uuid::Uuid;
use workflow_support::{A1, A2, Builder, catalogue};

fn resource(project: Uuid, name: &str, mimetype: &str) -> ResourceInfo {
    ResourceInfo {
        uuid: Uuid::new_v4(),
        name: name.into(),
        project,
        resource_type: mimetype.into(),
        kind: ResourceKind::Resource { has_file: true },
    }
}

fn run() -> RunInfo {
    RunInfo {
        uuid: Uuid::new_v4(),
        name: "run".into(),
    }
}

/// Validate, check the assignments and plan, as the API server does.
fn plan(
    wf: &Workflow,
    project: Uuid,
    assignments: &[(Uuid, Vec<&ResourceInfo>)],
) -> (CheckedAssignments, RunPlan) {
    let validated = validate(wf, &catalogue()).expect("the workflow is valid");
    let resources: Vec<ResourceInfo> = assignments
        .iter()
        .flat_map(|(_, rs)| rs.iter().map(|r| (*r).clone()))
        .collect();
    let pairs: Vec<(Uuid, Vec<Uuid>)> = assignments
        .iter()
        .map(|(p, rs)| (*p, rs.iter().map(|r| r.uuid).collect()))
        .collect();
    let checked = check_assignments(wf, &validated, &catalogue(), project, &pairs, &resources)
        .expect("the assignments are complete");
    let plan = plan_run(wf, &validated, &catalogue(), &checked, &run());
    (checked, plan)
}

fn runs_of(plan: &RunPlan, wfj: Uuid) -> Vec<&PlannedRunJob> {
    plan.run_jobs
        .iter()
        .filter(|rj| rj.workflow_job == wfj)
        .collect()
}

/// The resource each planned output creates, by its id.
fn outputs_by_resource(plan: &RunPlan) -> HashMap<Uuid, (&PlannedRunJob, Uuid)> {
    plan.run_jobs
        .iter()
        .flat_map(|rj| {
            rj.outputs
                .iter()
                .map(move |o| (o.resource.uuid, (rj, o.output_port)))
        })
        .collect()
}

#[test]
fn three_pages_through_a_three_job_chain_make_nine_run_jobs() {
    let project = Uuid::new_v4();
    let mut b = Builder::new();
    let (j1, i1, o1) = b.a_node();
    let (j2, i2, o2) = b.a_node();
    let (j3, i3, _) = b.a_node();
    b.connect(o1, i2);
    b.connect(o2, i3);
    let pages: Vec<_> = (0..3)
        .map(|i| resource(project, &format!("page {i}"), A1))
        .collect();
    let (_, plan) = plan(&b.wf, project, &[(i1, pages.iter().collect())]);

    assert_eq!(plan.batch_size, 3);
    assert_eq!(plan.run_jobs.len(), 9);
    let producers = outputs_by_resource(&plan);
    for (k, page) in pages.iter().enumerate() {
        let batch: Vec<_> = plan
            .run_jobs
            .iter()
            .filter(|rj| rj.batch_index == Some(k))
            .collect();
        assert_eq!(
            batch.iter().map(|rj| rj.workflow_job).collect::<Vec<_>>(),
            vec![j1, j2, j3],
            "each batch runs the chain in order"
        );
        for rj in &batch {
            assert_eq!(rj.resource_uuid, Some(page.uuid));
            assert_eq!(rj.job_name, "A");
            assert_eq!(rj.job_queue, "Python3");
            assert_eq!(rj.settings, workflow_support::dummy_settings());
            assert_eq!(rj.outputs.len(), 1);
            assert_eq!(rj.outputs[0].resource.name, page.name);
            assert_eq!(rj.outputs[0].resource.project, project);
        }
        assert_eq!(batch[0].inputs.len(), 1);
        assert_eq!(batch[0].inputs[0].source, ResourceRef::Resource(page.uuid));
        // Each later job reads the output of the previous job of the same batch item.
        for pair in batch.windows(2) {
            let source = pair[1].inputs[0].source.uuid();
            let (producer, _) = producers[&source];
            assert_eq!(producer.uuid, pair[0].uuid);
        }
    }
}

#[test]
fn a_singleton_job_runs_once_and_the_batch_shares_its_output() {
    // s takes one resource; m takes s's output and three pages: s is a singleton, m is batched.
    let project = Uuid::new_v4();
    let mut b = Builder::new();
    let (s, si, so) = b.a_node();
    let m = b.job("A");
    let m_from_s = b.input(m, "in_typeA");
    let m_pages = b.input(m, "in_typeB");
    b.output(m, "out_typeA");
    b.connect(so, m_from_s);
    let model = resource(project, "model", A2);
    let pages: Vec<_> = (0..3)
        .map(|i| resource(project, &i.to_string(), A1))
        .collect();
    let (_, plan) = plan(
        &b.wf,
        project,
        &[(si, vec![&model]), (m_pages, pages.iter().collect())],
    );

    let s_runs = runs_of(&plan, s);
    let m_runs = runs_of(&plan, m);
    assert_eq!(s_runs.len(), 1);
    assert_eq!(s_runs[0].batch_index, None);
    assert_eq!(m_runs.len(), 3);
    let shared = s_runs[0].outputs[0].resource.as_ref();
    for (k, rj) in m_runs.iter().enumerate() {
        assert_eq!(rj.batch_index, Some(k));
        let from_s = rj
            .inputs
            .iter()
            .find(|i| i.input_port == m_from_s)
            .expect("m reads s");
        assert_eq!(from_s.source, shared);
        let page = rj
            .inputs
            .iter()
            .find(|i| i.input_port == m_pages)
            .expect("m reads a page");
        assert_eq!(page.source, ResourceRef::Resource(pages[k].uuid));
    }
    // As upstream, the singleton was made with the first batch item and carries its name.
    assert_eq!(s_runs[0].resource_uuid, Some(pages[0].uuid));
    assert_eq!(s_runs[0].outputs[0].resource.name, "0");
}

#[test]
fn without_collections_every_job_runs_once_with_port_named_outputs() {
    let project = Uuid::new_v4();
    let mut b = Builder::new();
    let (j1, i1, o1) = b.a_node();
    let (j2, i2, _) = b.a_node();
    b.connect(o1, i2);
    let page = resource(project, "page", A1);
    let (_, plan) = plan(&b.wf, project, &[(i1, vec![&page])]);
    assert_eq!(plan.batch_size, 1);
    assert_eq!(
        plan.run_jobs
            .iter()
            .map(|rj| rj.workflow_job)
            .collect::<Vec<_>>(),
        vec![j1, j2]
    );
    for rj in &plan.run_jobs {
        assert_eq!(rj.batch_index, None);
        assert_eq!(rj.resource_uuid, None);
        assert_eq!(rj.outputs[0].resource.name, "A - out_typeA");
    }
}

#[test]
fn collections_on_two_ports_are_zipped_and_the_first_names_the_batch() {
    let project = Uuid::new_v4();
    let mut b = Builder::new();
    let j = b.job("A");
    let p1 = b.input(j, "in_typeA");
    let p2 = b.input(j, "in_typeB");
    b.output(j, "out_typeA");
    let left: Vec<_> = (0..2)
        .map(|i| resource(project, &format!("L{i}"), A1))
        .collect();
    let right: Vec<_> = (0..2)
        .map(|i| resource(project, &format!("R{i}"), A1))
        .collect();
    let (_, plan) = plan(
        &b.wf,
        project,
        &[(p2, right.iter().collect()), (p1, left.iter().collect())],
    );
    assert_eq!(plan.run_jobs.len(), 2);
    for (k, rj) in plan.run_jobs.iter().enumerate() {
        let sources: HashSet<_> = rj.inputs.iter().map(|i| i.source.uuid()).collect();
        assert_eq!(sources, HashSet::from([left[k].uuid, right[k].uuid]));
        assert_eq!(
            rj.resource_uuid,
            Some(right[k].uuid),
            "request order decides"
        );
        assert_eq!(rj.outputs[0].resource.name, right[k].name);
    }
}

/// Upstream's "complex dummy workflow" (its WorkflowRunComplexTest): A, B, C are singletons; D,
/// E, F run once per item of the ten-resource collections on Dip1 and Fip1.
#[test]
fn upstreams_complex_workflow_gives_upstreams_counts_and_names() {
    let project = Uuid::new_v4();
    let mut b = Builder::new();
    let a = b.job("A");
    let bj = b.job("A");
    let c = b.job("A");
    let d = b.job("A");
    let e = b.job("A");
    let f = b.job("A");
    let aip = b.input(a, "in_typeA");
    let aop = b.output(a, "out_typeA");
    let bop = b.output(bj, "out_typeL");
    let cip1 = b.input(c, "in_typeB");
    let cip2 = b.input(c, "in_typeL");
    let cop1 = b.output(c, "out_typeA");
    b.output(c, "out_typeB");
    let dip1 = b.input(d, "in_typeA");
    let dip2 = b.input(d, "in_typeB");
    let dip3 = b.input(d, "in_typeL");
    let dop = b.output(d, "out_typeA");
    let eip1 = b.input(e, "in_typeA");
    let eip2 = b.input(e, "in_typeB");
    b.output(e, "out_typeA");
    let fip1 = b.input(f, "in_typeA");
    let fip2 = b.input(f, "in_typeA");
    let fop = b.output(f, "out_typeL");
    b.connect(aop, cip1);
    b.connect(bop, cip2);
    b.connect(cop1, dip2);
    b.connect(dop, eip1);
    b.connect(dop, fip2);

    let collection: Vec<_> = (0..10)
        .map(|i| resource(project, &i.to_string(), if i < 5 { A1 } else { A2 }))
        .collect();
    let single = resource(project, "single", A1);
    let mut list = resource(project, "list", A1);
    list.kind = ResourceKind::List {
        members_have_files: vec![true; 8],
    };
    let (_, plan) = plan(
        &b.wf,
        project,
        &[
            (dip1, collection.iter().collect()),
            (fip1, collection.iter().collect()),
            (aip, vec![&single]),
            (eip2, vec![&single]),
            (dip3, vec![&list]),
        ],
    );

    for (job, n) in [(a, 1), (bj, 1), (c, 1), (d, 10), (e, 10), (f, 10)] {
        assert_eq!(runs_of(&plan, job).len(), n);
    }
    assert_eq!(plan.run_jobs.len(), 33);
    let names = |job| -> HashSet<String> {
        runs_of(&plan, job)
            .iter()
            .map(|rj| rj.outputs[0].resource.name.clone())
            .collect()
    };
    let expected: HashSet<String> = (0..10).map(|i| i.to_string()).collect();
    assert_eq!(names(d), expected);
    assert_eq!(names(e), expected);
    assert_eq!(names(f), expected);
    for rj in runs_of(&plan, f) {
        assert!(rj.outputs[0].resource.is_list, "out_typeL makes a list");
        assert_eq!(rj.outputs[0].output_port, fop);
    }
    // D's outputs feed both E and F of the same item.
    let producers = outputs_by_resource(&plan);
    for job in [e, f] {
        for rj in runs_of(&plan, job) {
            let port = if job == e { eip1 } else { fip2 };
            let input = rj
                .inputs
                .iter()
                .find(|i| i.input_port == port)
                .expect("fed by D");
            let (producer, _) = producers[&input.source.uuid()];
            assert_eq!(producer.workflow_job, d);
            assert_eq!(producer.batch_index, rj.batch_index);
        }
    }
    // Every D reads the one list and the singleton C's output.
    let c_out = runs_of(&plan, c)[0].outputs[0].resource.uuid;
    for rj in runs_of(&plan, d) {
        let sources: HashMap<Uuid, ResourceRef> =
            rj.inputs.iter().map(|i| (i.input_port, i.source)).collect();
        assert_eq!(sources[&dip3], ResourceRef::List(list.uuid));
        assert_eq!(sources[&dip2], ResourceRef::Resource(c_out));
    }
}

#[test]
fn output_types_follow_connected_ports_then_inputs_then_the_first_type() {
    let project = Uuid::new_v4();
    let mut b = Builder::new();
    let j = b.job("A");
    let ip = b.input(j, "in_typeA");
    let to_a2_only = b.output(j, "out_typeA");
    let unconnected = b.output(j, "out_typeB");
    let list_out = b.output(j, "out_typeL");
    let only_a2 = b.job("OnlyA2");
    let only_a2_in = b.input(only_a2, "in");
    b.output(only_a2, "out");
    b.connect(to_a2_only, only_a2_in);

    let page = resource(project, "page", A2);
    let (_, with_a2) = plan(&b.wf, project, &[(ip, vec![&page])]);
    let rj = runs_of(&with_a2, j)[0];
    let type_of = |port| {
        rj.outputs
            .iter()
            .find(|o| o.output_port == port)
            .map(|o| o.resource.resource_type.clone())
            .expect("one output per port")
    };
    assert_eq!(
        type_of(to_a2_only),
        A2,
        "the connected port accepts only a2"
    );
    assert_eq!(type_of(unconnected), A2, "the input resource is a2");
    assert_eq!(
        type_of(list_out),
        OCTET_STREAM,
        "lists stay untyped as upstream"
    );

    let page = resource(project, "page", A1);
    let (_, with_a1) = plan(&b.wf, project, &[(ip, vec![&page])]);
    let rj = runs_of(&with_a1, j)[0];
    let unconnected_type = rj
        .outputs
        .iter()
        .find(|o| o.output_port == unconnected)
        .map(|o| o.resource.resource_type.as_str());
    assert_eq!(unconnected_type, Some(A1), "the input resource is a1 now");
}

#[test]
fn every_planned_id_is_fresh_and_descriptions_name_the_run() {
    let project = Uuid::new_v4();
    let mut b = Builder::new();
    let (_, i1, o1) = b.a_node();
    let (_, i2, _) = b.a_node();
    b.connect(o1, i2);
    let pages: Vec<_> = (0..4)
        .map(|i| resource(project, &i.to_string(), A1))
        .collect();
    let (_, plan) = plan(&b.wf, project, &[(i1, pages.iter().collect())]);
    let mut seen = HashSet::new();
    for rj in &plan.run_jobs {
        assert!(seen.insert(rj.uuid));
        for i in &rj.inputs {
            assert!(seen.insert(i.uuid));
        }
        for o in &rj.outputs {
            assert!(seen.insert(o.uuid));
            assert!(seen.insert(o.resource.uuid));
            assert!(
                o.resource
                    .description
                    .starts_with("Generated by workflow: test workflow-")
            );
            assert!(o.resource.description.contains(&rj.uuid.to_string()));
        }
    }
    assert_eq!(seen.len(), 8 + 8 + 8 + 8);
}
