//! One run of a pipeline: check it, set up its analyzers, build its source and sinks, drive
//! the engine, judge the result.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::engine::{self, EngineError, EngineOptions};
use crate::output::OutputError;
use crate::pipeline::{self, Pipeline, PipelineError, SourceConfig};
use crate::plugin::{Analyzers, PluginErrors, PluginSearch};
use crate::sink::{self, RunSummary};
use crate::source::Source;
use crate::source::capture::{Capture, CaptureError};
#[cfg(not(target_os = "macos"))]
use crate::source::linux::LiveLinux;
use crate::source::vmmap::{ReportsError, VmmapReports};

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
    /// An analyzer could not be set up.
    #[error(transparent)]
    Plugins(#[from] PluginErrors),
    /// An output could not be opened.
    #[error(transparent)]
    Sink(#[from] OutputError),
    /// An offline source was given no path.
    #[error("the {0} source needs a path: give --input PATH, or path = \"…\" in [source]")]
    NoInput(&'static str),
    /// A capture could not be read.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// vmmap reports could not be read.
    #[error(transparent)]
    Reports(#[from] ReportsError),
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

/// The live source of this operating system.
#[cfg(not(target_os = "macos"))]
fn live(
    selection: &crate::source::Selection,
    detail: crate::source::linux::Detail,
) -> Box<dyn Source> {
    Box::new(LiveLinux::new(detail, selection.clone()))
}

/// The live source of this operating system (macOS: every region with its residency; the
/// `detail` setting is a Linux cost trade-off and does not apply).
#[cfg(target_os = "macos")]
fn live(
    selection: &crate::source::Selection,
    _detail: crate::source::linux::Detail,
) -> Box<dyn Source> {
    Box::new(crate::source::macos::LiveMacos::new(selection.clone()))
}

/// Loads and checks a pipeline file, including that every analyzer it names can be found.
pub fn load(path: &Path, search: &PluginSearch) -> Result<Pipeline, PipelineError> {
    let base = path.parent().unwrap_or(Path::new("."));
    let resolve = |name: &str| {
        search
            .resolve(name, base)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    pipeline::load(path, &resolve)
}

/// Loads, checks and creates the pipeline's analyzers (their options are checked here).
pub fn analyzers(pipeline: &Pipeline, search: &PluginSearch) -> Result<Analyzers, PluginErrors> {
    Analyzers::load(&pipeline.analyzers, &pipeline.file, search)
}

/// Runs `pipeline` with its created `analyzers`.
pub fn run(
    pipeline: &Pipeline,
    analyzers: &Analyzers,
    options: EngineOptions,
) -> Result<RunOutcome, RunError> {
    let source: Box<dyn Source> = match &pipeline.source {
        SourceConfig::Live { selection, detail } => live(selection, *detail),
        SourceConfig::Capture { path, selection } => {
            let path = path.as_deref().ok_or(RunError::NoInput("capture"))?;
            Box::new(Capture::open(path, selection.clone())?)
        }
        SourceConfig::VmmapReport { path, selection } => {
            let path = path.as_deref().ok_or(RunError::NoInput("vmmap-report"))?;
            Box::new(VmmapReports::open(path, selection.clone())?)
        }
    };
    let sinks = pipeline
        .sinks
        .iter()
        .map(|s| sink::open(s, analyzers.schema(), &source.describe()))
        .collect::<Result<Vec<_>, _>>()?;
    let (summary, files) = engine::run(source.as_ref(), analyzers, sinks, options)?;
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

/// What `vmpipe report TARGET` reads: a live pid, vmmap reports, or a capture.
pub fn report_pipeline(target: &str) -> Result<Pipeline, RunError> {
    use crate::pipeline::{AnalyzerConfig, SinkConfig, TextStyle};
    use crate::source::Selection;
    let source = if !target.is_empty() && target.bytes().all(|b| b.is_ascii_digit()) {
        let mut selection = Selection::default();
        let pid = target.parse().map_err(|_| RunError::NoInput("live"))?;
        selection.narrow_to_pids(&[pid]);
        SourceConfig::Live {
            selection,
            detail: crate::source::linux::Detail::Smaps,
        }
    } else {
        let path = PathBuf::from(target);
        let selection = Selection::default();
        if crate::source::vmmap::looks_like_report(&path) {
            SourceConfig::VmmapReport {
                path: Some(path),
                selection,
            }
        } else {
            SourceConfig::Capture {
                path: Some(path),
                selection,
            }
        }
    };
    let analyzers = crate::plugin::builtin::names()
        .into_iter()
        .map(|name| AnalyzerConfig::unplaced(name, toml::Table::new()))
        .collect();
    Ok(Pipeline {
        file: PathBuf::from("<vmpipe report>"),
        description: None,
        source,
        analyzers,
        sinks: vec![SinkConfig::Text {
            path: None,
            top: 10,
            style: TextStyle::Vmmap,
        }],
    })
}
