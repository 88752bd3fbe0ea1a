//! Owned values: what the harness keeps of the cells an analyzer emitted, and what a fixture
//! gives an analyzer as another analyzer's column.

use crate::Value;
use crate::abi::{self, CellV2, StrV2};

/// An owned [`Value`]: a region value or a table cell the analyzer emitted (copied, as vmpipe
/// copies them), or a value given to it as another analyzer's column.
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedValue {
    /// No value (an empty cell).
    Absent,
    /// Unsigned integer.
    U64(u64),
    /// Signed integer.
    I64(i64),
    /// Float.
    F64(f64),
    /// Boolean.
    Bool(bool),
    /// UTF-8 text.
    Text(String),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An address.
    Address(u64),
}

impl OwnedValue {
    /// The borrowed form.
    pub fn as_value(&self) -> Value<'_> {
        match self {
            OwnedValue::Absent => Value::Absent,
            OwnedValue::U64(v) => Value::U64(*v),
            OwnedValue::I64(v) => Value::I64(*v),
            OwnedValue::F64(v) => Value::F64(*v),
            OwnedValue::Bool(v) => Value::Bool(*v),
            OwnedValue::Text(s) => Value::Text(s),
            OwnedValue::Bytes(b) => Value::Bytes(b),
            OwnedValue::Address(v) => Value::Address(*v),
        }
    }

    /// True for [`OwnedValue::Absent`].
    pub fn is_absent(&self) -> bool {
        matches!(self, OwnedValue::Absent)
    }

    /// The text, for a `Text` value.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            OwnedValue::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, for a `Bytes` or `Text` value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            OwnedValue::Bytes(b) => Some(b),
            OwnedValue::Text(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The number, for a `U64` or `Address` value.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            OwnedValue::U64(v) | OwnedValue::Address(v) => Some(*v),
            _ => None,
        }
    }

    /// The ABI kind code ([`abi::kind`]).
    pub(crate) fn kind(&self) -> u32 {
        self.as_value().cell().kind
    }

    /// The ABI cell, borrowing this value's bytes.
    pub(crate) fn cell(&self) -> CellV2 {
        self.as_value().cell()
    }
}

impl From<Value<'_>> for OwnedValue {
    fn from(v: Value<'_>) -> OwnedValue {
        match v {
            Value::Absent => OwnedValue::Absent,
            Value::U64(v) => OwnedValue::U64(v),
            Value::I64(v) => OwnedValue::I64(v),
            Value::F64(v) => OwnedValue::F64(v),
            Value::Bool(v) => OwnedValue::Bool(v),
            Value::Text(s) => OwnedValue::Text(s.to_string()),
            Value::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            Value::Address(v) => OwnedValue::Address(v),
        }
    }
}

impl From<&str> for OwnedValue {
    fn from(v: &str) -> OwnedValue {
        OwnedValue::Text(v.to_string())
    }
}

impl From<&[u8]> for OwnedValue {
    fn from(v: &[u8]) -> OwnedValue {
        OwnedValue::Bytes(v.to_vec())
    }
}

impl From<u64> for OwnedValue {
    fn from(v: u64) -> OwnedValue {
        OwnedValue::U64(v)
    }
}

impl From<bool> for OwnedValue {
    fn from(v: bool) -> OwnedValue {
        OwnedValue::Bool(v)
    }
}

impl<T: Into<OwnedValue>> From<Option<T>> for OwnedValue {
    fn from(v: Option<T>) -> OwnedValue {
        v.map_or(OwnedValue::Absent, Into::into)
    }
}

/// The absent cell.
pub(crate) const ABSENT_CELL: CellV2 = CellV2 {
    kind: abi::kind::ABSENT,
    int: 0,
    float: 0.0,
    bytes: StrV2::ABSENT,
};
