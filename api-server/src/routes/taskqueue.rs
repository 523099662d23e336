//! `/api/taskqueue/{active,scheduled,status}/` (staff only): upstream passed `celery inspect`
//! through; here the database knows what runs where, and RabbitMQ how much waits.

use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use rodan_core::status;
use serde_json::{Map, Value, json};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/taskqueue/active/", get(active))
        .route("/api/taskqueue/scheduled/", get(scheduled))
        .route("/api/taskqueue/status/", get(queue_status))
}

fn staff(user: &User) -> ApiResult<()> {
    if user.is_staff || user.is_superuser {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "You do not have permission to perform this action.".into(),
        ))
    }
}

/// Run jobs being run, by worker.
async fn active(State(state): State<AppState>, user: User) -> ApiResult<Json<Value>> {
    staff(&user)?;
    type Row = (
        String,
        uuid::Uuid,
        String,
        String,
        Option<chrono::DateTime<chrono::Utc>>,
        i32,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT coalesce(lease_owner, ''), uuid, job_name, job_queue, lease_expires, attempts FROM run_jobs WHERE status = $1 ORDER BY lease_owner, updated",
    )
    .bind(status::PROCESSING)
    .fetch_all(&state.pool)
    .await?;
    let mut by_worker: Map<String, Value> = Map::new();
    for (worker, id, name, queue, lease, attempts) in rows {
        let entry = by_worker.entry(worker).or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(json!({"run_job": id, "name": name, "queue": queue, "lease_expires": lease, "attempts": attempts}));
        }
    }
    Ok(Json(Value::Object(by_worker)))
}

/// Run jobs dispatched and waiting in a queue.
async fn scheduled(State(state): State<AppState>, user: User) -> ApiResult<Json<Value>> {
    staff(&user)?;
    let rows: Vec<(String, uuid::Uuid, String)> = sqlx::query_as(
        "SELECT job_queue, uuid, job_name FROM run_jobs WHERE status = $1 AND celery_task_id IS NOT NULL ORDER BY job_queue, updated",
    )
    .bind(status::SCHEDULED)
    .fetch_all(&state.pool)
    .await?;
    let mut by_queue: Map<String, Value> = Map::new();
    for (queue, id, name) in rows {
        let entry = by_queue.entry(queue).or_insert_with(|| json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(json!({"run_job": id, "name": name}));
        }
    }
    Ok(Json(Value::Object(by_queue)))
}

/// Per queue: messages ready, consumers (worker connections), jobs running.
async fn queue_status(State(state): State<AppState>, user: User) -> ApiResult<Json<Value>> {
    staff(&user)?;
    let running: Vec<(String, i64)> = sqlx::query_as(
        "SELECT job_queue, count(*) FROM run_jobs WHERE status = $1 GROUP BY job_queue",
    )
    .bind(status::PROCESSING)
    .fetch_all(&state.pool)
    .await?;
    let mut queues: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT job_queue FROM jobs ORDER BY 1")
            .fetch_all(&state.pool)
            .await?;
    for default in rodan_types::queues::DEFAULT {
        if !queues.iter().any(|q| q == default) {
            queues.push(default.to_owned());
        }
    }
    let mut out = Map::new();
    for queue in queues {
        let depth = state
            .broker
            .queue_depth(&queue)
            .await
            .map_err(ApiError::internal)?;
        let active = running
            .iter()
            .find(|(q, _)| *q == queue)
            .map_or(0, |(_, n)| *n);
        out.insert(
            queue,
            json!({
                "messages": depth.map(|(m, _)| m),
                "consumers": depth.map(|(_, c)| c),
                "running": active,
            }),
        );
    }
    Ok(Json(Value::Object(out)))
}
