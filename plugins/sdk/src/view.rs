//! Safe views of what the host lends a plugin for one call: the process, its regions and the
//! other analyzers' values for them. Arrays are stepped through by the element size the host
//! gives; a region is borrowed in place when the host's struct is at least as large as this
//! SDK's (the common case), else copied once with the fields the host lacks left absent.

// An FFI module: the workspace denies unsafe code everywhere else.
#![allow(unsafe_code)]

use crate::Value;
use crate::abi::{self, AnalyzeV2, CellV2, InputV2, ProcessV2, RegionV2};
use crate::kind::RegionKind;
use crate::schema::{ColumnKind, Input};

/// The regions of one call, in address order.
pub struct Regions<'a> {
    base: *const RegionV2,
    len: usize,
    stride: usize,
    /// The regions copied into this SDK's layout, when the host's is smaller.
    copied: Vec<RegionV2>,
    inputs: Vec<InputV2>,
    call: std::marker::PhantomData<&'a RegionV2>,
}

/// Why a call's data could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutError(pub &'static str);

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the host passed {} smaller than ABI 2.0's: not a vmpipe 2.x host",
            self.0
        )
    }
}

impl std::error::Error for LayoutError {}

impl<'a> Regions<'a> {
    /// Views the regions and inputs of an `analyze` call.
    ///
    /// # Safety
    /// `call` must be the host's valid `AnalyzeV2` for the current call (its arrays hold the
    /// elements and sizes it says, valid for `'a`).
    pub unsafe fn new(call: &AnalyzeV2) -> Result<Regions<'a>, LayoutError> {
        let (base, len, stride) = if call.regions.is_null() {
            (std::ptr::null(), 0, size_of::<RegionV2>())
        } else {
            (call.regions, call.regions_len, call.region_size)
        };
        if len > 0 && stride < <RegionV2 as abi::AbiStruct>::MIN_SIZE {
            return Err(LayoutError("regions"));
        }
        let mut copied = Vec::new();
        // SAFETY: the caller's guarantee: `len` regions `stride` bytes apart.
        if len > 0 && unsafe { abi::element_ref(base, 0, stride) }.is_none() {
            copied = (0..len)
                // SAFETY: as above.
                .filter_map(|i| unsafe { abi::read_element(base, i, stride) })
                .collect();
        }
        let mut inputs = Vec::new();
        if !call.inputs.is_null() {
            for i in 0..call.inputs_len {
                // SAFETY: the caller's guarantee for the inputs array.
                let input = unsafe { abi::read_element(call.inputs, i, call.input_size) }
                    .ok_or(LayoutError("inputs"))?;
                if input.cells_len > 0
                    && (input.cells.is_null()
                        || input.cell_size < <CellV2 as abi::AbiStruct>::MIN_SIZE
                        || input.cells_len != len)
                {
                    return Err(LayoutError("input cells"));
                }
                inputs.push(input);
            }
        }
        Ok(Regions {
            base,
            len,
            stride,
            copied,
            inputs,
            call: std::marker::PhantomData,
        })
    }

    /// Number of regions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the call has no region (a kernel thread, a refused memory map).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Region `index`.
    pub fn get(&self, index: usize) -> Option<Region<'_>> {
        if index >= self.len {
            return None;
        }
        let raw = if self.copied.is_empty() {
            // SAFETY: `new` checked the host's elements are at least as large as ours and
            // `index < len`; they live for `'a`, which outlives `&self`.
            unsafe { abi::element_ref(self.base, index, self.stride) }?
        } else {
            self.copied.get(index)?
        };
        Some(Region {
            raw,
            index,
            regions: self,
        })
    }

    /// Every region, in order.
    pub fn iter(&self) -> RegionIter<'_> {
        RegionIter {
            regions: self,
            next: 0,
        }
    }

    fn input(&self, input: u32, region: usize) -> Option<Value<'_>> {
        let i = self.inputs.get(input as usize)?;
        if region >= i.cells_len {
            return None;
        }
        // SAFETY: `new` checked the input has `len` cells of at least 2.0's size, valid for
        // `'a`.
        let c = unsafe { abi::read_element(i.cells, region, i.cell_size) }?;
        // SAFETY: the cell's bytes are the host's, valid for the call.
        Some(unsafe { crate::host::value_of(&c) })
    }
}

impl<'r> IntoIterator for &'r Regions<'_> {
    type Item = Region<'r>;
    type IntoIter = RegionIter<'r>;
    fn into_iter(self) -> RegionIter<'r> {
        RegionIter {
            regions: self,
            next: 0,
        }
    }
}

/// The regions of a call, in order (see [`Regions::iter`]).
pub struct RegionIter<'r> {
    regions: &'r Regions<'r>,
    next: usize,
}

impl<'r> Iterator for RegionIter<'r> {
    type Item = Region<'r>;
    fn next(&mut self) -> Option<Region<'r>> {
        let r = self.regions.get(self.next)?;
        self.next += 1;
        Some(r)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.regions.len.saturating_sub(self.next);
        (n, Some(n))
    }
}

impl ExactSizeIterator for RegionIter<'_> {}

/// One region, borrowed from the host for the call.
#[derive(Clone, Copy)]
pub struct Region<'r> {
    raw: &'r RegionV2,
    index: usize,
    regions: &'r Regions<'r>,
}

impl std::fmt::Debug for Region<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("index", &self.index)
            .field("start", &format_args!("{:#x}", self.raw.start))
            .field("end", &format_args!("{:#x}", self.raw.end))
            .field("perms", &self.perms())
            .finish()
    }
}

impl<'r> Region<'r> {
    /// Its index in the call's regions (what [`crate::Host::set`] takes).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The value another analyzer set on this region, for a column this analyzer declared
    /// it reads (see [`crate::inputs!`]); `None` when that analyzer left it empty.
    pub fn input<K: ColumnKind>(&self, input: Input<K>) -> Option<K::Value<'r>> {
        K::from_value(self.regions.input(input.index(), self.index)?)
    }

    /// First address.
    pub fn start(&self) -> u64 {
        self.raw.start
    }
    /// One past the last address.
    pub fn end(&self) -> u64 {
        self.raw.end
    }
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.raw.end.saturating_sub(self.raw.start)
    }
    /// Offset into the mapped file.
    pub fn offset(&self) -> u64 {
        self.raw.offset
    }
    /// Inode of the mapped file (0 when anonymous).
    pub fn inode(&self) -> u64 {
        self.raw.inode
    }
    /// Device `(major, minor)` of the mapped file.
    pub fn device(&self) -> (u32, u32) {
        (self.raw.dev_major, self.raw.dev_minor)
    }
    /// May be read.
    pub fn readable(&self) -> bool {
        self.raw.perms & abi::perms::READ != 0
    }
    /// May be written.
    pub fn writable(&self) -> bool {
        self.raw.perms & abi::perms::WRITE != 0
    }
    /// May be executed.
    pub fn executable(&self) -> bool {
        self.raw.perms & abi::perms::EXEC != 0
    }
    /// Shared mapping (`MAP_SHARED`).
    pub fn shared(&self) -> bool {
        self.raw.perms & abi::perms::SHARED != 0
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
        RegionKind::from_code(self.raw.kind)
    }
    /// The path as raw bytes (`None` for anonymous memory). A ` (deleted)` suffix is kept.
    pub fn path(&self) -> Option<&'r [u8]> {
        // SAFETY: the host keeps the path valid for the call, which `'r` cannot outlive.
        unsafe { self.raw.path.as_bytes() }
    }
    /// True when the mapped file was unlinked (the kernel's ` (deleted)`).
    pub fn deleted(&self) -> bool {
        self.path().is_some_and(|p| p.ends_with(b" (deleted)"))
    }
    /// The smaps `VmFlags` codes, when known.
    pub fn vm_flags(&self) -> Option<&'r str> {
        // SAFETY: as for `path`.
        let bytes = unsafe { self.raw.vm_flags.as_bytes() }?;
        std::str::from_utf8(bytes).ok()
    }
    /// A residency figure by [`abi::usage`] index (bytes for kB fields), when known.
    pub fn usage(&self, index: usize) -> Option<u64> {
        (index < abi::usage::SLOTS && self.raw.usage_present & (1 << index) != 0)
            .then(|| self.raw.usage[index])
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
    pub fn region_type(&self) -> Option<&'r str> {
        // SAFETY: as for `path`.
        let bytes = unsafe { self.raw.region_type.as_bytes() }?;
        std::str::from_utf8(bytes).ok()
    }
    /// The detail a report gave that is not a path (vmmap REGION DETAIL: `thread 0`, a zone).
    pub fn detail(&self) -> Option<&'r str> {
        // SAFETY: as for `path`.
        let bytes = unsafe { self.raw.detail.as_bytes() }?;
        std::str::from_utf8(bytes).ok()
    }
    /// The share mode the source reported (vmmap SHRMOD: `COW`, `PRV`, `NUL`, …).
    pub fn reported_share_mode(&self) -> Option<&'r str> {
        // SAFETY: as for `path`.
        let bytes = unsafe { self.raw.share_mode.as_bytes() }?;
        std::str::from_utf8(bytes).ok()
    }
    /// The maximum protection as three characters (`rwx`), when known.
    pub fn max_perms(&self) -> Option<[u8; 3]> {
        let m = self.raw.max_perms;
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
    raw: ProcessV2,
    call: std::marker::PhantomData<&'a ProcessV2>,
}

impl<'a> Process<'a> {
    /// Views the host's process (copied in this SDK's layout: fields the host lacks are
    /// absent).
    ///
    /// # Safety
    /// `raw` must point to `size` readable bytes of a process whose strings and zones stay
    /// valid for `'a`.
    pub unsafe fn new(raw: *const ProcessV2, size: usize) -> Result<Process<'a>, LayoutError> {
        if raw.is_null() {
            return Err(LayoutError("no process"));
        }
        // SAFETY: the caller's guarantee.
        let raw = unsafe { abi::read_element(raw, 0, size) }.ok_or(LayoutError("a process"))?;
        Ok(Process {
            raw,
            call: std::marker::PhantomData,
        })
    }

    fn bytes(&self, s: abi::StrV2) -> Option<&'a [u8]> {
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
        if self.raw.zones.is_null() {
            return Vec::new();
        }
        (0..self.raw.zones_len)
            // SAFETY: the host lends `zones_len` zones `zone_size` bytes apart for the call.
            .filter_map(|i| unsafe { abi::read_element(self.raw.zones, i, self.raw.zone_size) })
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
