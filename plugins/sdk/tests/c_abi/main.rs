//! The C side of ABI v2, checked against the C compiler.
//!
//! * `abi-v2.layout` (the committed record of every struct's size and alignment and every
//!   field's offset and size) equals what `cc` lays out for the structs of `src/abi.rs`, by
//!   `offsetof`/`sizeof` on the header cbindgen generates from it. The rules of the file's
//!   header hold: a moved, resized or removed field fails ("breaks ABI v2"); an appended
//!   field fails until `ABI_MINOR` is bumped and the file regenerated.
//! * Rust's `size_of`/`align_of` of every struct equal C's, and `AbiStruct::MIN_SIZE` equals
//!   the size the file recorded when the struct appeared.
//! * `include/vmpipe_plugin.h` equals a fresh generation, and compiles with
//!   `cc -std=c11 -Wall -Wextra -Werror -pedantic`, so its `_Static_assert`s hold.
//!
//! `VMPIPE_BLESS=1 cargo test -p vmpipe-plugin --test c_abi` rewrites the layout file (when
//! the rules allow it) and the header.

mod header;
mod layout;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use vmpipe_plugin::abi::{self, AbiStruct};

use header::{
    abi_file, c_const, c_name, generate_header, header_structs, rust_struct_names, trailer,
};
use layout::{Layout, compare, compile, measure};

fn sdk() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn layout_path() -> PathBuf {
    sdk().join("abi-v2.layout")
}

fn header_path() -> PathBuf {
    sdk().join("include/vmpipe_plugin.h")
}

fn blessing() -> bool {
    std::env::var_os("VMPIPE_BLESS").is_some_and(|v| v == "1")
}

const REGENERATE: &str = "VMPIPE_BLESS=1 cargo test -p vmpipe-plugin --test c_abi";

/// The recorded layout, checked against the compiler once per test run (and rewritten when
/// blessing and the rules allow).
fn checked_layout() -> &'static Result<Layout, String> {
    static LAYOUT: OnceLock<Result<Layout, String>> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        let measured = measure();
        let path = layout_path();
        let (text, recorded) = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let layout = Layout::parse(&text)?;
                (text, layout)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && blessing() => {
                // The first recording: everything is 2.0 (or whatever minor abi.rs says).
                let mut first = measured.clone();
                for s in &mut first.structs {
                    s.since = first.minor;
                    for f in &mut s.fields {
                        f.since = first.minor;
                    }
                }
                std::fs::write(&path, first.render()).map_err(|e| e.to_string())?;
                return Ok(first);
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        match compare(&recorded, &measured, blessing())? {
            // Same layout; the file's text (its header of rules) as this test writes it.
            None if text == recorded.render() => Ok(recorded),
            None if blessing() => {
                std::fs::write(&path, recorded.render()).map_err(|e| e.to_string())?;
                Ok(recorded)
            }
            None => Err(format!(
                "{} holds the right layout but not in the form this test writes it (its \
                 header, spacing); regenerate it with\n  {REGENERATE}",
                path.display()
            )),
            Some(next) => {
                std::fs::write(&path, next.render()).map_err(|e| e.to_string())?;
                Ok(next)
            }
        }
    })
}

// ---------------------------------------------------------------------------------------
// The tests

#[test]
fn layout_file_matches_the_compiler() {
    if let Err(e) = checked_layout() {
        panic!("{e}");
    }
}

#[test]
fn layout_file_records_abi_version() {
    let layout = checked_layout().as_ref().expect("layout");
    assert_eq!(
        (layout.major, layout.minor),
        (abi::ABI_MAJOR, abi::ABI_MINOR),
        "abi-v2.layout's `abi` line"
    );
}

macro_rules! rust_layouts {
    ($($t:ident),* $(,)?) => {
        vec![$((
            stringify!($t),
            std::mem::size_of::<abi::$t>(),
            std::mem::align_of::<abi::$t>(),
            <abi::$t as AbiStruct>::MIN_SIZE,
        )),*]
    };
}

/// Rust lays out every struct as C does, and `MIN_SIZE` is the size the layout file recorded
/// when the struct appeared.
#[test]
fn rust_layout_and_min_sizes_match_the_layout_file() {
    let layout = checked_layout().as_ref().expect("layout");
    let rust = rust_layouts![
        StrV2, ColumnV2, TableV2, ReadV2, CellV2, InputV2, ProcessV2, ZoneV2, RegionV2, ValueV2,
        EntryV2, CreateV2, AnalyzeV2, HostV2, PluginV2,
    ];
    let mut listed: Vec<String> = rust.iter().map(|r| c_name(r.0)).collect();
    let mut in_header: Vec<String> = header_structs(&generate_header(""))
        .into_iter()
        .map(|s| s.0)
        .collect();
    let mut in_abi: Vec<String> = rust_struct_names(&abi_file())
        .iter()
        .map(|s| c_name(s))
        .collect();
    listed.sort();
    in_header.sort();
    in_abi.sort();
    assert_eq!(
        in_abi, in_header,
        "the header must have every #[repr(C)] struct of abi.rs"
    );
    assert_eq!(
        listed, in_header,
        "this test's list must name every struct of the header"
    );
    for (name, size, align, min) in rust {
        let c = layout
            .find(&c_name(name))
            .unwrap_or_else(|| panic!("{name} not in abi-v2.layout"));
        assert_eq!(
            (size, align),
            (c.size, c.align),
            "{name}: Rust (size, align) vs C"
        );
        assert_eq!(
            min, c.first_size,
            "{name}: AbiStruct::MIN_SIZE vs first_size"
        );
    }
}

/// The committed header (when blessing, rewritten first, once per test run).
fn committed_header() -> String {
    static BLESSED: OnceLock<()> = OnceLock::new();
    let path = header_path();
    if blessing() {
        BLESSED.get_or_init(|| {
            let layout = checked_layout().as_ref().expect("layout");
            std::fs::create_dir_all(path.parent().expect("include/")).expect("mkdir include");
            std::fs::write(&path, generate_header(&trailer(layout))).expect("write the header");
        });
    }
    std::fs::read_to_string(&path).unwrap_or_default()
}

#[test]
fn header_is_up_to_date() {
    let layout = checked_layout().as_ref().expect("layout");
    let fresh = generate_header(&trailer(layout));
    let path = header_path();
    let committed = committed_header();
    assert!(
        committed == fresh,
        "{} is not what src/abi.rs and abi-v2.layout generate; regenerate it with\n  {REGENERATE}",
        path.display()
    );
}

/// The committed header compiles as strict C11 and its static asserts hold; with one recorded
/// number changed, it does not (the asserts are live).
#[test]
fn header_compiles_and_its_asserts_hold() {
    let dir = tempfile::tempdir().expect("temp dir");
    let header = committed_header();
    let src = dir.path().join("use.c");
    std::fs::write(
        &src,
        "#include \"vmpipe_plugin.h\"\n#include \"vmpipe_plugin.h\"\n\
         int vmpipe_header_used(void) { return VMPIPE_ABI_MAJOR; }\n",
    )
    .expect("write use.c");
    std::fs::write(dir.path().join("vmpipe_plugin.h"), &header).expect("copy header");
    let flags = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c"];
    compile(&flags, &src, &dir.path().join("use.o"));

    let tampered = header.replacen(
        "sizeof(vmpipe_region) == 400",
        "sizeof(vmpipe_region) == 401",
        1,
    );
    assert_ne!(tampered, header, "the header asserts vmpipe_region's size");
    std::fs::write(dir.path().join("vmpipe_plugin.h"), tampered).expect("tamper");
    let out = Command::new("cc")
        .args(flags)
        .arg(&src)
        .arg("-o")
        .arg(dir.path().join("bad.o"))
        .output()
        .expect("run cc");
    assert!(
        !out.status.success(),
        "a wrong size must fail the static assert"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("vmpipe_region: 400 bytes"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every public constant of abi.rs has its `#define` in the header (`status::OK` →
/// `VMPIPE_STATUS_OK`), and the values the C compiler sees equal Rust's.
#[test]
fn header_defines_every_constant() {
    let header = committed_header();
    let file = abi_file();
    let mut names = Vec::new();
    for item in &file.items {
        match item {
            syn::Item::Const(c) => names.push(c_const(&[&c.ident.to_string()])),
            syn::Item::Mod(m) => {
                for i in m.content.iter().flat_map(|(_, items)| items) {
                    if let syn::Item::Const(c) = i {
                        names.push(c_const(&[&m.ident.to_string(), &c.ident.to_string()]));
                    }
                }
            }
            _ => {}
        }
    }
    assert!(names.len() > 80, "abi.rs has {} constants?", names.len());
    for name in &names {
        assert!(
            header.contains(&format!("#define {name} ")),
            "{name} missing from the header"
        );
    }
    // Values as cc evaluates them, including the expressions (64 << 20).
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("vmpipe_plugin.h"), &header).expect("copy header");
    let src = dir.path().join("values.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include \"vmpipe_plugin.h\"\nint main(void) {\n\
         printf(\"%llu %llu %llu %llu\\n\", (unsigned long long)VMPIPE_MAX_READ,\n\
         (unsigned long long)VMPIPE_USAGE_SLOTS, (unsigned long long)VMPIPE_PERMS_KNOWN,\n\
         (unsigned long long)VMPIPE_STATUS_BAD_SIZE);\nreturn 0;\n}\n",
    )
    .expect("write values.c");
    let exe = dir.path().join("values");
    compile(&["-std=c11", "-Wall", "-Werror"], &src, &exe);
    let out = Command::new(&exe).output().expect("run values");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "{} {} {} {}",
            abi::MAX_READ,
            abi::usage::SLOTS,
            abi::perms::KNOWN,
            abi::status::BAD_SIZE
        ),
        "MAX_READ, usage::SLOTS, perms::KNOWN, status::BAD_SIZE as C sees them"
    );
    for (name, value) in [
        ("VMPIPE_ABI_MAJOR", abi::ABI_MAJOR.to_string()),
        ("VMPIPE_ABI_MINOR", abi::ABI_MINOR.to_string()),
        ("VMPIPE_STATUS_BAD_READ", abi::status::BAD_READ.to_string()),
        ("VMPIPE_STATUS_REFUSED", abi::status::REFUSED.to_string()),
        (
            "VMPIPE_PROCESS_STATUS_DENIED",
            abi::process_status::DENIED.to_string(),
        ),
        (
            "VMPIPE_REGION_KIND_MEMFD",
            abi::region_kind::MEMFD.to_string(),
        ),
        ("VMPIPE_ENTRY_SYMBOL", format!("\"{}\"", abi::ENTRY_SYMBOL)),
    ] {
        assert!(
            header.contains(&format!("#define {name} {value}\n")),
            "{name} {value} missing from the header"
        );
    }
}
