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
//!   host kept them all).
//!
//! Option `reject = "why"` makes `create` refuse the options with that message.

use vmpipe_plugin::{
    Analyzer, Column, ColumnType, Host, Options, Process, Region, Schema, Scope, Table, Value,
};

pub struct Misbehave {
    victim: Vec<u8>,
    mode: String,
}

impl Analyzer for Misbehave {
    const SCHEMA: Schema = Schema {
        name: "misbehave",
        version: "0.1.0",
        description: "misbehaves on purpose (tests)",
        region_columns: &[Column::new("index", ColumnType::U64, "the region's index")],
        tables: &[
            Table {
                name: "calls",
                description: "one row per process analyzed",
                scope: Scope::Process,
                columns: &[Column::new("regions", ColumnType::U64, "regions seen")],
            },
            Table {
                name: "totals",
                description: "run-wide",
                scope: Scope::Run,
                columns: &[Column::new("processes", ColumnType::U64, "processes seen")],
            },
        ],
    };

    fn create(options: &Options) -> vmpipe_plugin::Result<Self> {
        options.only(&["victim", "mode", "reject"])?;
        if let Some(why) = options.string("reject")? {
            return Err(why.to_string().into());
        }
        Ok(Misbehave {
            victim: options.string("victim")?.unwrap_or("").as_bytes().to_vec(),
            mode: options.string("mode")?.unwrap_or("panic").to_string(),
        })
    }

    fn analyze(
        &self,
        process: &Process<'_>,
        regions: &[Region],
        host: &mut Host<'_>,
    ) -> vmpipe_plugin::Result {
        for i in 0..regions.len() {
            host.set(i, 0, i as u64)?;
        }
        host.row(0, &[Value::U64(regions.len() as u64)])?;
        if process.name() != self.victim.as_slice() {
            return Ok(());
        }
        // The refused emissions are ignored here: the host records them itself.
        match self.mode.as_str() {
            "panic" => panic!("deliberate panic on pid {}", process.pid()),
            "fail" => return Err(format!("deliberate failure on pid {}", process.pid()).into()),
            "bad-column" => {
                let _ = host.set(0, 7, 1u64);
            }
            "bad-type" => {
                let _ = host.set(0, 0, "text");
            }
            "bad-region" => {
                let _ = host.set(regions.len(), 0, 1u64);
            }
            "bad-table" => {
                let _ = host.row(5, &[Value::U64(1)]);
            }
            "bad-arity" => {
                let _ = host.row(0, &[Value::U64(1), Value::U64(2)]);
            }
            "run-row-now" => {
                let _ = host.row(1, &[Value::U64(1)]);
            }
            "flood" => {
                for i in 0..20_000_000u64 {
                    if host.row(0, &[Value::U64(i)]).is_err() {
                        break;
                    }
                }
            }
            other => return Err(format!("unknown mode {other}").into()),
        }
        Ok(())
    }
}

vmpipe_plugin::export!(Misbehave);
