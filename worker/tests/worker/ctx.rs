//! One test's world: a database, a media root, a queue, test jobs, and helpers to build runs.

use rodan_core::catalogue::JobDescriptor;
use rodan_db::broker::Broker;
use rodan_jobs::{Inputs, Job, JobError, Outputs};
use rodan_worker::{Config, Worker};
use serde_json::{Value, json};
use sqlx::PgPool;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A job of rodan-jobs, moved onto the test's queue.
#[derive(Debug)]
pub struct OnQueue {
    pub job: &'static dyn Job,
    pub queue: String,
}

impl Job for OnQueue {
    fn name(&self) -> &'static str {
        self.job.name()
    }
    fn descriptor(&self) -> JobDescriptor {
        let mut d = self.job.descriptor();
        d.queue = self.queue.clone();
        d
    }
    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        self.job.run(inputs, settings, outputs)
    }
}

/// `Sleep`: appends a line to the file `log` (a setting), sleeps `ms`, writes "slept" to its
/// output. `Fail`: fails with a bad input.
#[derive(Debug)]
pub struct TestJob {
    pub name: &'static str,
    pub queue: String,
}

impl Job for TestJob {
    fn name(&self) -> &'static str {
        self.name
    }
    fn descriptor(&self) -> JobDescriptor {
        let mut d = rodan_jobs::find("Hello World")
            .expect("Hello World exists")
            .descriptor();
        d.name = self.name.to_owned();
        d.queue = self.queue.clone();
        d
    }
    fn run(&self, inputs: &Inputs, settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        if self.name == "Test List" {
            let folder = &outputs.first("Text output")?.path;
            for name in ["b", "a"] {
                std::fs::write(folder.join(name), name).map_err(|e| JobError::write(folder, e))?;
            }
            return Ok(());
        }
        if self.name == "Test Image" {
            // Reads its input as the Gamera jobs do.
            rodan_jobs::gamera::png::load_png(&inputs.first("Text input")?.path)?;
            return std::fs::write(&outputs.first("Text output")?.path, "read")
                .map_err(|e| JobError::write(std::path::Path::new("out"), e));
        }
        if self.name == "Test Nothing" {
            return Ok(());
        }
        if self.name == "Test Fail" {
            return Err(JobError::bad_input(
                "the input is unusable",
                "test failure details",
            ));
        }
        if let Some(log) = settings.get("log").and_then(Value::as_str) {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .expect("log opens");
            writeln!(f, "run").expect("log written");
        }
        let ms = settings.get("ms").and_then(Value::as_u64).unwrap_or(0);
        std::thread::sleep(Duration::from_millis(ms));
        std::fs::write(&outputs.first("Text output")?.path, "slept")
            .map_err(|e| JobError::write(std::path::Path::new("out"), e))
    }
}

pub struct Ctx {
    pub pool: PgPool,
    pub db_url: String,
    pub amqp_url: String,
    pub redis_url: String,
    pub media: tempfile::TempDir,
    pub queue: String,
    pub broker: Broker,
    pub rabbit: RabbitCtl,
}

/// RabbitMQ through rabbitmqctl (`rodan_testkit::RabbitMq`).
pub struct RabbitCtl(pub std::sync::Arc<rodan_testkit::Services>);

/// A workflow run's row, as the tests read it.
#[derive(Debug)]
pub struct RunRow {
    pub status: i32,
    pub error_summary: String,
    pub error_details: String,
}

/// A run job's row, as the tests read it.
#[derive(Debug)]
pub struct RunJobRow {
    pub status: i32,
    pub attempts: i32,
    pub celery_task_id: Option<String>,
    pub lease_owner: Option<String>,
    pub error_summary: String,
}

impl rodan_testkit::suite::Fixture for Ctx {
    async fn setup(services: std::sync::Arc<rodan_testkit::Services>, n: usize) -> Self {
        Self::new(&services, n).await
    }
}

impl Ctx {
    pub async fn new(services: &std::sync::Arc<rodan_testkit::Services>, n: usize) -> Self {
        let db_url = services
            .postgres
            .database(&format!("worker_{n}_{}", std::process::id()));
        let pool = rodan_db::connect(&db_url, 8)
            .await
            .expect("the database accepts connections");
        rodan_db::migrate(&pool).await.expect("migrations apply");
        rodan_db::catalogue::register_resource_types(
            &pool,
            &[
                ("text/plain", "Text", "txt"),
                ("application/octet-stream", "Bytes", ""),
            ],
        )
        .await
        .expect("resource types register");
        let media = tempfile::tempdir().expect("a media dir");
        let broker = Broker::new(services.rabbitmq.url());
        broker.check().await.expect("RabbitMQ accepts connections");
        Self {
            pool,
            db_url,
            amqp_url: services.rabbitmq.url(),
            redis_url: services.redis.url(),
            media,
            queue: format!("q{n}-{}", Uuid::new_v4().simple()),
            broker,
            rabbit: RabbitCtl(services.clone()),
        }
    }

    pub fn catalogue(&self) -> Vec<&'static dyn Job> {
        let leak = |j: Box<dyn Job>| -> &'static dyn Job { Box::leak(j) };
        vec![
            leak(Box::new(OnQueue {
                job: rodan_jobs::find("Hello World").expect("exists"),
                queue: self.queue.clone(),
            })),
            leak(Box::new(TestJob {
                name: "Test Sleep",
                queue: self.queue.clone(),
            })),
            leak(Box::new(TestJob {
                name: "Test Fail",
                queue: self.queue.clone(),
            })),
            leak(Box::new(TestJob {
                name: "Test List",
                queue: self.queue.clone(),
            })),
            leak(Box::new(TestJob {
                name: "Test Image",
                queue: self.queue.clone(),
            })),
            leak(Box::new(TestJob {
                name: "Test Nothing",
                queue: self.queue.clone(),
            })),
        ]
    }

    pub fn config(&self) -> Config {
        let mut c = Config::new(
            &self.db_url,
            &self.amqp_url,
            &self.redis_url,
            self.media.path().to_path_buf(),
        );
        c.queues = vec![self.queue.clone()];
        c.lease_seconds = 1.5;
        c.reap_seconds = 0.2;
        c.grace_seconds = 10.0;
        c
    }

    pub async fn worker(&self, config: Config) -> Worker {
        Worker::start(config, self.catalogue())
            .await
            .expect("the worker starts")
    }

    /// Messages ready plus unacknowledged in the test's queue.
    pub fn depth(&self) -> u64 {
        self.rabbit.0.rabbitmq.queue_depth(&self.queue)
    }

    /// Messages unacknowledged on the channel consuming `queue`.
    pub fn held(&self, queue: &str) -> Option<u64> {
        self.rabbit.0.rabbitmq.consumer_channel_unacked(queue)
    }

    /// Closes the RabbitMQ connections of the worker `owner` from the broker's side, as a broker
    /// restart or a network cut does; returns how many it closed.
    pub fn drop_connections(&self, owner: &str) -> usize {
        let name = format!("rodan-worker {owner}");
        let listed = self.rabbit.0.rabbitmq.ctl(&[
            "list_connections",
            "-q",
            "--no-table-headers",
            "pid",
            "client_properties",
        ]);
        let pids: Vec<String> = listed
            .lines()
            .filter(|l| l.contains(&name))
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect();
        for pid in &pids {
            self.rabbit.0.rabbitmq.ctl(&[
                "close_connection",
                pid,
                "test: broker connection dropped",
            ]);
        }
        pids.len()
    }

    /// A new project.
    pub async fn project(&self) -> Uuid {
        let project = Uuid::new_v4();
        sqlx::query("INSERT INTO projects (uuid, name) VALUES ($1, 'p')")
            .bind(project)
            .execute(&self.pool)
            .await
            .expect("project");
        project
    }

    /// A new PROCESSING run in `project`, with no run jobs yet.
    pub async fn empty_run(&self, project: Uuid) -> Uuid {
        let run = Uuid::new_v4();
        sqlx::query("INSERT INTO workflow_runs (uuid, project_uuid, status) VALUES ($1, $2, 1)")
            .bind(run)
            .bind(project)
            .execute(&self.pool)
            .await
            .expect("run");
        run
    }

    /// A run of independent chains: each chain is a list of (job name, settings); the first job
    /// of each chain reads a text file "x", each next job reads the previous job's output.
    /// Returns the run and each chain's run jobs with their output resources.
    pub async fn run(&self, chains: &[Vec<(&str, Value)>]) -> (Uuid, Vec<Vec<(Uuid, Uuid)>>) {
        let project = self.project().await;
        let run = self.empty_run(project).await;
        let text: Uuid =
            sqlx::query_scalar("SELECT uuid FROM resource_types WHERE mimetype = 'text/plain'")
                .fetch_one(&self.pool)
                .await
                .expect("text/plain");
        let mut out = Vec::new();
        for chain in chains {
            let source = Uuid::new_v4();
            let file = format!("inputs/{}", source.simple());
            std::fs::create_dir_all(self.media.path().join("inputs")).expect("inputs dir");
            std::fs::write(self.media.path().join(&file), "x").expect("input file");
            self.resource(source, project, text, Some(&file)).await;
            let mut previous = source;
            let mut jobs = Vec::new();
            for (name, settings) in chain {
                let rj = Uuid::new_v4();
                sqlx::query(
                    "INSERT INTO run_jobs (uuid, workflow_run_uuid, workflow_job_hex, job_name, job_queue, job_settings) VALUES ($1, $2, 'wfj', $3, $4, $5)",
                )
                .bind(rj).bind(run).bind(name).bind(&self.queue).bind(settings)
                .execute(&self.pool).await.expect("run job");
                let (input_port, output_port) = match *name {
                    "Resource Distributor" => ("Resource input", Some("Resource output")),
                    "Labeler" => ("Resource", None),
                    _ => ("Text input", Some("Text output")),
                };
                sqlx::query("INSERT INTO inputs (uuid, input_port_type_name, resource_uuid, run_job_uuid) VALUES ($1, $4, $2, $3)")
                    .bind(Uuid::new_v4()).bind(previous).bind(rj).bind(input_port).execute(&self.pool).await.expect("input");
                let mut output = Uuid::nil();
                if let Some(port) = output_port {
                    output = Uuid::new_v4();
                    self.resource(output, project, text, None).await;
                    sqlx::query("INSERT INTO outputs (uuid, output_port_type_name, run_job_uuid, resource_uuid) VALUES ($1, $4, $2, $3)")
                        .bind(Uuid::new_v4()).bind(rj).bind(output).bind(port).execute(&self.pool).await.expect("output");
                }
                jobs.push((rj, output));
                previous = output;
            }
            out.push(jobs);
        }
        (run, out)
    }

    async fn resource(&self, uuid: Uuid, project: Uuid, kind: Uuid, file: Option<&str>) {
        sqlx::query("INSERT INTO resources (uuid, project_uuid, resource_type_uuid, resource_file) VALUES ($1, $2, $3, $4)")
            .bind(uuid).bind(project).bind(kind).bind(file).execute(&self.pool).await.expect("resource");
    }

    pub async fn dispatch(&self, run: Uuid) -> rodan_db::schedule::Dispatched {
        rodan_db::schedule::dispatch(&self.pool, &self.broker, run)
            .await
            .expect("dispatch")
    }

    pub async fn run_status(&self, run: Uuid) -> RunRow {
        let (status, error_summary, error_details) = sqlx::query_as(
            "SELECT status, error_summary, error_details FROM workflow_runs WHERE uuid = $1",
        )
        .bind(run)
        .fetch_one(&self.pool)
        .await
        .expect("the run exists");
        RunRow {
            status,
            error_summary,
            error_details,
        }
    }

    pub async fn run_job(&self, rj: Uuid) -> RunJobRow {
        let (status, attempts, celery_task_id, lease_owner, error_summary) = sqlx::query_as(
            "SELECT status, attempts, celery_task_id, lease_owner, error_summary FROM run_jobs WHERE uuid = $1",
        )
        .bind(rj)
        .fetch_one(&self.pool)
        .await
        .expect("the run job exists");
        RunJobRow {
            status,
            attempts,
            celery_task_id,
            lease_owner,
            error_summary,
        }
    }

    /// The file content of `resource`, if it has one.
    pub async fn content(&self, resource: Uuid) -> Option<String> {
        let file: Option<String> =
            sqlx::query_scalar("SELECT resource_file FROM resources WHERE uuid = $1")
                .bind(resource)
                .fetch_one(&self.pool)
                .await
                .expect("the resource exists");
        file.map(|f| {
            std::fs::read_to_string(self.media.path().join(f)).expect("the resource file exists")
        })
    }

    /// Replaces the file of the first input of `rj` with `bytes`.
    pub async fn set_input(&self, rj: Uuid, bytes: &[u8]) {
        let file: String = sqlx::query_scalar(
            "SELECT r.resource_file FROM inputs i JOIN resources r ON r.uuid = i.resource_uuid WHERE i.run_job_uuid = $1",
        )
        .bind(rj)
        .fetch_one(&self.pool)
        .await
        .expect("the input has a file");
        std::fs::write(self.media.path().join(file), bytes).expect("the input is written");
    }

    /// (error_summary, error_details) of `rj`.
    pub async fn run_job_error(&self, rj: Uuid) -> (String, String) {
        sqlx::query_as("SELECT error_summary, error_details FROM run_jobs WHERE uuid = $1")
            .bind(rj)
            .fetch_one(&self.pool)
            .await
            .expect("the run job exists")
    }

    /// Waits until the run's status is `status`.
    pub async fn wait_run(&self, run: Uuid, status: i32, within: Duration) {
        let start = Instant::now();
        loop {
            let RunRow {
                status: now,
                error_summary: summary,
                ..
            } = self.run_status(run).await;
            if now == status {
                return;
            }
            assert!(
                start.elapsed() < within,
                "run still {now} ({summary}), not {status}, after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the run job's status is `status`.
    pub async fn wait_run_job(&self, rj: Uuid, status: i32, within: Duration) {
        let start = Instant::now();
        loop {
            let now = self.run_job(rj).await.status;
            if now == status {
                return;
            }
            assert!(
                start.elapsed() < within,
                "run job still {now}, not {status}, after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.media.path().join(format!("{name}.log"))
    }

    pub fn sleep(&self, ms: u64, log: &str) -> Value {
        json!({"ms": ms, "log": self.log(log).display().to_string()})
    }
}

pub fn lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}
