//! The capture source: processes saved from `/proc` on some machine, analysed later
//! (see [`index`] for the layouts read).
//!
//! Each process is rebuilt from what was saved: `smaps` when present (with residency), else
//! `maps` (regions without residency: absent, not 0); `status`, else `stat`, for the parent,
//! user, threads and state; `comm`, else the name in `stat`; `cmdline`; `exe`. A vmpipe
//! snapshot also records why a process could not be captured (`error`), which becomes its
//! status and an error row here, and the machine's vDSO image, which analyzers can read as
//! that range of each process's memory. Nothing else of a captured process's memory exists.

mod archive;
mod content;
pub mod index;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use index::CaptureError;
use index::{Entry, Index};

use super::budget::Budget;
use super::linux::map_stream::{self, MapFormat, StreamError};
use super::linux::{ParseError, stat, status};
use super::{CollectError, Collected, MemoryAccess, MemoryError, Selection, Source, SourceError};
use crate::model::{ProcessStatus, RegionKind};

/// A capture on disk, indexed.
pub struct Capture {
    path: PathBuf,
    index: Index,
    selection: Selection,
    vdso: Option<Arc<[u8]>>,
    exe_links: std::collections::BTreeMap<u32, Vec<u8>>,
}

/// The captured vDSO, served as the `[vdso]` range of one process.
struct VdsoMemory {
    start: u64,
    bytes: Arc<[u8]>,
}

impl MemoryAccess for VdsoMemory {
    fn read(&mut self, address: u64, buf: &mut [u8]) -> Result<usize, MemoryError> {
        let Some(off) = address.checked_sub(self.start) else {
            return Err(MemoryError::Fault);
        };
        let Some(avail) = self.bytes.get(off as usize..) else {
            return Err(MemoryError::Fault);
        };
        if avail.is_empty() || off > usize::MAX as u64 {
            return Err(MemoryError::Fault);
        }
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        Ok(n)
    }
}

/// Parses UAC's `ls -l /proc/[0-9]*/exe` listing into pid → target.
fn exe_listing(text: &[u8]) -> std::collections::BTreeMap<u32, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for line in text.split(|&b| b == b'\n') {
        let Some(at) = line.windows(6).position(|w| w == b"/proc/") else {
            continue;
        };
        let rest = &line[at + 6..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let Ok(pid) = std::str::from_utf8(&rest[..digits])
            .unwrap_or("")
            .parse::<u32>()
        else {
            continue;
        };
        let rest = &rest[digits..];
        if let Some(target) = rest.strip_prefix(b"/exe -> ") {
            out.insert(pid, target.to_vec());
        }
    }
    out
}

impl Capture {
    /// Opens and indexes the capture at `path`.
    pub fn open(path: &Path, selection: Selection) -> Result<Capture, CaptureError> {
        let index = Index::open(path)?;
        let vdso = index.extra.get("vdso").and_then(|e| e.read().ok());
        let exe_links = index
            .extra
            .get("running_processes_full_paths.txt")
            .and_then(|e| e.read().ok())
            .map(|t| exe_listing(&t))
            .unwrap_or_default();
        Ok(Capture {
            path: path.to_path_buf(),
            index,
            selection,
            vdso,
            exe_links,
        })
    }

    fn error(&self, entry: &Entry, source: ParseError) -> CollectError {
        CollectError::Parse {
            path: self.path.join(&entry.name),
            source,
        }
    }

    fn read(&self, c: &mut Collected, name: &str) -> Option<Arc<[u8]>> {
        let entry = self.index.processes.get(&c.process.pid)?.get(name)?;
        match entry.read() {
            Ok(b) => Some(b),
            Err(e) => {
                self.failed(c, name, entry, e);
                None
            }
        }
    }

    /// Marks `c` partial for a failure to read its file `name`.
    fn failed(&self, c: &mut Collected, name: &str, entry: &Entry, e: std::io::Error) {
        c.fail(
            ProcessStatus::Partial,
            name,
            CollectError::Io {
                path: self.path.join(&entry.name),
                source: e,
            },
        );
    }
}

impl Source for Capture {
    fn describe(&self) -> String {
        format!("capture {}", self.path.display())
    }

    fn list(&self) -> Result<Vec<u32>, SourceError> {
        let all = self.index.processes.keys().copied();
        Ok(match &self.selection.pids {
            Some(p) => all.filter(|pid| p.contains(pid)).collect(),
            None => all.collect(),
        })
    }

    fn collect(&self, pid: u32) -> Option<Collected> {
        let files = self.index.processes.get(&pid)?;
        let has = |n: &str| files.contains_key(n);
        let mut c = Collected::new(pid, has("smaps"));
        if let Some(text) = self.read(&mut c, "status") {
            match status::parse(&text) {
                Ok(f) => {
                    c.process.ppid = f.ppid;
                    c.process.uid = f.uid;
                    c.process.threads = f.threads;
                    c.process.state = f.state;
                }
                Err(e) => {
                    let err = self.error(&files["status"], e);
                    c.fail(ProcessStatus::Partial, "status", err);
                }
            }
        }
        let mut stat_comm = None;
        if let Some(text) = self.read(&mut c, "stat") {
            match stat::parse(&text) {
                Ok(f) => {
                    c.process.ppid = c.process.ppid.or(Some(f.ppid));
                    c.process.threads = c.process.threads.or(f.threads);
                    c.process.state = c.process.state.or(Some(f.state));
                    stat_comm = Some(f.comm);
                }
                Err(e) => {
                    let err = self.error(&files["stat"], e);
                    c.fail(ProcessStatus::Partial, "stat", err);
                }
            }
        }
        c.process.name = match self.read(&mut c, "comm") {
            Some(t) => t.strip_suffix(b"\n").unwrap_or(&t).to_vec(),
            None => stat_comm.unwrap_or_default(),
        };
        if let Some(t) = self.read(&mut c, "cmdline") {
            c.process.cmdline = t.to_vec();
        }
        c.process.exe = match self.read(&mut c, "exe") {
            Some(t) => Some(t.to_vec()),
            None => self.exe_links.get(&pid).cloned(),
        };
        if !self.selection.admits(&c.process) {
            return None;
        }
        // Why the snapshot could not capture the process, as it recorded it.
        if let Some(t) = self.read(&mut c, "error") {
            let text = String::from_utf8_lossy(&t).trim().to_string();
            let (status, message) = match text.split_once(": ") {
                Some(("denied", m)) => (ProcessStatus::Denied, m.to_string()),
                Some(("vanished", m)) => (ProcessStatus::Vanished, m.to_string()),
                _ => (ProcessStatus::Partial, text.clone()),
            };
            c.fail(status, "capture", message);
        }
        let format = if has("smaps") {
            MapFormat::Smaps
        } else {
            MapFormat::Maps
        };
        let name = format.file_name();
        if let Some(entry) = files.get(name) {
            // Streamed: a map file costs a piece buffer and its parse budget, never its size.
            let mut buf = Vec::new();
            let mut budget = Budget::per_process();
            let read = entry
                .reader()
                .and_then(|r| match r.size() > entry.limit {
                    // Larger than vmpipe reads, as the file says already: not read at all
                    // (what `vmpipe snapshot` saves never is).
                    true => Err(content::over_limit(entry.limit)),
                    false => Ok(r),
                })
                .map_err(StreamError::Io)
                .and_then(|r| {
                    map_stream::parse_stream(r, format, &mut buf, &mut c.regions, &mut budget)
                });
            c.parsed_bytes = budget.used();
            match read {
                Ok(()) => c.map_complete = true,
                Err(StreamError::Parse(e)) => {
                    let err = self.error(entry, e);
                    c.fail(ProcessStatus::Partial, name, err);
                }
                // The regions read before the failure (a file past its limit, a read error)
                // are kept, as for a parse error: they are what the file holds up to there,
                // and the error row says the map is not whole.
                Err(StreamError::Io(e)) => self.failed(&mut c, name, entry, e),
            }
        } else if !has("error") && !has(name) {
            c.fail(
                ProcessStatus::Partial,
                "capture",
                format!(
                    "{}: no maps or smaps saved for process {pid}",
                    self.path.display()
                ),
            );
        }
        if let Some(bytes) = &self.vdso
            && let Some(r) = c.regions.iter().find(|r| r.kind == RegionKind::Vdso)
            && r.size() == bytes.len() as u64
        {
            c.memory = Some(Box::new(VdsoMemory {
                start: r.start,
                bytes: bytes.clone(),
            }));
        }
        Some(c)
    }
}
