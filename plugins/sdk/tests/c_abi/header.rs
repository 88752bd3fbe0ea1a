//! The C header, generated from `src/abi.rs`: cbindgen writes the structs (renamed by one
//! rule, `RegionV2` → `vmpipe_region`), this module the constants of abi.rs's modules
//! (`status::OK` → `VMPIPE_STATUS_OK`: cbindgen has no module prefixes, and several modules
//! share names such as `OK`), the module docs (the contract) and the asserts; rustdoc
//! references in the comments are rewritten to the C names.

use std::fmt::Write as _;

use quote::ToTokens;
use vmpipe_plugin::abi;

use super::layout::Layout;
use super::{REGENERATE, sdk};

// ---------------------------------------------------------------------------------------
// Reading abi.rs

pub fn abi_file() -> syn::File {
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
pub fn rust_struct_names(file: &syn::File) -> Vec<String> {
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Struct(s) if is_repr_c(&s.attrs) => Some(s.ident.to_string()),
            _ => None,
        })
        .collect()
}

/// `RegionV2` → `vmpipe_region`: the one naming rule from Rust to C.
pub fn c_name(rust: &str) -> String {
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
pub fn c_const(path: &[&str]) -> String {
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
pub fn generate_header(trailer: &str) -> String {
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
pub fn trailer(layout: &Layout) -> String {
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
pub fn header_structs(header: &str) -> Vec<(String, Vec<String>)> {
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
