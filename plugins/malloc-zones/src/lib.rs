//! # malloc-zones — vmmap's MALLOC ZONE table for Linux processes
//!
//! A vmpipe built-in analyzer: how full each allocator zone of a process is. It reads glibc
//! malloc's (ptmalloc's) own structures out of the process's memory, walks every heap chunk by
//! chunk and every free list, checks the two against each other, and reports one row per
//! zone. For any other allocator it names the allocator and says it is not supported; it never
//! reports a number it did not read or measure.
//!
//! ## Zones
//!
//! | zone | what it is |
//! |------|------------|
//! | `main_arena` | glibc's main arena: the `brk` heap (`[heap]`) |
//! | `arena_0x…` | a thread arena, named by the address of its `malloc_state`; its memory is one or more 64 MiB-aligned heaps (`heap_info` at the start of each block) |
//! | `mmapped_chunk_0x…` | one allocation malloc got from `mmap` (above `M_MMAP_THRESHOLD`, 128 KiB to 32 MiB), vmmap's `MALLOC_LARGE` |
//! | `heap_0x…` | a 64 MiB thread-arena heap block seen in the regions only (no memory access: which arena it belongs to is unknown) |
//! | `jemalloc`, `tcmalloc`, `mimalloc`, `snmalloc`, `hoard`, `musl`, `jvm`, `go` | another allocator, detected, not measured (`unsupported`) |
//! | `unknown` | no allocator could be identified (`unsupported`) |
//!
//! ## Table `malloc_zones` (per process)
//!
//! | column | meaning |
//! |--------|---------|
//! | `zone`, `allocator` | the zone and its allocator (`glibc`, `jemalloc`, …, `unknown`) |
//! | `virtual` | bytes of address space of the zone's regions (a thread arena: its whole 64 MiB blocks, reserved `PROT_NONE` tails included) |
//! | `committed` | the readable and writable part of `virtual` |
//! | `resident`, `dirty`, `swapped` | the regions' `Rss`, `Private_Dirty + Shared_Dirty`, `Swap` (absent with `detail = "maps"`; absent when a region reaches beyond the zone, as several adjacent mmapped chunks merged into one region do, since smaps gives one figure per region) |
//! | `allocation_count` | in-use chunks |
//! | `bytes_allocated` | their sizes, chunk headers included (`malloc_usable_size` + 8 each, for heap chunks) |
//! | `bytes_free` | free bytes: the fast bins, the unsorted, small and large bins, and the top chunk |
//! | `top_size` | the top chunk's size |
//! | `pct_full` | `bytes_allocated / committed · 100` |
//! | `pct_frag` | vmmap's `% FRAG`: `100 − 100 · bytes_allocated / (dirty + swapped)`, at least 0 (allocated pages never touched are neither dirty nor swapped) |
//! | `status` | `ok`, `unsupported`, `no-memory` |
//! | `reason` | why the row is not `ok` (or a note on an `ok` row) |
//! | `system_mem` | malloc's own count of the bytes the zone holds from the system (`<system type="current">` of `malloc_info`): main arena, the `brk` extent in use; thread arena, the sum of its heaps' current sizes; mmapped chunk, its mapping. It can be below `committed`: a thread-arena heap that shrank keeps its pages mapped (`MADV_DONTNEED`) |
//!
//! Absent values are empty cells, never 0. Region column `malloc_zone` names the zone a region
//! belongs to (a region holding several zones, such as merged mmapped chunks, names the first).
//!
//! ## How glibc is read
//!
//! The layout (offsets, sizes, which releases) is documented in [`layout`]. Step by step:
//!
//! 1. **Which libc.** glibc is the process's mapped `libc.so.6` (or `libc-2.NN.so`). Its first
//!    page must be a 64-bit x86-64 ELF header (a 32-bit process is refused). Its release is read
//!    from the banner in its read-only data (`GNU C Library … release version 2.36.`); releases
//!    outside 2.32–2.41 are refused. Where the banner lay is remembered per libc file, so a
//!    second process needs one small read to confirm it.
//! 2. **`main_arena`.** Its symbol is not exported, so it is found by its shape: libc's
//!    writable data (its writable mappings and the anonymous `.bss` continuation after them) is
//!    scanned for bin 127 — a bin glibc never uses, so its `fd` and `bk` always point to the bin
//!    itself — and each such place is checked as a whole `malloc_state`: flags in range, every
//!    bin either empty (pointing to itself) or holding two aligned chunk pointers, `top`
//!    aligned, `system_mem ≤ max_system_mem`, and `next` either itself (no thread arenas) or a
//!    thread arena right after a `heap_info`. Exactly one place must pass; none or several, and
//!    the process is refused rather than guessed at.
//! 3. **Thread arenas.** `next` is followed from `main_arena` until it comes back (at most one
//!    step per writable anonymous region, no address twice). Each must sit `sizeof (heap_info)`
//!    past a 64 MiB boundary, in writable anonymous memory, and pass the same shape checks.
//!    Its heaps are found as `malloc_info` finds them: from the heap holding `top` through
//!    `heap_info.prev` back to the arena's own first heap; each `heap_info` must name the arena
//!    and have page-multiple `size ≤ mprotect_size ≤ 64 MiB`, and the sizes must add up to the
//!    arena's `system_mem`.
//! 4. **The main arena's memory** is `[sbrk_base, end of top)`, where `sbrk_base = end of top −
//!    system_mem` (malloc counts every `brk` byte from its first `sbrk` in `system_mem`); it must
//!    lie in `[heap]`. A non-contiguous main arena (brk failed, mmap fallback) is refused.
//! 5. **Free lists.** The fast bins (safe-linked: `next = (&fd >> 12) ^ fd`) and the 127 bins
//!    are followed; every chunk must lie in the arena's heaps, be 16-aligned, have the size its
//!    bin holds, and (bins) link back to its predecessor; a chunk met twice ends the walk as a
//!    loop.
//! 6. **Chunk walk.** Each heap is walked from its first chunk by chunk sizes to `top` (or to
//!    the two fence posts ending an older thread heap). A chunk is free when the next chunk's
//!    `PREV_INUSE` is clear; a free chunk's footer must repeat its size and it must be in a
//!    bin; every bin and fast-bin chunk must be met by the walk. Sizes must be multiples of 16,
//!    at least 32, and stay inside the heap.
//! 7. **Counts.** `allocation_count`/`bytes_allocated` are the chunks the walk finds in use,
//!    less the fast-bin chunks. **Chunks sitting in a thread's tcache count as allocated**: the
//!    arena sees them in use (their `PREV_INUSE` stays set and no bin holds them), and glibc's
//!    own `malloc_info` and `mallinfo` count them the same way. The `tcache_perthread_struct`
//!    itself, stdio buffers and other chunks libc allocates count too. `bytes_free` is the
//!    fast bins, the bins and the top chunk: what `malloc_info` prints as `fast` plus `rest` —
//!    except that `malloc_info` adds each bin chunk's raw size field, `PREV_INUSE` bit
//!    included, so its `rest` total is one byte per bin chunk higher than the true byte count
//!    reported here (its `rest` count is the bin chunks plus the top chunk).
//! 8. **Mmapped chunks.** A private anonymous read-write region outside the arenas whose first
//!    16 bytes are a chunk header with `prev_size` 0, only `IS_MMAPPED` set and a page-multiple
//!    size is a chunk malloc mapped on its own; the kernel merges adjacent such mappings into
//!    one region, so the region must be tiled exactly by such headers (at most 4096). A region
//!    where another mapping merged with a chunk is not recognised.
//!
//! When a check fails the arena is read again (the process may be running and changing it), up
//! to three times; then the row is `unsupported` with the failed check as its reason (noting
//! when the arena's lock was held: a thread stopped inside malloc). Stopping the process
//! (SIGSTOP) gives a stable, exact reading.
//!
//! ## Limits
//!
//! * Every loop is bounded. Options: `max_chunks` (chunks walked per arena, default 64 Mi:
//!   costs time, not memory) and `max_free_chunks` (fast-bin and bin chunks per arena,
//!   default 4 Mi: each is remembered until the walk meets it, some 30 bytes apiece); beyond
//!   either the arena is `unsupported` with the option to raise named. The arena ring and
//!   heap lists are bounded by the number of writable anonymous regions, scans of libc's
//!   data to 4 MiB per region, the banner search to 16 MiB, reads to 64 KiB windows. No size
//!   read from the target decides an allocation.
//! * glibc 2.32 to 2.41 on x86-64 only; `glibc.malloc.hugetlb` heaps (not 64 MiB blocks) are
//!   refused.
//! * A statically linked glibc has no version banner: its `main_arena` is looked for in the
//!   executable's data and, when found, the process is reported `unsupported` (glibc) rather
//!   than read with a layout that cannot be confirmed.
//! * Other allocators are detected from what the process maps: `libjemalloc*`,
//!   `libtcmalloc*`, `libmimalloc*`, `libsnmalloc*`, `libhoard*`, musl's `ld-musl-*` /
//!   `libc.musl-*`, HotSpot's `libjvm.so` (the Java heap; its native memory is glibc's), and Go's
//!   first heap arena at `0xc000000000` (linux/amd64). A static binary with another allocator
//!   is `unknown`. When another allocator is found, glibc rows without memory of their own
//!   (an unused main arena) are left out.
//! * Without memory access (a source without memory, or reads refused), the zones come from the
//!   regions alone: `main_arena` is `[heap]`, and each `heap_0x…` is a private anonymous
//!   read-write region starting on a 64 MiB boundary that fills its block or is followed by a
//!   `PROT_NONE` region reaching the block's end. Allocation columns are absent and `reason`
//!   says why; mmapped chunks cannot be told from other anonymous memory without reading it.
//!
//! A vmmap report carries its own MALLOC ZONE table: its rows become this table's rows as
//! printed (status `reported`, both the old `% FULL` and the new `% FRAG` forms), and nothing
//! is derived.

#![forbid(unsafe_code)]

pub mod detect;
pub mod glibc;
pub mod layout;
pub mod model;
#[cfg(test)]
mod tests;
pub mod zones;

use vmpipe_plugin::{Analyzer, Host, OptionError, Options, Process, Regions, Schema, Value};

use crate::detect::LibcCache;
use crate::glibc::Limits;
use crate::model::{Memory, Span};
use crate::zones::{Zone, figures, pct_frag, pct_full};

/// Default of the `max_chunks` option: chunks walked per arena before giving up.
pub const DEFAULT_MAX_CHUNKS: u64 = 64 << 20;
/// Default of the `max_free_chunks` option: free-list chunks per arena before giving up.
pub const DEFAULT_MAX_FREE_CHUNKS: u64 = 4 << 20;

/// The analyzer.
pub struct MallocZones {
    limits: Limits,
    banners: LibcCache,
}

impl MallocZones {
    /// The zones of one process (also what the tests call).
    pub fn zones_of(
        &self,
        spans: &[Span],
        exe: Option<&[u8]>,
        mem: Option<&dyn Memory>,
    ) -> Result<Vec<Zone>, zones::Vanished> {
        zones::zones(spans, exe, mem, &self.banners, self.limits)
    }
}

vmpipe_plugin::region_columns! {
    REGION_COLUMNS = [
        ZONE: Text = (
            "malloc_zone",
            "the malloc zone the region belongs to (main_arena, arena_0x…, mmapped_chunk_0x…, heap_0x…)"
        ),
    ];
}

vmpipe_plugin::tables! {
    TABLES = [
        ZONES: Process (
            "malloc_zones",
            "one malloc zone of one process"
        ) {
            "zone": Text = "main_arena, arena_0x…, mmapped_chunk_0x…, heap_0x…, or the allocator's name",
            "allocator": Text = "glibc, jemalloc, tcmalloc, mimalloc, snmalloc, hoard, musl, jvm, go, unknown",
            "virtual": U64 = "bytes of address space",
            "committed": U64 = "readable and writable bytes",
            "resident": U64 = "resident bytes (Rss)",
            "dirty": U64 = "dirty bytes (Private_Dirty + Shared_Dirty)",
            "swapped": U64 = "swapped bytes",
            "allocation_count": U64 = "in-use chunks (tcache-held chunks count as in use, as in malloc_info)",
            "bytes_allocated": U64 = "bytes of in-use chunks, headers included",
            "bytes_free": U64 = "free bytes: fast bins + bins + top chunk",
            "top_size": U64 = "the top chunk's size",
            "pct_full": F64 = "bytes_allocated / committed * 100",
            "pct_frag": F64 = "vmmap's % FRAG: 100 - 100 * bytes_allocated / (dirty + swapped), at least 0",
            "status": Text = "ok, unsupported, no-memory, reported (a vmmap report's own MALLOC ZONE row)",
            "reason": Text = "why the row is not ok, or a note",
            "system_mem": U64 = "bytes malloc holds from the system for the zone (malloc_info's <system type=\"current\">)",
        },
    ];
}

impl Analyzer for MallocZones {
    const SCHEMA: Schema = Schema::new(
        "malloc-zones",
        "1.0.0",
        "vmmap's MALLOC ZONE table: how full each malloc zone is (glibc arenas and mmapped chunks read from memory; other allocators named)",
    )
    .region_columns(REGION_COLUMNS)
    .tables(TABLES);

    fn create(options: &Options) -> vmpipe_plugin::Result<Self> {
        options.only(&["max_chunks", "max_free_chunks"])?;
        let positive = |key: &str, default: u64| -> Result<u64, OptionError> {
            match options.integer(key)? {
                None => Ok(default),
                Some(n) if n >= 1 => Ok(n as u64),
                Some(n) => Err(OptionError::new(
                    key,
                    format!("option `{key}` must be at least 1, found {n}"),
                )),
            }
        };
        Ok(MallocZones {
            limits: Limits {
                chunks: positive("max_chunks", DEFAULT_MAX_CHUNKS)?,
                free_chunks: positive("max_free_chunks", DEFAULT_MAX_FREE_CHUNKS)?,
            },
            banners: LibcCache::default(),
        })
    }

    fn analyze(
        &self,
        process: &Process<'_>,
        regions: &Regions<'_>,
        host: &mut Host<'_>,
    ) -> vmpipe_plugin::Result {
        // A report (macOS vmmap) brings its own MALLOC ZONE table: it becomes these rows.
        let reported = process.reported_zones();
        if !reported.is_empty() {
            for z in &reported {
                host.row(
                    ZONES,
                    [
                        Value::Text(&z.name),
                        Value::Text("macos-malloc"),
                        Value::from(z.virtual_size),
                        Value::Absent,
                        Value::from(z.resident),
                        Value::from(z.dirty),
                        Value::from(z.swapped),
                        Value::from(z.allocation_count),
                        Value::from(z.bytes_allocated),
                        Value::Absent,
                        Value::Absent,
                        Value::from(z.pct_full),
                        Value::from(z.pct_frag),
                        Value::Text("reported"),
                        Value::Text("the report's own MALLOC ZONE table"),
                        Value::Absent,
                    ],
                )?;
            }
            return Ok(());
        }
        let spans: Vec<Span> = regions.iter().map(Span::of).collect();
        let found = {
            let mem: Option<&dyn Memory> = if process.has_memory() {
                Some(&*host)
            } else {
                None
            };
            self.zones_of(&spans, process.exe(), mem)
        };
        let Ok(found) = found else {
            return Err("the process exited while its heap was read".into());
        };
        for (i, z) in zones::region_zones(&found, &spans).into_iter().enumerate() {
            if let Some(z) = z {
                host.set(i, ZONE, found[z].name.as_str())?;
            }
        }
        for z in &found {
            let f = figures(&z.ranges, &spans);
            let a = z.alloc.as_ref();
            let reason = zones::reason(z, &f);
            host.row(
                ZONES,
                [
                    Value::Text(&z.name),
                    Value::Text(&z.allocator),
                    Value::from(f.virt),
                    Value::from(f.committed),
                    Value::from(f.resident),
                    Value::from(f.dirty),
                    Value::from(f.swapped),
                    Value::from(a.map(|a| a.count)),
                    Value::from(a.map(|a| a.allocated)),
                    Value::from(a.map(|a| a.free)),
                    Value::from(a.and_then(|a| a.top)),
                    Value::from(pct_full(a, &f)),
                    Value::from(pct_frag(a, &f)),
                    Value::Text(z.status.as_str()),
                    Value::from(reason.as_deref()),
                    Value::from(a.map(|a| a.system_mem)),
                ],
            )?;
        }
        Ok(())
    }
}

vmpipe_plugin::export!(MallocZones, malloc_zones);
