//! Handler errors are stored and printed without any value from the event's body: the body
//! carries patients' personal data, and a handler's message may quote it.

/// The longest error text kept, in characters.
const MAX_ERROR_CHARS: usize = 500;

/// What replaces a value from the body.
const REDACTED: &str = "<redacted>";

/// `message` with every string and number that appears in `body` replaced by `<redacted>`,
/// and cut to a bounded length. Values of one or two characters are replaced only where they
/// stand alone (not inside a longer word), so that short values such as `"1"` cannot survive
/// and still leave the message readable.
pub(crate) fn redact(message: &str, body: &str) -> String {
    let mut values = Vec::new();
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(body) {
        collect(&value, &mut values);
    }
    // Longest first, so that a value containing another is replaced whole.
    values.sort_by_key(|value| std::cmp::Reverse(value.len()));
    values.dedup();
    let mut text = message.to_owned();
    for value in &values {
        if value.chars().count() >= 3 {
            text = text.replace(value.as_str(), REDACTED);
        } else {
            text = replace_standalone(&text, value);
        }
    }
    if text.chars().count() > MAX_ERROR_CHARS {
        text = text.chars().take(MAX_ERROR_CHARS).collect::<String>() + "...";
    }
    text
}

fn collect(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) if !text.is_empty() => out.push(text.clone()),
        serde_json::Value::Number(number) => out.push(number.to_string()),
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect(item, out)),
        serde_json::Value::Object(map) => map.values().for_each(|item| collect(item, out)),
        _ => {}
    }
}

fn replace_standalone(text: &str, value: &str) -> String {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-' || c == '.';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(value) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + value.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(word) || after.is_some_and(word) {
            out.push_str(value);
        } else {
            out.push_str(REDACTED);
        }
        rest = &rest[at + value.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn values_from_the_body_never_survive() {
        let body = r#"{"event_type":"pharmacy_order_updated","timestamp":1700000000,"data":{"uid":"po-1","patient":{"name":"Jane Roe","email":"jane@example.com","age":42,"x":"7"}}}"#;
        let message = "ERP refused order po-1 for Jane Roe <jane@example.com>, age 42, code 7 at 1700000000; item 17";
        let redacted = redact(message, body);
        for value in ["po-1", "Jane Roe", "jane@example.com", "42", "1700000000"] {
            assert!(!redacted.contains(value), "{value} in {redacted}");
        }
        assert!(!redacted.contains(" 7 "), "{redacted}");
        assert!(
            redacted.contains("item 17"),
            "a longer word keeps its digit: {redacted}"
        );
        assert!(redacted.starts_with("ERP refused order <redacted>"));
    }

    #[test]
    fn long_messages_are_cut() {
        let redacted = redact(&"x".repeat(2000), "{}");
        assert_eq!(redacted.chars().count(), 503);
    }
}
