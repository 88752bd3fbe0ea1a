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
        // Sizes come from evidence, which may claim a 16 EiB region: totals saturate at
        // `u64::MAX` rather than wrap to a small, plausible number.
        let add = |t: &mut u64, v: Option<u64>| *t = t.saturating_add(v.unwrap_or(0));
        add(&mut self.regions, Some(c.regions.len() as u64));
        add(&mut self.errors, Some(c.errors.len() as u64));
        add(&mut self.vsize, c.vsize());
        self.residency |= c.residency;
        add(&mut self.rss, c.total(UsageField::Rss));
        add(&mut self.pss, c.total(UsageField::Pss));
        add(&mut self.uss, c.uss());
        add(&mut self.swap, c.total(UsageField::Swap));
    }

    /// Processes from which something was read.
    pub fn readable(&self) -> usize {
        self.ok + self.partial
    }
}
