//! The walk over a task's address space with `mach_vm_region_recurse`, as a pure function over
//! an abstract [`RegionQuery`] so that it can be driven by a fake map (the tests) as well as
//! by the kernel (the macOS FFI layer).
//!
//! The kernel call takes an address and a maximum nesting depth and answers with the map
//! entry containing the address, or the next one above it. A submap (the dyld shared region,
//! for instance, is one) is looked into up to that depth; an entry that is still a submap at
//! the maximum depth comes back with `is_submap` set. The walk therefore asks once at depth
//! 0; on a submap it asks again at the same address one level deeper, until it gets a leaf;
//! then it records the leaf and continues at its end. The depth it reached is kept: entries
//! outside any submap come back at depth 0 whatever depth is asked.
//!
//! Every loop is bounded: at most [`Limits::max_depth`] levels of submaps, at most
//! [`Limits::max_regions`] leaves, and every answer must move the walk forward — one with no
//! size, or ending at or below the address asked, ends the walk with an error; one that
//! begins below the address asked is clipped to it, so no byte is counted twice. Whatever
//! was walked before an error is kept.

use std::fmt;

/// One map entry as `mach_vm_region_recurse` describes it
/// (`vm_region_submap_info_64`, `<mach/vm_region.h>`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegionInfo {
    /// First address.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// The submap nesting depth the entry was found at (0: the task's own map).
    pub depth: u32,
    /// The entry is itself a submap (only at the maximum depth asked).
    pub is_submap: bool,
    /// Current protection (`VM_PROT_READ` 1, `WRITE` 2, `EXECUTE` 4).
    pub protection: u32,
    /// Maximum protection.
    pub max_protection: u32,
    /// `user_tag` (`VM_MEMORY_*`).
    pub user_tag: u32,
    /// `share_mode` (`SM_*`).
    pub share_mode: u8,
    /// `external_pager`: a pager (a file) backs the object.
    pub external_pager: bool,
    /// Offset into the backing object, in bytes.
    pub offset: u64,
    /// Resident pages.
    pub pages_resident: u32,
    /// Pages dirtied.
    pub pages_dirtied: u32,
    /// Pages swapped out (or compressed).
    pub pages_swapped_out: u32,
    /// Pages once shared, now private.
    pub pages_shared_now_private: u32,
    /// References to the object.
    pub ref_count: u32,
    /// The object's id (`object_id_full`), for telling objects apart.
    pub object_id: u64,
}

impl RegionInfo {
    /// One past the last address (saturating).
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.size)
    }
}

/// Something that answers `mach_vm_region_recurse`'s question.
pub trait RegionQuery {
    /// Why a query failed.
    type Error: fmt::Display;

    /// The entry containing `address`, or the next one above it, looking into submaps down to
    /// `depth` levels; `Ok(None)` when there is none (`KERN_INVALID_ADDRESS`: past the last
    /// entry).
    fn query(&mut self, address: u64, depth: u32) -> Result<Option<RegionInfo>, Self::Error>;
}

/// Bounds of a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Submap levels looked into (the shared region is one level).
    pub max_depth: u32,
    /// Leaves recorded before the walk gives up.
    pub max_regions: usize,
}

impl Default for Limits {
    /// 16 levels (macOS nests one or two), 1,000,000 regions (a large browser process has
    /// tens of thousands).
    fn default() -> Limits {
        Limits {
            max_depth: 16,
            max_regions: 1_000_000,
        }
    }
}

/// Why a walk stopped before the end of the address space.
#[derive(Debug, PartialEq, Eq)]
pub enum WalkError<E> {
    /// The query failed at this address.
    Query {
        /// The address asked.
        address: u64,
        /// The depth asked.
        depth: u32,
        /// The failure.
        error: E,
    },
    /// More regions than [`Limits::max_regions`].
    TooManyRegions(usize),
    /// An answer that does not move the walk forward (no size, or ending at or below an
    /// address already walked).
    NoProgress {
        /// The address asked.
        address: u64,
        /// The answer's start.
        start: u64,
        /// The answer's size.
        size: u64,
    },
}

impl<E: fmt::Display> fmt::Display for WalkError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::Query {
                address,
                depth,
                error,
            } => write!(
                f,
                "mach_vm_region_recurse at {address:#x} (depth {depth}): {error}"
            ),
            WalkError::TooManyRegions(n) => {
                write!(f, "more than {n} regions: the walk stopped there")
            }
            WalkError::NoProgress {
                address,
                start,
                size,
            } => write!(
                f,
                "mach_vm_region_recurse at {address:#x} answered {start:#x}+{size:#x}, \
                 which does not move forward"
            ),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for WalkError<E> {}

/// What a walk found.
#[derive(Debug, PartialEq, Eq)]
pub struct Walk<E> {
    /// The leaves, in address order, without overlaps.
    pub regions: Vec<RegionInfo>,
    /// Submaps that could not be looked into ([`Limits::max_depth`] reached); they are also
    /// in `regions` as leaves with `is_submap` set.
    pub opaque_submaps: usize,
    /// Why the walk stopped early; `None` when it reached the end of the address space.
    pub error: Option<WalkError<E>>,
}

/// Walks the whole address space behind `query`. Never loops forever, never panics.
pub fn walk<Q: RegionQuery>(query: &mut Q, limits: &Limits) -> Walk<Q::Error> {
    let mut out = Walk {
        regions: Vec::new(),
        opaque_submaps: 0,
        error: None,
    };
    let mut address = 0u64;
    let mut depth = 0u32;
    // Each leaf costs at most one query per level plus its own; anything beyond is a loop.
    let max_queries = limits
        .max_regions
        .saturating_add(1)
        .saturating_mul(limits.max_depth as usize + 2);
    for _ in 0..max_queries {
        let mut r = match query.query(address, depth) {
            Ok(Some(r)) => r,
            Ok(None) => return out,
            Err(error) => {
                out.error = Some(WalkError::Query {
                    address,
                    depth,
                    error,
                });
                return out;
            }
        };
        let end = r.start.checked_add(r.size);
        let Some(end) = end.filter(|&e| r.size > 0 && e > address) else {
            out.error = Some(WalkError::NoProgress {
                address,
                start: r.start,
                size: r.size,
            });
            return out;
        };
        // An entry that began below the address (its start was walked already): keep only
        // the part not yet recorded.
        if r.start < address {
            r.size = end - address;
            r.start = address;
        }
        if r.is_submap && depth < limits.max_depth {
            // Ask again at the submap's start, one level deeper. A query that keeps answering
            // "submap" is bounded by the depth limit, after which the entry is a leaf.
            depth += 1;
            address = r.start;
            continue;
        }
        if r.is_submap {
            out.opaque_submaps += 1;
        }
        if out.regions.len() >= limits.max_regions {
            out.error = Some(WalkError::TooManyRegions(limits.max_regions));
            return out;
        }
        out.regions.push(r);
        address = end;
        if end == u64::MAX {
            return out;
        }
    }
    out.error = Some(WalkError::TooManyRegions(limits.max_regions));
    out
}

#[cfg(test)]
pub(crate) mod fake {
    //! A fake task map with nested submaps that answers like `mach_vm_region_recurse`.

    use super::*;

    /// One entry of a fake map.
    #[derive(Clone, Debug)]
    pub enum Entry {
        /// A leaf `[start, end)` with a tag.
        Leaf { start: u64, end: u64, tag: u32 },
        /// A submap mapped at `[start, end)`; its entries use the same addresses.
        Submap {
            start: u64,
            end: u64,
            entries: Vec<Entry>,
        },
    }

    impl Entry {
        fn range(&self) -> (u64, u64) {
            match self {
                Entry::Leaf { start, end, .. } | Entry::Submap { start, end, .. } => (*start, *end),
            }
        }
    }

    /// A fake map, with a count of the queries it answered.
    pub struct FakeMap {
        pub entries: Vec<Entry>,
        pub queries: usize,
    }

    fn info(start: u64, end: u64, depth: u32, tag: u32, is_submap: bool) -> RegionInfo {
        RegionInfo {
            start,
            size: end - start,
            depth,
            is_submap,
            protection: 1,
            max_protection: 7,
            user_tag: tag,
            ..RegionInfo::default()
        }
    }

    /// The kernel's lookup: the first entry ending above `address` within `[lo, hi)`,
    /// clipped to it, looked into down to `max_depth`.
    fn find(
        entries: &[Entry],
        address: u64,
        lo: u64,
        hi: u64,
        depth: u32,
        max_depth: u32,
    ) -> Option<RegionInfo> {
        for e in entries {
            let (s, t) = e.range();
            let (s, t) = (s.max(lo), t.min(hi));
            if t <= address || s >= t {
                continue;
            }
            match e {
                Entry::Leaf { tag, .. } => return Some(info(s, t, depth, *tag, false)),
                Entry::Submap { entries, .. } => {
                    if depth >= max_depth {
                        return Some(info(s, t, depth, 0, true));
                    }
                    if let Some(r) = find(entries, address.max(s), s, t, depth + 1, max_depth) {
                        return Some(r);
                    }
                    // Nothing at or above the address inside: the next entry of this map.
                }
            }
        }
        None
    }

    impl RegionQuery for FakeMap {
        type Error = String;

        fn query(&mut self, address: u64, depth: u32) -> Result<Option<RegionInfo>, String> {
            self.queries += 1;
            Ok(find(&self.entries, address, 0, u64::MAX, 0, depth))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{Entry, FakeMap};
    use super::*;

    fn leaf(start: u64, end: u64, tag: u32) -> Entry {
        Entry::Leaf { start, end, tag }
    }

    fn spans(w: &Walk<String>) -> Vec<(u64, u64, u32, u32)> {
        w.regions
            .iter()
            .map(|r| (r.start, r.end(), r.depth, r.user_tag))
            .collect()
    }

    fn two_level_map() -> FakeMap {
        FakeMap {
            entries: vec![
                leaf(0x1000, 0x3000, 1),
                Entry::Submap {
                    start: 0x10000,
                    end: 0x20000,
                    entries: vec![
                        leaf(0x10000, 0x12000, 10),
                        Entry::Submap {
                            start: 0x14000,
                            end: 0x18000,
                            entries: vec![leaf(0x14000, 0x15000, 20), leaf(0x16000, 0x18000, 21)],
                        },
                        leaf(0x1c000, 0x30000, 11), // runs past the submap: clipped
                    ],
                },
                leaf(0x20000, 0x21000, 2),
                Entry::Submap {
                    start: 0x30000,
                    end: 0x40000,
                    entries: vec![], // empty submap: nothing inside
                },
                leaf(0x7fff_0000, 0x8000_0000, 30),
            ],
            queries: 0,
        }
    }

    #[test]
    fn walks_into_nested_submaps_in_address_order() {
        let mut map = two_level_map();
        let w = walk(&mut map, &Limits::default());
        assert_eq!(w.error, None);
        assert_eq!(w.opaque_submaps, 0);
        assert_eq!(
            spans(&w),
            vec![
                (0x1000, 0x3000, 0, 1),
                (0x10000, 0x12000, 1, 10),
                (0x14000, 0x15000, 2, 20),
                (0x16000, 0x18000, 2, 21),
                (0x1c000, 0x20000, 1, 11),
                (0x20000, 0x21000, 0, 2),
                (0x7fff_0000, 0x8000_0000, 0, 30),
            ]
        );
        // One query per leaf, one per submap level entered, one for the end.
        assert!(map.queries <= 7 + 2 + 1 + 1, "{} queries", map.queries);
    }

    #[test]
    fn submaps_beyond_the_depth_limit_are_kept_as_opaque_leaves() {
        let mut map = two_level_map();
        let limits = Limits {
            max_depth: 1,
            ..Limits::default()
        };
        let w = walk(&mut map, &limits);
        assert_eq!(w.error, None);
        assert_eq!(w.opaque_submaps, 1);
        let opaque: Vec<_> = w.regions.iter().filter(|r| r.is_submap).collect();
        assert_eq!(opaque.len(), 1);
        assert_eq!((opaque[0].start, opaque[0].end()), (0x14000, 0x18000));

        let w0 = walk(
            &mut two_level_map(),
            &Limits {
                max_depth: 0,
                ..Limits::default()
            },
        );
        // At depth 0 both submaps are opaque entries of the task's own map.
        assert_eq!(w0.opaque_submaps, 2);
        assert!(w0.regions.iter().any(|r| r.is_submap && r.start == 0x10000));
    }

    #[test]
    fn the_region_limit_stops_the_walk_and_keeps_what_was_read() {
        let mut map = two_level_map();
        let w = walk(
            &mut map,
            &Limits {
                max_regions: 3,
                ..Limits::default()
            },
        );
        assert_eq!(w.regions.len(), 3);
        assert_eq!(w.error, Some(WalkError::TooManyRegions(3)));
    }

    /// A query that misbehaves in the ways a kernel bug or a racing map change could.
    struct Broken {
        answers: Vec<Result<Option<RegionInfo>, String>>,
    }

    impl RegionQuery for Broken {
        type Error = String;
        fn query(&mut self, _: u64, _: u32) -> Result<Option<RegionInfo>, String> {
            if self.answers.is_empty() {
                return Ok(None);
            }
            self.answers.remove(0)
        }
    }

    fn r(start: u64, size: u64) -> RegionInfo {
        RegionInfo {
            start,
            size,
            ..RegionInfo::default()
        }
    }

    #[test]
    fn answers_that_do_not_move_forward_end_the_walk() {
        let mut b = Broken {
            answers: vec![Ok(Some(r(0x1000, 0x1000))), Ok(Some(r(0x1000, 0x1000)))],
        };
        let w = walk(&mut b, &Limits::default());
        assert_eq!(w.regions.len(), 1);
        assert!(matches!(
            w.error,
            Some(WalkError::NoProgress {
                address: 0x2000,
                ..
            })
        ));

        let mut zero = Broken {
            answers: vec![Ok(Some(r(0x1000, 0)))],
        };
        assert!(matches!(
            walk(&mut zero, &Limits::default()).error,
            Some(WalkError::NoProgress { .. })
        ));

        let mut overflow = Broken {
            answers: vec![Ok(Some(r(u64::MAX - 0xfff, 0x2000)))],
        };
        assert!(matches!(
            walk(&mut overflow, &Limits::default()).error,
            Some(WalkError::NoProgress { .. })
        ));
    }

    #[test]
    fn an_overlapping_answer_is_clipped_not_counted_twice() {
        let mut b = Broken {
            answers: vec![Ok(Some(r(0x1000, 0x2000))), Ok(Some(r(0x2000, 0x3000)))],
        };
        let w = walk(&mut b, &Limits::default());
        assert_eq!(w.error, None);
        let got: Vec<_> = w.regions.iter().map(|r| (r.start, r.end())).collect();
        assert_eq!(got, vec![(0x1000, 0x3000), (0x3000, 0x5000)]);
    }

    #[test]
    fn a_submap_that_never_opens_is_bounded_by_the_depth_limit() {
        let sub = RegionInfo {
            is_submap: true,
            ..r(0x1000, 0x1000)
        };
        let mut b = Broken {
            answers: (0..100).map(|_| Ok(Some(sub))).collect(),
        };
        let w = walk(&mut b, &Limits::default());
        assert_eq!(w.opaque_submaps, 1);
        assert_eq!(w.regions.len(), 1);
        // The next answer (the same submap again) lies below the walk: no progress.
        assert!(
            matches!(w.error, Some(WalkError::NoProgress { .. })),
            "{:?}",
            w.error
        );
        assert!(
            b.answers.len() >= 100 - 19,
            "{} answers used",
            100 - b.answers.len()
        );
    }

    #[test]
    fn query_errors_keep_the_regions_before_them() {
        let mut b = Broken {
            answers: vec![
                Ok(Some(r(0x1000, 0x1000))),
                Err("MACH_SEND_INVALID_DEST".to_string()),
            ],
        };
        let w = walk(&mut b, &Limits::default());
        assert_eq!(w.regions.len(), 1);
        let e = w.error.expect("an error");
        assert!(e.to_string().contains("0x2000"), "{e}");
        assert!(e.to_string().contains("MACH_SEND_INVALID_DEST"), "{e}");
    }

    #[test]
    fn a_region_ending_at_the_top_of_the_address_space_ends_the_walk() {
        let mut b = Broken {
            answers: vec![Ok(Some(r(u64::MAX - 0xfff, 0xfff))), Ok(Some(r(0, 1)))],
        };
        let w = walk(&mut b, &Limits::default());
        assert_eq!(w.error, None);
        assert_eq!(w.regions.len(), 1);
    }
}
