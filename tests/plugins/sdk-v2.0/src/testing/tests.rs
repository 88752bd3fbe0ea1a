//! The harness held to vmpipe's host rules: an analyzer that misbehaves on demand (its
//! `mode` option) and one that reports what it was given.

use super::*;
use crate::abi::{open_what, status};
use crate::{Analyzer, Host, OptionValue, Process, Regions, Schema, Value};

crate::region_columns! {
    COLUMNS = [
        SEEN: U64 = ("seen", "the region's start"),
        NOTE: Text = ("note", "what the analyzer read"),
    ];
}

crate::tables! {
    TABLES = [
        PER: Process ("per", "per-process rows") {
            "what": Bytes = "the process name",
            "n": U64 = "a number",
        },
        ALL: Run ("all", "run-wide rows") {
            "processes": U64 = "processes analyzed",
        },
    ];
}

struct Probe {
    mode: String,
    seen: std::sync::atomic::AtomicU64,
}

impl Analyzer for Probe {
    const SCHEMA: Schema = Schema::new("probe", "1.0.0", "misbehaves on demand")
        .region_columns(COLUMNS)
        .tables(TABLES);

    fn create(options: &Options) -> crate::Result<Self> {
        options.only(&["mode"])?;
        let mode = options.string("mode")?.unwrap_or("").to_string();
        if mode == "panic-create" {
            panic!("no state today");
        }
        Ok(Probe {
            mode,
            seen: Default::default(),
        })
    }

    fn analyze(&self, p: &Process, regions: &Regions, host: &mut Host) -> crate::Result {
        self.seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.mode.as_str() {
            "refusals" => {
                // Each is refused once; the analyzer goes on after each.
                let _ = host.set_value(0, 0, Value::Text("not a number"));
                let _ = host.set_value(regions.len(), 0, Value::U64(1));
                let _ = host.set_value(0, 9, Value::U64(1));
                let _ = host.row_values(0, &[Value::Text("one cell")]);
                let _ = host.row(ALL, [Value::U64(1)]);
                // Then one refusal stops the call: no error besides it.
                host.set_value(0, 1, Value::Bytes(b"\xff"))?;
                Ok(())
            }
            "panic" => panic!("bad region {}", regions.len()),
            "fail" => Err("cannot".into()),
            "memory" => {
                let mut notes = Vec::new();
                for (addr, len) in [(0x1000u64, 8usize), (0x1ffc, 8), (0x2ffc, 8), (0x9000, 4)] {
                    let mut buf = vec![0u8; len];
                    notes.push(match host.read_memory(addr, &mut buf) {
                        Ok(n) => format!("{n}:{:?}", &buf[..n]),
                        Err(e) => format!("{e:?}"),
                    });
                }
                let mut big = vec![0u8; crate::abi::MAX_READ + 1];
                notes.push(format!("{:?}", host.read_memory(0x1000, &mut big)));
                host.set(0, NOTE, notes.join(" ").as_str())?;
                Ok(())
            }
            "open" => {
                use std::io::Read;
                let r = regions.get(0).ok_or("no region")?;
                let mut magic = [0u8; 4];
                let note = match host.open(open_what::MAPPED, r.start(), r.end(), b"") {
                    Ok(mut f) => f.read_exact(&mut magic).map(|_| format!("{magic:?}"))?,
                    Err(e) => format!("{e:?}"),
                };
                let other = host.open(open_what::MAPPED, r.start(), r.end() + 1, b"");
                host.set(0, NOTE, format!("{note} {:?}", other.err()).as_str())?;
                Ok(())
            }
            _ => {
                for r in regions {
                    host.set(r.index(), SEEN, r.start())?;
                }
                host.row(
                    PER,
                    [
                        Value::Bytes(p.name()),
                        Value::from(p.threads().map(u64::from)),
                    ],
                )?;
                host.warn("looked");
                Ok(())
            }
        }
    }

    fn finish(&self, host: &mut Host) -> crate::Result {
        if self.mode == "finish-region" {
            let _ = host.set_value(0, 0, Value::U64(1));
        }
        host.row(
            ALL,
            [Value::U64(
                self.seen.load(std::sync::atomic::Ordering::Relaxed),
            )],
        )?;
        Ok(())
    }
}

fn mode(m: &str) -> Options {
    Options::from_entries(vec![("mode".into(), OptionValue::String(m.into()))])
}

fn two_regions() -> Fixture {
    Fixture::new(7)
        .name("probe")
        .threads(3)
        .region(Region::new(0x1000, 0x2000).perms("rw-p"))
        .region(Region::new(0x2000, 0x3000).perms("r--p"))
}

#[test]
fn values_rows_and_warnings_come_back_by_name() {
    let out = run::<Probe>(&two_regions());
    assert!(out.is_clean(), "{out:#?}");
    assert_eq!(
        out.column("seen"),
        [OwnedValue::U64(0x1000), OwnedValue::U64(0x2000)]
    );
    assert_eq!(out.column("note"), [OwnedValue::Absent, OwnedValue::Absent]);
    assert_eq!(
        out.rows("per"),
        [vec![
            OwnedValue::Bytes(b"probe".to_vec()),
            OwnedValue::U64(3)
        ]]
    );
    assert_eq!(out.rows("all"), [vec![OwnedValue::U64(1)]]);
    assert_eq!(out.warnings, ["looked"]);
}

#[test]
fn every_refused_value_is_one_refusal_and_nothing_more() {
    let out = run_with::<Probe>(&mode("refusals"), &two_regions());
    let codes: Vec<u32> = out.refusals.iter().map(|p| p.status).collect();
    assert_eq!(
        codes,
        [
            status::BAD_TYPE,
            status::BAD_REGION,
            status::BAD_COLUMN,
            status::BAD_ARITY,
            status::BAD_TABLE,
            status::BAD_TYPE
        ],
        "{out:#?}"
    );
    assert!(out.refusals.iter().all(|p| p.stage == Stage::Analyze));
    assert!(
        out.refusals[5]
            .message
            .contains("a bytes value for a text column"),
        "{out:#?}"
    );
    assert!(
        out.errors.is_empty(),
        "a refusal that stops the call adds no error: {out:#?}"
    );
    let out = run_with::<Probe>(&mode("finish-region"), &two_regions());
    assert_eq!(out.refusals.len(), 1, "{out:#?}");
    assert_eq!(
        (out.refusals[0].stage, out.refusals[0].status),
        (Stage::Finish, status::NOT_NOW)
    );
}

#[test]
fn errors_and_panics_say_where() {
    let out = run_with::<Probe>(&mode("panic"), &two_regions());
    assert_eq!(out.errors.len(), 1, "{out:#?}");
    let e = &out.errors[0];
    assert!(e.panicked && e.stage == Stage::Analyze, "{e:?}");
    assert!(
        e.message.contains("testing/tests.rs:") && e.message.contains("bad region 2"),
        "{e:?}"
    );
    let out = run_with::<Probe>(&mode("panic-create"), &two_regions());
    let e = &out.errors[0];
    assert!(e.panicked && e.stage == Stage::Create, "{e:?}");
    assert!(
        out.rows("all").is_empty(),
        "nothing runs after a failed create"
    );
    let out = run_with::<Probe>(&mode("fail"), &two_regions());
    assert_eq!(out.errors[0].message, "cannot");
    assert!(!out.errors[0].panicked);
    let bad = Options::from_entries(vec![("mode".into(), OptionValue::Integer(1))]);
    let out = run_with::<Probe>(&bad, &two_regions());
    assert_eq!(out.errors[0].option.as_deref(), Some("mode"), "{out:#?}");
}

#[test]
fn memory_faults_reads_short_and_follows_adjacent_segments() {
    let f = two_regions()
        .memory(0x1000, vec![1u8; 0x1000])
        .memory(0x2000, vec![2u8; 0x1000]);
    let out = run_with::<Probe>(&mode("memory"), &f);
    let note = out.column("note")[0]
        .as_text()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        note,
        "8:[1, 1, 1, 1, 1, 1, 1, 1] 8:[1, 1, 1, 1, 2, 2, 2, 2] 4:[2, 2, 2, 2] Fault Err(TooLarge)",
        "{out:#?}"
    );
    let out = run_with::<Probe>(&mode("memory"), &two_regions());
    let note = out.column("note")[0]
        .as_text()
        .unwrap_or_default()
        .to_string();
    assert!(note.starts_with("Unavailable Unavailable"), "{note}");
}

#[test]
fn open_serves_the_mapped_file_of_exactly_that_range() {
    let exe = std::env::current_exe().expect("the test's own path");
    let f = Fixture::new(1)
        .region(
            Region::new(0x1000, 0x2000)
                .perms("r--p")
                .path(exe.as_os_str().as_encoded_bytes()),
        )
        .open_files(true);
    let out = run_with::<Probe>(&mode("open"), &f);
    assert_eq!(
        out.column("note")[0].as_text(),
        Some("[127, 69, 76, 70] Some(Fault)"),
        "{out:#?}"
    );
    let out = run_with::<Probe>(&mode("open"), &f.clone().open_files(false));
    assert_eq!(
        out.column("note")[0].as_text(),
        Some("Unavailable Some(Unavailable)")
    );
}

mod reader {
    use super::*;

    crate::inputs! {
        READS = [
            IMAGE: Bytes = ("image-attribution", "image"),
        ];
    }

    pub struct Reader;

    crate::region_columns! {
        READER_COLUMNS = [
            NEXT_TO: Bytes = ("next_to", "the image, read from image-attribution"),
        ];
    }

    impl Analyzer for Reader {
        const SCHEMA: Schema = Schema::new("reader", "1.0.0", "reads another analyzer's column")
            .region_columns(READER_COLUMNS)
            .reads(READS);
        fn create(_: &Options) -> crate::Result<Self> {
            Ok(Reader)
        }
        fn analyze(&self, _: &Process, regions: &Regions, host: &mut Host) -> crate::Result {
            for r in regions {
                host.set(r.index(), NEXT_TO, r.input(IMAGE))?;
            }
            Ok(())
        }
    }
}

use reader::Reader;

#[test]
fn inputs_reach_the_reader_and_a_missing_one_is_an_error() {
    let f = two_regions();
    let out = run::<Reader>(&f);
    assert_eq!(out.errors.len(), 1);
    assert!(out.errors[0].message.contains("image-attribution.image"));
    let image = vec![OwnedValue::Bytes(b"/bin/x".to_vec())];
    let out = run::<Reader>(&f.clone().input("image-attribution", "image", image));
    assert!(out.is_clean(), "{out:#?}");
    assert_eq!(
        out.column("next_to"),
        [OwnedValue::Bytes(b"/bin/x".to_vec()), OwnedValue::Absent]
    );
    let wrong = vec![OwnedValue::Text("/bin/x".into())];
    let out = run::<Reader>(&f.input("image-attribution", "image", wrong));
    assert!(out.errors[0].message.contains("read as bytes"), "{out:#?}");
}
