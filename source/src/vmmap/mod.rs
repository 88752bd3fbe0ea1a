//! macOS `vmmap` text reports: a robust parser that never panics.
//!
//! [`parse`] reads a report as vmmap prints it (or as people paste it) into a
//! [`VmmapReport`]: the [`Header`], the region rows ([`VmmapRegion`]), the Summary's
//! `REGION TYPE` table ([`SummaryRow`]) and its `MALLOC ZONE` table ([`ZoneRow`]). All sizes
//! are converted to bytes ([`parse_size`]).
//!
//! # What is read
//!
//! * **Formats** 2.2 (no header block, no column header; `TOTAL, minus reserved VM space`),
//!   2.3 (`[ VSIZE]` only, `% FULL` zones) and 2.4 (`[ VSIZE RSDNT DIRTY SWAP]`, `PURGE`,
//!   `% FRAG` zones, `REGION COUNT`), from macOS 10.9 to 26.
//! * **Options**: `-resident` (`[ VSIZE RSDNT]`), `-summary` / `--summary` (tables only,
//!   down to `VIRTUAL SIZE / REGION COUNT`), `-interleaved` (one `==== regions for process`
//!   section), `--wide` (rows read by tokens, whatever their widths), and `-pages`: sizes
//!   are page counts, detected from the `PAGES` column labels of the Summary tables (or,
//!   in a region list cut before its Summary, from every VSIZE × page size equalling its
//!   address range) and multiplied by the `VM page size:` (4096, with a warning, if the
//!   report has none); suffixed values (`17K`) stay bytes.
//! * **Sizes** `24K`, `56.0M`, `1.2G`, `2T` (binary units) and bare bytes (`2784`).
//! * **Text**: `\n`, `\r\n` or `\r` line ends; invalid UTF-8 is replaced (with a warning);
//!   lines before `Process:` (vmmap's stderr messages, the command line) go to
//!   [`VmmapReport::tool_messages`].
//!
//! Region rows are read by tokens, not by columns: the type is what comes before the
//! `START-END` token (so `Memory Tag 22` or a type shifted by a column is fine), the sizes
//! are inside `[ … ]`, then `PRT/MAX`, `SM=…`, an optional `PURGE=…`, and the rest is the
//! detail. Table rows are read the same way: the longest run of value cells is the values,
//! what is before is the name, what follows is the note.
//!
//! # Warnings and errors
//!
//! The parser reads as much as it can. Anything skipped or suspicious becomes a
//! [`Warning`] with its line, and the rest of the report is still read:
//!
//! * a snip marker (`...(snip)...`, `...`) or a line it does not recognise;
//! * a region row it cannot read — this is how a **damaged** report (e.g. one that lost
//!   every `- `, giving `r--/rwSM=COW`) is handled: each such row is skipped with a warning
//!   naming the line and the reason, and the good rows are kept;
//! * a region row shifted from its column header, a detail that does not start in the
//!   `REGION DETAIL` column (an annotation), a VSIZE that disagrees with the address range,
//!   a region row outside a `==== … regions` section;
//! * in the tables: an indented row, a blank line inside a table, text after the values
//!   other than vmmap's own notes, a row it cannot read, fewer values than columns where
//!   the `=====` rule cannot place them, header lines or rule that do not agree, an unknown
//!   column, a `TOTAL` row before the closing rule, a `REGION TYPE` table without `TOTAL`;
//! * a report that has region rows but ends before its Summary tables (an excerpt), or has
//!   neither; an unknown `====` section (its lines are skipped); a second `Process:` line
//!   (the rest of the input is not read);
//! * a `-pages` report without `VM page size:` (4096 assumed), or page counts recognised
//!   only from the address ranges;
//! * header values that do not parse or contradict each other; invalid UTF-8.
//!
//! So a complete report, as vmmap printed it, parses without warnings, and every snipped,
//! edited or damaged report of the test fixtures gives at least one (a cut that leaves no
//! trace cannot be seen).
//!
//! [`parse`] returns a [`VmmapError`] (with the line, displayed as `line N: message`) only
//! when the input is empty or nothing in it is shaped like a vmmap report (no `Process:`
//! header, no `Virtual Memory Map` line, no `====` section, no region row, no table).
//! It also returns one, naming the line, when the report has more than
//! [`VMMAP_LINES`](crate::limits::VMMAP_LINES) lines or what it parses to would hold
//! more than [`VMMAP_PARSED_BYTES`](crate::limits::VMMAP_PARSED_BYTES)
//! ([`VmmapReport::kept_bytes`]; [`parse_within`] takes another budget). The input is read a
//! line at a time, nothing is kept per line, a line is read up to
//! [`VMMAP_LINE_BYTES`](crate::limits::VMMAP_LINE_BYTES) (a warning says it was
//! cut), messages quote at most 80 characters of the input, and at most
//! [`VMMAP_WARNINGS`](crate::limits::VMMAP_WARNINGS) warnings are kept.
//!
//! # Totals and counts
//!
//! The Summary's sizes are rounded for display (`56.0M` is 56.0 ± 0.05 MiB); so are the
//! region rows'. Its `REGION COUNT (non-coalesced)` need not equal the number of rows
//! listed (on macOS 10.13 each type's count is one more than its rows, while `TOTAL`
//! counts the rows). The parser reports what is printed and does not reconcile the two.

mod budget;
mod error;
mod header;
mod parse;
mod regions;
mod size;
mod source;
mod summary;
mod table;
mod tokens;
mod zones;

pub use error::{VmmapError, Warning};
pub use header::Header;
pub use parse::{VmmapReport, parse, parse_within};
pub use regions::{RegionSection, VmmapRegion};
pub use size::{parse_size, parse_size_in};
pub use source::{NO_PID_BASE, ReportsError, VmmapReports, looks_like_report};
pub use summary::SummaryRow;
pub use zones::ZoneRow;
