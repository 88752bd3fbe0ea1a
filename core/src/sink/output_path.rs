//! Where outputs may be written when vmpipe runs as root.
//!
//! An attacker who can write to a shared directory (`/tmp`) can plant a symbolic link at the
//! place a root sweep will write to, pointing at `/etc` or any file they want overwritten. As
//! the kernel's `protected_symlinks` does for sticky directories, vmpipe running as root refuses
//! to write through an output path (a CSV directory, a report file) that is a symbolic link
//! owned by another user. Links owned by root itself, which only root could have made, are
//! followed. Files inside the output directory are never written through: each is created
//! under a fresh name and renamed over whatever was there, which replaces a planted link
//! rather than following it.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::SinkError;

/// Refuses `path` if it is a symbolic link owned by someone else than root, when running as
/// root.
pub fn refuse_planted_link(path: &Path) -> Result<(), SinkError> {
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.file_type().is_symlink() && md.uid() != 0 => Err(SinkError::PlantedLink {
            path: path.to_path_buf(),
            owner: md.uid(),
        }),
        _ => Ok(()),
    }
}
