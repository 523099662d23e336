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

/// Replaces an object by its slim cached form.
fn slim(obj: &mut DynamicObject) {
    let fp = fingerprint(obj);
    let status = obj.data.get("status").cloned();
    obj.data = match status {
        Some(status) => json!({"status": status}),
        None => json!({}),
    };
    obj.metadata.managed_fields = None;
    obj.annotations_mut().insert(FINGERPRINT.to_owned(), fp);
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
    pub fn new(client: &Client, namespace: Option<&str>) -> (Self, Vec<(Kind, Trigger)>) {
        let mut stores = HashMap::new();
        let mut triggers = Vec::new();
        let config =
            watcher::Config::default().labels(&format!("{}={MANAGER}", labels::MANAGED_BY));
        for kind in Kind::ALL {
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
    fn slim_keeps_status_and_fingerprint_only() {
        let mut obj = object(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "x", "namespace": "n", "managedFields": [{"manager": "m"}]},
            "data": {"password": "c2VjcmV0"},
        }));
        let fp = fingerprint(&obj);
        slim(&mut obj);
        assert_eq!(obj.data, json!({}));
        assert!(obj.metadata.managed_fields.is_none());
        assert_eq!(obj.annotations().get(FINGERPRINT), Some(&fp));
    }
}
