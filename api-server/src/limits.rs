//! Bounds on what a client may send, checked at the edge so that bad input is a 4xx naming the
//! field instead of a 500 from PostgreSQL: upstream's `max_length`s, NUL characters (PostgreSQL's
//! `text` and `jsonb` refuse them; DRF's `ProhibitNullCharactersValidator` refuses them too),
//! the size of JSON documents stored in a row (job settings, appearance), and the size of request
//! bodies (413 before reading past the limit).

use crate::error::{ApiError, ApiResult, NUL_MESSAGE};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rodan_core::workflow as wf;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Largest JSON document stored in one field (a workflow job's `job_settings` or `appearance`,
/// a group's `appearance`), serialised. Upstream's job settings are a few hundred bytes; this
/// leaves room for any real one while keeping a list page of workflow jobs small.
pub const DOCUMENT_MAX_BYTES: usize = 256 * 1024;

/// Upstream's `max_length` of the names clients write (Django models): projects 255, workflows
/// 100, workflow jobs 255, workflow job groups 100, workflow runs 100, resources 200, resource
/// lists 200, resource labels 36, input and output port labels 255.
pub mod max_len {
    /// `Project.name`.
    pub const PROJECT_NAME: usize = 255;
    /// `Workflow.name` (also a CHECK in the schema).
    pub const WORKFLOW_NAME: usize = 100;
    /// `WorkflowJob.name`.
    pub const WORKFLOW_JOB_NAME: usize = 255;
    /// `WorkflowJobGroup.name`.
    pub const GROUP_NAME: usize = 100;
    /// `WorkflowRun.name`.
    pub const RUN_NAME: usize = 100;
    /// `Resource.name`.
    pub const RESOURCE_NAME: usize = 200;
    /// `ResourceList.name`.
    pub const RESOURCE_LIST_NAME: usize = 200;
    /// `InputPort.label`, `OutputPort.label`.
    pub const PORT_LABEL: usize = 255;
    /// Django's `User.username`, `User.first_name`, `User.last_name`.
    pub const USER_NAME: usize = 150;
    /// Django's `User.email` (an `EmailField`).
    pub const USER_EMAIL: usize = 254;
    /// The user fields a client may write and their lengths.
    pub const USER_FIELDS: [(&str, usize); 4] = [
        ("username", USER_NAME),
        ("first_name", USER_NAME),
        ("last_name", USER_NAME),
        ("email", USER_EMAIL),
    ];
}

/// DRF's `max_length` message.
pub fn max_length_message(max: usize) -> String {
    format!("Ensure this field has no more than {max} characters.")
}

pub use crate::error::human_size;

/// The most bytes a request body may have (uploads included): [`guard`]'s state.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimit(pub usize);

/// Refuses string fields of `body` longer than their limit, every offending field at once.
pub fn check_lengths(body: &Map<String, Value>, limits: &[(&str, usize)]) -> ApiResult<()> {
    let mut errors = BTreeMap::new();
    for &(key, max) in limits {
        if let Some(Value::String(s)) = body.get(key)
            && s.chars().count() > max
        {
            errors.insert(key.to_owned(), vec![max_length_message(max)]);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Fields(errors))
    }
}

/// The message for a JSON document over [`DOCUMENT_MAX_BYTES`], when `value` is one.
pub fn document_error(value: &Value) -> Option<String> {
    let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
    (size > DOCUMENT_MAX_BYTES).then(|| {
        format!(
            "Ensure this value has no more than {} as JSON (it has {size} bytes).",
            human_size(DOCUMENT_MAX_BYTES)
        )
    })
}

/// Refuses the JSON document fields of `body` (`job_settings`, `appearance`) over
/// [`DOCUMENT_MAX_BYTES`].
pub fn check_documents(body: &Map<String, Value>, keys: &[&str]) -> ApiResult<()> {
    let errors: BTreeMap<String, Vec<String>> = keys
        .iter()
        .filter_map(|key| {
            let message = document_error(body.get(*key)?)?;
            Some(((*key).to_owned(), vec![message]))
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Fields(errors))
    }
}

/// The limits above for an imported workflow (`serialized`), reported as imports report their
/// errors: `{"serialized": {"workflow_jobs[0].name": "..."}}`.
pub fn check_import(graph: &wf::Workflow) -> ApiResult<()> {
    let mut errors = Map::new();
    if graph.name.chars().count() > max_len::WORKFLOW_NAME {
        errors.insert(
            "name".into(),
            Value::String(max_length_message(max_len::WORKFLOW_NAME)),
        );
    }
    for (i, job) in graph.jobs.iter().enumerate() {
        if job.name.chars().count() > max_len::WORKFLOW_JOB_NAME {
            errors.insert(
                format!("workflow_jobs[{i}].name"),
                Value::String(max_length_message(max_len::WORKFLOW_JOB_NAME)),
            );
        }
        if let Some(message) = document_error(&job.settings) {
            errors.insert(
                format!("workflow_jobs[{i}].job_settings"),
                Value::String(message),
            );
        }
        if let Some(message) = job.appearance.as_ref().and_then(document_error) {
            errors.insert(
                format!("workflow_jobs[{i}].appearance"),
                Value::String(message),
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid(
            serde_json::json!({ "serialized": Value::Object(errors) }),
        ))
    }
}

/// Whether a JSON value holds a NUL in any string or object key.
pub fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// Refuses a body holding a NUL anywhere, naming the top-level field it is under.
pub fn check_nul(map: &Map<String, Value>) -> ApiResult<()> {
    let errors: BTreeMap<String, Vec<String>> = map
        .iter()
        .filter(|(k, v)| k.contains('\0') || has_nul(v))
        .map(|(k, _)| (k.replace('\0', ""), vec![NUL_MESSAGE.to_owned()]))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Fields(errors))
    }
}

/// The request's `Content-Length`, when it has a valid one.
pub fn content_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Middleware for every request, before any handler reads anything:
/// - a `Content-Length` over the largest body any route takes (an upload's) is a 413 at once,
///   before a byte of the body is read (bodies without one are cut at the same limit while
///   streaming, by the body limit layer);
/// - a NUL in the query string is a 400 naming the parameter (django-filter's `CharField`
///   refuses NULs with DRF's message);
/// - a NUL in the path (`%00`) names no object: 404.
pub async fn guard(
    State(UploadLimit(max_upload)): State<UploadLimit>,
    req: Request,
    next: Next,
) -> Response {
    if content_length(req.headers()).is_some_and(|len| len > max_upload as u64) {
        return ApiError::too_large(max_upload).into_response();
    }
    if let Some(query) = req.uri().query() {
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if key.contains('\0') || value.contains('\0') {
                return ApiError::field(&key.replace('\0', ""), NUL_MESSAGE).into_response();
            }
        }
    }
    if req.uri().path().to_ascii_lowercase().contains("%00") {
        return ApiError::NotFound.into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_is_found_in_nested_values_and_keys() {
        assert!(has_nul(&json!({"a": [1, {"b": "x\u{0}"}]})));
        assert!(has_nul(&json!({"a\u{0}": 1})));
        assert!(!has_nul(&json!({"a": ["x", 1, null, {"b": "y"}]})));
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(700 * 1024 * 1024), "700 MiB");
        assert_eq!(human_size(256 * 1024), "256 KiB");
        assert_eq!(human_size(1000), "1000 bytes");
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let ok = json!({"name": "é".repeat(100)})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(check_lengths(&ok, &[("name", 100)]).is_ok());
        let long = json!({"name": "é".repeat(101)})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(check_lengths(&long, &[("name", 100)]).is_err());
    }
}
