//! Whether this vmpipe holds privileges that the users around it do not.
//!
//! Running as root is one way to be privileged, not the only one: a vmpipe given file
//! capabilities (`setcap cap_sys_ptrace,cap_dac_read_search+ep`) and started by an ordinary
//! user can read every process and every file, and so can a setuid or setgid copy. Every trust
//! decision (which plugin libraries may be loaded, which symbolic links may be followed on an
//! output or evidence path) asks [`privileged`], never `euid == 0` alone.

use std::sync::OnceLock;

/// `AT_SECURE` in the auxiliary vector: the kernel set it because the program was started
/// setuid, setgid or with file capabilities.
#[cfg(target_os = "linux")]
const AT_SECURE: u64 = 23;

/// Why vmpipe counts as privileged, if it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privilege {
    /// An ordinary process: no capability, not started setuid/setgid.
    None,
    /// Effective uid 0.
    Root,
    /// A permitted or effective capability (file capabilities, an ambient set, a service
    /// manager's `AmbientCapabilities=`).
    Capabilities,
    /// Started setuid, setgid or with file capabilities (`AT_SECURE`), or the auxiliary
    /// vector could not be read (which counts as privileged: fail closed).
    Secure,
}

/// This process's privilege, decided once.
pub fn privilege() -> Privilege {
    static ONCE: OnceLock<Privilege> = OnceLock::new();
    *ONCE.get_or_init(decide)
}

/// True when vmpipe holds anything an ordinary user does not: euid 0, any permitted or
/// effective capability, or `AT_SECURE`.
pub fn privileged() -> bool {
    privilege() != Privilege::None
}

fn decide() -> Privilege {
    if rustix::process::geteuid().is_root() {
        return Privilege::Root;
    }
    if has_capabilities() {
        return Privilege::Capabilities;
    }
    if at_secure() {
        return Privilege::Secure;
    }
    Privilege::None
}

#[cfg(target_os = "linux")]
fn has_capabilities() -> bool {
    match rustix::thread::capabilities(None) {
        Ok(sets) => !sets.permitted.is_empty() || !sets.effective.is_empty(),
        // capget cannot fail for the calling thread; if it does, fail closed.
        Err(_) => true,
    }
}

#[cfg(not(target_os = "linux"))]
fn has_capabilities() -> bool {
    false
}

/// `AT_SECURE` from `/proc/self/auxv` (pairs of native-endian words). An unreadable vector
/// counts as secure.
#[cfg(target_os = "linux")]
fn at_secure() -> bool {
    let Ok(auxv) = std::fs::read("/proc/self/auxv") else {
        return true;
    };
    auxv_secure(&auxv).unwrap_or(true)
}

/// Reads `AT_SECURE` from an auxiliary vector; `None` when the vector has no such entry or is
/// malformed.
#[cfg(target_os = "linux")]
fn auxv_secure(auxv: &[u8]) -> Option<bool> {
    const WORD: usize = std::mem::size_of::<usize>();
    for pair in auxv.chunks_exact(2 * WORD) {
        let mut key = [0u8; WORD];
        let mut value = [0u8; WORD];
        key.copy_from_slice(&pair[..WORD]);
        value.copy_from_slice(&pair[WORD..]);
        let (key, value) = (
            usize::from_ne_bytes(key) as u64,
            usize::from_ne_bytes(value),
        );
        if key == AT_SECURE {
            return Some(value != 0);
        }
        if key == 0 {
            break;
        }
    }
    None
}

/// macOS: `issetugid()` is the same question; without libc here, a differing real and
/// effective id is the visible part of it.
#[cfg(not(target_os = "linux"))]
fn at_secure() -> bool {
    rustix::process::getuid() != rustix::process::geteuid()
        || rustix::process::getgid() != rustix::process::getegid()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn vector(pairs: &[(usize, usize)]) -> Vec<u8> {
        pairs
            .iter()
            .flat_map(|(k, v)| k.to_ne_bytes().into_iter().chain(v.to_ne_bytes()))
            .collect()
    }

    #[test]
    fn at_secure_is_read_from_the_auxiliary_vector() {
        assert_eq!(
            auxv_secure(&vector(&[(6, 4096), (23, 1), (0, 0)])),
            Some(true)
        );
        assert_eq!(auxv_secure(&vector(&[(23, 0), (0, 0)])), Some(false));
        assert_eq!(auxv_secure(&vector(&[(6, 4096), (0, 0), (23, 1)])), None);
        assert_eq!(auxv_secure(&[1, 2, 3]), None);
    }

    #[test]
    fn this_process_agrees_with_the_kernel() {
        // The kernel's own view: /proc/self/status CapPrm/CapEff and the uid.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
                .unwrap()
        };
        let caps = field("CapPrm:") | field("CapEff:");
        let root = rustix::process::geteuid().is_root();
        assert_eq!(privileged(), root || caps != 0 || at_secure());
        if root {
            assert_eq!(privilege(), Privilege::Root);
        }
    }
}
