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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use quote::ToTokens;
use vmpipe_plugin::abi::{self, AbiStruct};

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

// ---------------------------------------------------------------------------------------
// Reading abi.rs

fn abi_file() -> syn::File {
    let text = std::fs::read_to_string(sdk().join("src/abi.rs")).expect("read src/abi.rs");
    syn::parse_file(&text).expect("parse src/abi.rs")
}

fn doc_of(attrs: &[syn::Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|l| l.strip_prefix(' ').unwrap_or(&l).to_string())
        .collect()
}

fn is_repr_c(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|a| a.path().is_ident("repr") && a.meta.to_token_stream().to_string().contains("C"))
}

/// The `#[repr(C)]` structs of abi.rs, in source order.
fn rust_struct_names(file: &syn::File) -> Vec<String> {
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Struct(s) if is_repr_c(&s.attrs) => Some(s.ident.to_string()),
            _ => None,
        })
        .collect()
}

/// `RegionV2` → `vmpipe_region`: the one naming rule from Rust to C.
fn c_name(rust: &str) -> String {
    let base = rust.strip_suffix("V2").unwrap_or(rust);
    let mut out = String::from("vmpipe");
    for c in base.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// `status::BAD_READ` → `VMPIPE_STATUS_BAD_READ`; `MAX_READ` → `VMPIPE_MAX_READ`.
fn c_const(path: &[&str]) -> String {
    let mut out = String::from("VMPIPE");
    for p in path {
        out.push('_');
        out.push_str(&p.to_ascii_uppercase());
    }
    out
}

/// Rewrites rustdoc references for C readers: [`RegionV2`] → `vmpipe_region`,
/// [`status::OK`] → `VMPIPE_STATUS_OK`, [`kind`] → `VMPIPE_KIND_*`,
/// [`PluginV2::reads`] → `vmpipe_plugin.reads`, `size_of::<HostV2>()` → `sizeof(vmpipe_host)`.
fn c_doc(line: &str, structs: &[String], modules: &[String]) -> String {
    let translate = |path: &str| -> Option<String> {
        let parts: Vec<&str> = path
            .split("::")
            .filter(|p| *p != "super" && *p != "crate")
            .collect();
        match parts.as_slice() {
            [s] if structs.iter().any(|x| x == s) => Some(c_name(s)),
            [s, f] if structs.iter().any(|x| x == s) => Some(format!("{}.{f}", c_name(s))),
            [m] if modules.iter().any(|x| x == m) => Some(format!("{}_*", c_const(&[m]))),
            [m, c] if modules.iter().any(|x| x == m) => Some(c_const(&[m, c])),
            [c] if c.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_') => Some(c_const(&[c])),
            _ => None,
        }
    };
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("[`") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find("`]") {
            Some(j) => {
                let path = &after[..j];
                match translate(path) {
                    Some(c) => write!(out, "`{c}`").unwrap(),
                    None => write!(out, "`{path}`").unwrap(),
                }
                rest = &after[j + 2..];
            }
            None => {
                out.push_str("[`");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    for s in structs {
        out = out.replace(
            &format!("size_of::<{s}>()"),
            &format!("sizeof({})", c_name(s)),
        );
    }
    out
}

fn modules(file: &syn::File) -> Vec<String> {
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(m) if m.content.is_some() => Some(m.ident.to_string()),
            _ => None,
        })
        .collect()
}

fn comment_block(out: &mut String, lines: &[String], indent: &str) {
    out.push_str(indent);
    out.push_str("/**\n");
    for l in lines {
        if l.is_empty() {
            writeln!(out, "{indent} *").unwrap();
        } else {
            writeln!(out, "{indent} * {l}").unwrap();
        }
    }
    out.push_str(indent);
    out.push_str(" */\n");
}

fn define(out: &mut String, name: &str, c: &syn::ItemConst, structs: &[String], mods: &[String]) {
    let doc: Vec<String> = doc_of(&c.attrs)
        .iter()
        .map(|l| c_doc(l, structs, mods))
        .collect();
    comment_block(out, &doc, "");
    let value = match &*c.expr {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => format!("\"{}\"", s.value()),
        syn::Expr::Lit(lit) => lit.to_token_stream().to_string(),
        other => format!("({})", other.to_token_stream()),
    };
    writeln!(out, "#define {name} {value}\n").unwrap();
}

/// The constants of abi.rs as `#define`s, each module's constants prefixed with its name.
fn constants(file: &syn::File, structs: &[String]) -> String {
    let mods = modules(file);
    let mut out = String::new();
    for item in &file.items {
        match item {
            syn::Item::Const(c) if matches!(c.vis, syn::Visibility::Public(_)) => {
                define(
                    &mut out,
                    &c_const(&[&c.ident.to_string()]),
                    c,
                    structs,
                    &mods,
                );
            }
            syn::Item::Mod(m) => {
                let Some((_, items)) = &m.content else {
                    continue;
                };
                let name = m.ident.to_string();
                let doc: Vec<String> = doc_of(&m.attrs)
                    .iter()
                    .map(|l| c_doc(l, structs, &mods))
                    .collect();
                writeln!(out, "/* {} */\n", c_const(&[&name, "*"])).unwrap();
                if !doc.is_empty() {
                    comment_block(&mut out, &doc, "");
                    out.push('\n');
                }
                for i in items {
                    if let syn::Item::Const(c) = i {
                        define(
                            &mut out,
                            &c_const(&[&name, &c.ident.to_string()]),
                            c,
                            structs,
                            &mods,
                        );
                    }
                }
            }
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The header

/// The header: cbindgen's structs and our constants, with `trailer` after the structs.
fn generate_header(trailer: &str) -> String {
    let file = abi_file();
    let structs = rust_struct_names(&file);
    let mods = modules(&file);
    let mut config = cbindgen::Config {
        language: cbindgen::Language::C,
        style: cbindgen::Style::Both,
        documentation: true,
        sys_includes: vec!["stddef.h".into(), "stdint.h".into()],
        no_includes: true,
        ..Default::default()
    };
    // The roots: cbindgen writes what they reach, each struct after those it contains (every
    // struct is reached; a test checks the header has them all).
    config.export.include = vec!["PluginV2".into()];
    config.export.item_types = vec![cbindgen::ItemType::Structs];
    for s in &structs {
        config.export.rename.insert(s.clone(), c_name(s));
    }
    config
        .export
        .rename
        .insert("SLOTS".into(), c_const(&["usage", "SLOTS"]));

    let module_doc: Vec<String> = doc_of(&file.attrs)
        .iter()
        .map(|l| c_doc(l, &structs, &mods))
        .collect();
    let mut header = String::new();
    writeln!(
        header,
        "/* vmpipe_plugin.h: the vmpipe analyzer plugin ABI, version {}.{}, for C.\n *\n * \
         Generated from plugins/sdk/src/abi.rs; do not edit. Regenerate with\n *   {REGENERATE}\n \
         * The _Static_asserts at the end hold the layout recorded in plugins/sdk/abi-v2.layout\n \
         * (LP64: x86_64, aarch64). */",
        abi::ABI_MAJOR,
        abi::ABI_MINOR
    )
    .unwrap();
    header.push_str("\n#ifndef VMPIPE_PLUGIN_H\n#define VMPIPE_PLUGIN_H");
    config.header = Some(header);
    let mut after = String::from("\n");
    comment_block(&mut after, &module_doc, "");
    after.push('\n');
    after.push_str(&constants(&file, &structs));
    config.after_includes = Some(after);
    // Our own include guard, so that the trailer (the asserts) is inside it too.
    config.trailer = Some(format!("{trailer}\n#endif /* VMPIPE_PLUGIN_H */"));

    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(sdk().join("src/abi.rs"))
        .generate()
        .expect("cbindgen: generate the header from src/abi.rs");
    let mut out = Vec::new();
    bindings.write(&mut out);
    let text = String::from_utf8(out).expect("cbindgen wrote UTF-8");
    // cbindgen copies doc comments as written: translate the Rust references in them.
    text.lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("* ") || t.starts_with("/**") {
                c_doc(l, &structs, &mods)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// What follows the structs in the committed header: the entry point and the asserts.
fn trailer(layout: &Layout) -> String {
    let mut t = String::new();
    writeln!(
        t,
        "/**\n * The entry point a plugin exports (`{}`, or `{}_NAME`): returns a pointer to a\n \
         * static vmpipe_plugin.\n */\nconst vmpipe_plugin *vmpipe_plugin_v{}(void);\n",
        abi::ENTRY_SYMBOL,
        abi::ENTRY_SYMBOL,
        abi::ABI_MAJOR
    )
    .unwrap();
    t.push_str(
        "/* The layout of ABI v2 (plugins/sdk/abi-v2.layout): a compiler that lays the structs\n \
         * out otherwise (not LP64, other packing) fails here instead of crashing at run time. */\n",
    );
    for s in &layout.structs {
        writeln!(
            t,
            "_Static_assert(sizeof({0}) == {1}, \"{0}: {1} bytes in ABI v2.{2}\");",
            s.name, s.size, layout.minor
        )
        .unwrap();
        writeln!(
            t,
            "_Static_assert(_Alignof({0}) == {1}, \"{0}: aligned to {1}\");",
            s.name, s.align
        )
        .unwrap();
        for f in &s.fields {
            writeln!(
                t,
                "_Static_assert(offsetof({0}, {1}) == {2} && sizeof((({0} *)0)->{1}) == {3}, \
                 \"{0}.{1}: offset {2}, {3} bytes\");",
                s.name, f.name, f.offset, f.size
            )
            .unwrap();
        }
    }
    t
}

/// The structs of a generated header and their fields, in order, from its text.
fn header_structs(header: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut rest = header;
    while let Some(i) = rest.find("typedef struct ") {
        let after = &rest[i + "typedef struct ".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let open = after.find('{').expect("struct body");
        let close = after.find("\n}").expect("struct end");
        let body = strip_comments(&after[open + 1..close]);
        let fields = body
            .split(';')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(field_name)
            .collect();
        out.push((name, fields));
        rest = &after[close..];
    }
    out
}

fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        rest = rest[i..].split_once("*/").map_or("", |(_, r)| r);
    }
    out.push_str(rest);
    out
}

/// The declared name in one C member declaration: `uint32_t (*log)(…)` → `log`,
/// `uint64_t usage[N]` → `usage`, `struct vmpipe_str name` → `name`.
fn field_name(decl: &str) -> String {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    if let Some(i) = decl.find("(*") {
        return ident(decl[i + 2..].trim_start());
    }
    let decl = decl.split('[').next().unwrap_or(decl).trim_end();
    let start = decl
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    decl[start..].to_string()
}

// ---------------------------------------------------------------------------------------
// Layouts

#[derive(Clone, Debug, PartialEq)]
struct Field {
    name: String,
    offset: usize,
    size: usize,
    /// The minor that added the field.
    since: u32,
}

#[derive(Clone, Debug, PartialEq)]
struct Struct {
    name: String,
    size: usize,
    align: usize,
    /// The minor that added the struct, and its size then (`AbiStruct::MIN_SIZE`).
    since: u32,
    first_size: usize,
    fields: Vec<Field>,
}

#[derive(Clone, Debug, PartialEq)]
struct Layout {
    major: u32,
    minor: u32,
    structs: Vec<Struct>,
}

const LAYOUT_HEADER: &str = "\
# The layout of vmpipe's plugin ABI v2 on LP64 targets (x86_64, aarch64), as the C compiler
# lays out the structs of plugins/sdk/src/abi.rs (through the generated header
# include/vmpipe_plugin.h). The test plugins/sdk/tests/c_abi.rs compares this file with a
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
    fn find(&self, name: &str) -> Option<&Struct> {
        self.structs.iter().find(|s| s.name == name)
    }

    fn render(&self) -> String {
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

    fn parse(text: &str) -> Result<Layout, String> {
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
fn measure() -> Layout {
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

fn compile(flags: &[&str], src: &Path, out: &Path) -> std::process::Output {
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
fn compare(recorded: &Layout, measured: &Layout, bless: bool) -> Result<Option<Layout>, String> {
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

/// The recorded layout, checked against the compiler once per test run (and rewritten when
/// blessing and the rules allow).
fn checked_layout() -> &'static Result<Layout, String> {
    static LAYOUT: OnceLock<Result<Layout, String>> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        let measured = measure();
        let path = layout_path();
        let recorded = match std::fs::read_to_string(&path) {
            Ok(text) => Layout::parse(&text)?,
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
            None => Ok(recorded),
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

/// Every constant of abi.rs reaches the header with its value.
#[test]
fn header_defines_every_constant() {
    let header = committed_header();
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
