//! What backs a region, decided from the path the kernel prints for it: one classification
//! for vmpipe's sources, the ABI's `region_kind` codes and the test harness.
//!
//! | path as printed                                   | kind         |
//! |---------------------------------------------------|--------------|
//! | (none), `[anon:NAME]`                             | `anon`       |
//! | `[heap]`                                          | `heap`       |
//! | `[stack]`, `[stack:TID]` (kernels before 4.5)     | `stack`      |
//! | `[vdso]`                                          | `vdso`       |
//! | `[vvar]`, `[vvar_vclock]`                         | `vvar`       |
//! | `[vsyscall]`                                      | `vsyscall`   |
//! | `[anon_shmem:NAME]`, `/dev/zero (deleted)` shared, `/SYSV…`, `/dev/shm/…` | `shm` |
//! | `/memfd:NAME` (with or without ` (deleted)`)       | `memfd`      |
//! | `anon_inode:…`                                     | `anon-inode` |
//! | any other absolute path                            | `file`       |
//! | anything else in brackets (`[uprobes]`, …)         | `special`    |

use std::fmt;

use crate::abi::region_kind;

/// What backs a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegionKind {
    /// A regular file mapping.
    File,
    /// Anonymous memory (no path, or a `[anon:NAME]` name set with `PR_SET_VMA`).
    Anon,
    /// The main-thread `brk` heap.
    Heap,
    /// The main-thread stack.
    Stack,
    /// The virtual dynamic shared object.
    Vdso,
    /// The vDSO's data pages.
    Vvar,
    /// The legacy vsyscall page.
    Vsyscall,
    /// Shared memory: `MAP_SHARED|MAP_ANONYMOUS`, System V or POSIX shm.
    Shm,
    /// A `memfd_create` file.
    Memfd,
    /// An anonymous inode (`anon_inode:[perf_event]`, DRM buffers, …).
    AnonInode,
    /// Any other kernel-named mapping (`[uprobes]`, …).
    Special,
}

impl RegionKind {
    /// Every kind, in the order of the table above.
    pub const ALL: [RegionKind; 11] = [
        RegionKind::File,
        RegionKind::Anon,
        RegionKind::Heap,
        RegionKind::Stack,
        RegionKind::Vdso,
        RegionKind::Vvar,
        RegionKind::Vsyscall,
        RegionKind::Shm,
        RegionKind::Memfd,
        RegionKind::AnonInode,
        RegionKind::Special,
    ];

    /// Classifies a region by its path as printed by the kernel (with ` (deleted)` if present)
    /// and whether the mapping is shared.
    pub fn classify(path: &[u8], shared: bool) -> RegionKind {
        if path.is_empty() {
            return RegionKind::Anon;
        }
        if path[0] == b'[' {
            return match path {
                b"[heap]" => RegionKind::Heap,
                b"[stack]" => RegionKind::Stack,
                b"[vdso]" => RegionKind::Vdso,
                b"[vvar]" | b"[vvar_vclock]" => RegionKind::Vvar,
                b"[vsyscall]" => RegionKind::Vsyscall,
                p if p.starts_with(b"[stack:") => RegionKind::Stack,
                p if p.starts_with(b"[anon_shmem:") => RegionKind::Shm,
                p if p.starts_with(b"[anon:") => RegionKind::Anon,
                _ => RegionKind::Special,
            };
        }
        if path.starts_with(b"/memfd:") {
            return RegionKind::Memfd;
        }
        if path.starts_with(b"anon_inode:") {
            return RegionKind::AnonInode;
        }
        if path.starts_with(b"/SYSV") || path.starts_with(b"/dev/shm/") {
            return RegionKind::Shm;
        }
        if shared && path == b"/dev/zero (deleted)" {
            return RegionKind::Shm;
        }
        if path[0] == b'/' {
            return RegionKind::File;
        }
        RegionKind::Special
    }

    /// The ABI code ([`crate::abi::region_kind`]).
    pub const fn code(self) -> u32 {
        match self {
            RegionKind::File => region_kind::FILE,
            RegionKind::Anon => region_kind::ANON,
            RegionKind::Heap => region_kind::HEAP,
            RegionKind::Stack => region_kind::STACK,
            RegionKind::Vdso => region_kind::VDSO,
            RegionKind::Vvar => region_kind::VVAR,
            RegionKind::Vsyscall => region_kind::VSYSCALL,
            RegionKind::Shm => region_kind::SHM,
            RegionKind::Memfd => region_kind::MEMFD,
            RegionKind::AnonInode => region_kind::ANON_INODE,
            RegionKind::Special => region_kind::SPECIAL,
        }
    }

    /// The kind of an ABI code; a code newer than this SDK reads as `Special`.
    pub const fn from_code(code: u32) -> RegionKind {
        match code {
            region_kind::FILE => RegionKind::File,
            region_kind::ANON => RegionKind::Anon,
            region_kind::HEAP => RegionKind::Heap,
            region_kind::STACK => RegionKind::Stack,
            region_kind::VDSO => RegionKind::Vdso,
            region_kind::VVAR => RegionKind::Vvar,
            region_kind::VSYSCALL => RegionKind::Vsyscall,
            region_kind::SHM => RegionKind::Shm,
            region_kind::MEMFD => RegionKind::Memfd,
            region_kind::ANON_INODE => RegionKind::AnonInode,
            _ => RegionKind::Special,
        }
    }

    /// The name used in CSV and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RegionKind::File => "file",
            RegionKind::Anon => "anon",
            RegionKind::Heap => "heap",
            RegionKind::Stack => "stack",
            RegionKind::Vdso => "vdso",
            RegionKind::Vvar => "vvar",
            RegionKind::Vsyscall => "vsyscall",
            RegionKind::Shm => "shm",
            RegionKind::Memfd => "memfd",
            RegionKind::AnonInode => "anon-inode",
            RegionKind::Special => "special",
        }
    }
}

impl fmt::Display for RegionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for k in RegionKind::ALL {
            assert_eq!(RegionKind::from_code(k.code()), k);
        }
        assert_eq!(RegionKind::from_code(99), RegionKind::Special);
    }

    #[test]
    fn classifies_the_kernels_names() {
        let cases: &[(&[u8], bool, RegionKind)] = &[
            (b"", false, RegionKind::Anon),
            (b"[anon:libc_malloc]", false, RegionKind::Anon),
            (b"[heap]", false, RegionKind::Heap),
            (b"[stack]", false, RegionKind::Stack),
            (b"[stack:1234]", false, RegionKind::Stack),
            (b"[vdso]", false, RegionKind::Vdso),
            (b"[vvar]", false, RegionKind::Vvar),
            (b"[vvar_vclock]", false, RegionKind::Vvar),
            (b"[vsyscall]", false, RegionKind::Vsyscall),
            (b"[uprobes]", false, RegionKind::Special),
            (b"[anon_shmem:x]", true, RegionKind::Shm),
            (b"/dev/zero (deleted)", true, RegionKind::Shm),
            (b"/dev/zero (deleted)", false, RegionKind::File),
            (b"/SYSV0000162e (deleted)", true, RegionKind::Shm),
            (b"/dev/shm/wayland.mozilla.ipc.1", true, RegionKind::Shm),
            (b"/memfd:foo (deleted)", true, RegionKind::Memfd),
            (b"anon_inode:[perf_event]", false, RegionKind::AnonInode),
            (b"/usr/lib/libc.so.6", false, RegionKind::File),
            (b"/tmp/x (deleted)", false, RegionKind::File),
        ];
        for (path, shared, want) in cases {
            assert_eq!(
                RegionKind::classify(path, *shared),
                *want,
                "{}",
                String::from_utf8_lossy(path)
            );
        }
    }
}
