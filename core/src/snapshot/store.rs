//! Where a snapshot's files go while it is taken: a temporary directory or a temporary
//! archive in the held parent directory, each file written as it is read.
//!
//! * A directory is made with `mkdirat` in the parent's descriptor and opened `O_DIRECTORY |
//!   O_NOFOLLOW`; every file and subdirectory is created relative to that descriptor (files
//!   `O_CREAT | O_EXCL | O_NOFOLLOW`). At the end the directory's mode is set with `fchmod` and
//!   it is renamed into place with `renameat2(RENAME_NOREPLACE)`, after checking that the
//!   temporary name is still this directory. Swapping the temporary name for a link changes
//!   nothing that vmpipe writes or chmods.
//! * An archive is a temporary file made the same way ([`AtomicFile`]); each process file is
//!   first copied (bounded, see [`super::bounded`]) into an unnamed spool file, whose length
//!   the tar header needs, then appended.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use rustix::fs::{Mode, OFlags};

use super::bounded::{self, Copied, Records};
use crate::output::out_dir::{self, OutDir};
use crate::output::{AtomicFile, OutputError};

/// The mode of a snapshot directory (its files are 0644 less the umask).
const DIR_MODE: Mode = Mode::from_bits_truncate(0o755);
/// The mode of a snapshot archive: what it always was, readable by its owner only.
const ARCHIVE_MODE: Mode = Mode::from_bits_truncate(0o600);

/// A snapshot being written.
pub enum Store {
    /// A directory.
    Dir(DirStore),
    /// A `.tar` or `.tar.gz` file.
    Tar(TarStore),
}

/// A snapshot directory under its temporary name.
pub struct DirStore {
    parent: OutDir,
    name: OsString,
    temp: OsString,
    root: OwnedFd,
    proc: Option<OwnedFd>,
    /// The `proc/PID` directory being written.
    current: Option<(u32, OwnedFd)>,
    done: bool,
}

/// A snapshot archive under its temporary name.
pub struct TarStore {
    file: Option<AtomicFile>,
    builder: tar::Builder<Box<dyn Write + Send>>,
    spool: File,
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Makes and opens the directory `name` in `dir` (the opened one must be what was made: a
/// link at the name is not followed).
fn make_dir(dir: impl AsFd, name: &OsStr, mode: Mode) -> io::Result<OwnedFd> {
    rustix::fs::mkdirat(&dir, name, mode)?;
    Ok(rustix::fs::openat(&dir, name, dir_flags(), Mode::empty())?)
}

/// The path of a file inside the snapshot.
pub fn inside(pid: Option<u32>, name: &str) -> String {
    match pid {
        Some(p) => format!("proc/{p}/{name}"),
        None => name.to_string(),
    }
}

impl Store {
    /// Starts the snapshot `name` in `parent`: an archive when the name ends in `.tar`,
    /// `.tar.gz` or `.tgz`, else a directory.
    pub fn create(parent: &OutDir, name: &OsStr) -> Result<Store, OutputError> {
        let text = name.to_string_lossy();
        let gz = text.ends_with(".tar.gz") || text.ends_with(".tgz");
        if gz || text.ends_with(".tar") {
            let file = AtomicFile::create(parent, name)?;
            let out = BufWriter::new(file.file()?);
            let sink: Box<dyn Write + Send> = if gz {
                Box::new(flate2::write::GzEncoder::new(
                    out,
                    flate2::Compression::default(),
                ))
            } else {
                Box::new(out)
            };
            let spool = crate::output::spool::in_dir(parent.fd())
                .map_err(|e| OutputError::io(file.target(), e))?;
            return Ok(Store::Tar(TarStore {
                file: Some(file),
                builder: tar::Builder::new(sink),
                spool,
            }));
        }
        let temp = OutDir::temp_name(name);
        let root = make_dir(parent.fd(), &temp, Mode::RWXU)
            .map_err(|e| OutputError::io(parent.shown(&temp), e))?;
        Ok(Store::Dir(DirStore {
            parent: parent.clone(),
            name: name.to_os_string(),
            temp,
            root,
            proc: None,
            current: None,
            done: false,
        }))
    }

    /// The snapshot's final path, for messages.
    pub fn target(&self) -> PathBuf {
        match self {
            Store::Dir(d) => d.parent.shown(&d.name),
            Store::Tar(t) => t.file.as_ref().map(|f| f.target()).unwrap_or_default(),
        }
    }

    /// Copies `src` in as `inside(pid, name)`, bounded by `limit` (see [`bounded::copy`]).
    pub fn copy(
        &mut self,
        pid: Option<u32>,
        name: &str,
        src: &mut impl Read,
        limit: u64,
        records: Records,
    ) -> io::Result<Copied> {
        match self {
            Store::Dir(d) => {
                let dir = d.dir_for(pid)?;
                let mut f = new_file(dir, name)?;
                let copied = bounded::copy(src, &mut f, limit, records);
                if copied.is_err() {
                    let _ = rustix::fs::unlinkat(dir, name, rustix::fs::AtFlags::empty());
                }
                copied
            }
            Store::Tar(t) => {
                t.spool.set_len(0)?;
                t.spool.rewind()?;
                let copied = bounded::copy(src, &mut t.spool, limit, records)?;
                t.spool.rewind()?;
                t.append(&inside(pid, name), copied.len)?;
                Ok(copied)
            }
        }
    }

    /// Writes `bytes` as `inside(pid, name)`.
    pub fn put(&mut self, pid: Option<u32>, name: &str, bytes: &[u8]) -> io::Result<Copied> {
        let limit = bytes.len() as u64;
        self.copy(pid, name, &mut &bytes[..], limit, Records::Bytes)
    }

    /// Completes the snapshot and puts it in place (never over anything already there).
    pub fn commit(self) -> Result<PathBuf, OutputError> {
        match self {
            Store::Dir(mut d) => {
                let target = d.parent.shown(&d.name);
                d.current = None;
                d.proc = None;
                rustix::fs::fsync(&d.root).map_err(|e| OutputError::io(&target, e.into()))?;
                if !d.parent.is(&d.temp, &d.root)? {
                    return Err(OutputError::Tampered {
                        path: d.parent.shown(&d.temp),
                    });
                }
                rustix::fs::fchmod(&d.root, DIR_MODE)
                    .map_err(|e| OutputError::io(&target, e.into()))?;
                d.parent.rename(&d.temp, &d.name, true)?;
                d.done = true;
                if !d.parent.is(&d.name, &d.root)? {
                    return Err(OutputError::Tampered { path: target });
                }
                Ok(target)
            }
            Store::Tar(mut t) => {
                let file = t.file.take().ok_or_else(|| {
                    OutputError::io(".", io::Error::other("the snapshot archive was closed"))
                })?;
                let target = file.target();
                let mut sink = t
                    .builder
                    .into_inner()
                    .map_err(|e| OutputError::io(&target, e))?;
                sink.flush().map_err(|e| OutputError::io(&target, e))?;
                drop(sink);
                file.commit_new(ARCHIVE_MODE)
            }
        }
    }
}

impl DirStore {
    /// The directory that `pid`'s files go into (the snapshot's root for `None`), made when
    /// first needed.
    fn dir_for(&mut self, pid: Option<u32>) -> io::Result<&OwnedFd> {
        let Some(pid) = pid else {
            return Ok(&self.root);
        };
        if self.proc.is_none() {
            self.proc = Some(make_dir(&self.root, OsStr::new("proc"), DIR_MODE)?);
        }
        if self.current.as_ref().map(|(p, _)| *p) != Some(pid) {
            let proc = self
                .proc
                .as_ref()
                .ok_or_else(|| io::Error::other("no proc"))?;
            let fd = make_dir(proc, OsStr::new(&pid.to_string()), DIR_MODE)?;
            self.current = Some((pid, fd));
        }
        match &self.current {
            Some((_, fd)) => Ok(fd),
            None => Err(io::Error::other("no process directory")),
        }
    }
}

impl Drop for DirStore {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Empties what vmpipe made (through its own descriptor, wherever the directory is
        // now), then removes the name only if it is still that directory.
        out_dir::empty_dir(&self.root, 3);
        if self.parent.is(&self.temp, &self.root).unwrap_or(false) {
            let _ =
                rustix::fs::unlinkat(self.parent.fd(), &self.temp, rustix::fs::AtFlags::REMOVEDIR);
        }
    }
}

impl TarStore {
    /// Appends the first `len` bytes of the spool as `path`.
    fn append(&mut self, path: &str, len: u64) -> io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(len);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        let data = (&mut self.spool).take(len);
        self.builder.append_data(&mut header, path, data)
    }
}

/// A new file `name` in `dir` (`O_CREAT | O_EXCL | O_NOFOLLOW`, 0644 less the umask).
fn new_file(dir: &OwnedFd, name: &str) -> io::Result<File> {
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::RDWR | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::openat(
        dir,
        name,
        flags,
        Mode::from_raw_mode(0o644),
    )?))
}
