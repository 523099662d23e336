//! Upstream's core jobs that change resources in the database, so the worker runs them itself:
//! 'Resource Distributor' (copies its input to its output, renames the input) and 'Labeler'
//! (labels its inputs). rodan-jobs holds their catalogue entries.

pub use crate::store::Effect;
use crate::store::InputRow;
use rodan_core::catalogue::JobDescriptor;
use rodan_jobs::{JobError, Outputs, Settings};
use serde_json::Value;
use std::path::Path;
use uuid::Uuid;

/// A core job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreJob {
    /// 'Resource Distributor'.
    ResourceDistributor,
    /// 'Labeler'.
    Labeler,
}

impl CoreJob {
    /// Every core job.
    pub const ALL: [Self; 2] = [Self::ResourceDistributor, Self::Labeler];

    /// The core job called `name`.
    pub fn find(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|j| j.descriptor().name == name)
    }

    /// Its catalogue entry.
    pub fn descriptor(self) -> JobDescriptor {
        match self {
            Self::ResourceDistributor => rodan_jobs::wrappers::utility::resource_distributor(),
            Self::Labeler => rodan_jobs::wrappers::utility::labeler(),
        }
    }

    /// Runs the job, whose catalogue entry is `descriptor`: `inputs` are the run job's input rows
    /// (files below `media_root`), `run` its workflow run. Returns the database changes to commit
    /// with its outputs.
    pub fn run(
        self,
        descriptor: &JobDescriptor,
        media_root: &Path,
        inputs: &[InputRow],
        settings: &Value,
        outputs: &Outputs,
        run: Uuid,
    ) -> Result<Vec<Effect>, JobError> {
        let settings = Settings::new(&descriptor.settings, settings)?;
        match self {
            Self::ResourceDistributor => {
                let input = inputs
                    .iter()
                    .find(|i| i.port == "Resource input" && i.resource.is_some())
                    .ok_or_else(|| {
                        JobError::bad_input(
                            "no resource on port 'Resource input'",
                            "the job needs a resource on its port 'Resource input' and got none",
                        )
                    })?;
                let (file, mimetype) = input.resource.clone().unwrap_or_default();
                let index = settings.enum_index("Resource type")?;
                let wanted = descriptor.settings["properties"]["Resource type"]["enum"][index]
                    .as_str()
                    .unwrap_or_default();
                if mimetype != wanted {
                    return Err(JobError::bad_input(
                        "Resource type not valid",
                        format!(
                            "Mismatched input of type {mimetype}. The input type in job setting is {wanted}"
                        ),
                    ));
                }
                let name = format!(
                    "{}{}{}",
                    settings.string("User custom prefix")?,
                    input.name,
                    settings.string("User custom suffix")?
                );
                let from = media_root.join(file);
                let to = &outputs.first("Resource output")?.path;
                std::fs::copy(&from, to).map_err(|e| JobError::read(&from, e))?;
                Ok(input
                    .resource_uuid
                    .map(|resource| Effect::Rename { resource, name })
                    .into_iter()
                    .collect())
            }
            Self::Labeler => {
                let label = match settings.string("Label")? {
                    "" => run.hyphenated().to_string(),
                    text => text.to_owned(),
                };
                let resources = inputs
                    .iter()
                    .filter(|i| i.port == "Resource")
                    .filter_map(|i| i.resource_uuid)
                    .collect();
                Ok(vec![Effect::Label { resources, label }])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(port: &str, file: &str, mimetype: &str, name: &str) -> InputRow {
        InputRow {
            port: port.into(),
            resource: Some((file.into(), mimetype.into())),
            list: None,
            resource_uuid: Some(Uuid::from_u128(7)),
            name: name.into(),
        }
    }

    fn type_index(mimetype: &str) -> usize {
        let d = CoreJob::ResourceDistributor.descriptor();
        d.settings["properties"]["Resource type"]["enum"]
            .as_array()
            .and_then(|e| e.iter().position(|t| t == mimetype))
            .expect("the type is in the enum")
    }

    #[test]
    fn the_distributor_copies_its_input_and_renames_it_with_prefix_and_suffix() {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("in"), "bytes").expect("input");
        let out = dir.path().join("out");
        let outputs = Outputs::new().with("Resource output", &out, "text/plain");
        let settings = json!({"Resource type": type_index("text/plain"), "User custom prefix": "a ", "User custom suffix": " z"});
        let effects = CoreJob::ResourceDistributor
            .run(
                &CoreJob::ResourceDistributor.descriptor(),
                dir.path(),
                &[input("Resource input", "in", "text/plain", "page")],
                &settings,
                &outputs,
                Uuid::nil(),
            )
            .expect("the distributor runs");
        assert_eq!(std::fs::read_to_string(&out).expect("output"), "bytes");
        assert_eq!(
            effects,
            [Effect::Rename {
                resource: Uuid::from_u128(7),
                name: "a page z".into()
            }]
        );
    }

    #[test]
    fn the_distributor_refuses_an_input_of_another_type_as_upstream() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let outputs = Outputs::new().with("Resource output", dir.path().join("o"), "text/plain");
        let settings = json!({"Resource type": type_index("image/rgb+png")});
        let err = CoreJob::ResourceDistributor
            .run(
                &CoreJob::ResourceDistributor.descriptor(),
                dir.path(),
                &[input("Resource input", "in", "text/plain", "p")],
                &settings,
                &outputs,
                Uuid::nil(),
            )
            .expect_err("wrong type");
        assert!(err.is_permanent());
        assert_eq!(err.error_summary(), "Resource type not valid");
        assert_eq!(
            err.error_details(),
            "Mismatched input of type text/plain. The input type in job setting is image/rgb+png"
        );
    }

    #[test]
    fn the_labeler_uses_the_run_uuid_when_no_label_is_set() {
        let run = Uuid::from_u128(0x1234);
        let inputs = [input("Resource", "f", "text/plain", "n")];
        let effects = CoreJob::Labeler
            .run(
                &CoreJob::Labeler.descriptor(),
                Path::new("/"),
                &inputs,
                &json!({}),
                &Outputs::new(),
                run,
            )
            .expect("the labeler runs");
        assert_eq!(
            effects,
            [Effect::Label {
                resources: vec![Uuid::from_u128(7)],
                label: run.hyphenated().to_string()
            }]
        );
        let effects = CoreJob::Labeler
            .run(
                &CoreJob::Labeler.descriptor(),
                Path::new("/"),
                &inputs,
                &json!({"Label": "mine"}),
                &Outputs::new(),
                run,
            )
            .expect("the labeler runs");
        assert_eq!(
            effects,
            [Effect::Label {
                resources: vec![Uuid::from_u128(7)],
                label: "mine".into()
            }]
        );
    }
}
