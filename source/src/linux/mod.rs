//! The live Linux source: every process under `/proc` (or a directory laid out like it).
//!
//! Each process is read through one open handle on its `/proc/PID` directory: if the pid is
//! reused while it is being read, the old handle's files fail with `ESRCH`/`ENOENT` rather than
//! answering for the new process, so no region is ever attributed to the wrong process.
//!
//! What is read, and what a failure means:
//!
//! | file            | needed for                 | on `ENOENT`/`ESRCH` | on `EACCES`/`EPERM` |
//! |-----------------|----------------------------|---------------------|---------------------|
//! | `status`        | ppid, uid, threads, state  | vanished            | denied              |
//! | `comm`          | name                       | vanished            | partial             |
//! | `exe` (link)    | exe                        | absent (kernel thread, zombie) | partial, or part of denied |
//! | `cmdline`       | cmdline                    | vanished            | partial             |
//! | `smaps`/`maps`  | regions                    | vanished            | denied              |
//!
//! Reading another user's `maps`/`smaps` needs ptrace-read access (same uid, or root with
//! `CAP_SYS_PTRACE`, and no Yama/LSM refusal); `status`, `comm` and `cmdline` are readable by
//! everyone unless `/proc` is mounted with `hidepid`.

#[cfg(test)]
mod captures;
pub mod map_stream;
pub mod maps;
mod memory;
mod parse_error;
pub mod smaps;
pub mod stat;
pub mod status;

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

pub use memory::ProcMemory;
pub use parse_error::ParseError;

use super::budget::Budget;
use super::limits;
use super::{CollectError, Collected, Selection, Source, SourceError};
use crate::model::ProcessStatus;
use map_stream::{MapFormat, StreamError};

/// How much of each process to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detail {
    /// `/proc/PID/maps` only: regions without residency figures (cheap).
    Maps,
    /// `/proc/PID/smaps`: regions with every residency figure.
    Smaps,
}

/// Live processes under a proc-like directory.
#[derive(Clone, Debug)]
pub struct LiveLinux {
    root: PathBuf,
    detail: Detail,
    selection: Selection,
}

thread_local! {
    /// One reusable read buffer per worker thread: a sweep allocates it once per thread, not
    /// once per file.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1 << 20));
}

/// How an OS error on a process file changes the process's status.
fn status_of(e: &io::Error) -> ProcessStatus {
    match Errno::from_io_error(e) {
        Some(Errno::NOENT) | Some(Errno::SRCH) => ProcessStatus::Vanished,
        Some(Errno::ACCESS) | Some(Errno::PERM) => ProcessStatus::Denied,
        _ => ProcessStatus::Partial,
    }
}

impl LiveLinux {
    /// The live source over `/proc`.
    pub fn new(detail: Detail, selection: Selection) -> LiveLinux {
        LiveLinux {
            root: PathBuf::from("/proc"),
            detail,
            selection,
        }
    }

    fn io_error(&self, pid: u32, file: &str, source: io::Error) -> CollectError {
        CollectError::Io {
            path: self.root.join(pid.to_string()).join(file),
            source,
        }
    }

    fn open_in(dir: &OwnedFd, file: &str) -> io::Result<File> {
        let fd = rustix::fs::openat(
            dir,
            file,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )?;
        Ok(File::from(fd))
    }

    /// Reads a small file of the process directory into `buf` (cleared first), at most
    /// [`limits::SMALL_FILE_BYTES`] of it (more than the kernel ever prints there).
    fn read_in(dir: &OwnedFd, file: &str, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        Self::open_in(dir, file)?
            .take(limits::SMALL_FILE_BYTES)
            .read_to_end(buf)?;
        Ok(())
    }

    fn collect_with(&self, pid: u32, buf: &mut Vec<u8>) -> Option<Collected> {
        let residency = self.detail == Detail::Smaps;
        let mut c = Collected::new(pid, residency);
        c.live = true;
        let keep_unknown = !self.selection.filters_by_facts();

        let dir_path = self.root.join(pid.to_string());
        let dir = match rustix::fs::open(
            &dir_path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(d) => d,
            Err(e) => {
                let e = io::Error::from(e);
                c.fail(status_of(&e), "open", self.io_error(pid, "", e));
                return keep_unknown.then_some(c);
            }
        };

        // Who the pid is now: what analyzers opening its files later check it still is.
        let start_time = ProcMemory::start_time_of(&dir);

        // status: the facts the selection and the processes table need.
        match Self::read_in(&dir, "status", buf) {
            Ok(()) => match status::parse(buf) {
                Ok(f) => {
                    c.process.ppid = f.ppid;
                    c.process.uid = f.uid;
                    c.process.threads = f.threads;
                    c.process.state = f.state;
                }
                Err(source) => c.fail(
                    ProcessStatus::Partial,
                    "status",
                    CollectError::Parse {
                        path: dir_path.join("status"),
                        source,
                    },
                ),
            },
            Err(e) => {
                c.fail(status_of(&e), "status", self.io_error(pid, "status", e));
                return keep_unknown.then_some(c);
            }
        }

        match Self::read_in(&dir, "comm", buf) {
            Ok(()) => {
                let name = buf.strip_suffix(b"\n").unwrap_or(buf);
                c.process.name = name.to_vec();
            }
            Err(e) => {
                let st = status_of(&e).max(ProcessStatus::Partial);
                let st = if st == ProcessStatus::Denied {
                    ProcessStatus::Partial
                } else {
                    st
                };
                c.fail(st, "comm", self.io_error(pid, "comm", e));
            }
        }

        // exe: absent for kernel threads and zombies (ENOENT), refused for other users'
        // processes without ptrace access.
        let mut exe_error = None;
        match rustix::fs::readlinkat(&dir, "exe", Vec::new()) {
            Ok(target) => c.process.exe = Some(target.into_bytes()),
            Err(Errno::NOENT) => {}
            Err(e) => exe_error = Some(io::Error::from(e)),
        }

        match Self::read_in(&dir, "cmdline", buf) {
            Ok(()) => c.process.cmdline = buf.clone(),
            Err(e) => {
                let st = match status_of(&e) {
                    ProcessStatus::Vanished => ProcessStatus::Vanished,
                    _ => ProcessStatus::Partial,
                };
                c.fail(st, "cmdline", self.io_error(pid, "cmdline", e));
            }
        }

        if c.process.status == ProcessStatus::Vanished {
            return keep_unknown.then_some(c);
        }
        if !self.selection.admits(&c.process) {
            return None;
        }

        let format = match self.detail {
            Detail::Maps => MapFormat::Maps,
            Detail::Smaps => MapFormat::Smaps,
        };
        let file = format.file_name();
        let mut budget = Budget::per_process();
        let read = Self::open_in(&dir, file)
            .map_err(StreamError::Io)
            .and_then(|f| map_stream::parse_stream(f, format, buf, &mut c.regions, &mut budget));
        c.parsed_bytes = budget.used();
        match read {
            Ok(()) => c.map_complete = true,
            Err(StreamError::Parse(source)) => c.fail(
                ProcessStatus::Partial,
                file,
                CollectError::Parse {
                    path: dir_path.join(file),
                    source,
                },
            ),
            Err(StreamError::Io(e)) => {
                // What was read before the failure is not the process's map.
                c.regions.clear();
                let st = status_of(&e);
                if st == ProcessStatus::Denied {
                    // The exe refusal is the same refusal; one row says it.
                    exe_error = None;
                }
                c.fail(st, file, self.io_error(pid, file, e));
            }
        }
        if let Some(e) = exe_error {
            let st = match status_of(&e) {
                ProcessStatus::Vanished => ProcessStatus::Vanished,
                _ => ProcessStatus::Partial,
            };
            c.fail(st, "exe", self.io_error(pid, "exe", e));
        }

        // A process that exits while its map is read yields an empty map: tell that apart from
        // a kernel thread or a zombie, which truly have none, by asking whether it still exists.
        if c.regions.is_empty()
            && c.process.status == ProcessStatus::Ok
            && let Err(e) = Self::read_in(&dir, "status", buf)
        {
            c.map_complete = false;
            c.fail(status_of(&e), "status", self.io_error(pid, "status", e));
        }
        confirm_unlinked(&dir, &mut c.regions);
        if matches!(c.process.status, ProcessStatus::Ok | ProcessStatus::Partial) {
            c.memory = Some(Box::new(ProcMemory::new(dir, start_time)));
        }
        Some(c)
    }
}

/// Confirms the ` (deleted)` mark of each region that carries it: `fstatat` of
/// `map_files/START-END` under the held `/proc/PID` (following that entry's link reaches the
/// mapped inode itself) says whether the file still has a link (`st_nlink > 0`: a file really
/// named `lib (deleted)`) or none. Needs the right to follow `map_files` links (root); without
/// it, or once the process is gone, the region stays unconfirmed. One `fstatat` per marked
/// region, each bounded by the map's own size.
fn confirm_unlinked(dir: &OwnedFd, regions: &mut [crate::model::Region]) {
    let mut name = String::new();
    for r in regions.iter_mut().filter(|r| r.deleted()) {
        use std::fmt::Write;
        name.clear();
        let _ = write!(name, "map_files/{:x}-{:x}", r.start, r.end);
        r.confirmed_unlinked = rustix::fs::statat(dir, name.as_str(), rustix::fs::AtFlags::empty())
            .ok()
            // The inode the map names, or the range was remapped since: then unconfirmed.
            .filter(|st| st.st_ino == r.inode)
            .map(|st| st.st_nlink == 0);
    }
}

impl Source for LiveLinux {
    fn describe(&self) -> String {
        format!("live processes under {}", self.root.display())
    }

    fn list(&self) -> Result<Vec<u32>, SourceError> {
        if let Some(pids) = &self.selection.pids {
            return Ok(pids.iter().copied().collect());
        }
        let entries = std::fs::read_dir(&self.root).map_err(|source| SourceError::List {
            path: self.root.clone(),
            source,
        })?;
        let mut pids: Vec<u32> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name();
                let name = name.to_str()?;
                // Only all-digit names: `"+1".parse::<u32>()` would succeed.
                if name.bytes().all(|b| b.is_ascii_digit()) {
                    name.parse().ok()
                } else {
                    None
                }
            })
            .collect();
        pids.sort_unstable();
        Ok(pids)
    }

    fn collect(&self, pid: u32) -> Option<Collected> {
        SCRATCH.with(|buf| self.collect_with(pid, &mut buf.borrow_mut()))
    }
}
