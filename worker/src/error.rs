//! Why a worker failed to start or stopped.

/// A worker that failed to start or stopped on an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// PostgreSQL could not be reached.
    #[error("failed to connect to PostgreSQL")]
    Database(#[source] sqlx::Error),
    /// The jobs could not be registered.
    #[error("failed to register the worker's jobs")]
    Register(#[source] sqlx::Error),
    /// RabbitMQ failed.
    #[error("failed to consume from RabbitMQ")]
    Amqp(#[from] lapin::Error),
    /// The dispatching broker could not connect.
    #[error("failed to connect the dispatch publisher")]
    Broker(#[from] rodan_db::broker::BrokerError),
    /// Redis could not be reached.
    #[error("failed to connect to Redis")]
    Redis(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The scratch folder or the metrics port failed.
    #[error("failed to prepare {what}")]
    Io {
        /// What.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The worker's task panicked.
    #[error("failed to run the worker task")]
    Join(#[from] tokio::task::JoinError),
}
