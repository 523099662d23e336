//! Interactive jobs at the API alone: a run job parked as a worker parks it (WAITING_FOR_INPUT and
//! a bundle written by the `rodan_core::interactive` contract) is acquired, served by its token,
//! refused bad input with nothing changed, and sent back to its queue with good input.

use crate::cases::{body_url, build_chain, run_page, validate_entry};
use crate::ctx::Ctx;
use reqwest::{Method, StatusCode};
use rodan_core::interactive::{INPUT_SCHEMA, PAGE, STATIC, interface_dir};
use serde_json::{Value, json};

cases!(a_waiting_run_job_is_acquired_served_by_its_token_and_sent_back_by_valid_input,);

type Row = (
    i32,
    Value,
    Option<i64>,
    Option<uuid::Uuid>,
    Option<String>,
    Value,
);

async fn row(ctx: &Ctx, id: uuid::Uuid) -> Row {
    sqlx::query_as(
        "SELECT status, job_settings, working_user_id, working_user_token, celery_task_id, interactive_timings \
         FROM run_jobs WHERE uuid = $1",
    )
    .bind(id)
    .fetch_one(&ctx.state.pool)
    .await
    .expect("the run job's row")
}

async fn anonymous(
    ctx: &Ctx,
    method: Method,
    url: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = ctx.http.request(method, url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("the API answers");
    let status = resp.status();
    let text = resp.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn a_waiting_run_job_is_acquired_served_by_its_token_and_sent_back_by_valid_input(ctx: Ctx) {
    let p = ctx.project(&ctx.admin, "interactive").await;
    let (wf, _) = build_chain(&ctx, &ctx.admin, &p).await;
    let entry = validate_entry(&ctx, &ctx.admin, &wf).await;
    let run = run_page(&ctx, &ctx.admin, &p, &wf, &entry).await.run;
    let jobs = ctx
        .ok(
            Method::GET,
            &format!(
                "/api/runjobs/?workflow_run={}&job_name=to%20grey",
                body_url(&run)
            ),
            &ctx.admin,
            None,
            200,
        )
        .await;
    let rj = jobs["results"][0].clone();
    let rj_url = body_url(&rj).to_owned();
    let id = uuid::Uuid::parse_str(rj["uuid"].as_str().expect("a uuid")).expect("a uuid");
    let project = uuid::Uuid::parse_str(p.trim_end_matches('/').rsplit('/').next().expect("an id"))
        .expect("the project's uuid");
    let acquire = format!("{}/api/interactive/{id}/acquire/", ctx.root);

    // Not waiting: no acquire link, and acquiring is refused as upstream refuses it.
    assert!(rj["interactive_acquire"].is_null(), "{rj}");
    let (status, body) = ctx
        .call(Method::POST, &acquire, Some(&ctx.admin), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"message": "This RunJob does not accept input now"})
    );

    // Park it as a worker does: its bundle, then WAITING_FOR_INPUT with its @ settings.
    let dir = ctx.media.path().join(interface_dir(project, id));
    std::fs::create_dir_all(dir.join(STATIC).join("sub")).expect("the bundle's folders");
    std::fs::write(dir.join(PAGE), "<!DOCTYPE html><p id=\"page\">choose</p>").expect("page");
    std::fs::write(dir.join(STATIC).join("app.js"), "console.log(1);").expect("script");
    std::fs::write(dir.join(STATIC).join("sub/data.json"), "{\"n\": 1}").expect("data");
    let schema = json!({"type": "object", "required": ["@choice"], "additionalProperties": false,
                        "properties": {"@choice": {"enum": ["a", "b"]}}});
    std::fs::write(dir.join(INPUT_SCHEMA), schema.to_string()).expect("schema");
    sqlx::query(
        "UPDATE run_jobs SET status = 2, celery_task_id = NULL, job_settings = job_settings || '{\"@round\": 1}' WHERE uuid = $1",
    )
    .bind(id)
    .execute(&ctx.state.pool)
    .await
    .expect("parked");
    let rj = ctx.ok(Method::GET, &rj_url, &ctx.admin, None, 200).await;
    assert_eq!(rj["interactive_acquire"], acquire.as_str());
    assert!(rj["working_user"].is_null() && rj["working_user_expiry"].is_null());
    assert!(
        rj["job"].as_str().is_some_and(|j| j.contains("/api/job/")),
        "{rj}"
    );
    assert_eq!(rj["project"], p.as_str());

    // Acquire: a stranger does not see it, the admin gets the working URL.
    let stranger = ctx.user("stranger").await;
    assert_eq!(
        ctx.call(Method::POST, &acquire, Some(&stranger), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let acquired = ctx.ok(Method::POST, &acquire, &ctx.admin, None, 200).await;
    let working = acquired["working_url"]
        .as_str()
        .expect("a working URL")
        .to_owned();
    assert!(
        working.starts_with(&format!("{}/api/interactive/{id}/", ctx.root)),
        "{working}"
    );
    let rj = ctx.ok(Method::GET, &rj_url, &ctx.admin, None, 200).await;
    assert!(
        rj["working_user_expiry"].is_string() && rj["working_user"].is_string(),
        "{rj}"
    );

    // Served by the token alone.
    let resp = ctx.http.get(&working).send().await.expect("the page");
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .expect("a CSP")
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(resp.text().await.expect("html").contains("id=\"page\""));
    for (path, kind) in [
        ("app.js", "javascript"),
        ("sub/data.json", "application/json"),
    ] {
        let resp = ctx
            .http
            .get(format!("{working}{path}"))
            .send()
            .await
            .expect("a file");
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let ct = resp.headers()["content-type"]
            .to_str()
            .expect("a type")
            .to_owned();
        assert!(ct.contains(kind), "{path}: {ct}");
    }
    for path in [
        "..%2Finput-schema.json",
        "%2E%2E%2F%2E%2E%2Fx",
        "%2Fetc%2Fpasswd",
        "sub",
        "nothing.js",
    ] {
        let (status, _) = anonymous(&ctx, Method::GET, &format!("{working}{path}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let denied = json!({"message": "Permission denied"});
    for bad in ["not-a-token", &uuid::Uuid::new_v4().to_string()] {
        let url = format!("{}/api/interactive/{id}/{bad}/", ctx.root);
        assert_eq!(
            anonymous(&ctx, Method::GET, &url, None).await,
            (StatusCode::UNAUTHORIZED, denied.clone())
        );
        let url = format!("{url}app.js");
        assert_eq!(
            anonymous(&ctx, Method::GET, &url, None).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let token = working
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("a token")
        .to_owned();
    for other in [uuid::Uuid::new_v4().to_string(), "xyz".to_owned()] {
        let url = format!("{}/api/interactive/{other}/{token}/", ctx.root);
        assert_eq!(
            anonymous(&ctx, Method::GET, &url, None).await.0,
            StatusCode::NOT_FOUND
        );
    }

    // Bad input: a specific 400, nothing changed.
    let before = row(&ctx, id).await;
    assert_eq!(
        before.5.as_array().map(Vec::len),
        Some(1),
        "one get: {:?}",
        before.5
    );
    for (input, field) in [
        (json!({"@choice": "c"}), "@choice"),
        (json!({}), "non_field_errors"),
        (json!({"@choice": "a", "extra": 1}), "non_field_errors"),
    ] {
        let (status, body) = anonymous(&ctx, Method::POST, &working, Some(input.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{input}: {body}");
        assert!(body[field].is_array(), "{input}: {body}");
    }
    let (status, body) = anonymous(&ctx, Method::POST, &working, Some(json!([1]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let resp = ctx
        .http
        .post(&working)
        .form(&[("__serialized__", "{oops")])
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.json::<Value>().await.expect("json")["__serialized__"].is_array());
    assert_eq!(row(&ctx, id).await, before, "nothing changed");

    // Good input, as a form with `__serialized__`: merged, SCHEDULED, unlocked, dispatched.
    let resp = ctx
        .http
        .post(&working)
        .form(&[("__serialized__", "{\"@choice\": \"b\"}")])
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, settings, user, token, task, timings) = row(&ctx, id).await;
    assert_eq!(status, 0);
    assert_eq!(
        (settings["@choice"].clone(), settings["@round"].clone()),
        (json!("b"), json!(1))
    );
    assert_eq!((user, token), (None, None));
    assert!(task.is_some(), "the run job is dispatched again");
    let kinds: Vec<Vec<&String>> = timings
        .as_array()
        .expect("timings")
        .iter()
        .map(|t| t.as_object().expect("an object").keys().collect())
        .collect();
    assert_eq!(kinds, [[&"get".to_owned()], [&"post".to_owned()]]);
    assert_eq!(
        anonymous(&ctx, Method::GET, &working, None).await,
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "This RunJob does not accept input now"})
        )
    );
}
