//! An output file that appears complete or not at all: written under a temporary name in its
//! held [`OutDir`], synced, and renamed over the final name at the end. Dropped before that,
//! it disappears.
//!
//! Nothing is done by path: the temporary file is created with `openat(O_CREAT | O_EXCL |
//! O_NOFOLLOW)` in the held directory, its mode is set with `fchmod` on the open descriptor,
//! it is moved with `renameat` within that directory (after checking that the temporary name
//! is still this file, and afterwards that the final name is), and removed with `unlinkat`.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::path::PathBuf;

use rustix::fs::Mode;

use super::OutputError;
use super::out_dir::OutDir;

/// A file being written under a temporary name.
pub struct AtomicFile {
    dir: OutDir,
    name: OsString,
    temp: OsString,
    file: File,
    /// Renamed into place: nothing to remove on drop.
    done: bool,
}

impl AtomicFile {
    /// Starts the file `name` in `dir`. The temporary file is new (mode 0600): a planted file
    /// or link at its name is never opened.
    pub fn create(dir: &OutDir, name: &OsStr) -> Result<AtomicFile, OutputError> {
        let (fd, temp) = dir.create_temp(name)?;
        Ok(AtomicFile {
            dir: dir.clone(),
            name: name.to_os_string(),
            temp,
            file: File::from(fd),
            done: false,
        })
    }

    /// The held directory the file goes in.
    pub fn dir(&self) -> &OutDir {
        &self.dir
    }

    /// The final path, for messages.
    pub fn target(&self) -> PathBuf {
        self.dir.shown(&self.name)
    }

    /// A second handle on the temporary file (the same open file), to write through.
    pub fn file(&self) -> Result<File, OutputError> {
        self.file
            .try_clone()
            .map_err(|e| OutputError::io(self.target(), e))
    }

    /// Syncs the temporary file to disk.
    pub fn sync(&self) -> Result<(), OutputError> {
        self.file
            .sync_all()
            .map_err(|e| OutputError::io(self.target(), e))
    }

    /// Puts a run's files in place, all or nothing as far as vmpipe can tell beforehand:
    ///
    /// 1. syncs every file at once (one thread each, so the file system can commit them
    ///    together rather than one journal commit after another);
    /// 2. checks every destination ([`OutDir::check_destination`]: a directory or a special
    ///    file where a file goes fails the run, naming it) and that every temporary name is
    ///    still the file written;
    /// 3. sets each file's mode (0644, on the descriptor) and renames it over its final name.
    ///
    /// On a failure before step 3 nothing is replaced; files not renamed disappear.
    pub fn commit_all(files: Vec<AtomicFile>) -> Result<Vec<PathBuf>, OutputError> {
        std::thread::scope(|s| {
            let syncs: Vec<_> = files.iter().map(|f| s.spawn(|| f.sync())).collect();
            syncs.into_iter().try_for_each(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(OutputError::io(".", io::Error::other("sync panicked")))
                })
            })
        })?;
        for f in &files {
            f.dir.check_destination(&f.name)?;
            f.check_ours(&f.temp)?;
        }
        files.into_iter().map(AtomicFile::persist).collect()
    }

    /// Fails unless `name` in the directory is this file.
    fn check_ours(&self, name: &OsStr) -> Result<(), OutputError> {
        if self.dir.is(name, &self.file)? {
            Ok(())
        } else {
            Err(OutputError::Tampered {
                path: self.dir.shown(name),
            })
        }
    }

    /// Syncs the file, sets its mode to `mode` and renames it into place, never over
    /// anything already at the final name (a snapshot archive: evidence is never replaced).
    pub fn commit_new(self, mode: Mode) -> Result<PathBuf, OutputError> {
        self.sync()?;
        self.check_ours(&self.temp)?;
        self.put_in_place(mode, true)
    }

    /// Makes the (synced, checked) file readable and renames it to its final name.
    fn persist(self) -> Result<PathBuf, OutputError> {
        // Files are created 0600; outputs are ordinary files a user reads.
        self.put_in_place(Mode::from_bits_truncate(0o644), false)
    }

    fn put_in_place(mut self, mode: Mode, no_replace: bool) -> Result<PathBuf, OutputError> {
        rustix::fs::fchmod(&self.file, mode)
            .map_err(|e| OutputError::io(self.target(), e.into()))?;
        self.dir.rename(&self.temp, &self.name, no_replace)?;
        self.done = true;
        // What was renamed is what vmpipe wrote (someone who can write to the directory
        // could have swapped the temporary name between the check and the rename).
        self.check_ours(&self.name)?;
        Ok(self.target())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.done {
            // Only if the name is still ours: never remove what someone else put there.
            if self.dir.is(&self.temp, &self.file).unwrap_or(false) {
                self.dir.remove(&self.temp);
            }
        }
    }
}
