//! The HTTP behaviour that needs no service, straight into the router (`app(state).oneshot`):
//! every answer here is given before PostgreSQL, RabbitMQ or Redis is asked anything, so these
//! run wherever `cargo test` runs. The state points at closed loopback ports: a request that
//! did reach a service would answer 503, and the tests would see it.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use rodan_api_server::accounts::Accounts;
use rodan_api_server::security::{Security, SecurityArgs};
use rodan_api_server::state::{AppState, Inner};
use rodan_db::broker::Broker;
use rodan_db::events::Publisher;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

/// A port on loopback that nothing listens on.
fn closed_port() -> u16 {
    rodan_testkit::free_port()
}

/// The state of a server whose services are all unreachable, CORS open to `client.example`.
fn state() -> AppState {
    let port = closed_port();
    let redis = format!("redis://127.0.0.1:{port}/0");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect_lazy(&format!("postgres://rodan:rodan@127.0.0.1:{port}/rodan"))
        .expect("a lazy pool");
    AppState(Arc::new(Inner {
        pool,
        broker: Broker::new(format!("amqp://127.0.0.1:{port}/%2f")),
        events: Publisher::lazy(&redis).expect("a lazy publisher"),
        redis_url: redis.clone(),
        media_root: std::env::temp_dir(),
        serve_media: false,
        version: "test".into(),
        max_upload: 1 << 20,
        max_json: 1 << 10,
        core_queue: "core".into(),
        basic_cache: Default::default(),
        hub: Default::default(),
        security: Security::lazy(&redis, SecurityArgs::default(), "test").expect("lazy"),
        working_user_expiry_seconds: 60,
        cors_origins: vec!["http://client.example".parse().expect("an origin")],
        accounts: Accounts::default(),
    }))
}

/// Answer of one request into a fresh router: status, headers, body as JSON (`Null` when the
/// body is empty or not JSON).
struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    json: Value,
}

async fn send(request: Request<Body>) -> Answer {
    let response = rodan_api_server::routes::app(state())
        .oneshot(request)
        .await
        .expect("the router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    Answer {
        status,
        headers,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

fn request(method: Method, path: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "rodan.test")
}

fn json_post(path: &str, body: &str) -> Request<Body> {
    request(Method::POST, path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .expect("a request")
}

#[tokio::test]
async fn health_and_the_openapi_document_answer_without_any_service() {
    let health = send(
        request(Method::GET, "/healthz")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(health.status, StatusCode::OK);
    let doc = send(
        request(Method::GET, "/api/openapi.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.json["openapi"], "3.1.0");
    assert_eq!(doc.json["servers"][0]["url"], "http://rodan.test");
}

#[tokio::test]
async fn readiness_is_a_fast_503_while_the_database_is_down() {
    let started = std::time::Instant::now();
    let ready = send(request(Method::GET, "/readyz").body(Body::empty()).unwrap()).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json, json!({"database": "unavailable"}));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_get_drfs_json_answers() {
    let missing = send(
        request(Method::GET, "/api/no-such-route/")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json, json!({"detail": "Not found."}));
    let wrong = send(
        request(Method::DELETE, "/api/")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.json, json!({"detail": "Method not allowed."}));
}

#[tokio::test]
async fn a_request_without_credentials_is_a_401_with_a_challenge() {
    let answer = send(
        request(Method::GET, "/api/projects/")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.json,
        json!({"detail": "Authentication credentials were not provided."})
    );
    assert!(answer.headers.contains_key(header::WWW_AUTHENTICATE));
}

#[tokio::test]
async fn bodies_are_refused_before_they_are_read_or_used() {
    // Over the JSON limit by its length alone: 413.
    let big = send(
        request(Method::POST, "/api/auth/token/")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, "4096")
            .body(Body::from(vec![b' '; 4096]))
            .unwrap(),
    )
    .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", big.json);
    // Not JSON: 400 with the parser's reason.
    let broken = send(json_post("/api/auth/token/", "{\"email\": ")).await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert!(
        broken.json["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("JSON parse error")),
        "{}",
        broken.json
    );
    // Typed: every required field named at once, in DRF's words.
    let empty = send(json_post("/api/auth/token/", "{}")).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert_eq!(empty.json, json!({"password": ["This field is required."]}));
    let reset = send(json_post(
        "/api/auth/reset-password/confirm/",
        "{\"uid\": \"\"}",
    ))
    .await;
    assert_eq!(reset.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reset.json,
        json!({
            "uid": ["This field may not be blank."],
            "token": ["This field is required."],
            "new_password": ["This field is required."],
        })
    );
    // A NUL in a query is refused before any handler.
    let nul = send(
        request(Method::GET, "/api/projects/?name=%00")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(nul.status, StatusCode::BAD_REQUEST);
    assert!(nul.json["name"].is_array(), "{}", nul.json);
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_cors_follows_the_allowed_origins() {
    let answer = send(
        request(Method::GET, "/api/projects/")
            .header(header::ORIGIN, "http://client.example")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.headers["x-content-type-options"], "nosniff");
    assert!(answer.headers.contains_key("x-frame-options"));
    assert!(answer.headers.contains_key("referrer-policy"));
    assert_eq!(
        answer.headers["access-control-allow-origin"],
        "http://client.example"
    );
    // A preflight from an allowed origin is answered before authentication; another origin
    // gets no CORS headers.
    let preflight = |origin: &'static str| {
        request(Method::OPTIONS, "/api/projects/")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
            .body(Body::empty())
            .unwrap()
    };
    let allowed = send(preflight("http://client.example")).await;
    assert!(allowed.status.is_success(), "{}", allowed.status);
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "http://client.example"
    );
    let other = send(preflight("http://elsewhere.example")).await;
    assert!(
        !other.headers.contains_key("access-control-allow-origin"),
        "{:?}",
        other.headers
    );
}
