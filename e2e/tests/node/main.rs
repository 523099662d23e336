//! The whole Rodan on a real single-node Kubernetes (proof ladder rung 4).
//!
//! `scripts/node.sh up` starts the node (kubelet, containerd, kube-proxy, CoreDNS, kube-router)
//! and imports the images `scripts/build-images.sh` built; `scripts/test.sh` does that and runs
//! this test with `RODAN_NODE_DIR` set. Without a node the test is reported ignored.
//!
//! One scenario, in order, as a cluster admin and a musicologist would meet it:
//! the operator installed by Helm runs as a pod under the chart's ServiceAccount; a `Rodan` from
//! `examples/minimal.yaml` in a namespace enforcing the restricted Pod Security Standard becomes
//! Available with every pod Ready and the migration Job's pod really migrating; NetworkPolicies
//! keep other pods off the database, the broker and the cache, and every pod but nginx off the web
//! client; nginx serves upstream's web client at `/` with the `configuration.json` the operator
//! rendered; pages are uploaded, a workflow is
//! imported and run as a batch, all through the nginx Service, while a worker pod is
//! force-deleted in the middle of a job; the outputs equal the reference pipeline's and media
//! needs a token; the run's events arrive on `/ws/rodan`; more workers on a queue take jobs; a
//! new `spec.version` migrates, then rolls; a public host rewrites the client's configuration;
//! the `Rodan` deleted and created again still has its database and media.

#![allow(unreachable_pub)]

// The page generator and the reference pipeline of the worker's end-to-end test.
#[path = "../../../worker/tests/e2e/pages.rs"]
#[allow(dead_code)]
mod pages;

mod cluster;
mod rodan;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster::{Node, pod_ready};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use reqwest::StatusCode;
use rodan::{Api as Rest, url_of};
use rodan_operator::crd::Rodan;
use rodan_types::secret_keys;
use serde_json::{Value, json};

/// Namespace of the `Rodan` under test, and its name (`examples/minimal.yaml`).
const NS: &str = "rodan";
const NAME: &str = "rodan";
/// The release the images are built as (the workspace's version, the operator's default).
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The second build of the project's images: `scripts/test.sh` starts the node with
/// `RODAN_NODE_IMAGE_TAGS` naming it (`scripts/build-images.sh --tag`).
const NEXT_VERSION: &str = "0.1.1";
/// The worker pods of the `Python3` queue, where the image jobs run.
const PYTHON3_WORKERS: &str =
    "app.kubernetes.io/component=worker,rodan.ddmal.music.mcgill.ca/queue=Python3";

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let node = Node::from_env();
    let ignored = node.is_none();
    let trial = libtest_mimic::Trial::test("a_whole_rodan_on_a_real_node", move || {
        let node = node.ok_or("RODAN_NODE_DIR is not set")?;
        tokio::runtime::Runtime::new()
            .map_err(|e| e.to_string())?
            .block_on(scenario(node));
        Ok(())
    })
    .with_ignored_flag(ignored);
    libtest_mimic::run(&args, vec![trial]).exit();
}

fn step(what: &str) {
    eprintln!("== {what}");
}

async fn scenario(node: Node) {
    let client = node.client().await;
    let started = Instant::now();

    step("helm install the operator; it runs as a pod under the chart's ServiceAccount");
    node.helm(&[
        "upgrade",
        "--install",
        "rodan-operator",
        "charts/rodan-operator",
        "--namespace",
        "rodan-system",
        "--create-namespace",
    ]);
    let operator: Pod = node
        .wait(
            "the operator pod Ready",
            "rodan-system",
            Duration::from_secs(180),
            || {
                ready_pod(
                    &client,
                    "rodan-system",
                    "app.kubernetes.io/name=rodan-operator",
                )
            },
        )
        .await;
    let spec = operator.spec.as_ref().expect("a pod spec");
    assert_eq!(spec.service_account_name.as_deref(), Some("rodan-operator"));
    assert_eq!(
        spec.containers[0].image.as_deref(),
        Some(format!("ghcr.io/ddmal/rodan-operator:{VERSION}").as_str())
    );

    step("kubectl apply examples/minimal.yaml in a namespace enforcing `restricted`");
    namespace(
        &node,
        NS,
        &[
            ("pod-security.kubernetes.io/enforce", "restricted"),
            ("pod-security.kubernetes.io/enforce-version", "latest"),
        ],
    );
    node.kubectl(&["-n", NS, "apply", "-f", "examples/minimal.yaml"]);
    wait_available(&node, &client, VERSION).await;
    check_pods(&node, &client).await;
    check_migration(&node, &client, VERSION).await;
    eprintln!("{}", node.kubectl(&["-n", NS, "get", "rodan"]));

    step("NetworkPolicies: only the Rodan's own pods reach PostgreSQL, RabbitMQ and Redis");
    network_policies(&node, &client).await;

    step("the web client at / through nginx, with the configuration.json the operator rendered");
    let root = web_root(&client).await;
    web_client(&root, &format!("rodan-web.{NS}.svc:8080"), false).await;

    step("log in, upload pages, import the workflow and run it as a batch, through nginx");
    let api = login(&client, &root).await;
    let events = listen(&root, api.token()).await;
    let project = api
        .post("/api/projects/", json!({"name": "on a real node"}))
        .await;
    let project = url_of(&project).to_owned();
    let pages: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| (format!("folio-{i:03}.png"), pages::page(300 + i, 1600)))
        .collect();
    let uploaded = api.upload(&project, &pages).await;
    let document: Value = serde_json::from_str(
        &std::fs::read_to_string(node.repo.join("examples/workflows/binarise-pages.json"))
            .expect("the workflow export"),
    )
    .expect("JSON");
    let (workflow, entry) = api.import_workflow(&project, document.clone()).await;
    let run = api.run(&workflow, &entry, &uploaded).await;

    step("force-delete the Python3 worker pod while it runs a job");
    let killed = kill_worker_mid_job(&node, &client, &api, &run).await;
    wait_run(&node, &api, &run, Duration::from_secs(300)).await;
    // The Deployment's replacement took over what the killed pod had not finished: the
    // messages it held unacknowledged went back to RabbitMQ, and leases of jobs it was running
    // expire and are reaped.
    let replacement = node
        .wait(
            "the replacement Python3 worker Ready",
            NS,
            Duration::from_secs(120),
            || async {
                ready_pod(&client, NS, PYTHON3_WORKERS)
                    .await
                    .filter(|p| p.name_any() != killed)
            },
        )
        .await;
    let finished = jobs_finished(&replacement).await;
    assert!(
        finished > 0,
        "the replacement {} finished jobs of the run",
        replacement.name_any()
    );
    let attempts = psql(
        &node,
        &format!(
            "SELECT string_agg(attempts::text, ',' ORDER BY attempts) FROM run_jobs WHERE workflow_run_uuid = '{}'",
            uuid_hex(&run)
        ),
    );
    eprintln!(
        "  the replacement {} finished {finished} jobs; attempts per run job: {}",
        replacement.name_any(),
        attempts.trim()
    );

    step("the outputs, through nginx: media only with a token, pixels as the reference");
    let outputs = check_outputs(&api, &run, &uploaded, &pages, &document).await;

    step("the run's events on /ws/rodan");
    wait_event(&events, "workflowrun", &uuid_hex(&run)).await;

    step("kubectl patch the Python3 queue to two workers: the new one takes jobs");
    more_workers_take_jobs(&node, &client, &api, &workflow, &entry, &project).await;

    step(&format!(
        "spec.version {NEXT_VERSION}: its migration Job runs, then the rollout"
    ));
    upgrade(&node, &client).await;

    step("a public host: the client's configuration.json follows, the websocket turned on");
    let before = client_checksum(&client)
        .await
        .expect("the client Deployment has a configuration checksum");
    node.kubectl(&[
        "-n",
        NS,
        "patch",
        "rodan",
        NAME,
        "--type",
        "merge",
        "-p",
        r#"{"spec": {"ingress": {"host": "rodan.example.test"}}}"#,
    ]);
    node.wait(
        "the client's pods rolled to the new configuration",
        NS,
        Duration::from_secs(300),
        || client_rolled(&client, &before),
    )
    .await;
    web_client(&root, "rodan.example.test", true).await;

    step("delete the Rodan and create it again: the database and the media are still there");
    node.kubectl(&["-n", NS, "delete", "rodan", NAME, "--wait=true"]);
    let since = Instant::now();
    node.wait(
        "every pod of the deleted Rodan gone",
        NS,
        Duration::from_secs(300),
        || async {
            let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
            let left = pods
                .list(&ListParams::default().labels("app.kubernetes.io/instance=rodan"))
                .await
                .ok()?;
            if !left.items.is_empty() && since.elapsed().as_secs().is_multiple_of(30) {
                let names: Vec<String> = left.items.iter().map(ResourceExt::name_any).collect();
                eprintln!("  still terminating: {names:?}");
            }
            left.items.is_empty().then_some(())
        },
    )
    .await;
    node.kubectl(&["-n", NS, "apply", "-f", "examples/minimal.yaml"]);
    wait_available(&node, &client, VERSION).await;
    let api = login(&client, &web_root(&client).await).await;
    let again = api.get(&api.rebased(&project)).await;
    assert_eq!(again["name"], "on a real node", "{again}");
    for (url, bytes) in &outputs {
        let (_, now) = api.download(&api.rebased(url)).await;
        assert!(&now == bytes, "{url} is still served with the same bytes");
    }
    eprintln!("the whole scenario took {:.0?}", started.elapsed());
}

/// Creates (or keeps) namespace `name` with `labels`.
fn namespace(node: &Node, name: &str, labels: &[(&str, &str)]) {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}});
    node.kubectl_in(&["apply", "-f", "-"], &ns.to_string());
}

/// The first pod matching `labels` that is Ready.
async fn ready_pod(client: &Client, namespace: &str, labels: &str) -> Option<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = pods
        .list(&ListParams::default().labels(labels))
        .await
        .ok()?;
    list.items.into_iter().find(pod_ready)
}

async fn rodan(client: &Client) -> Option<Rodan> {
    Api::<Rodan>::namespaced(client.clone(), NS)
        .get_opt(NAME)
        .await
        .ok()
        .flatten()
}

/// Waits until the `Rodan` runs `version`, is Available, every component is ready and the
/// rollout is over.
async fn wait_available(node: &Node, client: &Client, version: &str) {
    node.wait(
        &format!("the Rodan Available at {version}"),
        NS,
        Duration::from_secs(600),
        || async {
            let status = rodan(client).await?.status?;
            let available = status
                .conditions
                .iter()
                .any(|c| c.type_ == "Available" && c.status == "True");
            let all_ready = status
                .components
                .iter()
                .all(|c| c.ready_replicas >= c.desired_replicas);
            // Rolled out: no pod of an older release is left.
            let settled = status
                .conditions
                .iter()
                .any(|c| c.type_ == "Progressing" && c.status == "False");
            (available && all_ready && settled && status.version.as_deref() == Some(version))
                .then_some(())
        },
    )
    .await;
}

/// Every pod of the Rodan is Ready (the migration Job's have completed), meets `restricted`
/// (the namespace enforces it, so it could not exist otherwise) and runs from the images built
/// here.
async fn check_pods(node: &Node, client: &Client) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let list = pods
        .list(&ListParams::default().labels("app.kubernetes.io/instance=rodan"))
        .await
        .expect("pods are listed");
    let mut components = std::collections::BTreeSet::new();
    for pod in &list.items {
        let component = pod
            .labels()
            .get("app.kubernetes.io/component")
            .cloned()
            .unwrap_or_default();
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
        if component == "migration" {
            assert_eq!(phase.as_deref(), Some("Succeeded"), "{}", pod.name_any());
        } else if pod.metadata.deletion_timestamp.is_none() {
            assert!(
                pod_ready(pod),
                "pod {} is Ready\n{}",
                pod.name_any(),
                node.diagnose(NS).await
            );
        }
        components.insert(component);
    }
    for want in [
        "api",
        "client",
        "migration",
        "postgres",
        "rabbitmq",
        "redis",
        "web",
        "worker",
    ] {
        assert!(
            components.contains(want),
            "a {want} pod runs: {components:?}"
        );
    }
}

/// The migration Job of `version` succeeded, and its pod ran `rodan-api-server migrate`.
async fn check_migration(node: &Node, client: &Client, version: &str) -> Job {
    let jobs: Api<Job> = Api::namespaced(client.clone(), NS);
    let prefix = format!("{NAME}-migrate-{}-", version.replace('.', "-"));
    let job = jobs
        .list(&ListParams::default())
        .await
        .expect("jobs are listed")
        .items
        .into_iter()
        .find(|j| j.name_any().starts_with(&prefix))
        .unwrap_or_else(|| panic!("a migration Job {prefix}*"));
    let status = job.status.clone().unwrap_or_default();
    assert_eq!(status.succeeded, Some(1), "{:?}", status);
    let logs = node.kubectl(&["-n", NS, "logs", &format!("job/{}", job.name_any())]);
    assert!(
        logs.contains("database is up to date"),
        "the migration pod ran `rodan-api-server migrate`: {logs}"
    );
    job
}

async fn web_root(client: &Client) -> String {
    let svc: Service = Api::namespaced(client.clone(), NS)
        .get(&rodan_types::services::web(NAME))
        .await
        .expect("the nginx Service");
    let ip = svc.spec.and_then(|s| s.cluster_ip).expect("a ClusterIP");
    format!("http://{ip}:{}", rodan_types::ports::WEB)
}

const CHECKSUM: &str = "rodan.ddmal.music.mcgill.ca/config-checksum";

/// The configuration checksum on the client Deployment's pod template.
async fn client_checksum(client: &Client) -> Option<String> {
    let deployment: Deployment = Api::namespaced(client.clone(), NS)
        .get(&rodan_operator::build::client::service(NAME))
        .await
        .ok()?;
    deployment
        .spec?
        .template
        .metadata?
        .annotations?
        .get(CHECKSUM)
        .cloned()
}

/// Whether the client Deployment's template has a configuration other than `before` (the
/// operator has reconciled the change) and its pods all run it, ready, with no old one left
/// serving: an old pod drains for a while after it is told to stop (its preStop sleep), and
/// nginx's kept-alive connections to it may still reach it until it is gone.
async fn client_rolled(client: &Client, before: &str) -> Option<()> {
    let want = client_checksum(client).await.filter(|now| now != before)?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let list = pods
        .list(&ListParams::default().labels(&format!(
            "app.kubernetes.io/instance={NAME},app.kubernetes.io/component=client"
        )))
        .await
        .ok()?;
    (!list.items.is_empty()
        && list.items.iter().all(|p| {
            p.metadata.deletion_timestamp.is_none()
                && pod_ready(p)
                && p.annotations().get(CHECKSUM) == Some(&want)
        }))
    .then_some(())
}

/// `/configuration.json` through nginx, when it answers with JSON.
async fn configuration(root: &str) -> Option<Value> {
    let resp = reqwest::get(format!("{root}/configuration.json"))
        .await
        .ok()?;
    if resp.status() != StatusCode::OK {
        return None;
    }
    resp.json().await.ok()
}

/// nginx serves upstream's web client at `/` (its page, its script, with a policy that lets it
/// run) and the `configuration.json` the operator rendered: `host` as SERVER_HOST, token
/// authentication, and the websocket where the host needs no port.
async fn web_client(root: &str, host: &str, socket: bool) {
    let page = reqwest::get(format!("{root}/"))
        .await
        .expect("nginx answers /");
    assert_eq!(page.status(), StatusCode::OK, "GET /");
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("script-src 'self' 'unsafe-eval'"), "{csp}");
    let html = page.text().await.expect("a page");
    assert!(html.contains("<title>Rodan Client</title>"), "{html:.300}");
    assert!(html.contains("rodan_client.min.js"), "{html:.300}");
    let script = reqwest::get(format!("{root}/rodan_client.min.js"))
        .await
        .expect("nginx answers");
    assert_eq!(script.status(), StatusCode::OK, "GET /rodan_client.min.js");
    let c = configuration(root)
        .await
        .expect("configuration.json through nginx");
    assert_eq!(c["SERVER_HOST"], host, "{c}");
    assert_eq!(c["SERVER_HTTPS"], false, "{c}");
    assert_eq!(c["SERVER_SOCKET_AVAILABLE"], socket, "{c}");
    assert_eq!(c["SERVER_AUTHENTICATION_TYPE"], "token", "{c}");
    // The API is still the API.
    let api = reqwest::get(format!("{root}/api/"))
        .await
        .expect("nginx answers /api/");
    assert_eq!(api.status(), StatusCode::OK, "GET /api/");
}

/// Logs in as the bootstrap superuser, whose credentials are in the `<name>-app` Secret.
async fn login(client: &Client, root: &str) -> Rest {
    let secret: Secret = Api::namespaced(client.clone(), NS)
        .get(&format!("{NAME}-app"))
        .await
        .expect("the app Secret");
    let data = secret.data.unwrap_or_default();
    let text = |key: &str| {
        String::from_utf8(data.get(key).map(|b| b.0.clone()).unwrap_or_default()).expect("UTF-8")
    };
    Rest::login(
        root,
        &text(secret_keys::ADMIN_EMAIL),
        &text(secret_keys::ADMIN_PASSWORD),
    )
    .await
}

type Events = Arc<Mutex<Vec<Value>>>;

/// Opens `/ws/rodan` through nginx and keeps every event it receives.
async fn listen(root: &str, token: &str) -> Events {
    let url = format!(
        "{}/ws/rodan?token={token}",
        root.replace("http://", "ws://")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("the websocket opens through nginx");
    let events: Events = Arc::default();
    let sink = events.clone();
    tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            if let tokio_tungstenite::tungstenite::Message::Text(text) = message
                && let Ok(event) = serde_json::from_str::<Value>(text.as_str())
                && let Ok(mut all) = sink.lock()
            {
                all.push(event);
            }
        }
    });
    events
}

async fn wait_event(events: &Events, model: &str, uuid: &str) {
    let start = Instant::now();
    loop {
        let seen: Vec<Value> = events.lock().map(|e| e.clone()).unwrap_or_default();
        if seen
            .iter()
            .any(|e| e["model"] == model && e["uuid"] == uuid)
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "an event of {model} {uuid} on /ws/rodan; got {} events: {:?}",
            seen.len(),
            seen.iter().rev().take(10).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until a run job of `run` is PROCESSING, then force-deletes the Python3 worker pod
/// (`--grace-period=0 --force`); returns the pod's name.
async fn kill_worker_mid_job(node: &Node, client: &Client, api: &Rest, run: &str) -> String {
    let start = Instant::now();
    let running = loop {
        let jobs = api.run_jobs(run).await;
        if let Some(j) = jobs.iter().find(|j| j["status"] == 1) {
            break j.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "a run job starts: {jobs:?}\n{}",
            node.diagnose(NS).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let worker = ready_pod(client, NS, PYTHON3_WORKERS)
        .await
        .expect("a Python3 worker pod");
    node.kubectl(&[
        "-n",
        NS,
        "delete",
        "pod",
        &worker.name_any(),
        "--grace-period=0",
        "--force",
    ]);
    let jobs = api.run_jobs(run).await;
    let left = jobs.iter().filter(|j| j["status"] != 4).count();
    eprintln!(
        "  killed {} while it ran {} ({} of {} run jobs unfinished)",
        worker.name_any(),
        running["job_name"],
        left,
        jobs.len()
    );
    assert!(left > 1, "the kill came before the run's end");
    worker.name_any()
}

/// The uuid of an object URL, as the database stores it (hex, no dashes).
fn uuid_hex(url: &str) -> String {
    url.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .replace('-', "")
}

async fn wait_run(node: &Node, api: &Rest, run: &str, within: Duration) {
    let start = Instant::now();
    loop {
        let status = api.get(run).await["status"].as_i64().unwrap_or(i64::MIN);
        if status == 4 {
            eprintln!("  run finished: {:.0?}", start.elapsed());
            return;
        }
        if status == -1 || start.elapsed() > within {
            panic!(
                "run {run} is {status} after {:.0?}:\n{:#?}\n{}",
                start.elapsed(),
                api.run_jobs(run).await,
                node.diagnose(NS).await
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Checks every page's three outputs through nginx: refused without a token, and with one,
/// equal in pixels to the reference pipeline (rodan-jobs in this process). Returns each
/// output's media URL and bytes.
async fn check_outputs(
    api: &Rest,
    run: &str,
    uploaded: &[Value],
    pages: &[(String, Vec<u8>)],
    document: &Value,
) -> Vec<(String, Vec<u8>)> {
    let settings: [Value; 3] = std::array::from_fn(|i| {
        let mut s = document["workflow_jobs"][i]["job_settings"].clone();
        if s.as_object().is_some_and(|o| o.is_empty()) {
            s = json!({});
        }
        s
    });
    let jobs = api.run_jobs(run).await;
    let mut kept = Vec::new();
    for (page, (name, png)) in uploaded.iter().zip(pages) {
        let hex = page["uuid"].as_str().expect("a uuid").replace('-', "");
        let expected = pages::reference(png, &settings);
        for (step, (job_name, _, port, mimetype)) in pages::PIPELINE.iter().enumerate() {
            let rj = jobs
                .iter()
                .find(|j| j["job_name"] == *job_name && j["resource_uuid"] == hex.as_str())
                .unwrap_or_else(|| panic!("a '{job_name}' run job for page {name}"));
            assert_eq!(rj["status"], 4, "{rj}");
            let output = api.get(rj["outputs"][0].as_str().expect("an output")).await;
            assert_eq!(output["output_port_type_name"], *port);
            let resource = api
                .get(output["resource"].as_str().expect("a resource"))
                .await;
            assert_eq!(resource["resource_type_mimetype"], *mimetype);
            let file = resource["resource_file"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(file.starts_with(&api.root), "media through nginx: {file}");
            let (anonymous, got) = api.download(&file).await;
            assert!(
                matches!(anonymous, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
                "{file} without a token: {anonymous}"
            );
            let what = format!("{job_name} on {name}");
            assert!(
                pages::pixels(&got, &what) == pages::pixels(&expected[step], "the reference"),
                "{what} equals the reference pipeline's output (kept as {} and {})",
                pages::keep(&format!("{what}.got.png"), &got),
                pages::keep(&format!("{what}.expected.png"), &expected[step])
            );
            kept.push((file, got));
        }
    }
    kept
}

/// `psql -tA -c sql` in the database pod, as the database's owner.
fn psql(node: &Node, sql: &str) -> String {
    node.kubectl(&[
        "-n",
        NS,
        "exec",
        &format!("{NAME}-postgres-0"),
        "--",
        "sh",
        "-c",
        &format!(
            "PGPASSWORD=\"$POSTGRES_PASSWORD\" psql -h 127.0.0.1 -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\" -tAc \"{sql}\""
        ),
    ])
}

/// Jobs finished by a worker pod, from its `/metrics` (port 9100, reached at the pod's IP).
async fn jobs_finished(pod: &Pod) -> u64 {
    let ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .expect("a pod IP");
    let text = reqwest::get(format!(
        "http://{ip}:{}/metrics",
        rodan_types::ports::WORKER_METRICS
    ))
    .await
    .expect("the worker's metrics answer")
    .text()
    .await
    .expect("text");
    text.lines()
        .filter(|l| l.starts_with("rodan_worker_jobs_finished"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

async fn more_workers_take_jobs(
    node: &Node,
    client: &Client,
    api: &Rest,
    workflow: &str,
    entry: &str,
    project: &str,
) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let selector = PYTHON3_WORKERS;
    let before: Vec<String> = pods
        .list(&ListParams::default().labels(selector))
        .await
        .expect("pods")
        .items
        .iter()
        .map(|p| p.name_any())
        .collect();
    set_workers(node, 2, 1);
    gpu_queue_waits(node, client).await;
    let workers: Vec<Pod> = node
        .wait(
            "two Python3 workers Ready",
            NS,
            Duration::from_secs(180),
            || async {
                let list = pods
                    .list(&ListParams::default().labels(selector))
                    .await
                    .ok()?;
                let ready: Vec<Pod> = list.items.into_iter().filter(pod_ready).collect();
                (ready.len() == 2).then_some(ready)
            },
        )
        .await;
    let new = workers
        .iter()
        .find(|p| !before.contains(&p.name_any()))
        .expect("a new worker pod");
    let pages: Vec<(String, Vec<u8>)> = (0..6)
        .map(|i| (format!("scaled-{i:03}.png"), pages::page(400 + i, 400)))
        .collect();
    let uploaded = api.upload(project, &pages).await;
    let run = api.run(workflow, entry, &uploaded).await;
    wait_run(node, api, &run, Duration::from_secs(300)).await;
    let finished = jobs_finished(new).await;
    assert!(
        finished > 0,
        "the new worker {} finished jobs of the run",
        new.name_any()
    );
    eprintln!(
        "  the new worker {} finished {finished} jobs",
        new.name_any()
    );
    set_workers(node, 2, 0);
}

/// `kubectl patch`es the queues: `python3` workers for `Python3`, `gpu` (one GPU each) for
/// `GPU`, the default for `celery`.
fn set_workers(node: &Node, python3: u32, gpu: u32) {
    let patch = json!({"spec": {"workers": [
        {"name": "celery"},
        {"name": "Python3", "replicas": python3},
        {"name": "GPU", "replicas": gpu, "gpus": 1},
    ]}});
    node.kubectl(&[
        "-n",
        NS,
        "patch",
        "rodan",
        NAME,
        "--type",
        "merge",
        "-p",
        &patch.to_string(),
    ]);
}

/// The node has no GPUs: the GPU queue's worker cannot be scheduled, which the status and a
/// Warning Event report, while the rest of Rodan stays Available.
async fn gpu_queue_waits(node: &Node, client: &Client) {
    let message = node
        .wait(
            "the GPU queue reported as waiting for GPU nodes",
            NS,
            Duration::from_secs(180),
            || async {
                let status = rodan(client).await?.status?;
                let gpu = status.queues.iter().find(|q| q.name == "GPU")?;
                gpu.message
                    .clone()
                    .filter(|m| m.starts_with("waiting for GPU nodes"))
            },
        )
        .await;
    assert!(
        message.contains("nvidia.com/gpu"),
        "the scheduler's reason: {message}"
    );
    let status = rodan(client)
        .await
        .and_then(|r| r.status)
        .expect("a status");
    let condition = |t: &str| {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == t)
            .map(|c| (c.status.clone(), c.reason.clone()))
    };
    assert_eq!(
        condition("Available"),
        Some(("True".to_owned(), "AllComponentsReady".to_owned()))
    );
    assert_eq!(
        condition("Degraded"),
        Some(("True".to_owned(), "WaitingForGPUNodes".to_owned()))
    );
    let events = node.kubectl(&[
        "-n",
        NS,
        "get",
        "events",
        "--field-selector",
        "reason=WaitingForGPUNodes,type=Warning",
        "-o",
        "name",
    ]);
    assert!(
        !events.trim().is_empty(),
        "a Warning Event WaitingForGPUNodes"
    );
    eprintln!("  GPU queue: {message}");
}

async fn upgrade(node: &Node, client: &Client) {
    Api::<Rodan>::namespaced(client.clone(), NS)
        .patch(
            NAME,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"version": NEXT_VERSION}})),
        )
        .await
        .expect("the version is patched");
    wait_available(node, client, NEXT_VERSION).await;
    let job = check_migration(node, client, NEXT_VERSION).await;
    let finished = job
        .status
        .and_then(|s| s.completion_time)
        .expect("the Job's completion time")
        .0;
    let api: Deployment = Api::namespaced(client.clone(), NS)
        .get(&rodan_types::services::api(NAME))
        .await
        .expect("the API Deployment");
    let image = api
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref()?.containers[0].image.clone());
    assert_eq!(
        image.as_deref(),
        Some(format!("ghcr.io/ddmal/rodan-api-server:{NEXT_VERSION}").as_str())
    );
    // The API's new ReplicaSet was made after the migration finished: the rollout waited.
    let sets: Api<k8s_openapi::api::apps::v1::ReplicaSet> = Api::namespaced(client.clone(), NS);
    let newest = sets
        .list(&ListParams::default().labels("app.kubernetes.io/component=api"))
        .await
        .expect("replica sets")
        .items
        .into_iter()
        .filter(|rs| {
            rs.spec
                .as_ref()
                .and_then(|s| {
                    s.template.as_ref()?.spec.as_ref()?.containers[0]
                        .image
                        .clone()
                })
                .is_some_and(|i| i.ends_with(NEXT_VERSION))
        })
        .filter_map(|rs| rs.metadata.creation_timestamp.map(|t| t.0))
        .min()
        .expect("a ReplicaSet of the new version");
    assert!(
        newest >= finished,
        "the API rolled ({newest:?}) only after the migration ({finished:?})"
    );
}

/// A pod in another namespace cannot reach the backing services; a pod of the Rodan can; both
/// reach nginx, which no policy isolates (so the probe itself works); neither reaches the web
/// client, which only nginx may.
async fn network_policies(node: &Node, client: &Client) {
    // (Service, port, closed to outsiders, closed to the Rodan's other pods)
    let targets = [
        (
            rodan_types::services::postgres(NAME),
            rodan_types::ports::POSTGRES,
            true,
            false,
        ),
        (
            rodan_types::services::rabbitmq(NAME),
            rodan_types::ports::AMQP,
            true,
            false,
        ),
        (
            rodan_types::services::redis(NAME),
            rodan_types::ports::REDIS,
            true,
            false,
        ),
        (
            rodan_types::services::web(NAME),
            rodan_types::ports::WEB,
            false,
            false,
        ),
        (
            rodan_operator::build::client::service(NAME),
            rodan_operator::build::client::PORT,
            true,
            true,
        ),
    ];
    // Each target is tried `tries` times, a second apart: kube-router lets a new pod of the
    // Rodan in once it has seen the pod, a moment after the pod starts. A target expected
    // closed gets one try, since its policies have been in place since the Rodan was created.
    let script = |insider: bool, tries: u32| -> String {
        targets
            .iter()
            .map(|(host, port, _, closed_inside)| {
                let tries = if insider && !closed_inside { tries } else { 1 };
                format!(
                    "r={host}=closed; for i in $(seq {tries}); do if timeout 5 bash -c '</dev/tcp/{host}.{NS}.svc.cluster.local/{port}' 2>/dev/null; then r={host}=open; break; fi; sleep 1; done; echo $r; "
                )
            })
            .collect()
    };
    namespace(node, "outsider", &[]);
    for (namespace, labels, insider) in [
        ("outsider", json!({"probe": "outsider"}), false),
        (
            NS,
            json!({"app.kubernetes.io/name": "rodan", "app.kubernetes.io/instance": NAME, "probe": "insider"}),
            true,
        ),
    ] {
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "probe", "namespace": namespace, "labels": labels},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": false,
                "securityContext": {"runAsNonRoot": true, "runAsUser": 999, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "probe",
                    "image": "docker.io/library/redis:7.2",
                    "command": ["bash", "-c", script(insider, 10)],
                    "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}},
                }],
            },
        });
        node.kubectl_in(&["apply", "-f", "-"], &pod.to_string());
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        node.wait(
            &format!("the probe in {namespace} done"),
            namespace,
            Duration::from_secs(120),
            || async {
                let p = pods.get("probe").await.ok()?;
                let phase = p.status?.phase?;
                (phase == "Succeeded" || phase == "Failed").then_some(())
            },
        )
        .await;
        let out = node.kubectl(&["-n", namespace, "logs", "probe"]);
        eprintln!(
            "  from {namespace}: {}",
            out.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        for (host, _, closed_outside, closed_inside) in &targets {
            let closed = if insider {
                *closed_inside
            } else {
                *closed_outside
            };
            let want = if closed { "closed" } else { "open" };
            assert!(
                out.contains(&format!("{host}={want}")),
                "from {namespace}, {host} is {want}: {out}"
            );
        }
        node.kubectl(&["-n", namespace, "delete", "pod", "probe", "--wait=true"]);
    }
    node.kubectl(&["delete", "namespace", "outsider", "--wait=true"]);
}
