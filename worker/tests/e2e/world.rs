//! One case's world: a fresh database, a RabbitMQ virtual host, a media root, the API server
//! in-process on loopback, two `rodan-worker` child processes, and REST helpers.

use crate::pages::PIPELINE;
use reqwest::{Client, Method, StatusCode};
use rodan_api_server::state::{AppState, Inner};
use rodan_db::broker::Broker;
use rodan_db::events::Publisher;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long anything is waited for before the case fails.
pub const WAIT: Duration = Duration::from_secs(40);

/// A `rodan-worker serve` child process.
pub struct WorkerProc {
    /// Its `lease_owner` name.
    pub name: String,
    /// The process; killed when dropped.
    pub child: tokio::process::Child,
    /// Its stderr.
    pub log: PathBuf,
    /// Its /healthz and /metrics port.
    pub metrics_port: u16,
    /// The queues it consumes (`CELERY_JOB_QUEUE`).
    pub queues: String,
}

/// The services, the API server and the workers of one case.
pub struct World {
    /// The HTTP client.
    pub http: Client,
    /// `http://127.0.0.1:<port>`.
    pub root: String,
    /// The admin's API token.
    pub token: String,
    /// The case's database, for what the API does not show.
    pub pool: PgPool,
    /// Its URL.
    pub db_url: String,
    /// RabbitMQ, on the case's virtual host.
    pub amqp_url: String,
    /// Redis.
    pub redis_url: String,
    /// The media root shared by the API server and the workers.
    pub media: tempfile::TempDir,
    /// Workers `a` and `b`.
    pub workers: Vec<WorkerProc>,
    /// Environment given to the workers beside the services' (see [`World::restart_workers`]).
    pub worker_env: Vec<(String, String)>,
}

impl rodan_testkit::suite::Fixture for World {
    async fn setup(services: std::sync::Arc<rodan_testkit::Services>, n: usize) -> Self {
        Self::new(&services, n).await
    }
}

impl World {
    /// Prepares case `n`: its database, RabbitMQ virtual host, API server, and workers `a` and `b`.
    pub async fn new(services: &rodan_testkit::Services, n: usize) -> Self {
        let db_url = services
            .postgres
            .database(&format!("e2e_{n}_{}", std::process::id()));
        let pool = rodan_db::connect(&db_url, 8)
            .await
            .expect("the database accepts connections");
        rodan_api_server::bootstrap::prepare(&pool)
            .await
            .expect("migrations apply");
        rodan_api_server::bootstrap::create_superuser(
            &pool,
            "admin",
            "admin@example.org",
            "admin-password",
        )
        .await
        .expect("the admin is created");
        // A virtual host per case keeps the `Python3` queues of cases running at once apart.
        let vhost = format!("e2e{n}");
        services.rabbitmq.ctl(&["add_vhost", &vhost]);
        services
            .rabbitmq
            .ctl(&["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"]);
        let amqp_url = format!(
            "amqp://guest:guest@127.0.0.1:{}/{vhost}",
            services.rabbitmq.port
        );
        let broker = Broker::new(amqp_url.clone());
        broker
            .check()
            .await
            .expect("RabbitMQ accepts connections to the case's vhost");
        let events = Publisher::connect(&services.redis.url())
            .await
            .expect("Redis accepts connections");
        let media = tempfile::tempdir().expect("a media dir");
        let state = AppState(Arc::new(Inner {
            pool: pool.clone(),
            broker,
            events,
            redis_url: services.redis.url(),
            media_root: media.path().to_path_buf(),
            serve_media: true,
            version: "e2e".into(),
            max_upload: 64 * 1024 * 1024,
            max_json: 16 * 1024 * 1024,
            core_queue: rodan_types::queues::CELERY.into(),
            basic_cache: Default::default(),
            hub: Default::default(),
            security: rodan_api_server::security::Security::connect(
                &services.redis.url(),
                Default::default(),
                &format!("e2e-{}", uuid::Uuid::new_v4().simple()),
            )
            .await
            .expect("Redis accepts connections"),
            working_user_expiry_seconds: rodan_core::interactive::WORKING_USER_EXPIRY_SECONDS,
            cors_origins: Vec::new(),
            accounts: Default::default(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let root = format!("http://{}", listener.local_addr().expect("an address"));
        let app = rodan_api_server::app(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut world = Self {
            http: Client::new(),
            root,
            token: String::new(),
            pool,
            db_url,
            amqp_url,
            redis_url: services.redis.url(),
            media,
            workers: Vec::new(),
            worker_env: Vec::new(),
        };
        world.token = world.login().await;
        for name in ["a", "b"] {
            let worker = world.spawn_worker(&format!("worker-{name}-{n}"));
            world.workers.push(worker);
        }
        world.wait_workers_ready().await;
        world
    }

    /// Stops the workers and starts them again, with [`World::worker_env`] as it is now.
    pub async fn restart_workers(&mut self) {
        let names: Vec<(String, String)> = self
            .workers
            .iter()
            .map(|w| (w.name.clone(), w.queues.clone()))
            .collect();
        for mut worker in self.workers.drain(..) {
            let _ = worker.child.kill().await;
        }
        for (name, queues) in names {
            let worker = self.spawn_worker_on(&name, &queues);
            self.workers.push(worker);
        }
        self.wait_workers_ready().await;
    }

    /// Starts one more worker, consuming only `queues`, and waits until it answers; gives its
    /// index in [`World::workers`].
    pub async fn add_worker(&mut self, name: &str, queues: &str) -> usize {
        let worker = self.spawn_worker_on(&format!("worker-{name}"), queues);
        self.workers.push(worker);
        self.wait_workers_ready().await;
        self.workers.len() - 1
    }

    /// Starts `rodan-worker serve` on the case's services, consuming the pipeline's queues.
    fn spawn_worker(&self, name: &str) -> WorkerProc {
        // The three jobs are on upstream's `Python3` queue.
        self.spawn_worker_on(name, "celery,Python3")
    }

    /// Starts `rodan-worker serve` on the case's services, consuming `queues`, logging to a
    /// file in the media root.
    fn spawn_worker_on(&self, name: &str, queues: &str) -> WorkerProc {
        let metrics_port = rodan_testkit::free_port();
        let log = self.media.path().join(format!("{name}.log"));
        // Appended to: a restarted worker's log follows its first life's.
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("the worker log opens");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rodan-worker"))
            .arg("serve")
            .env("DATABASE_URL", &self.db_url)
            .env("RABBITMQ_URL", &self.amqp_url)
            .env("REDIS_URL", &self.redis_url)
            .env("RODAN_MEDIA_ROOT", self.media.path())
            .env("CELERY_JOB_QUEUE", queues)
            .env("RODAN_WORKER_NAME", name)
            .env(
                "RODAN_WORKER_METRICS_ADDR",
                format!("127.0.0.1:{metrics_port}"),
            )
            .env("RODAN_WORKER_LEASE_SECONDS", "3")
            .env("RODAN_WORKER_REAP_SECONDS", "1")
            .env("RODAN_WORKER_GRACE_SECONDS", "2")
            .env("RUST_LOG", "info")
            .envs(self.worker_env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("the worker binary starts");
        WorkerProc {
            name: name.to_owned(),
            child,
            log,
            metrics_port,
            queues: queues.to_owned(),
        }
    }

    /// Waits until every worker answers /healthz and the pipeline's jobs are registered.
    async fn wait_workers_ready(&mut self) {
        let start = Instant::now();
        let mut pending: Vec<usize> = (0..self.workers.len()).collect();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for i in pending {
                let url = format!("http://127.0.0.1:{}/healthz", self.workers[i].metrics_port);
                let up = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == StatusCode::OK);
                if !up {
                    if let Ok(Some(exit)) = self.workers[i].child.try_wait() {
                        panic!(
                            "worker {} exited with {exit} while starting:\n{}",
                            self.workers[i].name,
                            tail(&self.workers[i].log)
                        );
                    }
                    still.push(i);
                }
            }
            pending = still;
            assert!(
                start.elapsed() < WAIT,
                "waited {WAIT:?} for workers {pending:?} to answer /healthz:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let names: Vec<&str> = PIPELINE.iter().map(|p| p.0).collect();
        let registered: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE name = ANY($1)")
            .bind(&names)
            .fetch_one(&self.pool)
            .await
            .expect("jobs are counted");
        assert_eq!(
            registered, 3,
            "the workers registered the pipeline's jobs {names:?}"
        );
    }

    /// GETs `path` on worker `i`'s metrics port: (status, body); `None` when it does not answer.
    pub async fn worker_http(&self, i: usize, path: &str) -> Option<(u16, String)> {
        let url = format!("http://127.0.0.1:{}{path}", self.workers[i].metrics_port);
        let response = self.http.get(&url).send().await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    }

    /// Run jobs the workers committed as finished, from their `/metrics`
    /// (`rodan_worker_jobs_finished_total`, summed over jobs and workers).
    pub async fn finished_total(&self) -> u64 {
        let mut total = 0;
        for i in 0..self.workers.len() {
            let (_, text) = self
                .worker_http(i, "/metrics")
                .await
                .unwrap_or_else(|| panic!("worker {} answers /metrics", self.workers[i].name));
            total += text
                .lines()
                .filter(|l| l.starts_with("rodan_worker_jobs_finished_total{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum::<u64>();
        }
        total
    }

    /// The last lines of every worker's log.
    pub fn logs(&self) -> String {
        self.workers
            .iter()
            .map(|w| format!("--- {} ---\n{}", w.name, tail(&w.log)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `path` made absolute on the API server (absolute URLs are kept).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.root)
        }
    }

    async fn login(&self) -> String {
        let body = self
            .call(
                Method::POST,
                "/api/auth/token/",
                Some(json!({"email": "admin@example.org", "password": "admin-password"})),
                200,
            )
            .await;
        body["token"].as_str().expect("a token").to_owned()
    }

    /// Calls the API as the admin, asserts the status `expected`, returns the JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let mut req = self.http.request(method.clone(), self.url(path));
        if !self.token.is_empty() {
            req = req.header("Authorization", format!("Token {}", self.token));
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("the API server answers");
        let status = resp.status();
        let text = resp.text().await.expect("a body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        assert_eq!(status.as_u16(), expected, "{method} {path}: {value}");
        value
    }

    /// GET, expecting 200.
    pub async fn get(&self, path: &str) -> Value {
        self.call(Method::GET, path, None, 200).await
    }

    /// POST, expecting 201.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.call(Method::POST, path, Some(body), 201).await
    }

    /// PATCH, expecting 200.
    pub async fn patch(&self, path: &str, body: Value) -> Value {
        self.call(Method::PATCH, path, Some(body), 200).await
    }

    /// Downloads a media URL (`/uploads/...`) as the admin.
    pub async fn download(&self, url: &str) -> Vec<u8> {
        let resp = self
            .http
            .get(url)
            .header("Authorization", format!("Token {}", self.token))
            .send()
            .await
            .expect("the API server answers");
        assert_eq!(resp.status(), StatusCode::OK, "GET {url}");
        resp.bytes().await.expect("the file's bytes").to_vec()
    }

    /// Creates a project and uploads `pages` (name, PNG bytes) into it; returns the project URL
    /// and the uploaded resources, each detected as an RGB PNG.
    pub async fn upload(&self, pages: &[(String, Vec<u8>)]) -> (String, Vec<Value>) {
        let project = self.project().await;
        let resources = self.upload_into(&project, pages).await;
        for settled in &resources {
            assert_eq!(
                settled["resource_type_mimetype"], "image/rgb+png",
                "an RGB page is detected as such: {settled}"
            );
        }
        (project, resources)
    }

    /// Creates a project; returns its URL.
    pub async fn project(&self) -> String {
        let project = self.post("/api/projects/", json!({"name": "e2e"})).await;
        url_of(&project).to_owned()
    }

    /// Uploads `files` (name, bytes) into `project` in one request; returns the resources once
    /// a worker of the celery queue has typed each and cleared its processing status.
    pub async fn upload_into(&self, project: &str, files: &[(String, Vec<u8>)]) -> Vec<Value> {
        let mut form = reqwest::multipart::Form::new().text("project", project.to_owned());
        for (name, bytes) in files {
            form = form.part(
                "files",
                reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.clone()),
            );
        }
        let resp = self
            .http
            .post(self.url("/api/resources/"))
            .header("Authorization", format!("Token {}", self.token))
            .multipart(form)
            .send()
            .await
            .expect("the API server answers");
        assert_eq!(resp.status(), StatusCode::CREATED, "upload of the files");
        let body: Value = resp.json().await.expect("a JSON list");
        let mut resources = Vec::new();
        for r in body.as_array().expect("a list of resources") {
            let start = std::time::Instant::now();
            let settled = loop {
                let now = self.get(url_of(r)).await;
                if now["processing_status"].is_null() {
                    break now;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "upload not settled: {now}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            resources.push(settled);
        }
        resources
    }

    /// A job by name, with its port types.
    pub async fn job(&self, name: &str) -> Value {
        let jobs = self
            .get(&format!("/api/jobs/?name={}", name.replace(' ', "%20")))
            .await;
        jobs["results"][0].clone()
    }

    /// Builds greyscale -> Sauvola -> Despeckle in `project` through REST with `settings` per
    /// job, validates it, and returns (workflow URL, its entry input port URL, each workflow
    /// job's stored settings).
    pub async fn build_pipeline(
        &self,
        project: &str,
        settings: [Value; 3],
    ) -> (String, String, [Value; 3]) {
        let wf = self
            .post(
                "/api/workflows/",
                json!({"project": project, "name": "binarise pages"}),
            )
            .await;
        let wf = url_of(&wf).to_owned();
        let mut ins = Vec::new();
        let mut outs = Vec::new();
        let mut stored = Vec::new();
        for ((name, in_port, out_port, _), settings) in PIPELINE.iter().zip(settings) {
            let job = self.job(name).await;
            let wfj = self
                .post(
                    "/api/workflowjobs/",
                    json!({"workflow": wf, "job": job["url"], "job_settings": settings}),
                )
                .await;
            stored.push(wfj["job_settings"].clone());
            let ip = self
                .post(
                    "/api/inputports/",
                    json!({"workflow_job": wfj["url"], "input_port_type": port_type(&job, "input_port_types", in_port)}),
                )
                .await;
            let op = self
                .post(
                    "/api/outputports/",
                    json!({"workflow_job": wfj["url"], "output_port_type": port_type(&job, "output_port_types", out_port)}),
                )
                .await;
            ins.push(url_of(&ip).to_owned());
            outs.push(url_of(&op).to_owned());
        }
        for i in 0..2 {
            self.post(
                "/api/connections/",
                json!({"output_port": outs[i], "input_port": ins[i + 1]}),
            )
            .await;
        }
        let valid = self.patch(&wf, json!({"valid": true})).await;
        assert_eq!(valid["valid"], true, "{valid}");
        let entries = valid["workflow_input_ports"]
            .as_array()
            .expect("extern input ports");
        assert_eq!(entries.len(), 1, "only greyscale's input is extern");
        assert_eq!(entries[0]["url"], ins[0].as_str());
        let stored: [Value; 3] = stored.try_into().expect("three jobs");
        (wf, ins[0].clone(), stored)
    }

    /// Starts a batch run of `workflow` over `pages`; returns the run's URL.
    pub async fn run(&self, workflow: &str, entry: &str, pages: &[Value]) -> String {
        let urls: Vec<&str> = pages.iter().map(url_of).collect();
        let run = self
            .post(
                "/api/workflowruns/",
                json!({"workflow": workflow, "resource_assignments": {entry: urls}}),
            )
            .await;
        assert_eq!(run["status"], 1, "{run}");
        assert_eq!(
            run["run_jobs"].as_array().map(Vec::len),
            Some(3 * pages.len()),
            "one run job per job and page"
        );
        url_of(&run).to_owned()
    }

    /// The run's run jobs through REST.
    pub async fn run_jobs(&self, run: &str) -> Vec<Value> {
        let page = self
            .get(&format!("/api/runjobs/?workflow_run={run}&page_size=100"))
            .await;
        page["results"].as_array().expect("run jobs").clone()
    }

    /// Polls the run until its status is `want`; fails with the run jobs and worker logs when it
    /// fails, or when `within` passes.
    pub async fn wait_run(&self, run: &str, want: i64, within: Duration) {
        let start = Instant::now();
        loop {
            let now = self.get(run).await["status"].as_i64().unwrap_or(i64::MIN);
            if now == want {
                return;
            }
            let failed = now == i64::from(rodan_core::status::FAILED);
            if failed || start.elapsed() > within {
                panic!(
                    "waited {:?} for run {run} to reach status {want}; it is {now}\nrun jobs:\n{}\n{}",
                    start.elapsed(),
                    self.describe(run).await,
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One line per run job: name, page, status, attempts, owner, error.
    pub async fn describe(&self, run: &str) -> String {
        let rows: Vec<RunJobRow> = sqlx::query_as(
            "SELECT job_name, resource_hex, status, attempts, lease_owner, error_summary, error_details FROM run_jobs \
             WHERE workflow_run_uuid = $1 ORDER BY resource_hex, created",
        )
        .bind(uuid_of(run))
        .fetch_all(&self.pool)
        .await
        .expect("run jobs are read");
        rows.iter()
            .map(|r| format!("  {r:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Checks every page's three outputs: they have files of the right type, and their pixels
    /// equal the reference pipeline's on that page.
    pub async fn check_outputs(
        &self,
        run: &str,
        pages: &[Value],
        bytes: &[(String, Vec<u8>)],
        settings: &[Value; 3],
    ) {
        let jobs = self.run_jobs(run).await;
        for (page, (name, png)) in pages.iter().zip(bytes) {
            let hex = page["uuid"].as_str().expect("a uuid").replace('-', "");
            let expected = crate::pages::reference(png, settings);
            for (step, (job_name, _, port, mimetype)) in PIPELINE.iter().enumerate() {
                let rj = jobs
                    .iter()
                    .find(|j| j["job_name"] == *job_name && j["resource_uuid"] == hex.as_str())
                    .unwrap_or_else(|| panic!("a '{job_name}' run job for page {name}"));
                assert_eq!(rj["status"], 4, "{rj}");
                let outputs = rj["outputs"].as_array().expect("outputs");
                assert_eq!(outputs.len(), 1, "{job_name} has one output");
                let output = self.get(outputs[0].as_str().expect("a url")).await;
                assert_eq!(output["output_port_type_name"], *port);
                let resource = self
                    .get(output["resource"].as_str().expect("a resource"))
                    .await;
                assert_eq!(
                    resource["resource_type_mimetype"], *mimetype,
                    "{job_name}'s output for {name}"
                );
                let file = resource["resource_file"].as_str().unwrap_or_default();
                assert!(
                    file.contains("/uploads/"),
                    "{job_name}'s output for {name} has a file: {resource}"
                );
                let got = self.download(file).await;
                let what = format!("{job_name} on {name}");
                let (got_px, want_px) = (
                    crate::pages::pixels(&got, &what),
                    crate::pages::pixels(&expected[step], "the reference"),
                );
                if got_px != want_px {
                    let differing = got_px
                        .3
                        .iter()
                        .zip(&want_px.3)
                        .filter(|(a, b)| a != b)
                        .count();
                    panic!(
                        "{what}: the worker's output differs from the reference ({}x{} {:?} vs {}x{} {:?}, {differing} bytes differ; kept as {} and {})",
                        got_px.0,
                        got_px.1,
                        got_px.2,
                        want_px.0,
                        want_px.1,
                        want_px.2,
                        crate::pages::keep(&format!("{what}.got.png"), &got),
                        crate::pages::keep(&format!("{what}.expected.png"), &expected[step])
                    );
                }
            }
            let binarised = crate::pages::black(&expected[1], "Sauvola's output");
            let despeckled = crate::pages::black(&expected[2], "Despeckle's output");
            assert!(
                despeckled > 0 && despeckled < binarised,
                "page {name} has ink, and Despeckle removed specks ({binarised} -> {despeckled} black pixels)"
            );
        }
    }

    /// Status, attempts and lease owner of every run job of `run`, from the database (the API
    /// does not show leases).
    pub async fn leases(&self, run: &str) -> Vec<JobLease> {
        let rows: Vec<(uuid::Uuid, i32, i32, Option<String>)> = sqlx::query_as(
            "SELECT uuid, status, attempts, lease_owner FROM run_jobs WHERE workflow_run_uuid = $1",
        )
        .bind(uuid_of(run))
        .fetch_all(&self.pool)
        .await
        .expect("run jobs are read");
        rows.into_iter()
            .map(|(uuid, status, attempts, owner)| JobLease {
                uuid,
                status,
                attempts,
                owner,
            })
            .collect()
    }
}

/// A run job's row as `describe` shows it: name, page, status, attempts, owner, error and its
/// details.
type RunJobRow = (
    String,
    Option<String>,
    i32,
    i32,
    Option<String>,
    String,
    String,
);

/// A run job's progress and lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLease {
    /// The run job.
    pub uuid: uuid::Uuid,
    /// Its status code.
    pub status: i32,
    /// How many times a worker claimed it.
    pub attempts: i32,
    /// The worker holding its lease.
    pub owner: Option<String>,
}

/// The `url` of an API object.
pub fn url_of(v: &Value) -> &str {
    v["url"]
        .as_str()
        .unwrap_or_else(|| panic!("an object with a url: {v}"))
}

/// The UUID at the end of an object URL.
pub fn uuid_of(url: &str) -> uuid::Uuid {
    url.trim_end_matches('/')
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{url} ends with a uuid"))
}

/// The URL of `job`'s port type named `name` among its `key` (`input_port_types` or
/// `output_port_types`), as the job catalogue lists them.
pub fn port_type(job: &Value, key: &str, name: &str) -> String {
    job[key]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .and_then(|p| p["url"].as_str())
        .unwrap_or_else(|| panic!("{} has no port {name} in {key}: {job}", job["name"]))
        .to_owned()
}

/// The last 30 lines of a log file.
pub fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
