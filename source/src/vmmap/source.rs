//! The vmmap-report source: macOS `vmmap` text reports (one file, or a directory of them)
//! as processes, so every analyzer and sink works on them as on live Linux processes.
//!
//! Each report is one process: its pid, name (`Process:`), executable (`Path:`) and parent
//! come from the header; each region row becomes a region with the report's own region type,
//! share mode, maximum protection, purge mode and detail kept (see
//! [`crate::model::Reported`]), `RSDNT` as `rss`, `SWAP` as `swap`, `DIRTY` as `dirty` —
//! whatever columns the report has; the others are absent. The report's Summary and MALLOC
//! ZONE tables travel with the process for the vmmap-style report and the malloc-zones
//! analyzer.
//!
//! A report without a pid (format 2.2 has no header) gets the pid `4000000000 + n`, `n` its
//! place among the files read; two reports of the same pid are refused. A report that cannot
//! be parsed becomes a `partial` process named after its file, with an error row naming the
//! line; each parser warning (a snipped report, a skipped row) becomes a `warning` error row.
//!
//! What is read is bounded (see [`crate::limits`]): a report larger than
//! [`VMMAP_REPORT_BYTES`], or whose parsed data would hold more than
//! [`VMMAP_PARSED_BYTES`](crate::limits::VMMAP_PARSED_BYTES), is not used and becomes
//! such a `partial` process with an error naming the file and the limit; so is every report
//! past [`VMMAP_RUN_PARSED_BYTES`] held by the reports before it. The other reports are read.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::FileType;
use thiserror::Error;

use super::VmmapReport;
use crate::fsat::{self, Input, LinkRule};
use crate::limits::{VMMAP_REPORT_BYTES, VMMAP_RUN_PARSED_BYTES};
use crate::model::{Perms, ProcessStatus, Region, RegionKind, Reported, Usage, UsageField};
use crate::vmmap;
use crate::{Collected, ErrorRow, Selection, Source, SourceError};

/// The first pid given to reports that have none.
pub const NO_PID_BASE: u32 = 4_000_000_000;

/// Why the reports could not be read.
#[derive(Debug, Error)]
pub enum ReportsError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Two reports of one process.
    #[error("{first} and {second} are both reports of pid {pid}: analyse them separately")]
    SamePid {
        /// The pid.
        pid: u32,
        /// One file.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// The path could not be opened safely (or is a FIFO, a device, …).
    #[error(transparent)]
    Open(#[from] fsat::ResolveError),
    /// A report too large to read.
    #[error("{0}: larger than vmpipe reads of one report ({VMMAP_REPORT_BYTES} bytes)")]
    TooLarge(PathBuf),
}

/// One report file: parsed, or why not (a message to follow the file name).
struct Loaded {
    file: PathBuf,
    report: Result<Arc<VmmapReport>, String>,
}

/// vmmap reports, indexed by pid.
pub struct VmmapReports {
    root: PathBuf,
    by_pid: BTreeMap<u32, Loaded>,
    selection: Selection,
}

/// Reads one opened report, at most [`VMMAP_REPORT_BYTES`] bytes (counted as read, whatever the
/// file's size says).
fn read(path: &Path, file: std::fs::File) -> Result<Vec<u8>, ReportsError> {
    use std::io::Read;
    let io = |source| ReportsError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Too large already: refused before reading any of it.
    if file.metadata().map_err(io)?.len() > VMMAP_REPORT_BYTES {
        return Err(ReportsError::TooLarge(path.to_path_buf()));
    }
    let mut bytes = Vec::new();
    file.take(VMMAP_REPORT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > VMMAP_REPORT_BYTES {
        return Err(ReportsError::TooLarge(path.to_path_buf()));
    }
    Ok(bytes)
}

/// The report files at `path`, opened: the file itself, or every regular file of the
/// directory in name order (not recursing, not following links). The path is opened with
/// [`fsat::open_dir_or_file`] (a FIFO or a device is refused at once) and each file of a
/// directory with [`fsat::open_beneath`] below the held directory. Opening is lazy: `open`
/// is called for one file at a time.
pub(crate) fn files(path: &Path) -> Result<Files, ReportsError> {
    let io = |source| ReportsError::Io {
        path: path.to_path_buf(),
        source,
    };
    Ok(
        match fsat::open_dir_or_file(path, LinkRule::for_this_process())? {
            Input::File(f) => Files::One(Some((path.to_path_buf(), f))),
            Input::Dir(dir) => {
                let mut names: Vec<OsString> = fsat::list_dir(&dir, MAX_REPORTS)
                    .map_err(io)?
                    .into_iter()
                    .filter(|(_, ft)| *ft == FileType::RegularFile)
                    .map(|(n, _)| n)
                    .collect();
                names.sort();
                names.reverse();
                Files::Dir {
                    root: path.to_path_buf(),
                    dir,
                    names,
                }
            }
        },
    )
}

/// True when `path` (or the first file of the directory `path`) reads like a vmmap report.
/// Opened as the vmmap-report source opens it (no planted link followed, non-blocking,
/// regular files only), and only the first 64 KiB read.
pub fn looks_like_report(path: &Path) -> bool {
    use std::io::Read;
    let Some(Ok((_, file))) = files(path).ok().and_then(|mut f| f.next()) else {
        return false;
    };
    let mut head = Vec::new();
    let read = file.take(1 << 16).read_to_end(&mut head);
    read.is_ok()
        && [
            &b"REGION TYPE"[..],
            b"Virtual Memory Map of process",
            b"VIRTUAL SIZE",
        ]
        .iter()
        .any(|m| head.windows(m.len()).any(|w| w == *m))
}

/// The most files of a directory of reports.
const MAX_REPORTS: usize = 1 << 20;

/// Report files to read, one at a time (see [`files`]).
pub(crate) enum Files {
    /// One file given by path.
    One(Option<(PathBuf, std::fs::File)>),
    /// The regular files of a held directory, last first.
    Dir {
        /// The directory as given.
        root: PathBuf,
        /// It, held.
        dir: std::os::fd::OwnedFd,
        /// Names still to open, in reverse order.
        names: Vec<OsString>,
    },
}

impl Iterator for Files {
    type Item = Result<(PathBuf, std::fs::File), ReportsError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Files::One(f) => f.take().map(Ok),
            Files::Dir { root, dir, names } => {
                let name = names.pop()?;
                let path = root.join(&name);
                Some(match fsat::open_beneath(&*dir, Path::new(&name)) {
                    Ok(f) => Ok((path, f)),
                    Err(source) => Err(ReportsError::Io { path, source }),
                })
            }
        }
    }
}

impl VmmapReports {
    /// Reads one report file, or every regular file of a directory (not recursing, not
    /// following links).
    pub fn open(path: &Path, selection: Selection) -> Result<VmmapReports, ReportsError> {
        let mut by_pid: BTreeMap<u32, Loaded> = BTreeMap::new();
        let mut held = 0usize;
        for (n, opened) in files(path)?.enumerate() {
            let (file, f) = opened?;
            let report = match read(&file, f) {
                Ok(bytes) => vmmap::parse(&bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|r| {
                        let kept = r.kept_bytes();
                        if held.saturating_add(kept) > VMMAP_RUN_PARSED_BYTES {
                            return Err(format!(
                                "not read: with it, the reports read would hold more than \
                                 {VMMAP_RUN_PARSED_BYTES} bytes parsed (vmpipe's budget for \
                                 the reports of one run, {} MiB); analyse fewer at once",
                                VMMAP_RUN_PARSED_BYTES >> 20
                            ));
                        }
                        held += kept;
                        Ok(Arc::new(r))
                    }),
                Err(ReportsError::TooLarge(_)) => Err(format!(
                    "larger than vmpipe reads of one report ({VMMAP_REPORT_BYTES} bytes, {} \
                     MiB): not read",
                    VMMAP_REPORT_BYTES >> 20
                )),
                Err(e) => return Err(e),
            };
            let pid = match &report {
                Ok(r) => r.header.pid,
                Err(_) => None,
            }
            .unwrap_or(NO_PID_BASE.saturating_add(n as u32));
            if let Some(other) = by_pid.get(&pid) {
                return Err(ReportsError::SamePid {
                    pid,
                    first: other.file.clone(),
                    second: file,
                });
            }
            by_pid.insert(pid, Loaded { file, report });
        }
        Ok(VmmapReports {
            root: path.to_path_buf(),
            by_pid,
            selection,
        })
    }
}

fn region(r: &vmmap::VmmapRegion) -> Region {
    let shared = matches!(r.share_mode.as_deref(), Some("SHM") | Some("S/A"));
    let perms = Perms {
        read: r.prot[0] == b'r',
        write: r.prot[1] == b'w',
        exec: r.prot[2] == b'x',
        shared,
    };
    let is_path = r.detail.starts_with('/');
    let kind = match r.region_type.as_str() {
        "Stack" => RegionKind::Stack,
        "shared memory" => RegionKind::Shm,
        _ if is_path => RegionKind::File,
        _ => RegionKind::Anon,
    };
    let mut usage = Usage::default();
    for (field, v) in [
        (UsageField::Rss, r.resident),
        (UsageField::Swap, r.swap),
        (UsageField::Dirty, r.dirty),
    ] {
        if let Some(v) = v {
            usage.set(field, v);
        }
    }
    Region {
        start: r.start,
        end: r.end,
        perms,
        offset: 0,
        dev_major: 0,
        dev_minor: 0,
        inode: 0,
        path: is_path.then(|| Arc::from(r.detail.as_bytes())),
        kind,
        usage,
        vm_flags: None,
        confirmed_unlinked: None,
        reported: Some(Box::new(Reported {
            region_type: r.region_type.as_str().into(),
            share_mode: r.share_mode.as_deref().map(Into::into),
            max_prot: Some(r.max_prot),
            purge: r.purge.as_deref().map(Into::into),
            detail: if is_path {
                "".into()
            } else {
                r.detail.as_str().into()
            },
        })),
    }
}

impl Source for VmmapReports {
    fn describe(&self) -> String {
        format!("vmmap reports {}", self.root.display())
    }

    fn list(&self) -> Result<Vec<u32>, SourceError> {
        let all = self.by_pid.keys().copied();
        Ok(match &self.selection.pids {
            Some(p) => all.filter(|pid| p.contains(pid)).collect(),
            None => all.collect(),
        })
    }

    fn collect(&self, pid: u32) -> Option<Collected> {
        let loaded = self.by_pid.get(&pid)?;
        let report = match &loaded.report {
            Ok(r) => r.clone(),
            Err(e) => {
                let mut c = Collected::new(pid, false);
                c.process.name = loaded
                    .file
                    .file_name()
                    .map(|n| n.as_encoded_bytes().to_vec())
                    .unwrap_or_default();
                c.fail(
                    ProcessStatus::Partial,
                    "vmmap",
                    format!("{}: {e}", loaded.file.display()),
                );
                return self.selection.admits(&c.process).then_some(c);
            }
        };
        let residency = report.regions.iter().any(|r| r.resident.is_some());
        let mut c = Collected::new(pid, residency);
        let h = &report.header;
        c.process.name = h.process.clone().unwrap_or_default().into_bytes();
        c.process.exe = h.path.clone().map(String::into_bytes);
        c.process.ppid = h.parent_pid;
        if !self.selection.admits(&c.process) {
            return None;
        }
        c.regions = report.regions.iter().map(region).collect();
        c.regions.sort_by_key(|r| (r.start, r.end));
        c.map_complete = true;
        for w in &report.warnings {
            c.errors.push(ErrorRow {
                pid: Some(pid),
                stage: "warning".into(),
                plugin: String::new(),
                error: format!("{}: line {}: {}", loaded.file.display(), w.line, w.message),
            });
        }
        c.vmmap = Some(report);
        Some(c)
    }
}
