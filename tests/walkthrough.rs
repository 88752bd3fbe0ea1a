//! The README's plugin walkthroughs, run as written: the shell block that follows each
//! `<!-- walkthrough:LANG -->` marker in README.md is run with bash in a fresh home directory,
//! with this build's `vmpipe` first on `PATH`. `vmpipe plugin new` must write a plugin that
//! builds outside this workspace, whose own test passes, and whose output is right.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{Table, repo, require_root, require_tool, vmpipe_path};

/// The shell block after `<!-- walkthrough:LANG -->` in README.md.
fn block(lang: &str) -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let marker = format!("<!-- walkthrough:{lang} -->");
    let at = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("README.md has no {marker}"));
    let rest = &readme[at + marker.len()..];
    let start = rest
        .find("```sh\n")
        .expect("a ```sh block after the marker")
        + 6;
    let end = rest[start..].find("```").expect("the block's end") + start;
    rest[start..end].to_string()
}

/// Runs `script` with bash in a new home directory; returns that directory.
fn run(script: &str) -> tempfile::TempDir {
    require_root("the walkthrough runs `sudo vmpipe run`, and reads every process");
    require_tool("cc", "gcc");
    let home = tempfile::tempdir().unwrap();
    let bin = home.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(vmpipe_path(), bin.join("vmpipe")).unwrap();
    // The tests run as root already: `sudo` is the command it prefixes.
    std::fs::write(bin.join("sudo"), "#!/bin/sh\nexec \"$@\"\n").unwrap();
    support::set_mode(&bin.join("sudo"), 0o755);
    // The toolchain stays where it is when HOME moves.
    let real_home = PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()));
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| real_home.join(".cargo"));
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| real_home.join(".rustup"));
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(script)
        .current_dir(home.path())
        .env("HOME", home.path())
        .env("PATH", path)
        .env("CARGO_HOME", cargo_home)
        .env("RUSTUP_HOME", rustup_home)
        .env("CARGO_NET_OFFLINE", "true")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the README walkthrough failed:\n{script}\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    home
}

/// Every region row's flag equals what its permissions say.
fn check_flags(regions: &Path, column: &str) {
    let t = Table::read(regions);
    assert!(t.columns.contains_key(column), "no {column} in regions.csv");
    assert!(t.rows.len() > 10, "{} regions", t.rows.len());
    for row in &t.rows {
        let perms = t.get(row, "perms");
        let wx = perms.contains('w') && perms.contains('x');
        assert_eq!(
            t.get(row, column),
            if wx { "true" } else { "false" },
            "{perms}"
        );
    }
}

#[test]
fn the_rust_walkthrough_builds_tests_and_runs_a_new_plugin() {
    let home = run(&block("rust"));
    let dir = home.path().join("plugins/wx-audit");
    // It is a crate of its own: no workspace above it supplies anything.
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("\n[workspace]\n") && !manifest.contains(".workspace = true"));
    assert!(dir.join("target/release/libwx_audit.so").is_file());
    check_flags(&dir.join("vmpipe-out/regions.csv"), "wx_audit_wx");
    let summary = std::fs::read_to_string(dir.join("vmpipe-out/wx_audit_summary.csv")).unwrap();
    assert!(
        summary.starts_with("pid,process,regions,bytes\n"),
        "{summary}"
    );
}

#[test]
fn the_c_walkthrough_builds_and_tests_a_new_plugin() {
    let home = run(&block("c"));
    let dir = home.path().join("plugins/wx-audit-c");
    assert!(dir.join("libwx_audit_c.so").is_file());
    // `make test` compared vmpipe's rows with /proc/PID/maps itself; its output is there too.
    check_flags(&dir.join("test-out/regions.csv"), "wx_audit_c_wx");
}
