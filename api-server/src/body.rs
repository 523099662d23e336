//! Request bodies as DRF parses them: JSON, or form fields (`application/x-www-form-urlencoded`).

use crate::error::ApiError;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

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

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::bad_request("Could not read the request body."))?;
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
            return Ok(Self(map));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(ApiError::bad_request("Expected a JSON object.")),
            Err(error) => Err(ApiError::bad_request(format!("JSON parse error - {error}"))),
        }
    }
}

/// A body that must be a JSON value of any shape (lists of usernames, ...).
#[derive(Debug, Clone)]
pub struct AnyJson(pub Value);

impl<S: Send + Sync> FromRequest<S> for AnyJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::bad_request("Could not read the request body."))?;
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|error| ApiError::bad_request(format!("JSON parse error - {error}")))
    }
}
