//! `rxscale-webhooks-api` against the stand-in for RxScale's subscription APIs
//! (`rxscale_webhooks_tests::rxscale_api_standin`): every operation on both APIs and both path
//! spellings, every error status, a registration without `signing_secret`, and retries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rxscale_webhooks::{OffsetDateTime, SigningSecret, Verifier, sign};
use rxscale_webhooks_api::{
    Api, ApiKey, Client, ErrorKind, NewSubscription, PathSpelling, TestDelivery,
};
use rxscale_webhooks_tests::rxscale_api_standin::{
    MANAGEMENT_KEY, MANAGEMENT_PATH, MANAGEMENT_READ_ONLY_KEY, PHARMACY_KEY, PHARMACY_PATH_V1,
    PHARMACY_PATH_V3, PHARMACY_READ_ONLY_KEY, RxscaleApiStandin, StandinApi,
};

const TARGET: &str = "https://receiver.example/webhooks/rxscale";

fn client(standin: &RxscaleApiStandin, api: Api, key: &str) -> Client {
    Client::builder(ApiKey::new(key))
        .api(api)
        .base_url(standin.base_url())
        .retry_delay(Duration::from_millis(10))
        .build()
        .unwrap()
}

fn pharmacy(standin: &RxscaleApiStandin, spelling: PathSpelling) -> Client {
    Client::builder(ApiKey::new(PHARMACY_KEY))
        .base_url(standin.base_url())
        .path_spelling(spelling)
        .build()
        .unwrap()
}

/// The secret verifies a delivery signed by the stand-in's copy of it, through the core crate.
fn assert_secret_verifies(secret: &SigningSecret, issued: &str) {
    let body = br#"{"event_type":"x","timestamp":1711900000,"data":{}}"#;
    let verifier = Verifier::builder().secret(secret.clone()).build().unwrap();
    let now = OffsetDateTime::from_unix_timestamp(1711900000).unwrap();
    let signature = sign(&SigningSecret::new(issued), body);
    let verified = verifier.verify_at(body, signature, now).unwrap();
    assert_eq!(verified.fingerprint(), secret.fingerprint());
}

#[tokio::test]
async fn pharmacy_api_register_list_remove_on_both_path_spellings() {
    let standin = RxscaleApiStandin::start();
    for (spelling, path) in [
        (PathSpelling::Underscore, PHARMACY_PATH_V3),
        (PathSpelling::HyphenV1, PHARMACY_PATH_V1),
    ] {
        let client = pharmacy(&standin, spelling);
        assert_eq!(client.collection_path(), path);
        let new = NewSubscription::new(TARGET, "pharmacy_order_created").unwrap();
        let registration = client.register(&new).await.unwrap();
        let uid = registration.subscription().uid.clone();
        assert!(uid.starts_with("sub-"), "{uid}");
        assert_eq!(registration.subscription().target, TARGET);
        assert_eq!(
            registration.subscription().notification_type,
            "pharmacy_order_created"
        );
        let stored = standin.subscription(&uid).unwrap();
        assert_eq!(stored.api, StandinApi::Pharmacy);
        assert_secret_verifies(registration.signing_secret(), &stored.signing_secret);
        assert!(!format!("{registration:?}").contains(&stored.signing_secret));

        let listed = client.list().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].uid, uid);
        assert_eq!(listed[0].options, None);

        client.remove(&uid).await.unwrap();
        assert!(client.list().await.unwrap().is_empty());

        let paths: Vec<(String, String)> = standin
            .requests()
            .iter()
            .rev()
            .take(4)
            .map(|request| (request.method.clone(), request.path.clone()))
            .collect();
        assert_eq!(
            paths,
            [
                ("GET".to_owned(), path.to_owned()),
                ("DELETE".to_owned(), format!("{path}{uid}")),
                ("GET".to_owned(), path.to_owned()),
                ("POST".to_owned(), path.to_owned()),
            ]
        );
    }
}

#[tokio::test]
async fn management_api_register_list_test_remove() {
    let standin = RxscaleApiStandin::start();
    let client = client(&standin, Api::Management, MANAGEMENT_KEY);
    assert_eq!(client.collection_path(), MANAGEMENT_PATH);
    let mut meta = serde_json::Map::new();
    meta.insert("team".into(), "orders".into());
    let new = NewSubscription::new(TARGET, "pharmacy_order_updated")
        .unwrap()
        .meta_data(meta)
        .payload_version("1");
    let registration = client.register(&new).await.unwrap();
    let subscription = registration.subscription();
    assert!(subscription.uid.starts_with("ns-"));
    assert_eq!(subscription.options.as_deref(), Some("WEBHOOK"));
    assert_eq!(subscription.payload_version.as_deref(), Some("1"));
    let stored = standin.subscription(&subscription.uid).unwrap();
    assert_secret_verifies(registration.signing_secret(), &stored.signing_secret);
    let register_body: serde_json::Value =
        serde_json::from_str(&standin.requests().last().unwrap().body).unwrap();
    assert_eq!(register_body["meta_data"]["team"], "orders");
    assert_eq!(register_body["payload_version"], "1");

    let listed = client.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].uid, subscription.uid);

    let outcome = client
        .send_test(&TestDelivery::for_subscription(&subscription.uid))
        .await
        .unwrap();
    assert_eq!(outcome.status, 200);
    assert_eq!(outcome.message.as_deref(), Some("Test webhook sent"));
    let test_request = standin.requests().last().unwrap().clone();
    assert_eq!(test_request.path, format!("{MANAGEMENT_PATH}/test"));
    assert_eq!(
        test_request.body,
        format!(r#"{{"uid":"{}"}}"#, subscription.uid)
    );

    client.remove(&subscription.uid).await.unwrap();
    let remove_request = standin.requests().last().unwrap().clone();
    assert_eq!(remove_request.method, "DELETE");
    assert_eq!(remove_request.path, MANAGEMENT_PATH);
    assert_eq!(
        remove_request.query.as_deref(),
        Some(format!("uid={}", subscription.uid).as_str())
    );
    assert_eq!(remove_request.status, 204);
    assert!(client.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn each_api_keeps_its_own_subscriptions_and_keys() {
    let standin = RxscaleApiStandin::start();
    let pharmacy = client(&standin, Api::ExternalPharmacy, PHARMACY_KEY);
    let management = client(&standin, Api::Management, MANAGEMENT_KEY);
    let new = NewSubscription::new(TARGET, "pharmacy_sku_stock_updated").unwrap();
    pharmacy.register(&new).await.unwrap();
    assert!(management.list().await.unwrap().is_empty());
    // An organisation key is not a pharmacy key.
    let wrong_scope = client(&standin, Api::ExternalPharmacy, MANAGEMENT_KEY);
    assert_eq!(
        wrong_scope.list().await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
}

#[tokio::test]
async fn unauthorized_names_the_key_problem_without_the_key() {
    let standin = RxscaleApiStandin::start();
    for api in Api::ALL {
        let client = client(&standin, *api, "not-a-key-SECRETVALUE");
        let err = client.list().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        assert_eq!(err.http_status(), Some(401));
        let text = err.to_string();
        assert!(text.contains("401") && text.contains("API key"), "{text}");
        assert!(!text.contains("SECRETVALUE"), "{text}");
        assert!(!format!("{err:?}").contains("SECRETVALUE"));
    }
}

#[tokio::test]
async fn permission_denied_names_the_missing_permission() {
    let standin = RxscaleApiStandin::start();
    let cases = [
        (
            Api::ExternalPharmacy,
            PHARMACY_READ_ONLY_KEY,
            "webhooks_write",
        ),
        (
            Api::Management,
            MANAGEMENT_READ_ONLY_KEY,
            "notification_subscription:write",
        ),
    ];
    for (api, key, permission) in cases {
        let client = client(&standin, api, key);
        // Reading works with a read-only key.
        client.list().await.unwrap();
        let new = NewSubscription::new(TARGET, "pharmacy_order_created").unwrap();
        let err = client.register(&new).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
        assert_eq!(err.required_permission(), Some(permission));
        assert_eq!(err.message(), Some("Permission Denied"));
        assert!(err.to_string().contains(permission), "{err}");
        let err = client.remove("sub-or-ns-1").await.unwrap_err();
        assert_eq!(err.required_permission(), Some(permission));
        assert!(standin.subscriptions().is_empty());
    }
    let management = client(&standin, Api::Management, MANAGEMENT_READ_ONLY_KEY);
    let err = management
        .send_test(&TestDelivery::default())
        .await
        .unwrap_err();
    assert_eq!(
        err.required_permission(),
        Some("notification_subscription:write")
    );
    // A read permission is named when a list is refused.
    standin.fail_next(403, 1);
    let err = client(&standin, Api::ExternalPharmacy, PHARMACY_KEY)
        .list()
        .await
        .unwrap_err();
    assert_eq!(err.required_permission(), Some("webhooks_read"));
    standin.fail_next(403, 1);
    let err = management.list().await.unwrap_err();
    assert_eq!(
        err.required_permission(),
        Some("notification_subscription:read")
    );
}

#[tokio::test]
async fn not_found_for_unknown_uids_on_both_apis() {
    let standin = RxscaleApiStandin::start();
    for (api, key) in [
        (Api::ExternalPharmacy, PHARMACY_KEY),
        (Api::Management, MANAGEMENT_KEY),
    ] {
        let err = client(&standin, api, key)
            .remove("sub-unknown")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.message(), Some("Not found."));
    }
    let err = client(&standin, Api::Management, MANAGEMENT_KEY)
        .send_test(&TestDelivery::for_subscription("ns-unknown"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn unprocessable_carries_the_field_and_message() {
    let standin = RxscaleApiStandin::start();
    for api in Api::ALL {
        let key = if *api == Api::Management {
            MANAGEMENT_KEY
        } else {
            PHARMACY_KEY
        };
        let new = NewSubscription::new(TARGET, "appointment_reminder_due").unwrap();
        let err = client(&standin, *api, key)
            .register(&new)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unprocessable);
        assert_eq!(err.http_status(), Some(422));
        assert_eq!(
            err.message(),
            Some("body.notification_type: not an event type offered for subscriptions")
        );
    }
}

#[tokio::test]
async fn server_errors_list_is_retried_register_is_not() {
    let standin = RxscaleApiStandin::start();
    let client = client(&standin, Api::ExternalPharmacy, PHARMACY_KEY);
    // Two failures, two retries: the list succeeds on the third attempt.
    standin.fail_next(503, 2);
    assert!(client.list().await.unwrap().is_empty());
    assert_eq!(standin.requests().len(), 3);
    // Three failures exhaust the retries.
    standin.fail_next(500, 3);
    let err = client.list().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!(err.http_status(), Some(500));
    assert_eq!(err.message(), Some("Stand-in failure injected by the test"));
    assert_eq!(standin.requests().len(), 6);
    // Register fails once and is not repeated.
    standin.fail_next(502, 1);
    let new = NewSubscription::new(TARGET, "pharmacy_order_created").unwrap();
    let err = client.register(&new).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!(standin.requests().len(), 7);
    assert!(standin.subscriptions().is_empty());
    // Other statuses are their own kind.
    standin.fail_next(409, 1);
    let err = client.list().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedStatus);
}

#[tokio::test]
async fn registration_without_signing_secret_is_an_error_naming_the_uid() {
    let standin = RxscaleApiStandin::start();
    standin.omit_management_secret(true);
    let client = client(&standin, Api::Management, MANAGEMENT_KEY);
    let new = NewSubscription::new(TARGET, "pharmacy_order_created").unwrap();
    let err = client.register(&new).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingSigningSecret);
    let stored = standin.subscriptions();
    assert_eq!(stored.len(), 1, "the stand-in did create it");
    assert_eq!(err.subscription_uid(), Some(stored[0].uid.as_str()));
    let text = err.to_string();
    assert!(
        text.contains("no signing_secret")
            && text.contains("§1.6.2")
            && text.contains(&stored[0].uid),
        "{text}"
    );
}

#[tokio::test]
async fn insecure_target_is_refused_before_any_request() {
    let standin = RxscaleApiStandin::start();
    let err =
        NewSubscription::new("http://receiver.example/hook", "pharmacy_order_created").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InsecureTarget);
    assert!(err.to_string().contains("HTTPS"), "{err}");
    assert!(standin.requests().is_empty());
}

#[tokio::test]
async fn transport_errors_and_test_on_the_pharmacy_api() {
    let standin = RxscaleApiStandin::start();
    let pharmacy = client(&standin, Api::ExternalPharmacy, PHARMACY_KEY);
    let err = pharmacy
        .send_test(&TestDelivery::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("§5"), "{err}");
    let base = standin.base_url().to_owned();
    drop(standin);
    let gone = Client::builder(ApiKey::new(PHARMACY_KEY))
        .base_url(base)
        .list_retries(1)
        .retry_delay(Duration::from_millis(5))
        .build()
        .unwrap();
    let err = gone.list().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(std::error::Error::source(&err).is_some());
    // Plain http to anything but loopback is refused when building.
    let err = Client::builder(ApiKey::new("k"))
        .base_url("http://api.rxscale.com")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}
