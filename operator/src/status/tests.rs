use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::build::{self, Observed, Release, release};
use crate::cache::job_state;
use crate::crd::{Rodan, RodanSpec};
use kube::api::DynamicObject;

fn rodan(spec: serde_json::Value) -> Rodan {
    let spec: RodanSpec = serde_json::from_value(spec).expect("a valid spec");
    let mut r = Rodan::new("lab", spec);
    r.metadata.namespace = Some("music".into());
    r.metadata.uid = Some("uid".into());
    r.metadata.generation = Some(4);
    r
}

fn migrated(r: &Rodan, state: MigrationState) -> Observed {
    let release = Release::of(&r.spec);
    Observed {
        migrations: vec![(release::job_name("lab", &release), release, state)],
        keda: false,
    }
}

/// Live objects for every workload of `desired`, with `ready` ready pods each.
fn live_all(desired: &Desired, ready: i64) -> HashMap<(Kind, String), Arc<Live>> {
    desired
        .children
        .iter()
        .filter(|c| matches!(c.kind, Kind::Deployment | Kind::StatefulSet))
        .map(|c| {
            let replicas = c.object["spec"]["replicas"].as_i64().unwrap_or(1);
            let obj: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": c.name, "generation": 2},
                "status": {
                    "observedGeneration": 2,
                    "replicas": replicas,
                    "updatedReplicas": replicas,
                    "readyReplicas": ready.min(replicas),
                },
            }))
            .expect("an object");
            ((c.kind, c.name.clone()), Arc::new(Live::from(obj)))
        })
        .collect()
}

fn at(seconds: i64) -> Time {
    Time(Timestamp::from_second(seconds).expect("a time"))
}

fn compute_with(
    r: &Rodan,
    desired: &Desired,
    live: &HashMap<(Kind, String), Arc<Live>>,
    error: Option<&str>,
    now: i64,
) -> RodanStatus {
    compute_seeing(r, desired, live, error, now, &BTreeMap::new())
}

/// [`compute_with`], with the pods the controller listed for pending GPU queues.
fn compute_seeing(
    r: &Rodan,
    desired: &Desired,
    live: &HashMap<(Kind, String), Arc<Live>>,
    error: Option<&str>,
    now: i64,
    pending_pods: &BTreeMap<String, Option<Vec<Pod>>>,
) -> RodanStatus {
    compute(
        &Inputs {
            rodan: r,
            desired,
            error: error.map(str::to_owned),
            now: at(now),
            url: desired.url.clone(),
            pending_pods,
        },
        |kind, name| live.get(&(kind, name.to_owned())).cloned(),
    )
}

fn cond<'a>(s: &'a RodanStatus, t: &str) -> &'a Condition {
    s.conditions
        .iter()
        .find(|c| c.type_ == t)
        .unwrap_or_else(|| panic!("condition {t}"))
}

#[test]
fn everything_ready_is_available_and_complete() {
    let r = rodan(json!({}));
    let d = build::build(&r, &migrated(&r, MigrationState::Succeeded)).expect("built");
    let s = compute_with(&r, &d, &live_all(&d, 5), None, 100);
    assert_eq!(cond(&s, conditions::AVAILABLE).status, "True");
    assert_eq!(cond(&s, conditions::PROGRESSING).status, "False");
    assert_eq!(cond(&s, conditions::DEGRADED).status, "False");
    assert_eq!(cond(&s, conditions::PAUSED).status, "False");
    assert!(
        s.conditions
            .iter()
            .all(|c| c.observed_generation == Some(4))
    );
    assert_eq!(s.observed_generation, Some(4));
    assert_eq!(s.ready.as_deref(), Some("9/9"));
    assert_eq!(s.version.as_deref(), Some(crate::crd::DEFAULT_VERSION));
    assert_eq!(s.url.as_deref(), Some("http://lab-web.music.svc:8080"));
    let gpu = s
        .queues
        .iter()
        .find(|q| q.name == "GPU")
        .expect("GPU queue");
    assert_eq!((gpu.ready_workers, gpu.desired_workers), (0, 0));
}

#[test]
fn the_web_client_is_counted_but_rodan_serves_without_it() {
    let r = rodan(json!({"client": {"replicas": 2}}));
    let d = build::build(&r, &migrated(&r, MigrationState::Succeeded)).expect("built");
    let mut live = live_all(&d, 5);
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "lab-client", "generation": 2},
        "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 1},
    }))
    .expect("an object");
    live.insert(
        (Kind::Deployment, "lab-client".into()),
        Arc::new(Live::from(obj)),
    );
    let s = compute_with(&r, &d, &live, None, 100);
    let client = s
        .components
        .iter()
        .find(|c| c.name == "client")
        .expect("the client's component status");
    assert_eq!((client.ready_replicas, client.desired_replicas), (1, 2));
    assert_eq!(s.ready.as_deref(), Some("8/9"));
    assert_eq!(
        cond(&s, conditions::AVAILABLE).status,
        "True",
        "the API serves without the client"
    );
    assert_eq!(cond(&s, conditions::PROGRESSING).status, "True");

    let off = rodan(json!({"client": {"enabled": false}}));
    let d = build::build(&off, &migrated(&off, MigrationState::Succeeded)).expect("built");
    let s = compute_with(&off, &d, &live_all(&d, 5), None, 100);
    assert_eq!(s.ready.as_deref(), Some("8/8"));
    assert!(s.components.iter().all(|c| c.name != "client"));
}

#[test]
fn a_running_migration_is_progress_and_the_api_is_missing() {
    let r = rodan(json!({}));
    let d = build::build(&r, &Observed::default()).expect("built");
    let s = compute_with(&r, &d, &live_all(&d, 1), None, 100);
    let p = cond(&s, conditions::PROGRESSING);
    assert_eq!(
        (p.status.as_str(), p.reason.as_str()),
        ("True", reasons::MIGRATING)
    );
    let a = cond(&s, conditions::AVAILABLE);
    assert_eq!(a.status, "False");
    assert!(a.message.contains("api"), "{}", a.message);
    assert_eq!(s.version, None);
}

#[test]
fn a_failed_migration_or_write_is_degraded() {
    let r = rodan(json!({}));
    let d = build::build(&r, &migrated(&r, MigrationState::Failed)).expect("built");
    let s = compute_with(&r, &d, &live_all(&d, 1), None, 100);
    assert_eq!(
        cond(&s, conditions::DEGRADED).reason,
        reasons::MIGRATION_FAILED
    );

    let d = build::build(&r, &migrated(&r, MigrationState::Succeeded)).expect("built");
    let s = compute_with(
        &r,
        &d,
        &live_all(&d, 1),
        Some("failed to apply Service x: quota"),
        100,
    );
    let c = cond(&s, conditions::DEGRADED);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", reasons::RECONCILE_FAILED)
    );
    assert!(c.message.contains("quota"));
}

#[test]
fn pods_that_are_not_ready_keep_it_progressing_and_unavailable() {
    let r = rodan(json!({}));
    let d = build::build(&r, &migrated(&r, MigrationState::Succeeded)).expect("built");
    let mut live = live_all(&d, 1);
    live.remove(&(Kind::StatefulSet, "lab-postgres".into()));
    let s = compute_with(&r, &d, &live, None, 100);
    assert_eq!(
        cond(&s, conditions::PROGRESSING).reason,
        reasons::ROLLING_OUT
    );
    let a = cond(&s, conditions::AVAILABLE);
    assert_eq!(a.status, "False");
    assert_eq!(a.message, "no ready pods: postgres");
}

#[test]
fn transition_times_move_only_when_a_condition_flips() {
    let mut r = rodan(json!({}));
    let d = build::build(&r, &migrated(&r, MigrationState::Succeeded)).expect("built");
    let first = compute_with(&r, &d, &live_all(&d, 0), None, 100);
    r.status = Some(first.clone());
    let same = compute_with(&r, &d, &live_all(&d, 0), None, 200);
    assert_eq!(same, first, "nothing changed, so nothing to patch");
    let flipped = compute_with(&r, &d, &live_all(&d, 5), None, 300);
    assert_eq!(
        cond(&flipped, conditions::AVAILABLE).last_transition_time,
        at(300)
    );
    assert_eq!(
        cond(&flipped, conditions::DEGRADED).last_transition_time,
        at(100)
    );
}

#[test]
fn paused_shows_in_its_condition() {
    let r = rodan(json!({"paused": true}));
    let d = build::build(&r, &migrated(&r, MigrationState::Succeeded)).expect("built");
    let s = compute_with(&r, &d, &live_all(&d, 1), None, 100);
    let p = cond(&s, conditions::PAUSED);
    assert_eq!(
        (p.status.as_str(), p.reason.as_str()),
        ("True", reasons::PAUSED)
    );
}

#[test]
fn job_states_follow_their_conditions() {
    let job = |conds: serde_json::Value| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"},
            "status": {"conditions": conds},
        }))
        .expect("a job")
    };
    assert_eq!(job_state(&job(json!([]))), MigrationState::Pending);
    assert_eq!(
        job_state(&job(json!([{"type": "Complete", "status": "True"}]))),
        MigrationState::Succeeded
    );
    assert_eq!(
        job_state(&job(json!([{"type": "Failed", "status": "True"}]))),
        MigrationState::Failed
    );
    assert_eq!(
        job_state(&job(json!([{"type": "Complete", "status": "False"}]))),
        MigrationState::Pending
    );
}

#[test]
fn autoscaling_without_keda_is_degraded_and_keda_counts_are_the_live_ones() {
    let r = rodan(
        json!({"workers": [{"name": "GPU", "autoscaling": {"minReplicas": 0, "maxReplicas": 4}}]}),
    );
    let d = build::build(&r, &migrated(&r, MigrationState::Succeeded)).expect("built");
    let s = compute_with(&r, &d, &live_all(&d, 1), None, 100);
    let c = cond(&s, conditions::DEGRADED);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", reasons::AUTOSCALING_UNAVAILABLE)
    );
    assert!(c.message.contains("GPU"), "{}", c.message);

    let mut observed = migrated(&r, MigrationState::Succeeded);
    observed.keda = true;
    let d = build::build(&r, &observed).expect("built");
    let mut live = live_all(&d, 3);
    let scaled: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "lab-worker-gpu", "generation": 2},
        "spec": {"replicas": 3},
        "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 2},
    }))
    .expect("an object");
    live.insert(
        (Kind::Deployment, "lab-worker-gpu".into()),
        Arc::new(Live::from(scaled)),
    );
    let s = compute_with(&r, &d, &live, None, 100);
    assert_eq!(cond(&s, conditions::DEGRADED).status, "False");
    let q = s
        .queues
        .iter()
        .find(|q| q.name == "GPU")
        .expect("the GPU queue");
    assert_eq!((q.ready_workers, q.desired_workers), (2, 3));
}

const NO_GPU: &str = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";

/// A Deployment's live record with `ready` of its `replicas` pods ready.
fn deployment(name: &str, replicas: i64, ready: i64) -> Arc<Live> {
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "generation": 2},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": 2, "replicas": replicas, "updatedReplicas": replicas, "readyReplicas": ready},
    }))
    .expect("an object");
    Arc::new(Live::from(obj))
}

/// A pending pod with the scheduler's `PodScheduled` condition.
fn pod(name: &str, reason: &str, message: &str) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": reason, "message": message},
        ]},
    }))
    .expect("a pod")
}

/// A Rodan with a GPU queue of one worker, everything ready but that worker.
fn waiting_gpu_queue() -> (Rodan, Desired, HashMap<(Kind, String), Arc<Live>>) {
    let r =
        rodan(json!({"workers": [{"name": "celery"}, {"name": "GPU", "replicas": 1, "gpus": 1}]}));
    let d = build::build(&r, &migrated(&r, MigrationState::Succeeded)).expect("built");
    let mut live = live_all(&d, 5);
    live.insert(
        (Kind::Deployment, "lab-worker-gpu".into()),
        deployment("lab-worker-gpu", 1, 0),
    );
    (r, d, live)
}

fn gpu_pods(pods: Vec<Pod>) -> BTreeMap<String, Option<Vec<Pod>>> {
    BTreeMap::from([("GPU".to_owned(), Some(pods))])
}

fn queue<'a>(s: &'a RodanStatus, name: &str) -> &'a QueueStatus {
    s.queues
        .iter()
        .find(|q| q.name == name)
        .unwrap_or_else(|| panic!("queue {name}"))
}

#[test]
fn only_gpu_queues_lacking_workers_are_looked_at_with_their_deployments_selector() {
    let (r, d, mut live) = waiting_gpu_queue();
    // celery lacks its worker too, but needs no GPU: nothing to ask the scheduler.
    live.insert(
        (Kind::Deployment, "lab-worker-celery".into()),
        deployment("lab-worker-celery", 1, 0),
    );
    let pending = pending_gpu_queues(&r, &d, |kind, name| {
        live.get(&(kind, name.to_owned())).cloned()
    });
    assert_eq!(
        pending,
        [PendingQueue {
            queue: "GPU".into(),
            deployment: "lab-worker-gpu".into(),
            selector: "app.kubernetes.io/component=worker,app.kubernetes.io/instance=lab,app.kubernetes.io/name=rodan,rodan.ddmal.music.mcgill.ca/queue=GPU".into(),
        }]
    );

    live.insert(
        (Kind::Deployment, "lab-worker-gpu".into()),
        deployment("lab-worker-gpu", 1, 1),
    );
    let pending = pending_gpu_queues(&r, &d, |kind, name| {
        live.get(&(kind, name.to_owned())).cloned()
    });
    assert_eq!(pending, [], "a ready GPU queue costs no request");
    // The default GPU queue has no replicas: nothing is missing.
    let r = rodan(json!({}));
    let d = build::build(&r, &migrated(&r, MigrationState::Succeeded)).expect("built");
    let live = live_all(&d, 0);
    assert_eq!(
        pending_gpu_queues(&r, &d, |kind, name| live
            .get(&(kind, name.to_owned()))
            .cloned()),
        []
    );
}

#[test]
fn a_gpu_queue_the_scheduler_cannot_place_waits_for_gpu_nodes_and_the_rest_stays_available() {
    let (r, d, live) = waiting_gpu_queue();
    let pods = gpu_pods(vec![pod("lab-worker-gpu-1", "Unschedulable", NO_GPU)]);
    let s = compute_seeing(&r, &d, &live, None, 100, &pods);
    assert_eq!(
        queue(&s, "GPU").message.as_deref(),
        Some(format!("waiting for GPU nodes: {NO_GPU}").as_str())
    );
    assert_eq!(queue(&s, "celery").message, None);
    let c = cond(&s, conditions::DEGRADED);
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", reasons::WAITING_FOR_GPU_NODES)
    );
    assert!(
        c.message.starts_with("queue GPU is waiting for GPU nodes"),
        "{}",
        c.message
    );
    let a = cond(&s, conditions::AVAILABLE);
    assert_eq!(
        (a.status.as_str(), a.reason.as_str()),
        ("True", reasons::ALL_READY)
    );
}

#[test]
fn a_more_serious_degradation_keeps_its_reason_and_the_queue_its_message() {
    let (r, _, live) = waiting_gpu_queue();
    let pods = gpu_pods(vec![pod("lab-worker-gpu-1", "Unschedulable", NO_GPU)]);
    let d = build::build(&r, &migrated(&r, MigrationState::Succeeded)).expect("built");
    let s = compute_seeing(
        &r,
        &d,
        &live,
        Some("failed to apply Service x: quota"),
        100,
        &pods,
    );
    assert_eq!(
        cond(&s, conditions::DEGRADED).reason,
        reasons::RECONCILE_FAILED
    );
    assert!(queue(&s, "GPU").message.is_some());

    let d = build::build(&r, &migrated(&r, MigrationState::Failed)).expect("built");
    let s = compute_seeing(&r, &d, &live, None, 100, &pods);
    assert_eq!(
        cond(&s, conditions::DEGRADED).reason,
        reasons::MIGRATION_FAILED
    );
}

#[test]
fn a_ready_queue_or_another_scheduling_problem_is_not_waiting_for_gpu_nodes() {
    let (r, d, mut live) = waiting_gpu_queue();
    for pods in [
        vec![],
        vec![pod(
            "p",
            "Unschedulable",
            "0/1 nodes are available: 1 Insufficient cpu.",
        )],
        vec![pod(
            "p",
            "SchedulerError",
            "binding rejected: nvidia.com/gpu",
        )],
    ] {
        let s = compute_seeing(&r, &d, &live, None, 100, &gpu_pods(pods));
        assert_eq!(queue(&s, "GPU").message, None);
        assert_eq!(cond(&s, conditions::DEGRADED).status, "False");
    }
    // A pod being deleted no longer speaks for the queue.
    let mut leaving = pod("p", "Unschedulable", NO_GPU);
    leaving.metadata.deletion_timestamp = Some(at(50));
    let s = compute_seeing(&r, &d, &live, None, 100, &gpu_pods(vec![leaving]));
    assert_eq!(queue(&s, "GPU").message, None);

    // Ready workers: whatever a stale list said, the queue is fine.
    live.insert(
        (Kind::Deployment, "lab-worker-gpu".into()),
        deployment("lab-worker-gpu", 1, 1),
    );
    let pods = gpu_pods(vec![pod("p", "Unschedulable", NO_GPU)]);
    let s = compute_seeing(&r, &d, &live, None, 100, &pods);
    assert_eq!(queue(&s, "GPU").message, None);
    assert_eq!(cond(&s, conditions::DEGRADED).reason, reasons::AS_EXPECTED);
}

#[test]
fn a_failed_pod_list_keeps_what_the_status_said() {
    let (mut r, d, live) = waiting_gpu_queue();
    let pods = gpu_pods(vec![pod("p", "Unschedulable", NO_GPU)]);
    let waiting = compute_seeing(&r, &d, &live, None, 100, &pods);
    r.status = Some(waiting.clone());
    let unknown = BTreeMap::from([("GPU".to_owned(), None)]);
    let s = compute_seeing(&r, &d, &live, None, 200, &unknown);
    assert_eq!(s, waiting, "nothing changed, so nothing to patch");
}
