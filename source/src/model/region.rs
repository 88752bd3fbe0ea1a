//! One virtual-memory region of one process.

use std::sync::Arc;

use super::{Perms, RegionKind, Usage};

/// The suffix the kernel appends to the path of a mapped file that was unlinked.
pub const DELETED_SUFFIX: &[u8] = b" (deleted)";

/// One virtual-memory region: the facts of its mapping and, where the source has them, its
/// residency figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Current permissions.
    pub perms: Perms,
    /// Offset into the mapped file, in bytes (0 for anonymous memory).
    pub offset: u64,
    /// Device major number of the mapped file (hex in maps).
    pub dev_major: u32,
    /// Device minor number of the mapped file (hex in maps).
    pub dev_minor: u32,
    /// Inode of the mapped file (0 for anonymous memory).
    pub inode: u64,
    /// The path as raw bytes (Linux paths need not be UTF-8), `None` for anonymous memory.
    ///
    /// The kernel escapes a newline in a path as the four characters `\012`; the model holds
    /// the real byte (`\n`). A path that really contains the characters `\012` cannot be told
    /// apart in the kernel's output and reads back as a newline too. A ` (deleted)` suffix is
    /// kept as printed (see [`Region::deleted`]).
    pub path: Option<Arc<[u8]>>,
    /// What backs the region.
    pub kind: RegionKind,
    /// Residency figures; empty for a `maps`-only sweep.
    pub usage: Usage,
    /// The `VmFlags` line of smaps (two-letter codes separated by spaces), when present.
    pub vm_flags: Option<Arc<str>>,
    /// What a report (a macOS vmmap report) says of the region beyond the Linux facts.
    pub reported: Option<Box<Reported>>,
    /// Whether the mapped file is really unlinked, as the source confirmed it: `Some(true)`
    /// when the mapped inode has no link left (`st_nlink == 0`), `Some(false)` when it still
    /// has one (a file really named `lib (deleted)`), `None` when the source could not look
    /// (evidence; a live process without the right to `/proc/PID/map_files`). See
    /// [`Region::unlinked`].
    pub confirmed_unlinked: Option<bool>,
}

/// What a report says of a region that `/proc` has no field for (macOS vmmap reports).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reported {
    /// vmmap's REGION TYPE (`__TEXT`, `MALLOC_TINY`, `STACK GUARD`, …).
    pub region_type: Box<str>,
    /// vmmap's SHRMOD (`COW`, `PRV`, `NUL`, `SHM`, `ALI`, `ZER`, `S/A`), when given.
    pub share_mode: Option<Box<str>>,
    /// The maximum protection (`rwx`), when given.
    pub max_prot: Option<[u8; 3]>,
    /// vmmap's PURGE (`V`, `N`, `E`), when given.
    pub purge: Option<Box<str>>,
    /// vmmap's REGION DETAIL when it is not a path (`stack guard for thread 0`, a zone name).
    pub detail: Box<str>,
}

impl Region {
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// The path bytes, or an empty slice for anonymous memory.
    pub fn path_bytes(&self) -> &[u8] {
        self.path.as_deref().unwrap_or(&[])
    }

    /// True when the path ends with the kernel's ` (deleted)` mark — which a file can also
    /// carry as its real name: [`Region::unlinked`] tells the two apart where the source can.
    pub fn deleted(&self) -> bool {
        self.path_bytes().ends_with(DELETED_SUFFIX)
    }

    /// Whether the mapped file was unlinked: `Some(false)` without the ` (deleted)` mark (the
    /// kernel prints it for every unlinked file), the source's confirmation with it, `None`
    /// when it is marked but the source could not confirm (the regions.csv `deleted` cell is
    /// then empty).
    pub fn unlinked(&self) -> Option<bool> {
        if self.deleted() {
            self.confirmed_unlinked
        } else {
            Some(false)
        }
    }

    /// The maximum permissions the mapping may ever get (`mprotect` limit), as three characters
    /// (`rw-`): a report's own maximum protection, else the `VmFlags` `mr`/`mw`/`me` codes.
    /// `None` when the source gives neither.
    pub fn max_perms(&self) -> Option<[u8; 3]> {
        if let Some(m) = self.reported.as_ref().and_then(|r| r.max_prot) {
            return Some(m);
        }
        let flags = self.vm_flags.as_deref()?;
        let mut out = *b"---";
        for code in flags.as_bytes().split(|b| b.is_ascii_whitespace()) {
            match code {
                b"mr" => out[0] = b'r',
                b"mw" => out[1] = b'w',
                b"me" => out[2] = b'x',
                _ => {}
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_perms_come_from_vm_flags() {
        let mut r = Region {
            start: 0x1000,
            end: 0x3000,
            perms: Perms::default(),
            offset: 0,
            dev_major: 0,
            dev_minor: 0,
            inode: 0,
            path: Some(Arc::from(&b"/tmp/a (deleted)"[..])),
            kind: RegionKind::File,
            usage: Usage::default(),
            vm_flags: None,
            reported: None,
            confirmed_unlinked: None,
        };
        assert_eq!(r.size(), 0x2000);
        assert!(r.deleted());
        assert_eq!(r.unlinked(), None, "marked, not confirmed");
        r.confirmed_unlinked = Some(false);
        assert_eq!(r.unlinked(), Some(false), "a file really named so");
        assert_eq!(r.max_perms(), None);
        r.vm_flags = Some("rd mr mw me ac sd".into());
        assert_eq!(r.max_perms(), Some(*b"rwx"));
        r.vm_flags = Some("rd ex mr me".into());
        assert_eq!(r.max_perms(), Some(*b"r-x"));
    }
}
