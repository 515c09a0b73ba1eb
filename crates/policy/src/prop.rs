//! [`Prop`]: one Graph property slot that remembers whether it was absent, `null` or set,
//! so that a policy exported from Graph exports back with exactly the same keys.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A JSON object member as Graph sends it: missing, explicitly `null`, or a value.
///
/// Every model field is a `Prop` so an export writes back what was imported (Graph returns
/// `"devices": null`; a create body simply leaves the key out). Fields are declared with
/// `#[serde(default, skip_serializing_if = "Prop::is_absent")]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Prop<T> {
    /// The key was not present.
    #[default]
    Absent,
    /// The key was present with `null`.
    Null,
    /// The key was present with a value.
    Value(T),
}

impl<T> Prop<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Prop::Absent)
    }

    /// The value, if one was given (absent and `null` both mean "not set").
    pub fn get(&self) -> Option<&T> {
        match self {
            Prop::Value(v) => Some(v),
            Prop::Absent | Prop::Null => None,
        }
    }

    pub fn get_mut(&mut self) -> Option<&mut T> {
        match self {
            Prop::Value(v) => Some(v),
            Prop::Absent | Prop::Null => None,
        }
    }
}

impl<T> From<T> for Prop<T> {
    fn from(value: T) -> Self {
        Prop::Value(value)
    }
}

impl<T: Serialize> Serialize for Prop<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Prop::Value(v) => v.serialize(serializer),
            // Absent members are skipped by `skip_serializing_if`; if one is serialized
            // anyway (e.g. inside a sequence) it is written as `null`.
            Prop::Absent | Prop::Null => serializer.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Prop<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            Some(v) => Prop::Value(v),
            None => Prop::Null,
        })
    }
}

/// Shorthand for the list-valued members: the list, or empty when absent or `null`.
pub(crate) fn list<T>(p: &Prop<Vec<T>>) -> &[T] {
    p.get().map(Vec::as_slice).unwrap_or(&[])
}
