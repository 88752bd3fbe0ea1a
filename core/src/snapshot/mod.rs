//! `vmpipe snapshot`: save live processes' `/proc` files for analysis later, elsewhere.
//!
//! A snapshot is a directory, or a `.tar`/`.tar.gz` file, holding:
//!
//! * `proc/PID/maps`, `smaps`, `status`, `stat`, `comm`, `cmdline` — the files exactly as
//!   the kernel gave them — and `exe`, the target of `/proc/PID/exe`;
//! * `proc/PID/error` for a process that could not be read whole (`denied: …`,
//!   `vanished: …`), which the capture source turns back into its status and error row;
//! * `vdso`, this machine's vDSO image (so analyzers can read it as each process's `[vdso]`);
//! * `snapshot.toml`: format, vmpipe version, host, kernel, time, pids;
//! * `SHA256SUMS`: the SHA-256 of every other file, in `sha256sum` format
//!   (`sha256sum -c SHA256SUMS` checks a snapshot directory).
//!
//! Each process is read through one handle on its `/proc/PID` directory, as the live source
//! does, so a reused pid cannot mix two processes. Each file is written as it is read (one
//! process's files at a time are never all held in memory, see [`bounded`]), read up to
//! [`limits::MAP_FILE_BYTES`] (`maps`, `smaps`) or [`limits::SMALL_FILE_BYTES`] (the others):
//! a process whose file goes on past the limit is saved cut at its last complete record and
//! marked `partial: …` in its `error` file, so that what a snapshot saves, vmpipe always reads.
//!
//! Output appears complete or not at all, and is written only through directory descriptors
//! (see [`store`]): the parent directory is held and locked like a CSV output directory
//! ([`OutDir`]), the snapshot is made under a temporary name in it and renamed into place
//! without replacing anything. SIGINT/SIGTERM stop it between processes and remove it.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use serde::Serialize;
use thiserror::Error;

use crate::output::OutputError;
use crate::output::out_dir::OutDir;
use crate::source::limits;

mod bounded;
mod store;

use bounded::Records;
use store::{Store, inside};

/// Why a snapshot failed.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// The output could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The output directory could not be used, or the snapshot put in place.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The output exists already (a snapshot never overwrites evidence).
    #[error("{0} exists already: a snapshot never replaces an existing file or directory")]
    Exists(PathBuf),
    /// `--out` names no file or directory to create (`.`, `..`, empty).
    #[error("{0}: not a name for a new snapshot (give a new directory or FILE.tar[.gz])")]
    BadName(PathBuf),
    /// The process list could not be read.
    #[error("cannot list processes in /proc: {0}")]
    List(#[source] std::io::Error),
    /// SIGINT or SIGTERM arrived: nothing was saved.
    #[error("interrupted after {done} of {total} processes")]
    Interrupted {
        /// Processes saved before the signal.
        done: usize,
        /// Processes listed.
        total: usize,
        /// The signal.
        signal: i32,
    },
}

/// The manifest.
#[derive(Serialize)]
struct Manifest {
    format: &'static str,
    vmpipe_version: &'static str,
    host: String,
    kernel: String,
    time: String,
    pids: Vec<u32>,
}

/// What a snapshot holds.
#[derive(Debug)]
pub struct SnapshotSummary {
    /// Where it was written.
    pub path: PathBuf,
    /// Processes captured (whole or in part).
    pub processes: usize,
    /// Processes that could not be captured whole.
    pub incomplete: usize,
    /// Files written (including the manifest and checksums).
    pub files: usize,
}

/// The snapshot being written and the SHA-256 of every file in it, in order.
struct Writer {
    store: Store,
    sums: Vec<(String, [u8; 32])>,
}

impl Writer {
    fn werr(&self) -> impl Fn(std::io::Error) -> SnapshotError + '_ {
        move |source| SnapshotError::Write {
            path: self.store.target(),
            source,
        }
    }

    fn put(&mut self, pid: Option<u32>, name: &str, bytes: &[u8]) -> Result<(), SnapshotError> {
        let c = self
            .store
            .put(pid, name, bytes)
            .map_err(|source| SnapshotError::Write {
                path: self.store.target(),
                source,
            })?;
        self.sums.push((inside(pid, name), c.digest));
        Ok(())
    }
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn own_vdso() -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let line = maps.lines().find(|l| l.ends_with(" [vdso]"))?;
    let (a, b) = line.split(' ').next()?.split_once('-')?;
    let (start, end) = (
        u64::from_str_radix(a, 16).ok()?,
        u64::from_str_radix(b, 16).ok()?,
    );
    let mut buf = vec![0u8; end.checked_sub(start)? as usize];
    std::fs::File::open("/proc/self/mem")
        .ok()?
        .read_exact_at(&mut buf, start)
        .ok()?;
    Some(buf)
}

/// What one process file is, for reading it.
fn limit_of(name: &str) -> (u64, Records) {
    match name {
        "maps" => (limits::MAP_FILE_BYTES, Records::Lines),
        "smaps" => (limits::MAP_FILE_BYTES, Records::Smaps),
        "cmdline" => (limits::SMALL_FILE_BYTES, Records::Bytes),
        _ => (limits::SMALL_FILE_BYTES, Records::Lines),
    }
}

/// Saves one process's files as they are read; what could not be saved whole becomes its
/// `error` file. False when the process was not saved whole.
fn capture(pid: u32, w: &mut Writer) -> Result<bool, SnapshotError> {
    let open_dir = rustix::fs::open(
        format!("/proc/{pid}").as_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    );
    let fd: OwnedFd = match open_dir {
        Ok(fd) => fd,
        Err(e) => {
            let text = format!("vanished: /proc/{pid}: {}\n", std::io::Error::from(e));
            w.put(Some(pid), "error", text.as_bytes())?;
            return Ok(false);
        }
    };
    // (kind, messages): the first failure's kind ("denied", "vanished", "partial").
    let mut problem: Option<(&str, Vec<String>)> = None;
    // smaps before maps: when smaps is cut at the limit, maps (the same lines without the
    // fields, hundreds of megabytes more for the kernel to produce) is not read at all; the
    // capture source reads smaps when a process has it.
    let mut cut_smaps = false;
    for name in ["status", "stat", "comm", "cmdline", "smaps", "maps"] {
        if name == "maps" && cut_smaps {
            problem
                .get_or_insert(("partial", Vec::new()))
                .1
                .push(format!("/proc/{pid}/maps not saved (smaps was cut)"));
            break;
        }
        let (limit, records) = limit_of(name);
        let read = rustix::fs::openat(&fd, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(std::io::Error::from)
            .map(File::from);
        let copied = match read {
            Ok(mut f) => match w.store.copy(Some(pid), name, &mut f, limit, records) {
                Ok(c) => Ok(c),
                // A failure to write is the snapshot's; a failure to read is the process's.
                Err(e) if is_read_error(&e) => Err(e),
                Err(e) => return Err((w.werr())(e)),
            },
            Err(e) => Err(e),
        };
        match copied {
            Ok(c) => {
                w.sums.push((inside(Some(pid), name), c.digest));
                if c.truncated {
                    cut_smaps |= name == "smaps";
                    let msg = format!(
                        "/proc/{pid}/{name} truncated at {} bytes (vmpipe's limit {limit})",
                        c.len
                    );
                    problem.get_or_insert(("partial", Vec::new())).1.push(msg);
                }
            }
            Err(e) => {
                let kind = match rustix::io::Errno::from_io_error(&e) {
                    Some(rustix::io::Errno::ACCESS) | Some(rustix::io::Errno::PERM) => "denied",
                    Some(rustix::io::Errno::NOENT) | Some(rustix::io::Errno::SRCH) => "vanished",
                    _ => "partial",
                };
                let msg = format!("/proc/{pid}/{name}: {e}");
                let p = problem.get_or_insert((kind, Vec::new()));
                p.0 = kind;
                p.1.push(msg);
                break;
            }
        }
    }
    if let Ok(target) = rustix::fs::readlinkat(&fd, "exe", Vec::new()) {
        w.put(Some(pid), "exe", target.as_bytes())?;
    }
    match problem {
        None => Ok(true),
        Some((kind, messages)) => {
            let text = format!("{kind}: {}\n", messages.join("; "));
            w.put(Some(pid), "error", text.as_bytes())?;
            Ok(false)
        }
    }
}

/// True for the errors of reading a `/proc` file (the process's problem), as opposed to
/// writing the snapshot; [`bounded::copy`] passes both through.
fn is_read_error(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    matches!(
        Errno::from_io_error(e),
        Some(Errno::ACCESS | Errno::PERM | Errno::NOENT | Errno::SRCH)
    )
}

fn list(pids: &[u32]) -> Result<Vec<u32>, SnapshotError> {
    if !pids.is_empty() {
        let mut p = pids.to_vec();
        p.sort_unstable();
        p.dedup();
        return Ok(p);
    }
    let mut all: Vec<u32> = std::fs::read_dir("/proc")
        .map_err(SnapshotError::List)?
        .filter_map(|e| {
            let name = e.ok()?.file_name();
            let name = name.to_str()?;
            name.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| name.parse().ok())
                .flatten()
        })
        .collect();
    all.sort_unstable();
    Ok(all)
}

fn sums(files: &[(String, [u8; 32])]) -> Vec<u8> {
    let mut out = String::new();
    for (name, digest) in files {
        for b in digest {
            out.push_str(&format!("{b:02x}"));
        }
        out.push_str("  ");
        out.push_str(name);
        out.push('\n');
    }
    out.into_bytes()
}

/// `--out` as a parent directory and a new name in it (trailing slashes dropped).
fn split_out(out: &Path) -> Result<(&Path, &OsStr), SnapshotError> {
    let mut bytes = out.as_os_str().as_bytes();
    while bytes.len() > 1 && bytes.ends_with(b"/") {
        bytes = &bytes[..bytes.len() - 1];
    }
    crate::fsat::split_file(Path::new(OsStr::from_bytes(bytes)))
        .ok_or_else(|| SnapshotError::BadName(out.to_path_buf()))
}

/// Captures `pids` (every process when empty) into `out`: a directory, or an archive when
/// `out` ends in `.tar`, `.tar.gz` or `.tgz`.
pub fn write(out: &Path, pids: &[u32]) -> Result<SnapshotSummary, SnapshotError> {
    let (parent, name) = split_out(out)?;
    let parent = OutDir::open(parent)?;
    if rustix::fs::statat(parent.fd(), name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).is_ok() {
        return Err(SnapshotError::Exists(out.to_path_buf()));
    }
    let pids = list(pids)?;
    let mut w = Writer {
        store: Store::create(&parent, name)?,
        sums: Vec::new(),
    };
    let mut incomplete = 0;
    for (i, &pid) in pids.iter().enumerate() {
        if let Some(signal) = crate::interrupt::requested() {
            return Err(SnapshotError::Interrupted {
                done: i,
                total: pids.len(),
                signal,
            });
        }
        if !capture(pid, &mut w)? {
            incomplete += 1;
        }
    }
    if let Some(v) = own_vdso() {
        w.put(None, "vdso", &v)?;
    }
    let manifest = Manifest {
        format: "vmpipe-snapshot 1",
        vmpipe_version: env!("CARGO_PKG_VERSION"),
        host: read_trimmed("/proc/sys/kernel/hostname"),
        kernel: format!(
            "{} {}",
            read_trimmed("/proc/sys/kernel/osrelease"),
            read_trimmed("/proc/sys/kernel/version")
        ),
        time: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        pids: pids.clone(),
    };
    let text = toml::to_string(&manifest).unwrap_or_default();
    w.put(None, "snapshot.toml", text.as_bytes())?;
    let checksums = sums(&w.sums);
    let files = w.sums.len() + 1;
    w.store
        .put(None, "SHA256SUMS", &checksums)
        .map_err(|source| SnapshotError::Write {
            path: out.to_path_buf(),
            source,
        })?;
    if let Some(signal) = crate::interrupt::requested() {
        return Err(SnapshotError::Interrupted {
            done: pids.len(),
            total: pids.len(),
            signal,
        });
    }
    w.store.commit().map_err(|e| match e {
        OutputError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
            SnapshotError::Exists(out.to_path_buf())
        }
        other => SnapshotError::Output(other),
    })?;
    Ok(SnapshotSummary {
        path: out.to_path_buf(),
        processes: pids.len(),
        incomplete,
        files,
    })
}
