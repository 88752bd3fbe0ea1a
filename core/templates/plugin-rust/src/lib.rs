//! {{name}}: a vmpipe analyzer. It flags memory that is both writable and executable (the
//! first thing an incident responder looks for) and counts it per process.
//!
//! Start here: change what `analyze` looks at, declare what you emit in the
//! `region_columns!` and `tables!` below, run `cargo test`, then `cargo build --release` and
//! `vmpipe run pipeline.toml`.

use vmpipe_plugin::{Analyzer, Host, Options, Process, Regions, Schema, Value};

vmpipe_plugin::region_columns! {
    REGION_COLUMNS = [
        /// Set on every region: is it writable and executable?
        WX: Bool = ("{{prefix}}_wx", "the region is writable and executable"),
    ];
}

vmpipe_plugin::tables! {
    TABLES = [
        /// One row per process with at least one such region.
        SUMMARY: Process ("{{prefix}}_summary", "writable and executable memory of one process") {
            "regions": U64 = "writable and executable regions of at least min_size bytes",
            "bytes": U64 = "their total size",
        },
    ];
}

/// The analyzer: its options, checked once when the pipeline is loaded.
pub struct {{type}} {
    /// Regions smaller than this are not counted (option `min_size`, e.g. "4K").
    min_size: u64,
}

impl Analyzer for {{type}} {
    const SCHEMA: Schema = Schema::new(
        "{{name}}",
        "0.1.0",
        "flags writable and executable memory and counts it per process",
    )
    .region_columns(REGION_COLUMNS)
    .tables(TABLES);

    fn create(options: &Options) -> vmpipe_plugin::Result<Self> {
        options.only(&["min_size"])?;
        Ok({{type}} {
            min_size: options.size("min_size")?.unwrap_or(0),
        })
    }

    fn analyze(
        &self,
        _process: &Process<'_>,
        regions: &Regions<'_>,
        host: &mut Host<'_>,
    ) -> vmpipe_plugin::Result {
        let (mut count, mut bytes) = (0u64, 0u64);
        for r in regions {
            let wx = r.writable() && r.executable();
            host.set(r.index(), WX, wx)?;
            if wx && r.size() >= self.min_size {
                count += 1;
                bytes += r.size();
            }
        }
        if count > 0 {
            host.row(SUMMARY, [Value::U64(count), Value::U64(bytes)])?;
        }
        Ok(())
    }
}

vmpipe_plugin::export!({{type}});
