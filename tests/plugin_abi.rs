//! The plugin ABI's versions, tested both ways: a library built with the SDK before ABI v2
//! (commit 036e0a7) is refused with the mismatch and the remedy, never loaded; a plugin built
//! against the SDK frozen at ABI 2.0 gives the same rows on this host as the same source
//! built against the current SDK; analyzers that read other analyzers' columns get them from
//! providers run first, whatever the pipeline order, and a pipeline without the provider is
//! refused before anything runs.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use support::{Table, build_plugin, start_map_target, vmpipe};

fn library(manifest: &str, lib: &str) -> PathBuf {
    build_plugin(&["--manifest-path", manifest], lib)
}

fn old_sdk() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| library("tests/plugins/old-sdk/Cargo.toml", "libold_sdk.so"))
}

fn compat(which: &str) -> PathBuf {
    library(
        &format!("tests/plugins/compat-{which}/Cargo.toml"),
        &format!("libcompat_{which}.so"),
    )
}

/// Writes a pipeline with the given `[[analyzer]]` bodies into `dir` and runs it over `pid`
/// (live, with smaps) into `dir/out`.
fn run(dir: &Path, analyzers: &[&str], pid: u32) -> Output {
    let file = dir.join("p.toml");
    let mut text = String::from("[source]\ntype = \"live\"\ndetail = \"smaps\"\n");
    for a in analyzers {
        text.push_str(&format!("\n[[analyzer]]\n{a}\n"));
    }
    text.push_str(&format!(
        "\n[[sink]]\ntype = \"csv\"\ndir = {:?}\n",
        dir.join("out").to_str().unwrap()
    ));
    std::fs::write(&file, text).unwrap();
    vmpipe()
        .arg("run")
        .arg(&file)
        .arg("-q")
        .arg("--pid")
        .arg(pid.to_string())
        .arg("--allow-untrusted-plugins")
        .output()
        .unwrap()
}

/// The columns of a table in file order.
fn header(t: &Table) -> Vec<String> {
    let mut h: Vec<(&String, &usize)> = t.columns.iter().collect();
    h.sort_by_key(|(_, i)| **i);
    h.into_iter().map(|(n, _)| n.clone()).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_library_built_with_the_sdk_before_abi_v2_is_refused_with_the_mismatch_and_the_remedy() {
    let lib = old_sdk();
    // The independent truth that this is an old library: its dynamic symbol table, as
    // readelf reads it, exports the v1 entry and no v2 one.
    support::require_tool("readelf", "binutils");
    let syms = std::process::Command::new("readelf")
        .args(["--dyn-syms", "--wide"])
        .arg(lib)
        .output()
        .unwrap();
    let syms = String::from_utf8_lossy(&syms.stdout);
    assert!(syms.contains(" vmpipe_plugin_v1\n") || syms.contains(" vmpipe_plugin_v1 "));
    assert!(!syms.contains("vmpipe_plugin_v2"));

    let target = start_map_target(&[]);
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[&format!("use = {:?}", lib.to_str().unwrap())],
        target.pid(),
    );
    let err = stderr(&o);
    assert!(
        !o.status.success(),
        "an ABI v1 library must not load: {err}"
    );
    for needle in [
        "p.toml:6:",
        "libold_sdk.so",
        "a plugin for ABI v1 (vmpipe-plugin 0.1)",
        "this vmpipe speaks only ABI v2",
        "rebuild it against vmpipe-plugin 2.x",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(
        !dir.path().join("out").exists(),
        "nothing may be written when a plugin is refused"
    );
}

/// Every `cp_*` column of regions.csv, by region start, and the probe's tables.
fn probe_output(dir: &Path) -> (BTreeMap<String, Vec<String>>, Vec<String>, Vec<String>) {
    let out = dir.join("out");
    let regions = Table::read(&out.join("regions.csv"));
    let all = header(&regions);
    let cols: Vec<&String> = all.iter().filter(|h| h.starts_with("cp_")).collect();
    assert_eq!(cols.len(), 6, "probe columns in {all:?}");
    let mut by_start = BTreeMap::new();
    for row in &regions.rows {
        let values = cols
            .iter()
            .map(|c| regions.get(row, c).to_string())
            .collect();
        by_start.insert(regions.get(row, "start").to_string(), values);
    }
    let lines = |f: &str| -> Vec<String> {
        std::fs::read_to_string(out.join(f))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    (by_start, lines("cp_processes.csv"), lines("cp_totals.csv"))
}

#[test]
fn a_plugin_built_against_the_frozen_2_0_sdk_gives_the_same_rows_as_the_current_sdk() {
    let frozen = compat("frozen");
    let current = compat("current");
    let target = start_map_target(&[]);
    target.stop();
    let analyzers = |lib: &Path| {
        [
            format!(
                "use = {:?}\noptions = {{ label = \"probe\", limit = \"64K\" }}",
                lib.to_str().unwrap()
            ),
            "use = \"image-attribution\"".to_string(),
        ]
    };
    let mut outputs = Vec::new();
    for lib in [&frozen, &current] {
        let dir = tempfile::tempdir().unwrap();
        let a = analyzers(lib);
        let o = run(dir.path(), &[&a[0], &a[1]], target.pid());
        assert!(o.status.success(), "{}: {}", lib.display(), stderr(&o));
        outputs.push((probe_output(dir.path()), dir));
    }
    let (frozen_out, current_out) = (&outputs[0].0, &outputs[1].0);
    assert_eq!(
        frozen_out, current_out,
        "the 2.0 plugin and the current one disagree"
    );

    // And both are right, against the kernel's own files: one row per mapping of
    // /proc/PID/maps, each region's first bytes as /proc/PID/mem has them, the images
    // image-attribution wrote for the same regions.
    // The map target names a file with invalid UTF-8: only the ASCII fields are read here.
    let maps =
        String::from_utf8_lossy(&std::fs::read(format!("/proc/{}/maps", target.pid())).unwrap())
            .into_owned();
    let starts: Vec<String> = maps
        .lines()
        .filter_map(|l| l.split('-').next())
        .filter_map(|s| u64::from_str_radix(s, 16).ok())
        .map(|s| format!("0x{s:x}"))
        .collect();
    let (regions, processes, totals) = frozen_out;
    let mut ours: Vec<&String> = regions.keys().collect();
    let mut theirs: Vec<&String> = starts.iter().collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);
    let mem = std::fs::File::open(format!("/proc/{}/mem", target.pid())).unwrap();
    let mut checked = 0;
    for line in maps.lines() {
        use std::os::unix::fs::FileExt;
        let (range, rest) = line.split_once(' ').unwrap();
        let (s, e) = range.split_once('-').unwrap();
        let (s, e) = (
            u64::from_str_radix(s, 16).unwrap(),
            u64::from_str_radix(e, 16).unwrap(),
        );
        if !rest.starts_with('r') || e - s > 64 << 10 || line.ends_with("[vsyscall]") {
            continue;
        }
        let mut b = [0u8; 8];
        if mem.read_exact_at(&mut b, s).is_err() {
            continue;
        }
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(regions[&format!("0x{s:x}")][2], hex, "{line}");
        assert_eq!(regions[&format!("0x{s:x}")][5], format!("0x{s:x}"));
        checked += 1;
    }
    assert!(
        checked >= 3,
        "only {checked} small readable regions compared"
    );
    let images = Table::read(&outputs[0].1.path().join("out/regions.csv"));
    for row in &images.rows {
        assert_eq!(
            images.get(row, "cp_image"),
            images.get(row, "image"),
            "the probe reads image-attribution's own value"
        );
    }
    assert!(
        images
            .rows
            .iter()
            .any(|r| !images.get(r, "image").is_empty())
    );
    assert_eq!(processes.len(), 2, "{processes:?}");
    assert!(processes[1].contains(",probe,"), "{processes:?}");
    assert_eq!(totals, &vec!["processes".to_string(), "1".to_string()]);
}

#[test]
fn providers_run_first_whatever_the_pipeline_order() {
    // The probe reads image-attribution's `image` and is listed before it: the host must
    // run image-attribution first on each process, or every cp_image would be empty.
    let current = compat("current");
    let target = start_map_target(&[]);
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[
            &format!("use = {:?}", current.to_str().unwrap()),
            "use = \"image-attribution\"",
        ],
        target.pid(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let t = Table::read(&dir.path().join("out/regions.csv"));
    // The truth: the kernel's maps names the target's executable for its file mappings.
    let exe = std::fs::read_link(format!("/proc/{}/exe", target.pid())).unwrap();
    let exe = exe.to_str().unwrap();
    let of_exe: Vec<_> = t.rows.iter().filter(|r| t.get(r, "path") == exe).collect();
    assert!(!of_exe.is_empty());
    for r in of_exe {
        assert_eq!(t.get(r, "cp_image"), exe);
    }
    // The output columns keep the pipeline's order: the probe's come first.
    let h = header(&t);
    let probe = h.iter().position(|c| c == "cp_kind").unwrap();
    let image = h.iter().position(|c| c == "image").unwrap();
    assert!(probe < image, "{h:?}");
}

#[test]
fn a_pipeline_without_the_provider_is_refused_naming_it_and_the_line() {
    let current = compat("current");
    let target = start_map_target(&[]);
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        dir.path(),
        &[
            "use = \"guard-detection\"",
            &format!("use = {:?}", current.to_str().unwrap()),
        ],
        target.pid(),
    );
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("p.toml:9:")
            && err.contains("analyzer \"compat\" reads the region columns of analyzer \"image-attribution\" (image)")
            && err.contains("use = \"image-attribution\""),
        "{err}"
    );
    assert!(!dir.path().join("out").exists());
}
