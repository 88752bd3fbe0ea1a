//! Which allocator a process uses, told from what it maps; and which glibc it runs.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::{ReadFail, Reader, Span};

/// The identity of a mapped file: device and inode.
pub type FileId = ((u32, u32), u64);

/// Another allocator found in the process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Other {
    /// Its name (`jemalloc`, `musl`, `go`, …).
    pub allocator: &'static str,
    /// What gave it away.
    pub evidence: String,
}

/// File-name prefixes of allocator libraries, and the allocator each one names.
const LIBRARIES: &[(&[u8], &str)] = &[
    (b"libjemalloc", "jemalloc"),
    (b"libtcmalloc", "tcmalloc"),
    (b"libmimalloc", "mimalloc"),
    (b"libsnmalloc", "snmalloc"),
    (b"libhoard", "hoard"),
    (b"ld-musl-", "musl"),
    (b"libc.musl-", "musl"),
    (b"libjvm.so", "jvm"),
];

/// Where the Go runtime on linux/amd64 puts its first heap arena (`0x00c0 << 32`).
pub const GO_ARENA_HINT: u64 = 0x00c0 << 32;

/// glibc's `libc.so.6` (or an old-style `libc-2.NN.so`), when mapped.
pub fn glibc(spans: &[Span]) -> Option<FileId> {
    spans.iter().find_map(|s| {
        let name = s.file_name()?;
        let is_libc =
            name == b"libc.so.6" || (name.starts_with(b"libc-2.") && name.ends_with(b".so"));
        is_libc.then_some((s.dev, s.inode))
    })
}

/// Every other allocator the regions give away, once each, in the order of the table.
pub fn others(spans: &[Span]) -> Vec<Other> {
    let mut found: Vec<Other> = Vec::new();
    let mut add = |allocator: &'static str, evidence: String| {
        if !found.iter().any(|o| o.allocator == allocator) {
            found.push(Other {
                allocator,
                evidence,
            });
        }
    };
    for s in spans {
        if let Some(name) = s.file_name() {
            for (prefix, allocator) in LIBRARIES {
                if name.starts_with(prefix) {
                    add(
                        allocator,
                        format!("{} is mapped", String::from_utf8_lossy(name)),
                    );
                }
            }
        }
        if s.start == GO_ARENA_HINT && s.private_anon() {
            add(
                "go",
                format!(
                    "anonymous memory at {GO_ARENA_HINT:#x}, where the Go runtime puts its heap"
                ),
            );
        }
    }
    let order = |a: &str| {
        LIBRARIES
            .iter()
            .position(|(_, n)| *n == a)
            .unwrap_or(LIBRARIES.len())
    };
    found.sort_by_key(|o| order(o.allocator));
    found
}

/// The spans of the file `id`.
pub fn spans_of<'s, 'a>(spans: &'s [Span<'a>], id: FileId) -> impl Iterator<Item = &'s Span<'a>> {
    spans
        .iter()
        .filter(move |s| s.path.is_some() && (s.dev, s.inode) == id)
}

/// Checks that the file `id`, as mapped, starts with a 64-bit x86-64 ELF header.
pub fn check_elf(reader: &mut Reader, spans: &[Span], id: FileId) -> Result<(), CheckFail> {
    let Some(head) = spans_of(spans, id).find(|s| s.offset == 0 && s.read) else {
        return Err(CheckFail::No(
            "libc's ELF header is not mapped readable".to_string(),
        ));
    };
    let mut h = [0u8; 20];
    reader.read(head.start, &mut h, head.end)?;
    if &h[..4] != b"\x7fELF" {
        return Err(CheckFail::No(
            "libc's first page is not an ELF header".into(),
        ));
    }
    let machine = u16::from_le_bytes([h[18], h[19]]);
    if h[4] != 2 || h[5] != 1 || machine != 62 {
        return Err(CheckFail::No(format!(
            "libc is not a 64-bit x86-64 ELF (class {}, machine {machine}): only x86-64 processes are supported",
            h[4]
        )));
    }
    Ok(())
}

/// A check that could not be done, or failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckFail {
    /// Reading failed.
    Read(ReadFail),
    /// The check failed, for this reason.
    No(String),
}

impl From<ReadFail> for CheckFail {
    fn from(e: ReadFail) -> Self {
        CheckFail::Read(e)
    }
}

/// The start of glibc's version banner (`csu/version.c`), in libc's read-only data.
const BANNER: &[u8] = b"GNU C Library";
/// What precedes the version number in the banner.
const RELEASE: &[u8] = b"release version ";
/// The most bytes of libc read while looking for the banner.
const BANNER_SCAN_MAX: u64 = 16 << 20;

/// What one process taught about each libc file (by device and inode), so the next process
/// mapping the same file needs one small read to confirm it rather than a scan: where the
/// version banner is (file offset), and where `main_arena` is (from the load address).
#[derive(Default)]
pub struct LibcCache {
    offsets: Mutex<HashMap<FileId, u64>>,
    arenas: Mutex<HashMap<FileId, u64>>,
}

/// Parses `major.minor` after "release version " in a banner.
pub fn parse_banner(b: &[u8]) -> Option<(u32, u32)> {
    let b = &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())];
    if !b.starts_with(BANNER) {
        return None;
    }
    let at = b.windows(RELEASE.len()).position(|w| w == RELEASE)? + RELEASE.len();
    let rest = &b[at..];
    let num = |s: &[u8]| -> Option<(u32, usize)> {
        let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 4 {
            return None;
        }
        Some((std::str::from_utf8(&s[..n]).ok()?.parse().ok()?, n))
    };
    let (major, n) = num(rest)?;
    if rest.get(n) != Some(&b'.') {
        return None;
    }
    let (minor, _) = num(&rest[n + 1..])?;
    Some((major, minor))
}

impl LibcCache {
    /// Where `main_arena` was found in an earlier process mapping libc file `id`, as a distance
    /// from the address libc's first page is mapped at.
    pub fn main_arena(&self, id: FileId) -> Option<u64> {
        self.arenas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .copied()
    }

    /// Remembers where `main_arena` is in libc file `id` (see [`LibcCache::main_arena`]).
    pub fn remember_main_arena(&self, id: FileId, from_base: u64) {
        self.arenas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, from_base);
    }

    /// The glibc version of the libc file `id` as the process maps it, read from the banner
    /// in its read-only data.
    pub fn version(
        &self,
        reader: &mut Reader,
        spans: &[Span],
        id: FileId,
    ) -> Result<(u32, u32), CheckFail> {
        let ro: Vec<&Span> = spans_of(spans, id)
            .filter(|s| s.read && !s.write && !s.exec)
            .collect();
        let cached = self
            .offsets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .copied();
        if let Some(off) = cached {
            for s in &ro {
                if off >= s.offset && off - s.offset < s.size() {
                    let addr = s.start + (off - s.offset);
                    let len = (s.end - addr).min(256) as usize;
                    if let Ok(b) = reader.bytes(addr, len)
                        && let Some(v) = parse_banner(&b)
                    {
                        return Ok(v);
                    }
                }
            }
        }
        let mut scanned = 0u64;
        for s in &ro {
            let mut at = s.start;
            while at < s.end && scanned < BANNER_SCAN_MAX {
                let len = (s.end - at).min(64 << 10) as usize;
                let chunk = reader.bytes(at, len)?;
                scanned += len as u64;
                let mut from = 0;
                while let Some(i) = memchr::memmem::find(&chunk[from..], BANNER) {
                    let addr = at + (from + i) as u64;
                    let blen = (s.end - addr).min(256) as usize;
                    let b = reader.bytes(addr, blen)?;
                    if let Some(v) = parse_banner(&b) {
                        let off = s.offset + (addr - s.start);
                        self.offsets
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(id, off);
                        return Ok(v);
                    }
                    from += i + 1;
                }
                // Step back so a banner cut by the window's end is found in the next one.
                if at + len as u64 >= s.end {
                    break;
                }
                at += (len - BANNER.len()) as u64;
            }
        }
        Err(CheckFail::No(
            "glibc's version banner was not found in libc's read-only data".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmpipe_plugin::RegionKind;

    pub fn file<'a>(start: u64, end: u64, perms: &str, path: &'a [u8], inode: u64) -> Span<'a> {
        let p = perms.as_bytes();
        Span {
            start,
            end,
            read: p[0] == b'r',
            write: p[1] == b'w',
            exec: p[2] == b'x',
            shared: p[3] == b's',
            kind: RegionKind::File,
            path: Some(path),
            dev: (8, 1),
            inode,
            offset: 0,
            rss: None,
            dirty: None,
            swap: None,
        }
    }

    #[test]
    fn banners() {
        assert_eq!(
            parse_banner(
                b"GNU C Library (Debian GLIBC 2.36-9+deb12u14) stable release version 2.36.\n"
            ),
            Some((2, 36))
        );
        assert_eq!(
            parse_banner(b"GNU C Library (GNU libc) development release version 2.39.9000.\0x"),
            Some((2, 39))
        );
        assert_eq!(parse_banner(b"GNU C Library release version 2"), None);
        assert_eq!(parse_banner(b"GNU C Library\0 release version 2.36"), None);
        assert_eq!(parse_banner(b"XNU C Library release version 2.36"), None);
        assert_eq!(parse_banner(b"GNU C Library release version 99999.1"), None);
    }

    #[test]
    fn allocators_by_mapping() {
        let spans = [
            file(0x1000, 0x2000, "r--p", b"/usr/lib/libjemalloc.so.2", 1),
            file(
                0x3000,
                0x4000,
                "r--p",
                b"/lib/x86_64-linux-gnu/libc.so.6",
                2,
            ),
            file(0x5000, 0x6000, "r--p", b"/lib/ld-musl-x86_64.so.1", 3),
            file(0x7000, 0x8000, "r--p", b"/usr/lib/libjemalloc.so.2", 1),
        ];
        assert_eq!(glibc(&spans), Some(((8, 1), 2)));
        let o = others(&spans);
        assert_eq!(
            o.iter().map(|o| o.allocator).collect::<Vec<_>>(),
            ["jemalloc", "musl"]
        );
        assert_eq!(o[0].evidence, "libjemalloc.so.2 is mapped");
        let mut go = file(GO_ARENA_HINT, GO_ARENA_HINT + 0x400000, "rw-p", b"", 0);
        go.kind = RegionKind::Anon;
        go.path = None;
        assert_eq!(others(&[go])[0].allocator, "go");
        assert!(glibc(&[file(0, 1, "r--p", b"/x/libc.so.6.bak", 1)]).is_none());
        assert!(glibc(&[file(0, 1, "r--p", b"/lib/libc-2.31.so", 1)]).is_some());
    }
}
