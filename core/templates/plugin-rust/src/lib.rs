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

#[cfg(test)]
mod tests {
    //! The analyzer run through the real plugin ABI by the SDK's harness
    //! (`vmpipe-plugin`'s `testing` feature), over a process written out as
    //! `/proc/PID/maps` would show it.

    use super::*;
    use vmpipe_plugin::testing::{self, Fixture, OwnedValue};
    use vmpipe_plugin::{OptionValue, Options};

    /// Three mappings: program text, a 16 KiB writable and executable anonymous region,
    /// and a 4 KiB one.
    const MAPS: &[u8] = b"\
00400000-00401000 r-xp 00000000 08:01 1234 /usr/bin/example
7f0000000000-7f0000004000 rwxp 00000000 00:00 0
7f0000004000-7f0000005000 rwxp 00000000 00:00 0
";

    fn options(min_size: &str) -> Options {
        Options::from_entries(vec![(
            "min_size".into(),
            OptionValue::String(min_size.into()),
        )])
    }

    #[test]
    fn flags_writable_and_executable_regions_and_counts_them() {
        let fixture = Fixture::from_maps(4242, MAPS).unwrap();
        let out = testing::run::<{{type}}>(&fixture);
        assert!(out.is_clean(), "{out:?}");
        assert_eq!(
            out.column("{{prefix}}_wx"),
            [
                OwnedValue::Bool(false),
                OwnedValue::Bool(true),
                OwnedValue::Bool(true)
            ]
        );
        assert_eq!(
            out.rows("{{prefix}}_summary"),
            [vec![OwnedValue::U64(2), OwnedValue::U64(0x5000)]]
        );
    }

    #[test]
    fn min_size_leaves_small_regions_out_of_the_count() {
        let fixture = Fixture::from_maps(4242, MAPS).unwrap();
        let out = testing::run_with::<{{type}}>(&options("8K"), &fixture);
        assert!(out.is_clean(), "{out:?}");
        assert_eq!(
            out.rows("{{prefix}}_summary"),
            [vec![OwnedValue::U64(1), OwnedValue::U64(0x4000)]]
        );
        let bad = testing::run_with::<{{type}}>(&options("lots"), &fixture);
        assert_eq!(bad.errors[0].option.as_deref(), Some("min_size"));
    }
}
