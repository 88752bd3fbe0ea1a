//! The data model every source produces and every analyzer and sink consumes.
//!
//! A source turns one process into a [`ProcessInfo`] plus its [`Region`] records. Figures a
//! source cannot know are `None` (absent), never zero: a `maps`-only sweep has no residency, a
//! vmmap report has no `Pss`.

mod analysis;
pub mod escape;
mod kind;
mod perms;
mod process;
mod region;
pub mod schema;
mod usage;

pub use analysis::{Analysis, Cell, TableRow};
pub use kind::RegionKind;
pub use perms::Perms;
pub use process::{ProcessInfo, ProcessStatus};
pub use region::{DELETED_SUFFIX, Region, Reported};
pub use usage::{USAGE_FIELDS, Usage, UsageField, UsageSpec};
