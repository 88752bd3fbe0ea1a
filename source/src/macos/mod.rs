//! The live macOS source: every process of this Mac, read through Mach and libproc the way
//! `vmmap` reads one, into the same records the vmmap-report source
//! ([`crate::vmmap::VmmapReports`]) makes of a vmmap report — so every analyzer and sink treats a
//! live Mac process and a saved report alike.
//!
//! # What is read, and what a failure means
//!
//! | call                                              | gives                                  | when it fails |
//! |---------------------------------------------------|----------------------------------------|---------------|
//! | `proc_listallpids`                                | the pids (without 0, `kernel_task`)    | the source fails |
//! | `proc_pidinfo(PROC_PIDTBSDINFO)`                  | name (`pbi_name`, else `pbi_comm`), ppid, real uid, state, start time | `ESRCH`: vanished; otherwise denied |
//! | `proc_pidpath`                                    | exe                                    | error row `exe` (partial; vanished on `ESRCH`) |
//! | `sysctl(KERN_PROCARGS2)`                          | cmdline                                | error row `cmdline` (partial) |
//! | `proc_pidinfo(PROC_PIDTASKINFO)`                  | threads                                | error row `threads` (partial) |
//! | `task_for_pid`                                    | the task port for all that follows     | **denied** (vanished when the process is gone), with a message naming the usual causes |
//! | `task_info(TASK_VM_INFO)`                         | the target's page size                 | error row, this Mac's page size assumed (partial) |
//! | `mach_vm_region_recurse` (`vm_region_submap_info_64`, into submaps) | every region: range, protections, `user_tag`, `share_mode`, pager, page counts | error row `mach_vm_region_recurse`: the regions read so far are kept, the map is incomplete (partial; vanished when the task died) |
//! | `proc_regionfilename`                             | the path of each file-backed region    | no path |
//! | `mach_vm_purgable_control(VM_PURGABLE_GET_STATE)` | `PURGE` of anonymous regions           | no purge mode |
//! | `task_info(TASK_DYLD_INFO)` and the target's memory | dyld's image list, each image's segments ([`dyld`], [`macho`]) | error row `dyld` (partial): regions are typed by tag only; one unreadable image is a `warning` row |
//! | `mach_vm_page_range_query`                        | per-page residency of regions split at segment boundaries | error row (partial): those pieces have no residency |
//! | `mach_vm_read_overwrite`                          | memory for analyzers (`MachMemory`)  | a [`crate::MemoryError`] for that read |
//!
//! Each region becomes a [`Region`](crate::model::Region) with
//! `reported = Some(Reported { region_type, share_mode, max_prot, purge, detail })` exactly as
//! the report source fills it: the region type from the image segment (`__TEXT`, with the
//! image's path) or from the tag table ([`tags`]), the share mode in vmmap's `SHRMOD`
//! vocabulary ([`share_mode`]), `rss`/`dirty`/`swap` in bytes ([`regions`]). A process that
//! exits while it is read is `vanished`; the facts read by pid are checked against the task
//! (the process's start time is read again once the task port is held), so a reused pid is
//! never mixed with another process's map.
//!
//! # Privileges
//!
//! `task_for_pid` on another process needs **root** (`sudo vmpipe …`); a process's own task
//! and, for a debugger-entitled (`com.apple.security.cs.debugger`) signed vmpipe, processes
//! signed with `com.apple.security.get-task-allow` are the exceptions. Even root is refused
//! processes protected by **System Integrity Protection** (Apple's platform binaries, unless
//! SIP is disabled) and processes built with the **hardened runtime** that do not carry
//! `get-task-allow`; those become `denied` rows. The BSD facts (`proc_pidinfo` with
//! `PROC_PIDTBSDINFO`) are readable for every process, so a denied process still has its
//! name, parent and user.
//!
//! # Platform-neutral pieces
//!
//! Everything that is not a system call lives outside `cfg(target_os = "macos")` and is
//! unit-tested on Linux: the `VM_MEMORY_*` table and type rules ([`tags`]), the share-mode
//! and purge vocabularies ([`share_mode`], [`purge`]), the submap walk over an abstract query
//! ([`submap_walk`]), dyld's structures and the Mach-O segment reader over an abstract
//! memory ([`dyld`], [`macho`]), segment matching ([`segments`]), building the model's
//! regions ([`regions`]), the `KERN_PROCARGS2` parser ([`procargs`]) and Mach return codes
//! ([`kern`]). The tests check that, for the real reports in `tests/fixtures/vmmap/`, every
//! region type and share mode those tables can produce is produced with vmmap's exact
//! spelling, and that the same facts give the same records as the vmmap-report source.
//!
//! # Where this differs from vmmap
//!
//! * Adjacent alike regions are not coalesced (vmmap coalesces unless `-noCoalesce`).
//! * What vmmap learns by reading the malloc zones and threads inside the process is not
//!   produced: `MALLOC_TINY (empty)`, `MALLOC_LARGE metadata`, zone names and
//!   `thread N`/`stack guard for thread N` in the detail (the detail is empty).
//! * Parts of the dyld shared cache that belong to no image this process loaded are typed by
//!   their tag (`mapped file`, with the cache's path) where vmmap prints `unused __DATA`.
//! * Names of tags seen in no report are Apple's `gcore` spelling (see [`tags::Evidence`]).
//!
//! # What was verified
//!
//! The neutral pieces are unit-tested on Linux. The macOS layer (`ffi`, `task`,
//! `LiveMacos`) has only been **type-checked** for `x86_64-apple-darwin` and
//! `aarch64-apple-darwin`; it has not run on a Mac. The struct layouts it relies on come from
//! the `mach2` and `libc` crates, the constants from XNU's and dyld's headers.

pub mod dyld;
pub mod kern;
pub mod macho;
pub mod procargs;
pub mod purge;
pub mod regions;
pub mod segments;
pub mod share_mode;
pub mod submap_walk;
pub mod tags;

#[cfg(target_os = "macos")]
mod ffi;
#[cfg(target_os = "macos")]
mod task;

#[cfg(target_os = "macos")]
pub use task::MachMemory;

use thiserror::Error;

use crate::model::ProcessStatus;

use self::dyld::DyldError;
use self::kern::KernReturn;
use self::submap_walk::WalkError;

/// Why (part of) a macOS process could not be read. Every variant names the process and the
/// call.
#[derive(Debug, Error)]
pub enum MacosError {
    /// `task_for_pid` refused the process.
    #[error(
        "pid {pid}: task_for_pid failed ({kr}): reading another process's memory map needs \
         root (run vmpipe with sudo); even root is refused processes protected by System \
         Integrity Protection (Apple's platform binaries) and hardened-runtime processes \
         without the com.apple.security.get-task-allow entitlement"
    )]
    TaskForPid {
        /// The process.
        pid: u32,
        /// What the kernel answered.
        kr: KernReturn,
    },
    /// A Mach call on the process's task port failed.
    #[error("pid {pid}: {call} failed: {kr}")]
    Mach {
        /// The process.
        pid: u32,
        /// The call.
        call: &'static str,
        /// What the kernel answered.
        kr: KernReturn,
    },
    /// A libproc or sysctl call failed.
    #[error("pid {pid}: {call} failed: {source}")]
    Os {
        /// The process.
        pid: u32,
        /// The call.
        call: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The region walk stopped early.
    #[error("pid {pid}: {source}")]
    Walk {
        /// The process.
        pid: u32,
        /// Why.
        #[source]
        source: WalkError<KernReturn>,
    },
    /// dyld's image list could not be read.
    #[error("pid {pid}: dyld image list: {source}")]
    Dyld {
        /// The process.
        pid: u32,
        /// Why.
        #[source]
        source: DyldError,
    },
    /// The pid now names another process than the one whose facts were read.
    #[error("pid {pid}: the process exited and its pid was reused while it was read")]
    PidReused {
        /// The process.
        pid: u32,
    },
    /// Regions split at image segments whose per-page residency could not be read.
    #[error(
        "pid {pid}: mach_vm_page_range_query failed for {regions} region(s) split at image \
         segments: their pieces have no residency figures"
    )]
    PageQuery {
        /// The process.
        pid: u32,
        /// How many regions.
        regions: usize,
    },
}

/// The state letter of a BSD process status (`pbi_status`: `SRUN` 2 → `R`, `SSLEEP` 3 →
/// `S`, `SSTOP` 4 → `T`, `SZOMB` 5 → `Z`); `None` for `SIDL` (being created) and unknown
/// values.
pub fn state_letter(status: u32) -> Option<u8> {
    match status {
        2 => Some(b'R'),
        3 => Some(b'S'),
        4 => Some(b'T'),
        5 => Some(b'Z'),
        _ => None,
    }
}

/// What an OS error on a libproc call about a process means: `vanished` for `ESRCH`, else
/// `fallback`.
pub fn errno_status(e: &std::io::Error, fallback: ProcessStatus) -> ProcessStatus {
    // ESRCH is 3 on every BSD and on Linux.
    if e.raw_os_error() == Some(3) {
        ProcessStatus::Vanished
    } else {
        fallback
    }
}

/// True when the purgeable state of a region is worth asking: anonymous memory that exists
/// (purgeable objects are anonymous; untouched `NUL` regions have no object).
pub fn wants_purge_state(info: &submap_walk::RegionInfo) -> bool {
    !info.external_pager && !info.is_submap && info.share_mode != share_mode::SM_EMPTY
}

#[cfg(target_os = "macos")]
pub use live::LiveMacos;

#[cfg(target_os = "macos")]
mod live {
    use std::sync::Arc;

    use super::dyld::{self, DyldError, DyldImages, PointerWidth};
    use super::regions::{self, Leaf};
    use super::segments::SegmentMap;
    use super::submap_walk::{self, Limits, WalkError};
    use super::task::{MachMemory, Task, TaskMemory};
    use super::{MacosError, errno_status, ffi, procargs, state_letter, wants_purge_state};
    use crate::model::ProcessStatus;
    use crate::{Collected, ErrorRow, Selection, Source, SourceError};

    /// How many times a busy dyld image list is read again.
    const DYLD_RETRIES: usize = 3;

    /// Live processes of this Mac, through `task_for_pid`.
    #[derive(Clone, Debug)]
    pub struct LiveMacos {
        selection: Selection,
        limits: Limits,
    }

    impl LiveMacos {
        /// The live source over every process the selection picks.
        pub fn new(selection: Selection) -> LiveMacos {
            LiveMacos::with_limits(selection, Limits::default())
        }

        /// The same, with explicit bounds on the region walk.
        pub fn with_limits(selection: Selection, limits: Limits) -> LiveMacos {
            LiveMacos { selection, limits }
        }

        fn images(pid: u32, task: &Task) -> Result<DyldImages, MacosError> {
            let (address, _size, format) = task.dyld_info().map_err(|kr| MacosError::Mach {
                pid,
                call: "task_info(TASK_DYLD_INFO)",
                kr,
            })?;
            let width = PointerWidth::from_format(format).ok_or(MacosError::Dyld {
                pid,
                source: DyldError::Format(format),
            })?;
            let mut mem = TaskMemory(task);
            let mut last = DyldError::Busy;
            for attempt in 0..DYLD_RETRIES {
                match dyld::read_images(&mut mem, address, width) {
                    Ok(images) => return Ok(images),
                    Err(DyldError::Busy) => {
                        last = DyldError::Busy;
                        std::thread::sleep(std::time::Duration::from_millis(1 << attempt));
                    }
                    Err(e) => return Err(MacosError::Dyld { pid, source: e }),
                }
            }
            Err(MacosError::Dyld { pid, source: last })
        }

        fn collect_pid(&self, pid: u32) -> Option<Collected> {
            let mut c = Collected::new(pid, true);
            c.live = true;
            let keep_unknown = !self.selection.filters_by_facts();

            let bsd = match ffi::bsd_info(pid) {
                Ok(b) => b,
                Err(source) => {
                    let st = errno_status(&source, ProcessStatus::Denied);
                    c.fail(
                        st,
                        "proc_pidinfo",
                        MacosError::Os {
                            pid,
                            call: "proc_pidinfo(PROC_PIDTBSDINFO)",
                            source,
                        },
                    );
                    return keep_unknown.then_some(c);
                }
            };
            c.process.ppid = Some(bsd.ppid);
            c.process.uid = Some(bsd.ruid);
            c.process.state = state_letter(bsd.status);
            c.process.name = bsd.name.clone();

            let mut exe_error = None;
            match ffi::pid_path(pid) {
                Ok(path) if !path.is_empty() => c.process.exe = Some(path),
                Ok(_) => {}
                Err(e) => exe_error = Some(e),
            }
            match ffi::procargs2(pid) {
                Ok(buf) => c.process.cmdline = procargs::cmdline(&buf).unwrap_or_default(),
                Err(source) => c.fail(
                    errno_status(&source, ProcessStatus::Partial),
                    "cmdline",
                    MacosError::Os {
                        pid,
                        call: "sysctl(KERN_PROCARGS2)",
                        source,
                    },
                ),
            }
            let threads = ffi::thread_count(pid);

            if c.process.status == ProcessStatus::Vanished {
                return keep_unknown.then_some(c);
            }
            if !self.selection.admits(&c.process) {
                return None;
            }

            let task = match Task::for_pid(pid) {
                Ok(t) => t,
                Err(kr) => {
                    let st = match ffi::bsd_info(pid) {
                        Err(e) => errno_status(&e, ProcessStatus::Denied),
                        Ok(_) => ProcessStatus::Denied,
                    };
                    // The exe and thread refusals are the same refusal; one row says it.
                    c.fail(st, "task_for_pid", MacosError::TaskForPid { pid, kr });
                    return Some(c);
                }
            };
            // The port names a task, the facts above were read by pid: make sure they are
            // the same process.
            match ffi::bsd_info(pid) {
                Ok(now) if now.start == bsd.start => {}
                Ok(_) => {
                    c.fail(
                        ProcessStatus::Vanished,
                        "task_for_pid",
                        MacosError::PidReused { pid },
                    );
                    return Some(c);
                }
                Err(source) => {
                    c.fail(
                        errno_status(&source, ProcessStatus::Partial),
                        "proc_pidinfo",
                        MacosError::Os {
                            pid,
                            call: "proc_pidinfo(PROC_PIDTBSDINFO)",
                            source,
                        },
                    );
                    if c.process.status == ProcessStatus::Vanished {
                        return Some(c);
                    }
                }
            }
            match threads {
                Ok(n) => c.process.threads = Some(n),
                Err(source) => c.fail(
                    errno_status(&source, ProcessStatus::Partial),
                    "threads",
                    MacosError::Os {
                        pid,
                        call: "proc_pidinfo(PROC_PIDTASKINFO)",
                        source,
                    },
                ),
            }
            if let Some(source) = exe_error {
                c.fail(
                    errno_status(&source, ProcessStatus::Partial),
                    "exe",
                    MacosError::Os {
                        pid,
                        call: "proc_pidpath",
                        source,
                    },
                );
            }

            let page_size = match task.page_size() {
                Ok(p) => p,
                Err(kr) => {
                    c.fail(
                        kr.status(),
                        "task_info",
                        MacosError::Mach {
                            pid,
                            call: "task_info(TASK_VM_INFO)",
                            kr,
                        },
                    );
                    super::task::host_page_size()
                }
            };

            let walk = submap_walk::walk(&mut task.regions(), &self.limits);
            let leaves: Vec<Leaf> = walk
                .regions
                .iter()
                .map(|info| Leaf {
                    info: *info,
                    path: if info.external_pager {
                        ffi::region_filename(pid, info.start).map(Arc::from)
                    } else {
                        None
                    },
                    purge_state: if wants_purge_state(info) {
                        task.purge_state(info.start)
                    } else {
                        None
                    },
                })
                .collect();

            let images = match Self::images(pid, &task) {
                Ok(images) => images,
                Err(e) => {
                    let st = match &e {
                        MacosError::Mach { kr, .. } => kr.status(),
                        _ => ProcessStatus::Partial,
                    };
                    c.fail(st, "dyld", e);
                    DyldImages::default()
                }
            };
            for problem in &images.problems {
                c.errors.push(ErrorRow {
                    pid: Some(pid),
                    stage: "warning".into(),
                    plugin: String::new(),
                    error: format!("pid {pid}: dyld image list: {problem}"),
                });
            }
            let segments = SegmentMap::new(&images.images);
            let built = regions::build(&leaves, &segments, page_size, &mut task.pages(page_size));
            c.regions = built.regions;
            if built.unknown_residency > 0 {
                c.fail(
                    ProcessStatus::Partial,
                    "mach_vm_page_range_query",
                    MacosError::PageQuery {
                        pid,
                        regions: built.unknown_residency,
                    },
                );
            }
            c.map_complete = walk.error.is_none();
            if let Some(source) = walk.error {
                let st = match &source {
                    WalkError::Query { error, .. } => error.status(),
                    _ => ProcessStatus::Partial,
                };
                c.fail(
                    st,
                    "mach_vm_region_recurse",
                    MacosError::Walk { pid, source },
                );
            }
            if matches!(c.process.status, ProcessStatus::Ok | ProcessStatus::Partial) {
                c.memory = Some(Box::new(MachMemory::new(task)));
            }
            Some(c)
        }
    }

    impl Source for LiveMacos {
        fn describe(&self) -> String {
            "live macOS processes (task_for_pid)".to_string()
        }

        fn list(&self) -> Result<Vec<u32>, SourceError> {
            if let Some(pids) = &self.selection.pids {
                return Ok(pids.iter().copied().collect());
            }
            ffi::list_pids().map_err(|source| SourceError::List {
                path: "proc_listallpids".into(),
                source,
            })
        }

        fn collect(&self, pid: u32) -> Option<Collected> {
            self.collect_pid(pid)
        }
    }
}

#[cfg(test)]
mod tests;
