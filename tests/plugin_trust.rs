//! Plugin trust as a privileged process (issue 13, findings 10 and 11): what a privileged
//! vmpipe loads, it has vetted whole — the plugin and every library the loader pulls in with
//! it — and "privileged" includes file capabilities, not only euid 0.
//!
//! The attacker is uid 65534 (`nobody`); their directories and files are chowned to it. The
//! libraries are small C files compiled here; a dependency's constructor writes a marker
//! file, so whether the loader ran its code is read from the file system, not from vmpipe.
//! The test plugins are the minimal valid ABI v2 plugin `tests/plugins/minimal/minimal.c`
//! (built against the SDK's C header), linked with whatever the test needs: `vmpipe validate`
//! accepting the pipeline is how a test sees that vmpipe loaded the library and called its
//! entry point.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::set_mode;

const ATTACKER: u32 = 65534;

/// The vmpipe under test.
fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vmpipe"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh directory only root can write (0755, root's: the test runs as root).
fn root_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("temp dir");
    set_mode(d.path(), 0o755);
    d
}

/// A fresh directory owned by the attacker.
fn attacker_dir() -> tempfile::TempDir {
    let d = root_dir();
    std::os::unix::fs::chown(d.path(), Some(ATTACKER), Some(ATTACKER)).unwrap();
    d
}

/// The minimal valid plugin's source, and the flags that compile it against the SDK header.
fn minimal_plugin() -> Vec<String> {
    let repo = support::repo();
    vec![
        repo.join("tests/plugins/minimal/minimal.c")
            .to_string_lossy()
            .into_owned(),
        format!("-I{}", repo.join("plugins/sdk/include").display()),
    ]
}

/// Compiles C source into a shared library at `out`.
fn cc_shared(out: &Path, source: &str, args: &[&str]) {
    support::require_tool("cc", "gcc");
    let src = out.with_extension("c");
    std::fs::write(&src, source).unwrap();
    let o = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(out)
        .arg(&src)
        .args(args)
        .output()
        .expect("run cc");
    assert!(o.status.success(), "cc {}: {}", out.display(), stderr(&o));
    std::fs::remove_file(&src).unwrap();
}

/// A dependency `lib{name}.so` in `dir` whose constructor writes `marker`.
fn dependency(dir: &Path, name: &str, marker: &Path) -> PathBuf {
    let lib = dir.join(format!("lib{name}.so"));
    let source = format!(
        r#"#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void ran(void) {{
    int fd = open("{}", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {{ write(fd, "ran\n", 4); close(fd); }}
}}
int dep_marker(void) {{ return 1; }}
"#,
        marker.display()
    );
    cc_shared(&lib, &source, &[]);
    lib
}

/// A plugin `libplug.so` in `dir` that needs `lib{needs}.so` (linked from `link_dir`), with
/// `rpath` as its RUNPATH (`new_dtags`) or RPATH.
fn plugin(dir: &Path, needs: &str, link_dir: &Path, rpath: &str, new_dtags: bool) -> PathBuf {
    let lib = dir.join("libplug.so");
    // minimal.c's entry point calls dep_marker() (-DCALL_DEP): the dependency is needed.
    let source = "/* the plugin is tests/plugins/minimal/minimal.c */\n";
    let minimal = minimal_plugin();
    let link = format!("-L{}", link_dir.display());
    let need = format!("-l{needs}");
    let rpath = format!("-Wl,-rpath,{rpath}");
    let dtags = if new_dtags {
        "-Wl,--enable-new-dtags"
    } else {
        "-Wl,--disable-new-dtags"
    };
    let mut args: Vec<&str> = minimal.iter().map(String::as_str).collect();
    args.extend(["-DCALL_DEP", &link, &need, &rpath, dtags]);
    cc_shared(&lib, source, &args);
    // The setup as the ELF says it, from readelf: the tag the test means, and the dependency.
    let d = Command::new("readelf")
        .args(["-d", "-W"])
        .arg(&lib)
        .output()
        .expect("readelf (binutils)");
    let text = String::from_utf8_lossy(&d.stdout);
    let tag = if new_dtags { "(RUNPATH)" } else { "(RPATH)" };
    assert!(text.contains(tag), "{}: no {tag}:\n{text}", lib.display());
    assert!(
        text.contains(&format!("[lib{needs}.so]")),
        "{}: does not need lib{needs}.so:\n{text}",
        lib.display()
    );
    lib
}

/// `vmpipe validate` on a pipeline using the library at `lib`, written into `dir`.
fn validate(exe: &Path, dir: &Path, lib: &Path, env: &[(&str, &Path)]) -> Output {
    let file = dir.join("p.toml");
    std::fs::write(
        &file,
        format!(
            "[source]\ntype = \"live\"\n[[analyzer]]\nuse = {:?}\n[[sink]]\ntype = \"text\"\n",
            lib.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(exe);
    cmd.arg("validate").arg(&file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run vmpipe")
}

/// Whether `vmpipe validate` loaded the plugin, called its entry and accepted its table.
fn loaded(out: &Output) -> bool {
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("p.toml: ok")
}

#[test]
fn a_dependency_searched_in_a_directory_the_attacker_owns_never_runs_as_root() {
    support::require_root("the attacker's directory is chowned to another user");
    for new_dtags in [true, false] {
        let kind = if new_dtags { "RUNPATH" } else { "RPATH" };
        let theirs = attacker_dir();
        let evil_marker = root_dir();
        let marker = evil_marker.path().join("evil-ran");
        let evil = dependency(theirs.path(), "evil", &marker);
        std::os::unix::fs::chown(&evil, Some(ATTACKER), Some(ATTACKER)).unwrap();
        // The plugin itself is root's, in a directory only root can write.
        let ours = root_dir();
        let lib = plugin(
            ours.path(),
            "evil",
            theirs.path(),
            theirs.path().to_str().unwrap(),
            new_dtags,
        );
        let out = validate(&bin(), ours.path(), &lib, &[]);
        let err = stderr(&out);
        assert!(
            !marker.exists(),
            "{kind}: the attacker's constructor ran as root:\n{err}"
        );
        assert_eq!(out.status.code(), Some(2), "{kind}: {err}");
        for want in [
            "refusing to load",
            lib.to_str().unwrap(),
            "libevil.so",
            theirs.path().to_str().unwrap(),
            &format!("its {kind}"),
            &format!("is owned by uid {ATTACKER}, not root"),
        ] {
            assert!(err.contains(want), "{kind}: no {want:?} in:\n{err}");
        }
    }
}

#[test]
fn a_search_directory_the_attacker_could_create_is_refused_even_when_the_library_is_found_elsewhere()
 {
    support::require_root("the attacker's directory is chowned to another user");
    // Root's, but writable by all and sticky, as /tmp is: anyone may create `later` in it.
    let shared = root_dir();
    set_mode(shared.path(), 0o1777);
    let not_yet = shared.path().join("later");
    let good = root_dir();
    let marks = root_dir();
    let marker = marks.path().join("dep-ran");
    dependency(good.path(), "dep", &marker);
    let ours = root_dir();
    // Searched first: a directory that does not exist yet, which the attacker can create.
    let rpath = format!("{}:{}", not_yet.display(), good.path().display());
    let lib = plugin(ours.path(), "dep", good.path(), &rpath, true);
    let out = validate(&bin(), ours.path(), &lib, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!marker.exists(), "the plugin was loaded:\n{err}");
    for want in [
        "refusing to load",
        "libdep.so",
        not_yet.to_str().unwrap(),
        "does not exist",
        "writable by others (mode 1777)",
        "anyone can create it",
    ] {
        assert!(err.contains(want), "no {want:?} in:\n{err}");
    }
}

#[test]
fn a_dependency_in_a_trusted_runpath_or_rpath_directory_loads() {
    support::require_root("trust is judged for a privileged vmpipe");
    for new_dtags in [true, false] {
        let good = root_dir();
        let marks = root_dir();
        let marker = marks.path().join("dep-ran");
        dependency(good.path(), "dep", &marker);
        let ours = root_dir();
        let lib = plugin(
            ours.path(),
            "dep",
            good.path(),
            good.path().to_str().unwrap(),
            new_dtags,
        );
        let out = validate(&bin(), ours.path(), &lib, &[]);
        let err = stderr(&out);
        assert!(loaded(&out), "dtags {new_dtags}: not loaded:\n{err}");
        assert!(
            marker.exists(),
            "dtags {new_dtags}: the dependency's constructor did not run:\n{err}"
        );
    }
}

#[test]
fn a_dependency_nowhere_the_loader_looks_is_named_before_dlopen() {
    let good = tempfile::tempdir().unwrap();
    let marks = tempfile::tempdir().unwrap();
    let marker = marks.path().join("dep-ran");
    dependency(good.path(), "gone", &marker);
    let ours = tempfile::tempdir().unwrap();
    // Linked against the library, which is then removed: no RUNPATH, nowhere to find it.
    let lib = plugin(
        ours.path(),
        "gone",
        good.path(),
        "/nonexistent-vmpipe",
        true,
    );
    std::fs::remove_file(good.path().join("libgone.so")).unwrap();
    let out = validate(&bin(), ours.path(), &lib, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("its dependency libgone.so")
            && err.contains("is not found where the loader looks")
            && err.contains("/nonexistent-vmpipe (RUNPATH of"),
        "{err}"
    );
}

#[test]
fn ld_library_path_cannot_slip_a_library_into_a_root_vmpipe() {
    support::require_root("LD_LIBRARY_PATH is dropped for a privileged vmpipe");
    // The genuine dependency, where the plugin's RUNPATH says, root's.
    let good = root_dir();
    let marks = root_dir();
    let good_marker = marks.path().join("genuine-ran");
    let evil_marker = marks.path().join("evil-ran");
    dependency(good.path(), "dep", &good_marker);
    let ours = root_dir();
    let lib = plugin(
        ours.path(),
        "dep",
        good.path(),
        good.path().to_str().unwrap(),
        true,
    );
    // A copy with the same name in the attacker's directory, named by LD_LIBRARY_PATH (which
    // the loader searches before RUNPATH).
    let theirs = attacker_dir();
    let evil = dependency(theirs.path(), "dep", &evil_marker);
    std::os::unix::fs::chown(&evil, Some(ATTACKER), Some(ATTACKER)).unwrap();
    let out = validate(
        &bin(),
        ours.path(),
        &lib,
        &[("LD_LIBRARY_PATH", theirs.path())],
    );
    let err = stderr(&out);
    assert!(
        !evil_marker.exists(),
        "the LD_LIBRARY_PATH copy ran as root:\n{err}"
    );
    assert!(loaded(&out), "not loaded:\n{err}");
    assert!(
        good_marker.exists(),
        "the genuine dependency did not run:\n{err}"
    );
}

#[test]
fn a_vmpipe_with_file_capabilities_refuses_the_users_plugin() {
    support::require_root("it sets file capabilities and runs vmpipe as another user");
    support::require_tool("setcap", "libcap2-bin");
    support::require_tool("setpriv", "util-linux");
    // A copy of vmpipe with the capabilities a responder might give it instead of root.
    let tools = root_dir();
    let exe = tools.path().join("vmpipe");
    std::fs::copy(bin(), &exe).unwrap();
    set_mode(&exe, 0o755);
    let o = Command::new("setcap")
        .arg("cap_sys_ptrace,cap_dac_read_search+ep")
        .arg(&exe)
        .output()
        .unwrap();
    assert!(o.status.success(), "setcap: {}", stderr(&o));
    let caps = Command::new("getcap").arg(&exe).output().unwrap();
    let caps = String::from_utf8_lossy(&caps.stdout);
    assert!(
        caps.contains("cap_dac_read_search") && caps.contains("cap_sys_ptrace"),
        "getcap: {caps}"
    );
    // A root-only secret.
    let vault = root_dir();
    let secret = vault.path().join("secret");
    let words = format!("secret-{}", std::process::id());
    std::fs::write(&secret, &words).unwrap();
    set_mode(&secret, 0o600);
    // The user's plugin, in the user's directory: its constructor copies the secret out.
    let theirs = attacker_dir();
    let stolen = theirs.path().join("stolen");
    let lib = theirs.path().join("libmine.so");
    let source = format!(
        r#"#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void steal(void) {{
    char buf[256]; int in = open("{}", O_RDONLY); if (in < 0) return;
    ssize_t n = read(in, buf, sizeof buf); close(in); if (n <= 0) return;
    int out = open("{}", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out >= 0) {{ write(out, buf, n); close(out); }}
}}
"#,
        secret.display(),
        stolen.display()
    );
    // A valid plugin besides: nothing but the trust check stands between it and loading.
    let minimal = minimal_plugin();
    let args: Vec<&str> = minimal.iter().map(String::as_str).collect();
    cc_shared(&lib, &source, &args);
    std::os::unix::fs::chown(&lib, Some(ATTACKER), Some(ATTACKER)).unwrap();
    let file = theirs.path().join("p.toml");
    std::fs::write(
        &file,
        format!(
            "[source]\ntype = \"live\"\n[[analyzer]]\nuse = {:?}\n[[sink]]\ntype = \"text\"\n",
            lib.to_str().unwrap()
        ),
    )
    .unwrap();
    std::os::unix::fs::chown(&file, Some(ATTACKER), Some(ATTACKER)).unwrap();
    let uid = format!("--reuid={ATTACKER}");
    let gid = format!("--regid={ATTACKER}");
    let out = Command::new("setpriv")
        .args([uid.as_str(), gid.as_str(), "--clear-groups"])
        .arg(&exe)
        .arg("validate")
        .arg(&file)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        !stolen.exists(),
        "the user's plugin ran with vmpipe's capabilities and read {}:\n{err}",
        secret.display()
    );
    assert_eq!(out.status.code(), Some(2), "{err}");
    for want in [
        "refusing to load",
        "while holding capabilities",
        lib.to_str().unwrap(),
        &format!(
            "{} is owned by uid {ATTACKER}, not root",
            theirs.path().display()
        ),
    ] {
        assert!(err.contains(want), "no {want:?} in:\n{err}");
    }
}
