//! An output file that appears complete or not at all: written under a temporary name in the
//! destination directory, synced, and renamed over the final name at the end. Dropped before
//! that, it disappears.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::SinkError;

/// A file being written under a temporary name.
pub struct AtomicFile {
    target: PathBuf,
    temp: NamedTempFile,
}

impl AtomicFile {
    /// Starts `target` (its directory must exist). The temporary file is created with
    /// `O_EXCL` and mode 0600, so a planted file or link at the temporary name is never
    /// followed.
    pub fn create(target: &Path) -> Result<AtomicFile, SinkError> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| SinkError::io(target, e))?;
        Ok(AtomicFile {
            target: target.to_path_buf(),
            temp,
        })
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// A second handle on the temporary file, to write through.
    pub fn file(&self) -> Result<File, SinkError> {
        self.temp
            .reopen()
            .map_err(|e| SinkError::io(&self.target, e))
    }

    /// Syncs the temporary file and renames it to the final path (replacing what was there).
    pub fn commit(self) -> Result<PathBuf, SinkError> {
        self.sync()?;
        self.persist()
    }

    /// Syncs the temporary file to disk (what [`AtomicFile::commit`] does first).
    pub fn sync(&self) -> Result<(), SinkError> {
        self.temp
            .as_file()
            .sync_all()
            .map_err(|e| SinkError::io(&self.target, e))
    }

    /// Syncs every file at once (one thread each, so the file system can commit them
    /// together rather than one journal commit after another), then renames each to its final
    /// path. On a failure nothing more is renamed; files not renamed disappear.
    pub fn commit_all(files: Vec<AtomicFile>) -> Result<Vec<PathBuf>, SinkError> {
        std::thread::scope(|s| {
            let syncs: Vec<_> = files.iter().map(|f| s.spawn(|| f.sync())).collect();
            syncs.into_iter().try_for_each(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(SinkError::io(".", io::Error::other("sync panicked"))))
            })
        })?;
        files.into_iter().map(AtomicFile::persist).collect()
    }

    /// Renames the (synced) temporary file to the final path.
    fn persist(self) -> Result<PathBuf, SinkError> {
        let target = self.target;
        // Files are created 0600; outputs are ordinary files a user reads.
        set_readable(self.temp.path()).map_err(|e| SinkError::io(&target, e))?;
        self.temp
            .persist(&target)
            .map_err(|e| SinkError::io(&target, e.error))?;
        Ok(target)
    }
}

fn set_readable(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
}
