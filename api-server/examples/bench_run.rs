//! Run creation benchmark: how long `POST /api/workflowruns/` takes for a batch run of N pages
//! through upstream's three-job chain (greyscale → Sauvola → despeckle), which writes N×3 run
//! jobs with their inputs, outputs and placeholder resources in one transaction.
//!
//! `cargo run [--release] -p rodan-api-server --example bench_run -- <server binary>
//! [--pages N] [--runs K]`; `scripts/bench-run.sh` builds both and runs it. Starts PostgreSQL,
//! RabbitMQ and Redis (rodan-testkit) and the given server; the jobs are registered from
//! rodan-jobs' catalogue and the pages inserted as finished resources, so no worker is needed
//! (the runs are dispatched to queues nobody consumes). Prints one Markdown row.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

const PASSWORD: &str = "bench-password";
const EMAIL: &str = "bench@example.org";
/// Upstream's chain, as the worker's end-to-end test builds it: (job, input port, output port).
const CHAIN: [(&str, &str, &str); 3] = [
    (
        "Convert to greyscale PNG",
        "PNG image",
        "Greyscale PNG image",
    ),
    (
        "Sauvola Threshold",
        "Greyscale PNG image",
        "Onebit PNG image",
    ),
    (
        "Despeckle",
        "Onebit PNG image",
        "Onebit PNG despeckled image",
    ),
];

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Options {
    server: String,
    pages: usize,
    runs: usize,
}

fn options() -> Result<Options, Error> {
    let mut args = std::env::args().skip(1);
    let mut o = Options {
        server: String::new(),
        pages: 100,
        runs: 10,
    };
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, Error> {
            Ok(args
                .next()
                .ok_or_else(|| format!("{name} needs a value"))?
                .parse()?)
        };
        match arg.as_str() {
            "--pages" => o.pages = number("--pages")?,
            "--runs" => o.runs = number("--runs")?,
            _ if o.server.is_empty() => o.server = arg,
            _ => return Err(format!("unknown argument {arg}").into()),
        }
    }
    if o.server.is_empty() {
        return Err("usage: bench_run <server binary> [--pages N] [--runs K]".into());
    }
    Ok(o)
}

/// The server process, killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A JSON answer with the `expected` status, or the error naming `what`.
async fn call(
    what: &str,
    expected: StatusCode,
    request: reqwest::RequestBuilder,
) -> Result<Value, Error> {
    let response = request.send().await?;
    let status = response.status();
    let body = response.text().await?;
    if status != expected {
        return Err(format!("{what}: HTTP {status}: {body}").into());
    }
    Ok(serde_json::from_str(&body)?)
}

fn url(v: &Value) -> Result<String, Error> {
    v["url"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no url in {v}").into())
}

async fn bench(o: Options) -> Result<(), Error> {
    let services = rodan_testkit::Services::start();
    let database = services.postgres.database("bench_run");
    let media = tempfile::tempdir()?;
    let env = [
        ("DATABASE_URL", database.clone()),
        ("RABBITMQ_URL", services.rabbitmq.url()),
        ("REDIS_URL", services.redis.url()),
        ("RODAN_MEDIA_ROOT", media.path().display().to_string()),
        ("ADMIN_USER", "bench".to_owned()),
        ("ADMIN_EMAIL", EMAIL.to_owned()),
        ("ADMIN_PASS", PASSWORD.to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let command = |sub: &str| {
        let mut c = Command::new(&o.server);
        c.arg(sub)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        c
    };
    if !command("migrate").status()?.success() {
        return Err("migrate failed".into());
    }
    let pool = rodan_db::connect(&database, 2).await?;
    let descriptors: Vec<_> = CHAIN
        .iter()
        .map(|(name, _, _)| {
            rodan_jobs::find(name)
                .map(|j| j.descriptor())
                .ok_or_else(|| format!("rodan-jobs has no '{name}'"))
        })
        .collect::<Result<_, _>>()?;
    rodan_db::catalogue::register_jobs(&pool, &descriptors).await?;

    let port = rodan_testkit::free_port();
    let root = format!("http://127.0.0.1:{port}");
    let _server = Server(
        command("serve")
            .env("RODAN_API_LISTEN", format!("127.0.0.1:{port}"))
            .spawn()?,
    );
    let http = Client::new();
    let start = Instant::now();
    while http.get(format!("{root}/readyz")).send().await.is_err() {
        if start.elapsed() > Duration::from_secs(30) {
            return Err("the server did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let login = call(
        "log in",
        StatusCode::OK,
        http.post(format!("{root}/api/auth/token/"))
            .json(&json!({"email": EMAIL, "password": PASSWORD})),
    )
    .await?;
    let auth = format!("Token {}", login["token"].as_str().unwrap_or_default());
    let post = |path: &str, body: Value| {
        http.post(format!("{root}{path}"))
            .header("Authorization", &auth)
            .json(&body)
    };
    let project = url(&call(
        "create a project",
        StatusCode::CREATED,
        post("/api/projects/", json!({"name": "bench"})),
    )
    .await?)?;
    let project_uuid: Uuid = project
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .parse()?;

    // The pages: finished RGB PNG resources (their files are never read here).
    let pages: Vec<Uuid> = (0..o.pages).map(|_| Uuid::new_v4()).collect();
    sqlx::query(
        "INSERT INTO resources (uuid, name, project_uuid, resource_file, resource_type_uuid, creator_id)
         SELECT p, 'page ' || n, $2, 'projects/bench/' || p,
                (SELECT uuid FROM resource_types WHERE mimetype = 'image/rgb+png'),
                (SELECT id FROM users WHERE username = 'bench')
         FROM unnest($1::uuid[]) WITH ORDINALITY AS t(p, n)",
    )
    .bind(&pages)
    .bind(project_uuid)
    .execute(&pool)
    .await?;

    // The chain.
    let workflow = url(&call(
        "create the workflow",
        StatusCode::CREATED,
        post(
            "/api/workflows/",
            json!({"project": project, "name": "binarise"}),
        ),
    )
    .await?)?;
    let (mut ins, mut outs) = (Vec::new(), Vec::new());
    for (name, input, output) in CHAIN {
        let jobs = call(
            "find the job",
            StatusCode::OK,
            http.get(format!("{root}/api/jobs/?name={name}"))
                .header("Authorization", &auth),
        )
        .await?;
        let job = &jobs["results"][0];
        let port_type = |key: &str, port: &str| -> Result<String, Error> {
            job[key]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == port))
                .map(url)
                .ok_or_else(|| format!("{name} has no port {port}"))?
        };
        let wfj = url(&call(
            "add the job",
            StatusCode::CREATED,
            post(
                "/api/workflowjobs/",
                json!({"workflow": workflow, "job": url(job)?}),
            ),
        )
        .await?)?;
        let body =
            json!({"workflow_job": wfj, "input_port_type": port_type("input_port_types", input)?});
        ins.push(url(&call(
            "add an input port",
            StatusCode::CREATED,
            post("/api/inputports/", body),
        )
        .await?)?);
        let body = json!({"workflow_job": wfj, "output_port_type": port_type("output_port_types", output)?});
        outs.push(url(&call(
            "add an output port",
            StatusCode::CREATED,
            post("/api/outputports/", body),
        )
        .await?)?);
    }
    for i in 0..2 {
        call(
            "connect",
            StatusCode::CREATED,
            post(
                "/api/connections/",
                json!({"output_port": outs[i], "input_port": ins[i + 1]}),
            ),
        )
        .await?;
    }
    let valid = call(
        "validate",
        StatusCode::OK,
        http.patch(&workflow)
            .header("Authorization", &auth)
            .json(&json!({"valid": true})),
    )
    .await?;
    if valid["valid"] != true {
        return Err(format!("the workflow is not valid: {valid}").into());
    }

    let assignment: Vec<String> = pages
        .iter()
        .map(|p| format!("{root}/api/resource/{p}/"))
        .collect();
    let body = json!({"workflow": workflow, "resource_assignments": {ins[0].clone(): assignment}});
    // One run to warm the server's and PostgreSQL's caches, then the measured ones.
    let mut took = Vec::new();
    for i in 0..=o.runs {
        let start = Instant::now();
        let run = call(
            "create the run",
            StatusCode::CREATED,
            post("/api/workflowruns/", body.clone()),
        )
        .await?;
        let elapsed = start.elapsed();
        let jobs = run["run_jobs"].as_array().map_or(0, Vec::len);
        if jobs != 3 * o.pages {
            return Err(format!("{jobs} run jobs, not {}", 3 * o.pages).into());
        }
        if i > 0 {
            took.push(elapsed);
        }
    }
    took.sort_unstable();
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    println!("| pages | run jobs | runs | min ms | median ms | max ms |");
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {} | {} | {} | {} |",
        o.pages,
        3 * o.pages,
        took.len(),
        ms(took[0]),
        ms(took[took.len() / 2]),
        ms(took[took.len() - 1])
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench_run: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench_run: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench(o)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_run: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
