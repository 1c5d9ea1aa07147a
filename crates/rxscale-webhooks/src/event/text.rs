//! The string type of event fields.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An immutable string in a decoded event: a uid, a name, an address line.
///
/// It reads like a `&str` (it derefs to one, compares with `str` and `String`, displays and
/// hashes like one) and turns into a `String` with [`String::from`] or [`Text::into_string`].
/// Strings of up to 24 bytes, which is most of what RxScale sends (uids, SKUs, names, postal
/// codes), are stored inline, so decoding an event allocates almost nothing: with one `String`
/// per field, decoding the 2 KiB pharmacy order took a fifth longer (docs/benchmarks.md).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(CompactString);

impl Text {
    /// A `Text` holding `text`.
    #[must_use]
    pub fn new(text: &str) -> Self {
        Text(CompactString::new(text))
    }

    /// The text as a `&str`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The text as an owned `String`.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0.into_string()
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Text {
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Self {
        Text::new(text)
    }
}

impl From<String> for Text {
    fn from(text: String) -> Self {
        Text(CompactString::from(text))
    }
}

impl From<Text> for String {
    fn from(text: Text) -> Self {
        text.into_string()
    }
}

macro_rules! eq_with {
    ($($other:ty),*) => {$(
        impl PartialEq<$other> for Text {
            fn eq(&self, other: &$other) -> bool {
                self.as_str() == AsRef::<str>::as_ref(other)
            }
        }

        impl PartialEq<Text> for $other {
            fn eq(&self, other: &Text) -> bool {
                AsRef::<str>::as_ref(self) == other.as_str()
            }
        }
    )*};
}

eq_with!(str, &str, String);

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        CompactString::deserialize(deserializer).map(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn reads_compares_and_hashes_like_a_str() {
        let short = Text::new("po-abc123");
        let long = Text::from("an address line well over twenty-four bytes long".to_owned());
        assert_eq!(short, "po-abc123");
        assert_eq!("po-abc123", short);
        assert_eq!(short, String::from("po-abc123"));
        assert_eq!(long.len(), 48);
        assert!(long.starts_with("an address"));
        assert_eq!(format!("{short} {short:?}"), r#"po-abc123 "po-abc123""#);

        let mut by_uid = HashMap::new();
        by_uid.insert(short.clone(), 1);
        assert_eq!(
            by_uid.get("po-abc123"),
            Some(&1),
            "Borrow<str> agrees with Hash"
        );
        assert_eq!(String::from(long.clone()), long.as_str());
    }

    #[test]
    fn round_trips_through_json_with_escapes() {
        let text: Text = serde_json::from_str(r#""Stra\u00dfe \"12a\"""#).unwrap();
        assert_eq!(text, "Straße \"12a\"");
        assert_eq!(serde_json::to_string(&text).unwrap(), r#""Straße \"12a\"""#);
        assert!(serde_json::from_str::<Text>("12").is_err());
    }
}
