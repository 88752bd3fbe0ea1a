//! The plugin test harness (`vmpipe_plugin::testing`) against vmpipe itself:
//!
//! * it reads every smaps capture of the repository into the regions vmpipe's own parser
//!   makes (every field a plugin sees);
//! * driving each built-in analyzer over a stopped process — its smaps and status as
//!   `vmpipe snapshot` saved them, its memory read from `/proc/PID/mem`, its files opened on
//!   this machine — it gives the same region values and table rows as a live `vmpipe run`
//!   over the same stopped process.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::Path;

use support::{Table, require_root, start_target, sweep};
use vmpipe::model::UsageField;
use vmpipe::model::escape::{escape, unguard};
use vmpipe_plugin::testing::{self, Fixture, OwnedValue, SMAPS_FIELDS};
use vmpipe_plugin::{Analyzer, Host, Options, Process, Regions, Schema};

vmpipe_plugin::tables! {
    TABLES = [
        SEEN: Process ("seen", "one row per region: what a plugin sees of it") {
            "start": U64 = "",
            "end": U64 = "",
            "perms": Text = "",
            "max_perms": Text = "",
            "offset": U64 = "",
            "device": Text = "",
            "inode": U64 = "",
            "path": Bytes = "",
            "kind": Text = "",
            "vm_flags": Text = "",
            "usage": Text = "",
        },
    ];
}

/// Reports every field of every region it is given.
struct Probe;

impl Analyzer for Probe {
    const SCHEMA: Schema = Schema::new("probe", "1.0.0", "what a plugin sees").tables(TABLES);
    fn create(_: &Options) -> vmpipe_plugin::Result<Self> {
        Ok(Probe)
    }
    fn analyze(&self, _: &Process, regions: &Regions, host: &mut Host) -> vmpipe_plugin::Result {
        use vmpipe_plugin::Value as V;
        for r in regions {
            let usage: Vec<String> = SMAPS_FIELDS
                .iter()
                .filter_map(|(name, slot, _)| Some(format!("{name}={}", r.usage(*slot)?)))
                .collect();
            let (major, minor) = r.device();
            let max = r
                .max_perms()
                .map(|m| String::from_utf8_lossy(&m).into_owned());
            host.row(
                SEEN,
                [
                    V::U64(r.start()),
                    V::U64(r.end()),
                    V::Text(&r.perms()),
                    V::from(max.as_ref()),
                    V::U64(r.offset()),
                    V::Text(&format!("{major:x}:{minor:x}")),
                    V::U64(r.inode()),
                    V::from(r.path()),
                    V::Text(r.kind().as_str()),
                    V::from(r.vm_flags()),
                    V::Text(&usage.join(";")),
                ],
            )?;
        }
        Ok(())
    }
}

/// The same row, from vmpipe's own model of the region.
fn core_row(r: &vmpipe::model::Region) -> Vec<OwnedValue> {
    let usage: Vec<String> = UsageField::ALL
        .iter()
        .filter_map(|f| Some(format!("{}={}", f.smaps_name(), r.usage.get(*f)?)))
        .collect();
    let kind = r.kind.as_str();
    vec![
        OwnedValue::U64(r.start),
        OwnedValue::U64(r.end),
        OwnedValue::Text(r.perms.to_string()),
        r.max_perms()
            .map(|m| String::from_utf8_lossy(&m).into_owned())
            .map_or(OwnedValue::Absent, OwnedValue::Text),
        OwnedValue::U64(r.offset),
        OwnedValue::Text(format!("{:x}:{:x}", r.dev_major, r.dev_minor)),
        OwnedValue::U64(r.inode),
        r.path
            .as_deref()
            .map_or(OwnedValue::Absent, |p| OwnedValue::Bytes(p.to_vec())),
        OwnedValue::Text(kind.to_string()),
        r.vm_flags
            .as_deref()
            .map_or(OwnedValue::Absent, |f| OwnedValue::Text(f.to_string())),
        OwnedValue::Text(usage.join(";")),
    ]
}

/// Every smaps file of the repository's captures.
fn smaps_captures() -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![
        support::repo().join("tests/fixtures"),
        support::repo().join("benches/data"),
    ];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).expect("fixture dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.to_string_lossy().contains("smaps") {
                out.push((p.clone(), std::fs::read(&p).expect("fixture")));
            }
        }
    }
    out
}

#[test]
fn the_harness_reads_smaps_as_vmpipe_does() {
    let _alone = alone();
    let captures = smaps_captures();
    assert!(
        captures.len() >= 4,
        "smaps captures found: {}",
        captures.len()
    );
    let mut regions = 0;
    for (path, original) in &captures {
        // An excerpt marks what it left out with `...` lines, which both refuse on the same
        // line; the rest is compared.
        let mut model = Vec::new();
        if let Err(e) = vmpipe::source::linux::smaps::parse(original, &mut model) {
            let ours = Fixture::from_smaps(1, original).err();
            assert_eq!(
                ours.map(|o| o.line),
                Some(e.line()),
                "{}: {e}",
                path.display()
            );
        }
        let text: Vec<u8> = original
            .split(|&b| b == b'\n')
            .filter(|l| !l.starts_with(b"..."))
            .flat_map(|l| l.iter().copied().chain([b'\n']))
            .collect();
        let mut model = Vec::new();
        let core = vmpipe::source::linux::smaps::parse(&text, &mut model);
        let fixture = Fixture::from_smaps(1, &text);
        let (Ok(()), Ok(fixture)) = (&core, fixture) else {
            panic!(
                "{}: vmpipe {core:?}, the harness disagrees or fails",
                path.display()
            );
        };
        let out = testing::run::<Probe>(&fixture);
        assert!(out.is_clean(), "{}: {out:?}", path.display());
        let want: Vec<Vec<OwnedValue>> = model.iter().map(core_row).collect();
        assert_eq!(out.rows("seen"), want.as_slice(), "{}", path.display());
        regions += want.len();
    }
    assert!(regions > 100, "regions compared: {regions}");
    // A damaged line is refused by both.
    let bad = b"1000-2000 r--p 00000000 08:01 1 /x\nRss:   four kB\n";
    assert!(vmpipe::source::linux::smaps::parse(bad, &mut Vec::new()).is_err());
    assert!(Fixture::from_smaps(1, bad).is_err());
}

/// A harness value as vmpipe's CSV writes it (before the formula guard).
fn csv_text(v: &OwnedValue) -> String {
    match v {
        OwnedValue::Absent => String::new(),
        OwnedValue::U64(n) => n.to_string(),
        OwnedValue::I64(n) => vmpipe::model::Cell::I64(*n).to_string(),
        OwnedValue::F64(n) => vmpipe::model::Cell::F64(*n).to_string(),
        OwnedValue::Bool(b) => b.to_string(),
        OwnedValue::Text(s) => escape(s.as_bytes()),
        OwnedValue::Bytes(b) => escape(b),
        OwnedValue::Address(a) => format!("{a:#x}"),
    }
}

/// The smaps of the stopped process as vmpipe's live run read it (regions.csv) equals the
/// one the snapshot saved: the two runs had the same input. (Pss moves when another process
/// maps or unmaps a shared page; Rss when vmpipe's own reads fault pages in.)
fn same_input(snapshot_smaps: &[u8], regions: &Table, pid: u32) -> Result<(), String> {
    let mut model = Vec::new();
    vmpipe::source::linux::smaps::parse(snapshot_smaps, &mut model).map_err(|e| e.to_string())?;
    let rows = regions.rows_for(pid);
    if rows.len() != model.len() {
        return Err(format!(
            "{} regions live, {} saved",
            rows.len(),
            model.len()
        ));
    }
    for (row, r) in rows.iter().zip(&model) {
        if regions.num(row, "start") != Some(r.start) {
            return Err(format!("region {:#x} not at its place", r.start));
        }
        for f in UsageField::ALL {
            if f == UsageField::Dirty {
                continue;
            }
            if regions.num(row, f.column()) != r.usage.get(f) {
                return Err(format!("{} of {:#x} moved", f.column(), r.start));
            }
        }
    }
    Ok(())
}

/// Every readable region's bytes, read from the stopped process (regions the kernel will
/// not read, such as `[vvar]`, are left out: reads there fault, as they do live).
fn memory_of(pid: u32, mut fixture: Fixture) -> Fixture {
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).expect("open /proc/PID/mem");
    let ranges: Vec<(u64, u64)> = fixture
        .regions()
        .iter()
        .filter(|r| r.readable())
        .map(|r| (r.start(), r.end()))
        .collect();
    let mut total = 0u64;
    for (start, end) in ranges {
        let mut buf = vec![0u8; (end - start) as usize];
        if mem.read_exact_at(&mut buf, start).is_ok() {
            total += end - start;
            assert!(
                total <= 512 << 20,
                "the test target's memory is larger than expected"
            );
            fixture = fixture.memory(start, buf);
        }
    }
    fixture
}

/// Compares one analyzer's harness outcome with the live run's CSV.
fn compare<A: Analyzer>(fixture: &Fixture, out_dir: &Path, pid: u32) -> testing::Outcome {
    let name = A::SCHEMA.name;
    let got = testing::run::<A>(fixture);
    assert!(got.is_clean(), "{name}: {got:#?}");
    let regions = Table::read(&out_dir.join("regions.csv"));
    let rows = regions.rows_for(pid);
    assert_eq!(rows.len(), fixture.regions().len(), "{name}: region count");
    for col in A::SCHEMA.region_columns {
        let values = got.column(col.name);
        assert_eq!(values.len(), rows.len(), "{name}.{}", col.name);
        for (i, (row, v)) in rows.iter().zip(values).enumerate() {
            assert_eq!(
                unguard(regions.get(row, col.name)),
                csv_text(v),
                "{name}: column {} of region {i} ({:#x})",
                col.name,
                fixture.regions()[i].start()
            );
        }
    }
    for t in A::SCHEMA.tables {
        let csv = Table::read(&out_dir.join(format!("{}.csv", t.name)));
        let live: Vec<&csv::StringRecord> = match t.scope {
            vmpipe_plugin::Scope::Process => csv.rows_for(pid),
            vmpipe_plugin::Scope::Run => csv.rows.iter().collect(),
        };
        let harness = got.rows(t.name);
        assert_eq!(live.len(), harness.len(), "{name}: rows of {}", t.name);
        for (n, (row, cells)) in live.iter().zip(harness).enumerate() {
            for (c, v) in t.columns.iter().zip(cells) {
                assert_eq!(
                    unguard(csv.get(row, c.name)),
                    csv_text(v),
                    "{name}: table {} row {n} column {}",
                    t.name,
                    c.name
                );
            }
        }
    }
    got
}

/// Stops `target`, saves it with `vmpipe snapshot`, runs vmpipe live over it, and drives the
/// four built-ins through the harness over the saved files and its memory; returns the
/// outcomes by analyzer.
fn harness_equals_live(target: &support::Target) -> BTreeMap<&'static str, testing::Outcome> {
    let pid = target.pid();
    target.stop();
    for attempt in 1..=10 {
        let dir = tempfile::tempdir().expect("temp dir");
        let snap = dir.path().join("snap");
        let saved = support::vmpipe()
            .arg("snapshot")
            .arg("--pid")
            .arg(pid.to_string())
            .arg("--out")
            .arg(&snap)
            .output()
            .expect("run vmpipe snapshot");
        assert!(
            saved.status.success(),
            "vmpipe snapshot: {}",
            String::from_utf8_lossy(&saved.stderr)
        );
        let (out, _) = sweep(&[pid], &[]);
        let smaps = std::fs::read(snap.join(format!("proc/{pid}/smaps"))).expect("saved smaps");
        let regions = Table::read(&out.path().join("regions.csv"));
        if let Err(why) = same_input(&smaps, &regions, pid) {
            eprintln!("attempt {attempt}: the input moved between the two reads ({why}); again");
            continue;
        }
        let fixture = Fixture::from_snapshot(&snap, pid)
            .expect("the snapshot reads")
            .has_memory(true)
            .open_files(true);
        let fixture = memory_of(pid, fixture);
        let mut outcomes = BTreeMap::new();
        let ia = compare::<image_attribution::ImageAttribution>(&fixture, out.path(), pid);
        outcomes.insert("image-attribution", ia);
        let gd = compare::<guard_detection::GuardDetection>(&fixture, out.path(), pid);
        outcomes.insert("guard-detection", gd);
        let sm = compare::<share_modes::ShareModes>(&fixture, out.path(), pid);
        outcomes.insert("share-modes", sm);
        let mz = compare::<malloc_zones::MallocZones>(&fixture, out.path(), pid);
        outcomes.insert("malloc-zones", mz);
        return outcomes;
    }
    panic!("the stopped process's smaps moved between every snapshot and live run");
}

/// Held by each test of this file for its whole run: the others' processes (vmpipe, `cc`
/// building a target) map libc too, and a libc mapped by one more or one fewer process
/// between the snapshot and the live run moves the target's Pss. The retries in
/// [`harness_equals_live`] are for the rest of the machine.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn texts(rows: &[Vec<OwnedValue>], column: usize) -> Vec<String> {
    rows.iter()
        .filter_map(|r| r.get(column)?.as_text().map(str::to_string))
        .collect()
}

#[test]
fn the_harness_equals_a_live_run_over_a_stopped_glibc_process() {
    let _alone = alone();
    require_root("vmpipe reads /proc/PID/map_files and /proc/PID/mem of the target");
    // Its own copies of the loader and libc: the Pss of a libc every other process maps
    // moves whenever one of them starts or ends, and the comparison needs the same input twice.
    let target = support::start_private_glibc_target("malloctarget");
    let got = harness_equals_live(&target);
    // What was compared is not empty: glibc's arenas read out of memory, libc's ELF
    // headers read, thread guards found, share modes derived.
    let zones = got["malloc-zones"].rows("malloc_zones");
    let ok: Vec<String> = zones
        .iter()
        .filter(|r| r.get(13).and_then(OwnedValue::as_text) == Some("ok"))
        .filter_map(|r| r[0].as_text().map(str::to_string))
        .collect();
    assert!(
        ok.iter().any(|z| z == "main_arena") && ok.iter().any(|z| z.starts_with("arena_0x")),
        "{zones:#?}"
    );
    let images = got["image-attribution"].rows("images");
    assert!(
        images.iter().any(
            |r| r[0].as_bytes().is_some_and(|p| p.ends_with(b"libc.so.6"))
                && r[12].as_text() == Some("elf")
        ),
        "{images:#?}"
    );
    let guards = texts(got["guard-detection"].rows("guards"), 0);
    assert!(
        guards.iter().any(|k| k == "thread-stack-guard"),
        "{guards:?}"
    );
    assert!(!got["share-modes"].rows("share_modes").is_empty());
}

#[test]
fn the_harness_equals_a_live_run_over_a_stopped_static_process() {
    let _alone = alone();
    require_root("vmpipe reads /proc/PID/map_files and /proc/PID/mem of the target");
    let target = start_target("threadtarget", |_| vec!["noguard".into()], &[]);
    let got = harness_equals_live(&target);
    let guards = texts(got["guard-detection"].rows("guards"), 0);
    for kind in ["thread-stack-guard", "reservation", "guard-page"] {
        assert!(guards.iter().any(|k| k == kind), "{kind} in {guards:?}");
    }
    let stacks = got["guard-detection"].rows("thread_stacks");
    assert_eq!(stacks.len(), 1);
    assert_eq!(
        stacks[0][3],
        OwnedValue::I64(-1),
        "one thread without a guard: {stacks:?}"
    );
    assert!(!got["malloc-zones"].rows("malloc_zones").is_empty());
}
