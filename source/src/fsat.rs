//! File operations that another user cannot race: everything relative to a directory
//! descriptor that vmpipe holds, never a path string checked and then opened again.
//!
//! vmpipe runs as root on machines where an attacker may own a directory on the path of an
//! output or an evidence file. Two primitives cover every such path:
//!
//! * [`resolve_dir`] opens a directory path component by component without following a
//!   symbolic link that someone else could have planted (see [`LinkRule`]), creating missing
//!   components when asked; what it returns is a descriptor, and everything after is done
//!   relative to it (`openat`, `renameat`, `fchmod`), so swapping a component afterwards
//!   changes nothing.
//! * [`open_beneath`] opens a file below a held directory without following any link at all
//!   (`openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` where the kernel has it, a walk with
//!   `O_NOFOLLOW` at every step where it does not), non-blocking (a FIFO cannot hang vmpipe),
//!   and refuses anything `fstat` does not call a regular file.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// The most symbolic links followed while resolving one path (the kernel's own limit).
const MAX_LINKS: usize = 40;

/// Which symbolic links on a path may be followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkRule {
    /// Any link (vmpipe is not privileged: it can do nothing the user could not).
    Any,
    /// Only links owned by root or by vmpipe's effective user: nobody else can have made
    /// them point where they do. The rule for a privileged vmpipe.
    Trusted,
}

impl LinkRule {
    /// The rule for this process: [`LinkRule::Trusted`] when [`crate::privilege::privileged`].
    pub fn for_this_process() -> LinkRule {
        if crate::privilege::privileged() {
            LinkRule::Trusted
        } else {
            LinkRule::Any
        }
    }

    fn allows(self, owner: u32) -> bool {
        match self {
            LinkRule::Any => true,
            LinkRule::Trusted => owner == 0 || owner == rustix::process::geteuid().as_raw(),
        }
    }
}

/// Why a path could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A component is a symbolic link that [`LinkRule::Trusted`] does not follow.
    #[error(
        "refusing to follow {link}: it is a symbolic link owned by uid {owner}, and vmpipe runs privileged (remove it, or choose another path)"
    )]
    PlantedLink {
        /// The link, as far as the path had been resolved.
        link: PathBuf,
        /// Its owner.
        owner: u32,
    },
    /// An OS error on a component.
    #[error("{path}: {source}")]
    Io {
        /// The path up to and including the failing component.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl ResolveError {
    fn io(path: &Path, e: impl Into<io::Error>) -> ResolveError {
        ResolveError::Io {
            path: path.to_path_buf(),
            source: e.into(),
        }
    }
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Opens the directory `path` (relative paths from the current directory), following only
/// the symbolic links `rule` allows, and creating missing directories (mode 0755 before the
/// umask) when `create` is set. Every component is opened relative to its parent's
/// descriptor with `O_NOFOLLOW`; a link is read with `readlinkat` and its owner checked with
/// `fstatat` before its target is walked in turn.
pub fn resolve_dir(path: &Path, create: bool, rule: LinkRule) -> Result<OwnedFd, ResolveError> {
    // Fast path: nothing to follow and nothing to create.
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::ResolveFlags;
        match rustix::fs::openat2(
            rustix::fs::CWD,
            path,
            dir_flags(),
            Mode::empty(),
            ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        ) {
            Ok(fd) => return Ok(fd),
            Err(Errno::LOOP | Errno::NOENT | Errno::NOSYS | Errno::AGAIN | Errno::XDEV) => {}
            Err(Errno::NOTDIR) => {} // a link to a directory in the last component
            Err(e) => return Err(ResolveError::io(path, e)),
        }
    }
    walk(path, create, rule)
}

/// The component-by-component walk behind [`resolve_dir`].
fn walk(path: &Path, create: bool, rule: LinkRule) -> Result<OwnedFd, ResolveError> {
    let start = if path.is_absolute() { "/" } else { "." };
    let cur = rustix::fs::open(start, dir_flags(), Mode::empty())
        .map_err(|e| ResolveError::io(Path::new(start), e))?;
    walk_from(cur, PathBuf::from(start), path, create, rule)
}

/// Walks `path` from the held directory `cur`; `shown` is where `cur` is, for messages.
fn walk_from(
    mut cur: OwnedFd,
    mut shown: PathBuf,
    path: &Path,
    create: bool,
    rule: LinkRule,
) -> Result<OwnedFd, ResolveError> {
    let mut todo: VecDeque<Vec<u8>> = components(path);
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        let here = shown.join(OsStr::from_bytes(&name));
        match rustix::fs::openat(&cur, name.as_slice(), dir_flags(), Mode::empty()) {
            Ok(fd) => {
                cur = fd;
                shown = here;
            }
            Err(Errno::LOOP | Errno::NOTDIR) => {
                let st = rustix::fs::statat(&cur, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| ResolveError::io(&here, e))?;
                if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
                    return Err(ResolveError::io(&here, Errno::NOTDIR));
                }
                if !rule.allows(st.st_uid) {
                    return Err(ResolveError::PlantedLink {
                        link: here,
                        owner: st.st_uid,
                    });
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(ResolveError::io(&here, Errno::LOOP));
                }
                let target = rustix::fs::readlinkat(&cur, name.as_slice(), Vec::new())
                    .map_err(|e| ResolveError::io(&here, e))?;
                let target = Path::new(OsStr::from_bytes(target.as_bytes()));
                if target.is_absolute() {
                    cur = rustix::fs::open("/", dir_flags(), Mode::empty())
                        .map_err(|e| ResolveError::io(Path::new("/"), e))?;
                }
                for c in components(target).into_iter().rev() {
                    todo.push_front(c);
                }
                shown = here;
            }
            Err(Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&cur, name.as_slice(), Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(ResolveError::io(&here, e)),
                }
                // Opened like any other component: if someone swapped in a link meanwhile,
                // the next round sees it.
                todo.push_front(name);
            }
            Err(e) => return Err(ResolveError::io(&here, e)),
        }
    }
    Ok(cur)
}

/// A path's components as names to open: `.` dropped, `..` kept (opened relative to the
/// held directory, it is that directory's real parent), the root dropped (handled by the
/// caller).
pub fn components(path: &Path) -> VecDeque<Vec<u8>> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.as_bytes().to_vec()),
            Component::ParentDir => Some(b"..".to_vec()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// Splits a file path into its directory (`.` when none) and its last component; `None` when
/// the path ends in `..`, `.`, `/` or is empty (it names no file).
pub fn split_file(path: &Path) -> Option<(&Path, &OsStr)> {
    let name = match path.components().next_back()? {
        Component::Normal(n) => n,
        _ => return None,
    };
    if path.as_os_str().as_bytes().ends_with(b"/") {
        return None;
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some((dir, name))
}

/// Opens `rel` below the held directory `dir` for reading without following any symbolic
/// link on the way (nor `..` out of `dir`), without blocking on a FIFO or a device, and
/// returns it only if `fstat` says it is a regular file.
pub fn open_beneath(dir: impl AsFd, rel: &Path) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = open_beneath_raw(dir.as_fd(), rel, flags)?;
    regular(fd)
}

/// Opens the directory `rel` below `dir` without following links (see [`open_beneath`]).
pub fn open_dir_beneath(dir: impl AsFd, rel: &Path) -> io::Result<OwnedFd> {
    open_beneath_raw(dir.as_fd(), rel, dir_flags())
}

fn open_beneath_raw(
    dir: std::os::fd::BorrowedFd<'_>,
    rel: &Path,
    flags: OFlags,
) -> io::Result<OwnedFd> {
    if rel.is_absolute() || rel.components().any(|c| c == Component::ParentDir) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a path below the directory", rel.display()),
        ));
    }
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::ResolveFlags;
        match rustix::fs::openat2(
            dir,
            rel,
            flags,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        ) {
            Err(Errno::NOSYS) => {}
            other => return other.map_err(io::Error::from),
        }
    }
    // No openat2: every directory component with O_NOFOLLOW|O_DIRECTORY, then the file.
    let mut parts: Vec<&OsStr> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let Some(last) = parts.pop() else {
        return Ok(rustix::fs::openat(dir, ".", flags, Mode::empty())?);
    };
    let mut held: Option<OwnedFd> = None;
    for p in parts {
        let next = match &held {
            Some(d) => rustix::fs::openat(d, p, dir_flags(), Mode::empty())?,
            None => rustix::fs::openat(dir, p, dir_flags(), Mode::empty())?,
        };
        held = Some(next);
    }
    Ok(match &held {
        Some(d) => rustix::fs::openat(d, last, flags, Mode::empty())?,
        None => rustix::fs::openat(dir, last, flags, Mode::empty())?,
    })
}

/// Keeps `fd` only if it is a regular file (and clears `O_NONBLOCK`, which means nothing for
/// one).
pub fn regular(fd: OwnedFd) -> io::Result<File> {
    let st = rustix::fs::fstat(&fd)?;
    let ft = FileType::from_raw_mode(st.st_mode);
    if ft != FileType::RegularFile {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file but {}", describe(ft)),
        ));
    }
    let flags = rustix::fs::fcntl_getfl(&fd)?;
    rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)?;
    Ok(File::from(fd))
}

/// A file type in words, for messages.
pub fn describe(ft: FileType) -> &'static str {
    match ft {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "a file of unknown type",
    }
}

/// Opens the file at `path` for reading as [`resolve_dir`] would reach its directory (links
/// on the way by `rule`; a link as the last component by `rule` too), non-blocking, and only
/// if it is a regular file. For evidence named on the command line.
pub fn open_input(path: &Path, rule: LinkRule) -> Result<File, ResolveError> {
    let Some((dir, name)) = split_file(path) else {
        return Err(ResolveError::io(path, Errno::ISDIR));
    };
    let mut dirfd = resolve_dir(dir, false, rule)?;
    let mut name = name.to_os_string();
    let mut shown = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        match rustix::fs::openat(&dirfd, name.as_os_str(), flags, Mode::empty()) {
            Ok(fd) => return regular(fd).map_err(|e| ResolveError::io(&shown, e)),
            Err(Errno::LOOP) => {
                let st = rustix::fs::statat(&dirfd, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| ResolveError::io(&shown, e))?;
                if !rule.allows(st.st_uid) {
                    return Err(ResolveError::PlantedLink {
                        link: shown,
                        owner: st.st_uid,
                    });
                }
                let target = rustix::fs::readlinkat(&dirfd, name.as_os_str(), Vec::new())
                    .map_err(|e| ResolveError::io(&shown, e))?;
                let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
                let Some((tdir, tname)) = split_file(&target) else {
                    return Err(ResolveError::io(&shown, Errno::ISDIR));
                };
                dirfd = if target.is_absolute() {
                    resolve_dir(tdir, false, rule)?
                } else {
                    // Relative to the link's own directory, which we hold.
                    resolve_dir_at(&dirfd, tdir, rule)?
                };
                name = tname.to_os_string();
                shown = target;
            }
            Err(e) => return Err(ResolveError::io(&shown, e)),
        }
    }
    Err(ResolveError::io(&shown, Errno::LOOP))
}

/// What an input path named: a directory (held open) or a regular file (open).
#[derive(Debug)]
pub enum Input {
    /// A directory, resolved as [`resolve_dir`] does.
    Dir(OwnedFd),
    /// A regular file, opened as [`open_input`] does.
    File(File),
}

/// Opens an input that may be a directory or a regular file: [`resolve_dir`] first, and
/// [`open_input`] when the path's last component is not a directory. A FIFO, a device or a
/// socket is refused at once (nothing blocks), with the kind of file named.
pub fn open_dir_or_file(path: &Path, rule: LinkRule) -> Result<Input, ResolveError> {
    match resolve_dir(path, false, rule) {
        Ok(fd) => Ok(Input::Dir(fd)),
        Err(ResolveError::Io { source, .. })
            if source.raw_os_error() == Some(Errno::NOTDIR.raw_os_error()) =>
        {
            open_input(path, rule).map(Input::File)
        }
        Err(e) => Err(e),
    }
}

/// The entries of the held directory `dir` (not `.` and `..`), with their types as
/// `lstat` would give them (links are reported as links, never followed), in no particular
/// order. At most `max` entries are read: one more is an error of kind `OutOfMemory`, so a
/// directory of millions of names cannot make vmpipe hold them all.
pub fn list_dir(dir: impl AsFd, max: usize) -> io::Result<Vec<(std::ffi::OsString, FileType)>> {
    let dir = dir.as_fd();
    let mut out = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        if out.len() >= max {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("more than {max} entries in one directory"),
            ));
        }
        let mut ft = entry.file_type();
        if ft == FileType::Unknown {
            // Some file systems leave d_type empty: ask without following.
            ft = match rustix::fs::statat(dir, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => FileType::from_raw_mode(st.st_mode),
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(e.into()),
            };
        }
        out.push((OsStr::from_bytes(name).to_os_string(), ft));
    }
    Ok(out)
}

/// [`walk`] from a held directory instead of `/` or `.` (relative link targets).
fn resolve_dir_at(base: &OwnedFd, rel: &Path, rule: LinkRule) -> Result<OwnedFd, ResolveError> {
    let here = rustix::fs::openat(base, ".", dir_flags(), Mode::empty())
        .map_err(|e| ResolveError::io(rel, e))?;
    walk_from(here, PathBuf::new(), rel, false, rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn split_file_names_the_last_component() {
        assert_eq!(
            split_file(Path::new("a/b.csv")),
            Some((Path::new("a"), OsStr::new("b.csv")))
        );
        assert_eq!(
            split_file(Path::new("b.csv")),
            Some((Path::new("."), OsStr::new("b.csv")))
        );
        assert_eq!(split_file(Path::new("a/")), None);
        assert_eq!(split_file(Path::new("a/..")), None);
        assert_eq!(split_file(Path::new("")), None);
    }

    #[test]
    fn links_are_not_followed_beneath_a_directory() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("d/f"), b"x").unwrap();
        std::os::unix::fs::symlink("d/f", t.path().join("link")).unwrap();
        std::os::unix::fs::symlink("d", t.path().join("dlink")).unwrap();
        let root = resolve_dir(t.path(), false, LinkRule::Any).unwrap();
        let mut s = String::new();
        open_beneath(&root, Path::new("d/f"))
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "x");
        assert!(open_beneath(&root, Path::new("link")).is_err());
        assert!(open_beneath(&root, Path::new("dlink/f")).is_err());
        assert!(open_beneath(&root, Path::new("../x")).is_err());
        // A directory or a FIFO is not a regular file, and opening the FIFO does not block.
        assert!(open_beneath(&root, Path::new("d")).is_err());
        let made = std::process::Command::new("mkfifo")
            .arg(t.path().join("fifo"))
            .status()
            .unwrap();
        assert!(made.success());
        let e = open_beneath(&root, Path::new("fifo")).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
    }

    #[test]
    fn resolve_dir_follows_links_by_the_rule_and_creates() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", t.path().join("link")).unwrap();
        let fd = resolve_dir(&t.path().join("link/new/deeper"), true, LinkRule::Any).unwrap();
        rustix::fs::mkdirat(&fd, "marker", Mode::from_raw_mode(0o700)).unwrap();
        assert!(t.path().join("real/new/deeper/marker").is_dir());
        // Our own link (owned by the effective user) passes the trusted rule too.
        assert!(resolve_dir(&t.path().join("link/."), false, LinkRule::Trusted).is_ok());
    }
}
