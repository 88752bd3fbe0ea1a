//! The tables a run writes, described once: every column of `regions`, `processes` and
//! `errors` with its name, type, unit, whether it can be empty, and what it means, in order.
//!
//! The CSV sink writes its header from these tables and its rows by matching on each column
//! (so a column added here and not written there does not compile); the plugin host refuses
//! analyzer columns that clash with them; README's table docs are rendered from them
//! ([`Table::markdown`], held equal by a test). Analyzer tables join a run's schema from
//! their plugins' declarations.

use super::UsageField;

/// What a column's cells hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// A non-negative integer.
    Integer,
    /// An address: `0x` + lowercase hex.
    Address,
    /// Text (escaped as [`super::escape`] says).
    Text,
    /// `true` or `false`.
    Boolean,
}

impl ColumnType {
    /// The type's name in the docs.
    pub const fn name(self) -> &'static str {
        match self {
            ColumnType::Integer => "integer",
            ColumnType::Address => "address",
            ColumnType::Text => "text",
            ColumnType::Boolean => "boolean",
        }
    }
}

/// What a number counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Not a quantity (an identifier, a code, text).
    None,
    /// Bytes.
    Bytes,
}

impl Unit {
    /// The unit's name in the docs (empty for none).
    pub const fn name(self) -> &'static str {
        match self {
            Unit::None => "",
            Unit::Bytes => "bytes",
        }
    }
}

/// One column of a table; `C` names it for the code that writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column<C: 'static> {
    /// Which column, for the writer.
    pub id: C,
    /// The header name.
    pub name: &'static str,
    /// What the cells hold.
    pub ty: ColumnType,
    /// What a number counts.
    pub unit: Unit,
    /// True when a cell can be empty: a value the source cannot know is an empty cell,
    /// never 0.
    pub nullable: bool,
    /// What it means.
    pub description: &'static str,
}

/// One table: its file stem and its columns in order.
#[derive(Clone, Copy, Debug)]
pub struct Table<C: 'static> {
    /// The table's name (`regions` → `regions.csv`).
    pub name: &'static str,
    /// The columns, in order.
    pub columns: &'static [Column<C>],
}

impl<C: Copy> Table<C> {
    /// The header names, in order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &'static str> + Clone {
        self.columns.iter().map(|c| c.name)
    }

    /// True when `name` is one of the table's columns.
    pub fn has(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.name == name)
    }

    /// The table as a Markdown table (column, type, unit, empty when, meaning), for the docs.
    pub fn markdown(&self) -> String {
        let mut out = String::from("| column | type | unit | can be empty | meaning |\n");
        out.push_str("|---|---|---|---|---|\n");
        for c in self.columns {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                c.name,
                c.ty.name(),
                c.unit.name(),
                if c.nullable { "yes" } else { "" },
                c.description.replace('|', "\\|"),
            ));
        }
        out
    }
}

/// The columns of `regions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionsColumn {
    /// `pid`.
    Pid,
    /// `process`.
    Process,
    /// `start`.
    Start,
    /// `end`.
    End,
    /// `size`.
    Size,
    /// `perms`.
    Perms,
    /// `max_perms`.
    MaxPerms,
    /// `offset`.
    Offset,
    /// `device`.
    Device,
    /// `inode`.
    Inode,
    /// `path`.
    Path,
    /// `deleted`.
    Deleted,
    /// `kind`.
    Kind,
    /// A residency figure.
    Usage(UsageField),
    /// `vm_flags`.
    VmFlags,
    /// `region_type`.
    RegionType,
    /// `reported_share_mode`.
    ReportedShareMode,
    /// `purge`.
    Purge,
    /// `detail`.
    Detail,
    /// `other_fields`.
    OtherFields,
}

/// The columns of `processes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessesColumn {
    /// `pid`.
    Pid,
    /// `ppid`.
    Ppid,
    /// `name`.
    Name,
    /// `exe`.
    Exe,
    /// `cmdline`.
    Cmdline,
    /// `uid`.
    Uid,
    /// `threads`.
    Threads,
    /// `state`.
    State,
    /// `status`.
    Status,
    /// `regions`.
    Regions,
    /// `vsize`.
    Vsize,
    /// The sum of a residency figure over the process's regions.
    Total(UsageField),
    /// `uss`.
    Uss,
    /// `error`.
    Error,
}

/// The columns of `errors`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorsColumn {
    /// `pid`.
    Pid,
    /// `process`.
    Process,
    /// `stage`.
    Stage,
    /// `plugin`.
    Plugin,
    /// `error`.
    Error,
}

const fn col<C>(
    id: C,
    name: &'static str,
    ty: ColumnType,
    unit: Unit,
    nullable: bool,
    description: &'static str,
) -> Column<C> {
    Column {
        id,
        name,
        ty,
        unit,
        nullable,
        description,
    }
}

/// A residency column of `regions`: named, typed and described by the usage table.
const fn usage(f: UsageField) -> Column<RegionsColumn> {
    let s = f.spec();
    Column {
        id: RegionsColumn::Usage(f),
        name: s.column,
        ty: ColumnType::Integer,
        unit: if s.kb { Unit::Bytes } else { Unit::None },
        nullable: true,
        description: s.description,
    }
}

/// A per-process total of a residency figure.
const fn total(f: UsageField, description: &'static str) -> Column<ProcessesColumn> {
    Column {
        id: ProcessesColumn::Total(f),
        name: f.column(),
        ty: ColumnType::Integer,
        unit: Unit::Bytes,
        nullable: true,
        description,
    }
}

/// `regions`: one row per virtual-memory region.
pub const REGIONS: Table<RegionsColumn> = {
    use ColumnType::{Address, Boolean, Integer, Text};
    use RegionsColumn as R;
    use Unit::{Bytes, None};
    use UsageField as U;
    Table {
        name: "regions",
        columns: &[
            col(R::Pid, "pid", Integer, None, false, "process id"),
            col(
                R::Process,
                "process",
                Text,
                None,
                false,
                "the process's name",
            ),
            col(R::Start, "start", Address, None, false, "first address"),
            col(
                R::End,
                "end",
                Address,
                None,
                false,
                "the address after the last one",
            ),
            col(R::Size, "size", Integer, Bytes, false, "end - start"),
            col(
                R::Perms,
                "perms",
                Text,
                None,
                false,
                "permissions as the kernel prints them (`r-xp`; `s` = shared)",
            ),
            col(
                R::MaxPerms,
                "max_perms",
                Text,
                None,
                true,
                "the most `mprotect` could ever grant (`rwx`): from the `VmFlags` codes `mr`/`mw`/`me`, or a report's maximum protection",
            ),
            col(
                R::Offset,
                "offset",
                Integer,
                Bytes,
                false,
                "offset of the mapping in its file",
            ),
            col(
                R::Device,
                "device",
                Text,
                None,
                false,
                "device of the mapped file as the kernel prints it (`major:minor` in hex)",
            ),
            col(
                R::Inode,
                "inode",
                Integer,
                None,
                false,
                "inode of the mapped file (0 for none)",
            ),
            col(
                R::Path,
                "path",
                Text,
                None,
                true,
                "the path or name the kernel prints (`[heap]`, a file, ` (deleted)` kept)",
            ),
            col(
                R::Deleted,
                "deleted",
                Boolean,
                None,
                true,
                "whether the mapped file was unlinked; empty when the path carries the mark but the source cannot confirm it",
            ),
            col(
                R::Kind,
                "kind",
                Text,
                None,
                false,
                "what backs the region: `file`, `anon`, `heap`, `stack`, `vdso`, `vvar`, `vsyscall`, `shm`, `memfd`, `anon-inode`, `special`",
            ),
            usage(U::Rss),
            usage(U::Pss),
            usage(U::PssDirty),
            usage(U::SharedClean),
            usage(U::SharedDirty),
            usage(U::PrivateClean),
            usage(U::PrivateDirty),
            usage(U::Referenced),
            usage(U::Anonymous),
            usage(U::Swap),
            usage(U::SwapPss),
            usage(U::Locked),
            usage(U::Ksm),
            usage(U::LazyFree),
            usage(U::AnonHugePages),
            usage(U::ShmemPmdMapped),
            usage(U::FilePmdMapped),
            usage(U::SharedHugetlb),
            usage(U::PrivateHugetlb),
            usage(U::KernelPageSize),
            usage(U::MmuPageSize),
            usage(U::ThpEligible),
            usage(U::ProtectionKey),
            col(
                R::VmFlags,
                "vm_flags",
                Text,
                None,
                true,
                "the `VmFlags` codes as printed",
            ),
            usage(U::Dirty),
            col(
                R::RegionType,
                "region_type",
                Text,
                None,
                true,
                "a report's region type (vmmap: `__TEXT`, `MALLOC_TINY`, `Stack`, …)",
            ),
            col(
                R::ReportedShareMode,
                "reported_share_mode",
                Text,
                None,
                true,
                "a report's share mode (`COW`, `PRV`, `NUL`, `SHM`, …)",
            ),
            col(
                R::Purge,
                "purge",
                Text,
                None,
                true,
                "a report's purge mode (`PURGE=N`, …)",
            ),
            col(
                R::Detail,
                "detail",
                Text,
                None,
                true,
                "a report's detail column (an image path, a zone name, …)",
            ),
            col(
                R::OtherFields,
                "other_fields",
                Text,
                None,
                true,
                "smaps fields vmpipe does not know yet, as `Name=value;…`",
            ),
        ],
    }
};

/// `processes`: one row per selected process.
pub const PROCESSES: Table<ProcessesColumn> = {
    use ColumnType::{Integer, Text};
    use ProcessesColumn as P;
    use Unit::{Bytes, None};
    use UsageField as U;
    Table {
        name: "processes",
        columns: &[
            col(P::Pid, "pid", Integer, None, false, "process id"),
            col(P::Ppid, "ppid", Integer, None, true, "parent process id"),
            col(P::Name, "name", Text, None, false, "the process's name"),
            col(P::Exe, "exe", Text, None, true, "the executable's path"),
            col(
                P::Cmdline,
                "cmdline",
                Text,
                None,
                false,
                "the arguments joined by single spaces, like `ps -o args`",
            ),
            col(P::Uid, "uid", Integer, None, true, "real user id"),
            col(
                P::Threads,
                "threads",
                Integer,
                None,
                true,
                "number of threads",
            ),
            col(
                P::State,
                "state",
                Text,
                None,
                true,
                "scheduler state letter (`R`, `S`, `T`, …)",
            ),
            col(
                P::Status,
                "status",
                Text,
                None,
                false,
                "`ok`, `partial` (some facts unreadable), `denied` (memory map refused), `vanished` (exited while being read)",
            ),
            col(
                P::Regions,
                "regions",
                Integer,
                None,
                false,
                "number of regions (rows in `regions`)",
            ),
            col(
                P::Vsize,
                "vsize",
                Integer,
                Bytes,
                true,
                "sum of the regions' sizes (empty when the map was not read completely)",
            ),
            total(U::Rss, "sum of the regions' `rss`"),
            total(U::Pss, "sum of the regions' `pss`"),
            total(U::PssDirty, "sum of the regions' `pss_dirty`"),
            col(
                P::Uss,
                "uss",
                Integer,
                Bytes,
                true,
                "unique set size: the sum of `private_clean + private_dirty`",
            ),
            total(U::Anonymous, "sum of the regions' `anonymous`"),
            total(U::Swap, "sum of the regions' `swap`"),
            total(U::SwapPss, "sum of the regions' `swap_pss`"),
            total(U::Locked, "sum of the regions' `locked`"),
            col(
                P::Error,
                "error",
                Text,
                None,
                true,
                "the first problem met reading the process",
            ),
        ],
    }
};

/// `errors`: one row per problem.
pub const ERRORS: Table<ErrorsColumn> = {
    use ColumnType::{Integer, Text};
    use ErrorsColumn as E;
    use Unit::None;
    Table {
        name: "errors",
        columns: &[
            col(
                E::Pid,
                "pid",
                Integer,
                None,
                true,
                "process id (empty for a problem of the whole run)",
            ),
            col(
                E::Process,
                "process",
                Text,
                None,
                true,
                "the process's name (empty for a problem of the whole run)",
            ),
            col(
                E::Stage,
                "stage",
                Text,
                None,
                false,
                "the file or step: `status`, `smaps`, `exe`, … or, for an analyzer, `analyze`, `finish`, `warning`",
            ),
            col(
                E::Plugin,
                "plugin",
                Text,
                None,
                true,
                "the analyzer, for an analyzer's problem",
            ),
            col(
                E::Error,
                "error",
                Text,
                None,
                false,
                "the message, naming the file",
            ),
        ],
    }
};

/// The names of the tables vmpipe writes itself, which no analyzer table may take.
pub const BUILTIN_TABLES: [&str; 3] = [REGIONS.name, PROCESSES.name, ERRORS.name];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_usage_field_has_its_column() {
        fn unique<C: Copy>(t: &Table<C>) {
            let names: Vec<_> = t.names().collect();
            for (i, n) in names.iter().enumerate() {
                assert!(!names[..i].contains(n), "{} has {n} twice", t.name);
            }
        }
        unique(&REGIONS);
        unique(&PROCESSES);
        unique(&ERRORS);
        for f in UsageField::ALL {
            let n = REGIONS
                .columns
                .iter()
                .filter(|c| c.id == RegionsColumn::Usage(f))
                .count();
            assert_eq!(n, 1, "{f:?}");
        }
    }
}
