//! Safe, zero-copy views of what the host lends a plugin for one call: the process and its
//! regions.

use crate::abi::{self, ProcessV1, RegionV1};

/// What backs a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// A regular file.
    File,
    /// Anonymous memory.
    Anon,
    /// The `brk` heap.
    Heap,
    /// The main stack.
    Stack,
    /// The vDSO.
    Vdso,
    /// vDSO data.
    Vvar,
    /// The vsyscall page.
    Vsyscall,
    /// Shared memory.
    Shm,
    /// A `memfd_create` file.
    Memfd,
    /// An anonymous inode.
    AnonInode,
    /// Any other kernel-named mapping (or a kind newer than this SDK).
    Special,
}

/// One region, borrowed from the host for the call.
#[repr(transparent)]
#[derive(Clone, Copy, Debug)]
pub struct Region(RegionV1);

impl Region {
    /// Views the host's regions.
    ///
    /// # Safety
    /// `ptr` must point to `len` regions whose strings stay valid for `'a`.
    pub unsafe fn slice<'a>(ptr: *const RegionV1, len: usize) -> &'a [Region] {
        if ptr.is_null() || len == 0 {
            return &[];
        }
        // SAFETY: `Region` is `repr(transparent)` over `RegionV1`, and the caller guarantees
        // `len` valid regions for `'a`.
        unsafe { std::slice::from_raw_parts(ptr.cast::<Region>(), len) }
    }

    /// First address.
    pub fn start(&self) -> u64 {
        self.0.start
    }
    /// One past the last address.
    pub fn end(&self) -> u64 {
        self.0.end
    }
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.0.end.saturating_sub(self.0.start)
    }
    /// Offset into the mapped file.
    pub fn offset(&self) -> u64 {
        self.0.offset
    }
    /// Inode of the mapped file (0 when anonymous).
    pub fn inode(&self) -> u64 {
        self.0.inode
    }
    /// Device `(major, minor)` of the mapped file.
    pub fn device(&self) -> (u32, u32) {
        (self.0.dev_major, self.0.dev_minor)
    }
    /// May be read.
    pub fn readable(&self) -> bool {
        self.0.perms & abi::perms::READ != 0
    }
    /// May be written.
    pub fn writable(&self) -> bool {
        self.0.perms & abi::perms::WRITE != 0
    }
    /// May be executed.
    pub fn executable(&self) -> bool {
        self.0.perms & abi::perms::EXEC != 0
    }
    /// Shared mapping (`MAP_SHARED`).
    pub fn shared(&self) -> bool {
        self.0.perms & abi::perms::SHARED != 0
    }
    /// The four permission characters as the kernel prints them (`r-xp`).
    pub fn perms(&self) -> String {
        [
            if self.readable() { 'r' } else { '-' },
            if self.writable() { 'w' } else { '-' },
            if self.executable() { 'x' } else { '-' },
            if self.shared() { 's' } else { 'p' },
        ]
        .iter()
        .collect()
    }
    /// What backs the region.
    pub fn kind(&self) -> RegionKind {
        match self.0.kind {
            abi::region_kind::FILE => RegionKind::File,
            abi::region_kind::ANON => RegionKind::Anon,
            abi::region_kind::HEAP => RegionKind::Heap,
            abi::region_kind::STACK => RegionKind::Stack,
            abi::region_kind::VDSO => RegionKind::Vdso,
            abi::region_kind::VVAR => RegionKind::Vvar,
            abi::region_kind::VSYSCALL => RegionKind::Vsyscall,
            abi::region_kind::SHM => RegionKind::Shm,
            abi::region_kind::MEMFD => RegionKind::Memfd,
            abi::region_kind::ANON_INODE => RegionKind::AnonInode,
            _ => RegionKind::Special,
        }
    }
    /// The path as raw bytes (`None` for anonymous memory). A ` (deleted)` suffix is kept.
    pub fn path(&self) -> Option<&[u8]> {
        // SAFETY: the host keeps the path valid for the call, which `&self` cannot outlive.
        unsafe { self.0.path.as_bytes() }
    }
    /// True when the mapped file was unlinked (the kernel's ` (deleted)`).
    pub fn deleted(&self) -> bool {
        self.path().is_some_and(|p| p.ends_with(b" (deleted)"))
    }
    /// The smaps `VmFlags` codes, when known.
    pub fn vm_flags(&self) -> Option<&str> {
        // SAFETY: as for `path`.
        let bytes = unsafe { self.0.vm_flags.as_bytes() }?;
        std::str::from_utf8(bytes).ok()
    }
    /// A residency figure by [`abi::usage`] index (bytes for kB fields), when known.
    pub fn usage(&self, index: usize) -> Option<u64> {
        (index < abi::usage::SLOTS && self.0.usage_present & (1 << index) != 0)
            .then(|| self.0.usage[index])
    }
    /// Resident bytes, when known.
    pub fn rss(&self) -> Option<u64> {
        self.usage(abi::usage::RSS)
    }
    /// Proportional set size, when known.
    pub fn pss(&self) -> Option<u64> {
        self.usage(abi::usage::PSS)
    }
    /// Swapped bytes, when known.
    pub fn swap(&self) -> Option<u64> {
        self.usage(abi::usage::SWAP)
    }
    /// Private dirty bytes, when known.
    pub fn private_dirty(&self) -> Option<u64> {
        self.usage(abi::usage::PRIVATE_DIRTY)
    }
    /// The region type a report gave (vmmap REGION TYPE: `__TEXT`, `STACK GUARD`, …).
    pub fn region_type(&self) -> Option<&str> {
        // SAFETY: as for `path`.
        let bytes = unsafe { self.0.region_type.as_bytes() }?;
        std::str::from_utf8(bytes).ok()
    }
    /// The detail a report gave that is not a path (vmmap REGION DETAIL: `thread 0`, a zone).
    pub fn detail(&self) -> Option<&str> {
        // SAFETY: as for `path`.
        let bytes = unsafe { self.0.detail.as_bytes() }?;
        std::str::from_utf8(bytes).ok()
    }
    /// The share mode the source reported (vmmap SHRMOD: `COW`, `PRV`, `NUL`, …).
    pub fn reported_share_mode(&self) -> Option<&str> {
        // SAFETY: as for `path`.
        let bytes = unsafe { self.0.share_mode.as_bytes() }?;
        std::str::from_utf8(bytes).ok()
    }
    /// The maximum protection as three characters (`rwx`), when known.
    pub fn max_perms(&self) -> Option<[u8; 3]> {
        let m = self.0.max_perms;
        (m & abi::perms::KNOWN != 0).then_some([
            if m & abi::perms::READ != 0 {
                b'r'
            } else {
                b'-'
            },
            if m & abi::perms::WRITE != 0 {
                b'w'
            } else {
                b'-'
            },
            if m & abi::perms::EXEC != 0 {
                b'x'
            } else {
                b'-'
            },
        ])
    }
}

/// How completely the host could read a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessStatus {
    /// Completely.
    Ok,
    /// In part.
    Partial,
    /// Its memory map was refused (the plugin sees no regions).
    Denied,
    /// It exited while being read.
    Vanished,
}

/// A malloc zone as a report gave it (vmmap's MALLOC ZONE table); absent figures are `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportedZone {
    /// The zone's name.
    pub name: String,
    /// Virtual size in bytes.
    pub virtual_size: Option<u64>,
    /// Resident bytes.
    pub resident: Option<u64>,
    /// Dirty bytes.
    pub dirty: Option<u64>,
    /// Swapped bytes.
    pub swapped: Option<u64>,
    /// Allocations.
    pub allocation_count: Option<u64>,
    /// Bytes allocated.
    pub bytes_allocated: Option<u64>,
    /// DIRTY+SWAP FRAG SIZE in bytes.
    pub frag_size: Option<u64>,
    /// `% FRAG`.
    pub pct_frag: Option<f64>,
    /// `% FULL`.
    pub pct_full: Option<f64>,
    /// Regions.
    pub region_count: Option<u64>,
}

/// One process, borrowed from the host for the call.
#[derive(Clone, Copy, Debug)]
pub struct Process<'a> {
    raw: &'a ProcessV1,
}

impl<'a> Process<'a> {
    /// Views the host's process.
    ///
    /// # Safety
    /// The strings `raw` points to must stay valid for `'a`.
    pub unsafe fn new(raw: &'a ProcessV1) -> Process<'a> {
        Process { raw }
    }

    fn bytes(&self, s: abi::StrV1) -> Option<&'a [u8]> {
        // SAFETY: `new`'s contract: the strings are valid for `'a`.
        unsafe { s.as_bytes() }
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.raw.pid
    }
    /// Parent pid, when known.
    pub fn ppid(&self) -> Option<u32> {
        u32::try_from(self.raw.ppid).ok()
    }
    /// Real uid, when known.
    pub fn uid(&self) -> Option<u32> {
        u32::try_from(self.raw.uid).ok()
    }
    /// Thread count, when known.
    pub fn threads(&self) -> Option<u32> {
        u32::try_from(self.raw.threads).ok()
    }
    /// Name (raw bytes, chosen by whoever runs the process).
    pub fn name(&self) -> &'a [u8] {
        self.bytes(self.raw.name).unwrap_or(&[])
    }
    /// Executable path (raw bytes), when known.
    pub fn exe(&self) -> Option<&'a [u8]> {
        self.bytes(self.raw.exe)
    }
    /// The command line's arguments.
    pub fn args(&self) -> impl Iterator<Item = &'a [u8]> {
        let all = self.bytes(self.raw.cmdline).unwrap_or(&[]);
        let trimmed = all.strip_suffix(b"\0").unwrap_or(all);
        trimmed
            .split(|&b| b == 0)
            .filter(move |_| !trimmed.is_empty())
    }
    /// How completely it was read.
    pub fn status(&self) -> ProcessStatus {
        match self.raw.status {
            abi::process_status::OK => ProcessStatus::Ok,
            abi::process_status::PARTIAL => ProcessStatus::Partial,
            abi::process_status::DENIED => ProcessStatus::Denied,
            _ => ProcessStatus::Vanished,
        }
    }
    /// The malloc zones a report gave for the process (vmmap's MALLOC ZONE table); empty for
    /// live processes and captures.
    pub fn reported_zones(&self) -> Vec<ReportedZone> {
        if self.raw.zones.is_null() || self.raw.zones_len == 0 {
            return Vec::new();
        }
        // SAFETY: the host lends `zones_len` zones for the duration of the call (`'a`).
        let zones = unsafe { std::slice::from_raw_parts(self.raw.zones, self.raw.zones_len) };
        zones
            .iter()
            .map(|z| {
                let has = |bit: u32| z.present & bit != 0;
                use abi::zone_field as f;
                ReportedZone {
                    name: String::from_utf8_lossy(self.bytes(z.name).unwrap_or(&[])).into_owned(),
                    virtual_size: has(f::VIRTUAL).then_some(z.virtual_size),
                    resident: has(f::RESIDENT).then_some(z.resident),
                    dirty: has(f::DIRTY).then_some(z.dirty),
                    swapped: has(f::SWAPPED).then_some(z.swapped),
                    allocation_count: has(f::ALLOCATION_COUNT).then_some(z.allocation_count),
                    bytes_allocated: has(f::BYTES_ALLOCATED).then_some(z.bytes_allocated),
                    frag_size: has(f::FRAG_SIZE).then_some(z.frag_size),
                    pct_frag: has(f::PCT_FRAG).then_some(z.pct_frag),
                    pct_full: has(f::PCT_FULL).then_some(z.pct_full),
                    region_count: has(f::REGION_COUNT).then_some(z.region_count),
                }
            })
            .collect()
    }
    /// True for a live process of this machine: [`crate::Host::read_memory`] reads its memory
    /// and `/proc/PID` is this process. False for evidence (a capture, a report), of which
    /// `read_memory` serves only what was saved, if anything.
    pub fn has_memory(&self) -> bool {
        self.raw.has_memory != 0
    }
}
