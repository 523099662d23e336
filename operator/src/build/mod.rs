//! The build step of the reconcile pipeline: a pure function from a validated `Rodan` and what
//! was observed of the cluster to every object the Rodan should have. No client, no clock, no
//! randomness (generated credentials come from [`secrets`], applied once, outside this step).

mod app;
mod autoscale;
mod backing;
pub mod client;
mod policy;
pub mod release;
pub mod secrets;
pub mod web;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::crd::{DeletionPolicy, Mode, PullPolicy, Rodan};
pub use release::{MigrationState, Release};

/// The field manager of every write the operator makes, and the value of
/// `app.kubernetes.io/managed-by` on everything it creates.
pub const MANAGER: &str = "rodan-operator";

/// The extended resource a GPU queue's workers request, one per GPU (NVIDIA's device plugin).
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// How long a serving pod (nginx, the API, the web client) keeps serving after it is told to
/// stop, while the endpoint controller and kube-proxy stop sending it connections.
pub const DRAIN_SECONDS: i64 = 5;

/// The `lifecycle` of a container behind a Service: on deletion it keeps serving for
/// [`DRAIN_SECONDS`] before its stop signal, so that every node's kube-proxy has dropped it
/// before it closes. Without it a rollout leaves a window in which new connections to the
/// Service still go to a pod that is gone, and hang until the client's timeout.
fn serving_lifecycle() -> Value {
    json!({"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}})
}

/// Label keys.
pub mod labels {
    /// Recommended label: the application.
    pub const NAME: &str = "app.kubernetes.io/name";
    /// Recommended label: the `Rodan` resource's name.
    pub const INSTANCE: &str = "app.kubernetes.io/instance";
    /// Recommended label: the component (`api`, `worker`, `postgres`...).
    pub const COMPONENT: &str = "app.kubernetes.io/component";
    /// Recommended label: the larger application.
    pub const PART_OF: &str = "app.kubernetes.io/part-of";
    /// Recommended label: the version of the component.
    pub const VERSION: &str = "app.kubernetes.io/version";
    /// Recommended label: the tool that manages the object.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// The queue a worker Deployment consumes.
    pub const QUEUE: &str = "rodan.ddmal.music.mcgill.ca/queue";
}

/// Annotation keys.
pub mod annotations {
    /// Hash of the configuration a pod template depends on, so a config change rolls the pods.
    pub const CONFIG_CHECKSUM: &str = "rodan.ddmal.music.mcgill.ca/config-checksum";
    /// The release (version and images) a migration Job migrates to, as JSON.
    pub const RELEASE: &str = "rodan.ddmal.music.mcgill.ca/release";
}

/// The kinds of object a `Rodan` owns, in the order they are applied: credentials and
/// configuration first, then storage, the backing services, the migration, and only then the
/// API, the workers and the entry point that depend on all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Generated credentials.
    Secret,
    /// Rendered configuration.
    ConfigMap,
    /// Data volumes.
    PersistentVolumeClaim,
    /// Stable names.
    Service,
    /// Network isolation of the backing services.
    NetworkPolicy,
    /// Backing services with state.
    StatefulSet,
    /// Database migrations.
    Job,
    /// Stateless components.
    Deployment,
    /// Voluntary-disruption limits.
    PodDisruptionBudget,
    /// Public exposure.
    Ingress,
    /// Scheduled backups.
    CronJob,
    /// KEDA's credentials for reading queue depths from RabbitMQ.
    TriggerAuthentication,
    /// KEDA's scaling of an autoscaled queue's workers by its depth.
    ScaledObject,
}

impl Kind {
    /// Every kind, in apply order.
    pub const ALL: [Kind; 13] = [
        Kind::Secret,
        Kind::ConfigMap,
        Kind::PersistentVolumeClaim,
        Kind::Service,
        Kind::NetworkPolicy,
        Kind::StatefulSet,
        Kind::Job,
        Kind::Deployment,
        Kind::PodDisruptionBudget,
        Kind::Ingress,
        Kind::CronJob,
        Kind::TriggerAuthentication,
        Kind::ScaledObject,
    ];

    /// API group, version and plural of the kind.
    pub fn api_resource(self) -> ApiResource {
        let (group, version, kind, plural) = match self {
            Kind::Secret => ("", "v1", "Secret", "secrets"),
            Kind::ConfigMap => ("", "v1", "ConfigMap", "configmaps"),
            Kind::PersistentVolumeClaim => {
                ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims")
            }
            Kind::Service => ("", "v1", "Service", "services"),
            Kind::NetworkPolicy => (
                "networking.k8s.io",
                "v1",
                "NetworkPolicy",
                "networkpolicies",
            ),
            Kind::StatefulSet => ("apps", "v1", "StatefulSet", "statefulsets"),
            Kind::Job => ("batch", "v1", "Job", "jobs"),
            Kind::Deployment => ("apps", "v1", "Deployment", "deployments"),
            Kind::PodDisruptionBudget => (
                "policy",
                "v1",
                "PodDisruptionBudget",
                "poddisruptionbudgets",
            ),
            Kind::Ingress => ("networking.k8s.io", "v1", "Ingress", "ingresses"),
            Kind::CronJob => ("batch", "v1", "CronJob", "cronjobs"),
            Kind::TriggerAuthentication => (
                "keda.sh",
                "v1alpha1",
                "TriggerAuthentication",
                "triggerauthentications",
            ),
            Kind::ScaledObject => ("keda.sh", "v1alpha1", "ScaledObject", "scaledobjects"),
        };
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
    }

    /// Whether the kind belongs to an add-on (KEDA) that a cluster may lack: watched and written
    /// only when its API is served.
    pub fn optional(self) -> bool {
        matches!(self, Kind::TriggerAuthentication | Kind::ScaledObject)
    }

    /// Whether objects of this kind left out of the desired set are deleted. Claims hold user
    /// data and are never deleted by the operator; Secrets are generated once and only
    /// collected with the `Rodan` (or kept, with the data they unlock). ConfigMaps go with
    /// their component (the web client's when it is turned off). The Helm chart's RBAC grants
    /// `delete` on exactly the prunable kinds.
    pub fn prunable(self) -> bool {
        !matches!(self, Kind::PersistentVolumeClaim | Kind::Secret)
    }
}

/// How the apply step treats a desired object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Apply {
    /// Server-side apply it whenever it differs from what was last applied.
    Always,
    /// It exists and must stay (it is not an orphan), but it is not written again: a finished
    /// migration Job, whose template is immutable.
    KeepOnly,
}

/// One desired object.
#[derive(Clone, Debug, PartialEq)]
pub struct Child {
    /// Its kind.
    pub kind: Kind,
    /// Its name in the `Rodan`'s namespace.
    pub name: String,
    /// The full object as it is applied (apiVersion, kind, metadata, spec...).
    pub object: Value,
    /// Whether it is written.
    pub apply: Apply,
}

/// What the dereference step observed and the build step needs: facts from the cluster that the
/// spec alone does not say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// Migration Jobs of this `Rodan` that exist, with their release and state.
    pub migrations: Vec<(String, Release, MigrationState)>,
    /// Whether the cluster serves KEDA's API (`keda.sh/v1alpha1`), which queue autoscaling uses.
    pub keda: bool,
}

/// Everything the build step derived about the instance, shared by the builders.
#[derive(Debug)]
pub(crate) struct Instance<'a> {
    pub(crate) rodan: &'a Rodan,
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) owner: OwnerReference,
    /// The release the API and workers run now: the target once its migration succeeded, else
    /// the last migrated one, else none (a new Rodan before its first migration).
    pub(crate) running: Option<Release>,
    /// Whether KEDA scales the autoscaled queues (its API is served).
    pub(crate) keda: bool,
}

/// The result of the build step.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// Every desired object, in apply order.
    pub children: Vec<Child>,
    /// The release the API and workers run, when one is deployed.
    pub running: Option<Release>,
    /// State of the target release's migration.
    pub migration: MigrationState,
    /// The release the spec asks for.
    pub target: Release,
    /// Where users reach this Rodan.
    pub url: String,
    /// Queues that ask for autoscaling while the cluster lacks KEDA.
    pub unscaled_queues: Vec<String>,
}

/// Errors of the build step.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The object lacks a name or namespace (it was not read from the apiserver).
    #[error("the Rodan has no {0}")]
    MissingMetadata(&'static str),
}

/// Builds every object the `Rodan` should have.
pub fn build(rodan: &Rodan, observed: &Observed) -> Result<Desired, BuildError> {
    let target = Release::of(&rodan.spec);
    let name = rodan
        .metadata
        .name
        .as_deref()
        .ok_or(BuildError::MissingMetadata("name"))?;
    let target_job = release::job_name(name, &target);
    let migration = observed
        .migrations
        .iter()
        .find(|(job, _, _)| *job == target_job)
        .map(|(_, _, state)| *state)
        .unwrap_or(MigrationState::Pending);
    // The release to keep serving while the target migrates: the newest succeeded migration.
    let previous = observed
        .migrations
        .iter()
        .rfind(|(job, _, state)| *job != target_job && *state == MigrationState::Succeeded);
    let running = if migration == MigrationState::Succeeded {
        Some(target.clone())
    } else {
        previous.map(|(_, release, _)| release.clone())
    };
    let inst = Instance::new(rodan, running.clone(), observed.keda)?;

    let mut children = Vec::new();
    children.extend(web::config_maps(&inst));
    children.extend(client::config_maps(&inst));
    children.extend(backing::claims(&inst));
    children.extend(backing::services(&inst));
    children.extend(app::services(&inst));
    children.extend(web::services(&inst));
    children.extend(client::services(&inst));
    children.extend(policy::network_policies(&inst));
    children.extend(backing::stateful_sets(&inst));
    children.push(app::migration_job(
        &inst,
        &target,
        migration == MigrationState::Succeeded,
    ));
    if let (Some((job, release, _)), true) = (previous, migration != MigrationState::Succeeded) {
        // Keep the Job that proves the running release was migrated.
        let mut kept = app::migration_job(&inst, release, true);
        kept.name.clone_from(job);
        children.push(kept);
    }
    children.extend(backing::deployments(&inst));
    if let Some(release) = &running {
        children.push(app::api_deployment(&inst, release));
        children.extend(app::worker_deployments(&inst, release));
        children.extend(autoscale::keda_objects(&inst));
    }
    children.extend(client::deployments(&inst));
    children.push(web::deployment(&inst));
    children.extend(policy::disruption_budgets(&inst));
    children.extend(web::ingress(&inst));
    children.extend(backing::backup(&inst));
    children.sort_by_key(|c| c.kind);
    let unscaled_queues = if observed.keda {
        Vec::new()
    } else {
        rodan
            .spec
            .workers
            .iter()
            .filter(|q| q.autoscaling.is_some())
            .map(|q| q.name.clone())
            .collect()
    };
    Ok(Desired {
        unscaled_queues,
        url: inst.public_url(),
        children,
        running,
        migration,
        target,
    })
}

impl<'a> Instance<'a> {
    /// Derives the instance facts of a `Rodan` read from the apiserver.
    pub(crate) fn new(
        rodan: &'a Rodan,
        running: Option<Release>,
        keda: bool,
    ) -> Result<Self, BuildError> {
        Ok(Self {
            name: rodan
                .metadata
                .name
                .clone()
                .ok_or(BuildError::MissingMetadata("name"))?,
            namespace: rodan
                .metadata
                .namespace
                .clone()
                .ok_or(BuildError::MissingMetadata("namespace"))?,
            owner: rodan
                .controller_owner_ref(&())
                .ok_or(BuildError::MissingMetadata("uid"))?,
            running,
            keda,
            rodan,
        })
    }

    /// Labels every object of this instance carries.
    pub(crate) fn labels(&self, component: &str) -> BTreeMap<String, String> {
        let mut labels = self.selector(component);
        labels.insert(labels::PART_OF.into(), "rodan".into());
        labels.insert(labels::MANAGED_BY.into(), MANAGER.into());
        labels
    }

    /// The labels that select the pods of a component.
    pub(crate) fn selector(&self, component: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (labels::NAME.into(), "rodan".into()),
            (labels::INSTANCE.into(), self.name.clone()),
            (labels::COMPONENT.into(), component.into()),
        ])
    }

    /// The metadata of a child: name, namespace, labels and the controller reference.
    pub(crate) fn meta(&self, name: &str, component: &str) -> Value {
        json!({
            "name": name,
            "namespace": self.namespace,
            "labels": self.labels(component),
            "ownerReferences": [self.owner],
        })
    }

    /// Metadata of an object that holds user data: owned (collected with the `Rodan`) only when
    /// the spec asks for data to be deleted with it.
    pub(crate) fn data_meta(&self, name: &str, component: &str) -> Value {
        let mut meta = self.meta(name, component);
        if self.rodan.spec.storage.deletion_policy == DeletionPolicy::Retain {
            meta.as_object_mut().map(|m| m.remove("ownerReferences"));
        }
        meta
    }

    /// A child's name: `<instance>-<suffix>`.
    pub(crate) fn child_name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.name)
    }

    /// The image pull policy for every container, when the spec sets one.
    pub(crate) fn pull_policy(&self) -> Option<&'static str> {
        self.rodan.spec.images.pull_policy.map(|p| match p {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        })
    }

    /// The pod-level fields every Rodan pod shares: restricted security, no service links, no
    /// API token, the image pull secrets.
    pub(crate) fn pod_spec(&self, uid: i64, mut spec: Value) -> Value {
        let obj = spec.as_object_mut().expect("a pod spec is a JSON object");
        obj.insert("enableServiceLinks".into(), json!(false));
        obj.insert("automountServiceAccountToken".into(), json!(false));
        obj.insert(
            "securityContext".into(),
            json!({
                "runAsNonRoot": true,
                "runAsUser": uid,
                "runAsGroup": uid,
                "fsGroup": uid,
                "fsGroupChangePolicy": "OnRootMismatch",
                "seccompProfile": {"type": "RuntimeDefault"},
            }),
        );
        if !self.rodan.spec.images.pull_secrets.is_empty() {
            obj.insert(
                "imagePullSecrets".into(),
                json!(self.rodan.spec.images.pull_secrets),
            );
        }
        if let Some(containers) = obj.get_mut("containers").and_then(Value::as_array_mut) {
            for c in containers {
                self.harden_container(c);
            }
        }
        if let Some(containers) = obj.get_mut("initContainers").and_then(Value::as_array_mut) {
            for c in containers {
                self.harden_container(c);
            }
        }
        spec
    }

    fn harden_container(&self, container: &mut Value) {
        let Some(c) = container.as_object_mut() else {
            return;
        };
        c.insert(
            "securityContext".into(),
            json!({
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "capabilities": {"drop": ["ALL"]},
            }),
        );
        if let Some(policy) = self.pull_policy() {
            c.insert("imagePullPolicy".into(), json!(policy));
        }
    }

    /// Whether a backing service is run by the operator.
    pub(crate) fn managed(mode: Mode) -> bool {
        mode == Mode::Managed
    }
}

/// A short, stable hash of any serialisable value: for checksum annotations and names.
pub fn hash<T: serde::Serialize + ?Sized>(value: &T) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A value usable in a DNS-1123 name: lowercase alphanumerics and dashes.
pub(crate) fn dns_safe(value: &str) -> String {
    let mut out: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').to_owned()
}

#[cfg(test)]
mod tests;
