//! The host side of one plugin call: the callbacks of [`HostV2`] and what they collect.
//!
//! A [`CallCtx`] lives on the calling thread's stack for the duration of one `create`,
//! `analyze` or `finish` call; the plugin gets a pointer to it as the opaque `ctx` and may
//! only use it during that call, on that thread (the ABI's rule). Every value is checked
//! against what the plugin declared before it is copied into vmpipe's own memory; a refused
//! value leaves a problem message that becomes an error row.

// An FFI module: the workspace denies unsafe code everywhere else.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::sync::Arc;

use vmpipe_plugin::ColumnType;
use vmpipe_plugin::Scope;
use vmpipe_plugin::abi::{self, AbiStruct, CellV2, HostV2, StrV2, status};

use super::schema::{ColumnSchema, RunSchema};
use crate::model::{Analysis, Cell, TableRow};
use crate::source::budget::{Budget, OverBudget};
use crate::source::limits;
use crate::source::{MemoryAccess, MemoryError};

/// Longest text or byte value accepted in one cell.
pub const MAX_CELL_BYTES: usize = 1 << 20;
/// Problems recorded per call before the rest are only counted.
const MAX_PROBLEMS: usize = 20;
/// Longest message kept from a plugin.
const MAX_MESSAGE: usize = 4096;
use vmpipe_plugin::abi::MAX_READ;

/// What one call may do and what it produced.
pub struct CallCtx<'a> {
    schema: &'a RunSchema,
    /// `create`, `analyze` or `finish`: the stage of the error rows this call records.
    stage: &'static str,
    analyzer: usize,
    col_offset: usize,
    table_offset: usize,
    /// Per-process output (`analyze` only).
    analysis: Option<&'a mut Analysis>,
    /// Run-wide rows (`finish` only).
    run_rows: Option<&'a mut Vec<TableRow>>,
    memory: Option<&'a mut (dyn MemoryAccess + 'static)>,
    /// The message that goes with a failing status.
    pub error: Option<String>,
    /// The option a failing `create` is about.
    pub error_option: Option<String>,
    /// Refused values and warnings, as `(stage, message)`.
    pub problems: Vec<(&'static str, String)>,
    /// Problems beyond [`MAX_PROBLEMS`].
    pub dropped: usize,
    /// A value of this call was refused (and recorded as a problem, or counted in `dropped`):
    /// a `REFUSED` status then needs no row of its own.
    pub refused: bool,
    /// The text and byte values of this call seen last, and what its output cost (see
    /// [`Values`]).
    values: Values,
    /// The output budget was passed (said once).
    over: bool,
}

/// The last few distinct text and byte values an analyzer set, so a value repeated region
/// after region (an image's path, a share mode, a segment name) becomes one shared allocation
/// rather than one per cell; and the call's output budget, charged for every new allocation
/// and every table row.
struct Values {
    texts: Recent<str>,
    bytes: Recent<[u8]>,
    budget: Budget,
}

impl Default for Values {
    fn default() -> Values {
        Values {
            texts: Recent::default(),
            bytes: Recent::default(),
            budget: Budget::new(limits::OUTPUT_BYTES_PER_CALL),
        }
    }
}

/// The values seen last of one kind.
struct Recent<T: ?Sized> {
    recent: Vec<Arc<T>>,
}

impl<T: ?Sized> Default for Recent<T> {
    fn default() -> Recent<T> {
        Recent { recent: Vec::new() }
    }
}

impl<T: ?Sized + PartialEq> Recent<T> {
    const KEEP: usize = 16;

    /// The shared value equal to `v`, made with `make` (and charged `cost` bytes) when it is
    /// new.
    fn get(
        &mut self,
        v: &T,
        cost: usize,
        budget: &mut Budget,
        make: impl FnOnce(&T) -> Arc<T>,
    ) -> Result<Arc<T>, OverBudget> {
        if let Some(t) = self.recent.iter().rev().find(|t| ***t == *v) {
            return Ok(t.clone());
        }
        budget.charge(cost + 2 * std::mem::size_of::<usize>())?;
        let t = make(v);
        if self.recent.len() == Self::KEEP {
            self.recent.remove(0);
        }
        self.recent.push(t.clone());
        Ok(t)
    }
}

impl<'a> CallCtx<'a> {
    /// A context for `create` (no output possible).
    pub fn for_create(schema: &'a RunSchema, analyzer: usize) -> CallCtx<'a> {
        CallCtx::new(schema, "create", analyzer, None, None, None)
    }

    /// A context for `analyze` of one process.
    pub fn for_analyze(
        schema: &'a RunSchema,
        analyzer: usize,
        analysis: &'a mut Analysis,
        memory: Option<&'a mut (dyn MemoryAccess + 'static)>,
    ) -> CallCtx<'a> {
        CallCtx::new(schema, "analyze", analyzer, Some(analysis), None, memory)
    }

    /// A context for `finish`.
    pub fn for_finish(
        schema: &'a RunSchema,
        analyzer: usize,
        rows: &'a mut Vec<TableRow>,
    ) -> CallCtx<'a> {
        CallCtx::new(schema, "finish", analyzer, None, Some(rows), None)
    }

    fn new(
        schema: &'a RunSchema,
        stage: &'static str,
        analyzer: usize,
        analysis: Option<&'a mut Analysis>,
        run_rows: Option<&'a mut Vec<TableRow>>,
        memory: Option<&'a mut (dyn MemoryAccess + 'static)>,
    ) -> CallCtx<'a> {
        let (col_offset, table_offset) = schema.offsets(analyzer);
        CallCtx {
            schema,
            stage,
            analyzer,
            col_offset,
            table_offset,
            analysis,
            run_rows,
            memory,
            error: None,
            error_option: None,
            problems: Vec::new(),
            dropped: 0,
            refused: false,
            over: false,
            values: Values::default(),
        }
    }

    /// The callback table for this context. The pointer inside is valid while `self` is.
    pub fn host(&mut self) -> HostV2 {
        HostV2 {
            struct_size: std::mem::size_of::<HostV2>(),
            ctx: (self as *mut CallCtx<'a>).cast::<c_void>(),
            region_value: Some(region_value),
            table_row: Some(table_row),
            log: Some(log),
            read_memory: Some(read_memory),
            error: Some(error),
            error_option: Some(error_option),
            open: Some(open),
        }
    }

    fn problem(&mut self, stage: &'static str, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push((stage, message));
        } else {
            self.dropped += 1;
        }
    }

    fn refuse(&mut self, code: u32, message: String) -> u32 {
        self.refused = true;
        self.problem(self.stage, format!("value refused: {message}"));
        code
    }

    fn my_columns(&self) -> &'a [ColumnSchema] {
        &self.schema.analyzers[self.analyzer].region_columns
    }
}

/// Reads a plugin's string for a message.
///
/// # Safety
/// `s` must be null or point to `len` bytes valid for the current call.
unsafe fn message(s: StrV2) -> String {
    // SAFETY: the caller's guarantee.
    let bytes = unsafe { s.as_bytes() }.unwrap_or(&[]);
    let bytes = &bytes[..bytes.len().min(MAX_MESSAGE)];
    String::from_utf8_lossy(bytes).into_owned()
}

/// Why a value was refused.
enum Refusal {
    /// Not what the column declared.
    Type(String),
    /// The call's output budget is spent.
    Budget(OverBudget),
}

impl From<OverBudget> for Refusal {
    fn from(e: OverBudget) -> Refusal {
        Refusal::Budget(e)
    }
}

impl CallCtx<'_> {
    /// Refuses a value for `r`, in `context` (the column or table).
    fn refuse_value(&mut self, context: String, r: Refusal) -> u32 {
        match r {
            Refusal::Type(m) => self.refuse(status::BAD_TYPE, format!("{context}: {m}")),
            Refusal::Budget(e) => self.over_budget(e),
        }
    }

    /// Refuses a value because the call's output passed its budget (said once per call).
    fn over_budget(&mut self, e: OverBudget) -> u32 {
        self.refused = true;
        if !self.over {
            self.over = true;
            self.problem(
                self.stage,
                format!(
                    "output refused: this call emitted more than vmpipe's budget of {} bytes for one analyzer call; later values were dropped",
                    e.limit
                ),
            );
        }
        status::OVER_BUDGET
    }
}

/// Copies a cell the plugin emitted, checking it against the column's type.
///
/// # Safety
/// The cell's bytes must be valid for the current call.
unsafe fn cell(c: &CellV2, ty: ColumnType, values: &mut Values) -> Result<Cell, Refusal> {
    let got = ColumnType::from_code(c.kind);
    if c.kind == abi::kind::ABSENT {
        return Ok(Cell::Absent);
    }
    if got != Some(ty) {
        return Err(Refusal::Type(format!(
            "a {} value for a {} column",
            got.map_or("unknown", ColumnType::as_str),
            ty.as_str()
        )));
    }
    Ok(match ty {
        ColumnType::U64 => Cell::U64(c.int),
        ColumnType::I64 => Cell::I64(c.int as i64),
        ColumnType::F64 => Cell::F64(c.float),
        ColumnType::Bool => Cell::Bool(c.int != 0),
        ColumnType::Address => Cell::Address(c.int),
        ColumnType::Text | ColumnType::Bytes => {
            if c.bytes.len > MAX_CELL_BYTES {
                return Err(Refusal::Type(format!(
                    "a value of {} bytes (at most {MAX_CELL_BYTES})",
                    c.bytes.len
                )));
            }
            // SAFETY: the caller's guarantee.
            let b = unsafe { c.bytes.as_bytes() }.unwrap_or(&[]);
            let Values {
                texts,
                bytes,
                budget,
            } = values;
            if ty == ColumnType::Text {
                match std::str::from_utf8(b) {
                    Ok(s) => Cell::Text(texts.get(s, s.len(), budget, |v| Arc::from(v))?),
                    Err(_) => {
                        return Err(Refusal::Type(
                            "text that is not UTF-8 (use a bytes column)".into(),
                        ));
                    }
                }
            } else {
                Cell::Bytes(bytes.get(b, b.len(), budget, |v| Arc::from(v))?)
            }
        }
    })
}

/// # Safety
/// `ctx` must be the `CallCtx` of the current call (the ABI's rule for plugins).
unsafe fn ctx<'x>(ctx: *mut c_void) -> &'x mut CallCtx<'x> {
    // SAFETY: the caller's guarantee; the context outlives the call.
    unsafe { &mut *ctx.cast::<CallCtx<'x>>() }
}

unsafe extern "C" fn region_value(
    c: *mut c_void,
    region: usize,
    column: u32,
    value: *const CellV2,
    cell_size: usize,
) -> u32 {
    // SAFETY: the plugin passes back the ctx of this call.
    let c = unsafe { ctx(c) };
    if cell_size < CellV2::MIN_SIZE {
        return c.refuse(
            status::BAD_SIZE,
            format!(
                "a cell of {cell_size} bytes, smaller than ABI 2.0's {}",
                CellV2::MIN_SIZE
            ),
        );
    }
    let columns = c.my_columns();
    let Some(col) = columns.get(column as usize) else {
        let n = columns.len();
        return c.refuse(
            status::BAD_COLUMN,
            format!("region column {column} does not exist (it declares {n})"),
        );
    };
    if value.is_null() {
        return c.refuse(status::BAD_TYPE, "a null cell".into());
    }
    // SAFETY: the plugin passes a cell of `cell_size` bytes valid for this call.
    let Some(raw) = (unsafe { abi::read_element(value, 0, cell_size) }) else {
        return status::BAD_SIZE;
    };
    // SAFETY: the cell's bytes are valid for this call.
    let v = match unsafe { cell(&raw, col.ty, &mut c.values) } {
        Ok(v) => v,
        Err(r) => return c.refuse_value(format!("column `{}`", col.name), r),
    };
    let global = c.col_offset + column as usize;
    let Some(analysis) = c.analysis.as_deref_mut() else {
        return c.refuse(
            status::NOT_NOW,
            "region values can only be set while analyzing a process".into(),
        );
    };
    let regions = analysis.regions;
    if analysis.set(region, global, v) {
        status::OK
    } else {
        c.refuse(
            status::BAD_REGION,
            format!("region index {region} out of range (the process has {regions})"),
        )
    }
}

unsafe extern "C" fn table_row(
    c: *mut c_void,
    table: u32,
    cells: *const CellV2,
    len: usize,
    cell_size: usize,
) -> u32 {
    // SAFETY: the plugin passes back the ctx of this call.
    let c = unsafe { ctx(c) };
    if len > 0 && cell_size < CellV2::MIN_SIZE {
        return c.refuse(
            status::BAD_SIZE,
            format!(
                "cells of {cell_size} bytes, smaller than ABI 2.0's {}",
                CellV2::MIN_SIZE
            ),
        );
    }
    let tables = &c.schema.analyzers[c.analyzer].tables;
    let Some(t) = tables.get(table as usize) else {
        let n = tables.len();
        return c.refuse(
            status::BAD_TABLE,
            format!("table {table} does not exist (it declares {n})"),
        );
    };
    let in_finish = c.run_rows.is_some();
    match (t.scope, in_finish) {
        (Scope::Process, true) => {
            return c.refuse(
                status::BAD_TABLE,
                format!(
                    "table `{}` holds per-process rows: emit them while analyzing a process",
                    t.name
                ),
            );
        }
        (Scope::Run, false) => {
            return c.refuse(
                status::BAD_TABLE,
                format!(
                    "table `{}` holds run-wide rows: emit them in finish",
                    t.name
                ),
            );
        }
        _ => {}
    }
    if len != t.columns.len() || (len > 0 && cells.is_null()) {
        return c.refuse(
            status::BAD_ARITY,
            format!(
                "table `{}` has {} columns, the row has {len} cells",
                t.name,
                t.columns.len()
            ),
        );
    }
    let row_cost = std::mem::size_of::<TableRow>() + len * std::mem::size_of::<Cell>();
    if let Err(e) = c.values.budget.charge(row_cost) {
        return c.over_budget(e);
    }
    let mut out = Vec::with_capacity(len);
    for (i, col) in t.columns.iter().enumerate() {
        // SAFETY: the plugin passes `len` cells `cell_size` bytes apart, valid for this call
        // (checked non-null above, and `cell_size` at least 2.0's).
        let Some(cv) = (unsafe { abi::read_element(cells, i, cell_size) }) else {
            return status::BAD_SIZE;
        };
        // SAFETY: each cell's bytes are valid for this call.
        match unsafe { cell(&cv, col.ty, &mut c.values) } {
            Ok(v) => out.push(v),
            Err(r) => {
                return c.refuse_value(format!("table `{}` column `{}`", t.name, col.name), r);
            }
        }
    }
    let row = TableRow {
        table: c.table_offset + table as usize,
        cells: out,
    };
    if let Some(rows) = c.run_rows.as_deref_mut() {
        rows.push(row);
    } else if let Some(a) = c.analysis.as_deref_mut() {
        a.rows.push(row);
    } else {
        return c.refuse(
            status::NOT_NOW,
            "rows cannot be emitted while the analyzer is created".into(),
        );
    }
    status::OK
}

unsafe extern "C" fn log(c: *mut c_void, level: u32, msg: StrV2) {
    // SAFETY: the plugin passes back the ctx of this call, and a message valid for it.
    let (c, msg) = unsafe { (ctx(c), message(msg)) };
    if level == abi::level::WARN {
        c.problem("warning", msg);
    } else if std::env::var_os("VMPIPE_PLUGIN_DEBUG").is_some() {
        let name = &c.schema.analyzers[c.analyzer].name;
        eprintln!(
            "vmpipe: analyzer \"{name}\" ({}): {}",
            c.stage,
            crate::model::escape::display(msg.as_bytes())
        );
    }
}

unsafe extern "C" fn read_memory(
    c: *mut c_void,
    address: u64,
    buf: *mut u8,
    len: usize,
    read: *mut usize,
) -> u32 {
    // SAFETY: the plugin passes back the ctx of this call.
    let c = unsafe { ctx(c) };
    if !read.is_null() {
        // SAFETY: `read` points to a usize of the plugin's, valid for this call.
        unsafe { *read = 0 };
    }
    let Some(memory) = c.memory.as_deref_mut() else {
        return status::MEMORY_UNAVAILABLE;
    };
    if len == 0 {
        return status::OK;
    }
    if buf.is_null() || read.is_null() || len > MAX_READ {
        return status::BAD_READ;
    }
    // SAFETY: the plugin passes a buffer of `len` writable bytes, valid for this call.
    let out = unsafe { std::slice::from_raw_parts_mut(buf, len) };
    match memory.read(address, out) {
        Ok(n) => {
            // SAFETY: as above.
            unsafe { *read = n };
            status::OK
        }
        Err(MemoryError::Denied) => status::MEMORY_DENIED,
        Err(MemoryError::Fault) => status::MEMORY_FAULT,
        Err(e) => memory_status(e),
    }
}

fn memory_status(e: MemoryError) -> u32 {
    match e {
        MemoryError::Denied => status::MEMORY_DENIED,
        MemoryError::Fault => status::MEMORY_FAULT,
        MemoryError::Vanished => status::MEMORY_VANISHED,
        MemoryError::Replaced => status::PROCESS_REPLACED,
        MemoryError::Unavailable => status::MEMORY_UNAVAILABLE,
        MemoryError::Other => status::ERROR,
    }
}

/// Longest path an analyzer may ask to open.
const MAX_OPEN_PATH: usize = 4096;

unsafe extern "C" fn open(
    c: *mut c_void,
    what: u32,
    start: u64,
    end: u64,
    path: StrV2,
    fd: *mut i32,
) -> u32 {
    use std::os::fd::IntoRawFd;
    // SAFETY: the plugin passes back the ctx of this call.
    let c = unsafe { ctx(c) };
    if fd.is_null() {
        return status::ERROR;
    }
    // SAFETY: `fd` points to an i32 of the plugin's, valid for this call.
    unsafe { *fd = -1 };
    let Some(memory) = c.memory.as_deref_mut() else {
        return status::MEMORY_UNAVAILABLE;
    };
    if path.len > MAX_OPEN_PATH {
        return status::ERROR;
    }
    // SAFETY: the plugin passes a path valid for this call.
    let p = unsafe { path.as_bytes() }.unwrap_or(&[]);
    match memory.open(what, start, end, p) {
        Ok(owned) => {
            // SAFETY: as above; the plugin owns the descriptor from here on.
            unsafe { *fd = owned.into_raw_fd() };
            status::OK
        }
        Err(e) => memory_status(e),
    }
}

unsafe extern "C" fn error(c: *mut c_void, msg: StrV2) {
    // SAFETY: the plugin passes back the ctx of this call, and a message valid for it.
    let (c, msg) = unsafe { (ctx(c), message(msg)) };
    c.error = Some(msg);
}

unsafe extern "C" fn error_option(c: *mut c_void, key: StrV2) {
    // SAFETY: the plugin passes back the ctx of this call, and a key valid for it.
    let (c, key) = unsafe { (ctx(c), message(key)) };
    c.error_option = Some(key);
}
