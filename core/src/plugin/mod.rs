//! The plugin host: loads analyzers (built in, or libraries through the C ABI of
//! [`vmpipe_plugin::abi`]), checks what they declare before the run, and runs them on each
//! process inside that process's rayon task.
//!
//! Built-ins go through the very same ABI as libraries; the binary only skips `dlopen`.

pub mod builtin;
mod catalog;
#[cfg(target_os = "linux")]
mod dependencies;
#[cfg(target_os = "linux")]
mod dynamic_section;
mod host;
mod instance;
#[cfg(target_os = "linux")]
mod ld_cache;
mod library;
pub mod loader_environment;
mod marshal;
mod schema;
pub mod template;
mod trust;

use std::path::{Path, PathBuf};

use thiserror::Error;
use vmpipe_plugin::abi::{CellV2, InputV2, PluginV2, StrV2, kind};

pub use catalog::catalog;
pub use library::{LoadError, PluginSearch, Resolved, is_path};
pub use schema::{
    AnalyzerSchema, ColumnSchema, ReadSchema, RunSchema, TableSchema, describe, table_header,
};

use crate::model::{Analysis, Cell, TableRow};
use crate::pipeline::{AnalyzerConfig, Place};
use crate::source::{Collected, ErrorRow};
use host::CallCtx;
use instance::{CallFailure, Instance};

/// Why one analyzer of a pipeline could not be set up: the problem, and where in the pipeline
/// file it points (the `use` value, or the key of the option to blame), shown as the
/// pipeline's own diagnostics are ([`crate::pipeline::render`]).
#[derive(Debug, Error)]
#[error("{}", Located { file, at, message: problem.to_string() })]
pub struct PluginError {
    /// The pipeline file.
    pub file: PathBuf,
    /// What the message points at.
    pub at: Place,
    /// What went wrong.
    #[source]
    pub problem: PluginProblem,
}

/// A message about a place of a pipeline file, for `Display` ([`crate::pipeline::render`]
/// writes to a `Formatter`).
struct Located<'a> {
    file: &'a Path,
    at: &'a Place,
    message: String,
}

impl std::fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::pipeline::render(f, self.file, self.at, &self.message)
    }
}

/// What went wrong with one analyzer.
#[derive(Debug, Error)]
pub enum PluginProblem {
    /// The analyzer could not be found or loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Its declaration is not acceptable.
    #[error("analyzer from {origin}: {reason}")]
    Schema {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// It reads a column no analyzer of the pipeline provides (or in a cycle).
    #[error("{0}")]
    Inputs(String),
    /// It panicked in `create`.
    #[error("while starting, analyzer \"{name}\" {message}")]
    Panicked {
        /// The analyzer.
        name: String,
        /// Its message ("panicked at FILE:LINE:COL: …" from the Rust SDK).
        message: String,
    },
    /// It refused its options (or failed to start).
    #[error("analyzer \"{name}\" refused its options: {message}")]
    Options {
        /// The analyzer.
        name: String,
        /// Its message.
        message: String,
    },
}

/// Every problem found while setting up a pipeline's analyzers.
#[derive(Debug, Error)]
#[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct PluginErrors(pub Vec<PluginError>);

/// A plugin table with where it came from.
pub struct Plugin {
    /// The table, read in this host's layout.
    pub table: PluginV2,
    /// `built-in` or the library's path.
    pub origin: String,
}

/// Loads (without creating) the plugin a `use` names.
pub fn load(name: &str, base: &Path, search: &PluginSearch) -> Result<Plugin, LoadError> {
    match search.resolve(name, base)? {
        Resolved::Builtin(b) => Ok(Plugin {
            table: schema::builtin_table(b).map_err(|reason| LoadError::Invalid {
                path: PathBuf::from(format!("built-in {}", b.name)),
                reason,
            })?,
            origin: "built-in".into(),
        }),
        Resolved::Library(path) => Ok(Plugin {
            table: search.load(&path)?,
            origin: path.display().to_string(),
        }),
    }
}

/// The analyzers of one run, created and ready.
pub struct Analyzers {
    instances: Vec<Instance>,
    schema: RunSchema,
}

impl Analyzers {
    /// No analyzer.
    pub fn none() -> Analyzers {
        Analyzers {
            instances: Vec::new(),
            schema: RunSchema::default(),
        }
    }

    /// Loads, checks and creates every analyzer of a pipeline; reports every problem at once.
    pub fn load(
        configs: &[AnalyzerConfig],
        file: &Path,
        search: &PluginSearch,
    ) -> Result<Analyzers, PluginErrors> {
        let base = file.parent().unwrap_or(Path::new("."));
        let mut errors = Vec::new();
        let mut loaded = Vec::new();
        let mut schema = RunSchema::default();
        let error = |cfg: &AnalyzerConfig, at: Option<&Place>, problem| PluginError {
            file: file.to_path_buf(),
            at: at.unwrap_or(&cfg.at).clone(),
            problem,
        };
        for cfg in configs {
            let plugin = match load(&cfg.name, base, search) {
                Ok(p) => p,
                Err(source) => {
                    errors.push(error(cfg, None, source.into()));
                    continue;
                }
            };
            let checked = describe(&plugin).and_then(|a| schema.add(a));
            if let Err(reason) = checked {
                let origin = plugin.origin;
                errors.push(error(cfg, None, PluginProblem::Schema { origin, reason }));
                continue;
            }
            loaded.push((cfg, plugin));
        }
        if !errors.is_empty() {
            return Err(PluginErrors(errors));
        }
        if let Err(problems) = schema.connect() {
            return Err(PluginErrors(
                problems
                    .into_iter()
                    .map(|(i, reason)| error(loaded[i].0, None, PluginProblem::Inputs(reason)))
                    .collect(),
            ));
        }
        let mut instances = Vec::new();
        for (i, (cfg, plugin)) in loaded.into_iter().enumerate() {
            let mut ctx = CallCtx::for_create(&schema, i);
            let created = Instance::create(&plugin.table, &cfg.options, &mut ctx);
            let name = schema.analyzers[i].name.clone();
            for (_, warning) in ctx.problems.drain(..) {
                let message = format!(
                    "warning from analyzer \"{name}\": {}",
                    crate::model::escape::display(warning.as_bytes())
                );
                let at = &cfg.at;
                eprintln!("vmpipe: {}", Located { file, at, message });
            }
            match created {
                Ok(inst) => instances.push(inst),
                Err(f) => {
                    let at = f.option.as_deref().map(|k| cfg.place_of(k));
                    // The plugin's text, for a terminal.
                    let message = crate::model::escape::display(f.message.as_bytes());
                    let problem = if f.panicked {
                        PluginProblem::Panicked { name, message }
                    } else {
                        PluginProblem::Options { name, message }
                    };
                    errors.push(error(cfg, at, problem));
                }
            }
        }
        if !errors.is_empty() {
            return Err(PluginErrors(errors));
        }
        Ok(Analyzers { instances, schema })
    }

    /// The run's combined schema.
    pub fn schema(&self) -> &RunSchema {
        &self.schema
    }

    fn record(
        errors: &mut Vec<ErrorRow>,
        pid: Option<u32>,
        plugin: &str,
        stage: &str,
        ctx: &mut CallCtx<'_>,
        failure: Option<CallFailure>,
    ) {
        for (st, message) in ctx.problems.drain(..) {
            errors.push(ErrorRow {
                pid,
                stage: st.to_string(),
                plugin: plugin.to_string(),
                error: message,
            });
        }
        if ctx.dropped > 0 {
            errors.push(ErrorRow {
                pid,
                stage: stage.to_string(),
                plugin: plugin.to_string(),
                error: format!("{} more problems not listed", ctx.dropped),
            });
        }
        if let Some(f) = failure.filter(|f| !f.reported) {
            errors.push(ErrorRow {
                pid,
                stage: stage.to_string(),
                plugin: plugin.to_string(),
                error: if f.panicked {
                    format!("analyzer \"{plugin}\" {}", f.message)
                } else {
                    f.message
                },
            });
        }
    }

    /// Runs every analyzer on one process (in the calling thread), storing what they emit in
    /// `c.analysis` and their problems in `c.errors`; then drops the process's memory handle.
    pub fn analyze(&self, c: &mut Collected) {
        let mut analysis = Analysis::new(self.schema.region_columns.len(), c.regions.len());
        let mut memory = c.memory.take();
        if !self.instances.is_empty() {
            let zones = marshal::zones(c);
            let process = marshal::process(c, c.live, &zones);
            let regions = marshal::regions(&c.regions);
            let mut errors = Vec::new();
            for &i in &self.schema.order {
                let inst = &self.instances[i];
                let name = &self.schema.analyzers[i].name;
                let (_kept, cells) = inputs(&analysis, &self.schema.inputs[i]);
                let inputs: Vec<InputV2> = cells
                    .iter()
                    .map(|c| InputV2 {
                        cells: c.as_ptr(),
                        cells_len: c.len(),
                        cell_size: size_of::<CellV2>(),
                    })
                    .collect();
                let mut ctx =
                    CallCtx::for_analyze(&self.schema, i, &mut analysis, memory.as_deref_mut());
                let failure = inst.analyze(&process, &regions, &inputs, &mut ctx).err();
                Self::record(
                    &mut errors,
                    Some(c.process.pid),
                    name,
                    "analyze",
                    &mut ctx,
                    failure,
                );
            }
            c.errors.extend(errors);
        }
        c.analysis = analysis;
    }

    /// Calls every analyzer's `finish` (in pipeline order); returns the run-wide rows and
    /// problems.
    pub fn finish(&self) -> (Vec<TableRow>, Vec<ErrorRow>) {
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        for (i, inst) in self.instances.iter().enumerate() {
            let name = &self.schema.analyzers[i].name;
            let mut ctx = CallCtx::for_finish(&self.schema, i, &mut rows);
            let failure = inst.finish(&mut ctx).err();
            Self::record(&mut errors, None, name, "finish", &mut ctx, failure);
        }
        (rows, errors)
    }
}

/// The values of the run's region columns `columns` on every region of `analysis`, as ABI
/// cells: one vector per column. The cells point into the text and byte values of the first
/// vector returned, which keeps them alive (and unchanged) while the cells are used, even as
/// the reader writes its own columns into `analysis`.
fn inputs(analysis: &Analysis, columns: &[usize]) -> (Vec<Cell>, Vec<Vec<CellV2>>) {
    let mut kept = Vec::new();
    let mut out = Vec::with_capacity(columns.len());
    for &g in columns {
        let mut cells = Vec::with_capacity(analysis.regions);
        for r in 0..analysis.regions {
            let v = analysis.region(r).get(g).cloned().unwrap_or(Cell::Absent);
            let mut c = CellV2 {
                kind: kind::ABSENT,
                int: 0,
                float: 0.0,
                bytes: StrV2::ABSENT,
            };
            match &v {
                Cell::Absent => {}
                Cell::U64(x) => (c.kind, c.int) = (kind::U64, *x),
                Cell::I64(x) => (c.kind, c.int) = (kind::I64, *x as u64),
                Cell::F64(x) => (c.kind, c.float) = (kind::F64, *x),
                Cell::Bool(x) => (c.kind, c.int) = (kind::BOOL, u64::from(*x)),
                Cell::Address(x) => (c.kind, c.int) = (kind::ADDRESS, *x),
                Cell::Text(t) => (c.kind, c.bytes) = (kind::TEXT, StrV2::new(t.as_bytes())),
                Cell::Bytes(b) => (c.kind, c.bytes) = (kind::BYTES, StrV2::new(b)),
            }
            cells.push(c);
            if matches!(v, Cell::Text(_) | Cell::Bytes(_)) {
                kept.push(v);
            }
        }
        out.push(cells);
    }
    (kept, out)
}
