//! The interactive-job contract between the worker, which runs a job until it waits for a
//! person, and the API server, which serves that person the job's page and takes their input,
//! without linking the job: where the job's interface bundle lies in the media volume, what it
//! holds, and which settings a job may keep between its runs.
//!
//! A waiting run job's bundle is the folder [`interface_dir`] below the media root:
//! - [`PAGE`]: the page served at `/api/interactive/<run job>/<token>/`;
//! - [`STATIC`]`/`: the files served at `/api/interactive/<run job>/<token>/<path>` (the job's
//!   CSS and JS, and the files it wrote for this run job: its JSON context, images);
//! - [`INPUT_SCHEMA`]: the JSON Schema the user's input must meet; not served.

use serde_json::{Map, Value};

/// Upstream's default of `RODAN_RUNJOB_WORKING_USER_EXPIRY_SECONDS`: how long an acquired run
/// job stays locked to its working user.
pub const WORKING_USER_EXPIRY_SECONDS: u64 = 999_999;

/// The page of a bundle, relative to [`interface_dir`].
pub const PAGE: &str = "index.html";

/// The folder of a bundle's served files, relative to [`interface_dir`].
pub const STATIC: &str = "static";

/// The JSON Schema of the user's input, relative to [`interface_dir`].
pub const INPUT_SCHEMA: &str = "input-schema.json";

/// The folder of a run job's interface bundle, part of the media layout.
pub use crate::media::interface_dir;

/// Whether `key` names a runtime setting (upstream's `@` prefix): the only settings a job's
/// waiting answer or a user's input may change.
pub fn is_runtime_key(key: &str) -> bool {
    key.starts_with('@')
}

/// `update` less the keys that are not runtime settings, as upstream's `WAITING_FOR_INPUT`
/// keeps them.
pub fn runtime_only(update: Map<String, Value>) -> Map<String, Value> {
    update
        .into_iter()
        .filter(|(k, _)| is_runtime_key(k))
        .collect()
}

/// Whether `path`, a path asked for below a bundle's [`STATIC`] folder, stays inside it: relative,
/// with no `..`, `.` or empty component and no backslash (upstream refuses absolute paths and
/// `..`).
pub fn is_safe_static_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use uuid::Uuid;

    #[test]
    fn the_bundle_lies_below_its_project() {
        let (p, rj) = (Uuid::from_u128(0xab), Uuid::from_u128(0xcd));
        assert_eq!(
            interface_dir(p, rj),
            "projects/000000000000000000000000000000ab/runjobs/000000000000000000000000000000cd/interface"
        );
    }

    #[test]
    fn only_at_keys_are_kept() {
        let update = json!({"@state": 1, "glyphs": [], "@x": null})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let kept = runtime_only(update);
        assert_eq!(Value::Object(kept), json!({"@state": 1, "@x": null}));
    }

    #[test]
    fn static_paths_cannot_leave_the_folder() {
        for ok in ["classifier.js", "css/page.css", "context.json"] {
            assert!(is_safe_static_path(ok), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "..",
            "../input-schema.json",
            "a/../../b",
            "a//b",
            "./a",
            "a\\..\\b",
            "a/",
        ] {
            assert!(!is_safe_static_path(bad), "{bad}");
        }
    }
}
