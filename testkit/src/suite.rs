//! One harness for the test binaries that run on the real services (`harness = false`, run by
//! libtest-mimic): it starts [`Services`] once, runs each case on a fixture of its own built on
//! them (its own database, queue, media root...), and takes libtest's arguments, so
//! `cargo test -p <crate> --test <suite> -- <filter>` works as for any test.
//!
//! Where PostgreSQL, RabbitMQ or Redis is not installed, a plain `cargo test` still runs the
//! suite's pure tests: the cases that need the services are reported as ignored, and the suite
//! says which services it missed. `RODAN_REQUIRE_SERVICES=1` (what `scripts/test.sh` and CI
//! set) makes a missing service a failure instead.

use crate::Services;
use libtest_mimic::{Arguments, Trial};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// A case's future, as [`cases!`](crate::cases) boxes it.
pub type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One test: a sentence as its name and the function that runs it on fixture `F`.
#[derive(Debug)]
pub struct Case<F> {
    /// The test's name, as `cargo test` filters and reports it.
    pub name: &'static str,
    /// The test.
    pub run: fn(F) -> CaseFuture,
}

/// `pub fn all() -> Vec<Case<F>>`: the listed async test functions of a module (each taking the
/// fixture `F`), named by themselves, in order.
#[macro_export]
macro_rules! cases {
    ($fixture:ty; $($name:ident),* $(,)?) => {
        pub fn all() -> Vec<$crate::suite::Case<$fixture>> {
            vec![$($crate::suite::Case {
                name: stringify!($name),
                run: |fixture| Box::pin($name(fixture)),
            }),*]
        }
    };
}

/// What a suite runs each case on: built fresh for every case from the shared services and the
/// case's number (unique within the binary, for names of databases, queues...).
pub trait Fixture: Sized + Send + 'static {
    /// Builds the fixture of case `n`.
    fn setup(services: Arc<Services>, n: usize) -> impl Future<Output = Self> + Send;

    /// What to do once the case is over (it consumed the fixture): for example close a pool
    /// whose connections a task of the case would keep open. Nothing by default.
    fn after(&self) -> Option<CaseFuture> {
        None
    }
}

/// The services of a suite, started by the first case that needs them.
#[derive(Debug, Default)]
struct Lazy(Mutex<Option<Arc<Services>>>);

impl Lazy {
    fn get(&self) -> Arc<Services> {
        let mut services = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        services
            .get_or_insert_with(|| Arc::new(Services::start()))
            .clone()
    }
}

/// A test binary's cases on shared services, then [`Suite::run`].
#[allow(missing_debug_implementations)] // libtest-mimic's trials are not `Debug`
pub struct Suite {
    name: &'static str,
    /// The services, or why they cannot run here.
    services: Result<Arc<Lazy>, String>,
    runtime: Arc<tokio::runtime::Runtime>,
    trials: Vec<Trial>,
    next: usize,
}

impl Suite {
    /// The suite `name`, with a runtime of `threads` worker threads for its cases. Its services
    /// start with the first case that needs them, so a run whose filter selects none starts
    /// nothing.
    ///
    /// # Panics
    /// When a service is missing and `RODAN_REQUIRE_SERVICES` is set.
    pub fn new(name: &'static str, threads: usize) -> Self {
        let missing = Services::missing();
        let services = if missing.is_empty() {
            Ok(Arc::new(Lazy::default()))
        } else {
            let reason = format!("not installed here: {}", missing.join(", "));
            assert!(
                std::env::var_os("RODAN_REQUIRE_SERVICES").is_none(),
                "the {name} suite needs its services (RODAN_REQUIRE_SERVICES is set): {reason}"
            );
            Err(reason)
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .expect("a runtime");
        Self {
            name,
            services,
            runtime: Arc::new(runtime),
            trials: Vec::new(),
            next: 0,
        }
    }

    /// Adds cases that run on fixture `F`, each on its own.
    #[must_use]
    pub fn cases<F: Fixture>(mut self, cases: Vec<Case<F>>) -> Self {
        for case in cases {
            self = self.case(case.name, move |services, n| async move {
                let fixture = F::setup(services, n).await;
                let after = fixture.after();
                (case.run)(fixture).await;
                if let Some(after) = after {
                    after.await;
                }
            });
        }
        self
    }

    /// Adds a case that needs the services and builds what it needs itself (services of its
    /// own, a browser...), run on the suite's runtime with the services and its number.
    #[must_use]
    pub fn case<Fut>(
        mut self,
        name: &'static str,
        run: impl FnOnce(Arc<Services>, usize) -> Fut + Send + 'static,
    ) -> Self
    where
        Fut: Future<Output = ()>,
    {
        let n = self.next;
        self.next += 1;
        let trial = match &self.services {
            Ok(services) => {
                let services = services.clone();
                let runtime = self.runtime.clone();
                Trial::test(name, move || {
                    runtime.block_on(run(services.get(), n));
                    Ok(())
                })
            }
            Err(_) => Trial::test(name, || Ok(())).with_ignored_flag(true),
        };
        self.trials.push(trial);
        self
    }

    /// Adds tests that need none of the services: they run wherever the suite runs.
    #[must_use]
    pub fn pure(mut self, trials: impl IntoIterator<Item = Trial>) -> Self {
        self.trials.extend(trials);
        self
    }

    /// Runs the cases libtest's arguments select, stops the services and exits with the
    /// outcome.
    pub fn run(self) -> ! {
        let args = Arguments::from_args();
        if let Err(reason) = &self.services {
            eprintln!(
                "\nThe {} suite's cases that need PostgreSQL, RabbitMQ and Redis are skipped \
                 (reported as ignored): {reason}. Install them as .ci/run does, or run \
                 scripts/test.sh, which runs everything.\n",
                self.name
            );
        }
        let conclusion = libtest_mimic::run(&args, self.trials);
        // The cases are over and dropped: the last handle stops the services.
        if let Ok(lazy) = self.services {
            drop(lazy.0.lock().ok().and_then(|mut s| s.take()));
        }
        conclusion.exit();
    }
}
