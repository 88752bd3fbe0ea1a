//! The tar layer of the capture reader, with the bytes it holds checked: the input is read
//! as a `.tar` and, gzip-compressed, as a `.tar.gz`; and, when its first byte says so, as a
//! list of members from which an archive with valid checksums is built (GNU long names and
//! long links, PAX local and global headers with `path` and `size` records, regular files,
//! directories), so that the fuzzer reaches the extension-header logic rather than stopping
//! at checksums. For every index built: each process file's span is at most its limit plus
//! one byte (nothing of a member is held in memory, and a spill holds no more than that),
//! the spans add up to at most the capture's total limit plus one file, and a read of each
//! file gives at most its limit.
#![no_main]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vmpipe_source::capture::index::{self, Content, Index};

fn scratch(ext: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("vmpipe-fuzz-tar-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch dir");
        d
    });
    dir.join(format!("input.{ext}"))
}

/// One member of a built archive: `[type, name length, size claim (2 bytes), data length,
/// name…, data…]`, the size claim scaled so that huge claims are reachable.
fn build(data: &[u8]) -> Vec<u8> {
    const TYPES: &[u8] = b"0L Kxg5";
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 5 {
        let typ = TYPES[rest[0] as usize % TYPES.len()];
        let name_len = rest[1] as usize % 160;
        let claim = u16::from_le_bytes([rest[2], rest[3]]) as u64;
        let data_len = rest[4] as usize * 8;
        rest = &rest[5..];
        let name = &rest[..name_len.min(rest.len())];
        rest = &rest[name.len()..];
        let body = &rest[..data_len.min(rest.len())];
        rest = &rest[body.len()..];
        let size = match claim >> 14 {
            0 => body.len() as u64,
            1 => claim & 0x3fff,
            2 => (claim & 0x3fff) << 20,
            _ => (claim & 0x3fff) << 30,
        };
        let mut h = tar::Header::new_gnu();
        let mut field = [0u8; 100];
        let n = name.len().min(100);
        field[..n].copy_from_slice(&name[..n]);
        h.as_old_mut().name = field;
        h.set_size(size);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::new(typ));
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(body);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out
}

fn check(path: &PathBuf) {
    let ix = match Index::open(path) {
        Ok(ix) => ix,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(!ix.processes.is_empty());
    let mut total = 0u64;
    let mut largest = 0u64;
    let entries = ix
        .processes
        .values()
        .flat_map(|files| files.values())
        .chain(ix.extra.values());
    for entry in entries {
        let Content::Span { len, .. } = &entry.content else {
            panic!("an archive member that is not a span: {entry:?}");
        };
        let gz = path.extension().is_some_and(|e| e == "gz");
        if gz {
            assert!(*len <= entry.limit + 1, "{} holds {len} bytes", entry.name);
        }
        total += (*len).min(entry.limit);
        largest = largest.max(entry.limit);
        if let Ok(mut r) = entry.reader() {
            let mut n = 0u64;
            let mut buf = [0u8; 1 << 16];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => n += k as u64,
                }
            }
            assert!(n <= entry.limit, "{} read {n} bytes", entry.name);
        }
    }
    assert!(total <= index::MAX_TOTAL + largest, "{total} bytes held");
}

fuzz_target!(|data: &[u8]| {
    let tar = match data.first() {
        Some(b'B') => build(&data[1..]),
        _ => data.to_vec(),
    };
    let plain = scratch("tar");
    std::fs::write(&plain, &tar).expect("write the scratch file");
    check(&plain);
    let gz = scratch("tar.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&tar).expect("gzip");
    std::fs::write(&gz, enc.finish().expect("gzip")).expect("write the scratch file");
    check(&gz);
});
