//! Operator benchmark against a real control plane (etcd + kube-apiserver on loopback; no
//! controller-manager, so only the operator's own work is measured). The operator runs as its
//! release binary, in its own process, under the Helm chart's ServiceAccount and RBAC.
//!
//! `scripts/bench.sh` builds the release binary and runs this; it prints a Markdown report.
//!
//! Measures: time from applying a `Rodan` to every child created and the status written
//! (median and p95); API requests of a first and of a steady-state reconcile (from the
//! apiserver's audit log); resident memory with 1, 100 and 1000 `Rodan`s; time to reconcile 1000
//! `Rodan`s from a cold start (created while the operator was down), and after a restart.

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use harness::{ControlPlane, OPERATOR_ACCOUNT};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use rodan_operator::crd::Rodan;
use serde_json::{Value, json};

const NAMESPACES: usize = 10;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

struct Operator {
    child: Child,
    metrics: String,
}

impl Operator {
    fn start(binary: &Path, kubeconfig: &Path) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(binary)
            .args(["run", "--log-format", "text", "--log"])
            .arg(std::env::var("BENCH_OPERATOR_LOG").unwrap_or_else(|_| "warn".into()))
            .arg("--metrics-address")
            .arg(format!("127.0.0.1:{port}"))
            .env("KUBECONFIG", kubeconfig)
            .stdout(Stdio::from(std::fs::File::create(
                std::env::temp_dir().join("rodan-bench-operator.log"),
            )?))
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Self {
            child,
            metrics: format!("127.0.0.1:{port}"),
        })
    }

    /// Resident set size, its peak and its anonymous part (the heap; the rest is mapped files,
    /// mostly the binary's own pages), in MiB, from /proc.
    fn memory(&self) -> (f64, f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1024.0
        };
        (field("VmRSS:"), field("VmHWM:"), field("RssAnon:"))
    }

    /// One metric's value from `/metrics` (summed over its labels).
    async fn metric(&self, name: &str) -> f64 {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(&self.metrics) else {
            return 0.0;
        };
        let req = "GET /metrics HTTP/1.0\r\nHost: bench\r\n\r\n";
        if stream.write_all(req.as_bytes()).is_err() {
            return 0.0;
        }
        let mut body = String::new();
        let _ = stream.read_to_string(&mut body);
        body.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter(|l| l[name.len()..].starts_with([' ', '{']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    fn stop(self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        // Drop waits for the graceful exit.
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        // On an early return, do not leave the operator running against a dead control plane.
        if let Ok(None) = self.child.try_wait() {
            std::thread::sleep(Duration::from_millis(500));
            if let Ok(None) = self.child.try_wait() {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

fn rodan(name: &str) -> Value {
    json!({
        "apiVersion": "rodan.ddmal.music.mcgill.ca/v1alpha1",
        "kind": "Rodan",
        "metadata": {"name": name},
        "spec": {},
    })
}

async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}}))?,
        )
        .await?;
    Ok(())
}

/// Applies `count` Rodans named `r-<i>` spread over the bench namespaces, 32 at a time.
async fn create_rodans(client: &Client, from: usize, count: usize) {
    stream::iter(from..from + count)
        .for_each_concurrent(32, |i| {
            let client = client.clone();
            async move {
                let ns = format!("bench-{}", i % NAMESPACES);
                let name = format!("r-{i}");
                let api: Api<Rodan> = Api::namespaced(client, &ns);
                if let Err(e) = api
                    .patch(
                        &name,
                        &PatchParams::apply("bench"),
                        &Patch::Apply(rodan(&name)),
                    )
                    .await
                {
                    eprintln!("create {ns}/{name}: {e}");
                }
            }
        })
        .await;
}

/// Waits until `expected` Rodans in the bench namespaces have a status for their generation.
async fn wait_reconciled(
    client: &Client,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let api: Api<Rodan> = Api::all(client.clone());
    loop {
        let list = api.list(&ListParams::default()).await?;
        let done = list
            .items
            .iter()
            .filter(|r| r.namespace().is_some_and(|n| n.starts_with("bench-")))
            .filter(|r| {
                r.status.as_ref().and_then(|s| s.observed_generation) == r.metadata.generation
            })
            .count();
        if done >= expected {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "only {done} of {expected} reconciled in {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until a metric stops moving for `quiet`.
async fn wait_quiet(op: &Operator, metric: &str, quiet: Duration) {
    let mut last = op.metric(metric).await;
    let mut since = Instant::now();
    while since.elapsed() < quiet {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = op.metric(metric).await;
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn install_operator_chart(cp: &ControlPlane) -> anyhow::Result<PathBuf> {
    let (account_ns, account) = OPERATOR_ACCOUNT;
    cp.helm(&[
        "install",
        account,
        repo()
            .join("charts/rodan-operator")
            .to_str()
            .unwrap_or_default(),
        "--namespace",
        account_ns,
        "--create-namespace",
    ])
    .map_err(anyhow::Error::msg)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cp.service_account_kubeconfig(account_ns, account)
        .await
        .map_err(anyhow::Error::msg)
}

/// A new control plane without controller-manager, with the operator's chart installed and the
/// bench namespaces created: the control plane, an admin client and the operator's kubeconfig.
async fn fresh_control_plane() -> anyhow::Result<(ControlPlane, Client, PathBuf)> {
    let cp = ControlPlane::start_with(false)
        .await
        .map_err(anyhow::Error::msg)?;
    let admin = cp.admin().await;
    let kubeconfig = install_operator_chart(&cp).await?;
    for i in 0..NAMESPACES {
        create_namespace(&admin, &format!("bench-{i}")).await?;
    }
    Ok((cp, admin, kubeconfig))
}

/// RSS figures of the operator: now, its peak, and the anonymous part of now.
fn rss(memory: (f64, f64, f64)) -> String {
    let (rss, peak, anon) = memory;
    format!("{rss:.1} MiB ({anon:.1} anonymous, peak {peak:.1} MiB)")
}

/// Phase 1, on a fresh control plane: latency, request counts, memory idle and with 1 and 100
/// `Rodan`s. Returns the report's rows.
async fn small(binary: &Path, runs: usize) -> anyhow::Result<Vec<String>> {
    eprintln!("bench: phase 1: starting etcd and kube-apiserver");
    let (cp, admin, kubeconfig) = fresh_control_plane().await?;
    create_namespace(&admin, "latency").await?;
    let op = Operator::start(binary, &kubeconfig)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = op.memory();

    eprintln!("bench: {runs} single-Rodan runs");
    let latency: Api<Rodan> = Api::namespaced(admin.clone(), "latency");
    let mut times = Vec::new();
    for run in 0..runs {
        let name = format!("l-{run}");
        let started = Instant::now();
        latency
            .patch(
                &name,
                &PatchParams::apply("bench"),
                &Patch::Apply(rodan(&name)),
            )
            .await?;
        loop {
            let r = latency.get(&name).await?;
            if r.status.as_ref().and_then(|s| s.observed_generation) == r.metadata.generation {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "run {run} timed out"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let children = cp
        .kubectl(&[
            "-n",
            "latency",
            "get",
            "statefulsets,deployments,jobs,services,configmaps,secrets,pvc,networkpolicies",
            "-l",
            "app.kubernetes.io/instance=l-0",
            "-o",
            "name",
        ])
        .map_err(anyhow::Error::msg)?
        .lines()
        .count();

    wait_quiet(&op, "rodan_operator_writes_total", Duration::from_secs(3)).await;
    create_namespace(&admin, "calls").await?;
    let calls: Api<Rodan> = Api::namespaced(admin.clone(), "calls");
    calls
        .patch("c", &PatchParams::apply("bench"), &Patch::Apply(rodan("c")))
        .await?;
    wait_quiet(&op, "rodan_operator_writes_total", Duration::from_secs(3)).await;
    let first = cp.operator_requests("calls");
    let reconciles_before = op.metric("rodan_operator_reconciles_total").await;
    for i in 0..10 {
        calls
            .patch(
                "c",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"bench/poke": i.to_string()}}})),
            )
            .await?;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let steady_reconciles = op.metric("rodan_operator_reconciles_total").await - reconciles_before;
    let after = cp.operator_requests("calls");
    let steady: usize = after.values().sum::<usize>() - first.values().sum::<usize>();

    let mut rows = vec![
        format!(
            "| apply → {children} children created and status written, median | {:.0} ms |",
            percentile(&times, 0.5)
        ),
        format!(
            "| same, p95 ({runs} runs) | {:.0} ms |",
            percentile(&times, 0.95)
        ),
        format!(
            "| API requests until a new Rodan settles (first reconciles) | {} ({}) |",
            first.values().sum::<usize>(),
            first
                .iter()
                .map(|(v, n)| format!("{n} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!("| API requests in {steady_reconciles:.0} steady-state reconciles | {steady} |"),
        format!("| operator RSS, idle (no Rodan) | {} |", rss(idle)),
    ];
    let mut created = 0;
    for target in [1usize, 100] {
        eprintln!("bench: {target} Rodans");
        create_rodans(&admin, created, target - created).await;
        created = target;
        wait_reconciled(&admin, target, Duration::from_secs(600)).await?;
        wait_quiet(&op, "rodan_operator_writes_total", Duration::from_secs(5)).await;
        let memory = op.memory();
        let cached = op.metric("rodan_operator_cached_objects").await;
        rows.push(format!(
            "| operator RSS with {target} Rodans (+{} others) | {}, {cached:.0} cached children |",
            runs + 1,
            rss(memory)
        ));
    }
    op.stop();
    drop(cp);
    Ok(rows)
}

/// Phase 2, on a new control plane: `total` Rodans created while no operator runs, then a cold
/// start, then a restart with everything in place. Returns the report's rows.
async fn large(binary: &Path, total: usize) -> anyhow::Result<Vec<String>> {
    eprintln!("bench: phase 2: cold start with {total} Rodans");
    let (cp, admin, kubeconfig) = fresh_control_plane().await?;
    create_rodans(&admin, 0, total).await;
    let started = Instant::now();
    let op = Operator::start(binary, &kubeconfig)?;
    wait_reconciled(&admin, total, Duration::from_secs(900)).await?;
    let cold = started.elapsed();
    wait_quiet(&op, "rodan_operator_writes_total", Duration::from_secs(5)).await;
    let cold_writes = op.metric("rodan_operator_writes_total").await;
    let cold_memory = op.memory();
    let cold_cached = op.metric("rodan_operator_cached_objects").await;
    // What stays once the burst is over: the figure a cluster admin sees on a quiet operator.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let quiet_memory = op.memory();
    op.stop();

    eprintln!("bench: restart with {total} Rodans in place");
    let started = Instant::now();
    let op = Operator::start(binary, &kubeconfig)?;
    loop {
        if op.metric("rodan_operator_reconciles_total").await >= total as f64 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "restart timed out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let restart = started.elapsed();
    wait_quiet(&op, "rodan_operator_writes_total", Duration::from_secs(3)).await;
    let restart_writes = op.metric("rodan_operator_writes_total").await;
    let restart_memory = op.memory();
    op.stop();
    drop(cp);

    Ok(vec![
        format!(
            "| cold start: {total} Rodans, none reconciled yet → every status written | {:.1} s ({cold_writes:.0} writes) |",
            cold.as_secs_f64()
        ),
        format!(
            "| operator RSS with {total} Rodans, after the cold start | {}, {cold_cached:.0} cached children |",
            rss(cold_memory)
        ),
        format!("| same, 30 s later | {} |", rss(quiet_memory)),
        format!(
            "| restart with {total} Rodans in place → each reconciled once | {:.1} s ({restart_writes:.0} writes) |",
            restart.as_secs_f64()
        ),
        format!(
            "| operator RSS after the restart | {} |",
            rss(restart_memory)
        ),
    ])
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let binary = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| format!("{}/target/release/rodan-operator", repo().display())),
    );
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let total: usize = std::env::var("BENCH_RODANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);

    // BENCH_RUNS=0 or BENCH_RODANS=0 skips a phase, for quicker memory experiments.
    let mut rows = Vec::new();
    if runs > 0 {
        rows.extend(small(&binary, runs).await?);
    }
    if total > 0 {
        rows.extend(large(&binary, total).await?);
    }
    println!("| measure | value |");
    println!("|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}
