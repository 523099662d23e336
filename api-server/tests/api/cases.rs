//! The test cases, each a sentence.

use crate::ctx::Ctx;
use futures::future::BoxFuture;
use reqwest::{Method, StatusCode};
use serde_json::json;

type Case = fn(Ctx) -> BoxFuture<'static, ()>;

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        pub fn all() -> Vec<(String, Case)> {
            vec![$((stringify!($name).to_owned(), (|ctx| Box::pin($name(ctx))) as Case)),*]
        }
    };
}

cases!(
    api_root_lists_upstream_route_names_as_absolute_urls,
    forwarded_headers_change_every_hyperlink,
    token_login_accepts_email_or_username_and_refuses_bad_passwords,
    basic_auth_works_and_wrong_basic_is_refused,
    unauthenticated_requests_get_401_with_a_challenge,
    change_password_needs_the_current_one_and_ends_the_token,
    only_admins_register_users,
    users_see_only_their_own_projects,
    project_members_see_the_project_and_roles_limit_changes,
    pagination_envelope_and_page_size_limits,
    filters_and_ordering_follow_django_filter_syntax,
    bad_filter_values_are_field_errors,
    options_carries_filter_and_ordering_fields,
    health_endpoints_answer,
);

async fn api_root_lists_upstream_route_names_as_absolute_urls(ctx: Ctx) {
    let (status, body) = ctx.call(Method::GET, "/api/", None, None).await;
    assert_eq!(status, StatusCode::OK);
    for name in ["projects", "workflows", "workflowruns", "resources", "auth-token", "auth-me", "resourcetypes", "taskqueue-status", "resource-archive"] {
        let url = body["routes"][name].as_str().unwrap_or_else(|| panic!("route {name} in {body}"));
        assert!(url.starts_with(&ctx.root), "{url} is absolute");
    }
    assert_eq!(body["routes"]["projects"], format!("{}/api/projects/", ctx.root));
    assert_eq!(body["configuration"]["page_length"], 20);
}

async fn forwarded_headers_change_every_hyperlink(ctx: Ctx) {
    let resp = ctx
        .http
        .get(ctx.url("/api/"))
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "rodan.example.org")
        .send()
        .await
        .expect("answer");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body["routes"]["projects"], "https://rodan.example.org/api/projects/");
    let project = ctx.project(&ctx.admin, "p").await;
    assert!(project.starts_with(&ctx.root));
}

async fn token_login_accepts_email_or_username_and_refuses_bad_passwords(ctx: Ctx) {
    let (status, body) = ctx
        .call(Method::POST, "/api/auth/token/", None, Some(json!({"username": "admin", "password": "admin-password"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token"].as_str().map(str::len), Some(40));
    assert_eq!(body["username"], "admin");
    let (status, _) = ctx
        .call(Method::POST, "/api/auth/token/", None, Some(json!({"email": "admin@example.org", "password": "nope"})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = ctx.call(Method::POST, "/api/auth/token/", None, Some(json!({"email": "admin@example.org"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["password"][0], "This field is required.");
    // A new login replaces the old token.
    let old = ctx.admin.clone();
    let new = ctx.login("admin@example.org", "admin-password").await;
    assert_eq!(ctx.get("/api/auth/me/", &new).await.0, StatusCode::OK);
    assert_eq!(ctx.get("/api/auth/me/", &old).await.0, StatusCode::UNAUTHORIZED);
}

async fn basic_auth_works_and_wrong_basic_is_refused(ctx: Ctx) {
    let me = ctx
        .http
        .get(ctx.url("/api/auth/me/"))
        .basic_auth("admin@example.org", Some("admin-password"))
        .send()
        .await
        .expect("answer");
    assert_eq!(me.status(), StatusCode::OK);
    let body: serde_json::Value = me.json().await.expect("json");
    assert_eq!(body["email"], "admin@example.org");
    let bad = ctx
        .http
        .get(ctx.url("/api/auth/me/"))
        .basic_auth("admin@example.org", Some("wrong"))
        .send()
        .await
        .expect("answer");
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
}

async fn unauthenticated_requests_get_401_with_a_challenge(ctx: Ctx) {
    let resp = ctx.http.get(ctx.url("/api/projects/")).send().await.expect("answer");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Token");
    let (status, _) = ctx.call(Method::GET, "/api/projects/", Some("0123456789012345678901234567890123456789"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Public catalogue routes need no credentials.
    assert_eq!(ctx.call(Method::GET, "/api/resourcetypes/", None, None).await.0, StatusCode::OK);
    assert_eq!(ctx.call(Method::GET, "/api/jobs/", None, None).await.0, StatusCode::OK);
}

async fn change_password_needs_the_current_one_and_ends_the_token(ctx: Ctx) {
    let alice = ctx.user("alice").await;
    let (status, body) = ctx
        .post("/api/auth/change-password/", &alice, json!({"current_password": "wrong", "new_password": "another-password"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["current_password"][0], "Invalid password.");
    let (status, _) = ctx
        .post("/api/auth/change-password/", &alice, json!({"current_password": "alice-password", "new_password": "another-password"}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(ctx.get("/api/auth/me/", &alice).await.0, StatusCode::UNAUTHORIZED);
    ctx.login("alice@example.org", "another-password").await;
}

async fn only_admins_register_users(ctx: Ctx) {
    let alice = ctx.user("alice").await;
    let (status, _) = ctx
        .post("/api/auth/register/", &alice, json!({"username": "eve", "email": "eve@example.org", "password": "eve-password"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = ctx
        .post("/api/users/", &ctx.admin, json!({"username": "alice", "email": "other@example.org", "password": "whatever-pass"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["username"][0].as_str().is_some_and(|m| m.contains("already exists")), "{body}");
    let (status, body) = ctx
        .post("/api/users/", &ctx.admin, json!({"username": "bob", "email": "not-an-email", "password": "whatever-pass"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["email"].is_array());
}

async fn users_see_only_their_own_projects(ctx: Ctx) {
    let alice = ctx.user("alice").await;
    let bob = ctx.user("bob").await;
    let a = ctx.project(&alice, "alice's").await;
    let b = ctx.project(&bob, "bob's").await;
    let list = ctx.ok(Method::GET, "/api/projects/", &alice, None, 200).await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["results"][0]["url"], a.as_str());
    assert_eq!(list["results"][0]["creator"], "alice");
    assert_eq!(ctx.get(&b, &alice).await.0, StatusCode::NOT_FOUND);
    assert_eq!(ctx.patch(&b, &alice, json!({"name": "mine"})).await.0, StatusCode::NOT_FOUND);
    assert_eq!(ctx.delete(&b, &alice).await.0, StatusCode::NOT_FOUND);
    // The superuser sees both.
    let all = ctx.ok(Method::GET, "/api/projects/", &ctx.admin.clone(), None, 200).await;
    assert_eq!(all["count"], 2);
    // Users: alice sees only herself.
    let users = ctx.ok(Method::GET, "/api/users/", &alice, None, 200).await;
    assert_eq!(users.as_array().map(Vec::len), Some(1), "{users}");
}

async fn project_members_see_the_project_and_roles_limit_changes(ctx: Ctx) {
    let alice = ctx.user("alice").await;
    let bob = ctx.user("bob").await;
    let carol = ctx.user("carol").await;
    let p = ctx.project(&alice, "shared").await;
    let workers = format!("{p}workers/");
    let admins = format!("{p}admins/");
    // Bob cannot manage a project he is not in.
    assert_eq!(ctx.call(Method::PUT, &workers, Some(&bob), Some(json!(["bob"]))).await.0, StatusCode::NOT_FOUND);
    let set = ctx.ok(Method::PUT, &workers, &alice, Some(json!(["bob"])), 200).await;
    assert_eq!(set, json!(["bob"]));
    let detail = ctx.ok(Method::GET, &p, &bob, None, 200).await;
    assert_eq!(detail["workers"], json!(["bob"]));
    // A worker may not rename the project nor change the admin list.
    assert_eq!(ctx.patch(&p, &bob, json!({"name": "x"})).await.0, StatusCode::FORBIDDEN);
    assert_eq!(ctx.call(Method::PUT, &admins, Some(&bob), Some(json!(["bob"]))).await.0, StatusCode::FORBIDDEN);
    // Unknown users are refused.
    let (status, body) = ctx.call(Method::PUT, &admins, Some(&alice), Some(json!(["nobody"]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // An admin may rename it.
    ctx.ok(Method::PUT, &admins, &alice, Some(json!(["carol"])), 200).await;
    let renamed = ctx.ok(Method::PATCH, &p, &carol, Some(json!({"name": "renamed"})), 200).await;
    assert_eq!(renamed["name"], "renamed");
    assert_eq!(renamed["admins"], json!(["carol"]));
}

async fn pagination_envelope_and_page_size_limits(ctx: Ctx) {
    for i in 0..25 {
        ctx.project(&ctx.admin, &format!("p{i:02}")).await;
    }
    let first = ctx.ok(Method::GET, "/api/projects/", &ctx.admin, None, 200).await;
    assert_eq!(first["count"], 25);
    assert_eq!(first["total_pages"], 2);
    assert_eq!(first["current_page"], 1);
    assert_eq!(first["results"].as_array().map(Vec::len), Some(20));
    assert_eq!(first["previous"], serde_json::Value::Null);
    let next = first["next"].as_str().expect("a next link");
    assert_eq!(next, format!("{}/api/projects/?page=2", ctx.root));
    let second = ctx.ok(Method::GET, next, &ctx.admin, None, 200).await;
    assert_eq!(second["results"].as_array().map(Vec::len), Some(5));
    assert_eq!(second["previous"], format!("{}/api/projects/", ctx.root));
    let small = ctx.ok(Method::GET, "/api/projects/?page_size=10&ordering=name", &ctx.admin, None, 200).await;
    assert_eq!(small["total_pages"], 3);
    assert!(small["next"].as_str().is_some_and(|n| n.contains("page_size=10") && n.contains("page=2")));
    let capped = ctx.ok(Method::GET, "/api/projects/?page_size=1000", &ctx.admin, None, 200).await;
    assert_eq!(capped["results"].as_array().map(Vec::len), Some(25));
    assert_eq!(ctx.get("/api/projects/?page=9", &ctx.admin).await.0, StatusCode::NOT_FOUND);
    let types = ctx.ok(Method::GET, "/api/resourcetypes/?disable_pagination=1", &ctx.admin, None, 200).await;
    assert!(types.as_array().is_some_and(|t| t.len() > 20), "a bare list of every type");
}

async fn filters_and_ordering_follow_django_filter_syntax(ctx: Ctx) {
    for name in ["Salzinnes", "St. Gallen 390", "Einsiedeln", "salzinnes copy"] {
        ctx.project(&ctx.admin, name).await;
    }
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["results"].as_array().expect("results").iter().map(|p| p["name"].as_str().unwrap_or("").to_owned()).collect()
    };
    let found = ctx.ok(Method::GET, "/api/projects/?name__icontains=SALZ&ordering=name", &ctx.admin, None, 200).await;
    assert_eq!(names(&found), ["Salzinnes", "salzinnes copy"]);
    let exact = ctx.ok(Method::GET, "/api/projects/?name=Einsiedeln", &ctx.admin, None, 200).await;
    assert_eq!(names(&exact), ["Einsiedeln"]);
    let desc = ctx.ok(Method::GET, "/api/projects/?ordering=-name", &ctx.admin, None, 200).await;
    assert_eq!(names(&desc)[0], "salzinnes copy");
    let none = ctx.ok(Method::GET, "/api/projects/?created__gt=2999-01-01T00:00:00Z", &ctx.admin, None, 200).await;
    assert_eq!(none["count"], 0);
    let all = ctx.ok(Method::GET, "/api/projects/?created__lt=2999-01-01&unknown_param=1", &ctx.admin, None, 200).await;
    assert_eq!(all["count"], 4);
    let types = ctx.ok(Method::GET, "/api/resourcetypes/?mimetype__in=image/rgb%2Bpng,image/onebit%2Bpng", &ctx.admin, None, 200).await;
    assert_eq!(types["count"], 2);
}

async fn bad_filter_values_are_field_errors(ctx: Ctx) {
    let (status, body) = ctx.get("/api/projects/?uuid=not-a-uuid", &ctx.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["uuid"][0], "Enter a valid UUID.");
    let (status, body) = ctx.get("/api/workflowruns/?status=abc", &ctx.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["status"].is_array());
}

async fn options_carries_filter_and_ordering_fields(ctx: Ctx) {
    let (status, body) = ctx.call(Method::OPTIONS, "/api/projects/", Some(&ctx.admin), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["filter_fields"]["name"], json!(["exact", "icontains", "in"]));
    assert!(body["ordering_fields"].as_array().is_some_and(|o| o.contains(&json!("name"))));
    let (_, runs) = ctx.call(Method::OPTIONS, "/api/workflowruns/", Some(&ctx.admin), None).await;
    assert!(runs["filter_fields"]["status"].is_array());
}

async fn health_endpoints_answer(ctx: Ctx) {
    assert_eq!(ctx.call(Method::GET, "/healthz", None, None).await.0, StatusCode::OK);
    assert_eq!(ctx.call(Method::GET, "/readyz", None, None).await.0, StatusCode::OK);
    let (status, body) = ctx.call(Method::GET, "/api/ht/", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["database"], "working");
}
