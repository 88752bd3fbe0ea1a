//! The `vmpipe` command: argument parsing and messages; the work is in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use vmpipe::engine::EngineOptions;
use vmpipe::pipeline::{self, PipelineError};
use vmpipe::run::{self, BUILTIN_ANALYZERS};

const EXAMPLES: &str = "\
Examples:
  vmpipe run pipelines/all-procs.toml                 sweep every process into CSV + a report
  vmpipe run pipelines/all-procs.toml --pid 1234      only process 1234
  vmpipe run pipelines/all-procs.toml --out /tmp/x    write the CSV files into /tmp/x
  vmpipe validate pipelines/*.toml                    check pipeline files without running them";

/// Process-memory forensics: every region of every process, through a pipeline of analyzers,
/// to CSV tables and a report.
#[derive(Parser)]
#[command(version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
        /// Worker threads (default: one per core).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        threads: Option<u16>,
        /// No summary line on stderr.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Check pipeline files without running them; every problem is reported.
    Validate {
        /// The pipeline files.
        #[arg(required = true)]
        pipelines: Vec<PathBuf>,
    },
}

fn load(path: &std::path::Path) -> Result<pipeline::Pipeline, ExitCode> {
    pipeline::load(path, BUILTIN_ANALYZERS).map_err(|e| {
        match e {
            PipelineError::Invalid(d) => eprintln!("{d}"),
            other => eprintln!("vmpipe: {other}"),
        }
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { pipelines } => {
            let mut code = ExitCode::SUCCESS;
            for p in pipelines {
                match load(&p) {
                    Ok(_) => println!("{}: ok", p.display()),
                    Err(c) => code = c,
                }
            }
            code
        }
        Command::Run {
            pipeline,
            out,
            pids,
            threads,
            quiet,
        } => {
            let mut p = match load(&pipeline) {
                Ok(p) => p,
                Err(code) => return code,
            };
            if let Some(dir) = &out {
                p.redirect_output(dir);
            }
            if !pids.is_empty() {
                p.narrow_to_pids(&pids);
            }
            let options = EngineOptions {
                threads: threads.map(usize::from),
                ..EngineOptions::default()
            };
            match run::run(&p, options).with_context(|| format!("running {}", pipeline.display())) {
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
                Err(e) => {
                    eprintln!("vmpipe: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
