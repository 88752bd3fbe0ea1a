//! vmpipe-source: the data model and every source of vmpipe — what turns processes (live
//! `/proc`, `mach2`) or evidence (`/proc` captures, snapshots, vmmap reports) into
//! [`Collected`] records of [`model::Region`]s, with the parsers of outside data and the
//! budgets that bound them.
//!
//! It holds no sink, no plugin loader and no thread pool: the fuzz targets and the parser
//! benchmarks build on it alone, and the `vmpipe` crate re-exports it as `vmpipe::source`
//! (with [`model`], [`fsat`] and [`privilege`] at the top of `vmpipe`).
//!
//! A source lists what it holds in pid order, then collects one process at a time; the engine
//! calls [`Source::collect`] from many threads at once. A process that cannot be read becomes
//! a [`Collected`] with a status and an [`ErrorRow`] — never a panic, never a silent drop.
//!
//! Module order is a DAG: [`privilege`] ← [`fsat`] ← [`model`] ← the parsers and sources.

// Lints: the workspace's [workspace.lints] (unsafe code only in FFI modules, each block
// with its SAFETY comment; every public item documented).

pub mod fsat;
pub mod model;
pub mod privilege;

pub mod budget;
pub mod capture;
pub mod limits;
pub mod linux;
pub mod macos;
mod memory;
mod selection;
pub mod vmmap;

use std::path::PathBuf;

use thiserror::Error;

pub use memory::{MemoryAccess, MemoryError};
pub use selection::Selection;

use crate::model::{Analysis, ProcessInfo, ProcessStatus, Region, UsageField};

/// One row of the `errors` table: what failed, for which process, at which stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorRow {
    /// The process concerned, if any.
    pub pid: Option<u32>,
    /// What was being done: `status`, `maps`, `smaps`, `exe`, … or, for an analyzer,
    /// `create`, `analyze`, `finish` or `warning`.
    pub stage: String,
    /// The analyzer concerned; empty for vmpipe's own stages.
    pub plugin: String,
    /// The error, naming the file or line it is about.
    pub error: String,
}

/// Everything a source could read about one process.
pub struct Collected {
    /// The process's facts and status.
    pub process: ProcessInfo,
    /// Its regions, in address order.
    pub regions: Vec<Region>,
    /// What went wrong while reading it.
    pub errors: Vec<ErrorRow>,
    /// True when the source reads residency figures (smaps detail), so that a total over no
    /// regions is a true zero rather than unknown.
    pub residency: bool,
    /// True when the whole memory map was read: `false` for a denied or vanished process, or
    /// a map cut short by an error, whose totals are then unknown rather than zero.
    pub map_complete: bool,
    /// What the analyzers emitted for it.
    pub analysis: Analysis,
    /// Its memory, for analyzers: a live process's, or what a capture saved of it (dropped
    /// once the analyzers have run).
    pub memory: Option<Box<dyn MemoryAccess>>,
    /// True for a live process of this machine (its `/proc/PID` is this process); false for
    /// evidence.
    pub live: bool,
    /// The vmmap report the process came from (its Summary and MALLOC ZONE tables).
    pub vmmap: Option<std::sync::Arc<vmmap::VmmapReport>>,
    /// What parsing its regions cost (see [`budget`]): the engine holds only so much of it
    /// at once.
    pub parsed_bytes: usize,
}

impl std::fmt::Debug for Collected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collected")
            .field("process", &self.process)
            .field("regions", &self.regions.len())
            .field("errors", &self.errors)
            .field("memory", &self.memory.is_some())
            .finish()
    }
}

impl Collected {
    /// An empty record for `pid`.
    pub fn new(pid: u32, residency: bool) -> Collected {
        Collected {
            process: ProcessInfo::new(pid),
            regions: Vec::new(),
            errors: Vec::new(),
            residency,
            map_complete: false,
            parsed_bytes: 0,
            analysis: Analysis::default(),
            memory: None,
            live: false,
            vmmap: None,
        }
    }

    /// Records an error at `stage` and lowers the status to `status` (never raises it:
    /// `vanished` beats `denied` beats `partial`).
    pub fn fail(&mut self, status: ProcessStatus, stage: &str, error: impl ToString) {
        let error = error.to_string();
        if self.process.error.is_none() {
            self.process.error = Some(error.clone());
        }
        self.process.status = self.process.status.max(status);
        self.errors.push(ErrorRow {
            pid: Some(self.process.pid),
            stage: stage.to_string(),
            plugin: String::new(),
            error,
        });
    }

    /// The sum of `field` over all regions; `None` when the source has no residency or any
    /// region lacks the field (absent is not zero).
    pub fn total(&self, field: UsageField) -> Option<u64> {
        if !self.residency || !self.map_complete {
            return None;
        }
        self.regions
            .iter()
            .try_fold(0u64, |acc, r| Some(acc.saturating_add(r.usage.get(field)?)))
    }

    /// The unique set size: `Private_Clean + Private_Dirty` over all regions.
    pub fn uss(&self) -> Option<u64> {
        if !self.residency || !self.map_complete {
            return None;
        }
        self.regions
            .iter()
            .try_fold(0u64, |acc, r| Some(acc.saturating_add(r.usage.private()?)))
    }

    /// The virtual size: the sum of all region sizes, saturating at `u64::MAX` (evidence can
    /// claim regions no address space holds); `None` when the map was not read whole.
    pub fn vsize(&self) -> Option<u64> {
        self.map_complete.then(|| {
            self.regions
                .iter()
                .fold(0u64, |acc, r| acc.saturating_add(r.size()))
        })
    }
}

/// A failure to read one file of one process. The message names the file.
#[derive(Debug, Error)]
pub enum CollectError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file's text is not what the kernel prints.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line.
        #[source]
        source: linux::ParseError,
    },
}

/// A failure of a whole source: nothing can be collected.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The process list could not be read.
    #[error("cannot list processes in {path}: {source}")]
    List {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A source of processes.
pub trait Source: Sync {
    /// What the source reads, for messages (`live /proc`, a file name, …).
    fn describe(&self) -> String;

    /// The pids this source will offer, in ascending order.
    fn list(&self) -> Result<Vec<u32>, SourceError>;

    /// Collects one process. `None` when the process is not selected (its name or user does
    /// not match the pipeline's selection).
    fn collect(&self, pid: u32) -> Option<Collected>;
}
