//! # vmpipe-plugin: write a vmpipe analyzer
//!
//! An analyzer sees one process at a time — its facts and its memory regions — and adds
//! columns to the region rows, rows to tables of its own, or both. vmpipe runs it over every
//! process of a sweep in parallel and writes what it emits as CSV.
//!
//! 1. Describe what you emit in a [`Schema`].
//! 2. Implement [`Analyzer`]: `create` checks the options from the pipeline file, `analyze`
//!    looks at one process (from many threads at once: keep shared state behind a `Mutex` or
//!    atomics), `finish` may emit run-wide rows.
//! 3. `vmpipe_plugin::export!(YourAnalyzer);` and build the crate as a `cdylib`.
//! 4. Name the library in a pipeline: `[[analyzer]] use = "path/to/libyours.so"`.
//!
//! A minimal analyzer that flags writable and executable regions:
//!
//! ```
//! use vmpipe_plugin::{Analyzer, Host, Options, Process, Regions, Schema};
//!
//! vmpipe_plugin::region_columns! {
//!     REGION_COLUMNS = [
//!         WX: Bool = ("wx", "writable and executable"),
//!     ];
//! }
//!
//! pub struct WriteExec;
//!
//! impl Analyzer for WriteExec {
//!     const SCHEMA: Schema =
//!         Schema::new("write-exec", "1.0.0", "flags regions that are writable and executable")
//!             .region_columns(REGION_COLUMNS);
//!
//!     fn create(options: &Options) -> vmpipe_plugin::Result<Self> {
//!         options.only(&[])?;
//!         Ok(WriteExec)
//!     }
//!
//!     fn analyze(&self, _p: &Process, regions: &Regions, host: &mut Host) -> vmpipe_plugin::Result {
//!         for r in regions {
//!             host.set(r.index(), WX, r.writable() && r.executable())?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! vmpipe_plugin::export!(WriteExec);
//! # fn main() {
//! #     let plugin = unsafe { &*vmpipe_plugin_v2() };
//! #     assert_eq!(plugin.abi_major, 2);
//! #     assert_eq!(plugin.region_columns_len, 1);
//! # }
//! ```
//!
//! Columns, tables and the other analyzers' columns an analyzer reads are declared once, with
//! [`region_columns!`], [`tables!`] and [`inputs!`]: the typed handles they define make
//! [`Host::set`] take only values of the column's type and [`Host::row`] exactly one value per
//! column, checked when compiling.
//!
//! The C ABI itself is in [`abi`] (and, for C, in `include/vmpipe_plugin.h`, generated from
//! it): a plugin in another language exports `const vmpipe_plugin *vmpipe_plugin_v2(void)`.
//! The crate's version is the ABI's: vmpipe-plugin 2.N speaks ABI 2.N.
//!
//! To test an analyzer without a live process, enable the `testing` feature in your
//! dev-dependencies and use `vmpipe_plugin::testing` (documented with the feature on): it runs the
//! analyzer through the real ABI over a maps/smaps text, a snapshot or a builder, with memory,
//! files and other analyzers' values as the test gives them.
//!
//! Build plugins with `panic = "unwind"` (the default): every entry point catches panics and
//! reports them, with where they happened, as an error row for the process, and the sweep
//! goes on. vmpipe refuses a library built with `panic = "abort"`.

// Lints: the workspace's [workspace.lints] (unsafe code only in FFI modules, each block
// with its SAFETY comment; every public item documented).

pub mod abi;
#[doc(hidden)]
pub mod export;
mod host;
mod kind;
mod options;
mod schema;
#[cfg(feature = "testing")]
pub mod testing;
mod usage;
mod view;

pub use host::{EmitError, Host, MemoryError, Value};
pub use kind::RegionKind;
pub use options::{OptionError, OptionValue, Options};
pub use schema::{
    Column, ColumnKind, ColumnType, Input, Read, RegionColumn, Schema, Scope, Table, TableDecl,
    column,
};
pub use usage::{USAGE_FIELDS, UsageField, UsageSpec};
pub use view::{LayoutError, Process, ProcessStatus, Region, RegionIter, Regions, ReportedZone};

/// The error type of analyzer methods: anything that can be shown to the user.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The result type of analyzer methods.
pub type Result<T = ()> = std::result::Result<T, Error>;

/// An analyzer: see the crate docs.
pub trait Analyzer: Sized + Send + Sync + 'static {
    /// What the analyzer emits.
    const SCHEMA: Schema;

    /// Checks the options given in the pipeline file and creates the analyzer. An error here
    /// stops the run before it starts, with this message under the pipeline file's `use`
    /// line — or under the option's key when the error is an [`OptionError`] (what the
    /// [`Options`] getters return). A panic here is reported as a panic, with where it
    /// happened.
    fn create(options: &Options) -> Result<Self>;

    /// Analyzes one process. Called from many threads at once, and also for processes
    /// without regions (kernel threads, refused memory maps). An error (or a panic) becomes
    /// one error row for this process; the sweep goes on. An [`EmitError`] returned with `?`
    /// adds no row of its own: the host already recorded the refused value.
    fn analyze(&self, process: &Process<'_>, regions: &Regions<'_>, host: &mut Host<'_>) -> Result;

    /// Called once after every process: emit rows of [`Scope::Run`] tables here.
    fn finish(&self, host: &mut Host<'_>) -> Result {
        let _ = host;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_crate_version_is_the_abi_version() {
        // "vmpipe-plugin 2.N speaks ABI 2.N": the messages that tell users which SDK to
        // rebuild against derive from ABI_MAJOR, so the two must agree.
        assert_eq!(
            env!("CARGO_PKG_VERSION_MAJOR").parse::<u32>().ok(),
            Some(crate::abi::ABI_MAJOR)
        );
        assert_eq!(
            env!("CARGO_PKG_VERSION_MINOR").parse::<u32>().ok(),
            Some(crate::abi::ABI_MINOR)
        );
        assert!(crate::abi::ENTRY_SYMBOL.starts_with(crate::abi::ENTRY_PREFIX));
        assert_eq!(
            crate::abi::ENTRY_SYMBOL[crate::abi::ENTRY_PREFIX.len()..]
                .parse::<u32>()
                .ok(),
            Some(crate::abi::ABI_MAJOR)
        );
    }
}
