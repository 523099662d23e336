//! What a client may send, and what happens when a service the API needs is down (issue #13
//! items 1-5 and 9, #12's dispatch defect): every answer a clear 4xx with a field message, a
//! 413 before an oversized body is read, or a 503 while PostgreSQL is down; never a 500.

use crate::cases::{Builder, body_url, upload_unsettled, validate_entry};
use crate::ctx::{Ctx, Setup, urlencode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

cases!(
    nul_characters_anywhere_are_field_errors,
    pages_past_the_end_are_invalid_pages_and_page_sizes_are_cut_off,
    names_over_upstreams_max_length_are_field_errors,
    settings_documents_and_json_bodies_are_bounded,
    uploads_over_the_limit_are_refused_before_their_body_is_read,
    the_api_answers_503_while_postgresql_is_down_and_recovers_by_itself,
    a_run_created_while_rabbitmq_is_down_is_201_and_runs_once_it_is_back,
    bodies_refused_before_the_handler_are_drf_json,
);

/// The start of a body, for messages.
fn short(body: &Value) -> String {
    body.to_string().chars().take(300).collect()
}

const NUL: &str = "Null characters are not allowed.";

/// A workflow job of `to grey` in a new workflow of a new project, as URLs.
struct Made {
    project: String,
    workflow: String,
    workflow_job: String,
}

async fn workflow_job(ctx: &Ctx) -> Made {
    ctx.register_test_jobs().await;
    let project = ctx.project(&ctx.admin, "input").await;
    let b = Builder::new(ctx, &ctx.admin, &project, Some("wf")).await;
    let workflow_job = b.job("to grey").await;
    Made {
        project,
        workflow: b.wf.clone(),
        workflow_job,
    }
}

async fn nul_characters_anywhere_are_field_errors(ctx: Ctx) {
    let Made {
        project: p,
        workflow: wf,
        workflow_job: wfj,
    } = workflow_job(&ctx).await;
    // Query strings: a filter's value, a lookup, an unknown parameter, the ordering.
    for path in [
        "/api/projects/?name=%00",
        "/api/projects/?name__icontains=a%00b",
        "/api/workflows/?name__in=a,%00",
        "/api/resources/?name=%00",
        "/api/projects/?ordering=%00",
        "/api/projects/?unknown=%00",
        "/api/runjobs/?job_name=%00",
    ] {
        let (status, body) = ctx.get(path, &ctx.admin).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let key = path
            .split_once('?')
            .and_then(|(_, q)| q.split_once('='))
            .map(|(k, _)| k)
            .unwrap_or_default();
        assert_eq!(body[key], json!([NUL]), "{path}: {body}");
    }
    // A path segment names nothing.
    let (status, _) = ctx.get("/api/project/%00/", &ctx.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // JSON bodies: a value, a nested settings key, a value in a list, the description.
    let cases = [
        (
            Method::POST,
            "/api/projects/".to_owned(),
            json!({"name": "a\u{0}b"}),
            "name",
        ),
        (
            Method::PATCH,
            p.clone(),
            json!({"description": "x\u{0}"}),
            "description",
        ),
        (
            Method::POST,
            "/api/workflows/".to_owned(),
            json!({"project": p, "name": "a\u{0}b"}),
            "name",
        ),
        (Method::PATCH, wf.clone(), json!({"name": "\u{0}"}), "name"),
        (
            Method::PATCH,
            wfj.clone(),
            json!({"job_settings": {"a\u{0}": 1}}),
            "job_settings",
        ),
        (
            Method::PATCH,
            wfj.clone(),
            json!({"appearance": {"x": ["\u{0}"]}}),
            "appearance",
        ),
        (
            Method::POST,
            "/api/workflows/".to_owned(),
            json!({"project": p, "serialized": {"name": "w\u{0}"}}),
            "serialized",
        ),
        (
            Method::POST,
            "/api/auth/token/".to_owned(),
            json!({"email": "a\u{0}@example.org", "password": "x"}),
            "email",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, answer) = ctx
            .call(method.clone(), &path, Some(&ctx.admin), Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {answer}");
        assert_eq!(answer[field], json!([NUL]), "{method} {path}: {answer}");
    }
    // A form body.
    let resp = ctx
        .http
        .post(ctx.url("/api/projects/"))
        .header("Authorization", format!("Token {}", ctx.admin))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("name=a%00b")
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["name"],
        json!([NUL])
    );
    // Multipart fields and file names.
    let form = reqwest::multipart::Form::new()
        .text("project", p.clone())
        .text("label_names", "a\u{0}")
        .part(
            "files",
            reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("a.txt"),
        );
    let resp = ctx
        .http
        .post(ctx.url("/api/resources/"))
        .header("Authorization", format!("Token {}", ctx.admin))
        .multipart(form)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        resp.json::<Value>().await.expect("json")["label_names"],
        json!([NUL])
    );
    let (status, body) = upload_unsettled(
        &ctx,
        &ctx.admin,
        &p,
        vec![("a\u{0}.txt", b"x".to_vec())],
        Some("text/plain"),
    )
    .await;
    // The multipart parser refuses a NUL in a part's header itself.
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Basic credentials reach the database as they are: a clear 4xx, not a 500.
    let resp = ctx
        .http
        .get(ctx.url("/api/projects/"))
        .basic_auth("ad\u{0}min", Some("pw"))
        .send()
        .await
        .expect("answer");
    assert!(resp.status().is_client_error(), "{}", resp.status());
    // Headers: HTTP itself has no NUL in a header; the server refuses the request.
    for header in ["Authorization: Token a\u{0}b", "X-Forwarded-Host: a\u{0}b"] {
        let answer = raw(
            &ctx,
            format!("GET /api/projects/ HTTP/1.1\r\nHost: x\r\n{header}\r\n\r\n").into_bytes(),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400 "), "{header:?}: {answer}");
    }
    // Nothing was stored.
    let (_, projects) = ctx.get("/api/projects/", &ctx.admin).await;
    assert_eq!(projects["count"], 1, "{projects}");
}

async fn pages_past_the_end_are_invalid_pages_and_page_sizes_are_cut_off(ctx: Ctx) {
    for i in 0..25 {
        ctx.project(&ctx.admin, &format!("p{i:02}")).await;
    }
    for page in [
        "9223372036854775807",
        "9223372036854775808",
        "461168601842738791",
        "3",
        "0",
        "-1",
        "abc",
        "",
    ] {
        for list in ["/api/projects/", "/api/workflows/", "/api/jobs/"] {
            let path = format!("{list}?page={page}");
            let (status, body) = ctx.get(&path, &ctx.admin).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
            assert_eq!(body, json!({"detail": "Invalid page."}), "{path}");
        }
    }
    let size = |v: &Value| v["results"].as_array().map_or(0, Vec::len);
    for (page_size, expected) in [
        ("0", 20),
        ("-5", 20),
        ("abc", 20),
        ("7", 7),
        ("+7", 7),
        ("1000", 25),
        ("99999999999999999999999", 25),
    ] {
        let path = format!("/api/projects/?page_size={}", urlencode(page_size));
        let (status, body) = ctx.get(&path, &ctx.admin).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(size(&body), expected, "{path}");
    }
    let (status, body) = ctx
        .get(
            "/api/projects/?page_size=9223372036854775807&page=2",
            &ctx.admin,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, last) = ctx.get("/api/projects/?page=last", &ctx.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(size(&last), 5);
}

async fn names_over_upstreams_max_length_are_field_errors(ctx: Ctx) {
    let Made {
        project: p,
        workflow: wf,
        workflow_job: wfj,
    } = workflow_job(&ctx).await;
    let long = |n: usize| "é".repeat(n);
    let message = |n: usize| {
        json!([format!(
            "Ensure this field has no more than {n} characters."
        )])
    };
    // At the limit is fine.
    ctx.ok(
        Method::PATCH,
        &wf,
        &ctx.admin,
        Some(json!({"name": long(100)})),
        200,
    )
    .await;
    let cases = [
        (
            Method::POST,
            "/api/projects/".to_owned(),
            json!({"name": long(256)}),
            255,
        ),
        (Method::PATCH, p.clone(), json!({"name": long(256)}), 255),
        (
            Method::POST,
            "/api/workflows/".to_owned(),
            json!({"project": p, "name": long(101)}),
            100,
        ),
        (Method::PATCH, wf.clone(), json!({"name": long(101)}), 100),
        (Method::PATCH, wfj.clone(), json!({"name": long(256)}), 255),
        (
            Method::POST,
            "/api/workflowjobgroups/".to_owned(),
            json!({"workflow_jobs": [wfj], "name": long(101)}),
            100,
        ),
        (
            Method::POST,
            "/api/resourcelists/".to_owned(),
            json!({"project": p, "name": long(201)}),
            200,
        ),
        (
            Method::POST,
            "/api/workflowruns/".to_owned(),
            json!({"workflow": wf, "name": long(101), "resource_assignments": {}}),
            100,
        ),
    ];
    for (method, path, body, max) in cases {
        let (status, answer) = ctx
            .call(method.clone(), &path, Some(&ctx.admin), Some(body))
            .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{method} {path}: {}",
            short(&answer)
        );
        assert_eq!(answer["name"], message(max), "{method} {path}: {answer}");
    }
    let port_type = ctx.port_type("to grey", "RGB PNG image", true).await;
    let (status, answer) = ctx
        .post(
            "/api/inputports/",
            &ctx.admin,
            json!({"workflow_job": wfj, "input_port_type": port_type, "label": long(256)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["label"], message(255));
    // An import names the offending field inside `serialized`.
    let export = ctx
        .ok(
            Method::GET,
            &format!("{wf}?export=true"),
            &ctx.admin,
            None,
            200,
        )
        .await;
    let mut serialized = export.clone();
    serialized["name"] = json!(long(101));
    let (status, answer) = ctx
        .post(
            "/api/workflows/",
            &ctx.admin,
            json!({"project": p, "serialized": serialized}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(
        answer["serialized"]["name"], "Ensure this field has no more than 100 characters.",
        "{answer}"
    );
    // Nothing too long was stored, and the workflow kept its 100-character name.
    let (_, workflows) = ctx.get("/api/workflows/", &ctx.admin).await;
    assert_eq!(workflows["count"], 1, "{workflows}");
    assert_eq!(workflows["results"][0]["name"], long(100));

    // Users: Django's lengths (username, first and last names 150, email 254), on registration
    // and on changes, and nothing of a refused change is kept.
    let email = |n: usize| format!("{}@example.org", "e".repeat(n - 12));
    let (status, answer) = ctx
        .post(
            "/api/auth/register/",
            &ctx.admin,
            json!({"username": long(151), "email": email(255), "password": "a long enough password"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", short(&answer));
    assert_eq!(answer["username"], message(150), "{answer}");
    assert_eq!(answer["email"], message(254), "{answer}");
    ctx.ok(
        Method::PATCH,
        "/api/auth/me/",
        &ctx.admin,
        Some(json!({"first_name": long(150), "email": email(254)})),
        200,
    )
    .await;
    for (key, value, max) in [
        ("first_name", long(151), 150),
        ("last_name", long(151), 150),
        ("username", long(151), 150),
        ("email", email(255), 254),
    ] {
        // A valid field beside the bad one, which must not be stored either.
        let beside = if key == "last_name" {
            "first_name"
        } else {
            "last_name"
        };
        let (status, answer) = ctx
            .patch(
                "/api/auth/me/",
                &ctx.admin,
                json!({key: value, beside: "kept out"}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key}: {}", short(&answer));
        assert_eq!(answer[key], message(max), "{key}: {answer}");
    }
    let me = ctx
        .ok(Method::GET, "/api/auth/me/", &ctx.admin, None, 200)
        .await;
    assert_eq!(me["first_name"], long(150), "{me}");
    assert_eq!(me["email"], email(254), "{me}");
    assert_eq!(me["last_name"], "", "a refused change keeps nothing: {me}");

    // A resource is named after its upload's file, cut to upstream's 200 characters: the file
    // is kept whole, and the name can still be edited with the limit it has.
    let file = format!("{}.png", long(250));
    let (status, created) = upload_unsettled(
        &ctx,
        &ctx.admin,
        &p,
        vec![(file.as_str(), b"x".to_vec())],
        Some("image/rgb+png"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{}", short(&created));
    assert_eq!(created[0]["name"], long(200), "{}", short(&created));
    let resource = created[0]["url"].as_str().expect("a resource URL");
    let renamed = ctx
        .ok(
            Method::PATCH,
            resource,
            &ctx.admin,
            Some(json!({"description": "kept"})),
            200,
        )
        .await;
    assert_eq!(renamed["name"], long(200), "{}", short(&renamed));
}

async fn settings_documents_and_json_bodies_are_bounded(ctx: Ctx) {
    let Made {
        workflow: wf,
        workflow_job: wfj,
        ..
    } = workflow_job(&ctx).await;
    let big = "x".repeat(300 * 1024);
    let (status, body) = ctx
        .patch(&wfj, &ctx.admin, json!({"job_settings": {"unknown": big}}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", short(&body));
    assert!(
        body["job_settings"][0]
            .as_str()
            .is_some_and(|m| m.contains("256 KiB")),
        "{body}"
    );
    let job = ctx.job_url("to grey").await;
    let (status, body) = ctx
        .post(
            "/api/workflowjobs/",
            &ctx.admin,
            json!({"workflow": wf, "job": job, "appearance": {"x": big}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", short(&body));
    assert!(body["appearance"].is_array(), "{body}");
    // Settings of a usual size under a key the schema does not name are kept, as upstream's
    // serializer does (its schema check runs when the workflow is validated).
    let settings = ctx
        .ok(
            Method::PATCH,
            &wfj,
            &ctx.admin,
            Some(json!({"job_settings": {"note": "kept"}})),
            200,
        )
        .await;
    assert_eq!(settings["job_settings"]["note"], "kept");
    let (_, list) = ctx.get("/api/workflowjobs/", &ctx.admin).await;
    assert!(list.to_string().len() < 64 * 1024, "the list stays small");
    // A JSON body over the limit (2 MiB here): 413 with a detail, with a Content-Length and
    // without one (streamed), before the body is parsed.
    let head = |length: &str| {
        format!(
            "POST /api/projects/ HTTP/1.1\r\nHost: x\r\nAuthorization: Token {}\r\nContent-Type: application/json\r\n{length}\r\n\r\n",
            ctx.admin
        )
    };
    let announced = raw(
        &ctx,
        head(&format!("Content-Length: {}", 3 * 1024 * 1024)).into_bytes(),
    )
    .await;
    let streamed = raw(
        &ctx,
        chunked(head("Transfer-Encoding: chunked"), 2 * 1024 * 1024 + 1),
    )
    .await;
    for answer in [announced, streamed] {
        assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
        assert!(
            answer.ends_with(r#"{"detail":"Request body too large: the limit is 2 MiB."}"#),
            "{answer}"
        );
    }
    let (_, projects) = ctx.get("/api/projects/", &ctx.admin).await;
    assert_eq!(projects["count"], 1);
}

/// Sends `bytes` on a new connection and returns what the server answers (read until it closes
/// or a whole JSON response is in, within 10 s).
async fn raw(ctx: &Ctx, bytes: Vec<u8>) -> String {
    let addr = ctx.root.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connects");
    stream.write_all(&bytes).await.expect("sent");
    let mut answer = Vec::new();
    let mut buf = vec![0; 65536];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the server answers without waiting for the rest of the body")
            .expect("read");
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if n == 0 || (text.contains("\r\n\r\n") && text.ends_with('}')) {
            return text.into_owned();
        }
    }
}

/// `head` (announcing a chunked body) and one chunk of `n` bytes of `x`, without the last
/// chunk: a body that passes a limit of `n - 1` bytes, all of which the server can read before
/// it answers.
fn chunked(head: String, n: usize) -> Vec<u8> {
    let mut out = head.into_bytes();
    out.extend(format!("{n:x}\r\n").into_bytes());
    out.extend(std::iter::repeat_n(b'x', n));
    out.extend(b"\r\n");
    out
}

async fn uploads_over_the_limit_are_refused_before_their_body_is_read(ctx: Ctx) {
    let mut setup = Setup::new(
        ctx.db_url.clone(),
        ctx.amqp_url.clone(),
        ctx.state.redis_url.clone(),
    );
    setup.max_upload = 1024 * 1024;
    drop(ctx);
    let ctx = Ctx::start(setup).await;
    let p = ctx.project(&ctx.admin, "uploads").await;
    // Announced over the limit: refused on the headers alone, before a byte of the body.
    let head = |length: &str| {
        format!(
            "POST /api/resources/ HTTP/1.1\r\nHost: x\r\nAuthorization: Token {}\r\nContent-Type: multipart/form-data; boundary=b\r\n{length}\r\n\r\n",
            ctx.admin
        )
    };
    let announced = raw(
        &ctx,
        head(&format!("Content-Length: {}", 800 * 1024 * 1024)).into_bytes(),
    )
    .await;
    // Streamed without a length: cut as soon as it passes the limit.
    let preamble = format!(
        "--b\r\nContent-Disposition: form-data; name=\"project\"\r\n\r\n{p}\r\n--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.txt\"\r\nContent-Type: text/plain\r\n\r\n"
    );
    let mut streamed = head("Transfer-Encoding: chunked").into_bytes();
    let n = 1024 * 1024 + 1;
    streamed.extend(format!("{:x}\r\n{preamble}", preamble.len() + n).into_bytes());
    streamed.extend(std::iter::repeat_n(b'x', n));
    streamed.extend(b"\r\n");
    let streamed = raw(&ctx, streamed).await;
    for answer in [announced, streamed] {
        assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
        assert!(
            answer.ends_with(r#"{"detail":"Request body too large: the limit is 1 MiB."}"#),
            "{answer}"
        );
    }
    // Under the limit it is stored, and nothing of the refused ones is.
    let (status, created) = upload_unsettled(
        &ctx,
        &ctx.admin,
        &p,
        vec![("small.txt", vec![b'x'; 512 * 1024])],
        Some("text/plain"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, resources) = ctx.get("/api/resources/", &ctx.admin).await;
    assert_eq!(resources["count"], 1, "{resources}");
    let staged = std::fs::read_dir(ctx.media.path().join(".staging"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staged, 0, "no staged file is left behind");
}

async fn the_api_answers_503_while_postgresql_is_down_and_recovers_by_itself(ctx: Ctx) {
    let postgres = tokio::task::block_in_place(rodan_testkit::Postgres::start);
    let mut setup = Setup::new(
        postgres.database("outage"),
        ctx.amqp_url.clone(),
        ctx.state.redis_url.clone(),
    );
    setup.acquire = Duration::from_secs(2);
    drop(ctx);
    let ctx = Ctx::start(setup).await;
    let p = ctx.project(&ctx.admin, "before").await;
    ctx.ok(Method::GET, &p, &ctx.admin, None, 200).await;

    tokio::task::block_in_place(|| postgres.stop());
    for (method, path, body) in [
        (Method::GET, "/api/projects/".to_owned(), None),
        (Method::GET, p.clone(), None),
        (
            Method::POST,
            "/api/projects/".to_owned(),
            Some(json!({"name": "during"})),
        ),
    ] {
        let started = Instant::now();
        let mut req = ctx
            .http
            .request(method.clone(), ctx.url(&path))
            .header("Authorization", format!("Token {}", ctx.admin));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("answer");
        let took = started.elapsed();
        assert_eq!(
            resp.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{method} {path}"
        );
        assert!(
            resp.headers().contains_key("retry-after"),
            "{:?}",
            resp.headers()
        );
        let body = resp.json::<Value>().await.expect("json");
        assert!(body["detail"].is_string(), "{body}");
        // The acquire timeout (2 s here), not the 10 s of a worker's pool.
        assert!(
            took < Duration::from_secs(6),
            "{method} {path} took {took:?}"
        );
    }
    let (status, _) = ctx.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    tokio::task::block_in_place(|| postgres.start_again());
    let started = Instant::now();
    loop {
        let (status, body) = ctx.get("/api/projects/", &ctx.admin).await;
        if status == StatusCode::OK {
            assert_eq!(body["count"], 1, "{body}");
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the API recovers once PostgreSQL is back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ctx.ok(
        Method::POST,
        "/api/projects/",
        &ctx.admin,
        Some(json!({"name": "after"})),
        201,
    )
    .await;
}

async fn a_run_created_while_rabbitmq_is_down_is_201_and_runs_once_it_is_back(ctx: Ctx) {
    let rabbit = tokio::task::spawn_blocking(rodan_testkit::RabbitMq::start)
        .await
        .expect("RabbitMQ starts");
    let setup = Setup::new(
        ctx.db_url.clone(),
        rabbit.url(),
        ctx.state.redis_url.clone(),
    );
    drop(ctx);
    let ctx = Ctx::start(setup).await;
    // The server's re-dispatch loop, as `serve` runs it (faster here).
    let sweeper = tokio::spawn(rodan_api_server::redispatch::run(
        ctx.state.clone(),
        Duration::from_millis(300),
    ));
    let hello = rodan_jobs::find("Hello World").expect("Hello World exists");
    rodan_db::catalogue::register_jobs(&ctx.state.pool, &[hello.descriptor()])
        .await
        .expect("registered");
    let p = ctx.project(&ctx.admin, "outage").await;
    let b = Builder::new(&ctx, &ctx.admin, &p, Some("hello")).await;
    let wfj = b.job("Hello World").await;
    b.port(&wfj, "Hello World", "Text input", true).await;
    b.port(&wfj, "Hello World", "Text output", false).await;
    let entry = validate_entry(&ctx, &ctx.admin, &b.wf).await;
    let (status, text) = upload_unsettled(
        &ctx,
        &ctx.admin,
        &p,
        vec![("page.txt", b"from the test".to_vec())],
        Some("text/plain"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let resource = body_url(&text[0]).to_owned();

    let ctl = |args: &'static [&'static str]| {
        let out = tokio::task::block_in_place(|| rabbit.ctl(args));
        eprintln!("rabbitmqctl {args:?}: {out}");
    };
    ctl(&["stop_app"]);
    let (status, run) = ctx
        .post(
            "/api/workflowruns/",
            &ctx.admin,
            json!({"workflow": b.wf, "resource_assignments": {entry: [resource]}}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a stored run is created: {run}"
    );
    let run_url = body_url(&run).to_owned();
    let (_, again) = ctx.get(&run_url, &ctx.admin).await;
    assert_eq!(again["status"], rodan_core::status::PROCESSING, "{again}");
    let (_, runs) = ctx.get("/api/workflowruns/", &ctx.admin).await;
    assert_eq!(runs["count"], 1, "one run, not one per retry: {runs}");

    ctl(&["start_app"]);
    let mut config = rodan_worker::Config::new(
        &ctx.db_url,
        &rabbit.url(),
        &ctx.state.redis_url,
        ctx.media.path().to_path_buf(),
    );
    config.core_queue = ctx.state.core_queue.clone();
    let worker = rodan_worker::Worker::start(config, vec![hello])
        .await
        .expect("the worker starts");
    let started = Instant::now();
    loop {
        let (_, now) = ctx.get(&run_url, &ctx.admin).await;
        if now["status"] == rodan_core::status::FINISHED {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run finishes once RabbitMQ is back: {now}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, jobs) = ctx
        .get(
            &format!("/api/runjobs/?workflow_run={}", urlencode(&run_url)),
            &ctx.admin,
        )
        .await;
    assert_eq!(jobs["count"], 1, "{jobs}");
    assert_eq!(jobs["results"][0]["status"], rodan_core::status::FINISHED);
    // A results package asked for while RabbitMQ is down cannot be queued: 503, try again.
    ctl(&["stop_app"]);
    let resp = ctx
        .http
        .post(ctx.url("/api/resultspackages/"))
        .header("Authorization", format!("Token {}", ctx.admin))
        .json(&json!({"workflow_run": run_url, "packaging_mode": 0}))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    ctl(&["start_app"]);
    sweeper.abort();
    let _ = worker.stop().await;
    drop(rabbit);
}

/// What axum's extractors refuse before a handler runs is answered as DRF answers it, in JSON:
/// an upload that is not multipart (415), a multipart body without a boundary (400), and a
/// request to the websocket that is not an upgrade (400).
async fn bodies_refused_before_the_handler_are_drf_json(ctx: Ctx) {
    let json_body = |resp: reqwest::Response| async move {
        let kind = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(kind.starts_with("application/json"), "{kind}");
        (resp.status(), resp.json::<Value>().await.expect("JSON"))
    };
    let upload = |content_type: &'static str| {
        ctx.http
            .post(ctx.url("/api/resources/"))
            .header("Authorization", format!("Token {}", ctx.admin))
            .header("Content-Type", content_type)
            .body("{}")
            .send()
    };
    let (status, body) = json_body(upload("application/json").await.expect("answer")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(
        body,
        json!({"detail": "Unsupported media type \"application/json\" in request."})
    );
    let (status, body) = json_body(upload("multipart/form-data").await.expect("answer")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body,
        json!({"detail": "Multipart form parse error - Invalid boundary in multipart: None"})
    );
    let resp = ctx
        .http
        .get(ctx.url("/ws/rodan"))
        .header("Authorization", format!("Token {}", ctx.admin))
        .send()
        .await
        .expect("answer");
    let (status, body) = json_body(resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    // Nothing was stored.
    let (_, resources) = ctx.get("/api/resources/", &ctx.admin).await;
    assert_eq!(resources["count"], 0, "{resources}");
}
