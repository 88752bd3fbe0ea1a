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

use crate::{MemoryAccess, MemoryError};

/// `/proc/PID/mem`, opened on first use, and the process's files for analyzers.
pub struct ProcMemory {
    dir: OwnedFd,
    file: Option<Result<File, MemoryError>>,
    /// The process's start time (`stat` field 22) when it was collected.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    start_time: Option<u64>,
}

impl ProcMemory {
    /// Memory of the process whose `/proc/PID` directory `dir` is; `start_time` is the start
    /// time read through `dir` when the process was collected.
    pub fn new(dir: OwnedFd, start_time: Option<u64>) -> ProcMemory {
        ProcMemory {
            dir,
            file: None,
            start_time,
        }
    }

    /// The start time of the process whose `/proc/PID` `dir` is, read through it.
    pub fn start_time_of(dir: &OwnedFd) -> Option<u64> {
        let fd = rustix::fs::openat(dir, "stat", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .ok()?;
        let mut buf = Vec::with_capacity(512);
        // One line of at most a few hundred bytes; more is not the kernel's.
        std::io::Read::read_to_end(&mut std::io::Read::take(File::from(fd), 4096), &mut buf)
            .ok()?;
        super::stat::parse(&buf).ok()?.start_time
    }

    #[cfg(target_os = "linux")] // used by `open` only
    /// Is the pid still the process collected? The held directory answers only for the
    /// process it was opened on (`ESRCH` once that one is gone), and the start time read
    /// through it must be the collected one.
    fn same_process(&self) -> Result<(), MemoryError> {
        match (self.start_time, Self::start_time_of(&self.dir)) {
            (Some(then), Some(now)) if then == now => Ok(()),
            _ => Err(MemoryError::Replaced),
        }
    }

    #[cfg(target_os = "linux")] // O_PATH, openat2
    /// Opens `rel` below the held directory as an `O_PATH` descriptor (links followed: the
    /// `/proc` magic links are the point), for `fstat` or for [`reopen_regular`].
    fn path_fd(&self, rel: &str) -> Result<OwnedFd, MemoryError> {
        rustix::fs::openat(
            &self.dir,
            rel,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| classify(&io::Error::from(e)))
    }

    #[cfg(target_os = "linux")] // O_PATH, openat2
    /// `path` inside the process's root: `root` opened through the held directory, then
    /// `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` below it, so that the target's own
    /// symbolic links resolve inside its root and never into vmpipe's.
    fn in_root(&self, path: &[u8]) -> Result<OwnedFd, MemoryError> {
        use rustix::fs::ResolveFlags;
        use std::os::unix::ffi::OsStrExt;
        let root = self.path_fd("root")?;
        let rel = std::ffi::OsStr::from_bytes(path);
        rustix::fs::openat2(
            &root,
            rel,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|e| classify(&io::Error::from(e)))
    }
}

#[cfg(target_os = "linux")] // O_PATH, openat2
/// A descriptor for reading the file an `O_PATH` descriptor names, only if `fstat` calls it a
/// regular file (a device or a FIFO is never opened: no side effect, no hang), non-blocking.
fn reopen_regular(fd: OwnedFd) -> Result<OwnedFd, MemoryError> {
    use std::os::fd::AsRawFd;
    let st = rustix::fs::fstat(&fd).map_err(|e| classify(&io::Error::from(e)))?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(MemoryError::Other);
    }
    rustix::fs::open(
        format!("/proc/self/fd/{}", fd.as_raw_fd()),
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| classify(&io::Error::from(e)))
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
    #[cfg(target_os = "linux")] // O_PATH, openat2
    fn open(
        &mut self,
        what: u32,
        start: u64,
        end: u64,
        path: &[u8],
    ) -> Result<OwnedFd, MemoryError> {
        use vmpipe_plugin::abi::open_what;
        self.same_process()?;
        let fd = match what {
            open_what::MAPPED => {
                reopen_regular(self.path_fd(&format!("map_files/{start:x}-{end:x}"))?)?
            }
            open_what::IN_ROOT => reopen_regular(self.in_root(path)?)?,
            open_what::IN_ROOT_STAT => self.in_root(path)?,
            open_what::PAGEMAP => rustix::fs::openat(
                &self.dir,
                "pagemap",
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| classify(&io::Error::from(e)))?,
            open_what::PROC_STAT => {
                let rel = std::str::from_utf8(path).map_err(|_| MemoryError::Other)?;
                // Entries of /proc/PID only: no way up, none absolute.
                if rel.starts_with('/') || rel.split('/').any(|c| c == ".." || c.is_empty()) {
                    return Err(MemoryError::Other);
                }
                self.path_fd(rel)?
            }
            _ => return Err(MemoryError::Other),
        };
        // The pid may have been reused while the file was opened: check again, after.
        self.same_process()?;
        Ok(fd)
    }

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
