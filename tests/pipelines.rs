//! Pipeline files: every shipped one is valid; a broken one reports every problem at once;
//! a run that cannot write fails clearly and leaves nothing behind.

mod support;

use support::{repo, run, vmpipe};

#[test]
fn every_shipped_pipeline_validates() {
    let dir = repo().join("pipelines");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.iter().any(|f| f.ends_with("all-procs.toml")));
    // hunt-injected-code.toml names the malfind example plugin, found by name in a plugin
    // directory once it is built.
    let plugins = support::malfind().parent().unwrap();
    let output = vmpipe()
        .arg("validate")
        .args(&files)
        .arg("--plugin-dir")
        .arg(plugins)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.ends_with(": ok")).count(),
        files.len()
    );
}

#[test]
fn unknown_key_wrong_type_and_unknown_analyzer_are_reported_together() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.toml");
    std::fs::write(
        &file,
        "[source]\ntype = \"live\"\nproceses = \"all\"\ndetail = 3\n\n[[analyzer]]\nuse = \"no-such-analyzer\"\n\n[[sink]]\ntype = \"csv\"\ndir = \"out\"\n",
    )
    .unwrap();
    for cmd in ["validate", "run"] {
        let output = run(&[cmd, file.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{cmd}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let f = file.display();
        for want in [
            format!(
                "{f}:3:1: unknown key `proceses` in a live [source]; valid keys: type, processes, pids, name, user, detail"
            ),
            format!("{f}:4:10: `detail` must be a string, found integer"),
            format!("{f}:7:7: no analyzer \"no-such-analyzer\": not built in"),
            "3 problems in".to_string(),
        ] {
            assert!(
                stderr.contains(&want),
                "{cmd}: missing {want:?} in:\n{stderr}"
            );
        }
    }
}

#[test]
fn an_unwritable_output_fails_before_the_sweep_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let out = blocker.join("out");
    let output = vmpipe()
        .arg("run")
        .arg(repo().join("pipelines/all-procs.toml"))
        .arg("--out")
        .arg(&out)
        .args(["--pid", &std::process::id().to_string()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot use the output directory")
            && stderr.contains(&format!("{}: Not a directory", blocker.display())),
        "{stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "no report for a run that did not happen"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the blocker file remains");
}

#[test]
fn output_files_replace_old_ones_and_leave_no_temporaries() {
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("regions.csv"), "stale").unwrap();
    let output = vmpipe()
        .arg("run")
        .arg(repo().join("pipelines/all-procs.toml"))
        .arg("--out")
        .arg(out.path())
        .args(["--quiet", "--pid", &std::process::id().to_string()])
        .output()
        .unwrap();
    assert!(output.status.success());
    let mut names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // vmpipe's three tables and the analyzers' own, all complete: no temporary file (they
    // are hidden, `.NAME.csv.XXXX.tmp`) is left behind.
    for table in [
        "regions.csv",
        "processes.csv",
        "errors.csv",
        "images.csv",
        "guards.csv",
    ] {
        assert!(
            names.iter().any(|n| n == table),
            "{table} missing from {names:?}"
        );
    }
    assert!(
        names
            .iter()
            .all(|n| n.ends_with(".csv") && !n.starts_with('.')),
        "{names:?}"
    );
    let regions = std::fs::read_to_string(out.path().join("regions.csv")).unwrap();
    assert!(regions.starts_with("pid,process,start,end,size,perms"));
    // The text sink printed the report on stdout.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("processes: 1 listed, 1 selected: 1 ok"),
        "{stdout}"
    );
}

#[test]
fn help_shows_examples() {
    let output = run(&["run", "--help"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("vmpipe run pipelines/all-procs.toml"));
    assert!(text.contains("--pid"));
}

#[test]
fn a_progress_bar_only_on_a_terminal_and_never_with_quiet() {
    support::require_tool("script", "bsdutils");
    let out = tempfile::tempdir().unwrap();
    let cmd = |quiet: &str| {
        format!(
            "{} run {} --out {} {quiet}",
            env!("CARGO_BIN_EXE_vmpipe"),
            repo().join("pipelines/maps-only.toml").display(),
            out.path().display()
        )
    };
    // `script` gives vmpipe a terminal.
    let tty = std::process::Command::new("script")
        .args(["-qec", &cmd(""), "/dev/null"])
        .output()
        .unwrap();
    assert!(tty.status.success());
    let seen = String::from_utf8_lossy(&tty.stdout);
    // The bar: "N/M processes" followed by its gauge.
    let bar = |text: &str| text.contains(" processes ░") || text.contains(" processes █");
    assert!(bar(&seen), "no bar on a terminal: {seen}");
    let quiet = std::process::Command::new("script")
        .args(["-qec", &cmd("--quiet"), "/dev/null"])
        .output()
        .unwrap();
    assert!(
        !bar(&String::from_utf8_lossy(&quiet.stdout)),
        "a bar despite --quiet"
    );
    // Not a terminal: no bar, only the summary line.
    let piped = vmpipe()
        .arg("run")
        .arg(repo().join("pipelines/maps-only.toml"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&piped.stderr);
    assert!(!err.contains('\u{1b}') && !bar(&err), "{err}");
}
