//! The plugin ABI end to end: the example malfind plugin finds injected code in a real
//! process, and every kind of bad plugin gets one clear error while the rest of the output
//! stays intact.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use std::sync::OnceLock;

use support::{
    Table, build_plugin, build_plugin_in, malfind, set_mode, start_map_target, start_target, vmpipe,
};

fn misbehave() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        build_plugin(
            &["--manifest-path", "tests/plugins/misbehave/Cargo.toml"],
            "libmisbehave.so",
        )
    })
}

/// Writes a pipeline with one analyzer entry (`analyzer` is the TOML body of the entry) into
/// `dir` and runs it over `pids`.
fn run_with(dir: &Path, analyzer: &str, pids: &[u32], extra: &[&str]) -> Output {
    pipeline_command(dir, analyzer, pids, extra)
        .output()
        .unwrap()
}

/// The command [`run_with`] runs, to adjust before running it.
fn pipeline_command(dir: &Path, analyzer: &str, pids: &[u32], extra: &[&str]) -> Command {
    let file = dir.join("p.toml");
    let out = dir.join("out");
    std::fs::write(
        &file,
        format!(
            "[source]\ntype = \"live\"\ndetail = \"maps\"\n\n[[analyzer]]\n{analyzer}\n\n[[sink]]\ntype = \"csv\"\ndir = {:?}\n",
            out.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut cmd = vmpipe();
    cmd.arg("run").arg(&file).arg("-q");
    for p in pids {
        cmd.arg("--pid").arg(p.to_string());
    }
    cmd.args(extra);
    cmd
}

/// The analyzer entries for malfind (`options` is its options' TOML body), after the
/// image-attribution it reads.
fn with_malfind(options: &str) -> String {
    format!(
        "use = \"image-attribution\"\n\n[[analyzer]]\nuse = {:?}\noptions = {{ {options} }}",
        malfind().to_str().unwrap()
    )
}

/// Where `needle` starts in `text`: 1-based line, 1-based column in characters, and the
/// line — the truth a diagnostic's caret is held to.
fn place_in(text: &str, needle: &str) -> (usize, usize, String) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} is not in {text}"));
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    (
        text[..at].matches('\n').count() + 1,
        text[start..at].chars().count() + 1,
        text[start..end].to_string(),
    )
}

/// Asserts that `err` has a message containing `message` about the place where `needle`
/// starts in the pipeline `file`: `FILE:LINE:COL: …`, then the source line exactly as the file
/// has it, then a caret under that column.
fn assert_points_at(err: &str, file: &Path, needle: &str, message: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let (line, column, source) = place_in(&text, needle);
    let head = format!("{}:{line}:{column}: ", file.display());
    let at = err
        .find(&head)
        .unwrap_or_else(|| panic!("no {head:?} in:\n{err}"));
    let lines: Vec<&str> = err[at..].lines().take(4).collect();
    assert!(lines[0].contains(message), "want {message:?} in:\n{err}");
    let caret = format!("    | {}^", " ".repeat(column - 1));
    assert_eq!(
        lines[1..],
        ["    |", &format!("{line:>3} | {source}"), &caret],
        "{err}"
    );
}

/// Where the `panic!` on the line of misbehave's source that holds `needle` is, as Rust's
/// panic location gives it (`src/lib.rs:LINE:COL`, relative to the crate, which is its own
/// workspace).
fn panic_site(needle: &str) -> String {
    let src = std::fs::read_to_string(support::repo().join("tests/plugins/misbehave/src/lib.rs"))
        .unwrap();
    let (i, line) = src
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(needle) && l.contains("panic!"))
        .unwrap_or_else(|| panic!("no panic! with {needle:?} in misbehave"));
    let column = line[..line.find("panic!").unwrap()].chars().count() + 1;
    format!("src/lib.rs:{}:{column}", i + 1)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn malfind_finds_exactly_the_injected_regions_with_their_first_bytes() {
    support::require_root("reading another process's memory needs ptrace access");
    let target = start_target("injtarget", |_| Vec::new(), &[]);
    let bystander = start_map_target(&[]);
    target.stop();
    bystander.stop();
    let dir = tempfile::tempdir().unwrap();
    let analyzer = with_malfind("bytes = 16");
    let out = run_with(dir.path(), &analyzer, &[target.pid(), bystander.pid()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    let findings = Table::read(&dir.path().join("out/findings.csv"));
    let (rwx, _) = target.mappings["rwx_anon"];
    let (memfd, _) = target.mappings["memfd_exec"];
    let mut got: Vec<(u64, String, String, String, String)> = findings
        .rows
        .iter()
        .map(|r| {
            (
                findings.num(r, "start").unwrap(),
                findings.get(r, "reason").to_string(),
                findings.get(r, "perms").to_string(),
                findings.get(r, "first_bytes_hex").to_string(),
                findings.get(r, "looks_like").to_string(),
            )
        })
        .collect();
    got.sort();
    // What injtarget.c wrote: endbr64; push rbp; mov rbp,rsp; then 0x00, 0x01, …
    let code = "f30f1efa554889e5".to_string() + "0001020304050607";
    let elf = "7f454c4602010100".to_string() + &"90".repeat(8);
    let mut want = vec![
        (
            rwx,
            "write-exec+anon-exec".to_string(),
            "rwxp".to_string(),
            code,
            "code".to_string(),
        ),
        (
            memfd,
            "memfd-exec".to_string(),
            "r-xp".to_string(),
            elf,
            "elf-header".to_string(),
        ),
    ];
    want.sort();
    assert_eq!(got, want);
    for r in &findings.rows {
        assert_eq!(findings.num(r, "pid"), Some(u64::from(target.pid())));
        assert_eq!(findings.get(r, "process"), "injtarget");
    }
    let memfd_row = findings
        .rows
        .iter()
        .find(|r| findings.num(r, "start") == Some(memfd))
        .unwrap();
    assert_eq!(findings.get(memfd_row, "path"), "/memfd:payload (deleted)");

    // The region column marks the same two regions and nothing else.
    let regions = Table::read(&dir.path().join("out/regions.csv"));
    let marked: Vec<u64> = regions
        .rows
        .iter()
        .filter(|r| !regions.get(r, "injection").is_empty())
        .map(|r| regions.num(r, "start").unwrap())
        .collect();
    let mut marked_sorted = marked.clone();
    marked_sorted.sort();
    let mut expect = vec![rwx, memfd];
    expect.sort();
    assert_eq!(marked_sorted, expect);

    // The run-wide summary counts them.
    let summary = Table::read(&dir.path().join("out/findings_summary.csv"));
    let rows: Vec<(String, u64, u64)> = summary
        .rows
        .iter()
        .map(|r| {
            (
                summary.get(r, "reason").to_string(),
                summary.num(r, "processes").unwrap(),
                summary.num(r, "regions").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("write-exec".to_string(), 1, 1),
            ("anon-exec".to_string(), 1, 1),
            ("memfd-exec".to_string(), 1, 1)
        ]
    );
}

#[test]
fn a_file_that_is_not_a_plugin_is_refused_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(String, String)> = {
        let text = dir.path().join("notes.so");
        std::fs::write(&text, "not a library").unwrap();
        let libc = [
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib/aarch64-linux-gnu/libc.so.6",
        ]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("a system libc.so.6 to try as a library without an entry symbol");
        vec![
            (
                text.display().to_string(),
                "not a shared library".to_string(),
            ),
            (
                libc.to_string(),
                "exports no vmpipe_plugin_v2 entry symbol".to_string(),
            ),
            (
                dir.path().join("missing.so").display().to_string(),
                "No such file".to_string(),
            ),
        ]
    };
    for (path, want) in cases {
        let out = run_with(
            dir.path(),
            &format!("use = {path:?}"),
            &[std::process::id()],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{path}");
        let err = stderr(&out);
        assert!(err.contains(&path) && err.contains(&want), "{path}: {err}");
        // The caret is under the `use` value.
        assert_points_at(
            &err,
            &dir.path().join("p.toml"),
            &format!("{path:?}"),
            &want,
        );
        assert!(!dir.path().join("out").exists(), "the run did not start");
    }
}

#[test]
fn wrong_abi_major_and_wrong_architecture_are_named() {
    support::require_tool("cc", "gcc");
    let dir = tempfile::tempdir().unwrap();
    // A library built for a future ABI (it exports only vmpipe_plugin_v3), and one for the
    // old v1.
    for (major, want) in [
        (3, "a plugin for ABI v3; this vmpipe speaks v2"),
        (1, "a plugin for ABI v1 (vmpipe-plugin 0.1)"),
    ] {
        let src = dir.path().join(format!("v{major}.c"));
        std::fs::write(
            &src,
            format!("void *vmpipe_plugin_v{major}(void) {{ return 0; }}\n"),
        )
        .unwrap();
        let lib = dir.path().join(format!("libv{major}.so"));
        let cc = Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&lib)
            .arg(&src)
            .output()
            .unwrap();
        assert!(
            cc.status.success(),
            "{}",
            String::from_utf8_lossy(&cc.stderr)
        );
        let out = run_with(
            dir.path(),
            &format!("use = {:?}", lib.to_str().unwrap()),
            &[std::process::id()],
            &[],
        );
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains(want), "{}", stderr(&out));
    }

    // The real plugin with its ELF header's machine field changed to another architecture.
    let bytes = std::fs::read(malfind()).unwrap();
    let mut foreign = bytes.clone();
    let other: u16 = if cfg!(target_arch = "aarch64") {
        62
    } else {
        183
    }; // x86-64 / AArch64
    foreign[18..20].copy_from_slice(&other.to_le_bytes());
    let path = dir.path().join("libforeign.so");
    std::fs::write(&path, foreign).unwrap();
    let out = run_with(
        dir.path(),
        &format!("use = {:?}", path.to_str().unwrap()),
        &[std::process::id()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("built for"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("this vmpipe runs on"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_panicking_plugin_costs_one_process_not_the_run() {
    let victim = start_map_target(&[]);
    let other = start_target("injtarget", |_| Vec::new(), &[]);
    victim.stop();
    other.stop();
    for (mode, message) in [
        (
            "panic",
            format!(
                "analyzer \"misbehave\" panicked at {}: deliberate panic on pid {}",
                panic_site("deliberate panic on pid"),
                victim.pid()
            ),
        ),
        (
            "fail",
            format!("deliberate failure on pid {}", victim.pid()),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let analyzers = format!(
            "use = {:?}\noptions = {{ victim = \"maptarget\", mode = \"{mode}\" }}\n\n[[analyzer]]\n{}",
            misbehave().to_str().unwrap(),
            with_malfind("")
        );
        let out = run_with(dir.path(), &analyzers, &[victim.pid(), other.pid()], &[]);
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        let errors = Table::read(&dir.path().join("out/errors.csv"));
        let rows = errors.rows_for(victim.pid());
        assert_eq!(rows.len(), 1, "{mode}");
        assert_eq!(errors.get(rows[0], "plugin"), "misbehave");
        assert_eq!(errors.get(rows[0], "stage"), "analyze");
        assert_eq!(errors.get(rows[0], "error"), message);
        assert!(errors.rows_for(other.pid()).is_empty());
        // Both processes have their rows, from both analyzers.
        let calls = Table::read(&dir.path().join("out/calls.csv"));
        assert_eq!(
            calls.rows_for(victim.pid()).len(),
            1,
            "rows emitted before the panic are kept"
        );
        assert_eq!(calls.rows_for(other.pid()).len(), 1);
        let findings = Table::read(&dir.path().join("out/findings.csv"));
        assert_eq!(
            findings.rows_for(other.pid()).len(),
            2,
            "the other plugin is unaffected"
        );
        let regions = Table::read(&dir.path().join("out/regions.csv"));
        for pid in [victim.pid(), other.pid()] {
            for (i, r) in regions.rows_for(pid).iter().enumerate() {
                assert_eq!(regions.num(r, "index"), Some(i as u64));
            }
        }
    }
}

#[test]
fn values_that_do_not_fit_the_schema_are_refused_and_nothing_is_corrupted() {
    let victim = start_map_target(&[]);
    victim.stop();
    let n = std::fs::read(format!("/proc/{}/maps", victim.pid()))
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    for (mode, message) in [
        (
            "bad-column",
            "region column 7 does not exist (it declares 1)".to_string(),
        ),
        (
            "bad-type",
            "column `index`: a text value for a u64 column".to_string(),
        ),
        // Returned with `?`: still the one row the host recorded, not a second one.
        (
            "bad-type-returned",
            "column `index`: a text value for a u64 column".to_string(),
        ),
        (
            "bad-region",
            format!("region index {n} out of range (the process has {n})"),
        ),
        (
            "bad-table",
            "table 5 does not exist (it declares 2)".to_string(),
        ),
        (
            "bad-arity",
            "table `calls` has 1 columns, the row has 2 cells".to_string(),
        ),
        (
            "run-row-now",
            "table `totals` holds run-wide rows: emit them in finish".to_string(),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let analyzer = format!(
            "use = {:?}\noptions = {{ victim = \"maptarget\", mode = \"{mode}\" }}",
            misbehave().to_str().unwrap()
        );
        let out = run_with(dir.path(), &analyzer, &[victim.pid()], &[]);
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        let errors = Table::read(&dir.path().join("out/errors.csv"));
        let rows = errors.rows_for(victim.pid());
        assert_eq!(rows.len(), 1, "{mode}");
        assert_eq!(
            errors.get(rows[0], "error"),
            format!("value refused: {message}"),
            "{mode}"
        );
        assert_eq!(errors.get(rows[0], "plugin"), "misbehave");
        // Every good value is there, no bad one is.
        let regions = Table::read(&dir.path().join("out/regions.csv"));
        let rows = regions.rows_for(victim.pid());
        assert_eq!(rows.len(), n);
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(regions.num(r, "index"), Some(i as u64), "{mode}");
        }
        let calls = Table::read(&dir.path().join("out/calls.csv"));
        assert_eq!(calls.rows.len(), 1, "{mode}");
        assert_eq!(calls.num(&calls.rows[0], "regions"), Some(n as u64));
        assert!(
            Table::read(&dir.path().join("out/totals.csv"))
                .rows
                .is_empty()
        );
    }
}

#[test]
fn options_the_plugin_rejects_are_shown_with_a_caret_under_the_key() {
    // An inline options table (malfind), and an [analyzer.options] table where the plugin
    // blames another key than the last one (misbehave: reject_key = "victim").
    let cases = [
        (
            with_malfind("ignore = [], bytes = 0"),
            "bytes = 0",
            "analyzer \"malfind\" refused its options: option `bytes` must be between 1 and 4096, not 0",
        ),
        (
            format!(
                "use = {:?}\n\n[analyzer.options]\nvictim = \"x\"\nreject_key = \"victim\"",
                misbehave().to_str().unwrap()
            ),
            "victim = ",
            "analyzer \"misbehave\" refused its options: option `victim` is refused on purpose",
        ),
        // A refusal about no one option: the caret is under the `use` value, and the
        // plugin's message cannot drive the terminal (an escape sequence is shown escaped).
        (
            format!(
                "use = {:?}\noptions = {{ reject = \"bad \\u001b[2J thing\" }}",
                misbehave().to_str().unwrap()
            ),
            "\"/",
            "analyzer \"misbehave\" refused its options: bad \\x1b[2J thing",
        ),
    ];
    for (analyzers, key, message) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out = run_with(dir.path(), &analyzers, &[std::process::id()], &[]);
        assert_eq!(out.status.code(), Some(2));
        let file = dir.path().join("p.toml");
        assert_points_at(&stderr(&out), &file, key, message);
        assert!(!stderr(&out).contains('\u{1b}'), "{}", stderr(&out));
        assert!(!dir.path().join("out").exists(), "the run did not start");
        // validate says the same, without running.
        let v = vmpipe().arg("validate").arg(&file).output().unwrap();
        assert_eq!(v.status.code(), Some(2));
        assert_points_at(&stderr(&v), &file, key, message);
    }
}

#[test]
fn a_declaration_clash_and_a_missing_provider_point_at_the_use_value() {
    let mis = format!("{:?}", misbehave().to_str().unwrap());
    let mal = format!("{:?}", malfind().to_str().unwrap());
    // The second misbehave declares the same region column as the first: the caret is under
    // the second `use` (the needle is the whole second entry's line, found after the first).
    let dir = tempfile::tempdir().unwrap();
    let body = format!("use = {mis}\n\n[[analyzer]]\nuse   = {mis}");
    let out = run_with(dir.path(), &body, &[std::process::id()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_points_at(
        &stderr(&out),
        &dir.path().join("p.toml"),
        &format!("{mis}\n\n[[sink]]"),
        "region column `index` is also declared by analyzer \"misbehave\"",
    );
    // malfind reads image-attribution's columns; without it the pipeline is refused.
    let dir = tempfile::tempdir().unwrap();
    let out = run_with(
        dir.path(),
        &format!("use = {mal}"),
        &[std::process::id()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_points_at(
        &stderr(&out),
        &dir.path().join("p.toml"),
        &mal,
        "analyzer \"malfind\" reads the region columns of analyzer \"image-attribution\"",
    );
    assert!(!dir.path().join("out").exists(), "the run did not start");
}

#[test]
fn a_panic_in_create_is_a_panic_with_its_place_not_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let lib = format!("{:?}", misbehave().to_str().unwrap());
    let out = run_with(
        dir.path(),
        &format!("use = {lib}\noptions = {{ create_panic = true }}"),
        &[std::process::id()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_points_at(
        &err,
        &dir.path().join("p.toml"),
        &lib,
        &format!(
            "while starting, analyzer \"misbehave\" panicked at {}: deliberate panic in create",
            panic_site("deliberate panic in create")
        ),
    );
    assert!(!err.contains("refused its options"), "{err}");
    assert!(!dir.path().join("out").exists(), "the run did not start");
}

#[test]
fn a_refusal_the_host_did_not_make_is_reported_not_swallowed() {
    let victim = start_map_target(&[]);
    victim.stop();
    let dir = tempfile::tempdir().unwrap();
    let analyzer = format!(
        "use = {:?}\noptions = {{ victim = \"maptarget\", mode = \"fake-refusal\" }}",
        misbehave().to_str().unwrap()
    );
    let out = run_with(dir.path(), &analyzer, &[victim.pid()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let errors = Table::read(&dir.path().join("out/errors.csv"));
    let rows: Vec<(&str, &str)> = errors
        .rows_for(victim.pid())
        .into_iter()
        .map(|r| (errors.get(r, "stage"), errors.get(r, "error")))
        .collect();
    // The warning is a row of its own; it must not pass for the record of a refusal.
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[0],
        (
            "warning",
            "deliberate warning before a refusal that did not happen"
        )
    );
    assert_eq!(rows[1].0, "analyze");
    assert!(rows[1].1.contains("(status 21)"), "{rows:?}");
}

#[test]
fn a_refusal_in_finish_is_one_row_of_stage_finish() {
    let victim = start_map_target(&[]);
    victim.stop();
    let dir = tempfile::tempdir().unwrap();
    let analyzer = format!(
        "use = {:?}\noptions = {{ finish_mode = \"bad-table\" }}",
        misbehave().to_str().unwrap()
    );
    let out = run_with(dir.path(), &analyzer, &[victim.pid()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let errors = Table::read(&dir.path().join("out/errors.csv"));
    let rows: Vec<_> = errors
        .rows
        .iter()
        .filter(|r| errors.get(r, "plugin") == "misbehave")
        .collect();
    assert_eq!(rows.len(), 1, "{:?}", errors.rows);
    assert_eq!(errors.get(rows[0], "stage"), "finish");
    assert_eq!(
        errors.get(rows[0], "pid"),
        "",
        "a run-wide problem has no pid"
    );
    assert_eq!(
        errors.get(rows[0], "error"),
        "value refused: table `calls` holds per-process rows: emit them while analyzing a process"
    );
    // What analyze emitted is all there.
    let calls = Table::read(&dir.path().join("out/calls.csv"));
    assert_eq!(calls.rows_for(victim.pid()).len(), 1);
}

#[test]
fn a_library_built_with_panic_abort_is_refused_before_the_run() {
    let lib = build_plugin_in(
        "plugins-panic-abort",
        &[
            "--manifest-path",
            "tests/plugins/misbehave/Cargo.toml",
            "--config",
            "profile.dev.panic=\"abort\"",
        ],
        "libmisbehave.so",
    );
    let dir = tempfile::tempdir().unwrap();
    let quoted = format!("{:?}", lib.to_str().unwrap());
    let out = run_with(
        dir.path(),
        &format!("use = {quoted}"),
        &[std::process::id()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_points_at(
        &err,
        &dir.path().join("p.toml"),
        &quoted,
        &format!("{}: it was built with panic = \"abort\"", lib.display()),
    );
    assert!(err.contains("build it with panic = \"unwind\""), "{err}");
    assert!(!dir.path().join("out").exists(), "the run did not start");
    // The same crate built the usual way (unwind) loads.
    let ok = run_with(
        dir.path(),
        &format!("use = {:?}", misbehave().to_str().unwrap()),
        &[std::process::id()],
        &[],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
}

#[test]
fn info_logs_reach_stderr_only_with_vmpipe_plugin_debug_and_warnings_are_rows() {
    let victim = start_map_target(&[]);
    victim.stop();
    let analyzer = format!(
        "use = {:?}\noptions = {{ victim = \"maptarget\", mode = \"info\" }}",
        misbehave().to_str().unwrap()
    );
    let info = format!(
        "vmpipe: analyzer \"misbehave\" (analyze): deliberate info on pid {}",
        victim.pid()
    );
    for debug in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = pipeline_command(dir.path(), &analyzer, &[victim.pid()], &[]);
        if debug {
            cmd.env("VMPIPE_PLUGIN_DEBUG", "1");
        } else {
            cmd.env_remove("VMPIPE_PLUGIN_DEBUG");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.matches(&info).count(), usize::from(debug), "{err}");
        assert!(!err.contains("deliberate warning"), "{err}");
        let errors = Table::read(&dir.path().join("out/errors.csv"));
        let rows = errors.rows_for(victim.pid());
        assert_eq!(rows.len(), 1, "only the warning is a row");
        assert_eq!(errors.get(rows[0], "stage"), "warning");
        assert_eq!(
            errors.get(rows[0], "error"),
            format!("deliberate warning on pid {}", victim.pid())
        );
    }
}

#[test]
fn a_mistyped_analyzer_name_gets_the_nearest_name_and_the_snippet_as_written() {
    let builtins = builtin_names();
    assert!(
        builtins.contains(&"image-attribution".to_string()),
        "{builtins:?}"
    );
    let plugin_dir = malfind().parent().unwrap().to_str().unwrap();
    for (typed, nearest) in [
        ("image-atribution", Some("image-attribution")),
        ("malfnd", Some("malfind")),
        ("zzzz", None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let quoted = format!("\"{typed}\"");
        let out = run_with(
            dir.path(),
            &format!("use = {quoted}"),
            &[std::process::id()],
            &["--plugin-dir", plugin_dir],
        );
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        let message = match nearest {
            Some(n) => format!("no analyzer {quoted} (did you mean \"{n}\"?)"),
            None => format!("no analyzer {quoted}: not built in"),
        };
        // The snippet line is compared with the file's own line: `use = "…"`, unescaped.
        assert_points_at(&err, &dir.path().join("p.toml"), &quoted, &message);
        assert!(!err.contains("\\\""), "nothing escaped: {err}");
        assert_eq!(err.contains("did you mean"), nearest.is_some(), "{err}");
    }
}

#[test]
fn untrusted_plugin_files_are_refused_as_root_unless_allowed() {
    support::require_root("the ownership check applies to root only");
    // A world-writable directory without the sticky bit: anyone could swap the library.
    let open_dir = tempfile::tempdir().unwrap();
    set_mode(open_dir.path(), 0o777);
    let lib = open_dir.path().join("libmalfind.so");
    std::fs::copy(malfind(), &lib).unwrap();
    let work = tempfile::tempdir().unwrap();
    let analyzer = format!(
        "use = \"image-attribution\"\n\n[[analyzer]]\nuse = {:?}",
        lib.to_str().unwrap()
    );
    let out = run_with(work.path(), &analyzer, &[std::process::id()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("refusing to load"), "{err}");
    assert!(
        err.contains(&format!(
            "{} is writable by others (mode 0777)",
            open_dir.path().display()
        )),
        "{err}"
    );
    assert!(err.contains("--allow-untrusted-plugins"), "{err}");

    let out = run_with(
        work.path(),
        &analyzer,
        &[std::process::id()],
        &["--allow-untrusted-plugins"],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // A library owned by another user, in a directory that is fine.
    let safe_dir = tempfile::tempdir().unwrap();
    set_mode(safe_dir.path(), 0o755);
    let theirs = safe_dir.path().join("libmalfind.so");
    std::fs::copy(malfind(), &theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let out = run_with(
        work.path(),
        &format!("use = {:?}", theirs.to_str().unwrap()),
        &[std::process::id()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is owned by uid 65534, not root"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn plugins_are_found_by_name_in_plugin_dirs_and_listed() {
    let dir = malfind().parent().unwrap();
    let work = tempfile::tempdir().unwrap();
    let out = run_with(
        work.path(),
        "use = \"image-attribution\"\n\n[[analyzer]]\nuse = \"malfind\"",
        &[std::process::id()],
        &["--plugin-dir", dir.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(work.path().join("out/findings.csv").is_file());

    // Through VMPIPE_PLUGIN_PATH too, and `vmpipe plugins` lists it with its schema.
    let list = vmpipe()
        .arg("plugins")
        .env("VMPIPE_PLUGIN_PATH", dir)
        .output()
        .unwrap();
    assert!(list.status.success());
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("malfind 1.0.0"), "{text}");
    assert!(text.contains("table findings.csv (per process"), "{text}");
    assert!(text.contains("first_bytes_hex"), "{text}");

    // An unknown name says where it looked.
    let out = run_with(
        work.path(),
        "use = \"nope\"",
        &[std::process::id()],
        &["--plugin-dir", dir.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no libnope.so or nope.so in"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(dir.to_str().unwrap()),
        "{}",
        stderr(&out)
    );
}

/// The built-in analyzers `vmpipe plugins` lists.
fn builtin_names() -> Vec<String> {
    let out = vmpipe().arg("plugins").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let builtins = text
        .split("Plugin libraries in")
        .next()
        .unwrap_or_default()
        .to_string();
    builtins
        .lines()
        .filter(|l| l.ends_with("(built-in)"))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

/// Every built-in, loaded from its own cdylib by path, writes byte-for-byte what the
/// statically linked built-in writes.
#[test]
fn builtins_loaded_as_libraries_give_identical_output() {
    let names = builtin_names();
    assert!(names.contains(&"guard-detection".to_string()), "{names:?}");
    let targets = [
        start_map_target(&[]),
        start_target("threadtarget", |_| Vec::new(), &[]),
        start_target("injtarget", |_| Vec::new(), &[]),
    ];
    for t in &targets {
        t.stop();
    }
    let pids: Vec<u32> = targets.iter().map(|t| t.pid()).collect();
    for name in names {
        // Convention (see plugin::builtin): crate vmpipe-NAME, library NAME with `_` for `-`.
        let lib = build_plugin(
            &["-p", &format!("vmpipe-{name}")],
            &format!("lib{}.so", name.replace('-', "_")),
        );
        let stat = tempfile::tempdir().unwrap();
        let dynamic = tempfile::tempdir().unwrap();
        let a = run_with(stat.path(), &format!("use = \"{name}\""), &pids, &[]);
        let b = run_with(
            dynamic.path(),
            &format!("use = {:?}", lib.to_str().unwrap()),
            &pids,
            &[],
        );
        assert!(
            a.status.success() && b.status.success(),
            "{name}: {}{}",
            stderr(&a),
            stderr(&b)
        );
        let mut files: Vec<_> = std::fs::read_dir(stat.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        files.sort();
        assert!(files.len() > 3, "{name} wrote its own tables: {files:?}");
        for f in files {
            let x = std::fs::read(stat.path().join("out").join(&f)).unwrap();
            let y = std::fs::read(dynamic.path().join("out").join(&f)).unwrap();
            assert!(
                x == y,
                "{name}: {f:?} differs between the built-in and its library"
            );
        }
    }
}
