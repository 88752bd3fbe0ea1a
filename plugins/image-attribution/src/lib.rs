//! # image-attribution — which binary or library every region belongs to, and which part
//!
//! A vmpipe built-in analyzer.
//!
//! **Region columns.** `image` is the mapped file's path (as the kernel prints it, so a
//! ` (deleted)` suffix stays), `[vdso]`, or empty; `segment` names the part of the image the
//! region holds — `text`, `rodata`, `eh_frame`, `relro`, `data`, `bss`, joined with `+` when
//! a region holds several (`rodata+eh_frame`, `data+bss`). Parts are decided from the file's
//! own ELF headers, never from the mapping's permissions:
//!
//! 1. the image's mapping of file offset 0 gives the load bias (its address minus the
//!    page-aligned virtual address of the `PT_LOAD` holding offset 0); a mapping's address
//!    minus the bias is the virtual address range it covers, and the `PT_LOAD` whose
//!    page-aligned virtual range holds it is its segment. (Small binaries map one file page
//!    twice — the end of the read-only segment and the start of the writable one share it —
//!    so the file offset alone cannot tell them apart.) Without a mapping of offset 0 the
//!    `PT_LOAD` whose page-aligned file range holds the mapping's offset is used;
//! 2. every allocated section overlapping those addresses contributes its part: executable
//!    sections are `text`; `.eh_frame*`/`.gcc_except_table` are `eh_frame`; writable
//!    `SHT_NOBITS` sections are `bss`; other writable sections are `relro` inside
//!    `PT_GNU_RELRO` and `data` outside it; the rest is `rodata`;
//! 3. a file without section headers falls back to its segment's flags (`PF_X` → `text`,
//!    `PF_W` → `relro` inside `PT_GNU_RELRO` else `data`, otherwise `rodata`).
//!
//! The anonymous region the loader maps after an image's last file mapping, inside that
//! segment's zero-filled tail (`p_memsz` beyond `p_filesz`), is the image's `.bss`: it gets the
//! image's path and `segment = bss`. `[vdso]` is parsed from vmpipe's own vDSO when the
//! target is a live process of this machine with a vDSO of the same size (the kernel maps one
//! image into every process of an ABI); otherwise from the target's memory — which faults the
//! vDSO's pages into the target and can raise its Rss by a page, the observer changing the
//! observed.
//!
//! **Which file is read.** For a live process the mapped file itself, through
//! `/proc/PID/map_files/START-END` (root only): that is right even when the file on disk was
//! deleted or replaced, and inside containers. Otherwise the file at the path, looked up in the
//! process's own root (`/proc/PID/root`) when live — and only if it is still the mapped inode.
//! A live process's files are opened only through the `/proc/PID` handle vmpipe opened when
//! it collected the process (host service `open`): a process replaced under its pid since
//! then is attributed by path, with the reason, never with the newcomer's files. Evidence is
//! read against this machine's files at its paths, and only regular files are opened (a FIFO
//! or device named by a capture is named with `O_PATH` and checked first, never opened).
//! A file that cannot be read (missing, refused, not ELF, damaged) is attributed by path alone,
//! with the reason in the `images` table; it never fails the process. Layouts are cached by
//! device and inode for the whole run, so each library is parsed once.
//!
//! **Tables.** `images` (per process): per image, the parts present, region count, virtual,
//! rss, pss, private dirty and swap bytes, and the forensic flags — `deleted` (unlinked on
//! disk), `replaced` (the path, looked up in the process's root, now names another inode —
//! a file renamed over it, a bind mount over it — or nothing while the mapping is not marked
//! deleted; inodes are compared, not devices, which overlay filesystems report differently),
//! `memfd` (a `memfd_create` file), `unexplained_exec` (executable memory no ELF image
//! explains: anonymous executable memory is gathered in a row named `[anon-exec]`). `libraries`
//! (run-wide, like Android's `librank`): per image path, the processes mapping it, their total
//! rss and pss, and the memory sharing saves (`rss - pss`).
//!
//! **vmmap reports** name each image region's Mach-O segment themselves: `image` is the
//! region's path and `segment` follows the region type (`__TEXT` → `text`, `__DATA_CONST`,
//! `__AUTH_CONST` → `relro`, `__DATA`, `__DATA_DIRTY`, `__AUTH` → `data`, `__LINKEDIT` →
//! `linkedit`, `__OBJC_RO`, `__UNICODE` → `rodata`), with `attribution = vmmap`: the files
//! themselves are on another machine.
//!
//! Option: `map_files = false` reads files by path only.

mod layout;
mod regular;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};

use vmpipe_plugin::abi::open_what;
use vmpipe_plugin::{
    Analyzer, Host, MemoryError, Options, Process, Region, RegionKind, Regions, Schema, Value,
};

pub use layout::{Layout, Part};

/// The name of the row gathering anonymous executable memory.
pub const ANON_EXEC: &[u8] = b"[anon-exec]";
/// The largest vDSO read from memory.
const VDSO_MAX: u64 = 1 << 20;

/// A mapped file, as the kernel identifies it.
type FileKey = (u32, u32, u64);
/// A layout, or why there is none.
type Parsed = Arc<Result<Layout, String>>;

/// Per-image-path totals across the run.
#[derive(Default)]
struct LibraryTotals {
    processes: u64,
    rss: Option<u64>,
    pss: Option<u64>,
}

/// Where a live process's paths resolve: its root directory and its mount namespace, each as
/// (device, inode). Processes with the same view see the same file at the same path.
type View = [(u64, u64); 2];

/// The inode found at each path, per view.
type InodesNow = HashMap<(View, Vec<u8>), u64>;

/// The analyzer.
pub struct ImageAttribution {
    map_files: bool,
    layouts: Mutex<HashMap<FileKey, Parsed>>,
    libraries: Mutex<BTreeMap<Vec<u8>, LibraryTotals>>,
    /// The inode at each path, per view, for the run: a library mapped by many processes is
    /// looked up once, not once per process (a sweep is read in well under a second).
    inodes_now: Mutex<InodesNow>,
}

/// The view of a live process (`None` when it cannot be read: another user's process without
/// the right to look into it, which then gets no shared answers).
fn view_of(host: &Host<'_>) -> Option<View> {
    let id = |what: &str| {
        host.open(open_what::PROC_STAT, 0, 0, what.as_bytes())
            .and_then(|f| f.metadata().map_err(|_| MemoryError::Other(0)))
            .ok()
            .map(|m| (m.dev(), m.ino()))
    };
    Some([id("root")?, id("ns/mnt")?])
}

/// One image of one process, being totalled.
struct Image {
    path: Vec<u8>,
    parts: Vec<Part>,
    regions: u64,
    virt: u64,
    rss: Option<u64>,
    pss: Option<u64>,
    private_dirty: Option<u64>,
    swap: Option<u64>,
    replaced: bool,
    memfd: bool,
    unexplained_exec: bool,
    attribution: String,
    /// The load bias, once the image's mapping of file offset 0 has been seen.
    bias: Option<u64>,
    /// Mach-O segments named by a vmmap report.
    macho: Vec<&'static str>,
}

fn add(total: &mut Option<u64>, v: Option<u64>) {
    *total = match (*total, v) {
        (Some(t), Some(v)) => Some(t.saturating_add(v)),
        _ => None,
    };
}

impl Image {
    fn new(path: &[u8], attribution: String) -> Image {
        Image {
            path: path.to_vec(),
            parts: Vec::new(),
            regions: 0,
            virt: 0,
            rss: Some(0),
            pss: Some(0),
            private_dirty: Some(0),
            swap: Some(0),
            replaced: false,
            memfd: false,
            unexplained_exec: false,
            attribution,
            bias: None,
            macho: Vec::new(),
        }
    }

    fn count(&mut self, r: &Region, parts: &[Part]) {
        self.regions += 1;
        self.virt = self.virt.saturating_add(r.size());
        add(&mut self.rss, r.rss());
        add(&mut self.pss, r.pss());
        add(&mut self.private_dirty, r.private_dirty());
        add(&mut self.swap, r.swap());
        self.parts.extend_from_slice(parts);
        self.parts.sort();
        self.parts.dedup();
    }
}

fn strip_deleted(path: &[u8]) -> &[u8] {
    path.strip_suffix(b" (deleted)").unwrap_or(path)
}

fn os_path(bytes: &[u8]) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    std::path::PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// The file at `path` in the process's root, through the host's handle on the process
/// (live), or in ours (evidence: a regular file only, never an open that waits or acts).
fn in_root(process: &Process<'_>, host: &Host<'_>, path: &[u8]) -> Result<File, String> {
    if process.has_memory() {
        host.open(open_what::IN_ROOT, 0, 0, path)
            .map_err(|e| e.to_string())
    } else {
        regular::open(&os_path(path)).map_err(|e| e.to_string())
    }
}

/// The inode at `path` in the process's root (live, through the host's handle on it) or in
/// ours (evidence: `stat`, which opens nothing).
fn inode_at(process: &Process<'_>, host: &Host<'_>, path: &[u8]) -> Option<u64> {
    if process.has_memory() {
        let f = host.open(open_what::IN_ROOT_STAT, 0, 0, path).ok()?;
        f.metadata().ok().map(|m| m.ino())
    } else {
        std::fs::metadata(os_path(path)).ok().map(|m| m.ino())
    }
}

/// The part of a Mach-O image a vmmap region type names (`__TEXT` → `text`, …).
pub fn macho_segment(region_type: &str) -> Option<&'static str> {
    Some(match region_type {
        "__TEXT" => "text",
        "__DATA_CONST" | "__AUTH_CONST" | "__OBJC_CONST" => "relro",
        "__DATA" | "__DATA_DIRTY" | "__AUTH" | "__OBJC_RW" => "data",
        "__LINKEDIT" => "linkedit",
        "__OBJC_RO" | "__UNICODE" => "rodata",
        "__IMAGE" => "image",
        _ => return None,
    })
}

/// vmpipe's own vDSO: its size and layout, read once from `/proc/self`.
fn own_vdso() -> Option<&'static Result<(u64, Layout), String>> {
    use std::os::unix::fs::FileExt;
    static VDSO: std::sync::OnceLock<Result<(u64, Layout), String>> = std::sync::OnceLock::new();
    Some(VDSO.get_or_init(|| {
        let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| e.to_string())?;
        let line = maps
            .lines()
            .find(|l| l.ends_with(" [vdso]"))
            .ok_or("no [vdso] in /proc/self/maps")?;
        let range = line.split(' ').next().unwrap_or("");
        let (a, b) = range.split_once('-').ok_or("bad [vdso] line")?;
        let parse = |h: &str| u64::from_str_radix(h, 16).map_err(|e| e.to_string());
        let (start, end) = (parse(a)?, parse(b)?);
        let size = end.saturating_sub(start);
        if size > VDSO_MAX {
            return Err("own vDSO larger than any vDSO".into());
        }
        let mem = File::open("/proc/self/mem").map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; size as usize];
        mem.read_exact_at(&mut buf, start)
            .map_err(|e| e.to_string())?;
        Ok((size, layout::parse(&*buf, size)?))
    }))
}

fn parse_file(file: File) -> Result<Layout, String> {
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    let cache = object::ReadCache::new(file);
    layout::parse(&cache, size)
}

impl ImageAttribution {
    /// The layout of the file a region maps; `replaced` tells whether the path now names
    /// another file. `inodes` remembers, for this process, the inode now at each path (a
    /// library maps four or five regions; one `stat` answers for all of them).
    fn layout_of(
        &self,
        process: &Process<'_>,
        host: &Host<'_>,
        view: Option<View>,
        r: &Region,
        inodes: &mut HashMap<Vec<u8>, Option<u64>>,
    ) -> (Parsed, bool) {
        let (major, minor) = r.device();
        let key = (major, minor, r.inode());
        let path = r.path().unwrap_or(&[]);
        let deleted = r.deleted();
        let memfd = r.kind() == RegionKind::Memfd;
        // What is at the path now.
        let now = if !memfd && path.starts_with(b"/") {
            *inodes
                .entry(path.to_vec())
                .or_insert_with(|| self.inode_now(process, host, view, path))
        } else {
            None
        };
        let same_inode = now == Some(r.inode());
        let cached = self
            .layouts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let parsed = match cached {
            Some(p) => p,
            None => {
                let mut why_not = Vec::new();
                let mut result = None;
                let mut replaced_process = false;
                if self.map_files && process.has_memory() {
                    // Named for people; opened through the host's handle on the process.
                    let mf = format!(
                        "/proc/{}/map_files/{:x}-{:x}",
                        process.pid(),
                        r.start(),
                        r.end()
                    );
                    match host.open(open_what::MAPPED, r.start(), r.end(), b"") {
                        // The inode the map names, or the range was remapped since it was
                        // read (an exec, a new mmap): another file, not this region's.
                        Ok(f) if f.metadata().is_ok_and(|m| m.ino() == r.inode()) => {
                            result = Some(parse_file(f))
                        }
                        Ok(_) => why_not.push(format!("{mf}: another file is mapped there now")),
                        Err(MemoryError::Denied) => {
                            why_not.push(format!("{mf}: permission denied"))
                        }
                        Err(e) => {
                            replaced_process = e == MemoryError::Replaced;
                            why_not.push(format!("{mf}: {e}"))
                        }
                    }
                }
                if replaced_process {
                    // Nothing of the newcomer may answer for this process: not its files at
                    // the path either.
                } else if result.is_none() {
                    if deleted || memfd {
                        why_not.insert(0, "deleted on disk".into());
                    } else if !same_inode {
                        why_not.insert(
                            0,
                            match &now {
                                Some(_) => "the file at its path is another inode now".into(),
                                None => "not found at its path".into(),
                            },
                        );
                    } else {
                        match in_root(process, host, path) {
                            Ok(f) => result = Some(parse_file(f)),
                            Err(e) => why_not.push(e),
                        }
                    }
                }
                let parsed = Arc::new(result.unwrap_or_else(|| Err(why_not.join("; "))));
                // Failures to open through map_files depend on the process; cache only
                // what came from the file itself.
                if parsed.is_ok() || !(deleted || memfd || !same_inode || replaced_process) {
                    self.layouts
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key, parsed.clone());
                }
                parsed
            }
        };
        // Another inode at the path now: a package upgrade that renamed a new file over it
        // (the mapping then also reads ` (deleted)`), or a bind mount or hard-link swap over a
        // file still in use. A mapping not marked deleted whose path leads nowhere was moved.
        let replaced = !memfd
            && path.starts_with(b"/")
            && match now {
                Some(ino) => ino != r.inode(),
                None => !deleted,
            };
        (parsed, replaced)
    }

    /// The inode at `path` in the process's root now, shared between processes of one view.
    fn inode_now(
        &self,
        process: &Process<'_>,
        host: &Host<'_>,
        view: Option<View>,
        path: &[u8],
    ) -> Option<u64> {
        let look = || inode_at(process, host, strip_deleted(path));
        let Some(view) = view else {
            return look();
        };
        let key = (view, path.to_vec());
        if let Some(ino) = self
            .inodes_now
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Some(*ino);
        }
        let ino = look();
        // Shared only when it is surely this view's answer: a file found (a failure may be
        // the process exiting meanwhile) while the process still has the same view (its pid
        // not reused by another process since the view was read).
        if let Some(found) = ino.filter(|_| view_of(host) == Some(view)) {
            self.inodes_now
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, found);
        }
        ino
    }

    fn vdso(process: &Process<'_>, r: &Region, host: &Host<'_>) -> Result<Layout, String> {
        if r.size() > VDSO_MAX {
            return Err("larger than any vDSO".into());
        }
        // A live process of this machine's native ABI maps the kernel's one vDSO image, which
        // is ours too: read ours, and leave the target's pages alone (reading them through
        // its memory faults them in and changes its Rss).
        if process.has_memory()
            && let Some(Ok((size, layout))) = own_vdso()
            && *size == r.size()
        {
            return Ok(layout.clone());
        }
        let mut buf = vec![0u8; r.size() as usize];
        let n = host
            .read_memory(r.start(), &mut buf)
            .map_err(|e| format!("[vdso] of pid {} not readable: {e}", process.pid()))?;
        buf.truncate(n);
        layout::parse(&*buf, n as u64)
    }
}

vmpipe_plugin::region_columns! {
    REGION_COLUMNS = [
        IMAGE: Bytes = (
            "image",
            "the mapped executable or library, [vdso], or empty"
        ),
        SEGMENT: Text = (
            "segment",
            "the parts of the image the region holds: text, rodata, eh_frame, relro, data, bss (+ joins several)"
        ),
    ];
}

vmpipe_plugin::tables! {
    TABLES = [
        IMAGES: Process (
            "images",
            "one image mapped by one process"
        ) {
            "image": Bytes = "path as the kernel prints it; [vdso]; [anon-exec] for anonymous executable memory",
            "segments": Text = "parts present",
            "regions": U64 = "regions",
            "virtual": U64 = "virtual bytes",
            "rss": U64 = "resident bytes",
            "pss": U64 = "proportional set size",
            "private_dirty": U64 = "private dirty bytes",
            "swap": U64 = "swapped bytes",
            "deleted": Bool = "the file was deleted on disk",
            "replaced": Bool = "the path now names another inode (or nothing)",
            "memfd": Bool = "a memfd_create file",
            "unexplained_exec": Bool = "executable memory no ELF image explains",
            "attribution": Text = "elf, or path: why the ELF headers could not be used",
        },
        LIBRARIES: Run (
            "libraries",
            "one image across every process swept (like librank)"
        ) {
            "image": Bytes = "path as the kernel prints it",
            "processes": U64 = "processes mapping it",
            "rss": U64 = "total resident bytes",
            "pss": U64 = "total proportional set size",
            "shared_saving": U64 = "rss - pss: what sharing saves",
        },
    ];
}

impl Analyzer for ImageAttribution {
    const SCHEMA: Schema = Schema::new(
        "image-attribution",
        "1.0.0",
        "which binary or library every region belongs to and which part (text, rodata, relro, data, bss…), from the files' own ELF headers",
    )
    .region_columns(REGION_COLUMNS)
    .tables(TABLES);

    fn create(options: &Options) -> vmpipe_plugin::Result<Self> {
        options.only(&["map_files"])?;
        Ok(ImageAttribution {
            map_files: options.boolean("map_files")?.unwrap_or(true),
            layouts: Mutex::new(HashMap::new()),
            libraries: Mutex::new(BTreeMap::new()),
            inodes_now: Mutex::new(HashMap::new()),
        })
    }

    fn analyze(
        &self,
        process: &Process<'_>,
        regions: &Regions<'_>,
        host: &mut Host<'_>,
    ) -> vmpipe_plugin::Result {
        let mut images: Vec<Image> = Vec::new();
        // Where each path's image is in `images`: a map, not a scan, so that a process (or a
        // capture) with tens of thousands of distinct paths costs linear time, not quadratic
        // (40,000 distinct paths took 3.8 s at 036e0a7).
        let mut at_path: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut index =
            |images: &mut Vec<Image>, path: &[u8], attribution: &dyn Fn() -> String| -> usize {
                if let Some(&at) = at_path.get(path) {
                    return at;
                }
                images.push(Image::new(path, attribution()));
                at_path.insert(path.to_vec(), images.len() - 1);
                images.len() - 1
            };
        // Zero-filled tails of the images seen so far, by start: start → (end, image index).
        // At most one per image.
        let mut bss: BTreeMap<u64, (u64, usize)> = BTreeMap::new();
        let mut has_bss: Vec<bool> = Vec::new();
        let mut inodes = HashMap::new();
        let view = if process.has_memory() {
            view_of(host)
        } else {
            None
        };

        for (i, r) in regions.iter().enumerate() {
            let r = &r;
            match r.kind() {
                RegionKind::File if r.region_type().is_some() => {
                    // A vmmap report: the image is the path, the part is named by the report.
                    let path = r.path().unwrap_or(&[]);
                    let part = r.region_type().and_then(macho_segment);
                    let at = index(&mut images, path, &|| "vmmap".to_string());
                    images[at].count(r, &[]);
                    if let Some(p) = part {
                        images[at].macho.push(p);
                    }
                    host.set(i, IMAGE, path)?;
                    if let Some(p) = part {
                        host.set(i, SEGMENT, p)?;
                    }
                }
                RegionKind::File | RegionKind::Memfd => {
                    let path = r.path().unwrap_or(&[]);
                    let (parsed, replaced) = self.layout_of(process, host, view, r, &mut inodes);
                    let attribution = || match parsed.as_ref() {
                        Ok(_) => "elf".to_string(),
                        Err(e) => format!("path: {e}"),
                    };
                    let at = index(&mut images, path, &attribution);
                    let img = &mut images[at];
                    img.replaced |= replaced;
                    img.memfd |= r.kind() == RegionKind::Memfd;
                    let mut parts = Vec::new();
                    if let Ok(l) = parsed.as_ref() {
                        if r.offset() == 0 && img.bias.is_none() {
                            img.bias = l.vaddr_of(0).map(|(_, va)| r.start().wrapping_sub(va));
                        }
                        let placed = match img.bias {
                            Some(bias) => {
                                let va = r.start().wrapping_sub(bias);
                                l.load_at(va).map(|load| (load, va))
                            }
                            None => l.vaddr_of(r.offset()),
                        };
                        if let Some((load, va)) = placed {
                            parts = l.parts(load, va, va.saturating_add(r.size()));
                            let bias = r.start().wrapping_sub(va);
                            if let Some((lo, hi)) = l.bss_tail() {
                                let (lo, hi) = (lo.wrapping_add(bias), hi.wrapping_add(bias));
                                if has_bss.len() <= at {
                                    has_bss.resize(at + 1, false);
                                }
                                if !has_bss[at] && lo < hi {
                                    has_bss[at] = true;
                                    bss.entry(lo).or_insert((hi, at));
                                }
                            }
                        }
                    } else if r.executable() {
                        img.unexplained_exec = true;
                    }
                    img.count(r, &parts);
                    host.set(i, IMAGE, path)?;
                    if !parts.is_empty() {
                        host.set(i, SEGMENT, layout::join(&parts).as_str())?;
                    }
                }
                RegionKind::Vdso => {
                    let parsed = Self::vdso(process, r, host);
                    let attribution = || match &parsed {
                        Ok(_) => "elf".to_string(),
                        Err(e) => format!("path: {e}"),
                    };
                    let at = index(&mut images, b"[vdso]", &attribution);
                    let mut parts = Vec::new();
                    if let Ok(l) = &parsed
                        && let Some((load, va)) = l.vaddr_of(0)
                    {
                        parts = l.parts(load, va, va.saturating_add(r.size()));
                    }
                    images[at].count(r, &parts);
                    host.set(i, IMAGE, b"[vdso]".as_slice())?;
                    if !parts.is_empty() {
                        host.set(i, SEGMENT, layout::join(&parts).as_str())?;
                    }
                }
                RegionKind::Anon => {
                    // The tail starting nearest below the region (tails of real images do not
                    // overlap): a lookup, not a scan of every tail.
                    if let Some(&(_, at)) = bss
                        .range(..=r.start())
                        .next_back()
                        .map(|(_, t)| t)
                        .filter(|(hi, _)| r.end() <= *hi && !r.shared())
                    {
                        let path = images[at].path.clone();
                        images[at].count(r, &[Part::Bss]);
                        host.set(i, IMAGE, path.as_slice())?;
                        host.set(i, SEGMENT, "bss")?;
                    } else if r.executable() {
                        let at = index(&mut images, ANON_EXEC, &|| {
                            "path: anonymous memory".to_string()
                        });
                        images[at].unexplained_exec = true;
                        images[at].count(r, &[]);
                    }
                }
                RegionKind::Heap | RegionKind::Stack if r.executable() => {
                    let at = index(&mut images, ANON_EXEC, &|| {
                        "path: anonymous memory".to_string()
                    });
                    images[at].unexplained_exec = true;
                    images[at].count(r, &[]);
                }
                _ => {}
            }
        }

        for img in &mut images {
            let rank = |p: &&str| {
                ["text", "rodata", "relro", "data", "image", "linkedit"]
                    .iter()
                    .position(|x| x == p)
            };
            img.macho.sort_by_key(rank);
            img.macho.dedup();
        }
        for img in &images {
            let segments = if img.macho.is_empty() {
                layout::join(&img.parts)
            } else {
                img.macho.join("+")
            };
            host.row(
                IMAGES,
                [
                    Value::Bytes(&img.path),
                    Value::Text(&segments),
                    Value::U64(img.regions),
                    Value::U64(img.virt),
                    Value::from(img.rss),
                    Value::from(img.pss),
                    Value::from(img.private_dirty),
                    Value::from(img.swap),
                    Value::Bool(img.path.ends_with(b" (deleted)")),
                    Value::Bool(img.replaced),
                    Value::Bool(img.memfd),
                    Value::Bool(img.unexplained_exec),
                    Value::Text(&img.attribution),
                ],
            )?;
        }
        let mut libraries = self.libraries.lock().unwrap_or_else(|e| e.into_inner());
        for img in images.iter().filter(|i| i.path != ANON_EXEC) {
            let t = libraries
                .entry(img.path.clone())
                .or_insert_with(|| LibraryTotals {
                    processes: 0,
                    rss: Some(0),
                    pss: Some(0),
                });
            t.processes += 1;
            add(&mut t.rss, img.rss);
            add(&mut t.pss, img.pss);
        }
        Ok(())
    }

    fn finish(&self, host: &mut Host<'_>) -> vmpipe_plugin::Result {
        let libraries = self.libraries.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<(&Vec<u8>, &LibraryTotals)> = libraries.iter().collect();
        // Most shared memory first (like librank); the path breaks ties.
        rows.sort_by(|a, b| b.1.pss.cmp(&a.1.pss).then(a.0.cmp(b.0)));
        for (path, t) in rows {
            let saving = match (t.rss, t.pss) {
                (Some(r), Some(p)) => Some(r.saturating_sub(p)),
                _ => None,
            };
            host.row(
                LIBRARIES,
                [
                    Value::Bytes(path),
                    Value::U64(t.processes),
                    Value::from(t.rss),
                    Value::from(t.pss),
                    Value::from(saving),
                ],
            )?;
        }
        Ok(())
    }
}

vmpipe_plugin::export!(ImageAttribution, image_attribution);

#[cfg(test)]
mod tests {
    use super::*;
    use vmpipe_plugin::testing::{self, Fixture, Outcome, OwnedValue as O, Region as R};

    fn image_row<'o>(out: &'o Outcome, image: &[u8]) -> &'o [O] {
        out.rows("images")
            .iter()
            .find(|r| r[0].as_bytes() == Some(image))
            .unwrap_or_else(|| panic!("no row for {image:?} in {out:#?}"))
    }

    /// This test's own process, from the kernel's maps, read as evidence (files at their
    /// paths; the vDSO from the memory the fixture is given).
    #[test]
    fn the_tests_own_mappings_are_attributed_from_their_elf_headers() {
        let maps = std::fs::read("/proc/self/maps").expect("/proc/self/maps");
        let mut f = Fixture::from_maps(std::process::id(), &maps).expect("maps");
        let exe = std::env::current_exe().expect("own path");
        let exe = exe.as_os_str().as_encoded_bytes();
        let vdso = f
            .regions()
            .iter()
            .find(|r| r.path_bytes() == Some(b"[vdso]"))
            .map(|r| (r.start(), r.end()));
        if let Some((start, end)) = vdso {
            use std::os::unix::fs::FileExt;
            let mut bytes = vec![0u8; (end - start) as usize];
            std::fs::File::open("/proc/self/mem")
                .and_then(|m| m.read_exact_at(&mut bytes, start))
                .expect("own vDSO");
            f = f.memory(start, bytes);
        }
        let out = testing::run::<ImageAttribution>(&f);
        assert!(out.is_clean(), "{out:#?}");
        let row = image_row(&out, exe);
        assert_eq!(row[12], O::from("elf"), "{row:?}");
        assert_eq!(
            (row[8].clone(), row[9].clone()),
            (O::Bool(false), O::Bool(false))
        );
        // The kernel's executable mapping of the test binary holds its text.
        let (images, segments) = (out.column("image"), out.column("segment"));
        for (i, r) in f.regions().iter().enumerate() {
            if r.path_bytes() == Some(exe) {
                assert_eq!(images[i].as_bytes(), Some(exe));
                let perms = maps
                    .split(|&b| b == b'\n')
                    .find(|l| l.starts_with(format!("{:x}-", r.start()).as_bytes()))
                    .and_then(|l| l.split(|&b| b == b' ').nth(1))
                    .unwrap_or_default();
                let seg = segments[i].as_text().unwrap_or_default();
                if perms.get(2) == Some(&b'x') {
                    assert!(
                        seg.split('+').any(|p| p == "text"),
                        "{seg:?} at {:#x}",
                        r.start()
                    );
                } else {
                    assert!(
                        !seg.split('+').any(|p| p == "text"),
                        "{seg:?} at {:#x}",
                        r.start()
                    );
                }
            }
        }
        if vdso.is_some() {
            let row = image_row(&out, b"[vdso]");
            assert_eq!(row[12], O::from("elf"), "{row:?}");
            assert!(row[1].as_text().unwrap_or_default().contains("text"));
        }
        let libraries = out.rows("libraries");
        assert!(libraries.iter().any(|r| r[0].as_bytes() == Some(exe)));
    }

    #[test]
    fn what_no_elf_explains_is_said() {
        let not_elf = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let f = Fixture::new(4)
            .region(
                R::new(0x10000, 0x11000)
                    .perms("r-xp")
                    .path(not_elf)
                    .inode(1),
            )
            .region(R::new(0x20000, 0x21000).perms("rwxp"))
            .region(
                R::new(0x30000, 0x31000)
                    .perms("r-xp")
                    .path("/nonexistent/lib.so"),
            );
        let out = testing::run::<ImageAttribution>(&f);
        assert!(out.is_clean(), "{out:#?}");
        let row = image_row(&out, not_elf.as_bytes());
        assert!(
            row[12].as_text().unwrap_or_default().starts_with("path: "),
            "{row:?}"
        );
        assert_eq!(row[11], O::Bool(true), "unexplained exec");
        let anon = image_row(&out, ANON_EXEC);
        assert_eq!(
            (anon[2].clone(), anon[11].clone()),
            (O::U64(1), O::Bool(true))
        );
        let gone = image_row(&out, b"/nonexistent/lib.so");
        assert_eq!(
            gone[9],
            O::Bool(true),
            "a path that leads nowhere: replaced"
        );
        assert_eq!(out.column("segment"), [O::Absent, O::Absent, O::Absent]);
    }

    #[test]
    fn a_report_names_its_segments() {
        let f = Fixture::new(4)
            .region(
                R::new(0x1000, 0x5000)
                    .perms("r-xp")
                    .path("/usr/lib/dyld")
                    .region_type("__TEXT"),
            )
            .region(
                R::new(0x5000, 0x6000)
                    .perms("rw-p")
                    .path("/usr/lib/dyld")
                    .region_type("__DATA_CONST"),
            );
        let out = testing::run::<ImageAttribution>(&f);
        assert_eq!(out.column("segment"), [O::from("text"), O::from("relro")]);
        let row = image_row(&out, b"/usr/lib/dyld");
        assert_eq!(
            (row[1].clone(), row[12].clone()),
            (O::from("text+relro"), O::from("vmmap"))
        );
        let bad = Options::from_entries(vec![(
            "map_files".into(),
            vmpipe_plugin::OptionValue::Integer(1),
        )]);
        let out = testing::run_with::<ImageAttribution>(&bad, &f);
        assert_eq!(out.errors[0].option.as_deref(), Some("map_files"));
    }
}
