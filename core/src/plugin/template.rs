//! `vmpipe plugin new`: the starting files of a new analyzer plugin — a standalone Rust crate
//! (or a C directory) that builds outside this workspace, with a test and a pipeline.
//!
//! The templates are in `core/templates/` (embedded in the binary); `{{name}}`-style
//! placeholders are filled from the plugin's name. The new directory is written under a
//! temporary name through directory descriptors (`mkdirat`, `openat(O_CREAT | O_EXCL |
//! O_NOFOLLOW)`) and renamed into place at the end (`renameat2(RENAME_NOREPLACE)`), so it is
//! there whole or not at all, and nothing is written through a link someone else made.

use std::io::Write as _;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, RenameFlags};
use thiserror::Error;
use vmpipe_plugin::abi;

use crate::fsat::{self, LinkRule, ResolveError};

/// The language of the new plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// A Rust crate on the SDK (`vmpipe-plugin`), with a test on its harness.
    Rust,
    /// A C file on the generated header, with a Makefile whose `test` runs it.
    C,
}

/// Where the new Rust crate takes the SDK from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sdk {
    /// A path to the SDK crate (`plugins/sdk` of a vmpipe checkout).
    Path(PathBuf),
    /// A version requirement (`2.0`), for an SDK from a registry.
    Version(String),
}

impl Sdk {
    /// The SDK this vmpipe was built from, when its source is still where it was built
    /// (a checkout); else the version this vmpipe speaks.
    pub fn default_for_this_build() -> Sdk {
        let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk");
        match std::fs::canonicalize(&here) {
            Ok(p) if p.join("Cargo.toml").is_file() => Sdk::Path(p),
            _ => Sdk::Version(format!("{}.{}", abi::ABI_MAJOR, abi::ABI_MINOR)),
        }
    }

    /// Reads `--sdk`: a version (`2.0`, `2`) or a path.
    pub fn parse(s: &str) -> Sdk {
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.') {
            Sdk::Version(s.to_string())
        } else {
            Sdk::Path(PathBuf::from(s))
        }
    }

    fn dependency(&self, features: &str) -> Result<String, TemplateError> {
        Ok(match self {
            Sdk::Path(p) => {
                let abs = std::fs::canonicalize(p).map_err(|source| TemplateError::Sdk {
                    path: p.clone(),
                    source,
                })?;
                let s = abs
                    .to_str()
                    .ok_or_else(|| TemplateError::SdkPath(abs.clone()))?;
                format!("{{ path = {}{features} }}", toml_string(s))
            }
            Sdk::Version(v) => format!("{{ version = {}{features} }}", toml_string(v)),
        })
    }
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Why the plugin could not be created.
#[derive(Debug, Error)]
pub enum TemplateError {
    /// The name breaks the rules for analyzer names.
    #[error(
        "{0:?} is not a plugin name: lowercase ASCII letters, digits, `-` and `_`, starting with a letter, at most 64"
    )]
    Name(String),
    /// The directory to create it in could not be opened.
    #[error(transparent)]
    Dir(#[from] ResolveError),
    /// Something of that name is there already.
    #[error("{0}: already exists (choose another name, or --dir)")]
    Exists(PathBuf),
    /// Writing failed.
    #[error("{path}: {source}")]
    Write {
        /// What was being written.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The SDK path given cannot be used.
    #[error("SDK {path}: {source}")]
    Sdk {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The SDK path is not UTF-8 (Cargo.toml cannot name it).
    #[error("SDK {0}: not UTF-8, so Cargo.toml cannot name it")]
    SdkPath(PathBuf),
}

/// The files of one template: `(path inside the new directory, text)`.
type Files = &'static [(&'static str, &'static str)];

const RUST: Files = &[
    (
        "Cargo.toml",
        include_str!("../../templates/plugin-rust/Cargo.toml"),
    ),
    (
        "src/lib.rs",
        include_str!("../../templates/plugin-rust/src/lib.rs"),
    ),
    (
        "pipeline.toml",
        include_str!("../../templates/plugin-rust/pipeline.toml"),
    ),
];

const C: Files = &[
    (
        "plugin.c",
        include_str!("../../templates/plugin-c/plugin.c"),
    ),
    (
        "Makefile",
        include_str!("../../templates/plugin-c/Makefile"),
    ),
    (
        "pipeline.toml",
        include_str!("../../templates/plugin-c/pipeline.toml"),
    ),
];

/// The SDK's generated C header, copied next to a C plugin's source.
const C_HEADER: &str = include_str!("../../../plugins/sdk/include/vmpipe_plugin.h");

/// True for a name vmpipe accepts as an analyzer's (the SDK and the host check the same).
fn valid(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// `my-plugin` → `MyPlugin`.
fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The template's text with its placeholders filled.
fn fill(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// Creates `dir/NAME` from the template for `lang`; returns its path.
pub fn create(name: &str, lang: Lang, dir: &Path, sdk: &Sdk) -> Result<PathBuf, TemplateError> {
    if !valid(name) {
        return Err(TemplateError::Name(name.to_string()));
    }
    let krate = name.replace('-', "_");
    let ty = type_name(name);
    let major = abi::ABI_MAJOR.to_string();
    let minor = abi::ABI_MINOR.to_string();
    let (files, deps): (Files, [String; 2]) = match lang {
        Lang::Rust => (
            RUST,
            [
                sdk.dependency("")?,
                sdk.dependency(", features = [\"testing\"]")?,
            ],
        ),
        Lang::C => (C, [String::new(), String::new()]),
    };
    let values = [
        ("name", name),
        ("crate", krate.as_str()),
        ("prefix", krate.as_str()),
        ("type", ty.as_str()),
        ("sdk", deps[0].as_str()),
        ("sdk_testing", deps[1].as_str()),
        ("abi_major", major.as_str()),
        ("abi_minor", minor.as_str()),
    ];
    let target = dir.join(name);
    let parent = fsat::resolve_dir(dir, true, LinkRule::for_this_process())?;
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: rustix::io::Errno| TemplateError::Write {
            path,
            source: e.into(),
        }
    };
    match rustix::fs::statat(&parent, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => return Err(TemplateError::Exists(target)),
        Err(rustix::io::Errno::NOENT) => {}
        Err(e) => return Err(write_err(&target)(e)),
    }
    let temp = format!(".{name}.new-{}", std::process::id());
    rustix::fs::mkdirat(&parent, temp.as_str(), Mode::from_raw_mode(0o755))
        .map_err(write_err(&dir.join(&temp)))?;
    let written = (|| -> Result<(), TemplateError> {
        let root = open_dir(&parent, &temp).map_err(write_err(&dir.join(&temp)))?;
        for (rel, text) in files {
            let path = target.join(rel);
            let body = fill(text, &values);
            write_file(&root, rel, body.as_bytes()).map_err(|source| TemplateError::Write {
                path: path.clone(),
                source,
            })?;
        }
        if lang == Lang::C {
            write_file(&root, "vmpipe_plugin.h", C_HEADER.as_bytes()).map_err(|source| {
                TemplateError::Write {
                    path: target.join("vmpipe_plugin.h"),
                    source,
                }
            })?;
        }
        rustix::fs::renameat_with(
            &parent,
            temp.as_str(),
            &parent,
            name,
            RenameFlags::NOREPLACE,
        )
        .map_err(|e| match e {
            rustix::io::Errno::EXIST => TemplateError::Exists(target.clone()),
            e => write_err(&target)(e),
        })
    })();
    if written.is_err() {
        remove_tree(&parent, &temp);
    }
    written.map(|()| target)
}

fn open_dir(parent: impl AsFd, name: &str) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        parent,
        name,
        OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Writes a new file at `rel` (one directory level at most, created as needed) below `root`.
fn write_file(root: &OwnedFd, rel: &str, body: &[u8]) -> std::io::Result<()> {
    let (dir, name) = match rel.split_once('/') {
        Some((d, n)) => {
            match rustix::fs::mkdirat(root, d, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            (Some(open_dir(root, d)?), n)
        }
        None => (None, rel),
    };
    let at = dir.as_ref().unwrap_or(root);
    let fd = rustix::fs::openat(
        at,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )?;
    let mut f = std::fs::File::from(fd);
    f.write_all(body)
}

/// Removes the directory `name` below `parent` and what this module put in it (two levels),
/// through descriptors, following no link.
fn remove_tree(parent: &OwnedFd, name: &str) {
    fn clear(dir: &OwnedFd, depth: usize) {
        let Ok(entries) = fsat::list_dir(dir, 1024) else {
            return;
        };
        for (n, ft) in entries {
            if ft == rustix::fs::FileType::Directory && depth > 0 {
                if let Ok(sub) = open_dir(dir, n.to_str().unwrap_or("")) {
                    clear(&sub, depth - 1);
                }
                let _ = rustix::fs::unlinkat(dir, n.as_os_str(), rustix::fs::AtFlags::REMOVEDIR);
            } else {
                let _ = rustix::fs::unlinkat(dir, n.as_os_str(), rustix::fs::AtFlags::empty());
            }
        }
    }
    if let Ok(d) = open_dir(parent, name) {
        clear(&d, 1);
    }
    let _ = rustix::fs::unlinkat(parent, name, rustix::fs::AtFlags::REMOVEDIR);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_placeholders() {
        assert!(valid("my-plugin") && valid("wx_audit2") && !valid("My") && !valid("1x"));
        assert!(!valid("a/b") && !valid("") && !valid(&"a".repeat(65)));
        assert_eq!(type_name("my-wx_audit"), "MyWxAudit");
        assert_eq!(fill("{{a}}-{{b}}{{a}}", &[("a", "1"), ("b", "2")]), "1-21");
        assert_eq!(Sdk::parse("2.0"), Sdk::Version("2.0".into()));
        assert_eq!(Sdk::parse("../sdk"), Sdk::Path("../sdk".into()));
    }

    #[test]
    fn an_existing_directory_is_never_overwritten_and_a_failure_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("taken")).unwrap();
        std::fs::write(dir.path().join("taken/keep"), b"mine").unwrap();
        let sdk = Sdk::Version("2.0".into());
        assert!(matches!(
            create("taken", Lang::Rust, dir.path(), &sdk),
            Err(TemplateError::Exists(_))
        ));
        assert_eq!(
            std::fs::read(dir.path().join("taken/keep")).unwrap(),
            b"mine"
        );
        // A link named like the plugin is not followed or replaced.
        std::os::unix::fs::symlink("/etc", dir.path().join("linked")).unwrap();
        assert!(create("linked", Lang::Rust, dir.path(), &sdk).is_err());
        // An SDK path that does not exist fails before anything is written.
        let bad = Sdk::Path(dir.path().join("no-sdk"));
        assert!(create("fresh", Lang::Rust, dir.path(), &bad).is_err());
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }
}
