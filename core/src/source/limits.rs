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
