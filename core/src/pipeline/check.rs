//! The strict checker: walks the spanned TOML tree, collects every problem with its place,
//! and builds a [`Pipeline`] only when there are none.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use regex::bytes::RegexBuilder;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{
    AnalyzerConfig, Diagnostic, Pipeline, Place, Resolver, SinkConfig, SourceConfig, TextStyle,
};
use crate::source::Selection;
use crate::source::linux::Detail;

type Value<'i> = Spanned<DeValue<'i>>;

const TOP_KEYS: &[&str] = &["description", "source", "analyzer", "sink"];
const SOURCE_TYPES: &[&str] = &["live", "capture", "snapshot", "vmmap-report"];
const LIVE_KEYS: &[&str] = &["type", "processes", "pids", "name", "user", "detail"];
const CAPTURE_KEYS: &[&str] = &["type", "path", "processes", "pids", "name", "user"];
const REPORT_KEYS: &[&str] = &["type", "path", "processes", "pids", "name"];
const DETAILS: &[&str] = &["maps", "smaps"];
const ANALYZER_KEYS: &[&str] = &["use", "options"];
const SINK_TYPES: &[&str] = &["csv", "text"];
const CSV_KEYS: &[&str] = &["type", "dir", "formula_guard"];
const TEXT_KEYS: &[&str] = &["type", "path", "top", "style"];
const STYLES: &[&str] = &["summary", "vmmap"];
/// The most processes a text ranking may list.
const MAX_TOP: i64 = 100_000;
/// The size limit of a compiled name pattern (a hostile pattern cannot eat the machine).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

struct Checker<'t> {
    text: &'t str,
    diags: Vec<Diagnostic>,
}

fn choices(list: &[&str]) -> String {
    list.iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn find<'a, 'i>(
    table: &'a DeTable<'i>,
    key: &str,
) -> Option<(&'a Spanned<std::borrow::Cow<'i, str>>, &'a Value<'i>)> {
    table.iter().find(|(k, _)| k.get_ref().as_ref() == key)
}

impl Checker<'_> {
    fn err(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diags.push(Diagnostic::at(self.text, span, message));
    }

    /// Where every key of an options table is, nested keys as `outer.inner`.
    fn option_places(&self, table: &DeTable<'_>, prefix: &str, out: &mut Vec<(String, Place)>) {
        for (k, v) in table.iter() {
            let key = format!("{prefix}{}", k.get_ref());
            if let DeValue::Table(inner) = v.get_ref() {
                self.option_places(inner, &format!("{key}."), out);
            }
            out.push((key, Place::at(self.text, k.span())));
        }
    }

    /// Flags every key of `table` not in `allowed`.
    fn only_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], what: &str) {
        for (k, _) in table.iter() {
            if !allowed.contains(&k.get_ref().as_ref()) {
                self.err(
                    k.span(),
                    format!(
                        "unknown key `{}` in {what}; valid keys: {}",
                        k.get_ref().escape_debug(),
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    fn wrong_type(&mut self, v: &Value<'_>, key: &str, want: &str) {
        self.err(
            v.span(),
            format!("`{key}` must be {want}, found {}", v.get_ref().type_str()),
        );
    }

    fn string<'a>(&mut self, v: &'a Value<'_>, key: &str) -> Option<&'a str> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            _ => {
                self.wrong_type(v, key, "a string");
                None
            }
        }
    }

    fn integer(&mut self, v: &Value<'_>, key: &str) -> Option<i64> {
        match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.err(v.span(), format!("`{key}` is out of range"));
                    None
                }
            },
            _ => {
                self.wrong_type(v, key, "an integer");
                None
            }
        }
    }

    /// A string that must be one of `valid`.
    fn choice(&mut self, v: &Value<'_>, key: &str, valid: &[&str], what: &str) -> Option<String> {
        let s = self.string(v, key)?;
        if valid.contains(&s) {
            Some(s.to_string())
        } else {
            self.err(
                v.span(),
                format!(
                    "unknown {what} \"{}\"; valid choices: {}",
                    s.escape_debug(),
                    choices(valid)
                ),
            );
            None
        }
    }

    fn table<'a, 'i>(&mut self, v: &'a Value<'i>, what: &str) -> Option<&'a DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            _ => {
                self.wrong_type(v, what, "a table");
                None
            }
        }
    }

    /// An array of tables (`[[name]]`); a single table is refused with a hint.
    fn tables<'a, 'i>(
        &mut self,
        v: &'a Value<'i>,
        key: &str,
    ) -> Vec<(Range<usize>, &'a DeTable<'i>)> {
        match v.get_ref() {
            DeValue::Array(items) => items
                .iter()
                .filter_map(|item| {
                    let span = item.span();
                    self.table(item, key).map(|t| (span, t))
                })
                .collect(),
            DeValue::Table(_) => {
                self.err(
                    v.span(),
                    format!("`{key}` must be an array of tables: write [[{key}]], not [{key}]"),
                );
                Vec::new()
            }
            _ => {
                self.wrong_type(v, key, "an array of tables ([[…]])");
                Vec::new()
            }
        }
    }

    fn source(&mut self, root: &DeTable<'_>, whole: Range<usize>) -> Option<SourceConfig> {
        let Some((_, v)) = find(root, "source") else {
            self.err(
                whole.start..whole.start,
                format!(
                    "missing [source] table (type = one of {})",
                    choices(SOURCE_TYPES)
                ),
            );
            return None;
        };
        let table = self.table(v, "source")?;
        let kind = match find(table, "type") {
            Some((_, t)) => self.choice(t, "type", SOURCE_TYPES, "source type"),
            None => {
                self.err(
                    v.span(),
                    format!("[source] needs `type`, one of {}", choices(SOURCE_TYPES)),
                );
                None
            }
        };
        let keys = match kind.as_deref() {
            Some("capture") | Some("snapshot") => CAPTURE_KEYS,
            Some("vmmap-report") => REPORT_KEYS,
            _ => LIVE_KEYS,
        };
        let what = format!("a {} [source]", kind.as_deref().unwrap_or("live"));
        self.only_keys(table, keys, &what);
        let path = match find(table, "path") {
            Some((_, p)) => match self.string(p, "path") {
                Some("") => {
                    self.err(p.span(), "`path` is empty");
                    None
                }
                Some(s) => Some(PathBuf::from(s)),
                None => None,
            },
            None => None,
        };
        let mut selection = Selection::default();
        let mut ok = true;
        let mut narrowing = Vec::new();
        if let Some((k, p)) = find(table, "pids") {
            narrowing.push(k.span());
            match p.get_ref() {
                DeValue::Array(items) if !items.is_empty() => {
                    let mut pids = BTreeSet::new();
                    for item in items.iter() {
                        match self.integer(item, "pids") {
                            Some(n) if (1..=i64::from(u32::MAX)).contains(&n) => {
                                pids.insert(n as u32);
                            }
                            Some(_) => {
                                self.err(item.span(), "a pid must be a positive integer");
                                ok = false;
                            }
                            None => ok = false,
                        }
                    }
                    selection.pids = Some(pids);
                }
                DeValue::Array(_) => {
                    self.err(p.span(), "`pids` is empty: it would select no process");
                    ok = false;
                }
                _ => {
                    self.wrong_type(p, "pids", "an array of integers");
                    ok = false;
                }
            }
        }
        if let Some((k, n)) = find(table, "name") {
            narrowing.push(k.span());
            if let Some(pattern) = self.string(n, "name") {
                match RegexBuilder::new(pattern)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                {
                    Ok(re) => selection.name = Some(re),
                    Err(e) => {
                        let msg = e
                            .to_string()
                            .lines()
                            .last()
                            .unwrap_or("")
                            .trim()
                            .to_string();
                        self.err(
                            n.span(),
                            format!("`name` is not a valid regular expression: {msg}"),
                        );
                        ok = false;
                    }
                }
            } else {
                ok = false;
            }
        }
        if let Some((k, u)) = find(table, "user") {
            narrowing.push(k.span());
            match u.get_ref() {
                DeValue::Integer(_) => match self.integer(u, "user") {
                    Some(n) if (0..=i64::from(u32::MAX)).contains(&n) => {
                        selection.uid = Some(n as u32)
                    }
                    _ => {
                        self.err(u.span(), "`user` must be a user name or a uid");
                        ok = false;
                    }
                },
                DeValue::String(s) => {
                    let s = s.as_ref();
                    if let Ok(uid) = s.parse::<u32>() {
                        selection.uid = Some(uid);
                    } else if let Some(user) = uzers::get_user_by_name(s) {
                        selection.uid = Some(user.uid());
                    } else {
                        self.err(
                            u.span(),
                            format!("no user named \"{}\" on this machine", s.escape_debug()),
                        );
                        ok = false;
                    }
                }
                _ => {
                    self.wrong_type(u, "user", "a user name or a uid");
                    ok = false;
                }
            }
        }
        if let Some((_, p)) = find(table, "processes") {
            match self.choice(p, "processes", &["all"], "process selection") {
                Some(_) => {
                    for span in narrowing {
                        self.err(
                            span,
                            "processes = \"all\" cannot be combined with pids, name or user: drop one",
                        );
                        ok = false;
                    }
                }
                None => ok = false,
            }
        }
        let detail = match find(table, "detail") {
            Some((_, d)) => match self.choice(d, "detail", DETAILS, "detail")?.as_str() {
                "maps" => Detail::Maps,
                _ => Detail::Smaps,
            },
            None => Detail::Smaps,
        };
        let kind = kind?;
        if !ok {
            return None;
        }
        Some(match kind.as_str() {
            "capture" | "snapshot" => SourceConfig::Capture { path, selection },
            "vmmap-report" => SourceConfig::VmmapReport { path, selection },
            _ => SourceConfig::Live { selection, detail },
        })
    }

    fn analyzers(
        &mut self,
        root: &DeTable<'_>,
        resolve: Resolver<'_>,
    ) -> Option<Vec<AnalyzerConfig>> {
        let Some((_, v)) = find(root, "analyzer") else {
            return Some(Vec::new());
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (span, table) in self.tables(v, "analyzer") {
            self.only_keys(table, ANALYZER_KEYS, "[[analyzer]]");
            let name = match find(table, "use") {
                Some((_, u)) => match self.string(u, "use") {
                    Some("") => {
                        self.err(
                            u.span(),
                            "`use` is empty: name an analyzer or a plugin library",
                        );
                        None
                    }
                    Some(name) => match resolve(name) {
                        Ok(()) => Some((name.to_string(), u.span())),
                        Err(reason) => {
                            self.err(u.span(), reason);
                            None
                        }
                    },
                    None => None,
                },
                None => {
                    self.err(span.clone(), "[[analyzer]] needs `use = \"NAME\"`");
                    None
                }
            };
            let mut option_places = Vec::new();
            let options = match find(table, "options") {
                Some((_, o)) => self.table(o, "options").and_then(|t| {
                    self.option_places(t, "", &mut option_places);
                    self.convert_table(t)
                }),
                None => Some(toml::Table::new()),
            };
            match (name, options) {
                (Some((name, span)), Some(options)) => out.push(AnalyzerConfig {
                    name,
                    options,
                    at: Place::at(self.text, span),
                    option_places,
                }),
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn sinks(&mut self, root: &DeTable<'_>, whole: Range<usize>) -> Option<Vec<SinkConfig>> {
        let Some((_, v)) = find(root, "sink") else {
            self.err(
                whole.start..whole.start,
                format!(
                    "missing [[sink]]: a pipeline must write somewhere (type = one of {})",
                    choices(SINK_TYPES)
                ),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        let mut dirs: Vec<PathBuf> = Vec::new();
        let tables = self.tables(v, "sink");
        if tables.is_empty() && matches!(v.get_ref(), DeValue::Array(_)) {
            self.err(v.span(), "no [[sink]]: a pipeline must write somewhere");
            return None;
        }
        for (span, table) in tables {
            let kind = match find(table, "type") {
                Some((_, t)) => self.choice(t, "type", SINK_TYPES, "sink type"),
                None => {
                    self.err(
                        span.clone(),
                        format!("[[sink]] needs `type`, one of {}", choices(SINK_TYPES)),
                    );
                    None
                }
            };
            match kind.as_deref() {
                Some("csv") => {
                    self.only_keys(table, CSV_KEYS, "a csv [[sink]]");
                    let formula_guard = match find(table, "formula_guard") {
                        Some((_, g)) => match g.get_ref() {
                            DeValue::Boolean(b) => *b,
                            _ => {
                                self.wrong_type(g, "formula_guard", "a boolean");
                                ok = false;
                                true
                            }
                        },
                        None => true,
                    };
                    match find(table, "dir") {
                        Some((_, d)) => match self.string(d, "dir") {
                            Some("") => {
                                self.err(d.span(), "`dir` is empty");
                                ok = false;
                            }
                            Some(dir) => {
                                let dir = PathBuf::from(dir);
                                if dirs.contains(&dir) {
                                    self.err(d.span(), "another csv sink writes to this directory");
                                    ok = false;
                                }
                                dirs.push(dir.clone());
                                out.push(SinkConfig::Csv { dir, formula_guard });
                            }
                            None => ok = false,
                        },
                        None => {
                            self.err(span.clone(), "a csv [[sink]] needs `dir = \"DIRECTORY\"`");
                            ok = false;
                        }
                    }
                }
                Some(_) => {
                    self.only_keys(table, TEXT_KEYS, "a text [[sink]]");
                    let path = match find(table, "path") {
                        Some((_, p)) => match self.string(p, "path") {
                            Some("-") => Some(None),
                            Some("") => {
                                self.err(
                                    p.span(),
                                    "`path` is empty (use \"-\" for standard output)",
                                );
                                None
                            }
                            Some(p) => Some(Some(PathBuf::from(p))),
                            None => None,
                        },
                        None => Some(None),
                    };
                    let top = match find(table, "top") {
                        Some((_, t)) => match self.integer(t, "top") {
                            Some(n) if (1..=MAX_TOP).contains(&n) => Some(n as usize),
                            Some(_) => {
                                self.err(
                                    t.span(),
                                    format!("`top` must be between 1 and {MAX_TOP}"),
                                );
                                None
                            }
                            None => None,
                        },
                        None => Some(10),
                    };
                    let style = match find(table, "style") {
                        Some((_, s)) => self.choice(s, "style", STYLES, "text style").map(|s| {
                            if s == "vmmap" {
                                TextStyle::Vmmap
                            } else {
                                TextStyle::Summary
                            }
                        }),
                        None => Some(TextStyle::Summary),
                    };
                    match (path, top, style) {
                        (Some(path), Some(top), Some(style)) => {
                            out.push(SinkConfig::Text { path, top, style })
                        }
                        _ => ok = false,
                    }
                }
                None => {
                    // Still report unknown keys against everything a sink may hold.
                    let mut all: Vec<&str> = CSV_KEYS.to_vec();
                    all.extend(TEXT_KEYS.iter().filter(|k| !CSV_KEYS.contains(k)));
                    self.only_keys(table, &all, "[[sink]]");
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn convert_table(&mut self, table: &DeTable<'_>) -> Option<toml::Table> {
        let mut out = toml::Table::new();
        let mut ok = true;
        for (k, v) in table.iter() {
            match self.convert(v) {
                Some(value) => {
                    out.insert(k.get_ref().to_string(), value);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn convert(&mut self, v: &Value<'_>) -> Option<toml::Value> {
        Some(match v.get_ref() {
            DeValue::String(s) => toml::Value::String(s.to_string()),
            DeValue::Integer(_) => toml::Value::Integer(self.integer(v, "option")?),
            DeValue::Float(f) => match f.as_str().parse::<f64>() {
                Ok(x) => toml::Value::Float(x),
                Err(_) => {
                    self.err(v.span(), "not a number");
                    return None;
                }
            },
            DeValue::Boolean(b) => toml::Value::Boolean(*b),
            DeValue::Datetime(d) => toml::Value::Datetime(*d),
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    out.push(self.convert(item)?);
                }
                toml::Value::Array(out)
            }
            DeValue::Table(t) => toml::Value::Table(self.convert_table(t)?),
        })
    }
}

/// Checks `text` (the content of `path`) and builds the pipeline, or returns every problem.
pub(super) fn check(
    path: &Path,
    text: &str,
    resolve: Resolver<'_>,
) -> Result<Pipeline, Vec<Diagnostic>> {
    let mut c = Checker {
        text,
        diags: Vec::new(),
    };
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for e in errors {
            let span = e.span().unwrap_or(0..0);
            c.err(span, format!("TOML syntax: {}", e.message().trim()));
        }
        c.diags.sort_by_key(|d| (d.place.line, d.place.column));
        return Err(c.diags);
    }
    let whole = root.span();
    let root = root.get_ref();
    c.only_keys(root, TOP_KEYS, "the pipeline");
    let description =
        find(root, "description").and_then(|(_, d)| c.string(d, "description").map(str::to_string));
    let source = c.source(root, whole.clone());
    let analyzers = c.analyzers(root, resolve);
    let sinks = c.sinks(root, whole);
    c.diags.sort_by_key(|d| (d.place.line, d.place.column));
    match (source, analyzers, sinks) {
        (Some(source), Some(analyzers), Some(sinks)) if c.diags.is_empty() => Ok(Pipeline {
            file: path.to_path_buf(),
            description,
            source,
            analyzers,
            sinks,
        }),
        _ => Err(c.diags),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(name: &str) -> Result<(), String> {
        if name == "image-attribution" {
            Ok(())
        } else {
            Err(format!(
                "no analyzer \"{name}\" (valid: \"image-attribution\")"
            ))
        }
    }

    fn errors(text: &str) -> Vec<Diagnostic> {
        check(Path::new("p.toml"), text, &known).unwrap_err()
    }

    const GOOD: &str = r#"
description = "all"
[source]
type = "live"
processes = "all"
detail = "maps"
[[analyzer]]
use = "image-attribution"
options = { depth = 2, names = ["a"], nested = { x = 1.5 } }
[[sink]]
type = "csv"
dir = "out"
[[sink]]
type = "text"
top = 5
"#;

    #[test]
    fn accepts_a_complete_pipeline() {
        let p = check(Path::new("p.toml"), GOOD, &known).unwrap();
        assert!(matches!(
            p.source,
            SourceConfig::Live {
                detail: Detail::Maps,
                ..
            }
        ));
        assert_eq!(p.analyzers.len(), 1);
        assert_eq!((p.analyzers[0].at.line, p.analyzers[0].at.column), (8, 7));
        assert_eq!(p.analyzers[0].options["depth"].as_integer(), Some(2));
        assert_eq!(
            p.sinks,
            vec![
                SinkConfig::Csv {
                    dir: "out".into(),
                    formula_guard: true
                },
                SinkConfig::Text {
                    path: None,
                    top: 5,
                    style: TextStyle::Summary
                }
            ]
        );
    }

    /// Line and column of `needle` in `text`, found independently of the checker.
    fn where_is(text: &str, needle: &str) -> (usize, usize) {
        let at = text.find(needle).unwrap();
        let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        (text[..at].matches('\n').count() + 1, at - start + 1)
    }

    #[test]
    fn keeps_where_the_use_value_and_every_option_key_are() {
        let text = "[source]\ntype = \"live\"\n[[analyzer]]\nuse = \"image-attribution\"\noptions = { depth = 2, nested = { x = 1 } }\n[[analyzer]]\nuse   =   'image-attribution'\n[analyzer.options]\n  names = [\"a\"]\n[[sink]]\ntype = \"text\"\n";
        let p = check(Path::new("p.toml"), text, &known).unwrap();
        let place = |a: &AnalyzerConfig, key: &str| {
            let p = a.place_of(key);
            (p.line, p.column)
        };
        let (a, b) = (&p.analyzers[0], &p.analyzers[1]);
        assert_eq!(
            (a.at.line, a.at.column),
            where_is(text, "\"image-attribution\"")
        );
        assert_eq!(a.at.source_line, "use = \"image-attribution\"");
        assert_eq!(place(a, "depth"), where_is(text, "depth"));
        assert_eq!(place(a, "nested"), where_is(text, "nested"));
        assert_eq!(place(a, "nested.x"), where_is(text, "x = 1"));
        assert_eq!(
            place(a, "names"),
            place(a, ""),
            "a key not in the entry: its `use`"
        );
        assert_eq!(
            (b.at.line, b.at.column),
            where_is(text, "'image-attribution'")
        );
        assert_eq!(place(b, "names"), where_is(text, "names"));
        assert_eq!(b.place_of("names").source_line, "  names = [\"a\"]");
    }

    #[test]
    fn reports_every_problem_at_once_in_file_order() {
        let d = errors(
            "[source]\ntype = \"live\"\ndetial = \"maps\"\npids = \"1\"\n[[analyzer]]\nuse = \"nope\"\n[[sink]]\ntype = \"csv\"\n",
        );
        let got: Vec<(usize, usize)> = d.iter().map(|d| (d.place.line, d.place.column)).collect();
        assert_eq!(got, vec![(3, 1), (4, 8), (6, 7), (7, 1)], "{d:#?}");
        assert!(d[0].message.contains("unknown key `detial`"));
        assert!(d[0].message.contains("detail"));
        assert!(
            d[1].message
                .contains("must be an array of integers, found string")
        );
        assert!(d[2].message.contains("\"image-attribution\""));
        assert!(d[3].message.contains("needs `dir"));
    }

    #[test]
    fn refuses_conflicts_and_bad_values() {
        let d = errors(
            "[source]\ntype = \"nfs\"\nprocesses = \"all\"\nname = \"(\"\nuser = \"no-such-user-vmpipe\"\n[[sink]]\ntype = \"text\"\ntop = 0\n[[sink]]\ntype = \"csv\"\ndir = \"a\"\n[[sink]]\ntype = \"csv\"\ndir = \"a\"\n",
        );
        let msgs: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
        assert!(
            msgs[0].contains(
                "unknown source type \"nfs\"; valid choices: \"live\", \"capture\", \"snapshot\", \"vmmap-report\""
            ),
            "{msgs:#?}"
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("not a valid regular expression"))
        );
        assert!(msgs.iter().any(|m| m.contains("no user named")));
        assert!(msgs.iter().any(|m| m.contains("cannot be combined")));
        assert!(msgs.iter().any(|m| m.contains("`top` must be between")));
        assert!(msgs.iter().any(|m| m.contains("another csv sink")));
    }

    #[test]
    fn offline_sources_take_a_path_and_refuse_live_keys() {
        let p = check(
            Path::new("p.toml"),
            "[source]\ntype = \"capture\"\npath = \"ev.tar\"\npids = [3]\n[[sink]]\ntype = \"text\"\n",
            &known,
        )
        .unwrap();
        assert!(
            matches!(p.source, SourceConfig::Capture { path: Some(ref x), .. } if x == Path::new("ev.tar"))
        );
        let d = errors(
            "[source]\ntype = \"vmmap-report\"\ndetail = \"maps\"\nuser = \"root\"\n[[sink]]\ntype = \"text\"\n",
        );
        assert_eq!(d.len(), 2, "{d:#?}");
        assert!(
            d[0].message
                .contains("unknown key `detail` in a vmmap-report [source]")
        );
        assert!(d[1].message.contains("unknown key `user`"));
        let d = errors("[source]\ntype = \"live\"\npath = \"x\"\n[[sink]]\ntype = \"text\"\n");
        assert!(
            d[0].message
                .contains("unknown key `path` in a live [source]")
        );
    }

    #[test]
    fn requires_source_and_sink_and_array_tables() {
        let d = errors("");
        assert_eq!(d.len(), 2);
        let d = errors("[source]\ntype = \"live\"\n[sink]\ntype = \"csv\"\ndir = \"x\"\n");
        assert!(d[0].message.contains("write [[sink]]"), "{d:#?}");
    }

    #[test]
    fn syntax_errors_have_places() {
        let d = errors("[source]\ntype = \"live\n");
        assert!(!d.is_empty());
        assert_eq!(d[0].place.line, 2);
        assert!(d[0].message.starts_with("TOML syntax"));
    }
}
