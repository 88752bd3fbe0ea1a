//! Sinks write what the engine streams to them: CSV files, a text report.
//!
//! A sink opens its outputs when it is created (so an unwritable destination fails before the
//! sweep starts), writes to temporary files beside them while the run goes on, and hands
//! them back closed from [`Sink::finish`]; the engine then puts every sink's files in place at
//! once ([`AtomicFile::commit_all`]): a run's output files are complete and from one run, or
//! absent.

pub mod atomic_file;
pub mod csv;
mod csv_row;
pub mod out_dir;
pub mod text;
mod writeback;

use std::path::PathBuf;

use thiserror::Error;

pub use atomic_file::AtomicFile;

use crate::model::TableRow;
use crate::pipeline::SinkConfig;
use crate::plugin::RunSchema;
use crate::source::{Collected, ErrorRow};
use crate::summary::RunSummary;

/// A failure to write output; the message names the file.
#[derive(Debug, Error)]
pub enum SinkError {
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

impl SinkError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> SinkError {
        SinkError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn csv(path: impl Into<PathBuf>, e: ::csv::Error) -> SinkError {
        SinkError::io(path, std::io::Error::other(e))
    }
}

/// A destination for a run's tables.
pub trait Sink: Send {
    /// Takes one process (called in pid order).
    fn process(&mut self, c: &Collected) -> Result<(), SinkError>;

    /// Writes the run-wide output and completes the outputs; returns them still under their
    /// temporary names, for the engine to put in place with every other sink's
    /// ([`AtomicFile::commit_all`]).
    fn finish(
        self: Box<Self>,
        summary: &RunSummary,
        run: &RunOutput,
    ) -> Result<Vec<AtomicFile>, SinkError>;
}

/// What the analyzers emitted once every process was done.
#[derive(Clone, Debug, Default)]
pub struct RunOutput {
    /// Rows of run-wide tables.
    pub rows: Vec<TableRow>,
    /// Problems of the analyzers' `finish` calls.
    pub errors: Vec<ErrorRow>,
}

/// Opens the sink a pipeline entry describes, for a run with `schema` reading `source`.
pub fn open(
    config: &SinkConfig,
    schema: &RunSchema,
    source: &str,
) -> Result<Box<dyn Sink>, SinkError> {
    Ok(match config {
        SinkConfig::Csv { dir, formula_guard } => {
            Box::new(csv::CsvSink::create(dir, schema, *formula_guard)?)
        }
        SinkConfig::Text { path, top, style } => Box::new(text::TextSink::create(
            path.as_deref(),
            *top,
            *style,
            schema,
            source,
        )?),
    })
}
