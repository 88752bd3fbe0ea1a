//! Finding the per-process files in a capture — a directory, a `.tar` or a `.tar.gz` — in any
//! of the layouts responders produce, with limits so that a hostile archive cannot exhaust
//! memory or time.
//!
//! A file belongs to process `PID` when its path ends in `PID/NAME` or `PID/NAME.txt`, where
//! `NAME` is one of `maps`, `smaps`, `status`, `stat`, `comm`, `cmdline`, `exe`, `error`. That
//! one rule reads:
//!
//! * vmpipe's own snapshot: `proc/PID/smaps`, … (and `vdso`, `snapshot.toml` at the root);
//! * UAC: `…/live_response/process/proc/PID/maps.txt`, `comm.txt`, `cmdline.txt`,
//!   `status.txt`, `stat.txt`; UAC keeps the executables' paths in
//!   `…/live_response/process/running_processes_full_paths.txt` (`ls -l /proc/*/exe`), which
//!   is read too;
//! * smem's capture format (what `smemcap` and smem's capture script write, and `smem -S`
//!   reads): `PID/smaps`, `PID/cmdline`, `PID/stat` at the top.
//!
//! Two files for the same process and name (two collections merged into one directory) are
//! an error naming both. Links are never followed, and archive paths are never written to
//! disk.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

/// The most bytes of process files read from one capture.
pub const MAX_TOTAL: u64 = 4 << 30;
/// The largest single process file read (a process at `vm.max_map_count` has about 72 MiB of
/// smaps).
pub const MAX_FILE: u64 = 256 << 20;
/// The most entries (files and directories) examined.
pub const MAX_ENTRIES: u64 = 2_000_000;
/// The most bytes decompressed from an archive, relevant or not.
pub const MAX_UNPACKED: u64 = 64 << 30;
/// The deepest directory level walked.
const MAX_DEPTH: usize = 16;

/// The per-process files a capture may hold.
pub const FILES: &[&str] = &[
    "maps", "smaps", "status", "stat", "comm", "cmdline", "exe", "error",
];

/// Why a capture could not be read.
#[derive(Debug, Error)]
pub enum CaptureError {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A limit was reached.
    #[error("{path}: {what} exceeds vmpipe's limit of {limit}; refusing to read further")]
    Limit {
        /// The capture.
        path: PathBuf,
        /// What.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// The same file twice.
    #[error("{capture}: process {pid} has two `{name}` files: {first} and {second}")]
    Duplicate {
        /// The capture.
        capture: PathBuf,
        /// The pid.
        pid: u32,
        /// The file name.
        name: String,
        /// One.
        first: String,
        /// The other.
        second: String,
    },
    /// A file that is not an archive.
    #[error(
        "{0}: not a capture: neither a directory nor a .tar or .tar.gz archive (a vmmap report is read by a vmmap-report source)"
    )]
    NotCapture(PathBuf),
    /// Nothing recognisable.
    #[error(
        "{0}: no process files found (expected PID/maps, PID/smaps, … in a vmpipe snapshot, a UAC collection or an smem capture)"
    )]
    Empty(PathBuf),
}

/// Where a file's bytes are.
#[derive(Clone, Debug)]
pub enum Content {
    /// A file in a directory capture (read when needed).
    File(PathBuf),
    /// Bytes read from an archive.
    Bytes(Arc<[u8]>),
}

/// One captured file and the name it has inside the capture (for messages).
#[derive(Clone, Debug)]
pub struct Entry {
    /// The path inside the capture.
    pub name: String,
    /// The content.
    pub content: Content,
}

impl Entry {
    /// The file's bytes.
    pub fn read(&self) -> std::io::Result<Arc<[u8]>> {
        match &self.content {
            Content::Bytes(b) => Ok(b.clone()),
            Content::File(p) => {
                let f = std::fs::File::open(p)?;
                let mut buf = Vec::new();
                f.take(MAX_FILE + 1).read_to_end(&mut buf)?;
                if buf.len() as u64 > MAX_FILE {
                    return Err(std::io::Error::other(format!(
                        "larger than {MAX_FILE} bytes"
                    )));
                }
                Ok(buf.into())
            }
        }
    }
}

/// Everything found in a capture.
#[derive(Clone, Debug, Default)]
pub struct Index {
    /// Per pid, per file name (`maps`, …).
    pub processes: BTreeMap<u32, BTreeMap<String, Entry>>,
    /// Files at the capture's top: `snapshot.toml`, `vdso`, UAC's exe listing.
    pub extra: BTreeMap<String, Entry>,
}

/// Splits `…/PID/NAME[.txt]` into `(pid, NAME)`.
pub fn classify(path: &str) -> Option<(u32, &str)> {
    let mut parts = path.trim_end_matches('/').rsplit('/');
    let file = parts.next()?;
    let dir = parts.next()?;
    if dir.is_empty() || !dir.bytes().all(|b| b.is_ascii_digit()) || dir.len() > 10 {
        return None;
    }
    let pid: u32 = dir.parse().ok()?;
    let name = file.strip_suffix(".txt").unwrap_or(file);
    FILES.iter().find(|f| **f == name).map(|f| (pid, *f))
}

fn extra_name(path: &str) -> Option<&'static str> {
    let file = path.rsplit('/').next()?;
    match file {
        "snapshot.toml" => Some("snapshot.toml"),
        "vdso" => Some("vdso"),
        "running_processes_full_paths.txt" => Some("running_processes_full_paths.txt"),
        _ => None,
    }
}

struct Budget {
    path: PathBuf,
    total: u64,
    entries: u64,
}

impl Budget {
    fn entry(&mut self) -> Result<(), CaptureError> {
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return Err(CaptureError::Limit {
                path: self.path.clone(),
                what: "the number of entries".into(),
                limit: MAX_ENTRIES,
            });
        }
        Ok(())
    }
    fn bytes(&mut self, n: u64) -> Result<(), CaptureError> {
        self.total += n;
        if n > MAX_FILE || self.total > MAX_TOTAL {
            return Err(CaptureError::Limit {
                path: self.path.clone(),
                what: if n > MAX_FILE {
                    "a process file's size".into()
                } else {
                    "the total size of process files".into()
                },
                limit: if n > MAX_FILE { MAX_FILE } else { MAX_TOTAL },
            });
        }
        Ok(())
    }
}

impl Index {
    fn add(&mut self, capture: &Path, name: String, content: Content) -> Result<(), CaptureError> {
        if let Some((pid, file)) = classify(&name) {
            let files = self.processes.entry(pid).or_default();
            if let Some(old) = files.get(file) {
                return Err(CaptureError::Duplicate {
                    capture: capture.to_path_buf(),
                    pid,
                    name: file.to_string(),
                    first: old.name.clone(),
                    second: name,
                });
            }
            files.insert(file.to_string(), Entry { name, content });
        } else if let Some(extra) = extra_name(&name) {
            self.extra
                .entry(extra.to_string())
                .or_insert(Entry { name, content });
        }
        Ok(())
    }

    /// Reads a capture: a directory, or a `.tar`/`.tar.gz`/`.tgz` archive.
    pub fn open(path: &Path) -> Result<Index, CaptureError> {
        let io = |source| CaptureError::Io {
            path: path.to_path_buf(),
            source,
        };
        let md = std::fs::metadata(path).map_err(io)?;
        let mut budget = Budget {
            path: path.to_path_buf(),
            total: 0,
            entries: 0,
        };
        let mut index = Index::default();
        if md.is_dir() {
            index.walk(path, path, 0, &mut budget)?;
        } else {
            let file = std::fs::File::open(path).map_err(io)?;
            let mut magic = [0u8; 2];
            let gz = {
                use std::os::unix::fs::FileExt;
                file.read_at(&mut magic, 0).map_err(io)? == 2 && magic == [0x1f, 0x8b]
            };
            let mut ustar = [0u8; 5];
            let is_tar = {
                use std::os::unix::fs::FileExt;
                file.read_at(&mut ustar, 257).map_err(io)? == 5 && &ustar == b"ustar"
            };
            if !gz && !is_tar {
                return Err(CaptureError::NotCapture(path.to_path_buf()));
            }
            let reader: Box<dyn Read> = if gz {
                Box::new(flate2::read::MultiGzDecoder::new(file))
            } else {
                Box::new(file)
            };
            index.untar(path, reader.take(MAX_UNPACKED), &mut budget)?;
        }
        if index.processes.is_empty() {
            return Err(CaptureError::Empty(path.to_path_buf()));
        }
        Ok(index)
    }

    fn walk(
        &mut self,
        root: &Path,
        dir: &Path,
        depth: usize,
        budget: &mut Budget,
    ) -> Result<(), CaptureError> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        let entries = std::fs::read_dir(dir).map_err(|source| CaptureError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut list: Vec<_> = entries.filter_map(Result::ok).collect();
        list.sort_by_key(|e| e.file_name());
        for e in list {
            budget.entry()?;
            // Links are never followed: a capture cannot point vmpipe elsewhere.
            let Ok(ft) = e.file_type() else { continue };
            let p = e.path();
            if ft.is_dir() {
                self.walk(root, &p, depth + 1, budget)?;
            } else if ft.is_file() {
                let rel = p
                    .strip_prefix(root)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .into_owned();
                if classify(&rel).is_some() || extra_name(&rel).is_some() {
                    let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                    budget.bytes(len)?;
                    self.add(root, rel, Content::File(p))?;
                }
            }
        }
        Ok(())
    }

    fn untar(
        &mut self,
        path: &Path,
        reader: impl Read,
        budget: &mut Budget,
    ) -> Result<(), CaptureError> {
        let io = |source| CaptureError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(io)? {
            budget.entry()?;
            let mut entry = entry.map_err(io)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = String::from_utf8_lossy(&entry.path_bytes())
                .trim_start_matches("./")
                .to_string();
            if classify(&name).is_none() && extra_name(&name).is_none() {
                continue;
            }
            let size = entry.header().size().map_err(io)?;
            budget.bytes(size)?;
            let mut buf = Vec::with_capacity(size.min(MAX_FILE) as usize);
            (&mut entry)
                .take(MAX_FILE + 1)
                .read_to_end(&mut buf)
                .map_err(io)?;
            self.add(path, name, Content::Bytes(buf.into()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_layout_is_recognised() {
        assert_eq!(classify("proc/123/smaps"), Some((123, "smaps")));
        assert_eq!(
            classify("host/live_response/process/proc/7/maps.txt"),
            Some((7, "maps"))
        );
        assert_eq!(classify("42/cmdline"), Some((42, "cmdline")));
        assert_eq!(classify("proc/42/net/unix.txt"), None);
        assert_eq!(classify("proc/42/environ.txt"), None);
        assert_eq!(classify("proc/self/maps"), None);
        assert_eq!(classify("proc/99999999999/maps"), None);
        assert_eq!(classify("maps"), None);
    }
}
