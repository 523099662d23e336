//! The operator's view of the objects it manages: one watch per child kind, filtered to objects
//! carrying `app.kubernetes.io/managed-by=rodan-operator`, kept as compact [`Live`] records.
//!
//! Each object is reduced as it is decoded, before the next one is read: its spec, data and
//! managed fields become a fingerprint (a hash of everything but the status), and only the few
//! fields the operator reads stay. The apply step compares the fingerprint with that of its
//! last write, so an unchanged child costs no request and a hand-edited one is noticed. Neither
//! a decoded list page nor the cache holds full objects, which keeps the operator small with
//! thousands of `Rodan`s: kube's reflector kept a copy of each object's metadata maps and an
//! `ObjectRef` with its `ApiResource` per entry, about 2.5 KiB a child, against about 0.5 KiB
//! here (heaptrack).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, DynamicResourceScope};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::utils::ResetTimerBackoff;
use kube::runtime::watcher::{self, ExponentialBackoff};
use kube::{Client, Resource};
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::build::{Kind, MANAGER, MigrationState, annotations, hash, labels};
use crate::crd::Rodan;

/// Annotation prefixes of values other controllers write on our children. Left out of the
/// fingerprint: their changes are not drift.
const FOREIGN_ANNOTATIONS: &[&str] = &[
    "deployment.kubernetes.io/",
    "pv.kubernetes.io/",
    "volume.kubernetes.io/",
    "volume.beta.kubernetes.io/",
    "batch.kubernetes.io/",
];

/// The fingerprint of a live object: labels, annotations (less those of other controllers),
/// owner references and every top-level field except `status`.
pub fn fingerprint(obj: &DynamicObject) -> String {
    let meta = &obj.metadata;
    let annotations: Vec<(&String, &String)> = meta
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| !FOREIGN_ANNOTATIONS.iter().any(|p| k.starts_with(p)))
        .collect();
    let body: Map<String, Value> = obj
        .data
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.as_str() != "status")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    hash(&json!({
        "labels": meta.labels,
        "annotations": annotations,
        "owners": meta.owner_references,
        "body": body,
    }))
}

/// What the operator keeps of a live child: about 0.5 KiB with its map entry, whatever the
/// object's size.
#[derive(Clone, Debug, PartialEq)]
pub struct Live {
    /// Its name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its `app.kubernetes.io/instance` label: the `Rodan` it belongs to.
    pub instance: Option<String>,
    /// The UID of its controller owner reference.
    pub controller: Option<String>,
    /// The release a migration Job migrates to (its release annotation, JSON).
    pub release: Option<String>,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `metadata.creationTimestamp`.
    pub created: Option<Time>,
    /// Whether it is being deleted.
    pub deleting: bool,
    /// The [`fingerprint`] of the object as it was decoded.
    pub fingerprint: String,
    /// `spec.replicas`: the count someone else may own (KEDA's autoscaler), which the status
    /// reports.
    pub replicas: Option<i64>,
    /// `status.replicas`.
    pub status_replicas: Option<i64>,
    /// `status.readyReplicas`.
    pub ready_replicas: Option<i64>,
    /// `status.updatedReplicas`.
    pub updated_replicas: Option<i64>,
    /// `status.observedGeneration`.
    pub observed_generation: Option<i64>,
    /// What a true `Complete` or `Failed` condition says of a Job; `Pending` for any other
    /// object.
    pub job: MigrationState,
}

/// State of a migration Job from its status.
pub fn job_state(job: &DynamicObject) -> MigrationState {
    let conditions = job.data["status"]["conditions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let is_true = |t: &str| {
        conditions
            .iter()
            .any(|c| c["type"] == t && c["status"] == "True")
    };
    if is_true("Complete") {
        MigrationState::Succeeded
    } else if is_true("Failed") {
        MigrationState::Failed
    } else {
        MigrationState::Pending
    }
}

impl From<DynamicObject> for Live {
    fn from(obj: DynamicObject) -> Self {
        let fingerprint = fingerprint(&obj);
        let job = job_state(&obj);
        let status = &obj.data["status"];
        let int = |key: &str| status[key].as_i64();
        let (status_replicas, ready_replicas, updated_replicas, observed_generation) = (
            int("replicas"),
            int("readyReplicas"),
            int("updatedReplicas"),
            int("observedGeneration"),
        );
        let replicas = obj.data["spec"]["replicas"].as_i64();
        let ObjectMeta {
            name,
            namespace,
            labels: object_labels,
            annotations: object_annotations,
            owner_references,
            generation,
            creation_timestamp,
            deletion_timestamp,
            ..
        } = obj.metadata;
        Self {
            name: name.unwrap_or_default(),
            namespace: namespace.unwrap_or_default(),
            instance: object_labels.and_then(|mut l| l.remove(labels::INSTANCE)),
            controller: owner_references
                .into_iter()
                .flatten()
                .find(|o| o.controller == Some(true))
                .map(|o| o.uid),
            release: object_annotations.and_then(|mut a| a.remove(annotations::RELEASE)),
            generation,
            created: creation_timestamp,
            deleting: deletion_timestamp.is_some(),
            fingerprint,
            replicas,
            status_replicas,
            ready_replicas,
            updated_replicas,
            observed_generation,
            job,
        }
    }
}

/// A child as its watch decodes it: reduced to its [`Live`] record as each object is parsed.
/// The metadata keeps only what the watcher itself reads (the resource version).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(from = "DynamicObject")]
struct Watched {
    metadata: ObjectMeta,
    live: Live,
}

impl From<DynamicObject> for Watched {
    fn from(obj: DynamicObject) -> Self {
        let metadata = ObjectMeta {
            name: obj.metadata.name.clone(),
            namespace: obj.metadata.namespace.clone(),
            resource_version: obj.metadata.resource_version.clone(),
            ..ObjectMeta::default()
        };
        Self {
            metadata,
            live: Live::from(obj),
        }
    }
}

impl Resource for Watched {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Objects per list request when a watch (re)lists. Each page arrives as one JSON text of full
/// objects (managed fields included) held whole while it is decoded: kube's default of 500 made
/// the relist after a restart with 1000 `Rodan`s peak 6 MiB higher, and 100 was no slower
/// (docs/benchmarks.md). Streaming lists would avoid pages but need the apiserver's WatchList
/// feature.
pub const LIST_PAGE: u32 = 100;

/// Live objects by namespace and name.
type Objects = HashMap<(String, String), Arc<Live>>;

/// The live objects of one kind, and whether its first list has arrived.
#[derive(Debug)]
struct Store {
    objects: RwLock<Objects>,
    ready: watch::Sender<bool>,
}

impl Store {
    fn new() -> Self {
        Self {
            objects: RwLock::new(Objects::new()),
            ready: watch::Sender::new(false),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Objects> {
        // A panic while holding the lock leaves a map that is still whole: keep using it.
        self.objects.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Objects> {
        self.objects.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Applies one kind's watch events to its store, as kube's reflector does: a (re)list fills a
/// buffer that replaces the store whole once complete, so objects deleted while the watch was
/// down disappear.
#[derive(Debug)]
struct Writer {
    store: Arc<Store>,
    buffer: Objects,
}

impl Writer {
    /// Applies an event; returns the `Rodan` whose child it touched.
    fn apply(&mut self, event: watcher::Event<Watched>) -> Option<ObjectRef<Rodan>> {
        let key = |live: &Live| (live.namespace.clone(), live.name.clone());
        match event {
            watcher::Event::Init => {
                self.buffer = Objects::new();
                None
            }
            watcher::Event::InitApply(w) => {
                let owner = owner_of(&w.live);
                self.buffer.insert(key(&w.live), Arc::new(w.live));
                owner
            }
            watcher::Event::InitDone => {
                let listed = std::mem::take(&mut self.buffer);
                *self.store.write() = listed;
                self.store.ready.send_replace(true);
                None
            }
            watcher::Event::Apply(w) => {
                let owner = owner_of(&w.live);
                self.store.write().insert(key(&w.live), Arc::new(w.live));
                owner
            }
            watcher::Event::Delete(w) => {
                self.store.write().remove(&key(&w.live));
                owner_of(&w.live)
            }
        }
    }
}

/// The live children of every kind.
#[derive(Clone, Default)]
pub struct Cache {
    stores: HashMap<Kind, Arc<Store>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("kinds", &self.stores.len())
            .finish()
    }
}

/// A stream of reconcile triggers produced by a child watch: the `Rodan`s whose children changed.
pub type Trigger = std::pin::Pin<Box<dyn Stream<Item = ObjectRef<Rodan>> + Send + 'static>>;

impl Cache {
    /// Starts nothing: returns the stores and, per kind, the stream that feeds its store and
    /// triggers reconciles. The controller drives the streams.
    pub fn new(
        client: &Client,
        namespace: Option<&str>,
        keda: bool,
    ) -> (Self, Vec<(Kind, Trigger)>) {
        let mut stores = HashMap::new();
        let mut triggers = Vec::new();
        let config = watcher::Config::default()
            .labels(&format!("{}={MANAGER}", labels::MANAGED_BY))
            .page_size(LIST_PAGE);
        for kind in Kind::ALL.into_iter().filter(|k| keda || !k.optional()) {
            let ar = kind.api_resource();
            let api: Api<Watched> = match namespace {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                None => Api::all_with(client.clone(), &ar),
            };
            let store = Arc::new(Store::new());
            let mut writer = Writer {
                store: store.clone(),
                buffer: Objects::new(),
            };
            let stream = log_errors(
                "children",
                watcher::watcher(api, config.clone()).backoff(watch_backoff()),
            )
            .filter_map(move |event| std::future::ready(event.ok().and_then(|e| writer.apply(e))));
            stores.insert(kind, store);
            triggers.push((kind, stream.boxed() as Trigger));
        }
        (Self { stores }, triggers)
    }

    /// Waits until every store holds its first full list.
    pub async fn wait_until_ready(&self) {
        for (kind, store) in &self.stores {
            // A dropped writer means the operator is shutting down; nothing to wait for.
            let _ = store.ready.subscribe().wait_for(|ready| *ready).await;
            tracing::debug!(?kind, "cache filled");
        }
    }

    /// The live child of a kind, if present.
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Arc<Live>> {
        let store = self.stores.get(&kind)?;
        store
            .read()
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Live children of a kind that belong to the `Rodan` named `instance` in `namespace`.
    pub fn of_instance(&self, kind: Kind, namespace: &str, instance: &str) -> Vec<Arc<Live>> {
        self.stores
            .get(&kind)
            .map(|store| {
                store
                    .read()
                    .values()
                    .filter(|o| o.namespace == namespace && o.instance.as_deref() == Some(instance))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Number of cached objects, all kinds together.
    pub fn len(&self) -> usize {
        self.stores.values().map(|s| s.read().len()).sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Backoff of every watch: quick retries (250 ms doubling to 5 s) that reset after 30 s of
/// quiet, so a transient error at start-up (a CRD not yet served, a role not yet bound) costs
/// seconds, not kube's default of up to 30 s held for two minutes.
pub fn watch_backoff() -> ResetTimerBackoff<ExponentialBackoff> {
    ResetTimerBackoff::new(
        ExponentialBackoff::from(
            backon::ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(250))
                .with_max_delay(Duration::from_secs(5))
                .with_factor(2.0)
                .with_jitter()
                .without_max_times(),
        ),
        Duration::from_secs(30),
    )
}

/// Drops watch errors from a trigger stream after logging them: the watcher has already backed
/// off, and an error passed on would make the controller back off every trigger together.
pub fn log_errors<K, S>(
    what: &'static str,
    stream: S,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send
where
    S: Stream<Item = Result<K, watcher::Error>> + Send,
    K: Send,
{
    stream.filter_map(move |event| async move {
        match event {
            Ok(obj) => Some(Ok(obj)),
            Err(error) => {
                tracing::warn!(what, %error, "watch failed; retrying");
                None
            }
        }
    })
}

/// The `Rodan` a child belongs to, from its instance label.
pub fn owner_of(live: &Live) -> Option<ObjectRef<Rodan>> {
    let instance = live.instance.as_deref()?;
    Some(ObjectRef::new(instance).within(&live.namespace))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> DynamicObject {
        serde_json::from_value(value).expect("a valid object")
    }

    #[test]
    fn fingerprint_ignores_status_managed_fields_and_other_controllers_annotations() {
        let base = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x", "namespace": "n", "resourceVersion": "1", "labels": {"a": "b"}},
            "spec": {"replicas": 1},
            "status": {"readyReplicas": 0},
        });
        let mut other = base.clone();
        other["metadata"]["resourceVersion"] = json!("2");
        other["status"]["readyReplicas"] = json!(1);
        other["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "3"});
        other["metadata"]["managedFields"] = json!([{"manager": "kubectl"}]);
        assert_eq!(
            fingerprint(&object(base.clone())),
            fingerprint(&object(other))
        );

        let mut edited = base.clone();
        edited["spec"]["replicas"] = json!(5);
        assert_ne!(
            fingerprint(&object(base.clone())),
            fingerprint(&object(edited))
        );
        let mut relabelled = base.clone();
        relabelled["metadata"]["labels"]["a"] = json!("c");
        assert_ne!(fingerprint(&object(base)), fingerprint(&object(relabelled)));
    }

    #[test]
    fn a_live_record_keeps_what_the_operator_reads_and_the_fingerprint() {
        let secret = object(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "x", "namespace": "n", "managedFields": [{"manager": "m"}],
                         "labels": {"app.kubernetes.io/instance": "r", "app.kubernetes.io/name": "rodan"}},
            "data": {"password": "c2VjcmV0"},
        }));
        let fp = fingerprint(&secret);
        let live = Live::from(secret);
        assert_eq!(live.fingerprint, fp);
        assert_eq!((live.name.as_str(), live.namespace.as_str()), ("x", "n"));
        assert_eq!(live.instance.as_deref(), Some("r"));
        assert_eq!(owner_of(&live).map(|r| r.name), Some("r".to_owned()));
        assert_eq!((live.replicas, live.ready_replicas), (None, None));

        let deployment = Live::from(object(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x", "namespace": "n", "generation": 3,
                         "ownerReferences": [
                             {"apiVersion": "v1", "kind": "ConfigMap", "name": "c", "uid": "other"},
                             {"apiVersion": "a/v1", "kind": "Rodan", "name": "r", "uid": "u", "controller": true}]},
            "spec": {"replicas": 2, "template": {}},
            "status": {"replicas": 2, "readyReplicas": 1, "updatedReplicas": 2, "observedGeneration": 3,
                       "conditions": [{"type": "Available", "status": "True", "message": "long text"}]},
        })));
        assert_eq!(deployment.controller.as_deref(), Some("u"));
        assert_eq!(deployment.generation, Some(3));
        assert_eq!(
            (
                deployment.replicas,
                deployment.status_replicas,
                deployment.ready_replicas,
                deployment.updated_replicas,
                deployment.observed_generation
            ),
            (Some(2), Some(2), Some(1), Some(2), Some(3))
        );
        assert_eq!(deployment.job, MigrationState::Pending);
        assert!(!deployment.deleting);

        let job = Live::from(object(json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "j", "namespace": "n", "deletionTimestamp": "2026-01-01T00:00:00Z",
                         "annotations": {"rodan.ddmal.music.mcgill.ca/release": "{}", "other": "x"}},
            "status": {"conditions": [
                {"type": "SuccessCriteriaMet", "status": "True"},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached"},
            ]},
        })));
        assert_eq!(job.job, MigrationState::Succeeded);
        assert_eq!(job.release.as_deref(), Some("{}"));
        assert!(job.deleting);
    }

    #[test]
    fn a_watched_object_keeps_the_resource_version_the_watcher_resumes_from() {
        let watched: Watched = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "n", "resourceVersion": "42",
                         "labels": {"app.kubernetes.io/instance": "r"}},
            "data": {"big": "x".repeat(1000)},
        }))
        .expect("a ConfigMap decodes");
        assert_eq!(watched.meta().resource_version.as_deref(), Some("42"));
        assert_eq!(watched.meta().labels, None, "no copy of the metadata maps");
        assert_eq!(watched.live.instance.as_deref(), Some("r"));
    }

    fn watched(namespace: &str, name: &str, instance: &str) -> Watched {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1",
                         "labels": {"app.kubernetes.io/instance": instance}},
        }))
        .expect("a Service decodes")
    }

    #[tokio::test]
    async fn a_relist_replaces_the_store_and_every_change_triggers_its_rodan() {
        let store = Arc::new(Store::new());
        let mut writer = Writer {
            store: store.clone(),
            buffer: Objects::new(),
        };
        let cache = Cache {
            stores: HashMap::from([(Kind::Service, store.clone())]),
        };
        let owner = |r: Option<ObjectRef<Rodan>>| r.map(|r| (r.namespace, r.name));
        let r1 = Some((Some("n".to_owned()), "r1".to_owned()));

        assert_eq!(writer.apply(watcher::Event::Init), None);
        assert_eq!(
            owner(writer.apply(watcher::Event::InitApply(watched("n", "a", "r1")))),
            r1
        );
        assert!(cache.is_empty(), "a list in progress is not visible");
        assert!(!*store.ready.borrow());
        writer.apply(watcher::Event::InitDone);
        assert!(*store.ready.borrow());
        cache.wait_until_ready().await;
        assert_eq!(cache.of_instance(Kind::Service, "n", "r1").len(), 1);

        writer.apply(watcher::Event::Apply(watched("n", "b", "r1")));
        writer.apply(watcher::Event::Apply(watched("m", "c", "r1")));
        assert_eq!(cache.of_instance(Kind::Service, "n", "r1").len(), 2);
        assert_eq!(cache.of_instance(Kind::Service, "m", "r1").len(), 1);
        assert!(cache.get(Kind::Service, "n", "b").is_some());
        assert!(cache.get(Kind::ConfigMap, "n", "b").is_none());
        assert_eq!(
            owner(writer.apply(watcher::Event::Delete(watched("n", "b", "r1")))),
            r1
        );
        assert!(cache.get(Kind::Service, "n", "b").is_none());

        // A relist after a lost watch: "a" is gone, "d" appeared.
        writer.apply(watcher::Event::Init);
        writer.apply(watcher::Event::InitApply(watched("n", "d", "r2")));
        assert_eq!(
            cache.len(),
            2,
            "the old contents serve until the list is complete"
        );
        writer.apply(watcher::Event::InitDone);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(Kind::Service, "n", "a").is_none());
        assert!(cache.get(Kind::Service, "n", "d").is_some());
    }
}
