//! Sinks write what the engine streams to them: CSV files, a text report.
//!
//! A sink opens its outputs when it is created (so an unwritable destination fails before the
//! sweep starts), writes to temporary files beside them while the run goes on, and renames
//! them into place only in [`Sink::finish`]: output files are complete or absent.

mod atomic_file;
pub mod cell;
pub mod csv;
mod csv_row;
mod output_path;
pub mod text;
mod writeback;

use std::path::PathBuf;

use thiserror::Error;

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
    /// The output path is a symbolic link someone else planted (root only).
    #[error(
        "refusing to write through {path}: it is a symbolic link owned by uid {owner}, and vmpipe runs as root (remove it, or choose another output path)"
    )]
    PlantedLink {
        /// The link.
        path: PathBuf,
        /// Its owner.
        owner: u32,
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

    /// Writes the run-wide output, completes the outputs and puts them in place; returns the
    /// files written.
    fn finish(
        self: Box<Self>,
        summary: &RunSummary,
        run: &RunOutput,
    ) -> Result<Vec<PathBuf>, SinkError>;
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
