//! Copying one process file into a snapshot: streamed (a fixed buffer, never the whole file
//! in memory), hashed on the way, and cut at a limit — at the end of the last complete record
//! before it, so that what is saved always parses.

use std::fs::File;
use std::io::{self, Read, Seek, Write};

use sha2::{Digest, Sha256};

/// Where a file's records begin, for cutting it at a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Records {
    /// Every line is a record (`maps`, `status`).
    Lines,
    /// A record begins at a line starting with a lowercase hex digit (the kernel's address
    /// range, `%08lx-%08lx`); the field lines after it (`Rss:`, `AnonHugePages:`, …: names
    /// that begin with a capital letter, some of them hex digits too) belong to it (`smaps`).
    Smaps,
    /// No structure (`cmdline`): cut at the limit itself.
    Bytes,
}

impl Records {
    /// True when a record may begin with `first` at the start of a line.
    fn begins(self, first: u8) -> bool {
        match self {
            Records::Lines | Records::Bytes => true,
            Records::Smaps => matches!(first, b'0'..=b'9' | b'a'..=b'f'),
        }
    }
}

/// What was copied.
#[derive(Debug)]
pub struct Copied {
    /// Bytes kept.
    pub len: u64,
    /// Their SHA-256.
    pub digest: [u8; 32],
    /// True when the source went on past the limit and was cut at `len`.
    pub truncated: bool,
}

/// The read buffer.
const CHUNK: usize = 1 << 18;

/// Copies `src` into `dst` (from its current position, which must be the start of an empty
/// file), reading at most `limit + 1` bytes. When the source goes past `limit`, `dst` is cut
/// back (`ftruncate`) to the last record boundary at or before `limit` (see [`Records`]).
pub fn copy(
    src: &mut impl Read,
    dst: &mut File,
    limit: u64,
    records: Records,
) -> io::Result<Copied> {
    let mut hasher = Sha256::new();
    // The last record boundary seen (offset, and the hash of everything before it).
    let mut boundary: (u64, Sha256) = (0, hasher.clone());
    let mut at_line_start = true;
    let mut total: u64 = 0;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let room = (limit + 1 - total).min(CHUNK as u64) as usize;
        if room == 0 {
            break;
        }
        let n = match src.read(&mut buf[..room]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        // Offsets up to `limit` are kept (`limit - total` of this chunk at most).
        let keep = chunk.len().min((limit - total.min(limit)) as usize);
        dst.write_all(&chunk[..keep])?;
        // Hash in pieces split at record boundaries, remembering the state at each.
        let mut from = 0;
        if records != Records::Bytes {
            let next_line = |p: usize| memchr::memchr(b'\n', &chunk[p..]).map(|k| p + k + 1);
            let mut line = if at_line_start { Some(0) } else { next_line(0) };
            while let Some(p) = line.filter(|&p| p < n && total + p as u64 <= limit) {
                if records.begins(chunk[p]) {
                    hasher.update(&chunk[from..p]);
                    from = p;
                    boundary = (total + p as u64, hasher.clone());
                }
                line = next_line(p);
            }
            at_line_start = chunk.last() == Some(&b'\n');
        }
        hasher.update(&chunk[from..keep]);
        total += n as u64;
    }
    if total <= limit {
        return Ok(Copied {
            len: total,
            digest: hasher.finalize().into(),
            truncated: false,
        });
    }
    let (len, state) = match records {
        Records::Bytes => (limit, hasher),
        _ => boundary,
    };
    dst.set_len(len)?;
    dst.seek(io::SeekFrom::Start(len))?;
    Ok(Copied {
        len,
        digest: state.finalize().into(),
        truncated: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], limit: u64, records: Records) -> (Vec<u8>, Copied) {
        let mut f = tempfile::tempfile().unwrap();
        let c = copy(&mut &input[..], &mut f, limit, records).unwrap();
        f.rewind().unwrap();
        let mut out = Vec::new();
        f.read_to_end(&mut out).unwrap();
        assert_eq!(out.len() as u64, c.len);
        assert_eq!(
            c.digest,
            <[u8; 32]>::from(Sha256::digest(&out)),
            "hash of what is kept"
        );
        (out, c)
    }

    const SMAPS: &[u8] = b"1000-2000 r--p 0 00:00 0 /a\nRss: 4 kB\nSize: 4 kB\n\
2000-3000 r--p 0 00:00 0 /b\nRss: 8 kB\nAnonymous: 0 kB\nFilePmdMapped: 0 kB\n\
3000-4000 rw-p 0 00:00 0\nRss: 0 kB\n";

    #[test]
    fn whole_files_are_copied_whole() {
        for records in [Records::Lines, Records::Smaps, Records::Bytes] {
            let (out, c) = run(SMAPS, SMAPS.len() as u64, records);
            assert_eq!(out, SMAPS);
            assert!(!c.truncated);
        }
    }

    #[test]
    fn a_file_past_the_limit_is_cut_after_its_last_complete_record() {
        let second = memchr::memmem::find(SMAPS, b"2000-").unwrap();
        let third = memchr::memmem::find(SMAPS, b"3000-").unwrap();
        let anonymous = memchr::memmem::find(SMAPS, b"Anonymous").unwrap() as u64;
        for limit in [
            second as u64,
            second as u64 + 1,
            anonymous,
            anonymous + 12,
            third as u64 - 1,
        ] {
            let (out, c) = run(SMAPS, limit, Records::Smaps);
            assert!(c.truncated);
            assert_eq!(out, &SMAPS[..second], "limit {limit}");
        }
        let (out, _) = run(SMAPS, third as u64, Records::Smaps);
        assert_eq!(out, &SMAPS[..third]);
        // Lines: every line is a record.
        let (out, c) = run(SMAPS, 30, Records::Lines);
        assert!(c.truncated);
        assert_eq!(out, &SMAPS[..28]);
        let (out, _) = run(SMAPS, 10, Records::Bytes);
        assert_eq!(out, &SMAPS[..10]);
        // Nothing fits: an empty file.
        let (out, c) = run(SMAPS, 5, Records::Smaps);
        assert!(c.truncated && out.is_empty());
    }

    #[test]
    fn records_spanning_reads_are_cut_right() {
        // Many records, each longer than one read chunk.
        let mut big = Vec::new();
        for i in 0..6u64 {
            big.extend_from_slice(format!("{:x}-{:x} r--p 0 00:00 0 /", i + 1, i + 2).as_bytes());
            big.extend(std::iter::repeat_n(b'x', CHUNK + 100));
            big.extend_from_slice(b"\nRss: 4 kB\n");
        }
        let rec = big.len() / 6;
        let (out, c) = run(&big, (rec * 3 + 7) as u64, Records::Smaps);
        assert!(c.truncated);
        assert_eq!(out, &big[..rec * 3]);
    }
}
