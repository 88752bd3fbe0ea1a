//! Matching regions against the segments of the images dyld loaded: which parts of a VM
//! region are which image's `__TEXT`, `__DATA`, `__LINKEDIT`, ….
//!
//! vmmap names an image's regions after the segment (`__TEXT`, `__DATA_CONST`, `__AUTH`, …)
//! with the image's path as the detail. A region and a segment need not coincide: a region of
//! the dyld shared cache spans the same segment of hundreds of libraries (vmmap prints one
//! row per library, with sub-page sizes), and one region can hold the end of one segment and
//! the start of the next. So a region is split at segment boundaries into [`Piece`]s; a piece
//! outside every segment keeps the region's own (tag-derived) type.
//!
//! Segments are indexed once per process ([`SegmentMap`]), sorted by address; overlapping
//! segments (two images claiming the same bytes — a damaged or racing image list) keep the
//! first claimant, and the others are counted in [`SegmentMap::overlaps`].

use std::sync::Arc;

use super::dyld::LoadedImage;

/// One image segment at its runtime address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSegment {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// The segment name (`__TEXT`, …): the region type vmmap prints.
    pub name: Box<str>,
    /// The image's path.
    pub image: Arc<[u8]>,
    /// Offset of the segment's data in the image file.
    pub fileoff: u64,
}

/// A part of a region: inside one image segment, or outside all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// The segment (index into [`SegmentMap::segments`]), or `None` outside every segment.
    pub segment: Option<usize>,
}

/// The segments of every image of one process, sorted and without overlaps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentMap {
    segments: Vec<ImageSegment>,
    /// Segments left out because they overlap one already indexed.
    pub overlaps: usize,
}

impl SegmentMap {
    /// Indexes the segments of `images` (segments with no size are left out).
    pub fn new(images: &[LoadedImage]) -> SegmentMap {
        let mut all: Vec<ImageSegment> = images
            .iter()
            .flat_map(|image| {
                image.segments.iter().map(move |s| ImageSegment {
                    start: s.start,
                    end: s.end,
                    name: s.name.clone(),
                    image: image.path.clone(),
                    fileoff: s.fileoff,
                })
            })
            .filter(|s| s.end > s.start)
            .collect();
        // Stable: among equal starts, the image dyld listed first wins.
        all.sort_by_key(|s| s.start);
        let mut map = SegmentMap::default();
        for s in all {
            if map.segments.last().is_some_and(|last| s.start < last.end) {
                map.overlaps += 1;
                continue;
            }
            map.segments.push(s);
        }
        map
    }

    /// The indexed segments, in address order.
    pub fn segments(&self) -> &[ImageSegment] {
        &self.segments
    }

    /// True when no segment is indexed.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Splits `[start, end)` at segment boundaries, in address order, covering the whole range
    /// without gaps. A range no segment touches is one piece with no segment. The number of
    /// pieces is at most twice the number of segments the range overlaps, plus one.
    pub fn split(&self, start: u64, end: u64) -> Vec<Piece> {
        let mut out = Vec::new();
        if end <= start {
            return out;
        }
        // The first segment ending above `start`.
        let first = self.segments.partition_point(|s| s.end <= start);
        let mut at = start;
        for (i, s) in self.segments.iter().enumerate().skip(first) {
            if s.start >= end {
                break;
            }
            if s.start > at {
                out.push(Piece {
                    start: at,
                    end: s.start,
                    segment: None,
                });
                at = s.start;
            }
            let piece_end = s.end.min(end);
            out.push(Piece {
                start: at,
                end: piece_end,
                segment: Some(i),
            });
            at = piece_end;
            if at >= end {
                break;
            }
        }
        if at < end {
            out.push(Piece {
                start: at,
                end,
                segment: None,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::macho::Segment;
    use super::*;

    fn image(path: &str, segs: &[(&str, u64, u64)]) -> LoadedImage {
        LoadedImage {
            path: Arc::from(path.as_bytes()),
            load_address: segs.first().map_or(0, |s| s.1),
            segments: segs
                .iter()
                .map(|(name, start, end)| Segment {
                    name: (*name).into(),
                    start: *start,
                    end: *end,
                    fileoff: 0,
                })
                .collect(),
        }
    }

    fn shape(map: &SegmentMap, start: u64, end: u64) -> Vec<(u64, u64, Option<String>)> {
        map.split(start, end)
            .into_iter()
            .map(|p| {
                let label = p.segment.map(|i| {
                    let s = &map.segments()[i];
                    format!("{} {}", s.name, String::from_utf8_lossy(&s.image))
                });
                (p.start, p.end, label)
            })
            .collect()
    }

    fn cache() -> SegmentMap {
        SegmentMap::new(&[
            image(
                "/usr/lib/libA.dylib",
                &[("__TEXT", 0x1000, 0x1800), ("__DATA", 0x9000, 0x9100)],
            ),
            image("/usr/lib/libB.dylib", &[("__TEXT", 0x1800, 0x2400)]),
            image("/usr/lib/libC.dylib", &[("__TEXT", 0x3000, 0x4000)]),
        ])
    }

    #[test]
    fn a_shared_cache_region_splits_per_library() {
        let map = cache();
        assert_eq!(
            shape(&map, 0x1000, 0x5000),
            vec![
                (0x1000, 0x1800, Some("__TEXT /usr/lib/libA.dylib".into())),
                (0x1800, 0x2400, Some("__TEXT /usr/lib/libB.dylib".into())),
                (0x2400, 0x3000, None),
                (0x3000, 0x4000, Some("__TEXT /usr/lib/libC.dylib".into())),
                (0x4000, 0x5000, None),
            ]
        );
    }

    #[test]
    fn regions_inside_outside_and_across_segments() {
        let map = cache();
        // Inside one segment.
        assert_eq!(
            shape(&map, 0x3400, 0x3800),
            vec![(0x3400, 0x3800, Some("__TEXT /usr/lib/libC.dylib".into()))]
        );
        // Touching no segment.
        assert_eq!(shape(&map, 0x5000, 0x6000), vec![(0x5000, 0x6000, None)]);
        assert_eq!(shape(&map, 0, 0x1000), vec![(0, 0x1000, None)]);
        // Starting in the middle of one, ending in the middle of the next.
        assert_eq!(
            shape(&map, 0x1400, 0x2000),
            vec![
                (0x1400, 0x1800, Some("__TEXT /usr/lib/libA.dylib".into())),
                (0x1800, 0x2000, Some("__TEXT /usr/lib/libB.dylib".into())),
            ]
        );
        // A sub-page segment inside a page-sized region.
        assert_eq!(
            shape(&map, 0x9000, 0xa000),
            vec![
                (0x9000, 0x9100, Some("__DATA /usr/lib/libA.dylib".into())),
                (0x9100, 0xa000, None),
            ]
        );
        assert!(map.split(0x2000, 0x2000).is_empty());
        assert!(map.split(0x3000, 0x1000).is_empty());
    }

    #[test]
    fn pieces_cover_the_region_exactly() {
        let map = cache();
        for (s, e) in [(0u64, 0x10000u64), (0x17ff, 0x1801), (0x2400, 0x3001)] {
            let pieces = map.split(s, e);
            assert_eq!(pieces.first().map(|p| p.start), Some(s));
            assert_eq!(pieces.last().map(|p| p.end), Some(e));
            for w in pieces.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            assert!(pieces.iter().all(|p| p.end > p.start));
        }
    }

    #[test]
    fn overlapping_segments_keep_the_first_image() {
        let map = SegmentMap::new(&[
            image("/a", &[("__TEXT", 0x1000, 0x3000)]),
            image(
                "/b",
                &[("__TEXT", 0x2000, 0x4000), ("__DATA", 0x4000, 0x5000)],
            ),
            image("/c", &[("__EMPTY", 0x6000, 0x6000)]),
        ]);
        assert_eq!(map.overlaps, 1);
        assert_eq!(map.segments().len(), 2);
        assert_eq!(
            shape(&map, 0x1000, 0x5000),
            vec![
                (0x1000, 0x3000, Some("__TEXT /a".into())),
                (0x3000, 0x4000, None),
                (0x4000, 0x5000, Some("__DATA /b".into())),
            ]
        );
        assert!(SegmentMap::new(&[]).is_empty());
    }
}
