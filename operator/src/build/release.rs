//! Releases: the Rodan version and the images of the API server and workers that run it. A
//! release is rolled out only after its database migration Job succeeded.

use serde::{Deserialize, Serialize};

use super::{dns_safe, hash};
use crate::crd::{DEFAULT_VERSION, RodanSpec};

/// Default registry path of the images built from this repository.
pub const IMAGE_REPOSITORY: &str = "ghcr.io/ddmal";

/// A Rodan version with the images that run it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    /// The Rodan version.
    pub version: String,
    /// API server image (also runs the migration).
    pub api: String,
    /// Worker image of CPU queues.
    pub worker: String,
    /// Worker image of GPU queues.
    pub gpu_worker: String,
}

impl Release {
    /// The release a spec asks for.
    pub fn of(spec: &RodanSpec) -> Self {
        let version = spec
            .version
            .clone()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_VERSION.to_owned());
        let image = |given: &Option<String>, repo: &str| {
            given
                .clone()
                .unwrap_or_else(|| format!("{IMAGE_REPOSITORY}/{repo}:{version}"))
        };
        Self {
            api: image(&spec.images.api, "rodan-api-server"),
            worker: image(&spec.images.worker, "rodan-worker"),
            gpu_worker: image(&spec.images.gpu_worker, "rodan-worker-gpu"),
            version,
        }
    }
}

/// Where a migration Job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MigrationState {
    /// No Job yet, or it is running.
    Pending,
    /// The Job completed.
    Succeeded,
    /// The Job failed after its retries.
    Failed,
}

/// The name of the migration Job of a release: the instance, the version and a hash of the
/// images, so each release migrates exactly once. At most 63 characters (a label value).
pub fn job_name(instance: &str, release: &Release) -> String {
    let version: String = dns_safe(&release.version).chars().take(20).collect();
    let suffix = format!(
        "-migrate-{}-{}",
        version.trim_end_matches('-'),
        &hash(release)[..8]
    );
    let room = 63usize.saturating_sub(suffix.len());
    let prefix: String = instance.chars().take(room).collect();
    format!("{}{suffix}", prefix.trim_end_matches('-'))
}
