//! What the analysis works on: the process's regions as plain values, and its memory behind a
//! trait (the host's `read_memory` in a run, a fake image in the unit tests).

use vmpipe_plugin::abi::usage;
use vmpipe_plugin::{MemoryError, Region, RegionKind};

/// One region of the process, with the facts the analysis uses.
#[derive(Clone, Copy, Debug)]
pub struct Span<'a> {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
    /// `MAP_SHARED`.
    pub shared: bool,
    /// What backs it.
    pub kind: RegionKind,
    /// The mapped file (raw bytes), when any.
    pub path: Option<&'a [u8]>,
    /// Device of the mapped file.
    pub dev: (u32, u32),
    /// Inode of the mapped file.
    pub inode: u64,
    /// Offset into the mapped file.
    pub offset: u64,
    /// Resident bytes (`Rss`), when known.
    pub rss: Option<u64>,
    /// Dirty bytes (`Private_Dirty + Shared_Dirty`, or a report's DIRTY), when known.
    pub dirty: Option<u64>,
    /// Swapped bytes, when known.
    pub swap: Option<u64>,
}

impl<'a> Span<'a> {
    /// The facts of a host region.
    pub fn of(r: Region<'a>) -> Span<'a> {
        let dirty = r
            .usage(usage::DIRTY)
            .or_else(|| Some(r.usage(usage::SHARED_DIRTY)? + r.usage(usage::PRIVATE_DIRTY)?));
        Span {
            start: r.start(),
            end: r.end(),
            read: r.readable(),
            write: r.writable(),
            exec: r.executable(),
            shared: r.shared(),
            kind: r.kind(),
            path: r.path(),
            dev: r.device(),
            inode: r.inode(),
            offset: r.offset(),
            rss: r.rss(),
            dirty,
            swap: r.swap(),
        }
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Private anonymous memory (not `[heap]`, not `[stack]`).
    pub fn private_anon(&self) -> bool {
        self.kind == RegionKind::Anon && !self.shared
    }

    /// Private anonymous, readable and writable, not executable.
    pub fn rw_anon(&self) -> bool {
        self.private_anon() && self.read && self.write && !self.exec
    }

    /// No access at all (`PROT_NONE`).
    pub fn prot_none(&self) -> bool {
        !self.read && !self.write && !self.exec
    }

    /// The mapped file's name (the last path component, without ` (deleted)`).
    pub fn file_name(&self) -> Option<&'a [u8]> {
        let p = self.path?;
        let p = p.strip_suffix(b" (deleted)").unwrap_or(p);
        Some(p.rsplit(|&b| b == b'/').next().unwrap_or(p))
    }

    /// Whether `addr` lies in the span.
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }
}

/// Read access to the process's memory.
pub trait Memory {
    /// Reads up to `buf.len()` bytes at `address`; returns how many were read.
    fn read(&self, address: u64, buf: &mut [u8]) -> Result<usize, MemoryError>;
}

impl Memory for vmpipe_plugin::Host<'_> {
    fn read(&self, address: u64, buf: &mut [u8]) -> Result<usize, MemoryError> {
        self.read_memory(address, buf)
    }
}

/// Why a read failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFail {
    /// The memory cannot be read at all: refused, no memory in this source, process gone.
    Access(MemoryError),
    /// This address is not mapped (or not readable).
    Fault(u64),
}

/// The largest window read at once while walking.
const WINDOW: usize = 64 << 10;
/// The first window at a new place: the rest of one page.
const PAGE: u64 = 4096;

/// Reads the process's memory through a window, so a walk over many small chunks costs one
/// read per window rather than one per chunk. A read at a new place fetches the rest of its
/// page; a read just past the window (a walk going on) doubles the window, up to 64 KiB. So
/// scattered small reads (headers, one structure) do not copy 64 KiB each, and a long walk
/// still reads in large pieces. Every read is bounded: a window never exceeds 64 KiB (or the
/// caller's own length), whatever the target's data says.
pub struct Reader<'m> {
    mem: &'m dyn Memory,
    base: u64,
    len: usize,
    /// The size the next window may have when the walk goes on past this one.
    span: u64,
    buf: Vec<u8>,
}

impl<'m> Reader<'m> {
    /// A reader over `mem`.
    pub fn new(mem: &'m dyn Memory) -> Reader<'m> {
        Reader {
            mem,
            base: 0,
            len: 0,
            span: PAGE,
            buf: Vec::new(),
        }
    }

    /// Fills `out` from `addr`. When the bytes are not in the window, reads a new window from
    /// `addr` reaching at most to `limit` (an address the caller knows is mapped up to).
    pub fn read(&mut self, addr: u64, out: &mut [u8], limit: u64) -> Result<(), ReadFail> {
        let n = out.len();
        let end = addr.checked_add(n as u64).ok_or(ReadFail::Fault(addr))?;
        let win_end = self.base + self.len as u64;
        if addr >= self.base && end <= win_end {
            let at = (addr - self.base) as usize;
            out.copy_from_slice(&self.buf[at..at + n]);
            return Ok(());
        }
        let going_on = self.len > 0 && addr >= self.base && addr <= win_end;
        self.span = if going_on {
            (self.span * 2).min(WINDOW as u64)
        } else {
            PAGE
        };
        // The window ends on a page boundary: the rest of addr's page, plus whole pages.
        let reach = self.span - addr % PAGE;
        let want = (limit.saturating_sub(addr).min(reach) as usize).max(n);
        self.buf.resize(want, 0);
        self.len = 0;
        let got = match self.mem.read(addr, &mut self.buf[..want]) {
            Ok(got) => got.min(want),
            Err(MemoryError::Fault) => return Err(ReadFail::Fault(addr)),
            Err(e) => return Err(ReadFail::Access(e)),
        };
        if got < n {
            return Err(ReadFail::Fault(addr + got as u64));
        }
        self.base = addr;
        self.len = got;
        out.copy_from_slice(&self.buf[..n]);
        Ok(())
    }

    /// Reads a little-endian `u64` at `addr` (window up to `limit`).
    pub fn u64(&mut self, addr: u64, limit: u64) -> Result<u64, ReadFail> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b, limit)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads `len` bytes at `addr` into a new buffer, without the window (for larger structures
    /// and scans; `len` is bounded by the caller).
    pub fn bytes(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, ReadFail> {
        let mut v = vec![0u8; len];
        let mut done = 0;
        while done < len {
            let at = addr.checked_add(done as u64).ok_or(ReadFail::Fault(addr))?;
            match self.mem.read(at, &mut v[done..]) {
                Ok(0) => return Err(ReadFail::Fault(at)),
                Ok(n) => done += n.min(len - done),
                Err(MemoryError::Fault) => return Err(ReadFail::Fault(at)),
                Err(e) => return Err(ReadFail::Access(e)),
            }
        }
        Ok(v)
    }
}

/// A little-endian `u64` at `off` of `b` (0 when out of range; callers check lengths first).
pub fn le64(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0)
}

/// A little-endian `u32` at `off` of `b` (0 when out of range).
pub fn le32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}

#[cfg(test)]
pub mod fake {
    //! A fake process memory for the unit tests.

    use super::Memory;
    use std::collections::BTreeMap;
    use vmpipe_plugin::MemoryError;

    /// Memory made of segments; any other address faults.
    #[derive(Default)]
    pub struct FakeMemory {
        /// Segment start → bytes.
        pub segs: BTreeMap<u64, Vec<u8>>,
        /// Refuse every read.
        pub deny: bool,
        /// Reads made.
        pub reads: std::cell::Cell<usize>,
    }

    impl FakeMemory {
        /// Adds a zeroed segment.
        pub fn map(&mut self, start: u64, len: usize) {
            self.segs.insert(start, vec![0; len]);
        }

        fn seg(&mut self, addr: u64) -> (&mut Vec<u8>, usize) {
            let (s, v) = self
                .segs
                .range_mut(..=addr)
                .next_back()
                .expect("address in a segment");
            let at = (addr - s) as usize;
            assert!(at < v.len(), "address {addr:#x} in a segment");
            (v, at)
        }

        /// Writes `v` at `addr`.
        pub fn put(&mut self, addr: u64, v: u64) {
            let (seg, at) = self.seg(addr);
            seg[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }

        /// Writes bytes at `addr`.
        pub fn put_bytes(&mut self, addr: u64, b: &[u8]) {
            let (seg, at) = self.seg(addr);
            seg[at..at + b.len()].copy_from_slice(b);
        }
    }

    impl Memory for FakeMemory {
        fn read(&self, address: u64, buf: &mut [u8]) -> Result<usize, MemoryError> {
            self.reads.set(self.reads.get() + 1);
            if self.deny {
                return Err(MemoryError::Denied);
            }
            let Some((s, v)) = self.segs.range(..=address).next_back() else {
                return Err(MemoryError::Fault);
            };
            let at = (address - s) as usize;
            if at >= v.len() {
                return Err(MemoryError::Fault);
            }
            let n = buf.len().min(v.len() - at);
            buf[..n].copy_from_slice(&v[at..at + n]);
            Ok(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::FakeMemory;
    use super::*;

    #[test]
    fn reader_windows_and_faults() {
        let mut m = FakeMemory::default();
        m.map(0x10000, 0x30000);
        m.put(0x10008, 42);
        m.put(0x3fff8, 7);
        let mut r = Reader::new(&m);
        assert_eq!(r.u64(0x10008, 0x40000), Ok(42));
        let before = m.reads.get();
        assert_eq!(r.u64(0x10010, 0x40000), Ok(0));
        assert_eq!(m.reads.get(), before, "served from the window");
        assert_eq!(r.u64(0x3fff8, 0x50000), Ok(7));
        assert_eq!(r.u64(0x3fffc, 0x50000), Err(ReadFail::Fault(0x40000)));
        assert_eq!(r.u64(0x50000, 0x60000), Err(ReadFail::Fault(0x50000)));
        assert_eq!(
            r.u64(u64::MAX - 3, u64::MAX),
            Err(ReadFail::Fault(u64::MAX - 3))
        );
        m.deny = true;
        let mut r = Reader::new(&m);
        assert_eq!(
            r.u64(0x10000, 0x40000),
            Err(ReadFail::Access(MemoryError::Denied))
        );
    }
}
