//! Decoding the envelope of an already authenticated body (spec §3).
//!
//! The hot path decodes the envelope and the typed `data` in one pass over the bytes. Any
//! failure there falls back to the precise path, which follows the normative order of checks
//! (envelope, then timestamp window, then typed data) and names the failing field. The fast
//! path is only ever a shortcut to the precise path's success: the property tests hold them to
//! the same answer.

use std::fmt;

use serde::de::{self, DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::error::{Error, ErrorKind};
use crate::event::{DataSeed, Event, EventType, Text, UnknownEvent, is_object, uid_of};

/// The envelope fields, with `data` decoded as `T`.
#[derive(Debug)]
pub(crate) struct Envelope<T> {
    pub(crate) event_type: Text,
    pub(crate) timestamp: i64,
    pub(crate) payload_version: Option<Text>,
    pub(crate) uid: Option<Text>,
    pub(crate) data: T,
}

/// Decodes `body` into a typed event. `check_time` runs after the envelope decodes and before
/// the typed data is judged.
pub(crate) fn decode_event(
    body: &[u8],
    check_time: impl FnOnce(i64) -> Result<(), Error>,
) -> Result<Envelope<Event>, Error> {
    match decode_event_fast(body) {
        Ok(envelope) => {
            check_time(envelope.timestamp)?;
            Ok(envelope)
        }
        Err(_) => decode_event_precise(body, check_time),
    }
}

pub(crate) fn decode_event_precise(
    body: &[u8],
    check_time: impl FnOnce(i64) -> Result<(), Error>,
) -> Result<Envelope<Event>, Error> {
    decode_precise(
        body,
        check_time,
        |event_type, data| match EventType::from_wire(event_type) {
            Some(known) => decode_typed_precise(known, data),
            None => Ok(Event::Unknown(UnknownEvent::new(
                Text::new(event_type),
                data.to_owned(),
            ))),
        },
    )
}

/// Decodes `body` with `data` as a caller-chosen type.
pub(crate) fn decode_custom<T: DeserializeOwned>(
    body: &[u8],
    check_time: impl FnOnce(i64) -> Result<(), Error>,
) -> Result<Envelope<T>, Error> {
    decode_precise(body, check_time, |_, data| decode_with_path::<T>(data))
}

/// The one-pass decoder. Its error is only a signal to take the precise path.
pub(crate) fn decode_event_fast(body: &[u8]) -> Result<Envelope<Event>, FastPathMiss> {
    // JSON is UTF-8. serde_json skips ignored fields without checking their bytes, so without
    // this check invalid UTF-8 in an unknown field would pass here and fail the precise path
    // (found by the decode_event fuzz target). Parsing from &str then skips per-string checks.
    let text = std::str::from_utf8(body).map_err(|_| FastPathMiss)?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let envelope = deserializer
        .deserialize_map(FastEnvelope)
        .map_err(|_| FastPathMiss)?;
    deserializer.end().map_err(|_| FastPathMiss)?;
    Ok(envelope)
}

/// The fast path could not decode the body; the precise path says why.
#[derive(Debug)]
pub(crate) struct FastPathMiss;

struct FastEnvelope;

// Lives on the stack for one decode; boxing the event would cost an allocation per delivery.
#[allow(clippy::large_enum_variant)]
enum Slot<'de> {
    Typed(Event),
    Raw(&'de RawValue),
}

impl<'de> Visitor<'de> for FastEnvelope {
    type Value = Envelope<Event>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RxScale webhook envelope")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut event_type: Option<Text> = None;
        let mut timestamp: Option<i64> = None;
        let mut payload_version: Option<Option<Text>> = None;
        let mut data: Option<Slot<'de>> = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::EventType => {
                    reject_duplicate(&event_type, "event_type")?;
                    event_type = Some(map.next_value()?);
                }
                Key::Timestamp => {
                    reject_duplicate(&timestamp, "timestamp")?;
                    timestamp = Some(map.next_value()?);
                }
                Key::PayloadVersion => {
                    reject_duplicate(&payload_version, "payload_version")?;
                    payload_version = Some(map.next_value::<TolerantString>()?.0);
                }
                Key::Data => {
                    reject_duplicate(&data, "data")?;
                    // RxScale sends event_type first, so data is usually decoded in place.
                    let known = event_type.as_deref().and_then(EventType::from_wire);
                    data = Some(match known {
                        Some(known) => Slot::Typed(map.next_value_seed(DataSeed(known))?),
                        None => Slot::Raw(map.next_value()?),
                    });
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let event_type = event_type.ok_or_else(|| de::Error::missing_field("event_type"))?;
        let timestamp = timestamp.ok_or_else(|| de::Error::missing_field("timestamp"))?;
        let data = match data.ok_or_else(|| de::Error::missing_field("data"))? {
            Slot::Typed(event) => event,
            Slot::Raw(raw) => match EventType::from_wire(&event_type) {
                Some(known) => known
                    .decode(&mut serde_json::Deserializer::from_str(raw.get()))
                    .map_err(de::Error::custom)?,
                None if is_object(raw) => {
                    Event::Unknown(UnknownEvent::new(event_type.clone(), raw.to_owned()))
                }
                None => return Err(de::Error::custom("data is not an object")),
            },
        };
        Ok(Envelope {
            uid: data.uid().map(Text::new),
            event_type,
            timestamp,
            payload_version: payload_version.flatten(),
            data,
        })
    }
}

fn reject_duplicate<T, E: de::Error>(slot: &Option<T>, field: &'static str) -> Result<(), E> {
    match slot {
        Some(_) => Err(E::duplicate_field(field)),
        None => Ok(()),
    }
}

enum Key {
    EventType,
    Timestamp,
    PayloadVersion,
    Data,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "event_type" => Key::EventType,
                    "timestamp" => Key::Timestamp,
                    "payload_version" => Key::PayloadVersion,
                    "data" => Key::Data,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// `payload_version` is documented as a string; anything else is tolerated and ignored, since
/// the issue of which fields make an envelope malformed names only the other three.
struct TolerantString(Option<Text>);

impl<'de> Deserialize<'de> for TolerantString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <&RawValue>::deserialize(deserializer)?;
        Ok(TolerantString(serde_json::from_str(raw.get()).ok()))
    }
}

/// The envelope with `data` left raw, for the precise path.
#[derive(Deserialize)]
struct RawEnvelope<'a> {
    event_type: Text,
    timestamp: i64,
    #[serde(default)]
    payload_version: Option<TolerantString>,
    #[serde(borrow)]
    data: &'a RawValue,
}

fn decode_precise<T>(
    body: &[u8],
    check_time: impl FnOnce(i64) -> Result<(), Error>,
    decode_data: impl FnOnce(&str, &RawValue) -> Result<T, Error>,
) -> Result<Envelope<T>, Error> {
    let text = std::str::from_utf8(body).map_err(|err| {
        Error::with_detail(
            ErrorKind::MalformedPayload,
            format!("body is not UTF-8 (byte {})", err.valid_up_to()),
        )
    })?;
    let envelope: RawEnvelope<'_> = serde_json::from_str(text)
        .map_err(|err| Error::with_detail(ErrorKind::MalformedPayload, describe(&err)))?;
    if !is_object(envelope.data) {
        return Err(Error::with_detail(
            ErrorKind::MalformedPayload,
            "data is not an object",
        ));
    }
    check_time(envelope.timestamp)?;
    let data = decode_data(&envelope.event_type, envelope.data)?;
    Ok(Envelope {
        uid: uid_of(envelope.data),
        event_type: envelope.event_type,
        timestamp: envelope.timestamp,
        payload_version: envelope.payload_version.and_then(|version| version.0),
        data,
    })
}

fn decode_typed_precise(known: EventType, data: &RawValue) -> Result<Event, Error> {
    let mut deserializer = serde_json::Deserializer::from_str(data.get());
    let mut track = serde_path_to_error::Track::new();
    let result = known.decode(serde_path_to_error::Deserializer::new(
        &mut deserializer,
        &mut track,
    ));
    match result {
        Ok(event) => Ok(event),
        Err(err) => {
            let path = track.path().to_string();
            Err(invalid_data(&path, &err))
        }
    }
}

/// Decodes a caller's own data type; on failure, decodes again with path tracking, which would
/// cost on every success, to name the failing field.
fn decode_with_path<T: DeserializeOwned>(data: &RawValue) -> Result<T, Error> {
    if let Ok(value) = serde_json::from_str::<T>(data.get()) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_str(data.get());
    serde_path_to_error::deserialize::<_, T>(&mut deserializer)
        .map_err(|err| invalid_data(&err.path().to_string(), err.inner()))
}

fn invalid_data(path: &str, err: &serde_json::Error) -> Error {
    let mut field = if path.is_empty() || path == "." {
        "data".to_owned()
    } else {
        format!("data.{path}")
    };
    // serde reports a missing field at its parent's path; name the field itself.
    let message = err.to_string();
    if let Some(missing) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name)
    {
        field.push('.');
        field.push_str(missing);
    }
    Error::with_detail(
        ErrorKind::InvalidEventData,
        format!("{field}: {}", describe(err)),
    )
}

/// serde_json's message without the values it quotes (they may be personal data from the
/// order) and without the position suffix, plus the position in a stable form.
fn describe(err: &serde_json::Error) -> String {
    let message = err.to_string();
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(head, _)| head);
    format!(
        "{} (line {}, column {})",
        redact(message),
        err.line(),
        err.column()
    )
}

/// Keeps the shape of a serde message and drops every value it quotes. serde quotes values in
/// backticks (`` invalid type: integer `4915112345678` ``, `` unknown variant `x` ``) or, for
/// strings, in double quotes (`invalid type: string "max@example.com"`). What follows
/// ", expected" is the decoder's own description (a type, or the list of known variants), so it
/// stays; so do the field names of `missing field` and `duplicate field`, which come from this
/// crate's types. Anything else has every quoted part replaced by `…`.
pub(crate) fn redact(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (unexpected, expected) = split_expected(rest);
            let kind = unexpected
                .split(['`', '"'])
                .next()
                .unwrap_or_default()
                .trim();
            let kind = if kind.is_empty() { "a value" } else { kind };
            return format!("{prefix}{kind}{expected}");
        }
    }
    for prefix in ["invalid length", "unknown variant", "unknown field"] {
        if message.starts_with(prefix) {
            let (_, expected) = split_expected(message);
            return format!("{prefix}{expected}");
        }
    }
    let keeps_name =
        message.starts_with("missing field `") || message.starts_with("duplicate field `");
    if keeps_name && message.matches('`').count() == 2 {
        return message.to_owned();
    }
    redact_quoted(message)
}

/// Splits off the `, expected ...` tail (the last one: a quoted value may contain the words).
fn split_expected(message: &str) -> (&str, &str) {
    match message.rfind(", expected ") {
        Some(at) => (&message[..at], &message[at..]),
        None => (message, ""),
    }
}

/// Replaces every backticked or double-quoted part with `…`, quotes kept.
fn redact_quoted(message: &str) -> String {
    let mut redacted = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '`' => {
                redacted.push(c);
                redacted.push('…');
                let mut escaped = false;
                for inner in chars.by_ref() {
                    match inner {
                        '\\' if c == '"' && !escaped => escaped = true,
                        _ if inner == c && !escaped => break,
                        _ => escaped = false,
                    }
                }
                redacted.push(c);
            }
            _ => redacted.push(c),
        }
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_window(_: i64) -> Result<(), Error> {
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]

        /// The fast path may only ever be a shortcut to the precise path's own answer.
        #[test]
        fn fast_path_agrees_with_precise_path(
            index in 0..crate::EventType::ALL.len(),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
            insert in "[\\[\\]{}\",:0-9a-z \\\\]{0,6}",
            remove in 0usize..8,
        ) {
            let base = crate::testing::fixture(crate::EventType::ALL[index]);
            let at = cut.index(base.len() + 1);
            let at = (0..=at).rev().find(|&i| base.is_char_boundary(i)).unwrap_or(0);
            let end = (at..=base.len().min(at + remove)).rev().find(|&i| base.is_char_boundary(i)).unwrap_or(at);
            let body = format!("{}{}{}", &base[..at], insert, &base[end..]);
            let fast = decode_event_fast(body.as_bytes());
            let precise = decode_event_precise(body.as_bytes(), no_window);
            match (fast, precise) {
                (Ok(fast), Ok(precise)) => {
                    proptest::prop_assert_eq!(fast.data, precise.data);
                    proptest::prop_assert_eq!(fast.uid, precise.uid);
                    proptest::prop_assert_eq!(fast.timestamp, precise.timestamp);
                    proptest::prop_assert_eq!(fast.payload_version, precise.payload_version);
                }
                (Ok(fast), Err(err)) => proptest::prop_assert!(false, "fast accepted {fast:?}, precise said {err:?}: {body}"),
                (Err(_), _) => {}
            }
        }
    }

    /// Found by the decode_event fuzz target: invalid UTF-8 inside a field serde ignores.
    #[test]
    fn invalid_utf8_anywhere_is_malformed_on_both_paths() {
        let mut body =
            br#"{"event_type":"x","timestamp":1,"data":{"note":"ab"},"extra":"cd"}"#.to_vec();
        let at = body.iter().rposition(|&b| b == b'c').unwrap();
        body[at] = 0xe6;
        assert!(decode_event_fast(&body).is_err());
        let err = decode_event(&body, no_window).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MalformedPayload);
    }

    #[test]
    fn redact_keeps_shapes_and_drops_values() {
        let cases = [
            (
                "invalid type: integer `4915112345678`, expected a string",
                "invalid type: integer, expected a string",
            ),
            (
                r#"invalid type: string "max@example.com, expected x", expected i64"#,
                "invalid type: string, expected i64",
            ),
            (
                "invalid value: integer `-99999999999999`, expected a valid timestamp",
                "invalid value: integer, expected a valid timestamp",
            ),
            (
                "unknown variant `Jane Doe`, expected one of `init`, `paid`",
                "unknown variant, expected one of `init`, `paid`",
            ),
            (
                "unknown variant `x`, there are no variants",
                "unknown variant",
            ),
            (
                "unknown field `jane@example.com`, expected `uid`",
                "unknown field, expected `uid`",
            ),
            (
                "invalid length 3, expected a tuple of size 2",
                "invalid length, expected a tuple of size 2",
            ),
            ("missing field `uid`", "missing field `uid`"),
            ("duplicate field `uid`", "duplicate field `uid`"),
            ("custom `secret` and \"more\"", "custom `…` and \"…\""),
        ];
        for (message, expected) in cases {
            assert_eq!(redact(message), expected, "{message}");
        }
    }

    #[test]
    fn describe_redacts_quoted_values() {
        let err = serde_json::from_str::<i64>(r#""max@example.com""#).unwrap_err();
        let text = describe(&err);
        assert!(!text.contains("max@example.com"), "{text}");
        assert!(text.contains("invalid type"), "{text}");
    }

    #[test]
    fn data_before_event_type_still_decodes() {
        let body = br#"{"data":{"uid":"mtg-1","status":"confirmed"},"timestamp":1,"event_type":"patient_doctor_meeting_updated"}"#;
        let fast = decode_event_fast(body).unwrap();
        assert_eq!(fast.uid.as_deref(), Some("mtg-1"));
        assert!(matches!(fast.data, Event::PatientDoctorMeetingUpdated(_)));
    }

    #[test]
    fn unknown_types_keep_raw_data_and_uid() {
        let body = br#"{"event_type":"prescription_signed","timestamp":5,"payload_version":"1","data":{"uid":"px-1","x":[1,2]}}"#;
        let envelope = decode_event(body, no_window).unwrap();
        match envelope.data {
            Event::Unknown(unknown) => {
                assert_eq!(unknown.event_type, "prescription_signed");
                assert_eq!(unknown.uid.as_deref(), Some("px-1"));
                assert_eq!(unknown.data.get(), r#"{"uid":"px-1","x":[1,2]}"#);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_envelopes() {
        let cases: &[&[u8]] = &[
            b"",
            b"not json",
            b"[]",
            b"\"x\"",
            br#"{"timestamp":1,"data":{}}"#,
            br#"{"event_type":"x","data":{}}"#,
            br#"{"event_type":"x","timestamp":1}"#,
            br#"{"event_type":1,"timestamp":1,"data":{}}"#,
            br#"{"event_type":"x","timestamp":"1","data":{}}"#,
            br#"{"event_type":"x","timestamp":1.5,"data":{}}"#,
            br#"{"event_type":"x","timestamp":1,"data":[]}"#,
            br#"{"event_type":"x","timestamp":1,"data":null}"#,
            br#"{"event_type":"pharmacy_order_created","timestamp":1,"data":"po-1"}"#,
            br#"{"event_type":"pharmacy_order_created","timestamp":1,"data":["po-1","init"]}"#,
            br#"{"event_type":"x","event_type":"y","timestamp":1,"data":{}}"#,
            br#"{"event_type":"x","timestamp":1,"data":{}} trailing"#,
        ];
        for body in cases {
            let err = decode_event(body, no_window).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::MalformedPayload,
                "{}",
                String::from_utf8_lossy(body)
            );
            assert!(decode_event_fast(body).is_err());
        }
    }

    #[test]
    fn invalid_known_data_names_the_field() {
        let body = br#"{"event_type":"pharmacy_order_created","timestamp":1,"data":{"uid":"po-1","status":"init","created_at":1,"updated_at":1,"pharmacy":{"uid":"ph"},"order":{"uid":"o","priority":"high"},"order_items":[]}}"#;
        let err = decode_event(body, no_window).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidEventData);
        let detail = err.detail().unwrap();
        assert!(detail.starts_with("data.order.priority:"), "{detail}");
        assert!(!detail.contains("high"), "{detail}");
    }

    #[test]
    fn time_is_checked_before_typed_data() {
        let body =
            br#"{"event_type":"pharmacy_order_created","timestamp":1,"data":{"uid":"po-1"}}"#;
        let err = decode_event(body, |_| Err(Error::new(ErrorKind::Expired))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Expired);
    }
}
