//! SIGINT and SIGTERM: a run that is told to stop stops taking processes, removes its
//! temporary files (the sinks are dropped unfinished) and says how far it came.
//!
//! [`install`] replaces the signals' default action with a flag (the `signal-hook` crate);
//! the engine and `vmpipe snapshot` look at [`requested`] between processes. A second signal
//! while the first is being handled takes the default action (the process ends at once; what
//! it leaves behind, the next run into the same directory removes, see
//! [`crate::output::out_dir`]).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The signal received, 0 for none.
fn received() -> &'static Arc<AtomicUsize> {
    static FLAG: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicUsize::new(0)))
}

/// Routes SIGINT and SIGTERM to the flag [`requested`] reads (once per process; later calls
/// do nothing).
pub fn install() -> std::io::Result<()> {
    static DONE: OnceLock<()> = OnceLock::new();
    if DONE.get().is_some() {
        return Ok(());
    }
    let seen = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it sees the flag as it was before this signal set it.
        signal_hook::flag::register_conditional_default(sig, Arc::clone(&seen))?;
        signal_hook::flag::register(sig, Arc::clone(&seen))?;
        signal_hook::flag::register_usize(sig, Arc::clone(received()), sig as usize)?;
    }
    let _ = DONE.set(());
    Ok(())
}

/// The signal that asked this process to stop, if one did.
pub fn requested() -> Option<i32> {
    match received().load(Ordering::Relaxed) {
        0 => None,
        s => i32::try_from(s).ok(),
    }
}

/// The exit code of a process that stopped for `signal` (the shell's 128 + N: 130 for
/// SIGINT, 143 for SIGTERM).
pub fn exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(1)
}
