//! `/etc/ld.so.cache`, as glibc's dynamic loader reads it: the `glibc-ld.so.cache1.1` format
//! that `ldconfig` writes (alone since glibc 2.32, or after the old `ld.so-1.7.0` table on
//! older systems).
//!
//! Layout (native byte order): a 48-byte header — the 20-byte magic and version, `nlibs`
//! (u32), the string table's length (u32), a byte-order flag (2 little, 3 big), padding, the extension offset
//! and three unused words — then `nlibs` entries of 24 bytes: flags (i32), key and value
//! (u32 offsets from the header's first byte to the library's name and its path), an unused
//! OS version (u32) and a hwcap word (u64). The loader picks, among the entries with the
//! requested name, the one its flags and hwcaps prefer; vmpipe, which has to vet whatever the
//! loader could pick, returns every entry with that name (the caller drops files of another
//! machine, as the loader does).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::fsat::{self, LinkRule};

/// Where glibc's loader reads it.
pub const PATH: &str = "/etc/ld.so.cache";
/// Largest cache read (a system with every Debian library installed has < 1 MiB).
pub const MAX_CACHE_BYTES: u64 = 64 << 20;

const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const HEADER: usize = 48;
const ENTRY: usize = 24;
const OLD_ENTRY: usize = 12;

/// A loaded cache.
#[derive(Debug, Default)]
pub struct LdCache {
    /// The new-format part of the file, from its magic on.
    data: Vec<u8>,
    entries: usize,
}

impl LdCache {
    /// Reads [`PATH`]. No cache (or an unreadable one) is an empty cache, as for the loader.
    pub fn system() -> LdCache {
        let Ok(file) = fsat::open_input(Path::new(PATH), LinkRule::for_this_process()) else {
            return LdCache::default();
        };
        let mut data = Vec::new();
        if file.take(MAX_CACHE_BYTES).read_to_end(&mut data).is_err() {
            return LdCache::default();
        }
        LdCache::parse(data).unwrap_or_default()
    }

    /// Parses a cache file's bytes; `None` when it is not one the loader would use.
    pub fn parse(mut data: Vec<u8>) -> Option<LdCache> {
        if data.starts_with(OLD_MAGIC) {
            // The old table first: 12-byte magic, nlibs, 12-byte entries; the new header
            // follows, aligned to 8.
            let n = u32_at(&data, 12)? as usize;
            let end = 16usize.checked_add(n.checked_mul(OLD_ENTRY)?)?;
            let start = end.checked_add(7)? & !7;
            if !data.get(start..)?.starts_with(NEW_MAGIC) {
                return None;
            }
            data.drain(..start);
        }
        if !data.starts_with(NEW_MAGIC) {
            return None;
        }
        let flags = *data.get(28)?;
        let native = if cfg!(target_endian = "little") { 2 } else { 3 };
        if flags != 0 && flags != native {
            return None;
        }
        let entries = u32_at(&data, 20)? as usize;
        if HEADER.checked_add(entries.checked_mul(ENTRY)?)? > data.len() {
            return None;
        }
        Some(LdCache { data, entries })
    }

    /// Every path the cache gives for `name`, in the cache's order.
    pub fn lookup(&self, name: &[u8]) -> Vec<PathBuf> {
        use std::os::unix::ffi::OsStrExt;
        (0..self.entries)
            .filter_map(|i| {
                let at = HEADER + i * ENTRY;
                let key = self.string(u32_at(&self.data, at + 4)?)?;
                if key != name {
                    return None;
                }
                let value = self.string(u32_at(&self.data, at + 8)?)?;
                Some(PathBuf::from(std::ffi::OsStr::from_bytes(value)))
            })
            .collect()
    }

    fn string(&self, offset: u32) -> Option<&[u8]> {
        let rest = self.data.get(offset as usize..)?;
        let len = memchr::memchr(0, rest)?;
        Some(&rest[..len])
    }
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ldconfig -p`: glibc's own reading of the cache, `name (flags) => path` per entry.
    fn ldconfig() -> Vec<(String, PathBuf)> {
        let out = std::process::Command::new("/sbin/ldconfig")
            .arg("-p")
            .output()
            .expect("ldconfig (libc-bin)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| {
                let (left, path) = l.split_once(" => ")?;
                let name = left.trim().split(" (").next()?;
                Some((name.to_string(), PathBuf::from(path.trim())))
            })
            .collect()
    }

    #[test]
    fn the_system_cache_reads_as_ldconfig_reads_it() {
        let cache = LdCache::system();
        let want = ldconfig();
        assert!(want.len() > 10, "ldconfig -p listed {} entries", want.len());
        assert_eq!(cache.entries, want.len());
        for (name, path) in &want {
            let got = cache.lookup(name.as_bytes());
            assert!(
                got.contains(path),
                "{name}: {got:?}, ldconfig says {}",
                path.display()
            );
        }
        assert!(cache.lookup(b"libnot-a-library.so.0").is_empty());
    }

    #[test]
    fn a_truncated_or_foreign_cache_is_no_cache() {
        let whole = std::fs::read(PATH).unwrap();
        assert!(LdCache::parse(whole[..HEADER + 10].to_vec()).is_none());
        assert!(LdCache::parse(b"glibc-ld.so.cache1.1".to_vec()).is_none());
        assert!(LdCache::parse(b"something else entirely".to_vec()).is_none());
    }
}
