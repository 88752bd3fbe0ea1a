//! Reading a target process's memory, for analyzers (live sources only).

use std::fmt;

/// Why memory could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// Access was refused.
    Denied,
    /// The address is not mapped in the process.
    Fault,
    /// The process is gone.
    Vanished,
    /// Another process holds the pid now (its start time differs from the collected one).
    Replaced,
    /// The source has no such thing to give (evidence has no files of its processes).
    Unavailable,
    /// Another OS error.
    Other,
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MemoryError::Denied => "access refused",
            MemoryError::Fault => "address not mapped",
            MemoryError::Vanished => "process gone",
            MemoryError::Replaced => "process replaced under its pid since it was collected",
            MemoryError::Unavailable => "not available from this source",
            MemoryError::Other => "read failed",
        })
    }
}

/// Reads one process's memory.
pub trait MemoryAccess: Send {
    /// Reads up to `buf.len()` bytes at `address`; returns how many were read (fewer when the
    /// range runs into an unmapped page). An error only when nothing could be read.
    fn read(&mut self, address: u64, buf: &mut [u8]) -> Result<usize, MemoryError>;

    /// Opens a file of the process for an analyzer, through the handle the source holds on it
    /// (see `vmpipe_plugin::abi::open_what` for `what`); evidence has none.
    fn open(
        &mut self,
        what: u32,
        start: u64,
        end: u64,
        path: &[u8],
    ) -> Result<std::os::fd::OwnedFd, MemoryError> {
        let _ = (what, start, end, path);
        Err(MemoryError::Unavailable)
    }
}
