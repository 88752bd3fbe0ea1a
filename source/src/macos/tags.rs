//! vmmap's `REGION TYPE` for a region that belongs to no image: decided from the region's
//! `user_tag` (the `VM_MEMORY_*` tag its allocator passed as `VM_MAKE_TAG(tag)` to
//! `mach_vm_allocate`/`mmap`), its share mode, its pager and its protection.
//!
//! The tag numbers are XNU's (`osfmk/mach/vm_statistics.h`, checked against the header). The
//! names are what vmmap prints, and every entry of [`TAGS`] says where its name comes from
//! ([`Evidence`]): the vmmap reports in `tests/fixtures/vmmap/`, vmmap output and crash
//! reports' *VM Region Summary* (printed by the same Symbolication framework) published by
//! others, or — for tags no report at hand shows — Apple's own table in `gcore` (system_cmds,
//! `str_tag`, which cites Symbolication's `VMURegionTypeDescriptionForTagShareProtAndPager`),
//! whose spelling differs from vmmap's where both are known (`OS Alloc Once` for vmmap's
//! `Kernel Alloc Once`, `IO Surface` for `IOSurface`), so those names may differ from what a
//! Mac prints.
//!
//! Rules beyond the table (as vmmap applies them):
//!
//! * tag 0: `mapped file` when a pager backs it (a file), `shared memory` when the kernel
//!   calls it truly shared (`SM_TRUESHARED`), else `VM_ALLOCATE`;
//! * `VM_MEMORY_STACK` with no access (`---`): `STACK GUARD`, else `Stack`;
//! * a malloc tag with no access: `MALLOC guard page`; `VM_MEMORY_MALLOC` otherwise is
//!   `MALLOC metadata`, as vmmap prints it from macOS 10.12 on (libmalloc keeps its metadata
//!   under that tag; the 10.10 and format-2.2 reports print `MALLOC` and `MALLOC (admin)`);
//! * a tag with no name — including the application tags 240–255 — is `Memory Tag N`, as
//!   vmmap prints it (`Memory Tag 22`, `Memory Tag 242`).
//!
//! What vmmap adds from reading the malloc zones inside the process (`MALLOC_TINY (empty)`,
//! `MALLOC_LARGE metadata`, zone names in the detail) and from its own accounting
//! (`(reserved)`, `owned unmapped`, `page table in kernel`) cannot be told from a tag and is
//! not produced.

use std::borrow::Cow;

use super::share_mode::SM_TRUESHARED;

/// Where the vmmap spelling of a tag's name was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// In a report under `tests/fixtures/vmmap/` (the consistency test checks it).
    Fixture,
    /// In vmmap output or a crash report's VM Region Summary published by others.
    Published,
    /// Only in Apple's `gcore` tag table; vmmap may spell it differently or print
    /// `Memory Tag N`.
    AppleTable,
}

/// One `VM_MEMORY_*` tag and the region type vmmap prints for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagName {
    /// The tag number.
    pub tag: u32,
    /// The constant's name in `<mach/vm_statistics.h>`.
    pub constant: &'static str,
    /// The region type vmmap prints.
    pub name: &'static str,
    /// Where that spelling comes from.
    pub evidence: Evidence,
}

const fn t(tag: u32, constant: &'static str, name: &'static str, evidence: Evidence) -> TagName {
    TagName {
        tag,
        constant,
        name,
        evidence,
    }
}

use Evidence::{AppleTable as A, Fixture as F, Published as P};

/// `VM_MEMORY_MALLOC`.
pub const VM_MEMORY_MALLOC: u32 = 1;
/// `VM_MEMORY_STACK`.
pub const VM_MEMORY_STACK: u32 = 30;
/// `VM_MEMORY_APPLICATION_SPECIFIC_1`: the first of the 16 tags left to applications.
pub const VM_MEMORY_APPLICATION_SPECIFIC_1: u32 = 240;

/// Every named tag, in tag order.
pub const TAGS: &[TagName] = &[
    t(1, "VM_MEMORY_MALLOC", "MALLOC metadata", F),
    t(2, "VM_MEMORY_MALLOC_SMALL", "MALLOC_SMALL", F),
    t(3, "VM_MEMORY_MALLOC_LARGE", "MALLOC_LARGE", F),
    t(4, "VM_MEMORY_MALLOC_HUGE", "MALLOC_HUGE", A),
    t(5, "VM_MEMORY_SBRK", "SBRK", A),
    t(6, "VM_MEMORY_REALLOC", "MALLOC_REALLOC", A),
    t(7, "VM_MEMORY_MALLOC_TINY", "MALLOC_TINY", F),
    t(
        8,
        "VM_MEMORY_MALLOC_LARGE_REUSABLE",
        "MALLOC_LARGE_REUSABLE",
        A,
    ),
    t(9, "VM_MEMORY_MALLOC_LARGE_REUSED", "MALLOC_LARGE", F),
    t(10, "VM_MEMORY_ANALYSIS_TOOL", "Performance tool data", P),
    t(11, "VM_MEMORY_MALLOC_NANO", "MALLOC_NANO", F),
    t(12, "VM_MEMORY_MALLOC_MEDIUM", "MALLOC_MEDIUM", P),
    t(13, "VM_MEMORY_MALLOC_PROB_GUARD", "MALLOC_PROB_GUARD", A),
    t(20, "VM_MEMORY_MACH_MSG", "Mach message", P),
    t(21, "VM_MEMORY_IOKIT", "IOKit", F),
    t(30, "VM_MEMORY_STACK", "Stack", F),
    t(31, "VM_MEMORY_GUARD", "Guard", A),
    t(32, "VM_MEMORY_SHARED_PMAP", "shared pmap", A),
    t(33, "VM_MEMORY_DYLIB", "dylib", A),
    t(34, "VM_MEMORY_OBJC_DISPATCHERS", "ObjC dispatching code", A),
    t(35, "VM_MEMORY_UNSHARED_PMAP", "unshared pmap", A),
    t(40, "VM_MEMORY_APPKIT", "AppKit", A),
    t(41, "VM_MEMORY_FOUNDATION", "Foundation", F),
    t(42, "VM_MEMORY_COREGRAPHICS", "CoreGraphics", F),
    t(43, "VM_MEMORY_CORESERVICES", "CoreServices", P),
    t(44, "VM_MEMORY_JAVA", "Java", A),
    t(45, "VM_MEMORY_COREDATA", "CoreData", A),
    t(46, "VM_MEMORY_COREDATA_OBJECTIDS", "CoreData Object IDs", A),
    t(50, "VM_MEMORY_ATS", "ATS (font support)", P),
    t(51, "VM_MEMORY_LAYERKIT", "CoreAnimation", F),
    t(52, "VM_MEMORY_CGIMAGE", "CG image", F),
    t(53, "VM_MEMORY_TCMALLOC", "WebKit Malloc", P),
    t(54, "VM_MEMORY_COREGRAPHICS_DATA", "CG raster data", P),
    t(55, "VM_MEMORY_COREGRAPHICS_SHARED", "CG shared images", P),
    t(
        56,
        "VM_MEMORY_COREGRAPHICS_FRAMEBUFFERS",
        "CG framebuffers",
        A,
    ),
    t(
        57,
        "VM_MEMORY_COREGRAPHICS_BACKINGSTORES",
        "CG backing stores",
        P,
    ),
    t(58, "VM_MEMORY_COREGRAPHICS_XALLOC", "CG xalloc", A),
    t(60, "VM_MEMORY_DYLD", "dyld private memory", F),
    t(61, "VM_MEMORY_DYLD_MALLOC", "dyld malloc memory", A),
    t(62, "VM_MEMORY_SQLITE", "SQLite page cache", P),
    // WebKit tags its Gigacage with VM_MEMORY_JAVASCRIPT_CORE (bmalloc's VMTags); current
    // vmmap prints `JS VM Gigacage` (older releases: `JS garbage collector`).
    t(63, "VM_MEMORY_JAVASCRIPT_CORE", "JS VM Gigacage", P),
    t(
        64,
        "VM_MEMORY_JAVASCRIPT_JIT_EXECUTABLE_ALLOCATOR",
        "JS JIT generated code",
        P,
    ),
    t(
        65,
        "VM_MEMORY_JAVASCRIPT_JIT_REGISTER_FILE",
        "JS VM register file",
        P,
    ),
    t(66, "VM_MEMORY_GLSL", "OpenGL GLSL", P),
    t(67, "VM_MEMORY_OPENCL", "OpenCL", P),
    t(68, "VM_MEMORY_COREIMAGE", "CoreImage", P),
    t(
        69,
        "VM_MEMORY_WEBCORE_PURGEABLE_BUFFERS",
        "WebCore purgable data",
        A,
    ),
    t(70, "VM_MEMORY_IMAGEIO", "Image IO", P),
    t(71, "VM_MEMORY_COREPROFILE", "CoreProfile", A),
    t(72, "VM_MEMORY_ASSETSD", "Assets Library", A),
    t(73, "VM_MEMORY_OS_ALLOC_ONCE", "Kernel Alloc Once", F),
    t(74, "VM_MEMORY_LIBDISPATCH", "Dispatch continuations", F),
    t(75, "VM_MEMORY_ACCELERATE", "Accelerate framework", P),
    t(76, "VM_MEMORY_COREUI", "CoreUI image data", P),
    t(77, "VM_MEMORY_COREUIFILE", "CoreUI image file", P),
    t(78, "VM_MEMORY_GENEALOGY", "Activity Tracing", F),
    t(79, "VM_MEMORY_RAWCAMERA", "RawCamera", A),
    t(80, "VM_MEMORY_CORPSEINFO", "Process Corpse Info", A),
    t(81, "VM_MEMORY_ASL", "Apple System Log", A),
    t(82, "VM_MEMORY_SWIFT_RUNTIME", "Swift runtime", A),
    t(83, "VM_MEMORY_SWIFT_METADATA", "Swift metadata", A),
    t(84, "VM_MEMORY_DHMM", "DHMM", A),
    t(86, "VM_MEMORY_SCENEKIT", "SceneKit", A),
    t(87, "VM_MEMORY_SKYWALK", "Skywalk Networking", A),
    t(88, "VM_MEMORY_IOSURFACE", "IOSurface", F),
    t(89, "VM_MEMORY_LIBNETWORK", "libnetwork", A),
    t(90, "VM_MEMORY_AUDIO", "Audio", A),
    t(91, "VM_MEMORY_VIDEOBITSTREAM", "Video Bitstream", A),
    t(92, "VM_MEMORY_CM_XPC", "CoreMedia XPC", A),
    t(93, "VM_MEMORY_CM_RPC", "CoreMedia RPC", A),
    t(94, "VM_MEMORY_CM_MEMORYPOOL", "CoreMedia Memory Pool", A),
    t(95, "VM_MEMORY_CM_READCACHE", "CoreMedia Readcache", A),
    t(96, "VM_MEMORY_CM_CRABS", "CoreMedia Crabs", A),
    t(
        97,
        "VM_MEMORY_QUICKLOOK_THUMBNAILS",
        "Quicklook Thumbnails",
        A,
    ),
    t(98, "VM_MEMORY_ACCOUNTS", "Accounts", A),
    t(99, "VM_MEMORY_SANITIZER", "Sanitizer", A),
    t(100, "VM_MEMORY_IOACCELERATOR", "IOAccelerator", F),
    t(101, "VM_MEMORY_CM_REGWARP", "CoreMedia Regwarp", A),
    t(
        102,
        "VM_MEMORY_EAR_DECODER",
        "Embedded Acoustic Recognition Decoder",
        A,
    ),
    t(
        103,
        "VM_MEMORY_COREUI_CACHED_IMAGE_DATA",
        "CoreUI Cached Image Data",
        A,
    ),
    t(104, "VM_MEMORY_COLORSYNC", "ColorSync", F),
    t(105, "VM_MEMORY_BTINFO", "BT Info", A),
    t(106, "VM_MEMORY_CM_HLS", "CoreMedia HLS", A),
    t(230, "VM_MEMORY_ROSETTA", "Rosetta", A),
    t(
        231,
        "VM_MEMORY_ROSETTA_THREAD_CONTEXT",
        "Rosetta Thread Context",
        A,
    ),
    t(
        232,
        "VM_MEMORY_ROSETTA_INDIRECT_BRANCH_MAP",
        "Rosetta Indirect Branch Map",
        A,
    ),
    t(
        233,
        "VM_MEMORY_ROSETTA_RETURN_STACK",
        "Rosetta Return Stack",
        A,
    ),
    t(
        234,
        "VM_MEMORY_ROSETTA_EXECUTABLE_HEAP",
        "Rosetta Executable Heap",
        A,
    ),
    t(235, "VM_MEMORY_ROSETTA_USER_LDT", "Rosetta User LDT", A),
    t(236, "VM_MEMORY_ROSETTA_ARENA", "Rosetta Arena", A),
    t(239, "VM_MEMORY_ROSETTA_10", "Rosetta 10", A),
];

/// The region types decided by a rule rather than by [`TAGS`] alone.
pub const RULE_NAMES: [&str; 5] = [
    "mapped file",
    "shared memory",
    "VM_ALLOCATE",
    "STACK GUARD",
    "MALLOC guard page",
];

/// The malloc tags: regions libmalloc allocates (a guard page among them is a
/// `MALLOC guard page`).
const MALLOC_TAGS: [u32; 11] = [1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 13];

/// What decides a region's type besides its tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TagFacts {
    /// `user_tag` (the `VM_MEMORY_*` number; 0 when none was given).
    pub user_tag: u32,
    /// `share_mode` (`SM_*`).
    pub share_mode: u8,
    /// `external_pager`: a pager (a file) backs the region.
    pub external_pager: bool,
    /// The current protection allows nothing (`---`).
    pub no_access: bool,
}

/// The name [`TAGS`] gives `tag`, if any.
pub fn tag_name(tag: u32) -> Option<&'static str> {
    TAGS.iter().find(|t| t.tag == tag).map(|t| t.name)
}

/// The region type vmmap prints for a region with these facts that belongs to no image.
pub fn region_type(f: &TagFacts) -> Cow<'static, str> {
    if f.user_tag == 0 {
        return Cow::Borrowed(if f.external_pager {
            "mapped file"
        } else if f.share_mode == SM_TRUESHARED {
            "shared memory"
        } else {
            "VM_ALLOCATE"
        });
    }
    if f.no_access {
        if f.user_tag == VM_MEMORY_STACK {
            return Cow::Borrowed("STACK GUARD");
        }
        if MALLOC_TAGS.contains(&f.user_tag) {
            return Cow::Borrowed("MALLOC guard page");
        }
    }
    match tag_name(f.user_tag) {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(format!("Memory Tag {}", f.user_tag)),
    }
}

/// The tag a region type comes from, when one does (`MALLOC_LARGE` → 3, `Memory Tag 22` →
/// 22, `STACK GUARD` → 30, `MALLOC guard page` → 1); `None` for a type no tag gives
/// (`mapped file`, a segment name, a zone-derived type).
pub fn tag_for_type(name: &str) -> Option<u32> {
    match name {
        "STACK GUARD" => return Some(VM_MEMORY_STACK),
        "MALLOC guard page" => return Some(VM_MEMORY_MALLOC),
        _ => {}
    }
    if let Some(n) = name.strip_prefix("Memory Tag ") {
        // Only the canonical spelling vmmap prints ("22", not "022" or "+22").
        let tag: u32 = n.parse().ok()?;
        return (tag.to_string() == n && tag_name(tag).is_none()).then_some(tag);
    }
    TAGS.iter().find(|t| t.name == name).map(|t| t.tag)
}

/// Every region type this module can produce for a named tag or a rule (not the
/// `Memory Tag N` family).
pub fn all_names() -> impl Iterator<Item = &'static str> {
    TAGS.iter().map(|t| t.name).chain(RULE_NAMES)
}

#[cfg(test)]
mod tests {
    use super::super::share_mode::{SM_COW, SM_EMPTY, SM_PRIVATE, SM_SHARED};
    use super::*;

    fn facts(user_tag: u32) -> TagFacts {
        TagFacts {
            user_tag,
            share_mode: SM_PRIVATE,
            external_pager: false,
            no_access: false,
        }
    }

    #[test]
    fn the_table_is_sorted_and_unique_per_tag() {
        for w in TAGS.windows(2) {
            assert!(w[0].tag < w[1].tag, "{:?} {:?}", w[0], w[1]);
        }
        for t in TAGS {
            assert!(t.tag < VM_MEMORY_APPLICATION_SPECIFIC_1, "{t:?}");
            assert!(t.constant.starts_with("VM_MEMORY_"));
        }
    }

    #[test]
    fn tag_numbers_are_xnus() {
        // Spot checks against osfmk/mach/vm_statistics.h.
        let by_constant = |c: &str| TAGS.iter().find(|t| t.constant == c).map(|t| t.tag);
        assert_eq!(by_constant("VM_MEMORY_MALLOC_TINY"), Some(7));
        assert_eq!(by_constant("VM_MEMORY_MALLOC_NANO"), Some(11));
        assert_eq!(by_constant("VM_MEMORY_IOKIT"), Some(21));
        assert_eq!(by_constant("VM_MEMORY_STACK"), Some(30));
        assert_eq!(by_constant("VM_MEMORY_DYLD"), Some(60));
        assert_eq!(by_constant("VM_MEMORY_OS_ALLOC_ONCE"), Some(73));
        assert_eq!(by_constant("VM_MEMORY_GENEALOGY"), Some(78));
        assert_eq!(by_constant("VM_MEMORY_IOACCELERATOR"), Some(100));
        assert_eq!(by_constant("VM_MEMORY_COLORSYNC"), Some(104));
        assert_eq!(by_constant("VM_MEMORY_ROSETTA_10"), Some(239));
    }

    #[test]
    fn rules_decide_untagged_stack_and_malloc_regions() {
        let mut f = facts(0);
        assert_eq!(region_type(&f), "VM_ALLOCATE");
        f.share_mode = SM_TRUESHARED;
        assert_eq!(region_type(&f), "shared memory");
        f.external_pager = true;
        assert_eq!(region_type(&f), "mapped file");
        f = facts(0);
        f.share_mode = SM_SHARED;
        assert_eq!(region_type(&f), "VM_ALLOCATE");

        let mut s = facts(VM_MEMORY_STACK);
        assert_eq!(region_type(&s), "Stack");
        s.no_access = true;
        s.share_mode = SM_EMPTY;
        assert_eq!(region_type(&s), "STACK GUARD");

        let mut m = facts(7);
        assert_eq!(region_type(&m), "MALLOC_TINY");
        m.no_access = true;
        assert_eq!(region_type(&m), "MALLOC guard page");
        assert_eq!(region_type(&facts(1)), "MALLOC metadata");
        assert_eq!(region_type(&facts(9)), "MALLOC_LARGE");

        // Without access, a non-malloc, non-stack tag keeps its name.
        let mut io = facts(21);
        io.no_access = true;
        io.share_mode = SM_COW;
        assert_eq!(region_type(&io), "IOKit");
    }

    #[test]
    fn unnamed_tags_print_as_memory_tag_n() {
        assert_eq!(region_type(&facts(22)), "Memory Tag 22");
        assert_eq!(region_type(&facts(240)), "Memory Tag 240");
        assert_eq!(region_type(&facts(255)), "Memory Tag 255");
        assert_eq!(region_type(&facts(85)), "Memory Tag 85");
        assert_eq!(tag_for_type("Memory Tag 22"), Some(22));
        assert_eq!(tag_for_type("Memory Tag 022"), None);
        assert_eq!(tag_for_type("Memory Tag 7"), None, "7 has a name");
        assert_eq!(tag_for_type("Memory Tag x"), None);
    }

    #[test]
    fn every_name_maps_back_to_a_tag_that_prints_it() {
        for t in TAGS {
            let tag = tag_for_type(t.name).expect(t.name);
            assert_eq!(region_type(&facts(tag)), t.name, "{t:?}");
        }
        assert_eq!(tag_for_type("mapped file"), None);
        assert_eq!(tag_for_type("__TEXT"), None);
        let mut guard = facts(tag_for_type("STACK GUARD").unwrap_or(0));
        guard.no_access = true;
        assert_eq!(region_type(&guard), "STACK GUARD");
        assert_eq!(all_names().count(), TAGS.len() + RULE_NAMES.len());
    }
}
