//! Plugins written in C against `plugins/sdk/include/vmpipe_plugin.h` (issue 14, scope 2
//! and 3), compiled here with `cc` and run by the real vmpipe against a live process; the
//! truth is the kernel's `/proc/PID/maps` of that process, classified by this test as the
//! ABI documents the region kinds (`VMPIPE_REGION_KIND_*`).
//!
//! * `examples/c-region-kinds`: its regions and bytes per kind equal the maps'.
//! * `tests/plugins/future-minor`: built as if against a newer minor, with every struct it
//!   builds larger than this host's: it loads when `requires_minor` allows and its rows are
//!   right; it is refused, naming the minor, when it requires the newer minor; and element
//!   sizes below 2.0's are refused.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use support::{Table, Target};

/// One line of `/proc/PID/maps`.
struct Mapping {
    start: u64,
    end: u64,
    kind: &'static str,
}

/// The kind of a region as the ABI documents `VMPIPE_REGION_KIND_*`, by the name vmpipe
/// writes for it.
fn kind_of(path: &[u8], shared: bool) -> &'static str {
    match path {
        b"" => "anon",
        b"[heap]" => "heap",
        b"[stack]" => "stack",
        b"[vdso]" => "vdso",
        b"[vvar]" | b"[vvar_vclock]" => "vvar",
        b"[vsyscall]" => "vsyscall",
        p if p.starts_with(b"[anon_shmem:") => "shm",
        p if p.starts_with(b"[anon:") => "anon",
        p if p.starts_with(b"[stack:") => "stack",
        p if p.starts_with(b"[") => "special",
        p if p.starts_with(b"/memfd:") => "memfd",
        p if p.starts_with(b"anon_inode:") => "anon-inode",
        p if p.starts_with(b"/SYSV") || p.starts_with(b"/dev/shm/") => "shm",
        b"/dev/zero (deleted)" if shared => "shm",
        p if p.starts_with(b"/") => "file",
        _ => "special",
    }
}

/// The kernel's maps of `pid`: `START-END PERMS OFFSET DEV INODE   PATH`.
fn maps(pid: u32) -> Vec<Mapping> {
    let text = std::fs::read(format!("/proc/{pid}/maps")).expect("read /proc/PID/maps");
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut rest = line;
            let mut fields = Vec::new();
            for _ in 0..5 {
                let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
                fields.push(&rest[..end]);
                rest = &rest[end.min(rest.len())..];
                while let [b' ', tail @ ..] = rest {
                    rest = tail;
                }
            }
            let range = std::str::from_utf8(fields[0]).expect("range");
            let (s, e) = range.split_once('-').expect("START-END");
            let hex = |h: &str| u64::from_str_radix(h, 16).expect("hex address");
            Mapping {
                start: hex(s),
                end: hex(e),
                kind: kind_of(rest, fields[1].get(3) == Some(&b's')),
            }
        })
        .collect()
}

/// The kinds target, running dynamically linked (file regions of its own, libc and ld.so),
/// stopped so that its maps hold still.
fn kind_target() -> Target {
    let t = support::start_dynamic_target("kindtarget", |_| Vec::new(), &[]);
    for made in ["memfd", "shared_anon"] {
        assert!(
            t.mappings.contains_key(made),
            "kindtarget made no {made}: {:?}",
            t.lines
        );
    }
    t.stop();
    t
}

/// Runs `pipeline` over `pid` into a fresh directory, asserting success.
fn run(pipeline: &Path, pid: u32) -> tempfile::TempDir {
    let out = tempfile::tempdir().expect("temp dir");
    let o = support::vmpipe()
        .arg("run")
        .arg(pipeline)
        .arg("--pid")
        .arg(pid.to_string())
        .arg("--out")
        .arg(out.path())
        .arg("--quiet")
        .output()
        .expect("run vmpipe");
    assert!(
        o.status.success(),
        "vmpipe run {}: {}\n{}",
        pipeline.display(),
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let errors = Table::read(&out.path().join("errors.csv"));
    assert!(
        errors.rows_for(pid).is_empty(),
        "errors for the target: {:?}",
        errors.rows
    );
    out
}

/// `region start → value of column` for `pid` in regions.csv.
fn by_start(dir: &Path, pid: u32, column: &str) -> BTreeMap<u64, String> {
    let regions = Table::read(&dir.join("regions.csv"));
    regions
        .rows_for(pid)
        .into_iter()
        .map(|r| {
            let start = regions.num(r, "start").expect("start");
            (start, regions.get(r, column).to_string())
        })
        .collect()
}

#[test]
fn the_c_example_counts_regions_and_bytes_per_kind_as_proc_maps_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let example = support::repo().join("examples/c-region-kinds");
    // The example's own pipeline, next to the library it names.
    let pipeline = dir.path().join("region-kinds.toml");
    std::fs::copy(example.join("region-kinds.toml"), &pipeline).expect("copy the pipeline");
    support::cc_plugin(
        &dir.path().join("libregion_kinds.so"),
        &[&example.join("plugin.c")],
        &[],
    );

    let target = kind_target();
    let pid = target.pid();
    let before = maps(pid);
    let out = run(&pipeline, pid);
    assert_eq!(
        maps(pid)
            .iter()
            .map(|m| (m.start, m.end))
            .collect::<Vec<_>>(),
        before.iter().map(|m| (m.start, m.end)).collect::<Vec<_>>(),
        "the stopped target's maps changed during the run"
    );

    let mut truth: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for m in &before {
        let e = truth.entry(m.kind).or_default();
        e.0 += 1;
        e.1 += m.end - m.start;
    }
    for kind in [
        "file", "anon", "heap", "stack", "vdso", "vvar", "shm", "memfd",
    ] {
        assert!(
            truth.contains_key(kind),
            "the target has no {kind} region: {truth:?}"
        );
    }

    let table = Table::read(&out.path().join("region_kinds.csv"));
    let got: BTreeMap<&str, (u64, u64)> = table
        .rows_for(pid)
        .into_iter()
        .map(|r| {
            let n = table.num(r, "regions").expect("regions");
            let b = table.num(r, "bytes").expect("bytes");
            (table.get(r, "kind"), (n, b))
        })
        .collect();
    assert_eq!(
        got, truth,
        "regions and bytes per kind: plugin vs /proc/{pid}/maps"
    );

    // And region by region, the kind the plugin named.
    let named = by_start(out.path(), pid, "kind_name");
    let expect: BTreeMap<u64, String> = before
        .iter()
        .map(|m| (m.start, m.kind.to_string()))
        .collect();
    assert_eq!(named, expect, "kind_name per region vs /proc/{pid}/maps");
}

/// Builds tests/plugins/future-minor with `defines` as `libfuture.so` in `dir` and writes a
/// pipeline using it after image-attribution (whose `image` it reads).
fn future(dir: &Path, defines: &[&str]) -> PathBuf {
    let lib = dir.join("libfuture.so");
    let src = support::repo().join("tests/plugins/future-minor/future.c");
    support::cc_plugin(&lib, &[&src], defines);
    let pipeline = dir.join("future.toml");
    std::fs::write(
        &pipeline,
        "[source]\ntype = \"live\"\ndetail = \"maps\"\n\
         [[analyzer]]\nuse = \"image-attribution\"\n\
         [[analyzer]]\nuse = \"libfuture.so\"\n\
         [[sink]]\ntype = \"csv\"\ndir = \"out\"\n",
    )
    .expect("write the pipeline");
    pipeline
}

fn validate(pipeline: &Path) -> Output {
    support::vmpipe()
        .arg("validate")
        .arg(pipeline)
        .output()
        .expect("run vmpipe validate")
}

/// The rule: a host speaking 2.M loads a plugin whose `requires_minor <= M`, whatever minor it
/// was built with, reading only the fields it knows of the larger structs.
#[test]
fn a_plugin_built_for_a_newer_minor_that_needs_only_2_0_loads_and_its_rows_are_right() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pipeline = future(dir.path(), &[]);
    let target = kind_target();
    let pid = target.pid();
    let truth = maps(pid);
    let out = run(&pipeline, pid);

    let spans = by_start(out.path(), pid, "span");
    let expect: BTreeMap<u64, String> = truth
        .iter()
        .map(|m| (m.start, (m.end - m.start).to_string()))
        .collect();
    assert_eq!(spans, expect, "span per region vs /proc/{pid}/maps");

    // The input it read is image-attribution's image, region by region.
    let images = by_start(out.path(), pid, "image");
    let has = by_start(out.path(), pid, "has_image");
    assert!(
        images.values().any(|i| !i.is_empty()),
        "no region has an image"
    );
    for (start, image) in &images {
        assert_eq!(
            has[start],
            (!image.is_empty()).to_string(),
            "has_image at {start:#x} (image {image:?})"
        );
    }

    let totals = Table::read(&out.path().join("span_totals.csv"));
    let rows = totals.rows_for(pid);
    assert_eq!(rows.len(), 1, "one span_totals row for the target");
    let bytes: u64 = truth.iter().map(|m| m.end - m.start).sum();
    assert_eq!(
        (totals.num(rows[0], "regions"), totals.num(rows[0], "bytes")),
        (Some(truth.len() as u64), Some(bytes)),
        "span_totals vs /proc/{pid}/maps"
    );
}

#[test]
fn a_plugin_that_requires_a_newer_minor_is_refused_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pipeline = future(dir.path(), &["-DREQUIRES_MINOR=(VMPIPE_ABI_MINOR + 1)"]);
    let o = validate(&pipeline);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success(),
        "loaded a plugin that requires a newer minor: {err}"
    );
    let minor = vmpipe_plugin::abi::ABI_MINOR;
    let needs = format!("it needs plugin ABI 2.{}", minor + 1);
    assert!(
        err.contains(&needs) && err.contains(&format!("speaks 2.{minor}")),
        "{err}"
    );
    assert!(err.contains("upgrade vmpipe"), "{err}");
}

#[test]
fn element_sizes_smaller_than_2_0_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pipeline = future(dir.path(), &["-DSMALL_COLUMNS"]);
    let o = validate(&pipeline);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "loaded columns of 32 bytes: {err}");
    let min = <vmpipe_plugin::abi::ColumnV2 as vmpipe_plugin::abi::AbiStruct>::MIN_SIZE;
    assert!(
        err.contains(&format!(
            "elements of {} bytes, smaller than ABI 2.0's {min}",
            min - 8
        )),
        "{err}"
    );
}

/// The contract's lifecycle: a warning logged in `create` is printed when the pipeline
/// loads, and `destroy` is called once for the state `create` stored, whether `create`
/// succeeded or failed.
#[test]
fn a_warning_from_create_is_printed_and_destroy_follows_every_stored_state() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lib = dir.path().join("libminimal.so");
    let src = support::repo().join("tests/plugins/minimal/minimal.c");
    support::cc_plugin(&lib, &[&src], &["-DCONTRACT_TEST"]);
    let marker = dir.path().join("destroyed");
    for (options, ok) in [("", true), ("options = { anything = 1 }\n", false)] {
        let _ = std::fs::remove_file(&marker);
        let pipeline = dir.path().join("p.toml");
        std::fs::write(
            &pipeline,
            format!(
                "[source]\ntype = \"live\"\ndetail = \"maps\"\n[[analyzer]]\nuse = \"libminimal.so\"\n{options}[[sink]]\ntype = \"csv\"\ndir = \"out\"\n"
            ),
        )
        .expect("write the pipeline");
        let o = support::vmpipe()
            .arg("validate")
            .arg(&pipeline)
            .env("MINIMAL_DESTROYED", &marker)
            .output()
            .expect("run vmpipe validate");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.success(), ok, "{err}");
        assert!(
            err.contains("warning from analyzer \"minimal\": a warning from create"),
            "{err}"
        );
        if !ok {
            assert!(
                err.contains("refusing every option, after storing a state"),
                "{err}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(&marker).unwrap_or_default(),
            "destroyed\n",
            "destroy once for the stored state (create {})",
            if ok { "succeeded" } else { "failed" }
        );
    }
}
