//! The harness's side of the ABI: a [`HostV2`] whose callbacks check every value against what
//! the plugin declared, as vmpipe's host does, and keep what it emitted.

// An FFI module: the workspace denies unsafe code everywhere else.
#![allow(unsafe_code)]

use std::ffi::c_void;

use super::fixture::Fixture;
use super::harness::Declared;
use super::value::OwnedValue;
use super::{Problem, Stage};
use crate::abi::{self, AbiStruct, CellV2, HostV2, StrV2, open_what, status};
use crate::{ColumnType, Scope};

/// Longest text or byte value accepted in one cell (vmpipe's limit).
const MAX_CELL_BYTES: usize = 1 << 20;

/// What one call may do and what it produced. Lives on the stack for one call; the plugin
/// gets a pointer to it as the opaque `ctx`.
pub(crate) struct CallCtx<'a> {
    pub stage: Stage,
    pub declared: &'a Declared,
    /// `analyze` only: the process.
    pub fixture: Option<&'a Fixture>,
    /// Region values, column-major: `columns[c][region]`.
    pub columns: Vec<Vec<OwnedValue>>,
    /// Rows, per table.
    pub rows: Vec<Vec<Vec<OwnedValue>>>,
    pub error: Option<String>,
    pub error_option: Option<String>,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    pub refusals: Vec<Problem>,
}

impl<'a> CallCtx<'a> {
    pub fn new(stage: Stage, declared: &'a Declared, fixture: Option<&'a Fixture>) -> CallCtx<'a> {
        let regions = fixture.map_or(0, |f| f.regions.len());
        CallCtx {
            stage,
            declared,
            fixture,
            columns: vec![vec![OwnedValue::Absent; regions]; declared.columns.len()],
            rows: vec![Vec::new(); declared.tables.len()],
            error: None,
            error_option: None,
            warnings: Vec::new(),
            infos: Vec::new(),
            refusals: Vec::new(),
        }
    }

    /// The callback table; valid while `self` is.
    pub fn host(&mut self) -> HostV2 {
        HostV2 {
            struct_size: size_of::<HostV2>(),
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

    fn refuse(&mut self, code: u32, message: String) -> u32 {
        self.refusals.push(Problem {
            stage: self.stage,
            message: format!("value refused: {message}"),
            option: None,
            panicked: false,
            status: code,
        });
        code
    }
}

/// # Safety
/// `ctx` must be the `CallCtx` of the current call.
unsafe fn ctx<'x>(ctx: *mut c_void) -> &'x mut CallCtx<'x> {
    // SAFETY: the caller's guarantee; the context outlives the call.
    unsafe { &mut *ctx.cast::<CallCtx<'x>>() }
}

/// # Safety
/// `s` must be null or point to `len` bytes valid for the call.
unsafe fn text(s: StrV2) -> String {
    // SAFETY: the caller's guarantee.
    String::from_utf8_lossy(unsafe { s.as_bytes() }.unwrap_or(&[])).into_owned()
}

/// Copies a cell, checking it against the column's type.
///
/// # Safety
/// The cell's bytes must be valid for the call.
unsafe fn owned(c: &CellV2, ty: ColumnType) -> Result<OwnedValue, String> {
    if c.kind == abi::kind::ABSENT {
        return Ok(OwnedValue::Absent);
    }
    let got = ColumnType::from_code(c.kind);
    if got != Some(ty) {
        return Err(format!(
            "a {} value for a {} column",
            got.map_or("unknown", ColumnType::as_str),
            ty.as_str()
        ));
    }
    Ok(match ty {
        ColumnType::U64 => OwnedValue::U64(c.int),
        ColumnType::I64 => OwnedValue::I64(c.int as i64),
        ColumnType::F64 => OwnedValue::F64(c.float),
        ColumnType::Bool => OwnedValue::Bool(c.int != 0),
        ColumnType::Address => OwnedValue::Address(c.int),
        ColumnType::Text | ColumnType::Bytes => {
            if c.bytes.len > MAX_CELL_BYTES {
                return Err(format!(
                    "a value of {} bytes (at most {MAX_CELL_BYTES})",
                    c.bytes.len
                ));
            }
            // SAFETY: the caller's guarantee.
            let b = unsafe { c.bytes.as_bytes() }.unwrap_or(&[]);
            if ty == ColumnType::Bytes {
                OwnedValue::Bytes(b.to_vec())
            } else {
                match std::str::from_utf8(b) {
                    Ok(s) => OwnedValue::Text(s.to_string()),
                    Err(_) => return Err("text that is not UTF-8 (use a bytes column)".into()),
                }
            }
        }
    })
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
    let declared = c.declared;
    let Some(col) = declared.columns.get(column as usize) else {
        let n = declared.columns.len();
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
    let v = match unsafe { owned(&raw, col.1) } {
        Ok(v) => v,
        Err(m) => return c.refuse(status::BAD_TYPE, format!("column `{}`: {m}", col.0)),
    };
    if c.stage != Stage::Analyze {
        return c.refuse(
            status::NOT_NOW,
            "region values can only be set while analyzing a process".into(),
        );
    }
    let regions = c.columns.get(column as usize).map_or(0, Vec::len);
    match c
        .columns
        .get_mut(column as usize)
        .and_then(|col| col.get_mut(region))
    {
        Some(slot) => {
            *slot = v;
            status::OK
        }
        None => c.refuse(
            status::BAD_REGION,
            format!("region index {region} out of range (the process has {regions})"),
        ),
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
    let declared = c.declared;
    let Some(t) = declared.tables.get(table as usize) else {
        let n = declared.tables.len();
        return c.refuse(
            status::BAD_TABLE,
            format!("table {table} does not exist (it declares {n})"),
        );
    };
    match (t.scope, c.stage) {
        (Scope::Process, Stage::Finish) => {
            return c.refuse(
                status::BAD_TABLE,
                format!(
                    "table `{}` holds per-process rows: emit them while analyzing a process",
                    t.name
                ),
            );
        }
        (Scope::Run, Stage::Analyze) => {
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
    let mut row = Vec::with_capacity(len);
    for (i, (name, ty)) in t.columns.iter().enumerate() {
        // SAFETY: the plugin passes `len` cells `cell_size` bytes apart, valid for this call.
        let Some(raw) = (unsafe { abi::read_element(cells, i, cell_size) }) else {
            return status::BAD_SIZE;
        };
        // SAFETY: the cell's bytes are valid for this call.
        match unsafe { owned(&raw, *ty) } {
            Ok(v) => row.push(v),
            Err(m) => {
                return c.refuse(
                    status::BAD_TYPE,
                    format!("table `{}` column `{name}`: {m}", t.name),
                );
            }
        }
    }
    if c.stage == Stage::Create {
        return c.refuse(
            status::NOT_NOW,
            "rows cannot be emitted while the analyzer is created".into(),
        );
    }
    if let Some(rows) = c.rows.get_mut(table as usize) {
        rows.push(row);
    }
    status::OK
}

unsafe extern "C" fn log(c: *mut c_void, level: u32, msg: StrV2) {
    // SAFETY: the plugin passes back the ctx of this call, and a message valid for it.
    let (c, msg) = unsafe { (ctx(c), text(msg)) };
    if level == abi::level::WARN {
        c.warnings.push(msg);
    } else {
        c.infos.push(msg);
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
    let Some(fixture) = c.fixture.filter(|f| f.memory.is_some()) else {
        return status::MEMORY_UNAVAILABLE;
    };
    if len == 0 {
        return status::OK;
    }
    if buf.is_null() || read.is_null() || len > abi::MAX_READ {
        return status::BAD_READ;
    }
    // SAFETY: the plugin passes a buffer of `len` writable bytes, valid for this call.
    let out = unsafe { std::slice::from_raw_parts_mut(buf, len) };
    match fixture.read(address, out) {
        Ok(n) => {
            // SAFETY: as above.
            unsafe { *read = n };
            status::OK
        }
        Err(st) => st,
    }
}

/// Opens a regular file (or, when `dirs`, a directory) of this machine.
fn open_here(path: &std::path::Path, dirs: bool) -> Result<std::fs::File, u32> {
    let code = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::PermissionDenied => status::MEMORY_DENIED,
        _ => status::ERROR,
    };
    let meta = std::fs::metadata(path).map_err(code)?;
    if !(meta.is_file() || dirs && meta.is_dir()) {
        return Err(status::ERROR);
    }
    std::fs::File::open(path).map_err(code)
}

unsafe extern "C" fn open(
    c: *mut c_void,
    what: u32,
    start: u64,
    end: u64,
    path: StrV2,
    fd: *mut i32,
) -> u32 {
    use std::os::fd::IntoRawFd;
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: the plugin passes back the ctx of this call.
    let c = unsafe { ctx(c) };
    if fd.is_null() {
        return status::ERROR;
    }
    // SAFETY: `fd` points to an i32 of the plugin's, valid for this call.
    unsafe { *fd = -1 };
    let Some(fixture) = c.fixture.filter(|f| f.open_files) else {
        return status::MEMORY_UNAVAILABLE;
    };
    // SAFETY: the plugin passes a path valid for this call.
    let p = unsafe { path.as_bytes() }.unwrap_or(&[]);
    let os = |b: &[u8]| std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b));
    let opened = match what {
        open_what::MAPPED => {
            let region = fixture
                .regions
                .iter()
                .find(|r| r.start == start && r.end == end);
            match region.and_then(|r| r.path.as_deref()) {
                Some(p) if p.starts_with(b"/") => open_here(&os(p), false),
                _ => Err(status::MEMORY_FAULT),
            }
        }
        open_what::IN_ROOT => open_here(&os(p), false),
        open_what::IN_ROOT_STAT => open_here(&os(p), true),
        open_what::PROC_STAT => open_here(&std::path::Path::new("/proc/self").join(os(p)), true),
        _ => Err(status::MEMORY_UNAVAILABLE),
    };
    match opened {
        Ok(f) => {
            // SAFETY: as above; the plugin owns the descriptor from here on.
            unsafe { *fd = f.into_raw_fd() };
            status::OK
        }
        Err(st) => st,
    }
}

unsafe extern "C" fn error(c: *mut c_void, msg: StrV2) {
    // SAFETY: the plugin passes back the ctx of this call, and a message valid for it.
    let (c, msg) = unsafe { (ctx(c), text(msg)) };
    c.error = Some(msg);
}

unsafe extern "C" fn error_option(c: *mut c_void, key: StrV2) {
    // SAFETY: the plugin passes back the ctx of this call, and a key valid for it.
    let (c, key) = unsafe { (ctx(c), text(key)) };
    c.error_option = Some(key);
}
