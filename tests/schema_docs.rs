//! README's tables of `regions.csv`, `processes.csv` and `errors.csv` are the schema's
//! ([`vmpipe::model::schema`]): each sits between `<!-- schema:NAME -->` and
//! `<!-- /schema:NAME -->` and must equal `Table::markdown()`. `VMPIPE_BLESS=1` rewrites them.

use std::fs;
use std::path::Path;

use vmpipe::model::schema::{ERRORS, PROCESSES, REGIONS};

#[test]
fn readme_tables_are_the_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = fs::read_to_string(&path).expect("README.md");
    let mut out = readme.clone();
    for (name, table) in [
        (REGIONS.name, REGIONS.markdown()),
        (PROCESSES.name, PROCESSES.markdown()),
        (ERRORS.name, ERRORS.markdown()),
    ] {
        let open = format!("<!-- schema:{name} -->\n");
        let close = format!("<!-- /schema:{name} -->");
        let start = out
            .find(&open)
            .unwrap_or_else(|| panic!("README.md has no {open:?} marker"))
            + open.len();
        let end = start
            + out[start..]
                .find(&close)
                .unwrap_or_else(|| panic!("README.md has no {close:?} marker"));
        out.replace_range(start..end, &table);
    }
    if out != readme {
        if std::env::var_os("VMPIPE_BLESS").is_some() {
            fs::write(&path, &out).expect("write README.md");
        } else {
            panic!(
                "README.md's column tables differ from vmpipe::model::schema; \
                 VMPIPE_BLESS=1 cargo test -p vmpipe --test schema_docs rewrites them"
            );
        }
    }
}
