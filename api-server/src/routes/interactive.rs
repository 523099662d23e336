//! Interactive jobs (upstream `views/interactive.py`): a project member acquires a run job that
//! waits for a person (WAITING_FOR_INPUT) and gets its working URL; the working URL, authorised
//! by its token alone while it has not expired, serves the job's page and files and takes the
//! person's input, which, once it meets the job's input schema, is merged into the run job's
//! settings and sends it back to its queue.
//!
//! The API does not link the jobs: the worker wrote the waiting job's bundle (page, files, input
//! schema) to the media volume ([`rodan_core::interactive`]), and this module serves and checks
//! against it.

use crate::auth::User;
use crate::body::Body;
use crate::error::{ApiError, ApiResult};
use crate::link::Base;
use crate::models::RUN_JOB;
use crate::perm::{self, Role};
use crate::routes::read::path_uuid;
use crate::state::AppState;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rodan_core::interactive::{INPUT_SCHEMA, PAGE, STATIC, interface_dir, is_safe_static_path};
use rodan_core::status;
use rodan_db::events::{Change, ModelName};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/interactive/{id}/acquire/", post(acquire))
        .route("/api/interactive/{id}/{token}/", get(page).post(input))
        .route("/api/interactive/{id}/{token}/{*path}", get(file))
}

/// The page may load its own files and images given as `data:` URLs, post to its working URL,
/// and be framed by the site that serves it (the web client); nothing else.
const PAGE_POLICY: &str = rodan_types::INTERACTIVE_PAGE_POLICY;

/// Upstream's refusals: `{"message": ...}` with its status.
fn message(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({"message": text}))).into_response()
}

const NOT_NOW: &str = "This RunJob does not accept input now";
const DENIED: &str = "Permission denied";

/// `POST /api/interactive/<run job>/acquire/`: locks the run job to the user for the configured
/// time (upstream's `RODAN_RUNJOB_WORKING_USER_EXPIRY_SECONDS`), with a new token unless they
/// held it already; another user's unexpired lock is a 400.
async fn acquire(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
) -> ApiResult<Response> {
    let id = path_uuid(path)?;
    perm::require_object(&state.pool, &user, &RUN_JOB, id, Role::Worker).await?;
    let seconds = i64::try_from(state.working_user_expiry_seconds).unwrap_or(i64::MAX);
    let acquired: Option<(Uuid, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        r#"UPDATE run_jobs SET
               working_user_token = CASE
                   WHEN working_user_id IS DISTINCT FROM $2 OR working_user_token IS NULL
                        OR working_user_expiry IS NULL OR working_user_expiry < now()
                   THEN gen_random_uuid() ELSE working_user_token END,
               working_user_id = $2,
               working_user_expiry = now() + $3 * interval '1 second'
           WHERE uuid = $1 AND status = $4
             AND (working_user_id IS NULL OR working_user_id = $2
                  OR working_user_expiry IS NULL OR working_user_expiry < now())
           RETURNING working_user_token, working_user_expiry"#,
    )
    .bind(id)
    .bind(user.id)
    .bind(seconds)
    .bind(status::WAITING_FOR_INPUT)
    .fetch_optional(&state.pool)
    .await?;
    let Some((token, expiry)) = acquired else {
        let now: Option<i32> = sqlx::query_scalar("SELECT status FROM run_jobs WHERE uuid = $1")
            .bind(id)
            .fetch_optional(&state.pool)
            .await?;
        return Ok(match now {
            None => return Err(ApiError::NotFound),
            Some(s) if s != status::WAITING_FOR_INPUT => message(StatusCode::BAD_REQUEST, NOT_NOW),
            Some(_) => message(
                StatusCode::BAD_REQUEST,
                "Previous working user has not expired yet.",
            ),
        });
    };
    Ok(Json(json!({
        "working_url": base.url(&format!("interactive/{id}/{token}/")),
        "working_user_expiry": expiry,
    }))
    .into_response())
}

/// A run job the working URL may act on.
struct Working {
    run_job: Uuid,
    run: Uuid,
    project: Uuid,
}

/// Upstream's checks of a working URL, in its order: the run job exists (404), waits for input
/// (400), the token is its current one (401) and has not expired (401).
async fn authorise(state: &AppState, id: &str, token: &str) -> Result<Working, Response> {
    let not_found = || ApiError::NotFound.into_response();
    let run_job = Uuid::parse_str(id).map_err(|_| not_found())?;
    let row: Option<(i32, Option<Uuid>, bool, Uuid, Uuid)> = sqlx::query_as(
        r#"SELECT rj.status, rj.working_user_token,
                  rj.working_user_expiry IS NOT NULL AND rj.working_user_expiry >= now(),
                  wr.uuid, wr.project_uuid
           FROM run_jobs rj JOIN workflow_runs wr ON wr.uuid = rj.workflow_run_uuid
           WHERE rj.uuid = $1"#,
    )
    .bind(run_job)
    .fetch_optional(&state.pool)
    .await
    .map_err(|e| ApiError::from(e).into_response())?;
    let Some((now, current, unexpired, run, project)) = row else {
        return Err(not_found());
    };
    if now != status::WAITING_FOR_INPUT {
        return Err(message(StatusCode::BAD_REQUEST, NOT_NOW));
    }
    let given = Uuid::parse_str(token).ok();
    if given.is_none() || given != current || !unexpired {
        return Err(message(StatusCode::UNAUTHORIZED, DENIED));
    }
    Ok(Working {
        run_job,
        run,
        project,
    })
}

fn bundle(state: &AppState, w: &Working) -> std::path::PathBuf {
    state.media_root.join(interface_dir(w.project, w.run_job))
}

/// The bundle is gone (the media volume was cleaned): the job cannot be shown.
fn missing() -> Response {
    ApiError::Detail(
        StatusCode::NOT_FOUND,
        "The job's page is not there; retry the run to make it again.".into(),
    )
    .into_response()
}

/// `GET` of the working URL: the job's page; its time is added to `interactive_timings`.
async fn page(
    State(state): State<AppState>,
    Path((id, token)): Path<(String, String)>,
) -> Response {
    let w = match authorise(&state, &id, &token).await {
        Ok(w) => w,
        Err(refused) => return refused,
    };
    let Ok(html) = tokio::fs::read(bundle(&state, &w).join(PAGE)).await else {
        return missing();
    };
    if let Err(error) = sqlx::query(
        r#"UPDATE run_jobs SET interactive_timings = interactive_timings
               || jsonb_build_array(jsonb_build_object('get', extract(epoch FROM now())::float8))
           WHERE uuid = $1"#,
    )
    .bind(w.run_job)
    .execute(&state.pool)
    .await
    {
        return ApiError::from(error).into_response();
    }
    served(html, "text/html; charset=utf-8")
}

fn served(bytes: Vec<u8>, content_type: &str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    headers.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET` of the working URL plus a path: a file of the job's bundle. Paths that would leave the
/// bundle's static folder are 404, as upstream's traversal check answers.
async fn file(
    State(state): State<AppState>,
    Path((id, token, path)): Path<(String, String, String)>,
) -> Response {
    let w = match authorise(&state, &id, &token).await {
        Ok(w) => w,
        Err(refused) => return refused,
    };
    if !is_safe_static_path(&path) {
        return ApiError::NotFound.into_response();
    }
    let full = bundle(&state, &w).join(STATIC).join(&path);
    match tokio::fs::read(&full).await {
        Ok(bytes) => {
            let mime = mime_guess::from_path(&path).first_or_octet_stream();
            served(bytes, mime.as_ref())
        }
        Err(_) => ApiError::NotFound.into_response(),
    }
}

/// The input of a `POST`: a JSON or form body, its `__serialized__` field decoded as JSON when
/// present (as upstream).
fn user_input(body: Body) -> ApiResult<Value> {
    let Body(mut map) = body;
    match map.remove("__serialized__") {
        Some(Value::String(text)) => serde_json::from_str(&text)
            .map_err(|e| ApiError::field("__serialized__", format!("Not valid JSON: {e}"))),
        Some(_) => Err(ApiError::field("__serialized__", "Must be a JSON string.")),
        None => Ok(Value::Object(map)),
    }
}

/// The schema's complaints about `input`, by where in the input they are
/// (`{"@changed_glyphs/0/id": ["..."]}`, the whole input as `non_field_errors`).
fn check(schema: &Value, input: &Value) -> ApiResult<()> {
    let validator = jsonschema::validator_for(schema).map_err(|error| {
        tracing::warn!(%error, "a waiting job's input schema does not compile");
        ApiError::internal(anyhow::anyhow!("the job's input schema is not valid"))
    })?;
    let mut fields: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for error in validator.iter_errors(input).take(20) {
        let at = error.instance_path().to_string();
        let key = at.trim_start_matches('/').to_owned();
        let key = if key.is_empty() {
            "non_field_errors".to_owned()
        } else {
            key
        };
        fields.entry(key).or_default().push(error.to_string());
    }
    if fields.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Fields(fields))
    }
}

/// `POST` of the working URL: the person's input. Checked against the job's input schema (400
/// with the schema's complaints, nothing changed); then its `@` keys are merged into the run
/// job's settings, the run job goes back to SCHEDULED without a working user, and its run is
/// dispatched, so the job runs again with the input.
async fn input(
    State(state): State<AppState>,
    Path((id, token)): Path<(String, String)>,
    body: Body,
) -> Response {
    let w = match authorise(&state, &id, &token).await {
        Ok(w) => w,
        Err(refused) => return refused,
    };
    let input = match user_input(body) {
        Ok(input) => input,
        Err(refused) => return refused.into_response(),
    };
    let Ok(text) = tokio::fs::read(bundle(&state, &w).join(INPUT_SCHEMA)).await else {
        return missing();
    };
    let schema: Value = match serde_json::from_slice(&text) {
        Ok(schema) => schema,
        Err(error) => {
            return ApiError::internal(anyhow::anyhow!("the job's input schema: {error}"))
                .into_response();
        }
    };
    if let Err(refused) = check(&schema, &input) {
        return refused.into_response();
    }
    let update: Map<String, Value> = match input {
        Value::Object(map) => rodan_core::interactive::runtime_only(map),
        _ => Map::new(),
    };
    let token = Uuid::parse_str(&token).ok();
    let done = sqlx::query(
        r#"UPDATE run_jobs SET status = $3, job_settings = job_settings || $4,
               celery_task_id = NULL, error_summary = '', error_details = '',
               interactive_timings = interactive_timings
                   || jsonb_build_array(jsonb_build_object('post', extract(epoch FROM now())::float8)),
               working_user_id = NULL, working_user_token = NULL, working_user_expiry = NULL,
               updated = now()
           WHERE uuid = $1 AND working_user_token = $2 AND status = $5
             AND working_user_expiry >= now()"#,
    )
    .bind(w.run_job)
    .bind(token)
    .bind(status::SCHEDULED)
    .bind(sqlx::types::Json(&update))
    .bind(status::WAITING_FOR_INPUT)
    .execute(&state.pool)
    .await;
    match done {
        Ok(done) if done.rows_affected() == 1 => {}
        // Another request with the same token won the race, or the run was cancelled.
        Ok(_) => return message(StatusCode::BAD_REQUEST, NOT_NOW),
        Err(error) => return ApiError::from(error).into_response(),
    }
    state
        .emit(
            Change::Updated,
            ModelName::RunJob,
            w.run_job,
            Some(w.project),
        )
        .await;
    super::workflowrun::dispatch(&state, w.run).await;
    Json(json!({})).into_response()
}
