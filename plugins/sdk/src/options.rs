//! The options a pipeline gives an analyzer (the TOML table under `options` in its
//! `[[analyzer]]` entry), as an owned tree.

// An FFI module: the workspace denies unsafe code everywhere else.
#![allow(unsafe_code)]

use std::fmt;

use crate::abi::{self, EntryV2, ValueV2};

/// One option value.
#[derive(Clone, Debug, PartialEq)]
pub enum OptionValue {
    /// A string.
    String(String),
    /// An integer.
    Integer(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Boolean(bool),
    /// A TOML date-time, as RFC 3339 text.
    Datetime(String),
    /// An array.
    Array(Vec<OptionValue>),
    /// A table.
    Table(Options),
}

impl OptionValue {
    /// The TOML type name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            OptionValue::String(_) => "string",
            OptionValue::Integer(_) => "integer",
            OptionValue::Float(_) => "float",
            OptionValue::Boolean(_) => "boolean",
            OptionValue::Datetime(_) => "datetime",
            OptionValue::Array(_) => "array",
            OptionValue::Table(_) => "table",
        }
    }
}

/// An option was refused. Returned from `create`, it makes vmpipe point at the option's key
/// in the pipeline file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionError {
    /// The option's key.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl OptionError {
    /// A refusal of option `key`.
    pub fn new(key: &str, message: impl Into<String>) -> OptionError {
        OptionError {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OptionError {}

/// An options table: keys in the order the pipeline file gives them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Options {
    entries: Vec<(String, OptionValue)>,
}

impl Options {
    /// An options table from entries.
    pub fn from_entries(entries: Vec<(String, OptionValue)>) -> Options {
        Options { entries }
    }

    /// The value of `key`, if given.
    pub fn get(&self, key: &str) -> Option<&OptionValue> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Every `(key, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &OptionValue)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// True when no option is given.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Refuses any key not in `known`, naming it and the valid keys.
    pub fn only(&self, known: &[&str]) -> Result<(), OptionError> {
        for (k, _) in &self.entries {
            if !known.contains(&k.as_str()) {
                let message = if known.is_empty() {
                    format!("unknown option `{k}`: this analyzer takes no options")
                } else {
                    format!("unknown option `{k}`; valid options: {}", known.join(", "))
                };
                return Err(OptionError::new(k, message));
            }
        }
        Ok(())
    }

    fn typed<'s, T>(
        &'s self,
        key: &str,
        want: &str,
        pick: impl Fn(&'s OptionValue) -> Option<T>,
    ) -> Result<Option<T>, OptionError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => pick(v).map(Some).ok_or_else(|| {
                OptionError::new(
                    key,
                    format!("option `{key}` must be {want}, found {}", v.type_name()),
                )
            }),
        }
    }

    /// A string option; an error if it has another type.
    pub fn string(&self, key: &str) -> Result<Option<&str>, OptionError> {
        self.typed(key, "a string", |v| match v {
            OptionValue::String(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// An integer option; an error if it has another type.
    pub fn integer(&self, key: &str) -> Result<Option<i64>, OptionError> {
        self.typed(key, "an integer", |v| match v {
            OptionValue::Integer(i) => Some(*i),
            _ => None,
        })
    }

    /// A boolean option; an error if it has another type.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, OptionError> {
        self.typed(key, "a boolean", |v| match v {
            OptionValue::Boolean(b) => Some(*b),
            _ => None,
        })
    }

    /// A float option (an integer is accepted too); an error if it has another type.
    pub fn float(&self, key: &str) -> Result<Option<f64>, OptionError> {
        self.typed(key, "a number", |v| match v {
            OptionValue::Float(f) => Some(*f),
            OptionValue::Integer(i) => Some(*i as f64),
            _ => None,
        })
    }

    /// A size in bytes: an integer, or a string of digits with an optional binary suffix
    /// `K`, `M`, `G`, `T` (powers of 1024, optionally followed by `iB` or `B`): `"64M"`,
    /// `"1GiB"`, `"4096"`.
    pub fn size(&self, key: &str) -> Result<Option<u64>, OptionError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let bad = |why: String| OptionError::new(key, format!("option `{key}` {why}"));
        match v {
            OptionValue::Integer(i) => u64::try_from(*i)
                .map(Some)
                .map_err(|_| bad(format!("must be a size in bytes, found {i}"))),
            OptionValue::String(s) => parse_size(s).map(Some).ok_or_else(|| {
                bad(format!(
                    "must be a size such as \"64M\" or \"1GiB\", found {s:?}"
                ))
            }),
            other => Err(bad(format!(
                "must be a size in bytes, found {}",
                other.type_name()
            ))),
        }
    }

    /// Reads the ABI form.
    ///
    /// # Safety
    /// `entries` must point to `len` valid entries whose strings and nested arrays are valid
    /// for the duration of the call (the host guarantees this for `create`).
    pub unsafe fn from_raw(entries: *const EntryV2, len: usize, entry_size: usize) -> Options {
        if entries.is_null() || len == 0 {
            return Options::default();
        }
        Options {
            entries: (0..len)
                // SAFETY: the caller guarantees `len` valid entries `entry_size` bytes apart.
                .filter_map(|i| unsafe { abi::read_element(entries, i, entry_size) })
                .map(|e| {
                    // SAFETY: the key is valid for the call (the caller's guarantee).
                    let key = unsafe { text(e.key) };
                    // SAFETY: the value tree is valid for the call (the caller's guarantee).
                    (key, unsafe { value(&e.value) })
                })
                .collect(),
        }
    }
}

/// # Safety
/// `s` must be null or valid for the call.
unsafe fn text(s: abi::StrV2) -> String {
    // SAFETY: guaranteed by the caller.
    let bytes = unsafe { s.as_bytes() }.unwrap_or(&[]);
    String::from_utf8_lossy(bytes).into_owned()
}

/// # Safety
/// `v` and everything it points to must be valid for the call.
unsafe fn value(v: &ValueV2) -> OptionValue {
    match v.kind {
        // SAFETY: `text` is valid for the call (the caller's guarantee).
        abi::value_kind::STRING => OptionValue::String(unsafe { text(v.text) }),
        abi::value_kind::INTEGER => OptionValue::Integer(v.int),
        abi::value_kind::FLOAT => OptionValue::Float(v.float),
        abi::value_kind::BOOLEAN => OptionValue::Boolean(v.int != 0),
        // SAFETY: as for STRING.
        abi::value_kind::DATETIME => OptionValue::Datetime(unsafe { text(v.text) }),
        abi::value_kind::ARRAY => {
            if v.items.is_null() {
                return OptionValue::Array(Vec::new());
            }
            OptionValue::Array(
                (0..v.items_len)
                    // SAFETY: `items` points to `items_len` values `item_size` bytes apart,
                    // valid for the call, recursively.
                    .filter_map(|i| unsafe { abi::read_element(v.items, i, v.item_size) })
                    // SAFETY: as above.
                    .map(|i| unsafe { value(&i) })
                    .collect(),
            )
        }
        _ => {
            // SAFETY: `entries` points to `entries_len` entries `entry_size` bytes apart,
            // valid for the call.
            let table = unsafe { Options::from_raw(v.entries, v.entries_len, v.entry_size) };
            OptionValue::Table(table)
        }
    }
}

/// Parses `"64M"`, `"1GiB"`, `"4096"`, `"16k"`: digits, then an optional `K`/`M`/`G`/`T`
/// (any case; powers of 1024), then an optional `iB` or `B`.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let n: u64 = s[..digits].parse().ok()?;
    let unit = s[digits..].trim_start().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_with_binary_suffixes() {
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("16k"), Some(16 << 10));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("2 TB"), Some(2 << 40));
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size("12X"), None);
        assert_eq!(parse_size("99999999999T"), None);
        let o = Options::from_entries(vec![
            ("a".into(), OptionValue::String("64M".into())),
            ("b".into(), OptionValue::Integer(-1)),
            ("c".into(), OptionValue::Integer(3)),
        ]);
        assert_eq!(o.size("a"), Ok(Some(64 << 20)));
        assert_eq!(o.size("b").unwrap_err().key, "b");
        assert_eq!(o.float("c"), Ok(Some(3.0)));
        assert_eq!(o.size("none"), Ok(None));
    }
}
