//! The report a person reads about one process, in the layout of macOS `vmmap`: header,
//! non-writable and writable regions, legend, summary by region type, malloc zones.
//!
//! For a vmmap report the region types, share modes and the Summary and MALLOC ZONE tables
//! are the report's own, re-rendered. For a Linux process the region type of each region is
//! named from what the analyzers found (the pipeline should run image-attribution,
//! guard-detection and share-modes; without them the types are coarser):
//!
//! | region type      | when |
//! |------------------|------|
//! | `STACK GUARD`    | guard-detection: `thread-stack-guard` |
//! | `Stack`          | the main `[stack]`, or the region right above a thread stack guard |
//! | `MALLOC heap`    | `[heap]` |
//! | `MALLOC arena`   | the region right below a `heap-reserve` (a glibc arena heap) |
//! | `MALLOC reserve` | guard-detection: `heap-reserve` |
//! | `reserved VM`    | guard-detection: `reservation` |
//! | `guard page`     | guard-detection: `guard-page` |
//! | the ELF parts    | image-attribution's `segment` (`text`, `rodata+eh_frame`, `data+bss`, …) |
//! | `shared memory`, `memfd`, `mapped file`, `[vdso]`, `[vvar]`, `[vsyscall]`, `anon inode`, `anonymous` | by what backs the region |
//!
//! Sizes are printed as vmmap prints them: `0K`, bare bytes for uneven values below 4096,
//! whole K below 10000K,
//! then M, G, T with one decimal. Every name and path is escaped for the terminal.

use std::fmt::Write as _;

use crate::model::escape as cell;
use crate::model::{Cell, Region, RegionKind, UsageField};
use crate::plugin::RunSchema;
use crate::source::Collected;

/// A size as vmmap prints it.
pub fn size(bytes: u64) -> String {
    const K: f64 = 1024.0;
    let b = bytes as f64;
    if bytes == 0 {
        "0K".into()
    } else if bytes < 4096 && !bytes.is_multiple_of(1024) {
        // Uneven values below a page are printed in bytes (`2784`, `4032` in the fixtures;
        // 6280 bytes print as `6K`).
        bytes.to_string()
    } else if (b / K).round() < 10000.0 {
        format!("{}K", (b / K).round() as u64)
    } else if b / (K * K) < 999.95 {
        format!("{:.1}M", b / (K * K))
    } else if b / (K * K * K) < 999.95 {
        format!("{:.1}G", b / (K * K * K))
    } else {
        format!("{:.1}T", b / (K * K * K * K))
    }
}

/// A size in bytes, or in pages of `page` bytes for a report made with `vmmap -pages`.
fn sized(bytes: u64, page: Option<u64>) -> String {
    match page {
        Some(p) if p > 0 => (bytes / p).to_string(),
        _ => size(bytes),
    }
}

fn opt(v: Option<u64>, page: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |b| sized(b, page))
}

/// Looks analyzer region columns up by name.
struct Columns<'a> {
    schema: &'a RunSchema,
    c: &'a Collected,
}

impl Columns<'_> {
    fn image(&self, region: usize) -> Option<Vec<u8>> {
        let i = self
            .schema
            .region_columns
            .iter()
            .position(|(_, col)| col.name == "image")?;
        match self.c.analysis.region(region).get(i)? {
            Cell::Bytes(b) if !b.is_empty() => Some(b.to_vec()),
            _ => None,
        }
    }

    fn text(&self, region: usize, name: &str) -> Option<String> {
        let i = self
            .schema
            .region_columns
            .iter()
            .position(|(_, col)| col.name == name)?;
        match self.c.analysis.region(region).get(i)? {
            Cell::Text(s) if !s.is_empty() => Some(s.to_string()),
            _ => None,
        }
    }
}

/// The region type of region `i` (see the module docs).
fn region_type(cols: &Columns<'_>, regions: &[Region], i: usize) -> String {
    let r = &regions[i];
    if let Some(rep) = &r.reported {
        return rep.region_type.to_string();
    }
    let guard = |j: usize| cols.text(j, "guard");
    match guard(i).as_deref() {
        Some("thread-stack-guard") => return "STACK GUARD".into(),
        Some("heap-reserve") => return "MALLOC reserve".into(),
        Some("reservation") => return "reserved VM".into(),
        Some("guard-page") => return "guard page".into(),
        _ => {}
    }
    let below_is = |kind: &str| {
        i.checked_sub(1)
            .filter(|&j| regions[j].end == r.start)
            .is_some_and(|j| guard(j).as_deref() == Some(kind))
    };
    let above_is = |kind: &str| {
        regions
            .get(i + 1)
            .filter(|a| a.start == r.end)
            .is_some_and(|_| guard(i + 1).as_deref() == Some(kind))
    };
    match r.kind {
        RegionKind::Stack => return "Stack".into(),
        RegionKind::Heap => return "MALLOC heap".into(),
        RegionKind::Anon if below_is("thread-stack-guard") => return "Stack".into(),
        RegionKind::Anon if above_is("heap-reserve") => return "MALLOC arena".into(),
        _ => {}
    }
    if let Some(seg) = cols.text(i, "segment") {
        return seg;
    }
    match r.kind {
        RegionKind::Shm => "shared memory",
        RegionKind::Memfd => "memfd",
        RegionKind::File => "mapped file",
        RegionKind::Vdso => "[vdso]",
        RegionKind::Vvar => "[vvar]",
        RegionKind::Vsyscall => "[vsyscall]",
        RegionKind::AnonInode => "anon inode",
        RegionKind::Special => "special",
        _ => "anonymous",
    }
    .into()
}

fn share_mode(cols: &Columns<'_>, r: &Region, i: usize) -> String {
    r.reported
        .as_ref()
        .and_then(|x| x.share_mode.as_deref().map(str::to_string))
        .or_else(|| cols.text(i, "share_mode"))
        .map(|m| format!("SM={m}"))
        .unwrap_or_default()
}

fn dirty(r: &Region) -> Option<u64> {
    r.usage.get(UsageField::Dirty).or_else(|| {
        Some(
            r.usage
                .get(UsageField::SharedDirty)?
                .saturating_add(r.usage.get(UsageField::PrivateDirty)?),
        )
    })
}

fn detail(cols: &Columns<'_>, r: &Region, i: usize) -> String {
    match (&r.path, &r.reported) {
        (Some(p), _) => cell::display(p),
        (None, Some(rep)) => cell::display(rep.detail.as_bytes()),
        _ => cols.image(i).map(|p| cell::display(&p)).unwrap_or_default(),
    }
}

const LEGEND: &str = "==== Legend
SM=sharing mode:
\tCOW=copy_on_write PRV=private NUL=empty ALI=aliased
\tSHM=shared ZER=zero_filled S/A=shared_alias
PURGE=purgeable mode:
\tV=volatile N=nonvolatile E=empty   otherwise is unpurgeable
";

/// The size columns of a Summary table, in vmmap's order.
const SUMMARY_COLUMNS: [(&str, &str); 7] = [
    ("VIRTUAL", "SIZE"),
    ("RESIDENT", "SIZE"),
    ("DIRTY", "SIZE"),
    ("SWAPPED", "SIZE"),
    ("VOLATILE", "SIZE"),
    ("NONVOL", "SIZE"),
    ("EMPTY", "SIZE"),
];

/// One Summary row: its type, the seven size columns, the region count and a note.
#[derive(Clone, Debug, Default)]
struct SummaryLine {
    name: String,
    sizes: [Option<u64>; 7],
    count: Option<u64>,
    note: String,
}

fn summary_table(
    out: &mut String,
    rows: &[SummaryLine],
    total: Option<&SummaryLine>,
    page: Option<u64>,
) {
    let all: Vec<&SummaryLine> = rows.iter().chain(total).collect();
    let shown: Vec<usize> = (0..7)
        .filter(|&k| all.iter().any(|r| r.sizes[k].is_some()))
        .collect();
    let count = all.iter().any(|r| r.count.is_some());
    let mut top = format!("{:<30}", "");
    let mut second = format!("{:<30}", "REGION TYPE");
    let mut rule = format!("{:<30}", "===========");
    for &k in &shown {
        let (a, b) = SUMMARY_COLUMNS[k];
        // A -pages report labels its columns PAGES.
        let b = if page.is_some() { "PAGES" } else { b };
        let _ = write!(top, " {a:>9}");
        let _ = write!(second, " {b:>9}");
        let _ = write!(rule, " {:>9}", "=======");
    }
    if count {
        let _ = write!(top, " {:>8}", "REGION");
        let _ = write!(second, " {:>8}", "COUNT");
        let _ = write!(rule, " {:>8}", "=======");
    }
    if !rows.is_empty() {
        let _ = writeln!(
            out,
            "{}\n{}\n{}",
            top.trim_end(),
            second.trim_end(),
            rule.trim_end()
        );
    }
    let line = |out: &mut String, r: &SummaryLine| {
        let mut l = format!("{:<30}", cell::display(r.name.as_bytes()));
        for &k in &shown {
            let _ = write!(l, " {:>9}", opt(r.sizes[k], page));
        }
        if count {
            let _ = write!(
                l,
                " {:>8}",
                r.count.map_or_else(|| "-".into(), |n| n.to_string())
            );
        }
        if !r.note.is_empty() {
            let _ = write!(l, "   {}", cell::display(r.note.as_bytes()));
        }
        let _ = writeln!(out, "{}", l.trim_end());
    };
    for r in rows {
        line(out, r);
    }
    if let Some(t) = total {
        let _ = writeln!(out, "{}", rule.trim_end());
        line(out, t);
    }
}

/// Renders one process in vmmap's layout.
pub fn render(c: &Collected, schema: &RunSchema, source: &str, out: &mut String) {
    let p = &c.process;
    let cols = Columns { schema, c };
    // A report made with `vmmap -pages` counts pages: render it as it was made.
    let page = c
        .vmmap
        .as_ref()
        .filter(|v| v.page_units)
        .map(|v| v.header.page_size.unwrap_or(4096));
    let name = cell::display(&p.name);
    let _ = writeln!(out, "Process:         {name} [{}]", p.pid);
    if let Some(exe) = &p.exe {
        let _ = writeln!(out, "Path:            {}", cell::display(exe));
    }
    if let Some(pp) = p.ppid {
        let _ = writeln!(out, "Parent Process:  [{pp}]");
    }
    if let Some(uid) = p.uid {
        let _ = writeln!(out, "User:            {uid}");
    }
    if let Some(t) = p.threads {
        let _ = writeln!(out, "Threads:         {t}");
    }
    if let Some(h) = c.vmmap.as_ref().map(|v| &v.header) {
        for (k, v) in [
            ("Code Type", &h.code_type),
            ("OS Version", &h.os_version),
            ("Date/Time", &h.date),
        ] {
            if let Some(v) = v {
                let _ = writeln!(
                    out,
                    "{:<17}{}",
                    format!("{k}:"),
                    cell::display(v.as_bytes())
                );
            }
        }
    }
    let _ = writeln!(out, "Source:          {}", cell::display(source.as_bytes()));
    if p.status != crate::model::ProcessStatus::Ok {
        let _ = writeln!(
            out,
            "Status:          {} — {}",
            p.status,
            cell::display(p.error.as_deref().unwrap_or("").as_bytes())
        );
    }
    let _ = writeln!(
        out,
        "----\n\nVirtual Memory Map of process {} ({name})",
        p.pid
    );

    let types: Vec<String> = (0..c.regions.len())
        .map(|i| region_type(&cols, &c.regions, i))
        .collect();
    // Only the columns the source has (a `-resident` report has no DIRTY or SWAP; a maps-only
    // sweep only VSIZE).
    let has_rss = c
        .regions
        .iter()
        .any(|r| r.usage.get(UsageField::Rss).is_some());
    let has_dirty = c.regions.iter().any(|r| dirty(r).is_some());
    let has_swap = c
        .regions
        .iter()
        .any(|r| r.usage.get(UsageField::Swap).is_some());
    for (title, writable) in [("Non-writable", false), ("Writable", true)] {
        let _ = writeln!(out, "\n==== {title} regions for process {}", p.pid);
        let mut head = format!(
            "{:<22} {:>16}-{:<16} [{:>6}",
            "REGION TYPE", "START", "END", "VSIZE"
        );
        for (name, on) in [("RSDNT", has_rss), ("DIRTY", has_dirty), ("SWAP", has_swap)] {
            if on {
                let _ = write!(head, " {name:>6}");
            }
        }
        let _ = writeln!(out, "{head}] PRT/MAX SHRMOD PURGE    REGION DETAIL");
        for (i, r) in c
            .regions
            .iter()
            .enumerate()
            .filter(|(_, r)| r.perms.write == writable)
        {
            let prt = &r.perms.as_bytes()[..3];
            let max = r.max_perms().unwrap_or(*b"???");
            let purge = r
                .reported
                .as_ref()
                .and_then(|x| x.purge.as_deref())
                .map(|x| format!("PURGE={x}"))
                .unwrap_or_default();
            let mut sizes = format!("{:>6}", sized(r.size(), page));
            for (v, on) in [
                (r.usage.get(UsageField::Rss), has_rss),
                (dirty(r), has_dirty),
                (r.usage.get(UsageField::Swap), has_swap),
            ] {
                if on {
                    let _ = write!(sizes, " {:>6}", opt(v, page));
                }
            }
            let line = format!(
                "{:<22} {:016x}-{:016x} [{sizes}] {}/{} {:<6} {:<8} {}",
                cell::display(types[i].as_bytes()),
                r.start,
                r.end,
                String::from_utf8_lossy(prt),
                String::from_utf8_lossy(&max),
                share_mode(&cols, r, i),
                purge,
                detail(&cols, r, i)
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    let _ = writeln!(out, "\n{LEGEND}");
    let _ = writeln!(out, "==== Summary for process {}", p.pid);
    match &c.vmmap {
        Some(v) if !v.summary.is_empty() => {
            let conv = |r: &crate::source::vmmap::SummaryRow| SummaryLine {
                name: r.region_type.clone(),
                sizes: [
                    r.virtual_size,
                    r.resident,
                    r.dirty,
                    r.swapped,
                    r.volatile,
                    r.nonvolatile,
                    r.empty,
                ],
                count: r.region_count,
                note: r.note.clone().unwrap_or_default(),
            };
            let rows: Vec<SummaryLine> = v.summary.iter().map(conv).collect();
            let totals: Vec<SummaryLine> = v.summary_totals.iter().map(conv).collect();
            summary_table(out, &rows, totals.first(), page);
            for t in totals.iter().skip(1) {
                summary_table(out, &[], Some(t), page);
            }
        }
        _ => {
            let mut by: std::collections::BTreeMap<&str, SummaryLine> =
                std::collections::BTreeMap::new();
            let zero = |name: &str| SummaryLine {
                name: name.to_string(),
                sizes: [Some(0), Some(0), Some(0), Some(0), None, None, None],
                count: Some(0),
                note: String::new(),
            };
            let mut total = zero("TOTAL");
            let add = |t: &mut Option<u64>, v: Option<u64>| {
                *t = match (*t, v) {
                    (Some(a), Some(b)) => Some(a.saturating_add(b)),
                    _ => None,
                }
            };
            for (i, r) in c.regions.iter().enumerate() {
                let e = by
                    .entry(types[i].as_str())
                    .or_insert_with(|| zero(&types[i]));
                for t in [&mut *e, &mut total] {
                    add(&mut t.sizes[0], Some(r.size()));
                    add(&mut t.sizes[1], r.usage.get(UsageField::Rss));
                    add(&mut t.sizes[2], dirty(r));
                    add(&mut t.sizes[3], r.usage.get(UsageField::Swap));
                    add(&mut t.count, Some(1));
                }
            }
            let rows: Vec<SummaryLine> = by.into_values().collect();
            summary_table(out, &rows, Some(&total), None);
        }
    }
    malloc_zones(out, c, schema, page);
    out.push('\n');
}

fn malloc_zones(out: &mut String, c: &Collected, schema: &RunSchema, page: Option<u64>) {
    if let Some(v) = &c.vmmap {
        if v.malloc_zones.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\n{:<30} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>7} {:>7}",
            "MALLOC ZONE",
            "VIRTUAL",
            "RESIDENT",
            "DIRTY",
            "SWAPPED",
            "ALLOCATION",
            "BYTES",
            "% FRAG",
            "% FULL"
        );
        let row = |out: &mut String, z: &crate::source::vmmap::ZoneRow| {
            let pct = |p: Option<f64>| p.map_or_else(|| "-".into(), |x| format!("{x:.0}%"));
            let _ = writeln!(
                out,
                "{:<30} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>7} {:>7}",
                cell::display(z.name.as_bytes()),
                opt(z.virtual_size, page),
                opt(z.resident, page),
                opt(z.dirty, page),
                opt(z.swapped, page),
                z.allocation_count
                    .map_or_else(|| "-".into(), |n| n.to_string()),
                opt(z.bytes_allocated, page),
                pct(z.pct_frag),
                pct(z.pct_full)
            );
        };
        for z in &v.malloc_zones {
            row(out, z);
        }
        if let Some(t) = &v.malloc_zone_total {
            row(out, t);
        }
        return;
    }
    let Some(table) = schema
        .tables
        .iter()
        .position(|(_, t)| t.name == "malloc_zones")
    else {
        return;
    };
    let (_, t) = &schema.tables[table];
    let rows: Vec<_> = c
        .analysis
        .rows
        .iter()
        .filter(|r| r.table == table)
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nMALLOC ZONES");
    for r in rows {
        let fields: Vec<String> = t
            .columns
            .iter()
            .zip(&r.cells)
            .filter(|(_, v)| **v != Cell::Absent)
            .map(|(col, v)| {
                let shown = match v {
                    Cell::U64(n) if !col.name.contains("count") => size(*n),
                    Cell::Text(s) => cell::display(s.as_bytes()),
                    other => other.to_string(),
                };
                format!("{}={shown}", col.name)
            })
            .collect();
        let _ = writeln!(out, "  {}", fields.join("  "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_as_vmmap_prints_them() {
        for (bytes, shown) in [
            (0, "0K"),
            (2784, "2784"),
            (4032, "4032"),
            (4096, "4K"),
            (6280, "6K"),
            (8928, "9K"),
            (512, "512"),
            (24 * 1024, "24K"),
            (8192 * 1024, "8192K"),
            (9904 * 1024, "9904K"),
            (10_276_045, "9.8M"),
            (58_720_256, "56.0M"),
            (947_814_809, "903.9M"),
            (1_181_116_006, "1.1G"),
        ] {
            assert_eq!(size(bytes), shown, "{bytes}");
        }
    }
}
