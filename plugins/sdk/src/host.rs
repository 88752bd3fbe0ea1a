//! The host's services during one call: emit region values and table rows, log, read the
//! target's memory.

// An FFI module: the workspace denies unsafe code everywhere else.
#![allow(unsafe_code)]

use std::fmt;

use crate::abi::{self, CellV2, HostV2, StrV2};
use crate::schema::{ColumnKind, RegionColumn, Table};

/// One value to emit. Its type must match the column's declared [`crate::ColumnType`];
/// `Absent` fits every column.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// No value (an empty cell).
    Absent,
    /// Unsigned integer.
    U64(u64),
    /// Signed integer.
    I64(i64),
    /// Float.
    F64(f64),
    /// Boolean.
    Bool(bool),
    /// UTF-8 text.
    Text(&'a str),
    /// Raw bytes.
    Bytes(&'a [u8]),
    /// An address.
    Address(u64),
}

impl Value<'_> {
    pub(crate) fn cell(&self) -> CellV2 {
        let mut c = CellV2 {
            kind: abi::kind::ABSENT,
            int: 0,
            float: 0.0,
            bytes: StrV2::ABSENT,
        };
        match *self {
            Value::Absent => {}
            Value::U64(v) => (c.kind, c.int) = (abi::kind::U64, v),
            Value::I64(v) => (c.kind, c.int) = (abi::kind::I64, v as u64),
            Value::F64(v) => (c.kind, c.float) = (abi::kind::F64, v),
            Value::Bool(v) => (c.kind, c.int) = (abi::kind::BOOL, u64::from(v)),
            Value::Text(s) => (c.kind, c.bytes) = (abi::kind::TEXT, StrV2::new(s.as_bytes())),
            Value::Bytes(b) => (c.kind, c.bytes) = (abi::kind::BYTES, StrV2::new(b)),
            Value::Address(v) => (c.kind, c.int) = (abi::kind::ADDRESS, v),
        }
        c
    }
}

/// The value a cell holds (for cells the host lends: other analyzers' values).
///
/// # Safety
/// The cell's bytes must be valid for `'a`.
pub(crate) unsafe fn value_of<'a>(c: &CellV2) -> Value<'a> {
    // SAFETY: the caller's guarantee.
    let bytes = || unsafe { c.bytes.as_bytes() }.unwrap_or(&[]);
    match c.kind {
        abi::kind::U64 => Value::U64(c.int),
        abi::kind::I64 => Value::I64(c.int as i64),
        abi::kind::F64 => Value::F64(c.float),
        abi::kind::BOOL => Value::Bool(c.int != 0),
        abi::kind::ADDRESS => Value::Address(c.int),
        abi::kind::TEXT => std::str::from_utf8(bytes()).map_or(Value::Absent, Value::Text),
        abi::kind::BYTES => Value::Bytes(bytes()),
        _ => Value::Absent,
    }
}

impl From<u64> for Value<'_> {
    fn from(v: u64) -> Self {
        Value::U64(v)
    }
}
impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::I64(v)
    }
}
impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}
impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(v)
    }
}
impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(v)
    }
}
impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(v: &'a [u8]) -> Self {
        Value::Bytes(v)
    }
}
impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Absent, Into::into)
    }
}

/// The host refused an emitted value or row. The host has recorded why (one error row), so
/// returning this error from `analyze` or `finish` with `?` stops the call without a second
/// row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmitError(pub u32);

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.0 {
            abi::status::BAD_COLUMN => "no such region column",
            abi::status::BAD_TYPE => "value type differs from the column's type",
            abi::status::BAD_REGION => "region index out of range",
            abi::status::BAD_TABLE => "no such table (or a table of the other scope)",
            abi::status::BAD_ARITY => "wrong number of cells for the table",
            abi::status::NOT_NOW => "not possible in this call",
            abi::status::OVER_BUDGET => "the call's output budget is spent",
            abi::status::BAD_SIZE => "the host refused the cell's size",
            _ => "refused",
        };
        write!(f, "the host refused the value: {what} (status {})", self.0)
    }
}

impl std::error::Error for EmitError {}

/// Why target memory could not be read or a file of the process opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// The source has no memory (a capture or a report), or the host is too old to offer it.
    Unavailable,
    /// Access was refused.
    Denied,
    /// The range is not mapped in the process.
    Fault,
    /// The process is gone.
    Vanished,
    /// Another process holds the pid now: what was collected cannot be read any more.
    Replaced,
    /// The read was larger than [`abi::MAX_READ`].
    TooLarge,
    /// Another status code.
    Other(u32),
}

impl MemoryError {
    fn from_status(st: u32) -> MemoryError {
        match st {
            abi::status::MEMORY_UNAVAILABLE => MemoryError::Unavailable,
            abi::status::MEMORY_DENIED => MemoryError::Denied,
            abi::status::MEMORY_FAULT => MemoryError::Fault,
            abi::status::MEMORY_VANISHED => MemoryError::Vanished,
            abi::status::PROCESS_REPLACED => MemoryError::Replaced,
            abi::status::BAD_READ => MemoryError::TooLarge,
            other => MemoryError::Other(other),
        }
    }
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryError::Unavailable => f.write_str("this source has no process memory"),
            MemoryError::Denied => f.write_str("reading process memory was refused"),
            MemoryError::Fault => f.write_str("address not mapped in the process"),
            MemoryError::Vanished => f.write_str("the process is gone"),
            MemoryError::Replaced => {
                f.write_str("the process was replaced under its pid since it was collected")
            }
            MemoryError::TooLarge => write!(f, "a read of more than {} bytes", abi::MAX_READ),
            MemoryError::Other(s) => write!(f, "memory read failed (status {s})"),
        }
    }
}

impl std::error::Error for MemoryError {}

/// The host, for the duration of one call.
pub struct Host<'a> {
    raw: HostV2,
    call: std::marker::PhantomData<&'a HostV2>,
}

impl<'a> Host<'a> {
    /// Wraps the host's table, reading only what its `struct_size` covers (a callback the
    /// host does not have is absent). `None` when the table is smaller than ABI 2.0's.
    ///
    /// # Safety
    /// `raw` must be the host table of the current call, with valid callbacks and
    /// `struct_size` readable bytes.
    pub unsafe fn new(raw: *const HostV2) -> Option<Host<'a>> {
        if raw.is_null() {
            return None;
        }
        // SAFETY: `struct_size` is the first field of every version; the caller guarantees the
        // table is readable.
        let size = unsafe { raw.cast::<usize>().read_unaligned() };
        // SAFETY: as above; `size` bytes are readable.
        let raw = unsafe { abi::read_element(raw, 0, size) }?;
        Some(Host {
            raw,
            call: std::marker::PhantomData,
        })
    }

    fn status(st: u32) -> Result<(), EmitError> {
        if st == abi::status::OK {
            Ok(())
        } else {
            Err(EmitError(st))
        }
    }

    /// Sets `column` of region `region` (its index in this call's regions). The value's type
    /// is the column's (checked when compiling); `None` leaves the cell empty.
    pub fn set<'v, K: ColumnKind>(
        &mut self,
        region: usize,
        column: RegionColumn<K>,
        value: impl Into<Option<K::Value<'v>>>,
    ) -> Result<(), EmitError> {
        let value = value.into().map_or(Value::Absent, K::value);
        self.set_value(region, column.index() as usize, value)
    }

    /// Sets region column number `column` from an untyped value (the host checks its type).
    /// Prefer [`Host::set`] with a [`RegionColumn`].
    pub fn set_value(
        &mut self,
        region: usize,
        column: usize,
        value: Value<'_>,
    ) -> Result<(), EmitError> {
        let cell = value.cell();
        let column = u32::try_from(column).map_err(|_| EmitError(abi::status::BAD_COLUMN))?;
        let f = self
            .raw
            .region_value
            .ok_or(EmitError(abi::status::NOT_NOW))?;
        // SAFETY: the callback and ctx come from the host for this call; `cell` lives across it.
        let st = unsafe { f(self.raw.ctx, region, column, &cell, size_of::<CellV2>()) };
        Self::status(st)
    }

    /// Appends a row to `table`: exactly one value per declared column (checked when
    /// compiling). For a [`crate::Scope::Process`] table vmpipe adds `pid` and `process`.
    pub fn row<const N: usize>(
        &mut self,
        table: Table<N>,
        cells: [Value<'_>; N],
    ) -> Result<(), EmitError> {
        let raw: [CellV2; N] = cells.map(|v| v.cell());
        self.raw_row(table.index(), &raw)
    }

    /// Appends a row to table number `table` from untyped values (the host checks the count
    /// and the types). Prefer [`Host::row`] with a [`Table`].
    pub fn row_values(&mut self, table: usize, cells: &[Value<'_>]) -> Result<(), EmitError> {
        let raw: Vec<CellV2> = cells.iter().map(Value::cell).collect();
        let table = u32::try_from(table).map_err(|_| EmitError(abi::status::BAD_TABLE))?;
        self.raw_row(table, &raw)
    }

    fn raw_row(&mut self, table: u32, raw: &[CellV2]) -> Result<(), EmitError> {
        let f = self.raw.table_row.ok_or(EmitError(abi::status::NOT_NOW))?;
        // SAFETY: as in `set_value`; `raw` lives across the call.
        let st = unsafe {
            f(
                self.raw.ctx,
                table,
                raw.as_ptr(),
                raw.len(),
                size_of::<CellV2>(),
            )
        };
        Self::status(st)
    }

    fn log(&self, level: u32, message: &str) {
        if let Some(f) = self.raw.log {
            // SAFETY: as in `set_value`; `message` lives across the call.
            unsafe { f(self.raw.ctx, level, StrV2::new(message.as_bytes())) }
        }
    }

    /// Logs a warning the user will see (a row of `errors.csv` with stage `warning`).
    pub fn warn(&self, message: &str) {
        self.log(abi::level::WARN, message);
    }

    /// Logs detail for debugging (shown only with `VMPIPE_PLUGIN_DEBUG` set).
    pub fn info(&self, message: &str) {
        self.log(abi::level::INFO, message);
    }

    /// Reads the target process's memory at `address` into `buf`; returns the number of bytes
    /// read (fewer than asked when the range runs into an unmapped page). At most
    /// [`abi::MAX_READ`] bytes per call.
    pub fn read_memory(&self, address: u64, buf: &mut [u8]) -> Result<usize, MemoryError> {
        let f = self.raw.read_memory.ok_or(MemoryError::Unavailable)?;
        let mut read = 0usize;
        // SAFETY: as in `set_value`; `buf` is valid for `buf.len()` bytes and `read` for one
        // usize.
        let st = unsafe {
            f(
                self.raw.ctx,
                address,
                buf.as_mut_ptr(),
                buf.len(),
                &mut read,
            )
        };
        match st {
            abi::status::OK => Ok(read.min(buf.len())),
            other => Err(MemoryError::from_status(other)),
        }
    }

    /// Opens a file of the process through the `/proc/PID` directory the host opened when it
    /// collected it (see [`crate::abi::open_what`]): `start`/`end` name a mapping for
    /// `MAPPED`, `path` a path for `IN_ROOT`, `IN_ROOT_STAT` and `PROC_STAT`.
    pub fn open(
        &self,
        what: u32,
        start: u64,
        end: u64,
        path: &[u8],
    ) -> Result<std::fs::File, MemoryError> {
        use std::os::fd::FromRawFd;
        let f = self.raw.open.ok_or(MemoryError::Unavailable)?;
        let mut fd: i32 = -1;
        // SAFETY: as in `set_value`; `path` and `fd` live across the call.
        let st = unsafe { f(self.raw.ctx, what, start, end, StrV2::new(path), &mut fd) };
        match st {
            abi::status::OK if fd >= 0 => {
                // SAFETY: on success the host gives us a descriptor it no longer uses.
                Ok(unsafe { std::fs::File::from_raw_fd(fd) })
            }
            abi::status::OK => Err(MemoryError::Other(abi::status::ERROR)),
            other => Err(MemoryError::from_status(other)),
        }
    }

    /// Gives the host the message for a failing status (used by the export glue).
    pub(crate) fn error(&self, message: &str) {
        if let Some(f) = self.raw.error {
            // SAFETY: as in `warn`.
            unsafe { f(self.raw.ctx, StrV2::new(message.as_bytes())) }
        }
    }

    /// Tells the host which option a failing `create` is about (used by the export glue).
    pub(crate) fn error_option(&self, key: &str) {
        if let Some(f) = self.raw.error_option {
            // SAFETY: as in `warn`.
            unsafe { f(self.raw.ctx, StrV2::new(key.as_bytes())) }
        }
    }
}
