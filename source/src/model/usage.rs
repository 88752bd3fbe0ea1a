//! Residency figures of one region: the numeric fields of `/proc/PID/smaps` (and, for other
//! sources, whatever subset they know).
//!
//! Every figure is either present (a value in bytes, or a plain number for the two unitless
//! fields) or absent. Absent is not zero: a `maps`-only sweep knows no residency at all, an old
//! kernel prints no `Pss_Dirty`, a vmmap report has no `Pss`.

/// One numeric smaps field. The order is the kernel's print order (6.x) and the CSV column order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum UsageField {
    /// `KernelPageSize`: page size the kernel uses for the region.
    KernelPageSize,
    /// `MMUPageSize`: page size the MMU uses for the region.
    MmuPageSize,
    /// `Rss`: resident set size.
    Rss,
    /// `Pss`: proportional set size (each page divided by the number of processes mapping it).
    Pss,
    /// `Pss_Dirty`: the dirty part of `Pss` (kernel 6.0+).
    PssDirty,
    /// `Shared_Clean`: clean pages mapped by other processes too.
    SharedClean,
    /// `Shared_Dirty`: dirty pages mapped by other processes too.
    SharedDirty,
    /// `Private_Clean`: clean pages mapped by this process alone.
    PrivateClean,
    /// `Private_Dirty`: dirty pages mapped by this process alone.
    PrivateDirty,
    /// `Referenced`: pages marked accessed.
    Referenced,
    /// `Anonymous`: pages not backed by a file (including COW copies of file pages).
    Anonymous,
    /// `KSM`: pages merged by kernel same-page merging.
    Ksm,
    /// `LazyFree`: pages released with `MADV_FREE` not yet reclaimed.
    LazyFree,
    /// `AnonHugePages`: anonymous transparent huge pages.
    AnonHugePages,
    /// `ShmemPmdMapped`: shmem/tmpfs pages mapped with huge pages.
    ShmemPmdMapped,
    /// `FilePmdMapped`: file pages mapped with huge pages.
    FilePmdMapped,
    /// `Shared_Hugetlb`: hugetlbfs pages shared with other processes.
    SharedHugetlb,
    /// `Private_Hugetlb`: hugetlbfs pages private to this process.
    PrivateHugetlb,
    /// `Swap`: bytes swapped out.
    Swap,
    /// `SwapPss`: proportional share of swapped bytes.
    SwapPss,
    /// `Locked`: bytes locked in memory (`mlock`).
    Locked,
    /// `THPeligible`: 1 when the region may use transparent huge pages (a number, not bytes).
    ThpEligible,
    /// `ProtectionKey`: the memory protection key (a number, not bytes).
    ProtectionKey,
    /// Dirty bytes as a report counts them (vmmap's DIRTY: pages modified in memory, private or
    /// shared). Linux prints no such field; its equivalent is `Shared_Dirty + Private_Dirty`.
    Dirty,
}

impl UsageField {
    /// Every field, in CSV column order.
    pub const ALL: [UsageField; 24] = [
        UsageField::KernelPageSize,
        UsageField::MmuPageSize,
        UsageField::Rss,
        UsageField::Pss,
        UsageField::PssDirty,
        UsageField::SharedClean,
        UsageField::SharedDirty,
        UsageField::PrivateClean,
        UsageField::PrivateDirty,
        UsageField::Referenced,
        UsageField::Anonymous,
        UsageField::Ksm,
        UsageField::LazyFree,
        UsageField::AnonHugePages,
        UsageField::ShmemPmdMapped,
        UsageField::FilePmdMapped,
        UsageField::SharedHugetlb,
        UsageField::PrivateHugetlb,
        UsageField::Swap,
        UsageField::SwapPss,
        UsageField::Locked,
        UsageField::ThpEligible,
        UsageField::ProtectionKey,
        UsageField::Dirty,
    ];

    /// The field's name in `/proc/PID/smaps` (without the colon).
    pub fn smaps_name(self) -> &'static str {
        match self {
            UsageField::KernelPageSize => "KernelPageSize",
            UsageField::MmuPageSize => "MMUPageSize",
            UsageField::Rss => "Rss",
            UsageField::Pss => "Pss",
            UsageField::PssDirty => "Pss_Dirty",
            UsageField::SharedClean => "Shared_Clean",
            UsageField::SharedDirty => "Shared_Dirty",
            UsageField::PrivateClean => "Private_Clean",
            UsageField::PrivateDirty => "Private_Dirty",
            UsageField::Referenced => "Referenced",
            UsageField::Anonymous => "Anonymous",
            UsageField::Ksm => "KSM",
            UsageField::LazyFree => "LazyFree",
            UsageField::AnonHugePages => "AnonHugePages",
            UsageField::ShmemPmdMapped => "ShmemPmdMapped",
            UsageField::FilePmdMapped => "FilePmdMapped",
            UsageField::SharedHugetlb => "Shared_Hugetlb",
            UsageField::PrivateHugetlb => "Private_Hugetlb",
            UsageField::Swap => "Swap",
            UsageField::SwapPss => "SwapPss",
            UsageField::Locked => "Locked",
            UsageField::ThpEligible => "THPeligible",
            UsageField::ProtectionKey => "ProtectionKey",
            UsageField::Dirty => "Dirty",
        }
    }

    /// The CSV column name (snake case).
    pub fn column(self) -> &'static str {
        match self {
            UsageField::KernelPageSize => "kernel_page_size",
            UsageField::MmuPageSize => "mmu_page_size",
            UsageField::Rss => "rss",
            UsageField::Pss => "pss",
            UsageField::PssDirty => "pss_dirty",
            UsageField::SharedClean => "shared_clean",
            UsageField::SharedDirty => "shared_dirty",
            UsageField::PrivateClean => "private_clean",
            UsageField::PrivateDirty => "private_dirty",
            UsageField::Referenced => "referenced",
            UsageField::Anonymous => "anonymous",
            UsageField::Ksm => "ksm",
            UsageField::LazyFree => "lazy_free",
            UsageField::AnonHugePages => "anon_huge_pages",
            UsageField::ShmemPmdMapped => "shmem_pmd_mapped",
            UsageField::FilePmdMapped => "file_pmd_mapped",
            UsageField::SharedHugetlb => "shared_hugetlb",
            UsageField::PrivateHugetlb => "private_hugetlb",
            UsageField::Swap => "swap",
            UsageField::SwapPss => "swap_pss",
            UsageField::Locked => "locked",
            UsageField::ThpEligible => "thp_eligible",
            UsageField::ProtectionKey => "protection_key",
            UsageField::Dirty => "dirty",
        }
    }

    /// True when the kernel prints the field in kB (the model stores bytes); false for the two
    /// plain numbers.
    pub fn in_kb(self) -> bool {
        !matches!(self, UsageField::ThpEligible | UsageField::ProtectionKey)
    }

    /// The field with this smaps name, if it is one the model knows.
    pub fn from_smaps_name(name: &[u8]) -> Option<UsageField> {
        Some(match name {
            b"KernelPageSize" => UsageField::KernelPageSize,
            b"MMUPageSize" => UsageField::MmuPageSize,
            b"Rss" => UsageField::Rss,
            b"Pss" => UsageField::Pss,
            b"Pss_Dirty" => UsageField::PssDirty,
            b"Shared_Clean" => UsageField::SharedClean,
            b"Shared_Dirty" => UsageField::SharedDirty,
            b"Private_Clean" => UsageField::PrivateClean,
            b"Private_Dirty" => UsageField::PrivateDirty,
            b"Referenced" => UsageField::Referenced,
            b"Anonymous" => UsageField::Anonymous,
            b"KSM" => UsageField::Ksm,
            b"LazyFree" => UsageField::LazyFree,
            b"AnonHugePages" => UsageField::AnonHugePages,
            b"ShmemPmdMapped" => UsageField::ShmemPmdMapped,
            b"FilePmdMapped" => UsageField::FilePmdMapped,
            b"Shared_Hugetlb" => UsageField::SharedHugetlb,
            b"Private_Hugetlb" => UsageField::PrivateHugetlb,
            b"Swap" => UsageField::Swap,
            b"SwapPss" => UsageField::SwapPss,
            b"Locked" => UsageField::Locked,
            b"THPeligible" => UsageField::ThpEligible,
            b"ProtectionKey" => UsageField::ProtectionKey,
            _ => return None,
        })
    }
}

/// The residency figures of one region. Absent figures are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    present: u32,
    values: [u64; UsageField::ALL.len()],
    /// Fields the model does not know (a newer kernel's), as `(name, value as printed)`.
    pub other: Vec<(Box<str>, Box<str>)>,
}

impl Usage {
    /// The value of `field` (bytes for kB fields), or `None` when the source did not give it.
    #[inline]
    pub fn get(&self, field: UsageField) -> Option<u64> {
        let i = field as usize;
        (self.present & (1 << i) != 0).then(|| self.values[i])
    }

    /// Sets `field` (bytes for kB fields).
    #[inline]
    pub fn set(&mut self, field: UsageField, value: u64) {
        let i = field as usize;
        self.present |= 1 << i;
        self.values[i] = value;
    }

    /// True when no figure at all is present (a `maps`-only region).
    pub fn is_empty(&self) -> bool {
        self.present == 0 && self.other.is_empty()
    }

    /// `Private_Clean + Private_Dirty`, the region's share of the unique set size (USS), when
    /// both are present.
    pub fn private(&self) -> Option<u64> {
        Some(self.get(UsageField::PrivateClean)? + self.get(UsageField::PrivateDirty)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_positions_match() {
        for (i, f) in UsageField::ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
            // Dirty is a report's figure: the kernel prints no such smaps field.
            let want = (*f != UsageField::Dirty).then_some(*f);
            assert_eq!(UsageField::from_smaps_name(f.smaps_name().as_bytes()), want);
        }
        assert_eq!(UsageField::from_smaps_name(b"Size"), None);
    }

    #[test]
    fn absent_is_not_zero() {
        let mut u = Usage::default();
        assert_eq!(u.get(UsageField::Rss), None);
        assert!(u.is_empty());
        u.set(UsageField::Rss, 0);
        assert_eq!(u.get(UsageField::Rss), Some(0));
        assert_eq!(u.private(), None);
        u.set(UsageField::PrivateClean, 4096);
        u.set(UsageField::PrivateDirty, 8192);
        assert_eq!(u.private(), Some(12288));
    }
}
