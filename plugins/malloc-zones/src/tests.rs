//! Unit tests on a synthetic glibc process: a libc with its banner and `main_arena`, a
//! `[heap]`, a thread arena's 64 MiB heap and an mmapped chunk, built by hand the way glibc
//! 2.36 lays them out; then the same image made hostile in every way the walk must survive.

use vmpipe_plugin::abi::usage;
use vmpipe_plugin::testing::{self, Fixture, Harness, OwnedValue as O, Region as TestRegion};
use vmpipe_plugin::{MemoryError, RegionKind};

use crate::detect::LibcCache;
use crate::glibc::Limits;
use crate::layout::*;
use crate::model::Span;
use crate::model::fake::FakeMemory;
use crate::zones::{Status, Zone, figures, pct_frag, pct_full, region_zones, zones};

const LIBC: &[u8] = b"/lib/x86_64-linux-gnu/libc.so.6";
const LIBC_RO: u64 = 0x7f00_0000_0000;
const LIBC_RW: u64 = 0x7f00_0000_4000;
const MAIN: u64 = LIBC_RW + 0x800;
const HEAP: u64 = 0x5555_0000_0000;
const HEAP_LEN: u64 = 0x21000;
const BLOCK: u64 = 0x7e00_0000_0000;
const ARENA: u64 = BLOCK + 48;
const MMAP: u64 = 0x7f00_1000_0000;
const MMAP_LEN: u64 = 0x21000;

// The main heap's chunks.
const C0: u64 = HEAP; // 0x290 in use (the tcache struct)
const C1: u64 = C0 + 0x290; // 0x30 in use
const C2: u64 = C1 + 0x30; // 0x30 in fast bin 1
const C3: u64 = C2 + 0x30; // 0x100 in the unsorted bin
const C4: u64 = C3 + 0x100; // 0x40 in use
const C5: u64 = C4 + 0x40; // 0x420 in large bin 64
const C6: u64 = C5 + 0x420; // 0x20 in use
const TOP: u64 = C6 + 0x20;
// The thread arena's chunks.
const T0: u64 = BLOCK + 0x8d0; // 0x100 in use
const TTOP: u64 = T0 + 0x100;

fn span(
    start: u64,
    end: u64,
    perms: &str,
    kind: RegionKind,
    path: Option<&'static [u8]>,
) -> Span<'static> {
    let p = perms.as_bytes();
    Span {
        start,
        end,
        read: p[0] == b'r',
        write: p[1] == b'w',
        exec: p[2] == b'x',
        shared: p[3] == b's',
        kind,
        path,
        dev: if path.is_some() { (8, 1) } else { (0, 0) },
        inode: if path.is_some() { 42 } else { 0 },
        offset: if path == Some(LIBC) {
            start - LIBC_RO
        } else {
            0
        },
        rss: Some(0x1000),
        dirty: Some(0x1000),
        swap: Some(0),
    }
}

fn spans() -> Vec<Span<'static>> {
    vec![
        span(HEAP, HEAP + HEAP_LEN, "rw-p", RegionKind::Heap, None),
        span(BLOCK, BLOCK + 0x21000, "rw-p", RegionKind::Anon, None),
        span(
            BLOCK + 0x21000,
            BLOCK + HEAP_MAX,
            "---p",
            RegionKind::Anon,
            None,
        ),
        span(
            LIBC_RO,
            LIBC_RO + 0x2000,
            "r--p",
            RegionKind::File,
            Some(LIBC),
        ),
        span(
            LIBC_RO + 0x2000,
            LIBC_RO + 0x3000,
            "r-xp",
            RegionKind::File,
            Some(LIBC),
        ),
        span(
            LIBC_RW,
            LIBC_RW + 0x3000,
            "rw-p",
            RegionKind::File,
            Some(LIBC),
        ),
        span(
            LIBC_RW + 0x3000,
            LIBC_RW + 0x5000,
            "rw-p",
            RegionKind::Anon,
            None,
        ),
        span(MMAP, MMAP + MMAP_LEN, "rw-p", RegionKind::Anon, None),
    ]
}

/// Writes an empty `malloc_state` at `a`.
fn state(m: &mut FakeMemory, a: u64, flags: u32, next: u64, top: u64, system_mem: u64) {
    m.put_bytes(a, &[0u8; MS_SIZE]);
    m.put_bytes(a + MS_FLAGS as u64, &flags.to_le_bytes());
    m.put(a + MS_TOP as u64, top);
    for b in 1..NBINS {
        let h = bin_head(a, b);
        m.put(h + 16, h);
        m.put(h + 24, h);
    }
    m.put(a + MS_NEXT as u64, next);
    m.put(a + MS_ATTACHED as u64, 1);
    m.put(a + MS_SYSTEM_MEM as u64, system_mem);
    m.put(a + MS_MAX_SYSTEM_MEM as u64, system_mem);
}

/// Puts the free chunk `c` of size `size` alone in bin `bin` of arena `a`.
fn bin_one(m: &mut FakeMemory, a: u64, bin: usize, c: u64) {
    let h = bin_head(a, bin);
    m.put(h + 16, c);
    m.put(h + 24, c);
    m.put(c + 16, h);
    m.put(c + 24, h);
}

fn image() -> FakeMemory {
    let mut m = FakeMemory::default();
    m.map(LIBC_RO, 0x3000);
    m.map(LIBC_RW, 0x5000);
    m.map(HEAP, HEAP_LEN as usize);
    m.map(BLOCK, 0x21000);
    m.map(MMAP, MMAP_LEN as usize);
    // libc: an x86-64 ELF header and the banner.
    let mut elf = [0u8; 20];
    elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
    elf[18] = 62;
    m.put_bytes(LIBC_RO, &elf);
    m.put_bytes(
        LIBC_RO + 0x1800,
        b"GNU C Library (test) stable release version 2.36.\n\0",
    );
    // main_arena and [heap].
    state(&mut m, MAIN, 0, ARENA, TOP, HEAP_LEN);
    for (c, size) in [(C0, 0x290), (C1, 0x30), (C2, 0x30), (C3, 0x100)] {
        m.put(c + 8, size | PREV_INUSE);
    }
    m.put(C4, 0x100);
    m.put(C4 + 8, 0x40);
    m.put(C5 + 8, 0x420 | PREV_INUSE);
    m.put(C6, 0x420);
    m.put(C6 + 8, 0x20);
    m.put(TOP + 8, (HEAP + HEAP_LEN - TOP) | PREV_INUSE);
    m.put(MAIN + MS_FASTBINS as u64 + 8, C2);
    m.put(C2 + 16, (C2 + 16) >> 12);
    bin_one(&mut m, MAIN, 1, C3);
    bin_one(&mut m, MAIN, 64, C5);
    // The thread arena: heap_info, malloc_state, one chunk and top.
    for (off, v) in [(0, ARENA), (8, 0), (16, 0x21000), (24, 0x21000), (32, PAGE)] {
        m.put(BLOCK + off, v);
    }
    state(&mut m, ARENA, NONCONTIGUOUS_BIT, MAIN, TTOP, 0x21000);
    m.put(T0 + 8, 0x100 | PREV_INUSE | 4);
    m.put(TTOP + 8, (BLOCK + 0x21000 - TTOP) | PREV_INUSE);
    // A chunk malloc mapped on its own.
    m.put(MMAP + 8, MMAP_LEN | IS_MMAPPED);
    m
}

fn run(m: &FakeMemory, spans: &[Span]) -> Vec<Zone> {
    run_max(m, spans, 1 << 20)
}

fn limits(n: u64) -> Limits {
    Limits {
        chunks: n,
        free_chunks: n,
    }
}

fn run_max(m: &FakeMemory, spans: &[Span], max: u64) -> Vec<Zone> {
    zones(spans, None, Some(m), &LibcCache::default(), limits(max)).expect("not vanished")
}

fn named<'z>(zs: &'z [Zone], name: &str) -> &'z Zone {
    zs.iter()
        .find(|z| z.name == name)
        .unwrap_or_else(|| panic!("no zone {name} in {zs:#?}"))
}

#[test]
fn a_consistent_image_is_read_exactly() {
    let (m, s) = (image(), spans());
    let zs = run(&m, &s);
    let names: Vec<&str> = zs.iter().map(|z| z.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "main_arena",
            "arena_0x7e0000000030",
            "mmapped_chunk_0x7f0010000000"
        ]
    );
    let main = named(&zs, "main_arena");
    assert_eq!(main.status, Status::Ok, "{:?}", main.reason);
    let a = main.alloc.unwrap();
    assert_eq!(a.count, 4);
    assert_eq!(a.allocated, 0x290 + 0x30 + 0x40 + 0x20);
    let top = HEAP + HEAP_LEN - TOP;
    assert_eq!(a.top, Some(top));
    assert_eq!(a.free, 0x30 + 0x100 + 0x420 + top);
    assert_eq!(a.allocated + a.free, HEAP_LEN);
    assert_eq!(a.system_mem, HEAP_LEN);
    assert_eq!(main.ranges, vec![(HEAP, HEAP + HEAP_LEN)]);

    let t = named(&zs, "arena_0x7e0000000030");
    assert_eq!(t.status, Status::Ok, "{:?}", t.reason);
    let ta = t.alloc.unwrap();
    assert_eq!((ta.count, ta.allocated), (1, 0x100));
    assert_eq!(ta.free, BLOCK + 0x21000 - TTOP);
    assert_eq!(ta.system_mem, 0x21000);
    assert_eq!(t.ranges, vec![(BLOCK, BLOCK + HEAP_MAX)]);
    let f = figures(&t.ranges, &s);
    assert_eq!(f.virt, Some(HEAP_MAX));
    assert_eq!(f.committed, Some(0x21000));
    assert_eq!(f.resident, Some(0x2000));

    let c = named(&zs, "mmapped_chunk_0x7f0010000000");
    assert_eq!(c.alloc.unwrap().allocated, MMAP_LEN);
    let f = figures(&c.ranges, &s);
    assert_eq!(pct_full(c.alloc.as_ref(), &f), Some(100.0));
    assert_eq!(pct_frag(c.alloc.as_ref(), &f), Some(0.0));

    let by_region = region_zones(&zs, &s);
    assert_eq!(by_region[0], Some(0));
    assert_eq!(by_region[1], Some(1));
    assert_eq!(by_region[2], Some(1));
    assert_eq!(by_region[3], None);
    assert_eq!(by_region[7], Some(2));
}

/// The main arena's row after `spoil` changed the image.
fn main_after(spoil: impl FnOnce(&mut FakeMemory)) -> Zone {
    let (mut m, s) = (image(), spans());
    spoil(&mut m);
    named(&run(&m, &s), "main_arena").clone()
}

fn refused(z: &Zone, why: &str) {
    assert_eq!(z.status, Status::Unsupported, "{z:#?}");
    assert!(z.alloc.is_none());
    let reason = z.reason.as_deref().unwrap_or("");
    assert!(reason.contains(why), "{reason:?} should say {why:?}");
}

#[test]
fn hostile_heaps_are_refused_not_guessed() {
    // A fast bin that points to itself.
    refused(
        &main_after(|m| m.put(C2 + 16, ((C2 + 16) >> 12) ^ C2)),
        "fast bin 1 loops",
    );
    // A fast bin chunk of the wrong size.
    refused(&main_after(|m| m.put(C2 + 8, 0x40 | 1)), "not 0x30");
    // A fast bin pointing outside the heap.
    refused(
        &main_after(|m| m.put(C2 + 16, ((C2 + 16) >> 12) ^ 0xdead_0000)),
        "outside the arena",
    );
    // A chunk whose size runs far past the heap.
    refused(
        &main_after(|m| m.put(C1 + 8, 0x7fff_ffff_fff0 | 1)),
        "runs past its heap",
    );
    // A zero-size chunk (an endless walk without the check).
    refused(&main_after(|m| m.put(C1 + 8, 1)), "bad size field");
    // A bin whose chunk points to itself.
    refused(
        &main_after(|m| {
            m.put(C3 + 16, C3);
        }),
        "links back",
    );
    // A large bin chunk in the wrong bin.
    refused(
        &main_after(|m| {
            let h = bin_head(MAIN, 64);
            let h2 = bin_head(MAIN, 65);
            m.put(h + 16, h);
            m.put(h + 24, h);
            m.put(h2 + 16, C5);
            m.put(h2 + 24, C5);
            m.put(C5 + 16, h2);
            m.put(C5 + 24, h2);
        }),
        "does not belong there",
    );
    // A free chunk in no bin.
    refused(
        &main_after(|m| {
            let h = bin_head(MAIN, 64);
            m.put(h + 16, h);
            m.put(h + 24, h);
        }),
        "in no bin",
    );
    // A bin chunk the walk never meets (listed, but the walk sees it in use).
    refused(&main_after(|m| m.put(C4 + 8, 0x40 | 1)), "not met");
    // A footer that does not repeat the size.
    refused(&main_after(|m| m.put(C4, 0x110)), "footer");
    // system_mem larger than the heap.
    refused(
        &main_after(|m| {
            m.put(MAIN + MS_SYSTEM_MEM as u64, HEAP_LEN * 2);
            m.put(MAIN + MS_MAX_SYSTEM_MEM as u64, HEAP_LEN * 2);
        }),
        "not inside [heap]",
    );
    // The arena lock held while the heap is inconsistent: the reason says so.
    let z = main_after(|m| {
        m.put(C4, 0x110);
        m.put_bytes(MAIN, &1u32.to_le_bytes());
    });
    refused(&z, "lock was held");
}

#[test]
fn a_broken_thread_arena_leaves_the_others() {
    let (mut m, s) = (image(), spans());
    // heap_info.prev pointing back to itself: a loop.
    m.put(BLOCK + 8, BLOCK);
    let zs = run(&m, &s);
    assert_eq!(named(&zs, "main_arena").status, Status::Ok);
    let t = named(&zs, "arena_0x7e0000000030");
    refused(t, "loops");
    // Its region figures are still given.
    assert_eq!(figures(&t.ranges, &s).virt, Some(HEAP_MAX));

    let (mut m, s) = (image(), spans());
    // heap_info naming another arena.
    m.put(BLOCK, ARENA + 0x1000);
    refused(named(&run(&m, &s), "arena_0x7e0000000030"), "names arena");

    let (mut m, s) = (image(), spans());
    // A hugetlb heap (pagesize 2 MiB).
    m.put(BLOCK + 32, 2 << 20);
    refused(named(&run(&m, &s), "arena_0x7e0000000030"), "pages");
}

#[test]
fn a_broken_ring_or_layout_refuses_the_process() {
    // The thread arena's next points to itself: the ring never comes back.
    let (mut m, s) = (image(), spans());
    m.put(ARENA + MS_NEXT as u64, ARENA);
    let zs = run(&m, &s);
    assert!(zs.iter().all(|z| z.status == Status::Unsupported));
    assert!(zs[0].reason.as_deref().unwrap().contains("ring"));
    // The regions still give the zones.
    assert_eq!(
        zs.iter().map(|z| z.name.as_str()).collect::<Vec<_>>(),
        ["main_arena", "heap_0x7e0000000000"]
    );

    // An unsupported glibc release.
    let (mut m, s) = (image(), spans());
    m.put_bytes(
        LIBC_RO + 0x1800,
        b"GNU C Library (test) stable release version 2.31.\n\0",
    );
    refused(&run(&m, &s)[0], "glibc 2.31");

    // No banner at all.
    let (mut m, s) = (image(), spans());
    m.put_bytes(LIBC_RO + 0x1800, b"XNU");
    refused(&run(&m, &s)[0], "banner");

    // A 32-bit libc.
    let (mut m, s) = (image(), spans());
    m.put_bytes(LIBC_RO + 4, &[1]);
    refused(&run(&m, &s)[0], "64-bit x86-64");

    // Two places that look like main_arena.
    let (mut m, s) = (image(), spans());
    let copy = LIBC_RW + 0x1800;
    let mut b = vec![0u8; MS_SIZE];
    crate::model::Memory::read(&m, MAIN, &mut b).unwrap();
    m.put_bytes(copy, &b);
    for bin in 1..NBINS {
        let (h, old) = (bin_head(copy, bin), bin_head(MAIN, bin));
        for off in [16, 24] {
            let mut v = [0u8; 8];
            crate::model::Memory::read(&m, old + off, &mut v).unwrap();
            if u64::from_le_bytes(v) == old {
                m.put(h + off, h);
            }
        }
    }
    m.put(copy + MS_NEXT as u64, copy);
    refused(&run(&m, &s)[0], "refusing to guess");

    // The chunk limits: 4 chunks walked, 3 listed in the free lists of the main arena.
    let (m, s) = (image(), spans());
    refused(&run_max(&m, &s, 3)[0], "max_chunks");
    let few_free = Limits {
        chunks: 1 << 20,
        free_chunks: 2,
    };
    let zs = zones(&s, None, Some(&m), &LibcCache::default(), few_free).unwrap();
    refused(&zs[0], "max_free_chunks");
}

/// The synthetic process as the harness serves it: the spans as regions (with their
/// residency), the image as memory.
fn fixture(m: &FakeMemory, live: bool) -> Fixture {
    let mut f = Fixture::new(5).name("synthetic").has_memory(live);
    for sp in spans() {
        let perms: String = [
            if sp.read { 'r' } else { '-' },
            if sp.write { 'w' } else { '-' },
            if sp.exec { 'x' } else { '-' },
            if sp.shared { 's' } else { 'p' },
        ]
        .iter()
        .collect();
        let mut r = TestRegion::new(sp.start, sp.end)
            .perms(&perms)
            .device(sp.dev.0, sp.dev.1)
            .inode(sp.inode)
            .offset(sp.offset)
            .rss(0x1000)
            .usage(usage::SHARED_DIRTY, 0)
            .usage(usage::PRIVATE_DIRTY, 0x1000)
            .swap(0);
        match (sp.path, sp.kind) {
            (Some(p), _) => r = r.path(p),
            (None, RegionKind::Heap) => r = r.path("[heap]"),
            _ => {}
        }
        assert_eq!(r.region_kind(), sp.kind, "{:#x}", sp.start);
        f = f.region(r);
    }
    for (start, bytes) in &m.segs {
        f = f.memory(*start, bytes.clone());
    }
    f
}

#[test]
fn a_consistent_image_is_read_exactly_through_the_abi() {
    let out = testing::run::<crate::MallocZones>(&fixture(&image(), true));
    assert!(out.is_clean(), "{out:#?}");
    let rows = out.rows("malloc_zones");
    let names: Vec<&str> = rows.iter().filter_map(|r| r[0].as_text()).collect();
    assert_eq!(
        names,
        [
            "main_arena",
            "arena_0x7e0000000030",
            "mmapped_chunk_0x7f0010000000"
        ]
    );
    let top = HEAP + HEAP_LEN - TOP;
    let main = &rows[0];
    assert_eq!(main[1], O::from("glibc"));
    assert_eq!(main[13], O::from("ok"), "{main:?}");
    assert_eq!(main[2], O::U64(HEAP_LEN), "virtual");
    assert_eq!(main[7], O::U64(4), "allocation_count");
    assert_eq!(
        main[8],
        O::U64(0x290 + 0x30 + 0x40 + 0x20),
        "bytes_allocated"
    );
    assert_eq!(main[9], O::U64(0x30 + 0x100 + 0x420 + top), "bytes_free");
    assert_eq!(main[10], O::U64(top), "top_size");
    assert_eq!(main[15], O::U64(HEAP_LEN), "system_mem");
    let arena = &rows[1];
    assert_eq!(
        (arena[2].clone(), arena[3].clone(), arena[4].clone()),
        (O::U64(HEAP_MAX), O::U64(0x21000), O::U64(0x2000)),
        "virtual, committed, resident"
    );
    let chunk = &rows[2];
    assert_eq!(chunk[8], O::U64(MMAP_LEN));
    assert_eq!(chunk[11], O::F64(100.0), "pct_full");
    let zone: Vec<Option<&str>> = out.column("malloc_zone").iter().map(O::as_text).collect();
    assert_eq!(
        zone,
        [
            Some("main_arena"),
            Some("arena_0x7e0000000030"),
            Some("arena_0x7e0000000030"),
            None,
            None,
            None,
            None,
            Some("mmapped_chunk_0x7f0010000000"),
        ]
    );
}

#[test]
fn evidence_gets_zones_from_its_regions_alone() {
    // has_memory false: the analyzer does not read memory even where the harness has some.
    let out = testing::run::<crate::MallocZones>(&fixture(&image(), false));
    assert!(out.is_clean(), "{out:#?}");
    let rows = out.rows("malloc_zones");
    let names: Vec<&str> = rows.iter().filter_map(|r| r[0].as_text()).collect();
    assert_eq!(names, ["main_arena", "heap_0x7e0000000000"]);
    for r in rows {
        assert_eq!(r[13], O::from("no-memory"));
        assert!(r[7].is_absent() && r[8].is_absent(), "{r:?}");
    }
    assert_eq!(rows[1][2], O::U64(HEAP_MAX));
}

#[test]
fn options_are_checked_through_the_abi() {
    use vmpipe_plugin::{OptionValue, Options};
    let make = |k: &str, v: OptionValue| {
        Harness::create::<crate::MallocZones>(&Options::from_entries(vec![(k.to_string(), v)]))
            .map(drop)
            .map_err(|out| {
                let e = &out.errors[0];
                (e.option.clone().unwrap_or_default(), e.message.clone())
            })
    };
    assert!(make("max_chunks", OptionValue::Integer(10)).is_ok());
    assert!(make("max_free_chunks", OptionValue::Integer(10)).is_ok());
    let (key, why) = make("max_chunks", OptionValue::Integer(0)).unwrap_err();
    assert_eq!(key, "max_chunks");
    assert!(why.contains("at least 1"), "{why}");
    let (key, _) = make("max_free_chunks", OptionValue::String("x".into())).unwrap_err();
    assert_eq!(key, "max_free_chunks");
    let (key, why) = make("chunks", OptionValue::Integer(1)).unwrap_err();
    assert_eq!(key, "chunks");
    assert!(
        why.contains("valid options: max_chunks, max_free_chunks"),
        "{why}"
    );
    assert!(Harness::create::<crate::MallocZones>(&Options::default()).is_ok());
}

#[test]
fn the_banner_is_remembered_per_libc_file() {
    let (m, s) = (image(), spans());
    let cache = LibcCache::default();
    zones(&s, None, Some(&m), &cache, limits(1 << 20)).unwrap();
    let first = m.reads.get();
    zones(&s, None, Some(&m), &cache, limits(1 << 20)).unwrap();
    let second = m.reads.get() - first;
    assert!(
        second < first,
        "{second} reads the second time, {first} the first"
    );
}

#[test]
fn main_arena_is_remembered_and_checked_again() {
    let (m, s) = (image(), spans());
    let libc = ((8, 1), 42);
    let fresh = zones(&s, None, Some(&m), &LibcCache::default(), limits(1 << 20)).unwrap();
    let cache = LibcCache::default();
    let first = zones(&s, None, Some(&m), &cache, limits(1 << 20)).unwrap();
    assert_eq!(first, fresh);
    assert!(cache.main_arena(libc).is_some(), "remembered");
    let before = m.reads.get();
    let second = zones(&s, None, Some(&m), &cache, limits(1 << 20)).unwrap();
    let second_reads = m.reads.get() - before;
    assert_eq!(second, fresh, "the remembered place gives the same zones");
    let scan = LibcCache::default();
    scan.remember_main_arena(libc, 0x10);
    let before = m.reads.get();
    let wrong = zones(&s, None, Some(&m), &scan, limits(1 << 20)).unwrap();
    let wrong_reads = m.reads.get() - before;
    assert_eq!(
        wrong, fresh,
        "a wrong remembered place falls back to the scan"
    );
    assert!(
        second_reads < wrong_reads,
        "{second_reads} reads with the place known, {wrong_reads} with a scan"
    );
    assert_ne!(
        scan.main_arena(libc),
        Some(0x10),
        "the scan's answer replaces it"
    );
}

#[test]
fn without_memory_the_regions_give_the_zones() {
    let s = spans();
    for mem in [
        None,
        Some(FakeMemory {
            deny: true,
            ..FakeMemory::default()
        }),
    ] {
        let zs = zones(
            &s,
            None,
            mem.as_ref().map(|m| m as &dyn crate::model::Memory),
            &LibcCache::default(),
            limits(100),
        )
        .unwrap();
        assert_eq!(
            zs.iter().map(|z| z.name.as_str()).collect::<Vec<_>>(),
            ["main_arena", "heap_0x7e0000000000"]
        );
        for z in &zs {
            assert_eq!(z.status, Status::NoMemory);
            assert!(z.alloc.is_none());
        }
        let why = zs[0].reason.as_deref().unwrap();
        assert!(
            why.contains(&if mem.is_some() {
                MemoryError::Denied.to_string()
            } else {
                MemoryError::Unavailable.to_string()
            }),
            "{why}"
        );
        let f = figures(&zs[1].ranges, &s);
        assert_eq!(
            (f.virt, f.committed, f.resident),
            (Some(HEAP_MAX), Some(0x21000), Some(0x2000))
        );
    }
}

#[test]
fn vanished_processes_are_errors() {
    struct Gone;
    impl crate::model::Memory for Gone {
        fn read(&self, _: u64, _: &mut [u8]) -> Result<usize, MemoryError> {
            Err(MemoryError::Vanished)
        }
    }
    assert!(
        zones(
            &spans(),
            None,
            Some(&Gone),
            &LibcCache::default(),
            limits(100)
        )
        .is_err()
    );
}

#[test]
fn other_allocators_are_named_and_not_measured() {
    // jemalloc preloaded: glibc's main arena unused, so only jemalloc is listed.
    let mut m = image();
    state(&mut m, MAIN, 0, MAIN, bin_head(MAIN, 1), 0);
    let mut s: Vec<Span> = spans()
        .into_iter()
        .filter(|s| s.kind != RegionKind::Heap && s.start != BLOCK && s.start != BLOCK + 0x21000)
        .collect();
    s.push(span(
        0x7f00_2000_0000,
        0x7f00_2000_1000,
        "r--p",
        RegionKind::File,
        Some(b"/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"),
    ));
    s.last_mut().unwrap().inode = 7;
    let zs = run(&m, &s);
    let names: Vec<&str> = zs.iter().map(|z| z.name.as_str()).collect();
    assert_eq!(names, ["mmapped_chunk_0x7f0010000000", "jemalloc"]);
    let j = named(&zs, "jemalloc");
    assert_eq!(
        (j.status, j.alloc, j.ranges.len()),
        (Status::Unsupported, None, 0)
    );
    assert!(
        j.reason
            .as_deref()
            .unwrap()
            .contains("libjemalloc.so.2 is mapped")
    );
    // Without another allocator, the unused main arena is a row of its own.
    s.pop();
    let zs = run(&m, &s);
    let main = named(&zs, "main_arena");
    assert_eq!(main.status, Status::Ok);
    assert_eq!(main.alloc.unwrap().count, 0);
    assert!(main.ranges.is_empty());

    // A static binary with nothing recognisable.
    let s = vec![span(
        0x40_0000,
        0x40_1000,
        "r-xp",
        RegionKind::File,
        Some(b"/bin/static"),
    )];
    let zs = zones(
        &s,
        Some(b"/bin/static"),
        Some(&FakeMemory::default()),
        &LibcCache::default(),
        limits(10),
    )
    .unwrap();
    assert_eq!(zs.len(), 1);
    assert_eq!(
        (zs[0].name.as_str(), zs[0].status),
        ("unknown", Status::Unsupported)
    );
    assert!(
        zones(&[], None, None, &LibcCache::default(), limits(10))
            .unwrap()
            .is_empty()
    );
}

/// A small deterministic generator for the mutation test.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_corruption_never_panics_and_never_passes_silently_broken() {
    let s = spans();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let targets = [
        (MAIN, MS_SIZE as u64),
        (HEAP, 0x800),
        (BLOCK, 0x1000),
        (MMAP, 16),
    ];
    for round in 0..400 {
        let mut m = image();
        for _ in 0..1 + round % 4 {
            let (base, len) = targets[(rng.next() % targets.len() as u64) as usize];
            let at = base + (rng.next() % (len / 8)) * 8;
            let v = match rng.next() % 4 {
                0 => rng.next(),
                1 => rng.next() & 0xffff,
                2 => (HEAP + rng.next() % HEAP_LEN) & !15,
                _ => u64::MAX - (rng.next() & 0xff),
            };
            m.put(at, v);
        }
        let zs = run(&m, &s);
        for z in &zs {
            if let (Status::Ok, Some(a)) = (z.status, z.alloc) {
                // Whatever was accepted still adds up.
                assert!(
                    a.allocated + a.free <= a.system_mem,
                    "round {round}: {z:#?}"
                );
                if z.name == "main_arena" {
                    // Only the sbrk base's alignment may lie outside the chunks.
                    assert!(
                        a.allocated + a.free + 15 >= a.system_mem,
                        "round {round}: {z:#?}"
                    );
                }
            }
        }
    }
}
