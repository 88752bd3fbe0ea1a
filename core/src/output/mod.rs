//! Output files made safely in a directory someone else may control: a held, locked
//! directory ([`out_dir::OutDir`]), files written under temporary names and put in place
//! together ([`AtomicFile`]), and background syncs of large files while they are written.
//! The sinks and `vmpipe snapshot` write through it; nothing here knows what is written.

pub mod atomic_file;
pub mod out_dir;
pub mod spool;
pub(crate) mod writeback;

use std::path::PathBuf;

use thiserror::Error;

pub use atomic_file::AtomicFile;

/// A failure to write output; the message names the file.
#[derive(Debug, Error)]
pub enum OutputError {
    /// A file or directory could not be created or written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The output directory could not be reached as this process may (a planted link on
    /// the way, a missing component, …).
    #[error("cannot use the output directory: {0}")]
    Resolve(#[source] Box<crate::fsat::ResolveError>),
    /// Another vmpipe holds the output directory's lock.
    #[error(
        "another vmpipe run is writing into {path} (it holds the directory's lock): wait for it to end, or choose another output directory"
    )]
    Busy {
        /// The directory.
        path: PathBuf,
    },
    /// Something that a rename cannot replace stands where an output file goes.
    #[error(
        "cannot replace {path}: it is {what}, not a file (nothing of this run was put in place)"
    )]
    Destination {
        /// The destination.
        path: PathBuf,
        /// What is there.
        what: &'static str,
    },
    /// A temporary file was swapped for something else while vmpipe was writing it.
    #[error(
        "{path} was replaced by someone else while vmpipe was writing it (another user can write to that directory): the output is not trustworthy"
    )]
    Tampered {
        /// The name that no longer is vmpipe's file.
        path: PathBuf,
    },
}

impl OutputError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> OutputError {
        OutputError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn csv(path: impl Into<PathBuf>, e: ::csv::Error) -> OutputError {
        OutputError::io(path, std::io::Error::other(e))
    }
}
