//! Mach return codes (`kern_return_t`, `<mach/kern_return.h>`, and the `mach_msg` codes a
//! dead task port gives): their names for messages, and what each means for a process being
//! read.

use std::fmt;

use crate::MemoryError;
use crate::model::ProcessStatus;

/// `KERN_SUCCESS`.
pub const KERN_SUCCESS: i32 = 0;
/// `KERN_INVALID_ADDRESS`: no region at or above the address (the end of a walk), or an
/// unmapped address.
pub const KERN_INVALID_ADDRESS: i32 = 1;
/// `KERN_PROTECTION_FAILURE`: the memory may not be read.
pub const KERN_PROTECTION_FAILURE: i32 = 2;
/// `KERN_INVALID_ARGUMENT`.
pub const KERN_INVALID_ARGUMENT: i32 = 4;
/// `KERN_FAILURE`: what `task_for_pid` answers when it refuses.
pub const KERN_FAILURE: i32 = 5;
/// `KERN_NO_ACCESS`.
pub const KERN_NO_ACCESS: i32 = 8;
/// `KERN_MEMORY_FAILURE`.
pub const KERN_MEMORY_FAILURE: i32 = 9;
/// `KERN_MEMORY_ERROR`.
pub const KERN_MEMORY_ERROR: i32 = 10;
/// `KERN_INVALID_NAME`: the port name is not a right of ours.
pub const KERN_INVALID_NAME: i32 = 15;
/// `KERN_INVALID_TASK`: the task is gone.
pub const KERN_INVALID_TASK: i32 = 16;
/// `KERN_INVALID_RIGHT`.
pub const KERN_INVALID_RIGHT: i32 = 17;
/// `KERN_TERMINATED`: the task has exited.
pub const KERN_TERMINATED: i32 = 37;
/// `KERN_NOT_SUPPORTED`.
pub const KERN_NOT_SUPPORTED: i32 = 46;
/// `KERN_DENIED`.
pub const KERN_DENIED: i32 = 53;
/// `MACH_SEND_INVALID_DEST`: the task port is dead (the process exited).
pub const MACH_SEND_INVALID_DEST: i32 = 0x1000_0003;

/// A `kern_return_t`, displayed with its name (`KERN_FAILURE (5)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernReturn(pub i32);

impl KernReturn {
    /// The constant's name, or `None` for a code this module does not name.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            KERN_SUCCESS => "KERN_SUCCESS",
            KERN_INVALID_ADDRESS => "KERN_INVALID_ADDRESS",
            KERN_PROTECTION_FAILURE => "KERN_PROTECTION_FAILURE",
            3 => "KERN_NO_SPACE",
            KERN_INVALID_ARGUMENT => "KERN_INVALID_ARGUMENT",
            KERN_FAILURE => "KERN_FAILURE",
            6 => "KERN_RESOURCE_SHORTAGE",
            KERN_NO_ACCESS => "KERN_NO_ACCESS",
            KERN_MEMORY_FAILURE => "KERN_MEMORY_FAILURE",
            KERN_MEMORY_ERROR => "KERN_MEMORY_ERROR",
            14 => "KERN_ABORTED",
            KERN_INVALID_NAME => "KERN_INVALID_NAME",
            KERN_INVALID_TASK => "KERN_INVALID_TASK",
            KERN_INVALID_RIGHT => "KERN_INVALID_RIGHT",
            18 => "KERN_INVALID_VALUE",
            KERN_TERMINATED => "KERN_TERMINATED",
            KERN_NOT_SUPPORTED => "KERN_NOT_SUPPORTED",
            KERN_DENIED => "KERN_DENIED",
            MACH_SEND_INVALID_DEST => "MACH_SEND_INVALID_DEST",
            _ => return None,
        })
    }

    /// True when the code says the task no longer exists.
    pub fn task_gone(self) -> bool {
        matches!(
            self.0,
            MACH_SEND_INVALID_DEST
                | KERN_INVALID_TASK
                | KERN_TERMINATED
                | KERN_INVALID_NAME
                | KERN_INVALID_RIGHT
        )
    }

    /// What a failed call on a process's task port means for the process: `vanished` when the
    /// task is gone, `partial` otherwise (the rest of what was read stands).
    pub fn status(self) -> ProcessStatus {
        if self.task_gone() {
            ProcessStatus::Vanished
        } else {
            ProcessStatus::Partial
        }
    }

    /// What a failed `mach_vm_read_overwrite` means for an analyzer's read.
    pub fn memory_error(self) -> MemoryError {
        match self.0 {
            KERN_INVALID_ADDRESS
            | KERN_PROTECTION_FAILURE
            | KERN_MEMORY_FAILURE
            | KERN_MEMORY_ERROR => MemoryError::Fault,
            KERN_NO_ACCESS | KERN_DENIED => MemoryError::Denied,
            _ if self.task_gone() => MemoryError::Vanished,
            _ => MemoryError::Other,
        }
    }
}

impl fmt::Display for KernReturn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "kern_return_t {:#x}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_print_with_their_names() {
        assert_eq!(KernReturn(5).to_string(), "KERN_FAILURE (5)");
        assert_eq!(
            KernReturn(MACH_SEND_INVALID_DEST).to_string(),
            "MACH_SEND_INVALID_DEST (268435459)"
        );
        assert_eq!(
            KernReturn(0x1234_5678).to_string(),
            "kern_return_t 0x12345678"
        );
    }

    #[test]
    fn dead_tasks_are_vanished_processes() {
        assert_eq!(
            KernReturn(MACH_SEND_INVALID_DEST).status(),
            ProcessStatus::Vanished
        );
        assert_eq!(
            KernReturn(KERN_TERMINATED).status(),
            ProcessStatus::Vanished
        );
        assert_eq!(KernReturn(KERN_FAILURE).status(), ProcessStatus::Partial);
        assert_eq!(
            KernReturn(KERN_INVALID_ADDRESS).memory_error(),
            MemoryError::Fault
        );
        assert_eq!(
            KernReturn(KERN_PROTECTION_FAILURE).memory_error(),
            MemoryError::Fault
        );
        assert_eq!(
            KernReturn(KERN_INVALID_TASK).memory_error(),
            MemoryError::Vanished
        );
        assert_eq!(KernReturn(KERN_DENIED).memory_error(), MemoryError::Denied);
        assert_eq!(KernReturn(KERN_FAILURE).memory_error(), MemoryError::Other);
    }
}
