//! How optional members of JSON bodies deserialize, so that the status follows the rule of the
//! contract: a member of the wrong JSON type (a string for an object, `null` where a member is
//! not nullable) is a serde error, hence `400` naming the member ([`crate::http::extract::ApiJson`]),
//! while a well-typed value that breaks a rule is left to validation (`422`).
//!
//! - `#[serde(default, deserialize_with = "not_null")]` on `Option<T>`: absent → `None`;
//!   `null` → 400; otherwise `Some`.
//! - `#[serde(default, deserialize_with = "present")]` on `Option<Option<T>>`: absent → `None`,
//!   `null` → `Some(None)` (clears the member or resets it to its default in a patch).

use serde::de::{Error, Unexpected};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// Absent → `None` (with `#[serde(default)]`); `null` is a type error; a value → `Some`.
pub(super) fn not_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Any JSON value but `null`, kept as written (members in their order, every digit of a
/// number): `null` is refused as a wrong type.
pub(super) fn raw_but_null<'de, D>(deserializer: D) -> Result<Option<Box<RawValue>>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    if raw.get() == "null" {
        return Err(D::Error::invalid_type(
            Unexpected::Unit,
            &"any JSON value but null",
        ));
    }
    Ok(Some(raw))
}

/// Runs only for members present in the JSON: `Some(None)` is `null`, `None` is absent.
pub(super) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
