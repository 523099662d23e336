//! The context a worker and its tasks share: its connections, settings, job registry, metrics
//! and batched statements, with the dispatch and event helpers every task uses.

use crate::batch::Batcher;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::store::{self, Claim};
use rodan_db::broker::Broker;
use rodan_db::events::{Change, Event, ModelName, Publisher};
use sqlx::PgPool;
use std::path::PathBuf;
use std::sync::Arc;
use uuid::Uuid;

/// What a worker and its tasks share, behind an `Arc`.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) pool: PgPool,
    pub(crate) broker: Broker,
    pub(crate) events: Publisher,
    pub(crate) config: Config,
    pub(crate) owner: String,
    /// The jobs it runs.
    pub(crate) registry: Registry,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) scratch: PathBuf,
    /// Claims of messages, batched (see [`crate::batch`]).
    pub(crate) claims: Batcher<(Uuid, Uuid), Option<Claim>>,
    /// Finishes of run jobs with nothing to place, batched.
    pub(crate) finishes: Batcher<Uuid, store::Finished>,
    /// Sends the notices of [`crate::notify`].
    pub(crate) mailer: rodan_mail::Mailer,
}

impl Context {
    /// Dispatches `run` and publishes what changed. Failures are logged: the reaper's stalled-run
    /// sweep dispatches again later.
    pub(crate) async fn dispatch(&self, run: Uuid) {
        match rodan_db::schedule::dispatch(&self.pool, &self.broker, run).await {
            Ok(done) => {
                self.events.publish_all(&done.events).await;
                if done.run_finished {
                    crate::notify::run(self, run, crate::notify::Notice::Finished).await;
                }
            }
            Err(error) => {
                tracing::warn!(%run, error = %crate::error::error_chain(&error), "dispatch failed");
            }
        }
    }

    /// Publishes that `model` `uuid` of `project` was updated.
    pub(crate) async fn event(&self, model: ModelName, uuid: Uuid, project: Uuid) {
        self.events
            .publish(&Event::new(Change::Updated, model, uuid, Some(project)))
            .await;
    }
}
