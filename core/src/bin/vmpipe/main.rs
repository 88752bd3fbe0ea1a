//! The `vmpipe` command: argument parsing and messages; the work is in the library.

use std::path::Path;
use std::process::ExitCode;

use clap::Parser as _;
use vmpipe::engine::{EngineError, EngineOptions};
use vmpipe::pipeline::{Pipeline, PipelineError};
use vmpipe::plugin::{self, PluginSearch};
use vmpipe::run::{self, RunError};

mod cli;
mod progress;

use cli::{Cli, Command, LangArg, PluginAction};

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
    if let Err(e) = vmpipe::plugin::loader_environment::drop_library_path() {
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
            use vmpipe::plugin::template::{self as template, Lang, Sdk};
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
            if let Some(input) = &input
                && !p.source.set_path(input)
            {
                eprintln!(
                    "vmpipe: --input is for offline sources (capture, snapshot, vmmap-report); this pipeline reads live processes"
                );
                return ExitCode::from(2);
            }
            let progress = if quiet {
                None
            } else {
                progress::Bar::on_terminal()
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
