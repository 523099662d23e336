//! A real Kubernetes control plane for the operator's tests: etcd, kube-apiserver and
//! kube-controller-manager built from the Go module proxy by `scripts/build-control-plane.sh`,
//! started on loopback on free ports in a temporary directory, and killed on drop.
//!
//! The apiserver authenticates a static admin token and service-account tokens, authorises with
//! RBAC, and writes an audit log of the operator's requests (its service account's).

#![allow(dead_code, unreachable_pub)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

/// Namespace and name of the operator's ServiceAccount, as the Helm chart creates it for a
/// release named `rodan-operator`.
pub const OPERATOR_ACCOUNT: (&str, &str) = ("rodan-system", "rodan-operator");
/// The user name the operator authenticates as: its ServiceAccount.
pub const OPERATOR_USER: &str = "system:serviceaccount:rodan-system:rodan-operator";
const ADMIN_TOKEN: &str = "admin-token-for-tests";

/// A running control plane.
pub struct ControlPlane {
    dir: tempfile::TempDir,
    processes: Vec<(String, Child)>,
    /// `https://127.0.0.1:<port>`.
    pub url: String,
    /// Admin kubeconfig path.
    pub admin_kubeconfig: PathBuf,
    /// The apiserver's audit log (JSON lines), operator requests only.
    pub audit_log: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Runs one of the project's build scripts and returns the directory it prints last.
fn script_output_dir(script: &str) -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(script);
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed", script.display()));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    Ok(PathBuf::from(
        stdout.lines().last().unwrap_or_default().trim(),
    ))
}

/// The directory with the control-plane binaries: `RODAN_CONTROL_PLANE_BIN`, or what the build
/// script prints (it builds them on first use, then answers from its cache).
pub fn binaries() -> Result<PathBuf, String> {
    match std::env::var("RODAN_CONTROL_PLANE_BIN") {
        Ok(dir) => Ok(PathBuf::from(dir)),
        Err(_) => script_output_dir("build-control-plane.sh"),
    }
}

/// The directory of KEDA's CRDs fetched by `scripts/fetch-keda-crds.sh`.
pub fn keda_crds() -> Result<PathBuf, String> {
    script_output_dir("fetch-keda-crds.sh")
}

/// The kubectl binary fetched by `scripts/build-tools.sh`.
pub fn kubectl() -> Result<PathBuf, String> {
    Ok(script_output_dir("build-tools.sh")?.join("kubectl"))
}

fn kubeconfig(url: &str, token: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: {url}
    insecure-skip-tls-verify: true
users:
- name: user
  user:
    token: {token}
contexts:
- name: test
  context:
    cluster: test
    user: user
current-context: test
"
    )
}

impl ControlPlane {
    /// Starts etcd, kube-apiserver and kube-controller-manager and waits until the apiserver is
    /// ready.
    pub async fn start() -> Result<Self, String> {
        Self::start_with(true).await
    }

    /// Like [`ControlPlane::start`]; without kube-controller-manager when `controller_manager`
    /// is false (benchmarks measure the operator, not the controllers' work).
    pub async fn start_with(controller_manager: bool) -> Result<Self, String> {
        let bin = binaries()?;
        let dir = tempfile::Builder::new()
            .prefix("rodan-control-plane-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let root = dir.path().to_owned();
        let mut cp = ControlPlane {
            url: String::new(),
            admin_kubeconfig: root.join("admin.kubeconfig"),
            audit_log: root.join("audit.log"),
            processes: Vec::new(),
            dir,
        };
        let write = |name: &str, content: &str| {
            fs::write(root.join(name), content).map_err(|e| format!("write {name}: {e}"))
        };
        let status = Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(root.join("sa.key"))
            .arg("2048")
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("openssl: {e}"))?;
        if !status.success() {
            return Err("openssl genrsa failed".into());
        }
        let status = Command::new("openssl")
            .args(["rsa", "-pubout", "-in"])
            .arg(root.join("sa.key"))
            .arg("-out")
            .arg(root.join("sa.pub"))
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("openssl: {e}"))?;
        if !status.success() {
            return Err("openssl rsa failed".into());
        }
        write(
            "tokens.csv",
            &format!("{ADMIN_TOKEN},admin,admin-uid,\"system:masters\"\n"),
        )?;
        write(
            "audit-policy.yaml",
            &format!(
                "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  users: [\"{OPERATOR_USER}\"]
- level: None
"
            ),
        )?;

        let etcd_port = free_port();
        let peer_port = free_port();
        let api_port = free_port();
        let kcm_port = free_port();
        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        cp.spawn(
            "etcd",
            Command::new(bin.join("etcd"))
                .arg("--data-dir")
                .arg(root.join("etcd"))
                .args(["--listen-client-urls", &etcd_url])
                .args(["--advertise-client-urls", &etcd_url])
                .args(["--listen-peer-urls", &peer_url])
                .args(["--initial-advertise-peer-urls", &peer_url])
                .args(["--initial-cluster", &format!("default={peer_url}")])
                .args(["--unsafe-no-fsync", "--log-level", "warn"]),
        )?;
        cp.url = format!("https://127.0.0.1:{api_port}");
        cp.spawn(
            "kube-apiserver",
            Command::new(bin.join("kube-apiserver"))
                .args(["--etcd-servers", &etcd_url])
                .args([
                    "--bind-address",
                    "127.0.0.1",
                    "--advertise-address",
                    "127.0.0.1",
                ])
                .args(["--secure-port", &api_port.to_string()])
                .arg("--cert-dir")
                .arg(root.join("certs"))
                .args(["--service-account-issuer", "https://kubernetes.default.svc"])
                .arg("--service-account-key-file")
                .arg(root.join("sa.pub"))
                .arg("--service-account-signing-key-file")
                .arg(root.join("sa.key"))
                .args(["--service-cluster-ip-range", "10.96.0.0/16"])
                .arg("--token-auth-file")
                .arg(root.join("tokens.csv"))
                .args(["--authorization-mode", "RBAC"])
                .arg("--audit-policy-file")
                .arg(root.join("audit-policy.yaml"))
                .arg("--audit-log-path")
                .arg(&cp.audit_log)
                .args(["--audit-log-format", "json", "--audit-log-mode", "blocking"]),
        )?;
        fs::write(&cp.admin_kubeconfig, kubeconfig(&cp.url, ADMIN_TOKEN))
            .map_err(|e| e.to_string())?;
        cp.wait_ready().await?;
        if !controller_manager {
            return Ok(cp);
        }
        cp.spawn(
            "kube-controller-manager",
            Command::new(bin.join("kube-controller-manager"))
                .arg("--kubeconfig")
                .arg(&cp.admin_kubeconfig)
                .arg("--authentication-kubeconfig")
                .arg(&cp.admin_kubeconfig)
                .arg("--authorization-kubeconfig")
                .arg(&cp.admin_kubeconfig)
                .args(["--leader-elect=false", "--bind-address", "127.0.0.1"])
                .args(["--secure-port", &kcm_port.to_string()])
                .arg("--service-account-private-key-file")
                .arg(root.join("sa.key"))
                .arg("--root-ca-file")
                .arg(root.join("certs/apiserver.crt"))
                .args(["--use-service-account-credentials=false"])
                .args(["--concurrent-gc-syncs", "5"]),
        )?;
        Ok(cp)
    }

    fn spawn(&mut self, name: &str, cmd: &mut Command) -> Result<(), String> {
        let log = fs::File::create(self.dir.path().join(format!("{name}.log")))
            .map_err(|e| e.to_string())?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        self.processes.push((name.to_owned(), child));
        Ok(())
    }

    /// The last lines of a component's log, for failure messages.
    pub fn log_tail(&self, name: &str) -> String {
        let text =
            fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let exited =
                self.processes
                    .iter_mut()
                    .find_map(|(name, child)| match child.try_wait() {
                        Ok(Some(status)) => Some((name.clone(), status)),
                        _ => None,
                    });
            if let Some((name, status)) = exited {
                return Err(format!(
                    "{name} exited with {status}:\n{}",
                    self.log_tail(&name)
                ));
            }
            if let Ok(client) = self.client_for(&self.admin_kubeconfig).await {
                let req = http::Request::get("/readyz")
                    .body(Vec::new())
                    .map_err(|e| e.to_string())?;
                if let Ok(text) = client.request_text(req).await
                    && text.trim() == "ok"
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "kube-apiserver not ready in 90 s:\n{}",
                    self.log_tail("kube-apiserver")
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn client_for(&self, path: &Path) -> Result<Client, String> {
        let kc = Kubeconfig::read_from(path).map_err(|e| e.to_string())?;
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        Client::try_from(config).map_err(|e| e.to_string())
    }

    /// A client authenticated as cluster admin.
    pub async fn admin(&self) -> Client {
        self.client_for(&self.admin_kubeconfig)
            .await
            .expect("the admin kubeconfig works")
    }

    /// A client authenticated as a ServiceAccount, through a token from the TokenRequest API.
    pub async fn service_account(&self, namespace: &str, name: &str) -> Result<Client, String> {
        let path = self.service_account_kubeconfig(namespace, name).await?;
        self.client_for(&path).await
    }

    /// A kubeconfig file authenticating as a ServiceAccount.
    pub async fn service_account_kubeconfig(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<PathBuf, String> {
        let accounts: Api<ServiceAccount> = Api::namespaced(self.admin().await, namespace);
        let request: TokenRequest = serde_json::from_value(json!({
            "spec": {"audiences": [], "expirationSeconds": 86400}
        }))
        .map_err(|e| e.to_string())?;
        let token = accounts
            .create_token_request(name, &PostParams::default(), &request)
            .await
            .map_err(|e| format!("token for {namespace}/{name}: {e}"))?
            .status
            .ok_or("the TokenRequest has no status")?
            .token;
        let path = self
            .dir
            .path()
            .join(format!("{namespace}-{name}.kubeconfig"));
        fs::write(&path, kubeconfig(&self.url, &token)).map_err(|e| e.to_string())?;
        Ok(path)
    }

    /// Runs a command as the admin (`--kubeconfig` first) and returns its standard output.
    fn run_tool(
        &self,
        tool: PathBuf,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<String, String> {
        use std::io::Write as _;
        let mut child = Command::new(&tool)
            .arg("--kubeconfig")
            .arg(&self.admin_kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", tool.display()))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input.as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "{} {args:?} failed: {}",
                tool.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs helm as the admin.
    pub fn helm(&self, args: &[&str]) -> Result<String, String> {
        self.run_tool(
            script_output_dir("build-tools.sh")?.join("helm"),
            args,
            None,
        )
    }

    /// Runs kubectl as the admin, with `stdin` as its input.
    pub fn kubectl_with_input(&self, args: &[&str], stdin: &str) -> Result<String, String> {
        self.run_tool(kubectl()?, args, Some(stdin))
    }

    /// Runs kubectl as the admin and returns its standard output.
    pub fn kubectl(&self, args: &[&str]) -> Result<String, String> {
        self.run_tool(kubectl()?, args, None)
    }

    /// The operator's requests in the apiserver's audit log, one JSON event each.
    pub fn operator_events(&self) -> Vec<serde_json::Value> {
        fs::read_to_string(&self.audit_log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|event| event["user"]["username"] == OPERATOR_USER)
            .collect()
    }

    /// The operator's requests about objects in one namespace, counted by verb.
    pub fn operator_requests(&self, namespace: &str) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for event in self.operator_events() {
            if event["objectRef"]["namespace"] == namespace {
                let verb = event["verb"].as_str().unwrap_or_default().to_owned();
                *counts.entry(verb).or_insert(0) += 1;
            }
        }
        counts
    }

    /// The temporary directory holding logs and configuration.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        for (_, child) in self.processes.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn rfc3339(t: &k8s_openapi::jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Plays the kubelet or the scheduler for the pods `selector` picks (neither runs on this
/// control plane): waits until the controllers created some, then merges `status` into each
/// one's status. `lastTransitionTime` is set on every condition.
pub async fn set_pod_status(pods: &Api<Pod>, selector: &str, mut status: serde_json::Value) {
    let now = rfc3339(&k8s_openapi::jiff::Timestamp::now());
    for condition in status["conditions"].as_array_mut().into_iter().flatten() {
        condition["lastTransitionTime"] = json!(now);
    }
    let names = eventually(
        &format!("pods {selector}"),
        Duration::from_secs(60),
        || async {
            let list = pods
                .list(&ListParams::default().labels(selector))
                .await
                .ok()?;
            let names: Vec<String> = list
                .items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .filter_map(|p| p.metadata.name)
                .collect();
            (!names.is_empty()).then_some(names)
        },
    )
    .await;
    for name in names {
        pods.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .expect("the pod status is patched");
    }
}

/// Plays the kubelet for a Job (no pod runs on this control plane): marks it succeeded, or
/// failed after its retries, once the Job controller has started it.
pub async fn finish_job(jobs: &Api<Job>, name: &str, succeeded: bool) {
    let format = rfc3339;
    let now = format(&k8s_openapi::jiff::Timestamp::now());
    // The start time the Job controller recorded may not move.
    let started = eventually(
        "the Job controller to start the Job",
        Duration::from_secs(30),
        || async { jobs.get(name).await.ok()?.status?.start_time },
    )
    .await;
    let condition = |type_: &str, reason: &str| {
        json!({"type": type_, "status": "True", "reason": reason, "message": "set by the test harness",
               "lastTransitionTime": now, "lastProbeTime": now})
    };
    let mut status = json!({
        "startTime": format(&started.0),
        "active": 0,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    });
    if succeeded {
        status["completionTime"] = json!(now);
        status["succeeded"] = json!(1);
        status["conditions"] = json!([
            condition("SuccessCriteriaMet", "CompletionsReached"),
            condition("Complete", "CompletionsReached"),
        ]);
    } else {
        status["failed"] = json!(5);
        status["conditions"] = json!([
            condition("FailureTarget", "BackoffLimitExceeded"),
            condition("Failed", "BackoffLimitExceeded"),
        ]);
    }
    jobs.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await
    .expect("the Job status is patched");
}
