//! Rodan's REST API and websocket, reached only through the nginx Service of the `Rodan`.

use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

/// A logged-in user of one Rodan, through its nginx Service.
#[derive(Debug, Clone)]
pub struct Api {
    http: Client,
    /// `http://<nginx Service address>:8080`.
    pub root: String,
    token: String,
}

/// The URL of an object in an API answer.
pub fn url_of(v: &Value) -> &str {
    v["url"]
        .as_str()
        .unwrap_or_else(|| panic!("an object with a url: {v}"))
}

impl Api {
    /// Logs in as `email` with `password` at `root` and keeps the token.
    pub async fn login(root: &str, email: &str, password: &str) -> Self {
        let http = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client");
        let mut api = Self {
            http,
            root: root.to_owned(),
            token: String::new(),
        };
        let body = api
            .call(
                Method::POST,
                "/api/auth/token/",
                Some(json!({"email": email, "password": password})),
                200,
            )
            .await;
        api.token = body["token"].as_str().expect("a token").to_owned();
        api
    }

    /// The API token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `path` made absolute (absolute URLs are kept).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.root)
        }
    }

    /// An absolute URL from an earlier answer, moved onto this API's root (a `Rodan` created
    /// again gets a new nginx Service address).
    pub fn rebased(&self, url: &str) -> String {
        let path = url
            .split_once("://")
            .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
            .unwrap_or(url);
        format!("{}{path}", self.root)
    }

    /// Calls the API, asserts the status `expected`, returns the JSON body.
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
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: nginx answers: {e}"));
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

    /// GETs a media URL with and without the token: (status without, bytes with).
    pub async fn download(&self, url: &str) -> (StatusCode, Vec<u8>) {
        let anonymous = self
            .http
            .get(url)
            .send()
            .await
            .expect("nginx answers")
            .status();
        let resp = self
            .http
            .get(url)
            .header("Authorization", format!("Token {}", self.token))
            .send()
            .await
            .expect("nginx answers");
        assert_eq!(resp.status(), StatusCode::OK, "GET {url}");
        (
            anonymous,
            resp.bytes().await.expect("the file's bytes").to_vec(),
        )
    }

    /// Uploads `pages` (name, PNG bytes) into `project` and waits until a worker of the core
    /// queue typed each; returns the resources.
    pub async fn upload(&self, project: &str, pages: &[(String, Vec<u8>)]) -> Vec<Value> {
        let mut form = reqwest::multipart::Form::new().text("project", project.to_owned());
        for (name, bytes) in pages {
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
            .expect("nginx answers");
        assert_eq!(resp.status(), StatusCode::CREATED, "upload of the pages");
        let body: Value = resp.json().await.expect("a JSON list");
        let mut resources = Vec::new();
        for r in body.as_array().expect("a list of resources") {
            let start = Instant::now();
            let settled = loop {
                let now = self.get(url_of(r)).await;
                if now["processing_status"].is_null() {
                    break now;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(120),
                    "upload not typed by a celery worker: {now}"
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            };
            assert_eq!(
                settled["resource_type_mimetype"], "image/rgb+png",
                "{settled}"
            );
            resources.push(settled);
        }
        resources
    }

    /// Imports a workflow export into `project`, validates it, and returns (workflow URL, the
    /// URL of its one extern input port).
    pub async fn import_workflow(&self, project: &str, document: Value) -> (String, String) {
        let wf = self
            .post(
                "/api/workflows/",
                json!({"project": project, "serialized": document}),
            )
            .await;
        let valid = self.patch(url_of(&wf), json!({"valid": true})).await;
        assert_eq!(valid["valid"], true, "{valid}");
        let entries = valid["workflow_input_ports"]
            .as_array()
            .expect("extern input ports");
        assert_eq!(entries.len(), 1, "one extern input port: {valid}");
        (
            url_of(&wf).to_owned(),
            // Upstream's workflow detail nests its ports; the port's own URL names it.
            entries[0]["url"]
                .as_str()
                .unwrap_or_else(|| panic!("a port with a URL: {valid}"))
                .to_owned(),
        )
    }

    /// Starts a batch run of `workflow` over `pages` on `entry`; returns the run's URL.
    pub async fn run(&self, workflow: &str, entry: &str, pages: &[Value]) -> String {
        let urls: Vec<&str> = pages.iter().map(url_of).collect();
        let run = self
            .post(
                "/api/workflowruns/",
                json!({"workflow": workflow, "resource_assignments": {entry: urls}}),
            )
            .await;
        url_of(&run).to_owned()
    }

    /// The run's run jobs.
    pub async fn run_jobs(&self, run: &str) -> Vec<Value> {
        let page = self
            .get(&format!("/api/runjobs/?workflow_run={run}&page_size=100"))
            .await;
        page["results"].as_array().expect("run jobs").clone()
    }
}
