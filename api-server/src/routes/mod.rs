//! The route table: upstream's paths and route names.

mod account;
mod graph;
mod interactive;
mod openapi;
mod package;
mod port;
mod project;
pub mod read;
mod registration;
pub(crate) mod resource;
mod resourceassignment;
mod taskqueue;
mod workflow;
mod workflowjob;
mod workflowrun;
mod ws;

use crate::models;
use crate::query::Model;
use crate::state::AppState;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::handler::Handler;
use axum::routing::{MethodRouter, get};
use read::{Access, detail_handler, list_handler, options_handler};
use serde_json::{Value, json};

/// A model's list or detail route: its `GET` (the generic read unless another is given), the
/// write methods it is given, and an `OPTIONS` whose `allowed_methods` are exactly the methods
/// answered. Turned into the route with `.into()`.
pub(super) struct Resource {
    model: &'static Model,
    list: bool,
    router: MethodRouter<AppState>,
    methods: Vec<&'static str>,
}

/// The list route of `model` (`GET /api/<plural>/`).
pub(super) fn list(model: &'static Model, access: Access) -> Resource {
    Resource::new(model, true, get(list_handler(model, access)))
}

/// The detail route of `model` (`GET /api/<route>/<id>/`).
pub(super) fn detail(model: &'static Model, access: Access) -> Resource {
    Resource::new(model, false, get(detail_handler(model, access)))
}

impl Resource {
    /// A route whose `GET` is `get` (a read with more than the generic one: users, a
    /// project's or a workflow's detail).
    pub(super) fn new(model: &'static Model, list: bool, get: MethodRouter<AppState>) -> Self {
        Self {
            model,
            list,
            router: get,
            methods: vec!["GET"],
        }
    }

    fn with(mut self, method: &'static str, router: MethodRouter<AppState>) -> Self {
        self.router = self.router.merge(router);
        self.methods.push(method);
        self
    }

    /// Answers `POST` (a list's create).
    pub(super) fn post<H: Handler<T, AppState>, T: 'static>(self, handler: H) -> Self {
        self.with("POST", axum::routing::post(handler))
    }

    /// Answers `PUT` and `PATCH` with one handler (upstream's update, partial or not).
    pub(super) fn put_patch<H: Handler<T, AppState>, T: 'static>(self, handler: H) -> Self {
        self.with("PUT", axum::routing::put(handler.clone()))
            .with("PATCH", axum::routing::patch(handler))
    }

    /// Answers `PATCH` only.
    pub(super) fn patch<H: Handler<T, AppState>, T: 'static>(self, handler: H) -> Self {
        self.with("PATCH", axum::routing::patch(handler))
    }

    /// Answers `DELETE`.
    pub(super) fn delete<H: Handler<T, AppState>, T: 'static>(self, handler: H) -> Self {
        self.with("DELETE", axum::routing::delete(handler))
    }
}

impl From<Resource> for MethodRouter<AppState> {
    fn from(resource: Resource) -> Self {
        let mut methods = resource.methods;
        methods.extend(["HEAD", "OPTIONS"]);
        resource
            .router
            .options(options_handler(resource.model, resource.list, methods))
    }
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
    ("auth-activate", "auth/activate/"),
    ("auth-resend-activation", "auth/resend-activation/"),
    ("auth-reset-password", "auth/reset-password/"),
    (
        "auth-reset-password-confirm",
        "auth/reset-password/confirm/",
    ),
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
    let cors = crate::cors::layer(&state.cors_origins);
    let router = Router::new()
        .route("/", get(empty))
        .route("/api/", get(api_root))
        .route("/api/openapi.json", get(openapi::document))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/ht/", get(readyz))
        .merge(account::routes())
        // The client probes `auth/me/` with `OPTIONS` too; the view's other methods are in
        // `account.rs`.
        .route(
            "/api/auth/me/",
            axum::routing::options(read::view_options_handler(
                "Auth Me",
                &["GET", "PUT", "PATCH", "HEAD", "OPTIONS"],
            )),
        )
        .merge(registration::routes())
        .merge(project::routes())
        .merge(workflow::routes())
        .merge(workflowjob::routes())
        .merge(port::routes())
        .merge(workflowrun::routes())
        .merge(resource::routes())
        .merge(resourceassignment::routes())
        .merge(package::routes())
        .merge(taskqueue::routes())
        .merge(ws::routes())
        .merge(interactive::routes())
        .route("/api/jobs/", list(&JOB, Access::Public).into())
        .route("/api/job/{id}/", detail(&JOB, Access::Public).into())
        .route(
            "/api/resourcetypes/",
            list(&RESOURCE_TYPE, Access::Public).into(),
        )
        .route(
            "/api/resourcetype/{id}/",
            detail(&RESOURCE_TYPE, Access::Public).into(),
        )
        .route(
            "/api/inputporttypes/",
            list(&INPUT_PORT_TYPE, Access::Public).into(),
        )
        .route(
            "/api/inputporttype/{id}/",
            detail(&INPUT_PORT_TYPE, Access::Public).into(),
        )
        .route(
            "/api/outputporttypes/",
            list(&OUTPUT_PORT_TYPE, Access::Public).into(),
        )
        .route(
            "/api/outputporttype/{id}/",
            detail(&OUTPUT_PORT_TYPE, Access::Public).into(),
        )
        .route("/api/runjobs/", list(&RUN_JOB, Access::Members).into())
        .route(
            "/api/runjob/{id}/",
            detail(&RUN_JOB, Access::Members).into(),
        )
        .route("/api/inputs/", list(&INPUT, Access::Members).into())
        .route("/api/input/{id}/", detail(&INPUT, Access::Members).into())
        .route("/api/outputs/", list(&OUTPUT, Access::Members).into())
        .route("/api/output/{id}/", detail(&OUTPUT, Access::Members).into())
        // DRF's JSON bodies for a path that names no route and a method a route does not serve
        // (axum's own are empty).
        .fallback(|| async { crate::error::ApiError::NotFound })
        .method_not_allowed_fallback(|| async { crate::error::ApiError::MethodNotAllowed })
        .layer(axum::extract::DefaultBodyLimit::max(max_upload))
        .layer(axum::middleware::from_fn_with_state(
            crate::limits::UploadLimit(max_upload),
            crate::limits::guard,
        ))
        // Outside the guard, so its refusals carry the security headers too.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::security::headers::<AppState>,
        ));
    // Outside the guard and the handlers: preflights are answered before authentication, and
    // refusals (401, 413, 429) carry the CORS headers too, so that the client can read them.
    let router = match cors {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
