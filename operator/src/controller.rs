//! The `Rodan` controller: dereference → build (pure) → apply in order → delete orphans →
//! status (with the pods of GPU queues lacking workers), patched only when it changed → Events
//! for queues that started waiting for GPU nodes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{Instrument, info, info_span, warn};

use crate::apply::{Applier, Ledger, WriteError};
use crate::build::{self, Desired, Kind, MANAGER, MigrationState, Observed, Release};
use crate::cache::{self, Cache};
use crate::crd::{Rodan, RodanStatus};
use crate::metrics::Metrics;
use crate::status;

/// Errors of one reconciliation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The build step refused the object.
    #[error("failed to build the desired objects")]
    Build(#[from] build::BuildError),
    /// A child could not be written.
    #[error("failed to write a child")]
    Write(#[from] WriteError),
    /// The status patch failed.
    #[error("failed to patch the status")]
    Status(#[source] kube::Error),
}

impl Error {
    /// The failed step, for metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Build(_) => "build",
            Error::Write(_) => "write",
            Error::Status(_) => "status",
        }
    }
}

/// What every reconciliation shares.
#[allow(missing_debug_implementations)] // kube::Client has no Debug
pub struct Context {
    /// The apiserver client.
    pub client: Client,
    /// Live children, slimmed.
    pub cache: Cache,
    /// The record of the operator's own writes.
    pub ledger: Ledger,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Whether every cache holds its first list.
    pub ready: Arc<AtomicBool>,
    /// Whether the cluster served KEDA's API when the operator started.
    pub keda: bool,
    /// Publishes Events (events.k8s.io/v1) on `Rodan`s, as `rodan-operator`.
    pub recorder: Recorder,
}

/// Reads the migration Jobs of an instance from the cache.
fn observe(cache: &Cache, namespace: &str, instance: &str, keda: bool) -> Observed {
    let mut migrations: Vec<(String, Release, MigrationState, Option<Time>)> = cache
        .of_instance(Kind::Job, namespace, instance)
        .into_iter()
        .filter_map(|job| {
            let release: Release = serde_json::from_str(job.release.as_deref()?).ok()?;
            Some((job.name.clone(), release, job.job, job.created.clone()))
        })
        .collect();
    // Oldest first: the build step takes the last succeeded one as the running release.
    migrations.sort_by(|a, b| a.3.cmp(&b.3).then_with(|| a.0.cmp(&b.0)));
    Observed {
        keda,
        migrations: migrations
            .into_iter()
            .map(|(name, release, state, _)| (name, release, state))
            .collect(),
    }
}

/// One reconciliation of one `Rodan`.
pub async fn reconcile(rodan: Arc<Rodan>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _running = ctx.metrics.running();
    if !ctx.ready.load(Ordering::SeqCst) {
        // Until every cache is filled a missing child may just be unlisted.
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let started = Instant::now();
    let namespace = rodan.namespace().unwrap_or_default();
    let name = rodan.name_any();
    let span = info_span!("reconcile", rodan = %name, namespace = %namespace);
    let result = reconcile_inner(&rodan, &ctx, &namespace, &name)
        .instrument(span)
        .await;
    ctx.metrics.reconciled(started.elapsed().as_secs_f64());
    result
}

async fn reconcile_inner(
    rodan: &Rodan,
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Action, Error> {
    if rodan.meta().deletion_timestamp.is_some() {
        // Children are collected by the garbage collector through their owner references.
        return Ok(Action::await_change());
    }
    let observed = observe(&ctx.cache, namespace, name, ctx.keda);
    let desired = build::build(rodan, &observed)?;
    let applier = Applier {
        client: &ctx.client,
        cache: &ctx.cache,
        ledger: &ctx.ledger,
        metrics: &ctx.metrics,
        namespace,
    };
    let mut first_error: Option<WriteError> = None;
    if !rodan.spec.paused {
        first_error = write_children(rodan, &desired, &applier, name).await;
    }
    let live = |kind, child: &str| ctx.cache.get(kind, namespace, child);
    let pending = status::pending_gpu_queues(rodan, &desired, live);
    let pending_pods = list_pods(&ctx.client, namespace, &pending).await;
    let status = status::compute(
        &status::Inputs {
            rodan,
            desired: &desired,
            error: first_error.as_ref().map(WriteError::describe),
            now: Time(k8s_openapi::jiff::Timestamp::now()),
            url: desired.url.clone(),
            pending_pods: &pending_pods,
        },
        live,
    );
    let waiting = status.queues.iter().filter(|q| q.message.is_some()).count();
    let newly_waiting = newly_waiting(rodan, &status);
    patch_status(rodan, status, ctx, namespace, name).await?;
    announce(rodan, &newly_waiting, &pending, ctx).await;
    if let Some(error) = first_error {
        return Err(error.into());
    }
    // The scheduler's verdict on new pods comes after they are created, and a waiting queue
    // changes when nodes are added: neither wakes the controller, so look again on a timer.
    let after = if pending.is_empty() {
        600
    } else if waiting < pending.len() {
        15
    } else {
        60
    };
    Ok(Action::requeue(Duration::from_secs(after)))
}

/// Lists the worker pods of each pending GPU queue, from the apiserver's watch cache. A failed
/// list is logged and reported as `None`.
async fn list_pods(
    client: &Client,
    namespace: &str,
    pending: &[status::PendingQueue],
) -> BTreeMap<String, Option<Vec<Pod>>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut pods = BTreeMap::new();
    for queue in pending {
        let listed = match api
            .list(&ListParams::default().labels(&queue.selector).match_any())
            .await
        {
            Ok(list) => Some(list.items),
            Err(error) => {
                warn!(%error, queue = %queue.queue, "cannot list the queue's pods");
                None
            }
        };
        pods.insert(queue.queue.clone(), listed);
    }
    pods
}

/// The queues, with their messages, that wait in `status` but did not in the current status.
fn newly_waiting(rodan: &Rodan, status: &RodanStatus) -> Vec<(String, String)> {
    let before = rodan
        .status
        .as_ref()
        .map(|s| s.queues.as_slice())
        .unwrap_or_default();
    status
        .queues
        .iter()
        .filter(|q| {
            !before
                .iter()
                .any(|b| b.name == q.name && b.message.is_some())
        })
        .filter_map(|q| Some((q.name.clone(), q.message.clone()?)))
        .collect()
}

/// Publishes a Warning Event on the `Rodan` for each queue that started waiting for GPU nodes,
/// related to the queue's worker Deployment. A failure is logged: Events are best effort.
async fn announce(
    rodan: &Rodan,
    queues: &[(String, String)],
    pending: &[status::PendingQueue],
    ctx: &Context,
) {
    // The recorder counts a repeat (same reason, same objects) as a series of one Event; it
    // compares whole references, so the `Rodan`'s version, which every status patch moves, is
    // left out.
    let mut regarding = rodan.object_ref(&());
    regarding.resource_version = None;
    for (queue, message) in queues {
        let related = pending
            .iter()
            .find(|p| p.queue == *queue)
            .map(|p| ObjectReference {
                api_version: Some("apps/v1".into()),
                kind: Some("Deployment".into()),
                name: Some(p.deployment.clone()),
                namespace: rodan.namespace(),
                ..ObjectReference::default()
            });
        let event = Event {
            type_: EventType::Warning,
            reason: status::reasons::WAITING_FOR_GPU_NODES.into(),
            note: Some(note(&format!("queue {queue}: {message}"))),
            action: "ScheduleWorkers".into(),
            secondary: related,
        };
        if let Err(error) = ctx.recorder.publish(&event, &regarding).await {
            warn!(%error, %queue, "cannot publish the Event");
        }
    }
}

/// An Event's note, cut to the 1 kB the apiserver accepts.
fn note(text: &str) -> String {
    const MAX: usize = 1024;
    let mut end = text.len().min(MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Applies the desired children in order. Continues past a failed child, so one bad object
/// does not freeze the rest, and returns the first failure.
async fn write_children(
    rodan: &Rodan,
    desired: &Desired,
    applier: &Applier<'_>,
    name: &str,
) -> Option<WriteError> {
    let mut first_error = None;
    let secrets = match build::secrets::generate(rodan, &mut rand::rng()) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "cannot generate Secrets");
            Vec::new()
        }
    };
    if let Err(e) = applier.create_missing_secrets(secrets).await {
        first_error.get_or_insert(e);
    }
    let mut written = 0;
    for child in &desired.children {
        match applier.apply(child).await {
            Ok(true) => written += 1,
            Ok(false) => {}
            Err(e) => {
                warn!(error = %e, detail = %e.describe(), "apply failed");
                first_error.get_or_insert(e);
            }
        }
    }
    if first_error.is_none() {
        let uid = rodan.uid().unwrap_or_default();
        match applier.delete_orphans(name, &uid, &desired.children).await {
            Ok(n) if n > 0 => info!(deleted = n, "deleted orphans"),
            Ok(_) => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if written > 0 {
        info!(written, "applied children");
    }
    first_error
}

/// Patches the status when it differs from the current one.
async fn patch_status(
    rodan: &Rodan,
    status: RodanStatus,
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<(), Error> {
    if rodan.status.as_ref() == Some(&status) {
        return Ok(());
    }
    ctx.metrics.write_status();
    let api: Api<Rodan> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = json!({
        "apiVersion": Rodan::api_version(&()),
        "kind": Rodan::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(Error::Status)?;
    Ok(())
}

fn error_policy(rodan: Arc<Rodan>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.failed(error.category());
    warn!(rodan = %rodan.name_any(), error = %error, source = ?std::error::Error::source(error), "reconcile failed");
    Action::requeue(Duration::from_secs(15))
}

/// Whether the apiserver serves KEDA's `keda.sh/v1alpha1` ScaledObjects. Asked once at start:
/// installing KEDA later needs an operator restart.
async fn keda_served(client: &Client) -> bool {
    let ar = Kind::ScaledObject.api_resource();
    let api: Api<kube::api::DynamicObject> = Api::all_with(client.clone(), &ar);
    match api
        .list_metadata(&kube::api::ListParams::default().limit(1))
        .await
    {
        Ok(_) => true,
        Err(kube::Error::Api(status)) if status.code == 404 => false,
        Err(error) => {
            warn!(%error, "cannot tell whether KEDA is installed; assuming it is not");
            false
        }
    }
}

/// Which `Rodan`s the controller watches, and how many it reconciles at once.
#[derive(Clone, Debug)]
pub struct Scope {
    /// One namespace, or all of them.
    pub namespace: Option<String>,
    /// Reconciles running at once. Bounded, so a burst of thousands of `Rodan`s (a cold
    /// start) neither floods the apiserver nor holds thousands of desired sets in memory.
    pub concurrency: u16,
}

impl Default for Scope {
    fn default() -> Self {
        Self {
            namespace: None,
            concurrency: 16,
        }
    }
}

/// A running controller's handles.
#[derive(Debug, Clone)]
pub struct Handles {
    /// Set once every cache holds its first list.
    pub ready: Arc<AtomicBool>,
    /// The metrics the controller updates.
    pub metrics: Arc<Metrics>,
}

/// Runs the controller until `shutdown` resolves. Reconciles start only once every cache is
/// filled, so the first pass never mistakes an unlisted child for a missing one.
pub async fn run(
    client: Client,
    scope: Scope,
    handles: Handles,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let rodans: Api<Rodan> = match &scope.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let keda = keda_served(&client).await;
    info!(
        keda,
        "queue autoscaling through KEDA {}",
        if keda {
            "available"
        } else {
            "unavailable: KEDA's API is not served"
        }
    );
    let (cache, triggers) = Cache::new(&client, scope.namespace.as_deref(), keda);
    let ctx = Arc::new(Context {
        client: client.clone(),
        cache: cache.clone(),
        ledger: Ledger::default(),
        metrics: handles.metrics.clone(),
        ready: handles.ready.clone(),
        keda,
        recorder: Recorder::new(client.clone(), Reporter::from(MANAGER)),
    });
    let (main_store, writer) = reflector::store::<Rodan>();
    // Paginated lists (no `any_semantic`), in small pages: a relist of thousands of objects
    // arrives a page at a time instead of in one response held in memory at once.
    let rodan_events = watcher(
        rodans,
        watcher::Config::default().page_size(cache::LIST_PAGE),
    )
    .backoff(cache::watch_backoff())
    // The controller never reads managed fields; thousands of them add up.
    .modify(|rodan: &mut Rodan| rodan.metadata.managed_fields = None)
    .reflect(writer)
    .touched_objects();
    let mut controller =
        Controller::for_stream(cache::log_errors("rodans", rodan_events), main_store)
            .with_config(
                ControllerConfig::default()
                    .debounce(Duration::from_millis(300))
                    .concurrency(scope.concurrency),
            )
            .trigger_backoff(cache::watch_backoff());
    for (_, trigger) in triggers {
        controller = controller.reconcile_on(trigger);
    }
    let ready = handles.ready.clone();
    let metrics = handles.metrics.clone();
    tokio::spawn(async move {
        // Only the child caches: the controller itself holds reconciles until the `Rodan` store
        // is filled, and a second concurrent waiter on that store may never be woken
        // (kube-runtime's DelayedInit keeps the waker of the last poller only).
        cache.wait_until_ready().await;
        ready.store(true, Ordering::SeqCst);
        info!("caches are filled");
        // Counting walks every store: done on a timer, not in each reconcile.
        loop {
            metrics.set_cached(cache.len());
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile did not complete");
            }
        })
        .await;
    info!("controller stopped");
}
