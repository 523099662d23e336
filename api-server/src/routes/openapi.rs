//! `GET /api/openapi.json`: an OpenAPI 3.1 document of the whole API, generated from the same
//! model descriptors the handlers use (paths, methods, filter parameters, ordering fields).

use crate::link::Base;
use crate::models::ALL;
use crate::query::{Kind, Model};
use axum::Json;
use serde_json::{Map, Value, json};

fn kind_schema(kind: Kind) -> Value {
    match kind {
        Kind::Uuid => json!({"type": "string", "format": "uuid"}),
        Kind::Ref(route) => {
            json!({"type": "string", "description": format!("Hyperlink to a {route} (or its uuid)")})
        }
        Kind::UserRef => {
            json!({"type": "string", "description": "Hyperlink to a user (or its id)"})
        }
        Kind::Text => json!({"type": "string"}),
        Kind::Int => json!({"type": "integer"}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::Time => json!({"type": "string", "format": "date-time"}),
    }
}

fn list_parameters(model: &Model) -> Vec<Value> {
    let mut params = vec![
        json!({"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}}),
        json!({"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": crate::query::MAX_PAGE_SIZE}}),
        json!({"name": "ordering", "in": "query", "description": format!("Comma-separated fields, `-` for descending: {}", model.ordering.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")), "schema": {"type": "string"}}),
    ];
    for field in model.filters {
        params.push(json!({"name": field.name, "in": "query", "schema": kind_schema(field.kind)}));
        for lookup in field.lookups {
            let schema = if *lookup == "isnull" {
                json!({"type": "boolean"})
            } else if *lookup == "in" {
                json!({"type": "string", "description": "comma-separated values"})
            } else {
                kind_schema(field.kind)
            };
            params.push(json!({"name": format!("{}__{lookup}", field.name), "in": "query", "schema": schema}));
        }
    }
    params
}

fn op(summary: String, tag: &str, params: Vec<Value>, body: bool, ok: &str) -> Value {
    let mut operation = json!({
        "summary": summary,
        "tags": [tag],
        "parameters": params,
        "responses": {
            ok: {"description": "Success", "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": {"description": "Field errors: `{\"field\": [\"message\"]}`"},
            "401": {"description": "No or bad credentials"},
            "404": {"description": "Not found, or not visible to this user"},
            "429": {"description": "Too many failed logins (token login, HTTP Basic) for this account or address: `{\"detail\": \"Request was throttled. Expected available in N seconds.\"}` with `Retry-After`"}
        }
    });
    if body {
        operation["requestBody"] =
            json!({"content": {"application/json": {"schema": {"type": "object"}}}});
    }
    operation
}

/// The document.
pub(super) async fn document(base: Base) -> Json<Value> {
    let mut paths = Map::new();
    let writable = [
        "project",
        "workflow",
        "workflowjob",
        "workflowjobgroup",
        "inputport",
        "outputport",
        "connection",
        "resource",
        "resourcelist",
        "workflowrun",
        "resultspackage",
    ];
    for model in ALL {
        let tag = model.title;
        let mut list = Map::new();
        list.insert(
            "get".into(),
            op(
                format!("List {}s", model.title),
                tag,
                list_parameters(model),
                false,
                "200",
            ),
        );
        if writable.contains(&model.route) {
            list.insert(
                "post".into(),
                op(
                    format!("Create a {}", model.title),
                    tag,
                    vec![],
                    true,
                    "201",
                ),
            );
        }
        paths.insert(format!("/api/{}/", model.plural), Value::Object(list));
        let id =
            json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
        let mut detail = Map::new();
        detail.insert(
            "get".into(),
            op(
                format!("Read a {}", model.title),
                tag,
                vec![id.clone()],
                false,
                "200",
            ),
        );
        if writable.contains(&model.route) {
            detail.insert(
                "patch".into(),
                op(
                    format!("Change a {}", model.title),
                    tag,
                    vec![id.clone()],
                    true,
                    "200",
                ),
            );
            detail.insert(
                "put".into(),
                op(
                    format!("Change a {}", model.title),
                    tag,
                    vec![id.clone()],
                    true,
                    "200",
                ),
            );
            detail.insert(
                "delete".into(),
                op(
                    format!("Delete a {}", model.title),
                    tag,
                    vec![id],
                    false,
                    "204",
                ),
            );
        }
        paths.insert(
            format!("/api/{}/{{id}}/", model.route),
            Value::Object(detail),
        );
    }
    for (path, summary, method) in [
        (
            "/api/auth/token/",
            "Obtain a token from {email or username, password}",
            "post",
        ),
        ("/api/auth/me/", "The current user", "get"),
        ("/api/auth/reset-token/", "Revoke the current token", "post"),
        (
            "/api/auth/change-password/",
            "Change the password from {current_password, new_password}",
            "post",
        ),
        (
            "/api/auth/register/",
            "Create a user (administrators)",
            "post",
        ),
        (
            "/api/project/{id}/admins/",
            "The project's administrators (user names)",
            "get",
        ),
        (
            "/api/project/{id}/workers/",
            "The project's workers (user names)",
            "get",
        ),
        ("/api/", "Route names and version", "get"),
        ("/api/ht/", "Health", "get"),
        (
            "/uploads/{path}",
            "A media file, after authorisation (X-Accel-Redirect)",
            "get",
        ),
        (
            "/ws/rodan",
            "Websocket of model events {status, model, uuid, project}",
            "get",
        ),
    ] {
        // Every `{name}` in the path is a required path parameter (an undeclared one makes the
        // document invalid OpenAPI).
        let params: Vec<Value> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}'))
            .map(|(name, _)| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        entry[method] = op(summary.to_owned(), "Other", params, method != "get", "200");
    }
    Json(json!({
        "openapi": "3.1.0",
        "info": {"title": "Rodan API", "version": env!("CARGO_PKG_VERSION"), "description": "Rodan's REST API: hyperlinked JSON, `Authorization: Token <key>` or HTTP Basic, pagination `{count, next, previous, current_page, total_pages, results}`."},
        "servers": [{"url": base.0.trim_end_matches("/api/")}],
        "components": {"securitySchemes": {
            "token": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`Token <key>`"},
            "basic": {"type": "http", "scheme": "basic"}
        }},
        "security": [{"token": []}, {"basic": []}],
        "paths": paths,
    }))
}
