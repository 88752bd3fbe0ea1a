//! What one load process maps: a pure plan, so it can be tested without mapping anything.

/// The kinds of mapping a load process makes, in the order they rotate through its slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `rw-p` anonymous, every page written.
    AnonTouched,
    /// `rw-p` anonymous, never touched (virtual only).
    AnonUntouched,
    /// `---p` anonymous.
    ProtNone,
    /// `r--p` view of one of the shared files, every page read.
    FileRead,
    /// `rw-s` `MAP_SHARED|MAP_ANONYMOUS`, every page written.
    SharedAnon,
}

const KINDS: [Kind; 5] = [
    Kind::AnonTouched,
    Kind::AnonUntouched,
    Kind::ProtNone,
    Kind::FileRead,
    Kind::SharedAnon,
];

/// Shared files every load process maps parts of, and their size in pages.
pub const FILES: usize = 4;
pub const FILE_PAGES: usize = 64;
/// Slot stride in pages: the largest mapping is 8 pages, so at least 8 pages of hole follow it.
pub const STRIDE_PAGES: usize = 16;
/// Each extra thread's stack: glibc maps it with a guard page below (two regions).
pub const THREAD_STACK: usize = 64 * 1024;
/// Regions one extra thread adds (its stack and its guard page).
pub const REGIONS_PER_THREAD: usize = 2;

/// One planned mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub kind: Kind,
    pub pages: usize,
    /// For [`Kind::FileRead`]: which file, and the first page mapped.
    pub file: usize,
    pub file_page: usize,
}

/// The mappings process number `index` makes so that, with `threads` extra threads, it adds
/// `maps` regions of its own (its executable, libc, heap and stack come on top).
pub fn plan(index: usize, maps: usize, threads: usize) -> Vec<Slot> {
    let n = maps.saturating_sub(threads * REGIONS_PER_THREAD);
    (0..n)
        .map(|i| {
            // Rotate the kinds (offset per process, so processes differ) and vary the sizes.
            let kind = KINDS[(i + index) % KINDS.len()];
            let pages = match kind {
                Kind::AnonTouched | Kind::SharedAnon => 1 + i % 2,
                Kind::AnonUntouched => 1 + i % 8,
                Kind::ProtNone | Kind::FileRead => 1 + i % 4,
            };
            Slot {
                kind,
                pages,
                file: (i / KINDS.len()) % FILES,
                file_page: (i * 7 + index) % (FILE_PAGES - 4),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_counts_threads_and_fits_slots_and_files() {
        let p = plan(3, 300, 4);
        assert_eq!(p.len(), 300 - 4 * REGIONS_PER_THREAD);
        for kind in KINDS {
            assert!(p.iter().filter(|s| s.kind == kind).count() >= 58);
        }
        for s in &p {
            assert!(s.pages >= 1 && s.pages < STRIDE_PAGES);
            assert!(s.file < FILES && s.file_page + s.pages <= FILE_PAGES);
        }
        assert!(plan(0, 3, 4).is_empty());
        assert_ne!(plan(0, 10, 0), plan(1, 10, 0));
    }
}
