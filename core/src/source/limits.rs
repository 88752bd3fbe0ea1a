//! How much of one process's files vmpipe reads: one number for every place that reads or
//! writes them (the live source, `vmpipe snapshot`, the capture source), so that what a
//! snapshot saves, the capture source always accepts.

/// The most bytes read from one process's `maps` or `smaps`, live or from evidence. A process
/// at the default `vm.max_map_count` (65,530 mappings) has about 72 MiB of smaps; one built to
/// be larger (a path of 4 KiB mapped 65,000 times gives 2.7 GB) is read up to this point and
/// marked partial, never refused whole and never held whole in memory.
pub const MAP_FILE_BYTES: u64 = 256 << 20;

/// The most bytes read from one of a process's small files (`status`, `stat`, `comm`,
/// `cmdline`, the `exe` link, a snapshot's `error`). The kernel caps `cmdline` at the
/// argument space (`ARG_MAX`, 2 MiB by default with an 8 MiB stack); 4 MiB leaves room.
pub const SMALL_FILE_BYTES: u64 = 4 << 20;

/// The largest vmmap report read, in bytes (bytes actually read, not the size the file
/// claims). A real report keeps at least as many bytes parsed as it has text (every fixture
/// does: see [`VMMAP_PARSED_BYTES`]), so a report larger than the parsed-data budget could not
/// be parsed within it anyway; the raw input is held while it is parsed, so this bounds that
/// part of the memory too.
pub const VMMAP_REPORT_BYTES: u64 = 64 << 20;

/// The most one parsed vmmap report may hold in memory (its region rows, table rows, header
/// values, messages and warnings, counted as their Rust values' sizes plus their strings).
/// A region row costs about 250 bytes, so this holds some 250,000 rows: the largest real
/// reports have a few thousand, a process with 65,530 regions (Linux's default map limit,
/// far more than a macOS process shows in practice) about 16 MiB. A report over it is not
/// used: its process becomes a `partial` row with an error naming the file and this budget.
pub const VMMAP_PARSED_BYTES: usize = 64 << 20;

/// The most all the vmmap reports of one run may hold parsed (they are parsed when the source
/// opens, to index them by pid). Reports past it are not kept: each becomes a `partial` row
/// naming this budget.
pub const VMMAP_RUN_PARSED_BYTES: usize = 512 << 20;

/// The most lines of one vmmap report read: four times the region rows the parsed-data
/// budget holds (each row is a line; the header, legend and tables add a few hundred). A
/// report with more is not used (it would only cost time: blank lines keep nothing).
pub const VMMAP_LINES: usize = 1 << 20;

/// The most warnings kept for one vmmap report (each becomes an error row naming the file);
/// the others are counted in one last warning.
pub const VMMAP_WARNINGS: usize = 10_000;

/// The longest line of a vmmap report read, in bytes; the rest of a longer line is skipped
/// with a warning. vmmap's own lines are a few hundred bytes (a macOS path is at most 1,024).
pub const VMMAP_LINE_BYTES: usize = 64 << 10;
