//! The `vmpipe` command: argument parsing and messages; the work is in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use vmpipe::engine::{EngineError, EngineOptions};
use vmpipe::pipeline::{Pipeline, PipelineError};
use vmpipe::plugin::{self, PluginSearch};
use vmpipe::run::{self, RunError};

const EXAMPLES: &str = "\
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
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where analyzer plugins come from.
#[derive(Args)]
struct PluginArgs {
    /// Also look for plugin libraries here (repeatable; searched before VMPIPE_PLUGIN_PATH
    /// and the vmpipe executable's directory).
    #[arg(long = "plugin-dir", value_name = "DIR")]
    plugin_dirs: Vec<PathBuf>,
    /// When privileged (root, capabilities, setuid), load plugin libraries even if they, a
    /// library they depend on, or a directory above or searched for one is not owned by root
    /// or is writable by others.
    #[arg(long)]
    allow_untrusted_plugins: bool,
}

impl PluginArgs {
    fn search(self) -> PluginSearch {
        PluginSearch::new(self.plugin_dirs, self.allow_untrusted_plugins)
    }
}

#[derive(Subcommand)]
enum Command {
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
enum PluginAction {
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
enum LangArg {
    Rust,
    C,
}

/// Why a command could not start or did not finish.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("cannot handle SIGINT/SIGTERM: {0}")]
    Signals(#[source] std::io::Error),
    #[error(transparent)]
    Snapshot(#[from] vmpipe::snapshot::SnapshotError),
}

/// SIGINT and SIGTERM stop a run cleanly from here on (see `vmpipe::interrupt`).
fn catch_signals() -> Result<(), Failure> {
    vmpipe::interrupt::install().map_err(Failure::Signals)
}

/// Says how far an interrupted run came; the shell's exit code for the signal.
fn interrupted(done: usize, total: usize, signal: i32) -> ExitCode {
    eprintln!("vmpipe: interrupted after {done} of {total} processes");
    ExitCode::from(vmpipe::interrupt::exit_code(signal))
}

/// Loads a pipeline and creates its analyzers, printing every problem; exit code 2 on any.
fn prepare(path: &Path, search: &PluginSearch) -> Result<(Pipeline, plugin::Analyzers), ExitCode> {
    let pipeline = run::load(path, search).map_err(|e| {
        match e {
            PipelineError::Invalid(d) => eprintln!("{d}"),
            other => eprintln!("vmpipe: {other}"),
        }
        ExitCode::from(2)
    })?;
    let analyzers = run::analyzers(&pipeline, search).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })?;
    Ok((pipeline, analyzers))
}

fn main() -> ExitCode {
    // Before anything else: a privileged vmpipe must not inherit the loader's search path.
    if let Err(e) = vmpipe::loader_environment::drop_library_path() {
        eprintln!(
            "vmpipe: warning: {e}; plugin dependencies it could supply are judged like a RUNPATH"
        );
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { pipelines, plugins } => {
            let search = plugins.search();
            let mut code = ExitCode::SUCCESS;
            for p in pipelines {
                match prepare(&p, &search) {
                    Ok(_) => println!("{}: ok", p.display()),
                    Err(c) => code = c,
                }
            }
            code
        }
        Command::Plugins { plugins } => {
            print!("{}", plugin::catalog(&plugins.search()));
            ExitCode::SUCCESS
        }
        Command::Plugin {
            action:
                PluginAction::New {
                    name,
                    lang,
                    dir,
                    sdk,
                },
        } => {
            use vmpipe::plugin_template::{self as template, Lang, Sdk};
            let lang = match lang {
                LangArg::Rust => Lang::Rust,
                LangArg::C => Lang::C,
            };
            let sdk = sdk.map_or_else(Sdk::default_for_this_build, |s| Sdk::parse(&s));
            match template::create(&name, lang, &dir, &sdk) {
                Ok(path) => {
                    eprintln!("vmpipe: wrote {}", path.display());
                    if let (Lang::Rust, Sdk::Version(v)) = (lang, &sdk) {
                        eprintln!(
                            "vmpipe: its Cargo.toml asks a registry for vmpipe-plugin {v}; to build against a vmpipe checkout instead, pass --sdk PATH/TO/vmpipe/plugins/sdk"
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("vmpipe: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Report { target, plugins } => {
            let search = plugins.search();
            let outcome = run::report_pipeline(&target).and_then(|p| {
                let analyzers = run::analyzers(&p, &search)?;
                run::run(&p, &analyzers, EngineOptions::default())
            });
            match outcome {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("vmpipe: {target}: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Snapshot { out, pids } => match catch_signals()
            .and_then(|()| vmpipe::snapshot::write(&out, &pids).map_err(Failure::Snapshot))
        {
            Ok(s) => {
                eprintln!(
                    "vmpipe: saved {} processes ({} not whole) in {} files to {}",
                    s.processes,
                    s.incomplete,
                    s.files,
                    s.path.display()
                );
                ExitCode::SUCCESS
            }
            Err(Failure::Snapshot(vmpipe::snapshot::SnapshotError::Interrupted {
                done,
                total,
                signal,
            })) => interrupted(done, total, signal),
            Err(e) => {
                eprintln!("vmpipe: {e}");
                ExitCode::from(1)
            }
        },
        Command::Run {
            pipeline,
            out,
            pids,
            input,
            threads,
            quiet,
            plugins,
        } => {
            if let Err(e) = catch_signals() {
                eprintln!("vmpipe: {e}");
                return ExitCode::from(1);
            }
            let search = plugins.search();
            let (mut p, analyzers) = match prepare(&pipeline, &search) {
                Ok(x) => x,
                Err(code) => return code,
            };
            if let Some(dir) = &out {
                p.redirect_output(dir);
            }
            if !pids.is_empty() {
                p.narrow_to_pids(&pids);
            }
            if let Some(input) = &input {
                if !p.source.set_path(input) {
                    eprintln!(
                        "vmpipe: --input is for offline sources (capture, snapshot, vmmap-report); this pipeline reads live processes"
                    );
                    return ExitCode::from(2);
                }
            }
            let progress = if quiet {
                None
            } else {
                vmpipe::progress::Bar::on_terminal()
                    .map(|b| std::sync::Arc::new(b) as std::sync::Arc<dyn vmpipe::engine::Progress>)
            };
            let options = EngineOptions {
                threads: threads.map(usize::from),
                progress,
                ..EngineOptions::default()
            };
            match run::run(&p, &analyzers, options) {
                Ok(outcome) => {
                    if !quiet {
                        let s = &outcome.summary;
                        eprintln!(
                            "vmpipe: {} processes ({} ok, {} partial, {} denied, {} vanished), {} regions, {} errors in {:.2}s",
                            s.selected,
                            s.ok,
                            s.partial,
                            s.denied,
                            s.vanished,
                            s.regions,
                            s.errors,
                            s.elapsed.as_secs_f64()
                        );
                        for f in &outcome.files {
                            eprintln!("vmpipe: wrote {}", f.display());
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(RunError::Engine(EngineError::Interrupted {
                    done,
                    total,
                    signal,
                })) => interrupted(done, total, signal),
                Err(e) => {
                    eprintln!("vmpipe: {}: {e}", pipeline.display());
                    ExitCode::from(match e {
                        RunError::Plugins(_) => 2,
                        _ => 1,
                    })
                }
            }
        }
    }
}
