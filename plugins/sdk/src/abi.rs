//! The C ABI between vmpipe and an analyzer plugin, version 2.
//!
//! Everything here is `#[repr(C)]`. The C header `include/vmpipe_plugin.h` is generated from
//! this file (structs as `vmpipe_region` for `RegionV2`, constants as `VMPIPE_STATUS_OK` for
//! `status::OK`) and `abi-v2.layout` records the size and offset of every field; the test
//! `tests/c_abi/` compares both with what the C compiler lays out, so neither can drift
//! (`VMPIPE_BLESS=1 cargo test -p vmpipe-plugin --test c_abi` regenerates them, when the
//! rules below allow).
//!
//! # Versions and compatibility
//!
//! * The **major** version is in the entry symbol's name: a plugin exports
//!   `const vmpipe_plugin *vmpipe_plugin_v2(void)` (or `vmpipe_plugin_v2_NAME`). A host loads
//!   only its own major. ABI v1 (vmpipe-plugin 0.1) is refused: its structs grew without a
//!   version change and crossed as arrays without an element size, so no host can tell what a
//!   v1 library expects.
//! * A **minor** version only appends fields at the end of structs, or adds constants. It
//!   never moves, resizes or removes a field (the layout test fails if one does).
//! * Every struct that crosses is covered by a size the other side can read: [`PluginV2`],
//!   [`HostV2`], [`CreateV2`] and [`AnalyzeV2`] carry `struct_size`; every array and every
//!   single pointer to a struct carries its element size next to it (`…_size`). The reader
//!   steps through arrays by that size and reads only fields that lie inside it: a field
//!   outside it is absent (zero, null). Sizes are never smaller than the 2.0 layout.
//! * [`PluginV2::abi_minor`] is the minor the plugin was built with; [`PluginV2::requires_minor`]
//!   is the oldest minor it can run on. A host speaking 2.M loads a plugin when
//!   `requires_minor <= M`, whatever its `abi_minor`; a plugin built against a newer minor
//!   that only uses 2.0 features keeps `requires_minor = 0` and runs on a 2.0 host, where
//!   newer callbacks are absent (null, or outside [`HostV2::struct_size`]) and newer fields
//!   read as absent. The Rust SDK checks both for you; a C plugin checks a callback before
//!   calling it, and reads a field added after 2.0 only when the element size covers it.
//!
//! # The calls (the contract, also in the C header)
//!
//! The host calls `create` once per pipeline entry, `analyze` once per process from many
//! threads at once (with the same state), `finish` once after every `analyze` returned, and
//! `destroy` last, once, for every state `create` stored — even when `create` then failed.
//! `analyze` is also called for processes with no regions (kernel threads, processes whose
//! memory map was refused: see [`ProcessV2::status`]), with `regions_len == 0`.
//!
//! Data crosses as borrowed views valid for the duration of one call; results go back through
//! the host's callbacks in [`HostV2`], which copy what they keep. Nothing is allocated on one
//! side and freed on the other. Libraries are never unloaded.
//!
//! What a plugin author in another language must know:
//!
//! * `create` returns [`status::OK`] only after storing a non-null `*state`: a null state
//!   is a failure ("reported success but created no state"). After a failed `create`,
//!   `destroy` is still called if `*state` was set to non-null, and `analyze`/`finish` never.
//! * A failing status comes with a message given through [`HostV2::error`] during the same
//!   call; when `error` is called more than once, the last message is kept (at most 4096
//!   bytes of it). In `create`, [`HostV2::error_option`] names the option to blame.
//! * [`status::REFUSED`]: return it after a callback refused a value; the host already
//!   recorded why (one error row), so the call adds no second row.
//! * [`HostV2::log`] works in every call, `create` included: [`level::WARN`] becomes a row of
//!   `errors.csv` with stage `warning` (printed when the pipeline loads, from `create`);
//!   [`level::INFO`] is printed to standard error only when `VMPIPE_PLUGIN_DEBUG` is set.
//! * [`HostV2::read_memory`] reads at most [`MAX_READ`] (64 MiB) per call; a larger length,
//!   or a null `buf` or `read`, answers [`status::BAD_READ`] and reads nothing.
//! * Callbacks are used from the thread of the call, during the call; the host pointer, the
//!   call struct and every view in it are invalid once the entry point returns.
//! * C plugins declare [`panic_strategy::NONE`].

// An FFI module: the workspace denies unsafe code everywhere else.
#![allow(unsafe_code)]

use std::ffi::c_void;

/// The ABI major version this SDK speaks (the `v2` in the entry symbol's name).
pub const ABI_MAJOR: u32 = 2;
/// The ABI minor version this SDK speaks.
pub const ABI_MINOR: u32 = 0;
/// The start of every entry symbol's name; the major version follows (`vmpipe_plugin_v2`).
pub const ENTRY_PREFIX: &str = "vmpipe_plugin_v";
/// The entry symbol's name, without a suffix. The [`crate::export!`] macro spells the same
/// name (an attribute needs a literal); a test checks they agree.
pub const ENTRY_SYMBOL: &str = "vmpipe_plugin_v2";

/// Status codes returned by plugin entry points and host callbacks.
pub mod status {
    /// Success.
    pub const OK: u32 = 0;
    /// The call failed; the message was given through [`super::HostV2::error`] (the last
    /// message given in a call is the one kept).
    pub const ERROR: u32 = 1;
    /// The plugin panicked; the message was given through [`super::HostV2::error`].
    pub const PANIC: u32 = 2;
    /// The call stopped because the host refused a value: the host has already recorded why,
    /// so it adds nothing more. When the host refused nothing in the call, it is reported as
    /// `ERROR` is (one row, with the message given through [`super::HostV2::error`]).
    pub const REFUSED: u32 = 3;
    /// The source has no memory to read (a capture, a report).
    pub const MEMORY_UNAVAILABLE: u32 = 10;
    /// Reading the process's memory was refused.
    pub const MEMORY_DENIED: u32 = 11;
    /// The address range is not mapped (or not readable) in the process.
    pub const MEMORY_FAULT: u32 = 12;
    /// The process is gone.
    pub const MEMORY_VANISHED: u32 = 13;
    /// Another process holds the pid now (its start time differs from the one read when the
    /// process was collected), or the process vanished: nothing of it can be opened.
    pub const PROCESS_REPLACED: u32 = 14;
    /// A read asked for more than [`super::MAX_READ`] bytes, or a null buffer.
    pub const BAD_READ: u32 = 15;
    /// An emitted value named a column the plugin did not declare.
    pub const BAD_COLUMN: u32 = 20;
    /// An emitted value's type differs from its column's declared type.
    pub const BAD_TYPE: u32 = 21;
    /// An emitted value named a region index out of range.
    pub const BAD_REGION: u32 = 22;
    /// A row named a table the plugin did not declare, or one of the wrong scope.
    pub const BAD_TABLE: u32 = 23;
    /// A row has a different number of cells than its table has columns.
    pub const BAD_ARITY: u32 = 24;
    /// The callback is not available in this call (emitting a region value in `finish`).
    pub const NOT_NOW: u32 = 25;
    /// The value was refused because what the plugin emitted in this call passed vmpipe's
    /// budget for one call (64 MiB); later values of the call are refused too.
    pub const OVER_BUDGET: u32 = 26;
    /// An element size is smaller than the 2.0 layout of its struct.
    pub const BAD_SIZE: u32 = 27;
}

/// Most bytes one [`HostV2::read_memory`] call may ask for (64 MiB); larger reads fail with
/// [`status::BAD_READ`].
pub const MAX_READ: usize = 64 << 20;

/// Column types (the `kind` of [`ColumnV2`] and [`CellV2`]).
pub mod kind {
    /// No value (a cell only).
    pub const ABSENT: u32 = 0;
    /// Unsigned 64-bit integer (a count, a size in bytes).
    pub const U64: u32 = 1;
    /// Signed 64-bit integer.
    pub const I64: u32 = 2;
    /// 64-bit float.
    pub const F64: u32 = 3;
    /// Boolean.
    pub const BOOL: u32 = 4;
    /// UTF-8 text.
    pub const TEXT: u32 = 5;
    /// Raw bytes (a path, a name): written with vmpipe's reversible escape.
    pub const BYTES: u32 = 6;
    /// An address, written `0x…`.
    pub const ADDRESS: u32 = 7;
}

/// Table scopes (the `scope` of [`TableV2`]).
pub mod scope {
    /// Rows emitted from `analyze`, about one process; the host prepends `pid` and `process`.
    pub const PROCESS: u32 = 1;
    /// Rows emitted from `finish`, about the whole run.
    pub const RUN: u32 = 2;
}

/// How a plugin's code handles a panic ([`PluginV2::panic_strategy`]).
pub mod panic_strategy {
    /// Not Rust, or no panics can happen (a C plugin).
    pub const NONE: u32 = 0;
    /// Built with `panic = "unwind"`: the SDK catches every panic at the ABI boundary.
    pub const UNWIND: u32 = 1;
    /// Built with `panic = "abort"`: a panic would end the whole sweep. The host refuses it.
    pub const ABORT: u32 = 2;
}

/// What [`HostV2::open`] opens, always through the `/proc/PID` directory vmpipe opened when
/// it collected the process, never through a path naming the pid again.
pub mod open_what {
    /// The file mapped at `[start, end)`: `map_files/START-END` (root), for reading. Refused
    /// unless it is a regular file.
    pub const MAPPED: u32 = 1;
    /// `path` looked up inside the process's root directory (`root/`, symbolic links resolved
    /// inside that root), for reading. Refused unless it is a regular file.
    pub const IN_ROOT: u32 = 2;
    /// Like `IN_ROOT`, as an `O_PATH` descriptor: only for `fstat` (what is at the path now).
    pub const IN_ROOT_STAT: u32 = 3;
    /// An entry of the process's `/proc/PID` directory (`root`, `ns/mnt`), its link followed,
    /// as an `O_PATH` descriptor for `fstat`.
    pub const PROC_STAT: u32 = 4;
    /// The process's `pagemap` (`/proc/PID/pagemap`), for reading: 8 bytes per virtual page
    /// at offset `address / page size * 8`. The descriptor stays bound to the address space
    /// it was opened on.
    pub const PAGEMAP: u32 = 5;
}

/// Log levels for [`HostV2::log`].
pub mod level {
    /// Something the user should know; the run goes on. Kept as a row of `errors.csv` with
    /// stage `warning` (from `create`: printed when the pipeline is loaded).
    pub const WARN: u32 = 1;
    /// Detail for debugging: printed to standard error only when the environment variable
    /// `VMPIPE_PLUGIN_DEBUG` is set, dropped otherwise.
    pub const INFO: u32 = 2;
}

/// A borrowed byte string: UTF-8 text or raw bytes, as the field's documentation says. A null
/// `ptr` means absent (distinct from empty). Frozen: never grows.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StrV2 {
    /// First byte, or null when absent.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl StrV2 {
    /// The absent string.
    pub const ABSENT: StrV2 = StrV2 {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// A view of `bytes` (valid as long as they are).
    pub const fn new(bytes: &[u8]) -> StrV2 {
        StrV2 {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// The bytes, or `None` when absent.
    ///
    /// # Safety
    /// `ptr` must be null or point to `len` readable bytes that outlive `'a`.
    pub unsafe fn as_bytes<'a>(self) -> Option<&'a [u8]> {
        if self.ptr.is_null() {
            None
        } else {
            // SAFETY: the caller guarantees `ptr` points to `len` live bytes.
            Some(unsafe { std::slice::from_raw_parts(self.ptr, self.len) })
        }
    }
}

/// One declared column.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ColumnV2 {
    /// Column name: lowercase ASCII letters, digits and `_`, starting with a letter.
    pub name: StrV2,
    /// One of [`kind`] (not `ABSENT`).
    pub kind: u32,
    /// What the column holds (UTF-8).
    pub description: StrV2,
}

/// One declared table.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TableV2 {
    /// Table name (the CSV file is `NAME.csv`); same rules as column names.
    pub name: StrV2,
    /// What a row is (UTF-8).
    pub description: StrV2,
    /// One of [`scope`].
    pub scope: u32,
    /// The columns (for `PROCESS` tables, not counting the `pid` and `process` the host adds).
    pub columns: *const ColumnV2,
    /// Number of columns.
    pub columns_len: usize,
    /// Size of one [`ColumnV2`] as the plugin built it.
    pub column_size: usize,
}

/// A region column of another analyzer that this analyzer reads. The host runs the
/// providing analyzer first on each process and passes its values in [`AnalyzeV2::inputs`],
/// in the order of [`PluginV2::reads`]; it refuses to load a pipeline without the provider.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ReadV2 {
    /// The providing analyzer's name (`image-attribution`).
    pub analyzer: StrV2,
    /// Its region column (`image`).
    pub column: StrV2,
    /// The [`kind`] the reader expects; the host refuses the pipeline when the provider
    /// declares another.
    pub kind: u32,
}

/// One value: emitted by a plugin, or read from another analyzer.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CellV2 {
    /// One of [`kind`]; `ABSENT` for no value.
    pub kind: u32,
    /// `U64`, `ADDRESS`, `BOOL` (0/1), or `I64` (as two's complement).
    pub int: u64,
    /// `F64`.
    pub float: f64,
    /// `TEXT` and `BYTES`.
    pub bytes: StrV2,
}

/// The values of one [`ReadV2`] for the regions of an `analyze` call: `cells[i]` belongs to
/// region `i`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct InputV2 {
    /// One cell per region.
    pub cells: *const CellV2,
    /// Number of cells (the call's `regions_len`).
    pub cells_len: usize,
    /// Size of one [`CellV2`] as the host built it.
    pub cell_size: usize,
}

/// Process status values ([`ProcessV2::status`]).
pub mod process_status {
    /// Read completely.
    pub const OK: u32 = 0;
    /// Read in part.
    pub const PARTIAL: u32 = 1;
    /// Memory map refused (the call has no regions).
    pub const DENIED: u32 = 2;
    /// Exited while read.
    pub const VANISHED: u32 = 3;
}

/// The facts of one process, borrowed for one call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ProcessV2 {
    /// Process id.
    pub pid: u32,
    /// One of [`process_status`].
    pub status: u32,
    /// Parent pid, or -1 when unknown.
    pub ppid: i64,
    /// Real uid, or -1 when unknown.
    pub uid: i64,
    /// Thread count, or -1 when unknown.
    pub threads: i64,
    /// Name (raw bytes).
    pub name: StrV2,
    /// Executable path (raw bytes), absent when unknown.
    pub exe: StrV2,
    /// Command line as the kernel holds it: arguments each followed by NUL.
    pub cmdline: StrV2,
    /// 1 for a live process of this machine: its memory is readable and `/proc/PID` is this
    /// process. 0 for evidence (captures, reports), of whose memory only what was saved — if
    /// anything — can be read through [`HostV2::read_memory`].
    pub has_memory: u32,
    /// The malloc zones a report gave for the process (vmmap's MALLOC ZONE table).
    pub zones: *const ZoneV2,
    /// Number of zones.
    pub zones_len: usize,
    /// Size of one [`ZoneV2`] as the host built it.
    pub zone_size: usize,
}

/// Bits of [`ZoneV2::present`]: which figures the report gave.
pub mod zone_field {
    /// `virtual_size`.
    pub const VIRTUAL: u32 = 1;
    /// `resident`.
    pub const RESIDENT: u32 = 2;
    /// `dirty`.
    pub const DIRTY: u32 = 4;
    /// `swapped`.
    pub const SWAPPED: u32 = 8;
    /// `allocation_count`.
    pub const ALLOCATION_COUNT: u32 = 16;
    /// `bytes_allocated`.
    pub const BYTES_ALLOCATED: u32 = 32;
    /// `frag_size`.
    pub const FRAG_SIZE: u32 = 64;
    /// `pct_frag`.
    pub const PCT_FRAG: u32 = 128;
    /// `pct_full`.
    pub const PCT_FULL: u32 = 256;
    /// `region_count`.
    pub const REGION_COUNT: u32 = 512;
}

/// One malloc zone as a report gave it (sizes in bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ZoneV2 {
    /// The zone's name (`DefaultMallocZone_0x…`).
    pub name: StrV2,
    /// [`zone_field`] bits of the figures present.
    pub present: u32,
    /// Virtual size.
    pub virtual_size: u64,
    /// Resident size.
    pub resident: u64,
    /// Dirty size.
    pub dirty: u64,
    /// Swapped size.
    pub swapped: u64,
    /// Allocations.
    pub allocation_count: u64,
    /// Bytes allocated.
    pub bytes_allocated: u64,
    /// vmmap's DIRTY+SWAP FRAG SIZE.
    pub frag_size: u64,
    /// vmmap's `% FRAG`.
    pub pct_frag: f64,
    /// vmmap's `% FULL` (older reports).
    pub pct_full: f64,
    /// Regions of the zone.
    pub region_count: u64,
}

/// Permission bits of [`RegionV2::perms`].
pub mod perms {
    /// Readable.
    pub const READ: u32 = 1;
    /// Writable.
    pub const WRITE: u32 = 2;
    /// Executable.
    pub const EXEC: u32 = 4;
    /// Shared (`s`) rather than private (`p`).
    pub const SHARED: u32 = 8;
    /// In `max_perms`: the maximum protection is known.
    pub const KNOWN: u32 = 0x100;
}

/// Region kinds ([`RegionV2::kind`]), decided from the path the kernel prints in
/// `/proc/PID/maps` (with ` (deleted)` when it shows). A reader treats an unknown value as
/// `SPECIAL`.
pub mod region_kind {
    /// Any other absolute path: a regular file, a device.
    pub const FILE: u32 = 0;
    /// Anonymous memory: no path, or `[anon:NAME]` (named with `PR_SET_VMA`).
    pub const ANON: u32 = 1;
    /// The `brk` heap: `[heap]`.
    pub const HEAP: u32 = 2;
    /// The main stack: `[stack]` (`[stack:TID]` on kernels before 4.5).
    pub const STACK: u32 = 3;
    /// The vDSO: `[vdso]`.
    pub const VDSO: u32 = 4;
    /// vDSO data: `[vvar]`, `[vvar_vclock]`.
    pub const VVAR: u32 = 5;
    /// The vsyscall page: `[vsyscall]`.
    pub const VSYSCALL: u32 = 6;
    /// Shared memory: `[anon_shmem:NAME]`, `/SYSV…`, `/dev/shm/…`, and a shared mapping of
    /// `/dev/zero (deleted)`.
    pub const SHM: u32 = 7;
    /// A memfd: `/memfd:NAME`.
    pub const MEMFD: u32 = 8;
    /// An anonymous inode: `anon_inode:…`.
    pub const ANON_INODE: u32 = 9;
    /// Any other kernel-named mapping: anything else in brackets (`[uprobes]`, …).
    pub const SPECIAL: u32 = 10;
}

/// Indices into [`RegionV2::usage`]; bit `i` of [`RegionV2::usage_present`] says whether
/// `usage[i]` is known. kB fields are in bytes.
pub mod usage {
    /// `KernelPageSize`.
    pub const KERNEL_PAGE_SIZE: usize = 0;
    /// `MMUPageSize`.
    pub const MMU_PAGE_SIZE: usize = 1;
    /// `Rss`.
    pub const RSS: usize = 2;
    /// `Pss`.
    pub const PSS: usize = 3;
    /// `Pss_Dirty`.
    pub const PSS_DIRTY: usize = 4;
    /// `Shared_Clean`.
    pub const SHARED_CLEAN: usize = 5;
    /// `Shared_Dirty`.
    pub const SHARED_DIRTY: usize = 6;
    /// `Private_Clean`.
    pub const PRIVATE_CLEAN: usize = 7;
    /// `Private_Dirty`.
    pub const PRIVATE_DIRTY: usize = 8;
    /// `Referenced`.
    pub const REFERENCED: usize = 9;
    /// `Anonymous`.
    pub const ANONYMOUS: usize = 10;
    /// `KSM`.
    pub const KSM: usize = 11;
    /// `LazyFree`.
    pub const LAZY_FREE: usize = 12;
    /// `AnonHugePages`.
    pub const ANON_HUGE_PAGES: usize = 13;
    /// `ShmemPmdMapped`.
    pub const SHMEM_PMD_MAPPED: usize = 14;
    /// `FilePmdMapped`.
    pub const FILE_PMD_MAPPED: usize = 15;
    /// `Shared_Hugetlb`.
    pub const SHARED_HUGETLB: usize = 16;
    /// `Private_Hugetlb`.
    pub const PRIVATE_HUGETLB: usize = 17;
    /// `Swap`.
    pub const SWAP: usize = 18;
    /// `SwapPss`.
    pub const SWAP_PSS: usize = 19;
    /// `Locked`.
    pub const LOCKED: usize = 20;
    /// `THPeligible` (a number).
    pub const THP_ELIGIBLE: usize = 21;
    /// `ProtectionKey` (a number).
    pub const PROTECTION_KEY: usize = 22;
    /// Dirty bytes as a report counts them (vmmap's DIRTY); Linux has no such field.
    pub const DIRTY: usize = 23;
    /// Slots in the array (room to grow within v2).
    pub const SLOTS: usize = 32;
}

/// One region, borrowed for one call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RegionV2 {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// File offset.
    pub offset: u64,
    /// Inode of the mapped file.
    pub inode: u64,
    /// Device major.
    pub dev_major: u32,
    /// Device minor.
    pub dev_minor: u32,
    /// [`perms`] bits.
    pub perms: u32,
    /// One of [`region_kind`].
    pub kind: u32,
    /// Path (raw bytes), absent for anonymous memory.
    pub path: StrV2,
    /// The smaps `VmFlags` codes (text), absent when unknown.
    pub vm_flags: StrV2,
    /// Bit `i` set when `usage[i]` is known.
    pub usage_present: u64,
    /// Residency figures, indexed by [`usage`].
    pub usage: [u64; usage::SLOTS],
    /// The report's region type (vmmap REGION TYPE: `__TEXT`, `STACK GUARD`, …), absent for
    /// live Linux processes.
    pub region_type: StrV2,
    /// The share mode the source reported (vmmap SHRMOD: `COW`, `PRV`, …), absent when the
    /// source reports none (Linux).
    pub share_mode: StrV2,
    /// The maximum protection: [`perms`] bits, plus [`perms::KNOWN`] when known.
    pub max_perms: u32,
    /// The report's detail when it is not a path (vmmap REGION DETAIL: `stack guard for
    /// thread 0`, a malloc zone's name), absent otherwise.
    pub detail: StrV2,
}

/// Option value kinds ([`ValueV2::kind`]).
pub mod value_kind {
    /// A string (`text`).
    pub const STRING: u32 = 1;
    /// An integer (`int`).
    pub const INTEGER: u32 = 2;
    /// A float (`float`).
    pub const FLOAT: u32 = 3;
    /// A boolean (`int` 0/1).
    pub const BOOLEAN: u32 = 4;
    /// An array (`items`).
    pub const ARRAY: u32 = 5;
    /// A table (`entries`).
    pub const TABLE: u32 = 6;
    /// A TOML date-time (`text`, RFC 3339).
    pub const DATETIME: u32 = 7;
}

/// One value of the options table given in the pipeline file.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ValueV2 {
    /// One of [`value_kind`].
    pub kind: u32,
    /// `INTEGER`, `BOOLEAN`.
    pub int: i64,
    /// `FLOAT`.
    pub float: f64,
    /// `STRING`, `DATETIME`.
    pub text: StrV2,
    /// `ARRAY` items.
    pub items: *const ValueV2,
    /// Number of items.
    pub items_len: usize,
    /// Size of one item.
    pub item_size: usize,
    /// `TABLE` entries.
    pub entries: *const EntryV2,
    /// Number of entries.
    pub entries_len: usize,
    /// Size of one entry.
    pub entry_size: usize,
}

/// One `key = value` of an options table.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EntryV2 {
    /// The key (UTF-8).
    pub key: StrV2,
    /// The value.
    pub value: ValueV2,
}

/// What `create` is given.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CreateV2 {
    /// `size_of::<CreateV2>()` as the host built it.
    pub struct_size: usize,
    /// The `options` table of the pipeline entry.
    pub options: *const EntryV2,
    /// Number of entries.
    pub options_len: usize,
    /// Size of one [`EntryV2`].
    pub entry_size: usize,
}

/// What `analyze` is given for one process.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct AnalyzeV2 {
    /// `size_of::<AnalyzeV2>()` as the host built it.
    pub struct_size: usize,
    /// The process.
    pub process: *const ProcessV2,
    /// Size of the [`ProcessV2`].
    pub process_size: usize,
    /// Its regions, in address order (none for kernel threads and refused memory maps).
    pub regions: *const RegionV2,
    /// Number of regions.
    pub regions_len: usize,
    /// Size of one [`RegionV2`].
    pub region_size: usize,
    /// The values of the columns the plugin reads ([`PluginV2::reads`], same order).
    pub inputs: *const InputV2,
    /// Number of inputs (the plugin's `reads_len`).
    pub inputs_len: usize,
    /// Size of one [`InputV2`].
    pub input_size: usize,
}

/// The host's services for one call. Every callback may be used from the calling thread
/// during that call only. A callback is absent (null) or lies outside `struct_size` when the
/// host is older than the minor that added it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct HostV2 {
    /// `size_of::<HostV2>()` as the host built it.
    pub struct_size: usize,
    /// Opaque host context: pass it back to every callback.
    pub ctx: *mut c_void,
    /// Sets the value of declared region column `column` (index into the plugin's region
    /// columns) for region `region` (index into the regions of this call); `cell_size` is
    /// the size of the plugin's [`CellV2`]. Only in `analyze` (else `NOT_NOW`). A refused
    /// value is recorded by the host as one error row; the plugin may go on, or return
    /// `REFUSED` to stop without a second row.
    pub region_value: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            region: usize,
            column: u32,
            cell: *const CellV2,
            cell_size: usize,
        ) -> u32,
    >,
    /// Appends a row to declared table `table` (index into the plugin's tables): `len` cells,
    /// each `cell_size` bytes apart. `PROCESS` tables only in `analyze`, `RUN` tables only in
    /// `finish`. Refusals as for `region_value`.
    pub table_row: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            table: u32,
            cells: *const CellV2,
            len: usize,
            cell_size: usize,
        ) -> u32,
    >,
    /// Logs a message (UTF-8) at a [`level`]; usable in every call, `create` included.
    pub log: Option<unsafe extern "C" fn(ctx: *mut c_void, level: u32, message: StrV2)>,
    /// Reads up to `len` bytes (at most [`MAX_READ`]) of the process's memory at `address`
    /// into `buf`; stores the count read in `*read` (fewer than asked when the range runs
    /// into an unmapped page) and returns a [`status`]. Only in `analyze`; evidence without
    /// saved memory answers `MEMORY_UNAVAILABLE`.
    pub read_memory: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            address: u64,
            buf: *mut u8,
            len: usize,
            read: *mut usize,
        ) -> u32,
    >,
    /// Gives the message (UTF-8) that goes with a failing status of the current call; when
    /// called more than once, the last message is kept.
    pub error: Option<unsafe extern "C" fn(ctx: *mut c_void, message: StrV2)>,
    /// In `create`: says the failure concerns option `key` of the pipeline entry, so the host
    /// can point at it. Give the message with `error` as well.
    pub error_option: Option<unsafe extern "C" fn(ctx: *mut c_void, key: StrV2)>,
    /// Opens a file of the process (see [`open_what`]) and stores its descriptor in `*fd`,
    /// which the plugin then owns and must close. Before answering, the host checks that the
    /// pid still holds the process it collected (same start time), else returns
    /// `PROCESS_REPLACED`; `MEMORY_UNAVAILABLE` for evidence; `MEMORY_DENIED`, `MEMORY_FAULT`
    /// (nothing mapped there) or `ERROR` otherwise. Only in `analyze`.
    pub open: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            what: u32,
            start: u64,
            end: u64,
            path: StrV2,
            fd: *mut i32,
        ) -> u32,
    >,
}

/// The plugin's description and entry points. The exported function returns a pointer to a
/// static one. `abi_major`, `abi_minor` and `struct_size` stay the first three fields in every
/// major version, so any host can read them.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PluginV2 {
    /// Must be [`ABI_MAJOR`].
    pub abi_major: u32,
    /// The minor version the plugin was built with.
    pub abi_minor: u32,
    /// `size_of::<PluginV2>()` as the plugin built it.
    pub struct_size: usize,
    /// The oldest minor the plugin can run on (see the module docs); a host speaking an older
    /// one refuses it.
    pub requires_minor: u32,
    /// One of [`panic_strategy`].
    pub panic_strategy: u32,
    /// The analyzer's name (same rules as column names, `-` allowed).
    pub name: StrV2,
    /// Its version (UTF-8).
    pub version: StrV2,
    /// One line on what it finds (UTF-8).
    pub description: StrV2,
    /// Region columns it adds.
    pub region_columns: *const ColumnV2,
    /// Number of region columns.
    pub region_columns_len: usize,
    /// Size of one [`ColumnV2`].
    pub column_size: usize,
    /// Tables it fills.
    pub tables: *const TableV2,
    /// Number of tables.
    pub tables_len: usize,
    /// Size of one [`TableV2`].
    pub table_size: usize,
    /// Other analyzers' region columns it reads.
    pub reads: *const ReadV2,
    /// Number of reads.
    pub reads_len: usize,
    /// Size of one [`ReadV2`].
    pub read_size: usize,
    /// Validates the options and creates the analyzer's state (`*state`). On failure returns
    /// `ERROR` after giving the message through `host.error` (and `host.error_option` when
    /// one option is to blame). A success must store a non-null state (else the host treats
    /// it as a failure). `destroy` is called for any non-null state stored, success or not.
    pub create: Option<
        unsafe extern "C" fn(
            call: *const CreateV2,
            host: *const HostV2,
            state: *mut *mut c_void,
        ) -> u32,
    >,
    /// Analyzes one process. Called from many threads at once with the same state. A failing
    /// status becomes one error row for the process (with the message given through
    /// `host.error`); the sweep goes on.
    pub analyze: Option<
        unsafe extern "C" fn(
            state: *mut c_void,
            call: *const AnalyzeV2,
            host: *const HostV2,
        ) -> u32,
    >,
    /// Called once after every process, to emit `RUN` tables.
    pub finish: Option<unsafe extern "C" fn(state: *mut c_void, host: *const HostV2) -> u32>,
    /// Frees the state.
    pub destroy: Option<unsafe extern "C" fn(state: *mut c_void)>,
}

/// A [`PluginV2`] in a `static`: the raw pointers it holds point to other statics, which are
/// immutable, so sharing it between threads is sound.
#[repr(transparent)]
pub struct StaticPlugin(pub PluginV2);

// SAFETY: every pointer inside points to immutable 'static data (see the export macro).
unsafe impl Sync for StaticPlugin {}
// SAFETY: as above.
unsafe impl Send for StaticPlugin {}

/// The ABI structs: plain data whose all-zero value is valid (null pointers, absent
/// callbacks, zero numbers), so the part of one the other side did not provide can be read as
/// zero.
///
/// # Safety
/// Implemented only for the `#[repr(C)]` structs of this module, every field of which is an
/// integer, a float, a raw pointer, an `Option` of a function pointer, or another such struct.
pub unsafe trait AbiStruct: Copy {
    /// The size of the struct in ABI 2.0: the smallest element size a reader accepts.
    const MIN_SIZE: usize;
}

macro_rules! abi_structs {
    ($($t:ident = $min:expr),* $(,)?) => {$(
        // SAFETY: every field of the struct is an integer, float, raw pointer, optional
        // function pointer or another such struct: all-zero bits are a valid value.
        unsafe impl AbiStruct for $t {
            const MIN_SIZE: usize = $min;
        }
    )*};
}

// The 2.0 sizes (x86_64/aarch64; the layout test checks them against the compiler and the
// layout file). A later minor appends fields, so `size_of` grows while these stay.
abi_structs! {
    StrV2 = 16,
    ColumnV2 = 40,
    TableV2 = 64,
    ReadV2 = 40,
    CellV2 = 40,
    InputV2 = 24,
    ProcessV2 = 112,
    ZoneV2 = 104,
    RegionV2 = 400,
    ValueV2 = 88,
    EntryV2 = 104,
    CreateV2 = 32,
    AnalyzeV2 = 72,
    HostV2 = 72,
    PluginV2 = 176,
}

/// Reads element `index` of an array whose elements are `size` bytes apart, as the side that
/// built it knows them: fields inside `size` are copied, fields beyond it read as zero.
/// `None` when `size` is smaller than the 2.0 layout (the array cannot be read safely).
///
/// # Safety
/// `base` must point to at least `index + 1` elements of `size` readable bytes each.
pub unsafe fn read_element<T: AbiStruct>(base: *const T, index: usize, size: usize) -> Option<T> {
    if size < T::MIN_SIZE {
        return None;
    }
    let mut out = std::mem::MaybeUninit::<T>::zeroed();
    let n = size.min(std::mem::size_of::<T>());
    // SAFETY: the caller guarantees `size` readable bytes at element `index`; `out` has room
    // for `size_of::<T>() >= n` bytes; the regions do not overlap.
    unsafe {
        let src = base.cast::<u8>().add(index * size);
        std::ptr::copy_nonoverlapping(src, out.as_mut_ptr().cast::<u8>(), n);
    }
    // SAFETY: all-zero is a valid `T` (the `AbiStruct` contract) and the first `n` bytes were
    // copied from a valid `T` of the other side's layout, whose common prefix is this one.
    Some(unsafe { out.assume_init() })
}

/// A reference to element `index` when the other side's element is at least as large as
/// this side's struct (the common case: same minor), so nothing needs copying.
///
/// # Safety
/// As for [`read_element`], and the elements must outlive `'a`.
pub unsafe fn element_ref<'a, T: AbiStruct>(
    base: *const T,
    index: usize,
    size: usize,
) -> Option<&'a T> {
    if size < std::mem::size_of::<T>() || !size.is_multiple_of(std::mem::align_of::<T>()) {
        return None;
    }
    // SAFETY: the caller guarantees the element is there and outlives `'a`; `size` covers the
    // whole struct and keeps its alignment.
    Some(unsafe { &*base.cast::<u8>().add(index * size).cast::<T>() })
}
