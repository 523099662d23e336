//! The node's side: a kube client, kubectl and helm, waiting for objects, and what a failing
//! pod says (its events, `kubectl describe`, its logs) so that a red run tells why.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

/// The node `scripts/node.sh up` started, as its `env` file describes it.
#[derive(Debug, Clone)]
pub struct Node {
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// The repository root.
    pub repo: PathBuf,
}

impl Node {
    /// The node named by `RODAN_NODE_DIR`, if any.
    pub fn from_env() -> Option<Self> {
        let dir = PathBuf::from(std::env::var_os("RODAN_NODE_DIR")?);
        Some(Self {
            kubeconfig: dir.join("admin.kubeconfig"),
            repo: Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
        })
    }

    /// A client authenticated as cluster admin.
    pub async fn client(&self) -> Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig).expect("the kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("a client configuration");
        Client::try_from(config).expect("a client")
    }

    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> (bool, String) {
        use std::io::Write;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(&self.repo)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(if stdin.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{program} runs: {e}"));
        if let Some(input) = stdin
            && let Some(mut pipe) = child.stdin.take()
        {
            pipe.write_all(input.as_bytes()).expect("stdin is written");
        }
        let out = child.wait_with_output().expect("the command ends");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// `kubectl args...`; its output, or a panic with it.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let (ok, text) = self.run("kubectl", args, None);
        assert!(ok, "kubectl {}: {text}", args.join(" "));
        text
    }

    /// `kubectl args...` with `input` on stdin.
    pub fn kubectl_in(&self, args: &[&str], input: &str) -> String {
        let (ok, text) = self.run("kubectl", args, Some(input));
        assert!(ok, "kubectl {}: {text}", args.join(" "));
        text
    }

    /// `helm args...`; its output, or a panic with it.
    pub fn helm(&self, args: &[&str]) -> String {
        let (ok, text) = self.run("helm", args, None);
        assert!(ok, "helm {}: {text}", args.join(" "));
        text
    }

    /// Everything a person would look at when pods do not come up: the pods of `namespace`,
    /// its events, and for each pod that is not Ready its description and logs (including the
    /// previous container's, after a restart).
    pub async fn diagnose(&self, namespace: &str) -> String {
        let mut out = String::new();
        let mut section = |title: &str, text: String| {
            out.push_str(&format!("\n===== {title}\n{text}"));
        };
        section(
            "pods",
            self.run("kubectl", &["get", "pods", "-A", "-o", "wide"], None)
                .1,
        );
        section(
            &format!("events in {namespace}"),
            self.run(
                "kubectl",
                &["-n", namespace, "get", "events", "--sort-by=.lastTimestamp"],
                None,
            )
            .1,
        );
        let pods: Api<Pod> = Api::namespaced(self.client().await, namespace);
        for pod in pods
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
        {
            if pod_ready(&pod) {
                continue;
            }
            let name = pod.name_any();
            section(
                &format!("describe pod {name}"),
                self.run(
                    "kubectl",
                    &["-n", namespace, "describe", "pod", &name],
                    None,
                )
                .1,
            );
            for previous in ["false", "true"] {
                section(
                    &format!("logs {name} (previous={previous})"),
                    self.run(
                        "kubectl",
                        &[
                            "-n",
                            namespace,
                            "logs",
                            &name,
                            "--all-containers",
                            "--tail=60",
                            &format!("--previous={previous}"),
                        ],
                        None,
                    )
                    .1,
                );
            }
        }
        out
    }

    /// Waits until `check` answers `Some`, polling every second; on timeout, panics with `what`
    /// and the diagnosis of `namespace`.
    pub async fn wait<T, F, Fut>(
        &self,
        what: &str,
        namespace: &str,
        within: Duration,
        check: F,
    ) -> T
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let start = Instant::now();
        loop {
            if let Some(v) = check().await {
                eprintln!("  {what}: {:.0?}", start.elapsed());
                return v;
            }
            if start.elapsed() > within {
                panic!(
                    "waited {within:?} for {what}\n{}",
                    self.diagnose(namespace).await
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// A pod whose Ready condition is True.
pub fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
