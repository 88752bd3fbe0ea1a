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
//! disk. Nothing is held in memory: see [`super::content`] for where each file's bytes are.
//!
//! The limits: each file is read up to its own limit ([`limit`]; a file over it makes its
//! process `partial` with an error row naming the limit, and every other process is read
//! whole); only the capture-wide limits ([`MAX_TOTAL`] bytes of process files,
//! [`MAX_ENTRIES`] entries, [`MAX_UNPACKED`] decompressed bytes) refuse the capture.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::FileType;
use thiserror::Error;

pub use super::content::{Content, Entry, EntryReader};
use crate::fsat::{self, Input, LinkRule};
use crate::limits::{MAP_FILE_BYTES, SMALL_FILE_BYTES};

/// The most bytes of process files read from one capture (each file counted up to its own
/// limit). Reached, the capture is refused: it is a limit on the capture, not on a process.
pub const MAX_TOTAL: u64 = 4 << 30;
/// The most entries (files and directories, archive members and their extension headers)
/// examined.
pub const MAX_ENTRIES: u64 = 2_000_000;
/// The most bytes decompressed from an archive, relevant or not.
pub const MAX_UNPACKED: u64 = 64 << 30;
/// The deepest directory level walked.
const MAX_DEPTH: usize = 16;

/// The per-process files a capture may hold.
pub const FILES: &[&str] = &[
    "maps", "smaps", "status", "stat", "comm", "cmdline", "exe", "error",
];

/// The most bytes read from the capture file named `file` (a name of [`FILES`], or one of
/// the files at the capture's top).
pub fn limit(file: &str) -> u64 {
    match file {
        "maps" | "smaps" => MAP_FILE_BYTES,
        // UAC's `ls -l /proc/*/exe`: one line per process of the machine.
        "running_processes_full_paths.txt" => MAP_FILE_BYTES,
        _ => SMALL_FILE_BYTES,
    }
}

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
    /// The capture's path could not be opened safely.
    #[error(transparent)]
    Open(#[from] fsat::ResolveError),
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
    /// An archive that tar readers could read differently, or that is malformed.
    #[error("{path}: member {member}: {message}")]
    Archive {
        /// The archive.
        path: PathBuf,
        /// The member's name as far as known.
        member: String,
        /// What is wrong.
        message: String,
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

/// Everything found in a capture.
#[derive(Clone, Debug, Default)]
pub struct Index {
    /// Per pid, per file name (`maps`, …).
    pub processes: BTreeMap<u32, BTreeMap<String, Entry>>,
    /// Files at the capture's top: `snapshot.toml`, `vdso`, UAC's exe listing.
    pub extra: BTreeMap<String, Entry>,
}

/// Splits `…/PID/NAME[.txt]` into `(pid, NAME)`.
pub fn classify(path: &str) -> Option<(u32, &'static str)> {
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

pub(super) fn extra_name(path: &str) -> Option<&'static str> {
    let file = path.rsplit('/').next()?;
    match file {
        "snapshot.toml" => Some("snapshot.toml"),
        "vdso" => Some("vdso"),
        "running_processes_full_paths.txt" => Some("running_processes_full_paths.txt"),
        _ => None,
    }
}

/// The file name (`maps`, `vdso`, …) a capture path is kept under, if it is kept.
pub(super) fn kept_as(path: &str) -> Option<&'static str> {
    classify(path).map(|(_, f)| f).or_else(|| extra_name(path))
}

/// The capture-wide limits, counted as the capture is indexed.
pub(super) struct Budget {
    pub(super) path: PathBuf,
    total: u64,
    entries: u64,
}

impl Budget {
    pub(super) fn entry(&mut self) -> Result<(), CaptureError> {
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

    /// Counts `n` bytes of process files (the caller caps each file at its own limit).
    pub(super) fn bytes(&mut self, n: u64) -> Result<(), CaptureError> {
        self.total = self.total.saturating_add(n);
        if self.total > MAX_TOTAL {
            return Err(CaptureError::Limit {
                path: self.path.clone(),
                what: "the total size of process files".into(),
                limit: MAX_TOTAL,
            });
        }
        Ok(())
    }
}

impl Index {
    pub(super) fn add(
        &mut self,
        capture: &Path,
        name: String,
        content: Content,
    ) -> Result<(), CaptureError> {
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
            let limit = limit(file);
            files.insert(
                file.to_string(),
                Entry {
                    name,
                    content,
                    limit,
                },
            );
        } else if let Some(extra) = extra_name(&name) {
            self.extra.entry(extra.to_string()).or_insert(Entry {
                name,
                content,
                limit: limit(extra),
            });
        }
        Ok(())
    }

    /// Reads a capture: a directory, or a `.tar`/`.tar.gz`/`.tgz` archive. The path is
    /// opened as [`fsat::open_dir_or_file`] does (links on it followed only when
    /// [`LinkRule::for_this_process`] allows; a FIFO or a device refused at once).
    pub fn open(path: &Path) -> Result<Index, CaptureError> {
        let mut budget = Budget {
            path: path.to_path_buf(),
            total: 0,
            entries: 0,
        };
        let mut index = Index::default();
        match fsat::open_dir_or_file(path, LinkRule::for_this_process())? {
            Input::Dir(root) => {
                let root = Arc::new(root);
                index.walk(path, &root, &root, PathBuf::new(), 0, &mut budget)?;
            }
            Input::File(file) => super::archive::read(&mut index, path, file, &mut budget)?,
        }
        if index.processes.is_empty() {
            return Err(CaptureError::Empty(path.to_path_buf()));
        }
        Ok(index)
    }

    /// Walks the directory `dir` (at `rel` below the capture's `root`) through descriptors:
    /// every subdirectory opened below its parent without following links, every file kept
    /// as its path below the held root.
    fn walk(
        &mut self,
        capture: &Path,
        root: &Arc<OwnedFd>,
        dir: &OwnedFd,
        rel: PathBuf,
        depth: usize,
        budget: &mut Budget,
    ) -> Result<(), CaptureError> {
        if depth > MAX_DEPTH {
            return Ok(());
        }
        let io = |rel: &Path, source| CaptureError::Io {
            path: capture.join(rel),
            source,
        };
        let left = MAX_ENTRIES.saturating_sub(budget.entries) as usize;
        let mut list = fsat::list_dir(dir, left.saturating_add(1)).map_err(|e| {
            if e.kind() == std::io::ErrorKind::OutOfMemory {
                CaptureError::Limit {
                    path: capture.to_path_buf(),
                    what: "the number of entries".into(),
                    limit: MAX_ENTRIES,
                }
            } else {
                io(&rel, e)
            }
        })?;
        list.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, ft) in list {
            budget.entry()?;
            let here = rel.join(&name);
            // Links are never followed: a capture cannot point vmpipe elsewhere.
            if ft == FileType::Directory {
                let sub =
                    fsat::open_dir_beneath(dir, Path::new(&name)).map_err(|e| io(&here, e))?;
                self.walk(capture, root, &sub, here, depth + 1, budget)?;
            } else if ft == FileType::RegularFile {
                let shown = here.to_string_lossy().into_owned();
                let Some(kept) = kept_as(&shown) else {
                    continue;
                };
                // The size now, for the capture-wide total; the read itself is bounded by
                // the file's own limit whatever the file becomes.
                let size = rustix::fs::statat(
                    dir,
                    OsStr::from_bytes(name.as_bytes()),
                    rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
                )
                .map(|st| st.st_size as u64)
                .unwrap_or(0);
                budget.bytes(size.min(limit(kept)))?;
                let content = Content::File {
                    root: root.clone(),
                    rel: here,
                };
                self.add(capture, shown, content)?;
            }
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

    /// Index, then swap (the attacker's move between the walk and the read), then read:
    /// deterministic, the swap is done at the known point.
    #[test]
    #[cfg(target_os = "linux")] // mknodat
    fn a_file_swapped_after_the_walk_is_an_error_never_another_file_nor_a_hang() {
        let t = tempfile::tempdir().unwrap();
        let cap = t.path().join("cap");
        let maps = b"00400000-00401000 r-xp 00000000 00:00 0 \n";
        for pid in ["1", "2", "3"] {
            std::fs::create_dir_all(cap.join("proc").join(pid)).unwrap();
            std::fs::write(cap.join("proc").join(pid).join("maps"), maps).unwrap();
        }
        std::fs::write(cap.join("proc/1/comm"), b"one\n").unwrap();
        let secret = t.path().join("secret");
        std::fs::write(&secret, b"SECRET-BYTES").unwrap();
        std::fs::create_dir(t.path().join("elsewhere")).unwrap();
        std::fs::write(t.path().join("elsewhere/maps"), b"SECRET-BYTES").unwrap();
        let index = Index::open(&cap).unwrap();

        // A file swapped for a link to another file.
        std::fs::remove_file(cap.join("proc/1/maps")).unwrap();
        std::os::unix::fs::symlink(&secret, cap.join("proc/1/maps")).unwrap();
        // A file swapped for a FIFO (opening it for reading would block forever).
        std::fs::remove_file(cap.join("proc/1/comm")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            cap.join("proc/1/comm"),
            FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        // A directory on the way swapped for a link to another directory.
        std::fs::rename(cap.join("proc/2"), t.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(t.path().join("elsewhere"), cap.join("proc/2")).unwrap();

        let one = &index.processes[&1];
        let e = one["maps"].read().unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        let comm = one["comm"].clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(comm.read().map(|b| b.to_vec())));
        let r = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading a FIFO swapped in after the walk must not block");
        let e = r.unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        assert!(index.processes[&2]["maps"].read().is_err());
        // The untouched process reads as the file on disk.
        assert_eq!(
            &*index.processes[&3]["maps"].read().unwrap(),
            &std::fs::read(cap.join("proc/3/maps")).unwrap()[..]
        );
    }

    #[test]
    #[cfg(target_os = "linux")] // mknodat
    fn a_fifo_or_a_device_given_as_the_capture_is_refused_at_once() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("fifo.tar");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        let e = Index::open(&fifo).unwrap_err().to_string();
        assert!(e.contains("not a regular file but a FIFO"), "{e}");
        let e = Index::open(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(
            e.contains("not a regular file but a character device"),
            "{e}"
        );
    }
}
