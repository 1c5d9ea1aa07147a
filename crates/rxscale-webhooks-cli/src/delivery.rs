//! A delivery as RxScale makes it (spec §1.2): the body, and the headers that go with it.

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use rxscale_webhooks::{EVENT_HEADER, SIGNATURE_HEADER, SigningSecret, sign};
use serde::Deserialize;

/// The bytes and headers of one delivery, ready to be sent any number of times.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) body: Bytes,
    pub(crate) headers: HeaderMap,
}

impl Delivery {
    /// A delivery of `body`, signed with `secret` unless `None`. `X-Webhook-Event` is taken from
    /// the body's `event_type`, as RxScale fills it, and left out when the body has none.
    pub(crate) fn new(body: impl Into<Bytes>, secret: Option<&SigningSecret>) -> Self {
        let body = body.into();
        let signature = secret.map(|secret| sign(secret, &body));
        Delivery::with_signature(body, signature.as_deref())
    }

    /// A delivery of `body` with this signature header, or none.
    pub(crate) fn with_signature(body: impl Into<Bytes>, signature: Option<&str>) -> Self {
        let body = body.into();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(value) = event_type(&body).and_then(|t| HeaderValue::from_str(&t).ok()) {
            headers.insert(EVENT_HEADER, value);
        }
        if let Some(value) = signature.and_then(|s| HeaderValue::from_str(s).ok()) {
            headers.insert(SIGNATURE_HEADER, value);
        }
        Delivery { body, headers }
    }

    /// The `X-Webhook-Event` this delivery carries, if any.
    pub(crate) fn event_header(&self) -> Option<&str> {
        self.headers
            .get(EVENT_HEADER)
            .and_then(|value| value.to_str().ok())
    }

    /// The same delivery with its body changed after signing: the last digit of the body is
    /// changed, which keeps the JSON valid but changes what it says, as a forger would.
    pub(crate) fn tampered(mut self) -> Self {
        let mut body = self.body.to_vec();
        match body.iter().rposition(u8::is_ascii_digit) {
            Some(at) => body[at] = if body[at] == b'9' { b'0' } else { body[at] + 1 },
            None => body.push(b' '),
        }
        self.body = Bytes::from(body);
        self
    }
}

/// The event type the body names.
fn event_type(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Head {
        event_type: String,
    }
    serde_json::from_slice::<Head>(body)
        .ok()
        .map(|head| head.event_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_as_rxscale_sends_them() {
        let secret = SigningSecret::new("whsec_abc123");
        let delivery = Delivery::new(
            &br#"{"event_type":"x","timestamp":1,"data":{}}"#[..],
            Some(&secret),
        );
        assert_eq!(delivery.headers[CONTENT_TYPE], "application/json");
        assert_eq!(delivery.event_header(), Some("x"));
        assert_eq!(delivery.headers[SIGNATURE_HEADER].len(), 64);
        let unsigned = Delivery::new(&b"not json"[..], None);
        assert!(unsigned.headers.get(SIGNATURE_HEADER).is_none());
        assert!(unsigned.event_header().is_none());
    }

    #[test]
    fn tampering_changes_one_digit_and_keeps_json() {
        let delivery = Delivery::with_signature(&br#"{"a":19,"b":"x"}"#[..], None).tampered();
        assert_eq!(&delivery.body[..], br#"{"a":10,"b":"x"}"#);
        let delivery = Delivery::with_signature(&b"{}"[..], None).tampered();
        assert_eq!(&delivery.body[..], b"{} ");
    }
}
