//! Why a worker failed to start or stopped, and how errors are written on one line.

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
    /// The mail settings can never work (a bad sender address).
    #[error("invalid mail settings")]
    Mail(#[source] rodan_mail::Error),
    /// The worker's task panicked.
    #[error("failed to run the worker task")]
    Join(#[from] tokio::task::JoinError),
}

/// An error and its causes on one line, `a: b: c`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
