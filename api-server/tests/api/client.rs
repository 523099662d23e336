//! What upstream's web client (`../shared/fixtures/rodan-client`) reads from the API: the
//! serializers' shapes as upstream's views answer them, the resource assignments of a workflow,
//! the resource filters, `OPTIONS` on every route it probes, and CORS.

use crate::cases::{body_url, build_chain, png, upload, validate_entry};
use crate::ctx::Ctx;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

cases!(workflows_list_and_detail_as_upstreams_serializers,);

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
