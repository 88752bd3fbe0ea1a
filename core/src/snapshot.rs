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
//! does, so a reused pid cannot mix two processes. Output appears complete or not at all: a
//! directory is written under a temporary name and renamed; an archive likewise.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

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
    /// The output exists already (a snapshot never overwrites evidence).
    #[error("{0} exists already: a snapshot never replaces an existing file or directory")]
    Exists(PathBuf),
    /// The process list could not be read.
    #[error("cannot list processes in /proc: {0}")]
    List(#[source] std::io::Error),
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

/// Files gathered before writing: (path inside the snapshot, bytes).
type Files = Vec<(String, Vec<u8>)>;

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

/// Reads one process's files; failures become its `error` file.
fn capture(pid: u32, files: &mut Files) -> bool {
    use std::io::Read;
    let dir = format!("proc/{pid}");
    let open_dir = rustix::fs::open(
        format!("/proc/{pid}").as_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    );
    let fd: OwnedFd = match open_dir {
        Ok(fd) => fd,
        Err(e) => {
            files.push((
                format!("{dir}/error"),
                format!("vanished: /proc/{pid}: {}\n", std::io::Error::from(e)).into_bytes(),
            ));
            return false;
        }
    };
    let mut complete = true;
    for name in ["status", "stat", "comm", "cmdline", "maps", "smaps"] {
        let read = rustix::fs::openat(&fd, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
            .map_err(std::io::Error::from)
            .and_then(|f| {
                let mut buf = Vec::new();
                std::fs::File::from(f).read_to_end(&mut buf).map(|_| buf)
            });
        match read {
            Ok(bytes) => files.push((format!("{dir}/{name}"), bytes)),
            Err(e) => {
                let kind = match rustix::io::Errno::from_io_error(&e) {
                    Some(rustix::io::Errno::ACCESS) | Some(rustix::io::Errno::PERM) => "denied",
                    Some(rustix::io::Errno::NOENT) | Some(rustix::io::Errno::SRCH) => "vanished",
                    _ => "partial",
                };
                files.push((
                    format!("{dir}/error"),
                    format!("{kind}: /proc/{pid}/{name}: {e}\n").into_bytes(),
                ));
                complete = false;
                break;
            }
        }
    }
    if let Ok(target) = rustix::fs::readlinkat(&fd, "exe", Vec::new()) {
        files.push((format!("{dir}/exe"), target.into_bytes()));
    }
    complete
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

fn sums(files: &Files) -> Vec<u8> {
    let mut out = String::new();
    for (name, bytes) in files {
        let digest = Sha256::digest(bytes);
        for b in digest {
            out.push_str(&format!("{b:02x}"));
        }
        out.push_str("  ");
        out.push_str(name);
        out.push('\n');
    }
    out.into_bytes()
}

/// Captures `pids` (every process when empty) into `out`: a directory, or an archive when
/// `out` ends in `.tar`, `.tar.gz` or `.tgz`.
pub fn write(out: &Path, pids: &[u32]) -> Result<SnapshotSummary, SnapshotError> {
    if out.symlink_metadata().is_ok() {
        return Err(SnapshotError::Exists(out.to_path_buf()));
    }
    let pids = list(pids)?;
    let mut files: Files = Vec::new();
    let mut incomplete = 0;
    for &pid in &pids {
        if !capture(pid, &mut files) {
            incomplete += 1;
        }
    }
    if let Some(v) = own_vdso() {
        files.push(("vdso".into(), v));
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
    files.push(("snapshot.toml".into(), text.into_bytes()));
    let checksums = sums(&files);
    files.push(("SHA256SUMS".into(), checksums));

    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let werr = |source| SnapshotError::Write {
        path: out.to_path_buf(),
        source,
    };
    let archive = name.ends_with(".tar") || name.ends_with(".tar.gz") || name.ends_with(".tgz");
    if archive {
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .tempfile_in(&parent)
            .map_err(werr)?;
        let file = temp.reopen().map_err(werr)?;
        let sink: Box<dyn Write> = if name.ends_with(".tar") {
            Box::new(std::io::BufWriter::new(file))
        } else {
            Box::new(flate2::write::GzEncoder::new(
                std::io::BufWriter::new(file),
                flate2::Compression::default(),
            ))
        };
        let mut tar = tar::Builder::new(sink);
        for (path, bytes) in &files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_cksum();
            tar.append_data(&mut header, path, bytes.as_slice())
                .map_err(werr)?;
        }
        let mut sink = tar.into_inner().map_err(werr)?;
        sink.flush().map_err(werr)?;
        drop(sink);
        temp.as_file().sync_all().map_err(werr)?;
        temp.persist_noclobber(out).map_err(|e| werr(e.error))?;
    } else {
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .tempdir_in(&parent)
            .map_err(werr)?;
        for (path, bytes) in &files {
            let p = temp.path().join(path);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).map_err(werr)?;
            }
            std::fs::write(&p, bytes).map_err(werr)?;
        }
        let kept = temp.keep();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o755)).map_err(werr)?;
        // Never replace what appeared at `out` meanwhile (plain rename(2) would replace an
        // empty directory).
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            &kept,
            rustix::fs::CWD,
            out,
            rustix::fs::RenameFlags::NOREPLACE,
        )
        .map_err(|e| {
            let _ = std::fs::remove_dir_all(&kept);
            werr(std::io::Error::from(e))
        })?;
    }
    Ok(SnapshotSummary {
        path: out.to_path_buf(),
        processes: pids.len(),
        incomplete,
        files: files.len(),
    })
}
