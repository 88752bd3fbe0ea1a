//! glibc malloc's (ptmalloc's) data structures as they lie in a 64-bit x86-64 process.
//!
//! Everything here was worked out from glibc's `malloc/malloc.c` and `malloc/arena.c` and
//! checked against the glibc 2.36 of Debian 12 by the end-to-end test (which compares every
//! figure with the target's own `malloc_info`). The facts, and the releases they hold for:
//!
//! * A chunk starts with `size_t prev_size; size_t size;` (16 bytes). `size` is a multiple of
//!   `MALLOC_ALIGNMENT` = 16 with three flag bits: `PREV_INUSE` (1), `IS_MMAPPED` (2),
//!   `NON_MAIN_ARENA` (4). `MINSIZE` = 32. A free chunk's `fd`, `bk` follow the header
//!   (offsets 16, 24); the next chunk's `prev_size` repeats a free chunk's size (its footer).
//!   Unchanged since the 2.x series began.
//! * `struct malloc_state` (since 2.27, when `have_fastchunks` was added; unchanged through
//!   2.41): `int mutex` @0x0, `int flags` @0x4, `int have_fastchunks` @0x8,
//!   `mfastbinptr fastbinsY[10]` @0x10, `top` @0x60, `last_remainder` @0x68,
//!   `bins[254]` @0x70, `unsigned binmap[4]` @0x860, `next` @0x870, `next_free` @0x878,
//!   `attached_threads` @0x880, `system_mem` @0x888, `max_system_mem` @0x890; size 0x898.
//!   `NFASTBINS` = 10 (`fastbin_index(request2size(MAX_FAST_SIZE = 160)) + 1`), `NBINS` = 128.
//!   Bin `i` (1 ≤ i ≤ 127) is the pseudo-chunk `bin_at(i)` = `&bins[2(i-1)] - 16`, so its
//!   `fd`/`bk` are `bins[2(i-1)]`, `bins[2(i-1)+1]`; an empty bin points to itself. Bin 1 is
//!   the unsorted bin, bins 2–63 hold one size each (`16·i`), bins 64–126 size ranges
//!   (`largebin_index_64`); bin 127 is never used, so it is always empty.
//! * Safe-linking (since 2.32): a fast bin chunk's `fd` is stored as
//!   `(address_of_fd >> 12) ^ next`; the list head in `fastbinsY` is stored plainly.
//! * `struct heap_info` (arena.c) at the start of every 64 MiB-aligned thread-arena heap:
//!   `ar_ptr` @0, `prev` @8, `size` @16, `mprotect_size` @24 and, since 2.35, `pagesize`
//!   @32; padded so that `sizeof (heap_info) + 16` is a multiple of 16: 48 bytes since 2.35,
//!   32 bytes in 2.32–2.34. `HEAP_MAX_SIZE` = `2 · DEFAULT_MMAP_THRESHOLD_MAX` = 64 MiB on
//!   64-bit (a `glibc.malloc.hugetlb` heap has another size: its `pagesize` is not 4096).
//! * A thread arena's `malloc_state` directly follows the `heap_info` of its first heap
//!   (`ar_ptr == heap + sizeof (heap_info)`), and its first chunk follows the `malloc_state`,
//!   aligned so that the chunk's user pointer is 16-aligned. Later heaps of the arena hold
//!   chunks from `heap + sizeof (heap_info)`. A heap that is not the arena's newest one ends
//!   with two fence posts: a 16-byte chunk header and a header of size 0.
//! * `main_arena` is a static `malloc_state` in libc's `.data`; arenas are linked by `next`
//!   into a ring that starts and ends at `main_arena`. The main arena's memory is the `brk`
//!   heap, contiguous unless `NONCONTIGUOUS_BIT` (2) is set in `flags`; its first chunk is at
//!   `mp_.sbrk_base` rounded up to 16, and `system_mem` counts every byte from `sbrk_base` to
//!   the end of the top chunk.
//! * A chunk malloc got from `mmap` has `IS_MMAPPED` set, `prev_size` 0 (the offset from the
//!   mapping's start, 0 unless `memalign` moved it) and `size` equal to the mapping's size.

/// Bytes of a chunk header (`prev_size` and `size`).
pub const CHUNK_HDR: u64 = 16;
/// Chunk alignment (`MALLOC_ALIGNMENT`).
pub const ALIGN: u64 = 16;
/// Smallest normal chunk (`MINSIZE`).
pub const MINSIZE: u64 = 32;
/// Flag: the previous chunk is in use.
pub const PREV_INUSE: u64 = 1;
/// Flag: the chunk was obtained with `mmap`.
pub const IS_MMAPPED: u64 = 2;
/// The three flag bits of a chunk's size field.
pub const SIZE_BITS: u64 = 7;
/// `HEAP_MAX_SIZE` on 64-bit: the size and alignment of a thread-arena heap.
pub const HEAP_MAX: u64 = 64 << 20;
/// The page size on x86-64.
pub const PAGE: u64 = 4096;
/// Fast bins in `malloc_state`.
pub const NFASTBINS: usize = 10;
/// Bins in `malloc_state` (bin 0 does not exist).
pub const NBINS: usize = 128;

/// `malloc_state.mutex` (an `int`).
pub const MS_MUTEX: usize = 0x0;
/// `malloc_state.flags` (an `int`).
pub const MS_FLAGS: usize = 0x4;
/// `malloc_state.have_fastchunks` (an `int`).
pub const MS_HAVE_FASTCHUNKS: usize = 0x8;
/// `malloc_state.fastbinsY`.
pub const MS_FASTBINS: usize = 0x10;
/// `malloc_state.top`.
pub const MS_TOP: usize = 0x60;
/// `malloc_state.bins`.
pub const MS_BINS: usize = 0x70;
/// `malloc_state.next`.
pub const MS_NEXT: usize = 0x870;
/// `malloc_state.attached_threads`.
pub const MS_ATTACHED: usize = 0x880;
/// `malloc_state.system_mem`.
pub const MS_SYSTEM_MEM: usize = 0x888;
/// `malloc_state.max_system_mem`.
pub const MS_MAX_SYSTEM_MEM: usize = 0x890;
/// `sizeof (struct malloc_state)`.
pub const MS_SIZE: usize = 0x898;
/// `malloc_state.flags`: the arena's memory is not one contiguous `brk` range.
pub const NONCONTIGUOUS_BIT: u32 = 2;

/// The lowest glibc release whose layout this module describes (safe-linking: 2.32).
pub const MIN_VERSION: (u32, u32) = (2, 32);
/// The highest glibc release whose layout was checked against its source (2.41).
pub const MAX_VERSION: (u32, u32) = (2, 41);

/// What differs between the supported releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `sizeof (heap_info)`.
    pub heap_info_size: u64,
    /// `heap_info` has the `pagesize` field (2.35 and later).
    pub has_pagesize: bool,
}

/// The layout of glibc `major.minor`, or why it is not supported.
pub fn layout(version: (u32, u32)) -> Result<Layout, String> {
    if version < MIN_VERSION || version > MAX_VERSION {
        return Err(format!(
            "glibc {}.{}: this analyzer knows malloc's layout for glibc {}.{} to {}.{} only",
            version.0, version.1, MIN_VERSION.0, MIN_VERSION.1, MAX_VERSION.0, MAX_VERSION.1
        ));
    }
    Ok(if version >= (2, 35) {
        Layout {
            heap_info_size: 48,
            has_pagesize: true,
        }
    } else {
        Layout {
            heap_info_size: 32,
            has_pagesize: false,
        }
    })
}

/// The address of the pseudo-chunk of bin `bin` (1 ≤ bin ≤ 127) of the arena at `arena`.
pub fn bin_head(arena: u64, bin: usize) -> u64 {
    arena.wrapping_add(MS_BINS as u64 - 16 + (bin as u64 - 1) * 16)
}

/// The bin a free chunk of size `size` belongs in once sorted (glibc's `smallbin_index` /
/// `largebin_index_64`).
pub fn bin_index(size: u64) -> u64 {
    if size < 1024 {
        size >> 4
    } else if size >> 6 <= 48 {
        48 + (size >> 6)
    } else if size >> 9 <= 20 {
        91 + (size >> 9)
    } else if size >> 12 <= 10 {
        110 + (size >> 12)
    } else if size >> 15 <= 4 {
        119 + (size >> 15)
    } else if size >> 18 <= 2 {
        124 + (size >> 18)
    } else {
        126
    }
}

/// The chunk size of fast bin `index`.
pub fn fastbin_size(index: usize) -> u64 {
    (index as u64 + 2) * 16
}

/// Undoes safe-linking: the next pointer stored at `pos`.
pub fn reveal(pos: u64, stored: u64) -> u64 {
    (pos >> 12) ^ stored
}

/// The first chunk of a thread arena's first heap: right after its `malloc_state`, moved up so
/// that the chunk's user pointer (chunk + 16) is 16-aligned.
pub fn first_chunk_after_state(arena: u64) -> u64 {
    let ptr = arena.wrapping_add(MS_SIZE as u64);
    let misalign = ptr.wrapping_add(CHUNK_HDR) & (ALIGN - 1);
    if misalign > 0 {
        ptr.wrapping_add(ALIGN - misalign)
    } else {
        ptr
    }
}

/// Rounds `v` up to a multiple of 16 (`None` on overflow).
pub fn align_up(v: u64) -> Option<u64> {
    Some(v.checked_add(ALIGN - 1)? & !(ALIGN - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_follow_glibc() {
        assert_eq!(bin_index(32), 2);
        assert_eq!(bin_index(1008), 63);
        assert_eq!(bin_index(1024), 64);
        assert_eq!(bin_index(3056), 95);
        assert_eq!(bin_index(1 << 30), 126);
        assert_eq!(fastbin_size(0), 32);
        assert_eq!(fastbin_size(9), 176);
        assert_eq!(bin_head(0x1000, 1), 0x1060);
        assert_eq!(bin_head(0x1000, 127), 0x1000 + 0x70 + 126 * 16 - 16);
        // The last bin's fd/bk are the last two of the 254 bins.
        assert_eq!(bin_head(0, 127) + 16, (MS_BINS + 252 * 8) as u64);
        assert_eq!(MS_BINS + 254 * 8, 0x860);
    }

    #[test]
    fn thread_arena_first_chunk() {
        // heap at H, heap_info 48 bytes: arena H+0x30, first chunk H+0x8d0.
        assert_eq!(first_chunk_after_state(0x7f00_0000_0030), 0x7f00_0000_08d0);
        let pos = 0x5555_5555_9010u64;
        let next = 0x5555_5555_a000u64;
        assert_eq!(reveal(pos, (pos >> 12) ^ next), next);
        assert_eq!(reveal(pos, pos >> 12), 0);
    }

    #[test]
    fn versions() {
        assert!(layout((2, 31)).is_err());
        assert_eq!(layout((2, 34)).unwrap().heap_info_size, 32);
        assert_eq!(layout((2, 36)).unwrap().heap_info_size, 48);
        assert!(layout((2, 42)).is_err());
        assert!(layout((3, 0)).is_err());
    }
}
