//! One created analyzer: the plugin's entry points and its state, and the calls into them.

// An FFI module: the workspace denies unsafe code everywhere else.
#![allow(unsafe_code)]

use std::ffi::c_void;

use vmpipe_plugin::abi::{
    AnalyzeV2, CreateV2, EntryV2, InputV2, PluginV2, ProcessV2, RegionV2, status,
};

use super::host::CallCtx;
use super::marshal::OptionsView;

/// A created analyzer.
pub struct Instance {
    plugin: PluginV2,
    state: *mut c_void,
}

// SAFETY: the ABI requires `analyze` to be callable from several threads at once with the same
// state (the SDK enforces `Analyzer: Send + Sync`), and `finish`/`destroy` are called once,
// after every `analyze` has returned.
unsafe impl Send for Instance {}
// SAFETY: as above.
unsafe impl Sync for Instance {}

/// What a failing call said.
pub struct CallFailure {
    /// The plugin's message.
    pub message: String,
    /// The call panicked.
    pub panicked: bool,
    /// The option the failure is about (`create` only).
    pub option: Option<String>,
    /// The host already recorded why (a refused value): nothing more to report.
    pub reported: bool,
}

fn outcome(st: u32, ctx: &mut CallCtx<'_>) -> Result<(), CallFailure> {
    if st == status::OK {
        return Ok(());
    }
    let given = ctx.error.take();
    let message = match (st, given) {
        // Every panic message reads "panicked…": the Rust SDK's already does ("panicked at
        // FILE:LINE:COL: …"); another plugin's is prefixed.
        (status::PANIC, Some(m)) if m.starts_with("panicked") => m,
        (status::PANIC, Some(m)) => format!("panicked: {m}"),
        (status::PANIC, None) => "panicked".to_string(),
        (_, Some(m)) => m,
        (status::REFUSED, None) => "stopped after a refused value".to_string(),
        (other, None) => format!("failed with status {other} and no message"),
    };
    Err(CallFailure {
        message,
        panicked: st == status::PANIC,
        option: ctx.error_option.take(),
        reported: st == status::REFUSED && ctx.refused,
    })
}

/// The entry points of a checked table (`schema::table_of` refused a table without them).
fn entry<T>(f: Option<T>) -> Result<T, CallFailure> {
    f.ok_or_else(|| CallFailure {
        message: "the plugin table lacks this entry point".into(),
        panicked: false,
        option: None,
        reported: false,
    })
}

impl Instance {
    /// Calls the plugin's `create` with `options`.
    pub fn create(
        plugin: &PluginV2,
        options: &toml::Table,
        ctx: &mut CallCtx<'_>,
    ) -> Result<Instance, CallFailure> {
        let view = OptionsView::new(options);
        let entries = view.entries();
        let call = CreateV2 {
            struct_size: size_of::<CreateV2>(),
            options: entries.as_ptr(),
            options_len: entries.len(),
            entry_size: size_of::<EntryV2>(),
        };
        let host = ctx.host();
        let mut state: *mut c_void = std::ptr::null_mut();
        let create = entry(plugin.create)?;
        // SAFETY: `plugin` passed the schema check; the options view, the call, the host table
        // and the context it points to live across the call; `state` is a valid out-pointer.
        let st = unsafe { create(&call, &host, &mut state) };
        let done = outcome(st, ctx);
        // The contract: `destroy` follows every non-null state, whether `create` succeeded.
        let instance = (!state.is_null()).then_some(Instance {
            plugin: *plugin,
            state,
        });
        done?;
        instance.ok_or_else(|| CallFailure {
            message: "reported success but created no state".into(),
            panicked: false,
            option: None,
            reported: false,
        })
    }

    /// Calls `analyze` for one process; `inputs` are the values of the columns it reads.
    pub fn analyze(
        &self,
        process: &ProcessV2,
        regions: &[RegionV2],
        inputs: &[InputV2],
        ctx: &mut CallCtx<'_>,
    ) -> Result<(), CallFailure> {
        let call = AnalyzeV2 {
            struct_size: size_of::<AnalyzeV2>(),
            process,
            process_size: size_of::<ProcessV2>(),
            regions: regions.as_ptr(),
            regions_len: regions.len(),
            region_size: size_of::<RegionV2>(),
            inputs: inputs.as_ptr(),
            inputs_len: inputs.len(),
            input_size: size_of::<InputV2>(),
        };
        let host = ctx.host();
        let analyze = entry(self.plugin.analyze)?;
        // SAFETY: the state came from `create`; the call borrows data that outlives it; the
        // host table and its context live across it.
        let st = unsafe { analyze(self.state, &call, &host) };
        outcome(st, ctx)
    }

    /// Calls `finish`.
    pub fn finish(&self, ctx: &mut CallCtx<'_>) -> Result<(), CallFailure> {
        let host = ctx.host();
        let finish = entry(self.plugin.finish)?;
        // SAFETY: as for `analyze`.
        let st = unsafe { finish(self.state, &host) };
        outcome(st, ctx)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(destroy) = self.plugin.destroy {
            // SAFETY: the state came from `create` and is destroyed exactly once, here, after
            // every other call has returned.
            unsafe { destroy(self.state) }
        }
    }
}
