//! Finding, vetting and loading plugin libraries.
//!
//! A pipeline's `use = "…"` is, in this order:
//!
//! 1. a **path** when it contains `/` or ends in `.so`/`.dylib` (relative to the pipeline
//!    file's directory);
//! 2. a **built-in** analyzer's name;
//! 3. a **name** looked up as `libNAME.so` or `NAME.so` (`-` read as `_`) in the plugin
//!    directories: every `--plugin-dir`, then every directory of `VMPIPE_PLUGIN_PATH`
//!    (colon-separated), then the directory of the vmpipe executable.
//!
//! Before a library is opened — opening runs its code, and the code of every library it
//! depends on — it is vetted:
//!
//! * **when vmpipe is privileged** ([`crate::privilege::privileged`]: euid 0, any permitted or
//!   effective capability, or started setuid/setgid/with file capabilities — not euid 0
//!   alone), the file and every directory above it must belong to root and not be writable by
//!   group or others (a sticky directory such as `/tmp` excepted), as `sudo` and `ssh` demand
//!   of what they trust ([`super::trust`]). On Linux the same holds for **every library the
//!   loader would pull in**: the `DT_NEEDED` closure is resolved as glibc's `ld.so` resolves
//!   it (RPATH, `LD_LIBRARY_PATH`, RUNPATH, `/etc/ld.so.cache`, the default directories;
//!   [`super::dependencies`] says exactly what is modelled), every library found is vetted
//!   like the plugin, and every RPATH or RUNPATH directory must be one only root can add a
//!   file to — even when the library is found elsewhere today. `--allow-untrusted-plugins`
//!   lifts these checks;
//! * a dependency the loader would not find is refused before `dlopen`, by name;
//! * it must be a shared library for this machine's architecture;
//! * it must export exactly one entry symbol `vmpipe_plugin_v2` or `vmpipe_plugin_v2_NAME`
//!   (a library exporting only another major version was built for another vmpipe; one
//!   exporting `vmpipe_plugin_v1` was built with vmpipe-plugin 0.1, whose layout cannot be
//!   trusted, and is refused with the remedy);
//! * its table must declare ABI 2 with sizes no smaller than 2.0's, a `requires_minor` this
//!   host speaks, and a panic strategy other than `abort` ([`super::schema::table_of`]).
//!
//! A privileged vmpipe started with `LD_LIBRARY_PATH` executes itself again without it
//! ([`crate::plugin::loader_environment`]), since the loader would otherwise search it on every
//! `dlopen`. On macOS only the plugin file itself is vetted (its dependencies, named by
//! install name, are not resolved here).
//!
//! Libraries are never unloaded: unloading a Rust library that left thread-local destructors
//! behind crashes the process.

// An FFI module: the workspace denies unsafe code everywhere else.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};

use object::{Object, ObjectKind};
use thiserror::Error;
use vmpipe_plugin::abi::{self, PluginV2};

use super::builtin::{self, Builtin};

/// Largest library file vetted (a bigger file is refused, not read).
const MAX_LIBRARY_BYTES: u64 = 1 << 30;

/// Most names read from one search directory to suggest a name (a directory of millions of
/// files costs no more).
const MAX_LISTED: usize = 10_000;

/// Why a plugin could not be found or loaded. Every message names the file.
#[derive(Debug, Error)]
pub enum LoadError {
    /// No library by that name.
    #[error(
        "no analyzer \"{name}\"{hint}: not built in ({builtins}), and no {candidates} in {searched}"
    )]
    NotFound {
        /// The name.
        name: String,
        /// ` (did you mean "NAME"?)` for the nearest known name, or empty.
        hint: String,
        /// The built-in names.
        builtins: String,
        /// The file names tried.
        candidates: String,
        /// The directories searched.
        searched: String,
    },
    /// The path names no file.
    #[error("{path}: No such file")]
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// The path cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Refused by the ownership and permission check (of the file, a dependency, or a
    /// directory searched for one).
    #[error(
        "refusing to load {path} {privilege}: {reason}; fix the ownership or permissions, or pass --allow-untrusted-plugins if you trust it"
    )]
    Untrusted {
        /// The file.
        path: PathBuf,
        /// Why vmpipe is privileged, in words ("as root", …).
        privilege: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A library it depends on would not be found by the loader.
    #[error("{path}: {reason}")]
    Dependency {
        /// The plugin file.
        path: PathBuf,
        /// Which dependency, and where it was looked for.
        reason: String,
    },
    /// Not a usable library.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Where plugin libraries are looked for, and whether untrusted ones may be loaded.
#[derive(Clone, Debug, Default)]
pub struct PluginSearch {
    /// Directories searched by name, in order.
    pub dirs: Vec<PathBuf>,
    /// Load libraries that fail the ownership checks of a privileged vmpipe.
    pub allow_untrusted: bool,
}

/// A resolved `use`.
#[derive(Clone, Debug)]
pub enum Resolved {
    /// A built-in.
    Builtin(&'static Builtin),
    /// A library file.
    Library(PathBuf),
}

/// True when `use` names a file rather than an analyzer.
pub fn is_path(name: &str) -> bool {
    name.contains('/') || name.ends_with(".so") || name.ends_with(".dylib")
}

fn file_names(name: &str) -> Vec<String> {
    let base = name.replace('-', "_");
    let ext = if cfg!(target_os = "macos") {
        "dylib"
    } else {
        "so"
    };
    vec![format!("lib{base}.{ext}"), format!("{base}.{ext}")]
}

impl PluginSearch {
    /// The search path: `dirs` (from `--plugin-dir`), then `VMPIPE_PLUGIN_PATH`, then the
    /// directory of the running executable.
    pub fn new(dirs: Vec<PathBuf>, allow_untrusted: bool) -> PluginSearch {
        let mut all = dirs;
        if let Some(env) = std::env::var_os("VMPIPE_PLUGIN_PATH") {
            all.extend(std::env::split_paths(&env).filter(|p| !p.as_os_str().is_empty()));
        }
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        {
            all.push(dir);
        }
        PluginSearch {
            dirs: all,
            allow_untrusted,
        }
    }

    /// Resolves a pipeline's `use` value; `base` is the pipeline file's directory.
    pub fn resolve(&self, name: &str, base: &Path) -> Result<Resolved, LoadError> {
        if is_path(name) {
            let p = Path::new(name);
            let path = if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            };
            return match path.try_exists() {
                Ok(true) => Ok(Resolved::Library(path)),
                Ok(false) => Err(LoadError::Missing { path }),
                Err(source) => Err(LoadError::Io { path, source }),
            };
        }
        if let Some(b) = builtin::find(name) {
            return Ok(Resolved::Builtin(b));
        }
        let names = file_names(name);
        for dir in &self.dirs {
            for n in &names {
                let p = dir.join(n);
                if p.is_file() {
                    return Ok(Resolved::Library(p));
                }
            }
        }
        let builtins = builtin::names();
        let hint = self
            .nearest(name)
            .map(|n| format!(" (did you mean \"{n}\"?)"))
            .unwrap_or_default();
        Err(LoadError::NotFound {
            name: name.to_string(),
            hint,
            builtins: if builtins.is_empty() {
                "this build has no built-in analyzers".into()
            } else {
                format!("built-ins: {}", builtins.join(", "))
            },
            candidates: names.join(" or "),
            searched: self
                .dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Vets and opens a library; returns its plugin table. The library stays loaded.
    pub fn load(&self, path: &Path) -> Result<PluginV2, LoadError> {
        let real = std::fs::canonicalize(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let judge = crate::privilege::privileged() && !self.allow_untrusted;
        let untrusted = |reason: String| LoadError::Untrusted {
            path: path.to_path_buf(),
            privilege: privilege_in_words(),
            reason,
        };
        if judge {
            super::trust::file(&real).map_err(untrusted)?;
        }
        let symbol = inspect(&real).map_err(|reason| LoadError::Invalid {
            path: path.to_path_buf(),
            reason,
        })?;
        #[cfg(target_os = "linux")]
        {
            use super::dependencies::{self, Problem};
            dependencies::vet(&real, judge).map_err(|p| match p {
                Problem::Untrusted(reason) => untrusted(reason),
                Problem::Missing(reason) => LoadError::Dependency {
                    path: path.to_path_buf(),
                    reason,
                },
                Problem::Invalid(reason) => LoadError::Invalid {
                    path: path.to_path_buf(),
                    reason,
                },
            })?;
        }
        let table = open(&real, &symbol).map_err(|reason| LoadError::Invalid {
            path: path.to_path_buf(),
            reason,
        })?;
        // SAFETY: `open` returned the entry's table, valid for as long as the library is
        // loaded (for ever).
        unsafe { super::schema::table_of(table) }.map_err(|reason| LoadError::Invalid {
            path: path.to_path_buf(),
            reason,
        })
    }
}

/// How vmpipe is privileged, for the refusal message.
fn privilege_in_words() -> &'static str {
    use crate::privilege::Privilege;
    match crate::privilege::privilege() {
        Privilege::Root => "as root",
        Privilege::Capabilities => "while holding capabilities",
        Privilege::Secure | Privilege::None => {
            "while started setuid, setgid or with file capabilities"
        }
    }
}

impl PluginSearch {
    /// The known analyzer name nearest to `name`, when it is a likely typo: at most a third
    /// of its characters (and at most 3) inserted, removed, changed or swapped. Known names
    /// are the built-ins and the libraries in the search directories, named as `use` would
    /// name them ([`PluginSearch::library_names`]).
    fn nearest(&self, name: &str) -> Option<String> {
        let limit = (name.chars().count() / 3).clamp(1, 3);
        builtin::names()
            .into_iter()
            .map(str::to_string)
            .chain(self.library_names())
            .map(|c| (strsim::damerau_levenshtein(name, &c), c))
            .filter(|(d, _)| *d <= limit)
            .min()
            .map(|(_, c)| c)
    }

    /// The names `use` would give the library files of the search directories
    /// (`libNAME.so` or `NAME.so`, `_` read as `-`). Only the directories are read (held
    /// open, [`crate::fsat`]; one of more than [`MAX_LISTED`] names is skipped); no library is
    /// opened or read: this is for suggesting a name, not for trusting a file.
    fn library_names(&self) -> Vec<String> {
        use rustix::fs::FileType;
        let ext = if cfg!(target_os = "macos") {
            ".dylib"
        } else {
            ".so"
        };
        let mut names = Vec::new();
        for dir in &self.dirs {
            let Ok(fd) =
                crate::fsat::resolve_dir(dir, false, crate::fsat::LinkRule::for_this_process())
            else {
                continue;
            };
            let Ok(entries) = crate::fsat::list_dir(&fd, MAX_LISTED) else {
                continue;
            };
            for (file, ty) in entries {
                if !matches!(ty, FileType::RegularFile | FileType::Symlink) {
                    continue;
                }
                let Some(stem) = file.to_str().and_then(|f| f.strip_suffix(ext)) else {
                    continue;
                };
                names.push(stem.strip_prefix("lib").unwrap_or(stem).replace('_', "-"));
            }
        }
        names
    }

    /// Every file in the search directories that exports a plugin entry symbol, in search
    /// order (nothing is opened to find them).
    pub fn discover(&self) -> Vec<PathBuf> {
        let ext = if cfg!(target_os = "macos") {
            "dylib"
        } else {
            "so"
        };
        let mut found: Vec<PathBuf> = Vec::new();
        for dir in &self.dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut here: Vec<PathBuf> = entries
                .filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.extension().is_some_and(|e| e == ext) && p.is_file())
                .filter(|p| inspect(p).is_ok())
                .collect();
            here.sort();
            for p in here {
                // One library reached through two spellings of a directory is listed once.
                let same = |o: &PathBuf| {
                    o == &p
                        || matches!(
                            (std::fs::canonicalize(o), std::fs::canonicalize(&p)),
                            (Ok(a), Ok(b)) if a == b
                        )
                };
                if !found.iter().any(same) {
                    found.push(p);
                }
            }
        }
        found
    }
}

fn host_arch() -> object::Architecture {
    use object::Architecture as A;
    if cfg!(target_arch = "x86_64") {
        A::X86_64
    } else if cfg!(target_arch = "aarch64") {
        A::Aarch64
    } else if cfg!(target_arch = "x86") {
        A::I386
    } else if cfg!(target_arch = "arm") {
        A::Arm
    } else if cfg!(target_arch = "riscv64") {
        A::Riscv64
    } else if cfg!(target_arch = "powerpc64") {
        A::PowerPc64
    } else if cfg!(target_arch = "s390x") {
        A::S390x
    } else {
        A::Unknown
    }
}

/// Parses an entry symbol name: `Some((major, suffix))` for `vmpipe_plugin_vN[_SUFFIX]`.
pub fn entry_symbol(name: &str) -> Option<(u32, &str)> {
    let name = name
        .strip_prefix('_')
        .filter(|n| n.starts_with("vmpipe_plugin_v"))
        .unwrap_or(name);
    let rest = name.strip_prefix("vmpipe_plugin_v")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let major: u32 = rest[..digits].parse().ok()?;
    let suffix = &rest[digits..];
    if suffix.is_empty() || (suffix.len() > 1 && suffix.starts_with('_')) {
        Some((major, suffix.trim_start_matches('_')))
    } else {
        None
    }
}

/// Checks the file is a plugin for this machine before it is opened; returns the entry
/// symbol's name as `dlsym` wants it.
fn inspect(path: &Path) -> Result<String, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > MAX_LIBRARY_BYTES {
        return Err(format!("{len} bytes: larger than any plugin vmpipe loads"));
    }
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let file = object::File::parse(&*data).map_err(|e| format!("not a shared library ({e})"))?;
    if file.kind() != ObjectKind::Dynamic {
        return Err(format!(
            "not a shared library but {}",
            match file.kind() {
                ObjectKind::Executable => "an executable",
                ObjectKind::Relocatable => "an object file",
                ObjectKind::Core => "a core dump",
                _ => "an unknown kind of file",
            }
        ));
    }
    if file.architecture() != host_arch() {
        return Err(format!(
            "built for {:?}; this vmpipe runs on {:?}",
            file.architecture(),
            host_arch()
        ));
    }
    let exports = file
        .exports()
        .map_err(|e| format!("unreadable symbol table ({e})"))?;
    let mut mine = Vec::new();
    let mut others = Vec::new();
    for e in exports {
        let Ok(e) = e else {
            continue;
        };
        let object::read::NameOrOrdinal::Name(raw) = e.name() else {
            continue;
        };
        let Ok(name) = std::str::from_utf8(raw) else {
            continue;
        };
        match entry_symbol(name) {
            Some((abi::ABI_MAJOR, _)) => mine.push(
                name.strip_prefix('_')
                    .filter(|_| cfg!(target_os = "macos"))
                    .unwrap_or(name)
                    .to_string(),
            ),
            Some((major, _)) => others.push(major),
            None => {}
        }
    }
    let major = abi::ABI_MAJOR;
    match mine.len() {
        1 => Ok(mine.remove(0)),
        0 if others.contains(&1) => Err(format!(
            "a plugin for ABI v1 (vmpipe-plugin 0.1): v1's structs changed size without a version change, so no vmpipe can tell what this library expects, and this vmpipe speaks only ABI v{major}; rebuild it against vmpipe-plugin {major}.x (its regions are read through `Regions`, its columns declared with `region_columns!`: see the README's \"Writing a plugin\")"
        )),
        0 if !others.is_empty() => Err(format!(
            "a plugin for ABI v{}; this vmpipe speaks v{major} (rebuild it against vmpipe-plugin {major}.x)",
            others[0]
        )),
        0 => Err(format!(
            "exports no {} entry symbol: not a vmpipe plugin (a plugin crate ends with `vmpipe_plugin::export!(YourAnalyzer);`)",
            abi::ENTRY_SYMBOL
        )),
        _ => Err(format!(
            "exports several entry symbols ({}): one plugin per library",
            mine.join(", ")
        )),
    }
}

/// Opens the library and calls its entry function.
fn open(path: &Path, symbol: &str) -> Result<*const PluginV2, String> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW, Symbol};
    // SAFETY: opening a library runs its initialisers; the file passed the checks above (and,
    // when privileged, the ownership checks of it and of every library it pulls in), which is as far as vmpipe can vouch for it. RTLD_NOW makes
    // a missing dependency fail here rather than mid-run.
    let lib = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }
        .map_err(|e| format!("cannot be loaded: {e}"))?;
    // SAFETY: the symbol is the plugin entry, `extern "C" fn() -> *const PluginV2` by the ABI.
    let entry: Symbol<extern "C" fn() -> *const PluginV2> =
        unsafe { lib.get(symbol.as_bytes()) }.map_err(|e| format!("entry symbol {symbol}: {e}"))?;
    let plugin = entry();
    // Never unloaded: see the module docs.
    std::mem::forget(lib);
    if plugin.is_null() {
        return Err(format!("{symbol}() returned null"));
    }
    Ok(plugin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_symbols_are_recognised() {
        assert_eq!(entry_symbol(abi::ENTRY_SYMBOL), Some((abi::ABI_MAJOR, "")));
        assert_eq!(entry_symbol("vmpipe_plugin_v1"), Some((1, "")));
        assert_eq!(
            entry_symbol("vmpipe_plugin_v1_malfind"),
            Some((1, "malfind"))
        );
        assert_eq!(entry_symbol("_vmpipe_plugin_v1"), Some((1, "")));
        assert_eq!(entry_symbol("vmpipe_plugin_v12"), Some((12, "")));
        assert_eq!(entry_symbol("vmpipe_plugin_v2_x"), Some((2, "x")));
        assert_eq!(entry_symbol("vmpipe_plugin_v1x"), None);
        assert_eq!(entry_symbol("vmpipe_plugin_v1_"), None);
        assert_eq!(entry_symbol("vmpipe_plugin_v"), None);
        assert_eq!(entry_symbol("other"), None);
    }

    #[test]
    fn a_near_miss_of_a_built_in_name_is_suggested_and_a_far_one_is_not() {
        let search = PluginSearch::default();
        for (typed, want) in [
            ("image-atribution", Some("image-attribution")),
            ("gaurd-detection", Some("guard-detection")),
            ("share-mode", Some("share-modes")),
            ("malloc", None),
            ("nope", None),
        ] {
            assert_eq!(search.nearest(typed).as_deref(), want, "{typed}");
        }
        let err = search
            .resolve("image-atribution", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "no analyzer \"image-atribution\" (did you mean \"image-attribution\"?): "
            ),
            "{err}"
        );
    }

    #[test]
    fn library_files_in_the_search_directories_are_suggested_by_their_use_names() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["libwx_audit.so", "other.so", "notes.txt"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        std::fs::create_dir(dir.path().join("libsub_dir.so")).unwrap();
        let search = PluginSearch {
            dirs: vec![dir.path().to_path_buf(), dir.path().join("missing")],
            allow_untrusted: false,
        };
        let mut names = search.library_names();
        names.sort();
        assert_eq!(names, ["other", "wx-audit"]);
        assert_eq!(search.nearest("wx-audti").as_deref(), Some("wx-audit"));
        let err = search
            .resolve("wx-audti", dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("no analyzer \"wx-audti\" (did you mean \"wx-audit\"?): "),
            "{err}"
        );
    }

    #[test]
    fn names_map_to_library_files() {
        let n = file_names("image-attribution");
        assert!(n[0].starts_with("libimage_attribution."));
        assert!(is_path("./x.so") && is_path("lib.so") && !is_path("malfind"));
    }
}
