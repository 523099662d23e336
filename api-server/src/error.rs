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

    /// Wraps any internal failure.
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error {
            // 23503: a row still referenced (PROTECT in upstream's models).
            if db.code().as_deref() == Some("23503") {
                return Self::Conflict(
                    json!({"detail": "This object is still referenced by other objects and cannot be deleted or changed."}),
                );
            }
            if db.code().as_deref() == Some("23505") {
                return Self::Detail(
                    StatusCode::BAD_REQUEST,
                    "An object with these values already exists.".into(),
                );
            }
        }
        Self::Internal(error.into())
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
        response
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
