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
    /// Another OS error.
    Other,
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MemoryError::Denied => "access refused",
            MemoryError::Fault => "address not mapped",
            MemoryError::Vanished => "process gone",
            MemoryError::Other => "read failed",
        })
    }
}

/// Reads one process's memory.
pub trait MemoryAccess: Send {
    /// Reads up to `buf.len()` bytes at `address`; returns how many were read (fewer when the
    /// range runs into an unmapped page). An error only when nothing could be read.
    fn read(&mut self, address: u64, buf: &mut [u8]) -> Result<usize, MemoryError>;
}
