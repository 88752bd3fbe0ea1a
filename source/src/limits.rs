//! How much of one process's files vmpipe reads: one number for every place that reads or
//! writes them (the live source, `vmpipe snapshot`, the capture source), so that what a
//! snapshot saves, the capture source always accepts.

/// The most bytes read from one process's `maps` or `smaps`, live or from evidence. A process
/// at the default `vm.max_map_count` (65,530 mappings) has about 72 MiB of smaps; one built to
/// be larger (a path of 4 KiB mapped 65,000 times gives 2.7 GB) is read up to this point and
/// marked partial, never refused whole and never held whole in memory.
pub const MAP_FILE_BYTES: u64 = 256 << 20;

/// The most bytes read from one of a process's small files (`status`, `stat`, `comm`,
/// `cmdline`, the `exe` link, a snapshot's `error`). The kernel caps a process's arguments and
/// environment together at three quarters of 8 MiB (`_STK_LIM`), so a real `cmdline` always
/// fits.
pub const SMALL_FILE_BYTES: u64 = 8 << 20;

/// The most memory one process's parsed regions may take, counted as they are built: each
/// region's record and its path's bytes (per region, shared or not: every table that carries
/// the region carries the path), each distinct `VmFlags` value, each field the model does not
/// know. About 200,000 regions with short paths, three times the default `vm.max_map_count`;
/// 1,600 regions under a 40 KB path. A process past it keeps the regions parsed so far and
/// becomes `partial` with an error row; the run goes on.
pub const PARSED_BYTES_PER_PROCESS: usize = 64 << 20;

/// The most parsed region data the engine holds for processes collected but not yet written.
/// A worker does not start another process while more than this is held, unless that process
/// is the next to be written (so the run always moves on): with `T` worker threads at most
/// `PARSED_BYTES_PER_RUN + T × PARSED_BYTES_PER_PROCESS` is ever held.
pub const PARSED_BYTES_PER_RUN: usize = 128 << 20;

/// The most memory one analyzer call's output may take (its table rows, and the text and
/// bytes of its values, a value repeated from region to region counted once): 64 MiB per
/// process for `analyze`, and as much for the run-wide rows of `finish`. Past it, values are
/// refused (`OVER_BUDGET`) and the refusal becomes an error row.
pub const OUTPUT_BYTES_PER_CALL: usize = 64 << 20;

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
