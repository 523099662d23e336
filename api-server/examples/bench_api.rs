//! API load benchmark: requests/s and latency percentiles on loopback for a paginated list, an
//! object read and a resource upload, against the release `rodan-api-server` binary at each
//! given number of runtime worker threads (`RODAN_API_THREADS`).
//!
//! `cargo run --release -p rodan-api-server --example bench_api -- <server binary> [flags]`;
//! `scripts/bench-api.sh` builds both and runs it. Prints one Markdown table.

use reqwest::{Client, StatusCode};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "bench-password";
const EMAIL: &str = "bench@example.org";

/// A failed benchmark step.
#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error("failed to parse the command line: {0}")]
    Usage(String),
    #[error("failed to start the API server")]
    Spawn(#[source] std::io::Error),
    #[error("failed to {0}: the server did not answer in time")]
    Timeout(&'static str),
    #[error("failed to {what}: HTTP {status}: {body}")]
    Status {
        what: &'static str,
        status: StatusCode,
        body: String,
    },
    #[error("failed to talk to the API server")]
    Http(#[from] reqwest::Error),
    #[error("failed to get a success answer to {0} requests")]
    Failed(usize),
    #[error("failed to find {0} in an answer")]
    Shape(&'static str),
}

/// Benchmark settings.
#[derive(Debug, Clone)]
struct Options {
    server: String,
    threads: Vec<usize>,
    connections: usize,
    duration: Duration,
    resources: usize,
}

impl Options {
    fn parse() -> Result<Self, BenchError> {
        let mut args = std::env::args().skip(1);
        let mut options = Self {
            server: String::new(),
            threads: vec![1, 2],
            connections: 32,
            duration: Duration::from_secs(10),
            resources: 500,
        };
        let usage = || {
            BenchError::Usage("bench_api <server> [--threads 1,2] [--connections N] [--seconds S] [--resources N]".into())
        };
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(usage);
            match arg.as_str() {
                "--threads" => {
                    options.threads = value()?
                        .split(',')
                        .map(|t| t.parse().map_err(|_| usage()))
                        .collect::<Result<_, _>>()?;
                }
                "--connections" => options.connections = value()?.parse().map_err(|_| usage())?,
                "--seconds" => {
                    options.duration =
                        Duration::from_secs_f64(value()?.parse().map_err(|_| usage())?);
                }
                "--resources" => options.resources = value()?.parse().map_err(|_| usage())?,
                other if options.server.is_empty() && !other.starts_with('-') => {
                    options.server = other.to_owned();
                }
                _ => return Err(usage()),
            }
        }
        if options.server.is_empty() {
            return Err(usage());
        }
        Ok(options)
    }
}

/// The API server in its own process, killed when dropped.
struct Server {
    child: Child,
    root: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_command(options: &Options, env: &[(&str, String)], subcommand: &str) -> Command {
    let mut command = Command::new(&options.server);
    command
        .arg(subcommand)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command
}

async fn start_server(
    options: &Options,
    env: &[(&str, String)],
    threads: usize,
) -> Result<Server, BenchError> {
    let port = rodan_testkit::free_port();
    let child = server_command(options, env, "serve")
        .env("RODAN_API_THREADS", threads.to_string())
        .env("RODAN_API_LISTEN", format!("127.0.0.1:{port}"))
        .spawn()
        .map_err(BenchError::Spawn)?;
    let server = Server {
        child,
        root: format!("http://127.0.0.1:{port}"),
    };
    let http = Client::new();
    let start = Instant::now();
    while http
        .get(format!("{}/readyz", server.root))
        .send()
        .await
        .is_err()
    {
        if start.elapsed() > Duration::from_secs(30) {
            return Err(BenchError::Timeout("start the server"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(server)
}

async fn expect(
    what: &'static str,
    expected: StatusCode,
    response: reqwest::Response,
) -> Result<Value, BenchError> {
    let status = response.status();
    let body = response.text().await?;
    if status != expected {
        return Err(BenchError::Status { what, status, body });
    }
    Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// A small greyscale PNG, the file every upload sends.
fn page_png() -> Vec<u8> {
    let (w, h) = (64u32, 48u32);
    let pixels: Vec<u8> = (0..w * h).map(|i| (i * 7 % 251) as u8).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    image::write_buffer_with_format(
        &mut out,
        &pixels,
        w,
        h,
        image::ColorType::L8,
        image::ImageFormat::Png,
    )
    .map(|()| out.into_inner())
    .unwrap_or_default()
}

fn upload_form(project: &str, png: &[u8]) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("project", project.to_owned())
        .part(
            "files",
            reqwest::multipart::Part::bytes(png.to_vec()).file_name("page.png"),
        )
}

/// What seeding left for the load: the token, the project URL and every resource's URL.
struct Seeded {
    token: String,
    project: String,
    resources: Vec<String>,
}

async fn seed(root: &str, count: usize, png: &[u8]) -> Result<Seeded, BenchError> {
    let http = Client::new();
    let login = http
        .post(format!("{root}/api/auth/token/"))
        .json(&serde_json::json!({"email": EMAIL, "password": PASSWORD}))
        .send()
        .await?;
    let token = expect("log in", StatusCode::OK, login).await?["token"]
        .as_str()
        .ok_or(BenchError::Shape("a token"))?
        .to_owned();
    let auth = format!("Token {token}");
    let created = http
        .post(format!("{root}/api/projects/"))
        .header("Authorization", &auth)
        .json(&serde_json::json!({"name": "bench"}))
        .send()
        .await?;
    let project = expect("create a project", StatusCode::CREATED, created).await?["url"]
        .as_str()
        .ok_or(BenchError::Shape("the project url"))?
        .to_owned();
    let mut resources = Vec::with_capacity(count);
    for _ in 0..count {
        let uploaded = http
            .post(format!("{root}/api/resources/"))
            .header("Authorization", &auth)
            .multipart(upload_form(&project, png))
            .send()
            .await?;
        let body = expect("upload a resource", StatusCode::CREATED, uploaded).await?;
        // Kept as paths: the URL names the seeding server's port, not the measured one's.
        let url = body[0]["url"]
            .as_str()
            .ok_or(BenchError::Shape("the resource url"))?;
        let path = url
            .find("/api/")
            .map(|at| &url[at..])
            .ok_or(BenchError::Shape("the resource path"))?;
        resources.push(path.to_owned());
    }
    Ok(Seeded {
        token,
        project,
        resources,
    })
}

/// The three loads.
#[derive(Debug, Clone, Copy)]
enum Load {
    List,
    Read,
    Upload,
}

impl Load {
    fn label(self, resources: usize) -> String {
        match self {
            Self::List => format!("GET /api/resources/?page=k (20 of {resources}, pages in turn)"),
            Self::Read => "GET /api/resource/{uuid}/ (each resource in turn)".into(),
            Self::Upload => "POST /api/resources/ (one 64x48 PNG, multipart)".into(),
        }
    }
}

/// One load's outcome.
struct Outcome {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }
}

async fn drive(
    root: &str,
    seeded: &Arc<Seeded>,
    png: &Arc<Vec<u8>>,
    load: Load,
    options: &Options,
) -> Outcome {
    let http = Client::builder()
        .pool_max_idle_per_host(options.connections)
        .build()
        .unwrap_or_default();
    let pages = seeded.resources.len().div_ceil(20).max(1);
    let connections = options.connections;
    let start = Instant::now();
    let deadline = start + options.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for connection in 0..connections {
        let http = http.clone();
        let seeded = seeded.clone();
        let png = png.clone();
        let root = root.to_owned();
        tasks.spawn(async move {
            let auth = format!("Token {}", seeded.token);
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut n = connection;
            while Instant::now() < deadline {
                let request = match load {
                    Load::List => http.get(format!("{root}/api/resources/?page={}", n % pages + 1)),
                    Load::Read => http.get(format!(
                        "{root}{}",
                        seeded.resources[n % seeded.resources.len()]
                    )),
                    Load::Upload => http
                        .post(format!("{root}/api/resources/"))
                        .multipart(upload_form(&seeded.project, &png)),
                };
                let sent = Instant::now();
                let ok = match request.header("Authorization", &auth).send().await {
                    Ok(response) => {
                        let success = response.status().is_success();
                        response.bytes().await.is_ok() && success
                    }
                    Err(_) => false,
                };
                latencies.push(sent.elapsed());
                if !ok {
                    errors += 1;
                }
                n += connections;
            }
            (latencies, errors)
        });
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        if let Ok((mut l, e)) = done {
            latencies.append(&mut l);
            errors += e;
        }
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    Outcome {
        requests: latencies.len(),
        errors,
        elapsed,
        latencies,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

async fn bench(options: Options) -> Result<(), BenchError> {
    let services = rodan_testkit::Services::start();
    let database = services.postgres.database("bench_api");
    let media = std::env::temp_dir().join(format!("rodan-bench-api-{}", std::process::id()));
    std::fs::create_dir_all(&media).map_err(BenchError::Spawn)?;
    let env = vec![
        ("DATABASE_URL", database),
        ("RABBITMQ_URL", services.rabbitmq.url()),
        ("REDIS_URL", services.redis.url()),
        ("RODAN_MEDIA_ROOT", media.display().to_string()),
        ("ADMIN_USER", "bench".to_owned()),
        ("ADMIN_EMAIL", EMAIL.to_owned()),
        ("ADMIN_PASS", PASSWORD.to_owned()),
    ];
    let migrated = server_command(&options, &env, "migrate")
        .status()
        .map_err(BenchError::Spawn)?;
    if !migrated.success() {
        return Err(BenchError::Usage(format!("migrate exited with {migrated}")));
    }
    let png = Arc::new(page_png());
    let seeded = {
        let server = start_server(&options, &env, 0).await?;
        Arc::new(seed(&server.root, options.resources, &png).await?)
    };
    eprintln!(
        "seeded {} resources; {} connections, {:?} a load",
        seeded.resources.len(),
        options.connections,
        options.duration
    );
    let mut failed = 0;
    println!("| request | server threads | requests/s | p50 ms | p99 ms | requests | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for load in [Load::List, Load::Read, Load::Upload] {
        for &threads in &options.threads {
            let server = start_server(&options, &env, threads).await?;
            // A short warm-up fills the connection pools on both sides.
            let warm = Options {
                duration: Duration::from_millis(500),
                ..options.clone()
            };
            drive(&server.root, &seeded, &png, load, &warm).await;
            let outcome = drive(&server.root, &seeded, &png, load, &options).await;
            println!(
                "| {} | {threads} | {:.0} | {} | {} | {} | {} |",
                load.label(seeded.resources.len()),
                outcome.rate(),
                ms(outcome.percentile(50.0)),
                ms(outcome.percentile(99.0)),
                outcome.requests,
                outcome.errors,
            );
            failed += outcome.errors;
        }
    }
    let _ = std::fs::remove_dir_all(&media);
    if failed > 0 {
        return Err(BenchError::Failed(failed));
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let options = match Options::parse() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("bench_api: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    // The load generator gets one core's worth of threads so the server keeps the rest.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench_api: failed to start a runtime: {error}");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(bench(options)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench_api: {}", chain(&error));
            std::process::ExitCode::from(1)
        }
    }
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
