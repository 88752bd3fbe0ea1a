//! The pipeline file: what to read, which analyzers to run, where to write.
//!
//! ```toml
//! [source]
//! type = "live"            # live | capture (= snapshot) | vmmap-report
//! processes = "all"        # or any of: pids = [..], name = "regex", user = "name" or uid
//! detail = "smaps"         # live only: "maps" (no residency, cheap) | "smaps" (default)
//! # path = "evidence.tar"  # capture and vmmap-report: where (or --input on the command line)
//!
//! [[analyzer]]             # zero or more
//! use = "NAME"
//! options = { }            # handed to the analyzer, which validates them
//!
//! [[sink]]                 # one or more
//! type = "csv"
//! dir = "vmpipe-out/all-procs"
//! formula_guard = true     # default: `'` before text cells a spreadsheet would run
//! [[sink]]
//! type = "text"
//! path = "-"               # "-" is standard output (default)
//! top = 10                 # processes in each ranking (default 10)
//! style = "summary"        # "summary" (default) | "vmmap": each process as vmmap shows it
//! ```
//!
//! Parsing is strict: an unknown key, a wrong type, an unknown name is an error, and every
//! error in the file is reported at once with its line and column and the valid choices.
//! Relative paths are relative to the directory vmpipe runs in.

mod check;
mod diagnostic;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use diagnostic::{Diagnostic, Diagnostics, Place, render};

use crate::source::Selection;
use crate::source::linux::Detail;

/// A validated pipeline.
#[derive(Clone, Debug)]
pub struct Pipeline {
    /// The file it came from.
    pub file: PathBuf,
    /// A free-text description, if the file gives one.
    pub description: Option<String>,
    /// What to read.
    pub source: SourceConfig,
    /// Analyzers, in the order given.
    pub analyzers: Vec<AnalyzerConfig>,
    /// Where to write.
    pub sinks: Vec<SinkConfig>,
}

/// What to read.
#[derive(Clone, Debug)]
pub enum SourceConfig {
    /// Live processes of this machine.
    Live {
        /// Which processes.
        selection: Selection,
        /// How much of each.
        detail: Detail,
    },
    /// Processes saved from `/proc`: a vmpipe snapshot, a UAC collection, an smem capture
    /// (a directory, `.tar` or `.tar.gz`).
    Capture {
        /// Where it is (`--input` on the command line gives or overrides it).
        path: Option<PathBuf>,
        /// Which processes.
        selection: Selection,
    },
    /// macOS `vmmap` text reports: one file, or a directory of them.
    VmmapReport {
        /// Where they are (`--input` on the command line gives or overrides it).
        path: Option<PathBuf>,
        /// Which processes.
        selection: Selection,
    },
}

impl SourceConfig {
    /// The process selection.
    pub fn selection_mut(&mut self) -> &mut Selection {
        match self {
            SourceConfig::Live { selection, .. }
            | SourceConfig::Capture { selection, .. }
            | SourceConfig::VmmapReport { selection, .. } => selection,
        }
    }

    /// Sets the path of an offline source; `false` for the live source, which has none.
    pub fn set_path(&mut self, p: &Path) -> bool {
        match self {
            SourceConfig::Capture { path, .. } | SourceConfig::VmmapReport { path, .. } => {
                *path = Some(p.to_path_buf());
                true
            }
            SourceConfig::Live { .. } => false,
        }
    }
}

/// One `[[analyzer]]` entry.
#[derive(Clone, Debug)]
pub struct AnalyzerConfig {
    /// The analyzer's name as written after `use`.
    pub name: String,
    /// Its options table.
    pub options: toml::Table,
    /// Where its `use` value is, for messages about the analyzer.
    pub at: Place,
    /// Where each key of its options table is (nested keys as `outer.inner`), for messages
    /// about one option.
    pub option_places: Vec<(String, Place)>,
}

impl AnalyzerConfig {
    /// An entry of a pipeline vmpipe built itself (no file to point into).
    pub fn unplaced(name: &str, options: toml::Table) -> AnalyzerConfig {
        AnalyzerConfig {
            name: name.to_string(),
            options,
            at: Place::default(),
            option_places: Vec::new(),
        }
    }

    /// Where option `key` is, or the `use` value when the key is not in the file.
    pub fn place_of(&self, key: &str) -> &Place {
        self.option_places
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&self.at, |(_, p)| p)
    }
}

/// One `[[sink]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkConfig {
    /// One CSV file per table in `dir`.
    Csv {
        /// Output directory (created if missing).
        dir: PathBuf,
        /// Neutralise text cells a spreadsheet would run as formulas (default true).
        formula_guard: bool,
    },
    /// A report a person reads.
    Text {
        /// Output file; `None` is standard output.
        path: Option<PathBuf>,
        /// Processes listed in each ranking.
        top: usize,
        /// What the report looks like.
        style: TextStyle,
    },
}

/// The layout of a text report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextStyle {
    /// A sweep summary: totals, rankings, what could not be read, analyzer tables.
    Summary,
    /// Every process in the layout of macOS vmmap (see [`crate::sink::vmmap_text`]).
    Vmmap,
}

impl Pipeline {
    /// Points every file sink into `dir`: CSV sinks write there, text files keep their file
    /// name there. Standard output stays standard output.
    pub fn redirect_output(&mut self, dir: &Path) {
        for sink in &mut self.sinks {
            match sink {
                SinkConfig::Csv { dir: d, .. } => *d = dir.to_path_buf(),
                SinkConfig::Text { path: Some(p), .. } => {
                    let name = p
                        .file_name()
                        .map(PathBuf::from)
                        .unwrap_or_else(|| "report.txt".into());
                    *p = dir.join(name);
                }
                SinkConfig::Text { path: None, .. } => {}
            }
        }
    }

    /// Narrows the source to these pids.
    pub fn narrow_to_pids(&mut self, pids: &[u32]) {
        self.source.selection_mut().narrow_to_pids(pids);
    }
}

/// Why a pipeline could not be loaded.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// The file could not be read.
    #[error("cannot read pipeline {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file could not be opened safely (a planted link, a FIFO, a device, …).
    #[error("cannot read pipeline: {0}")]
    Open(#[from] crate::fsat::ResolveError),
    /// The file is larger than any pipeline.
    #[error(
        "cannot read pipeline {path}: larger than vmpipe's limit of {MAX_PIPELINE_BYTES} bytes for a pipeline file (a pipeline is a few KB)"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file has problems; all of them are listed.
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Says whether an analyzer `use` value can be found (`Err` gives the reason).
pub type Resolver<'r> = &'r dyn Fn(&str) -> Result<(), String>;

/// The largest pipeline file read (a pipeline is a few KB).
pub const MAX_PIPELINE_BYTES: u64 = 1 << 20;

/// Loads and validates a pipeline file; `resolve` says whether each analyzer can be found.
/// The file is opened as evidence is ([`crate::fsat::open_input`]: no planted link followed,
/// a FIFO or a device refused at once) and read up to [`MAX_PIPELINE_BYTES`]; a larger one
/// is refused before any parsing.
pub fn load(path: &Path, resolve: Resolver<'_>) -> Result<Pipeline, PipelineError> {
    use std::io::Read;
    let file = crate::fsat::open_input(path, crate::fsat::LinkRule::for_this_process())?;
    let mut bytes = Vec::new();
    file.take(MAX_PIPELINE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| PipelineError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > MAX_PIPELINE_BYTES {
        return Err(PipelineError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    parse(path, &bytes, resolve)
}

/// Validates the bytes of a pipeline file; `path` is used in messages and kept in the result.
pub fn parse(path: &Path, bytes: &[u8], resolve: Resolver<'_>) -> Result<Pipeline, PipelineError> {
    let invalid = |items| {
        PipelineError::Invalid(Diagnostics {
            file: path.to_path_buf(),
            items,
        })
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let lossy = String::from_utf8_lossy(bytes);
            let at = e.valid_up_to();
            return Err(invalid(vec![Diagnostic::at(
                &lossy,
                at..at + 1,
                "the file is not valid UTF-8 (TOML must be)",
            )]));
        }
    };
    check::check(path, text, resolve).map_err(invalid)
}
