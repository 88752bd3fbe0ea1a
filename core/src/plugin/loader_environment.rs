//! The dynamic loader's environment of a privileged vmpipe: `LD_LIBRARY_PATH` removed by
//! executing vmpipe again without it.
//!
//! glibc's loader reads `LD_LIBRARY_PATH` once, at process start, and every later `dlopen`
//! searches the directories it named, before a library's own RUNPATH. Removing the variable
//! from the environment afterwards changes nothing, so a privileged vmpipe started with it
//! (root's shell kept it from a user's session, a `sudo` that preserves it, a service unit)
//! would load a plugin's dependencies from wherever it points. [`drop_library_path`], called
//! first thing in `main`, executes `/proc/self/exe` again with the same arguments and the
//! variable removed: the new image starts with a loader that never saw it.
//!
//! Chosen over preloading every vetted dependency by absolute path before the plugin: the
//! loader matches an already-loaded object to a `DT_NEEDED` name only through its
//! `DT_SONAME` (or the exact name it was opened by), so a dependency without one would still
//! be searched for — through `LD_LIBRARY_PATH`.
//!
//! It cannot loop: the new image's environment has no `LD_LIBRARY_PATH`, so it does not
//! execute again. If the execution fails, vmpipe goes on with a warning, and
//! [`crate::plugin`]'s dependency vetting judges the `LD_LIBRARY_PATH` directories as it
//! judges a RUNPATH (so a plugin whose dependency could come from an untrusted one is
//! refused). In secure execution (setuid, setgid, file capabilities) the loader itself ignores
//! and removes the variable, and nothing is done here.
//!
//! `LD_PRELOAD` and `LD_AUDIT` are not handled: the objects they name were loaded, and their
//! constructors run, before `main`; executing again would only run them a second time.

/// Executes vmpipe again without `LD_LIBRARY_PATH` when [`crate::privilege::privileged`] and
/// the variable is set; returns only when nothing had to be done (`Ok`) or the execution
/// failed (the error, for a warning).
#[cfg(target_os = "linux")]
pub fn drop_library_path() -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    const VAR: &str = "LD_LIBRARY_PATH";
    if std::env::var_os(VAR).is_none() || !crate::privilege::privileged() {
        return Ok(());
    }
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_else(|| "vmpipe".into());
    // `exec` returns only on failure.
    let e = std::process::Command::new("/proc/self/exe")
        .arg0(argv0)
        .args(args)
        .env_remove(VAR)
        .exec();
    Err(std::io::Error::new(
        e.kind(),
        format!("cannot execute /proc/self/exe again without {VAR}: {e}"),
    ))
}

/// Nothing to do where the loader is not glibc's.
#[cfg(not(target_os = "linux"))]
pub fn drop_library_path() -> std::io::Result<()> {
    Ok(())
}
