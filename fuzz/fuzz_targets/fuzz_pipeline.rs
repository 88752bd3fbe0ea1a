//! The pipeline file loader: TOML checked strictly against vmpipe's schema.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vmpipe::pipeline;

/// Finds the built-in analyzers and a pretend plugin; refuses every other name, as a resolver
/// that searched the plugin directories in vain would.
fn resolve(name: &str) -> Result<(), String> {
    match name {
        "guard-detection" | "image-attribution" | "share-modes" | "malloc-zones" | "malfind" => {
            Ok(())
        }
        _ => Err(format!("no analyzer {name:?}")),
    }
}

fuzz_target!(|data: &[u8]| {
    match pipeline::parse(Path::new("fuzz.toml"), data, &resolve) {
        Ok(p) => {
            let _ = format!("{p:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
