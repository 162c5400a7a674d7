//! Serde helpers shared by the generated types.

use serde::{Deserialize, Deserializer};

/// Deserializes an optional property that is present: `null` is refused, as the schemas give
/// every optional property a type that excludes it. A missing property is `None` through
/// `#[serde(default)]`.
pub(crate) fn present<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(de).map(Some)
}
