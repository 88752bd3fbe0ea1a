//! The analyzers linked into the vmpipe binary. Each is also built as a loadable library and
//! goes through exactly the same ABI: the binary only skips `dlopen`.

use vmpipe_plugin::abi::PluginV2;

/// One built-in analyzer.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    /// The name a pipeline's `use` gives (the plugin's own declared name).
    pub name: &'static str,
    /// Its entry function.
    pub entry: extern "C" fn() -> *const PluginV2,
}

/// Every built-in analyzer. Each crate is named `vmpipe-NAME` and its library `NAME` (with
/// `_` for `-`), which the tests rely on to build its loadable form.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "image-attribution",
        entry: image_attribution::vmpipe_plugin_v2,
    },
    Builtin {
        name: "guard-detection",
        entry: guard_detection::vmpipe_plugin_v2,
    },
    Builtin {
        name: "share-modes",
        entry: share_modes::vmpipe_plugin_v2,
    },
    Builtin {
        name: "malloc-zones",
        entry: malloc_zones::vmpipe_plugin_v2,
    },
];

/// The built-in called `name`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The names of every built-in.
pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|b| b.name).collect()
}
