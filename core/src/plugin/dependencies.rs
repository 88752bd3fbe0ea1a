//! Every library the dynamic loader would pull in with a plugin, found as glibc's `ld.so`
//! finds them, so that a privileged vmpipe can vet them all before `dlopen` runs any of their
//! constructors.
//!
//! What is modelled (glibc 2.36, `elf/dl-load.c` `_dl_map_object` and `_dl_map_object_deps`):
//!
//! * the closure is walked breadth first from the plugin, as the loader maps it; a
//!   `DT_NEEDED` name already given to an object of the closure (its `DT_NEEDED` name or its
//!   `DT_SONAME`) is not searched again, and a file reached twice is one object;
//! * a name containing `/` is a path (relative ones from the current directory), after
//!   dynamic string token expansion;
//! * otherwise the directories searched, in order: the `DT_RPATH` of the object needing the
//!   name, then of the object that loaded it, and on up to the plugin and the vmpipe
//!   executable — only when the needing object has no `DT_RUNPATH` (an object with both has no
//!   RPATH, as for the loader); then `LD_LIBRARY_PATH` if set (`:` or `;` separated); then the
//!   needing object's own `DT_RUNPATH`; then `/etc/ld.so.cache` ([`super::ld_cache`]); then
//!   the default directories ([`DEFAULT_DIRS`]). `DF_1_NODEFLIB` drops the default directories
//!   and cache entries inside them. An empty element is the current directory;
//! * `$ORIGIN` is the directory of the object as the loader named it (the directory where it
//!   was found, the plugin's canonical directory, the executable's for `LD_LIBRARY_PATH`);
//!   `$PLATFORM` is the `AT_PLATFORM` of this architecture; `$LIB` is taken as every value a
//!   distribution builds its loader with (`lib/<multiarch triplet>`, `lib64` or `lib`), so
//!   that whichever it is, its directory is judged; braced forms (`${ORIGIN}`) too;
//! * in every directory, the loader first tries hardware-capability subdirectories
//!   (`glibc-hwcaps/*`, and the legacy `tls`, platform and hwcap names, nested): every such
//!   subdirectory that exists is looked in, and every file found in the first directory that
//!   has one is treated as the loader's pick; a file of another class or machine is skipped,
//!   as the loader skips it. Likewise every cache entry with the name.
//!
//! Where the model is wider than the loader (every `$LIB`, every hwcaps subdirectory, every
//! cache entry, searching for names the loader would find already loaded), it only vets
//! more. Secure-execution restrictions (`$ORIGIN` ignored in a setuid program) are not
//! modelled for the same reason: the loader searches less, never more. `LD_PRELOAD` and
//! `LD_AUDIT` objects are loaded at process start, before vmpipe's code runs; they are
//! outside what vmpipe can vet (see SECURITY.md).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::dynamic_section::{self, Dynamic, Object};
use super::ld_cache::LdCache;
use super::trust;
use crate::fsat::{self, LinkRule};

/// The multiarch triplet of this target (Debian's library directory names).
#[cfg(target_arch = "x86_64")]
macro_rules! multiarch {
    () => {
        "x86_64-linux-gnu"
    };
}
#[cfg(target_arch = "aarch64")]
macro_rules! multiarch {
    () => {
        "aarch64-linux-gnu"
    };
}
#[cfg(target_arch = "x86")]
macro_rules! multiarch {
    () => {
        "i386-linux-gnu"
    };
}
#[cfg(target_arch = "arm")]
macro_rules! multiarch {
    () => {
        "arm-linux-gnueabihf"
    };
}
#[cfg(target_arch = "riscv64")]
macro_rules! multiarch {
    () => {
        "riscv64-linux-gnu"
    };
}
#[cfg(target_arch = "powerpc64")]
macro_rules! multiarch {
    () => {
        "powerpc64le-linux-gnu"
    };
}
#[cfg(target_arch = "s390x")]
macro_rules! multiarch {
    () => {
        "s390x-linux-gnu"
    };
}

/// The loader's default directories, in its order (Debian's multiarch directories first, then
/// the classic ones; the `lib64` pair, which other distributions use, last).
pub const DEFAULT_DIRS: &[&str] = &[
    concat!("/lib/", multiarch!()),
    concat!("/usr/lib/", multiarch!()),
    "/lib",
    "/usr/lib",
    "/lib64",
    "/usr/lib64",
];

/// Most objects in one plugin's closure (a large program has a few hundred).
pub const MAX_OBJECTS: usize = 1024;

/// Most `glibc-hwcaps` subdirectories looked in per directory (glibc knows three per
/// architecture at most).
const MAX_HWCAPS_SUBDIRS: usize = 64;

/// `AT_PLATFORM` as the kernel sets it on this architecture.
const PLATFORM: &str = if cfg!(target_arch = "x86") {
    "i686"
} else if cfg!(target_arch = "arm") {
    "v7l"
} else if cfg!(target_arch = "powerpc64") {
    "power8"
} else {
    std::env::consts::ARCH
};

/// Legacy hwcap subdirectory names the loader may try (glibc ≤ 2.36: `tls`, the platform,
/// hwcap names), on the architectures vmpipe builds for; nested up to three deep.
const LEGACY_SUBDIRS: &[&str] = &[
    "tls", "x86_64", "haswell", "xeon_phi", "avx512_1", "i686", "i586", "i486", "i386", "sse2",
    "aarch64", "v7l", "neon", "vfp",
];

/// Why the closure is refused.
#[derive(Debug)]
pub enum Problem {
    /// A library, or a directory searched, that someone other than root could control.
    Untrusted(String),
    /// A dependency the loader would not find.
    Missing(String),
    /// A dependency that is not a loadable library, or a closure too large.
    Invalid(String),
}

/// One object of the closure.
struct Obj {
    /// The path as the loader names it (its `$ORIGIN` is this path's directory).
    path: PathBuf,
    /// The canonical path, to recognise one file reached twice.
    real: PathBuf,
    dynamic: Dynamic,
    /// The object whose `DT_NEEDED` brought it in (`None`: the executable).
    loader: Option<usize>,
    /// Names that resolve to it: its `DT_SONAME` and the `DT_NEEDED` names that found it.
    names: Vec<Vec<u8>>,
}

impl Obj {
    /// `DT_RPATH`, unless `DT_RUNPATH` overrides it.
    fn rpath(&self) -> Option<&[u8]> {
        match self.dynamic.runpath {
            Some(_) => None,
            None => self.dynamic.rpath.as_deref(),
        }
    }

    fn origin(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("/"))
    }
}

/// A directory on a search list and why it is there.
struct SearchDir {
    dir: PathBuf,
    why: String,
}

/// Finds the closure of `plugin` (its canonical path) as the loader would, and returns the
/// libraries in it (the plugin excluded). With `judge` (vmpipe is privileged and untrusted
/// plugins are not allowed), every library must pass [`trust::file`] and every RPATH,
/// RUNPATH and `LD_LIBRARY_PATH` directory [`trust::search_dir`].
pub fn vet(plugin: &Path, judge: bool) -> Result<Vec<PathBuf>, Problem> {
    let cache = LdCache::system();
    let mut objs = vec![executable()?];
    let first = read_object(plugin)?
        .ok_or_else(|| Problem::Invalid(format!("{} is for another machine", plugin.display())))?;
    objs.push(Obj {
        path: plugin.to_path_buf(),
        real: plugin.to_path_buf(),
        names: first.soname.clone().into_iter().collect(),
        dynamic: first,
        loader: Some(0),
    });
    let library_path = library_path(objs[0].origin());
    if judge {
        for (dir, entry) in &library_path {
            trust::search_dir(dir).map_err(|why| {
                Problem::Untrusted(format!(
                    "{} looks for its libraries in {} ({entry} in LD_LIBRARY_PATH): {why}",
                    plugin.display(),
                    dir.display()
                ))
            })?;
        }
        judge_own_dirs(&objs[0])?;
        judge_own_dirs(&objs[1])?;
    }
    let mut next = 1;
    while next < objs.len() {
        let needed = objs[next].dynamic.needed.clone();
        for name in needed {
            if objs.iter().any(|o| o.names.contains(&name)) {
                continue;
            }
            let found = search(&objs, next, &name, &library_path, &cache)?;
            for path in found {
                if judge {
                    trust::file(&path).map_err(|why| {
                        Problem::Untrusted(format!(
                            "its dependency {} (needed by {}) would be loaded from {}: {why}",
                            String::from_utf8_lossy(&name),
                            objs[next].path.display(),
                            path.display()
                        ))
                    })?;
                }
                let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                if let Some(o) = objs.iter_mut().find(|o| o.real == real) {
                    o.names.push(name.clone());
                    continue;
                }
                let dynamic = read_object(&path)?.ok_or_else(|| {
                    Problem::Invalid(format!("{} changed while it was read", path.display()))
                })?;
                let mut names = vec![name.clone()];
                names.extend(dynamic.soname.clone());
                let obj = Obj {
                    path,
                    real,
                    dynamic,
                    loader: Some(next),
                    names,
                };
                if judge {
                    judge_own_dirs(&obj)?;
                }
                if objs.len() >= MAX_OBJECTS {
                    return Err(Problem::Invalid(format!(
                        "its dependencies number more than {MAX_OBJECTS} libraries"
                    )));
                }
                objs.push(obj);
            }
        }
        next += 1;
    }
    Ok(objs.into_iter().skip(2).map(|o| o.path).collect())
}

/// The vmpipe executable as the root of the loading chain (its RPATH is searched last among
/// the RPATHs, as the loader's main map).
fn executable() -> Result<Obj, Problem> {
    let path = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let dynamic = match fsat::open_input(Path::new("/proc/self/exe"), LinkRule::Any)
        .map_err(|e| e.to_string())
        .and_then(dynamic_section::read)
    {
        Ok(Object::Library(d)) => d,
        // Statically linked, or unreadable: nothing it contributes to a search.
        _ => Dynamic::default(),
    };
    Ok(Obj {
        real: path.clone(),
        path,
        dynamic,
        loader: None,
        names: Vec::new(),
    })
}

/// Reads an object's dynamic section; `None` when it is for another machine.
fn read_object(path: &Path) -> Result<Option<Dynamic>, Problem> {
    let file = fsat::open_input(path, LinkRule::Any)
        .map_err(|e| Problem::Invalid(format!("{}: {e}", path.display())))?;
    match dynamic_section::read(file) {
        Ok(Object::Library(d)) => Ok(Some(d)),
        Ok(Object::Foreign) => Ok(None),
        Err(why) => Err(Problem::Invalid(format!("{}: {why}", path.display()))),
    }
}

/// Judges the RPATH and RUNPATH directories an object carries, whether or not a library is
/// found in them today: whoever controls one can plant a library there tomorrow, and the
/// object's own `dlopen` calls search them too.
fn judge_own_dirs(obj: &Obj) -> Result<(), Problem> {
    let lists = [
        ("RPATH", obj.rpath()),
        ("RUNPATH", obj.dynamic.runpath.as_deref()),
    ];
    for (kind, list) in lists {
        let Some(list) = list else { continue };
        for dir in split(list, b":", obj.origin()) {
            trust::search_dir(&dir).map_err(|why| {
                let needed: Vec<String> = obj
                    .dynamic
                    .needed
                    .iter()
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .collect();
                Problem::Untrusted(format!(
                    "{} looks for its dependencies ({}) in {} (its {kind}): {why}",
                    obj.path.display(),
                    if needed.is_empty() {
                        "none today".to_string()
                    } else {
                        needed.join(", ")
                    },
                    dir.display()
                ))
            })?;
        }
    }
    Ok(())
}

/// `LD_LIBRARY_PATH` as the loader took it at start (vmpipe never changes it; in secure
/// execution the loader removed it): the directories, each with the entry it came from.
fn library_path(exe_origin: &Path) -> Vec<(PathBuf, String)> {
    let Some(value) = std::env::var_os("LD_LIBRARY_PATH") else {
        return Vec::new();
    };
    value
        .as_bytes()
        .split(|&b| b == b':' || b == b';')
        .flat_map(|entry| {
            let shown = String::from_utf8_lossy(entry).into_owned();
            expand(entry, exe_origin)
                .into_iter()
                .map(move |d| (d, shown.clone()))
        })
        .collect()
}

/// Splits a search list and expands each element.
fn split(list: &[u8], seps: &[u8], origin: &Path) -> Vec<PathBuf> {
    list.split(|b| seps.contains(b))
        .flat_map(|e| expand(e, origin))
        .collect()
}

/// Expands the dynamic string tokens of one element (see the module docs); an empty element
/// is the current directory.
fn expand(element: &[u8], origin: &Path) -> Vec<PathBuf> {
    if element.is_empty() {
        return vec![PathBuf::from(".")];
    }
    let libs: &[&str] = if cfg!(target_pointer_width = "64") {
        &[concat!("lib/", multiarch!()), "lib64", "lib"]
    } else {
        &[concat!("lib/", multiarch!()), "lib"]
    };
    let mut out: Vec<Vec<u8>> = vec![Vec::new()];
    let mut rest = element;
    while let Some(at) = memchr::memchr(b'$', rest) {
        for o in &mut out {
            o.extend_from_slice(&rest[..at]);
        }
        rest = &rest[at + 1..];
        let token = [
            ("ORIGIN", vec![origin.as_os_str().as_bytes().to_vec()]),
            ("PLATFORM", vec![PLATFORM.as_bytes().to_vec()]),
            ("LIB", libs.iter().map(|l| l.as_bytes().to_vec()).collect()),
        ]
        .into_iter()
        .find_map(|(name, values)| {
            let len = dst_len(rest, name)?;
            Some((len, values))
        });
        match token {
            Some((len, values)) => {
                rest = &rest[len..];
                out = out
                    .iter()
                    .flat_map(|o| {
                        values.iter().map(move |v| {
                            let mut s = o.clone();
                            s.extend_from_slice(v);
                            s
                        })
                    })
                    .collect();
            }
            // Not a token: the loader copies the `$` as it is.
            None => {
                for o in &mut out {
                    o.push(b'$');
                }
            }
        }
    }
    for o in &mut out {
        o.extend_from_slice(rest);
    }
    out.into_iter()
        .map(|o| PathBuf::from(OsStr::from_bytes(&o)))
        .collect()
}

/// The length of the token `name` at the start of `s` (after the `$`): `NAME` followed by
/// `/` or the end, or `{NAME}`.
fn dst_len(s: &[u8], name: &str) -> Option<usize> {
    let n = name.as_bytes();
    if let Some(inner) = s.strip_prefix(b"{") {
        return (inner.starts_with(n) && inner.get(n.len()) == Some(&b'}')).then_some(n.len() + 2);
    }
    (s.starts_with(n) && matches!(s.get(n.len()), None | Some(b'/'))).then_some(n.len())
}

/// The files the loader could load for `name` needed by `objs[who]`: every match in the
/// first place that has one. Empty: refused as missing.
fn search(
    objs: &[Obj],
    who: usize,
    name: &[u8],
    library_path: &[(PathBuf, String)],
    cache: &LdCache,
) -> Result<Vec<PathBuf>, Problem> {
    let needer = &objs[who];
    let shown = String::from_utf8_lossy(name).into_owned();
    if name.contains(&b'/') {
        let mut found = Vec::new();
        for path in expand(name, needer.origin()) {
            found.extend(usable(&path)?);
        }
        if found.is_empty() {
            return Err(Problem::Missing(format!(
                "its dependency {shown} (needed by {}) does not exist",
                needer.path.display()
            )));
        }
        return Ok(found);
    }
    let mut dirs: Vec<SearchDir> = Vec::new();
    if needer.dynamic.runpath.is_none() {
        let mut l = Some(who);
        while let Some(i) = l {
            if let Some(rpath) = objs[i].rpath() {
                for dir in split(rpath, b":", objs[i].origin()) {
                    dirs.push(SearchDir {
                        dir,
                        why: format!("RPATH of {}", objs[i].path.display()),
                    });
                }
            }
            l = objs[i].loader;
        }
    }
    for (dir, _) in library_path {
        dirs.push(SearchDir {
            dir: dir.clone(),
            why: "LD_LIBRARY_PATH".into(),
        });
    }
    if let Some(runpath) = &needer.dynamic.runpath {
        for dir in split(runpath, b":", needer.origin()) {
            dirs.push(SearchDir {
                dir,
                why: format!("RUNPATH of {}", needer.path.display()),
            });
        }
    }
    let mut searched: Vec<String> = Vec::new();
    for d in &dirs {
        let found = in_dir(&d.dir, name)?;
        if !found.is_empty() {
            return Ok(found);
        }
        searched.push(format!("{} ({})", d.dir.display(), d.why));
    }
    let in_default = |p: &Path| DEFAULT_DIRS.iter().any(|d| p.starts_with(d));
    let mut found = Vec::new();
    for path in cache.lookup(name) {
        if needer.dynamic.nodeflib && in_default(&path) {
            continue;
        }
        found.extend(usable(&path)?);
    }
    if !found.is_empty() {
        return Ok(found);
    }
    searched.push(super::ld_cache::PATH.to_string());
    if !needer.dynamic.nodeflib {
        for d in DEFAULT_DIRS {
            let found = in_dir(Path::new(d), name)?;
            if !found.is_empty() {
                return Ok(found);
            }
        }
        searched.push(DEFAULT_DIRS.join(", "));
    }
    Err(Problem::Missing(format!(
        "its dependency {shown} (needed by {}) is not found where the loader looks: {}",
        needer.path.display(),
        searched.join(", ")
    )))
}

/// The file at `path` if the loader would take it: a regular file of this machine. A file of
/// another machine is passed over; a file that is not a library at all stops the loader with
/// an error, and so it is refused here.
fn usable(path: &Path) -> Result<Option<PathBuf>, Problem> {
    let Ok(file) = fsat::open_input(path, LinkRule::Any) else {
        return Ok(None);
    };
    match dynamic_section::read(file) {
        Ok(Object::Library(_)) => Ok(Some(path.to_path_buf())),
        Ok(Object::Foreign) => Ok(None),
        Err(why) => Err(Problem::Invalid(format!("{}: {why}", path.display()))),
    }
}

/// Every usable `name` in `dir` and its hardware-capability subdirectories.
fn in_dir(dir: &Path, name: &[u8]) -> Result<Vec<PathBuf>, Problem> {
    let file = Path::new(OsStr::from_bytes(name));
    let mut found = Vec::new();
    for d in variants(dir) {
        found.extend(usable(&d.join(file))?);
    }
    Ok(found)
}

/// `dir`'s hardware-capability subdirectories that exist, then `dir` itself.
fn variants(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let hwcaps = dir.join("glibc-hwcaps");
    if let Ok(fd) = fsat::resolve_dir(&hwcaps, false, LinkRule::Any)
        && let Ok(entries) = rustix::fs::Dir::read_from(&fd)
    {
        let mut names: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_bytes().to_vec())
            .filter(|n| n != b"." && n != b"..")
            .take(MAX_HWCAPS_SUBDIRS)
            .map(|n| hwcaps.join(OsStr::from_bytes(&n)))
            .collect();
        names.sort();
        out.extend(names);
    }
    let mut level = vec![dir.to_path_buf()];
    let mut legacy = Vec::new();
    for _ in 0..3 {
        let mut deeper = Vec::new();
        for base in &level {
            for n in LEGACY_SUBDIRS {
                let sub = base.join(n);
                if fsat::resolve_dir(&sub, false, LinkRule::Any).is_ok() {
                    deeper.push(sub);
                }
            }
        }
        legacy.extend(deeper.iter().cloned());
        level = deeper;
    }
    out.extend(legacy);
    out.push(dir.to_path_buf());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expand_as_the_loader_expands_them() {
        let o = Path::new("/opt/p");
        assert_eq!(expand(b"$ORIGIN/lib", o), vec![PathBuf::from("/opt/p/lib")]);
        assert_eq!(
            expand(b"${ORIGIN}/../x", o),
            vec![PathBuf::from("/opt/p/../x")]
        );
        assert_eq!(
            expand(b"/a/$PLATFORM", o),
            vec![PathBuf::from(format!("/a/{PLATFORM}"))]
        );
        // Not tokens: copied as they are.
        assert_eq!(
            expand(b"/a/$ORIGINAL", o),
            vec![PathBuf::from("/a/$ORIGINAL")]
        );
        assert_eq!(expand(b"/a/$", o), vec![PathBuf::from("/a/$")]);
        // $LIB: every value a distribution's loader may have.
        let libs = expand(b"/x/$LIB", o);
        assert!(libs.contains(&PathBuf::from(concat!("/x/lib/", multiarch!()))));
        assert!(libs.len() >= 2);
        assert_eq!(expand(b"", o), vec![PathBuf::from(".")]);
    }

    /// The loader's own answer: `ldd LIB` (ld.so --list) lists every object of the closure
    /// with the path it loaded.
    fn ldd(lib: &Path) -> Vec<PathBuf> {
        let out = std::process::Command::new("ldd")
            .arg(lib)
            .output()
            .expect("ldd");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                let path = match l.split_once(" => ") {
                    Some((_, right)) => right.split(" (").next()?,
                    None => l.split(" (").next()?,
                };
                path.starts_with('/')
                    .then(|| std::fs::canonicalize(path).ok())?
            })
            .collect()
    }

    #[test]
    fn the_closure_of_system_libraries_is_what_the_loader_loads() {
        let dir = Path::new(concat!("/usr/lib/", multiarch!()));
        let mut libs: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.contains(".so.") && n.starts_with("lib"))
            })
            .collect();
        libs.sort();
        let mut compared = 0;
        for lib in libs.iter().take(60) {
            let Ok(real) = std::fs::canonicalize(lib) else {
                continue;
            };
            let Ok(mine) = vet(&real, false) else {
                continue;
            };
            let mut mine: Vec<PathBuf> = mine
                .iter()
                .filter_map(|p| std::fs::canonicalize(p).ok())
                .collect();
            mine.sort();
            mine.dedup();
            let mut theirs = ldd(&real);
            theirs.retain(|p| p != &real);
            theirs.sort();
            theirs.dedup();
            if theirs.is_empty() {
                continue; // not something ldd lists (a static object, a linker script)
            }
            assert_eq!(mine, theirs, "{}", lib.display());
            compared += 1;
        }
        assert!(compared >= 10, "only {compared} system libraries compared");
    }
}
