//! One created analyzer: the plugin's entry points and its state, and the calls into them.

use std::ffi::c_void;

use vmpipe_plugin::abi::{PluginV1, ProcessV1, RegionV1, status};

use super::host::CallCtx;
use super::marshal::OptionsView;

/// A created analyzer.
pub struct Instance {
    plugin: &'static PluginV1,
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
}

fn outcome(st: u32, ctx: &mut CallCtx<'_>) -> Result<(), CallFailure> {
    if st == status::OK {
        return Ok(());
    }
    let message = ctx.error.take().unwrap_or_else(|| match st {
        status::PANIC => "the analyzer panicked".to_string(),
        other => format!("the analyzer failed with status {other} and no message"),
    });
    Err(CallFailure { message })
}

impl Instance {
    /// Calls the plugin's `create` with `options`.
    pub fn create(
        plugin: &'static PluginV1,
        options: &toml::Table,
        ctx: &mut CallCtx<'_>,
    ) -> Result<Instance, CallFailure> {
        let view = OptionsView::new(options);
        let entries = view.entries();
        let host = ctx.host();
        let mut state: *mut c_void = std::ptr::null_mut();
        // SAFETY: `plugin` passed the schema check; the options view, the host table and the
        // context it points to live across the call; `state` is a valid out-pointer.
        let st = unsafe { (plugin.create)(entries.as_ptr(), entries.len(), &host, &mut state) };
        outcome(st, ctx)?;
        if state.is_null() {
            return Err(CallFailure {
                message: "the analyzer reported success but created no state".into(),
            });
        }
        Ok(Instance { plugin, state })
    }

    /// Calls `analyze` for one process.
    pub fn analyze(
        &self,
        process: &ProcessV1,
        regions: &[RegionV1],
        ctx: &mut CallCtx<'_>,
    ) -> Result<(), CallFailure> {
        let host = ctx.host();
        // SAFETY: the state came from `create`; the process and region views borrow data that
        // outlives the call; the host table and its context live across it.
        let st = unsafe {
            (self.plugin.analyze)(self.state, process, regions.as_ptr(), regions.len(), &host)
        };
        outcome(st, ctx)
    }

    /// Calls `finish`.
    pub fn finish(&self, ctx: &mut CallCtx<'_>) -> Result<(), CallFailure> {
        let host = ctx.host();
        // SAFETY: as for `analyze`.
        let st = unsafe { (self.plugin.finish)(self.state, &host) };
        outcome(st, ctx)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: the state came from `create` and is destroyed exactly once, here, after every
        // other call has returned.
        unsafe { (self.plugin.destroy)(self.state) }
    }
}
