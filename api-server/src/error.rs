//! One error type for every handler, rendered in Django REST framework's shapes:
//! `{"detail": "..."}`, `{"field": ["message"]}`, and upstream's 409 bodies.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No credentials where they are required (401 with `WWW-Authenticate`).
    #[error("authentication credentials were not provided")]
    NotAuthenticated,
    /// Credentials that do not match a user.
    #[error("invalid credentials")]
    BadCredentials(&'static str),
    /// A login refused by `POST /api/auth/token/`, in upstream's `AuthTokenView` body:
    /// `{"is_logged_in": false, "detail": ...}` with 401 (wrong credentials) or 403 (an account
    /// not activated yet, which the web client offers to activate).
    #[error("login refused")]
    LoginRefused(StatusCode, &'static str),
    /// Authenticated but not allowed.
    #[error("permission denied")]
    Forbidden(String),
    /// No such object, or one the user may not see.
    #[error("not found")]
    NotFound,
    /// Field-level validation errors (400).
    #[error("invalid request")]
    Fields(BTreeMap<String, Vec<String>>),
    /// A 400 whose body is given whole, for DRF errors nested deeper than one level (a workflow
    /// import's `{"serialized": {"workflow_jobs[0].job_name": "..."}}`).
    #[error("invalid request")]
    Invalid(Value),
    /// A request-level message with a status.
    #[error("{1}")]
    Detail(StatusCode, String),
    /// A conflict with a structured body (workflow validation, protected deletes).
    #[error("conflict")]
    Conflict(Value),
    /// Too many failed logins: retry after this many seconds (429 with `Retry-After`).
    #[error("throttled")]
    Throttled(u64),
    /// The method is not allowed on the route.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A service the request needs (PostgreSQL, RabbitMQ) is down or saturated: 503 with
    /// `Retry-After` and DRF's `ServiceUnavailable` detail, so clients try again instead of
    /// treating it as a bug or as their mistake.
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Something failed on our side; the cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A 400 about one field.
    pub fn field(name: &str, message: impl Into<String>) -> Self {
        Self::Fields(BTreeMap::from([(name.to_owned(), vec![message.into()])]))
    }

    /// A 400 with a `detail` message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::Detail(StatusCode::BAD_REQUEST, message.into())
    }

    /// Wraps any internal failure; one caused by the database being unavailable is a 503.
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        let error = error.into();
        if error
            .chain()
            .any(|cause| cause.downcast_ref::<sqlx::Error>().is_some_and(unavailable))
        {
            return Self::Unavailable(error);
        }
        Self::Internal(error)
    }

    /// A 413 for a body over `limit` bytes.
    pub fn too_large(limit: usize) -> Self {
        Self::Detail(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Request body too large: the limit is {}.",
                human_size(limit)
            ),
        )
    }
}

/// A unique constraint a write may break, and what the user is told when it does: the
/// constraint's name (PostgreSQL's `<table>_<column>_key`), the field and upstream's message.
pub type Unique = (&'static str, &'static str, &'static str);

/// Maps a uniqueness violation (SQLSTATE 23505) of one of `constraints` to its field error;
/// any other failure converts as usual. Used on the write that can break the constraint.
pub fn on_unique(constraints: &'static [Unique]) -> impl FnOnce(sqlx::Error) -> ApiError {
    move |error| {
        if let sqlx::Error::Database(db) = &error
            && db.code().as_deref() == Some("23505")
            && let Some((_, field, message)) = constraints
                .iter()
                .find(|(name, _, _)| db.constraint() == Some(*name))
        {
            return ApiError::field(field, *message);
        }
        error.into()
    }
}

/// The message DRF's `ProhibitNullCharactersValidator` gives (CharField, django-filter).
pub const NUL_MESSAGE: &str = "Null characters are not allowed.";

/// Seconds a 503 asks clients to wait before trying again.
pub const RETRY_AFTER_SECONDS: u64 = 2;

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if unavailable(&error) {
            return Self::Unavailable(error.into());
        }
        if let sqlx::Error::Database(db) = &error {
            match db.code().as_deref() {
                // 23503: a row still referenced (PROTECT in upstream's models).
                Some("23503") => {
                    return Self::Conflict(
                        json!({"detail": "This object is still referenced by other objects and cannot be deleted or changed."}),
                    );
                }
                // 23505: a unique constraint the write did not map with `on_unique` (a net:
                // logged, since the user is told less than they would be).
                Some("23505") => {
                    tracing::warn!(error = %db, "a uniqueness violation without its field message");
                    return Self::Detail(
                        StatusCode::BAD_REQUEST,
                        "An object with these values already exists.".into(),
                    );
                }
                // 22021 (a NUL in text: "invalid byte sequence for encoding UTF8: 0x00") and
                // 22P05 (`\u0000` in jsonb): the edge refuses NULs already; this is the net for
                // a path it does not cover. Logged, since it means the edge missed one.
                Some("22021" | "22P05") => {
                    tracing::warn!(error = %db, "PostgreSQL refused a value the edge let through");
                    return Self::bad_request(NUL_MESSAGE);
                }
                // 23514: a CHECK constraint (`workflows_name_check`): the edge checks upstream's
                // lengths first; a miss names the column the constraint is about.
                Some("23514") => {
                    tracing::warn!(error = %db, "a CHECK constraint refused a value the edge let through");
                    let field = db
                        .constraint()
                        .and_then(|c| c.strip_suffix("_check"))
                        .and_then(|c| db.table().and_then(|t| c.strip_prefix(t)))
                        .map(|c| c.trim_start_matches('_'))
                        .filter(|c| !c.is_empty())
                        .unwrap_or("non_field_errors");
                    return Self::field(field, "Ensure this value is valid.");
                }
                _ => {}
            }
        }
        Self::Internal(error.into())
    }
}

/// Whether `error` says the database is down, restarting, unreachable or out of connections
/// (rather than that the statement was wrong): a 503, not a 500.
pub fn unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // Class 08: connection exceptions. 57P01-57P03: admin/crash shutdown, cannot
            // connect now. 53300: too many connections.
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            Self::NotAuthenticated => (
                StatusCode::UNAUTHORIZED,
                json!({"detail": "Authentication credentials were not provided."}),
            ),
            Self::BadCredentials(message) => (StatusCode::UNAUTHORIZED, json!({"detail": message})),
            Self::LoginRefused(status, message) => {
                (*status, json!({"is_logged_in": false, "detail": message}))
            }
            Self::Forbidden(message) => (StatusCode::FORBIDDEN, json!({"detail": message})),
            Self::NotFound => (StatusCode::NOT_FOUND, json!({"detail": "Not found."})),
            Self::Fields(fields) => (StatusCode::BAD_REQUEST, json!(fields)),
            Self::Invalid(body) => (StatusCode::BAD_REQUEST, body.clone()),
            Self::Detail(status, message) => (*status, json!({"detail": message})),
            Self::Conflict(body) => (StatusCode::CONFLICT, body.clone()),
            Self::Throttled(wait) => (
                StatusCode::TOO_MANY_REQUESTS,
                json!({"detail": format!(
                    "Request was throttled. Expected available in {wait} second{}.",
                    if *wait == 1 { "" } else { "s" }
                )}),
            ),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"detail": "Method not allowed."}),
            ),
            Self::Unavailable(error) => {
                tracing::warn!(error = format!("{error:#}"), "a dependency is unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"detail": "Service temporarily unavailable, try again later."}),
                )
            }
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"detail": "Internal server error."}),
                )
            }
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Self::Throttled(wait) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// `bytes` for a message: `700 MiB`, `256 KiB`, `10 bytes`.
pub fn human_size(bytes: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}
