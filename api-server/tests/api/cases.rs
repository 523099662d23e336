//! The test cases, each a sentence.

use crate::ctx::Ctx;
use reqwest::{Method, StatusCode};
use serde_json::json;

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
    uploads_detect_png_subtypes_and_honour_a_claimed_type,
    media_is_served_only_after_authorisation,
    a_referenced_resource_cannot_be_deleted,
    workflow_validation_reports_upstream_error_codes,
    workflow_job_settings_get_defaults_and_are_validated,
    workflow_export_imports_into_another_project,
    running_a_batch_materialises_run_jobs_and_dispatches_the_first_ones,
    cancel_and_retry_follow_the_status_codes,
    other_users_cannot_run_or_see_runs_of_a_foreign_workflow,
    the_websocket_streams_events_of_visible_projects_only,
    the_openapi_document_covers_every_list_route,
    the_openapi_document_describes_every_route_and_method_the_router_serves,
    the_openapi_schemas_match_every_models_rows,
    the_openapi_required_request_fields_are_the_ones_an_empty_body_lacks,
    behind_nginx_with_the_operators_configuration_everything_works,
    resource_lists_hold_resources_of_one_project_and_type,
    only_administrators_rename_or_delete_shared_labels,
    typed_bodies_name_the_field_serde_refuses_in_drfs_words,
    each_documented_field_of_a_typed_create_is_read_with_its_documented_type,
    the_resource_archive_zips_the_chosen_files,
    a_workflow_imported_as_a_group_locks_its_jobs,
    results_packages_are_queued_for_finished_runs_only,
    the_task_queue_views_are_for_staff_and_show_queued_work,
    more_validation_codes_reach_clients_as_409_bodies,
);

async fn api_root_lists_upstream_route_names_as_absolute_urls(ctx: Ctx) {
    let (status, body) = ctx.call(Method::GET, "/api/", None, None).await;
    assert_eq!(status, StatusCode::OK);
    for name in [
        "projects",
        "workflows",
        "workflowruns",
        "resources",
        "auth-token",
        "auth-me",
        "resourcetypes",
        "taskqueue-status",
        "resource-archive",
    ] {
        let url = body["routes"][name]
            .as_str()
            .unwrap_or_else(|| panic!("route {name} in {body}"));
        assert!(url.starts_with(&ctx.root), "{url} is absolute");
    }
    assert_eq!(
        body["routes"]["projects"],
        format!("{}/api/projects/", ctx.root)
    );
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
    assert_eq!(
        body["routes"]["projects"],
        "https://rodan.example.org/api/projects/"
    );
    let project = ctx.project(&ctx.admin, "p").await;
    assert!(project.starts_with(&ctx.root));
}

async fn token_login_accepts_email_or_username_and_refuses_bad_passwords(ctx: Ctx) {
    let (status, body) = ctx
        .call(
            Method::POST,
            "/api/auth/token/",
            None,
            Some(json!({"username": "admin", "password": "admin-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token"].as_str().map(str::len), Some(40));
    assert_eq!(body["username"], "admin");
    // Refusals as upstream's AuthTokenView words them (the web client tells 401 from 403).
    let (status, body) = ctx
        .call(
            Method::POST,
            "/api/auth/token/",
            None,
            Some(json!({"email": "admin@example.org", "password": "nope"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"is_logged_in": false, "detail": "Invalid email or password."})
    );
    let (status, body) = ctx
        .call(
            Method::POST,
            "/api/auth/token/",
            None,
            Some(json!({"email": "admin@example.org"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["password"][0], "This field is required.");
    // A new login gets a token of its own; the earlier session goes on.
    let old = ctx.admin.clone();
    let new = ctx.login("admin@example.org", "admin-password").await;
    assert_ne!(new, old);
    assert_eq!(ctx.get("/api/auth/me/", &new).await.0, StatusCode::OK);
    assert_eq!(ctx.get("/api/auth/me/", &old).await.0, StatusCode::OK);
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
    let resp = ctx
        .http
        .get(ctx.url("/api/projects/"))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Token");
    let (status, _) = ctx
        .call(
            Method::GET,
            "/api/projects/",
            Some("0123456789012345678901234567890123456789"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Public catalogue routes need no credentials.
    assert_eq!(
        ctx.call(Method::GET, "/api/resourcetypes/", None, None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        ctx.call(Method::GET, "/api/jobs/", None, None).await.0,
        StatusCode::OK
    );
}

async fn change_password_needs_the_current_one_and_ends_the_token(ctx: Ctx) {
    let alice = ctx.user("alice").await;
    let (status, body) = ctx
        .post(
            "/api/auth/change-password/",
            &alice,
            json!({"current_password": "wrong", "new_password": "another-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["current_password"][0], "Invalid password.");
    let (status, _) = ctx
        .post(
            "/api/auth/change-password/",
            &alice,
            json!({"current_password": "alice-password", "new_password": "another-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        ctx.get("/api/auth/me/", &alice).await.0,
        StatusCode::UNAUTHORIZED
    );
    ctx.login("alice@example.org", "another-password").await;
}

async fn only_admins_register_users(ctx: Ctx) {
    let alice = ctx.user("alice").await;
    let (status, _) = ctx
        .post(
            "/api/auth/register/",
            &alice,
            json!({"username": "eve", "email": "eve@example.org", "password": "eve-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = ctx
        .post(
            "/api/users/",
            &ctx.admin,
            json!({"username": "alice", "email": "other@example.org", "password": "whatever-pass"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"username": ["A user with that username already exists."]})
    );
    // A change to a username or an email another user has is refused on that field.
    ctx.user("bob").await;
    for (field, taken) in [("username", "bob"), ("email", "bob@example.org")] {
        assert_eq!(
            ctx.patch("/api/auth/me/", &alice, json!({field: taken}))
                .await,
            (
                StatusCode::BAD_REQUEST,
                json!({field: [format!("A user with that {field} already exists.")]})
            ),
            "{field}"
        );
    }
    let (status, body) = ctx
        .post(
            "/api/users/",
            &ctx.admin,
            json!({"username": "bob", "email": "not-an-email", "password": "whatever-pass"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["email"].is_array());
}

async fn users_see_only_their_own_projects(ctx: Ctx) {
    let alice = ctx.user("alice").await;
    let bob = ctx.user("bob").await;
    let a = ctx.project(&alice, "alice's").await;
    let b = ctx.project(&bob, "bob's").await;
    let list = ctx
        .ok(Method::GET, "/api/projects/", &alice, None, 200)
        .await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["results"][0]["url"], a.as_str());
    assert_eq!(list["results"][0]["creator"], "alice");
    assert_eq!(ctx.get(&b, &alice).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        ctx.patch(&b, &alice, json!({"name": "mine"})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(ctx.delete(&b, &alice).await.0, StatusCode::NOT_FOUND);
    // The superuser sees both.
    let all = ctx
        .ok(Method::GET, "/api/projects/", &ctx.admin.clone(), None, 200)
        .await;
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
    assert_eq!(
        ctx.call(Method::PUT, &workers, Some(&bob), Some(json!(["bob"])))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let set = ctx
        .ok(Method::PUT, &workers, &alice, Some(json!(["bob"])), 200)
        .await;
    assert_eq!(set, json!(["bob"]));
    let detail = ctx.ok(Method::GET, &p, &bob, None, 200).await;
    assert_eq!(detail["workers"], json!(["bob"]));
    // A worker may not rename the project nor change the admin list.
    assert_eq!(
        ctx.patch(&p, &bob, json!({"name": "x"})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ctx.call(Method::PUT, &admins, Some(&bob), Some(json!(["bob"])))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // Unknown users are refused.
    let (status, body) = ctx
        .call(Method::PUT, &admins, Some(&alice), Some(json!(["nobody"])))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // An admin may rename it.
    ctx.ok(Method::PUT, &admins, &alice, Some(json!(["carol"])), 200)
        .await;
    let renamed = ctx
        .ok(
            Method::PATCH,
            &p,
            &carol,
            Some(json!({"name": "renamed"})),
            200,
        )
        .await;
    assert_eq!(renamed["name"], "renamed");
    assert_eq!(renamed["admins"], json!(["carol"]));
}

async fn pagination_envelope_and_page_size_limits(ctx: Ctx) {
    for i in 0..25 {
        ctx.project(&ctx.admin, &format!("p{i:02}")).await;
    }
    let first = ctx
        .ok(Method::GET, "/api/projects/", &ctx.admin, None, 200)
        .await;
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
    let small = ctx
        .ok(
            Method::GET,
            "/api/projects/?page_size=10&ordering=name",
            &ctx.admin,
            None,
            200,
        )
        .await;
    assert_eq!(small["total_pages"], 3);
    assert!(
        small["next"]
            .as_str()
            .is_some_and(|n| n.contains("page_size=10") && n.contains("page=2"))
    );
    let capped = ctx
        .ok(
            Method::GET,
            "/api/projects/?page_size=1000",
            &ctx.admin,
            None,
            200,
        )
        .await;
    assert_eq!(capped["results"].as_array().map(Vec::len), Some(25));
    assert_eq!(
        ctx.get("/api/projects/?page=9", &ctx.admin).await.0,
        StatusCode::NOT_FOUND
    );
    let types = ctx
        .ok(
            Method::GET,
            "/api/resourcetypes/?disable_pagination=1",
            &ctx.admin,
            None,
            200,
        )
        .await;
    assert!(
        types.as_array().is_some_and(|t| t.len() > 20),
        "a bare list of every type"
    );
}

async fn filters_and_ordering_follow_django_filter_syntax(ctx: Ctx) {
    for name in [
        "Salzinnes",
        "St. Gallen 390",
        "Einsiedeln",
        "salzinnes copy",
    ] {
        ctx.project(&ctx.admin, name).await;
    }
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|p| p["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let found = ctx
        .ok(
            Method::GET,
            "/api/projects/?name__icontains=SALZ&ordering=name",
            &ctx.admin,
            None,
            200,
        )
        .await;
    assert_eq!(names(&found), ["Salzinnes", "salzinnes copy"]);
    let exact = ctx
        .ok(
            Method::GET,
            "/api/projects/?name=Einsiedeln",
            &ctx.admin,
            None,
            200,
        )
        .await;
    assert_eq!(names(&exact), ["Einsiedeln"]);
    let desc = ctx
        .ok(
            Method::GET,
            "/api/projects/?ordering=-name",
            &ctx.admin,
            None,
            200,
        )
        .await;
    assert_eq!(names(&desc)[0], "salzinnes copy");
    let none = ctx
        .ok(
            Method::GET,
            "/api/projects/?created__gt=2999-01-01T00:00:00Z",
            &ctx.admin,
            None,
            200,
        )
        .await;
    assert_eq!(none["count"], 0);
    let all = ctx
        .ok(
            Method::GET,
            "/api/projects/?created__lt=2999-01-01&unknown_param=1",
            &ctx.admin,
            None,
            200,
        )
        .await;
    assert_eq!(all["count"], 4);
    let types = ctx
        .ok(
            Method::GET,
            "/api/resourcetypes/?mimetype__in=image/rgb%2Bpng,image/onebit%2Bpng",
            &ctx.admin,
            None,
            200,
        )
        .await;
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
    let (status, body) = ctx
        .call(Method::OPTIONS, "/api/projects/", Some(&ctx.admin), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["filter_fields"]["name"],
        json!(["exact", "icontains", "in"])
    );
    assert!(
        body["ordering_fields"]
            .as_array()
            .is_some_and(|o| o.contains(&json!("name")))
    );
    let (_, runs) = ctx
        .call(
            Method::OPTIONS,
            "/api/workflowruns/",
            Some(&ctx.admin),
            None,
        )
        .await;
    assert!(runs["filter_fields"]["status"].is_array());
}

async fn health_endpoints_answer(ctx: Ctx) {
    assert_eq!(
        ctx.call(Method::GET, "/healthz", None, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        ctx.call(Method::GET, "/readyz", None, None).await.0,
        StatusCode::OK
    );
    let (status, body) = ctx.call(Method::GET, "/api/ht/", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["database"], "working");
}

pub(crate) fn png(color: image::ColorType, w: u32, h: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let n = match color {
        image::ColorType::L8 => 1,
        image::ColorType::Rgb8 => 3,
        image::ColorType::Rgba8 => 4,
        _ => 1,
    };
    let data: Vec<u8> = (0..(w * h * n)).map(|i| (i * 7 % 251) as u8).collect();
    image::write_buffer_with_format(&mut out, &data, w, h, color, image::ImageFormat::Png)
        .expect("png encodes");
    out.into_inner()
}

/// Uploads `files` and, when they are created, settles them as a `celery`-queue worker does (see
/// [`Ctx::settle_uploads`]); the answer is the created resources as they are then.
pub(crate) async fn upload(
    ctx: &Ctx,
    token: &str,
    project: &str,
    files: Vec<(&str, Vec<u8>)>,
    claimed: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let (status, body) = upload_unsettled(ctx, token, project, files, claimed).await;
    if status != StatusCode::CREATED {
        return (status, body);
    }
    let created = body.as_array().expect("a list of resources");
    // Uploads with a claimed type are settled at once; the others wait for a worker.
    let waiting = created
        .iter()
        .filter(|r| r["processing_status"] == 0)
        .count();
    ctx.settle_uploads(waiting).await;
    let mut settled = Vec::new();
    for resource in created {
        settled.push(
            ctx.ok(Method::GET, body_url(resource), token, None, 200)
                .await,
        );
    }
    (status, serde_json::Value::Array(settled))
}

/// Uploads `files`; the answer is the server's, before any worker settles them.
pub(crate) async fn upload_unsettled(
    ctx: &Ctx,
    token: &str,
    project: &str,
    files: Vec<(&str, Vec<u8>)>,
    claimed: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut form = reqwest::multipart::Form::new().text("project", project.to_owned());
    if let Some(claimed) = claimed {
        form = form.text("type", claimed.to_owned());
    }
    for (name, bytes) in files {
        form = form.part(
            "files",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
    }
    let resp = ctx
        .http
        .post(ctx.url("/api/resources/"))
        .header("Authorization", format!("Token {token}"))
        .multipart(form)
        .send()
        .await
        .expect("answer");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

async fn uploads_detect_png_subtypes_and_honour_a_claimed_type(ctx: Ctx) {
    let p = ctx.project(&ctx.admin, "uploads").await;
    // As upstream: stored at once, SCHEDULED and untyped (or as claimed) until a worker of the
    // celery queue settles them.
    let (status, body) = upload_unsettled(
        &ctx,
        &ctx.admin,
        &p,
        vec![
            ("a.png", png(image::ColorType::Rgb8, 8, 8)),
            ("b.png", png(image::ColorType::Rgb8, 8, 8)),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for resource in body.as_array().expect("a list") {
        assert_eq!(resource["processing_status"], 0, "{resource}");
        assert_eq!(
            resource["resource_type_mimetype"],
            "application/octet-stream"
        );
    }
    ctx.settle_uploads(2).await;
    // Files are streamed to the media volume: a large one arrives whole, nothing stays staged,
    // and a refused upload leaves nothing behind.
    let staged = ctx.media.path().join(".uploads");
    let large: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    let (status, big) = upload(&ctx, &ctx.admin, &p, vec![("big.bin", large.clone())], None).await;
    assert_eq!(status, StatusCode::CREATED, "{big}");
    let stored = std::fs::read_dir(ctx.media.path().join("projects"))
        .expect("projects dir")
        .flatten()
        .flat_map(|project| {
            std::fs::read_dir(project.path().join("resources"))
                .into_iter()
                .flatten()
        })
        .flatten()
        .map(|resource| resource.path().join("original_file"))
        .find(|file| std::fs::metadata(file).is_ok_and(|m| m.len() == large.len() as u64))
        .expect("the large upload's file");
    assert!(
        std::fs::read(stored).expect("readable") == large,
        "stored byte for byte"
    );
    let (status, _) = upload_unsettled(
        &ctx,
        &ctx.admin,
        "http://localhost/api/project/not-a-uuid/",
        vec![("refused.png", png(image::ColorType::Rgb8, 8, 8))],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A label name too long refuses the whole upload before any resource is made.
    let listing = format!(
        "/api/resources/?project={}",
        p.trim_end_matches('/').rsplit('/').next().expect("a uuid")
    );
    let before = ctx.ok(Method::GET, &listing, &ctx.admin, None, 200).await["count"].clone();
    let form = reqwest::multipart::Form::new()
        .text("project", p.clone())
        .text("label_names", "x".repeat(37))
        .part(
            "files",
            reqwest::multipart::Part::bytes(b"one".to_vec()).file_name("1.txt"),
        )
        .part(
            "files",
            reqwest::multipart::Part::bytes(b"two".to_vec()).file_name("2.txt"),
        );
    let refused = ctx
        .http
        .post(ctx.url("/api/resources/"))
        .header("Authorization", format!("Token {}", ctx.admin))
        .multipart(form)
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let after = ctx.ok(Method::GET, &listing, &ctx.admin, None, 200).await["count"].clone();
    assert_eq!(before, after, "no resource made by a refused upload");
    let left = std::fs::read_dir(&staged).map_or(0, |d| d.count());
    assert_eq!(left, 0, "staged files left behind");
    let a = ctx
        .ok(Method::GET, body_url(&body[0]), &ctx.admin, None, 200)
        .await;
    assert_eq!(a["processing_status"], serde_json::Value::Null, "{a}");
    assert_eq!(a["resource_type_mimetype"], "image/rgb+png");
    let (status, body) = upload(
        &ctx,
        &ctx.admin,
        &p,
        vec![
            ("page1.png", png(image::ColorType::Rgb8, 8, 8)),
            ("page2.png", png(image::ColorType::Rgba8, 8, 8)),
            ("notes.txt", b"hello\nworld\n".to_vec()),
        ],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let types: Vec<String> = body
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| {
            r["resource_type_mimetype"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(types, ["image/rgb+png", "image/rgba+png", "text/plain"]);
    assert_eq!(body[0]["name"], "page1");
    assert!(
        body[0]["resource_file"]
            .as_str()
            .is_some_and(|f| f.starts_with(&format!("{}/uploads/projects/", ctx.root)))
    );
    let (_, claimed) = upload(
        &ctx,
        &ctx.admin,
        &p,
        vec![("x.png", png(image::ColorType::Rgb8, 4, 4))],
        Some("image/greyscale+png"),
    )
    .await;
    assert_eq!(claimed[0]["resource_type_mimetype"], "image/greyscale+png");
    // A claimed type settles the upload at once, as upstream's create_resource ends for it; one
    // that is not registered gives octet-stream, not a detected type.
    let (status, unregistered) = upload_unsettled(
        &ctx,
        &ctx.admin,
        &p,
        vec![("y.png", png(image::ColorType::Rgb8, 4, 4))],
        Some("image/no-such-type"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{unregistered}");
    assert_eq!(
        unregistered[0]["processing_status"],
        serde_json::Value::Null
    );
    assert_eq!(
        unregistered[0]["resource_type_mimetype"],
        "application/octet-stream"
    );
    let (status, body) = upload(&ctx, &ctx.admin, &p, vec![], None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["files"].is_array());
    let labelled = ctx
        .ok(
            Method::PATCH,
            body_url(&claimed[0]),
            &ctx.admin,
            Some(json!({"label_names": "folio, recto"})),
            200,
        )
        .await;
    assert_eq!(labelled["label_names"], "folio,recto");
    let by_type = ctx
        .ok(
            Method::GET,
            "/api/resources/?resource_type__mimetype=text/plain",
            &ctx.admin,
            None,
            200,
        )
        .await;
    assert_eq!(by_type["count"], 1);
}

/// Validates a workflow (`PATCH {"valid": true}`, expecting 200) and returns the URL of its
/// first extern input port, where a run's pages go.
/// An uploaded page and a run of a workflow over it.
pub(crate) struct PageRun {
    /// The page's resource.
    pub(crate) page: serde_json::Value,
    /// The run.
    pub(crate) run: serde_json::Value,
}

/// Uploads a 4x4 RGB page to project `p` and runs workflow `wf` over it, the page assigned to
/// input port `entry`.
pub(crate) async fn run_page(ctx: &Ctx, token: &str, p: &str, wf: &str, entry: &str) -> PageRun {
    let (_, uploaded) = upload(
        ctx,
        token,
        p,
        vec![("p.png", png(image::ColorType::Rgb8, 4, 4))],
        None,
    )
    .await;
    let page = uploaded[0].clone();
    let run = ctx
        .ok(
            Method::POST,
            "/api/workflowruns/",
            token,
            Some(json!({"workflow": wf, "resource_assignments": {entry: [body_url(&page)]}})),
            201,
        )
        .await;
    PageRun { page, run }
}

pub(crate) async fn validate_entry(ctx: &Ctx, token: &str, wf: &str) -> String {
    let valid = ctx
        .ok(Method::PATCH, wf, token, Some(json!({"valid": true})), 200)
        .await;
    valid["workflow_input_ports"][0]["url"]
        .as_str()
        .expect("one extern input")
        .to_owned()
}

pub(crate) fn body_url(v: &serde_json::Value) -> &str {
    v["url"].as_str().expect("a url")
}

async fn media_is_served_only_after_authorisation(ctx: Ctx) {
    let alice = ctx.user("alice").await;
    let bob = ctx.user("bob").await;
    let p = ctx.project(&alice, "private").await;
    let (_, body) = upload(
        &ctx,
        &alice,
        &p,
        vec![("page.png", png(image::ColorType::Rgb8, 4, 4))],
        None,
    )
    .await;
    let file = body[0]["resource_file"]
        .as_str()
        .expect("a file url")
        .to_owned();
    let get = |token: Option<String>| {
        let mut req = ctx.http.get(&file);
        if let Some(token) = token {
            req = req.header("Authorization", format!("Token {token}"));
        }
        req.send()
    };
    let ok = get(Some(alice.clone())).await.expect("answer");
    assert_eq!(ok.status(), StatusCode::OK);
    let accel = ok.headers()["x-accel-redirect"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        accel.starts_with("/_media/projects/") && accel.ends_with("/original_file"),
        "{accel}"
    );
    assert_eq!(
        get(Some(bob)).await.expect("answer").status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(None).await.expect("answer").status(),
        StatusCode::UNAUTHORIZED
    );
    let by_cookie = ctx
        .http
        .get(&file)
        .header("Cookie", format!("token={alice}"))
        .send()
        .await
        .expect("answer");
    assert_eq!(by_cookie.status(), StatusCode::OK);
    let traversal = ctx
        .http
        .get(ctx.url("/uploads/projects/../../etc/passwd"))
        .header("Authorization", format!("Token {alice}"))
        .send()
        .await
        .expect("answer");
    assert_ne!(traversal.status(), StatusCode::OK);
}

/// Builds to grey -> binarise in a project; returns (workflow url, [wfj urls]).
pub(crate) async fn build_chain(ctx: &Ctx, token: &str, project: &str) -> (String, Vec<String>) {
    ctx.register_test_jobs().await;
    let chain = Builder::new(ctx, token, project, Some("chain")).await;
    let Pair { grey, binarise, .. } = chain.pair().await;
    (chain.wf, vec![grey, binarise])
}

async fn a_referenced_resource_cannot_be_deleted(ctx: Ctx) {
    let p = ctx.project(&ctx.admin, "runs").await;
    let (wf, _) = build_chain(&ctx, &ctx.admin, &p).await;
    let entry = validate_entry(&ctx, &ctx.admin, &wf).await;
    let (_, pages) = upload(
        &ctx,
        &ctx.admin,
        &p,
        vec![("a.png", png(image::ColorType::Rgb8, 4, 4))],
        None,
    )
    .await;
    let page = body_url(&pages[0]).to_owned();
    ctx.ok(
        Method::POST,
        "/api/workflowruns/",
        &ctx.admin,
        Some(json!({"workflow": wf, "resource_assignments": {entry: [page.clone()]}})),
        201,
    )
    .await;
    let (status, body) = ctx.delete(&page, &ctx.admin).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, other) = upload(
        &ctx,
        &ctx.admin,
        &p,
        vec![("b.png", png(image::ColorType::Rgb8, 4, 4))],
        None,
    )
    .await;
    assert_eq!(
        ctx.delete(body_url(&other[0]), &ctx.admin).await.0,
        StatusCode::NO_CONTENT
    );
}

async fn workflow_validation_reports_upstream_error_codes(ctx: Ctx) {
    let p = ctx.project(&ctx.admin, "validation").await;
    ctx.register_test_jobs().await;
    let wf = body_url(
        &ctx.ok(
            Method::POST,
            "/api/workflows/",
            &ctx.admin,
            Some(json!({"project": p, "name": "w"})),
            201,
        )
        .await,
    )
    .to_owned();
    let (status, body) = ctx.patch(&wf, &ctx.admin, json!({"valid": true})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error_code"], "WF_EMPTY");
    let j = ctx
        .ok(
            Method::POST,
            "/api/workflowjobs/",
            &ctx.admin,
            Some(json!({"workflow": wf, "job": ctx.job_url("binarise").await})),
            201,
        )
        .await;
    let (status, body) = ctx.patch(&wf, &ctx.admin, json!({"valid": true})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error_code"], "WFJ_NO_OP");
    assert_eq!(body["associated_objects"]["workflowjobs"][0], body_url(&j));
    let pt = ctx.port_type("binarise", "Onebit PNG image", false).await;
    ctx.ok(
        Method::POST,
        "/api/outputports/",
        &ctx.admin,
        Some(json!({"workflow_job": body_url(&j), "output_port_type": pt})),
        201,
    )
    .await;
    let (_, body) = ctx.patch(&wf, &ctx.admin, json!({"valid": true})).await;
    assert_eq!(body["error_code"], "WFJ_TOO_FEW_IP");
    let (_, chain) = build_chain(&ctx, &ctx.admin, &p).await;
    drop(chain);
    let (status, body) = ctx.patch(&wf, &ctx.admin, json!({"valid": false})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

async fn workflow_job_settings_get_defaults_and_are_validated(ctx: Ctx) {
    let p = ctx.project(&ctx.admin, "settings").await;
    ctx.register_test_jobs().await;
    let wf = body_url(
        &ctx.ok(
            Method::POST,
            "/api/workflows/",
            &ctx.admin,
            Some(json!({"project": p})),
            201,
        )
        .await,
    )
    .to_owned();
    let job = ctx.job_url("binarise").await;
    let j = ctx
        .ok(
            Method::POST,
            "/api/workflowjobs/",
            &ctx.admin,
            Some(json!({"workflow": wf, "job": job})),
            201,
        )
        .await;
    assert_eq!(
        j["job_settings"],
        json!({"Region size": 15, "Mode": "fast"})
    );
    assert_eq!(j["name"], "binarise");
    let (status, body) = ctx
        .post(
            "/api/workflowjobs/",
            &ctx.admin,
            json!({"workflow": wf, "job": job, "job_settings": {"Region size": 0}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["job_settings"][0]
            .as_str()
            .is_some_and(|m| m.contains("Region size")),
        "{body}"
    );
    let (status, _) = ctx
        .patch(
            body_url(&j),
            &ctx.admin,
            json!({"job_settings": {"Mode": "sloppy"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let ok = ctx
        .ok(
            Method::PATCH,
            body_url(&j),
            &ctx.admin,
            Some(json!({"job_settings": {"Region size": 31, "Mode": "exact"}})),
            200,
        )
        .await;
    assert_eq!(ok["job_settings"]["Region size"], 31);
}

async fn workflow_export_imports_into_another_project(ctx: Ctx) {
    let p = ctx.project(&ctx.admin, "source").await;
    let q = ctx.project(&ctx.admin, "target").await;
    let (wf, _) = build_chain(&ctx, &ctx.admin, &p).await;
    let exported = ctx
        .ok(Method::GET, &format!("{wf}?export"), &ctx.admin, None, 200)
        .await;
    assert_eq!(exported["__version__"], 0.2);
    assert_eq!(exported["workflow_jobs"].as_array().map(Vec::len), Some(2));
    assert_eq!(exported["connections"].as_array().map(Vec::len), Some(1));
    let imported = ctx
        .ok(
            Method::POST,
            "/api/workflows/",
            &ctx.admin,
            Some(json!({"project": q, "serialized": exported})),
            201,
        )
        .await;
    // A create answers with upstream's list serializer; the detail has the graph.
    assert!(imported.get("workflow_jobs").is_none(), "{imported}");
    let graph = ctx
        .ok(Method::GET, body_url(&imported), &ctx.admin, None, 200)
        .await;
    assert_eq!(graph["workflow_jobs"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        graph["workflow_connections"].as_array().map(Vec::len),
        Some(1)
    );
    let valid = ctx
        .ok(
            Method::PATCH,
            body_url(&imported),
            &ctx.admin,
            Some(json!({"valid": true})),
            200,
        )
        .await;
    assert_eq!(valid["valid"], true);
    // Every job the installation lacks is named in one 400, in upstream's shape (DRF keeps the
    // nested dict), and nothing is created.
    let mut broken = exported.clone();
    broken["workflow_jobs"][0]["job_name"] = json!("no such job");
    broken["workflow_jobs"][1]["job_name"] = json!("nor this one");
    let (status, body) = ctx
        .post(
            "/api/workflows/",
            &ctx.admin,
            json!({"project": q, "serialized": broken}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"serialized": {
            "workflow_jobs[0].job_name": "Job no such job does not exist in current Rodan installation.",
            "workflow_jobs[1].job_name": "Job nor this one does not exist in current Rodan installation.",
        }})
    );
    // A fault of the whole document is a list under the field, as DRF gives a message.
    let (status, body) = ctx
        .post(
            "/api/workflows/",
            &ctx.admin,
            json!({"project": q, "serialized": {"name": "x"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"serialized": ["Please provide the version of serialization format."]})
    );
    let listed = ctx
        .ok(
            Method::GET,
            &format!(
                "/api/workflows/?project={}",
                q.trim_end_matches('/').rsplit('/').next().expect("a uuid")
            ),
            &ctx.admin,
            None,
            200,
        )
        .await;
    assert_eq!(listed["count"], 1, "only the good import exists: {listed}");
}

async fn running_a_batch_materialises_run_jobs_and_dispatches_the_first_ones(ctx: Ctx) {
    let p = ctx.project(&ctx.admin, "batch").await;
    let (wf, _) = build_chain(&ctx, &ctx.admin, &p).await;
    let (status, body) = ctx
        .post(
            "/api/workflowruns/",
            &ctx.admin,
            json!({"workflow": wf, "resource_assignments": {}}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an invalid workflow does not run: {body}"
    );
    let entry = validate_entry(&ctx, &ctx.admin, &wf).await;
    let (_, pages) = upload(
        &ctx,
        &ctx.admin,
        &p,
        vec![
            ("p1.png", png(image::ColorType::Rgb8, 4, 4)),
            ("p2.png", png(image::ColorType::Rgb8, 4, 4)),
            ("p3.png", png(image::ColorType::Rgb8, 4, 4)),
        ],
        None,
    )
    .await;
    let urls: Vec<&str> = pages
        .as_array()
        .expect("pages")
        .iter()
        .map(body_url)
        .collect();
    let (status, body) = ctx
        .post(
            "/api/workflowruns/",
            &ctx.admin,
            json!({"workflow": wf, "resource_assignments": {entry.clone(): []}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let run = ctx
        .ok(
            Method::POST,
            "/api/workflowruns/",
            &ctx.admin,
            Some(json!({"workflow": wf, "resource_assignments": {entry: urls}})),
            201,
        )
        .await;
    assert_eq!(run["status"], 1);
    assert_eq!(
        run["run_jobs"].as_array().map(Vec::len),
        Some(6),
        "3 pages x 2 jobs"
    );
    let jobs = ctx
        .ok(
            Method::GET,
            &format!(
                "/api/runjobs/?workflow_run={}&page_size=100",
                body_url(&run)
            ),
            &ctx.admin,
            None,
            200,
        )
        .await;
    let results = jobs["results"].as_array().expect("run jobs");
    let dispatched: Vec<&serde_json::Value> = results
        .iter()
        .filter(|j| !j["celery_task_id"].is_null())
        .collect();
    assert_eq!(
        dispatched.len(),
        3,
        "only the three 'to grey' jobs are runnable"
    );
    assert!(
        dispatched
            .iter()
            .all(|j| j["job_name"] == "to grey" && j["job_queue"] == "celery")
    );
    // The three messages wait in the durable `celery` queue.
    let conn = lapin::Connection::connect(&ctx.amqp_url, lapin::ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = conn.create_channel().await.expect("channel");
    let mut seen = 0;
    while let Some(delivery) = channel
        .basic_get("celery", lapin::options::BasicGetOptions { no_ack: true })
        .await
        .expect("basic_get")
    {
        let message: rodan_core::message::RunJobMessage =
            serde_json::from_slice(&delivery.delivery.data).expect("a run job message");
        if dispatched
            .iter()
            .any(|j| j["uuid"] == message.run_job.to_string())
        {
            assert_eq!(
                delivery.delivery.properties.delivery_mode(),
                &Some(2),
                "persistent"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 3);
    // Outputs are placeholders named after their page, and the batch inputs point at the pages.
    let outputs = ctx
        .ok(
            Method::GET,
            &format!("/api/resources/?origin__isnull=false&project={p}&page_size=100"),
            &ctx.admin,
            None,
            200,
        )
        .await;
    assert_eq!(outputs["count"], 6);
}

async fn cancel_and_retry_follow_the_status_codes(ctx: Ctx) {
    let p = ctx.project(&ctx.admin, "cancel").await;
    let (wf, _) = build_chain(&ctx, &ctx.admin, &p).await;
    let entry = validate_entry(&ctx, &ctx.admin, &wf).await;
    let run = run_page(&ctx, &ctx.admin, &p, &wf, &entry).await.run;
    let run_url = body_url(&run).to_owned();
    let (status, _) = ctx.patch(&run_url, &ctx.admin, json!({"status": 31})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a processing run cannot be retried"
    );
    let cancelled = ctx
        .ok(
            Method::PATCH,
            &run_url,
            &ctx.admin,
            Some(json!({"status": 29})),
            200,
        )
        .await;
    assert_eq!(cancelled["status"], 9);
    let jobs = ctx
        .ok(
            Method::GET,
            &format!("/api/runjobs/?workflow_run={run_url}"),
            &ctx.admin,
            None,
            200,
        )
        .await;
    assert!(
        jobs["results"]
            .as_array()
            .expect("jobs")
            .iter()
            .all(|j| j["status"] == 9)
    );
    let retried = ctx
        .ok(
            Method::PATCH,
            &run_url,
            &ctx.admin,
            Some(json!({"status": 31})),
            200,
        )
        .await;
    assert_eq!(retried["status"], 11);
    let jobs = ctx
        .ok(
            Method::GET,
            &format!("/api/runjobs/?workflow_run={run_url}&status=0"),
            &ctx.admin,
            None,
            200,
        )
        .await;
    assert_eq!(jobs["count"], 2);
    let (status, _) = ctx.patch(&run_url, &ctx.admin, json!({"status": 4})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        ctx.delete(&run_url, &ctx.admin).await.0,
        StatusCode::NO_CONTENT
    );
    let outputs = ctx
        .ok(
            Method::GET,
            &format!("/api/resources/?origin__isnull=false&project={p}"),
            &ctx.admin,
            None,
            200,
        )
        .await;
    assert_eq!(
        outputs["count"], 0,
        "a deleted run takes its generated resources along"
    );
}

async fn other_users_cannot_run_or_see_runs_of_a_foreign_workflow(ctx: Ctx) {
    let alice = ctx.user("alice").await;
    let mallory = ctx.user("mallory").await;
    let p = ctx.project(&alice, "alice").await;
    let (wf, wfjs) = build_chain(&ctx, &alice, &p).await;
    let entry = validate_entry(&ctx, &alice, &wf).await;
    let (_, pages) = upload(
        &ctx,
        &alice,
        &p,
        vec![("p.png", png(image::ColorType::Rgb8, 4, 4))],
        None,
    )
    .await;
    let run = ctx.ok(Method::POST, "/api/workflowruns/", &alice, Some(json!({"workflow": wf, "resource_assignments": {entry.clone(): [body_url(&pages[0])]}})), 201).await;
    let (status, body) = ctx
        .post(
            "/api/workflowruns/",
            &mallory,
            json!({"workflow": wf, "resource_assignments": {entry: [body_url(&pages[0])]}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["workflow"].is_array());
    for list in [
        "/api/workflowruns/",
        "/api/runjobs/",
        "/api/workflows/",
        "/api/workflowjobs/",
        "/api/resources/",
        "/api/inputports/",
        "/api/outputports/",
        "/api/connections/",
        "/api/inputs/",
        "/api/outputs/",
    ] {
        let seen = ctx.ok(Method::GET, list, &mallory, None, 200).await;
        assert_eq!(seen["count"], 0, "mallory sees nothing in {list}");
        let owner = ctx.ok(Method::GET, list, &alice, None, 200).await;
        assert!(
            owner["count"].as_i64().is_some_and(|n| n > 0),
            "alice sees her {list}"
        );
    }
    assert_eq!(
        ctx.get(body_url(&run), &mallory).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        ctx.patch(&wfjs[0], &mallory, json!({"name": "x"})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(ctx.delete(&wf, &mallory).await.0, StatusCode::NOT_FOUND);
}

async fn the_websocket_streams_events_of_visible_projects_only(ctx: Ctx) {
    use futures::StreamExt;
    let alice = ctx.user("alice").await;
    let bob = ctx.user("bob").await;
    let ws_url = format!(
        "{}/ws/rodan?subscribe-broadcast&publish-broadcast&echo&token={alice}",
        ctx.root.replace("http://", "ws://")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(&ws_url)
        .await
        .expect("the websocket opens");
    // Give the subscription a moment, then make one event Alice may see and one she may not.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    ctx.project(&bob, "bob's").await;
    let mine = ctx.project(&alice, "alice's").await;
    let mine_uuid = mine
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("uuid")
        .to_owned();
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))
                    if text.as_str() != "--heartbeat--" =>
                {
                    return text.to_string();
                }
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    })
    .await
    .expect("an event arrives");
    let event: serde_json::Value = serde_json::from_str(&message).expect("json");
    assert_eq!(event["status"], "created");
    assert_eq!(event["model"], "project");
    assert_eq!(
        event["project"], mine_uuid,
        "the first event Alice gets is her own project's, not Bob's"
    );
    assert_eq!(event["uuid"], mine_uuid.replace('-', ""));
    let refused = tokio_tungstenite::connect_async(format!(
        "{}/ws/rodan?token=0123456789abcdef0123456789abcdef01234567",
        ctx.root.replace("http://", "ws://")
    ))
    .await;
    assert!(
        refused.is_err(),
        "a token named that does not hold: no socket"
    );
    // No credentials (upstream's client opens its socket before anyone logs in): a socket that
    // is told something happened, and nothing more.
    let (mut anonymous, _) = tokio_tungstenite::connect_async(format!(
        "{}/ws/rodan?subscribe-broadcast&publish-broadcast&echo",
        ctx.root.replace("http://", "ws://")
    ))
    .await
    .expect("an anonymous socket opens");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    ctx.project(&bob, "bob's second").await;
    let notice = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match anonymous.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))
                    if text.as_str() != "--heartbeat--" =>
                {
                    return text.to_string();
                }
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    })
    .await
    .expect("a notice arrives");
    let notice: serde_json::Value = serde_json::from_str(&notice).expect("json");
    assert_eq!(
        notice,
        serde_json::json!({"model": null, "project": null}),
        "an anonymous socket learns that something happened, not what or where"
    );
    // A browser's stale cookie from a session since ended does not stop the socket either.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{}/ws/rodan", ctx.root.replace("http://", "ws://"))
        .into_client_request()
        .expect("a request");
    request.headers_mut().insert(
        "cookie",
        "token=0123456789abcdef0123456789abcdef01234567"
            .parse()
            .expect("a header"),
    );
    assert!(
        tokio_tungstenite::connect_async(request).await.is_ok(),
        "a stale cookie opens an anonymous socket"
    );
}

async fn the_openapi_document_covers_every_list_route(ctx: Ctx) {
    let (status, doc) = ctx.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let (_, root) = ctx.call(Method::GET, "/api/", None, None).await;
    for (name, url) in root["routes"].as_object().expect("routes") {
        let path = url
            .as_str()
            .expect("url")
            .trim_start_matches(&ctx.root)
            .to_owned();
        if name.starts_with("taskqueue") || name == "resource-archive" {
            continue;
        }
        assert!(
            doc["paths"][&path].is_object(),
            "{name} ({path}) is documented"
        );
    }
    let params = doc["paths"]["/api/workflowruns/"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    assert!(params.iter().any(|p| p["name"] == "status__in"));
    // Valid OpenAPI: each `{name}` of a path is a declared path parameter of each operation.
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        let names: Vec<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        for (method, op) in operations.as_object().expect("operations") {
            for name in &names {
                assert!(
                    op["parameters"].as_array().is_some_and(|ps| ps
                        .iter()
                        .any(|p| p["name"] == *name && p["in"] == "path")),
                    "{method} {path} declares its path parameter {name}"
                );
            }
        }
    }
}

/// Every path literal of the router's source (`.route("...")` in `src/routes/`).
fn router_paths() -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src/routes") {
        let text = std::fs::read_to_string(entry.expect("an entry").path()).expect("a source");
        for rest in text.split(".route(").skip(1) {
            let rest = rest.trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                continue;
            };
            let path = rest.split('"').next().expect("a literal");
            paths.push(path.replace("{*", "{"));
        }
    }
    paths
}

async fn the_openapi_document_describes_every_route_and_method_the_router_serves(ctx: Ctx) {
    let (_, doc) = ctx.call(Method::GET, "/api/openapi.json", None, None).await;
    let paths = doc["paths"].as_object().expect("paths");
    let served = router_paths();
    assert!(
        served.len() > 40,
        "the router's paths are found: {served:?}"
    );
    for path in &served {
        assert!(paths.contains_key(path), "{path} is served and documented");
    }
    // Each documented path answers exactly its documented methods: any other is a 405. Probed
    // without credentials and with ids that name nothing, so no probe changes anything.
    for (path, operations) in paths {
        assert!(served.contains(path), "{path} is documented and served");
        let concrete = path
            .replace("{id}", "00000000-0000-0000-0000-000000000000")
            .replace("{path}", "nothing/here");
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            let documented = operations
                .get(method.as_str().to_lowercase())
                .is_some_and(|op| {
                    let responses = op["responses"].as_object().expect("responses");
                    op["summary"].is_string() && responses.contains_key("401")
                });
            let body = (method != Method::GET && method != Method::OPTIONS).then(|| json!({}));
            let (status, answer) = ctx.call(method.clone(), &concrete, None, body).await;
            assert_eq!(
                status == StatusCode::METHOD_NOT_ALLOWED,
                !documented,
                "{method} {path}: {status} {answer}; documented: {documented}"
            );
            // DRF's metadata names exactly the methods the route answers (HEAD with GET).
            if method == Method::OPTIONS
                && let Some(allowed) = answer["allowed_methods"].as_array()
            {
                let mut allowed: Vec<&str> = allowed.iter().filter_map(|m| m.as_str()).collect();
                allowed.sort_unstable();
                let operations = operations.as_object().expect("operations");
                let mut expected: Vec<String> = operations
                    .keys()
                    .map(|m| m.to_uppercase())
                    .chain(operations.contains_key("get").then(|| "HEAD".to_owned()))
                    .collect();
                expected.sort_unstable();
                assert_eq!(allowed, expected, "OPTIONS {path}: allowed_methods");
            }
        }
    }
}

/// Validates `value` against the schema at `pointer` in the OpenAPI document.
fn conforms(doc: &serde_json::Value, pointer: &str, value: &serde_json::Value) -> Vec<String> {
    let mut root = doc.clone();
    root["$ref"] = json!(format!("#{pointer}"));
    let validator = jsonschema::validator_for(&root).expect("a valid schema");
    validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

async fn the_openapi_schemas_match_every_models_rows(ctx: Ctx) {
    // One row of every model: a project, a workflow with jobs, ports and a connection, an
    // upload, a run with its run jobs, inputs and outputs, a label and a results package.
    let p = ctx.project(&ctx.admin, "schemas").await;
    let (wf, wfjs) = build_chain(&ctx, &ctx.admin, &p).await;
    let entry = validate_entry(&ctx, &ctx.admin, &wf).await;
    let PageRun { page, run } = run_page(&ctx, &ctx.admin, &p, &wf, &entry).await;
    ctx.ok(
        Method::POST,
        "/api/resourcelists/",
        &ctx.admin,
        Some(json!({"project": p, "name": "pages", "resources": [body_url(&page)]})),
        201,
    )
    .await;
    ctx.ok(
        Method::POST,
        "/api/workflowjobgroups/",
        &ctx.admin,
        Some(json!({"name": "group", "workflow": wf, "workflow_jobs": [wfjs[0]]})),
        201,
    )
    .await;
    sqlx::query("INSERT INTO resource_labels (uuid, name) VALUES (gen_random_uuid(), 'schema')")
        .execute(&ctx.state.pool)
        .await
        .expect("a label");
    let run_id = uuid::Uuid::parse_str(run["uuid"].as_str().expect("uuid")).expect("a uuid");
    sqlx::query("UPDATE workflow_runs SET status = 4 WHERE uuid = $1")
        .bind(run_id)
        .execute(&ctx.state.pool)
        .await
        .expect("finish the run");
    ctx.ok(
        Method::POST,
        "/api/resultspackages/",
        &ctx.admin,
        Some(json!({"workflow_run": body_url(&run), "packaging_mode": 1})),
        201,
    )
    .await;

    let (_, doc) = ctx.call(Method::GET, "/api/openapi.json", None, None).await;
    let mut empty = Vec::new();
    let mut checked = 0;
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        let schema =
            &operations["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        let envelope = schema.get("anyOf").map_or(schema, |any| &any[0]);
        let Some(item) = envelope["properties"]["results"]["items"]["$ref"]
            .as_str()
            .or_else(|| schema["items"]["$ref"].as_str())
        else {
            continue;
        };
        let escaped = path.replace('~', "~0").replace('/', "~1");
        let list = ctx.ok(Method::GET, path, &ctx.admin, None, 200).await;
        let pointer =
            format!("/paths/{escaped}/get/responses/200/content/application~1json/schema");
        let errors = conforms(&doc, &pointer, &list);
        assert!(errors.is_empty(), "GET {path} conforms: {errors:?}\n{list}");
        let Some(row) = list["results"].get(0).or_else(|| list.get(0)) else {
            empty.push(path.clone());
            continue;
        };
        let name = item.trim_start_matches("#/components/schemas/");
        let mut documented: Vec<&String> = doc["components"]["schemas"][name]["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .collect();
        let mut keys: Vec<&String> = row.as_object().expect("an object").keys().collect();
        documented.sort();
        keys.sort();
        assert_eq!(
            keys, documented,
            "{path}: the rows' keys are the documented properties"
        );
        let detail = ctx
            .ok(Method::GET, body_url(row), &ctx.admin, None, 200)
            .await;
        // The detail route's own schema: upstream's detail serializer may differ (workflows).
        let detail_path = format!("{}/{{id}}/", path.trim_end_matches("s/"));
        let detail_schema = &doc["paths"][&detail_path]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"]["$ref"];
        let detail_name = detail_schema
            .as_str()
            .unwrap_or_else(|| panic!("{detail_path} is documented"))
            .trim_start_matches("#/components/schemas/");
        let errors = conforms(&doc, &format!("/components/schemas/{detail_name}"), &detail);
        assert!(
            errors.is_empty(),
            "{name} detail conforms: {errors:?}\n{detail}"
        );
        checked += 1;
    }
    assert!(
        empty.is_empty(),
        "every model has a row to check: {empty:?}"
    );
    assert!(checked >= 20, "{checked} models checked");
}

async fn the_openapi_required_request_fields_are_the_ones_an_empty_body_lacks(ctx: Ctx) {
    let (_, doc) = ctx.call(Method::GET, "/api/openapi.json", None, None).await;
    let mut checked = 0;
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        let schema = &operations["post"]["requestBody"]["content"]["application/json"]["schema"];
        // Required outright, or one of several (`anyOf`: email or username).
        let outright: Vec<serde_json::Value> =
            schema["required"].as_array().cloned().unwrap_or_default();
        let mut required = outright.clone();
        for alternative in schema["anyOf"].as_array().into_iter().flatten() {
            required.extend(
                alternative["required"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        if required.is_empty() {
            continue;
        }
        let (status, body) = ctx.post(path, &ctx.admin, json!({})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "POST {path} {{}}: {body}");
        let named: Vec<&String> = body.as_object().expect("field errors").keys().collect();
        assert!(
            named.iter().all(|field| required.contains(&json!(field))),
            "POST {path} {{}} names {named:?}, all documented as required: {required:?}"
        );
        // As DRF, every field required outright is named at once, not only the first.
        assert!(
            outright
                .iter()
                .all(|field| named.iter().any(|n| json!(n) == *field)),
            "POST {path} {{}} names {named:?}, not every required field: {outright:?}"
        );
        checked += 1;
    }
    assert!(checked >= 12, "{checked} creates checked");
}

/// nginx with the exact configuration the operator renders, only its ports and paths moved to
/// this test's loopback ports and temporary directories.
pub(crate) struct Nginx {
    child: std::process::Child,
    pub(crate) root: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master then stops its workers, which would otherwise live on.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

pub(crate) fn start_nginx(ctx: &Ctx) -> Nginx {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a temp dir");
    let api_port = ctx.root.rsplit(':').next().expect("a port");
    let port = rodan_testkit::free_port();
    let d = dir.path().display().to_string();
    let media = ctx.media.path().display().to_string();
    // nginx's workers run as an unprivileged user: they must reach the media files.
    std::fs::set_permissions(ctx.media.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    // Temporary paths first: the replacements after it insert paths below /tmp themselves.
    let conf = rodan_operator::build::web::nginx_conf(
        "127.0.0.1",
        &rodan_operator::crd::WebSpec::default(),
    )
    .replace("/tmp/", &format!("{d}/"))
    .replace(
        "server 127.0.0.1:8000;",
        &format!("server 127.0.0.1:{api_port};"),
    )
    .replace("listen 8080;", &format!("listen 127.0.0.1:{port};"))
    .replace("alias /rodan/data/;", &format!("alias {media}/;"))
    .replace("access_log /dev/stdout;", "access_log off;");
    assert!(
        conf.contains(&format!("server 127.0.0.1:{api_port};")),
        "the upstream was moved"
    );
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, conf).expect("write nginx.conf");
    let child = std::process::Command::new("nginx")
        .args(["-e", "stderr", "-g", "daemon off;", "-p"])
        .arg(dir.path())
        .arg("-c")
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).expect("a log file"))
        .spawn()
        .expect("nginx starts (Debian nginx-light)");
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "nginx listens: {}",
            std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Nginx {
        child,
        root: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    }
}

async fn behind_nginx_with_the_operators_configuration_everything_works(ctx: Ctx) {
    use futures::StreamExt;
    let nginx = start_nginx(&ctx);
    let token = ctx.admin.clone();
    // The API answers through nginx with links to nginx's address, and the forwarded scheme of
    // a TLS-terminating ingress in front of it wins.
    let root: serde_json::Value = ctx
        .http
        .get(format!("{}/api/", nginx.root))
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert_eq!(
        root["routes"]["projects"],
        format!("{}/api/projects/", nginx.root)
    );
    let tls: serde_json::Value = ctx
        .http
        .get(format!("{}/api/", nginx.root))
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert!(
        tls["routes"]["projects"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://"))
    );
    // Upload through nginx, then download: the bytes come from the media volume via nginx.
    let project: serde_json::Value = ctx
        .http
        .post(format!("{}/api/projects/", nginx.root))
        .header("Authorization", format!("Token {token}"))
        .json(&json!({"name": "via nginx"}))
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    let bytes = png(image::ColorType::Rgb8, 16, 16);
    let form = reqwest::multipart::Form::new()
        .text("project", project["url"].as_str().expect("url").to_owned())
        .part(
            "files",
            reqwest::multipart::Part::bytes(bytes.clone()).file_name("folio.png"),
        );
    let uploaded = ctx
        .http
        .post(format!("{}/api/resources/", nginx.root))
        .header("Authorization", format!("Token {token}"))
        .multipart(form)
        .send()
        .await
        .expect("answer");
    assert_eq!(uploaded.status(), StatusCode::CREATED);
    let uploaded: serde_json::Value = uploaded.json().await.expect("json");
    let file = uploaded[0]["resource_file"]
        .as_str()
        .expect("a file url")
        .to_owned();
    assert!(
        file.starts_with(&format!("{}/uploads/", nginx.root)),
        "{file}"
    );
    let got = ctx
        .http
        .get(&file)
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .expect("answer");
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(
        got.bytes().await.expect("bytes").as_ref(),
        bytes.as_slice(),
        "nginx sent the file itself"
    );
    assert_eq!(
        ctx.http.get(&file).send().await.expect("answer").status(),
        StatusCode::UNAUTHORIZED
    );
    let internal = file.replace("/uploads/", "/_media/");
    assert_eq!(
        ctx.http
            .get(&internal)
            .send()
            .await
            .expect("answer")
            .status(),
        StatusCode::NOT_FOUND,
        "the media location is internal"
    );
    // The websocket goes through nginx too.
    let ws = format!(
        "{}/ws/rodan?token={token}",
        nginx.root.replace("http://", "ws://")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(&ws)
        .await
        .expect("the websocket opens through nginx");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let announced = ctx.project(&token, "announced").await;
    let announced = announced
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("uuid")
        .replace('-', "");
    // The administrator sees every project's events, including those of tests running beside
    // this one: wait for this project's own.
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                    let Ok(event) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
                        continue;
                    };
                    if event["model"] == "project" && event["uuid"] == announced.as_str() {
                        assert_eq!(event["status"], "created");
                        return;
                    }
                }
                Some(Ok(_)) => continue,
                other => panic!("socket ended: {other:?}"),
            }
        }
    })
    .await
    .expect("the project's event arrives through nginx");
}

async fn resource_lists_hold_resources_of_one_project_and_type(ctx: Ctx) {
    let p = ctx.project(&ctx.admin, "lists").await;
    let q = ctx.project(&ctx.admin, "other").await;
    let (_, pngs) = upload(
        &ctx,
        &ctx.admin,
        &p,
        vec![
            ("a.png", png(image::ColorType::Rgb8, 4, 4)),
            ("b.png", png(image::ColorType::Rgb8, 4, 4)),
        ],
        None,
    )
    .await;
    let (_, text) = upload(
        &ctx,
        &ctx.admin,
        &p,
        vec![("t.txt", b"text\n".to_vec())],
        None,
    )
    .await;
    let (_, elsewhere) = upload(
        &ctx,
        &ctx.admin,
        &q,
        vec![("c.png", png(image::ColorType::Rgb8, 4, 4))],
        None,
    )
    .await;
    let list = ctx
        .ok(
            Method::POST,
            "/api/resourcelists/",
            &ctx.admin,
            Some(json!({"name": "pages", "resources": [body_url(&pngs[1]), body_url(&pngs[0])]})),
            201,
        )
        .await;
    assert_eq!(
        list["resources"],
        json!([body_url(&pngs[1]), body_url(&pngs[0])]),
        "order kept"
    );
    assert!(
        list["resource_type"]
            .as_str()
            .is_some_and(|t| t.contains("/api/resourcetype/"))
    );
    let (status, body) = ctx
        .post(
            "/api/resourcelists/",
            &ctx.admin,
            json!({"resources": [body_url(&pngs[0]), body_url(&text[0])]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["resources"][0]
            .as_str()
            .is_some_and(|m| m.contains("same resource type")),
        "{body}"
    );
    let (status, body) = ctx
        .post(
            "/api/resourcelists/",
            &ctx.admin,
            json!({"resources": [body_url(&pngs[0]), body_url(&elsewhere[0])]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["resources"][0]
            .as_str()
            .is_some_and(|m| m.contains("same project")),
        "{body}"
    );
    // A member of a list is protected.
    assert_eq!(
        ctx.delete(body_url(&pngs[0]), &ctx.admin).await.0,
        StatusCode::CONFLICT
    );
    let renamed = ctx
        .ok(
            Method::PATCH,
            body_url(&list),
            &ctx.admin,
            Some(json!({"name": "renamed", "resources": [body_url(&pngs[0])]})),
            200,
        )
        .await;
    assert_eq!(renamed["resources"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        ctx.delete(body_url(&list), &ctx.admin).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ctx.delete(body_url(&pngs[0]), &ctx.admin).await.0,
        StatusCode::NO_CONTENT
    );
}

async fn only_administrators_rename_or_delete_shared_labels(ctx: Ctx) {
    let alice = ctx.user("alice").await;
    let p = ctx.project(&alice, "labels").await;
    let mut form = reqwest::multipart::Form::new()
        .text("project", p.clone())
        .text("label_names", "recto");
    form = form.part(
        "files",
        reqwest::multipart::Part::bytes(png(image::ColorType::Rgb8, 4, 4)).file_name("a.png"),
    );
    let resp = ctx
        .http
        .post(ctx.url("/api/resources/"))
        .header("Authorization", format!("Token {alice}"))
        .multipart(form)
        .send()
        .await
        .expect("answer");
    let body: serde_json::Value = resp.json().await.expect("json");
    let label = body[0]["labels"][0]["url"]
        .as_str()
        .expect("a label")
        .to_owned();
    assert_eq!(
        ctx.patch(&label, &alice, json!({"name": "verso"})).await.0,
        StatusCode::FORBIDDEN
    );
    let renamed = ctx
        .ok(
            Method::PATCH,
            &label,
            &ctx.admin.clone(),
            Some(json!({"name": "verso"})),
            200,
        )
        .await;
    assert_eq!(renamed["name"], "verso");
    let resource = ctx
        .ok(Method::GET, body_url(&body[0]), &alice, None, 200)
        .await;
    assert_eq!(resource["label_names"], "verso");
    // A name another label has is refused on the field, with upstream's unique message.
    sqlx::query("INSERT INTO resource_labels (uuid, name) VALUES (gen_random_uuid(), 'folio')")
        .execute(&ctx.state.pool)
        .await
        .expect("a label");
    assert_eq!(
        ctx.patch(&label, &ctx.admin, json!({"name": "folio"}))
            .await,
        (
            StatusCode::BAD_REQUEST,
            json!({"name": ["resource label with this name already exists."]})
        )
    );
    assert_eq!(
        ctx.delete(&label, &ctx.admin).await.0,
        StatusCode::NO_CONTENT
    );
    let resource = ctx
        .ok(Method::GET, body_url(&body[0]), &alice, None, 200)
        .await;
    assert_eq!(resource["labels"], json!([]));
}

async fn the_resource_archive_zips_the_chosen_files(ctx: Ctx) {
    let alice = ctx.user("alice").await;
    let bob = ctx.user("bob").await;
    let p = ctx.project(&alice, "archive").await;
    let a = png(image::ColorType::Rgb8, 5, 5);
    let (_, files) = upload(
        &ctx,
        &alice,
        &p,
        vec![
            ("folio.png", a.clone()),
            ("folio.png", png(image::ColorType::Rgb8, 6, 6)),
        ],
        None,
    )
    .await;
    let ids: Vec<String> = files
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["uuid"].as_str().expect("uuid").to_owned())
        .collect();
    let url = format!(
        "/api/resources/archive/?resource_uuid={}&resource_uuid={}",
        ids[0], ids[1]
    );
    let resp = ctx
        .http
        .get(ctx.url(&url))
        .header("Authorization", format!("Token {alice}"))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/zip");
    let bytes = resp.bytes().await.expect("bytes");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).expect("a zip");
    let mut names: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).expect("entry").name().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["folio (1).png", "folio.png"]);
    let mut first = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name("folio.png").expect("entry"), &mut first)
        .expect("read");
    assert_eq!(first, a);
    let denied = ctx
        .http
        .get(ctx.url(&url))
        .header("Authorization", format!("Token {bob}"))
        .send()
        .await
        .expect("answer");
    assert_eq!(denied.status(), StatusCode::NOT_FOUND);
}

async fn a_workflow_imported_as_a_group_locks_its_jobs(ctx: Ctx) {
    let p = ctx.project(&ctx.admin, "groups").await;
    let (origin, _) = build_chain(&ctx, &ctx.admin, &p).await;
    ctx.ok(
        Method::PATCH,
        &origin,
        &ctx.admin,
        Some(json!({"valid": true})),
        200,
    )
    .await;
    let target = body_url(
        &ctx.ok(
            Method::POST,
            "/api/workflows/",
            &ctx.admin,
            Some(json!({"project": p, "name": "target"})),
            201,
        )
        .await,
    )
    .to_owned();
    let group = ctx
        .ok(
            Method::POST,
            "/api/workflowjobgroups/",
            &ctx.admin,
            Some(json!({"workflow": target, "origin": origin, "name": "imported"})),
            201,
        )
        .await;
    let jobs = group["workflow_jobs"].as_array().expect("jobs").clone();
    assert_eq!(jobs.len(), 2);
    let wf = ctx.ok(Method::GET, &target, &ctx.admin, None, 200).await;
    assert_eq!(wf["workflow_connections"].as_array().map(Vec::len), Some(1));
    let job = jobs[0].as_str().expect("url");
    let (status, _) = ctx.patch(job, &ctx.admin, json!({"name": "renamed"})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "only settings change inside a group"
    );
    assert_eq!(ctx.delete(job, &ctx.admin).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        ctx.delete(body_url(&group), &ctx.admin).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        ctx.delete(job, &ctx.admin).await.0,
        StatusCode::NO_CONTENT,
        "ungrouped jobs can go"
    );
    let (status, body) = ctx
        .post(
            "/api/workflowjobgroups/",
            &ctx.admin,
            json!({"workflow": target, "origin": target}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an invalid origin is refused: {body}"
    );
}

async fn results_packages_are_queued_for_finished_runs_only(ctx: Ctx) {
    let p = ctx.project(&ctx.admin, "packages").await;
    let (wf, _) = build_chain(&ctx, &ctx.admin, &p).await;
    let entry = validate_entry(&ctx, &ctx.admin, &wf).await;
    let run = run_page(&ctx, &ctx.admin, &p, &wf, &entry).await.run;
    let (status, body) = ctx
        .post(
            "/api/resultspackages/",
            &ctx.admin,
            json!({"workflow_run": body_url(&run), "packaging_mode": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let run_id = uuid::Uuid::parse_str(run["uuid"].as_str().expect("uuid")).expect("a uuid");
    sqlx::query("UPDATE workflow_runs SET status = 4 WHERE uuid = $1")
        .bind(run_id)
        .execute(&ctx.state.pool)
        .await
        .expect("finish the run");
    let (status, body) = ctx
        .post(
            "/api/resultspackages/",
            &ctx.admin,
            json!({"workflow_run": body_url(&run), "packaging_mode": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["packaging_mode"].is_array());
    let package = ctx
        .ok(
            Method::POST,
            "/api/resultspackages/",
            &ctx.admin,
            Some(json!({"workflow_run": body_url(&run), "packaging_mode": 1})),
            201,
        )
        .await;
    assert_eq!(package["status"], 0);
    assert!(package["expiry_time"].is_string(), "30 days by default");
    // The request waits on the celery queue as a typed message.
    let conn = lapin::Connection::connect(&ctx.amqp_url, lapin::ConnectionProperties::default())
        .await
        .expect("amqp");
    let channel = conn.create_channel().await.expect("channel");
    let mut found = false;
    while let Some(delivery) = channel
        .basic_get(
            &ctx.state.core_queue,
            lapin::options::BasicGetOptions { no_ack: true },
        )
        .await
        .expect("basic_get")
    {
        if delivery
            .delivery
            .properties
            .kind()
            .as_ref()
            .map(|k| k.as_str())
            == Some(rodan_core::message::PACKAGE_MESSAGE_TYPE)
        {
            let message: rodan_core::message::PackageMessage =
                serde_json::from_slice(&delivery.delivery.data).expect("a package message");
            assert_eq!(
                message.results_package.to_string(),
                package["uuid"].as_str().expect("uuid")
            );
            assert_eq!(
                message.task_id.to_string(),
                package["celery_task_id"].as_str().expect("task id")
            );
            found = true;
        }
    }
    assert!(found, "a package message was published");
    let url = body_url(&package).to_owned();
    assert_eq!(
        ctx.delete(&url, &ctx.admin).await.0,
        StatusCode::BAD_REQUEST,
        "not while scheduled"
    );
    assert_eq!(
        ctx.patch(&url, &ctx.admin, json!({"status": 4})).await.0,
        StatusCode::BAD_REQUEST
    );
    let cancelled = ctx
        .ok(
            Method::PATCH,
            &url,
            &ctx.admin,
            Some(json!({"status": 9})),
            200,
        )
        .await;
    assert_eq!(cancelled["status"], 9);
    assert_eq!(ctx.delete(&url, &ctx.admin).await.0, StatusCode::NO_CONTENT);
}

async fn the_task_queue_views_are_for_staff_and_show_queued_work(ctx: Ctx) {
    let alice = ctx.user("alice").await;
    assert_eq!(
        ctx.get("/api/taskqueue/status/", &alice).await.0,
        StatusCode::FORBIDDEN
    );
    let p = ctx.project(&ctx.admin, "queues").await;
    let (wf, _) = build_chain(&ctx, &ctx.admin, &p).await;
    let entry = validate_entry(&ctx, &ctx.admin, &wf).await;
    run_page(&ctx, &ctx.admin, &p, &wf, &entry).await;
    let scheduled = ctx
        .ok(
            Method::GET,
            "/api/taskqueue/scheduled/",
            &ctx.admin,
            None,
            200,
        )
        .await;
    assert_eq!(
        scheduled["celery"].as_array().map(Vec::len),
        Some(1),
        "{scheduled}"
    );
    assert_eq!(scheduled["celery"][0]["name"], "to grey");
    let status = ctx
        .ok(Method::GET, "/api/taskqueue/status/", &ctx.admin, None, 200)
        .await;
    assert!(
        status["celery"]["messages"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{status}"
    );
    assert_eq!(status["Python3"]["running"], 0);
    let active = ctx
        .ok(Method::GET, "/api/taskqueue/active/", &ctx.admin, None, 200)
        .await;
    assert_eq!(active, json!({}));
}

/// A workflow with the test jobs, built step by step through the API.
/// The workflow jobs of [`Builder::pair`], as URLs.
pub(crate) struct Pair {
    /// The `to grey` workflow job.
    pub(crate) grey: String,
    /// Its output port.
    pub(crate) grey_out: String,
    /// The `binarise` workflow job.
    pub(crate) binarise: String,
}

pub(crate) struct Builder<'a> {
    ctx: &'a Ctx,
    token: String,
    pub(crate) wf: String,
}

impl Builder<'_> {
    pub(crate) async fn new<'a>(
        ctx: &'a Ctx,
        token: &str,
        project: &str,
        name: Option<&str>,
    ) -> Builder<'a> {
        let body = match name {
            Some(name) => json!({"project": project, "name": name}),
            None => json!({"project": project}),
        };
        let wf = ctx
            .ok(Method::POST, "/api/workflows/", token, Some(body), 201)
            .await;
        Builder {
            ctx,
            token: token.to_owned(),
            wf: body_url(&wf).to_owned(),
        }
    }

    pub(crate) async fn job(&self, name: &str) -> String {
        let job = self.ctx.job_url(name).await;
        body_url(
            &self
                .ctx
                .ok(
                    Method::POST,
                    "/api/workflowjobs/",
                    &self.token,
                    Some(json!({"workflow": self.wf, "job": job})),
                    201,
                )
                .await,
        )
        .to_owned()
    }

    pub(crate) async fn port(&self, wfj: &str, job: &str, name: &str, input: bool) -> String {
        let pt = self.ctx.port_type(job, name, input).await;
        let (route, key) = if input {
            ("/api/inputports/", "input_port_type")
        } else {
            ("/api/outputports/", "output_port_type")
        };
        body_url(
            &self
                .ctx
                .ok(
                    Method::POST,
                    route,
                    &self.token,
                    Some(json!({"workflow_job": wfj, key: pt})),
                    201,
                )
                .await,
        )
        .to_owned()
    }

    pub(crate) async fn connect(&self, output: &str, input: &str) {
        self.ctx
            .ok(
                Method::POST,
                "/api/connections/",
                &self.token,
                Some(json!({"input_port": input, "output_port": output})),
                201,
            )
            .await;
    }

    /// A complete to grey -> binarise pair.
    pub(crate) async fn pair(&self) -> Pair {
        let grey = self.job("to grey").await;
        self.port(&grey, "to grey", "RGB PNG image", true).await;
        let out = self
            .port(&grey, "to grey", "Greyscale PNG image", false)
            .await;
        let bin = self.job("binarise").await;
        let input = self
            .port(&bin, "binarise", "Greyscale PNG image", true)
            .await;
        self.port(&bin, "binarise", "Onebit PNG image", false).await;
        self.connect(&out, &input).await;
        Pair {
            grey,
            grey_out: out,
            binarise: bin,
        }
    }

    async fn code(&self) -> String {
        let (status, body) = self
            .ctx
            .patch(&self.wf, &self.token, json!({"valid": true}))
            .await;
        if status == StatusCode::OK {
            return "valid".into();
        }
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(
            body["details"].is_array() && body["associated_objects"].is_object(),
            "{body}"
        );
        body["error_code"].as_str().expect("a code").to_owned()
    }
}

async fn more_validation_codes_reach_clients_as_409_bodies(ctx: Ctx) {
    let p = ctx.project(&ctx.admin, "codes").await;
    ctx.register_test_jobs().await;

    let ok = Builder::new(&ctx, &ctx.admin, &p, None).await;
    ok.pair().await;
    assert_eq!(ok.code().await, "valid");

    let too_many_inputs = Builder::new(&ctx, &ctx.admin, &p, None).await;
    let bin = too_many_inputs.pair().await.binarise;
    too_many_inputs
        .port(&bin, "binarise", "Greyscale PNG image", true)
        .await;
    assert_eq!(too_many_inputs.code().await, "WFJ_TOO_MANY_IP");

    let two_into_one = Builder::new(&ctx, &ctx.admin, &p, None).await;
    let bin = two_into_one.pair().await.binarise;
    let grey2 = two_into_one.job("to grey").await;
    two_into_one
        .port(&grey2, "to grey", "RGB PNG image", true)
        .await;
    let out2 = two_into_one
        .port(&grey2, "to grey", "Greyscale PNG image", false)
        .await;
    let bin_input = ctx.ok(Method::GET, &bin, &ctx.admin, None, 200).await["input_ports"][0]["url"]
        .as_str()
        .expect("input")
        .to_owned();
    two_into_one.connect(&out2, &bin_input).await;
    assert_eq!(two_into_one.code().await, "IP_TOO_MANY_CONNECTIONS");

    let mismatch = Builder::new(&ctx, &ctx.admin, &p, None).await;
    let grey_out = mismatch.pair().await.grey_out;
    let grey2 = mismatch.job("to grey").await;
    let rgb_in = mismatch
        .port(&grey2, "to grey", "RGB PNG image", true)
        .await;
    mismatch
        .port(&grey2, "to grey", "Greyscale PNG image", false)
        .await;
    mismatch.connect(&grey_out, &rgb_in).await;
    assert_eq!(mismatch.code().await, "NO_COMMON_RESOURCETYPE");

    let apart = Builder::new(&ctx, &ctx.admin, &p, None).await;
    apart.pair().await;
    apart.pair().await;
    assert_eq!(apart.code().await, "WF_NOT_CONNECTED");

    let settings = Builder::new(&ctx, &ctx.admin, &p, None).await;
    let bin = settings.pair().await.binarise;
    let id = uuid::Uuid::parse_str(bin.trim_end_matches('/').rsplit('/').next().expect("uuid"))
        .expect("a uuid");
    // Settings that slipped in under an older schema: validation still catches them.
    sqlx::query("UPDATE workflow_jobs SET job_settings = '{\"Region size\": -3}' WHERE uuid = $1")
        .bind(id)
        .execute(&ctx.state.pool)
        .await
        .expect("update");
    assert_eq!(settings.code().await, "WFJ_INVALID_SETTINGS");
}

async fn typed_bodies_name_the_field_serde_refuses_in_drfs_words(ctx: Ctx) {
    let project = ctx.project(&ctx.admin, "typed").await;
    let (_, me) = ctx.get("/api/auth/me/", &ctx.admin).await;
    let preference = me["user_preference"]
        .as_str()
        .expect("a preference")
        .to_owned();
    let cases = [
        (
            Method::POST,
            "/api/projects/",
            json!({"description": "no name"}),
            json!({"name": ["This field is required."]}),
        ),
        (
            Method::PATCH,
            project.as_str(),
            json!({"name": ""}),
            json!({"name": ["This field may not be blank."]}),
        ),
        (
            Method::PATCH,
            project.as_str(),
            json!({"description": ["a list"]}),
            json!({"description": ["Not a valid string."]}),
        ),
        (
            Method::POST,
            "/api/connections/",
            json!({"input_port": 5, "output_port": "x"}),
            json!({"input_port": ["Incorrect type. Expected URL string, received int."]}),
        ),
        (
            Method::POST,
            "/api/inputports/",
            json!({"workflow_job": "x"}),
            json!({"input_port_type": ["This field is required."]}),
        ),
        (
            Method::PATCH,
            preference.as_str(),
            json!({"send_email": "maybe"}),
            json!({"send_email": ["Must be a valid boolean."]}),
        ),
        (
            Method::POST,
            "/api/resourcelists/",
            json!({"resources": "one"}),
            json!({"resources": ["Expected a list of items but got type \"str\"."]}),
        ),
        (
            Method::POST,
            "/api/resourcelists/",
            json!({"resources": [7]}),
            json!({"resources": ["Incorrect type. Expected URL string, received int."]}),
        ),
        (
            Method::POST,
            "/api/resultspackages/",
            json!({"workflow_run": "x", "packaging_mode": "many"}),
            json!({"packaging_mode": ["A valid integer is required."]}),
        ),
    ];
    for (method, path, body, expected) in cases {
        let answer = ctx
            .call(method.clone(), path, Some(&ctx.admin), Some(body))
            .await;
        assert_eq!(
            answer,
            (StatusCode::BAD_REQUEST, expected),
            "{method} {path}"
        );
    }
    // Nothing was changed by the refused writes.
    let (_, after) = ctx.get(&project, &ctx.admin).await;
    assert_eq!(
        (after["name"].as_str(), after["description"].as_str()),
        (Some("typed"), Some(""))
    );
}

async fn each_documented_field_of_a_typed_create_is_read_with_its_documented_type(ctx: Ctx) {
    // The request schemas of every JSON `POST` are generated from the handlers' types: each
    // documented property sent as a list, where its type allows none, is a 400 naming it. (The
    // interactive jobs' input is each job's own.)
    let (_, doc) = ctx.call(Method::GET, "/api/openapi.json", None, None).await;
    let mut checked = 0;
    let mut paths = 0;
    for (path, operations) in doc["paths"].as_object().expect("paths") {
        let schema = &operations["post"]["requestBody"]["content"]["application/json"]["schema"];
        if schema.is_null() || path.starts_with("/api/interactive/") {
            continue;
        }
        paths += 1;
        let properties = schema["properties"].as_object().expect("properties");
        assert!(!properties.is_empty(), "{path}: {schema}");
        for (field, property) in properties {
            let types = &property["type"];
            if types == "array"
                || types
                    .as_array()
                    .is_some_and(|t| t.contains(&json!("array")))
            {
                continue;
            }
            let (status, body) = ctx
                .post(path, &ctx.admin, json!({field.as_str(): ["a list"]}))
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {field}: {body}");
            assert!(body[field].is_array(), "{path} {field}: {body}");
            checked += 1;
        }
    }
    assert!(paths >= 18, "{paths} creates checked");
    assert!(checked >= 60, "{checked} fields checked");
    // What the types say and a hand-kept table did not: a name may not be blank, a label's
    // change names its new name.
    let project = &doc["paths"]["/api/projects/"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(project["properties"]["name"]["minLength"], 1, "{project}");
    let label = &doc["paths"]["/api/label/{id}/"]["patch"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(label["required"], json!(["name"]), "{label}");
}
