//! A test harness for analyzers: run one over a process described by a `/proc/PID/smaps`
//! text, a snapshot directory or a builder, through the real ABI, and look at what it emitted.
//!
//! Enable it in your plugin's tests only:
//!
//! ```toml
//! [dev-dependencies]
//! vmpipe-plugin = { path = "…", features = ["testing"] }
//! ```
//!
//! The harness takes your analyzer's plugin table exactly as [`crate::export!`] builds it and
//! calls its `create`, `analyze`, `finish` and `destroy` entry points with the same call
//! structs vmpipe passes ([`crate::abi::CreateV2`], [`crate::abi::AnalyzeV2`]) and a
//! [`crate::abi::HostV2`] of its own whose callbacks check what vmpipe's check: a value of
//! another type than its column, a region index out of range, a row with the wrong number
//! of cells or in a table of the other scope, a region value outside `analyze` — each is
//! refused with vmpipe's status and recorded once in [`Outcome::refusals`]. An error or a
//! panic in your code becomes one [`Outcome::errors`] entry with its stage (a panic with its
//! message and where it happened, as vmpipe reports it).
//!
//! What the harness serves:
//!
//! * **the process**: pid, name, parent, uid, threads, executable, command line, status,
//!   `has_memory` and a report's malloc zones, as the [`Fixture`] sets them;
//! * **regions**: as parsed from a maps or smaps text, read from a snapshot, or built with
//!   [`Region`] — every field vmpipe fills, classified as vmpipe classifies them;
//! * **memory** ([`Fixture::memory`]): `(address, bytes)` segments, with `read_memory`'s
//!   real statuses (`MEMORY_FAULT` where nothing is, a short read at a hole,
//!   `MEMORY_UNAVAILABLE` without segments, `BAD_READ` past [`crate::abi::MAX_READ`]);
//! * **files** ([`Fixture::open_files`]): `open` answered from this machine's files (see
//!   there exactly what), so an analyzer that reads the mapped files can be driven;
//! * **other analyzers' columns** ([`Fixture::input`], [`Fixture::inputs_from`]).
//!
//! ```
//! use vmpipe_plugin::testing::{self, Fixture, OwnedValue, Region};
//! use vmpipe_plugin::{Analyzer, Host, Options, Process, Regions, Schema};
//!
//! vmpipe_plugin::region_columns! {
//!     REGION_COLUMNS = [
//!         WX: Bool = ("wx", "writable and executable"),
//!     ];
//! }
//!
//! struct WriteExec;
//!
//! impl Analyzer for WriteExec {
//!     const SCHEMA: Schema = Schema::new("write-exec", "1.0.0", "flags W+X regions")
//!         .region_columns(REGION_COLUMNS);
//!     fn create(options: &Options) -> vmpipe_plugin::Result<Self> {
//!         options.only(&[])?;
//!         Ok(WriteExec)
//!     }
//!     fn analyze(&self, _: &Process, regions: &Regions, host: &mut Host) -> vmpipe_plugin::Result {
//!         for r in regions {
//!             if r.writable() && r.executable() {
//!                 host.set(r.index(), WX, true)?;
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let smaps = b"\
//! 00400000-00401000 r-xp 00000000 08:01 12 /bin/x
//! Rss:                   4 kB
//! 7f0000000000-7f0000001000 rwxp 00000000 00:00 0
//! Rss:                   4 kB
//! ";
//! let fixture = Fixture::from_smaps(42, smaps)?
//!     .region(Region::new(0x7f0000001000, 0x7f0000002000).perms("rw-p"));
//! let out = testing::run::<WriteExec>(&fixture);
//! assert!(out.is_clean(), "{out:?}");
//! assert_eq!(
//!     out.column("wx"),
//!     [OwnedValue::Absent, OwnedValue::Bool(true), OwnedValue::Absent]
//! );
//!
//! // Options the analyzer refuses: one error, for the option.
//! let options = Options::from_entries(vec![("strict".into(), vmpipe_plugin::OptionValue::Boolean(true))]);
//! let err = testing::run_with::<WriteExec>(&options, &fixture);
//! assert_eq!(err.errors[0].option.as_deref(), Some("strict"));
//! # Ok::<(), vmpipe_plugin::testing::FixtureError>(())
//! ```

mod fixture;
mod harness;
mod host;
mod parse;
mod value;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use fixture::{Fixture, Region};
pub use harness::Harness;
pub use parse::{FixtureError, MAP_FILE_LIMIT, SMALL_FILE_LIMIT, SMAPS_FIELDS};
pub use value::OwnedValue;

use crate::Options;

/// The entry point a problem came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// `create` (or the harness checking the plugin table before it).
    Create,
    /// `analyze` (or the harness preparing the call: an input missing).
    Analyze,
    /// `finish`.
    Finish,
}

/// One error or refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where it happened.
    pub stage: Stage,
    /// The message, as vmpipe would write it in `errors.csv` (`panicked at FILE:LINE:COL:
    /// …` for a panic).
    pub message: String,
    /// The option a failing `create` named.
    pub option: Option<String>,
    /// The call panicked.
    pub panicked: bool,
    /// The ABI status of the failure or refusal ([`crate::abi::status`]).
    pub status: u32,
}

impl Problem {
    fn setup(message: String) -> Problem {
        Problem {
            stage: Stage::Analyze,
            message,
            option: None,
            panicked: false,
            status: crate::abi::status::ERROR,
        }
    }
}

/// What an analyzer emitted in one or more calls.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The analyzer's name (what other analyzers' inputs name it by).
    pub analyzer: String,
    /// Every declared region column by name: one value per region of the fixture, absent
    /// where the analyzer set none (empty when no `analyze` call is part of the outcome).
    pub columns: BTreeMap<String, Vec<OwnedValue>>,
    /// Every declared table by name: its rows in the order emitted, the declared cells only
    /// (vmpipe puts `pid` and `process` in front of per-process rows when it writes them).
    pub tables: BTreeMap<String, Vec<Vec<OwnedValue>>>,
    /// Warnings logged (a row of stage `warning` in vmpipe).
    pub warnings: Vec<String>,
    /// Debug messages logged (vmpipe prints them only with `VMPIPE_PLUGIN_DEBUG`).
    pub infos: Vec<String>,
    /// Failed calls: an error returned, a panic, a refused plugin table or a missing input.
    pub errors: Vec<Problem>,
    /// Values the host refused, one each (vmpipe writes one error row for each).
    pub refusals: Vec<Problem>,
}

impl Outcome {
    fn empty(analyzer: &str) -> Outcome {
        Outcome {
            analyzer: analyzer.to_string(),
            columns: BTreeMap::new(),
            tables: BTreeMap::new(),
            warnings: Vec::new(),
            infos: Vec::new(),
            errors: Vec::new(),
            refusals: Vec::new(),
        }
    }

    /// Takes what one call produced.
    fn absorb(&mut self, ctx: host::CallCtx<'_>, regions: Option<usize>) {
        let d = ctx.declared;
        if regions.is_some() {
            self.columns = harness::by_name(d, ctx.columns);
        }
        for (t, rows) in d.tables.iter().zip(ctx.rows) {
            self.tables.entry(t.name.clone()).or_default().extend(rows);
        }
        self.warnings.extend(ctx.warnings);
        self.infos.extend(ctx.infos);
        self.refusals.extend(ctx.refusals);
    }

    /// Adds what a later call produced (region columns are replaced when it has any).
    pub fn merge(&mut self, later: Outcome) {
        if !later.columns.is_empty() {
            self.columns = later.columns;
        }
        for (name, rows) in later.tables {
            self.tables.entry(name).or_default().extend(rows);
        }
        self.warnings.extend(later.warnings);
        self.infos.extend(later.infos);
        self.errors.extend(later.errors);
        self.refusals.extend(later.refusals);
    }

    /// The values of region column `name`, one per region (empty when there is no such
    /// column).
    pub fn column(&self, name: &str) -> &[OwnedValue] {
        self.columns.get(name).map_or(&[], Vec::as_slice)
    }

    /// The rows of table `name` (empty when there is no such table).
    pub fn rows(&self, name: &str) -> &[Vec<OwnedValue>] {
        self.tables.get(name).map_or(&[], Vec::as_slice)
    }

    /// No error and no refusal (warnings allowed).
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty() && self.refusals.is_empty()
    }
}

/// Runs `A` with no options over `fixture`: `create`, `analyze`, `finish`, `destroy`; the
/// outcome holds what all of them produced.
pub fn run<A: crate::Analyzer>(fixture: &Fixture) -> Outcome {
    run_with::<A>(&Options::default(), fixture)
}

/// Like [`run`], with `options` given to `create`. When `create` fails the outcome holds its
/// error and nothing else runs.
pub fn run_with<A: crate::Analyzer>(options: &Options, fixture: &Fixture) -> Outcome {
    match Harness::create::<A>(options) {
        Err(out) => *out,
        Ok(h) => {
            let mut out = h.analyze(fixture);
            out.merge(h.finish());
            out
        }
    }
}
