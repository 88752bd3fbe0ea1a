//! `vmpipe plugins`: the built-in analyzers and the plugin libraries found, with what each
//! declares.

use std::fmt::Write as _;

use super::{Plugin, PluginSearch, builtin, describe};
use crate::model::escape as cell;
use crate::plugin::schema::{AnalyzerSchema, ColumnSchema};

fn columns(out: &mut String, indent: &str, cols: &[ColumnSchema]) {
    for c in cols {
        let _ = writeln!(
            out,
            "{indent}{:<24} {:<8} {}",
            c.name,
            c.ty.as_str(),
            cell::display(c.description.as_bytes())
        );
    }
}

fn analyzer(out: &mut String, origin: &str, a: &AnalyzerSchema) {
    let _ = writeln!(
        out,
        "\n{} {}  ({})\n  {}",
        a.name,
        a.version,
        cell::display(origin.as_bytes()),
        cell::display(a.description.as_bytes())
    );
    if !a.region_columns.is_empty() {
        let _ = writeln!(out, "  region columns:");
        columns(out, "    ", &a.region_columns);
    }
    if !a.reads.is_empty() {
        let _ = writeln!(out, "  reads (runs after those analyzers):");
        for r in &a.reads {
            let _ = writeln!(
                out,
                "    {:<24} {}",
                format!("{}.{}", r.analyzer, r.column),
                r.ty.as_str()
            );
        }
    }
    for t in &a.tables {
        let scope = match t.scope {
            vmpipe_plugin::Scope::Process => "per process; pid and process come first",
            vmpipe_plugin::Scope::Run => "run-wide",
        };
        let _ = writeln!(
            out,
            "  table {}.csv ({scope}): {}",
            t.name,
            cell::display(t.description.as_bytes())
        );
        columns(out, "    ", &t.columns);
    }
}

/// The listing `vmpipe plugins` prints.
pub fn catalog(search: &PluginSearch) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Built-in analyzers:");
    if builtin::BUILTINS.is_empty() {
        let _ = writeln!(out, "  (none in this build)");
    }
    for b in builtin::BUILTINS {
        let described = super::schema::builtin_table(b).and_then(|table| {
            describe(&Plugin {
                table,
                origin: "built-in".into(),
            })
        });
        match described {
            Ok(a) => analyzer(&mut out, "built-in", &a),
            Err(e) => {
                let _ = writeln!(out, "\n{}: invalid declaration: {e}", b.name);
            }
        }
    }
    let dirs: Vec<String> = search
        .dirs
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    let _ = writeln!(out, "\nPlugin libraries in {}:", dirs.join(", "));
    let found = search.discover();
    if found.is_empty() {
        let _ = writeln!(out, "  (none found)");
    }
    for path in found {
        let origin = path.display().to_string();
        match search.load(&path) {
            Ok(table) => match describe(&Plugin {
                table,
                origin: origin.clone(),
            }) {
                Ok(a) => analyzer(&mut out, &origin, &a),
                Err(e) => {
                    let _ = writeln!(out, "\n{origin}: invalid declaration: {e}");
                }
            },
            Err(e) => {
                let _ = writeln!(out, "\n{}", cell::display(e.to_string().as_bytes()));
            }
        }
    }
    out
}
