//! Request and response bodies of spec §1.6. Fields the docs do not confirm are `Option`s;
//! fields this crate does not know are ignored, so a new field on RxScale's side breaks nothing.

use rxscale_webhooks::{Fingerprint, SigningSecret};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::Error;

/// A subscription as RxScale lists it: one event type delivered to one target (spec §1.1).
///
/// `uid`, `target` and `notification_type` are documented for list items and registration
/// responses. `options`, `payload_version` and `meta_data` appear only in the Management API's
/// registration example (or request), so they are optional. The secret is never listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Subscription {
    /// The subscription's id: `sub-…` on the External Pharmacy API, `ns-…` on the Management API.
    pub uid: String,
    /// The delivery URL.
    pub target: String,
    /// The event type delivered, e.g. `pharmacy_order_created`.
    pub notification_type: String,
    /// Management API: the delivery channel, `"WEBHOOK"` in the published example.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
    /// Management API: the payload schema version (default `"1"`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub payload_version: Option<String>,
    /// Management API: free-form metadata attached at registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `"1"` as documented, but `1` is accepted too: a type change there is no reason to fail.
fn string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(
        match Option::<serde_json::Value>::deserialize(deserializer)? {
            Some(serde_json::Value::String(text)) => Some(text),
            Some(serde_json::Value::Number(number)) => Some(number.to_string()),
            _ => None,
        },
    )
}

/// A subscription to register: an HTTPS `target` and one `notification_type`.
///
/// ```
/// use rxscale_webhooks_api::{ErrorKind, NewSubscription};
///
/// let new = NewSubscription::new("https://example.com/webhooks/rxscale", "pharmacy_order_created")?;
/// assert_eq!(new.target(), "https://example.com/webhooks/rxscale");
///
/// let err = NewSubscription::new("http://example.com/hook", "pharmacy_order_created").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InsecureTarget);
/// # Ok::<(), rxscale_webhooks_api::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewSubscription {
    target: String,
    notification_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta_data: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_version: Option<String>,
}

impl NewSubscription {
    /// A subscription of `target` to `notification_type`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InsecureTarget`](crate::ErrorKind::InsecureTarget) when `target` is not an
    /// `https://` URL with a host: the Management API defines `target` as an HTTPS URL and
    /// RxScale delivers to publicly reachable endpoints (spec §1.1, §1.6.2). The check is local,
    /// so nothing is sent.
    pub fn new(
        target: impl Into<String>,
        notification_type: impl Into<String>,
    ) -> Result<Self, Error> {
        let target = target.into();
        check_target(&target)?;
        Ok(NewSubscription {
            target,
            notification_type: notification_type.into(),
            meta_data: None,
            payload_version: None,
        })
    }

    /// Management API only: free-form metadata stored with the subscription. Default: none.
    #[must_use]
    pub fn meta_data(mut self, meta_data: serde_json::Map<String, serde_json::Value>) -> Self {
        self.meta_data = Some(meta_data);
        self
    }

    /// Management API only: the payload schema version. Default: not sent (RxScale uses `"1"`).
    #[must_use]
    pub fn payload_version(mut self, version: impl Into<String>) -> Self {
        self.payload_version = Some(version.into());
        self
    }

    /// The delivery URL.
    #[must_use]
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The event type.
    #[must_use]
    pub fn notification_type(&self) -> &str {
        &self.notification_type
    }

    pub(crate) fn has_management_fields(&self) -> bool {
        self.meta_data.is_some() || self.payload_version.is_some()
    }
}

/// Refuses a target that is not `https://` with a host, naming the spec's reason.
pub(crate) fn check_target(target: &str) -> Result<(), Error> {
    let url = reqwest::Url::parse(target).map_err(|err| {
        Error::insecure_target(format!(
            "target {target:?} is not a URL ({err}); RxScale delivers to an HTTPS URL"
        ))
    })?;
    if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
        return Err(Error::insecure_target(format!(
            "target {target:?} is not an HTTPS URL: RxScale defines a subscription's target as an \
             HTTPS URL on a publicly reachable host (spec §1.1, §1.6.2), so it is refused here, \
             before any request"
        )));
    }
    Ok(())
}

/// A registration's result: the subscription and its signing secret, which RxScale returns only
/// this once (spec §2.2). Store the secret before doing anything else.
#[derive(Debug, Clone)]
pub struct Registration {
    subscription: Subscription,
    signing_secret: SigningSecret,
}

impl Registration {
    pub(crate) fn new(subscription: Subscription, signing_secret: SigningSecret) -> Self {
        Registration {
            subscription,
            signing_secret,
        }
    }

    /// The new subscription.
    #[must_use]
    pub fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    /// Its signing secret, ready for a [`rxscale_webhooks::Verifier`].
    #[must_use]
    pub fn signing_secret(&self) -> &SigningSecret {
        &self.signing_secret
    }

    /// The secret's fingerprint, safe to log.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        self.signing_secret.fingerprint()
    }

    /// Both parts, by value.
    #[must_use]
    pub fn into_parts(self) -> (Subscription, SigningSecret) {
        (self.subscription, self.signing_secret)
    }
}

/// A registration response: a subscription plus, documented for every registration, the secret.
#[derive(Deserialize)]
pub(crate) struct RegistrationBody {
    #[serde(flatten)]
    pub(crate) subscription: Subscription,
    #[serde(default, deserialize_with = "secret_at_once")]
    pub(crate) signing_secret: Option<SigningSecret>,
}

/// The secret moves straight from the decoder's `String` into a zeroizing `SigningSecret`.
fn secret_at_once<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SigningSecret>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.map(SigningSecret::new))
}

/// A list response. The container is not documented: a bare array, or an object holding the
/// array under one of the usual names, are all accepted.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum ListBody {
    Bare(Vec<Subscription>),
    Wrapped {
        #[serde(
            alias = "data",
            alias = "items",
            alias = "subscriptions",
            alias = "webhooks",
            alias = "notification_subscriptions"
        )]
        results: Vec<Subscription>,
    },
}

impl ListBody {
    pub(crate) fn into_vec(self) -> Vec<Subscription> {
        match self {
            ListBody::Bare(items) | ListBody::Wrapped { results: items } => items,
        }
    }
}

/// What to ask the Management API's test-delivery endpoint for
/// (`POST /v1/management/notification-subscriptions/test`). Its request body is not documented
/// (spec §5); the fields set here are sent as JSON and unset ones are left out.
///
/// ```
/// use rxscale_webhooks_api::TestDelivery;
///
/// let test = TestDelivery::for_subscription("ns-abc123");
/// assert_eq!(test.uid(), Some("ns-abc123"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TestDelivery {
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notification_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
}

impl TestDelivery {
    /// A test delivery for the subscription `uid` (sent as `{"uid": …}`).
    #[must_use]
    pub fn for_subscription(uid: impl Into<String>) -> Self {
        TestDelivery {
            uid: Some(uid.into()),
            ..TestDelivery::default()
        }
    }

    /// Also name the event type. Default: not sent.
    #[must_use]
    pub fn notification_type(mut self, notification_type: impl Into<String>) -> Self {
        self.notification_type = Some(notification_type.into());
        self
    }

    /// Also name the target. Default: not sent.
    #[must_use]
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    /// The subscription uid, if set.
    #[must_use]
    pub fn uid(&self) -> Option<&str> {
        self.uid.as_deref()
    }
}

/// RxScale's answer to a test-delivery request. Its body is not documented, so only the status
/// and a message (if any) are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TestDeliveryOutcome {
    /// The success status, e.g. `200` or `202`.
    pub status: u16,
    /// The `message` or `detail` of the response body, when there was one.
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn list_bodies_bare_or_wrapped_and_unknown_fields_tolerated() {
        let item = r#"{"uid":"sub-1","target":"https://a.example/h","notification_type":"pharmacy_order_created","created_at":123}"#;
        for body in [
            format!("[{item}]"),
            format!(r#"{{"results":[{item}],"count":1}}"#),
            format!(r#"{{"data":[{item}]}}"#),
        ] {
            let list: ListBody = serde_json::from_str(&body).unwrap();
            let items = list.into_vec();
            assert_eq!(items.len(), 1);
            assert_eq!(items[0].uid, "sub-1");
            assert_eq!(items[0].options, None);
        }
    }

    #[test]
    fn payload_version_as_string_or_number() {
        for version in [r#""1""#, "1"] {
            let body = format!(
                r#"{{"uid":"ns-1","target":"https://a.example/h","notification_type":"x","payload_version":{version}}}"#
            );
            let sub: Subscription = serde_json::from_str(&body).unwrap();
            assert_eq!(sub.payload_version.as_deref(), Some("1"));
        }
    }

    #[test]
    fn targets_must_be_https_with_a_host() {
        for bad in ["http://a.example/h", "ftp://a.example/", "a.example/h", ""] {
            assert_eq!(
                NewSubscription::new(bad, "x").unwrap_err().kind(),
                crate::ErrorKind::InsecureTarget,
                "{bad}"
            );
        }
        assert!(NewSubscription::new("https://a.example/h", "x").is_ok());
    }
}
