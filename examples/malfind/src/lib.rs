//! # malfind — a vmpipe plugin that hunts injected code
//!
//! In the spirit of Volatility's `malfind`: code that was loaded the normal way lives in
//! read-only, executable mappings of files that are still on disk. Anything else that can run
//! deserves a look:
//!
//! | reason         | what it flags                                                       |
//! |----------------|---------------------------------------------------------------------|
//! | `write-exec`   | a region both writable and executable (shellcode staging, JITs)     |
//! | `anon-exec`    | executable memory backed by no file (reflective loading, shellcode) |
//! | `deleted-exec` | an executable mapping of a file deleted from disk (dropped payload) |
//! | `memfd-exec`   | an executable mapping of a `memfd_create` file (fileless payload)   |
//!
//! The vDSO and vsyscall pages are the kernel's own and never flagged. For every flagged
//! region the plugin reads the region's first bytes through the host's memory service and
//! says what they look like: `elf-header`, `code` (a common function prologue), `zeros`, or
//! `data`; when memory cannot be read (a capture, a refused process) it says why.
//!
//! Emits a region column `injection` (the reasons, `+`-joined) and two tables:
//! `findings` (one row per flagged region) and `findings_summary` (per reason, across the run).
//!
//! It reads the `image` and `segment` columns of the built-in `image-attribution` analyzer
//! (so a pipeline using malfind needs `image-attribution` too; vmpipe runs it first): each
//! finding names the image it belongs to or, for memory no file backs, the image it lies next
//! to — where shellcode was written, or a library's code was copied.
//!
//! Options: `bytes` (how many first bytes to read, 1–4096, default 32) and `ignore`
//! (process names to skip, e.g. JIT runtimes you trust: `ignore = ["java", "node"]`).
//!
//! This crate is meant to be copied: it shows a schema, option checking, region columns,
//! per-process and run-wide tables, another analyzer's columns, thread-safe shared state,
//! and memory reads.

use std::collections::BTreeMap;
use std::sync::Mutex;

use vmpipe_plugin::{
    Analyzer, Host, MemoryError, OptionError, OptionValue, Options, Process, Region, RegionKind,
    Regions, Schema, Value,
};

/// Why a region is suspicious.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// Writable and executable.
    WriteExec,
    /// Executable and backed by no file.
    AnonExec,
    /// Executable mapping of a deleted file.
    DeletedExec,
    /// Executable mapping of a memfd.
    MemfdExec,
}

impl Reason {
    /// The name used in the output.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::WriteExec => "write-exec",
            Reason::AnonExec => "anon-exec",
            Reason::DeletedExec => "deleted-exec",
            Reason::MemfdExec => "memfd-exec",
        }
    }
}

/// The reasons a region is suspicious (empty for ordinary regions).
pub fn reasons(r: &Region) -> Vec<Reason> {
    let mut out = Vec::new();
    if !r.executable() || matches!(r.kind(), RegionKind::Vdso | RegionKind::Vsyscall) {
        return out;
    }
    if r.writable() {
        out.push(Reason::WriteExec);
    }
    match r.kind() {
        RegionKind::Anon | RegionKind::Heap | RegionKind::Stack => out.push(Reason::AnonExec),
        RegionKind::Memfd => out.push(Reason::MemfdExec),
        _ if r.deleted() => out.push(Reason::DeletedExec),
        _ => {}
    }
    out
}

/// What the first bytes of a region look like.
pub fn looks_like(bytes: &[u8]) -> &'static str {
    // Function prologues compilers emit at the start of code:
    // x86-64: endbr64; push rbp + mov rbp,rsp; sub rsp,imm8; push rbx/r12–r15 (REX);
    // aarch64: paciasp / bti c; stp x29,x30,[sp,#-N]!.
    const PROLOGUES: &[&[u8]] = &[
        b"\xf3\x0f\x1e\xfa",
        b"\x55\x48\x89\xe5",
        b"\x48\x83\xec",
        b"\x41\x57",
        b"\x41\x56",
        b"\x41\x55",
        b"\x41\x54",
        b"\x3f\x23\x03\xd5",
        b"\x5f\x24\x03\xd5",
        b"\xfd\x7b\xbf\xa9",
    ];
    if bytes.is_empty() {
        "empty"
    } else if bytes.starts_with(b"\x7fELF") {
        "elf-header"
    } else if bytes.iter().all(|&b| b == 0) {
        "zeros"
    } else if PROLOGUES.iter().any(|p| bytes.starts_with(p)) {
        "code"
    } else {
        "data"
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The analyzer.
pub struct Malfind {
    bytes: usize,
    ignore: Vec<Vec<u8>>,
    /// Per reason: (processes seen, regions, bytes). Shared by every thread.
    summary: Mutex<BTreeMap<Reason, (u64, u64, u64)>>,
}

vmpipe_plugin::region_columns! {
    REGION_COLUMNS = [
        INJECTION: Text = (
            "injection",
            "why the region is suspicious (write-exec, anon-exec, deleted-exec, memfd-exec; + joins several)"
        ),
    ];
}

vmpipe_plugin::inputs! {
    READS = [
        /// The image a region belongs to (image-attribution).
        IMAGE: Bytes = ("image-attribution", "image"),
        /// The part of that image (image-attribution).
        SEGMENT: Text = ("image-attribution", "segment"),
    ];
}

vmpipe_plugin::tables! {
    TABLES = [
        FINDINGS: Process (
            "findings",
            "one suspicious executable region"
        ) {
            "start": Address = "first address",
            "end": Address = "one past the last address",
            "perms": Text = "permissions as the kernel prints them",
            "path": Bytes = "mapped file, if any",
            "reason": Text = "why it is suspicious (+ joins several)",
            "first_bytes_hex": Text = "the region's first bytes, read from the process",
            "looks_like": Text = "elf-header, code, zeros, data — or why memory could not be read",
            "image": Bytes = "the image the region belongs to, else the one of the nearest region below it (or above): where the code was put",
            "segment": Text = "that image's part (text, data, bss…) in the region named by `image`",
            "image_at": Text = "self (the region is part of the image), below, or above",
        },
        SUMMARY: Run (
            "findings_summary",
            "per reason, across every process swept"
        ) {
            "reason": Text = "why regions were flagged",
            "processes": U64 = "processes with at least one such region",
            "regions": U64 = "regions flagged",
            "bytes": U64 = "virtual bytes flagged",
        },
    ];
}

impl Analyzer for Malfind {
    const SCHEMA: Schema = Schema::new(
        "malfind",
        "1.0.0",
        "flags executable memory that no file on disk explains: write+exec, anonymous, deleted or memfd code",
    )
    .region_columns(REGION_COLUMNS)
    .tables(TABLES)
    .reads(READS);

    fn create(options: &Options) -> vmpipe_plugin::Result<Self> {
        options.only(&["bytes", "ignore"])?;
        let bytes = match options.integer("bytes")? {
            None => 32,
            Some(n @ 1..=4096) => n as usize,
            Some(n) => {
                return Err(OptionError::new(
                    "bytes",
                    format!("option `bytes` must be between 1 and 4096, not {n}"),
                )
                .into());
            }
        };
        let ignore = match options.get("ignore") {
            None => Vec::new(),
            Some(OptionValue::Array(items)) => items
                .iter()
                .map(|i| match i {
                    OptionValue::String(s) => Ok(s.as_bytes().to_vec()),
                    other => Err(OptionError::new(
                        "ignore",
                        format!(
                            "option `ignore` must list process names, found a {}",
                            other.type_name()
                        ),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(OptionError::new(
                    "ignore",
                    format!(
                        "option `ignore` must be an array of process names, found a {}",
                        other.type_name()
                    ),
                )
                .into());
            }
        };
        Ok(Malfind {
            bytes,
            ignore,
            summary: Mutex::new(BTreeMap::new()),
        })
    }

    fn analyze(
        &self,
        process: &Process<'_>,
        regions: &Regions<'_>,
        host: &mut Host<'_>,
    ) -> vmpipe_plugin::Result {
        let regions: Vec<Region> = regions.iter().collect();
        if self.ignore.iter().any(|n| n.as_slice() == process.name()) {
            return Ok(());
        }
        let mut seen: Vec<Reason> = Vec::new();
        let mut counts: Vec<(Reason, u64)> = Vec::new();
        for (i, r) in regions.iter().enumerate() {
            let why = reasons(r);
            let r = *r;
            if why.is_empty() {
                continue;
            }
            let reason = why.iter().map(|w| w.as_str()).collect::<Vec<_>>().join("+");
            host.set(i, INJECTION, reason.as_str())?;

            let want = (self.bytes as u64).min(r.size()) as usize;
            let mut buf = vec![0u8; want];
            let (first, look) = match host.read_memory(r.start(), &mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    (Some(hex(&buf)), looks_like(&buf).to_string())
                }
                Err(MemoryError::Unavailable) => {
                    (None, "unread: no memory in this source".to_string())
                }
                Err(e) => (None, format!("unread: {e}")),
            };
            let (image, at) = match nearest_image(&regions, i) {
                Some((n, at)) => (Some(n), Some(at)),
                None => (None, None),
            };
            host.row(
                FINDINGS,
                [
                    Value::Address(r.start()),
                    Value::Address(r.end()),
                    Value::Text(&r.perms()),
                    Value::from(r.path()),
                    Value::Text(&reason),
                    Value::from(first.as_deref()),
                    Value::Text(&look),
                    Value::from(image.and_then(|n| n.input(IMAGE))),
                    Value::from(image.and_then(|n| n.input(SEGMENT))),
                    Value::from(at),
                ],
            )?;
            for w in why {
                if !seen.contains(&w) {
                    seen.push(w);
                }
                counts.push((w, r.size()));
            }
        }
        if !counts.is_empty() {
            let mut summary = self.summary.lock().unwrap_or_else(|e| e.into_inner());
            for w in &seen {
                summary.entry(*w).or_default().0 += 1;
            }
            for (w, size) in counts {
                let e = summary.entry(w).or_default();
                e.1 += 1;
                e.2 += size;
            }
        }
        Ok(())
    }

    fn finish(&self, host: &mut Host<'_>) -> vmpipe_plugin::Result {
        let summary = self.summary.lock().unwrap_or_else(|e| e.into_inner());
        for (reason, (processes, regions, bytes)) in summary.iter() {
            host.row(
                SUMMARY,
                [
                    Value::Text(reason.as_str()),
                    Value::U64(*processes),
                    Value::U64(*regions),
                    Value::U64(*bytes),
                ],
            )?;
        }
        Ok(())
    }
}

/// The region whose image names where region `i` lies: `i` itself when image-attribution
/// gave it an image, else the nearest region below it with one (by address gap), else the
/// nearest above; with which of the three it is.
fn nearest_image<'r>(regions: &[Region<'r>], i: usize) -> Option<(Region<'r>, &'static str)> {
    let here = regions.get(i)?;
    if here.input(IMAGE).is_some() {
        return Some((*here, "self"));
    }
    let below = regions[..i].iter().rev().find(|r| r.input(IMAGE).is_some());
    let above = regions[i + 1..].iter().find(|r| r.input(IMAGE).is_some());
    match (below, above) {
        (Some(b), Some(a)) => {
            let gap_below = here.start().saturating_sub(b.end());
            let gap_above = a.start().saturating_sub(here.end());
            Some(if gap_below <= gap_above {
                (*b, "below")
            } else {
                (*a, "above")
            })
        }
        (Some(b), None) => Some((*b, "below")),
        (None, Some(a)) => Some((*a, "above")),
        (None, None) => None,
    }
}

vmpipe_plugin::export!(Malfind);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bytes_are_recognised() {
        assert_eq!(looks_like(b"\x7fELF\x02\x01\x01"), "elf-header");
        assert_eq!(looks_like(b"\xf3\x0f\x1e\xfa\x55\x48"), "code");
        assert_eq!(looks_like(b"\x55\x48\x89\xe5\x48\x83"), "code");
        assert_eq!(looks_like(&[0; 16]), "zeros");
        assert_eq!(looks_like(b"hello world"), "data");
        assert_eq!(looks_like(b""), "empty");
        assert_eq!(hex(b"\x00\xab\x7f"), "00ab7f");
    }

    use vmpipe_plugin::testing::{self, Fixture, OwnedValue as O, Region as R};

    fn options(entries: Vec<(&str, OptionValue)>) -> Options {
        Options::from_entries(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    #[test]
    fn options_are_checked_through_the_abi() {
        assert!(testing::Harness::create::<Malfind>(&options(vec![])).is_ok());
        let refused = |entries| {
            let Err(out) = testing::Harness::create::<Malfind>(&options(entries)) else {
                panic!("created");
            };
            assert_eq!(out.errors.len(), 1, "{out:#?}");
            let e = out.errors[0].clone();
            assert_eq!(e.stage, testing::Stage::Create);
            (e.option.unwrap_or_default(), e.message)
        };
        let (key, why) = refused(vec![("bytes", OptionValue::Integer(0))]);
        assert_eq!(key, "bytes");
        assert!(why.contains("between 1 and 4096"), "{why}");
        let (key, why) = refused(vec![("byte", OptionValue::Integer(8))]);
        assert_eq!(key, "byte");
        assert!(why.contains("unknown option `byte`"), "{why}");
        let (key, why) = refused(vec![("ignore", OptionValue::String("java".into()))]);
        assert_eq!(key, "ignore");
        assert!(why.contains("array"), "{why}");
        let (key, _) = refused(vec![(
            "ignore",
            OptionValue::Array(vec![OptionValue::Integer(1)]),
        )]);
        assert_eq!(key, "ignore");
    }

    /// A library, injected code two pages above it, a deleted executable and a memfd.
    fn process() -> Fixture {
        let code = b"\x55\x48\x89\xe5\x48\x83\xec\x10".to_vec();
        Fixture::new(42)
            .name("victim")
            .region(
                R::new(0x10000, 0x11000)
                    .perms("r-xp")
                    .path("/lib/libv.so")
                    .inode(7),
            )
            .region(R::new(0x13000, 0x14000).perms("rwxp"))
            .region(
                R::new(0x20000, 0x21000)
                    .perms("r-xp")
                    .path("/tmp/x (deleted)"),
            )
            .region(
                R::new(0x30000, 0x31000)
                    .perms("r-xs")
                    .path("/memfd:jit (deleted)"),
            )
            .region(R::new(0x40000, 0x41000).perms("rw-p"))
            .memory(0x13000, code)
            .input(
                "image-attribution",
                "image",
                vec![O::Bytes(b"/lib/libv.so".to_vec())],
            )
            .input("image-attribution", "segment", vec![O::from("text")])
    }

    #[test]
    fn findings_name_the_reason_the_bytes_and_the_image_next_to_them() {
        let out = testing::run_with::<Malfind>(
            &options(vec![("bytes", OptionValue::Integer(4))]),
            &process(),
        );
        assert!(out.is_clean(), "{out:#?}");
        assert_eq!(
            out.column("injection"),
            [
                O::Absent,
                O::from("write-exec+anon-exec"),
                O::from("deleted-exec"),
                O::from("memfd-exec"),
                O::Absent
            ]
        );
        let f = out.rows("findings");
        assert_eq!(f.len(), 3);
        // The injected code: its first 4 bytes read through read_memory, the library below.
        assert_eq!(
            f[0],
            [
                O::Address(0x13000),
                O::Address(0x14000),
                O::from("rwxp"),
                O::Absent,
                O::from("write-exec+anon-exec"),
                O::from("554889e5"),
                O::from("code"),
                O::Bytes(b"/lib/libv.so".to_vec()),
                O::from("text"),
                O::from("below"),
            ]
        );
        // No memory there: a fault, said as such.
        assert_eq!(
            f[1][6],
            O::from("unread: address not mapped in the process")
        );
        let summary = out.rows("findings_summary");
        assert_eq!(summary.len(), 4, "{summary:#?}");
        assert_eq!(
            summary[0],
            [O::from("write-exec"), O::U64(1), O::U64(1), O::U64(0x1000)]
        );
    }

    #[test]
    fn ignored_processes_and_evidence_without_memory() {
        let ignore = options(vec![(
            "ignore",
            OptionValue::Array(vec![OptionValue::String("victim".into())]),
        )]);
        let out = testing::run_with::<Malfind>(&ignore, &process());
        assert!(out.rows("findings").is_empty() && out.rows("findings_summary").is_empty());
        let mut evidence = process();
        evidence = Fixture::new(evidence.pid())
            .name("victim")
            .region(evidence.regions()[1].clone())
            .input("image-attribution", "image", vec![])
            .input("image-attribution", "segment", vec![]);
        let out = testing::run::<Malfind>(&evidence);
        let f = out.rows("findings");
        assert_eq!(f[0][6], O::from("unread: no memory in this source"));
        assert_eq!((f[0][7].clone(), f[0][9].clone()), (O::Absent, O::Absent));
    }
}
