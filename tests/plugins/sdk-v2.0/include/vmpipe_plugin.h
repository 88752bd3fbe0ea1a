/* vmpipe_plugin.h: the vmpipe analyzer plugin ABI, version 2.0, for C.
 *
 * Generated from plugins/sdk/src/abi.rs; do not edit. Regenerate with
 *   VMPIPE_BLESS=1 cargo test -p vmpipe-plugin --test c_abi
 * The _Static_asserts at the end hold the layout recorded in plugins/sdk/abi-v2.layout
 * (LP64: x86_64, aarch64). */

#ifndef VMPIPE_PLUGIN_H
#define VMPIPE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

/**
 * The C ABI between vmpipe and an analyzer plugin, version 2.
 *
 * Everything here is `#[repr(C)]`. The C header `include/vmpipe_plugin.h` is generated from
 * this file (structs as `vmpipe_region` for `RegionV2`, constants as `VMPIPE_STATUS_OK` for
 * `status::OK`) and `abi-v2.layout` records the size and offset of every field; the test
 * `tests/c_abi/` compares both with what the C compiler lays out, so neither can drift
 * (`VMPIPE_BLESS=1 cargo test -p vmpipe-plugin --test c_abi` regenerates them, when the
 * rules below allow).
 *
 * # Versions and compatibility
 *
 * * The **major** version is in the entry symbol's name: a plugin exports
 *   `const vmpipe_plugin *vmpipe_plugin_v2(void)` (or `vmpipe_plugin_v2_NAME`). A host loads
 *   only its own major. ABI v1 (vmpipe-plugin 0.1) is refused: its structs grew without a
 *   version change and crossed as arrays without an element size, so no host can tell what a
 *   v1 library expects.
 * * A **minor** version only appends fields at the end of structs, or adds constants. It
 *   never moves, resizes or removes a field (the layout test fails if one does).
 * * Every struct that crosses is covered by a size the other side can read: `vmpipe_plugin`,
 *   `vmpipe_host`, `vmpipe_create` and `vmpipe_analyze` carry `struct_size`; every array and every
 *   single pointer to a struct carries its element size next to it (`…_size`). The reader
 *   steps through arrays by that size and reads only fields that lie inside it: a field
 *   outside it is absent (zero, null). Sizes are never smaller than the 2.0 layout.
 * * `vmpipe_plugin.abi_minor` is the minor the plugin was built with; `vmpipe_plugin.requires_minor`
 *   is the oldest minor it can run on. A host speaking 2.M loads a plugin when
 *   `requires_minor <= M`, whatever its `abi_minor`; a plugin built against a newer minor
 *   that only uses 2.0 features keeps `requires_minor = 0` and runs on a 2.0 host, where
 *   newer callbacks are absent (null, or outside `vmpipe_host.struct_size`) and newer fields
 *   read as absent. The Rust SDK checks both for you; a C plugin checks a callback before
 *   calling it, and reads a field added after 2.0 only when the element size covers it.
 *
 * # The calls (the contract, also in the C header)
 *
 * The host calls `create` once per pipeline entry, `analyze` once per process from many
 * threads at once (with the same state), `finish` once after every `analyze` returned, and
 * `destroy` last, once, for every state `create` stored — even when `create` then failed.
 * `analyze` is also called for processes with no regions (kernel threads, processes whose
 * memory map was refused: see `vmpipe_process.status`), with `regions_len == 0`.
 *
 * Data crosses as borrowed views valid for the duration of one call; results go back through
 * the host's callbacks in `vmpipe_host`, which copy what they keep. Nothing is allocated on one
 * side and freed on the other. Libraries are never unloaded.
 *
 * What a plugin author in another language must know:
 *
 * * `create` returns `VMPIPE_STATUS_OK` only after storing a non-null `*state`: a null state
 *   is a failure ("reported success but created no state"). After a failed `create`,
 *   `destroy` is still called if `*state` was set to non-null, and `analyze`/`finish` never.
 * * A failing status comes with a message given through `vmpipe_host.error` during the same
 *   call; when `error` is called more than once, the last message is kept (at most 4096
 *   bytes of it). In `create`, `vmpipe_host.error_option` names the option to blame.
 * * `VMPIPE_STATUS_REFUSED`: return it after a callback refused a value; the host already
 *   recorded why (one error row), so the call adds no second row.
 * * `vmpipe_host.log` works in every call, `create` included: `VMPIPE_LEVEL_WARN` becomes a row of
 *   `errors.csv` with stage `warning` (printed when the pipeline loads, from `create`);
 *   `VMPIPE_LEVEL_INFO` is printed to standard error only when `VMPIPE_PLUGIN_DEBUG` is set.
 * * `vmpipe_host.read_memory` reads at most `VMPIPE_MAX_READ` (64 MiB) per call; a larger length,
 *   or a null `buf` or `read`, answers `VMPIPE_STATUS_BAD_READ` and reads nothing.
 * * Callbacks are used from the thread of the call, during the call; the host pointer, the
 *   call struct and every view in it are invalid once the entry point returns.
 * * C plugins declare `VMPIPE_PANIC_STRATEGY_NONE`.
 */

/**
 * The ABI major version this SDK speaks (the `v2` in the entry symbol's name).
 */
#define VMPIPE_ABI_MAJOR 2

/**
 * The ABI minor version this SDK speaks.
 */
#define VMPIPE_ABI_MINOR 0

/**
 * The start of every entry symbol's name; the major version follows (`vmpipe_plugin_v2`).
 */
#define VMPIPE_ENTRY_PREFIX "vmpipe_plugin_v"

/**
 * The entry symbol's name, without a suffix. The `crate::export!` macro spells the same
 * name (an attribute needs a literal); a test checks they agree.
 */
#define VMPIPE_ENTRY_SYMBOL "vmpipe_plugin_v2"

/* VMPIPE_STATUS_* */

/**
 * Status codes returned by plugin entry points and host callbacks.
 */

/**
 * Success.
 */
#define VMPIPE_STATUS_OK 0

/**
 * The call failed; the message was given through `vmpipe_host.error` (the last
 * message given in a call is the one kept).
 */
#define VMPIPE_STATUS_ERROR 1

/**
 * The plugin panicked; the message was given through `vmpipe_host.error`.
 */
#define VMPIPE_STATUS_PANIC 2

/**
 * The call stopped because the host refused a value: the host has already recorded why,
 * so it adds nothing more. When the host refused nothing in the call, it is reported as
 * `ERROR` is (one row, with the message given through `vmpipe_host.error`).
 */
#define VMPIPE_STATUS_REFUSED 3

/**
 * The source has no memory to read (a capture, a report).
 */
#define VMPIPE_STATUS_MEMORY_UNAVAILABLE 10

/**
 * Reading the process's memory was refused.
 */
#define VMPIPE_STATUS_MEMORY_DENIED 11

/**
 * The address range is not mapped (or not readable) in the process.
 */
#define VMPIPE_STATUS_MEMORY_FAULT 12

/**
 * The process is gone.
 */
#define VMPIPE_STATUS_MEMORY_VANISHED 13

/**
 * Another process holds the pid now (its start time differs from the one read when the
 * process was collected), or the process vanished: nothing of it can be opened.
 */
#define VMPIPE_STATUS_PROCESS_REPLACED 14

/**
 * A read asked for more than `VMPIPE_MAX_READ` bytes, or a null buffer.
 */
#define VMPIPE_STATUS_BAD_READ 15

/**
 * An emitted value named a column the plugin did not declare.
 */
#define VMPIPE_STATUS_BAD_COLUMN 20

/**
 * An emitted value's type differs from its column's declared type.
 */
#define VMPIPE_STATUS_BAD_TYPE 21

/**
 * An emitted value named a region index out of range.
 */
#define VMPIPE_STATUS_BAD_REGION 22

/**
 * A row named a table the plugin did not declare, or one of the wrong scope.
 */
#define VMPIPE_STATUS_BAD_TABLE 23

/**
 * A row has a different number of cells than its table has columns.
 */
#define VMPIPE_STATUS_BAD_ARITY 24

/**
 * The callback is not available in this call (emitting a region value in `finish`).
 */
#define VMPIPE_STATUS_NOT_NOW 25

/**
 * The value was refused because what the plugin emitted in this call passed vmpipe's
 * budget for one call (64 MiB); later values of the call are refused too.
 */
#define VMPIPE_STATUS_OVER_BUDGET 26

/**
 * An element size is smaller than the 2.0 layout of its struct.
 */
#define VMPIPE_STATUS_BAD_SIZE 27

/**
 * Most bytes one `vmpipe_host.read_memory` call may ask for (64 MiB); larger reads fail with
 * `VMPIPE_STATUS_BAD_READ`.
 */
#define VMPIPE_MAX_READ (64 << 20)

/* VMPIPE_KIND_* */

/**
 * Column types (the `kind` of `vmpipe_column` and `vmpipe_cell`).
 */

/**
 * No value (a cell only).
 */
#define VMPIPE_KIND_ABSENT 0

/**
 * Unsigned 64-bit integer (a count, a size in bytes).
 */
#define VMPIPE_KIND_U64 1

/**
 * Signed 64-bit integer.
 */
#define VMPIPE_KIND_I64 2

/**
 * 64-bit float.
 */
#define VMPIPE_KIND_F64 3

/**
 * Boolean.
 */
#define VMPIPE_KIND_BOOL 4

/**
 * UTF-8 text.
 */
#define VMPIPE_KIND_TEXT 5

/**
 * Raw bytes (a path, a name): written with vmpipe's reversible escape.
 */
#define VMPIPE_KIND_BYTES 6

/**
 * An address, written `0x…`.
 */
#define VMPIPE_KIND_ADDRESS 7

/* VMPIPE_SCOPE_* */

/**
 * Table scopes (the `scope` of `vmpipe_table`).
 */

/**
 * Rows emitted from `analyze`, about one process; the host prepends `pid` and `process`.
 */
#define VMPIPE_SCOPE_PROCESS 1

/**
 * Rows emitted from `finish`, about the whole run.
 */
#define VMPIPE_SCOPE_RUN 2

/* VMPIPE_PANIC_STRATEGY_* */

/**
 * How a plugin's code handles a panic (`vmpipe_plugin.panic_strategy`).
 */

/**
 * Not Rust, or no panics can happen (a C plugin).
 */
#define VMPIPE_PANIC_STRATEGY_NONE 0

/**
 * Built with `panic = "unwind"`: the SDK catches every panic at the ABI boundary.
 */
#define VMPIPE_PANIC_STRATEGY_UNWIND 1

/**
 * Built with `panic = "abort"`: a panic would end the whole sweep. The host refuses it.
 */
#define VMPIPE_PANIC_STRATEGY_ABORT 2

/* VMPIPE_OPEN_WHAT_* */

/**
 * What `vmpipe_host.open` opens, always through the `/proc/PID` directory vmpipe opened when
 * it collected the process, never through a path naming the pid again.
 */

/**
 * The file mapped at `[start, end)`: `map_files/START-END` (root), for reading. Refused
 * unless it is a regular file.
 */
#define VMPIPE_OPEN_WHAT_MAPPED 1

/**
 * `path` looked up inside the process's root directory (`root/`, symbolic links resolved
 * inside that root), for reading. Refused unless it is a regular file.
 */
#define VMPIPE_OPEN_WHAT_IN_ROOT 2

/**
 * Like `IN_ROOT`, as an `O_PATH` descriptor: only for `fstat` (what is at the path now).
 */
#define VMPIPE_OPEN_WHAT_IN_ROOT_STAT 3

/**
 * An entry of the process's `/proc/PID` directory (`root`, `ns/mnt`), its link followed,
 * as an `O_PATH` descriptor for `fstat`.
 */
#define VMPIPE_OPEN_WHAT_PROC_STAT 4

/**
 * The process's `pagemap` (`/proc/PID/pagemap`), for reading: 8 bytes per virtual page
 * at offset `address / page size * 8`. The descriptor stays bound to the address space
 * it was opened on.
 */
#define VMPIPE_OPEN_WHAT_PAGEMAP 5

/* VMPIPE_LEVEL_* */

/**
 * Log levels for `vmpipe_host.log`.
 */

/**
 * Something the user should know; the run goes on. Kept as a row of `errors.csv` with
 * stage `warning` (from `create`: printed when the pipeline is loaded).
 */
#define VMPIPE_LEVEL_WARN 1

/**
 * Detail for debugging: printed to standard error only when the environment variable
 * `VMPIPE_PLUGIN_DEBUG` is set, dropped otherwise.
 */
#define VMPIPE_LEVEL_INFO 2

/* VMPIPE_PROCESS_STATUS_* */

/**
 * Process status values (`vmpipe_process.status`).
 */

/**
 * Read completely.
 */
#define VMPIPE_PROCESS_STATUS_OK 0

/**
 * Read in part.
 */
#define VMPIPE_PROCESS_STATUS_PARTIAL 1

/**
 * Memory map refused (the call has no regions).
 */
#define VMPIPE_PROCESS_STATUS_DENIED 2

/**
 * Exited while read.
 */
#define VMPIPE_PROCESS_STATUS_VANISHED 3

/* VMPIPE_ZONE_FIELD_* */

/**
 * Bits of `vmpipe_zone.present`: which figures the report gave.
 */

/**
 * `virtual_size`.
 */
#define VMPIPE_ZONE_FIELD_VIRTUAL 1

/**
 * `resident`.
 */
#define VMPIPE_ZONE_FIELD_RESIDENT 2

/**
 * `dirty`.
 */
#define VMPIPE_ZONE_FIELD_DIRTY 4

/**
 * `swapped`.
 */
#define VMPIPE_ZONE_FIELD_SWAPPED 8

/**
 * `allocation_count`.
 */
#define VMPIPE_ZONE_FIELD_ALLOCATION_COUNT 16

/**
 * `bytes_allocated`.
 */
#define VMPIPE_ZONE_FIELD_BYTES_ALLOCATED 32

/**
 * `frag_size`.
 */
#define VMPIPE_ZONE_FIELD_FRAG_SIZE 64

/**
 * `pct_frag`.
 */
#define VMPIPE_ZONE_FIELD_PCT_FRAG 128

/**
 * `pct_full`.
 */
#define VMPIPE_ZONE_FIELD_PCT_FULL 256

/**
 * `region_count`.
 */
#define VMPIPE_ZONE_FIELD_REGION_COUNT 512

/* VMPIPE_PERMS_* */

/**
 * Permission bits of `vmpipe_region.perms`.
 */

/**
 * Readable.
 */
#define VMPIPE_PERMS_READ 1

/**
 * Writable.
 */
#define VMPIPE_PERMS_WRITE 2

/**
 * Executable.
 */
#define VMPIPE_PERMS_EXEC 4

/**
 * Shared (`s`) rather than private (`p`).
 */
#define VMPIPE_PERMS_SHARED 8

/**
 * In `max_perms`: the maximum protection is known.
 */
#define VMPIPE_PERMS_KNOWN 0x100

/* VMPIPE_REGION_KIND_* */

/**
 * Region kinds (`vmpipe_region.kind`), decided from the path the kernel prints in
 * `/proc/PID/maps` (with ` (deleted)` when it shows). A reader treats an unknown value as
 * `SPECIAL`.
 */

/**
 * Any other absolute path: a regular file, a device.
 */
#define VMPIPE_REGION_KIND_FILE 0

/**
 * Anonymous memory: no path, or `[anon:NAME]` (named with `PR_SET_VMA`).
 */
#define VMPIPE_REGION_KIND_ANON 1

/**
 * The `brk` heap: `[heap]`.
 */
#define VMPIPE_REGION_KIND_HEAP 2

/**
 * The main stack: `[stack]` (`[stack:TID]` on kernels before 4.5).
 */
#define VMPIPE_REGION_KIND_STACK 3

/**
 * The vDSO: `[vdso]`.
 */
#define VMPIPE_REGION_KIND_VDSO 4

/**
 * vDSO data: `[vvar]`, `[vvar_vclock]`.
 */
#define VMPIPE_REGION_KIND_VVAR 5

/**
 * The vsyscall page: `[vsyscall]`.
 */
#define VMPIPE_REGION_KIND_VSYSCALL 6

/**
 * Shared memory: `[anon_shmem:NAME]`, `/SYSV…`, `/dev/shm/…`, and a shared mapping of
 * `/dev/zero (deleted)`.
 */
#define VMPIPE_REGION_KIND_SHM 7

/**
 * A memfd: `/memfd:NAME`.
 */
#define VMPIPE_REGION_KIND_MEMFD 8

/**
 * An anonymous inode: `anon_inode:…`.
 */
#define VMPIPE_REGION_KIND_ANON_INODE 9

/**
 * Any other kernel-named mapping: anything else in brackets (`[uprobes]`, …).
 */
#define VMPIPE_REGION_KIND_SPECIAL 10

/* VMPIPE_USAGE_* */

/**
 * Indices into `vmpipe_region.usage`; bit `i` of `vmpipe_region.usage_present` says whether
 * `usage[i]` is known. kB fields are in bytes.
 */

/**
 * `KernelPageSize`.
 */
#define VMPIPE_USAGE_KERNEL_PAGE_SIZE 0

/**
 * `MMUPageSize`.
 */
#define VMPIPE_USAGE_MMU_PAGE_SIZE 1

/**
 * `Rss`.
 */
#define VMPIPE_USAGE_RSS 2

/**
 * `Pss`.
 */
#define VMPIPE_USAGE_PSS 3

/**
 * `Pss_Dirty`.
 */
#define VMPIPE_USAGE_PSS_DIRTY 4

/**
 * `Shared_Clean`.
 */
#define VMPIPE_USAGE_SHARED_CLEAN 5

/**
 * `Shared_Dirty`.
 */
#define VMPIPE_USAGE_SHARED_DIRTY 6

/**
 * `Private_Clean`.
 */
#define VMPIPE_USAGE_PRIVATE_CLEAN 7

/**
 * `Private_Dirty`.
 */
#define VMPIPE_USAGE_PRIVATE_DIRTY 8

/**
 * `Referenced`.
 */
#define VMPIPE_USAGE_REFERENCED 9

/**
 * `Anonymous`.
 */
#define VMPIPE_USAGE_ANONYMOUS 10

/**
 * `KSM`.
 */
#define VMPIPE_USAGE_KSM 11

/**
 * `LazyFree`.
 */
#define VMPIPE_USAGE_LAZY_FREE 12

/**
 * `AnonHugePages`.
 */
#define VMPIPE_USAGE_ANON_HUGE_PAGES 13

/**
 * `ShmemPmdMapped`.
 */
#define VMPIPE_USAGE_SHMEM_PMD_MAPPED 14

/**
 * `FilePmdMapped`.
 */
#define VMPIPE_USAGE_FILE_PMD_MAPPED 15

/**
 * `Shared_Hugetlb`.
 */
#define VMPIPE_USAGE_SHARED_HUGETLB 16

/**
 * `Private_Hugetlb`.
 */
#define VMPIPE_USAGE_PRIVATE_HUGETLB 17

/**
 * `Swap`.
 */
#define VMPIPE_USAGE_SWAP 18

/**
 * `SwapPss`.
 */
#define VMPIPE_USAGE_SWAP_PSS 19

/**
 * `Locked`.
 */
#define VMPIPE_USAGE_LOCKED 20

/**
 * `THPeligible` (a number).
 */
#define VMPIPE_USAGE_THP_ELIGIBLE 21

/**
 * `ProtectionKey` (a number).
 */
#define VMPIPE_USAGE_PROTECTION_KEY 22

/**
 * Dirty bytes as a report counts them (vmmap's DIRTY); Linux has no such field.
 */
#define VMPIPE_USAGE_DIRTY 23

/**
 * Slots in the array (room to grow within v2).
 */
#define VMPIPE_USAGE_SLOTS 32

/* VMPIPE_VALUE_KIND_* */

/**
 * Option value kinds (`vmpipe_value.kind`).
 */

/**
 * A string (`text`).
 */
#define VMPIPE_VALUE_KIND_STRING 1

/**
 * An integer (`int`).
 */
#define VMPIPE_VALUE_KIND_INTEGER 2

/**
 * A float (`float`).
 */
#define VMPIPE_VALUE_KIND_FLOAT 3

/**
 * A boolean (`int` 0/1).
 */
#define VMPIPE_VALUE_KIND_BOOLEAN 4

/**
 * An array (`items`).
 */
#define VMPIPE_VALUE_KIND_ARRAY 5

/**
 * A table (`entries`).
 */
#define VMPIPE_VALUE_KIND_TABLE 6

/**
 * A TOML date-time (`text`, RFC 3339).
 */
#define VMPIPE_VALUE_KIND_DATETIME 7



/**
 * A borrowed byte string: UTF-8 text or raw bytes, as the field's documentation says. A null
 * `ptr` means absent (distinct from empty). Frozen: never grows.
 */
typedef struct vmpipe_str {
  /**
   * First byte, or null when absent.
   */
  const uint8_t *ptr;
  /**
   * Length in bytes.
   */
  uintptr_t len;
} vmpipe_str;

/**
 * One declared column.
 */
typedef struct vmpipe_column {
  /**
   * Column name: lowercase ASCII letters, digits and `_`, starting with a letter.
   */
  struct vmpipe_str name;
  /**
   * One of `VMPIPE_KIND_*` (not `ABSENT`).
   */
  uint32_t kind;
  /**
   * What the column holds (UTF-8).
   */
  struct vmpipe_str description;
} vmpipe_column;

/**
 * One declared table.
 */
typedef struct vmpipe_table {
  /**
   * Table name (the CSV file is `NAME.csv`); same rules as column names.
   */
  struct vmpipe_str name;
  /**
   * What a row is (UTF-8).
   */
  struct vmpipe_str description;
  /**
   * One of `VMPIPE_SCOPE_*`.
   */
  uint32_t scope;
  /**
   * The columns (for `PROCESS` tables, not counting the `pid` and `process` the host adds).
   */
  const struct vmpipe_column *columns;
  /**
   * Number of columns.
   */
  uintptr_t columns_len;
  /**
   * Size of one `vmpipe_column` as the plugin built it.
   */
  uintptr_t column_size;
} vmpipe_table;

/**
 * A region column of another analyzer that this analyzer reads. The host runs the
 * providing analyzer first on each process and passes its values in `vmpipe_analyze.inputs`,
 * in the order of `vmpipe_plugin.reads`; it refuses to load a pipeline without the provider.
 */
typedef struct vmpipe_read {
  /**
   * The providing analyzer's name (`image-attribution`).
   */
  struct vmpipe_str analyzer;
  /**
   * Its region column (`image`).
   */
  struct vmpipe_str column;
  /**
   * The `VMPIPE_KIND_*` the reader expects; the host refuses the pipeline when the provider
   * declares another.
   */
  uint32_t kind;
} vmpipe_read;

/**
 * One value of the options table given in the pipeline file.
 */
typedef struct vmpipe_value {
  /**
   * One of `VMPIPE_VALUE_KIND_*`.
   */
  uint32_t kind;
  /**
   * `INTEGER`, `BOOLEAN`.
   */
  int64_t int_;
  /**
   * `FLOAT`.
   */
  double float_;
  /**
   * `STRING`, `DATETIME`.
   */
  struct vmpipe_str text;
  /**
   * `ARRAY` items.
   */
  const struct vmpipe_value *items;
  /**
   * Number of items.
   */
  uintptr_t items_len;
  /**
   * Size of one item.
   */
  uintptr_t item_size;
  /**
   * `TABLE` entries.
   */
  const struct vmpipe_entry *entries;
  /**
   * Number of entries.
   */
  uintptr_t entries_len;
  /**
   * Size of one entry.
   */
  uintptr_t entry_size;
} vmpipe_value;

/**
 * One `key = value` of an options table.
 */
typedef struct vmpipe_entry {
  /**
   * The key (UTF-8).
   */
  struct vmpipe_str key;
  /**
   * The value.
   */
  struct vmpipe_value value;
} vmpipe_entry;

/**
 * What `create` is given.
 */
typedef struct vmpipe_create {
  /**
   * `sizeof(vmpipe_create)` as the host built it.
   */
  uintptr_t struct_size;
  /**
   * The `options` table of the pipeline entry.
   */
  const struct vmpipe_entry *options;
  /**
   * Number of entries.
   */
  uintptr_t options_len;
  /**
   * Size of one `vmpipe_entry`.
   */
  uintptr_t entry_size;
} vmpipe_create;

/**
 * One value: emitted by a plugin, or read from another analyzer.
 */
typedef struct vmpipe_cell {
  /**
   * One of `VMPIPE_KIND_*`; `ABSENT` for no value.
   */
  uint32_t kind;
  /**
   * `U64`, `ADDRESS`, `BOOL` (0/1), or `I64` (as two's complement).
   */
  uint64_t int_;
  /**
   * `F64`.
   */
  double float_;
  /**
   * `TEXT` and `BYTES`.
   */
  struct vmpipe_str bytes;
} vmpipe_cell;

/**
 * The host's services for one call. Every callback may be used from the calling thread
 * during that call only. A callback is absent (null) or lies outside `struct_size` when the
 * host is older than the minor that added it.
 */
typedef struct vmpipe_host {
  /**
   * `sizeof(vmpipe_host)` as the host built it.
   */
  uintptr_t struct_size;
  /**
   * Opaque host context: pass it back to every callback.
   */
  void *ctx;
  /**
   * Sets the value of declared region column `column` (index into the plugin's region
   * columns) for region `region` (index into the regions of this call); `cell_size` is
   * the size of the plugin's `vmpipe_cell`. Only in `analyze` (else `NOT_NOW`). A refused
   * value is recorded by the host as one error row; the plugin may go on, or return
   * `REFUSED` to stop without a second row.
   */
  uint32_t (*region_value)(void *ctx,
                           uintptr_t region,
                           uint32_t column,
                           const struct vmpipe_cell *cell,
                           uintptr_t cell_size);
  /**
   * Appends a row to declared table `table` (index into the plugin's tables): `len` cells,
   * each `cell_size` bytes apart. `PROCESS` tables only in `analyze`, `RUN` tables only in
   * `finish`. Refusals as for `region_value`.
   */
  uint32_t (*table_row)(void *ctx,
                        uint32_t table,
                        const struct vmpipe_cell *cells,
                        uintptr_t len,
                        uintptr_t cell_size);
  /**
   * Logs a message (UTF-8) at a `VMPIPE_LEVEL_*`; usable in every call, `create` included.
   */
  void (*log)(void *ctx, uint32_t level, struct vmpipe_str message);
  /**
   * Reads up to `len` bytes (at most `VMPIPE_MAX_READ`) of the process's memory at `address`
   * into `buf`; stores the count read in `*read` (fewer than asked when the range runs
   * into an unmapped page) and returns a `VMPIPE_STATUS_*`. Only in `analyze`; evidence without
   * saved memory answers `MEMORY_UNAVAILABLE`.
   */
  uint32_t (*read_memory)(void *ctx, uint64_t address, uint8_t *buf, uintptr_t len, uintptr_t *read);
  /**
   * Gives the message (UTF-8) that goes with a failing status of the current call; when
   * called more than once, the last message is kept.
   */
  void (*error)(void *ctx, struct vmpipe_str message);
  /**
   * In `create`: says the failure concerns option `key` of the pipeline entry, so the host
   * can point at it. Give the message with `error` as well.
   */
  void (*error_option)(void *ctx, struct vmpipe_str key);
  /**
   * Opens a file of the process (see `VMPIPE_OPEN_WHAT_*`) and stores its descriptor in `*fd`,
   * which the plugin then owns and must close. Before answering, the host checks that the
   * pid still holds the process it collected (same start time), else returns
   * `PROCESS_REPLACED`; `MEMORY_UNAVAILABLE` for evidence; `MEMORY_DENIED`, `MEMORY_FAULT`
   * (nothing mapped there) or `ERROR` otherwise. Only in `analyze`.
   */
  uint32_t (*open)(void *ctx,
                   uint32_t what,
                   uint64_t start,
                   uint64_t end,
                   struct vmpipe_str path,
                   int32_t *fd);
} vmpipe_host;

/**
 * One malloc zone as a report gave it (sizes in bytes).
 */
typedef struct vmpipe_zone {
  /**
   * The zone's name (`DefaultMallocZone_0x…`).
   */
  struct vmpipe_str name;
  /**
   * `VMPIPE_ZONE_FIELD_*` bits of the figures present.
   */
  uint32_t present;
  /**
   * Virtual size.
   */
  uint64_t virtual_size;
  /**
   * Resident size.
   */
  uint64_t resident;
  /**
   * Dirty size.
   */
  uint64_t dirty;
  /**
   * Swapped size.
   */
  uint64_t swapped;
  /**
   * Allocations.
   */
  uint64_t allocation_count;
  /**
   * Bytes allocated.
   */
  uint64_t bytes_allocated;
  /**
   * vmmap's DIRTY+SWAP FRAG SIZE.
   */
  uint64_t frag_size;
  /**
   * vmmap's `% FRAG`.
   */
  double pct_frag;
  /**
   * vmmap's `% FULL` (older reports).
   */
  double pct_full;
  /**
   * Regions of the zone.
   */
  uint64_t region_count;
} vmpipe_zone;

/**
 * The facts of one process, borrowed for one call.
 */
typedef struct vmpipe_process {
  /**
   * Process id.
   */
  uint32_t pid;
  /**
   * One of `VMPIPE_PROCESS_STATUS_*`.
   */
  uint32_t status;
  /**
   * Parent pid, or -1 when unknown.
   */
  int64_t ppid;
  /**
   * Real uid, or -1 when unknown.
   */
  int64_t uid;
  /**
   * Thread count, or -1 when unknown.
   */
  int64_t threads;
  /**
   * Name (raw bytes).
   */
  struct vmpipe_str name;
  /**
   * Executable path (raw bytes), absent when unknown.
   */
  struct vmpipe_str exe;
  /**
   * Command line as the kernel holds it: arguments each followed by NUL.
   */
  struct vmpipe_str cmdline;
  /**
   * 1 for a live process of this machine: its memory is readable and `/proc/PID` is this
   * process. 0 for evidence (captures, reports), of whose memory only what was saved — if
   * anything — can be read through `vmpipe_host.read_memory`.
   */
  uint32_t has_memory;
  /**
   * The malloc zones a report gave for the process (vmmap's MALLOC ZONE table).
   */
  const struct vmpipe_zone *zones;
  /**
   * Number of zones.
   */
  uintptr_t zones_len;
  /**
   * Size of one `vmpipe_zone` as the host built it.
   */
  uintptr_t zone_size;
} vmpipe_process;

/**
 * One region, borrowed for one call.
 */
typedef struct vmpipe_region {
  /**
   * First address.
   */
  uint64_t start;
  /**
   * One past the last address.
   */
  uint64_t end;
  /**
   * File offset.
   */
  uint64_t offset;
  /**
   * Inode of the mapped file.
   */
  uint64_t inode;
  /**
   * Device major.
   */
  uint32_t dev_major;
  /**
   * Device minor.
   */
  uint32_t dev_minor;
  /**
   * `VMPIPE_PERMS_*` bits.
   */
  uint32_t perms;
  /**
   * One of `VMPIPE_REGION_KIND_*`.
   */
  uint32_t kind;
  /**
   * Path (raw bytes), absent for anonymous memory.
   */
  struct vmpipe_str path;
  /**
   * The smaps `VmFlags` codes (text), absent when unknown.
   */
  struct vmpipe_str vm_flags;
  /**
   * Bit `i` set when `usage[i]` is known.
   */
  uint64_t usage_present;
  /**
   * Residency figures, indexed by `VMPIPE_USAGE_*`.
   */
  uint64_t usage[VMPIPE_USAGE_SLOTS];
  /**
   * The report's region type (vmmap REGION TYPE: `__TEXT`, `STACK GUARD`, …), absent for
   * live Linux processes.
   */
  struct vmpipe_str region_type;
  /**
   * The share mode the source reported (vmmap SHRMOD: `COW`, `PRV`, …), absent when the
   * source reports none (Linux).
   */
  struct vmpipe_str share_mode;
  /**
   * The maximum protection: `VMPIPE_PERMS_*` bits, plus `VMPIPE_PERMS_KNOWN` when known.
   */
  uint32_t max_perms;
  /**
   * The report's detail when it is not a path (vmmap REGION DETAIL: `stack guard for
   * thread 0`, a malloc zone's name), absent otherwise.
   */
  struct vmpipe_str detail;
} vmpipe_region;

/**
 * The values of one `vmpipe_read` for the regions of an `analyze` call: `cells[i]` belongs to
 * region `i`.
 */
typedef struct vmpipe_input {
  /**
   * One cell per region.
   */
  const struct vmpipe_cell *cells;
  /**
   * Number of cells (the call's `regions_len`).
   */
  uintptr_t cells_len;
  /**
   * Size of one `vmpipe_cell` as the host built it.
   */
  uintptr_t cell_size;
} vmpipe_input;

/**
 * What `analyze` is given for one process.
 */
typedef struct vmpipe_analyze {
  /**
   * `sizeof(vmpipe_analyze)` as the host built it.
   */
  uintptr_t struct_size;
  /**
   * The process.
   */
  const struct vmpipe_process *process;
  /**
   * Size of the `vmpipe_process`.
   */
  uintptr_t process_size;
  /**
   * Its regions, in address order (none for kernel threads and refused memory maps).
   */
  const struct vmpipe_region *regions;
  /**
   * Number of regions.
   */
  uintptr_t regions_len;
  /**
   * Size of one `vmpipe_region`.
   */
  uintptr_t region_size;
  /**
   * The values of the columns the plugin reads (`vmpipe_plugin.reads`, same order).
   */
  const struct vmpipe_input *inputs;
  /**
   * Number of inputs (the plugin's `reads_len`).
   */
  uintptr_t inputs_len;
  /**
   * Size of one `vmpipe_input`.
   */
  uintptr_t input_size;
} vmpipe_analyze;

/**
 * The plugin's description and entry points. The exported function returns a pointer to a
 * static one. `abi_major`, `abi_minor` and `struct_size` stay the first three fields in every
 * major version, so any host can read them.
 */
typedef struct vmpipe_plugin {
  /**
   * Must be `VMPIPE_ABI_MAJOR`.
   */
  uint32_t abi_major;
  /**
   * The minor version the plugin was built with.
   */
  uint32_t abi_minor;
  /**
   * `sizeof(vmpipe_plugin)` as the plugin built it.
   */
  uintptr_t struct_size;
  /**
   * The oldest minor the plugin can run on (see the module docs); a host speaking an older
   * one refuses it.
   */
  uint32_t requires_minor;
  /**
   * One of `VMPIPE_PANIC_STRATEGY_*`.
   */
  uint32_t panic_strategy;
  /**
   * The analyzer's name (same rules as column names, `-` allowed).
   */
  struct vmpipe_str name;
  /**
   * Its version (UTF-8).
   */
  struct vmpipe_str version;
  /**
   * One line on what it finds (UTF-8).
   */
  struct vmpipe_str description;
  /**
   * Region columns it adds.
   */
  const struct vmpipe_column *region_columns;
  /**
   * Number of region columns.
   */
  uintptr_t region_columns_len;
  /**
   * Size of one `vmpipe_column`.
   */
  uintptr_t column_size;
  /**
   * Tables it fills.
   */
  const struct vmpipe_table *tables;
  /**
   * Number of tables.
   */
  uintptr_t tables_len;
  /**
   * Size of one `vmpipe_table`.
   */
  uintptr_t table_size;
  /**
   * Other analyzers' region columns it reads.
   */
  const struct vmpipe_read *reads;
  /**
   * Number of reads.
   */
  uintptr_t reads_len;
  /**
   * Size of one `vmpipe_read`.
   */
  uintptr_t read_size;
  /**
   * Validates the options and creates the analyzer's state (`*state`). On failure returns
   * `ERROR` after giving the message through `host.error` (and `host.error_option` when
   * one option is to blame). A success must store a non-null state (else the host treats
   * it as a failure). `destroy` is called for any non-null state stored, success or not.
   */
  uint32_t (*create)(const struct vmpipe_create *call, const struct vmpipe_host *host, void **state);
  /**
   * Analyzes one process. Called from many threads at once with the same state. A failing
   * status becomes one error row for the process (with the message given through
   * `host.error`); the sweep goes on.
   */
  uint32_t (*analyze)(void *state, const struct vmpipe_analyze *call, const struct vmpipe_host *host);
  /**
   * Called once after every process, to emit `RUN` tables.
   */
  uint32_t (*finish)(void *state, const struct vmpipe_host *host);
  /**
   * Frees the state.
   */
  void (*destroy)(void *state);
} vmpipe_plugin;

/**
 * The entry point a plugin exports (`vmpipe_plugin_v2`, or `vmpipe_plugin_v2_NAME`): returns a pointer to a
 * static vmpipe_plugin.
 */
const vmpipe_plugin *vmpipe_plugin_v2(void);

/* The layout of ABI v2 (plugins/sdk/abi-v2.layout): a compiler that lays the structs
 * out otherwise (not LP64, other packing) fails here instead of crashing at run time. */
_Static_assert(sizeof(vmpipe_str) == 16, "vmpipe_str: 16 bytes in ABI v2.0");
_Static_assert(_Alignof(vmpipe_str) == 8, "vmpipe_str: aligned to 8");
_Static_assert(offsetof(vmpipe_str, ptr) == 0 && sizeof(((vmpipe_str *)0)->ptr) == 8, "vmpipe_str.ptr: offset 0, 8 bytes");
_Static_assert(offsetof(vmpipe_str, len) == 8 && sizeof(((vmpipe_str *)0)->len) == 8, "vmpipe_str.len: offset 8, 8 bytes");
_Static_assert(sizeof(vmpipe_column) == 40, "vmpipe_column: 40 bytes in ABI v2.0");
_Static_assert(_Alignof(vmpipe_column) == 8, "vmpipe_column: aligned to 8");
_Static_assert(offsetof(vmpipe_column, name) == 0 && sizeof(((vmpipe_column *)0)->name) == 16, "vmpipe_column.name: offset 0, 16 bytes");
_Static_assert(offsetof(vmpipe_column, kind) == 16 && sizeof(((vmpipe_column *)0)->kind) == 4, "vmpipe_column.kind: offset 16, 4 bytes");
_Static_assert(offsetof(vmpipe_column, description) == 24 && sizeof(((vmpipe_column *)0)->description) == 16, "vmpipe_column.description: offset 24, 16 bytes");
_Static_assert(sizeof(vmpipe_table) == 64, "vmpipe_table: 64 bytes in ABI v2.0");
_Static_assert(_Alignof(vmpipe_table) == 8, "vmpipe_table: aligned to 8");
_Static_assert(offsetof(vmpipe_table, name) == 0 && sizeof(((vmpipe_table *)0)->name) == 16, "vmpipe_table.name: offset 0, 16 bytes");
_Static_assert(offsetof(vmpipe_table, description) == 16 && sizeof(((vmpipe_table *)0)->description) == 16, "vmpipe_table.description: offset 16, 16 bytes");
_Static_assert(offsetof(vmpipe_table, scope) == 32 && sizeof(((vmpipe_table *)0)->scope) == 4, "vmpipe_table.scope: offset 32, 4 bytes");
_Static_assert(offsetof(vmpipe_table, columns) == 40 && sizeof(((vmpipe_table *)0)->columns) == 8, "vmpipe_table.columns: offset 40, 8 bytes");
_Static_assert(offsetof(vmpipe_table, columns_len) == 48 && sizeof(((vmpipe_table *)0)->columns_len) == 8, "vmpipe_table.columns_len: offset 48, 8 bytes");
_Static_assert(offsetof(vmpipe_table, column_size) == 56 && sizeof(((vmpipe_table *)0)->column_size) == 8, "vmpipe_table.column_size: offset 56, 8 bytes");
_Static_assert(sizeof(vmpipe_read) == 40, "vmpipe_read: 40 bytes in ABI v2.0");
_Static_assert(_Alignof(vmpipe_read) == 8, "vmpipe_read: aligned to 8");
_Static_assert(offsetof(vmpipe_read, analyzer) == 0 && sizeof(((vmpipe_read *)0)->analyzer) == 16, "vmpipe_read.analyzer: offset 0, 16 bytes");
_Static_assert(offsetof(vmpipe_read, column) == 16 && sizeof(((vmpipe_read *)0)->column) == 16, "vmpipe_read.column: offset 16, 16 bytes");
_Static_assert(offsetof(vmpipe_read, kind) == 32 && sizeof(((vmpipe_read *)0)->kind) == 4, "vmpipe_read.kind: offset 32, 4 bytes");
_Static_assert(sizeof(vmpipe_value) == 88, "vmpipe_value: 88 bytes in ABI v2.0");
_Static_assert(_Alignof(vmpipe_value) == 8, "vmpipe_value: aligned to 8");
_Static_assert(offsetof(vmpipe_value, kind) == 0 && sizeof(((vmpipe_value *)0)->kind) == 4, "vmpipe_value.kind: offset 0, 4 bytes");
_Static_assert(offsetof(vmpipe_value, int_) == 8 && sizeof(((vmpipe_value *)0)->int_) == 8, "vmpipe_value.int_: offset 8, 8 bytes");
_Static_assert(offsetof(vmpipe_value, float_) == 16 && sizeof(((vmpipe_value *)0)->float_) == 8, "vmpipe_value.float_: offset 16, 8 bytes");
_Static_assert(offsetof(vmpipe_value, text) == 24 && sizeof(((vmpipe_value *)0)->text) == 16, "vmpipe_value.text: offset 24, 16 bytes");
_Static_assert(offsetof(vmpipe_value, items) == 40 && sizeof(((vmpipe_value *)0)->items) == 8, "vmpipe_value.items: offset 40, 8 bytes");
_Static_assert(offsetof(vmpipe_value, items_len) == 48 && sizeof(((vmpipe_value *)0)->items_len) == 8, "vmpipe_value.items_len: offset 48, 8 bytes");
_Static_assert(offsetof(vmpipe_value, item_size) == 56 && sizeof(((vmpipe_value *)0)->item_size) == 8, "vmpipe_value.item_size: offset 56, 8 bytes");
_Static_assert(offsetof(vmpipe_value, entries) == 64 && sizeof(((vmpipe_value *)0)->entries) == 8, "vmpipe_value.entries: offset 64, 8 bytes");
_Static_assert(offsetof(vmpipe_value, entries_len) == 72 && sizeof(((vmpipe_value *)0)->entries_len) == 8, "vmpipe_value.entries_len: offset 72, 8 bytes");
_Static_assert(offsetof(vmpipe_value, entry_size) == 80 && sizeof(((vmpipe_value *)0)->entry_size) == 8, "vmpipe_value.entry_size: offset 80, 8 bytes");
_Static_assert(sizeof(vmpipe_entry) == 104, "vmpipe_entry: 104 bytes in ABI v2.0");
_Static_assert(_Alignof(vmpipe_entry) == 8, "vmpipe_entry: aligned to 8");
_Static_assert(offsetof(vmpipe_entry, key) == 0 && sizeof(((vmpipe_entry *)0)->key) == 16, "vmpipe_entry.key: offset 0, 16 bytes");
_Static_assert(offsetof(vmpipe_entry, value) == 16 && sizeof(((vmpipe_entry *)0)->value) == 88, "vmpipe_entry.value: offset 16, 88 bytes");
_Static_assert(sizeof(vmpipe_create) == 32, "vmpipe_create: 32 bytes in ABI v2.0");
_Static_assert(_Alignof(vmpipe_create) == 8, "vmpipe_create: aligned to 8");
_Static_assert(offsetof(vmpipe_create, struct_size) == 0 && sizeof(((vmpipe_create *)0)->struct_size) == 8, "vmpipe_create.struct_size: offset 0, 8 bytes");
_Static_assert(offsetof(vmpipe_create, options) == 8 && sizeof(((vmpipe_create *)0)->options) == 8, "vmpipe_create.options: offset 8, 8 bytes");
_Static_assert(offsetof(vmpipe_create, options_len) == 16 && sizeof(((vmpipe_create *)0)->options_len) == 8, "vmpipe_create.options_len: offset 16, 8 bytes");
_Static_assert(offsetof(vmpipe_create, entry_size) == 24 && sizeof(((vmpipe_create *)0)->entry_size) == 8, "vmpipe_create.entry_size: offset 24, 8 bytes");
_Static_assert(sizeof(vmpipe_cell) == 40, "vmpipe_cell: 40 bytes in ABI v2.0");
_Static_assert(_Alignof(vmpipe_cell) == 8, "vmpipe_cell: aligned to 8");
_Static_assert(offsetof(vmpipe_cell, kind) == 0 && sizeof(((vmpipe_cell *)0)->kind) == 4, "vmpipe_cell.kind: offset 0, 4 bytes");
_Static_assert(offsetof(vmpipe_cell, int_) == 8 && sizeof(((vmpipe_cell *)0)->int_) == 8, "vmpipe_cell.int_: offset 8, 8 bytes");
_Static_assert(offsetof(vmpipe_cell, float_) == 16 && sizeof(((vmpipe_cell *)0)->float_) == 8, "vmpipe_cell.float_: offset 16, 8 bytes");
_Static_assert(offsetof(vmpipe_cell, bytes) == 24 && sizeof(((vmpipe_cell *)0)->bytes) == 16, "vmpipe_cell.bytes: offset 24, 16 bytes");
_Static_assert(sizeof(vmpipe_host) == 72, "vmpipe_host: 72 bytes in ABI v2.0");
_Static_assert(_Alignof(vmpipe_host) == 8, "vmpipe_host: aligned to 8");
_Static_assert(offsetof(vmpipe_host, struct_size) == 0 && sizeof(((vmpipe_host *)0)->struct_size) == 8, "vmpipe_host.struct_size: offset 0, 8 bytes");
_Static_assert(offsetof(vmpipe_host, ctx) == 8 && sizeof(((vmpipe_host *)0)->ctx) == 8, "vmpipe_host.ctx: offset 8, 8 bytes");
_Static_assert(offsetof(vmpipe_host, region_value) == 16 && sizeof(((vmpipe_host *)0)->region_value) == 8, "vmpipe_host.region_value: offset 16, 8 bytes");
_Static_assert(offsetof(vmpipe_host, table_row) == 24 && sizeof(((vmpipe_host *)0)->table_row) == 8, "vmpipe_host.table_row: offset 24, 8 bytes");
_Static_assert(offsetof(vmpipe_host, log) == 32 && sizeof(((vmpipe_host *)0)->log) == 8, "vmpipe_host.log: offset 32, 8 bytes");
_Static_assert(offsetof(vmpipe_host, read_memory) == 40 && sizeof(((vmpipe_host *)0)->read_memory) == 8, "vmpipe_host.read_memory: offset 40, 8 bytes");
_Static_assert(offsetof(vmpipe_host, error) == 48 && sizeof(((vmpipe_host *)0)->error) == 8, "vmpipe_host.error: offset 48, 8 bytes");
_Static_assert(offsetof(vmpipe_host, error_option) == 56 && sizeof(((vmpipe_host *)0)->error_option) == 8, "vmpipe_host.error_option: offset 56, 8 bytes");
_Static_assert(offsetof(vmpipe_host, open) == 64 && sizeof(((vmpipe_host *)0)->open) == 8, "vmpipe_host.open: offset 64, 8 bytes");
_Static_assert(sizeof(vmpipe_zone) == 104, "vmpipe_zone: 104 bytes in ABI v2.0");
_Static_assert(_Alignof(vmpipe_zone) == 8, "vmpipe_zone: aligned to 8");
_Static_assert(offsetof(vmpipe_zone, name) == 0 && sizeof(((vmpipe_zone *)0)->name) == 16, "vmpipe_zone.name: offset 0, 16 bytes");
_Static_assert(offsetof(vmpipe_zone, present) == 16 && sizeof(((vmpipe_zone *)0)->present) == 4, "vmpipe_zone.present: offset 16, 4 bytes");
_Static_assert(offsetof(vmpipe_zone, virtual_size) == 24 && sizeof(((vmpipe_zone *)0)->virtual_size) == 8, "vmpipe_zone.virtual_size: offset 24, 8 bytes");
_Static_assert(offsetof(vmpipe_zone, resident) == 32 && sizeof(((vmpipe_zone *)0)->resident) == 8, "vmpipe_zone.resident: offset 32, 8 bytes");
_Static_assert(offsetof(vmpipe_zone, dirty) == 40 && sizeof(((vmpipe_zone *)0)->dirty) == 8, "vmpipe_zone.dirty: offset 40, 8 bytes");
_Static_assert(offsetof(vmpipe_zone, swapped) == 48 && sizeof(((vmpipe_zone *)0)->swapped) == 8, "vmpipe_zone.swapped: offset 48, 8 bytes");
_Static_assert(offsetof(vmpipe_zone, allocation_count) == 56 && sizeof(((vmpipe_zone *)0)->allocation_count) == 8, "vmpipe_zone.allocation_count: offset 56, 8 bytes");
_Static_assert(offsetof(vmpipe_zone, bytes_allocated) == 64 && sizeof(((vmpipe_zone *)0)->bytes_allocated) == 8, "vmpipe_zone.bytes_allocated: offset 64, 8 bytes");
_Static_assert(offsetof(vmpipe_zone, frag_size) == 72 && sizeof(((vmpipe_zone *)0)->frag_size) == 8, "vmpipe_zone.frag_size: offset 72, 8 bytes");
_Static_assert(offsetof(vmpipe_zone, pct_frag) == 80 && sizeof(((vmpipe_zone *)0)->pct_frag) == 8, "vmpipe_zone.pct_frag: offset 80, 8 bytes");
_Static_assert(offsetof(vmpipe_zone, pct_full) == 88 && sizeof(((vmpipe_zone *)0)->pct_full) == 8, "vmpipe_zone.pct_full: offset 88, 8 bytes");
_Static_assert(offsetof(vmpipe_zone, region_count) == 96 && sizeof(((vmpipe_zone *)0)->region_count) == 8, "vmpipe_zone.region_count: offset 96, 8 bytes");
_Static_assert(sizeof(vmpipe_process) == 112, "vmpipe_process: 112 bytes in ABI v2.0");
_Static_assert(_Alignof(vmpipe_process) == 8, "vmpipe_process: aligned to 8");
_Static_assert(offsetof(vmpipe_process, pid) == 0 && sizeof(((vmpipe_process *)0)->pid) == 4, "vmpipe_process.pid: offset 0, 4 bytes");
_Static_assert(offsetof(vmpipe_process, status) == 4 && sizeof(((vmpipe_process *)0)->status) == 4, "vmpipe_process.status: offset 4, 4 bytes");
_Static_assert(offsetof(vmpipe_process, ppid) == 8 && sizeof(((vmpipe_process *)0)->ppid) == 8, "vmpipe_process.ppid: offset 8, 8 bytes");
_Static_assert(offsetof(vmpipe_process, uid) == 16 && sizeof(((vmpipe_process *)0)->uid) == 8, "vmpipe_process.uid: offset 16, 8 bytes");
_Static_assert(offsetof(vmpipe_process, threads) == 24 && sizeof(((vmpipe_process *)0)->threads) == 8, "vmpipe_process.threads: offset 24, 8 bytes");
_Static_assert(offsetof(vmpipe_process, name) == 32 && sizeof(((vmpipe_process *)0)->name) == 16, "vmpipe_process.name: offset 32, 16 bytes");
_Static_assert(offsetof(vmpipe_process, exe) == 48 && sizeof(((vmpipe_process *)0)->exe) == 16, "vmpipe_process.exe: offset 48, 16 bytes");
_Static_assert(offsetof(vmpipe_process, cmdline) == 64 && sizeof(((vmpipe_process *)0)->cmdline) == 16, "vmpipe_process.cmdline: offset 64, 16 bytes");
_Static_assert(offsetof(vmpipe_process, has_memory) == 80 && sizeof(((vmpipe_process *)0)->has_memory) == 4, "vmpipe_process.has_memory: offset 80, 4 bytes");
_Static_assert(offsetof(vmpipe_process, zones) == 88 && sizeof(((vmpipe_process *)0)->zones) == 8, "vmpipe_process.zones: offset 88, 8 bytes");
_Static_assert(offsetof(vmpipe_process, zones_len) == 96 && sizeof(((vmpipe_process *)0)->zones_len) == 8, "vmpipe_process.zones_len: offset 96, 8 bytes");
_Static_assert(offsetof(vmpipe_process, zone_size) == 104 && sizeof(((vmpipe_process *)0)->zone_size) == 8, "vmpipe_process.zone_size: offset 104, 8 bytes");
_Static_assert(sizeof(vmpipe_region) == 400, "vmpipe_region: 400 bytes in ABI v2.0");
_Static_assert(_Alignof(vmpipe_region) == 8, "vmpipe_region: aligned to 8");
_Static_assert(offsetof(vmpipe_region, start) == 0 && sizeof(((vmpipe_region *)0)->start) == 8, "vmpipe_region.start: offset 0, 8 bytes");
_Static_assert(offsetof(vmpipe_region, end) == 8 && sizeof(((vmpipe_region *)0)->end) == 8, "vmpipe_region.end: offset 8, 8 bytes");
_Static_assert(offsetof(vmpipe_region, offset) == 16 && sizeof(((vmpipe_region *)0)->offset) == 8, "vmpipe_region.offset: offset 16, 8 bytes");
_Static_assert(offsetof(vmpipe_region, inode) == 24 && sizeof(((vmpipe_region *)0)->inode) == 8, "vmpipe_region.inode: offset 24, 8 bytes");
_Static_assert(offsetof(vmpipe_region, dev_major) == 32 && sizeof(((vmpipe_region *)0)->dev_major) == 4, "vmpipe_region.dev_major: offset 32, 4 bytes");
_Static_assert(offsetof(vmpipe_region, dev_minor) == 36 && sizeof(((vmpipe_region *)0)->dev_minor) == 4, "vmpipe_region.dev_minor: offset 36, 4 bytes");
_Static_assert(offsetof(vmpipe_region, perms) == 40 && sizeof(((vmpipe_region *)0)->perms) == 4, "vmpipe_region.perms: offset 40, 4 bytes");
_Static_assert(offsetof(vmpipe_region, kind) == 44 && sizeof(((vmpipe_region *)0)->kind) == 4, "vmpipe_region.kind: offset 44, 4 bytes");
_Static_assert(offsetof(vmpipe_region, path) == 48 && sizeof(((vmpipe_region *)0)->path) == 16, "vmpipe_region.path: offset 48, 16 bytes");
_Static_assert(offsetof(vmpipe_region, vm_flags) == 64 && sizeof(((vmpipe_region *)0)->vm_flags) == 16, "vmpipe_region.vm_flags: offset 64, 16 bytes");
_Static_assert(offsetof(vmpipe_region, usage_present) == 80 && sizeof(((vmpipe_region *)0)->usage_present) == 8, "vmpipe_region.usage_present: offset 80, 8 bytes");
_Static_assert(offsetof(vmpipe_region, usage) == 88 && sizeof(((vmpipe_region *)0)->usage) == 256, "vmpipe_region.usage: offset 88, 256 bytes");
_Static_assert(offsetof(vmpipe_region, region_type) == 344 && sizeof(((vmpipe_region *)0)->region_type) == 16, "vmpipe_region.region_type: offset 344, 16 bytes");
_Static_assert(offsetof(vmpipe_region, share_mode) == 360 && sizeof(((vmpipe_region *)0)->share_mode) == 16, "vmpipe_region.share_mode: offset 360, 16 bytes");
_Static_assert(offsetof(vmpipe_region, max_perms) == 376 && sizeof(((vmpipe_region *)0)->max_perms) == 4, "vmpipe_region.max_perms: offset 376, 4 bytes");
_Static_assert(offsetof(vmpipe_region, detail) == 384 && sizeof(((vmpipe_region *)0)->detail) == 16, "vmpipe_region.detail: offset 384, 16 bytes");
_Static_assert(sizeof(vmpipe_input) == 24, "vmpipe_input: 24 bytes in ABI v2.0");
_Static_assert(_Alignof(vmpipe_input) == 8, "vmpipe_input: aligned to 8");
_Static_assert(offsetof(vmpipe_input, cells) == 0 && sizeof(((vmpipe_input *)0)->cells) == 8, "vmpipe_input.cells: offset 0, 8 bytes");
_Static_assert(offsetof(vmpipe_input, cells_len) == 8 && sizeof(((vmpipe_input *)0)->cells_len) == 8, "vmpipe_input.cells_len: offset 8, 8 bytes");
_Static_assert(offsetof(vmpipe_input, cell_size) == 16 && sizeof(((vmpipe_input *)0)->cell_size) == 8, "vmpipe_input.cell_size: offset 16, 8 bytes");
_Static_assert(sizeof(vmpipe_analyze) == 72, "vmpipe_analyze: 72 bytes in ABI v2.0");
_Static_assert(_Alignof(vmpipe_analyze) == 8, "vmpipe_analyze: aligned to 8");
_Static_assert(offsetof(vmpipe_analyze, struct_size) == 0 && sizeof(((vmpipe_analyze *)0)->struct_size) == 8, "vmpipe_analyze.struct_size: offset 0, 8 bytes");
_Static_assert(offsetof(vmpipe_analyze, process) == 8 && sizeof(((vmpipe_analyze *)0)->process) == 8, "vmpipe_analyze.process: offset 8, 8 bytes");
_Static_assert(offsetof(vmpipe_analyze, process_size) == 16 && sizeof(((vmpipe_analyze *)0)->process_size) == 8, "vmpipe_analyze.process_size: offset 16, 8 bytes");
_Static_assert(offsetof(vmpipe_analyze, regions) == 24 && sizeof(((vmpipe_analyze *)0)->regions) == 8, "vmpipe_analyze.regions: offset 24, 8 bytes");
_Static_assert(offsetof(vmpipe_analyze, regions_len) == 32 && sizeof(((vmpipe_analyze *)0)->regions_len) == 8, "vmpipe_analyze.regions_len: offset 32, 8 bytes");
_Static_assert(offsetof(vmpipe_analyze, region_size) == 40 && sizeof(((vmpipe_analyze *)0)->region_size) == 8, "vmpipe_analyze.region_size: offset 40, 8 bytes");
_Static_assert(offsetof(vmpipe_analyze, inputs) == 48 && sizeof(((vmpipe_analyze *)0)->inputs) == 8, "vmpipe_analyze.inputs: offset 48, 8 bytes");
_Static_assert(offsetof(vmpipe_analyze, inputs_len) == 56 && sizeof(((vmpipe_analyze *)0)->inputs_len) == 8, "vmpipe_analyze.inputs_len: offset 56, 8 bytes");
_Static_assert(offsetof(vmpipe_analyze, input_size) == 64 && sizeof(((vmpipe_analyze *)0)->input_size) == 8, "vmpipe_analyze.input_size: offset 64, 8 bytes");
_Static_assert(sizeof(vmpipe_plugin) == 176, "vmpipe_plugin: 176 bytes in ABI v2.0");
_Static_assert(_Alignof(vmpipe_plugin) == 8, "vmpipe_plugin: aligned to 8");
_Static_assert(offsetof(vmpipe_plugin, abi_major) == 0 && sizeof(((vmpipe_plugin *)0)->abi_major) == 4, "vmpipe_plugin.abi_major: offset 0, 4 bytes");
_Static_assert(offsetof(vmpipe_plugin, abi_minor) == 4 && sizeof(((vmpipe_plugin *)0)->abi_minor) == 4, "vmpipe_plugin.abi_minor: offset 4, 4 bytes");
_Static_assert(offsetof(vmpipe_plugin, struct_size) == 8 && sizeof(((vmpipe_plugin *)0)->struct_size) == 8, "vmpipe_plugin.struct_size: offset 8, 8 bytes");
_Static_assert(offsetof(vmpipe_plugin, requires_minor) == 16 && sizeof(((vmpipe_plugin *)0)->requires_minor) == 4, "vmpipe_plugin.requires_minor: offset 16, 4 bytes");
_Static_assert(offsetof(vmpipe_plugin, panic_strategy) == 20 && sizeof(((vmpipe_plugin *)0)->panic_strategy) == 4, "vmpipe_plugin.panic_strategy: offset 20, 4 bytes");
_Static_assert(offsetof(vmpipe_plugin, name) == 24 && sizeof(((vmpipe_plugin *)0)->name) == 16, "vmpipe_plugin.name: offset 24, 16 bytes");
_Static_assert(offsetof(vmpipe_plugin, version) == 40 && sizeof(((vmpipe_plugin *)0)->version) == 16, "vmpipe_plugin.version: offset 40, 16 bytes");
_Static_assert(offsetof(vmpipe_plugin, description) == 56 && sizeof(((vmpipe_plugin *)0)->description) == 16, "vmpipe_plugin.description: offset 56, 16 bytes");
_Static_assert(offsetof(vmpipe_plugin, region_columns) == 72 && sizeof(((vmpipe_plugin *)0)->region_columns) == 8, "vmpipe_plugin.region_columns: offset 72, 8 bytes");
_Static_assert(offsetof(vmpipe_plugin, region_columns_len) == 80 && sizeof(((vmpipe_plugin *)0)->region_columns_len) == 8, "vmpipe_plugin.region_columns_len: offset 80, 8 bytes");
_Static_assert(offsetof(vmpipe_plugin, column_size) == 88 && sizeof(((vmpipe_plugin *)0)->column_size) == 8, "vmpipe_plugin.column_size: offset 88, 8 bytes");
_Static_assert(offsetof(vmpipe_plugin, tables) == 96 && sizeof(((vmpipe_plugin *)0)->tables) == 8, "vmpipe_plugin.tables: offset 96, 8 bytes");
_Static_assert(offsetof(vmpipe_plugin, tables_len) == 104 && sizeof(((vmpipe_plugin *)0)->tables_len) == 8, "vmpipe_plugin.tables_len: offset 104, 8 bytes");
_Static_assert(offsetof(vmpipe_plugin, table_size) == 112 && sizeof(((vmpipe_plugin *)0)->table_size) == 8, "vmpipe_plugin.table_size: offset 112, 8 bytes");
_Static_assert(offsetof(vmpipe_plugin, reads) == 120 && sizeof(((vmpipe_plugin *)0)->reads) == 8, "vmpipe_plugin.reads: offset 120, 8 bytes");
_Static_assert(offsetof(vmpipe_plugin, reads_len) == 128 && sizeof(((vmpipe_plugin *)0)->reads_len) == 8, "vmpipe_plugin.reads_len: offset 128, 8 bytes");
_Static_assert(offsetof(vmpipe_plugin, read_size) == 136 && sizeof(((vmpipe_plugin *)0)->read_size) == 8, "vmpipe_plugin.read_size: offset 136, 8 bytes");
_Static_assert(offsetof(vmpipe_plugin, create) == 144 && sizeof(((vmpipe_plugin *)0)->create) == 8, "vmpipe_plugin.create: offset 144, 8 bytes");
_Static_assert(offsetof(vmpipe_plugin, analyze) == 152 && sizeof(((vmpipe_plugin *)0)->analyze) == 8, "vmpipe_plugin.analyze: offset 152, 8 bytes");
_Static_assert(offsetof(vmpipe_plugin, finish) == 160 && sizeof(((vmpipe_plugin *)0)->finish) == 8, "vmpipe_plugin.finish: offset 160, 8 bytes");
_Static_assert(offsetof(vmpipe_plugin, destroy) == 168 && sizeof(((vmpipe_plugin *)0)->destroy) == 8, "vmpipe_plugin.destroy: offset 168, 8 bytes");

#endif /* VMPIPE_PLUGIN_H */
