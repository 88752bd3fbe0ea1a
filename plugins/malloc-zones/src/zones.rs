//! From what was found to the rows of `malloc_zones`: which zones a process has, the regions
//! each one covers and their residency figures.

use vmpipe_plugin::{MemoryError, RegionKind};

use crate::detect::{self, LibcCache, Other};
use crate::glibc::{self, Fail, Limits, Outcome};
use crate::layout::HEAP_MAX;
use crate::model::{Memory, Span};

/// How far a zone could be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Read and checked.
    Ok,
    /// An allocator or a state this analyzer cannot read.
    Unsupported,
    /// The process's memory could not be read: figures from its regions only.
    NoMemory,
}

impl Status {
    /// The name in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unsupported => "unsupported",
            Status::NoMemory => "no-memory",
        }
    }
}

/// What the allocator's own structures say about a zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alloc {
    /// Allocations (in-use chunks).
    pub count: u64,
    /// Their bytes.
    pub allocated: u64,
    /// Free bytes.
    pub free: u64,
    /// The top chunk's size, for an arena that has one.
    pub top: Option<u64>,
    /// Bytes the allocator holds from the system for the zone.
    pub system_mem: u64,
}

/// One row of `malloc_zones`.
#[derive(Clone, Debug, PartialEq)]
pub struct Zone {
    /// Its name.
    pub name: String,
    /// The allocator.
    pub allocator: String,
    /// The address ranges it covers (empty: its regions are not known).
    pub ranges: Vec<(u64, u64)>,
    /// What the allocator's structures say, when they were read.
    pub alloc: Option<Alloc>,
    /// How far it could be read.
    pub status: Status,
    /// Why it is not `ok`, or a note.
    pub reason: Option<String>,
}

/// Residency of a zone, from its regions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Bytes of address space.
    pub virt: Option<u64>,
    /// Readable and writable bytes.
    pub committed: Option<u64>,
    /// Resident bytes.
    pub resident: Option<u64>,
    /// Dirty bytes.
    pub dirty: Option<u64>,
    /// Swapped bytes.
    pub swapped: Option<u64>,
    /// A region reaches beyond the zone, so its residency cannot be split (the residency
    /// figures are then absent).
    pub split: bool,
}

fn overlap(s: &Span, ranges: &[(u64, u64)]) -> u64 {
    ranges
        .iter()
        .map(|&(b, e)| e.min(s.end).saturating_sub(b.max(s.start)))
        .sum()
}

fn add(t: &mut Option<u64>, v: Option<u64>) {
    *t = match (*t, v) {
        (Some(a), Some(b)) => a.checked_add(b),
        _ => None,
    };
}

/// The residency of the zone covering `ranges`.
pub fn figures(ranges: &[(u64, u64)], spans: &[Span]) -> Figures {
    if ranges.is_empty() {
        return Figures::default();
    }
    let (mut virt, mut committed) = (0u64, 0u64);
    let (mut resident, mut dirty, mut swapped) = (Some(0), Some(0), Some(0));
    let mut split = false;
    for s in spans {
        let ov = overlap(s, ranges);
        if ov == 0 {
            continue;
        }
        virt += ov;
        if s.read && s.write {
            committed += ov;
        }
        if ov == s.size() {
            add(&mut resident, s.rss);
            add(&mut dirty, s.dirty);
            add(&mut swapped, s.swap);
        } else {
            split = true;
        }
    }
    if split {
        (resident, dirty, swapped) = (None, None, None);
    }
    Figures {
        virt: Some(virt),
        committed: Some(committed),
        resident,
        dirty,
        swapped,
        split,
    }
}

/// `allocated / committed · 100`.
pub fn pct_full(alloc: Option<&Alloc>, f: &Figures) -> Option<f64> {
    let a = alloc?;
    let c = f.committed.filter(|&c| c > 0)?;
    Some(a.allocated as f64 * 100.0 / c as f64)
}

/// vmmap's `% FRAG`: `100 − 100 · allocated / (dirty + swapped)`, at least 0 (allocated pages
/// that were never touched are neither dirty nor swapped).
pub fn pct_frag(alloc: Option<&Alloc>, f: &Figures) -> Option<f64> {
    let a = alloc?;
    let ds = f.dirty?.checked_add(f.swapped?).filter(|&d| d > 0)?;
    Some((100.0 - a.allocated as f64 * 100.0 / ds as f64).max(0.0))
}

/// The `reason` cell of a zone with figures `f`: its reason, plus a note when a region reaches
/// beyond the zone (its residency figures are then absent).
pub fn reason(z: &Zone, f: &Figures) -> Option<String> {
    const SPLIT: &str = "a region of this zone also holds memory outside it (adjacent mappings merged by the kernel): residency is per region and cannot be split";
    match (&z.reason, f.split) {
        (Some(r), true) => Some(format!("{r}; {SPLIT}")),
        (Some(r), false) => Some(r.clone()),
        (None, true) => Some(SPLIT.to_string()),
        (None, false) => None,
    }
}

/// For each region, the index of the first zone covering part of it.
pub fn region_zones(zones: &[Zone], spans: &[Span]) -> Vec<Option<usize>> {
    spans
        .iter()
        .map(|s| zones.iter().position(|z| overlap(s, &z.ranges) > 0))
        .collect()
}

/// The `[heap]` regions.
fn heap_ranges(spans: &[Span]) -> Vec<(u64, u64)> {
    spans
        .iter()
        .filter(|s| s.kind == RegionKind::Heap)
        .map(|s| (s.start, s.end))
        .collect()
}

/// Zones from the regions alone: `main_arena` (the `[heap]` regions) and each 64 MiB thread
/// arena heap block `heap_0x…`; one `main_arena` row without regions when there are none.
fn from_regions(spans: &[Span], allocator: &str, status: Status, reason: &str) -> Vec<Zone> {
    let zone = |name: String, ranges| Zone {
        name,
        allocator: allocator.to_string(),
        ranges,
        alloc: None,
        status,
        reason: Some(reason.to_string()),
    };
    let mut out = vec![zone("main_arena".into(), heap_ranges(spans))];
    for b in glibc::heap_blocks_from_regions(spans) {
        out.push(zone(format!("heap_{b:#x}"), vec![(b, b + HEAP_MAX)]));
    }
    out
}

fn from_outcome(o: Outcome, others: bool) -> Vec<Zone> {
    let mut out = Vec::new();
    for a in o.arenas {
        if a.main && a.unused && others {
            // glibc's malloc is unused: another allocator replaced it.
            continue;
        }
        let name = if a.main {
            "main_arena".to_string()
        } else {
            format!("arena_{:#x}", a.addr)
        };
        let (alloc, status, reason) = match a.result {
            Ok(s) => {
                let note = a
                    .unused
                    .then(|| "glibc malloc's main arena has taken no memory yet".to_string());
                (
                    Some(Alloc {
                        count: s.count,
                        allocated: s.allocated,
                        free: s.free(),
                        top: s.top_size,
                        system_mem: s.system_mem,
                    }),
                    Status::Ok,
                    note,
                )
            }
            Err(why) => (None, Status::Unsupported, Some(why)),
        };
        out.push(Zone {
            name,
            allocator: "glibc".into(),
            ranges: if a.unused { Vec::new() } else { a.zone },
            alloc,
            status,
            reason,
        });
    }
    for m in o.mmapped {
        out.push(Zone {
            name: format!("mmapped_chunk_{:#x}", m.addr),
            allocator: "glibc".into(),
            ranges: vec![(m.addr, m.addr + m.size)],
            alloc: Some(Alloc {
                count: 1,
                allocated: m.size,
                free: 0,
                top: None,
                system_mem: m.size,
            }),
            status: Status::Ok,
            reason: None,
        });
    }
    out
}

fn other_row(o: &Other) -> Zone {
    Zone {
        name: o.allocator.to_string(),
        allocator: o.allocator.to_string(),
        ranges: Vec::new(),
        alloc: None,
        status: Status::Unsupported,
        reason: Some(format!(
            "{}: {}'s heap layout is not supported, so its zones are not measured",
            o.evidence, o.allocator
        )),
    }
}

/// The process is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vanished;

/// Every zone of one process. `exe` is the executable's path; `mem` its memory, when the source
/// has any.
pub fn zones(
    spans: &[Span],
    exe: Option<&[u8]>,
    mem: Option<&dyn Memory>,
    cache: &LibcCache,
    limits: Limits,
) -> Result<Vec<Zone>, Vanished> {
    if spans.is_empty() {
        return Ok(Vec::new());
    }
    let others = detect::others(spans);
    let mut out = Vec::new();
    let no_memory = |e: &dyn std::fmt::Display| {
        format!(
            "cannot read the process's memory ({e}): figures from its regions only; allocations, and chunks malloc mapped on their own, need the memory"
        )
    };
    match (detect::glibc(spans), mem) {
        (Some(_), None) => out.extend(from_regions(
            spans,
            "glibc",
            Status::NoMemory,
            &no_memory(&MemoryError::Unavailable),
        )),
        (Some(libc), Some(m)) => match glibc::analyze(m, spans, libc, cache, limits) {
            Ok(o) => out.extend(from_outcome(o, !others.is_empty())),
            Err(Fail::Access(MemoryError::Vanished)) => return Err(Vanished),
            Err(Fail::Access(e)) => out.extend(from_regions(
                spans,
                "glibc",
                Status::NoMemory,
                &no_memory(&e),
            )),
            Err(Fail::Unsupported(why) | Fail::Inconsistent(why)) => {
                out.extend(from_regions(spans, "glibc", Status::Unsupported, &why))
            }
        },
        (None, mem) => {
            let exe_file = exe.and_then(|path| {
                spans
                    .iter()
                    .find(|s| s.path == Some(path))
                    .map(|s| (s.dev, s.inode))
            });
            let static_arena = match (mem, exe_file) {
                (Some(m), Some(f)) => match glibc::find_static(m, spans, f) {
                    Ok(a) => a,
                    Err(Fail::Access(MemoryError::Vanished)) => return Err(Vanished),
                    Err(_) => None,
                },
                _ => None,
            };
            if let Some(a) = static_arena {
                out.extend(from_regions(
                    spans,
                    "glibc",
                    Status::Unsupported,
                    &format!(
                        "statically linked glibc (main_arena at {a:#x} in the executable's data): without libc's version banner its malloc layout cannot be confirmed"
                    ),
                ));
            } else if others.is_empty() {
                let searched = if mem.is_some() && exe_file.is_some() {
                    "and no glibc main_arena in the executable's data"
                } else {
                    "and the executable's data could not be searched for a static glibc main_arena"
                };
                out.push(Zone {
                    name: "unknown".into(),
                    allocator: "unknown".into(),
                    ranges: Vec::new(),
                    alloc: None,
                    status: Status::Unsupported,
                    reason: Some(format!(
                        "no known allocator: libc.so.6 is not mapped (statically linked?), no known allocator library is mapped, {searched}"
                    )),
                });
            }
        }
    }
    if !others.is_empty() {
        // Another allocator replaced malloc: glibc rows with no memory say nothing.
        out.retain(|z| !z.ranges.is_empty());
    }
    out.extend(others.iter().map(other_row));
    Ok(out)
}
