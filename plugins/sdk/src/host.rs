//! The host's services during one call: emit region values and table rows, log, read the
//! target's memory.

use std::fmt;

use crate::abi::{self, CellV1, HostV1, StrV1};

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
    fn cell(&self) -> CellV1 {
        let mut c = CellV1 {
            kind: abi::kind::ABSENT,
            int: 0,
            float: 0.0,
            bytes: StrV1::ABSENT,
        };
        match *self {
            Value::Absent => {}
            Value::U64(v) => (c.kind, c.int) = (abi::kind::U64, v),
            Value::I64(v) => (c.kind, c.int) = (abi::kind::I64, v as u64),
            Value::F64(v) => (c.kind, c.float) = (abi::kind::F64, v),
            Value::Bool(v) => (c.kind, c.int) = (abi::kind::BOOL, u64::from(v)),
            Value::Text(s) => (c.kind, c.bytes) = (abi::kind::TEXT, StrV1::new(s.as_bytes())),
            Value::Bytes(b) => (c.kind, c.bytes) = (abi::kind::BYTES, StrV1::new(b)),
            Value::Address(v) => (c.kind, c.int) = (abi::kind::ADDRESS, v),
        }
        c
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

/// The host refused an emitted value or row; the host also records it as an error row.
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
            _ => "refused",
        };
        write!(f, "the host refused the value: {what} (status {})", self.0)
    }
}

impl std::error::Error for EmitError {}

/// Why target memory could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// The source has no memory (a capture or a report).
    Unavailable,
    /// Access was refused.
    Denied,
    /// The range is not mapped in the process.
    Fault,
    /// The process is gone.
    Vanished,
    /// Another process holds the pid now: what was collected cannot be read any more.
    Replaced,
    /// Another status code.
    Other(u32),
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
            MemoryError::Other(s) => write!(f, "memory read failed (status {s})"),
        }
    }
}

impl std::error::Error for MemoryError {}

/// The host, for the duration of one call.
pub struct Host<'a> {
    raw: &'a HostV1,
}

impl<'a> Host<'a> {
    /// Wraps the host's table.
    ///
    /// # Safety
    /// `raw` must be the host table of the current call, with valid callbacks.
    pub unsafe fn new(raw: &'a HostV1) -> Host<'a> {
        Host { raw }
    }

    /// Sets region column `column` (index into the declared region columns) of region
    /// `region` (index into this call's regions).
    pub fn set<'v>(
        &mut self,
        region: usize,
        column: usize,
        value: impl Into<Value<'v>>,
    ) -> Result<(), EmitError> {
        let cell = value.into().cell();
        let column = u32::try_from(column).map_err(|_| EmitError(abi::status::BAD_COLUMN))?;
        // SAFETY: the callback and ctx come from the host for this call; `cell` lives across it.
        let st = unsafe { (self.raw.region_value)(self.raw.ctx, region, column, &cell) };
        if st == abi::status::OK {
            Ok(())
        } else {
            Err(EmitError(st))
        }
    }

    /// Appends a row to table `table` (index into the declared tables). For a
    /// [`crate::Scope::Process`] table, give the declared columns only: the host adds `pid` and
    /// `process`.
    pub fn row(&mut self, table: usize, cells: &[Value<'_>]) -> Result<(), EmitError> {
        let raw: Vec<CellV1> = cells.iter().map(Value::cell).collect();
        let table = u32::try_from(table).map_err(|_| EmitError(abi::status::BAD_TABLE))?;
        // SAFETY: as in `set`; `raw` lives across the call.
        let st = unsafe { (self.raw.table_row)(self.raw.ctx, table, raw.as_ptr(), raw.len()) };
        if st == abi::status::OK {
            Ok(())
        } else {
            Err(EmitError(st))
        }
    }

    /// Logs a warning the user will see.
    pub fn warn(&self, message: &str) {
        // SAFETY: as in `set`; `message` lives across the call.
        unsafe {
            (self.raw.log)(
                self.raw.ctx,
                abi::level::WARN,
                StrV1::new(message.as_bytes()),
            )
        }
    }

    /// Reads the target process's memory at `address` into `buf`; returns the number of bytes
    /// read (fewer than asked when the range runs into an unmapped page).
    pub fn read_memory(&self, address: u64, buf: &mut [u8]) -> Result<usize, MemoryError> {
        let mut read = 0usize;
        // SAFETY: as in `set`; `buf` is valid for `buf.len()` bytes and `read` for one usize.
        let st = unsafe {
            (self.raw.read_memory)(
                self.raw.ctx,
                address,
                buf.as_mut_ptr(),
                buf.len(),
                &mut read,
            )
        };
        match st {
            abi::status::OK => Ok(read.min(buf.len())),
            abi::status::MEMORY_UNAVAILABLE => Err(MemoryError::Unavailable),
            abi::status::MEMORY_DENIED => Err(MemoryError::Denied),
            abi::status::MEMORY_FAULT => Err(MemoryError::Fault),
            abi::status::MEMORY_VANISHED => Err(MemoryError::Vanished),
            other => Err(MemoryError::Other(other)),
        }
    }

    /// Opens a file of the process through the `/proc/PID` directory the host opened when it
    /// collected it (see [`crate::abi::open_what`]): `start`/`end` name a mapping for
    /// `MAPPED`, `path` a path for `IN_ROOT`, `IN_ROOT_STAT` and `PROC_STAT`. A host older
    /// than ABI 1.1 answers [`MemoryError::Unavailable`].
    pub fn open(
        &self,
        what: u32,
        start: u64,
        end: u64,
        path: &[u8],
    ) -> Result<std::fs::File, MemoryError> {
        use std::os::fd::FromRawFd;
        let has_open = self.raw.struct_size >= std::mem::size_of::<HostV1>();
        if !has_open {
            return Err(MemoryError::Unavailable);
        }
        let mut fd: i32 = -1;
        // SAFETY: as in `set`; the host table covers `open` (checked above); `path` and `fd`
        // live across the call.
        let st =
            unsafe { (self.raw.open)(self.raw.ctx, what, start, end, StrV1::new(path), &mut fd) };
        match st {
            abi::status::OK if fd >= 0 => {
                // SAFETY: on success the host gives us a descriptor it no longer uses.
                Ok(unsafe { std::fs::File::from_raw_fd(fd) })
            }
            abi::status::MEMORY_UNAVAILABLE => Err(MemoryError::Unavailable),
            abi::status::MEMORY_DENIED => Err(MemoryError::Denied),
            abi::status::MEMORY_FAULT => Err(MemoryError::Fault),
            abi::status::MEMORY_VANISHED => Err(MemoryError::Vanished),
            abi::status::PROCESS_REPLACED => Err(MemoryError::Replaced),
            other => Err(MemoryError::Other(other)),
        }
    }

    /// Gives the host the message for a failing status (used by the export glue).
    pub(crate) fn error(&self, message: &str) {
        // SAFETY: as in `warn`.
        unsafe { (self.raw.error)(self.raw.ctx, StrV1::new(message.as_bytes())) }
    }
}
