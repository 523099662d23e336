//! Starts a local control plane (etcd, kube-apiserver, kube-controller-manager on loopback),
//! installs the CRD, runs the operator, applies `examples/minimal.yaml` and shows what the
//! operator created. There is no kubelet, so no pod runs: the demo plays the kubelet's part for
//! the migration Job (marks it complete) so that the API and workers are rolled out too.
//!
//! `cargo run -p rodan-operator --example demo` (add `-- --exit` to stop after showing).

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use harness::{ControlPlane, eventually};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use rodan_operator::controller::{self, Handles, Scope};
use rodan_operator::crd::Rodan;
use rodan_operator::metrics::Metrics;
use serde_json::json;

const NS: &str = "rodan-demo";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let exit = std::env::args().any(|a| a == "--exit");
    tracing_subscriber::fmt()
        .with_env_filter("rodan_operator=info,kube_client=off")
        .init();
    let repo = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    eprintln!("starting etcd, kube-apiserver and kube-controller-manager on loopback...");
    let cp = ControlPlane::start().await.map_err(anyhow::Error::msg)?;
    let admin = cp.admin().await;

    let crd: CustomResourceDefinition = serde_yaml::from_str(&std::fs::read_to_string(format!(
        "{repo}/crds/rodan.ddmal.music.mcgill.ca_rodans.yaml"
    ))?)?;
    Api::<CustomResourceDefinition>::all(admin.clone())
        .create(&PostParams::default(), &crd)
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    Api::<Namespace>::all(admin.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NS}}))?,
        )
        .await?;

    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let operator = tokio::spawn(controller::run(
        admin.clone(),
        Scope::default(),
        Handles {
            ready: Arc::new(AtomicBool::new(false)),
            metrics: Arc::new(Metrics::default()),
        },
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        },
    ));

    let minimal: serde_json::Value = serde_yaml::from_str(&std::fs::read_to_string(format!(
        "{repo}/examples/minimal.yaml"
    ))?)?;
    let rodans: Api<Rodan> = Api::namespaced(admin.clone(), NS);
    rodans
        .patch(
            "rodan",
            &PatchParams::apply("kubectl"),
            &Patch::Apply(&minimal),
        )
        .await?;
    eprintln!("applied examples/minimal.yaml in namespace {NS}");

    let jobs: Api<Job> = Api::namespaced(admin.clone(), NS);
    let job = eventually("the migration Job", Duration::from_secs(60), || async {
        jobs.list(&ListParams::default().labels("app.kubernetes.io/component=migration"))
            .await
            .ok()?
            .items
            .into_iter()
            .next()
    })
    .await;
    eprintln!(
        "no kubelet here: marking migration Job {} complete, as its pod would",
        job.name_any()
    );
    harness::finish_job(&jobs, &job.name_any(), true).await;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), NS);
    eventually("the API Deployment", Duration::from_secs(60), || async {
        deployments.get_opt("rodan-worker-celery").await.ok()?
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    for args in [
        vec!["-n", NS, "get", "rodan", "-o", "wide"],
        vec![
            "-n",
            NS,
            "get",
            "statefulsets,deployments,replicasets,jobs,services,configmaps,secrets,pvc,networkpolicies,poddisruptionbudgets",
        ],
    ] {
        println!("{}", cp.kubectl(&args).map_err(anyhow::Error::msg)?);
    }
    let kubeconfig = cp.admin_kubeconfig.display().to_string();
    if !exit {
        eprintln!(
            "control plane running; explore with:\n  export KUBECONFIG={kubeconfig}\n  kubectl -n {NS} get rodan rodan -o yaml\nCtrl-C stops everything."
        );
        tokio::signal::ctrl_c().await?;
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), operator).await;
    drop(cp);
    Ok(())
}
