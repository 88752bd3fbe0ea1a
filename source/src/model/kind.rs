//! What backs a region: the SDK's [`RegionKind`] (one classification for vmpipe's sources,
//! the plugin ABI's `region_kind` codes and the plugin test harness; its table of the
//! kernel's names is in `vmpipe_plugin::RegionKind`'s module).

pub use vmpipe_plugin::RegionKind;
