//! Residency figures of one region: the numeric fields of `/proc/PID/smaps` (and, for other
//! sources, whatever subset they know).
//!
//! Every figure is either present (a value in bytes, or a plain number for the two unitless
//! fields) or absent. Absent is not zero: a `maps`-only sweep knows no residency at all, an old
//! kernel prints no `Pss_Dirty`, a vmmap report has no `Pss`.

/// One residency figure: the SDK's, whose table ([`vmpipe_plugin::USAGE_FIELDS`]) gives
/// each field its ABI slot, smaps name, column name, unit and meaning.
pub use vmpipe_plugin::{USAGE_FIELDS, UsageField, UsageSpec};

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
