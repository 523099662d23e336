//! Results packages: a zip of a workflow run's outputs, built by a `celery`-queue worker
//! (upstream's `package_results`), downloadable until it expires.

use crate::auth::User;
use crate::body::Body;
use crate::body::field::{Int, Link, Text, nullable};
use crate::error::{ApiError, ApiResult};
use crate::link::{Base, require_ref};
use crate::models::{RESULTS_PACKAGE, WORKFLOW_RUN};
use crate::perm::{self, Role};
use crate::query::{self, RawJson};
use crate::routes::read::{Access, path_uuid};
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rodan_core::message::{PackageMessage, Task};
use rodan_core::status;
use rodan_db::events::{Change, ModelName};
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    use super::{detail, list};
    Router::new()
        .route(
            "/api/resultspackages/",
            list(&RESULTS_PACKAGE, Access::Members).post(create).into(),
        )
        .route(
            "/api/resultspackage/{id}/",
            detail(&RESULTS_PACKAGE, Access::Members)
                .patch(update)
                .delete(delete)
                .into(),
        )
}

/// Days a package lives by default (upstream's 30).
const DEFAULT_EXPIRY_DAYS: i64 = 30;

/// `POST /api/resultspackages/`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct NewPackage {
    workflow_run: Link,
    /// 0, 1 or 2 (upstream's packaging modes).
    packaging_mode: Int,
    /// When the package expires (ISO 8601); absent: in 30 days; null: never (staff only).
    #[serde(default, deserialize_with = "nullable")]
    expiry_time: Option<Option<Text>>,
}

async fn create(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<RawJson> {
    let NewPackage {
        workflow_run,
        packaging_mode,
        expiry_time,
    } = body.typed()?;
    let run = require_ref(&workflow_run.0, "workflowrun", "workflow_run")?;
    let project =
        perm::require_field_object(&state.pool, &user, &WORKFLOW_RUN, run, "workflow_run").await?;
    let Int(mode) = packaging_mode;
    if !(0..=2).contains(&mode) {
        return Err(ApiError::field(
            "packaging_mode",
            "\"packaging_mode\" must be 0, 1 or 2.",
        ));
    }
    let run_status: i32 = sqlx::query_scalar("SELECT status FROM workflow_runs WHERE uuid = $1")
        .bind(run)
        .fetch_one(&state.pool)
        .await?;
    if run_status != status::FINISHED && run_status != status::FAILED {
        return Err(ApiError::field(
            "workflow_run",
            "Cannot package the results of a workflow run that is not finished or failed.",
        ));
    }
    let expiry = match expiry_time {
        None => Some(chrono::Utc::now() + chrono::Duration::days(DEFAULT_EXPIRY_DAYS)),
        Some(None) => {
            if !user.is_staff && !user.is_superuser {
                return Err(ApiError::field(
                    "expiry_time",
                    "Only staff may create results packages that never expire.",
                ));
            }
            None
        }
        Some(Some(Text(v))) => {
            let t = chrono::DateTime::parse_from_rfc3339(&v)
                .ok()
                .map(|t| t.with_timezone(&chrono::Utc))
                .ok_or_else(|| {
                    ApiError::field("expiry_time", "Datetime has wrong format. Use ISO 8601.")
                })?;
            if t <= chrono::Utc::now() {
                return Err(ApiError::field(
                    "expiry_time",
                    "Expiry time must be in the future.",
                ));
            }
            Some(t)
        }
    };
    let id = Uuid::new_v4();
    let task = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO results_packages (uuid, status, workflow_run_uuid, packaging_mode, creator_id, celery_task_id, expiry_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(status::SCHEDULED)
    .bind(run)
    .bind(i32::try_from(mode).unwrap_or(0))
    .bind(user.id)
    .bind(task.to_string())
    .bind(expiry)
    .execute(&state.pool)
    .await?;
    let message = PackageMessage {
        results_package: id,
        task_id: task,
    };
    if let Err(error) = state
        .broker
        .publish(&state.core_queue, &Task::Package(message))
        .await
    {
        sqlx::query("UPDATE results_packages SET status = $2, error_summary = 'The package could not be queued.' WHERE uuid = $1")
            .bind(id)
            .bind(status::FAILED)
            .execute(&state.pool)
            .await?;
        // RabbitMQ is down: the client may ask again (the failed package is kept, as upstream
        // keeps failed ones).
        return Err(ApiError::Unavailable(error.into()));
    }
    state
        .emit(
            Change::Created,
            ModelName::ResultsPackage,
            id,
            Some(project),
        )
        .await;
    Ok(RawJson(
        StatusCode::CREATED,
        query::detail(&state.pool, &RESULTS_PACKAGE, &base.0, Some(&user), id).await?,
    ))
}

/// `PUT`/`PATCH /api/resultspackage/<uuid>/`: only `{"status": 9}`, which cancels a package
/// still scheduled or processing.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct PackageChange {
    /// 9 (cancelled).
    #[schemars(range(min = 9, max = 9))]
    status: Int,
}

/// Only `{"status": 9}` while scheduled or processing: cancels the packaging.
async fn update(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<RawJson> {
    let id = path_uuid(path)?;
    let only_cancel = || ApiError::field("status", "Only cancelling (status 9) is allowed.");
    if body.0.keys().any(|k| k != "status") {
        return Err(only_cancel());
    }
    let PackageChange {
        status: Int(wanted),
    } = body.typed()?;
    let project =
        perm::require_object(&state.pool, &user, &RESULTS_PACKAGE, id, Role::Worker).await?;
    if wanted != i64::from(status::CANCELLED) {
        return Err(only_cancel());
    }
    let changed = sqlx::query("UPDATE results_packages SET status = $2, updated = now() WHERE uuid = $1 AND status IN ($3, $4)")
        .bind(id)
        .bind(status::CANCELLED)
        .bind(status::SCHEDULED)
        .bind(status::PROCESSING)
        .execute(&state.pool)
        .await?;
    if changed.rows_affected() == 0 {
        return Err(ApiError::field(
            "status",
            "Only a scheduled or processing package can be cancelled.",
        ));
    }
    state
        .emit(
            Change::Updated,
            ModelName::ResultsPackage,
            id,
            Some(project),
        )
        .await;
    Ok(RawJson(
        StatusCode::OK,
        query::detail(&state.pool, &RESULTS_PACKAGE, &base.0, Some(&user), id).await?,
    ))
}

async fn delete(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_uuid(path)?;
    let project =
        perm::require_object(&state.pool, &user, &RESULTS_PACKAGE, id, Role::Worker).await?;
    let deleted =
        sqlx::query("DELETE FROM results_packages WHERE uuid = $1 AND status NOT IN ($2, $3)")
            .bind(id)
            .bind(status::SCHEDULED)
            .bind(status::PROCESSING)
            .execute(&state.pool)
            .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::bad_request(
            "Cannot delete a results package while it is being built; cancel it first.",
        ));
    }
    let file = state.media_root.join(rodan_core::media::package_file(id));
    if let Err(error) = tokio::fs::remove_file(&file).await
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(%error, file = %file.display(), "failed to remove a results package");
    }
    state
        .emit(
            Change::Deleted,
            ModelName::ResultsPackage,
            id,
            Some(project),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
