//! A plugin that misbehaves on purpose.
//!
//! For every process it sets region column `index` of every region to the region's index and
//! emits one `calls` row (the process's region count). On processes whose name is the option
//! `victim`, it then does what the option `mode` says:
//!
//! * `panic` — panics;
//! * `fail` — returns an error;
//! * `bad-column` — sets region column 7 (it declares one);
//! * `bad-type` — sets the u64 column to text;
//! * `bad-region` — sets a value for a region index past the last region;
//! * `bad-table` — emits a row in table 5 (it declares two);
//! * `bad-arity` — emits a `calls` row with two cells;
//! * `run-row-now` — emits a run-wide row while analyzing a process;
//! * `flood` — emits `calls` rows until one is refused, at most 20 million (about 1 GB if the
//!   host kept them all);
//! * `bad-type-returned` — sets the u64 column to text and returns the refusal with `?`;
//! * `fake-refusal` — warns, then returns an `EmitError` the host never made (nothing was
//!   refused);
//! * `info` — logs `deliberate info on pid PID` at level INFO (shown only with
//!   `VMPIPE_PLUGIN_DEBUG`) and `deliberate warning on pid PID` at level WARN.
//!
//! Option `reject = "why"` makes `create` refuse the options with that message;
//! `reject_key = "KEY"` refuses option KEY (an `OptionError`); `create_panic = true` panics in
//! `create`; `finish_mode =
//! "bad-table"` emits a per-process row in `finish`.

use vmpipe_plugin::{Analyzer, Host, OptionError, Options, Process, Regions, Schema, Value};

vmpipe_plugin::region_columns! {
    REGION_COLUMNS = [
        INDEX: U64 = ("index", "the region's index"),
    ];
}

vmpipe_plugin::tables! {
    TABLES = [
        CALLS: Process ("calls", "one row per process analyzed") {
            "regions": U64 = "regions seen",
        },
        TOTALS: Run ("totals", "run-wide") {
            "processes": U64 = "processes seen",
        },
    ];
}

pub struct Misbehave {
    victim: Vec<u8>,
    mode: String,
    finish_mode: String,
}

impl Analyzer for Misbehave {
    const SCHEMA: Schema = Schema::new("misbehave", "0.1.0", "misbehaves on purpose (tests)")
        .region_columns(REGION_COLUMNS)
        .tables(TABLES);

    fn create(options: &Options) -> vmpipe_plugin::Result<Self> {
        options.only(&[
            "victim",
            "mode",
            "reject",
            "reject_key",
            "create_panic",
            "finish_mode",
        ])?;
        if let Some(why) = options.string("reject")? {
            return Err(why.to_string().into());
        }
        if let Some(key) = options.string("reject_key")? {
            return Err(
                OptionError::new(key, format!("option `{key}` is refused on purpose")).into(),
            );
        }
        if options.boolean("create_panic")? == Some(true) {
            panic!("deliberate panic in create");
        }
        Ok(Misbehave {
            victim: options.string("victim")?.unwrap_or("").as_bytes().to_vec(),
            mode: options.string("mode")?.unwrap_or("panic").to_string(),
            finish_mode: options.string("finish_mode")?.unwrap_or("").to_string(),
        })
    }

    fn analyze(
        &self,
        process: &Process<'_>,
        regions: &Regions<'_>,
        host: &mut Host<'_>,
    ) -> vmpipe_plugin::Result {
        for i in 0..regions.len() {
            host.set(i, INDEX, i as u64)?;
        }
        host.row(CALLS, [Value::U64(regions.len() as u64)])?;
        if process.name() != self.victim.as_slice() {
            return Ok(());
        }
        // The refused emissions are ignored here: the host records them itself.
        match self.mode.as_str() {
            "panic" => panic!("deliberate panic on pid {}", process.pid()),
            "fail" => return Err(format!("deliberate failure on pid {}", process.pid()).into()),
            "bad-column" => {
                let _ = host.set_value(0, 7, Value::U64(1));
            }
            "bad-type" => {
                let _ = host.set_value(0, 0, Value::Text("text"));
            }
            "bad-type-returned" => {
                host.set_value(0, 0, Value::Text("text"))?;
            }
            "bad-region" => {
                let _ = host.set(regions.len(), INDEX, 1u64);
            }
            "bad-table" => {
                let _ = host.row_values(5, &[Value::U64(1)]);
            }
            "bad-arity" => {
                let _ = host.row_values(0, &[Value::U64(1), Value::U64(2)]);
            }
            "run-row-now" => {
                let _ = host.row(TOTALS, [Value::U64(1)]);
            }
            "fake-refusal" => {
                host.warn("deliberate warning before a refusal that did not happen");
                return Err(vmpipe_plugin::EmitError(vmpipe_plugin::abi::status::BAD_TYPE).into());
            }
            "info" => {
                host.info(&format!("deliberate info on pid {}", process.pid()));
                host.warn(&format!("deliberate warning on pid {}", process.pid()));
            }
            "flood" => {
                for i in 0..20_000_000u64 {
                    if host.row(CALLS, [Value::U64(i)]).is_err() {
                        break;
                    }
                }
            }
            other => return Err(format!("unknown mode {other}").into()),
        }
        Ok(())
    }

    fn finish(&self, host: &mut Host<'_>) -> vmpipe_plugin::Result {
        if self.finish_mode == "bad-table" {
            host.row(CALLS, [Value::U64(0)])?;
        }
        Ok(())
    }
}

vmpipe_plugin::export!(Misbehave);
