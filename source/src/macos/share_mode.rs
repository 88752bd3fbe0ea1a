//! vmmap's `SHRMOD` column: the `share_mode` byte the kernel reports for every region
//! (`vm_region_submap_info_64.share_mode`, `<mach/vm_region.h>`), as vmmap prints it.
//!
//! | constant (value)          | vmmap | what the kernel means                                        |
//! |---------------------------|-------|--------------------------------------------------------------|
//! | `SM_COW` (1)              | `COW` | copy-on-write: the object is shadowed or has a copy          |
//! | `SM_PRIVATE` (2)          | `PRV` | private: only this mapping references the object             |
//! | `SM_EMPTY` (3)            | `NUL` | no object yet: nothing was ever touched                      |
//! | `SM_SHARED` (4)           | `ALI` | referenced by other mappings too (vmmap: "aliased")          |
//! | `SM_TRUESHARED` (5)       | `SHM` | truly shared memory (`MAP_SHARED`, IPC, the commpage)        |
//! | `SM_PRIVATE_ALIASED` (6)  | `ZER` | private, but mapped more than once in this task              |
//! | `SM_SHARED_ALIASED` (7)   | `S/A` | shared, and mapped more than once in this task               |
//! | `SM_LARGE_PAGE` (8)       | `LPG` | backed by large pages                                        |
//!
//! The constants are XNU's (`osfmk/mach/vm_region.h`, also `sys/proc_info.h`). The names are
//! what vmmap prints: its legend lists `COW PRV NUL ALI SHM ZER S/A` in exactly the constants'
//! numeric order 1–7, and Apple's own `gcore` (system_cmds, `str_shared`, which cites the
//! Symbolication framework vmmap is built on) maps the codes the same way, including
//! `SM_SHARED` → `ALI` and `SM_TRUESHARED` → `SHM` — the real reports agree: anonymous
//! `shared memory` rows print `SHM`, files mapped by several processes print `ALI`.
//! `LPG` comes from that `gcore` table only: vmmap's legend does not list it, and no report at
//! hand shows it. Any other value (0 for a region the kernel did not classify) has no name.

/// `SM_COW`: copy-on-write.
pub const SM_COW: u8 = 1;
/// `SM_PRIVATE`: private to this mapping.
pub const SM_PRIVATE: u8 = 2;
/// `SM_EMPTY`: no backing object yet.
pub const SM_EMPTY: u8 = 3;
/// `SM_SHARED`: the object is referenced by other mappings too.
pub const SM_SHARED: u8 = 4;
/// `SM_TRUESHARED`: truly shared memory.
pub const SM_TRUESHARED: u8 = 5;
/// `SM_PRIVATE_ALIASED`: private, mapped more than once in this task.
pub const SM_PRIVATE_ALIASED: u8 = 6;
/// `SM_SHARED_ALIASED`: shared, mapped more than once in this task.
pub const SM_SHARED_ALIASED: u8 = 7;
/// `SM_LARGE_PAGE`: large-page backed.
pub const SM_LARGE_PAGE: u8 = 8;

/// Every share mode the kernel defines, with the name vmmap prints, in numeric order.
pub const SHARE_MODES: [(u8, &str); 8] = [
    (SM_COW, "COW"),
    (SM_PRIVATE, "PRV"),
    (SM_EMPTY, "NUL"),
    (SM_SHARED, "ALI"),
    (SM_TRUESHARED, "SHM"),
    (SM_PRIVATE_ALIASED, "ZER"),
    (SM_SHARED_ALIASED, "S/A"),
    (SM_LARGE_PAGE, "LPG"),
];

/// The `SHRMOD` name of a kernel share mode (`COW`, `PRV`, …); `None` for a value the kernel
/// does not define (vmmap prints nothing there).
pub fn share_mode_name(code: u8) -> Option<&'static str> {
    SHARE_MODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| *name)
}

/// The kernel share mode a `SHRMOD` name stands for (the inverse of [`share_mode_name`]).
pub fn share_mode_code(name: &str) -> Option<u8> {
    SHARE_MODES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(code, _)| *code)
}

/// True when a region of this share mode counts as shared (`s` in [`crate::model::Perms`]):
/// `SHM` and `S/A`, the rule the vmmap-report source applies to the same column.
pub fn is_shared(name: &str) -> bool {
    matches!(name, "SHM" | "S/A")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for (code, name) in SHARE_MODES {
            assert_eq!(share_mode_name(code), Some(name));
            assert_eq!(share_mode_code(name), Some(code));
        }
        assert_eq!(share_mode_name(0), None);
        assert_eq!(share_mode_name(9), None);
        assert_eq!(share_mode_code("cow"), None);
        assert_eq!(share_mode_code(""), None);
    }

    #[test]
    fn the_kernel_constants_are_xnus() {
        // osfmk/mach/vm_region.h: SM_COW 1 … SM_LARGE_PAGE 8.
        let codes: Vec<u8> = SHARE_MODES.iter().map(|(c, _)| *c).collect();
        assert_eq!(codes, (1..=8).collect::<Vec<u8>>());
        assert!(is_shared("SHM") && is_shared("S/A"));
        assert!(!is_shared("ALI") && !is_shared("COW") && !is_shared("PRV"));
    }
}
