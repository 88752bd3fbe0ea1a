//! Reading fixtures: `/proc/PID/maps` and `smaps` texts, `/proc/PID/status` and `stat`, and
//! one process of a snapshot directory, read the way vmpipe reads them.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::fixture::{Fixture, Region, perm_bits};
use crate::ProcessStatus;

/// Why a fixture could not be read: the file (when it came from one), the line (1-based,
/// 0 when not about a line) and what is wrong.
#[derive(Debug)]
pub struct FixtureError {
    /// The file, for a snapshot.
    pub path: Option<PathBuf>,
    /// The line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}: ", p.display())?;
        }
        if self.line > 0 {
            write!(f, "line {}: ", self.line)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for FixtureError {}

fn bad(line: usize, message: impl Into<String>) -> FixtureError {
    FixtureError {
        path: None,
        line,
        message: message.into(),
    }
}

/// The smaps fields vmpipe gives plugins, by their [`usage`] slot, and whether the kernel
/// prints them in kB: the fields of [`USAGE_FIELDS`](crate::USAGE_FIELDS) the kernel prints,
/// which vmpipe's smaps parser reads too.
pub const SMAPS_FIELDS: [(&str, usize, bool); 23] = {
    let mut out = [("", 0, false); 23];
    let (mut i, mut n) = (0, 0);
    while i < crate::USAGE_FIELDS.len() {
        let s = crate::USAGE_FIELDS[i];
        if !s.smaps.is_empty() {
            out[n] = (s.smaps, s.field.slot(), s.kb);
            n += 1;
        }
        i += 1;
    }
    assert!(n == out.len());
    out
};

fn hex(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 16 {
        return None;
    }
    u64::from_str_radix(std::str::from_utf8(field).ok()?, 16).ok()
}

fn decimal(field: &[u8]) -> Option<u64> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// The next space-delimited token, leading spaces skipped.
fn token<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let s = *rest;
    let begin = s.iter().position(|&b| b != b' ')?;
    let s = &s[begin..];
    let len = s.iter().position(|&b| b == b' ').unwrap_or(s.len());
    *rest = &s[len..];
    Some(&s[..len])
}

/// The kernel's `\012` (a newline in a path) back to the byte.
fn decode_path(printed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(printed.len());
    let mut i = 0;
    while i < printed.len() {
        if printed[i..].starts_with(b"\\012") {
            out.push(b'\n');
            i += 4;
        } else {
            out.push(printed[i]);
            i += 1;
        }
    }
    out
}

/// One maps line: `START-END PERMS OFFSET MAJOR:MINOR INODE [PATH]`.
fn maps_line(line: &[u8], n: usize) -> Result<Region, FixtureError> {
    let mut rest = line;
    let field = |what: &str| bad(n, format!("bad {what} in maps line"));
    let range = token(&mut rest).ok_or_else(|| field("address range"))?;
    let dash = range
        .iter()
        .position(|&b| b == b'-')
        .ok_or_else(|| field("address range"))?;
    let start = hex(&range[..dash]).ok_or_else(|| field("start address"))?;
    let end = hex(&range[dash + 1..]).ok_or_else(|| field("end address"))?;
    if end < start {
        return Err(field("address range (end below start)"));
    }
    let perms = token(&mut rest)
        .and_then(perm_bits)
        .ok_or_else(|| field("permissions"))?;
    let offset = token(&mut rest)
        .and_then(hex)
        .ok_or_else(|| field("offset"))?;
    let dev = token(&mut rest).ok_or_else(|| field("device"))?;
    let colon = dev
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| field("device"))?;
    let number = |h: &[u8]| hex(h).and_then(|v| u32::try_from(v).ok());
    let major = number(&dev[..colon]).ok_or_else(|| field("device major"))?;
    let minor = number(&dev[colon + 1..]).ok_or_else(|| field("device minor"))?;
    let inode = token(&mut rest)
        .and_then(decimal)
        .ok_or_else(|| field("inode"))?;
    // The path runs from the first non-space to the end of the line (trailing spaces may be
    // part of the name).
    let printed = match rest.iter().position(|&b| b != b' ') {
        Some(i) => &rest[i..],
        None => &[][..],
    };
    let mut r = Region::new(start, end)
        .offset(offset)
        .device(major, minor)
        .inode(inode);
    r.perms = perms;
    // vmpipe classifies the path as printed, and gives plugins the decoded bytes.
    r.kind = Some(crate::RegionKind::classify(
        printed,
        perms & crate::abi::perms::SHARED != 0,
    ));
    if !printed.is_empty() {
        r.path = Some(decode_path(printed));
    }
    Ok(r)
}

fn lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    text.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.is_empty())
}

/// The regions of a maps text.
pub fn maps(text: &[u8]) -> Result<Vec<Region>, FixtureError> {
    lines(text).map(|(n, l)| maps_line(l, n)).collect()
}

fn trim(s: &[u8]) -> &[u8] {
    let s = s
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .map_or(&[][..], |i| &s[i..]);
    let end = s
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(0, |i| i + 1);
    &s[..end]
}

/// The regions of an smaps text.
pub fn smaps(text: &[u8]) -> Result<Vec<Region>, FixtureError> {
    let mut out: Vec<Region> = Vec::new();
    for (n, line) in lines(text) {
        // A field line's first token ends with ':'; a header's first token is `start-end`.
        let sep = line.iter().position(|&b| b == b':' || b == b' ');
        let Some(i) = sep.filter(|&i| line[i] == b':') else {
            out.push(maps_line(line, n)?);
            continue;
        };
        let (name, value) = (&line[..i], trim(&line[i + 1..]));
        let Some(region) = out.last_mut() else {
            return Err(bad(n, "a field before the first region"));
        };
        let bad_value = || {
            bad(
                n,
                format!(
                    "bad value {:?} for {}",
                    String::from_utf8_lossy(value),
                    String::from_utf8_lossy(name)
                ),
            )
        };
        if name == b"VmFlags" {
            let flags = std::str::from_utf8(value).map_err(|_| bad_value())?;
            region.vm_flags = Some(flags.to_string());
            continue;
        }
        let known = SMAPS_FIELDS.iter().find(|(f, _, _)| f.as_bytes() == name);
        let (digits, kb) = match value.strip_suffix(b" kB") {
            Some(d) => (trim(d), true),
            None => (value, false),
        };
        let number = decimal(digits);
        match (known, number) {
            (Some(&(_, slot, in_kb)), Some(v)) if in_kb == kb => {
                let bytes = if kb {
                    v.checked_mul(1024).ok_or_else(bad_value)?
                } else {
                    v
                };
                region.usage[slot] = Some(bytes);
            }
            (Some(_), _) => return Err(bad_value()),
            // `Size` repeats the header's range: checked for form only, as vmpipe does.
            (None, n) if name == b"Size" => {
                if n.is_none() || !kb {
                    return Err(bad_value());
                }
            }
            // A field vmpipe does not know: it gives plugins none of them.
            (None, _) => {}
        }
    }
    Ok(out)
}

/// The facts of `/proc/PID/status` vmpipe gives plugins.
#[derive(Default)]
pub struct StatusFacts {
    pub ppid: Option<u32>,
    pub uid: Option<u32>,
    pub threads: Option<u32>,
}

/// Reads `PPid`, `Uid` (the real one) and `Threads` of a status text.
pub fn status(text: &[u8]) -> Result<StatusFacts, FixtureError> {
    let mut facts = StatusFacts::default();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, rest) = (&line[..colon], &line[colon + 1..]);
        let first = rest
            .split(|&b| b == b'\t' || b == b' ')
            .find(|v| !v.is_empty())
            .unwrap_or(&[]);
        let number = || {
            decimal(first)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| {
                    bad(
                        n + 1,
                        format!("bad value for {}", String::from_utf8_lossy(name)),
                    )
                })
        };
        match name {
            b"PPid" => facts.ppid = Some(number()?),
            b"Uid" => facts.uid = Some(number()?),
            b"Threads" => facts.threads = Some(number()?),
            _ => {}
        }
    }
    Ok(facts)
}

/// `(comm, ppid, threads)` of a `/proc/PID/stat` line; the name is what lies between the
/// first `(` and the last `)`.
fn stat(text: &[u8]) -> Option<(Vec<u8>, u32, Option<u32>)> {
    let open = text.iter().position(|&b| b == b'(')?;
    let close = text.iter().rposition(|&b| b == b')')?;
    if close < open {
        return None;
    }
    let mut f = text[close + 1..]
        .split(|&b| b == b' ')
        .filter(|x| !x.is_empty());
    f.next()?;
    let ppid = f
        .next()
        .and_then(decimal)
        .and_then(|p| u32::try_from(p).ok())?;
    let threads = f
        .nth(15)
        .and_then(|t| decimal(trim(t)))
        .and_then(|t| u32::try_from(t).ok());
    Some((text[open + 1..close].to_vec(), ppid, threads))
}

/// Most bytes read of a snapshot's `maps` or `smaps` (vmpipe's own limit for them).
pub const MAP_FILE_LIMIT: u64 = 256 << 20;
/// Most bytes read of a snapshot's other files.
pub const SMALL_FILE_LIMIT: u64 = 1 << 20;

/// The file at `path`, `None` when it does not exist; refused past `limit` bytes.
fn read(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, FixtureError> {
    let err = |message: String| FixtureError {
        path: Some(path.to_path_buf()),
        line: 0,
        message,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e.to_string())),
    };
    let mut buf = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| err(e.to_string()))?;
    if buf.len() as u64 > limit {
        return Err(err(format!("larger than {limit} bytes")));
    }
    Ok(Some(buf))
}

fn at(path: PathBuf) -> impl Fn(FixtureError) -> FixtureError {
    move |mut e| {
        e.path = Some(path.clone());
        e
    }
}

/// One process of a snapshot directory.
pub fn snapshot(dir: &Path, pid: u32) -> Result<Fixture, FixtureError> {
    let proc = dir.join("proc").join(pid.to_string());
    if !proc.is_dir() {
        return Err(FixtureError {
            path: Some(proc),
            line: 0,
            message: "no such process in the snapshot".into(),
        });
    }
    let file = |name: &str, limit| read(&proc.join(name), limit);
    let mut f = match file("smaps", MAP_FILE_LIMIT)? {
        Some(t) => Fixture::from_smaps(pid, &t).map_err(at(proc.join("smaps")))?,
        None => match file("maps", MAP_FILE_LIMIT)? {
            Some(t) => Fixture::from_maps(pid, &t).map_err(at(proc.join("maps")))?,
            None => Fixture::new(pid),
        },
    };
    if let Some(t) = file("status", SMALL_FILE_LIMIT)? {
        f = f.status_file(&t).map_err(at(proc.join("status")))?;
    }
    let mut stat_comm = None;
    if let Some(t) = file("stat", SMALL_FILE_LIMIT)? {
        let (comm, ppid, threads) = stat(&t).ok_or_else(|| FixtureError {
            path: Some(proc.join("stat")),
            line: 1,
            message: "not a stat line".into(),
        })?;
        f.ppid = f.ppid.or(Some(ppid));
        f.threads = f.threads.or(threads);
        stat_comm = Some(comm);
    }
    f.name = match file("comm", SMALL_FILE_LIMIT)? {
        Some(t) => t.strip_suffix(b"\n").unwrap_or(&t).to_vec(),
        None => stat_comm.unwrap_or_default(),
    };
    if let Some(t) = file("cmdline", SMALL_FILE_LIMIT)? {
        f.cmdline = t;
    }
    f.exe = file("exe", SMALL_FILE_LIMIT)?;
    if let Some(t) = file("error", SMALL_FILE_LIMIT)? {
        let text = String::from_utf8_lossy(&t);
        f.status = match text.trim().split_once(": ") {
            Some(("denied", _)) => ProcessStatus::Denied,
            Some(("vanished", _)) => ProcessStatus::Vanished,
            _ => ProcessStatus::Partial,
        };
    }
    if let Some(vdso) = read(&dir.join("vdso"), SMALL_FILE_LIMIT)? {
        let range = f
            .regions
            .iter()
            .find(|r| r.region_kind() == crate::RegionKind::Vdso)
            .map(|r| (r.start, r.end - r.start));
        if let Some((start, _)) = range.filter(|(_, size)| *size == vdso.len() as u64) {
            f = f.memory(start, vdso);
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::usage;

    #[test]
    fn smaps_fields_land_in_their_slots() {
        let text = b"\
00400000-00401000 r-xp 00001000 08:01 1234                       /bin/a b\\012c (deleted)
Size:                  4 kB
Rss:                   4 kB
Pss:                   2 kB
THPeligible:           1
FutureField:          12 kB
VmFlags: rd ex mr mw me dw 
7ffd0000-7ffd2000 rw-p 00000000 00:00 0                          [stack]
Swap:                  8 kB
";
        let r = smaps(text).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].path.as_deref(), Some(&b"/bin/a b\nc (deleted)"[..]));
        assert_eq!((r[0].offset, r[0].dev, r[0].inode), (0x1000, (8, 1), 1234));
        assert_eq!(r[0].usage[usage::RSS], Some(4096));
        assert_eq!(r[0].usage[usage::PSS], Some(2048));
        assert_eq!(r[0].usage[usage::THP_ELIGIBLE], Some(1));
        assert_eq!(r[0].usage[usage::SWAP], None, "absent, not zero");
        assert_eq!(r[0].vm_flags.as_deref(), Some("rd ex mr mw me dw"));
        assert_eq!(r[1].region_kind(), crate::RegionKind::Stack);
        assert_eq!(r[1].usage[usage::SWAP], Some(8192));
        let e = smaps(b"1000-2000 r--p 0 08:01 1\nRss: many kB\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(smaps(b"Rss: 4 kB\n").is_err());
        assert!(smaps(b"1000-2000 r--q 0 08:01 1\n").is_err());
    }

    #[test]
    fn status_and_stat_give_the_facts() {
        let s = status(b"Name:\tx\nPPid:\t7\nUid:\t5\t6\t6\t6\nThreads:\t3\n").unwrap();
        assert_eq!((s.ppid, s.uid, s.threads), (Some(7), Some(5), Some(3)));
        assert!(status(b"PPid:\tseven\n").is_err());
        let (comm, ppid, threads) =
            stat(b"42 (a) b (c) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 3 0 1 2 3\n").unwrap();
        assert_eq!(
            (comm.as_slice(), ppid, threads),
            (&b"a) b (c"[..], 7, Some(3))
        );
    }
}
