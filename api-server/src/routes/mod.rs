//! The route table: upstream's paths and route names.

mod account;
mod graph;
mod interactive;
mod openapi;
mod package;
mod project;
pub mod read;
pub(crate) mod resource;
mod taskqueue;
mod workflow;
mod workflowrun;
mod ws;

use crate::models;
use crate::query::Model;
use crate::state::AppState;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{MethodRouter, get};
use read::{Access, detail_handler, list_handler, options_handler};
use serde_json::{Value, json};

const LIST_RO: &[&str] = &["GET", "HEAD", "OPTIONS"];
const LIST_RW: &[&str] = &["GET", "POST", "HEAD", "OPTIONS"];
const DETAIL_RO: &[&str] = &["GET", "HEAD", "OPTIONS"];
const DETAIL_RW: &[&str] = &["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

fn list_route(
    model: &'static Model,
    access: Access,
    methods: &'static [&'static str],
) -> MethodRouter<AppState> {
    get(list_handler(model, access)).options(options_handler(model, true, methods))
}

fn detail_route(
    model: &'static Model,
    access: Access,
    methods: &'static [&'static str],
) -> MethodRouter<AppState> {
    get(detail_handler(model, access)).options(options_handler(model, false, methods))
}

/// Route names of `GET /api/` as upstream's `APIRoot`, with their paths below `/api/`.
pub const ROUTE_NAMES: &[(&str, &str)] = &[
    ("projects", "projects/"),
    ("workflows", "workflows/"),
    ("workflowjobs", "workflowjobs/"),
    ("workflowjobgroups", "workflowjobgroups/"),
    ("workflowruns", "workflowruns/"),
    ("runjobs", "runjobs/"),
    ("jobs", "jobs/"),
    ("users", "users/"),
    ("userpreferences", "userpreferences/"),
    ("resultspackages", "resultspackages/"),
    ("connections", "connections/"),
    ("outputporttypes", "outputporttypes/"),
    ("outputports", "outputports/"),
    ("inputporttypes", "inputporttypes/"),
    ("inputports", "inputports/"),
    ("resources", "resources/"),
    ("labels", "labels/"),
    ("resourcelists", "resourcelists/"),
    ("resource-archive", "resources/archive/"),
    ("resourcetypes", "resourcetypes/"),
    ("outputs", "outputs/"),
    ("inputs", "inputs/"),
    ("taskqueue-active", "taskqueue/active/"),
    ("taskqueue-scheduled", "taskqueue/scheduled/"),
    ("taskqueue-status", "taskqueue/status/"),
    ("auth-me", "auth/me/"),
    ("auth-register", "auth/register/"),
    ("auth-token", "auth/token/"),
    ("auth-reset-token", "auth/reset-token/"),
    ("auth-change-password", "auth/change-password/"),
];

async fn api_root(State(state): State<AppState>, base: crate::link::Base) -> Json<Value> {
    let routes: serde_json::Map<String, Value> = ROUTE_NAMES
        .iter()
        .map(|(name, path)| ((*name).to_owned(), Value::String(base.url(path))))
        .collect();
    Json(json!({
        "routes": routes,
        "configuration": {"page_length": crate::query::PAGE_SIZE, "job_packages": {}},
        "version": state.version,
        "build_hash": env!("CARGO_PKG_VERSION"),
    }))
}

async fn empty() -> Json<Value> {
    Json(
        json!({"Warning": "This is not the page you are looking for, it has moved to down to the api/ route. Please adjust your urls accordingly. This url is now reserved for the Rodan-Client"}),
    )
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness and upstream's `/api/ht/`: the database answers.
async fn readyz(
    State(state): State<AppState>,
) -> Result<Json<Value>, (axum::http::StatusCode, Json<Value>)> {
    match sqlx::query("SELECT 1").execute(&state.pool).await {
        Ok(_) => Ok(Json(json!({"database": "working"}))),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            Err((
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"database": "unavailable"})),
            ))
        }
    }
}

/// The whole API.
pub fn app(state: AppState) -> Router {
    use models::*;
    let max_upload = state.max_upload;
    Router::new()
        .route("/", get(empty))
        .route("/api/", get(api_root))
        .route("/api/openapi.json", get(openapi::document))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/ht/", get(readyz))
        .merge(account::routes())
        .merge(project::routes())
        .merge(workflow::routes())
        .merge(workflowrun::routes())
        .merge(resource::routes())
        .merge(package::routes())
        .merge(taskqueue::routes())
        .merge(ws::routes())
        .merge(interactive::routes())
        .route("/api/jobs/", list_route(&JOB, Access::Public, LIST_RO))
        .route(
            "/api/job/{id}/",
            detail_route(&JOB, Access::Public, DETAIL_RO),
        )
        .route(
            "/api/resourcetypes/",
            list_route(&RESOURCE_TYPE, Access::Public, LIST_RO),
        )
        .route(
            "/api/resourcetype/{id}/",
            detail_route(&RESOURCE_TYPE, Access::Public, DETAIL_RO),
        )
        .route(
            "/api/inputporttypes/",
            list_route(&INPUT_PORT_TYPE, Access::Public, LIST_RO),
        )
        .route(
            "/api/inputporttype/{id}/",
            detail_route(&INPUT_PORT_TYPE, Access::Public, DETAIL_RO),
        )
        .route(
            "/api/outputporttypes/",
            list_route(&OUTPUT_PORT_TYPE, Access::Public, LIST_RO),
        )
        .route(
            "/api/outputporttype/{id}/",
            detail_route(&OUTPUT_PORT_TYPE, Access::Public, DETAIL_RO),
        )
        .route(
            "/api/runjobs/",
            list_route(&RUN_JOB, Access::Members, LIST_RO),
        )
        .route(
            "/api/runjob/{id}/",
            detail_route(&RUN_JOB, Access::Members, DETAIL_RO),
        )
        .route("/api/inputs/", list_route(&INPUT, Access::Members, LIST_RO))
        .route(
            "/api/input/{id}/",
            detail_route(&INPUT, Access::Members, DETAIL_RO),
        )
        .route(
            "/api/outputs/",
            list_route(&OUTPUT, Access::Members, LIST_RO),
        )
        .route(
            "/api/output/{id}/",
            detail_route(&OUTPUT, Access::Members, DETAIL_RO),
        )
        .layer(axum::extract::DefaultBodyLimit::max(max_upload))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::limits::guard,
        ))
        // Outside the guard, so its refusals carry the security headers too.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::security::headers,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
