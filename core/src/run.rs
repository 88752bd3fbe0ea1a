//! One run of a pipeline: build its source and sinks, drive the engine, judge the result.

use std::path::PathBuf;

use thiserror::Error;

use crate::engine::{self, EngineError, EngineOptions};
use crate::pipeline::{Pipeline, SourceConfig};
use crate::sink::{self, SinkError};
use crate::source::Source;
use crate::source::linux::LiveLinux;
use crate::summary::RunSummary;

/// The analyzers built into this binary (none yet: the plugin ABI and the four built-ins
/// arrive with their own issues). Pipeline files are checked against this list.
pub const BUILTIN_ANALYZERS: &[&str] = &[];

/// What a run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// Counts and totals.
    pub summary: RunSummary,
    /// The files written, in sink order.
    pub files: Vec<PathBuf>,
}

/// Why a run failed.
#[derive(Debug, Error)]
pub enum RunError {
    /// An output could not be opened.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The sweep failed as a whole.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The selection matched no process.
    #[error("no process matched the selection ({listed} listed)")]
    NothingSelected {
        /// Processes the source listed.
        listed: usize,
    },
    /// Processes were selected, but none could be read (outputs were still written: see
    /// `errors.csv`).
    #[error(
        "no selected process could be read: {denied} denied, {vanished} vanished (see the errors table)"
    )]
    NothingReadable {
        /// Denied processes.
        denied: usize,
        /// Vanished processes.
        vanished: usize,
    },
}

/// Runs `pipeline`.
pub fn run(pipeline: &Pipeline, options: EngineOptions) -> Result<RunOutcome, RunError> {
    let source: Box<dyn Source> = match &pipeline.source {
        SourceConfig::Live { selection, detail } => {
            Box::new(LiveLinux::new(*detail, selection.clone()))
        }
    };
    let sinks = pipeline
        .sinks
        .iter()
        .map(sink::open)
        .collect::<Result<Vec<_>, _>>()?;
    let (summary, files) = engine::run(source.as_ref(), sinks, options)?;
    if summary.selected == 0 {
        return Err(RunError::NothingSelected {
            listed: summary.listed,
        });
    }
    if summary.readable() == 0 {
        return Err(RunError::NothingReadable {
            denied: summary.denied,
            vanished: summary.vanished,
        });
    }
    Ok(RunOutcome { summary, files })
}
