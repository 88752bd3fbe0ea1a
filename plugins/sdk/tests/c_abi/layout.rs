//! The layout file `abi-v2.layout`: its format, its rules (see `LAYOUT_HEADER`), and the
//! measurement it is compared with (`offsetof`/`sizeof`/`_Alignof`, compiled with `cc`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use vmpipe_plugin::abi;

use super::REGENERATE;
use super::header::{generate_header, header_structs};

// ---------------------------------------------------------------------------------------
// Layouts

#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub offset: usize,
    pub size: usize,
    /// The minor that added the field.
    pub since: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Struct {
    pub name: String,
    pub size: usize,
    pub align: usize,
    /// The minor that added the struct, and its size then (`AbiStruct::MIN_SIZE`).
    pub since: u32,
    pub first_size: usize,
    pub fields: Vec<Field>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub major: u32,
    pub minor: u32,
    pub structs: Vec<Struct>,
}

const LAYOUT_HEADER: &str = "\
# The layout of vmpipe's plugin ABI v2 on LP64 targets (x86_64, aarch64), as the C compiler
# lays out the structs of plugins/sdk/src/abi.rs (through the generated header
# include/vmpipe_plugin.h). The test plugins/sdk/tests/c_abi/ compares this file with a
# fresh measurement (offsetof/sizeof/_Alignof compiled with cc), and the header's
# _Static_asserts are generated from it.
#
# Rules (ABI v2 stays compatible within its major):
# * A field of a released struct never moves, changes size or goes away, and no struct
#   goes away or changes alignment: the test fails (\"that breaks ABI v2\"), and regenerating
#   refuses. Such a change needs ABI v3 (a new entry symbol and a new abi-v3.layout).
# * A minor version may append fields at the end of a struct, or add structs. The test fails
#   until ABI_MINOR in src/abi.rs is bumped; then regenerate:
#       VMPIPE_BLESS=1 cargo test -p vmpipe-plugin --test c_abi
#   which records the new fields with `since` = the new minor and rewrites the header.
#   Regenerating refuses an append while ABI_MINOR still equals this file's minor.
# * first_size is a struct's size in the minor that added it: the smallest element size a
#   reader accepts (AbiStruct::MIN_SIZE, checked by the test). It never changes.
#
# Format: `abi MAJOR.MINOR`, then per struct
#   `struct NAME size=BYTES align=BYTES since=MINOR first_size=BYTES`
# followed by its fields in order, `  NAME offset=BYTES size=BYTES since=MINOR`.
";

impl Layout {
    pub fn find(&self, name: &str) -> Option<&Struct> {
        self.structs.iter().find(|s| s.name == name)
    }

    pub fn render(&self) -> String {
        let mut out = String::from(LAYOUT_HEADER);
        writeln!(out, "\nabi {}.{}", self.major, self.minor).unwrap();
        for s in &self.structs {
            writeln!(
                out,
                "\nstruct {} size={} align={} since={} first_size={}",
                s.name, s.size, s.align, s.since, s.first_size
            )
            .unwrap();
            for f in &s.fields {
                writeln!(
                    out,
                    "  {} offset={} size={} since={}",
                    f.name, f.offset, f.size, f.since
                )
                .unwrap();
            }
        }
        out
    }

    pub fn parse(text: &str) -> Result<Layout, String> {
        let mut layout = Layout {
            major: 0,
            minor: 0,
            structs: Vec::new(),
        };
        for (n, line) in text.lines().enumerate() {
            let at = |m: &str| format!("abi-v2.layout line {}: {m}: {line:?}", n + 1);
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let mut words = trimmed.split_whitespace();
            let first = words.next().unwrap_or_default();
            let mut kv = BTreeMap::new();
            let mut positional = None;
            for w in words {
                match w.split_once('=') {
                    Some((k, v)) => {
                        let v: usize = v.parse().map_err(|_| at("a number expected"))?;
                        kv.insert(k, v);
                    }
                    None => positional = Some(w),
                }
            }
            let get = |k: &str| kv.get(k).copied().ok_or_else(|| at(&format!("no {k}=")));
            match first {
                "abi" => {
                    let v = positional.ok_or_else(|| at("no version"))?;
                    let (a, b) = v.split_once('.').ok_or_else(|| at("MAJOR.MINOR"))?;
                    layout.major = a.parse().map_err(|_| at("major"))?;
                    layout.minor = b.parse().map_err(|_| at("minor"))?;
                }
                "struct" => layout.structs.push(Struct {
                    name: positional.ok_or_else(|| at("no name"))?.to_string(),
                    size: get("size")?,
                    align: get("align")?,
                    since: get("since")? as u32,
                    first_size: get("first_size")?,
                    fields: Vec::new(),
                }),
                name if line.starts_with("  ") => {
                    let f = Field {
                        name: name.to_string(),
                        offset: get("offset")?,
                        size: get("size")?,
                        since: get("since")? as u32,
                    };
                    layout
                        .structs
                        .last_mut()
                        .ok_or_else(|| at("a field before any struct"))?
                        .fields
                        .push(f);
                }
                _ => return Err(at("not a layout line")),
            }
        }
        Ok(layout)
    }
}

/// What the compiler lays out for the header's structs (`since` left 0: unknown).
pub fn measure() -> Layout {
    let header = generate_header("");
    let structs = header_structs(&header);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("vmpipe_plugin.h"), &header).expect("write header");
    let mut c = String::from(
        "#include <stdio.h>\n#include <stddef.h>\n#include \"vmpipe_plugin.h\"\nint main(void) {\n",
    );
    for (name, fields) in &structs {
        writeln!(
            c,
            "  printf(\"struct {name} %zu %zu\\n\", sizeof({name}), (size_t)_Alignof({name}));"
        )
        .unwrap();
        for f in fields {
            writeln!(
                c,
                "  printf(\"field {f} %zu %zu\\n\", offsetof({name}, {f}), sizeof((({name} *)0)->{f}));"
            )
            .unwrap();
        }
    }
    c.push_str("  return 0;\n}\n");
    let src = dir.path().join("measure.c");
    std::fs::write(&src, c).expect("write measure.c");
    let exe = dir.path().join("measure");
    compile(&["-std=c11", "-Wall", "-Werror"], &src, &exe);
    let out = Command::new(&exe).output().expect("run the measurement");
    assert!(out.status.success(), "measure failed: {out:?}");
    let mut layout = Layout {
        major: abi::ABI_MAJOR,
        minor: abi::ABI_MINOR,
        structs: Vec::new(),
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| w[i].parse::<usize>().expect("a number");
        match w[0] {
            "struct" => layout.structs.push(Struct {
                name: w[1].to_string(),
                size: num(2),
                align: num(3),
                since: 0,
                first_size: num(2),
                fields: Vec::new(),
            }),
            _ => layout
                .structs
                .last_mut()
                .expect("struct")
                .fields
                .push(Field {
                    name: w[1].to_string(),
                    offset: num(2),
                    size: num(3),
                    since: 0,
                }),
        }
    }
    layout
}

pub fn compile(flags: &[&str], src: &Path, out: &Path) -> std::process::Output {
    let output = Command::new("cc")
        .args(flags)
        .arg(src)
        .arg("-o")
        .arg(out)
        .output()
        .expect("run cc (Debian package gcc)");
    assert!(
        output.status.success(),
        "cc {flags:?} {} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Compares a measured layout with the recorded one by the rules of the file's header.
/// `Ok(None)`: equal. `Ok(Some(new))`: `new` is what the file must become (appends with a
/// bumped minor, or a bumped minor alone): allowed only when blessing. `Err`: refused.
pub fn compare(
    recorded: &Layout,
    measured: &Layout,
    bless: bool,
) -> Result<Option<Layout>, String> {
    if measured.major != recorded.major {
        return Err(format!(
            "abi-v2.layout is the layout of ABI v{}, abi.rs speaks v{}: a new major starts a \
             new layout file",
            recorded.major, measured.major
        ));
    }
    let mut breaks = Vec::new();
    let mut appends = Vec::new();
    let mut next = Layout {
        major: recorded.major,
        minor: measured.minor,
        structs: Vec::new(),
    };
    for old in &recorded.structs {
        let Some(new) = measured.find(&old.name) else {
            breaks.push(format!("struct {} was removed", old.name));
            continue;
        };
        if new.align != old.align {
            breaks.push(format!(
                "{} is aligned to {} instead of {}",
                old.name, new.align, old.align
            ));
        }
        for (i, f) in old.fields.iter().enumerate() {
            match new.fields.get(i) {
                Some(g) if g.name == f.name && g.offset == f.offset && g.size == f.size => {}
                Some(g) => breaks.push(format!(
                    "{}: field {} is {} at offset {} ({} bytes) where {} was at offset {} ({} bytes)",
                    old.name, i, g.name, g.offset, g.size, f.name, f.offset, f.size
                )),
                None => breaks.push(format!("{}.{} was removed", old.name, f.name)),
            }
        }
        let added = new.fields.get(old.fields.len()..).unwrap_or_default();
        if added.is_empty() && new.size != old.size {
            breaks.push(format!(
                "{} is {} bytes instead of {} with the same fields",
                old.name, new.size, old.size
            ));
        }
        if new.size < old.size {
            breaks.push(format!(
                "{} shrank from {} to {} bytes",
                old.name, old.size, new.size
            ));
        }
        let mut s = old.clone();
        s.size = new.size;
        for f in added {
            appends.push(format!("{}.{}", old.name, f.name));
            s.fields.push(Field {
                since: measured.minor,
                ..f.clone()
            });
        }
        next.structs.push(s);
    }
    for new in &measured.structs {
        if recorded.find(&new.name).is_none() {
            appends.push(format!("struct {}", new.name));
            let mut s = new.clone();
            s.since = measured.minor;
            s.first_size = new.size;
            for f in &mut s.fields {
                f.since = measured.minor;
            }
            next.structs.push(s);
        }
    }
    if !breaks.is_empty() {
        return Err(format!(
            "that breaks ABI v2 (a released field moved, changed size or went away; only a new \
             major may do that, and regenerating refuses it):\n  {}",
            breaks.join("\n  ")
        ));
    }
    if measured.minor < recorded.minor {
        return Err(format!(
            "abi.rs says ABI_MINOR = {} but abi-v2.layout records 2.{}: minors never go back",
            measured.minor, recorded.minor
        ));
    }
    if !appends.is_empty() && measured.minor == recorded.minor {
        return Err(format!(
            "appended to the ABI without a new minor: {}.\nAppending is a minor change: bump \
             ABI_MINOR in plugins/sdk/src/abi.rs (now {}) and the SDK's version, then run\n  {REGENERATE}",
            appends.join(", "),
            recorded.minor
        ));
    }
    if appends.is_empty() && measured.minor == recorded.minor {
        return Ok(None);
    }
    if !bless {
        return Err(format!(
            "abi-v2.layout (ABI 2.{}) is out of date for ABI_MINOR = {} (appended: {}); run\n  {REGENERATE}",
            recorded.minor,
            measured.minor,
            if appends.is_empty() {
                "nothing".to_string()
            } else {
                appends.join(", ")
            }
        ));
    }
    Ok(Some(next))
}

// The rules of the layout file, on small layouts.

fn sample(minor: u32, fields: &[(&str, usize, usize)], size: usize) -> Layout {
    Layout {
        major: 2,
        minor,
        structs: vec![Struct {
            name: "vmpipe_x".into(),
            size,
            align: 8,
            since: 0,
            first_size: 16,
            fields: fields
                .iter()
                .map(|&(name, offset, size)| Field {
                    name: name.into(),
                    offset,
                    size,
                    since: 0,
                })
                .collect(),
        }],
    }
}

#[test]
fn layout_rules_refuse_breaking_changes_even_when_blessing() {
    let recorded = sample(0, &[("a", 0, 8), ("b", 8, 8)], 16);
    for (what, measured) in [
        ("reordered", sample(0, &[("b", 0, 8), ("a", 8, 8)], 16)),
        ("removed", sample(0, &[("a", 0, 8)], 8)),
        ("resized", sample(0, &[("a", 0, 8), ("b", 8, 4)], 16)),
        ("renamed", sample(0, &[("a", 0, 8), ("c", 8, 8)], 16)),
        ("padded", sample(0, &[("a", 0, 8), ("b", 8, 8)], 24)),
        (
            "struct removed",
            Layout {
                structs: vec![],
                ..sample(0, &[], 0)
            },
        ),
        (
            "moved, new minor",
            sample(1, &[("a", 0, 8), ("x", 8, 8), ("b", 16, 8)], 24),
        ),
    ] {
        for bless in [false, true] {
            let e = compare(&recorded, &measured, bless).expect_err(what);
            assert!(e.contains("that breaks ABI v2"), "{what}: {e}");
        }
    }
}

#[test]
fn layout_rules_want_a_minor_bump_for_an_append() {
    let recorded = sample(0, &[("a", 0, 8), ("b", 8, 8)], 16);
    let appended = sample(0, &[("a", 0, 8), ("b", 8, 8), ("c", 16, 8)], 24);
    for bless in [false, true] {
        let e = compare(&recorded, &appended, bless).expect_err("append without a bump");
        assert!(e.contains("bump ABI_MINOR"), "{e}");
    }
    let bumped = Layout {
        minor: 1,
        ..appended
    };
    let e = compare(&recorded, &bumped, false).expect_err("not blessed");
    assert!(e.contains("VMPIPE_BLESS=1"), "{e}");
    let next = compare(&recorded, &bumped, true)
        .expect("a bumped append is blessed")
        .expect("a new layout");
    let s = &next.structs[0];
    assert_eq!((next.minor, s.size, s.first_size), (1, 24, 16));
    assert_eq!(
        s.fields
            .iter()
            .map(|f| (f.name.as_str(), f.since))
            .collect::<Vec<_>>(),
        [("a", 0), ("b", 0), ("c", 1)]
    );
    assert_eq!(compare(&recorded, &recorded, false), Ok(None));
    assert_eq!(Layout::parse(&next.render()), Ok(next));
}
