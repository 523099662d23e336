//! Proof ladder rung 2: the operator against a real kube-apiserver, etcd and
//! kube-controller-manager. One control plane and one operator serve every scenario; each
//! scenario works in its own namespace.

mod harness;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use harness::{ControlPlane, eventually};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, Secret, Service,
};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use libtest_mimic::{Arguments, Trial};
use rodan_operator::controller::{self, Handles, Scope};
use rodan_operator::crd::Rodan;
use rodan_operator::metrics::Metrics;
use serde::Deserialize as _;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

struct Env {
    cp: ControlPlane,
    admin: Client,
    stop: tokio::sync::watch::Sender<bool>,
    operator: tokio::task::JoinHandle<()>,
    metrics: Arc<Metrics>,
}

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

async fn start() -> Result<Env, String> {
    let cp = ControlPlane::start().await?;
    let admin = cp.admin().await;
    // Install the operator's chart (the CRD, its ServiceAccount and RBAC, its Deployment, which
    // no kubelet runs here) and run the operator in-process under exactly that ServiceAccount.
    let chart = repo().join("charts/rodan-operator");
    let (account_ns, account) = harness::OPERATOR_ACCOUNT;
    cp.helm(&[
        "install",
        account,
        chart.to_str().ok_or("chart path")?,
        "--namespace",
        account_ns,
        "--create-namespace",
    ])?;
    // KEDA's CRDs, so queue autoscaling is validated against KEDA's own schema.
    let keda = harness::keda_crds()?;
    cp.kubectl(&[
        "apply",
        "--server-side",
        "-f",
        keda.to_str().ok_or("keda path")?,
    ])?;
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    for name in [
        "rodans.rodan.ddmal.music.mcgill.ca",
        "scaledobjects.keda.sh",
        "triggerauthentications.keda.sh",
    ] {
        eventually(&format!("CRD {name} to be established"), WAIT, || {
            let crds = crds.clone();
            async move {
                let crd = crds.get(name).await.ok()?;
                crd.status?
                    .conditions?
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
                    .then_some(())
            }
        })
        .await;
    }
    let operator_client = cp.service_account(account_ns, account).await?;
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let handles = Handles {
        ready: Arc::new(AtomicBool::new(false)),
        metrics: Arc::new(Metrics::default()),
    };
    let ready = handles.ready.clone();
    let metrics = handles.metrics.clone();
    let operator = tokio::spawn(controller::run(
        operator_client,
        Scope::default(),
        handles,
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
    ));
    let deadline = std::time::Instant::now() + WAIT;
    while !ready.load(std::sync::atomic::Ordering::SeqCst) {
        if std::time::Instant::now() > deadline {
            return Err("the operator's caches did not fill in 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Env {
        cp,
        admin,
        stop,
        operator,
        metrics,
    })
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    // The operator's own logs, for failures: RODAN_TEST_LOG=debug for more.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(
                std::env::var("RODAN_TEST_LOG")
                    .unwrap_or_else(|_| "rodan_operator=info,kube=warn,kube_client=off".into()),
            )
            .expect("a valid filter"),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let names = scenarios();
    if args.list {
        let trials = names
            .iter()
            .map(|(name, _)| Trial::test(*name, || Ok(())))
            .collect();
        return libtest_mimic::run(&args, trials).exit_code();
    }
    let env = match runtime.block_on(start()) {
        Ok(env) => Arc::new(env),
        Err(e) => {
            eprintln!("cannot start the control plane: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = runtime.handle().clone();
    let trials = names
        .into_iter()
        .map(|(name, scenario)| {
            let env = env.clone();
            let handle = handle.clone();
            // Each scenario in its own namespace, named after it.
            let ns: String = name.replace('_', "-").chars().take(63).collect();
            let ns: &'static str = Box::leak(ns.trim_end_matches('-').to_owned().into_boxed_str());
            Trial::test(name, move || {
                handle.block_on(scenario(env.clone(), ns));
                Ok(())
            })
        })
        .collect();
    let filtered = args.filter.is_some() || !args.skip.is_empty();
    let conclusion = libtest_mimic::run(&args, trials);
    let mut rbac_ok = true;
    if !filtered && !conclusion.has_failed() {
        match runtime.block_on(rbac_matches_use(&env)) {
            Ok(summary) => println!("RBAC: {summary}"),
            Err(e) => {
                eprintln!("RBAC check failed: {e}");
                rbac_ok = false;
            }
        }
    }
    if conclusion.has_failed() {
        for component in ["kube-apiserver", "kube-controller-manager"] {
            eprintln!(
                "--- {component} log tail ---\n{}",
                env.cp.log_tail(component)
            );
        }
    }
    let _ = env.stop.send(true);
    runtime.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while !env.operator.is_finished() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
    });
    drop(env);
    if rbac_ok {
        conclusion.exit_code()
    } else {
        ExitCode::FAILURE
    }
}

/// After every scenario ran under the chart's RBAC: no request of the operator was refused, and
/// every verb the chart grants was used (none is superfluous).
async fn rbac_matches_use(env: &Env) -> Result<String, String> {
    use std::collections::BTreeSet;
    let rendered = env.cp.helm(&[
        "template",
        harness::OPERATOR_ACCOUNT.1,
        repo()
            .join("charts/rodan-operator")
            .to_str()
            .ok_or("chart path")?,
        "--namespace",
        harness::OPERATOR_ACCOUNT.0,
    ])?;
    let mut granted = BTreeSet::new();
    for doc in serde_yaml::Deserializer::from_str(&rendered) {
        let doc = Value::deserialize(doc).map_err(|e| e.to_string())?;
        if doc["kind"] != "ClusterRole" {
            continue;
        }
        for rule in doc["rules"].as_array().into_iter().flatten() {
            for group in rule["apiGroups"].as_array().into_iter().flatten() {
                for resource in rule["resources"].as_array().into_iter().flatten() {
                    for verb in rule["verbs"].as_array().into_iter().flatten() {
                        granted.insert(format!(
                            "{}/{} {}",
                            group.as_str().unwrap_or_default(),
                            resource.as_str().unwrap_or_default(),
                            verb.as_str().unwrap_or_default()
                        ));
                    }
                }
            }
        }
    }
    let mut used = BTreeSet::new();
    let mut refused = BTreeSet::new();
    for event in env.cp.operator_events() {
        let obj = &event["objectRef"];
        let mut resource = obj["resource"].as_str().unwrap_or_default().to_owned();
        if let Some(sub) = obj["subresource"].as_str() {
            resource = format!("{resource}/{sub}");
        }
        let key = format!(
            "{}/{} {}",
            obj["apiGroup"].as_str().unwrap_or_default(),
            resource,
            event["verb"].as_str().unwrap_or_default()
        );
        if event["responseStatus"]["code"] == 403 {
            refused.insert(key.clone());
        }
        // A server-side apply that created its object was authorised as `create` too.
        if event["verb"] == "patch" && event["responseStatus"]["code"] == 201 {
            used.insert(key.replace(" patch", " create"));
        }
        used.insert(key);
    }
    if !refused.is_empty() {
        return Err(format!("requests refused by RBAC: {refused:?}"));
    }
    let unused: Vec<&String> = granted.difference(&used).collect();
    if !unused.is_empty() {
        return Err(format!("granted but never used: {unused:?}"));
    }
    let ungranted: Vec<&String> = used.difference(&granted).collect();
    if !ungranted.is_empty() {
        return Err(format!(
            "used without a grant (bound elsewhere?): {ungranted:?}"
        ));
    }
    Ok(format!(
        "{} permissions granted, all used, none refused",
        granted.len()
    ))
}

type Scenario = fn(Arc<Env>, &'static str) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), (|env, ns| Box::pin($name(env, ns))) as Scenario)),*]
    };
}

fn scenarios() -> Vec<(&'static str, Scenario)> {
    scenarios![
        minimal_example_brings_up_every_component,
        production_example_places_the_gpu_queue_and_publishes_the_host,
        invalid_specs_are_refused_at_apply_time_with_their_messages,
        scaling_and_removing_queues_reaches_the_deployments,
        deleted_and_edited_children_are_restored,
        a_paused_rodan_gets_status_only,
        deleting_the_rodan_collects_children_and_keeps_data,
        a_steady_state_reconcile_sends_no_write,
        a_new_version_rolls_only_after_its_migration_succeeds,
        external_services_are_used_through_their_secrets,
        kubectl_explains_every_field_and_prints_the_columns,
        turning_features_off_deletes_their_objects,
        the_chart_renders_objects_the_apiserver_accepts,
        autoscaled_queues_are_left_to_keda,
        a_burst_of_rodans_is_reconciled_a_bounded_number_at_a_time,
        a_gpu_queue_without_gpu_nodes_waits_for_them_and_the_rest_stays_available,
        the_web_client_passes_restricted_admission_and_rolls_with_its_configuration,
    ]
}

// ---------------------------------------------------------------------------------------------
// Helpers

async fn namespace(env: &Env, name: &str) {
    let api: Api<Namespace> = Api::all(env.admin.clone());
    api.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": name}})).expect("a namespace"),
    )
    .await
    .expect("the namespace is created");
}

fn example(file: &str) -> Value {
    let text =
        std::fs::read_to_string(repo().join("examples").join(file)).expect("the example exists");
    serde_yaml::from_str(&text).expect("the example is YAML")
}

/// Applies a `Rodan` as a user would with `kubectl apply --server-side`.
async fn apply_rodan(env: &Env, ns: &str, rodan: &Value) -> Result<Rodan, kube::Error> {
    let api: Api<Rodan> = Api::namespaced(env.admin.clone(), ns);
    let name = rodan["metadata"]["name"].as_str().expect("a name");
    api.patch(
        name,
        &PatchParams::apply("kubectl").force(),
        &Patch::Apply(rodan),
    )
    .await
}

async fn merge_rodan(env: &Env, ns: &str, name: &str, patch: Value) {
    let api: Api<Rodan> = Api::namespaced(env.admin.clone(), ns);
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("the Rodan is patched");
}

async fn get<K>(env: &Env, ns: &str, name: &str) -> Option<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    Api::<K>::namespaced(env.admin.clone(), ns)
        .get_opt(name)
        .await
        .expect("the apiserver answers")
}

async fn wait_for<K>(env: &Env, ns: &str, name: &str) -> K
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    eventually(&format!("{} {ns}/{name}", K::kind(&())), WAIT, || {
        get::<K>(env, ns, name)
    })
    .await
}

async fn wait_gone<K>(env: &Env, ns: &str, name: &str)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    eventually(
        &format!("{} {ns}/{name} to be deleted", K::kind(&())),
        WAIT,
        || async { get::<K>(env, ns, name).await.is_none().then_some(()) },
    )
    .await
}

/// Plays the kubelet for a Job: marks it complete, as if its pod had exited 0.
async fn complete_job(env: &Env, ns: &str, name: &str) {
    harness::finish_job(&Api::namespaced(env.admin.clone(), ns), name, true).await;
}

/// Plays the kubelet for a Job whose pods kept failing.
async fn fail_job(env: &Env, ns: &str, name: &str) {
    harness::finish_job(&Api::namespaced(env.admin.clone(), ns), name, false).await;
}

/// The migration Job of the `Rodan`'s current target, once it exists.
async fn migration_job(env: &Env, ns: &str, instance: &str, version: &str) -> Job {
    eventually(&format!("the migration Job of {version}"), WAIT, || async {
        let jobs: Api<Job> = Api::namespaced(env.admin.clone(), ns);
        let list = jobs
            .list(&ListParams::default().labels(&format!(
                "app.kubernetes.io/instance={instance},app.kubernetes.io/component=migration,app.kubernetes.io/version={version}"
            )))
            .await
            .ok()?;
        list.items.into_iter().next()
    })
    .await
}

/// Creates the Rodan, completes its first migration and waits for the API Deployment.
async fn running_rodan(env: &Env, ns: &str, rodan: &Value) -> Rodan {
    let created = apply_rodan(env, ns, rodan)
        .await
        .expect("the Rodan is accepted");
    let name = created.name_any();
    let version = created
        .spec
        .version
        .clone()
        .unwrap_or_else(|| rodan_operator::crd::DEFAULT_VERSION.to_owned());
    let job = migration_job(env, ns, &name, &version).await;
    complete_job(env, ns, &job.name_any()).await;
    wait_for::<Deployment>(env, ns, &format!("{name}-api")).await;
    created
}

fn container(d: &Deployment) -> &k8s_openapi::api::core::v1::Container {
    &d.spec
        .as_ref()
        .expect("a spec")
        .template
        .spec
        .as_ref()
        .expect("a pod spec")
        .containers[0]
}

fn env_var<'a>(
    c: &'a k8s_openapi::api::core::v1::Container,
    name: &str,
) -> &'a k8s_openapi::api::core::v1::EnvVar {
    c.env
        .as_ref()
        .and_then(|e| e.iter().find(|v| v.name == name))
        .unwrap_or_else(|| panic!("env var {name} is set"))
}

fn secret_ref(var: &k8s_openapi::api::core::v1::EnvVar) -> (String, String) {
    let r = var
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref())
        .unwrap_or_else(|| panic!("{} comes from a Secret", var.name));
    (r.name.clone(), r.key.clone())
}

fn condition(rodan: &Rodan, type_: &str) -> Option<(String, String, Option<i64>)> {
    rodan
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.observed_generation))
}

/// Plays the kubelet: the pods `selector` picks in `ns` run and are ready.
async fn run_pods(env: &Env, ns: &str, selector: &str) {
    let ready = |type_: &str| json!({"type": type_, "status": "True"});
    harness::set_pod_status(
        &Api::namespaced(env.admin.clone(), ns),
        selector,
        json!({"phase": "Running", "conditions": [
            ready("PodScheduled"), ready("Initialized"), ready("ContainersReady"), ready("Ready"),
        ]}),
    )
    .await;
}

/// Plays the scheduler: no node can take the pods `selector` picks in `ns`, for `message`.
async fn unschedulable(env: &Env, ns: &str, selector: &str, message: &str) {
    harness::set_pod_status(
        &Api::namespaced(env.admin.clone(), ns),
        selector,
        json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message},
        ]}),
    )
    .await;
}

/// Waits until the `Rodan` named `rodan` satisfies `pred`.
async fn rodan_where(env: &Env, ns: &str, what: &str, pred: impl Fn(&Rodan) -> bool) -> Rodan {
    eventually(what, WAIT, || async {
        let r = get::<Rodan>(env, ns, "rodan").await?;
        pred(&r).then_some(r)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Scenarios

async fn minimal_example_brings_up_every_component(env: Arc<Env>, ns: &'static str) {
    let env = &*env;
    namespace(env, ns).await;
    let created = apply_rodan(env, ns, &example("minimal.yaml"))
        .await
        .expect("the minimal example is accepted");
    // Defaults are visible on the stored object.
    assert_eq!(created.spec.workers.len(), 3);
    assert_eq!(created.spec.storage.size, "50Gi");

    // Before the migration succeeded: backing services, but no API and no workers.
    let job = migration_job(env, ns, "rodan", rodan_operator::crd::DEFAULT_VERSION).await;
    let job_pod = job
        .spec
        .as_ref()
        .expect("a spec")
        .template
        .spec
        .as_ref()
        .expect("a pod spec");
    assert_eq!(
        job_pod.containers[0].args.as_deref(),
        Some(&["migrate".to_owned()][..])
    );
    assert_eq!(
        job_pod.containers[0].image.as_deref(),
        Some(
            format!(
                "ghcr.io/ddmal/rodan-api-server:{}",
                rodan_operator::crd::DEFAULT_VERSION
            )
            .as_str()
        )
    );
    let pg = wait_for::<StatefulSet>(env, ns, "rodan-postgres").await;
    wait_for::<StatefulSet>(env, ns, "rodan-rabbitmq").await;
    wait_for::<Deployment>(env, ns, "rodan-redis").await;
    assert!(
        get::<Deployment>(env, ns, "rodan-api").await.is_none(),
        "the API waits for its migration"
    );
    let status = rodan_where(env, ns, "a Progressing status", |r| {
        condition(r, "Progressing").map(|c| c.1) == Some("MigrationRunning".into())
    })
    .await;
    assert_eq!(
        condition(&status, "Available").map(|c| c.0),
        Some("False".into())
    );
    assert_eq!(status.status.as_ref().and_then(|s| s.version.clone()), None);

    complete_job(env, ns, &job.name_any()).await;
    let api = wait_for::<Deployment>(env, ns, "rodan-api").await;
    let celery = wait_for::<Deployment>(env, ns, "rodan-worker-celery").await;
    let py3 = wait_for::<Deployment>(env, ns, "rodan-worker-python3").await;
    let gpu = wait_for::<Deployment>(env, ns, "rodan-worker-gpu").await;
    let web = wait_for::<Deployment>(env, ns, "rodan-web").await;

    // Images and wiring.
    let api_c = container(&api);
    assert_eq!(api_c.args.as_deref(), Some(&["serve".to_owned()][..]));
    assert_eq!(
        secret_ref(env_var(api_c, "DATABASE_URL")),
        ("rodan-postgres".into(), "url".into())
    );
    assert_eq!(
        secret_ref(env_var(api_c, "RABBITMQ_URL")),
        ("rodan-rabbitmq".into(), "url".into())
    );
    assert_eq!(
        secret_ref(env_var(api_c, "REDIS_URL")),
        ("rodan-redis".into(), "url".into())
    );
    // The migration creates the bootstrap superuser; the API server does not read it.
    let migrate = &job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("a pod spec")
        .containers[0];
    assert_eq!(
        secret_ref(env_var(migrate, "ADMIN_PASS")),
        ("rodan-app".into(), "admin-password".into())
    );
    assert!(
        api_c
            .env
            .iter()
            .flatten()
            .all(|v| !v.name.starts_with("ADMIN_")),
        "the API gets no admin credentials"
    );
    assert_eq!(
        env_var(api_c, "RODAN_MEDIA_ROOT").value.as_deref(),
        Some("/rodan/data")
    );
    assert_eq!(
        env_var(container(&celery), "CELERY_JOB_QUEUE")
            .value
            .as_deref(),
        Some("celery")
    );
    assert_eq!(
        env_var(container(&py3), "CELERY_JOB_QUEUE")
            .value
            .as_deref(),
        Some("Python3")
    );
    assert_eq!(
        container(&gpu).image.as_deref(),
        Some(
            format!(
                "ghcr.io/ddmal/rodan-worker-gpu:{}",
                rodan_operator::crd::DEFAULT_VERSION
            )
            .as_str()
        )
    );
    assert_eq!(
        gpu.spec.as_ref().and_then(|s| s.replicas),
        Some(0),
        "the GPU queue starts at zero"
    );
    // GPU requests on the GPU queue only.
    let gpus = |d: &Deployment| {
        container(d)
            .resources
            .as_ref()
            .and_then(|r| r.limits.as_ref())
            .and_then(|l| l.get("nvidia.com/gpu"))
            .map(|q| q.0.clone())
    };
    assert_eq!(gpus(&gpu), Some("1".into()));
    assert_eq!(gpus(&celery), None);
    assert_eq!(gpus(&py3), None);
    assert_eq!(gpus(&api), None);

    // Generated credentials are consistent with the URL the components read.
    let pg_secret = wait_for::<Secret>(env, ns, "rodan-postgres").await;
    let data = pg_secret.data.expect("secret data");
    let text = |k: &str| String::from_utf8(data[k].0.clone()).expect("utf-8");
    assert_eq!(
        text("url"),
        format!(
            "postgres://rodan:{}@rodan-postgres:5432/rodan",
            text("password")
        )
    );
    assert!(text("password").len() >= 32);
    let pg_c = &pg
        .spec
        .as_ref()
        .expect("spec")
        .template
        .spec
        .as_ref()
        .expect("pod")
        .containers[0];
    assert_eq!(
        secret_ref(env_var(pg_c, "POSTGRES_PASSWORD")),
        ("rodan-postgres".into(), "password".into())
    );

    // The media volume: ReadWriteMany, mounted by the API, the workers and nginx.
    let media = wait_for::<PersistentVolumeClaim>(env, ns, "rodan-media").await;
    assert_eq!(
        media.spec.as_ref().and_then(|s| s.access_modes.clone()),
        Some(vec!["ReadWriteMany".to_owned()])
    );
    for d in [&api, &celery, &web] {
        let pod = d
            .spec
            .as_ref()
            .expect("spec")
            .template
            .spec
            .as_ref()
            .expect("pod");
        let claim = pod
            .volumes
            .iter()
            .flatten()
            .find_map(|v| v.persistent_volume_claim.as_ref())
            .map(|c| c.claim_name.clone());
        assert_eq!(
            claim.as_deref(),
            Some("rodan-media"),
            "{} mounts the media volume",
            d.name_any()
        );
        let mounted = pod.containers[0]
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.mount_path == "/rodan/data");
        assert!(mounted, "{} mounts /rodan/data", d.name_any());
    }
    // Restricted pod security on every pod.
    for d in [&api, &celery, &web] {
        let pod = d
            .spec
            .as_ref()
            .expect("spec")
            .template
            .spec
            .as_ref()
            .expect("pod");
        let psc = pod
            .security_context
            .as_ref()
            .expect("a pod security context");
        assert_eq!(psc.run_as_non_root, Some(true));
        assert_eq!(
            psc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
            Some("RuntimeDefault")
        );
        let csc = pod.containers[0]
            .security_context
            .as_ref()
            .expect("a container security context");
        assert_eq!(csc.allow_privilege_escalation, Some(false));
        assert_eq!(
            csc.capabilities.as_ref().and_then(|c| c.drop.clone()),
            Some(vec!["ALL".to_owned()])
        );
    }

    // Services and ports.
    let svc = wait_for::<Service>(env, ns, "rodan-api").await;
    let port = &svc
        .spec
        .as_ref()
        .expect("spec")
        .ports
        .as_ref()
        .expect("ports")[0];
    assert_eq!(port.port, 8000);
    let web_svc = wait_for::<Service>(env, ns, "rodan-web").await;
    assert_eq!(
        web_svc
            .spec
            .as_ref()
            .expect("spec")
            .ports
            .as_ref()
            .expect("ports")[0]
            .port,
        8080
    );
    let pg_svc = wait_for::<Service>(env, ns, "rodan-postgres").await;
    assert_eq!(
        pg_svc
            .spec
            .as_ref()
            .expect("spec")
            .ports
            .as_ref()
            .expect("ports")[0]
            .port,
        5432
    );

    // nginx configuration, and the checksum that rolls nginx when it changes.
    let cm = wait_for::<ConfigMap>(env, ns, "rodan-nginx").await;
    let conf = &cm.data.as_ref().expect("data")["nginx.conf"];
    assert!(conf.contains("server rodan-api:8000;"));
    assert!(
        conf.contains("internal;"),
        "media only through X-Accel-Redirect"
    );
    let checksum = web
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| {
            a.get("rodan.ddmal.music.mcgill.ca/config-checksum")
                .cloned()
        })
        .expect("a config checksum");
    merge_rodan(
        env,
        ns,
        "rodan",
        json!({"spec": {"web": {"clientMaxBodySize": "100m"}}}),
    )
    .await;
    eventually(
        "nginx to roll after its configuration changed",
        WAIT,
        || async {
            let web = get::<Deployment>(env, ns, "rodan-web").await?;
            let now = web
                .spec?
                .template
                .metadata?
                .annotations?
                .get("rodan.ddmal.music.mcgill.ca/config-checksum")?
                .clone();
            (now != checksum).then_some(())
        },
    )
    .await;

    // Network isolation of the backing services.
    let np = wait_for::<NetworkPolicy>(env, ns, "rodan-postgres").await;
    let np_spec = np.spec.expect("spec");
    assert_eq!(
        np_spec
            .pod_selector
            .and_then(|s| s.match_labels)
            .and_then(|l| l.get("app.kubernetes.io/component").cloned()),
        Some("postgres".into())
    );
    let from = &np_spec.ingress.expect("ingress rules")[0]
        .from
        .clone()
        .expect("from")[0];
    assert_eq!(
        from.pod_selector
            .as_ref()
            .and_then(|s| s.match_labels.as_ref())
            .and_then(|l| l.get("app.kubernetes.io/instance").cloned()),
        Some("rodan".into())
    );
    wait_for::<NetworkPolicy>(env, ns, "rodan-rabbitmq").await;
    wait_for::<NetworkPolicy>(env, ns, "rodan-redis").await;

    // The web client, by default: its Deployment, Service, configuration and policy.
    let client = wait_for::<Deployment>(env, ns, "rodan-client").await;
    assert_eq!(
        container(&client).image.as_deref(),
        Some("docker.io/ddmal/rodan-client:v3.1.0")
    );
    wait_for::<Service>(env, ns, "rodan-client").await;
    wait_for::<NetworkPolicy>(env, ns, "rodan-client").await;
    let client_cm = wait_for::<ConfigMap>(env, ns, "rodan-client").await;
    let configuration: Value =
        serde_json::from_str(&client_cm.data.as_ref().expect("data")["configuration.json"])
            .expect("configuration.json is JSON");
    assert_eq!(
        configuration["SERVER_HOST"],
        format!("rodan-web.{ns}.svc:8080")
    );
    assert_eq!(configuration["SERVER_HTTPS"], false);
    assert_eq!(configuration["SERVER_AUTHENTICATION_TYPE"], "token");
    let conf = &wait_for::<ConfigMap>(env, ns, "rodan-nginx")
        .await
        .data
        .expect("data")["nginx.conf"];
    assert!(conf.contains("server rodan-client:80;"), "{conf}");

    // Owner references and recommended labels.
    let owner = api
        .owner_references()
        .first()
        .cloned()
        .expect("an owner reference");
    assert_eq!(owner.kind, "Rodan");
    assert_eq!(owner.controller, Some(true));
    assert_eq!(
        api.labels()
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("rodan-operator")
    );
    assert_eq!(
        api.labels()
            .get("app.kubernetes.io/part-of")
            .map(String::as_str),
        Some("rodan")
    );
    assert!(
        media.owner_references().is_empty(),
        "data volumes are not owned by default"
    );

    // The real controller-manager turns Deployments into ReplicaSets.
    eventually("a ReplicaSet for the API", WAIT, || async {
        let rs: Api<ReplicaSet> = Api::namespaced(env.admin.clone(), ns);
        let list = rs
            .list(&ListParams::default().labels("app.kubernetes.io/component=api"))
            .await
            .ok()?;
        (!list.items.is_empty()).then_some(())
    })
    .await;

    // Status: generation, version, URL, components.
    let r = rodan_where(env, ns, "status with the running version", |r| {
        let Some(s) = &r.status else { return false };
        s.version.as_deref() == Some(rodan_operator::crd::DEFAULT_VERSION)
            && s.observed_generation == r.metadata.generation
    })
    .await;
    let s = r.status.as_ref().expect("a status");
    assert_eq!(
        s.url.as_deref(),
        Some(format!("http://rodan-web.{ns}.svc:8080").as_str())
    );
    for t in ["Available", "Progressing", "Degraded", "Paused"] {
        let c = condition(&r, t).unwrap_or_else(|| panic!("condition {t}"));
        assert_eq!(c.2, r.metadata.generation, "{t} carries observedGeneration");
    }
    assert_eq!(condition(&r, "Paused").map(|c| c.0), Some("False".into()));
    assert_eq!(condition(&r, "Degraded").map(|c| c.0), Some("False".into()));
    let names: Vec<&str> = s.components.iter().map(|c| c.name.as_str()).collect();
    for expected in [
        "api",
        "web",
        "client",
        "postgres",
        "rabbitmq",
        "redis",
        "worker-celery",
        "worker-Python3",
        "worker-GPU",
    ] {
        assert!(
            names.contains(&expected),
            "component {expected} in {names:?}"
        );
    }
    let gpu_queue = s
        .queues
        .iter()
        .find(|q| q.name == "GPU")
        .expect("the GPU queue status");
    assert_eq!(gpu_queue.desired_workers, 0);
    // No kubelet runs here: nothing is ready, so Rodan is not Available yet.
    assert_eq!(
        condition(&r, "Available").map(|c| c.0),
        Some("False".into())
    );
}

async fn production_example_places_the_gpu_queue_and_publishes_the_host(
    env: Arc<Env>,
    ns: &'static str,
) {
    let env = &*env;
    namespace(env, ns).await;
    running_rodan(env, ns, &example("production.yaml")).await;
    let gpu = wait_for::<Deployment>(env, ns, "rodan-worker-gpu").await;
    let pod = gpu
        .spec
        .as_ref()
        .expect("spec")
        .template
        .spec
        .clone()
        .expect("pod");
    assert_eq!(
        pod.node_selector
            .as_ref()
            .and_then(|n| n.get("rodan.ddmal.music.mcgill.ca/queue").cloned()),
        Some("GPU".into())
    );
    assert_eq!(pod.runtime_class_name.as_deref(), Some("nvidia"));
    let tol = &pod.tolerations.as_ref().expect("tolerations")[0];
    assert_eq!(tol.key.as_deref(), Some("nvidia.com/gpu"));
    let limits = pod.containers[0]
        .resources
        .as_ref()
        .and_then(|r| r.limits.clone())
        .expect("limits");
    assert_eq!(
        limits.get("nvidia.com/gpu").map(|q| q.0.as_str()),
        Some("1")
    );
    assert_eq!(limits.get("memory").map(|q| q.0.as_str()), Some("45Gi"));
    assert_eq!(gpu.spec.as_ref().and_then(|s| s.replicas), Some(1));

    let celery = wait_for::<Deployment>(env, ns, "rodan-worker-celery").await;
    let cpod = celery
        .spec
        .as_ref()
        .expect("spec")
        .template
        .spec
        .clone()
        .expect("pod");
    assert!(
        cpod.node_selector.is_none()
            && cpod.tolerations.is_none()
            && cpod.runtime_class_name.is_none()
    );
    assert_eq!(
        env_var(&cpod.containers[0], "RODAN_WORKER_CONCURRENCY")
            .value
            .as_deref(),
        Some("6")
    );
    assert_eq!(celery.spec.as_ref().and_then(|s| s.replicas), Some(2));
    // Two workers on a queue: a disruption budget keeps one up.
    wait_for::<PodDisruptionBudget>(env, ns, "rodan-worker-celery").await;
    wait_for::<PodDisruptionBudget>(env, ns, "rodan-api").await;
    wait_for::<PodDisruptionBudget>(env, ns, "rodan-client").await;
    let client = wait_for::<Deployment>(env, ns, "rodan-client").await;
    assert_eq!(client.spec.as_ref().and_then(|s| s.replicas), Some(2));
    let configuration: Value = serde_json::from_str(
        &wait_for::<ConfigMap>(env, ns, "rodan-client")
            .await
            .data
            .expect("data")["configuration.json"],
    )
    .expect("JSON");
    assert_eq!(configuration["SERVER_HOST"], "rodan.example.org");
    assert_eq!(configuration["SERVER_PORT"], "443");
    assert_eq!(configuration["SERVER_HTTPS"], true);
    assert_eq!(configuration["SERVER_SOCKET_AVAILABLE"], true);
    for c in [container(&celery), container(&gpu)] {
        assert_eq!(
            env_var(c, "EMAIL_HOST").value.as_deref(),
            Some("smtp.example.org")
        );
        assert_eq!(
            secret_ref(env_var(c, "EMAIL_HOST_PASSWORD")),
            ("rodan-smtp".into(), "password".into())
        );
        assert_eq!(
            env_var(c, "SERVER_HOST").value.as_deref(),
            Some("rodan.example.org")
        );
    }

    let ingress = wait_for::<Ingress>(env, ns, "rodan-web").await;
    let spec = ingress.spec.clone().expect("spec");
    assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
    assert_eq!(
        spec.rules.as_ref().expect("rules")[0].host.as_deref(),
        Some("rodan.example.org")
    );
    assert_eq!(
        spec.tls.as_ref().expect("tls")[0].secret_name.as_deref(),
        Some("rodan-example-org-tls")
    );
    assert_eq!(
        ingress
            .annotations()
            .get("nginx.ingress.kubernetes.io/proxy-body-size")
            .map(String::as_str),
        Some("700m")
    );

    let media = wait_for::<PersistentVolumeClaim>(env, ns, "rodan-media").await;
    let mspec = media.spec.expect("spec");
    assert_eq!(mspec.storage_class_name.as_deref(), Some("nfs-rwx"));
    assert_eq!(
        mspec
            .resources
            .and_then(|r| r.requests)
            .and_then(|r| r.get("storage").map(|q| q.0.clone())),
        Some("2Ti".into())
    );
    let data = wait_for::<PersistentVolumeClaim>(env, ns, "rodan-postgres-data").await;
    let dspec = data.spec.expect("spec");
    assert_eq!(dspec.access_modes, Some(vec!["ReadWriteOnce".to_owned()]));
    assert_eq!(dspec.storage_class_name.as_deref(), Some("fast-ssd"));

    let cron = wait_for::<CronJob>(env, ns, "rodan-backup").await;
    assert_eq!(
        cron.spec.as_ref().map(|s| s.schedule.as_str()),
        Some("0 3 * * *")
    );
    wait_for::<PersistentVolumeClaim>(env, ns, "rodan-backups").await;

    let r = rodan_where(env, ns, "the https URL", |r| {
        r.status.as_ref().and_then(|s| s.url.as_deref()) == Some("https://rodan.example.org")
    })
    .await;
    let api = wait_for::<Deployment>(env, ns, "rodan-api").await;
    assert_eq!(
        env_var(container(&api), "RODAN_PUBLIC_URL")
            .value
            .as_deref(),
        Some("https://rodan.example.org")
    );
    assert_eq!(api.spec.as_ref().and_then(|s| s.replicas), Some(2));
    let api_c = container(&api);
    for (name, value) in [
        ("SERVER_HOST", "rodan.example.org"),
        ("SERVER_HTTPS", "true"),
        ("EMAIL_HOST", "smtp.example.org"),
        ("EMAIL_PORT", "587"),
        ("EMAIL_USE_TLS", "true"),
        ("DEFAULT_FROM_EMAIL", "Rodan <noreply@rodan.example.org>"),
        ("RODAN_SELF_REGISTRATION", "false"),
    ] {
        assert_eq!(env_var(api_c, name).value.as_deref(), Some(value), "{name}");
    }
    assert_eq!(
        secret_ref(env_var(api_c, "EMAIL_HOST_USER")),
        ("rodan-smtp".into(), "username".into())
    );
    assert!(r.status.is_some());
}

async fn invalid_specs_are_refused_at_apply_time_with_their_messages(
    env: Arc<Env>,
    ns: &'static str,
) {
    let env = &*env;
    namespace(env, ns).await;
    let cases = [
        (
            json!({"workers": [{"name": "celery"}, {"name": "celery"}]}),
            "worker queue names must be unique",
        ),
        (
            json!({"workers": [{"name": "GPU", "autoscaling": {"minReplicas": 3, "maxReplicas": 1}}]}),
            "autoscaling.minReplicas must be less than or equal to autoscaling.maxReplicas",
        ),
        (
            json!({"workers": [{"name": "GPU", "gpus": 1, "concurrency": 2}]}),
            "a queue with GPUs runs one job per GPU at once: concurrency must not exceed gpus",
        ),
        (
            json!({"database": {"mode": "External"}}),
            "database.externalSecretName is required when database.mode is External",
        ),
        (
            json!({"rabbitmq": {"mode": "External"}}),
            "externalSecretName is required when mode is External",
        ),
        (
            json!({"ingress": {"tlsSecretName": "cert"}}),
            "ingress.tlsSecretName needs ingress.host",
        ),
        (
            json!({"database": {"mode": "External", "externalSecretName": "db"}, "backups": {"enabled": true}}),
            "backups.enabled needs database.mode Managed",
        ),
        (
            json!({"workers": [{"name": "bad queue"}]}),
            "spec.workers[0].name",
        ),
        (json!({"api": {"replicas": -1}}), "spec.api.replicas"),
        (json!({"storage": {"size": "lots"}}), "spec.storage.size"),
        (
            json!({"web": {"trustedProxies": ["everyone"]}}),
            "spec.web.trustedProxies[0]",
        ),
        (
            json!({"web": {"loginRequestsPerMinute": 0}}),
            "spec.web.loginRequestsPerMinute",
        ),
        (
            json!({"api": {"allowedOrigins": ["https://client.example/app/"]}}),
            "spec.api.allowedOrigins[0]",
        ),
        (
            json!({"database": {"mode": "Elsewhere"}}),
            "Unsupported value: \"Elsewhere\"",
        ),
        (
            json!({"api": {"corsAllowedOrigins": ["https://client.example/"]}}),
            "spec.api.corsAllowedOrigins[0]",
        ),
        (
            json!({"api": {"corsAllowedOrigins": ["https://ok.example", "client.example"]}}),
            "spec.api.corsAllowedOrigins[1]",
        ),
        (
            json!({"api": {"corsAllowedOrigins": ["*"]}}),
            "spec.api.corsAllowedOrigins[0]",
        ),
        (json!({"client": {"replicas": -1}}), "spec.client.replicas"),
        (
            json!({"email": {"port": 587}}),
            "spec.email.host: Required value",
        ),
        (
            json!({"email": {"host": "smtp.example.org", "port": 0}}),
            "spec.email.port",
        ),
        (
            json!({"email": {"host": "smtp example org"}}),
            "spec.email.host",
        ),
        (
            json!({"email": {"host": "smtp.example.org", "from": "nobody"}}),
            "spec.email.from",
        ),
        (
            json!({"email": {"host": "smtp.example.org", "credentialsSecret": "Not_A_Name"}}),
            "spec.email.credentialsSecret",
        ),
    ];
    for (i, (spec, message)) in cases.into_iter().enumerate() {
        let rodan = json!({
            "apiVersion": "rodan.ddmal.music.mcgill.ca/v1alpha1",
            "kind": "Rodan",
            "metadata": {"name": format!("bad-{i}")},
            "spec": spec,
        });
        match apply_rodan(env, ns, &rodan).await {
            Ok(_) => panic!("spec {spec} was accepted"),
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422, "{spec}: {}", status.message);
                assert!(
                    status.message.contains(message),
                    "{spec}: {:?} lacks {message:?}",
                    status.message
                );
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }
}

async fn scaling_and_removing_queues_reaches_the_deployments(env: Arc<Env>, ns: &'static str) {
    let env = &*env;
    namespace(env, ns).await;
    running_rodan(env, ns, &example("minimal.yaml")).await;
    wait_for::<Deployment>(env, ns, "rodan-worker-python3").await;
    merge_rodan(
        env,
        ns,
        "rodan",
        json!({"spec": {"workers": [
            {"name": "celery", "replicas": 4},
            {"name": "GPU", "replicas": 1, "gpus": 2},
        ]}}),
    )
    .await;
    eventually("the celery queue to scale to 4", WAIT, || async {
        let d = get::<Deployment>(env, ns, "rodan-worker-celery").await?;
        (d.spec?.replicas == Some(4)).then_some(())
    })
    .await;
    wait_gone::<Deployment>(env, ns, "rodan-worker-python3").await;
    let gpu = eventually("the GPU queue to scale to 1", WAIT, || async {
        let d = get::<Deployment>(env, ns, "rodan-worker-gpu").await?;
        (d.spec.as_ref()?.replicas == Some(1)).then_some(d)
    })
    .await;
    let limits = container(&gpu)
        .resources
        .as_ref()
        .and_then(|r| r.limits.clone())
        .expect("limits");
    assert_eq!(
        limits.get("nvidia.com/gpu").map(|q| q.0.as_str()),
        Some("2")
    );
    wait_for::<PodDisruptionBudget>(env, ns, "rodan-worker-celery").await;
    rodan_where(env, ns, "two queues in the status", |r| {
        r.status.as_ref().is_some_and(|s| s.queues.len() == 2)
    })
    .await;
}

async fn deleted_and_edited_children_are_restored(env: Arc<Env>, ns: &'static str) {
    let env = &*env;
    namespace(env, ns).await;
    running_rodan(env, ns, &example("minimal.yaml")).await;
    let cm = wait_for::<ConfigMap>(env, ns, "rodan-nginx").await;
    let original = cm.data.clone();
    let before_uid = cm.metadata.uid.clone();
    let cms: Api<ConfigMap> = Api::namespaced(env.admin.clone(), ns);
    cms.delete("rodan-nginx", &DeleteParams::default())
        .await
        .expect("deleted");
    eventually("the ConfigMap to come back", WAIT, || async {
        let before_uid = before_uid.clone();
        let cm = get::<ConfigMap>(env, ns, "rodan-nginx").await?;
        (cm.metadata.uid != before_uid && cm.data == original).then_some(())
    })
    .await;

    // A hand edit of a Deployment is reverted.
    let deployments: Api<Deployment> = Api::namespaced(env.admin.clone(), ns);
    deployments
        .patch(
            "rodan-api",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"replicas": 7, "template": {"spec": {"containers": [{"name": "api", "image": "evil:latest"}]}}}})),
        )
        .await
        .expect("edited");
    eventually("the API Deployment to be restored", WAIT, || async {
        let d = get::<Deployment>(env, ns, "rodan-api").await?;
        let ok = d.spec.as_ref()?.replicas == Some(1)
            && container(&d).image.as_deref() != Some("evil:latest");
        ok.then_some(())
    })
    .await;

    // A deleted Service comes back; a deleted generated Secret is regenerated.
    let services: Api<Service> = Api::namespaced(env.admin.clone(), ns);
    services
        .delete("rodan-postgres", &DeleteParams::default())
        .await
        .expect("deleted");
    eventually("the Service to come back", WAIT, || async {
        get::<Service>(env, ns, "rodan-postgres").await.map(|_| ())
    })
    .await;
    let secrets: Api<Secret> = Api::namespaced(env.admin.clone(), ns);
    let before = wait_for::<Secret>(env, ns, "rodan-redis").await;
    secrets
        .delete("rodan-redis", &DeleteParams::default())
        .await
        .expect("deleted");
    eventually("the Secret to be regenerated", WAIT, || async {
        let s = get::<Secret>(env, ns, "rodan-redis").await?;
        (s.metadata.uid != before.metadata.uid).then_some(())
    })
    .await;
}

async fn a_paused_rodan_gets_status_only(env: Arc<Env>, ns: &'static str) {
    let env = &*env;
    namespace(env, ns).await;
    running_rodan(env, ns, &example("minimal.yaml")).await;
    wait_for::<Deployment>(env, ns, "rodan-worker-celery").await;
    merge_rodan(env, ns, "rodan", json!({"spec": {"paused": true}})).await;
    rodan_where(env, ns, "the Paused condition", |r| {
        condition(r, "Paused").map(|c| c.0) == Some("True".into())
            && r.status.as_ref().and_then(|s| s.observed_generation) == r.metadata.generation
    })
    .await;
    merge_rodan(
        env,
        ns,
        "rodan",
        json!({"spec": {"workers": [{"name": "celery", "replicas": 5}]}}),
    )
    .await;
    let services: Api<Service> = Api::namespaced(env.admin.clone(), ns);
    services
        .delete("rodan-web", &DeleteParams::default())
        .await
        .expect("deleted");
    rodan_where(
        env,
        ns,
        "the paused status to observe the new generation",
        |r| r.status.as_ref().and_then(|s| s.observed_generation) == r.metadata.generation,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let celery = get::<Deployment>(env, ns, "rodan-worker-celery")
        .await
        .expect("still there");
    assert_eq!(
        celery.spec.as_ref().and_then(|s| s.replicas),
        Some(1),
        "paused: no scaling"
    );
    assert!(
        get::<Deployment>(env, ns, "rodan-worker-python3")
            .await
            .is_some(),
        "paused: no pruning"
    );
    assert!(
        get::<Service>(env, ns, "rodan-web").await.is_none(),
        "paused: no repair"
    );

    merge_rodan(env, ns, "rodan", json!({"spec": {"paused": false}})).await;
    wait_for::<Service>(env, ns, "rodan-web").await;
    wait_gone::<Deployment>(env, ns, "rodan-worker-python3").await;
    eventually("celery to scale after unpausing", WAIT, || async {
        let d = get::<Deployment>(env, ns, "rodan-worker-celery").await?;
        (d.spec?.replicas == Some(5)).then_some(())
    })
    .await;
}

async fn deleting_the_rodan_collects_children_and_keeps_data(env: Arc<Env>, ns: &'static str) {
    let env = &*env;
    namespace(env, ns).await;
    running_rodan(env, ns, &example("minimal.yaml")).await;
    wait_for::<PersistentVolumeClaim>(env, ns, "rodan-postgres-data").await;
    wait_for::<Deployment>(env, ns, "rodan-worker-celery").await;
    let rodans: Api<Rodan> = Api::namespaced(env.admin.clone(), ns);
    rodans
        .delete("rodan", &DeleteParams::foreground())
        .await
        .expect("deleted");
    wait_gone::<Rodan>(env, ns, "rodan").await;
    wait_gone::<Deployment>(env, ns, "rodan-api").await;
    wait_gone::<Deployment>(env, ns, "rodan-worker-celery").await;
    wait_gone::<StatefulSet>(env, ns, "rodan-postgres").await;
    wait_gone::<Service>(env, ns, "rodan-api").await;
    wait_gone::<ConfigMap>(env, ns, "rodan-nginx").await;
    wait_gone::<Secret>(env, ns, "rodan-redis").await;
    // The users' data, and the credentials that open it, stay.
    assert!(
        get::<PersistentVolumeClaim>(env, ns, "rodan-media")
            .await
            .is_some()
    );
    assert!(
        get::<PersistentVolumeClaim>(env, ns, "rodan-postgres-data")
            .await
            .is_some()
    );
    assert!(get::<Secret>(env, ns, "rodan-postgres").await.is_some());

    // With deletionPolicy Delete, the volumes go with it.
    let mut rodan = example("minimal.yaml");
    rodan["metadata"]["name"] = json!("scratch");
    rodan["spec"] = json!({"storage": {"deletionPolicy": "Delete"}});
    running_rodan(env, ns, &rodan).await;
    let media = wait_for::<PersistentVolumeClaim>(env, ns, "scratch-media").await;
    assert_eq!(media.owner_references().len(), 1);
    rodans
        .delete("scratch", &DeleteParams::foreground())
        .await
        .expect("deleted");
    wait_gone::<Rodan>(env, ns, "scratch").await;
    // PVCs carry the protection finalizer; without a kubelet they are only marked for deletion.
    eventually("the scratch media claim to be deleted", WAIT, || async {
        match get::<PersistentVolumeClaim>(env, ns, "scratch-media").await {
            None => Some(()),
            Some(p) => p.metadata.deletion_timestamp.map(|_| ()),
        }
    })
    .await;
}

async fn a_steady_state_reconcile_sends_no_write(env: Arc<Env>, ns: &'static str) {
    let env = &*env;
    namespace(env, ns).await;
    running_rodan(env, ns, &example("production.yaml")).await;
    // Play KEDA: the idle GPU queue (minReplicas 0, no messages) is scaled to zero, as KEDA
    // does. A GPU queue lacking workers would be looked at (its pods listed) on each reconcile.
    wait_for::<Deployment>(env, ns, "rodan-worker-gpu").await;
    Api::<Deployment>::namespaced(env.admin.clone(), ns)
        .patch(
            "rodan-worker-gpu",
            &PatchParams::apply("keda-hpa").force(),
            &Patch::Apply(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "rodan-worker-gpu"},
                "spec": {"replicas": 0},
            })),
        )
        .await
        .expect("scaled to zero");
    rodan_where(env, ns, "a settled status", |r| {
        r.status.as_ref().is_some_and(|s| {
            s.version.as_deref() == Some("0.1.0")
                && s.queues
                    .iter()
                    .any(|q| q.name == "GPU" && q.desired_workers == 0)
        })
    })
    .await;
    // Let the controller-manager's writes (ReplicaSets, Deployment status) and our answers settle.
    let mut previous = env.cp.operator_requests(ns);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now = env.cp.operator_requests(ns);
        if now == previous {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the operator never went quiet: {now:?}"
        );
        previous = now;
    }
    let before = env.cp.operator_requests(ns);
    let first = before.values().sum::<usize>();
    // Trigger reconciles without changing the spec: metadata edits wake the controller.
    let rodans: Api<Rodan> = Api::namespaced(env.admin.clone(), ns);
    for i in 0..5 {
        rodans
            .patch(
                "rodan",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"test/poke": i.to_string()}}})),
            )
            .await
            .expect("annotated");
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = env.cp.operator_requests(ns);
    let delta: BTreeMap<&String, usize> = after
        .iter()
        .map(|(verb, n)| (verb, n - before.get(verb).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    println!(
        "operator requests in {ns} until settled: {first} {before:?}; during 5 steady-state reconciles: {delta:?}"
    );
    assert!(
        delta.is_empty(),
        "steady-state reconciles sent requests: {delta:?}"
    );
}

async fn a_new_version_rolls_only_after_its_migration_succeeds(env: Arc<Env>, ns: &'static str) {
    let env = &*env;
    namespace(env, ns).await;
    let mut rodan = example("minimal.yaml");
    rodan["spec"] = json!({"version": "3.1.0"});
    running_rodan(env, ns, &rodan).await;
    let old_job = migration_job(env, ns, "rodan", "3.1.0").await;

    merge_rodan(env, ns, "rodan", json!({"spec": {"version": "3.2.0"}})).await;
    let new_job = migration_job(env, ns, "rodan", "3.2.0").await;
    assert_eq!(
        new_job
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .map(|p| p.containers[0].image.clone()),
        Some(Some("ghcr.io/ddmal/rodan-api-server:3.2.0".into()))
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let api = get::<Deployment>(env, ns, "rodan-api")
        .await
        .expect("the API keeps running");
    assert_eq!(
        container(&api).image.as_deref(),
        Some("ghcr.io/ddmal/rodan-api-server:3.1.0")
    );
    let r = get::<Rodan>(env, ns, "rodan").await.expect("the Rodan");
    assert_eq!(
        r.status.as_ref().and_then(|s| s.version.as_deref()),
        Some("3.1.0")
    );

    // A failed migration degrades the Rodan and keeps the old release.
    fail_job(env, ns, &new_job.name_any()).await;
    rodan_where(env, ns, "Degraded MigrationFailed", |r| {
        condition(r, "Degraded").map(|c| (c.0, c.1))
            == Some(("True".into(), "MigrationFailed".into()))
    })
    .await;
    let api = get::<Deployment>(env, ns, "rodan-api")
        .await
        .expect("the API keeps running");
    assert_eq!(
        container(&api).image.as_deref(),
        Some("ghcr.io/ddmal/rodan-api-server:3.1.0")
    );

    // Deleting the failed Job retries it; success rolls the API and workers.
    let jobs: Api<Job> = Api::namespaced(env.admin.clone(), ns);
    jobs.delete(&new_job.name_any(), &DeleteParams::background())
        .await
        .expect("deleted");
    let retried = eventually("the migration Job to be recreated", WAIT, || async {
        let j = get::<Job>(env, ns, &new_job.name_any()).await?;
        (j.metadata.uid != new_job.metadata.uid && j.metadata.deletion_timestamp.is_none())
            .then_some(j)
    })
    .await;
    complete_job(env, ns, &retried.name_any()).await;
    eventually("the API to roll to 3.2.0", WAIT, || async {
        let d = get::<Deployment>(env, ns, "rodan-api").await?;
        (container(&d).image.as_deref() == Some("ghcr.io/ddmal/rodan-api-server:3.2.0"))
            .then_some(())
    })
    .await;
    let celery = get::<Deployment>(env, ns, "rodan-worker-celery")
        .await
        .expect("celery");
    assert_eq!(
        container(&celery).image.as_deref(),
        Some("ghcr.io/ddmal/rodan-worker:3.2.0")
    );
    rodan_where(env, ns, "status version 3.2.0", |r| {
        r.status.as_ref().and_then(|s| s.version.as_deref()) == Some("3.2.0")
            && condition(r, "Degraded").map(|c| c.0) == Some("False".into())
    })
    .await;
    // The old release's Job is no longer needed.
    wait_gone::<Job>(env, ns, &old_job.name_any()).await;
}

async fn external_services_are_used_through_their_secrets(env: Arc<Env>, ns: &'static str) {
    let env = &*env;
    namespace(env, ns).await;
    let mut rodan = example("minimal.yaml");
    rodan["spec"] = json!({
        "database": {"mode": "External", "externalSecretName": "campus-db"},
        "rabbitmq": {"mode": "External", "externalSecretName": "campus-amqp"},
        "redis": {"mode": "External", "externalSecretName": "campus-redis"},
    });
    running_rodan(env, ns, &rodan).await;
    let api = wait_for::<Deployment>(env, ns, "rodan-api").await;
    let c = container(&api);
    assert_eq!(
        secret_ref(env_var(c, "DATABASE_URL")),
        ("campus-db".into(), "url".into())
    );
    assert_eq!(
        secret_ref(env_var(c, "RABBITMQ_URL")),
        ("campus-amqp".into(), "url".into())
    );
    assert_eq!(
        secret_ref(env_var(c, "REDIS_URL")),
        ("campus-redis".into(), "url".into())
    );
    wait_for::<Secret>(env, ns, "rodan-app").await;
    assert!(
        get::<StatefulSet>(env, ns, "rodan-postgres")
            .await
            .is_none()
    );
    assert!(
        get::<StatefulSet>(env, ns, "rodan-rabbitmq")
            .await
            .is_none()
    );
    assert!(get::<Deployment>(env, ns, "rodan-redis").await.is_none());
    assert!(get::<Secret>(env, ns, "rodan-postgres").await.is_none());
    assert!(
        get::<NetworkPolicy>(env, ns, "rodan-postgres")
            .await
            .is_none()
    );
    assert!(
        get::<PersistentVolumeClaim>(env, ns, "rodan-postgres-data")
            .await
            .is_none()
    );
}

async fn kubectl_explains_every_field_and_prints_the_columns(env: Arc<Env>, ns: &'static str) {
    let env = &*env;
    namespace(env, ns).await;
    let explain = env
        .cp
        .kubectl(&["explain", "rodan.spec.workers.autoscaling"])
        .expect("kubectl explain works");
    assert!(
        explain.contains("Scale the queue's workers between two bounds"),
        "{explain}"
    );
    assert!(explain.contains("minReplicas"), "{explain}");
    let explain = env
        .cp
        .kubectl(&["explain", "rodan.status.conditions"])
        .expect("kubectl explain works");
    assert!(explain.contains("observedGeneration"), "{explain}");
    let explain = env
        .cp
        .kubectl(&["explain", "rodan.status.queues.message"])
        .expect("kubectl explain works");
    assert!(explain.contains("waiting for GPU nodes"), "{explain}");
    for (field, text) in [
        ("rodan.spec.client", "Upstream's web client"),
        ("rodan.spec.client.enabled", "Serve the web client at `/`"),
        ("rodan.spec.client.replicas", "Number of client pods"),
        (
            "rodan.spec.client.resources",
            "CPU and memory of each client pod",
        ),
        (
            "rodan.spec.client.nodeSelector",
            "Node labels the client pods",
        ),
        (
            "rodan.spec.client.tolerations",
            "Taints the client pods tolerate",
        ),
        ("rodan.spec.images.client", "rodan-client:v3.1.0"),
        ("rodan.spec.api.corsAllowedOrigins", "(CORS)"),
        ("rodan.spec.api.selfRegistration", "create an account"),
        ("rodan.spec.email", "Outgoing e-mail (SMTP)"),
        ("rodan.spec.email.host", "SMTP server host"),
        ("rodan.spec.email.port", "587"),
        ("rodan.spec.email.useTls", "STARTTLS"),
        ("rodan.spec.email.from", "Rodan <noreply@HOST>"),
        (
            "rodan.spec.email.credentialsSecret",
            "keys `username` and `password`",
        ),
    ] {
        let explain = env
            .cp
            .kubectl(&["explain", field])
            .expect("kubectl explain works");
        assert!(explain.contains(text), "{field}: {explain}");
    }

    running_rodan(env, ns, &example("minimal.yaml")).await;
    rodan_where(env, ns, "a running version", |r| {
        r.status
            .as_ref()
            .and_then(|s| s.version.as_deref())
            .is_some()
    })
    .await;
    let table = env
        .cp
        .kubectl(&["-n", ns, "get", "rodan", "-o", "wide"])
        .expect("kubectl get works");
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().expect("a header").split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "READY",
            "VERSION",
            "AVAILABLE",
            "URL",
            "PAUSED",
            "AGE"
        ]
    );
    let row: Vec<&str> = lines.next().expect("a row").split_whitespace().collect();
    assert_eq!(row[0], "rodan");
    assert!(row[1].ends_with("/9"), "{table}");
    assert_eq!(row[2], rodan_operator::crd::DEFAULT_VERSION);
    assert_eq!(row[3], "False");
    assert_eq!(row[5], "false");
}

async fn turning_features_off_deletes_their_objects(env: Arc<Env>, ns: &'static str) {
    let env = &*env;
    namespace(env, ns).await;
    running_rodan(env, ns, &example("production.yaml")).await;
    wait_for::<Ingress>(env, ns, "rodan-web").await;
    wait_for::<CronJob>(env, ns, "rodan-backup").await;
    wait_for::<PodDisruptionBudget>(env, ns, "rodan-api").await;
    wait_for::<StatefulSet>(env, ns, "rodan-postgres").await;
    // One replica everywhere, no ingress, no backups, every backing service external.
    let api: Api<Rodan> = Api::namespaced(env.admin.clone(), ns);
    api.patch(
        "rodan",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {
            "api": {"replicas": 1},
            "web": {"replicas": 1},
            "client": {"enabled": false},
            "workers": [{"name": "celery"}],
            "ingress": null,
            "backups": null,
            "database": {"mode": "External", "externalSecretName": "db"},
            "rabbitmq": {"mode": "External", "externalSecretName": "mq"},
            "redis": {"mode": "External", "externalSecretName": "cache"},
        }})),
    )
    .await
    .expect("patched");
    wait_gone::<Ingress>(env, ns, "rodan-web").await;
    wait_gone::<CronJob>(env, ns, "rodan-backup").await;
    wait_gone::<PodDisruptionBudget>(env, ns, "rodan-api").await;
    wait_gone::<PodDisruptionBudget>(env, ns, "rodan-web").await;
    wait_gone::<PodDisruptionBudget>(env, ns, "rodan-worker-celery").await;
    wait_gone::<StatefulSet>(env, ns, "rodan-postgres").await;
    wait_gone::<StatefulSet>(env, ns, "rodan-rabbitmq").await;
    wait_gone::<Deployment>(env, ns, "rodan-redis").await;
    wait_gone::<Service>(env, ns, "rodan-postgres").await;
    wait_gone::<NetworkPolicy>(env, ns, "rodan-redis").await;
    wait_gone::<Deployment>(env, ns, "rodan-worker-gpu").await;
    // The web client: pods, Service, configuration, policy and budget; nginx redirects `/`.
    wait_gone::<Deployment>(env, ns, "rodan-client").await;
    wait_gone::<Service>(env, ns, "rodan-client").await;
    wait_gone::<ConfigMap>(env, ns, "rodan-client").await;
    wait_gone::<NetworkPolicy>(env, ns, "rodan-client").await;
    wait_gone::<PodDisruptionBudget>(env, ns, "rodan-client").await;
    eventually("nginx to redirect / to /api/ again", WAIT, || async {
        let cm = get::<ConfigMap>(env, ns, "rodan-nginx").await?;
        let conf = cm.data?.get("nginx.conf")?.clone();
        (conf.contains("return 302 /api/;") && !conf.contains("rodan_client")).then_some(())
    })
    .await;
    for (kind, name) in [
        (
            rodan_operator::build::Kind::ScaledObject,
            "rodan-worker-gpu",
        ),
        (
            rodan_operator::build::Kind::TriggerAuthentication,
            "rodan-rabbitmq",
        ),
    ] {
        let api: Api<DynamicObject> =
            Api::namespaced_with(env.admin.clone(), ns, &kind.api_resource());
        eventually(&format!("{kind:?} {name} to be deleted"), WAIT, || async {
            api.get_opt(name).await.ok()?.is_none().then_some(())
        })
        .await;
    }
    // Data stays.
    assert!(
        get::<PersistentVolumeClaim>(env, ns, "rodan-postgres-data")
            .await
            .is_some()
    );
    assert!(
        get::<PersistentVolumeClaim>(env, ns, "rodan-backups")
            .await
            .is_some()
    );
    assert!(get::<Secret>(env, ns, "rodan-postgres").await.is_some());
}

async fn the_chart_renders_objects_the_apiserver_accepts(env: Arc<Env>, ns: &'static str) {
    let env = &*env;
    namespace(env, ns).await;
    let watched = format!("{ns}-watched");
    namespace(env, &watched).await;
    let chart = repo().join("charts/rodan-operator");
    let chart = chart.to_str().expect("a path");
    for values in [
        vec![],
        vec![
            "--set",
            "metrics.service.enabled=false",
            "--set",
            "logFormat=text",
        ],
    ] {
        let mut args = vec!["template", "dry", chart, "--namespace", ns];
        args.extend(values.iter().copied());
        let watch = format!("watchNamespace={watched}");
        if !values.is_empty() {
            args.extend(["--set", watch.as_str()]);
        }
        let rendered = env.cp.helm(&args).expect("helm template renders");
        let out = env
            .cp
            .kubectl_with_input(
                &["apply", "--server-side", "--dry-run=server", "-f", "-"],
                &rendered,
            )
            .expect("the apiserver accepts every rendered object");
        assert!(
            out.contains("deployment.apps/dry-rodan-operator serverside-applied (server dry run)"),
            "{out}"
        );
        if values.is_empty() {
            assert!(
                out.contains("clusterrole.rbac.authorization.k8s.io/dry-rodan-operator"),
                "{out}"
            );
        } else {
            assert!(
                out.contains("role.rbac.authorization.k8s.io/dry-rodan-operator"),
                "{out}"
            );
            assert!(
                !out.contains("clusterrole"),
                "watching one namespace grants nothing cluster-wide: {out}"
            );
        }
    }
}

async fn autoscaled_queues_are_left_to_keda(env: Arc<Env>, ns: &'static str) {
    let env = &*env;
    namespace(env, ns).await;
    running_rodan(env, ns, &example("production.yaml")).await;
    let scaled: Api<DynamicObject> = Api::namespaced_with(
        env.admin.clone(),
        ns,
        &rodan_operator::build::Kind::ScaledObject.api_resource(),
    );
    let so = eventually("the GPU queue's ScaledObject", WAIT, || async {
        scaled.get_opt("rodan-worker-gpu").await.ok()?
    })
    .await;
    let spec = &so.data["spec"];
    assert_eq!(spec["scaleTargetRef"]["name"], "rodan-worker-gpu");
    assert_eq!(spec["minReplicaCount"], 0);
    assert_eq!(spec["maxReplicaCount"], 2);
    assert_eq!(spec["triggers"][0]["metadata"]["queueName"], "GPU");
    assert_eq!(spec["triggers"][0]["metadata"]["value"], "5");
    assert!(
        scaled
            .get_opt("rodan-worker-celery")
            .await
            .expect("answered")
            .is_none()
    );
    let auths: Api<DynamicObject> = Api::namespaced_with(
        env.admin.clone(),
        ns,
        &rodan_operator::build::Kind::TriggerAuthentication.api_resource(),
    );
    let auth = auths
        .get("rodan-rabbitmq")
        .await
        .expect("the TriggerAuthentication");
    assert_eq!(
        auth.data["spec"]["secretTargetRef"][0]["name"],
        "rodan-rabbitmq"
    );

    // KEDA's HPA sets the count; the operator leaves it alone.
    let deployments: Api<Deployment> = Api::namespaced(env.admin.clone(), ns);
    deployments
        .patch(
            "rodan-worker-gpu",
            &PatchParams::apply("keda-hpa").force(),
            &Patch::Apply(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 2}}),
            ),
        )
        .await
        .expect("scaled");
    merge_rodan(
        env,
        ns,
        "rodan",
        json!({"metadata": {"annotations": {"test/poke": "1"}}}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let gpu = get::<Deployment>(env, ns, "rodan-worker-gpu")
        .await
        .expect("the GPU workers");
    assert_eq!(
        gpu.spec.and_then(|s| s.replicas),
        Some(2),
        "the operator does not fight the autoscaler"
    );
    rodan_where(env, ns, "the GPU queue wanting 2 workers", |r| {
        r.status
            .as_ref()
            .and_then(|s| s.queues.iter().find(|q| q.name == "GPU"))
            .is_some_and(|q| q.desired_workers == 2)
    })
    .await;
}

async fn a_burst_of_rodans_is_reconciled_a_bounded_number_at_a_time(
    env: Arc<Env>,
    ns: &'static str,
) {
    let env = &*env;
    namespace(env, ns).await;
    let bound = Scope::default().concurrency;
    // Paused, so each reconcile only writes a status: three times the bound arrive at once, as
    // on a cold start (where an unbounded controller held a connection per Rodan).
    let count = 3 * usize::from(bound);
    futures::future::join_all((0..count).map(|i| {
        let rodan = json!({
            "apiVersion": "rodan.ddmal.music.mcgill.ca/v1alpha1",
            "kind": "Rodan",
            "metadata": {"name": format!("burst-{i}")},
            "spec": {"paused": true},
        });
        async move { apply_rodan(env, ns, &rodan).await.expect("applied") }
    }))
    .await;
    let api: Api<Rodan> = Api::namespaced(env.admin.clone(), ns);
    eventually(
        "every Rodan of the burst to have a status",
        WAIT,
        || async {
            let list = api.list(&ListParams::default()).await.ok()?;
            list.items
                .iter()
                .all(|r| {
                    r.status.as_ref().and_then(|s| s.observed_generation) == r.metadata.generation
                })
                .then_some(())
        },
    )
    .await;
    let most = env.metrics.most_running();
    assert!(
        (1..=i64::from(bound)).contains(&most),
        "at most {bound} reconciles run at once, saw {most}"
    );
}

async fn a_gpu_queue_without_gpu_nodes_waits_for_them_and_the_rest_stays_available(
    env: Arc<Env>,
    ns: &'static str,
) {
    const NO_GPU: &str = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.";
    let env = &*env;
    namespace(env, ns).await;
    let mut rodan = example("minimal.yaml");
    rodan["spec"] = json!({
        "database": {"mode": "External", "externalSecretName": "db"},
        "rabbitmq": {"mode": "External", "externalSecretName": "mq"},
        "redis": {"mode": "External", "externalSecretName": "cache"},
        "workers": [{"name": "celery"}, {"name": "GPU", "replicas": 1, "gpus": 1}],
    });
    running_rodan(env, ns, &rodan).await;
    // Everything but the GPU queue runs and is ready.
    for selector in [
        "app.kubernetes.io/instance=rodan,app.kubernetes.io/component=api",
        "app.kubernetes.io/instance=rodan,app.kubernetes.io/component=web",
        "app.kubernetes.io/instance=rodan,rodan.ddmal.music.mcgill.ca/queue=celery",
    ] {
        run_pods(env, ns, selector).await;
    }
    rodan_where(env, ns, "the Rodan to be Available", |r| {
        condition(r, "Available").map(|c| c.0) == Some("True".into())
    })
    .await;
    let gpu_pods = "app.kubernetes.io/instance=rodan,rodan.ddmal.music.mcgill.ca/queue=GPU";
    let gpu = |r: &Rodan| {
        r.status
            .as_ref()
            .and_then(|s| s.queues.iter().find(|q| q.name == "GPU").cloned())
    };
    let events: Api<Event> = Api::namespaced(env.admin.clone(), ns);
    let waiting_events = || async {
        let list = events
            .list(&ListParams::default())
            .await
            .expect("events are listed");
        list.items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("WaitingForGPUNodes"))
            .collect::<Vec<_>>()
    };
    let series = |e: &Event| e.series.as_ref().map_or(1, |s| s.count);

    for round in 1..=2 {
        unschedulable(env, ns, gpu_pods, NO_GPU).await;
        let r = rodan_where(env, ns, "the GPU queue waiting for GPU nodes", |r| {
            gpu(r).and_then(|q| q.message).as_deref()
                == Some(format!("waiting for GPU nodes: {NO_GPU}").as_str())
        })
        .await;
        let degraded = condition(&r, "Degraded").expect("Degraded");
        assert_eq!(
            (degraded.0.as_str(), degraded.1.as_str()),
            ("True", "WaitingForGPUNodes")
        );
        let message = r
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Degraded"))
            .map(|c| c.message.clone())
            .unwrap_or_default();
        assert!(message.contains("queue GPU"), "{message}");
        assert_eq!(
            condition(&r, "Available").map(|c| (c.0, c.1)),
            Some(("True".into(), "AllComponentsReady".into())),
            "the GPU queue is not essential: Available stays True"
        );

        // One Warning Event on the Rodan, related to the queue's Deployment; a queue waiting
        // again within minutes counts as a repeat of it.
        let event = eventually("a WaitingForGPUNodes Event", WAIT, || async {
            let found = waiting_events().await;
            found
                .first()
                .filter(|e| round == 1 || series(e) >= 2)
                .cloned()
        })
        .await;
        assert_eq!(waiting_events().await.len(), 1, "one Event object");
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        assert_eq!(
            event.reporting_controller.as_deref(),
            Some("rodan-operator")
        );
        let regarding = event.regarding.as_ref().expect("regarding");
        assert_eq!(
            (regarding.kind.as_deref(), regarding.name.as_deref()),
            (Some("Rodan"), Some("rodan"))
        );
        assert_eq!(
            event.related.as_ref().and_then(|o| o.name.as_deref()),
            Some("rodan-worker-gpu")
        );
        assert_eq!(
            event.note.as_deref(),
            Some(format!("queue GPU: waiting for GPU nodes: {NO_GPU}").as_str())
        );
        if round == 1 {
            // Further reconciles of a queue that keeps waiting publish nothing more.
            let before = series(&event);
            for i in 0..3 {
                merge_rodan(
                    env,
                    ns,
                    "rodan",
                    json!({"metadata": {"annotations": {"test/poke": i.to_string()}}}),
                )
                .await;
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            let after = waiting_events().await;
            assert_eq!(after.len(), 1);
            assert_eq!(series(&after[0]), before, "no Event per reconcile");
        }

        // Scaled to zero, the queue no longer waits.
        merge_rodan(
            env,
            ns,
            "rodan",
            json!({"spec": {"workers": [{"name": "celery"}, {"name": "GPU", "replicas": 0, "gpus": 1}]}}),
        )
        .await;
        let r = rodan_where(env, ns, "the GPU queue's report to clear", |r| {
            gpu(r).is_some_and(|q| q.desired_workers == 0 && q.message.is_none())
                && condition(r, "Degraded").map(|c| c.0) == Some("False".into())
        })
        .await;
        assert_eq!(
            condition(&r, "Degraded").map(|c| c.1),
            Some("AsExpected".into())
        );
        assert_eq!(condition(&r, "Available").map(|c| c.0), Some("True".into()));
        if round == 1 {
            let pods: Api<Pod> = Api::namespaced(env.admin.clone(), ns);
            eventually("the GPU worker pod to go", WAIT, || async {
                let list = pods
                    .list(&ListParams::default().labels(gpu_pods))
                    .await
                    .ok()?;
                list.items.is_empty().then_some(())
            })
            .await;
            merge_rodan(
                env,
                ns,
                "rodan",
                json!({"spec": {"workers": [{"name": "celery"}, {"name": "GPU", "replicas": 1, "gpus": 1}]}}),
            )
            .await;
        }
    }
}

async fn the_web_client_passes_restricted_admission_and_rolls_with_its_configuration(
    env: Arc<Env>,
    ns: &'static str,
) {
    let env = &*env;
    let namespaces: Api<Namespace> = Api::all(env.admin.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns, "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            }}}))
            .expect("a namespace"),
        )
        .await
        .expect("the namespace is created");
    // The namespace enforces the standard: a pod without the restricted settings is refused.
    let pods: Api<Pod> = Api::namespaced(env.admin.clone(), ns);
    let loose: Pod = serde_json::from_value(json!({
        "metadata": {"name": "loose"},
        "spec": {"containers": [{"name": "c", "image": "docker.io/ddmal/rodan-client:v3.1.0"}]},
    }))
    .expect("a pod");
    match pods.create(&PostParams::default(), &loose).await {
        Err(kube::Error::Api(status)) => assert!(
            status.code == 403 && status.message.contains("restricted"),
            "{status:?}"
        ),
        other => panic!("a pod breaking the restricted standard was admitted: {other:?}"),
    }

    running_rodan(env, ns, &example("minimal.yaml")).await;
    let client = wait_for::<Deployment>(env, ns, "rodan-client").await;
    let checksum = |d: &Deployment| {
        d.spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| {
                a.get("rodan.ddmal.music.mcgill.ca/config-checksum")
                    .cloned()
            })
            .expect("a config checksum")
    };
    let before = checksum(&client);
    let pod = client
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("a pod spec");
    let sysctls = pod
        .security_context
        .as_ref()
        .and_then(|p| p.sysctls.clone())
        .expect("sysctls");
    assert_eq!(sysctls[0].name, "net.ipv4.ip_unprivileged_port_start");
    assert_eq!(sysctls[0].value, "0");
    // The controller-manager's ReplicaSet controller creates the pods: admitted under
    // `restricted`, every component's, the client's included.
    for component in [
        "client", "web", "api", "worker", "postgres", "rabbitmq", "redis",
    ] {
        eventually(
            &format!("a {component} pod admitted under restricted"),
            WAIT,
            || async {
                let list = pods
                    .list(&ListParams::default().labels(&format!(
                        "app.kubernetes.io/instance=rodan,app.kubernetes.io/component={component}"
                    )))
                    .await
                    .ok()?;
                (!list.items.is_empty()).then_some(())
            },
        )
        .await;
    }

    // A new public host: configuration.json follows, and the client's pods roll.
    merge_rodan(
        env,
        ns,
        "rodan",
        json!({"spec": {"ingress": {"host": "rodan.example.org"}}}),
    )
    .await;
    eventually("configuration.json with the new host", WAIT, || async {
        let cm = get::<ConfigMap>(env, ns, "rodan-client").await?;
        let c: Value = serde_json::from_str(cm.data?.get("configuration.json")?).ok()?;
        (c["SERVER_HOST"] == "rodan.example.org"
            && c["SERVER_PORT"] == "80"
            && c["SERVER_SOCKET_AVAILABLE"] == true)
            .then_some(())
    })
    .await;
    let rolled = eventually("the client to roll", WAIT, || async {
        let d = get::<Deployment>(env, ns, "rodan-client").await?;
        (checksum(&d) != before).then_some(d)
    })
    .await;
    let after = checksum(&rolled);
    eventually("a client pod of the new configuration", WAIT, || async {
        let list = pods
            .list(&ListParams::default().labels("app.kubernetes.io/component=client"))
            .await
            .ok()?;
        list.items
            .iter()
            .any(|p| {
                p.annotations()
                    .get("rodan.ddmal.music.mcgill.ca/config-checksum")
                    == Some(&after)
            })
            .then_some(())
    })
    .await;
}
