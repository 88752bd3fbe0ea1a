//! The options a pipeline gives an analyzer (the TOML table under `options` in its
//! `[[analyzer]]` entry), as an owned tree.

use crate::abi::{self, EntryV1, ValueV1};

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
    pub fn only(&self, known: &[&str]) -> Result<(), String> {
        for (k, _) in &self.entries {
            if !known.contains(&k.as_str()) {
                return Err(if known.is_empty() {
                    format!("unknown option `{k}`: this analyzer takes no options")
                } else {
                    format!("unknown option `{k}`; valid options: {}", known.join(", "))
                });
            }
        }
        Ok(())
    }

    fn typed<'s, T>(
        &'s self,
        key: &str,
        want: &str,
        pick: impl Fn(&'s OptionValue) -> Option<T>,
    ) -> Result<Option<T>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => pick(v)
                .map(Some)
                .ok_or_else(|| format!("option `{key}` must be {want}, found {}", v.type_name())),
        }
    }

    /// A string option; an error if it has another type.
    pub fn string(&self, key: &str) -> Result<Option<&str>, String> {
        self.typed(key, "a string", |v| match v {
            OptionValue::String(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// An integer option; an error if it has another type.
    pub fn integer(&self, key: &str) -> Result<Option<i64>, String> {
        self.typed(key, "an integer", |v| match v {
            OptionValue::Integer(i) => Some(*i),
            _ => None,
        })
    }

    /// A boolean option; an error if it has another type.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, String> {
        self.typed(key, "a boolean", |v| match v {
            OptionValue::Boolean(b) => Some(*b),
            _ => None,
        })
    }

    /// Reads the ABI form.
    ///
    /// # Safety
    /// `entries` must point to `len` valid entries whose strings and nested arrays are valid
    /// for the duration of the call (the host guarantees this for `create`).
    pub unsafe fn from_raw(entries: *const EntryV1, len: usize) -> Options {
        if entries.is_null() || len == 0 {
            return Options::default();
        }
        // SAFETY: the caller guarantees `len` valid entries.
        let raw = unsafe { std::slice::from_raw_parts(entries, len) };
        Options {
            entries: raw
                .iter()
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
unsafe fn text(s: abi::StrV1) -> String {
    // SAFETY: guaranteed by the caller.
    let bytes = unsafe { s.as_bytes() }.unwrap_or(&[]);
    String::from_utf8_lossy(bytes).into_owned()
}

/// # Safety
/// `v` and everything it points to must be valid for the call.
unsafe fn value(v: &ValueV1) -> OptionValue {
    match v.kind {
        // SAFETY: `text` is valid for the call (the caller's guarantee).
        abi::value_kind::STRING => OptionValue::String(unsafe { text(v.text) }),
        abi::value_kind::INTEGER => OptionValue::Integer(v.int),
        abi::value_kind::FLOAT => OptionValue::Float(v.float),
        abi::value_kind::BOOLEAN => OptionValue::Boolean(v.int != 0),
        // SAFETY: as for STRING.
        abi::value_kind::DATETIME => OptionValue::Datetime(unsafe { text(v.text) }),
        abi::value_kind::ARRAY => {
            let items = if v.items.is_null() {
                &[][..]
            } else {
                // SAFETY: `items` points to `items_len` values valid for the call.
                unsafe { std::slice::from_raw_parts(v.items, v.items_len) }
            };
            // SAFETY: each item is valid for the call, recursively.
            OptionValue::Array(items.iter().map(|i| unsafe { value(i) }).collect())
        }
        // SAFETY: `entries` points to `entries_len` entries valid for the call.
        _ => OptionValue::Table(unsafe { Options::from_raw(v.entries, v.entries_len) }),
    }
}
