//! The apply step: server-side apply of the desired children in order, creation of missing
//! generated Secrets, and deletion of orphans. Writes are skipped when the live object is the one
//! the operator last wrote and the desired object did not change: a steady-state reconcile sends
//! nothing to the apiserver.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};

use crate::build::{Apply, Child, Kind, MANAGER, hash};
use crate::cache::{Cache, fingerprint};
use crate::metrics::Metrics;

/// A write that failed.
#[derive(Debug, thiserror::Error)]
#[error("failed to {verb} {kind:?} {name}")]
pub struct WriteError {
    /// What was attempted: `apply`, `create` or `delete`.
    pub verb: &'static str,
    /// The object's kind.
    pub kind: Kind,
    /// The object's name.
    pub name: String,
    /// The apiserver's answer.
    #[source]
    pub source: kube::Error,
}

impl WriteError {
    /// The apiserver's message, for a status condition.
    pub fn describe(&self) -> String {
        let detail = match &self.source {
            kube::Error::Api(status) => status.message.clone(),
            other => other.to_string(),
        };
        format!("{self}: {detail}")
    }
}

/// A child: its kind, namespace and name.
type Key = (Kind, String, String);
/// The hash of the desired object written and the fingerprint of the apiserver's answer.
type Written = (String, String);

/// What the operator last wrote to each child.
#[derive(Debug, Default)]
pub struct Ledger {
    entries: Mutex<HashMap<Key, Written>>,
}

impl Ledger {
    fn get(&self, key: &Key) -> Option<Written> {
        self.entries
            .lock()
            .ok()
            .and_then(|entries| entries.get(key).cloned())
    }

    fn put(&self, key: Key, value: Written) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(key, value);
        }
    }

    fn forget(&self, key: &Key) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }
}

/// The writer of one reconcile.
#[allow(missing_debug_implementations)] // kube::Client has no Debug
pub struct Applier<'a> {
    /// The client writes go through.
    pub client: &'a Client,
    /// The cache of live children.
    pub cache: &'a Cache,
    /// The record of earlier writes.
    pub ledger: &'a Ledger,
    /// Where write counts go.
    pub metrics: &'a Metrics,
    /// The `Rodan`'s namespace.
    pub namespace: &'a str,
}

impl Applier<'_> {
    fn api(&self, kind: Kind) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), self.namespace, &kind.api_resource())
    }

    /// Creates the generated Secrets that do not exist. Existing ones are never touched.
    pub async fn create_missing_secrets(&self, secrets: Vec<Child>) -> Result<usize, WriteError> {
        let mut created = 0;
        for secret in secrets {
            if self
                .cache
                .get(Kind::Secret, self.namespace, &secret.name)
                .is_some()
            {
                continue;
            }
            let object: DynamicObject = match serde_json::from_value(secret.object) {
                Ok(o) => o,
                Err(e) => {
                    tracing::error!(error = %e, "generated Secret is not an object");
                    continue;
                }
            };
            self.metrics.write(Kind::Secret, "create");
            match self
                .api(Kind::Secret)
                .create(&PostParams::default(), &object)
                .await
            {
                Ok(_) => created += 1,
                // Created by an earlier reconcile the cache has not seen yet: keep that one.
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(source) => {
                    return Err(WriteError {
                        verb: "create",
                        kind: Kind::Secret,
                        name: secret.name,
                        source,
                    });
                }
            }
        }
        Ok(created)
    }

    /// Applies one child unless it is unchanged since the last write. Returns whether it wrote.
    pub async fn apply(&self, child: &Child) -> Result<bool, WriteError> {
        if child.apply == Apply::KeepOnly {
            return Ok(false);
        }
        let key = (child.kind, self.namespace.to_owned(), child.name.clone());
        let desired_hash = hash(&child.object);
        let live = self.cache.get(child.kind, self.namespace, &child.name);
        if let (Some(live), Some((last_desired, last_live))) = (&live, self.ledger.get(&key))
            && last_desired == desired_hash
            && live.fingerprint == last_live
        {
            return Ok(false);
        }
        let params = PatchParams::apply(MANAGER).force();
        self.metrics.write(child.kind, "apply");
        let result = self
            .api(child.kind)
            .patch(&child.name, &params, &Patch::Apply(&child.object))
            .await;
        match result {
            Ok(applied) => {
                self.ledger.put(key, (desired_hash, fingerprint(&applied)));
                Ok(true)
            }
            Err(source) => {
                self.ledger.forget(&key);
                // A Job's template is immutable: replace a pending Job whose template changed.
                if child.kind == Kind::Job
                    && matches!(&source, kube::Error::Api(s) if s.code == 422)
                {
                    tracing::info!(job = %child.name, "replacing a migration Job whose template changed");
                    self.delete(Kind::Job, &child.name).await?;
                }
                Err(WriteError {
                    verb: "apply",
                    kind: child.kind,
                    name: child.name.clone(),
                    source,
                })
            }
        }
    }

    /// Deletes the children of `instance` (owned by `owner_uid`) that the desired set no longer
    /// has. Claims and Secrets are never pruned (see [`Kind::prunable`]).
    pub async fn delete_orphans(
        &self,
        instance: &str,
        owner_uid: &str,
        desired: &[Child],
    ) -> Result<usize, WriteError> {
        let wanted: BTreeSet<(Kind, &str)> =
            desired.iter().map(|c| (c.kind, c.name.as_str())).collect();
        let mut deleted = 0;
        for kind in Kind::ALL.into_iter().filter(|k| k.prunable()) {
            for live in self.cache.of_instance(kind, self.namespace, instance) {
                let name = live.name.clone();
                let owned = live.controller.as_deref() == Some(owner_uid);
                if !owned || wanted.contains(&(kind, name.as_str())) || live.deleting {
                    continue;
                }
                tracing::info!(?kind, %name, "deleting an object the spec no longer asks for");
                self.delete(kind, &name).await?;
                self.ledger
                    .forget(&(kind, self.namespace.to_owned(), name.clone()));
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    async fn delete(&self, kind: Kind, name: &str) -> Result<(), WriteError> {
        self.metrics.write(kind, "delete");
        match self
            .api(kind)
            .delete(name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(source) => Err(WriteError {
                verb: "delete",
                kind,
                name: name.to_owned(),
                source,
            }),
        }
    }
}
