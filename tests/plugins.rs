//! The plugin ABI end to end: the example malfind plugin finds injected code in a real
//! process, and every kind of bad plugin gets one clear error while the rest of the output
//! stays intact.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use std::sync::OnceLock;

use support::{Table, build_plugin, malfind, set_mode, start_map_target, start_target, vmpipe};

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
    cmd.args(extra).output().unwrap()
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
    let analyzer = format!(
        "use = {:?}\noptions = {{ bytes = 16 }}",
        malfind().to_str().unwrap()
    );
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
                "exports no vmpipe_plugin_v1 entry symbol".to_string(),
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
        assert!(err.contains("p.toml:6:"), "names the pipeline line: {err}");
        assert!(!dir.path().join("out").exists(), "the run did not start");
    }
}

#[test]
fn wrong_abi_major_and_wrong_architecture_are_named() {
    support::require_tool("cc", "gcc");
    let dir = tempfile::tempdir().unwrap();
    // A library built for a future ABI: it exports only vmpipe_plugin_v2.
    let src = dir.path().join("v2.c");
    std::fs::write(&src, "void *vmpipe_plugin_v2(void) { return 0; }\n").unwrap();
    let v2 = dir.path().join("libv2.so");
    let cc = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&v2)
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
        &format!("use = {:?}", v2.to_str().unwrap()),
        &[std::process::id()],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("a plugin for ABI v2; this vmpipe speaks v1"),
        "{}",
        stderr(&out)
    );

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
                "the analyzer panicked: deliberate panic on pid {}",
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
            "use = {:?}\noptions = {{ victim = \"maptarget\", mode = \"{mode}\" }}\n\n[[analyzer]]\nuse = {:?}",
            misbehave().to_str().unwrap(),
            malfind().to_str().unwrap()
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
fn options_the_plugin_rejects_are_reported_with_the_pipeline_line() {
    let dir = tempfile::tempdir().unwrap();
    let analyzer = format!(
        "use = {:?}\noptions = {{ bytes = 0 }}",
        malfind().to_str().unwrap()
    );
    let out = run_with(dir.path(), &analyzer, &[std::process::id()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let file = dir.path().join("p.toml");
    assert!(
        err.contains(&format!(
            "{}:6: analyzer \"malfind\" refused its options: option `bytes` must be between 1 and 4096, not 0",
            file.display()
        )),
        "{err}"
    );
    // validate says the same, without running.
    let v = vmpipe().arg("validate").arg(&file).output().unwrap();
    assert_eq!(v.status.code(), Some(2));
    assert!(stderr(&v).contains("refused its options"));
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
    let analyzer = format!("use = {:?}", lib.to_str().unwrap());
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
        "use = \"malfind\"",
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
