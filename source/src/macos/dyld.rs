//! dyld's list of the images loaded in a process, read from the process's memory: the
//! `dyld_all_image_infos` structure whose address `task_info(TASK_DYLD_INFO)` gives, its
//! `dyld_image_info` array, each image's path string, and each image's Mach-O header and
//! load commands ([`super::macho`]).
//!
//! The layout is `<mach-o/dyld_images.h>`'s (checked against dyld's header): `version` and
//! `infoArrayCount` (32-bit), then pointer-sized fields — `infoArray` at word 1,
//! `dyldImageLoadAddress` (version ≥ 2), `sharedCacheSlide` (version ≥ 12),
//! `sharedCacheBaseAddress` (version ≥ 15), `dyldPath` (version ≥ 15); a
//! `dyld_image_info` is three pointer-sized words (load address, path, modification date).
//! Both the 64-bit and the 32-bit layout are read (`TASK_DYLD_ALL_IMAGE_INFO_64`/`_32`).
//!
//! dyld itself is not in the array; it is added from `dyldImageLoadAddress` and `dyldPath`
//! (or `/usr/lib/dyld`). While dyld updates the array, `infoArray` is null: the reader then
//! reports [`DyldError::Busy`] and the caller may try again.
//!
//! Everything read is data from the target: counts are bounded ([`MAX_IMAGES`], path lengths
//! [`MAX_PATH`]), and an image whose path or header cannot be read is reported and skipped,
//! not fatal.

use std::sync::Arc;

use thiserror::Error;

use super::macho::{self, HEADER_64_SIZE, MachoError, Segment};
use crate::{MemoryAccess, MemoryError};

/// The most images read (a large app loads about a thousand).
pub const MAX_IMAGES: u32 = 65_536;
/// The longest image path read (`PATH_MAX` is 1024 on macOS; dyld paths are shorter).
pub const MAX_PATH: usize = 4096;
/// The path dyld is at when `dyldPath` is not given.
pub const DEFAULT_DYLD_PATH: &[u8] = b"/usr/lib/dyld";

/// `TASK_DYLD_ALL_IMAGE_INFO_32`: the format word of a 32-bit process.
pub const TASK_DYLD_ALL_IMAGE_INFO_32: i32 = 0;
/// `TASK_DYLD_ALL_IMAGE_INFO_64`: the format word of a 64-bit process.
pub const TASK_DYLD_ALL_IMAGE_INFO_64: i32 = 1;

/// The pointer size of the target's dyld structures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointerWidth {
    /// 32-bit process.
    Four,
    /// 64-bit process.
    Eight,
}

impl PointerWidth {
    /// From `task_dyld_info.all_image_info_format`.
    pub fn from_format(format: i32) -> Option<PointerWidth> {
        match format {
            TASK_DYLD_ALL_IMAGE_INFO_32 => Some(PointerWidth::Four),
            TASK_DYLD_ALL_IMAGE_INFO_64 => Some(PointerWidth::Eight),
            _ => None,
        }
    }

    fn bytes(self) -> usize {
        match self {
            PointerWidth::Four => 4,
            PointerWidth::Eight => 8,
        }
    }
}

/// Why the image list could not be read.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DyldError {
    /// `all_image_info_format` is neither 32- nor 64-bit.
    #[error("unknown dyld info format {0}")]
    Format(i32),
    /// No `dyld_all_image_infos` (address 0: the process has not run dyld yet).
    #[error("the process has no dyld image list yet")]
    NoInfo,
    /// The structure or the array could not be read.
    #[error("reading {what} at {address:#x}: {error}")]
    Read {
        /// What was being read.
        what: &'static str,
        /// Where.
        address: u64,
        /// Why.
        error: MemoryError,
    },
    /// dyld is updating the array (`infoArray` is null).
    #[error("dyld is updating its image list")]
    Busy,
    /// More images than [`MAX_IMAGES`].
    #[error("{0} images: more than vmpipe reads")]
    TooMany(u32),
}

/// The fields of `dyld_all_image_infos` vmpipe uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllImageInfos {
    /// `version`.
    pub version: u32,
    /// `infoArrayCount`.
    pub info_array_count: u32,
    /// `infoArray` (0 while dyld updates it).
    pub info_array: u64,
    /// `dyldImageLoadAddress` (version ≥ 2).
    pub dyld_image_load_address: Option<u64>,
    /// `sharedCacheSlide` (version ≥ 12).
    pub shared_cache_slide: Option<u64>,
    /// `sharedCacheBaseAddress` (version ≥ 15).
    pub shared_cache_base: Option<u64>,
    /// `dyldPath`, a pointer to a C string (version ≥ 15).
    pub dyld_path: Option<u64>,
}

/// Offsets (in pointer-sized words after the two 32-bit fields) of the fields read, and the
/// version that introduced each.
struct Layout {
    width: usize,
}

impl Layout {
    /// Byte offset of the pointer-sized field `index` counted from `infoArray` (0), as laid
    /// out by the C compiler: `infoArray`, `notification`, then two `bool`s padded to a word,
    /// then one word per field.
    fn word(&self, index: usize) -> usize {
        8 + index * self.width
    }
    fn info_array(&self) -> usize {
        self.word(0)
    }
    fn dyld_image_load_address(&self) -> usize {
        // infoArray, notification, {processDetachedFromSharedRegion, libSystemInitialized}.
        self.word(3)
    }
    fn shared_cache_slide(&self) -> usize {
        // … jitInfo 4, dyldVersion 5, errorMessage 6, terminationFlags 7,
        // coreSymbolicationShmPage 8, systemOrderFlag 9, uuidArrayCount 10, uuidArray 11,
        // dyldAllImageInfosAddress 12, initialImageCount 13, errorKind 14,
        // errorClientOfDylibPath 15, errorTargetDylibPath 16, errorSymbol 17,
        // sharedCacheSlide 18.
        self.word(18)
    }
    fn shared_cache_base(&self) -> usize {
        // sharedCacheUUID[16] follows the slide.
        self.word(19) + 16
    }
    fn dyld_path(&self) -> usize {
        // infoArrayChangeTimestamp (uint64_t) follows the base address.
        self.shared_cache_base() + self.width + 8
    }
    /// Bytes to read to have every field of a version-15 structure.
    fn size(&self) -> usize {
        self.dyld_path() + self.width
    }
}

fn word(bytes: &[u8], at: usize, width: PointerWidth) -> Option<u64> {
    match width {
        PointerWidth::Four => bytes
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(|b| u64::from(u32::from_le_bytes(b))),
        PointerWidth::Eight => bytes
            .get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes),
    }
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
}

/// The number of bytes [`parse_all_image_infos`] wants for every field it reads.
pub fn all_image_infos_size(width: PointerWidth) -> usize {
    Layout {
        width: width.bytes(),
    }
    .size()
}

/// Parses `dyld_all_image_infos` (little-endian, as on every Mac). Fields beyond `bytes` or
/// newer than the structure's `version` are `None`.
pub fn parse_all_image_infos(bytes: &[u8], width: PointerWidth) -> Option<AllImageInfos> {
    let l = Layout {
        width: width.bytes(),
    };
    let version = u32_at(bytes, 0)?;
    let since = |v: u32, at: usize| {
        if version >= v {
            word(bytes, at, width)
        } else {
            None
        }
    };
    Some(AllImageInfos {
        version,
        info_array_count: u32_at(bytes, 4)?,
        info_array: word(bytes, l.info_array(), width)?,
        dyld_image_load_address: since(2, l.dyld_image_load_address()),
        shared_cache_slide: since(12, l.shared_cache_slide()),
        shared_cache_base: since(15, l.shared_cache_base()),
        dyld_path: since(15, l.dyld_path()).filter(|&p| p != 0),
    })
}

/// One `dyld_image_info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// `imageLoadAddress`: where the Mach-O header is.
    pub load_address: u64,
    /// `imageFilePath`: a pointer to the path string.
    pub file_path: u64,
}

/// Parses `count` `dyld_image_info` records from `bytes`.
pub fn parse_image_infos(bytes: &[u8], width: PointerWidth) -> Vec<ImageInfo> {
    let w = width.bytes();
    bytes
        .chunks_exact(3 * w)
        .filter_map(|rec| {
            Some(ImageInfo {
                load_address: word(rec, 0, width)?,
                file_path: word(rec, w, width)?,
            })
        })
        .collect()
}

/// Reads exactly `len` bytes at `address`.
fn read_exact(
    mem: &mut dyn MemoryAccess,
    what: &'static str,
    address: u64,
    len: usize,
) -> Result<Vec<u8>, DyldError> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    // Each successful read returns at least one byte, so this ends within `len` rounds.
    while done < len {
        let at = address.checked_add(done as u64).ok_or(DyldError::Read {
            what,
            address,
            error: MemoryError::Fault,
        })?;
        match mem.read(at, &mut buf[done..]) {
            Ok(0) | Err(_) if done > 0 => {
                return Err(DyldError::Read {
                    what,
                    address: at,
                    error: MemoryError::Fault,
                });
            }
            Ok(0) => {
                return Err(DyldError::Read {
                    what,
                    address,
                    error: MemoryError::Fault,
                });
            }
            Ok(n) => done += n.min(len - done),
            Err(error) => {
                return Err(DyldError::Read {
                    what,
                    address,
                    error,
                });
            }
        }
    }
    Ok(buf)
}

/// Reads a NUL-terminated string of at most [`MAX_PATH`] bytes at `address`, page by page (a
/// string may end just before an unmapped page).
pub fn read_c_string(mem: &mut dyn MemoryAccess, address: u64) -> Result<Vec<u8>, DyldError> {
    const CHUNK: u64 = 256;
    let mut out = Vec::new();
    let mut at = address;
    while out.len() < MAX_PATH {
        // Never read across a 4 KiB boundary in one go: the next page may be unmapped.
        let to_boundary = 4096 - (at % 4096);
        let mut buf = vec![0u8; to_boundary.min(CHUNK) as usize];
        let n = match mem.read(at, &mut buf) {
            Ok(0) => 0,
            Ok(n) => n.min(buf.len()),
            Err(error) => {
                return Err(DyldError::Read {
                    what: "an image path",
                    address: at,
                    error,
                });
            }
        };
        if n == 0 {
            return Err(DyldError::Read {
                what: "an image path",
                address: at,
                error: MemoryError::Fault,
            });
        }
        if let Some(nul) = buf[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&buf[..nul]);
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        at = at.checked_add(n as u64).ok_or(DyldError::Read {
            what: "an image path",
            address: at,
            error: MemoryError::Fault,
        })?;
    }
    out.truncate(MAX_PATH);
    Ok(out)
}

/// One loaded image and its segments at their runtime addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedImage {
    /// The path dyld loaded it from.
    pub path: Arc<[u8]>,
    /// Where its Mach-O header is.
    pub load_address: u64,
    /// Its segments.
    pub segments: Vec<Segment>,
}

/// Everything read of dyld's image list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DyldImages {
    /// The images read, dyld itself included, in dyld's order.
    pub images: Vec<LoadedImage>,
    /// The shared cache's base address and slide, when dyld says.
    pub shared_cache: Option<(u64, u64)>,
    /// Images that could not be read, each with why (the rest are kept).
    pub problems: Vec<String>,
}

/// Reads one image's header and load commands at `load_address`.
fn read_image(
    mem: &mut dyn MemoryAccess,
    path: Arc<[u8]>,
    load_address: u64,
) -> Result<LoadedImage, String> {
    let head = read_exact(mem, "a Mach-O header", load_address, HEADER_64_SIZE)
        .map_err(|e| e.to_string())?;
    let shape = macho::header_shape(&head).map_err(|e: MachoError| e.to_string())?;
    let bytes = read_exact(mem, "Mach-O load commands", load_address, shape.total())
        .map_err(|e| e.to_string())?;
    let segments = macho::segments(&bytes, load_address).map_err(|e| e.to_string())?;
    Ok(LoadedImage {
        path,
        load_address,
        segments,
    })
}

/// Reads dyld's image list at `info_address` (`task_dyld_info.all_image_info_addr`) of a
/// process of pointer width `width`, each image's segments included.
pub fn read_images(
    mem: &mut dyn MemoryAccess,
    info_address: u64,
    width: PointerWidth,
) -> Result<DyldImages, DyldError> {
    if info_address == 0 {
        return Err(DyldError::NoInfo);
    }
    let want = all_image_infos_size(width);
    // An old (shorter) structure may end near a page end: fall back to the first words.
    let bytes = match read_exact(mem, "dyld_all_image_infos", info_address, want) {
        Ok(b) => b,
        Err(_) => read_exact(mem, "dyld_all_image_infos", info_address, 8 + width.bytes())?,
    };
    let infos = parse_all_image_infos(&bytes, width).ok_or(DyldError::Read {
        what: "dyld_all_image_infos",
        address: info_address,
        error: MemoryError::Fault,
    })?;
    if infos.info_array_count > MAX_IMAGES {
        return Err(DyldError::TooMany(infos.info_array_count));
    }
    if infos.info_array == 0 {
        return Err(DyldError::Busy);
    }
    let record = 3 * width.bytes();
    let array = read_exact(
        mem,
        "the dyld_image_info array",
        infos.info_array,
        infos.info_array_count as usize * record,
    )?;
    let mut out = DyldImages {
        shared_cache: infos.shared_cache_base.zip(infos.shared_cache_slide),
        ..DyldImages::default()
    };
    if let Some(dyld) = infos.dyld_image_load_address.filter(|&a| a != 0) {
        let path: Arc<[u8]> = match infos.dyld_path.map(|p| read_c_string(mem, p)) {
            Some(Ok(p)) if !p.is_empty() => p.into(),
            _ => Arc::from(DEFAULT_DYLD_PATH),
        };
        match read_image(mem, path, dyld) {
            Ok(image) => out.images.push(image),
            Err(e) => out.problems.push(format!("dyld at {dyld:#x}: {e}")),
        }
    }
    for info in parse_image_infos(&array, width) {
        let path: Arc<[u8]> = match read_c_string(mem, info.file_path) {
            Ok(p) => Arc::from(p),
            Err(e) => {
                out.problems
                    .push(format!("image at {:#x}: path: {e}", info.load_address));
                continue;
            }
        };
        match read_image(mem, path.clone(), info.load_address) {
            Ok(image) => out.images.push(image),
            Err(e) => out.problems.push(format!(
                "{} at {:#x}: {e}",
                String::from_utf8_lossy(&path),
                info.load_address
            )),
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod fake {
    //! A sparse fake address space for tests.

    use std::collections::BTreeMap;

    use crate::{MemoryAccess, MemoryError};

    /// Byte ranges at addresses; everything else is unmapped.
    #[derive(Default)]
    pub struct FakeMemory {
        pub chunks: BTreeMap<u64, Vec<u8>>,
    }

    impl FakeMemory {
        pub fn put(&mut self, address: u64, bytes: &[u8]) {
            self.chunks.insert(address, bytes.to_vec());
        }
    }

    impl MemoryAccess for FakeMemory {
        fn read(&mut self, address: u64, buf: &mut [u8]) -> Result<usize, MemoryError> {
            let Some((&start, bytes)) = self.chunks.range(..=address).next_back() else {
                return Err(MemoryError::Fault);
            };
            let off = (address - start) as usize;
            if off >= bytes.len() {
                return Err(MemoryError::Fault);
            }
            let n = buf.len().min(bytes.len() - off);
            buf[..n].copy_from_slice(&bytes[off..off + n]);
            Ok(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::macho::build;
    use super::fake::FakeMemory;
    use super::*;

    /// A version-15 64-bit `dyld_all_image_infos` with the fields vmpipe reads.
    fn all_infos_64(count: u32, array: u64, dyld: u64, dyld_path: u64) -> Vec<u8> {
        let mut b = vec![0u8; all_image_infos_size(PointerWidth::Eight)];
        b[0..4].copy_from_slice(&15u32.to_le_bytes());
        b[4..8].copy_from_slice(&count.to_le_bytes());
        b[8..16].copy_from_slice(&array.to_le_bytes());
        b[32..40].copy_from_slice(&dyld.to_le_bytes());
        b[152..160].copy_from_slice(&0x1234_0000u64.to_le_bytes()); // sharedCacheSlide
        b[176..184].copy_from_slice(&0x1_8000_0000u64.to_le_bytes()); // sharedCacheBaseAddress
        b[192..200].copy_from_slice(&dyld_path.to_le_bytes());
        b
    }

    #[test]
    fn the_64_bit_layout_matches_dyld_images_h() {
        // Offsets a C compiler gives struct dyld_all_image_infos on LP64.
        let l = Layout { width: 8 };
        assert_eq!(l.info_array(), 8);
        assert_eq!(l.dyld_image_load_address(), 32);
        assert_eq!(l.shared_cache_slide(), 152);
        assert_eq!(l.shared_cache_base(), 176);
        assert_eq!(l.dyld_path(), 192);
        // And on ILP32.
        let l = Layout { width: 4 };
        assert_eq!(l.info_array(), 8);
        assert_eq!(l.dyld_image_load_address(), 20);
        assert_eq!(l.shared_cache_slide(), 80);
        assert_eq!(l.shared_cache_base(), 100);
        assert_eq!(l.dyld_path(), 112);
    }

    #[test]
    fn old_versions_lack_the_newer_fields() {
        let mut b = all_infos_64(3, 0x5000, 0x6000, 0x7000);
        let i = parse_all_image_infos(&b, PointerWidth::Eight).expect("parse");
        assert_eq!(i.shared_cache_base, Some(0x1_8000_0000));
        assert_eq!(i.dyld_path, Some(0x7000));
        b[0..4].copy_from_slice(&11u32.to_le_bytes());
        let i = parse_all_image_infos(&b, PointerWidth::Eight).expect("parse");
        assert_eq!(i.info_array_count, 3);
        assert_eq!(i.dyld_image_load_address, Some(0x6000));
        assert_eq!(
            (i.shared_cache_slide, i.shared_cache_base, i.dyld_path),
            (None, None, None)
        );
        assert_eq!(parse_all_image_infos(&b[..10], PointerWidth::Eight), None);
        assert_eq!(PointerWidth::from_format(2), None);
    }

    #[test]
    fn reads_every_image_with_its_segments() {
        let mut mem = FakeMemory::default();
        let info = 0x10_0000;
        let array = 0x20_0000;
        let dyld = 0x1_0040_0000;
        mem.put(info, &all_infos_64(2, array, dyld, 0x30_0000));
        mem.put(0x30_0000, b"/usr/lib/dyld\0");
        let mut recs = Vec::new();
        for (load, path) in [(0x1_0000_0000u64, 0x30_1000u64), (0x1_8000_4000, 0x30_2010)] {
            recs.extend_from_slice(&load.to_le_bytes());
            recs.extend_from_slice(&path.to_le_bytes());
            recs.extend_from_slice(&0u64.to_le_bytes());
        }
        mem.put(array, &recs);
        mem.put(0x30_1000, b"/tmp/demo\0");
        // A path whose NUL is the last byte before unmapped memory, read across a page.
        let long = format!("/usr/lib/{}", "x".repeat(4096 - 0x10 - 9 - 1));
        let mut p = long.clone().into_bytes();
        p.push(0);
        assert_eq!(0x30_2010 + p.len() as u64, 0x30_3000);
        mem.put(0x30_2010, &p);
        mem.put(
            dyld,
            &build::image(&[("__TEXT", 0x1000, 0x4000, 0, 0x4000)]),
        );
        mem.put(
            0x1_0000_0000,
            &build::image(&[
                ("__TEXT", 0x1_0000_0000, 0x8000, 0, 0x8000),
                ("__DATA", 0x1_0000_8000, 0x4000, 0x8000, 0x4000),
            ]),
        );
        mem.put(
            0x1_8000_4000,
            &build::image(&[("__TEXT", 0x1_8000_0000, 0x2000, 0, 0x2000)]),
        );

        let got = read_images(&mut mem, info, PointerWidth::Eight).expect("images");
        assert_eq!(got.problems, Vec::<String>::new());
        assert_eq!(got.shared_cache, Some((0x1_8000_0000, 0x1234_0000)));
        let names: Vec<(&[u8], u64, usize)> = got
            .images
            .iter()
            .map(|i| (&*i.path, i.load_address, i.segments.len()))
            .collect();
        assert_eq!(
            names,
            vec![
                (&b"/usr/lib/dyld"[..], dyld, 1),
                (&b"/tmp/demo"[..], 0x1_0000_0000, 2),
                (long.as_bytes(), 0x1_8000_4000, 1),
            ]
        );
        assert_eq!(got.images[0].segments[0].start, dyld);
        assert_eq!(got.images[2].segments[0].start, 0x1_8000_4000);
    }

    #[test]
    fn unreadable_images_are_reported_and_skipped() {
        let mut mem = FakeMemory::default();
        let mut recs = Vec::new();
        for (load, path) in [(0x9000u64, 0x30_1000u64), (0x1_0000_0000, 0x99_0000)] {
            recs.extend_from_slice(&load.to_le_bytes());
            recs.extend_from_slice(&path.to_le_bytes());
            recs.extend_from_slice(&0u64.to_le_bytes());
        }
        mem.put(0x10_0000, &all_infos_64(2, 0x20_0000, 0, 0));
        mem.put(0x20_0000, &recs);
        mem.put(0x30_1000, b"/no/header\0");
        let got = read_images(&mut mem, 0x10_0000, PointerWidth::Eight).expect("list");
        assert!(got.images.is_empty());
        assert_eq!(got.problems.len(), 2, "{:?}", got.problems);
        assert!(got.problems[0].contains("/no/header"), "{:?}", got.problems);
    }

    #[test]
    fn a_list_being_updated_or_absent_is_an_error() {
        let mut mem = FakeMemory::default();
        mem.put(0x10_0000, &all_infos_64(5, 0, 0, 0));
        assert_eq!(
            read_images(&mut mem, 0x10_0000, PointerWidth::Eight),
            Err(DyldError::Busy)
        );
        assert_eq!(
            read_images(&mut mem, 0, PointerWidth::Eight),
            Err(DyldError::NoInfo)
        );
        mem.put(0x10_0000, &all_infos_64(MAX_IMAGES + 1, 0x1000, 0, 0));
        assert_eq!(
            read_images(&mut mem, 0x10_0000, PointerWidth::Eight),
            Err(DyldError::TooMany(MAX_IMAGES + 1))
        );
        assert!(matches!(
            read_images(&mut mem, 0x77_0000, PointerWidth::Eight),
            Err(DyldError::Read { .. })
        ));
    }

    #[test]
    fn strings_are_bounded() {
        let mut mem = FakeMemory::default();
        mem.put(0x1000, &vec![b'a'; 3 * MAX_PATH]);
        assert_eq!(
            read_c_string(&mut mem, 0x1000).map(|s| s.len()),
            Ok(MAX_PATH)
        );
        mem.put(0x10_0000, b"abc");
        assert!(
            read_c_string(&mut mem, 0x10_0000).is_err(),
            "no NUL before unmapped"
        );
    }
}
