//! The media volume's layout (upstream's `MEDIA_ROOT`, rodan-reference §2.5): where the API
//! server and the worker put and find every file, as paths relative to the media root. The one
//! place that spells it; both binaries build paths only through these functions.
//!
//! ```text
//! projects/<project hex>/                                   a project's files (removed with it)
//!     resources/<resource hex>/original_file                a resource's bytes
//!     runjobs/<run job hex>/interface/                      an interactive bundle
//! results_packages/<package hex>.zip                        a results package
//! .uploads/                                                 uploads being received (API)
//! .scratch/<worker>/                                        a worker's scratch space
//! ```
//!
//! The staging folders live on the same volume so that moving a finished file into place is a
//! rename.

use uuid::Uuid;

/// The folder of every project's files.
pub const PROJECTS_DIR: &str = "projects";

/// The folder of the results packages.
pub const PACKAGES_DIR: &str = "results_packages";

/// The folder where the API server writes uploads as they arrive.
pub const STAGING_DIR: &str = ".uploads";

/// The folder of the workers' scratch spaces.
pub const SCRATCH_DIR: &str = ".scratch";

/// The folder of `project`'s files: `projects/<project hex>`.
pub fn project_dir(project: Uuid) -> String {
    format!("{PROJECTS_DIR}/{}", project.simple())
}

/// The folder of `resource`'s files in `project`: `projects/<hex>/resources/<hex>`.
pub fn resource_dir(project: Uuid, resource: Uuid) -> String {
    format!("{}/resources/{}", project_dir(project), resource.simple())
}

/// The file of `resource` in `project` (upstream's layout, so volumes move between the two):
/// `projects/<hex>/resources/<hex>/original_file`.
pub fn resource_file(project: Uuid, resource: Uuid) -> String {
    format!("{}/original_file", resource_dir(project, resource))
}

/// The folder of run job `run_job`'s interactive bundle, beside the project's resources
/// (deleting the project removes it): `projects/<hex>/runjobs/<hex>/interface`.
pub fn interface_dir(project: Uuid, run_job: Uuid) -> String {
    format!(
        "{}/runjobs/{}/interface",
        project_dir(project),
        run_job.simple()
    )
}

/// The file of results package `package`: `results_packages/<hex>.zip`.
pub fn package_file(package: Uuid) -> String {
    format!("{PACKAGES_DIR}/{}.zip", package.simple())
}

/// The results package whose file `path` is, when it is one ([`package_file`] read back).
pub fn package_of(path: &str) -> Option<Uuid> {
    let hex = path
        .strip_prefix(PACKAGES_DIR)?
        .strip_prefix('/')?
        .strip_suffix(".zip")?;
    Uuid::try_parse(hex).ok()
}

/// The scratch folder of the worker named `owner`: `.scratch/<owner>`.
pub fn scratch_dir(owner: &str) -> String {
    format!("{SCRATCH_DIR}/{owner}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Uuid = Uuid::from_u128(0xab);
    const R: Uuid = Uuid::from_u128(0xcd);

    #[test]
    fn the_layout_is_upstreams() {
        assert_eq!(
            resource_file(P, R),
            "projects/000000000000000000000000000000ab/resources/000000000000000000000000000000cd/original_file"
        );
        assert_eq!(
            interface_dir(P, R),
            "projects/000000000000000000000000000000ab/runjobs/000000000000000000000000000000cd/interface"
        );
        assert_eq!(
            package_file(R),
            "results_packages/000000000000000000000000000000cd.zip"
        );
        assert!(resource_file(P, R).starts_with(&resource_dir(P, R)));
        assert!(resource_dir(P, R).starts_with(&project_dir(P)));
        assert_eq!(scratch_dir("w1"), ".scratch/w1");
    }

    #[test]
    fn a_package_file_reads_back_and_nothing_else_does() {
        assert_eq!(package_of(&package_file(R)), Some(R));
        assert_eq!(package_of("results_packages/x.zip"), None);
        assert_eq!(
            package_of("results_packages/000000000000000000000000000000cd"),
            None
        );
        assert_eq!(package_of(&resource_file(P, R)), None);
    }
}
