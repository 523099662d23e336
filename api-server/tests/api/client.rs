//! What upstream's web client (`../shared/fixtures/rodan-client`) reads from the API: the
//! serializers' shapes as upstream's views answer them, the resource assignments of a workflow,
//! the resource filters, `OPTIONS` on every route it probes, and CORS.

use crate::cases::{body_url, build_chain, png, run_page, upload, validate_entry};
use crate::ctx::Ctx;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

cases!(
    workflows_list_and_detail_as_upstreams_serializers,
    resource_assignments_are_read_and_written_per_input_port,
    resources_filter_and_render_as_upstream,
    empty_filter_values_are_ignored_on_every_list,
    options_answers_on_every_route_the_client_probes,
    cors_headers_go_to_the_allowed_origins_only,
);

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// Upstream's `WorkflowListSerializer` fields.
const WORKFLOW_LIST_FIELDS: &[&str] = &[
    "created",
    "creator",
    "description",
    "name",
    "project",
    "updated",
    "url",
    "uuid",
    "valid",
];

async fn workflows_list_and_detail_as_upstreams_serializers(ctx: Ctx) {
    let p = ctx.project(&ctx.admin, "builder").await;
    // A create answers with the list serializer: no graph fields (the client's
    // `connections.each is not a function`).
    let created = ctx
        .ok(
            Method::POST,
            "/api/workflows/",
            &ctx.admin,
            Some(json!({"project": p, "name": "empty"})),
            201,
        )
        .await;
    assert_eq!(keys(&created), WORKFLOW_LIST_FIELDS, "{created}");
    assert_eq!(created["creator"], "admin");

    let (wf, wfjs) = build_chain(&ctx, &ctx.admin, &p).await;
    let list = ctx
        .ok(
            Method::GET,
            &format!("/api/workflows/?project={p}&name=chain"),
            &ctx.admin,
            None,
            200,
        )
        .await;
    assert_eq!(list["count"], 1, "{list}");
    assert_eq!(keys(&list["results"][0]), WORKFLOW_LIST_FIELDS);

    // The detail nests the graph whole, as upstream's `WorkflowSerializer`.
    let detail = ctx.ok(Method::GET, &wf, &ctx.admin, None, 200).await;
    let mut expected = WORKFLOW_LIST_FIELDS.to_vec();
    expected.extend([
        "workflow_connections",
        "workflow_input_ports",
        "workflow_jobs",
        "workflow_output_ports",
        "workflow_runs",
    ]);
    expected.sort_unstable();
    assert_eq!(keys(&detail), expected, "{detail}");
    let jobs = detail["workflow_jobs"].as_array().expect("workflow jobs");
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0]["url"], wfjs[0].as_str());
    assert_eq!(jobs[0]["job_name"], "to grey");
    assert_eq!(jobs[1]["name"], "binarise");
    for job in jobs {
        for key in ["input_ports", "output_ports"] {
            let ports = job[key].as_array().expect("ports");
            assert_eq!(ports.len(), 1, "{job}");
            assert_eq!(ports[0]["workflow_job"], job["url"]);
            for field in ["url", "uuid", "label", "extern", "connections"] {
                assert!(ports[0].get(field).is_some(), "{field} in {}", ports[0]);
            }
        }
    }
    let grey_out = &jobs[0]["output_ports"][0];
    let bin_in = &jobs[1]["input_ports"][0];
    assert_eq!(grey_out["label"], "Greyscale PNG image");
    assert!(grey_out["output_port_type"].is_string());
    let connections = detail["workflow_connections"]
        .as_array()
        .expect("connections");
    assert_eq!(connections.len(), 1);
    let connection = &connections[0];
    assert_eq!(connection["input_port"], bin_in["url"]);
    assert_eq!(connection["output_port"], grey_out["url"]);
    assert_eq!(grey_out["connections"], json!([connection["url"]]));
    assert_eq!(connection["offset_x"], Value::Null);
    assert_eq!(detail["workflow_runs"], json!([]));
    // Extern ports are known once the workflow is validated.
    assert_eq!(detail["workflow_input_ports"], json!([]));
    let entry = validate_entry(&ctx, &ctx.admin, &wf).await;
    let valid = ctx.ok(Method::GET, &wf, &ctx.admin, None, 200).await;
    assert_eq!(valid["workflow_input_ports"][0]["url"], entry.as_str());
    assert_eq!(valid["workflow_input_ports"][0]["extern"], true);
    assert_eq!(
        valid["workflow_output_ports"][0]["label"],
        "Onebit PNG image"
    );

    // A workflow job alone nests its ports too.
    let wfj = ctx.ok(Method::GET, &wfjs[1], &ctx.admin, None, 200).await;
    assert_eq!(
        wfj["input_ports"][0],
        valid["workflow_jobs"][1]["input_ports"][0]
    );

    // The builder saves where it draws a connection's handle with a PUT of the whole connection.
    let url = connection["url"].as_str().expect("a url");
    let mut moved = connection.clone();
    moved["offset_x"] = json!(12.5);
    moved["offset_y"] = json!(-3);
    let saved = ctx
        .ok(Method::PUT, url, &ctx.admin, Some(moved.clone()), 200)
        .await;
    assert_eq!(
        (saved["offset_x"].as_f64(), saved["offset_y"].as_f64()),
        (Some(12.5), Some(-3.0))
    );
    let again = ctx.ok(Method::GET, &wf, &ctx.admin, None, 200).await;
    assert_eq!(again["workflow_connections"][0]["offset_x"], 12.5);
    moved["input_port"] = grey_out["url"].clone();
    let (status, body) = ctx
        .call(Method::PUT, url, Some(&ctx.admin), Some(moved))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["input_port"].is_array(), "{body}");
    let (status, body) = ctx
        .patch(url, &ctx.admin, json!({"offset_x": "left"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["offset_x"].is_array(), "{body}");

    // A connection may be created with its offsets.
    ctx.delete(url, &ctx.admin).await;
    let recreated = ctx
        .ok(
            Method::POST,
            "/api/connections/",
            &ctx.admin,
            Some(json!({"input_port": bin_in["url"], "output_port": grey_out["url"], "offset_x": 4, "offset_y": null})),
            201,
        )
        .await;
    assert_eq!(recreated["offset_x"], 4.0);
    assert_eq!(recreated["offset_y"], Value::Null);
    ctx.ok(
        Method::PATCH,
        &wf,
        &ctx.admin,
        Some(json!({"valid": true})),
        200,
    )
    .await;

    // A run shows among the workflow's runs.
    let run = run_page(&ctx, &ctx.admin, &p, &wf, &entry).await.run;
    let with_run = ctx.ok(Method::GET, &wf, &ctx.admin, None, 200).await;
    assert_eq!(with_run["workflow_runs"], json!([run["url"]]));
}

async fn resource_assignments_are_read_and_written_per_input_port(ctx: Ctx) {
    let p = ctx.project(&ctx.admin, "assign").await;
    let (wf, _) = build_chain(&ctx, &ctx.admin, &p).await;
    let detail = ctx.ok(Method::GET, &wf, &ctx.admin, None, 200).await;
    let grey_in = detail["workflow_jobs"][0]["input_ports"][0]["url"]
        .as_str()
        .expect("a port")
        .to_owned();
    let bin_in = detail["workflow_jobs"][1]["input_ports"][0]["url"]
        .as_str()
        .expect("a port")
        .to_owned();
    let (_, pages) = upload(
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
    let (a, b) = (body_url(&pages[0]), body_url(&pages[1]));
    let url = format!("{wf}resourceassignments/");

    let empty = ctx.ok(Method::GET, &url, &ctx.admin, None, 200).await;
    assert_eq!(empty, json!({&grey_in: [], &bin_in: []}));

    // PATCH replaces the ports it names; the resources come back whole, in order.
    let two = ctx
        .ok(
            Method::PATCH,
            &url,
            &ctx.admin,
            Some(json!({&grey_in: [b, a, b]})),
            200,
        )
        .await;
    assert_eq!(two[&grey_in].as_array().map(Vec::len), Some(2), "{two}");
    assert_eq!(two[&grey_in][0]["url"], b);
    assert_eq!(two[&grey_in][1]["url"], a);
    assert_eq!(two[&grey_in][0]["name"], "b");
    assert_eq!(two[&bin_in], json!([]));
    assert_eq!(ctx.ok(Method::GET, &url, &ctx.admin, None, 200).await, two);
    let one = ctx
        .ok(
            Method::PATCH,
            &url,
            &ctx.admin,
            Some(json!({&grey_in: [a]})),
            200,
        )
        .await;
    assert_eq!(one[&grey_in].as_array().map(Vec::len), Some(1));
    assert_eq!(one[&grey_in][0]["url"], a);

    // PUT clears the ports it does not name.
    let put = ctx
        .ok(
            Method::PUT,
            &url,
            &ctx.admin,
            Some(json!({&bin_in: [b]})),
            200,
        )
        .await;
    assert_eq!(put[&grey_in], json!([]));
    assert_eq!(put[&bin_in][0]["url"], b);

    // Bad writes change nothing.
    let other = ctx.project(&ctx.admin, "elsewhere").await;
    let (_, foreign) = upload(
        &ctx,
        &ctx.admin,
        &other,
        vec![("c.png", png(image::ColorType::Rgb8, 4, 4))],
        None,
    )
    .await;
    let (other_wf, _) = build_chain(&ctx, &ctx.admin, &other).await;
    let other_detail = ctx.ok(Method::GET, &other_wf, &ctx.admin, None, 200).await;
    let other_port = other_detail["workflow_jobs"][0]["input_ports"][0]["url"]
        .as_str()
        .expect("a port");
    let missing = format!("{}resource/{}/", ctx.url("/api/"), uuid::Uuid::new_v4());
    for (body, status) in [
        (json!({&grey_in: [body_url(&foreign[0])]}), 400),
        (json!({other_port: [a]}), 400),
        (json!({&grey_in: a}), 400),
        (json!({&grey_in: [a, "not a link"]}), 400),
        (json!({"http://h/api/project/x/": [a]}), 400),
        (json!({&grey_in: [a, missing]}), 404),
    ] {
        let (got, answer) = ctx
            .call(Method::PUT, &url, Some(&ctx.admin), Some(body.clone()))
            .await;
        assert_eq!(got.as_u16(), status, "{body}: {answer}");
        assert_eq!(ctx.ok(Method::GET, &url, &ctx.admin, None, 200).await, put);
    }

    // Only members see or change them.
    let eve = ctx.user("eve").await;
    assert_eq!(ctx.get(&url, &eve).await.0, StatusCode::NOT_FOUND);
    let (status, _) = ctx.patch(&url, &eve, json!({&grey_in: []})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // DELETE clears them all and answers what is left.
    let cleared = ctx.ok(Method::DELETE, &url, &ctx.admin, None, 200).await;
    assert_eq!(cleared, empty);
}

/// `GET /api/resources/?project=<p>&<query>` as the admin.
async fn resources(ctx: &Ctx, project: &str, query: String) -> Value {
    ctx.ok(
        Method::GET,
        &format!("/api/resources/?project={}&{query}", uuid_of(project)),
        &ctx.admin,
        None,
        200,
    )
    .await
}

/// The uuid at the end of a hyperlink.
fn uuid_of(url: &str) -> &str {
    url.trim_end_matches('/')
        .rsplit('/')
        .next()
        .expect("a uuid")
}

async fn resources_filter_and_render_as_upstream(ctx: Ctx) {
    let p = ctx.project(&ctx.admin, "filters").await;
    let (wf, _) = build_chain(&ctx, &ctx.admin, &p).await;
    let entry = validate_entry(&ctx, &ctx.admin, &wf).await;
    let (_, pages) = upload(
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
    let (a, b) = (body_url(&pages[0]), body_url(&pages[1]));

    // `creator` is the username, `labels` are nested whole.
    let labelled = ctx
        .ok(
            Method::PATCH,
            a,
            &ctx.admin,
            Some(json!({"label_names": "verso,recto"})),
            200,
        )
        .await;
    assert_eq!(labelled["creator"], "admin");
    let labels = labelled["labels"].as_array().expect("labels").clone();
    assert_eq!(labels.len(), 2, "{labelled}");
    assert_eq!(labels[0]["name"], "recto");
    assert_eq!(labels[1]["name"], "verso");
    for label in &labels {
        let url = label["url"].as_str().expect("a label url");
        assert_eq!(label["uuid"], uuid_of(url));
        assert_eq!(
            ctx.ok(Method::GET, url, &ctx.admin, None, 200).await,
            *label
        );
    }
    ctx.ok(
        Method::PATCH,
        b,
        &ctx.admin,
        Some(json!({"label_names": "recto"})),
        200,
    )
    .await;
    let recto = labels[0]["uuid"].as_str().expect("uuid");
    let verso = labels[1]["url"].as_str().expect("url");
    assert_eq!(
        resources(&ctx, &p, format!("labels={recto}")).await["count"],
        2
    );
    // Repeated labels must all be there.
    let both = resources(
        &ctx,
        &p,
        format!("labels={recto}&labels={}", crate::ctx::urlencode(verso)),
    )
    .await;
    assert_eq!(both["count"], 1, "{both}");
    assert_eq!(both["results"][0]["url"], a);
    let (status, body) = ctx
        .get("/api/resources/?labels=not-a-label", &ctx.admin)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["labels"].is_array(), "{body}");

    // `resource_list`: its URL or its uuid.
    let pages_list = ctx
        .ok(
            Method::POST,
            "/api/resourcelists/",
            &ctx.admin,
            Some(json!({"project": p, "name": "b only", "resources": [b]})),
            201,
        )
        .await;
    assert_eq!(pages_list["creator"], "admin");
    let list_url = body_url(&pages_list);
    for value in [
        crate::ctx::urlencode(list_url),
        uuid_of(list_url).to_owned(),
    ] {
        let in_list = resources(&ctx, &p, format!("resource_list={value}")).await;
        assert_eq!(in_list["count"], 1, "{in_list}");
        assert_eq!(in_list["results"][0]["url"], b);
    }

    // `result_of_workflow_run`: what a run produced and did not use itself.
    let mut runs = Vec::new();
    for page in [a, b] {
        let run = ctx
            .ok(
                Method::POST,
                "/api/workflowruns/",
                &ctx.admin,
                Some(json!({"workflow": wf, "resource_assignments": {&entry: [page]}})),
                201,
            )
            .await;
        assert_eq!(run["creator"], "admin");
        runs.push(body_url(&run).to_owned());
    }
    let produced = resources(&ctx, &p, "origin__isnull=false".into()).await;
    assert_eq!(produced["count"], 4, "two outputs of each run");
    let mut results = Vec::new();
    for run in &runs {
        let of_run = resources(&ctx, &p, format!("result_of_workflow_run={}", uuid_of(run))).await;
        assert_eq!(of_run["count"], 1, "the binarised page only: {of_run}");
        let result = of_run["results"][0].clone();
        let output = ctx
            .ok(
                Method::GET,
                result["origin"].as_str().expect("an output"),
                &ctx.admin,
                None,
                200,
            )
            .await;
        assert_eq!(output["output_port_type_name"], "Onebit PNG image");
        let run_job = ctx
            .ok(
                Method::GET,
                output["run_job"].as_str().expect("a run job"),
                &ctx.admin,
                None,
                200,
            )
            .await;
        assert_eq!(run_job["workflow_run"], run.as_str());
        let by_url = resources(
            &ctx,
            &p,
            format!("result_of_workflow_run={}", crate::ctx::urlencode(run)),
        )
        .await;
        assert_eq!(by_url["results"][0]["url"], result["url"]);
        results.push(result["url"].clone());
    }
    assert_ne!(results[0], results[1]);
    let (status, body) = ctx
        .get("/api/resources/?result_of_workflow_run=nope", &ctx.admin)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // The client finds the label filter in `OPTIONS`.
    let (_, options) = ctx
        .call(Method::OPTIONS, "/api/resources/", Some(&ctx.admin), None)
        .await;
    assert_eq!(options["filter_fields"]["labels"], json!(["exact"]));
}

async fn empty_filter_values_are_ignored_on_every_list(ctx: Ctx) {
    let p = ctx.project(&ctx.admin, "empty").await;
    ctx.project(&ctx.admin, "other").await;
    let (_, wfjs) = build_chain(&ctx, &ctx.admin, &p).await;
    assert_eq!(wfjs.len(), 2);
    for (path, count) in [
        (
            "/api/projects/?uuid=&name__icontains=&creator=&created__gt=",
            2,
        ),
        ("/api/workflows/?project=&valid=&uuid__in=", 1),
        ("/api/workflowjobs/?workflow=&group__isnull=", 2),
        (
            "/api/resources/?project=&processing_status__in=&labels=&result_of_workflow_run=&resource_list=",
            0,
        ),
        ("/api/workflowruns/?status=&project=%20", 0),
    ] {
        let body = ctx.ok(Method::GET, path, &ctx.admin, None, 200).await;
        assert_eq!(body["count"], count, "{path}: {body}");
    }
    // A value that is there and wrong is still a 400 on its field.
    for (path, field) in [
        ("/api/workflows/?project=nope", "project"),
        ("/api/projects/?uuid=x", "uuid"),
        ("/api/workflowruns/?status=abc", "status"),
    ] {
        let (status, body) = ctx.get(path, &ctx.admin).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body[field].is_array(), "{path}: {body}");
    }
}

/// The route names of `GET /api/` the client sends no `OPTIONS` to (its
/// `Configuration.ROUTES_WITHOUT_OPTIONS`).
const ROUTES_WITHOUT_OPTIONS: &[&str] = &[
    "auth-reset-token",
    "taskqueue-status",
    "auth-change-password",
    "auth-register",
    "taskqueue-scheduled",
    "taskqueue-active",
    "auth-token",
];

async fn options_answers_on_every_route_the_client_probes(ctx: Ctx) {
    // After login the client sends `OPTIONS` to every other route of `GET /api/` and keeps the
    // answer's `filter_fields` (DRF's metadata with upstream's `RodanMetadata` additions).
    let (_, root) = ctx.call(Method::GET, "/api/", None, None).await;
    let routes = root["routes"].as_object().expect("routes");
    let mut probed = 0;
    for (name, url) in routes {
        if ROUTES_WITHOUT_OPTIONS.contains(&name.as_str()) {
            continue;
        }
        let url = url.as_str().expect("a url");
        let (status, body) = ctx.call(Method::OPTIONS, url, Some(&ctx.admin), None).await;
        assert_eq!(status, StatusCode::OK, "OPTIONS {name} ({url}): {body}");
        assert!(body["name"].is_string(), "{name}: {body}");
        assert_eq!(body["renders"], json!(["application/json"]), "{name}");
        assert!(body["parses"].is_array(), "{name}: {body}");
        assert!(body["filter_fields"].is_object(), "{name}: {body}");
        assert!(body["ordering_fields"].is_array(), "{name}: {body}");
        probed += 1;
    }
    assert!(probed >= 23, "{probed} routes probed");
    let (_, me) = ctx
        .call(Method::OPTIONS, "/api/auth/me/", Some(&ctx.admin), None)
        .await;
    assert_eq!(me["name"], "Auth Me");
    let (_, archive) = ctx
        .call(
            Method::OPTIONS,
            "/api/resources/archive/",
            Some(&ctx.admin),
            None,
        )
        .await;
    assert_eq!(archive["name"], "Resource Archive");
    assert_eq!(
        archive["allowed_methods"],
        json!(["GET", "HEAD", "OPTIONS"])
    );
}

async fn cors_headers_go_to_the_allowed_origins_only(ctx: Ctx) {
    let client = "http://client.example:9002";
    let root = ctx.with_cors(&[client, "https://other.example"]).await;
    let send = |method: reqwest::Method, path: &str, origin: &str| {
        ctx.http
            .request(method, format!("{root}{path}"))
            .header("Origin", origin)
    };
    let header = |resp: &reqwest::Response, name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
    };

    // A preflight of the client's PATCH with a token, answered without credentials.
    let preflight = send(Method::OPTIONS, "/api/projects/", client)
        .header("Access-Control-Request-Method", "PATCH")
        .header(
            "Access-Control-Request-Headers",
            "authorization,content-type,x-csrftoken",
        )
        .send()
        .await
        .expect("an answer");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        header(&preflight, "access-control-allow-origin").as_deref(),
        Some(client)
    );
    assert_eq!(
        header(&preflight, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
    let methods = header(&preflight, "access-control-allow-methods").expect("methods");
    assert!(
        methods.contains("PATCH") && methods.contains("DELETE"),
        "{methods}"
    );
    let headers = header(&preflight, "access-control-allow-headers")
        .expect("headers")
        .to_ascii_lowercase();
    for name in ["authorization", "content-type", "x-csrftoken"] {
        assert!(headers.contains(name), "{headers}");
    }

    // The request itself, and a refusal, carry the headers for the allowed origin.
    let listed = send(Method::GET, "/api/projects/", client)
        .header("Authorization", format!("Token {}", ctx.admin))
        .send()
        .await
        .expect("an answer");
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(
        header(&listed, "access-control-allow-origin").as_deref(),
        Some(client)
    );
    let refused = send(Method::GET, "/api/projects/", client)
        .send()
        .await
        .expect("an answer");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&refused, "access-control-allow-origin").as_deref(),
        Some(client)
    );

    // Another origin gets none: not on a preflight, not on a request.
    for method in [Method::OPTIONS, Method::GET] {
        let other = send(method.clone(), "/api/projects/", "http://evil.example")
            .header("Access-Control-Request-Method", "GET")
            .header("Authorization", format!("Token {}", ctx.admin))
            .send()
            .await
            .expect("an answer");
        assert_eq!(
            header(&other, "access-control-allow-origin"),
            None,
            "{method}"
        );
        assert_eq!(header(&other, "access-control-allow-credentials"), None);
    }

    // Without allowed origins (the default) no CORS header is sent at all.
    let plain = ctx
        .http
        .get(ctx.url("/api/"))
        .header("Origin", client)
        .send()
        .await
        .expect("an answer");
    assert_eq!(header(&plain, "access-control-allow-origin"), None);
}
