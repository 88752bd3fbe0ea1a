//! The C ABI between vmpipe and an analyzer plugin, version 1.
//!
//! Everything here is `#[repr(C)]` and stable within major version 1. A plugin library exports
//! one function, `vmpipe_plugin_v1` (or `vmpipe_plugin_v1_NAME`, see [`crate::export`]),
//! returning a pointer to a static [`PluginV1`]. The host checks [`PluginV1::abi_major`],
//! [`PluginV1::abi_minor`] and [`PluginV1::struct_size`] before anything else, then the
//! declared schema, then calls `create` once per pipeline entry, `analyze` once per process
//! (from many threads at once), `finish` once at the end and `destroy` last.
//!
//! Data crosses as borrowed `(pointer, length)` views valid for the duration of one call;
//! results go back through the host's callbacks in [`HostV1`], which copy what they keep. So
//! nothing is ever allocated on one side and freed on the other. Libraries are never unloaded.
//!
//! Minor versions only add fields at the end of structs; `struct_size` says how much of a
//! struct the other side knows.

use std::ffi::c_void;

/// The ABI major version this SDK speaks (the `v1` in the entry symbol's name).
pub const ABI_MAJOR: u32 = 1;
/// The ABI minor version this SDK speaks.
pub const ABI_MINOR: u32 = 1;
/// The entry symbol's name, without a suffix.
pub const ENTRY_SYMBOL: &str = "vmpipe_plugin_v1";

/// Status codes returned by plugin entry points and host callbacks.
pub mod status {
    /// Success.
    pub const OK: u32 = 0;
    /// The call failed; the message was given through [`super::HostV1::error`].
    pub const ERROR: u32 = 1;
    /// The plugin panicked; the message was given through [`super::HostV1::error`].
    pub const PANIC: u32 = 2;
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
    /// budget for one call (see vmpipe's `limits::OUTPUT_BYTES_PER_CALL`); later values of
    /// the call are refused too.
    pub const OVER_BUDGET: u32 = 26;
}

/// Column types (the `kind` of [`ColumnV1`] and [`CellV1`]).
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

/// Table scopes (the `scope` of [`TableV1`]).
pub mod scope {
    /// Rows emitted from `analyze`, about one process; the host prepends `pid` and `process`.
    pub const PROCESS: u32 = 1;
    /// Rows emitted from `finish`, about the whole run.
    pub const RUN: u32 = 2;
}

/// What [`HostV1::open`] opens (ABI 1.1), always through the `/proc/PID` directory vmpipe
/// opened when it collected the process, never through a path naming the pid again.
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

/// Log levels for [`HostV1::log`].
pub mod level {
    /// Something the user should know; the run goes on.
    pub const WARN: u32 = 1;
    /// Detail for debugging.
    pub const INFO: u32 = 2;
}

/// A borrowed byte string: UTF-8 text or raw bytes, as the field's documentation says. A null
/// `ptr` means absent (distinct from empty).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StrV1 {
    /// First byte, or null when absent.
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl StrV1 {
    /// The absent string.
    pub const ABSENT: StrV1 = StrV1 {
        ptr: std::ptr::null(),
        len: 0,
    };

    /// A view of `bytes` (valid as long as they are).
    pub const fn new(bytes: &[u8]) -> StrV1 {
        StrV1 {
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
pub struct ColumnV1 {
    /// Column name: lowercase ASCII letters, digits and `_`, starting with a letter.
    pub name: StrV1,
    /// One of [`kind`] (not `ABSENT`).
    pub kind: u32,
    /// What the column holds (UTF-8).
    pub description: StrV1,
}

/// One declared table.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TableV1 {
    /// Table name (the CSV file is `NAME.csv`); same rules as column names.
    pub name: StrV1,
    /// What a row is (UTF-8).
    pub description: StrV1,
    /// One of [`scope`].
    pub scope: u32,
    /// The columns (for `PROCESS` tables, not counting the `pid` and `process` the host adds).
    pub columns: *const ColumnV1,
    /// Number of columns.
    pub columns_len: usize,
}

/// One value emitted by a plugin.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CellV1 {
    /// One of [`kind`]; `ABSENT` for no value.
    pub kind: u32,
    /// `U64`, `ADDRESS`, `BOOL` (0/1), or `I64` (as two's complement).
    pub int: u64,
    /// `F64`.
    pub float: f64,
    /// `TEXT` and `BYTES`.
    pub bytes: StrV1,
}

/// Process status values ([`ProcessV1::status`]).
pub mod process_status {
    /// Read completely.
    pub const OK: u32 = 0;
    /// Read in part.
    pub const PARTIAL: u32 = 1;
    /// Memory map refused.
    pub const DENIED: u32 = 2;
    /// Exited while read.
    pub const VANISHED: u32 = 3;
}

/// The facts of one process, borrowed for one call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ProcessV1 {
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
    pub name: StrV1,
    /// Executable path (raw bytes), absent when unknown.
    pub exe: StrV1,
    /// Command line as the kernel holds it: arguments each followed by NUL.
    pub cmdline: StrV1,
    /// 1 for a live process of this machine: its memory is readable and `/proc/PID` is this
    /// process. 0 for evidence (captures, reports), of whose memory only what was saved — if
    /// anything — can be read through [`HostV1::read_memory`].
    pub has_memory: u32,
    /// The malloc zones a report gave for the process (vmmap's MALLOC ZONE table).
    pub zones: *const ZoneV1,
    /// Number of zones.
    pub zones_len: usize,
}

/// Bits of [`ZoneV1::present`]: which figures the report gave.
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
pub struct ZoneV1 {
    /// The zone's name (`DefaultMallocZone_0x…`).
    pub name: StrV1,
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

/// Permission bits of [`RegionV1::perms`].
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

/// Region kinds ([`RegionV1::kind`]).
pub mod region_kind {
    /// A regular file.
    pub const FILE: u32 = 0;
    /// Anonymous memory.
    pub const ANON: u32 = 1;
    /// The `brk` heap.
    pub const HEAP: u32 = 2;
    /// The main stack.
    pub const STACK: u32 = 3;
    /// The vDSO.
    pub const VDSO: u32 = 4;
    /// vDSO data.
    pub const VVAR: u32 = 5;
    /// The vsyscall page.
    pub const VSYSCALL: u32 = 6;
    /// Shared memory.
    pub const SHM: u32 = 7;
    /// A memfd.
    pub const MEMFD: u32 = 8;
    /// An anonymous inode.
    pub const ANON_INODE: u32 = 9;
    /// Any other kernel-named mapping.
    pub const SPECIAL: u32 = 10;
}

/// Indices into [`RegionV1::usage`]; bit `i` of [`RegionV1::usage_present`] says whether
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
    /// Slots in the array (room to grow within v1).
    pub const SLOTS: usize = 32;
}

/// One region, borrowed for one call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RegionV1 {
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
    pub path: StrV1,
    /// The smaps `VmFlags` codes (text), absent when unknown.
    pub vm_flags: StrV1,
    /// Bit `i` set when `usage[i]` is known.
    pub usage_present: u64,
    /// Residency figures, indexed by [`usage`].
    pub usage: [u64; usage::SLOTS],
    /// The report's region type (vmmap REGION TYPE: `__TEXT`, `STACK GUARD`, …), absent for
    /// live Linux processes.
    pub region_type: StrV1,
    /// The share mode the source reported (vmmap SHRMOD: `COW`, `PRV`, …), absent when the
    /// source reports none (Linux).
    pub share_mode: StrV1,
    /// The maximum protection: [`perms`] bits, plus [`perms::KNOWN`] when known.
    pub max_perms: u32,
    /// The report's detail when it is not a path (vmmap REGION DETAIL: `stack guard for
    /// thread 0`, a malloc zone's name), absent otherwise.
    pub detail: StrV1,
}

/// Option value kinds ([`ValueV1::kind`]).
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
pub struct ValueV1 {
    /// One of [`value_kind`].
    pub kind: u32,
    /// `INTEGER`, `BOOLEAN`.
    pub int: i64,
    /// `FLOAT`.
    pub float: f64,
    /// `STRING`, `DATETIME`.
    pub text: StrV1,
    /// `ARRAY` items.
    pub items: *const ValueV1,
    /// Number of items.
    pub items_len: usize,
    /// `TABLE` entries.
    pub entries: *const EntryV1,
    /// Number of entries.
    pub entries_len: usize,
}

/// One `key = value` of an options table.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EntryV1 {
    /// The key (UTF-8).
    pub key: StrV1,
    /// The value.
    pub value: ValueV1,
}

/// The host's services for one call. All callbacks are safe to call from the calling thread
/// during that call only.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct HostV1 {
    /// `size_of::<HostV1>()` as the host built it.
    pub struct_size: usize,
    /// Opaque host context: pass it back to every callback.
    pub ctx: *mut c_void,
    /// Sets the value of declared region column `column` (index into the plugin's region
    /// columns) for region `region` (index into the regions of this call).
    pub region_value: unsafe extern "C" fn(
        ctx: *mut c_void,
        region: usize,
        column: u32,
        cell: *const CellV1,
    ) -> u32,
    /// Appends a row to declared table `table` (index into the plugin's tables).
    pub table_row:
        unsafe extern "C" fn(ctx: *mut c_void, table: u32, cells: *const CellV1, len: usize) -> u32,
    /// Logs a message (UTF-8) at a [`level`].
    pub log: unsafe extern "C" fn(ctx: *mut c_void, level: u32, message: StrV1),
    /// Reads up to `len` bytes of the process's memory at `address` into `buf`; stores the
    /// count read in `*read` and returns a [`status`].
    pub read_memory: unsafe extern "C" fn(
        ctx: *mut c_void,
        address: u64,
        buf: *mut u8,
        len: usize,
        read: *mut usize,
    ) -> u32,
    /// Gives the message (UTF-8) that goes with a failing status of the current call.
    pub error: unsafe extern "C" fn(ctx: *mut c_void, message: StrV1),
    /// ABI 1.1 (present when `struct_size` covers it): opens a file of the process (see
    /// [`open_what`]) and stores its descriptor in `*fd`, which the plugin then owns and must
    /// close. Before answering, the host checks that the pid still holds the process it
    /// collected (same start time), else returns `PROCESS_REPLACED`; `MEMORY_UNAVAILABLE` for
    /// evidence; `MEMORY_DENIED`, `MEMORY_FAULT` (nothing mapped there) or `ERROR` otherwise.
    pub open: unsafe extern "C" fn(
        ctx: *mut c_void,
        what: u32,
        start: u64,
        end: u64,
        path: StrV1,
        fd: *mut i32,
    ) -> u32,
}

/// The plugin's description and entry points. The exported function returns a pointer to a
/// static one.
#[repr(C)]
#[derive(Debug)]
pub struct PluginV1 {
    /// Must be [`ABI_MAJOR`].
    pub abi_major: u32,
    /// The minor version the plugin was built with.
    pub abi_minor: u32,
    /// `size_of::<PluginV1>()` as the plugin built it.
    pub struct_size: usize,
    /// The analyzer's name (same rules as column names, `-` allowed).
    pub name: StrV1,
    /// Its version (UTF-8).
    pub version: StrV1,
    /// One line on what it finds (UTF-8).
    pub description: StrV1,
    /// Region columns it adds.
    pub region_columns: *const ColumnV1,
    /// Number of region columns.
    pub region_columns_len: usize,
    /// Tables it fills.
    pub tables: *const TableV1,
    /// Number of tables.
    pub tables_len: usize,
    /// Validates the options and creates the analyzer's state (`*state`). On failure returns
    /// `ERROR` after giving the message through `host.error`.
    pub create: unsafe extern "C" fn(
        options: *const EntryV1,
        options_len: usize,
        host: *const HostV1,
        state: *mut *mut c_void,
    ) -> u32,
    /// Analyzes one process. Called from many threads at once with the same state.
    pub analyze: unsafe extern "C" fn(
        state: *mut c_void,
        process: *const ProcessV1,
        regions: *const RegionV1,
        regions_len: usize,
        host: *const HostV1,
    ) -> u32,
    /// Called once after every process, to emit `RUN` tables.
    pub finish: unsafe extern "C" fn(state: *mut c_void, host: *const HostV1) -> u32,
    /// Frees the state.
    pub destroy: unsafe extern "C" fn(state: *mut c_void),
}

/// A [`PluginV1`] in a `static`: the raw pointers it holds point to other statics, which are
/// immutable, so sharing it between threads is sound.
#[repr(transparent)]
pub struct StaticPlugin(pub PluginV1);

// SAFETY: every pointer inside points to immutable 'static data (see the export macro).
unsafe impl Sync for StaticPlugin {}
// SAFETY: as above.
unsafe impl Send for StaticPlugin {}
