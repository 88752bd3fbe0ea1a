//! The modules of each crate form a DAG: no top-level module reaches, through `crate::`
//! paths, a module that reaches back to it.
//!
//! The truth here is the source text itself: every `crate::NAME` path and every
//! `use crate::{A, B::…}` group outside comments is an edge from the top-level module of the
//! file it is in to `NAME`. A cycle fails with every module of it and one place of each edge,
//! so whoever adds one sees where to cut. (`super::` paths that climb out of a top-level
//! module are not followed: code reaches another top-level module by `crate::`.)

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// An edge's first place: file and line.
type Places = BTreeMap<(String, String), (PathBuf, usize)>;

/// Every `.rs` file under `dir`, recursively, in a stable order.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text of `src` with comments (line, doc and block) and string literals blanked, lines
/// kept, so that a `crate::` in prose or in a message is not an edge.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == b'r'
            && matches!(b.get(i + 1), Some(b'"') | Some(b'#'))
            && !ident_before(b, i)
        {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match b.get(j) {
                    None => break,
                    Some(b'"')
                        if b[j + 1..]
                            .iter()
                            .take(hashes)
                            .filter(|&&h| h == b'#')
                            .count()
                            == hashes =>
                    {
                        j += 1 + hashes;
                        break;
                    }
                    Some(b'\n') => out.push('\n'),
                    _ => {}
                }
                j += 1;
            }
            i = j;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if b.get(i) == Some(&b'\n') {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
        } else if c == b'\'' && b.get(i + 1) == Some(&b'\\') {
            i += 2;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
        } else if c == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // A one-character literal such as '"' (lifetimes have no closing quote).
            i += 3;
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    out
}

fn ident_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The first-level names of a `{ … }` group that starts at `s[0] == '{'`.
fn group_names(s: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut depth = 0;
    let mut expect_name = true;
    for (i, c) in s.char_indices() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    expect_name = true;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => expect_name = true,
            c if depth == 1 && expect_name && (c.is_ascii_alphabetic() || c == '_') => {
                names.push(ident_at(&s[i..]));
                expect_name = false;
            }
            c if depth == 1 && !c.is_whitespace() => expect_name = false,
            _ => {}
        }
    }
    names
}

/// The top-level module a file under `src` belongs to (`None` for the crate root).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).expect("file under src");
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    match first.strip_suffix(".rs") {
        Some("lib" | "main") => None,
        Some(m) => Some(m.to_owned()),
        None => Some(first),
    }
}

/// The edges between top-level modules of the crate whose sources are `src`.
fn edges(src: &Path) -> (BTreeSet<String>, Places) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut modules = BTreeSet::new();
    let mut places = Places::new();
    for f in &files {
        if let Some(m) = top_module(src, f) {
            modules.insert(m);
        }
    }
    for f in &files {
        let Some(from) = top_module(src, f) else {
            continue;
        };
        let text = fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let code = code_only(&text);
        let mut at = 0;
        while let Some(k) = code[at..].find("crate::") {
            let start = at + k;
            at = start + "crate::".len();
            if ident_before(code.as_bytes(), start) {
                continue; // `vmpipe_crate::`, not ours.
            }
            let rest = &code[at..];
            let names = if rest.starts_with('{') {
                group_names(rest)
            } else {
                vec![ident_at(rest)]
            };
            let line = code[..start].matches('\n').count() + 1;
            for to in names {
                if to != from && modules.contains(to) {
                    places
                        .entry((from.clone(), to.to_owned()))
                        .or_insert_with(|| (f.clone(), line));
                }
            }
        }
    }
    (modules, places)
}

/// The strongly connected components of more than one module (Tarjan's algorithm).
fn cycles(modules: &BTreeSet<String>, places: &Places) -> Vec<Vec<String>> {
    struct Walk<'a> {
        next: BTreeMap<&'a str, Vec<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a str) {
        let i = w.index.len();
        w.index.insert(v, i);
        w.low.insert(v, i);
        w.stack.push(v);
        w.on_stack.insert(v);
        for u in w.next.get(v).cloned().unwrap_or_default() {
            if !w.index.contains_key(u) {
                visit(w, u);
                let l = w.low[v].min(w.low[u]);
                w.low.insert(v, l);
            } else if w.on_stack.contains(u) {
                let l = w.low[v].min(w.index[u]);
                w.low.insert(v, l);
            }
        }
        if w.low[v] == w.index[v] {
            let mut scc = Vec::new();
            while let Some(u) = w.stack.pop() {
                w.on_stack.remove(u);
                scc.push(u.to_owned());
                if u == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                w.found.push(scc);
            }
        }
    }
    let mut w = Walk {
        next: BTreeMap::new(),
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for (from, to) in places.keys() {
        w.next.entry(from).or_default().push(to);
    }
    for m in modules {
        if !w.index.contains_key(m.as_str()) {
            visit(&mut w, m);
        }
    }
    w.found
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("core/ has a parent")
        .to_path_buf()
}

fn assert_acyclic(crate_dir: &str) -> (BTreeSet<String>, Places) {
    let src = workspace().join(crate_dir).join("src");
    let (modules, places) = edges(&src);
    let found = cycles(&modules, &places);
    let mut msg = String::new();
    for scc in &found {
        msg += &format!("cycle among {}:\n", scc.join(", "));
        for ((from, to), (file, line)) in &places {
            if scc.contains(from) && scc.contains(to) {
                msg += &format!("  {from} -> {to}  ({}:{line})\n", file.display());
            }
        }
    }
    assert!(
        found.is_empty(),
        "modules of {crate_dir}/ import each other:\n{msg}"
    );
    (modules, places)
}

#[test]
fn the_core_crate_has_no_module_cycle() {
    let (modules, places) = assert_acyclic("core");
    // The reader finds real edges (a reader that saw none would pass any crate).
    assert!(
        modules.contains("engine") && modules.contains("sink"),
        "{modules:?}"
    );
    assert!(
        places.contains_key(&("run".to_owned(), "engine".to_owned())),
        "run uses the engine: {:?}",
        places.keys().collect::<Vec<_>>()
    );
}

#[test]
fn the_source_crate_has_no_module_cycle() {
    let (_, places) = assert_acyclic("source");
    assert!(
        places.contains_key(&("linux".to_owned(), "model".to_owned())),
        "the Linux source builds model regions: {:?}",
        places.keys().collect::<Vec<_>>()
    );
}

#[test]
fn the_reader_sees_groups_and_skips_comments_and_strings() {
    let code = code_only(
        "use crate::{a::X,\n  b, c::{d, e}};\n// crate::f\nlet s = \"crate::g\"; let t = r#\"crate::h\"#; x = crate::i::j;\n/* crate::k */",
    );
    assert!(!code.contains("crate::f") && !code.contains("crate::g"));
    assert!(!code.contains("crate::h") && !code.contains("crate::k"));
    assert_eq!(
        group_names(&code[code.find('{').unwrap()..]),
        ["a", "b", "c"]
    );
    assert!(code.contains("crate::i::j"));
    assert_eq!(code.matches('\n').count(), 4, "lines are kept: {code:?}");
}

#[test]
fn a_cycle_is_found_and_named() {
    let modules: BTreeSet<String> = ["a", "b", "c", "d"].map(String::from).into();
    let mut places = Places::new();
    for (f, t) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        places.insert((f.into(), t.into()), (PathBuf::from("x.rs"), 1));
    }
    assert_eq!(cycles(&modules, &places), [["a", "b", "c"]]);
    places.remove(&("c".to_owned(), "a".to_owned()));
    assert!(cycles(&modules, &places).is_empty());
}
