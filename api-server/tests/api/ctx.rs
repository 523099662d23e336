//! One test's world: a fresh database, a server on a loopback port, an admin, helpers.

use reqwest::{Client, Method, StatusCode};
use rodan_api_server::security::{Security, SecurityArgs};
use rodan_api_server::state::{AppState, Inner};
use rodan_core::catalogue::{JobDescriptor, PortType};
use rodan_db::broker::Broker;
use rodan_db::events::Publisher;
use serde_json::{Value, json};
use std::sync::Arc;

pub struct Ctx {
    pub http: Client,
    /// `http://127.0.0.1:<port>`.
    pub root: String,
    pub admin: String,
    pub state: AppState,
    pub amqp_url: String,
    pub db_url: String,
    pub media: tempfile::TempDir,
}

/// What a test's server runs against, and its limits.
pub struct Setup {
    pub db_url: String,
    pub amqp_url: String,
    pub redis_url: String,
    pub max_upload: usize,
    pub max_json: usize,
    /// The pool's acquire timeout.
    pub acquire: std::time::Duration,
    /// Self-registration and mail: off and logged unless a test sets them.
    pub accounts: rodan_api_server::accounts::Accounts,
}

impl Setup {
    pub fn new(db_url: String, amqp_url: String, redis_url: String) -> Self {
        Self {
            db_url,
            amqp_url,
            redis_url,
            max_upload: 64 * 1024 * 1024,
            max_json: 2 * 1024 * 1024,
            acquire: std::time::Duration::from_secs(10),
            accounts: Default::default(),
        }
    }
}

impl rodan_testkit::suite::Fixture for Ctx {
    async fn setup(services: Arc<rodan_testkit::Services>, n: usize) -> Self {
        Self::new(&services, n).await
    }

    /// The case's server task lives on: its idle connections go now, or the suite's pools
    /// together pass PostgreSQL's `max_connections`.
    fn after(&self) -> Option<rodan_testkit::suite::CaseFuture> {
        let pool = self.state.pool.clone();
        Some(Box::pin(async move {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), pool.close()).await;
        }))
    }
}

impl Ctx {
    pub async fn new(services: &rodan_testkit::Services, n: usize) -> Self {
        let db = services
            .postgres
            .database(&format!("api_{n}_{}", std::process::id()));
        Self::start(Setup::new(
            db,
            services.rabbitmq.url(),
            services.redis.url(),
        ))
        .await
    }

    /// A server on `setup`'s services, with a migrated database and an admin.
    pub async fn start(setup: Setup) -> Self {
        let pool = rodan_api_server::server::pool(&setup.db_url, 8, setup.acquire)
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
        let media = tempfile::tempdir().expect("a media dir");
        let broker = Broker::new(setup.amqp_url.clone());
        broker.check().await.expect("RabbitMQ accepts connections");
        let events = Publisher::connect(&setup.redis_url)
            .await
            .expect("Redis accepts connections");
        let state = AppState(Arc::new(Inner {
            pool,
            broker,
            events,
            redis_url: setup.redis_url.clone(),
            media_root: media.path().to_path_buf(),
            serve_media: false,
            version: "test".into(),
            max_upload: setup.max_upload,
            max_json: setup.max_json,
            core_queue: format!("core-{}", uuid::Uuid::new_v4().simple()),
            basic_cache: Default::default(),
            hub: Default::default(),
            security: security(&setup.redis_url, test_security()).await,
            working_user_expiry_seconds: rodan_core::interactive::WORKING_USER_EXPIRY_SECONDS,
            cors_origins: Vec::new(),
            accounts: setup.accounts,
        }));
        let root = serve(state.clone()).await;
        let mut ctx = Self {
            http: Client::new(),
            root,
            admin: String::new(),
            state,
            amqp_url: setup.amqp_url,
            db_url: setup.db_url,
            media,
        };
        ctx.admin = ctx.login("admin@example.org", "admin-password").await;
        ctx
    }

    /// Another API replica on the same database and Redis, with its own caches and `settings`
    /// (login counts in Redis of its own); returns its root URL.
    pub async fn replica(&self, settings: SecurityArgs) -> String {
        self.replica_with(settings, self.state.accounts.clone())
            .await
    }

    /// [`Ctx::replica`] with its own account settings (self-registration, mail).
    pub async fn replica_with(
        &self,
        settings: SecurityArgs,
        accounts: rodan_api_server::accounts::Accounts,
    ) -> String {
        let s = &self.state;
        let state = AppState(Arc::new(Inner {
            pool: s.pool.clone(),
            broker: Broker::new(self.amqp_url.clone()),
            events: s.events.clone(),
            redis_url: s.redis_url.clone(),
            media_root: s.media_root.clone(),
            serve_media: s.serve_media,
            version: s.version.clone(),
            max_upload: s.max_upload,
            max_json: s.max_json,
            core_queue: s.core_queue.clone(),
            basic_cache: Default::default(),
            hub: Default::default(),
            security: security(&s.redis_url, settings).await,
            working_user_expiry_seconds: s.working_user_expiry_seconds,
            cors_origins: s.cors_origins.clone(),
            accounts,
        }));
        serve(state).await
    }

    /// Another API replica on the same services that allows CORS from `origins`; returns its
    /// root URL.
    pub async fn with_cors(&self, origins: &[&str]) -> String {
        let s = &self.state;
        let origins: Vec<String> = origins.iter().map(|o| (*o).to_owned()).collect();
        let state = AppState(Arc::new(Inner {
            pool: s.pool.clone(),
            broker: Broker::new(self.amqp_url.clone()),
            events: s.events.clone(),
            redis_url: s.redis_url.clone(),
            media_root: s.media_root.clone(),
            serve_media: s.serve_media,
            version: s.version.clone(),
            max_upload: s.max_upload,
            max_json: s.max_json,
            core_queue: s.core_queue.clone(),
            basic_cache: Default::default(),
            hub: Default::default(),
            security: security(&s.redis_url, test_security()).await,
            working_user_expiry_seconds: s.working_user_expiry_seconds,
            cors_origins: rodan_api_server::cors::parse_origins(&origins).expect("valid origins"),
            accounts: s.accounts.clone(),
        }));
        serve(state).await
    }

    /// Plays the `celery`-queue worker for this test's uploads: takes `n` type detection messages
    /// from the core queue (within 10 s) and settles each resource as a worker does.
    pub async fn settle_uploads(&self, n: usize) {
        let conn =
            lapin::Connection::connect(&self.amqp_url, lapin::ConnectionProperties::default())
                .await
                .expect("amqp");
        let channel = conn.create_channel().await.expect("channel");
        let start = std::time::Instant::now();
        let mut settled = 0;
        while settled < n {
            let got = channel
                .basic_get(
                    &self.state.core_queue,
                    lapin::options::BasicGetOptions { no_ack: true },
                )
                .await
                .expect("basic_get");
            let Some(delivery) = got else {
                assert!(
                    start.elapsed() < std::time::Duration::from_secs(10),
                    "{settled} of {n} upload messages on the core queue"
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                continue;
            };
            assert_eq!(
                delivery
                    .delivery
                    .properties
                    .kind()
                    .as_ref()
                    .map(|k| k.as_str()),
                Some(rodan_core::message::RESOURCE_MESSAGE_TYPE)
            );
            let message: rodan_core::message::ResourceMessage =
                serde_json::from_slice(&delivery.delivery.data).expect("a resource message");
            rodan_worker::resource::settle(
                &self.state.pool,
                &self.state.media_root,
                message.resource,
            )
            .await
            .expect("the upload settles");
            settled += 1;
        }
        let _ = conn.close(200, "done").await;
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.root)
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(token) = token {
            req = req.header("Authorization", format!("Token {token}"));
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status();
        let text = resp.text().await.expect("a body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Asserts `expected` and returns the body.
    pub async fn ok(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let (status, value) = self.call(method.clone(), path, Some(token), body).await;
        assert_eq!(status.as_u16(), expected, "{method} {path}: {value}");
        value
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/auth/token/",
                None,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login of {email}: {body}");
        body["token"].as_str().expect("a token").to_owned()
    }

    /// Creates a user (as the admin) and returns its token.
    pub async fn user(&self, name: &str) -> String {
        let email = format!("{name}@example.org");
        self.ok(
            Method::POST,
            "/api/auth/register/",
            &self.admin.clone(),
            Some(json!({"username": name, "email": email, "password": format!("{name}-password")})),
            201,
        )
        .await;
        self.login(&email, &format!("{name}-password")).await
    }

    /// Creates a project and returns its URL.
    pub async fn project(&self, token: &str, name: &str) -> String {
        let body = self
            .ok(
                Method::POST,
                "/api/projects/",
                token,
                Some(json!({"name": name})),
                201,
            )
            .await;
        body["url"].as_str().expect("a url").to_owned()
    }

    /// Registers a small test catalogue: a greyscale→onebit job, an rgb→greyscale job, a
    /// two-input mask job, and a sink with no outputs.
    pub async fn register_test_jobs(&self) {
        let port = |name: &str, min, max, types: &[&str]| PortType {
            name: name.into(),
            minimum: min,
            maximum: max,
            is_list: false,
            resource_types: types.iter().map(|t| (*t).to_owned()).collect(),
        };
        let job = |name: &str,
                   queue: &str,
                   inputs: Vec<PortType>,
                   outputs: Vec<PortType>,
                   settings: Value| JobDescriptor {
            name: name.into(),
            author: "tests".into(),
            category: "Test".into(),
            description: format!("{name} for tests"),
            queue: queue.into(),
            settings,
            interactive: false,
            enabled: true,
            input_port_types: inputs,
            output_port_types: outputs,
        };
        let jobs = vec![
            job(
                "to grey",
                "celery",
                vec![port("RGB PNG image", 1, 1, &["image/rgb+png", "image/png"])],
                vec![port("Greyscale PNG image", 1, 2, &["image/greyscale+png"])],
                json!({"type": "object", "properties": {}}),
            ),
            job(
                "binarise",
                "Python3",
                vec![port("Greyscale PNG image", 1, 1, &["image/greyscale+png"])],
                vec![port("Onebit PNG image", 1, 2, &["image/onebit+png"])],
                json!({"type": "object", "required": ["Region size"], "properties": {
                    "Region size": {"type": "integer", "default": 15, "minimum": 1},
                    "Mode": {"enum": ["fast", "exact"], "type": "string", "default": "fast"}}}),
            ),
            job(
                "sink",
                "celery",
                vec![port(
                    "Anything",
                    1,
                    0,
                    &["image/onebit+png", "image/greyscale+png", "image/rgb+png"],
                )],
                vec![],
                json!({"type": "object", "properties": {}}),
            ),
        ];
        rodan_db::catalogue::register_jobs(&self.state.pool, &jobs)
            .await
            .expect("jobs register");
    }

    /// The URL of a job by name.
    pub async fn job_url(&self, name: &str) -> String {
        let (_, jobs) = self
            .call(
                Method::GET,
                &format!("/api/jobs/?name={}", urlencode(name)),
                None,
                None,
            )
            .await;
        jobs["results"][0]["url"]
            .as_str()
            .unwrap_or_else(|| panic!("job {name} is registered: {jobs}"))
            .to_owned()
    }

    /// The URL of a job's port type by job and port name (input or output).
    pub async fn port_type(&self, job: &str, port: &str, input: bool) -> String {
        let (_, jobs) = self
            .call(
                Method::GET,
                &format!("/api/jobs/?name={}", urlencode(job)),
                None,
                None,
            )
            .await;
        let key = if input {
            "input_port_types"
        } else {
            "output_port_types"
        };
        jobs["results"][0][key]
            .as_array()
            .and_then(|ports| ports.iter().find(|p| p["name"] == port))
            .and_then(|p| p["url"].as_str())
            .unwrap_or_else(|| panic!("{job} has port {port}"))
            .to_owned()
    }
}

/// The settings of the test servers: a public URL and one more allowed websocket origin; no
/// trusted proxy, the default login limits.
pub fn test_security() -> SecurityArgs {
    SecurityArgs {
        public_url: Some("http://rodan.example".into()),
        allowed_origins: vec!["http://client.example".into()],
        ..SecurityArgs::default()
    }
}

/// Login counts under a Redis namespace of their own: the tests share one Redis.
async fn security(redis: &str, settings: SecurityArgs) -> Security {
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    Security::connect(redis, settings, &namespace)
        .await
        .expect("Redis accepts connections")
}

/// Serves `state` on a loopback port, with the peer's address (as `serve` does).
async fn serve(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let root = format!("http://{}", listener.local_addr().expect("an address"));
    let app =
        rodan_api_server::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    root
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
