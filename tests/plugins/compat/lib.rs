//! One analyzer source built twice: against the SDK frozen at ABI 2.0
//! (`tests/plugins/sdk-v2.0`, crate `compat-frozen`) and against the current SDK
//! (`plugins/sdk`, crate `compat-current`). The compatibility test requires both libraries to
//! give the same rows on the same process: a host that still speaks 2.0 correctly to a
//! plugin built when 2.0 was new.
//!
//! It touches every part of the ABI a plugin can: options (a string, a size), process facts,
//! region fields, residency, memory reads, another analyzer's column, region columns of
//! several types, a per-process table and a run-wide table.

use std::sync::atomic::{AtomicU64, Ordering};

use vmpipe_plugin::{Analyzer, Host, Options, Process, Regions, Schema, Value};

vmpipe_plugin::region_columns! {
    REGION_COLUMNS = [
        KIND: Text = ("cp_kind", "the region's kind as the SDK names it"),
        RSS: U64 = ("cp_rss", "resident bytes"),
        FIRST: Text = ("cp_first", "the first 8 bytes, hex, for readable regions up to `limit`"),
        IMAGE: Bytes = ("cp_image", "image-attribution's image, read back"),
        WX: Bool = ("cp_wx", "writable and executable"),
        START: Address = ("cp_start", "first address"),
    ];
}

vmpipe_plugin::inputs! {
    READS = [
        IMAGE_IN: Bytes = ("image-attribution", "image"),
    ];
}

vmpipe_plugin::tables! {
    TABLES = [
        PROCESSES: Process ("cp_processes", "one row per process") {
            "label": Text = "the `label` option",
            "regions": U64 = "regions",
            "name": Bytes = "process name",
            "threads": U64 = "threads",
            "live": Bool = "memory readable",
            "args": U64 = "command-line arguments",
        },
        TOTALS: Run ("cp_totals", "the run") {
            "processes": U64 = "processes analyzed",
        },
    ];
}

/// The analyzer.
pub struct Compat {
    label: String,
    limit: u64,
    processes: AtomicU64,
}

impl Analyzer for Compat {
    const SCHEMA: Schema = Schema::new("compat", "2.0.0", "the ABI compatibility probe")
        .region_columns(REGION_COLUMNS)
        .tables(TABLES)
        .reads(READS);

    fn create(options: &Options) -> vmpipe_plugin::Result<Self> {
        options.only(&["label", "limit"])?;
        Ok(Compat {
            label: options.string("label")?.unwrap_or("none").to_string(),
            limit: options.size("limit")?.unwrap_or(1 << 20),
            processes: AtomicU64::new(0),
        })
    }

    fn analyze(&self, p: &Process<'_>, regions: &Regions<'_>, host: &mut Host<'_>) -> vmpipe_plugin::Result {
        for r in regions {
            let i = r.index();
            host.set(i, KIND, format!("{:?}", r.kind()).as_str())?;
            host.set(i, RSS, r.rss())?;
            host.set(i, WX, r.writable() && r.executable())?;
            host.set(i, START, r.start())?;
            host.set(i, IMAGE, r.input(IMAGE_IN))?;
            if r.readable() && r.size() <= self.limit && p.has_memory() {
                let mut b = [0u8; 8];
                if let Ok(n) = host.read_memory(r.start(), &mut b) {
                    let hex: String = b[..n].iter().map(|x| format!("{x:02x}")).collect();
                    host.set(i, FIRST, hex.as_str())?;
                }
            }
        }
        host.row(
            PROCESSES,
            [
                Value::Text(&self.label),
                Value::U64(regions.len() as u64),
                Value::Bytes(p.name()),
                Value::from(p.threads().map(u64::from)),
                Value::Bool(p.has_memory()),
                Value::U64(p.args().count() as u64),
            ],
        )?;
        self.processes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn finish(&self, host: &mut Host<'_>) -> vmpipe_plugin::Result {
        host.row(TOTALS, [Value::U64(self.processes.load(Ordering::Relaxed))])?;
        Ok(())
    }
}

vmpipe_plugin::export!(Compat);
