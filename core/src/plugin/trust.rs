//! Whether nobody but root can have put a file, or a directory's contents, where it is.
//!
//! A privileged vmpipe loads a library only if no other user could have written it or swapped
//! it: the file, and every directory on the way to it, must belong to root and not be writable
//! by its group or by others, as `sudo` and `ssh` demand of what they trust. Two rules:
//!
//! * [`file`]: an existing file. A sticky directory on the way (such as `/tmp`) is accepted:
//!   others may create entries in it but cannot replace root's.
//! * [`search_dir`]: a directory the dynamic loader *searches* (RUNPATH, RPATH,
//!   `LD_LIBRARY_PATH`). A search looks for names that need not exist yet, so the directory
//!   itself must not be writable by others even if sticky. A directory that does not exist is
//!   judged by its nearest existing ancestor, since whoever can create it can plant a library
//!   in it: that ancestor must not be writable by others either.
//!
//! Both walk the path as written, one component at a time relative to the descriptor of the
//! directory before (`O_NOFOLLOW`, `fstatat` without following), so what is judged is what
//! the kernel resolves: a symbolic link on the way must itself belong to root, and its target
//! is walked by the same rule.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// The most symbolic links followed on one path (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// Judges an existing file: root's, not writable by group or others, on a path that only root
/// can change. The error says which component fails and why.
pub fn file(path: &Path) -> Result<(), String> {
    walk(path, Rule::File)
}

/// Judges a directory the dynamic loader searches: nobody but root can add a file to it, or
/// create it (see the module docs). Dependencies are resolved on Linux only.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub fn search_dir(path: &Path) -> Result<(), String> {
    walk(path, Rule::SearchDir)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    File,
    SearchDir,
}

fn held_flags() -> OFlags {
    // O_PATH needs no read permission on the directory (a vmpipe holding only cap_sys_ptrace
    // may not have it); elsewhere a plain read-only open.
    #[cfg(target_os = "linux")]
    let base = OFlags::PATH;
    #[cfg(not(target_os = "linux"))]
    let base = OFlags::RDONLY;
    base | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

fn open_root() -> Result<OwnedFd, String> {
    rustix::fs::open("/", held_flags(), Mode::empty()).map_err(|e| format!("/: {e}"))
}

use crate::fsat::components;

/// Root's, and not writable by group or others (`sticky_ok`: a sticky directory may be).
fn judge(shown: &Path, uid: u32, mode: impl Into<u32>, sticky_ok: bool) -> Result<(), String> {
    // `st_mode` is 32 bits on Linux, 16 on macOS.
    let mode: u32 = mode.into();
    if uid != 0 {
        return Err(format!(
            "{} is owned by uid {uid}, not root",
            shown.display()
        ));
    }
    let sticky = mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !(sticky && sticky_ok) {
        return Err(format!(
            "{} is writable by {} (mode {:04o})",
            shown.display(),
            if mode & 0o002 != 0 {
                "others"
            } else {
                "its group"
            },
            mode & 0o7777
        ));
    }
    Ok(())
}

fn walk(path: &Path, rule: Rule) -> Result<(), String> {
    let absolute;
    let path = if path.is_absolute() {
        path
    } else {
        let cwd = std::env::current_dir().map_err(|e| format!("the current directory: {e}"))?;
        absolute = cwd.join(path);
        &absolute
    };
    let mut cur = open_root()?;
    let mut shown = PathBuf::from("/");
    let st = rustix::fs::fstat(&cur).map_err(|e| format!("/: {e}"))?;
    let mut todo = components(path);
    judge(
        &shown,
        st.st_uid,
        st.st_mode,
        rule == Rule::File || !todo.is_empty(),
    )?;
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        let last = todo.is_empty();
        let here = shown.join(OsStr::from_bytes(&name));
        let st = match rustix::fs::statat(&cur, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) if rule == Rule::SearchDir => {
                // Whoever can create it can fill it: the directory we hold (already judged
                // root's) must not be writable by others, sticky or not.
                let held =
                    rustix::fs::fstat(&cur).map_err(|e| format!("{}: {e}", shown.display()))?;
                return judge(&shown, held.st_uid, held.st_mode, false).map_err(|why| {
                    format!(
                        "{} does not exist, and {why}, so anyone can create it",
                        path.display()
                    )
                });
            }
            Err(e) => return Err(format!("{}: {e}", here.display())),
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => {
                if st.st_uid != 0 {
                    return Err(format!(
                        "{} is a symbolic link owned by uid {}, not root",
                        here.display(),
                        st.st_uid
                    ));
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(format!("{}: too many symbolic links", path.display()));
                }
                let target = rustix::fs::readlinkat(&cur, name.as_slice(), Vec::new())
                    .map_err(|e| format!("{}: {e}", here.display()))?;
                let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
                if target.is_absolute() {
                    cur = open_root()?;
                    shown = PathBuf::from("/");
                }
                for c in components(&target).into_iter().rev() {
                    todo.push_front(c);
                }
            }
            FileType::Directory => {
                let sticky_ok = rule == Rule::File || !last;
                judge(&here, st.st_uid, st.st_mode, sticky_ok)?;
                cur = rustix::fs::openat(&cur, name.as_slice(), held_flags(), Mode::empty())
                    .map_err(|e| format!("{}: {e}", here.display()))?;
                // The directory opened is the one judged: nobody but root could have swapped
                // it in between (its parent is root's and not writable by others).
                shown = if name == b".." {
                    shown.parent().map(Path::to_path_buf).unwrap_or(shown)
                } else {
                    here
                };
            }
            _ if last => return judge(&here, st.st_uid, st.st_mode, false),
            _ => return Err(format!("{}: not a directory", here.display())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn system_directories_and_libraries_are_trusted() {
        // Root's on every Linux and macOS system vmpipe runs on.
        assert_eq!(search_dir(Path::new("/usr/lib")), Ok(()));
        if Path::new("/lib").exists() {
            assert_eq!(search_dir(Path::new("/lib")), Ok(()));
        }
    }

    #[test]
    fn writable_missing_and_sticky_directories_are_judged_as_root() {
        // Files made by an ordinary user are never root's: the rule can only be seen as root.
        assert!(
            rustix::process::geteuid().is_root(),
            "this test must run as root: it makes root's files and judges them"
        );
        let t = tempfile::tempdir().unwrap();
        chmod(t.path(), 0o755);
        let d = t.path().join("d");
        std::fs::create_dir(&d).unwrap();
        chmod(&d, 0o755);
        assert_eq!(search_dir(&d), Ok(()));
        // Missing, below a directory only root can write: only root can create it.
        assert_eq!(search_dir(&d.join("not/yet")), Ok(()));
        // Group-writable: refused, named.
        chmod(&d, 0o775);
        let e = search_dir(&d).unwrap_err();
        assert!(e.contains("writable by its group (mode 0775)"), "{e}");
        // Missing below it: anyone in the group can create it.
        let e = search_dir(&d.join("later")).unwrap_err();
        assert!(e.contains("writable by its group"), "{e}");
        // Missing below a sticky world-writable directory (as /tmp is): anyone can create it.
        chmod(&d, 0o1777);
        let e = search_dir(&d.join("later")).unwrap_err();
        assert!(
            e.contains("later does not exist") && e.contains("anyone can create it"),
            "{e}"
        );
        // Sticky and world-writable: fine on the way to a file, not as a searched directory.
        let f = d.join("f");
        std::fs::write(&f, b"x").unwrap();
        chmod(&f, 0o644);
        assert_eq!(file(&f), Ok(()));
        assert!(search_dir(&d).is_err());
        // A link on the way must be root's (it is: we are root), and its target is judged.
        std::os::unix::fs::symlink(&d, t.path().join("link")).unwrap();
        assert_eq!(file(&t.path().join("link/f")), Ok(()));
        std::os::unix::fs::lchown(t.path().join("link"), Some(65534), Some(65534)).unwrap();
        let e = file(&t.path().join("link/f")).unwrap_err();
        assert!(e.contains("symbolic link owned by uid 65534"), "{e}");
    }
}
