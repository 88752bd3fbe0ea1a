//! Sinks write what the engine streams to them: CSV files, a text report.
//!
//! A sink opens its outputs when it is created (so an unwritable destination fails before the
//! sweep starts), writes to temporary files beside them while the run goes on, and hands
//! them back closed from [`Sink::finish`]; the engine then puts every sink's files in place at
//! once ([`AtomicFile::commit_all`]): a run's output files are complete and from one run, or
//! absent.

pub mod csv;
mod csv_row;
mod summary;
pub mod text;
mod vmmap_text;

pub use summary::RunSummary;

use crate::model::TableRow;
use crate::output::{AtomicFile, OutputError};
use crate::pipeline::SinkConfig;
use crate::plugin::RunSchema;
use crate::source::{Collected, ErrorRow};

/// A destination for a run's tables.
pub trait Sink: Send {
    /// Takes one process (called in pid order).
    fn process(&mut self, c: &Collected) -> Result<(), OutputError>;

    /// Writes the run-wide output and completes the outputs; returns them still under their
    /// temporary names, for the engine to put in place with every other sink's
    /// ([`AtomicFile::commit_all`]).
    fn finish(
        self: Box<Self>,
        summary: &RunSummary,
        run: &RunOutput,
    ) -> Result<Vec<AtomicFile>, OutputError>;
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
) -> Result<Box<dyn Sink>, OutputError> {
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
