//! The residency figures of a region, written once: [`USAGE_FIELDS`] gives each field its ABI
//! slot ([`abi::usage`](crate::abi::usage)), its name in `/proc/PID/smaps`, its column name in
//! vmpipe's tables, whether the kernel prints it in kB, and what it means. vmpipe's smaps
//! parser, its model, its CSV header and writer, the test harness and the table docs all read
//! this table.

use crate::abi::usage as slot;

/// One residency figure. The discriminant is the field's ABI slot (the kernel's print order
/// on 6.x, then `Dirty`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)] // Each field is described in `USAGE_FIELDS`, where the docs read it.
pub enum UsageField {
    KernelPageSize = slot::KERNEL_PAGE_SIZE as u8,
    MmuPageSize = slot::MMU_PAGE_SIZE as u8,
    Rss = slot::RSS as u8,
    Pss = slot::PSS as u8,
    PssDirty = slot::PSS_DIRTY as u8,
    SharedClean = slot::SHARED_CLEAN as u8,
    SharedDirty = slot::SHARED_DIRTY as u8,
    PrivateClean = slot::PRIVATE_CLEAN as u8,
    PrivateDirty = slot::PRIVATE_DIRTY as u8,
    Referenced = slot::REFERENCED as u8,
    Anonymous = slot::ANONYMOUS as u8,
    Ksm = slot::KSM as u8,
    LazyFree = slot::LAZY_FREE as u8,
    AnonHugePages = slot::ANON_HUGE_PAGES as u8,
    ShmemPmdMapped = slot::SHMEM_PMD_MAPPED as u8,
    FilePmdMapped = slot::FILE_PMD_MAPPED as u8,
    SharedHugetlb = slot::SHARED_HUGETLB as u8,
    PrivateHugetlb = slot::PRIVATE_HUGETLB as u8,
    Swap = slot::SWAP as u8,
    SwapPss = slot::SWAP_PSS as u8,
    Locked = slot::LOCKED as u8,
    ThpEligible = slot::THP_ELIGIBLE as u8,
    ProtectionKey = slot::PROTECTION_KEY as u8,
    Dirty = slot::DIRTY as u8,
}

/// What is known of one residency figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageSpec {
    /// The field (its discriminant is its place in [`USAGE_FIELDS`]).
    pub field: UsageField,
    /// Its name in `/proc/PID/smaps`, without the colon; empty for a figure the kernel does
    /// not print.
    pub smaps: &'static str,
    /// Its column name in vmpipe's tables.
    pub column: &'static str,
    /// True when the kernel prints it in kB (vmpipe stores bytes); false for plain numbers.
    pub kb: bool,
    /// What it means.
    pub description: &'static str,
}

const fn spec(
    field: UsageField,
    smaps: &'static str,
    column: &'static str,
    kb: bool,
    description: &'static str,
) -> UsageSpec {
    UsageSpec {
        field,
        smaps,
        column,
        kb,
        description,
    }
}

/// Every residency figure, by ABI slot.
pub const USAGE_FIELDS: [UsageSpec; 24] = {
    use UsageField as F;
    [
        spec(
            F::KernelPageSize,
            "KernelPageSize",
            "kernel_page_size",
            true,
            "page size the kernel uses for the region",
        ),
        spec(
            F::MmuPageSize,
            "MMUPageSize",
            "mmu_page_size",
            true,
            "page size the MMU uses for the region",
        ),
        spec(F::Rss, "Rss", "rss", true, "resident set size"),
        spec(
            F::Pss,
            "Pss",
            "pss",
            true,
            "proportional set size: each resident page divided by the number of processes mapping it",
        ),
        spec(
            F::PssDirty,
            "Pss_Dirty",
            "pss_dirty",
            true,
            "the dirty part of pss (kernel 6.0+)",
        ),
        spec(
            F::SharedClean,
            "Shared_Clean",
            "shared_clean",
            true,
            "clean pages mapped by other processes too",
        ),
        spec(
            F::SharedDirty,
            "Shared_Dirty",
            "shared_dirty",
            true,
            "dirty pages mapped by other processes too",
        ),
        spec(
            F::PrivateClean,
            "Private_Clean",
            "private_clean",
            true,
            "clean pages mapped by this process alone",
        ),
        spec(
            F::PrivateDirty,
            "Private_Dirty",
            "private_dirty",
            true,
            "dirty pages mapped by this process alone",
        ),
        spec(
            F::Referenced,
            "Referenced",
            "referenced",
            true,
            "pages marked accessed",
        ),
        spec(
            F::Anonymous,
            "Anonymous",
            "anonymous",
            true,
            "pages not backed by a file (including copy-on-write copies of file pages)",
        ),
        spec(
            F::Ksm,
            "KSM",
            "ksm",
            true,
            "pages merged by kernel same-page merging",
        ),
        spec(
            F::LazyFree,
            "LazyFree",
            "lazy_free",
            true,
            "pages released with MADV_FREE and not yet reclaimed",
        ),
        spec(
            F::AnonHugePages,
            "AnonHugePages",
            "anon_huge_pages",
            true,
            "anonymous transparent huge pages",
        ),
        spec(
            F::ShmemPmdMapped,
            "ShmemPmdMapped",
            "shmem_pmd_mapped",
            true,
            "shmem/tmpfs pages mapped with huge pages",
        ),
        spec(
            F::FilePmdMapped,
            "FilePmdMapped",
            "file_pmd_mapped",
            true,
            "file pages mapped with huge pages",
        ),
        spec(
            F::SharedHugetlb,
            "Shared_Hugetlb",
            "shared_hugetlb",
            true,
            "hugetlbfs pages shared with other processes",
        ),
        spec(
            F::PrivateHugetlb,
            "Private_Hugetlb",
            "private_hugetlb",
            true,
            "hugetlbfs pages private to this process",
        ),
        spec(F::Swap, "Swap", "swap", true, "bytes swapped out"),
        spec(
            F::SwapPss,
            "SwapPss",
            "swap_pss",
            true,
            "proportional share of the swapped bytes",
        ),
        spec(
            F::Locked,
            "Locked",
            "locked",
            true,
            "bytes locked in memory (mlock)",
        ),
        spec(
            F::ThpEligible,
            "THPeligible",
            "thp_eligible",
            false,
            "1 when the region may use transparent huge pages (a number, not bytes)",
        ),
        spec(
            F::ProtectionKey,
            "ProtectionKey",
            "protection_key",
            false,
            "the memory protection key (a number, not bytes)",
        ),
        spec(
            F::Dirty,
            "",
            "dirty",
            true,
            "dirty bytes as a report counts them (vmmap's DIRTY: pages modified in memory, private or shared); Linux prints no such field, its equivalent is shared_dirty + private_dirty",
        ),
    ]
};

// Each entry sits at its field's slot, and every slot fits the ABI's array.
const _: () = {
    let mut i = 0;
    while i < USAGE_FIELDS.len() {
        assert!(USAGE_FIELDS[i].field as usize == i);
        i += 1;
    }
    assert!(USAGE_FIELDS.len() <= slot::SLOTS);
};

impl UsageField {
    /// Every field, by ABI slot.
    pub const ALL: [UsageField; USAGE_FIELDS.len()] = {
        let mut all = [UsageField::Rss; USAGE_FIELDS.len()];
        let mut i = 0;
        while i < all.len() {
            all[i] = USAGE_FIELDS[i].field;
            i += 1;
        }
        all
    };

    /// Everything known of the field.
    pub const fn spec(self) -> UsageSpec {
        USAGE_FIELDS[self as usize]
    }

    /// The field's ABI slot (its index into [`RegionV2::usage`](crate::abi::RegionV2::usage)).
    pub const fn slot(self) -> usize {
        self as usize
    }

    /// The field's name in `/proc/PID/smaps` (without the colon; empty for `Dirty`).
    pub const fn smaps_name(self) -> &'static str {
        USAGE_FIELDS[self as usize].smaps
    }

    /// The column name in vmpipe's tables (snake case).
    pub const fn column(self) -> &'static str {
        USAGE_FIELDS[self as usize].column
    }

    /// True when the kernel prints the field in kB (vmpipe stores bytes); false for the two
    /// plain numbers.
    pub const fn in_kb(self) -> bool {
        USAGE_FIELDS[self as usize].kb
    }

    /// The field with this smaps name, if the kernel prints one of that name.
    pub fn from_smaps_name(name: &[u8]) -> Option<UsageField> {
        USAGE_FIELDS
            .iter()
            .find(|s| !s.smaps.is_empty() && s.smaps.as_bytes() == name)
            .map(|s| s.field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for (i, f) in UsageField::ALL.iter().enumerate() {
            assert_eq!(f.slot(), i);
            // Dirty is a report's figure: the kernel prints no such smaps field.
            let want = (*f != UsageField::Dirty).then_some(*f);
            assert_eq!(UsageField::from_smaps_name(f.smaps_name().as_bytes()), want);
            for g in &UsageField::ALL[..i] {
                assert_ne!(f.column(), g.column());
                assert!(f.smaps_name().is_empty() || f.smaps_name() != g.smaps_name());
            }
        }
        assert_eq!(UsageField::from_smaps_name(b"Size"), None);
        assert_eq!(UsageField::from_smaps_name(b""), None);
    }
}
