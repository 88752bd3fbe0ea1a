//! The glue between the C ABI and an [`Analyzer`]: the `extern "C"` entry points the
//! [`crate::export!`] macro puts in a plugin's [`PluginV2`], each one catching panics and
//! saying where they happened.

// An FFI module: the workspace denies unsafe code everywhere else.
#![allow(unsafe_code)]

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::abi::{
    self, AnalyzeV2, ColumnV2, CreateV2, HostV2, PluginV2, ReadV2, StaticPlugin, StrV2, TableV2,
};
use crate::host::EmitError;
use crate::options::OptionError;
use crate::schema::{Column, Scope};
use crate::{Analyzer, Host, Options, Process, Regions};

fn text(s: &'static str) -> StrV2 {
    StrV2::new(s.as_bytes())
}

/// Built once per library (the macro caches the result) and never freed: the host reads it
/// for as long as the library is loaded, which is for ever.
fn leak<T>(v: Vec<T>) -> &'static [T] {
    Box::leak(v.into_boxed_slice())
}

fn columns(cols: &'static [Column]) -> &'static [ColumnV2] {
    leak(
        cols.iter()
            .map(|c| ColumnV2 {
                name: text(c.name),
                kind: c.ty.code(),
                description: text(c.description),
            })
            .collect(),
    )
}

/// How the plugin crate was built, as the [`crate::export!`] macro sees it there.
#[derive(Clone, Copy, Debug)]
pub struct Build {
    /// `cfg!(panic = "unwind")` in the plugin crate.
    pub unwind: bool,
}

/// Builds the plugin table for `A`. Called once by the exported entry function.
pub fn describe<A: Analyzer>(build: Build) -> StaticPlugin {
    install_panic_hook();
    let schema = A::SCHEMA;
    let region_columns = columns(schema.region_columns);
    let tables = leak(
        schema
            .tables
            .iter()
            .map(|t| {
                let cols = columns(t.columns);
                TableV2 {
                    name: text(t.name),
                    description: text(t.description),
                    scope: match t.scope {
                        Scope::Process => abi::scope::PROCESS,
                        Scope::Run => abi::scope::RUN,
                    },
                    columns: cols.as_ptr(),
                    columns_len: cols.len(),
                    column_size: size_of::<ColumnV2>(),
                }
            })
            .collect(),
    );
    let reads = leak(
        schema
            .reads
            .iter()
            .map(|r| ReadV2 {
                analyzer: text(r.analyzer),
                column: text(r.column),
                kind: r.ty.code(),
            })
            .collect(),
    );
    StaticPlugin(PluginV2 {
        abi_major: abi::ABI_MAJOR,
        abi_minor: abi::ABI_MINOR,
        struct_size: size_of::<PluginV2>(),
        requires_minor: schema.requires_minor,
        panic_strategy: if build.unwind {
            abi::panic_strategy::UNWIND
        } else {
            abi::panic_strategy::ABORT
        },
        name: text(schema.name),
        version: text(schema.version),
        description: text(schema.description),
        region_columns: region_columns.as_ptr(),
        region_columns_len: region_columns.len(),
        column_size: size_of::<ColumnV2>(),
        tables: tables.as_ptr(),
        tables_len: tables.len(),
        table_size: size_of::<TableV2>(),
        reads: reads.as_ptr(),
        reads_len: reads.len(),
        read_size: size_of::<ReadV2>(),
        create: Some(create::<A>),
        analyze: Some(analyze::<A>),
        finish: Some(finish::<A>),
        destroy: Some(destroy::<A>),
    })
}

thread_local! {
    /// True while this thread runs analyzer code on the host's behalf.
    static IN_CALL: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic of an analyzer call on this thread happened.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Chains a panic hook that, inside an analyzer call, records where the panic happened (for
/// the error row) instead of printing it; outside one it defers to the hook already set.
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CALL.with(Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                LAST_PANIC.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".to_string());
    match LAST_PANIC.with(|p| p.borrow_mut().take()) {
        Some(at) => format!("panicked at {at}: {what}"),
        None => format!("panicked: {what}"),
    }
}

/// Runs `f`, turning an error or a panic into a status with its message given to the host.
fn guarded(host: &mut Host<'_>, f: impl FnOnce(&mut Host<'_>) -> crate::Result) -> u32 {
    IN_CALL.with(|c| c.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(|| f(&mut *host)));
    IN_CALL.with(|c| c.set(false));
    match outcome {
        Ok(Ok(())) => abi::status::OK,
        // The host recorded the refusal already: one row, not two. The message is for a
        // refusal the host did not make (an `EmitError` built by hand, or the SDK's own).
        Ok(Err(e)) if e.downcast_ref::<EmitError>().is_some() => {
            host.error(&e.to_string());
            abi::status::REFUSED
        }
        Ok(Err(e)) => {
            if let Some(o) = e.downcast_ref::<OptionError>() {
                host.error_option(&o.key);
            }
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
    call: *const CreateV2,
    host: *const HostV2,
    state: *mut *mut c_void,
) -> u32 {
    // SAFETY: the host passes its valid table for this call.
    let Some(mut host) = (unsafe { Host::new(host) }) else {
        return abi::status::BAD_SIZE;
    };
    if call.is_null() || state.is_null() {
        host.error("the host passed no create call or state pointer");
        return abi::status::ERROR;
    }
    // SAFETY: the host passes a valid call; `struct_size` is its first field.
    let size = unsafe { call.cast::<usize>().read_unaligned() };
    // SAFETY: `size` bytes of the call are readable.
    let Some(call) = (unsafe { abi::read_element(call, 0, size) }) else {
        return abi::status::BAD_SIZE;
    };
    guarded(&mut host, |_| {
        // SAFETY: the host passes `options_len` entries valid for this call.
        let options = unsafe { Options::from_raw(call.options, call.options_len, call.entry_size) };
        let analyzer = A::create(&options)?;
        let boxed: *mut A = Box::into_raw(Box::new(analyzer));
        // SAFETY: `state` is a valid out-pointer given by the host.
        unsafe { *state = boxed.cast() };
        Ok(())
    })
}

unsafe extern "C" fn analyze<A: Analyzer>(
    state: *mut c_void,
    call: *const AnalyzeV2,
    host: *const HostV2,
) -> u32 {
    // SAFETY: the host passes its valid table for this call.
    let Some(mut host) = (unsafe { Host::new(host) }) else {
        return abi::status::BAD_SIZE;
    };
    if state.is_null() || call.is_null() {
        host.error("the host passed no state or call");
        return abi::status::ERROR;
    }
    // SAFETY: as in `create`.
    let size = unsafe { call.cast::<usize>().read_unaligned() };
    // SAFETY: as in `create`.
    let Some(call) = (unsafe { abi::read_element(call, 0, size) }) else {
        return abi::status::BAD_SIZE;
    };
    // SAFETY: `state` came from `create::<A>` and is only shared (`&A`, and `A: Sync`).
    let analyzer = unsafe { &*(state as *const A) };
    // SAFETY: the host lends the process, regions and inputs for the duration of this call.
    let viewed = unsafe {
        Process::new(call.process, call.process_size)
            .and_then(|p| Regions::new(&call).map(|r| (p, r)))
    };
    let (process, regions) = match viewed {
        Ok(v) => v,
        Err(e) => {
            host.error(&e.to_string());
            return abi::status::BAD_SIZE;
        }
    };
    guarded(&mut host, |h| analyzer.analyze(&process, &regions, h))
}

unsafe extern "C" fn finish<A: Analyzer>(state: *mut c_void, host: *const HostV2) -> u32 {
    // SAFETY: the host passes its valid table for this call.
    let Some(mut host) = (unsafe { Host::new(host) }) else {
        return abi::status::BAD_SIZE;
    };
    if state.is_null() {
        return abi::status::ERROR;
    }
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
    IN_CALL.with(|c| c.set(true));
    let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
    IN_CALL.with(|c| c.set(false));
}

/// Exports an [`Analyzer`] as a vmpipe plugin: defines the entry function the host looks up.
///
/// * `export!(MyAnalyzer);` exports `vmpipe_plugin_v2` — for a plugin built on its own.
/// * `export!(MyAnalyzer, my_name);` exports `vmpipe_plugin_v2_my_name` — for a crate that is
///   also linked statically into one program with other plugins (vmpipe's built-ins), where
///   one shared symbol name would clash. vmpipe accepts either name.
///
/// Either way the crate gets a Rust function `vmpipe_plugin_v2()` returning the plugin table,
/// which a program linking the crate statically calls directly. The macro also records the
/// crate's panic strategy: vmpipe refuses a library built with `panic = "abort"`, whose first
/// panic would end the whole sweep.
#[macro_export]
macro_rules! export {
    ($analyzer:ty) => {
        /// The plugin's entry point: a pointer to its static description (C ABI).
        #[unsafe(export_name = "vmpipe_plugin_v2")]
        pub extern "C" fn vmpipe_plugin_v2() -> *const $crate::abi::PluginV2 {
            $crate::__export_body!($analyzer)
        }
    };
    ($analyzer:ty, $suffix:ident) => {
        /// The plugin's entry point: a pointer to its static description (C ABI).
        #[unsafe(export_name = concat!("vmpipe_plugin_v2_", stringify!($suffix)))]
        pub extern "C" fn vmpipe_plugin_v2() -> *const $crate::abi::PluginV2 {
            $crate::__export_body!($analyzer)
        }
    };
}

/// The body of the entry function (shared by both forms of [`export!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __export_body {
    ($analyzer:ty) => {{
        static PLUGIN: ::std::sync::OnceLock<$crate::abi::StaticPlugin> =
            ::std::sync::OnceLock::new();
        &PLUGIN
            .get_or_init(|| {
                $crate::export::describe::<$analyzer>($crate::export::Build {
                    unwind: cfg!(panic = "unwind"),
                })
            })
            .0
    }};
}
