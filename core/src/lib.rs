//! vmpipe: what is in the address space of every process, who owns it, and what state it is
//! in — for live Linux and macOS processes and for captured evidence (`/proc` captures,
//! snapshots, vmmap reports), through a pipeline declared in TOML.
//!
//! Data flows `source → engine (rayon, per process) → sinks`:
//!
//! * [`source`] (the `vmpipe-source` crate, with the [`model`]) turns processes and evidence
//!   into [`model::Region`] records;
//! * [`engine`] collects processes in parallel and streams them to the sinks in pid order;
//! * [`sink`] writes CSV tables and a text report;
//! * [`pipeline`] loads and strictly validates the TOML file that ties them together;
//! * [`plugin`] loads analyzers (built in, or plugin libraries through the C ABI) and runs
//!   them on each process;
//! * [`run`] runs one pipeline; [`snapshot`] saves live processes for later analysis;
//! * [`output`] makes output files safely in a directory someone else may control.

// Lints: the workspace's [workspace.lints] (unsafe code only in FFI modules, each block
// with its SAFETY comment; every public item documented).

pub use vmpipe_source as source;
pub use vmpipe_source::{fsat, model, privilege};

pub mod engine;
pub mod interrupt;
pub mod output;
pub mod pipeline;
pub mod plugin;
pub mod run;
pub mod sink;
pub mod snapshot;
