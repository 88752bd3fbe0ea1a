//! A one-column analyzer written against the SDK at 036e0a7.

use vmpipe_plugin::{Analyzer, Column, ColumnType, Host, Options, Process, Region, Schema};

/// Flags writable and executable regions.
pub struct OldWx;

impl Analyzer for OldWx {
    const SCHEMA: Schema = Schema {
        name: "old-wx",
        version: "0.1.0",
        description: "flags writable and executable regions (built against the 036e0a7 SDK)",
        region_columns: &[Column::new("old_wx", ColumnType::Bool, "writable and executable")],
        tables: &[],
    };

    fn create(options: &Options) -> vmpipe_plugin::Result<Self> {
        options.only(&[])?;
        Ok(OldWx)
    }

    fn analyze(&self, _p: &Process, regions: &[Region], host: &mut Host) -> vmpipe_plugin::Result {
        for (i, r) in regions.iter().enumerate() {
            host.set(i, 0, r.writable() && r.executable())?;
            let _ = r.path();
        }
        Ok(())
    }
}

vmpipe_plugin::export!(OldWx);
