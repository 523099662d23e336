//! Request bodies as DRF parses them: JSON, or form fields (`application/x-www-form-urlencoded`).

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

/// Reads a JSON or form body of at most the configured `max_json` bytes: a `Content-Length`
/// over it is refused before reading, a body without one is cut as soon as it passes it (413).
async fn read_limited(req: Request, max: usize) -> Result<axum::body::Bytes, ApiError> {
    if crate::limits::content_length(req.headers()).is_some_and(|len| len > max as u64) {
        return Err(ApiError::too_large(max));
    }
    axum::body::to_bytes(req.into_body(), max)
        .await
        .map_err(|error| {
            let too_large =
                std::iter::successors(Some(&error as &(dyn std::error::Error + 'static)), |e| {
                    e.source()
                })
                .any(|e| e.is::<http_body_util::LengthLimitError>());
            if too_large {
                ApiError::too_large(max)
            } else {
                ApiError::bad_request("Could not read the request body.")
            }
        })
}

/// A body as a JSON object; form fields become strings (repeated keys become lists).
#[derive(Debug, Clone, Default)]
pub struct Body(pub Map<String, Value>);

impl Body {
    /// A string field.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    /// A required string field, or a 400 naming it.
    pub fn required(&self, key: &str) -> Result<&str, ApiError> {
        match self.0.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            Some(Value::String(_)) => Err(ApiError::field(key, "This field may not be blank.")),
            Some(_) => Err(ApiError::field(key, "Not a valid string.")),
            None => Err(ApiError::field(key, "This field is required.")),
        }
    }

    /// A boolean field (JSON boolean, or form `true`/`false`).
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "True" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" || s == "False" => Ok(Some(false)),
            Some(_) => Err(ApiError::field(key, "Must be a valid boolean.")),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for Body
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let max = AppState::from_ref(state).max_json;
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = read_limited(req, max).await?;
        if bytes.is_empty() {
            return Ok(Self::default());
        }
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let mut map = Map::new();
            for (k, v) in form_urlencoded::parse(&bytes) {
                let v = Value::String(v.into_owned());
                match map.get_mut(k.as_ref()) {
                    Some(Value::Array(list)) => list.push(v),
                    Some(existing) => {
                        let first = existing.take();
                        *existing = Value::Array(vec![first, v]);
                    }
                    None => {
                        map.insert(k.into_owned(), v);
                    }
                }
            }
            crate::limits::check_nul(&map)?;
            return Ok(Self(map));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => {
                crate::limits::check_nul(&map)?;
                Ok(Self(map))
            }
            Ok(_) => Err(ApiError::bad_request("Expected a JSON object.")),
            Err(error) => Err(ApiError::bad_request(format!("JSON parse error - {error}"))),
        }
    }
}

/// A body that must be a JSON value of any shape (lists of usernames, ...).
#[derive(Debug, Clone)]
pub struct AnyJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for AnyJson
where
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let max = AppState::from_ref(state).max_json;
        let bytes = read_limited(req, max).await?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|error| ApiError::bad_request(format!("JSON parse error - {error}")))?;
        if crate::limits::has_nul(&value) {
            return Err(ApiError::bad_request(crate::error::NUL_MESSAGE));
        }
        Ok(Self(value))
    }
}
