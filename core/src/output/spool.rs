//! Unnamed scratch files: written while a run goes on and read back at its end, so what a
//! sink or the snapshot has to hold until then costs disk, not memory. Nothing else can open
//! them: `O_TMPFILE` where the file system has it, else a new name (`O_CREAT | O_EXCL |
//! O_NOFOLLOW`, mode 0600) removed at once, both relative to a directory descriptor.

use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags};

use super::out_dir::OutDir;
use crate::fsat::{self, LinkRule};

/// An unnamed file in the directory `dir`.
pub fn in_dir(dir: BorrowedFd<'_>) -> io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
        if let Ok(fd) = rustix::fs::openat(dir, ".", flags, Mode::from_raw_mode(0o600)) {
            return Ok(File::from(fd));
        }
    }
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::RDWR | OFlags::CLOEXEC;
    let mut last = rustix::io::Errno::EXIST;
    for _ in 0..64 {
        let name = OutDir::temp_name("spool".as_ref());
        match rustix::fs::openat(dir, &name, flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => {
                let _ = rustix::fs::unlinkat(dir, &name, AtFlags::empty());
                return Ok(File::from(fd));
            }
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => {
                last = e;
                break;
            }
        }
    }
    Err(last.into())
}

/// An unnamed file in the system's temporary directory (`TMPDIR`, else `/tmp`), reached
/// without following a link a privileged vmpipe should not trust.
pub fn in_temp_dir() -> io::Result<File> {
    let path = std::env::temp_dir();
    let dir = fsat::resolve_dir(Path::new(&path), false, LinkRule::for_this_process())
        .map_err(io::Error::other)?;
    use std::os::fd::AsFd;
    in_dir(dir.as_fd())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek, Write};

    use super::*;

    #[test]
    fn a_spool_reads_back_what_was_written_and_leaves_no_name() {
        let t = tempfile::tempdir().unwrap();
        let dir = std::fs::File::open(t.path()).unwrap();
        use std::os::fd::AsFd;
        let mut f = in_dir(dir.as_fd()).unwrap();
        f.write_all(b"kept on disk").unwrap();
        f.rewind().unwrap();
        let mut back = String::new();
        f.read_to_string(&mut back).unwrap();
        assert_eq!(back, "kept on disk");
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
        in_temp_dir().unwrap();
    }
}
