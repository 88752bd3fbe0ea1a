//! Counts and totals of one run, for the closing line on stderr and the text report.

use std::time::Duration;

use crate::model::{ProcessStatus, UsageField};
use crate::source::Collected;

/// Counts and totals of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// What was read.
    pub source: String,
    /// Processes the source listed.
    pub listed: usize,
    /// Processes kept by the selection (rows in `processes`).
    pub selected: usize,
    /// Processes read completely.
    pub ok: usize,
    /// Processes read in part.
    pub partial: usize,
    /// Processes whose memory map was refused.
    pub denied: usize,
    /// Processes that exited while being read.
    pub vanished: usize,
    /// Region rows.
    pub regions: u64,
    /// Error rows.
    pub errors: u64,
    /// Sum of virtual sizes.
    pub vsize: u64,
    /// Sum of resident sizes over processes that have one.
    pub rss: u64,
    /// Sum of PSS (this sums to the memory really in use, each shared page counted once).
    pub pss: u64,
    /// Sum of USS.
    pub uss: u64,
    /// Sum of swap.
    pub swap: u64,
    /// True when residency was read.
    pub residency: bool,
    /// Wall time of the sweep.
    pub elapsed: Duration,
}

impl RunSummary {
    /// Adds one process.
    pub fn add(&mut self, c: &Collected) {
        self.selected += 1;
        match c.process.status {
            ProcessStatus::Ok => self.ok += 1,
            ProcessStatus::Partial => self.partial += 1,
            ProcessStatus::Denied => self.denied += 1,
            ProcessStatus::Vanished => self.vanished += 1,
        }
        self.regions += c.regions.len() as u64;
        self.errors += c.errors.len() as u64;
        self.vsize += c.vsize().unwrap_or(0);
        self.residency |= c.residency;
        self.rss += c.total(UsageField::Rss).unwrap_or(0);
        self.pss += c.total(UsageField::Pss).unwrap_or(0);
        self.uss += c.uss().unwrap_or(0);
        self.swap += c.total(UsageField::Swap).unwrap_or(0);
    }

    /// Processes from which something was read.
    pub fn readable(&self) -> usize {
        self.ok + self.partial
    }
}
