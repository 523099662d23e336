//! Hyperlinks: the absolute base URL of a request (honouring `X-Forwarded-Proto`/`Host` and
//! upstream nginx's `X-Scheme`), and resolving the URLs clients send back into ids.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::convert::Infallible;
use uuid::Uuid;

/// `scheme://host/api/` of the current request; every hyperlink starts with it.
#[derive(Debug, Clone)]
pub struct Base(pub String);

impl Base {
    /// The absolute URL of `path` below `/api/` (`"project/<uuid>/"`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// The detail URL of an object.
    pub fn detail(&self, route: &str, id: impl std::fmt::Display) -> String {
        format!("{}{route}/{id}/", self.0)
    }
}

/// The SQL of an object's hyperlink, `b.base || '<route>/' || <id column> || '/'`, for the
/// models' JSON (`b.base` is the request's [`Base`], bound by every read).
macro_rules! sql_link {
    ($route:literal, $id:literal) => {
        concat!("b.base || '", $route, "/' || ", $id, " || '/'")
    };
}
pub(crate) use sql_link;

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

impl<S: Send + Sync> FromRequestParts<S> for Base {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let scheme = header(parts, "x-forwarded-proto")
            .or_else(|| header(parts, "x-scheme"))
            .filter(|s| *s == "https" || *s == "http")
            .unwrap_or("http");
        let host = header(parts, "x-forwarded-host")
            .or_else(|| header(parts, "host"))
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("localhost");
        Ok(Self(format!("{scheme}://{host}/api/")))
    }
}

/// The uuid of an object given as its hyperlink (`https://host/api/project/<uuid>/`, any host)
/// or as a bare uuid. `route` is the detail route (`"project"`).
pub fn parse_ref(value: &str, route: &str) -> Option<Uuid> {
    let value = value.trim();
    if let Ok(id) = Uuid::parse_str(value) {
        return Some(id);
    }
    let path = value
        .split_once("://")
        .map_or(value, |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let rest = path
        .strip_prefix("/api/")?
        .strip_prefix(route)?
        .strip_prefix('/')?;
    let id = rest.trim_end_matches('/');
    Uuid::parse_str(id).ok()
}

/// Like [`parse_ref`], with upstream's field error when it does not resolve.
pub fn require_ref(value: &str, route: &str, field: &str) -> Result<Uuid, ApiError> {
    parse_ref(value, route)
        .ok_or_else(|| ApiError::field(field, "Invalid hyperlink - No URL match."))
}

/// The integer id of a user given as `/api/user/<id>/` or a bare number.
pub fn parse_user_ref(value: &str) -> Option<i64> {
    let value = value.trim();
    if let Ok(id) = value.parse() {
        return Some(id);
    }
    let path = value
        .split_once("://")
        .map_or(value, |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
    path.strip_prefix("/api/user/")?
        .trim_end_matches('/')
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_models_detail_hyperlinks_are_spelled_by_sql_link_only() {
        assert_eq!(
            sql_link!("project", "t.uuid"),
            "b.base || 'project/' || t.uuid || '/'"
        );
        // By hand only those that are not `<route>/<id column>/`: a project's admins and
        // workers URLs, a run job's project (a subquery) and its acquire URL.
        let by_hand = include_str!("models.rs").matches("b.base || '").count();
        assert_eq!(by_hand, 4);
    }

    #[test]
    fn hyperlinks_resolve_to_their_uuid_on_any_host_and_only_for_their_route() {
        let id = Uuid::new_v4();
        assert_eq!(
            parse_ref(
                &format!("https://rodan.example/api/project/{id}/"),
                "project"
            ),
            Some(id)
        );
        assert_eq!(
            parse_ref(&format!("/api/project/{id}/"), "project"),
            Some(id)
        );
        assert_eq!(parse_ref(&id.to_string(), "project"), Some(id));
        assert_eq!(
            parse_ref(&format!("http://h/api/workflow/{id}/"), "project"),
            None
        );
        assert_eq!(parse_ref("http://h/api/project/nope/", "project"), None);
        assert_eq!(parse_user_ref("http://h/api/user/12/"), Some(12));
    }
}
