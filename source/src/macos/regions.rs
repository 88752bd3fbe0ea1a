//! From what the kernel says of each region to the model's [`Region`]s, the way the
//! vmmap-report source builds them from a report's rows, so that the same facts give the same
//! records whichever source read them.
//!
//! For each leaf of the walk ([`super::submap_walk`]):
//!
//! * the region is split at image-segment boundaries ([`SegmentMap::split`]); a piece inside a
//!   segment is named after it (`__TEXT`, …) with the image's path, kind `file`; a piece
//!   outside every segment gets the tag-derived type ([`tags::region_type`]) and the path
//!   `proc_regionfilename` gave (kind `file`), or none (`anon`; `Stack` is `stack`,
//!   `shared memory` is `shm`, as in the report source);
//! * `share_mode` becomes the `SHRMOD` name ([`share_mode_name`]), the maximum protection
//!   `max_prot`, the purgeable state `purge`;
//! * residency: for a region kept whole, `rss`, `dirty` and `swap` are the kernel's page
//!   counts (`pages_resident`, `pages_dirtied`, `pages_swapped_out`) × the target's page
//!   size; for a split region, each piece's figures are summed from the per-page dispositions
//!   (`mach_vm_page_range_query`: present, dirty, paged out), counting only the bytes of each
//!   page that lie in the piece — as vmmap does for sub-page library segments. When the
//!   dispositions cannot be read, a split region's pieces have no residency (absent, not 0).

use std::sync::Arc;

use super::purge::purge_name;
use super::segments::SegmentMap;
use super::share_mode::{self, share_mode_name};
use super::submap_walk::RegionInfo;
use super::tags::{self, TagFacts};
use crate::model::{Perms, Region, RegionKind, Reported, Usage, UsageField};

/// `VM_PROT_READ`.
pub const VM_PROT_READ: u32 = 1;
/// `VM_PROT_WRITE`.
pub const VM_PROT_WRITE: u32 = 2;
/// `VM_PROT_EXECUTE`.
pub const VM_PROT_EXECUTE: u32 = 4;

/// `VM_PAGE_QUERY_PAGE_PRESENT`: the page is resident.
pub const VM_PAGE_QUERY_PAGE_PRESENT: i32 = 1;
/// `VM_PAGE_QUERY_PAGE_DIRTY`: the page is dirty.
pub const VM_PAGE_QUERY_PAGE_DIRTY: i32 = 1 << 3;
/// `VM_PAGE_QUERY_PAGE_PAGED_OUT`: the page is swapped out or compressed.
pub const VM_PAGE_QUERY_PAGE_PAGED_OUT: i32 = 1 << 4;

/// The page size assumed when the target's is unknown or nonsense.
pub const FALLBACK_PAGE_SIZE: u64 = 4096;

/// One leaf region of the walk, with what else was read about it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leaf {
    /// What `mach_vm_region_recurse` said.
    pub info: RegionInfo,
    /// The backing file's path (`proc_regionfilename`), when there is one.
    pub path: Option<Arc<[u8]>>,
    /// The purgeable state (`VM_PURGABLE_GET_STATE`), when it was asked.
    pub purge_state: Option<i32>,
}

/// Per-page residency of the target (`mach_vm_page_range_query`).
pub trait PageDispositions {
    /// The size of the pages the dispositions describe (the kernel answers at the smaller of
    /// the target's and the caller's page size).
    fn page_size(&self) -> u64;

    /// The disposition of each page of `[start, end)` (both aligned to
    /// [`PageDispositions::page_size`]), one per page, or `None` when it cannot be read.
    fn dispositions(&mut self, start: u64, end: u64) -> Option<Vec<i32>>;
}

/// A power of two of at least 512, or the 4 KiB fallback.
fn sane_page_size(page_size: u64) -> u64 {
    if page_size.is_power_of_two() && page_size >= 512 {
        page_size
    } else {
        FALLBACK_PAGE_SIZE
    }
}

/// The regions built, and how many lack residency.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Built {
    /// The regions, in address order.
    pub regions: Vec<Region>,
    /// Regions split at segment boundaries whose page dispositions could not be read: their
    /// pieces have no residency figures.
    pub unknown_residency: usize,
}

/// The current protection as the model's permissions (`s` for `SHM` and `S/A`).
pub fn perms(info: &RegionInfo) -> Perms {
    Perms {
        read: info.protection & VM_PROT_READ != 0,
        write: info.protection & VM_PROT_WRITE != 0,
        exec: info.protection & VM_PROT_EXECUTE != 0,
        shared: share_mode_name(info.share_mode).is_some_and(share_mode::is_shared),
    }
}

/// A protection as three characters (`r-x`).
pub fn prot_chars(prot: u32) -> [u8; 3] {
    [
        if prot & VM_PROT_READ != 0 { b'r' } else { b'-' },
        if prot & VM_PROT_WRITE != 0 {
            b'w'
        } else {
            b'-'
        },
        if prot & VM_PROT_EXECUTE != 0 {
            b'x'
        } else {
            b'-'
        },
    ]
}

/// The facts the tag table decides on.
pub fn tag_facts(info: &RegionInfo) -> TagFacts {
    TagFacts {
        user_tag: info.user_tag,
        share_mode: info.share_mode,
        external_pager: info.external_pager,
        no_access: info.protection & (VM_PROT_READ | VM_PROT_WRITE | VM_PROT_EXECUTE) == 0,
    }
}

/// The kind the report source gives a region of this type with or without a path.
pub fn kind_of(region_type: &str, has_path: bool) -> RegionKind {
    match region_type {
        "Stack" => RegionKind::Stack,
        "shared memory" => RegionKind::Shm,
        _ if has_path => RegionKind::File,
        _ => RegionKind::Anon,
    }
}

fn usage(resident: u64, dirty: u64, swapped: u64) -> Usage {
    let mut u = Usage::default();
    u.set(UsageField::Rss, resident);
    u.set(UsageField::Dirty, dirty);
    u.set(UsageField::Swap, swapped);
    u
}

/// Residency of a region kept whole, from its page counts.
fn counted(info: &RegionInfo, page_size: u64) -> Usage {
    let bytes = |pages: u32| u64::from(pages).saturating_mul(page_size);
    usage(
        bytes(info.pages_resident),
        bytes(info.pages_dirtied),
        bytes(info.pages_swapped_out),
    )
}

/// Residency of `[start, end)` from the dispositions of the pages from `base` on.
fn from_pages(dispositions: &[i32], base: u64, page_size: u64, start: u64, end: u64) -> Usage {
    let (mut resident, mut dirty, mut swapped) = (0u64, 0u64, 0u64);
    let first = ((start - base) / page_size) as usize;
    let last = ((end - 1 - base) / page_size) as usize;
    for (i, d) in dispositions
        .iter()
        .enumerate()
        .take(last.saturating_add(1))
        .skip(first)
    {
        let page = base + i as u64 * page_size;
        let bytes = end
            .min(page.saturating_add(page_size))
            .saturating_sub(start.max(page));
        if d & VM_PAGE_QUERY_PAGE_PRESENT != 0 {
            resident += bytes;
        }
        if d & VM_PAGE_QUERY_PAGE_DIRTY != 0 {
            dirty += bytes;
        }
        if d & VM_PAGE_QUERY_PAGE_PAGED_OUT != 0 {
            swapped += bytes;
        }
    }
    usage(resident, dirty, swapped)
}

/// Builds the model's regions from the walk's leaves. `page_size` is the target's
/// (`TASK_VM_INFO`), the unit of the page counts; `pages` is asked only for regions that are
/// split.
pub fn build(
    leaves: &[Leaf],
    segments: &SegmentMap,
    page_size: u64,
    pages: &mut dyn PageDispositions,
) -> Built {
    let page_size = sane_page_size(page_size);
    let granule = sane_page_size(pages.page_size());
    let mut out = Built::default();
    for leaf in leaves {
        let info = &leaf.info;
        let (start, end) = (info.start, info.end());
        let pieces = segments.split(start, end);
        let split = pieces.len() > 1;
        let dispositions = if split {
            let base = start - start % granule;
            let top = end.div_ceil(granule).saturating_mul(granule);
            let want = ((top - base) / granule) as usize;
            match pages.dispositions(base, top) {
                Some(d) if d.len() >= want => Some((base, d)),
                _ => {
                    out.unknown_residency += 1;
                    None
                }
            }
        } else {
            None
        };
        for piece in pieces {
            let seg = piece.segment.map(|i| &segments.segments()[i]);
            let (region_type, path): (Box<str>, Option<Arc<[u8]>>) = match seg {
                Some(s) => (s.name.clone(), Some(s.image.clone())),
                None => (
                    tags::region_type(&tag_facts(info)).into(),
                    leaf.path.clone(),
                ),
            };
            let offset = match seg {
                Some(s) => s
                    .fileoff
                    .saturating_add(piece.start - s.start.min(piece.start)),
                None if info.external_pager => info.offset.saturating_add(piece.start - start),
                None => 0,
            };
            let usage = if !split {
                counted(info, page_size)
            } else if let Some((base, d)) = &dispositions {
                from_pages(d, *base, granule, piece.start, piece.end)
            } else {
                Usage::default()
            };
            out.regions.push(Region {
                start: piece.start,
                end: piece.end,
                perms: perms(info),
                offset,
                dev_major: 0,
                dev_minor: 0,
                inode: 0,
                kind: kind_of(&region_type, path.is_some()),
                path,
                usage,
                vm_flags: None,
                confirmed_unlinked: None,
                reported: Some(Box::new(Reported {
                    region_type,
                    share_mode: share_mode_name(info.share_mode).map(Into::into),
                    max_prot: Some(prot_chars(info.max_protection)),
                    purge: leaf.purge_state.and_then(purge_name).map(Into::into),
                    detail: "".into(),
                })),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::dyld::LoadedImage;
    use super::super::macho::Segment;
    use super::super::share_mode::{SM_COW, SM_EMPTY, SM_PRIVATE, SM_TRUESHARED};
    use super::*;

    struct Pages(Option<Vec<i32>>, usize);

    impl PageDispositions for Pages {
        fn page_size(&self) -> u64 {
            0x4000
        }

        fn dispositions(&mut self, start: u64, end: u64) -> Option<Vec<i32>> {
            self.1 += 1;
            assert_eq!(start % 0x4000, 0);
            assert_eq!(end % 0x4000, 0);
            self.0.clone()
        }
    }

    fn info(start: u64, end: u64, tag: u32, prot: u32, sm: u8) -> RegionInfo {
        RegionInfo {
            start,
            size: end - start,
            protection: prot,
            max_protection: 7,
            user_tag: tag,
            share_mode: sm,
            pages_resident: 2,
            pages_dirtied: 1,
            pages_swapped_out: 3,
            ..RegionInfo::default()
        }
    }

    fn leaf(info: RegionInfo) -> Leaf {
        Leaf {
            info,
            path: None,
            purge_state: None,
        }
    }

    fn reported(r: &Region) -> &Reported {
        r.reported.as_deref().expect("reported")
    }

    #[test]
    fn whole_regions_take_the_page_counts_times_the_target_page_size() {
        let leaves = [
            leaf(info(0x10000, 0x20000, 7, 3, SM_PRIVATE)),
            Leaf {
                purge_state: Some(0),
                ..leaf(info(0x20000, 0x24000, 0, 1, SM_TRUESHARED))
            },
            leaf(info(0x30000, 0x40000, 30, 0, SM_EMPTY)),
        ];
        let mut pages = Pages(None, 0);
        let b = build(&leaves, &SegmentMap::default(), 0x4000, &mut pages);
        assert_eq!(pages.1, 0, "no split, no page query");
        assert_eq!(b.unknown_residency, 0);
        let tiny = &b.regions[0];
        assert_eq!(&*reported(tiny).region_type, "MALLOC_TINY");
        assert_eq!(reported(tiny).share_mode.as_deref(), Some("PRV"));
        assert_eq!(reported(tiny).max_prot, Some(*b"rwx"));
        assert_eq!(tiny.perms.to_string(), "rw-p");
        assert_eq!(tiny.kind, RegionKind::Anon);
        assert_eq!(tiny.usage.get(UsageField::Rss), Some(0x8000));
        assert_eq!(tiny.usage.get(UsageField::Dirty), Some(0x4000));
        assert_eq!(tiny.usage.get(UsageField::Swap), Some(0xc000));
        let shm = &b.regions[1];
        assert_eq!(&*reported(shm).region_type, "shared memory");
        assert_eq!(shm.kind, RegionKind::Shm);
        assert_eq!(shm.perms.to_string(), "r--s");
        assert_eq!(reported(shm).purge.as_deref(), Some("N"));
        let guard = &b.regions[2];
        assert_eq!(&*reported(guard).region_type, "STACK GUARD");
        assert_eq!(reported(guard).share_mode.as_deref(), Some("NUL"));
        assert_eq!(guard.kind, RegionKind::Anon);
    }

    fn cache() -> SegmentMap {
        let img = |path: &str, name: &str, start: u64, end: u64| LoadedImage {
            path: Arc::from(path.as_bytes()),
            load_address: start,
            segments: vec![Segment {
                name: name.into(),
                start,
                end,
                fileoff: 0x100,
            }],
        };
        SegmentMap::new(&[
            img("/usr/lib/libA.dylib", "__DATA", 0x40000, 0x41000),
            img("/usr/lib/libB.dylib", "__DATA", 0x41000, 0x45000),
        ])
    }

    #[test]
    fn split_regions_count_each_pieces_share_of_every_page() {
        // Three 16K pages: resident+dirty, resident, swapped.
        let mut pages = Pages(
            Some(vec![
                VM_PAGE_QUERY_PAGE_PRESENT | VM_PAGE_QUERY_PAGE_DIRTY,
                VM_PAGE_QUERY_PAGE_PRESENT,
                VM_PAGE_QUERY_PAGE_PAGED_OUT,
            ]),
            0,
        );
        let mut l = leaf(info(0x40000, 0x4c000, 0, 3, SM_COW));
        l.info.external_pager = true;
        l.path = Some(Arc::from(&b"/System/dyld_shared_cache"[..]));
        let b = build(&[l], &cache(), 0x4000, &mut pages);
        assert_eq!(pages.1, 1);
        type Row<'a> = (u64, u64, &'a str, Option<u64>, Option<u64>, Option<u64>);
        let rows: Vec<Row> = b
            .regions
            .iter()
            .map(|r| {
                (
                    r.start,
                    r.end,
                    &*reported(r).region_type,
                    r.usage.get(UsageField::Rss),
                    r.usage.get(UsageField::Dirty),
                    r.usage.get(UsageField::Swap),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (
                    0x40000,
                    0x41000,
                    "__DATA",
                    Some(0x1000),
                    Some(0x1000),
                    Some(0)
                ),
                (
                    0x41000,
                    0x45000,
                    "__DATA",
                    Some(0x4000),
                    Some(0x3000),
                    Some(0)
                ),
                (
                    0x45000,
                    0x4c000,
                    "mapped file",
                    Some(0x3000),
                    Some(0),
                    Some(0x4000)
                ),
            ]
        );
        assert_eq!(
            b.regions[0].path.as_deref(),
            Some(&b"/usr/lib/libA.dylib"[..])
        );
        assert_eq!(b.regions[0].kind, RegionKind::File);
        assert_eq!(b.regions[1].offset, 0x100);
        assert_eq!(
            b.regions[2].path.as_deref(),
            Some(&b"/System/dyld_shared_cache"[..])
        );
        assert_eq!(b.regions[2].offset, 0x5000);
        // The pieces add up to the region's page figures.
        let total = |f| b.regions.iter().filter_map(|r| r.usage.get(f)).sum::<u64>();
        assert_eq!(total(UsageField::Rss), 0x8000);
        assert_eq!(total(UsageField::Dirty), 0x4000);
        assert_eq!(total(UsageField::Swap), 0x4000);
    }

    #[test]
    fn without_dispositions_split_pieces_have_no_residency() {
        for answer in [None, Some(vec![1])] {
            let mut pages = Pages(answer, 0);
            let b = build(
                &[leaf(info(0x40000, 0x4c000, 0, 3, SM_COW))],
                &cache(),
                0x4000,
                &mut pages,
            );
            assert_eq!(b.unknown_residency, 1);
            assert_eq!(b.regions.len(), 3);
            assert!(b.regions.iter().all(|r| r.usage.is_empty()));
        }
    }

    #[test]
    fn a_nonsense_page_size_falls_back_to_4k() {
        let b = build(
            &[leaf(info(0x1000, 0x2000, 0, 3, SM_PRIVATE))],
            &SegmentMap::default(),
            0,
            &mut Pages(None, 0),
        );
        assert_eq!(b.regions[0].usage.get(UsageField::Rss), Some(2 * 4096));
        assert_eq!(prot_chars(5), *b"r-x");
        assert_eq!(prot_chars(0), *b"---");
    }
}
