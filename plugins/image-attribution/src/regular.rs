//! Opening a file that evidence names on this machine (a capture's mapped paths): regular
//! files only, and no open that could wait or act. A capture is outside data: its maps may
//! name a FIFO (opening it for reading waits for a writer, forever) or a device (opening
//! `/dev/watchdog` arms it).

use std::fs::File;
use std::io;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};

/// Fails unless `fd` is a regular file.
fn check(fd: &std::os::fd::OwnedFd) -> io::Result<()> {
    let st = rustix::fs::fstat(fd)?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Ok(()),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({other:?})"),
        )),
    }
}

/// Opens `path` (symbolic links followed, as any path of this machine) for reading, only if
/// it is a regular file. On Linux the file is first named with `O_PATH` (which opens nothing:
/// no driver runs, nothing waits), checked with `fstat`, and only then that very inode is
/// opened through `/proc/self/fd`; elsewhere it is opened `O_NONBLOCK` and checked after.
pub fn open(path: &Path) -> io::Result<File> {
    let read = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    #[cfg(target_os = "linux")]
    let fd = {
        use std::os::fd::AsRawFd;
        let named = rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?;
        check(&named)?;
        rustix::fs::open(
            format!("/proc/self/fd/{}", named.as_raw_fd()),
            read,
            Mode::empty(),
        )?
    };
    #[cfg(not(target_os = "linux"))]
    let fd = rustix::fs::open(path, read, Mode::empty())?;
    check(&fd)?;
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_waiting() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("run mkfifo (coreutils)");
        assert!(made.success(), "mkfifo {}", fifo.display());
        let e = open(&fifo).expect_err("a FIFO opened");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    }

    #[test]
    fn a_regular_file_reads() {
        use std::io::Read;
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").expect("write");
        let mut s = String::new();
        open(&file)
            .expect("open")
            .read_to_string(&mut s)
            .expect("read");
        assert_eq!(s, "abc");
    }

    #[test]
    fn a_device_is_refused() {
        let e = open(Path::new("/dev/null")).expect_err("a device opened");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    }
}
