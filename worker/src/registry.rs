//! The job registry, built once at start: every job this worker runs on its queues, library jobs
//! of rodan-jobs and core jobs alike, by name, with its descriptor (registered in the database)
//! and its time limit, so no message rebuilds a descriptor.

use crate::core::CoreJob;
use rodan_core::catalogue::JobDescriptor;
use rodan_jobs::Job;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// What runs a registered job.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Runner {
    /// A job of rodan-jobs.
    Library(&'static dyn Job),
    /// A core job, which changes resources in the database.
    Core(CoreJob),
}

/// A job this worker runs.
#[derive(Debug)]
pub(crate) struct Registered {
    /// What runs it.
    pub(crate) runner: Runner,
    /// Its catalogue entry.
    pub(crate) descriptor: JobDescriptor,
    /// How long it may run: its settings schema's `job_timeout`, else the worker's limit.
    pub(crate) timeout: Duration,
}

/// The jobs this worker runs, by name.
#[derive(Debug)]
pub(crate) struct Registry {
    jobs: HashMap<String, Arc<Registered>>,
    /// Registration order: library jobs, then core jobs.
    order: Vec<Arc<Registered>>,
    libraries: usize,
}

impl Registry {
    /// The jobs of `catalogue` and the core jobs whose queue is one of `queues`; `job_timeout` is
    /// the limit of a job whose schema sets none. A library job shadows a core job of its name.
    pub(crate) fn new(
        catalogue: Vec<&'static dyn Job>,
        queues: &[String],
        job_timeout: Duration,
    ) -> Self {
        let register = |runner: Runner, descriptor: JobDescriptor| {
            let timeout = descriptor
                .settings
                .get("job_timeout")
                .and_then(serde_json::Value::as_f64)
                .map_or(job_timeout, crate::config::secs);
            Arc::new(Registered {
                runner,
                descriptor,
                timeout,
            })
        };
        let mut jobs = HashMap::new();
        let mut order = Vec::new();
        for job in catalogue {
            let descriptor = job.descriptor();
            if queues.contains(&descriptor.queue) {
                let registered = register(Runner::Library(job), descriptor);
                jobs.insert(job.name().to_owned(), registered.clone());
                order.push(registered);
            }
        }
        let libraries = jobs.len();
        for job in CoreJob::ALL {
            let descriptor = job.descriptor();
            if queues.contains(&descriptor.queue) {
                let registered = register(Runner::Core(job), descriptor);
                jobs.entry(registered.descriptor.name.clone())
                    .or_insert_with(|| registered.clone());
                order.push(registered);
            }
        }
        Self {
            jobs,
            order,
            libraries,
        }
    }

    /// The job called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Arc<Registered>> {
        self.jobs.get(name)
    }

    /// Every job's descriptor, to register in the database.
    pub(crate) fn descriptors(&self) -> Vec<JobDescriptor> {
        self.order
            .iter()
            .map(|job| job.descriptor.clone())
            .collect()
    }

    /// How many library jobs it holds.
    pub(crate) fn libraries(&self) -> usize {
        self.libraries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rodan_jobs::{Inputs, JobError, Outputs};
    use serde_json::{Value, json};

    /// A library job named `0`, with a time limit of half a second in its schema.
    #[derive(Debug)]
    struct Named(&'static str);

    impl Job for Named {
        fn name(&self) -> &'static str {
            self.0
        }

        fn descriptor(&self) -> JobDescriptor {
            let mut descriptor = CoreJob::Labeler.descriptor();
            descriptor.name = self.0.to_owned();
            descriptor.settings = json!({"type": "object", "job_timeout": 0.5});
            descriptor
        }

        fn run(&self, _: &Inputs, _: &Value, _: &Outputs) -> Result<(), JobError> {
            Ok(())
        }
    }

    static QUICK: Named = Named("Quick");
    static LABELER: Named = Named("Labeler");

    #[test]
    fn the_registry_holds_each_job_of_its_queues_once_with_its_time_limit() {
        let queue = CoreJob::Labeler.descriptor().queue;
        let limit = Duration::from_secs(60);
        let registry = Registry::new(vec![&QUICK], std::slice::from_ref(&queue), limit);
        let quick = registry.get("Quick").expect("the library job");
        assert!(matches!(quick.runner, Runner::Library(_)));
        assert_eq!(quick.timeout, Duration::from_millis(500));
        let distributor = registry
            .get("Resource Distributor")
            .expect("a core job on its queue");
        assert!(matches!(
            distributor.runner,
            Runner::Core(CoreJob::ResourceDistributor)
        ));
        assert_eq!(
            distributor.descriptor,
            CoreJob::ResourceDistributor.descriptor()
        );
        assert_eq!(distributor.timeout, limit);
        assert_eq!(registry.libraries(), 1);
        let names: Vec<String> = registry.descriptors().into_iter().map(|d| d.name).collect();
        assert_eq!(names, ["Quick", "Resource Distributor", "Labeler"]);
        // A library job of a core job's name runs in its place.
        let shadowed = Registry::new(vec![&LABELER], std::slice::from_ref(&queue), limit);
        let labeler = shadowed.get("Labeler").expect("the Labeler");
        assert!(matches!(labeler.runner, Runner::Library(_)));
        let other = Registry::new(vec![&QUICK], &["elsewhere".to_owned()], limit);
        assert!(other.get("Quick").is_none() && other.descriptors().is_empty());
    }
}
