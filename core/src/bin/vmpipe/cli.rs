//! The command line: what `vmpipe` accepts (clap), apart from what it does with it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use vmpipe::plugin::PluginSearch;

pub(crate) const EXAMPLES: &str = "\
Examples:
  vmpipe run pipelines/all-procs.toml                 sweep every process into CSV + a report
  vmpipe run pipelines/all-procs.toml --pid 1234      only process 1234
  vmpipe run pipelines/all-procs.toml --out /tmp/x    write the CSV files into /tmp/x
  vmpipe validate pipelines/*.toml                    check pipeline files without running them
  vmpipe plugins --plugin-dir ./target/release        list analyzers and what they emit
  vmpipe report 1234                                  process 1234 as macOS vmmap shows a process
  vmpipe snapshot --out evidence.tar.gz               save every process's /proc files
  vmpipe run pipelines/capture.toml --input evidence.tar.gz   analyse them later, anywhere";

/// Process-memory forensics: every region of every process, through a pipeline of analyzers,
/// to CSV tables and a report.
#[derive(Parser)]
#[command(version, after_help = EXAMPLES)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where analyzer plugins come from.
#[derive(Args)]
pub(crate) struct PluginArgs {
    /// Also look for plugin libraries here (repeatable; searched before VMPIPE_PLUGIN_PATH
    /// and the vmpipe executable's directory).
    #[arg(long = "plugin-dir", value_name = "DIR")]
    pub(crate) plugin_dirs: Vec<PathBuf>,
    /// When privileged (root, capabilities, setuid), load plugin libraries even if they, a
    /// library they depend on, or a directory above or searched for one is not owned by root
    /// or is writable by others.
    #[arg(long)]
    pub(crate) allow_untrusted_plugins: bool,
}

impl PluginArgs {
    /// The plugin search these flags ask for.
    pub(crate) fn search(self) -> PluginSearch {
        PluginSearch::new(self.plugin_dirs, self.allow_untrusted_plugins)
    }
}

/// What to do.
#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run a pipeline.
    #[command(after_help = EXAMPLES)]
    Run {
        /// The pipeline file (TOML).
        pipeline: PathBuf,
        /// Write every file sink's output into this directory instead.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Only this process (repeatable); narrows the pipeline's own selection.
        #[arg(long = "pid", value_name = "PID")]
        pids: Vec<u32>,
        /// The evidence an offline source reads (a capture, a snapshot, vmmap reports);
        /// overrides the pipeline's `path`.
        #[arg(long, value_name = "PATH")]
        input: Option<PathBuf>,
        /// Worker threads (default: one per core).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        threads: Option<u16>,
        /// No summary line on stderr.
        #[arg(long, short)]
        quiet: bool,
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// Check pipeline files without running them: every problem is reported, and every
    /// analyzer is loaded and given its options.
    Validate {
        /// The pipeline files.
        #[arg(required = true)]
        pipelines: Vec<PathBuf>,
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// List the built-in analyzers and the plugin libraries found, with their columns and
    /// tables.
    Plugins {
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// Write a new plugin to start from.
    Plugin {
        #[command(subcommand)]
        action: PluginAction,
    },
    /// Show one process as macOS vmmap does (header, regions, legend, summary by region type,
    /// malloc zones), with every built-in analyzer: a live PID, a vmmap report, a directory of
    /// them, or a capture.
    Report {
        /// A pid, a vmmap report file or directory, or a capture (directory, .tar, .tar.gz).
        target: String,
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// Save live processes' /proc files (maps, smaps, status, …) with a manifest and
    /// SHA-256 sums, for analysis later with a `capture` pipeline.
    Snapshot {
        /// Where: a new directory, or a FILE.tar / FILE.tar.gz.
        #[arg(long, value_name = "DIR|FILE.tar[.gz]")]
        out: PathBuf,
        /// Only this process (repeatable; default: every process).
        #[arg(long = "pid", value_name = "PID")]
        pids: Vec<u32>,
    },
}

/// `vmpipe plugin …`.
#[derive(Subcommand)]
pub(crate) enum PluginAction {
    /// Write a new analyzer plugin: a Rust crate (or a C directory) that builds on its own,
    /// with a test and a pipeline that runs it.
    New {
        /// Its name (lowercase letters, digits, `-`, `_`): the directory, the crate, the
        /// analyzer's name in pipelines.
        name: String,
        /// The language.
        #[arg(long, value_enum, default_value = "rust")]
        lang: LangArg,
        /// Where to create the plugin's directory (default: the current directory).
        #[arg(long, value_name = "DIR", default_value = ".")]
        dir: PathBuf,
        /// The SDK the Rust crate depends on: a path to `plugins/sdk`, or a version (default:
        /// the SDK this vmpipe was built from, when its checkout is still there).
        #[arg(long, value_name = "PATH|VERSION")]
        sdk: Option<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
/// `--lang`.
pub(crate) enum LangArg {
    /// A Rust crate.
    Rust,
    /// A C directory.
    C,
}
