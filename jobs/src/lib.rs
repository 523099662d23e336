//! Rodan's jobs in Rust: the job framework ([`Job`], [`Inputs`], [`Outputs`], [`JobError`]), the
//! Gamera 4.1.0 and Pillow algorithms re-implemented to give upstream's pixels, and the jobs with
//! upstream's names, ports and settings.

pub mod adaptive;
pub mod columns;
pub mod descriptor;
pub mod gamera;
pub mod job;
pub mod limits;
pub mod mei;
pub mod musicstaves;
pub mod opencv;
pub mod pil;
pub mod pitch_finding;
pub mod pyjson;
pub mod settings;
pub mod slicing;
pub mod wrappers;

pub use job::{Inputs, Interface, Job, JobError, Outcome, Outputs, Ports, Resource, Waiting};
pub use settings::Settings;

/// Every job this crate runs.
pub fn catalogue() -> Vec<&'static dyn Job> {
    wrappers::jobs()
}

/// The job called `name` (upstream's exact name), if this crate runs it.
pub fn find(name: &str) -> Option<&'static dyn Job> {
    catalogue().into_iter().find(|j| j.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_job_is_found_by_its_descriptor_name_and_names_are_unique() {
        let mut names = HashSet::new();
        for job in catalogue() {
            let d = job.descriptor();
            assert_eq!(d.name, job.name());
            assert!(names.insert(d.name.clone()), "duplicate job {}", d.name);
            assert_eq!(find(&d.name).map(|j| j.name()), Some(job.name()));
            assert!(!d.output_port_types.is_empty() || d.name == "Labeler");
        }
        assert!(find("No Such Job").is_none());
    }
}
