//! Why a results package could not be built.

use std::path::PathBuf;

/// A package that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Mode 2 (diagnosis), which upstream never implemented.
    #[error("failed to package: the diagnosis mode (2) is not implemented")]
    DiagnosisMode,
    /// A mode upstream does not know.
    #[error("failed to package: packaging mode {0} is not supported")]
    UnknownMode(i32),
    /// A finished run job's output has no file.
    #[error("failed to find the file of the output '{0}'")]
    MissingFile(String),
    /// An output's file could not be read. Named by its place in the bag, which users know;
    /// the server path is kept for the logs only.
    #[error("failed to read the file of {entry}")]
    Read {
        /// Its name in the bag (`data/...`).
        entry: String,
        /// The file on the media volume.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The zip could not be written.
    #[error("failed to write the zip")]
    Zip(#[from] zip::result::ZipError),
    /// The package file could not be written or moved into place.
    #[error("failed to write the package file")]
    Write(#[from] std::io::Error),
    /// The run's outputs could not be read.
    #[error("failed to read the run's outputs")]
    Database(#[from] sqlx::Error),
}
