//! Dispatch benchmark on one RabbitMQ: no-op jobs per second through Celery (an empty task, from
//! `bench/celery/`), through our bare dispatch (`rodan_db::broker::Broker` publishing, a lapin
//! consumer acking), and through the full path (run jobs in PostgreSQL dispatched with
//! `rodan_db::schedule::dispatch` and run by the real `Worker`: claim, run, commit, events, next
//! dispatch, ack).
//!
//! `cargo run --release -p rodan-worker --example bench_dispatch -- [flags]`;
//! `scripts/bench-dispatch.sh` installs Celery and runs it. Prints one Markdown table.

use futures::StreamExt;
use lapin::Connection;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use rodan_core::catalogue::JobDescriptor;
use rodan_core::message::{RunJobMessage, Task};
use rodan_core::status;
use rodan_db::broker::Broker;
use rodan_jobs::{Inputs, Job, JobError, Outputs};
use rodan_worker::{Config, Worker};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};
use uuid::Uuid;

const NO_OP: &str = "Bench No-op";
const FULL_QUEUE: &str = "bench-full";
const BARE_QUEUE: &str = "bench-bare";

/// A failed benchmark step.
#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error("failed to parse the command line: {0}")]
    Usage(String),
    #[error("failed to talk to RabbitMQ")]
    Amqp(#[from] lapin::Error),
    #[error("failed to publish")]
    Broker(#[from] rodan_db::broker::BrokerError),
    #[error("failed to dispatch")]
    Dispatch(#[from] rodan_db::schedule::DispatchError),
    #[error("failed to query PostgreSQL")]
    Database(#[from] sqlx::Error),
    #[error("failed to run the worker")]
    Worker(#[from] rodan_worker::WorkerError),
    #[error("failed to run the Celery side: {0}")]
    Celery(String),
    #[error("failed to finish: {0}")]
    Stalled(String),
}

/// The job the full path runs: no ports, no settings, returns at once.
#[derive(Debug)]
struct NoOp;

impl Job for NoOp {
    fn name(&self) -> &'static str {
        NO_OP
    }

    fn descriptor(&self) -> JobDescriptor {
        JobDescriptor {
            name: NO_OP.into(),
            author: "benchmarks".into(),
            category: "Benchmark".into(),
            description: "Does nothing.".into(),
            queue: FULL_QUEUE.into(),
            settings: serde_json::json!({"type": "object", "properties": {}}),
            interactive: false,
            enabled: true,
            input_port_types: Vec::new(),
            output_port_types: Vec::new(),
        }
    }

    fn run(&self, _: &Inputs, _: &Value, _: &Outputs) -> Result<(), JobError> {
        Ok(())
    }
}

/// The worker as the `rodan-worker` binary runs it: on a thread of its own with a current-thread
/// runtime (jobs on its blocking pool), apart from the benchmark's dispatching and polling.
struct WorkerThread {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<Result<(), BenchError>>,
}

impl WorkerThread {
    fn start(config: Config) -> Result<Self, BenchError> {
        let (started, is_started) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| BenchError::Stalled(e.to_string()))?;
            runtime.block_on(async move {
                let worker = match Worker::start(config, vec![&NoOp]).await {
                    Ok(worker) => {
                        let _ = started.send(Ok(()));
                        worker
                    }
                    Err(error) => {
                        let _ = started.send(Err(rodan_worker::error_chain(&error)));
                        return Err(BenchError::Worker(error));
                    }
                };
                let _ = stopped.await;
                worker.stop().await.map_err(BenchError::Worker)
            })
        });
        match is_started.recv() {
            Ok(Ok(())) => Ok(Self { stop, thread }),
            Ok(Err(error)) => Err(BenchError::Stalled(format!(
                "the worker failed to start: {error}"
            ))),
            Err(_) => Err(match thread.join() {
                Ok(Err(error)) => error,
                _ => BenchError::Stalled("the worker thread ended".into()),
            }),
        }
    }

    fn stop(self) -> Result<(), BenchError> {
        let _ = self.stop.send(());
        self.thread
            .join()
            .map_err(|_| BenchError::Stalled("the worker thread panicked".into()))?
    }
}

/// Benchmark settings.
#[derive(Debug)]
struct Options {
    jobs: usize,
    concurrency: u16,
    per_run: usize,
    python: Option<String>,
    pools: Vec<String>,
    paths: Vec<String>,
    rounds: usize,
}

impl Options {
    fn parse() -> Result<Self, BenchError> {
        let mut args = std::env::args().skip(1);
        let mut options = Self {
            jobs: 20_000,
            concurrency: 8,
            per_run: 100,
            python: None,
            pools: vec!["prefork".into()],
            paths: vec!["celery".into(), "bare".into(), "full".into()],
            rounds: 3,
        };
        let usage = || {
            BenchError::Usage("bench_dispatch [--jobs N] [--concurrency C] [--per-run K] [--celery-python PATH] [--celery-pools prefork,threads] [--paths celery,bare,full] [--rounds R]".into())
        };
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(usage);
            match arg.as_str() {
                "--jobs" => options.jobs = value()?.parse().map_err(|_| usage())?,
                "--concurrency" => options.concurrency = value()?.parse().map_err(|_| usage())?,
                "--per-run" => options.per_run = value()?.parse().map_err(|_| usage())?,
                "--rounds" => options.rounds = value()?.parse().map_err(|_| usage())?,
                "--celery-python" => options.python = Some(value()?),
                "--paths" => options.paths = value()?.split(',').map(str::to_owned).collect(),
                "--celery-pools" => {
                    options.pools = value()?.split(',').map(str::to_owned).collect();
                }
                _ => return Err(usage()),
            }
        }
        if options.jobs == 0
            || options.concurrency == 0
            || options.per_run == 0
            || options.rounds == 0
        {
            return Err(usage());
        }
        Ok(options)
    }
}

/// One row of the table.
struct Row {
    what: String,
    publish: Duration,
    total: Duration,
}

/// Celery's figures from `bench/celery/bench_celery.py`.
fn celery(options: &Options, python: &str, pool: &str, url: &str) -> Result<Row, BenchError> {
    let out = Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../bench/celery/bench_celery.py"
        ))
        .args(["--broker", url, "--pool", pool])
        .args(["--tasks", &options.jobs.to_string()])
        .args(["--concurrency", &options.concurrency.to_string()])
        .output()
        .map_err(|e| BenchError::Celery(e.to_string()))?;
    if !out.status.success() {
        return Err(BenchError::Celery(
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(line.trim())
        .map_err(|e| BenchError::Celery(format!("{e} in {line}")))?;
    let secs = |key: &str| Duration::from_secs_f64(report[key].as_f64().unwrap_or(f64::NAN));
    Ok(Row {
        what: format!(
            "Celery {} empty task, --pool={pool} --concurrency={}, no result backend",
            report["version"].as_str().unwrap_or("?"),
            options.concurrency
        ),
        publish: secs("publish_s"),
        total: secs("total_s"),
    })
}

/// Publishes `n` run-job messages on `queue` as dispatch does: `Broker::publish_all` (persistent
/// messages, every confirm awaited), `per_run` messages a call, one call after another.
async fn publish(url: &str, queue: &str, n: usize, per_run: usize) -> Result<(), BenchError> {
    let broker = Broker::new(url);
    broker.check().await?;
    let mut left = n;
    while left > 0 {
        let batch: Vec<(&str, Task)> = (0..per_run.min(left))
            .map(|_| {
                (
                    queue,
                    Task::RunJob(RunJobMessage {
                        run_job: Uuid::new_v4(),
                        task_id: Uuid::new_v4(),
                        job_name: NO_OP.into(),
                    }),
                )
            })
            .collect();
        left -= batch.len();
        broker.publish_all(&batch).await?;
    }
    Ok(())
}

/// Our bare dispatch: N persistent, confirmed run-job messages, consumed by lapin with the
/// worker's prefetch, each decoded and acked.
async fn bare(options: &Options, url: &str) -> Result<Row, BenchError> {
    let connection = Connection::connect(url, rodan_db::broker::connection_properties()).await?;
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(options.concurrency, BasicQosOptions { global: false })
        .await?;
    let queue = BARE_QUEUE.to_owned();
    rodan_db::broker::declare_queue(&channel, &queue).await?;
    let mut consumer = channel
        .basic_consume(
            &queue,
            "bench-bare",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let jobs = options.jobs;
    // Each delivery is decoded and acked in a task of its own, as the worker handles messages:
    // an ack resolves once lapin's I/O loop has written it, which one loop awaiting each in turn
    // would wait for before taking the next delivery.
    let consumed = tokio::spawn(async move {
        let mut acks = tokio::task::JoinSet::new();
        let mut decoded = 0;
        while decoded < jobs {
            let Some(Ok(delivery)) = consumer.next().await else {
                break;
            };
            if serde_json::from_slice::<RunJobMessage>(&delivery.data).is_ok() {
                decoded += 1;
            }
            acks.spawn(async move { delivery.ack(BasicAckOptions::default()).await });
        }
        while let Some(ack) = acks.join_next().await {
            ack.map_err(|e| lapin::Error::IOError(std::sync::Arc::new(std::io::Error::other(e))))??;
        }
        Ok::<_, lapin::Error>(decoded)
    });
    let start = Instant::now();
    publish(url, &queue, options.jobs, options.per_run).await?;
    let publish = start.elapsed();
    let acked = consumed
        .await
        .map_err(|e| BenchError::Stalled(e.to_string()))??;
    let total = start.elapsed();
    if acked != options.jobs {
        return Err(BenchError::Stalled(format!(
            "{acked} of {} messages consumed",
            options.jobs
        )));
    }
    let _ = connection.close(200, "done").await;
    Ok(Row {
        what: format!(
            "ours, bare: Broker::publish_all, {} a call (as dispatch sends a run's runnable jobs); lapin consumer (prefetch {}), ack only",
            options.per_run, options.concurrency
        ),
        publish,
        total,
    })
}

/// The full path: N run jobs of the no-op job in runs of `per_run`, each run dispatched with
/// `schedule::dispatch`, run by the real worker until every run is FINISHED.
async fn full(
    options: &Options,
    services: &rodan_testkit::Services,
    round: usize,
) -> Result<(Row, usize), BenchError> {
    let db = services
        .postgres
        .database(&format!("bench_dispatch_{round}"));
    let pool = rodan_db::connect(&db, 4).await?;
    rodan_db::migrate(&pool)
        .await
        .map_err(|e| BenchError::Stalled(e.to_string()))?;
    if std::env::var_os("BENCH_PG_STATS").is_some() {
        sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .execute(&pool)
            .await?;
    }
    let media = tempfile::tempdir().map_err(|e| BenchError::Stalled(e.to_string()))?;
    let mut config = Config::new(
        &db,
        &services.rabbitmq.url(),
        &services.redis.url(),
        media.path().to_path_buf(),
    );
    config.queues = vec![FULL_QUEUE.into()];
    config.concurrency = options.concurrency;
    let worker = WorkerThread::start(config)?;

    let project = Uuid::new_v4();
    sqlx::query("INSERT INTO projects (uuid, name) VALUES ($1, 'bench')")
        .bind(project)
        .execute(&pool)
        .await?;
    let runs: Vec<Uuid> = (0..options.jobs.div_ceil(options.per_run))
        .map(|_| Uuid::new_v4())
        .collect();
    for (n, run) in runs.iter().enumerate() {
        let count = options.per_run.min(options.jobs - n * options.per_run);
        sqlx::query("INSERT INTO workflow_runs (uuid, project_uuid, status) VALUES ($1, $2, $3)")
            .bind(run)
            .bind(project)
            .bind(status::PROCESSING)
            .execute(&pool)
            .await?;
        sqlx::query(
            "INSERT INTO run_jobs (uuid, workflow_run_uuid, workflow_job_hex, job_name, job_queue)
             SELECT gen_random_uuid(), $1, 'bench', $2, $3 FROM generate_series(1, $4)",
        )
        .bind(run)
        .bind(NO_OP)
        .bind(FULL_QUEUE)
        .bind(i64::try_from(count).unwrap_or(i64::MAX))
        .execute(&pool)
        .await?;
    }
    let broker = Broker::new(services.rabbitmq.url());
    broker.check().await?;
    let start = Instant::now();
    for run in &runs {
        rodan_db::schedule::dispatch(&pool, &broker, *run).await?;
    }
    let publish = start.elapsed();
    // Polling must stay cheap beside the work it measures: the runs are counted often, the run
    // jobs (a scan of all of them) once a second, only to notice a stall.
    let mut last = (0, Instant::now());
    let mut checked = Instant::now();
    loop {
        let finished: i64 =
            sqlx::query_scalar("SELECT count(*) FROM workflow_runs WHERE status = $1")
                .bind(status::FINISHED)
                .fetch_one(&pool)
                .await?;
        if usize::try_from(finished).unwrap_or(0) == runs.len() {
            break;
        }
        if checked.elapsed() > Duration::from_secs(1) {
            checked = Instant::now();
            let done: i64 = sqlx::query_scalar("SELECT count(*) FROM run_jobs WHERE status = $1")
                .bind(status::FINISHED)
                .fetch_one(&pool)
                .await?;
            if done != last.0 {
                last = (done, Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(30) {
                return Err(BenchError::Stalled(format!(
                    "{done} of {} run jobs finished, none for 30 s",
                    options.jobs
                )));
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let total = start.elapsed();
    worker.stop()?;
    if std::env::var_os("BENCH_PG_STATS").is_some() {
        // With RODAN_TESTKIT_POSTGRES_OPTIONS loading pg_stat_statements: where PostgreSQL's
        // time went, statement by statement.
        let top: Vec<(i64, f64, f64, String)> = sqlx::query_as(
            "SELECT calls, total_exec_time, total_plan_time, left(regexp_replace(query, '\\s+', ' ', 'g'), 100)
             FROM pg_stat_statements WHERE calls >= 100 ORDER BY total_exec_time + total_plan_time DESC LIMIT 20",
        )
        .fetch_all(&pool)
        .await?;
        for (calls, exec, plan, query) in top {
            eprintln!("{calls:>8} calls {exec:>9.0} ms exec {plan:>8.0} ms plan  {query}");
        }
    }
    Ok((
        Row {
            what: format!(
                "ours, full: dispatch + Worker (concurrency {}): claim, run, commit, events, next dispatch, ack",
                options.concurrency
            ),
            publish,
            total,
        },
        runs.len(),
    ))
}

async fn bench(options: Options) -> Result<(), BenchError> {
    let services = rodan_testkit::Services::start();
    let url = services.rabbitmq.url();
    // Every path runs once a round, in turn, so that what else the machine does at the time
    // weighs on each alike; the table gives each path's median round and the range of its rates.
    let mut rows: Vec<(String, Vec<(Duration, Duration)>)> = Vec::new();
    let mut record = |row: Row| match rows.iter_mut().find(|(what, _)| *what == row.what) {
        Some((_, times)) => times.push((row.publish, row.total)),
        None => rows.push((row.what, vec![(row.publish, row.total)])),
    };
    let run = |path: &str| options.paths.iter().any(|p| p == path);
    let mut runs = 0;
    for round in 0..options.rounds {
        eprintln!("round {} of {}", round + 1, options.rounds);
        if let Some(python) = options.python.as_ref().filter(|_| run("celery")) {
            for pool in &options.pools {
                eprintln!("celery, {pool} pool...");
                record(celery(&options, python, pool, &url)?);
            }
        }
        if run("bare") {
            eprintln!("bare dispatch...");
            record(bare(&options, &url).await?);
        }
        if run("full") {
            eprintln!("full path...");
            let (row, n) = full(&options, &services, round).await?;
            record(row);
            runs = n;
        }
    }
    println!(
        "{} no-op jobs a row, one RabbitMQ; full path in {runs} runs of {} run jobs; median of {} rounds (range of the end-to-end rate)",
        options.jobs, options.per_run, options.rounds
    );
    println!();
    println!(
        "| path | publish s | dispatch jobs/s | vs first row | total s | end-to-end jobs/s | range | vs first row |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let jobs = options.jobs as f64;
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let medians: Vec<(f64, f64, f64, f64)> = rows
        .iter()
        .map(|(_, times)| {
            let totals: Vec<f64> = times.iter().map(|(_, t)| t.as_secs_f64()).collect();
            let (fastest, slowest) = totals.iter().fold((f64::INFINITY, 0.0_f64), |(lo, hi), t| {
                (lo.min(*t), hi.max(*t))
            });
            (
                median(times.iter().map(|(p, _)| p.as_secs_f64()).collect()),
                median(totals),
                jobs / slowest,
                jobs / fastest,
            )
        })
        .collect();
    let first = medians.first().map_or((f64::NAN, f64::NAN), |m| (m.0, m.1));
    for ((what, _), (publish, total, low, high)) in rows.iter().zip(&medians) {
        println!(
            "| {what} | {publish:.2} | {:.0} | {:.2}x | {total:.2} | {:.0} | {low:.0}-{high:.0} | {:.2}x |",
            jobs / publish,
            first.0 / publish,
            jobs / total,
            first.1 / total
        );
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let options = match Options::parse() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("bench_dispatch: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bench_dispatch: failed to start a runtime: {error}");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(bench(options)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench_dispatch: {}", rodan_worker::error_chain(&error));
            std::process::ExitCode::from(1)
        }
    }
}
