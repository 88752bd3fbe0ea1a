//! vmmap's `PURGE` column: the purgeable state of a region's object, as
//! `mach_vm_purgable_control(…, VM_PURGABLE_GET_STATE, …)` reports it
//! (`<mach/vm_purgable.h>`).
//!
//! | state (value)                 | vmmap      |
//! |-------------------------------|------------|
//! | `VM_PURGABLE_NONVOLATILE` (0) | `N`        |
//! | `VM_PURGABLE_VOLATILE` (1)    | `V`        |
//! | `VM_PURGABLE_EMPTY` (2)       | `E`        |
//! | `VM_PURGABLE_DENY` (3)        | (nothing: not purgeable) |
//!
//! The state is the low two bits (`VM_PURGABLE_STATE_MASK`); the other bits carry volatile
//! group and ordering flags vmmap does not print. vmmap's legend: `V=volatile N=nonvolatile
//! E=empty   otherwise is unpurgeable`.

/// `VM_PURGABLE_NONVOLATILE`.
pub const VM_PURGABLE_NONVOLATILE: i32 = 0;
/// `VM_PURGABLE_VOLATILE`.
pub const VM_PURGABLE_VOLATILE: i32 = 1;
/// `VM_PURGABLE_EMPTY`.
pub const VM_PURGABLE_EMPTY: i32 = 2;
/// `VM_PURGABLE_DENY`: the object is not purgeable.
pub const VM_PURGABLE_DENY: i32 = 3;
/// `VM_PURGABLE_STATE_MASK`.
pub const VM_PURGABLE_STATE_MASK: i32 = 3;

/// The `PURGE` letter vmmap prints for a purgeable state; `None` when the object is not
/// purgeable.
pub fn purge_name(state: i32) -> Option<&'static str> {
    match state & VM_PURGABLE_STATE_MASK {
        VM_PURGABLE_NONVOLATILE => Some("N"),
        VM_PURGABLE_VOLATILE => Some("V"),
        VM_PURGABLE_EMPTY => Some("E"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_print_as_vmmaps_letters() {
        assert_eq!(purge_name(VM_PURGABLE_NONVOLATILE), Some("N"));
        assert_eq!(purge_name(VM_PURGABLE_VOLATILE), Some("V"));
        assert_eq!(purge_name(VM_PURGABLE_EMPTY), Some("E"));
        assert_eq!(purge_name(VM_PURGABLE_DENY), None);
        // Volatile group 3 (bits 8-10) and ordering bits do not change the state.
        assert_eq!(
            purge_name((3 << 8) | (1 << 5) | VM_PURGABLE_VOLATILE),
            Some("V")
        );
    }
}
