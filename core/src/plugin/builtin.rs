//! The analyzers linked into the vmpipe binary. Each is also built as a loadable library and
//! goes through exactly the same ABI: the binary only skips `dlopen`.

use vmpipe_plugin::abi::PluginV1;

/// One built-in analyzer.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    /// The name a pipeline's `use` gives (the plugin's own declared name).
    pub name: &'static str,
    /// Its entry function.
    pub entry: extern "C" fn() -> *const PluginV1,
}

/// Every built-in analyzer. (None yet: the four built-ins arrive with their own issues.)
pub const BUILTINS: &[Builtin] = &[];

/// The built-in called `name`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The names of every built-in.
pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|b| b.name).collect()
}
