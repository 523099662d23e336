//! CORS for a web client served from another origin than the API (upstream's deployments used
//! django-cors-headers): tower-http's `CorsLayer` for the origins of `CORS_ALLOWED_ORIGINS`,
//! with credentials (the client sends `Authorization: Token ...` or the session cookie), the
//! methods and headers the client uses, and preflights answered. No origins, no CORS headers.

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowCredentials, AllowOrigin, CorsLayer};

/// Parses the allowed origins: each `scheme://host[:port]` (`http` or `https`, no path),
/// compared as browsers send them (lower case, no trailing slash); empty entries are skipped.
pub fn parse_origins(values: &[String]) -> anyhow::Result<Vec<HeaderValue>> {
    values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .map(|v| {
            let origin = v.trim_end_matches('/').to_ascii_lowercase();
            let (scheme, host) = origin
                .split_once("://")
                .ok_or_else(|| anyhow::anyhow!("CORS origin {v:?} is not scheme://host[:port]"))?;
            if !matches!(scheme, "http" | "https")
                || host.is_empty()
                || host.contains(['/', '?', '#', '@', ' '])
            {
                anyhow::bail!("CORS origin {v:?} is not http(s)://host[:port]");
            }
            HeaderValue::from_str(&origin)
                .map_err(|_| anyhow::anyhow!("CORS origin {v:?} is not a valid header value"))
        })
        .collect()
}

/// The layer for `origins`, or none when there are none.
pub fn layer(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allowed = origins.to_vec();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            // Only to the allowed origins: another origin gets no CORS header at all.
            .allow_credentials(AllowCredentials::predicate(move |origin, _| {
                allowed.contains(origin)
            }))
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                header::ACCEPT,
                header::ACCEPT_LANGUAGE,
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-csrftoken"),
                HeaderName::from_static("x-requested-with"),
            ])
            .expose_headers([header::CONTENT_DISPOSITION, header::RETRY_AFTER])
            // django-cors-headers' default preflight cache.
            .max_age(std::time::Duration::from_secs(86_400)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port() {
        let parsed = parse_origins(&[
            "https://Client.Example/".into(),
            String::new(),
            " http://localhost:9002".into(),
        ])
        .expect("valid origins");
        assert_eq!(parsed, ["https://client.example", "http://localhost:9002"]);
        for bad in ["client.example", "ftp://h", "https://h/path", "https://"] {
            assert!(parse_origins(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(layer(&[]).is_none());
    }
}
