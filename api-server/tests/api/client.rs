//! What upstream's web client (`../shared/fixtures/rodan-client`) reads from the API: the
//! serializers' shapes as upstream's views answer them, the resource assignments of a workflow,
//! the resource filters, `OPTIONS` on every route it probes, and CORS.

use crate::cases::{body_url, build_chain, png, upload, validate_entry};
use crate::ctx::Ctx;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

cases!(
    workflows_list_and_detail_as_upstreams_serializers,
    resource_assignments_are_read_and_written_per_input_port,
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

    // A run shows among the workflow's runs.
    let (_, pages) = upload(
        &ctx,
        &ctx.admin,
        &p,
        vec![("p.png", png(image::ColorType::Rgb8, 4, 4))],
        None,
    )
    .await;
    let run = ctx
        .ok(
            Method::POST,
            "/api/workflowruns/",
            &ctx.admin,
            Some(json!({"workflow": wf, "resource_assignments": {entry: [body_url(&pages[0])]}})),
            201,
        )
        .await;
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
