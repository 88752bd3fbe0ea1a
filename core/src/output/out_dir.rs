//! An output directory held open for a whole run: every output file, temporary file and
//! snapshot is created, renamed and removed relative to its descriptor, never through a path
//! string that someone else could swap between a check and a use.
//!
//! * The directory is opened with [`fsat::resolve_dir`] under the link rule of this process
//!   ([`LinkRule::for_this_process`]): a privileged vmpipe follows no symbolic link on the way
//!   that another user could have planted (`LINK/`, `LINK/.` and a link in a middle component
//!   alike).
//! * It is locked (`flock` on the held descriptor) for as long as any of its files is being
//!   written: a second vmpipe writing into the same directory fails at once with a message
//!   saying so, rather than mixing its files with the first one's or hanging a responder's
//!   shell. Both sinks of one run writing into the same directory share one lock.
//! * Temporary files are named `.NAME.vmpipe-PID-RANDOM.tmp`. A run killed with SIGKILL leaves
//!   such files behind; the next run into the same directory removes them (only names of that
//!   pattern, only while holding the lock, with `unlinkat` on the held descriptor).

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use super::OutputError;
use crate::fsat::{self, LinkRule};

/// Marks vmpipe's temporary names: `.NAME` + this + `PID-RANDOM.tmp`.
const TEMP_MARK: &[u8] = b".vmpipe-";
/// Random characters in a temporary name.
const TEMP_RANDOM: usize = 10;
/// The longest part of a final name kept in a temporary name (so that it stays within
/// `NAME_MAX`).
const TEMP_NAME_PART: usize = 200;
/// The deepest a leftover temporary directory is removed (a snapshot's is `proc/PID/FILE`).
const LEFTOVER_DEPTH: usize = 4;

/// A held, locked output directory (cheap to clone: clones share the descriptor and the lock).
#[derive(Clone)]
pub struct OutDir {
    inner: Arc<Held>,
}

struct Held {
    fd: OwnedFd,
    path: PathBuf,
    key: DirKey,
}

/// Directories this process holds locked, by device and inode: a second sink of the same run
/// writing there shares the lock instead of failing on it.
static HELD: Mutex<Vec<(DirKey, Weak<Held>)>> = Mutex::new(Vec::new());

/// A directory's device and inode.
type DirKey = (u64, u64);

impl OutDir {
    /// Opens (creating it if missing) and locks the directory `path`, and removes what a killed
    /// vmpipe run left in it.
    pub fn open(path: &Path) -> Result<OutDir, OutputError> {
        let fd = fsat::resolve_dir(path, true, LinkRule::for_this_process())
            .map_err(|e| OutputError::Resolve(Box::new(e)))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| OutputError::io(path, e.into()))?;
        let key = (st.st_dev as u64, st.st_ino as u64);
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        held.retain(|(_, w)| w.strong_count() > 0);
        if let Some(inner) = held
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, w)| w.upgrade())
        {
            return Ok(OutDir { inner });
        }
        match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => {
                return Err(OutputError::Busy {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => return Err(OutputError::io(path, e.into())),
        }
        let inner = Arc::new(Held {
            fd,
            path: path.to_path_buf(),
            key,
        });
        held.push((key, Arc::downgrade(&inner)));
        drop(held);
        let dir = OutDir { inner };
        dir.remove_leftovers();
        Ok(dir)
    }

    /// The directory's descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inner.fd.as_fd()
    }

    /// The directory as given, for messages.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// `name` in this directory, for messages.
    pub fn shown(&self, name: &OsStr) -> PathBuf {
        self.inner.path.join(name)
    }

    /// A fresh temporary name for the final name `name`: `.NAME.vmpipe-PID-RANDOM.tmp`.
    pub fn temp_name(name: &OsStr) -> OsString {
        let name = name.as_bytes();
        let mut out = Vec::with_capacity(name.len().min(TEMP_NAME_PART) + 40);
        out.push(b'.');
        out.extend_from_slice(&name[..name.len().min(TEMP_NAME_PART)]);
        out.extend_from_slice(TEMP_MARK);
        out.extend_from_slice(std::process::id().to_string().as_bytes());
        out.push(b'-');
        out.extend((0..TEMP_RANDOM).map(|_| fastrand::alphanumeric().to_ascii_lowercase() as u8));
        out.extend_from_slice(b".tmp");
        OsString::from_vec(out)
    }

    /// Creates a new temporary file for the final name `name`: `openat(O_CREAT | O_EXCL |
    /// O_NOFOLLOW, 0600)`, so nothing already at the name (a planted file or link) is ever
    /// opened. Returns the descriptor and the temporary name.
    pub fn create_temp(&self, name: &OsStr) -> Result<(OwnedFd, OsString), OutputError> {
        let flags =
            OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::RDWR | OFlags::CLOEXEC;
        let mut last = Errno::EXIST;
        for _ in 0..64 {
            let temp = Self::temp_name(name);
            match rustix::fs::openat(self.fd(), &temp, flags, Mode::from_raw_mode(0o600)) {
                Ok(fd) => return Ok((fd, temp)),
                Err(Errno::EXIST) => last = Errno::EXIST,
                Err(e) => {
                    last = e;
                    break;
                }
            }
        }
        Err(OutputError::io(self.shown(name), last.into()))
    }

    /// Checks that `name` may be replaced by a rename: absent, a regular file or a symbolic
    /// link (which the rename replaces, never follows). A directory or a special file fails,
    /// naming it, before anything of the run is put in place.
    pub fn check_destination(&self, name: &OsStr) -> Result<(), OutputError> {
        match rustix::fs::statat(self.fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => match FileType::from_raw_mode(st.st_mode) {
                FileType::RegularFile | FileType::Symlink => Ok(()),
                other => Err(OutputError::Destination {
                    path: self.shown(name),
                    what: fsat::describe(other),
                }),
            },
            Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(OutputError::io(self.shown(name), e.into())),
        }
    }

    /// True when `name` in this directory is the file `fd` (not swapped by someone else).
    pub fn is(&self, name: &OsStr, fd: impl AsFd) -> Result<bool, OutputError> {
        let ours =
            rustix::fs::fstat(fd).map_err(|e| OutputError::io(self.shown(name), e.into()))?;
        Ok(
            match rustix::fs::statat(self.fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st.st_dev == ours.st_dev && st.st_ino == ours.st_ino,
                Err(_) => false,
            },
        )
    }

    /// Renames `from` to `to` within this directory; with `no_replace`, never over something
    /// already at `to`.
    pub fn rename(&self, from: &OsStr, to: &OsStr, no_replace: bool) -> Result<(), OutputError> {
        let r = if no_replace {
            rustix::fs::renameat_with(
                self.fd(),
                from,
                self.fd(),
                to,
                rustix::fs::RenameFlags::NOREPLACE,
            )
        } else {
            rustix::fs::renameat(self.fd(), from, self.fd(), to)
        };
        r.map_err(|e| OutputError::io(self.shown(to), e.into()))
    }

    /// Removes `name` (a file, or a directory tree of vmpipe's own shape) from this directory,
    /// ignoring failures: for temporary names only.
    pub fn remove(&self, name: &OsStr) {
        remove_at(self.fd(), name, LEFTOVER_DEPTH);
    }

    /// Removes every entry named like vmpipe's temporary files (what a killed run left).
    fn remove_leftovers(&self) {
        let Ok(dir) = rustix::fs::Dir::read_from(self.fd()) else {
            return;
        };
        let names: Vec<OsString> = dir
            .filter_map(Result::ok)
            .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
            .filter(|n| is_temp_name(n.as_bytes()))
            .collect();
        for n in names {
            self.remove(&n);
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        held.retain(|(k, w)| *k != self.key && w.strong_count() > 0);
        // Closing the descriptor (after this) releases the lock.
    }
}

/// True for `.NAME.vmpipe-PID-RANDOM.tmp` (see [`OutDir::temp_name`]).
fn is_temp_name(name: &[u8]) -> bool {
    let Some(body) = name
        .strip_prefix(b".")
        .and_then(|n| n.strip_suffix(b".tmp"))
    else {
        return false;
    };
    let Some(at) = memchr::memmem::rfind(body, TEMP_MARK) else {
        return false;
    };
    let tail = &body[at + TEMP_MARK.len()..];
    let Some(dash) = tail.iter().position(|&b| b == b'-') else {
        return false;
    };
    let (pid, random) = (&tail[..dash], &tail[dash + 1..]);
    at > 0
        && !pid.is_empty()
        && pid.iter().all(u8::is_ascii_digit)
        && random.len() == TEMP_RANDOM
        && random
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// Unlinks `name` below `dir`; a directory is emptied first (entries opened with
/// `O_NOFOLLOW` relative to their parent's descriptor), down to `depth` levels.
fn remove_at(dir: BorrowedFd<'_>, name: &OsStr, depth: usize) {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Err(Errno::ISDIR) | Err(Errno::PERM) if depth > 0 => {}
        _ => return,
    }
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let Ok(sub) = rustix::fs::openat(dir, name, flags, Mode::empty()) else {
        return;
    };
    empty_dir(&sub, depth - 1);
    let _ = rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR);
}

/// Removes everything in the held directory `dir`, down to `depth` levels.
pub(crate) fn empty_dir(dir: &OwnedFd, depth: usize) {
    let Ok(entries) = rustix::fs::Dir::read_from(dir) else {
        return;
    };
    let names: Vec<OsString> = entries
        .filter_map(Result::ok)
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| n != "." && n != "..")
        .collect();
    for n in names {
        remove_at(dir.as_fd(), &n, depth);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_recognised_and_nothing_else() {
        let t = OutDir::temp_name(OsStr::new("regions.csv"));
        assert!(is_temp_name(t.as_bytes()), "{t:?}");
        let long = OutDir::temp_name(OsStr::from_bytes(&[b'x'; 255]));
        assert!(long.len() <= 255 && is_temp_name(long.as_bytes()));
        for other in [
            &b".regions.csv.tmp"[..],
            b"regions.csv",
            b".regions.csv.vmpipe-12-abcdefghij",
            b".regions.csv.vmpipe--abcdefghij.tmp",
            b".regions.csv.vmpipe-12-abc.tmp",
            b".regions.csv.vmpipe-1x-abcdefghij.tmp",
            b".regions.csv.vmpipe-12-ABCDEFGHIJ.tmp",
            b"..vmpipe-12-abcdefghij.tmp",
            b".regions.csv.Xs9a1b.tmp",
        ] {
            assert!(!is_temp_name(other), "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn a_second_holder_of_the_same_directory_in_one_process_shares_the_lock() {
        let t = tempfile::tempdir().unwrap();
        let a = OutDir::open(t.path()).unwrap();
        let b = OutDir::open(&t.path().join(".")).unwrap();
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
        // Another open file description (as another process would have) finds it locked.
        let other = rustix::fs::open(t.path(), OFlags::RDONLY, Mode::empty()).unwrap();
        assert_eq!(
            rustix::fs::flock(&other, FlockOperation::NonBlockingLockExclusive),
            Err(Errno::WOULDBLOCK)
        );
        drop((a, b));
        rustix::fs::flock(&other, FlockOperation::NonBlockingLockExclusive).unwrap();
    }

    #[test]
    fn leftovers_are_removed_and_nothing_else() {
        let t = tempfile::tempdir().unwrap();
        let left = OutDir::temp_name(OsStr::new("regions.csv"));
        std::fs::write(t.path().join(&left), b"old").unwrap();
        let snap = OutDir::temp_name(OsStr::new("snap"));
        std::fs::create_dir_all(t.path().join(&snap).join("proc/1")).unwrap();
        std::fs::write(t.path().join(&snap).join("proc/1/maps"), b"x").unwrap();
        for keep in ["notes.txt", ".regions.csv.abc.tmp", "regions.csv"] {
            std::fs::write(t.path().join(keep), b"keep").unwrap();
        }
        drop(OutDir::open(t.path()).unwrap());
        let mut names: Vec<String> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [".regions.csv.abc.tmp", "notes.txt", "regions.csv"]);
    }
}
