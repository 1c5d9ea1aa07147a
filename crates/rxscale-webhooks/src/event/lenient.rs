//! Decoding for fields of payloads RxScale has not published (spec §4.3–4.5).
//!
//! Their shapes are borrowed from neighbouring APIs, so a field may well arrive with another
//! type. Such a field becomes `None` rather than failing an authentic event: the event still
//! reaches the handler, whose author can fall back to the raw data.

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_json::value::RawValue;
use time::OffsetDateTime;

pub(crate) fn option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let raw = <&RawValue>::deserialize(deserializer)?;
    Ok(serde_json::from_str(raw.get()).ok())
}

pub(crate) fn timestamp<'de, D>(deserializer: D) -> Result<Option<OffsetDateTime>, D::Error>
where
    D: Deserializer<'de>,
{
    let seconds: Option<i64> = option(deserializer)?;
    Ok(seconds.and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok()))
}
