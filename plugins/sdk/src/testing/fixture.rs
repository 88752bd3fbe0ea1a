//! What the harness shows an analyzer: one process, its regions, optionally its memory and
//! files, and the values of other analyzers' columns.

use std::collections::BTreeMap;
use std::path::Path;

use super::Outcome;
use super::parse::{self, FixtureError};
use super::value::OwnedValue;
use crate::abi::{self, perms, usage};
use crate::{ProcessStatus, RegionKind, ReportedZone};

/// One region of a [`Fixture`], built like `/proc/PID/maps` describes one:
///
/// ```
/// use vmpipe_plugin::testing::Region;
/// let r = Region::new(0x1000, 0x3000)
///     .perms("r-xp")
///     .offset(0x1000)
///     .device(8, 1)
///     .inode(42)
///     .path("/usr/lib/libc.so.6")
///     .rss(8192);
/// assert_eq!(r.start(), 0x1000);
/// ```
///
/// Its kind is classified from the path as vmpipe classifies it (`[heap]`, `[stack]`,
/// `[vdso]`, `[vvar]`, `[vsyscall]`, `/memfd:`, `/SYSV…`, `anon_inode:`, other `[…]`), unless
/// set with [`Region::kind`].
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) offset: u64,
    pub(crate) inode: u64,
    pub(crate) dev: (u32, u32),
    pub(crate) perms: u32,
    pub(crate) kind: Option<RegionKind>,
    pub(crate) path: Option<Vec<u8>>,
    pub(crate) vm_flags: Option<String>,
    pub(crate) usage: [Option<u64>; usage::SLOTS],
    pub(crate) region_type: Option<String>,
    pub(crate) share_mode: Option<String>,
    pub(crate) max_perms: Option<[u8; 3]>,
    pub(crate) detail: Option<String>,
}

/// The permission bits of a maps permission field (`r-xp`), `None` if it is not one.
pub(crate) fn perm_bits(field: &[u8]) -> Option<u32> {
    let [r, w, x, s] = field else {
        return None;
    };
    let flag = |c: u8, yes: u8, bit: u32| match c {
        b'-' => Some(0),
        c if c == yes => Some(bit),
        _ => None,
    };
    Some(
        flag(*r, b'r', perms::READ)?
            | flag(*w, b'w', perms::WRITE)?
            | flag(*x, b'x', perms::EXEC)?
            | match s {
                b's' => perms::SHARED,
                b'p' => 0,
                _ => return None,
            },
    )
}

impl Region {
    /// A private anonymous region `[start, end)` with no access (`---p`) and no residency
    /// figures.
    pub fn new(start: u64, end: u64) -> Region {
        Region {
            start,
            end,
            offset: 0,
            inode: 0,
            dev: (0, 0),
            perms: 0,
            kind: None,
            path: None,
            vm_flags: None,
            usage: [None; usage::SLOTS],
            region_type: None,
            share_mode: None,
            max_perms: None,
            detail: None,
        }
    }

    /// The permissions as maps prints them (`r-xp`, `rw-s`).
    ///
    /// # Panics
    /// When `perms` is not four characters of that form (a mistake in the test).
    pub fn perms(mut self, perms: &str) -> Region {
        self.perms = perm_bits(perms.as_bytes())
            .unwrap_or_else(|| panic!("{perms:?} is not a maps permission field such as r-xp"));
        self
    }

    /// The file offset.
    pub fn offset(mut self, offset: u64) -> Region {
        self.offset = offset;
        self
    }

    /// The device of the mapped file.
    pub fn device(mut self, major: u32, minor: u32) -> Region {
        self.dev = (major, minor);
        self
    }

    /// The inode of the mapped file.
    pub fn inode(mut self, inode: u64) -> Region {
        self.inode = inode;
        self
    }

    /// The path as the kernel prints it (raw bytes; keep a ` (deleted)` suffix).
    pub fn path(mut self, path: impl AsRef<[u8]>) -> Region {
        self.path = Some(path.as_ref().to_vec());
        self
    }

    /// The kind, instead of the one classified from the path.
    pub fn kind(mut self, kind: RegionKind) -> Region {
        self.kind = Some(kind);
        self
    }

    /// The smaps `VmFlags` codes (`rd wr mr mw me ac`); the maximum permissions follow from
    /// `mr`/`mw`/`me` unless set with [`Region::max_perms`].
    pub fn vm_flags(mut self, flags: &str) -> Region {
        self.vm_flags = Some(flags.to_string());
        self
    }

    /// A residency figure by [`abi::usage`] index (bytes for kB fields).
    ///
    /// # Panics
    /// When `index` is not below [`abi::usage::SLOTS`].
    pub fn usage(mut self, index: usize, value: u64) -> Region {
        assert!(index < usage::SLOTS, "usage index {index} out of range");
        self.usage[index] = Some(value);
        self
    }

    /// `Rss` in bytes.
    pub fn rss(self, bytes: u64) -> Region {
        self.usage(usage::RSS, bytes)
    }

    /// `Pss` in bytes.
    pub fn pss(self, bytes: u64) -> Region {
        self.usage(usage::PSS, bytes)
    }

    /// `Private_Dirty` in bytes.
    pub fn private_dirty(self, bytes: u64) -> Region {
        self.usage(usage::PRIVATE_DIRTY, bytes)
    }

    /// `Swap` in bytes.
    pub fn swap(self, bytes: u64) -> Region {
        self.usage(usage::SWAP, bytes)
    }

    /// A report's region type (vmmap REGION TYPE).
    pub fn region_type(mut self, t: &str) -> Region {
        self.region_type = Some(t.to_string());
        self
    }

    /// A report's share mode (vmmap SHRMOD).
    pub fn share_mode(mut self, m: &str) -> Region {
        self.share_mode = Some(m.to_string());
        self
    }

    /// The maximum protection (`rwx`, `r--`).
    ///
    /// # Panics
    /// When `m` is not three characters of that form.
    pub fn max_perms(mut self, m: &str) -> Region {
        let b = m.as_bytes();
        let ok = b.len() == 3
            && matches!(b[0], b'r' | b'-')
            && matches!(b[1], b'w' | b'-')
            && matches!(b[2], b'x' | b'-');
        assert!(ok, "{m:?} is not a protection such as r-x");
        self.max_perms = Some([b[0], b[1], b[2]]);
        self
    }

    /// A report's detail that is not a path (vmmap REGION DETAIL).
    pub fn detail(mut self, d: &str) -> Region {
        self.detail = Some(d.to_string());
        self
    }

    /// First address.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// One past the last address.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The path as given.
    pub fn path_bytes(&self) -> Option<&[u8]> {
        self.path.as_deref()
    }

    /// Readable.
    pub fn readable(&self) -> bool {
        self.perms & perms::READ != 0
    }

    /// The kind the analyzer sees.
    pub fn region_kind(&self) -> RegionKind {
        self.kind.unwrap_or_else(|| {
            RegionKind::classify(
                self.path.as_deref().unwrap_or(&[]),
                self.perms & perms::SHARED != 0,
            )
        })
    }

    /// The maximum permissions as the ABI carries them: the explicit ones, else from the
    /// `VmFlags` codes (as vmpipe derives them), else unknown.
    pub(crate) fn max_perm_bits(&self) -> u32 {
        let m = self.max_perms.or_else(|| {
            let flags = self.vm_flags.as_deref()?;
            let mut out = *b"---";
            for code in flags.split_ascii_whitespace() {
                match code {
                    "mr" => out[0] = b'r',
                    "mw" => out[1] = b'w',
                    "me" => out[2] = b'x',
                    _ => {}
                }
            }
            Some(out)
        });
        m.map_or(0, |m| {
            perms::KNOWN
                | if m[0] == b'r' { perms::READ } else { 0 }
                | if m[1] == b'w' { perms::WRITE } else { 0 }
                | if m[2] == b'x' { perms::EXEC } else { 0 }
        })
    }
}

/// One process for the harness: its facts, its regions, and what it may serve.
///
/// Build it from a `/proc/PID/maps` or `smaps` text ([`Fixture::from_maps`],
/// [`Fixture::from_smaps`]), from a snapshot directory `vmpipe snapshot` wrote
/// ([`Fixture::from_snapshot`]) or by hand ([`Fixture::new`] and [`Fixture::region`]); then
/// set its facts ([`Fixture::status_file`], [`Fixture::name`], …), give it memory
/// ([`Fixture::memory`]), files ([`Fixture::open_files`]) and other analyzers' values
/// ([`Fixture::input`], [`Fixture::inputs_from`]).
#[derive(Clone, Debug)]
pub struct Fixture {
    pub(crate) pid: u32,
    pub(crate) status: ProcessStatus,
    pub(crate) ppid: Option<u32>,
    pub(crate) uid: Option<u32>,
    pub(crate) threads: Option<u32>,
    pub(crate) name: Vec<u8>,
    pub(crate) exe: Option<Vec<u8>>,
    pub(crate) cmdline: Vec<u8>,
    pub(crate) has_memory: bool,
    pub(crate) zones: Vec<ReportedZone>,
    pub(crate) regions: Vec<Region>,
    /// Segment start → bytes.
    pub(crate) memory: Option<BTreeMap<u64, Vec<u8>>>,
    pub(crate) open_files: bool,
    /// `(analyzer, column)` → one value per region.
    pub(crate) inputs: Vec<((String, String), Vec<OwnedValue>)>,
}

impl Fixture {
    /// Process `pid` with no regions and no facts: name empty, everything else unknown, read
    /// completely (`ok`), evidence (`has_memory` false), no memory, no files.
    pub fn new(pid: u32) -> Fixture {
        Fixture {
            pid,
            status: ProcessStatus::Ok,
            ppid: None,
            uid: None,
            threads: None,
            name: Vec::new(),
            exe: None,
            cmdline: Vec::new(),
            has_memory: false,
            zones: Vec::new(),
            regions: Vec::new(),
            memory: None,
            open_files: false,
            inputs: Vec::new(),
        }
    }

    /// Process `pid` with the regions of a `/proc/PID/maps` text (no residency figures).
    pub fn from_maps(pid: u32, text: &[u8]) -> Result<Fixture, FixtureError> {
        let mut f = Fixture::new(pid);
        f.regions = parse::maps(text)?;
        Ok(f)
    }

    /// Process `pid` with the regions of a `/proc/PID/smaps` text: every header field, every
    /// residency field vmpipe knows (kB fields in bytes, as vmpipe gives them), `VmFlags`.
    /// Fields vmpipe does not know are skipped, as vmpipe gives plugins none of them.
    pub fn from_smaps(pid: u32, text: &[u8]) -> Result<Fixture, FixtureError> {
        let mut f = Fixture::new(pid);
        f.regions = parse::smaps(text)?;
        Ok(f)
    }

    /// Process `pid` of a snapshot directory `vmpipe snapshot` wrote, read as vmpipe's
    /// capture source reads it: `smaps` (else `maps`), `status` (else `stat`) for the parent,
    /// uid and threads, `comm` (else the name in `stat`), `cmdline`, `exe`, and `error` (the
    /// process's status: `denied`, `vanished`, else `partial`). The snapshot's `vdso`, when
    /// it is as large as the process's `[vdso]`, is served as that range of its memory (the
    /// only memory a snapshot holds). `has_memory` is false, as for any evidence.
    pub fn from_snapshot(dir: &Path, pid: u32) -> Result<Fixture, FixtureError> {
        parse::snapshot(dir, pid)
    }

    /// Applies the facts of a `/proc/PID/status` text: `PPid`, the real `Uid`, `Threads`.
    pub fn status_file(mut self, text: &[u8]) -> Result<Fixture, FixtureError> {
        let s = parse::status(text)?;
        self.ppid = s.ppid.or(self.ppid);
        self.uid = s.uid.or(self.uid);
        self.threads = s.threads.or(self.threads);
        Ok(self)
    }

    /// Adds a region (keep them in address order, as vmpipe gives them).
    pub fn region(mut self, r: Region) -> Fixture {
        self.regions.push(r);
        self
    }

    /// The process name (`comm`, raw bytes).
    pub fn name(mut self, name: impl AsRef<[u8]>) -> Fixture {
        self.name = name.as_ref().to_vec();
        self
    }

    /// The parent pid.
    pub fn ppid(mut self, ppid: u32) -> Fixture {
        self.ppid = Some(ppid);
        self
    }

    /// The real uid.
    pub fn uid(mut self, uid: u32) -> Fixture {
        self.uid = Some(uid);
        self
    }

    /// The thread count.
    pub fn threads(mut self, threads: u32) -> Fixture {
        self.threads = Some(threads);
        self
    }

    /// The executable's path.
    pub fn exe(mut self, exe: impl AsRef<[u8]>) -> Fixture {
        self.exe = Some(exe.as_ref().to_vec());
        self
    }

    /// The command line as the kernel holds it (arguments each followed by NUL).
    pub fn cmdline(mut self, cmdline: impl AsRef<[u8]>) -> Fixture {
        self.cmdline = cmdline.as_ref().to_vec();
        self
    }

    /// How completely the process was read.
    pub fn status(mut self, status: ProcessStatus) -> Fixture {
        self.status = status;
        self
    }

    /// Whether the analyzer is told it sees a live process of this machine
    /// ([`crate::Process::has_memory`]). It does not decide what the harness serves: memory
    /// is what [`Fixture::memory`] gave, files what [`Fixture::open_files`] allows.
    pub fn has_memory(mut self, live: bool) -> Fixture {
        self.has_memory = live;
        self
    }

    /// A malloc zone a report gave (vmmap's MALLOC ZONE table).
    pub fn zone(mut self, zone: ReportedZone) -> Fixture {
        self.zones.push(zone);
        self
    }

    /// Memory of the process: `bytes` at `address`. Every call adds a segment (segments
    /// must not overlap). `read_memory` then serves them: a read at an address no segment
    /// holds fails with `MEMORY_FAULT`; a read running past the end of a segment continues
    /// into a segment starting exactly there, else stops short (the count read is what was
    /// there, as at a hole in a live process). Without any segment, every read answers
    /// `MEMORY_UNAVAILABLE`, as for evidence without saved memory.
    pub fn memory(mut self, address: u64, bytes: impl Into<Vec<u8>>) -> Fixture {
        self.memory
            .get_or_insert_with(BTreeMap::new)
            .insert(address, bytes.into());
        self
    }

    /// Lets the analyzer open files through the host's `open` (see [`crate::abi::open_what`]),
    /// answered from **this machine's** file system rather than through a `/proc/PID`
    /// directory: `MAPPED` opens the path of the region that is exactly `[start, end)` (none:
    /// `MEMORY_FAULT`); `IN_ROOT` opens `path`; `IN_ROOT_STAT` opens `path` too (for `fstat`);
    /// `PROC_STAT` opens `/proc/self/PATH` (the test's own `root` and `ns/mnt`); `PAGEMAP`
    /// answers `MEMORY_UNAVAILABLE`. Only regular files are opened (and directories for the
    /// two `…_STAT` kinds); anything else, or a path that does not open, answers `ERROR`
    /// (`MEMORY_DENIED` when permission is refused). Right for a process of this machine
    /// whose files are unchanged since it mapped them. Without this, `open` answers
    /// `MEMORY_UNAVAILABLE`.
    pub fn open_files(mut self, allow: bool) -> Fixture {
        self.open_files = allow;
        self
    }

    /// The values of another analyzer's region column, one per region (missing ones are
    /// absent), for an analyzer that reads it ([`crate::inputs!`]).
    pub fn input(mut self, analyzer: &str, column: &str, values: Vec<OwnedValue>) -> Fixture {
        self.inputs
            .retain(|((a, c), _)| !(a == analyzer && c == column));
        self.inputs
            .push(((analyzer.to_string(), column.to_string()), values));
        self
    }

    /// Every region column of an outcome as an input: run the provider first, then feed
    /// its values to the analyzer that reads them.
    pub fn inputs_from(mut self, provider: &Outcome) -> Fixture {
        for (column, values) in &provider.columns {
            self = self.input(&provider.analyzer, column, values.clone());
        }
        self
    }

    /// The pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The regions, in order.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// The process name.
    pub fn process_name(&self) -> &[u8] {
        &self.name
    }

    /// The memory segments as `(address, length)`.
    pub fn memory_segments(&self) -> Vec<(u64, usize)> {
        self.memory
            .iter()
            .flatten()
            .map(|(a, b)| (*a, b.len()))
            .collect()
    }

    /// Reads memory as the harness serves it to `read_memory`: the count read, or the
    /// status code of the failure.
    pub(crate) fn read(&self, address: u64, buf: &mut [u8]) -> Result<usize, u32> {
        let Some(segs) = &self.memory else {
            return Err(abi::status::MEMORY_UNAVAILABLE);
        };
        let mut done = 0usize;
        let mut at = address;
        while done < buf.len() {
            let seg = segs
                .range(..=at)
                .next_back()
                .filter(|(s, b)| at.checked_sub(**s).is_some_and(|off| off < b.len() as u64));
            let Some((s, bytes)) = seg else {
                break;
            };
            let off = (at - s) as usize;
            let n = (bytes.len() - off).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&bytes[off..off + n]);
            done += n;
            at = match at.checked_add(n as u64) {
                Some(a) => a,
                None => break,
            };
        }
        if done == 0 && !buf.is_empty() {
            return Err(abi::status::MEMORY_FAULT);
        }
        Ok(done)
    }
}
