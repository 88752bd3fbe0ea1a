//! The glue between the C ABI and an [`Analyzer`]: the `extern "C"` entry points the
//! [`crate::export!`] macro puts in a plugin's [`PluginV1`], each one catching panics.

use std::any::Any;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::abi::{
    self, ColumnV1, EntryV1, HostV1, PluginV1, ProcessV1, RegionV1, StaticPlugin, StrV1, TableV1,
};
use crate::schema::{Column, Scope};
use crate::{Analyzer, Host, Options, Process, Region};

fn text(s: &'static str) -> StrV1 {
    StrV1::new(s.as_bytes())
}

fn columns(cols: &'static [Column]) -> &'static [ColumnV1] {
    let v: Vec<ColumnV1> = cols
        .iter()
        .map(|c| ColumnV1 {
            name: text(c.name),
            kind: c.ty.code(),
            description: text(c.description),
        })
        .collect();
    // Built once per library (the macro caches the result) and never freed: the host reads it
    // for as long as the library is loaded, which is for ever.
    Box::leak(v.into_boxed_slice())
}

/// Builds the plugin table for `A`. Called once by the exported entry function.
pub fn describe<A: Analyzer>() -> StaticPlugin {
    let schema = A::SCHEMA;
    let region_columns = columns(schema.region_columns);
    let tables: Vec<TableV1> = schema
        .tables
        .iter()
        .map(|t| {
            let cols = columns(t.columns);
            TableV1 {
                name: text(t.name),
                description: text(t.description),
                scope: match t.scope {
                    Scope::Process => abi::scope::PROCESS,
                    Scope::Run => abi::scope::RUN,
                },
                columns: cols.as_ptr(),
                columns_len: cols.len(),
            }
        })
        .collect();
    let tables: &'static [TableV1] = Box::leak(tables.into_boxed_slice());
    StaticPlugin(PluginV1 {
        abi_major: abi::ABI_MAJOR,
        abi_minor: abi::ABI_MINOR,
        struct_size: std::mem::size_of::<PluginV1>(),
        name: text(schema.name),
        version: text(schema.version),
        description: text(schema.description),
        region_columns: region_columns.as_ptr(),
        region_columns_len: region_columns.len(),
        tables: tables.as_ptr(),
        tables_len: tables.len(),
        create: create::<A>,
        analyze: analyze::<A>,
        finish: finish::<A>,
        destroy: destroy::<A>,
    })
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_string());
    format!("the analyzer panicked: {what}")
}

/// Runs `f`, turning an error or a panic into a status with its message given to the host.
fn guarded(host: &mut Host<'_>, f: impl FnOnce(&mut Host<'_>) -> crate::Result) -> u32 {
    let outcome = catch_unwind(AssertUnwindSafe(|| f(&mut *host)));
    match outcome {
        Ok(Ok(())) => abi::status::OK,
        Ok(Err(e)) => {
            host.error(&e.to_string());
            abi::status::ERROR
        }
        Err(payload) => {
            host.error(&panic_message(payload));
            abi::status::PANIC
        }
    }
}

unsafe extern "C" fn create<A: Analyzer>(
    options: *const EntryV1,
    options_len: usize,
    host: *const HostV1,
    state: *mut *mut c_void,
) -> u32 {
    if host.is_null() || state.is_null() {
        return abi::status::ERROR;
    }
    // SAFETY: the host passes its valid table for this call.
    let mut host = unsafe { Host::new(&*host) };
    guarded(&mut host, |_| {
        // SAFETY: the host passes `options_len` entries valid for this call.
        let options = unsafe { Options::from_raw(options, options_len) };
        let analyzer = A::create(&options)?;
        let boxed: *mut A = Box::into_raw(Box::new(analyzer));
        // SAFETY: `state` is a valid out-pointer given by the host.
        unsafe { *state = boxed.cast() };
        Ok(())
    })
}

unsafe extern "C" fn analyze<A: Analyzer>(
    state: *mut c_void,
    process: *const ProcessV1,
    regions: *const RegionV1,
    regions_len: usize,
    host: *const HostV1,
) -> u32 {
    if state.is_null() || process.is_null() || host.is_null() {
        return abi::status::ERROR;
    }
    // SAFETY: the host passes its valid table for this call.
    let mut host = unsafe { Host::new(&*host) };
    // SAFETY: `state` came from `create::<A>` and is only shared (`&A`, and `A: Sync`).
    let analyzer = unsafe { &*(state as *const A) };
    // SAFETY: the host lends the process and regions for the duration of this call.
    let process = unsafe { Process::new(&*process) };
    // SAFETY: as above.
    let regions = unsafe { Region::slice(regions, regions_len) };
    guarded(&mut host, |h| analyzer.analyze(&process, regions, h))
}

unsafe extern "C" fn finish<A: Analyzer>(state: *mut c_void, host: *const HostV1) -> u32 {
    if state.is_null() || host.is_null() {
        return abi::status::ERROR;
    }
    // SAFETY: the host passes its valid table for this call.
    let mut host = unsafe { Host::new(&*host) };
    // SAFETY: `state` came from `create::<A>`.
    let analyzer = unsafe { &*(state as *const A) };
    guarded(&mut host, |h| analyzer.finish(h))
}

unsafe extern "C" fn destroy<A: Analyzer>(state: *mut c_void) {
    if state.is_null() {
        return;
    }
    // SAFETY: `state` came from `Box::into_raw` in `create::<A>` and the host destroys it once.
    let boxed = unsafe { Box::from_raw(state as *mut A) };
    // A panicking destructor must not unwind into the host.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
}

/// Exports an [`Analyzer`] as a vmpipe plugin: defines the entry function the host looks up.
///
/// * `export!(MyAnalyzer);` exports `vmpipe_plugin_v1` — for a plugin built on its own.
/// * `export!(MyAnalyzer, my_name);` exports `vmpipe_plugin_v1_my_name` — for a crate that is
///   also linked statically into one program with other plugins (vmpipe's built-ins), where
///   one shared symbol name would clash. vmpipe accepts either name.
///
/// Either way the crate gets a Rust function `vmpipe_plugin_v1()` returning the plugin table,
/// which a program linking the crate statically calls directly.
#[macro_export]
macro_rules! export {
    ($analyzer:ty) => {
        /// The plugin's entry point: a pointer to its static description (C ABI).
        #[unsafe(export_name = "vmpipe_plugin_v1")]
        pub extern "C" fn vmpipe_plugin_v1() -> *const $crate::abi::PluginV1 {
            static PLUGIN: ::std::sync::OnceLock<$crate::abi::StaticPlugin> =
                ::std::sync::OnceLock::new();
            &PLUGIN
                .get_or_init(|| $crate::export::describe::<$analyzer>())
                .0
        }
    };
    ($analyzer:ty, $suffix:ident) => {
        /// The plugin's entry point: a pointer to its static description (C ABI).
        #[unsafe(export_name = concat!("vmpipe_plugin_v1_", stringify!($suffix)))]
        pub extern "C" fn vmpipe_plugin_v1() -> *const $crate::abi::PluginV1 {
            static PLUGIN: ::std::sync::OnceLock<$crate::abi::StaticPlugin> =
                ::std::sync::OnceLock::new();
            &PLUGIN
                .get_or_init(|| $crate::export::describe::<$analyzer>())
                .0
        }
    };
}
