//! Reading a live process's memory through `/proc/PID/mem`, opened through the same directory
//! handle the rest of the process was read through (so a reused pid cannot be read instead).
//!
//! Needs ptrace-attach access (root, or the same user with a permissive Yama setting). Reading
//! untouched anonymous memory maps the kernel's zero page, which is not counted in Rss.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::source::{MemoryAccess, MemoryError};

/// `/proc/PID/mem`, opened on first use.
pub struct ProcMemory {
    dir: OwnedFd,
    file: Option<Result<File, MemoryError>>,
}

impl ProcMemory {
    /// Memory of the process whose `/proc/PID` directory `dir` is.
    pub fn new(dir: OwnedFd) -> ProcMemory {
        ProcMemory { dir, file: None }
    }
}

fn classify(e: &io::Error) -> MemoryError {
    match Errno::from_io_error(e) {
        Some(Errno::ACCESS) | Some(Errno::PERM) => MemoryError::Denied,
        Some(Errno::IO) | Some(Errno::FAULT) | Some(Errno::INVAL) | Some(Errno::OVERFLOW) => {
            MemoryError::Fault
        }
        Some(Errno::SRCH) | Some(Errno::NOENT) => MemoryError::Vanished,
        _ => MemoryError::Other,
    }
}

impl MemoryAccess for ProcMemory {
    fn read(&mut self, address: u64, buf: &mut [u8]) -> Result<usize, MemoryError> {
        let dir = &self.dir;
        let file = self.file.get_or_insert_with(|| {
            rustix::fs::openat(dir, "mem", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                .map(File::from)
                .map_err(|e| classify(&io::Error::from(e)))
        });
        let file = match file {
            Ok(f) => f,
            Err(e) => return Err(*e),
        };
        let mut done = 0;
        while done < buf.len() {
            let at = address.checked_add(done as u64).ok_or(MemoryError::Fault)?;
            match file.read_at(&mut buf[done..], at) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if done == 0 => return Err(classify(&e)),
                Err(_) => break,
            }
        }
        if done == 0 && !buf.is_empty() {
            return Err(MemoryError::Fault);
        }
        Ok(done)
    }
}
