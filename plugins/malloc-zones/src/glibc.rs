//! Reading glibc malloc's arenas out of a process: find `main_arena`, follow the arena ring,
//! walk every heap chunk by chunk and every bin, cross-check the two, and find the chunks
//! malloc got from `mmap`. Every loop is bounded and every value read is checked before use:
//! the target's heap can hold anything.

use std::collections::HashSet;

use vmpipe_plugin::MemoryError;

use crate::detect::{CheckFail, FileId, LibcCache};
use crate::layout::*;
use crate::model::{Memory, ReadFail, Reader, Span, le32, le64};

/// How often an arena is read again when a check fails (the process may be changing it).
pub const ATTEMPTS: usize = 3;
/// The most bytes of one writable region scanned for `main_arena`.
const SCAN_CAP: u64 = 4 << 20;
/// The most mmapped chunks recognised in one region (several adjacent chunk mappings can be
/// merged by the kernel into one region).
const MAX_CHUNKS_PER_REGION: usize = 4096;

/// Why an analysis stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fail {
    /// The memory cannot be read at all.
    Access(MemoryError),
    /// This process's malloc is not one this analyzer can read (layout, version, setup).
    Unsupported(String),
    /// A consistency check failed: the heap is corrupt, or changed while it was read.
    Inconsistent(String),
}

impl From<ReadFail> for Fail {
    fn from(e: ReadFail) -> Self {
        match e {
            ReadFail::Access(e) => Fail::Access(e),
            ReadFail::Fault(a) => Fail::Inconsistent(format!("{a:#x} could not be read")),
        }
    }
}

impl From<CheckFail> for Fail {
    fn from(e: CheckFail) -> Self {
        match e {
            CheckFail::Read(r) => r.into(),
            CheckFail::No(why) => Fail::Unsupported(why),
        }
    }
}

fn bad(msg: impl Into<String>) -> Fail {
    Fail::Inconsistent(msg.into())
}

/// A `struct malloc_state` as read.
#[derive(Clone, Debug)]
pub struct State {
    /// Where it is.
    pub addr: u64,
    /// The arena lock (non-zero: a thread was inside malloc when the process was read).
    pub mutex: u32,
    /// `flags`.
    pub flags: u32,
    /// `have_fastchunks`.
    pub have_fastchunks: u32,
    /// `fastbinsY`.
    pub fastbins: [u64; NFASTBINS],
    /// `top`.
    pub top: u64,
    /// `bins`: `fd, bk` of bins 1 to 127.
    pub bins: Vec<u64>,
    /// `next`.
    pub next: u64,
    /// `attached_threads`.
    pub attached: u64,
    /// `system_mem`.
    pub system_mem: u64,
    /// `max_system_mem`.
    pub max_system_mem: u64,
}

impl State {
    /// Parses `b` (at least [`MS_SIZE`] bytes) read at `addr`.
    pub fn parse(addr: u64, b: &[u8]) -> State {
        let mut fastbins = [0u64; NFASTBINS];
        for (i, f) in fastbins.iter_mut().enumerate() {
            *f = le64(b, MS_FASTBINS + 8 * i);
        }
        State {
            addr,
            mutex: le32(b, MS_MUTEX),
            flags: le32(b, MS_FLAGS),
            have_fastchunks: le32(b, MS_HAVE_FASTCHUNKS),
            fastbins,
            top: le64(b, MS_TOP),
            bins: (0..(NBINS - 1) * 2)
                .map(|i| le64(b, MS_BINS + 8 * i))
                .collect(),
            next: le64(b, MS_NEXT),
            attached: le64(b, MS_ATTACHED),
            system_mem: le64(b, MS_SYSTEM_MEM),
            max_system_mem: le64(b, MS_MAX_SYSTEM_MEM),
        }
    }

    /// `fd, bk` of bin `bin` (1 ≤ bin ≤ 127).
    pub fn bin(&self, bin: usize) -> (u64, u64) {
        let i = (bin - 1) * 2;
        (
            self.bins.get(i).copied().unwrap_or(0),
            self.bins.get(i + 1).copied().unwrap_or(0),
        )
    }

    /// Whether every bin and fast bin is empty.
    fn all_empty(&self) -> bool {
        self.fastbins.iter().all(|&f| f == 0)
            && (1..NBINS).all(|b| self.bin(b) == (bin_head(self.addr, b), bin_head(self.addr, b)))
    }

    /// Checks the shape every live `malloc_state` has: the flags, aligned pointers, every bin
    /// either empty (pointing to itself) or holding aligned chunk pointers, bin 127 (never
    /// used) empty, `system_mem ≤ max_system_mem`.
    pub fn shape(&self) -> Result<(), String> {
        let a = self.addr;
        if self.flags > 7 || self.have_fastchunks > 1 {
            return Err(format!(
                "arena {a:#x}: flags {:#x} / have_fastchunks {} out of range",
                self.flags, self.have_fastchunks
            ));
        }
        if let Some(f) = self.fastbins.iter().find(|&&f| f % ALIGN != 0) {
            return Err(format!("arena {a:#x}: misaligned fast bin head {f:#x}"));
        }
        if self.top == 0 || !self.top.is_multiple_of(ALIGN) {
            return Err(format!("arena {a:#x}: bad top {:#x}", self.top));
        }
        for b in 1..NBINS {
            let head = bin_head(a, b);
            let (fd, bk) = self.bin(b);
            let empty = fd == head && bk == head;
            let linked = fd != head
                && bk != head
                && fd != 0
                && bk != 0
                && fd % ALIGN == 0
                && bk % ALIGN == 0;
            // Bin 127 is never used: it must be empty.
            let ok = if b == NBINS - 1 {
                empty
            } else {
                empty || linked
            };
            if !ok {
                return Err(format!(
                    "arena {a:#x}: bin {b} is malformed (fd {fd:#x}, bk {bk:#x})"
                ));
            }
        }
        if self.next == 0 || !self.next.is_multiple_of(8) {
            return Err(format!("arena {a:#x}: bad next {:#x}", self.next));
        }
        if self.system_mem > self.max_system_mem || self.attached > 1 << 24 {
            return Err(format!(
                "arena {a:#x}: system_mem {:#x} above max_system_mem {:#x}, or {} threads attached",
                self.system_mem, self.max_system_mem, self.attached
            ));
        }
        Ok(())
    }
}

/// What one arena holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// `system_mem`: bytes the arena holds from the system.
    pub system_mem: u64,
    /// The top chunk's size (`None` when the arena has none yet).
    pub top_size: Option<u64>,
    /// In-use chunks (including chunks cached in a thread's tcache, as malloc_info counts).
    pub count: u64,
    /// Their bytes (chunk sizes, headers included).
    pub allocated: u64,
    /// Chunks in fast bins.
    pub fast_count: u64,
    /// Their bytes.
    pub fast_bytes: u64,
    /// Chunks in the unsorted, small and large bins.
    pub bin_count: u64,
    /// Their bytes.
    pub bin_bytes: u64,
}

impl Stats {
    /// Free bytes: bins, fast bins and the top chunk.
    pub fn free(&self) -> u64 {
        self.fast_bytes + self.bin_bytes + self.top_size.unwrap_or(0)
    }
}

/// One thread-arena heap as its `heap_info` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heap {
    /// Its address (64 MiB-aligned).
    pub addr: u64,
    /// `size`: bytes in use.
    pub size: u64,
    /// `mprotect_size`: bytes made readable and writable.
    pub mprotect_size: u64,
}

/// The outcome for one arena.
#[derive(Clone, Debug)]
pub struct Arena {
    /// The `malloc_state` address.
    pub addr: u64,
    /// `main_arena`.
    pub main: bool,
    /// The address ranges of the zone: `[heap]` for the main arena, the 64 MiB heap blocks of a
    /// thread arena.
    pub zone: Vec<(u64, u64)>,
    /// Its figures, or why they could not be read.
    pub result: Result<Stats, String>,
    /// The main arena has taken no memory yet.
    pub unused: bool,
}

/// A chunk malloc got with `mmap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mmapped {
    /// The chunk (= the mapping's start).
    pub addr: u64,
    /// Its size (= the mapping's size).
    pub size: u64,
}

/// Everything read from a glibc process.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The glibc release.
    pub version: (u32, u32),
    /// The arenas in ring order, `main_arena` first.
    pub arenas: Vec<Arena>,
    /// The mmapped chunks, by address.
    pub mmapped: Vec<Mmapped>,
}

/// How far the walks of one arena may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Chunks walked per arena (costs time, no memory).
    pub chunks: u64,
    /// Free-list chunks per arena (each one is remembered until the walk meets it).
    pub free_chunks: u64,
}

/// Bookkeeping of one arena's walk.
struct Walk {
    fast: HashSet<u64>,
    bins: HashSet<u64>,
    stats: Stats,
    chunks: u64,
    limits: Limits,
}

impl Walk {
    fn new(limits: Limits) -> Walk {
        Walk {
            fast: HashSet::new(),
            bins: HashSet::new(),
            stats: Stats::default(),
            chunks: 0,
            limits,
        }
    }

    fn limit(&self) -> Result<(), Fail> {
        if self.chunks > self.limits.chunks {
            return Err(Fail::Unsupported(format!(
                "more than {} chunks in one arena (raise the max_chunks option)",
                self.limits.chunks
            )));
        }
        if (self.fast.len() + self.bins.len()) as u64 > self.limits.free_chunks {
            return Err(Fail::Unsupported(format!(
                "more than {} free chunks in one arena (raise the max_free_chunks option)",
                self.limits.free_chunks
            )));
        }
        Ok(())
    }
}

fn in_ranges(ranges: &[(u64, u64)], p: u64, len: u64) -> Option<u64> {
    let end = p.checked_add(len)?;
    ranges
        .iter()
        .find(|&&(s, e)| s <= p && end <= e)
        .map(|&(_, e)| e)
}

/// The writable data of file `file` (its writable mappings, and the anonymous region right
/// after its last mapping: the rest of its `.bss`), each capped to 4 MiB.
pub fn data_ranges(spans: &[Span], file: FileId) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut last = None;
    for (i, s) in spans.iter().enumerate() {
        if s.path.is_some() && (s.dev, s.inode) == file {
            if s.read && s.write {
                out.push((s.start, s.end.min(s.start.saturating_add(SCAN_CAP))));
            }
            last = Some(i);
        }
    }
    if let Some(i) = last
        && let Some(n) = spans.get(i + 1)
        && n.start == spans[i].end
        && n.rw_anon()
    {
        out.push((n.start, n.end.min(n.start.saturating_add(SCAN_CAP))));
    }
    out
}

/// Looks for `main_arena` in `ranges`: every place where bin 127 (never used, so always
/// empty) points to itself is a candidate; a candidate must pass [`State::shape`] and its
/// `next` must be itself or a thread arena just after a `heap_info` of one of `heap_info_sizes`.
pub fn find_main_arena(
    reader: &mut Reader,
    ranges: &[(u64, u64)],
    heap_info_sizes: &[u64],
) -> Result<Vec<State>, Fail> {
    let bin127 = (MS_BINS + 252 * 8) as u64;
    let mut found = Vec::new();
    for &(s, e) in ranges {
        let data = match reader.bytes(s, (e - s) as usize) {
            Ok(d) => d,
            Err(ReadFail::Fault(_)) => continue,
            Err(ReadFail::Access(err)) => return Err(Fail::Access(err)),
        };
        let mut off = 0usize;
        while off + 16 <= data.len() {
            let addr = s + off as u64;
            let v = le64(&data, off);
            if v == le64(&data, off + 8)
                && v == addr.wrapping_sub(16)
                && let Some(base) = addr.checked_sub(bin127).filter(|&b| b >= s)
            {
                let at = (base - s) as usize;
                if let Some(st) = data
                    .get(at..at + MS_SIZE)
                    .and_then(|b| main_arena_at(base, b, heap_info_sizes))
                {
                    found.push(st);
                }
            }
            off += 8;
        }
    }
    Ok(found)
}

/// The `malloc_state` in `b` (read at `base`) if it can be `main_arena`: bin 127 points to
/// itself, it passes [`State::shape`], and its `next` is itself or a thread arena just after
/// a `heap_info` of one of `heap_info_sizes`.
fn main_arena_at(base: u64, b: &[u8], heap_info_sizes: &[u64]) -> Option<State> {
    let bin127 = base.checked_add((MS_BINS + 252 * 8) as u64)?;
    let off = usize::try_from(bin127 - base).ok()?;
    let v = le64(b, off);
    if b.len() < MS_SIZE || v != le64(b, off + 8) || v != bin127.wrapping_sub(16) {
        return None;
    }
    let st = State::parse(base, b);
    let next_ok = st.next == base
        || heap_info_sizes.iter().any(|&hi| {
            st.next
                .checked_sub(hi)
                .is_some_and(|h| h % HEAP_MAX == 0 && h != 0)
        });
    let top_ok = st.top != bin_head(base, 1) || st.system_mem == 0;
    (next_ok && top_ok && st.shape().is_ok()).then_some(st)
}

/// Reads the glibc malloc of a process: see the crate docs.
pub struct Glibc<'r, 'm, 's, 'a> {
    reader: &'r mut Reader<'m>,
    spans: &'s [Span<'a>],
    layout: Layout,
    limits: Limits,
}

/// Reads every arena and mmapped chunk of a process whose libc is the file `libc`.
pub fn analyze(
    mem: &dyn Memory,
    spans: &[Span],
    libc: FileId,
    cache: &LibcCache,
    limits: Limits,
) -> Result<Outcome, Fail> {
    let mut reader = Reader::new(mem);
    crate::detect::check_elf(&mut reader, spans, libc)?;
    let version = cache.version(&mut reader, spans, libc)?;
    let layout = layout(version).map_err(Fail::Unsupported)?;
    let mut g = Glibc {
        reader: &mut reader,
        spans,
        layout,
        limits,
    };
    let ring = g.discover(libc, cache)?;
    let mut arenas = Vec::new();
    for (i, &a) in ring.iter().enumerate() {
        arenas.push(g.arena(a, i == 0)?);
    }
    let exclude: Vec<(u64, u64)> = arenas.iter().flat_map(|a| a.zone.clone()).collect();
    let mmapped = g.mmapped(&exclude)?;
    Ok(Outcome {
        version,
        arenas,
        mmapped,
    })
}

impl Glibc<'_, '_, '_, '_> {
    /// Finds `main_arena` and the ring of arenas, retrying when the process changes under us.
    fn discover(&mut self, libc: FileId, cache: &LibcCache) -> Result<Vec<u64>, Fail> {
        let ranges = data_ranges(self.spans, libc);
        // Where an earlier process's libc (the same file) had main_arena: one read to confirm
        // it by the same checks the scan applies, instead of reading and scanning the data.
        let base = crate::detect::spans_of(self.spans, libc)
            .find(|s| s.offset == 0)
            .map(|s| s.start);
        if let Some(base) = base {
            let known = cache
                .main_arena(libc)
                .and_then(|rel| base.checked_add(rel))
                .filter(|&a| {
                    ranges
                        .iter()
                        .any(|&(s, e)| s <= a && a.saturating_add(MS_SIZE as u64) <= e)
                });
            if let Some(addr) = known {
                let st = self
                    .reader
                    .bytes(addr, MS_SIZE)
                    .ok()
                    .and_then(|b| main_arena_at(addr, &b, &[self.layout.heap_info_size]));
                if let Some(Ok(ring)) = st.map(|st| self.ring(&st)) {
                    return Ok(ring);
                }
            }
        }
        let mut last = bad("no attempt");
        for _ in 0..ATTEMPTS {
            let found = find_main_arena(self.reader, &ranges, &[self.layout.heap_info_size])?;
            let main = match found.as_slice() {
                [one] => one.clone(),
                [] => {
                    // Perhaps caught mid-update: look again before giving up.
                    last = Fail::Unsupported(
                        "main_arena not found in libc's writable data (malloc not initialised yet, or another layout)"
                            .into(),
                    );
                    continue;
                }
                many => {
                    return Err(Fail::Unsupported(format!(
                        "{} places in libc's data look like main_arena; refusing to guess",
                        many.len()
                    )));
                }
            };
            match self.ring(&main) {
                Ok(r) => {
                    if let Some(rel) = base.and_then(|b| main.addr.checked_sub(b)) {
                        cache.remember_main_arena(libc, rel);
                    }
                    return Ok(r);
                }
                Err(Fail::Inconsistent(why)) => last = Fail::Inconsistent(why),
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Follows `next` from `main_arena` back to it.
    fn ring(&mut self, main: &State) -> Result<Vec<u64>, Fail> {
        let hi = self.layout.heap_info_size;
        let blocks = self.spans.iter().filter(|s| s.rw_anon()).count();
        let mut ring = vec![main.addr];
        let mut seen: HashSet<u64> = HashSet::from([main.addr]);
        let mut cur = main.next;
        while cur != main.addr {
            if ring.len() > blocks + 1 || !seen.insert(cur) {
                return Err(bad(format!(
                    "the arena ring does not come back to main_arena {:#x} (at {cur:#x})",
                    main.addr
                )));
            }
            let heap = cur
                .checked_sub(hi)
                .filter(|h| h % HEAP_MAX == 0 && *h != 0)
                .ok_or_else(|| bad(format!("arena {cur:#x} is not at the start of a heap")))?;
            let end = cur
                .checked_add(MS_SIZE as u64)
                .ok_or_else(|| bad(format!("arena {cur:#x} is out of range")))?;
            if !self
                .spans
                .iter()
                .any(|s| s.rw_anon() && s.start <= heap && end <= s.end)
            {
                return Err(bad(format!(
                    "arena {cur:#x} is not in readable, writable anonymous memory"
                )));
            }
            let b = self.reader.bytes(cur, MS_SIZE)?;
            let st = State::parse(cur, &b);
            st.shape().map_err(Fail::Inconsistent)?;
            ring.push(cur);
            cur = st.next;
        }
        Ok(ring)
    }

    /// The `[heap]` regions.
    fn heap_ranges(&self) -> Vec<(u64, u64)> {
        self.spans
            .iter()
            .filter(|s| s.kind == vmpipe_plugin::RegionKind::Heap)
            .map(|s| (s.start, s.end))
            .collect()
    }

    /// Reads one arena, retrying when a check fails.
    fn arena(&mut self, a: u64, main: bool) -> Result<Arena, Fail> {
        let hi = self.layout.heap_info_size;
        let mut zone = if main {
            self.heap_ranges()
        } else {
            let h = a.saturating_sub(hi);
            vec![(h, h.saturating_add(HEAP_MAX))]
        };
        let mut why = String::new();
        let mut inconsistent = true;
        let mut locked = false;
        for _ in 0..ATTEMPTS {
            let b = self.reader.bytes(a, MS_SIZE)?;
            let st = State::parse(a, &b);
            locked |= st.mutex != 0;
            let r = st.shape().map_err(Fail::Inconsistent).and_then(|()| {
                if main {
                    self.main_arena(&st).map(|(s, unused)| (s, unused, None))
                } else {
                    self.thread_arena(&st)
                        .map(|(s, heaps)| (s, false, Some(heaps)))
                }
            });
            match r {
                Ok((stats, unused, heaps)) => {
                    if let Some(h) = heaps {
                        zone = h.iter().map(|h| (h.addr, h.addr + HEAP_MAX)).collect();
                    }
                    return Ok(Arena {
                        addr: a,
                        main,
                        zone,
                        result: Ok(stats),
                        unused,
                    });
                }
                Err(Fail::Inconsistent(w)) => why = w,
                Err(Fail::Unsupported(w)) => {
                    why = w;
                    inconsistent = false;
                    break;
                }
                Err(e @ Fail::Access(_)) => return Err(e),
            }
        }
        if inconsistent {
            why = format!("inconsistent heap after {ATTEMPTS} reads: {why}");
            if locked {
                why.push_str(
                    " (the arena's lock was held: a thread was inside malloc when it was read)",
                );
            } else {
                why.push_str(" (stop the process, e.g. with SIGSTOP, for a stable reading)");
            }
        }
        Ok(Arena {
            addr: a,
            main,
            zone,
            result: Err(why),
            unused: false,
        })
    }

    /// The main arena: `[sbrk_base, top end)` in `[heap]`, walked from `sbrk_base` to `top`.
    fn main_arena(&mut self, st: &State) -> Result<(Stats, bool), Fail> {
        let a = st.addr;
        if st.system_mem == 0 {
            if st.top == bin_head(a, 1) && st.all_empty() {
                return Ok((Stats::default(), true));
            }
            return Err(bad("main_arena has no memory but holds chunks"));
        }
        if st.flags & NONCONTIGUOUS_BIT != 0 {
            return Err(Fail::Unsupported(
                "the main arena is not contiguous (brk failed and malloc fell back to mmap): its memory cannot be located"
                    .into(),
            ));
        }
        let top = st.top;
        let heaps = self.heap_ranges();
        let top_end_limit = in_ranges(&heaps, top, CHUNK_HDR)
            .ok_or_else(|| bad(format!("main_arena's top {top:#x} is not in [heap]")))?;
        let top_field = self.reader.u64(top + 8, top + 16)?;
        let top_size = top_field & !SIZE_BITS;
        if top_size == 0 || !top_size.is_multiple_of(ALIGN) || top_field & IS_MMAPPED != 0 {
            return Err(bad(format!(
                "main_arena's top chunk has size field {top_field:#x}"
            )));
        }
        let top_end = top
            .checked_add(top_size)
            .filter(|&e| e <= top_end_limit)
            .ok_or_else(|| bad("main_arena's top chunk runs past [heap]"))?;
        let base = top_end
            .checked_sub(st.system_mem)
            .ok_or_else(|| bad("system_mem exceeds the top chunk's end"))?;
        let start = align_up(base).ok_or_else(|| bad("bad sbrk base"))?;
        if in_ranges(&heaps, base, top_end - base).is_none() || start > top {
            return Err(bad(format!(
                "main_arena's memory [{base:#x}, {top_end:#x}) (system_mem {:#x}) is not inside [heap]",
                st.system_mem
            )));
        }
        let ranges = [(start, top_end)];
        let mut w = Walk::new(self.limits);
        self.fastbins(st, &ranges, &mut w)?;
        self.bins(st, &ranges, &mut w)?;
        self.walk(&mut w, start, top_end, Some(top))?;
        self.finish(w, top_size, st.system_mem).map(|s| (s, false))
    }

    /// A thread arena: its heaps from `heap_for_ptr(top)` back through `prev` to its first heap,
    /// each walked.
    fn thread_arena(&mut self, st: &State) -> Result<(Stats, Vec<Heap>), Fail> {
        let a = st.addr;
        let hi = self.layout.heap_info_size;
        let first = a - hi;
        if st.flags & NONCONTIGUOUS_BIT == 0 {
            return Err(bad(format!(
                "arena {a:#x} lacks the non-contiguous flag every thread arena has"
            )));
        }
        let max_heaps = self.spans.iter().filter(|s| s.rw_anon()).count();
        let mut heaps: Vec<Heap> = Vec::new();
        let mut seen = HashSet::new();
        let mut h = st.top & !(HEAP_MAX - 1);
        loop {
            if heaps.len() >= max_heaps || !seen.insert(h) {
                return Err(bad(format!("arena {a:#x}: its heap list loops")));
            }
            let b = self.reader.bytes(h, hi as usize)?;
            let (ar_ptr, prev, size, mprotect) =
                (le64(&b, 0), le64(&b, 8), le64(&b, 16), le64(&b, 24));
            let pagesize = self.layout.has_pagesize.then(|| le64(&b, 32));
            if ar_ptr != a {
                return Err(bad(format!(
                    "heap {h:#x} names arena {ar_ptr:#x}, not {a:#x}"
                )));
            }
            if let Some(p) = pagesize.filter(|&p| p != PAGE) {
                return Err(Fail::Unsupported(format!(
                    "heap {h:#x} uses {p}-byte pages (glibc.malloc.hugetlb): its heaps are not 64 MiB blocks"
                )));
            }
            if size % PAGE != 0
                || mprotect % PAGE != 0
                || size <= hi
                || size > mprotect
                || mprotect > HEAP_MAX
            {
                return Err(bad(format!(
                    "heap {h:#x}: size {size:#x} / mprotect_size {mprotect:#x} out of range"
                )));
            }
            heaps.push(Heap {
                addr: h,
                size,
                mprotect_size: mprotect,
            });
            if prev == 0 {
                if h != first {
                    return Err(bad(format!(
                        "arena {a:#x}: its heap list ends at {h:#x}, not at its own heap {first:#x}"
                    )));
                }
                break;
            }
            if prev % HEAP_MAX != 0 {
                return Err(bad(format!("heap {h:#x}: prev {prev:#x} is misaligned")));
            }
            h = prev;
        }
        let total: u64 = heaps.iter().map(|h| h.size).sum();
        if total != st.system_mem {
            return Err(bad(format!(
                "arena {a:#x}: system_mem {:#x} differs from its heaps' sizes {total:#x}",
                st.system_mem
            )));
        }
        let newest = heaps[0];
        let top = st.top;
        let inside = top >= newest.addr + hi
            && top
                .checked_add(CHUNK_HDR)
                .is_some_and(|e| e <= newest.addr + newest.size);
        let top_field = if inside {
            self.reader.u64(top + 8, top + 16)?
        } else {
            return Err(bad(format!(
                "arena {a:#x}: top {top:#x} is outside its newest heap"
            )));
        };
        let top_size = top_field & !SIZE_BITS;
        if top_size == 0
            || !top_size.is_multiple_of(ALIGN)
            || top_field & IS_MMAPPED != 0
            || top.checked_add(top_size) != Some(newest.addr + newest.size)
        {
            return Err(bad(format!(
                "arena {a:#x}: top chunk {top:#x} (size field {top_field:#x}) does not end its heap"
            )));
        }
        let start_of = |h: &Heap| {
            if h.addr == first {
                first_chunk_after_state(a)
            } else {
                h.addr + hi
            }
        };
        let ranges: Vec<(u64, u64)> = heaps
            .iter()
            .map(|h| (start_of(h), h.addr + h.size))
            .collect();
        let mut w = Walk::new(self.limits);
        self.fastbins(st, &ranges, &mut w)?;
        self.bins(st, &ranges, &mut w)?;
        for h in &heaps {
            let top = (h.addr == newest.addr).then_some(top);
            self.walk(&mut w, start_of(h), h.addr + h.size, top)?;
        }
        let stats = self.finish(w, top_size, st.system_mem)?;
        Ok((stats, heaps))
    }

    /// Collects the fast bin chunks (safe-linked lists), checking each one's size.
    fn fastbins(&mut self, st: &State, ranges: &[(u64, u64)], w: &mut Walk) -> Result<(), Fail> {
        for (i, &head) in st.fastbins.iter().enumerate() {
            let want = fastbin_size(i);
            let mut p = head;
            while p != 0 {
                let limit = in_ranges(ranges, p, MINSIZE)
                    .filter(|_| p % ALIGN == 0)
                    .ok_or_else(|| {
                        bad(format!("fast bin {i}: chunk {p:#x} is outside the arena"))
                    })?;
                let size = self.reader.u64(p + 8, limit)? & !SIZE_BITS;
                let fd = self.reader.u64(p + 16, limit)?;
                if size != want {
                    return Err(bad(format!(
                        "fast bin {i}: chunk {p:#x} has size {size:#x}, not {want:#x}"
                    )));
                }
                if !w.fast.insert(p) {
                    return Err(bad(format!("fast bin {i} loops at {p:#x}")));
                }
                w.stats.fast_count += 1;
                w.stats.fast_bytes += size;
                w.limit()?;
                p = reveal(p + 16, fd);
            }
        }
        Ok(())
    }

    /// Collects the chunks of the unsorted, small and large bins, checking the double links
    /// and that each chunk's size belongs in its bin.
    fn bins(&mut self, st: &State, ranges: &[(u64, u64)], w: &mut Walk) -> Result<(), Fail> {
        for bin in 1..NBINS {
            let head = bin_head(st.addr, bin);
            let (fd, bk) = st.bin(bin);
            if fd == head {
                continue;
            }
            let mut prev = head;
            let mut r = fd;
            while r != head {
                let limit = in_ranges(ranges, r, MINSIZE)
                    .filter(|_| r % ALIGN == 0)
                    .ok_or_else(|| bad(format!("bin {bin}: chunk {r:#x} is outside the arena")))?;
                let mut c = [0u8; 32];
                self.reader.read(r, &mut c, limit)?;
                let (size, rfd, rbk) = (le64(&c, 8) & !SIZE_BITS, le64(&c, 16), le64(&c, 24));
                if rbk != prev {
                    return Err(bad(format!(
                        "bin {bin}: chunk {r:#x} links back to {rbk:#x}, not {prev:#x}"
                    )));
                }
                if size < MINSIZE
                    || size % ALIGN != 0
                    || (bin >= 2 && bin_index(size) != bin as u64)
                {
                    return Err(bad(format!(
                        "bin {bin}: chunk {r:#x} has size {size:#x}, which does not belong there"
                    )));
                }
                if w.fast.contains(&r) || !w.bins.insert(r) {
                    return Err(bad(format!("bin {bin}: chunk {r:#x} is listed twice")));
                }
                w.stats.bin_count += 1;
                w.stats.bin_bytes += size;
                w.limit()?;
                prev = r;
                r = rfd;
            }
            if bk != prev {
                return Err(bad(format!(
                    "bin {bin}: its last chunk {prev:#x} is not its bk {bk:#x}"
                )));
            }
        }
        Ok(())
    }

    /// Walks the chunks of `[start, end)` up to `top` (the heap holding the top chunk) or to
    /// the fence posts that end an older thread-arena heap. A chunk is free when the next
    /// chunk's `PREV_INUSE` is clear; every free chunk must be in a bin, and every bin and
    /// fast-bin chunk must be met.
    fn walk(&mut self, w: &mut Walk, start: u64, end: u64, top: Option<u64>) -> Result<(), Fail> {
        let mut p = start;
        loop {
            if Some(p) == top {
                return Ok(());
            }
            if p.checked_add(CHUNK_HDR).is_none_or(|e| e > end) {
                return Err(bad(format!(
                    "the chunk walk ran past the heap's end at {p:#x}"
                )));
            }
            let field = self.reader.u64(p + 8, end)?;
            let size = field & !SIZE_BITS;
            if top.is_none() {
                if size == 0 {
                    return Ok(());
                }
                if size == CHUNK_HDR && p.checked_add(2 * CHUNK_HDR).is_some_and(|e| e <= end) {
                    let next = self.reader.u64(p + CHUNK_HDR + 8, end)?;
                    if next & !SIZE_BITS == 0 {
                        return Ok(());
                    }
                }
            }
            if size < MINSIZE || !size.is_multiple_of(ALIGN) || field & IS_MMAPPED != 0 {
                return Err(bad(format!("chunk {p:#x} has a bad size field {field:#x}")));
            }
            let next = p
                .checked_add(size)
                .filter(|n| n.checked_add(CHUNK_HDR).is_some_and(|e| e <= end))
                .filter(|n| top.is_none_or(|t| *n <= t))
                .ok_or_else(|| bad(format!("chunk {p:#x} of size {size:#x} runs past its heap")))?;
            let next_field = self.reader.u64(next + 8, end)?;
            w.chunks += 1;
            w.limit()?;
            if next_field & PREV_INUSE != 0 {
                if !w.fast.remove(&p) {
                    w.stats.count += 1;
                    w.stats.allocated += size;
                }
            } else {
                let footer = self.reader.u64(next, end)?;
                if footer != size {
                    return Err(bad(format!(
                        "free chunk {p:#x}: size {size:#x} but footer {footer:#x}"
                    )));
                }
                if !w.bins.remove(&p) {
                    return Err(bad(format!("free chunk {p:#x} is in no bin")));
                }
            }
            p = next;
        }
    }

    /// Every listed chunk must have been met by the walk.
    fn finish(&self, w: Walk, top_size: u64, system_mem: u64) -> Result<Stats, Fail> {
        if !w.fast.is_empty() || !w.bins.is_empty() {
            return Err(bad(format!(
                "{} fast-bin and {} bin chunks were not met walking the heap",
                w.fast.len(),
                w.bins.len()
            )));
        }
        Ok(Stats {
            system_mem,
            top_size: Some(top_size),
            ..w.stats
        })
    }

    /// Chunks malloc mapped on their own: a private anonymous read-write region (outside the
    /// arenas) tiled exactly by chunk headers with `prev_size` 0, only `IS_MMAPPED` set and a
    /// page-multiple size.
    fn mmapped(&mut self, exclude: &[(u64, u64)]) -> Result<Vec<Mmapped>, Fail> {
        let mut out = Vec::new();
        for s in self.spans {
            if !s.rw_anon()
                || s.size() < PAGE
                || exclude.iter().any(|&(b, e)| s.start < e && b < s.end)
                // Never written (nothing resident, nothing swapped): it reads as zeros, so it
                // holds no chunk header. Skipping it saves a read (and faulting in a page).
                || (s.rss == Some(0) && s.swap == Some(0))
            {
                continue;
            }
            let mut got = Vec::new();
            let mut p = s.start;
            loop {
                let mut h = [0u8; 16];
                match self.reader.read(p, &mut h, p + 16) {
                    Ok(()) => {}
                    Err(ReadFail::Fault(_)) => {
                        got.clear();
                        break;
                    }
                    Err(ReadFail::Access(e)) => return Err(Fail::Access(e)),
                }
                let (prev, field) = (le64(&h, 0), le64(&h, 8));
                let size = field & !SIZE_BITS;
                let fits = size >= PAGE && size.is_multiple_of(PAGE) && size <= s.end - p;
                if prev != 0 || field & SIZE_BITS != IS_MMAPPED || !fits {
                    got.clear();
                    break;
                }
                got.push(Mmapped { addr: p, size });
                p += size;
                if p == s.end {
                    break;
                }
                if got.len() >= MAX_CHUNKS_PER_REGION {
                    got.clear();
                    break;
                }
            }
            out.extend(got);
        }
        Ok(out)
    }
}

/// Looks for a glibc `main_arena` in a statically linked executable's data (the file `exe`):
/// its address when exactly one place passes the checks.
pub fn find_static(mem: &dyn Memory, spans: &[Span], exe: FileId) -> Result<Option<u64>, Fail> {
    let mut reader = Reader::new(mem);
    let ranges = data_ranges(spans, exe);
    let found = find_main_arena(&mut reader, &ranges, &[32, 48])?;
    Ok(match found.as_slice() {
        [one] => Some(one.addr),
        _ => None,
    })
}

/// The 64 MiB-aligned thread-arena heap blocks as the regions alone show them: a private
/// anonymous read-write region starting on a 64 MiB boundary and either filling the block or
/// followed directly by a `PROT_NONE` private anonymous region reaching the block's end.
pub fn heap_blocks_from_regions(spans: &[Span]) -> Vec<u64> {
    let mut out = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        if !s.rw_anon() || s.start % HEAP_MAX != 0 || s.size() > HEAP_MAX || s.start == 0 {
            continue;
        }
        let block_end = s.start + HEAP_MAX;
        let tail = spans.get(i + 1).is_some_and(|n| {
            n.start == s.end && n.private_anon() && n.prot_none() && n.end >= block_end
        });
        if s.end == block_end || tail {
            out.push(s.start);
        }
    }
    out
}
