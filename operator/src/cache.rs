//! The operator's view of the objects it manages: one reflector per child kind, filtered to
//! objects carrying `app.kubernetes.io/managed-by=rodan-operator`.
//!
//! Cached objects are slimmed as they arrive: the spec, data and managed fields are replaced by a
//! fingerprint (a hash of everything but the status), kept in an annotation of the cached copy.
//! The apply step compares it with the fingerprint of its last write, so an unchanged child costs
//! no request and a hand-edited one is noticed; only the status stays, for the status step. A
//! cached child is a few hundred bytes whatever its size, which keeps the operator small with
//! thousands of `Rodan`s.

use std::collections::HashMap;
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::utils::ResetTimerBackoff;
use kube::runtime::watcher::ExponentialBackoff;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::{Map, Value, json};

use crate::build::{Kind, MANAGER, hash, labels};
use crate::crd::Rodan;

/// Annotation on cached copies holding the fingerprint of the live object. Never written to
/// the apiserver.
pub const FINGERPRINT: &str = "rodan.ddmal.music.mcgill.ca/cached-fingerprint";

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
        .filter(|(k, _)| {
            k.as_str() != FINGERPRINT && !FOREIGN_ANNOTATIONS.iter().any(|p| k.starts_with(p))
        })
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

/// Status fields the status step reads: workload readiness and rollout progress.
const KEPT_STATUS: &[&str] = &[
    "replicas",
    "readyReplicas",
    "updatedReplicas",
    "observedGeneration",
];

/// Replaces an object by its slim cached form: the metadata the operator reads (name,
/// namespace, instance label, release annotation, controller reference, generation, creation
/// and deletion times), the fingerprint of the rest, the replica count and the few status
/// fields the status step reads. Everything else is dropped as it arrives.
fn slim(obj: &mut DynamicObject) {
    let fp = fingerprint(obj);
    let mut status = Map::new();
    if let Some(live) = obj.data.get("status").and_then(Value::as_object) {
        for key in KEPT_STATUS {
            if let Some(v) = live.get(*key) {
                status.insert((*key).to_owned(), v.clone());
            }
        }
        // A Job's outcome: only its true Complete or Failed condition.
        if let Some(conditions) = live.get("conditions").and_then(Value::as_array) {
            let finished: Vec<Value> = conditions
                .iter()
                .filter(|c| {
                    c["status"] == "True" && (c["type"] == "Complete" || c["type"] == "Failed")
                })
                .map(|c| json!({"type": c["type"], "status": "True"}))
                .collect();
            if !finished.is_empty() {
                status.insert("conditions".to_owned(), Value::Array(finished));
            }
        }
    }
    // The replica count someone else may own (KEDA's autoscaler): the status reports it.
    let replicas = obj.data["spec"]["replicas"].as_i64();
    let mut data = Map::new();
    if !status.is_empty() {
        data.insert("status".to_owned(), Value::Object(status));
    }
    if let Some(replicas) = replicas {
        data.insert("spec".to_owned(), json!({ "replicas": replicas }));
    }
    obj.data = Value::Object(data);
    let meta = &mut obj.metadata;
    meta.managed_fields = None;
    meta.resource_version = None;
    meta.uid = None;
    meta.finalizers = None;
    meta.generate_name = None;
    meta.self_link = None;
    if let Some(labels) = meta.labels.as_mut() {
        labels.retain(|k, _| k == labels::INSTANCE);
    }
    let mut annotations = meta.annotations.take().unwrap_or_default();
    annotations.retain(|k, _| k == crate::build::annotations::RELEASE);
    annotations.insert(FINGERPRINT.to_owned(), fp);
    meta.annotations = Some(annotations);
    if let Some(owners) = meta.owner_references.as_mut() {
        owners.retain(|o| o.controller == Some(true));
        for o in owners.iter_mut() {
            o.api_version.clear();
            o.kind.clear();
            o.name.clear();
            o.block_owner_deletion = None;
        }
    }
}

/// The reflector stores of every child kind.
#[derive(Clone, Default)]
pub struct Cache {
    stores: HashMap<Kind, Store<DynamicObject>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("kinds", &self.stores.len())
            .finish()
    }
}

/// A stream of reconcile triggers produced by a child watcher.
pub type Trigger =
    std::pin::Pin<Box<dyn Stream<Item = Result<DynamicObject, watcher::Error>> + Send + 'static>>;

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
        let config =
            watcher::Config::default().labels(&format!("{}={MANAGER}", labels::MANAGED_BY));
        for kind in Kind::ALL.into_iter().filter(|k| keda || !k.optional()) {
            let ar = kind.api_resource();
            let api: Api<DynamicObject> = match namespace {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
                None => Api::all_with(client.clone(), &ar),
            };
            let writer = reflector::store::Writer::new(ar);
            let store = writer.as_reader();
            let stream = watcher(api, config.clone())
                .backoff(watch_backoff())
                .modify(slim)
                .reflect(writer)
                .touched_objects();
            let stream = log_errors("children", stream).boxed();
            stores.insert(kind, store);
            triggers.push((kind, stream as Trigger));
        }
        (Self { stores }, triggers)
    }

    /// Waits until every store holds its first full list.
    pub async fn wait_until_ready(&self) {
        for (kind, store) in &self.stores {
            // A dropped writer means the operator is shutting down; nothing to wait for.
            let _ = store.wait_until_ready().await;
            tracing::debug!(?kind, "cache filled");
        }
    }

    /// The cached (slim) object of a kind, if present.
    pub fn get(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Option<std::sync::Arc<DynamicObject>> {
        let store = self.stores.get(&kind)?;
        store.get(&ObjectRef::new_with(name, kind.api_resource()).within(namespace))
    }

    /// Cached objects of a kind that belong to the `Rodan` named `instance` in `namespace`.
    pub fn of_instance(
        &self,
        kind: Kind,
        namespace: &str,
        instance: &str,
    ) -> Vec<std::sync::Arc<DynamicObject>> {
        self.stores
            .get(&kind)
            .map(|store| {
                store.state_filter(|o| {
                    o.metadata.namespace.as_deref() == Some(namespace)
                        && o.labels().get(labels::INSTANCE).map(String::as_str) == Some(instance)
                })
            })
            .unwrap_or_default()
    }

    /// Number of cached objects, all kinds together.
    pub fn len(&self) -> usize {
        self.stores.values().map(|s| s.state().len()).sum()
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
pub fn owner_of(obj: DynamicObject) -> Option<ObjectRef<Rodan>> {
    let instance = obj.labels().get(labels::INSTANCE)?.clone();
    let namespace = obj.metadata.namespace.clone()?;
    Some(ObjectRef::new(&instance).within(&namespace))
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
    fn slim_keeps_what_the_operator_reads_and_the_fingerprint() {
        let mut secret = object(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "x", "namespace": "n", "managedFields": [{"manager": "m"}],
                         "labels": {"app.kubernetes.io/instance": "r", "app.kubernetes.io/name": "rodan"}},
            "data": {"password": "c2VjcmV0"},
        }));
        let fp = fingerprint(&secret);
        slim(&mut secret);
        assert_eq!(secret.data, json!({}), "no secret data in memory");
        assert!(secret.metadata.managed_fields.is_none());
        assert_eq!(secret.annotations().get(FINGERPRINT), Some(&fp));
        assert_eq!(secret.labels().len(), 1);
        assert_eq!(owner_of(secret).map(|r| r.name), Some("r".to_owned()));

        let mut deployment = object(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x", "namespace": "n", "generation": 3,
                         "ownerReferences": [{"apiVersion": "a/v1", "kind": "Rodan", "name": "r", "uid": "u", "controller": true}]},
            "spec": {"replicas": 2, "template": {}},
            "status": {"replicas": 2, "readyReplicas": 1, "updatedReplicas": 2, "observedGeneration": 3,
                       "conditions": [{"type": "Available", "status": "True", "message": "long text"}]},
        }));
        slim(&mut deployment);
        assert_eq!(
            deployment.data,
            json!({
                "spec": {"replicas": 2},
                "status": {"replicas": 2, "readyReplicas": 1, "updatedReplicas": 2, "observedGeneration": 3},
            })
        );
        assert_eq!(deployment.metadata.generation, Some(3));
        let owner = &deployment.owner_references()[0];
        assert_eq!((owner.uid.as_str(), owner.controller), ("u", Some(true)));

        let mut job = object(json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "j", "namespace": "n", "annotations": {"rodan.ddmal.music.mcgill.ca/release": "{}", "other": "x"}},
            "status": {"conditions": [
                {"type": "SuccessCriteriaMet", "status": "True"},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached"},
            ]},
        }));
        slim(&mut job);
        assert_eq!(
            job.data,
            json!({"status": {"conditions": [{"type": "Complete", "status": "True"}]}})
        );
        assert!(
            job.annotations()
                .contains_key("rodan.ddmal.music.mcgill.ca/release")
        );
        assert!(!job.annotations().contains_key("other"));
    }
}
