use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderValue};
use reqwest::{Method, StatusCode, Url};

use crate::error::{Error, response_message};
use crate::key::ApiKey;
use crate::types::{
    ListBody, NewSubscription, Registration, RegistrationBody, Subscription, TestDelivery,
    TestDeliveryOutcome,
};

/// RxScale's production API host (spec §1.6.1).
pub const PRODUCTION_BASE_URL: &str = "https://api.rxscale.com";
/// RxScale's development API host (spec §1.6.1).
pub const DEVELOPMENT_BASE_URL: &str = "https://api.rxscale-dev.com";

/// The largest response body read. Subscription lists are small; this bounds a broken proxy.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Which of RxScale's two subscription APIs to talk to (spec §1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Api {
    /// The External Pharmacy API (pharmacy-scoped keys): `/v1/…pharmacy…/webhooks/`. The default.
    #[default]
    ExternalPharmacy,
    /// The Management API (organisation-scoped keys): `/v1/management/notification-subscriptions`,
    /// with a test-delivery endpoint.
    Management,
}

impl Api {
    /// Both APIs.
    pub const ALL: &'static [Api] = &[Api::ExternalPharmacy, Api::Management];

    /// `external_pharmacy` or `management`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Api::ExternalPharmacy => "external_pharmacy",
            Api::Management => "management",
        }
    }

    fn read_permission(self) -> &'static str {
        match self {
            Api::ExternalPharmacy => "webhooks_read",
            Api::Management => "notification_subscription:read",
        }
    }

    fn write_permission(self) -> &'static str {
        match self {
            Api::ExternalPharmacy => "webhooks_write",
            Api::Management => "notification_subscription:write",
        }
    }
}

/// How the External Pharmacy API's path is spelled; the docs changed it (spec §6, §7.17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum PathSpelling {
    /// `/v1/external_pharmacy_api/webhooks/`, as in the newest docs (V3). The default.
    #[default]
    Underscore,
    /// `/v1/external-pharmacy-api-v1/webhooks/`, as in the older docs (V1, V2).
    HyphenV1,
}

impl PathSpelling {
    /// Both spellings.
    pub const ALL: &'static [PathSpelling] = &[PathSpelling::Underscore, PathSpelling::HyphenV1];

    /// The webhooks collection path, with its trailing `/`.
    #[must_use]
    pub fn webhooks_path(self) -> &'static str {
        match self {
            PathSpelling::Underscore => "/v1/external_pharmacy_api/webhooks/",
            PathSpelling::HyphenV1 => "/v1/external-pharmacy-api-v1/webhooks/",
        }
    }
}

const MANAGEMENT_PATH: &str = "/v1/management/notification-subscriptions";

/// Builds a [`Client`]. Start with [`Client::builder`].
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    api_key: ApiKey,
    api: Api,
    base_url: String,
    spelling: PathSpelling,
    pharmacy_uid: Option<String>,
    timeout: Duration,
    list_retries: u32,
    retry_delay: Duration,
}

impl ClientBuilder {
    /// Which API to talk to. Default: [`Api::ExternalPharmacy`].
    pub fn api(mut self, api: Api) -> Self {
        self.api = api;
        self
    }

    /// The API host. Default: [`PRODUCTION_BASE_URL`]. Plain `http://` is accepted only for a
    /// loopback host (a local stand-in); anything else must be `https://`.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Use RxScale's development host, [`DEVELOPMENT_BASE_URL`].
    pub fn development(self) -> Self {
        self.base_url(DEVELOPMENT_BASE_URL)
    }

    /// External Pharmacy API path spelling. Default: [`PathSpelling::Underscore`] (newest docs).
    pub fn path_spelling(mut self, spelling: PathSpelling) -> Self {
        self.spelling = spelling;
        self
    }

    /// Group-wide pharmacy keys name the pharmacy in a `pharmacy_uid` query parameter (whether
    /// the webhooks endpoints need it is not documented, spec §1.6.1). Default: not sent.
    pub fn pharmacy_uid(mut self, pharmacy_uid: impl Into<String>) -> Self {
        self.pharmacy_uid = Some(pharmacy_uid.into());
        self
    }

    /// Timeout of each request. Default: 30 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often a failed `list` is retried after a connection failure, a timeout or a
    /// 500/502/503/504. Default: 2. Register, remove and test are never retried: a second
    /// registration would create a second subscription.
    pub fn list_retries(mut self, retries: u32) -> Self {
        self.list_retries = retries;
        self
    }

    /// Delay before the first retry, doubled for each further one. Default: 250 ms.
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the base URL is not a URL, is plain
    /// `http://` to a non-loopback host, or the HTTP client cannot be set up.
    pub fn build(self) -> Result<Client, Error> {
        let base = parse_base_url(&self.base_url)?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            // The key must never follow a redirect to another host; RxScale's API does not
            // redirect.
            .redirect(reqwest::redirect::Policy::none())
            .https_only(base.scheme() == "https")
            .build()
            .map_err(|err| Error::config(format!("cannot set up the HTTP client: {err}")))?;
        Ok(Client {
            http,
            base,
            api: self.api,
            spelling: self.spelling,
            api_key: self.api_key,
            pharmacy_uid: self.pharmacy_uid,
            list_retries: self.list_retries,
            retry_delay: self.retry_delay,
        })
    }
}

fn parse_base_url(raw: &str) -> Result<Url, Error> {
    let url = Url::parse(raw)
        .map_err(|err| Error::config(format!("base URL {raw:?} is not a URL: {err}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(format!(
            "base URL {raw:?} must not carry a query or fragment"
        )));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(Error::config(format!(
            "base URL {raw:?} is plain http to a non-loopback host; the API key would travel in \
             clear text. Use https:// (plain http is accepted only for 127.0.0.0/8, [::1] and \
             localhost, e.g. a local stand-in)"
        ))),
        other => Err(Error::config(format!(
            "base URL {raw:?} has unsupported scheme {other}; use https://"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    let domain = host.trim_end_matches('.').to_ascii_lowercase();
    domain == "localhost" || domain.ends_with(".localhost")
}

/// An async client for RxScale's subscription APIs: register, list and remove subscriptions,
/// and (Management API) trigger a test delivery.
///
/// Cheap to clone; clones share one connection pool.
///
/// ```no_run
/// use rxscale_webhooks_api::{ApiKey, Client, NewSubscription};
///
/// # async fn run() -> Result<(), rxscale_webhooks_api::Error> {
/// let client = Client::builder(ApiKey::from_default_env()?).build()?;
/// let new = NewSubscription::new("https://example.com/webhooks/rxscale", "pharmacy_order_created")?;
/// let registration = client.register(&new).await?;
/// println!("{} signs with {}", registration.subscription().uid, registration.fingerprint());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    api: Api,
    spelling: PathSpelling,
    api_key: ApiKey,
    pharmacy_uid: Option<String>,
    list_retries: u32,
    retry_delay: Duration,
}

/// One request: method, path below the base URL, an optional uid query parameter and JSON body.
struct Call<'a> {
    operation: &'static str,
    method: Method,
    path: String,
    uid_query: Option<&'a str>,
    body: Option<Vec<u8>>,
    permission: &'static str,
}

impl Client {
    /// A builder with the production host, the External Pharmacy API and the newest path
    /// spelling.
    pub fn builder(api_key: ApiKey) -> ClientBuilder {
        ClientBuilder {
            api_key,
            api: Api::default(),
            base_url: PRODUCTION_BASE_URL.to_owned(),
            spelling: PathSpelling::default(),
            pharmacy_uid: None,
            timeout: Duration::from_secs(30),
            list_retries: 2,
            retry_delay: Duration::from_millis(250),
        }
    }

    /// The API this client talks to.
    #[must_use]
    pub fn api(&self) -> Api {
        self.api
    }

    /// The base URL, as configured.
    #[must_use]
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// The collection path of the chosen API (and spelling).
    #[must_use]
    pub fn collection_path(&self) -> &'static str {
        match self.api {
            Api::ExternalPharmacy => self.spelling.webhooks_path(),
            Api::Management => MANAGEMENT_PATH,
        }
    }

    /// Lists the subscriptions the key can see. Retried on connection failures, timeouts and
    /// 500/502/503/504 (see [`ClientBuilder::list_retries`]).
    ///
    /// # Errors
    ///
    /// A status error (`401`, `403` naming `webhooks_read` or `notification_subscription:read`,
    /// …), [`ErrorKind::Transport`](crate::ErrorKind::Transport) or
    /// [`ErrorKind::InvalidResponse`](crate::ErrorKind::InvalidResponse).
    pub async fn list(&self) -> Result<Vec<Subscription>, Error> {
        let call = Call {
            operation: "list subscriptions",
            method: Method::GET,
            path: self.collection_path().to_owned(),
            uid_query: None,
            body: None,
            permission: self.api.read_permission(),
        };
        let mut attempt = 0;
        let (_, body) = loop {
            match self.send(&call).await {
                Err(err) if attempt < self.list_retries && retryable(&err) => {
                    let delay = self.retry_delay.saturating_mul(1 << attempt.min(10));
                    tracing::debug!(
                        api = self.api.as_str(),
                        attempt,
                        ?delay,
                        kind = %err.kind(),
                        "listing subscriptions failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => break other?,
            }
        };
        let list: ListBody = serde_json::from_slice(&body).map_err(|err| {
            Error::invalid_response(format!(
                "list subscriptions: the response is not a list of subscriptions with uid, \
                 target and notification_type (spec §1.6): {}",
                describe_json_error(&err)
            ))
        })?;
        Ok(list.into_vec())
    }

    /// Registers a subscription. The response's `signing_secret` becomes a [`SigningSecret`](rxscale_webhooks::SigningSecret) at
    /// once. Never retried: a retry after a lost response would create a second subscription.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MissingSigningSecret`](crate::ErrorKind::MissingSigningSecret) when RxScale
    /// created the subscription but sent no secret (the error carries its uid); [`ErrorKind::Config`](crate::ErrorKind::Config)
    /// when `meta_data` or `payload_version` is set for the External Pharmacy API, which documents
    /// neither; status errors (`403` names `webhooks_write` or `notification_subscription:write`).
    pub async fn register(&self, new: &NewSubscription) -> Result<Registration, Error> {
        const OPERATION: &str = "register subscription";
        crate::types::check_target(new.target())?;
        if self.api == Api::ExternalPharmacy && new.has_management_fields() {
            return Err(Error::config(format!(
                "{OPERATION}: meta_data and payload_version are Management API fields; the \
                 External Pharmacy API documents only target and notification_type"
            )));
        }
        let body = serde_json::to_vec(new).map_err(|err| {
            Error::config(format!("{OPERATION}: cannot encode the request: {err}"))
        })?;
        let call = Call {
            operation: OPERATION,
            method: Method::POST,
            path: self.collection_path().to_owned(),
            uid_query: None,
            body: Some(body),
            permission: self.api.write_permission(),
        };
        let (_, body) = self.send(&call).await?;
        let decoded: RegistrationBody = serde_json::from_slice(&body).map_err(|err| {
            Error::invalid_response(format!(
                "{OPERATION}: the response is not a subscription with uid, target and \
                 notification_type (spec §1.6); the subscription may exist: list to check. {}",
                describe_json_error(&err)
            ))
        })?;
        drop(body);
        let subscription = decoded.subscription;
        match decoded.signing_secret {
            Some(secret) if !secret.expose_secret().is_empty() => {
                tracing::info!(
                    api = self.api.as_str(),
                    uid = %subscription.uid,
                    fingerprint = %secret.fingerprint(),
                    "registered subscription"
                );
                Ok(Registration::new(subscription, secret))
            }
            _ => Err(Error::missing_signing_secret(OPERATION, subscription.uid)),
        }
    }

    /// Removes a subscription. External Pharmacy API: `DELETE …/webhooks/{uid}` (`204`).
    /// Management API: `DELETE /v1/management/notification-subscriptions` with the uid both as
    /// `?uid=` and as a JSON body `{"uid": …}`, because how it is passed is not documented
    /// (spec §1.6.2). Not retried.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound) for an unknown uid; other status
    /// errors as for [`Client::register`].
    pub async fn remove(&self, uid: &str) -> Result<(), Error> {
        const OPERATION: &str = "remove subscription";
        if uid.is_empty() || uid == "." || uid == ".." || uid.chars().any(char::is_control) {
            return Err(Error::config(format!(
                "{OPERATION}: the uid is empty, a dot segment or has control characters"
            )));
        }
        let call = match self.api {
            Api::ExternalPharmacy => Call {
                operation: OPERATION,
                method: Method::DELETE,
                path: format!("{}{}", self.spelling.webhooks_path(), encode_segment(uid)),
                uid_query: None,
                body: None,
                permission: self.api.write_permission(),
            },
            Api::Management => Call {
                operation: OPERATION,
                method: Method::DELETE,
                path: MANAGEMENT_PATH.to_owned(),
                uid_query: Some(uid),
                body: Some(
                    serde_json::to_vec(&serde_json::json!({ "uid": uid })).map_err(|err| {
                        Error::config(format!("{OPERATION}: cannot encode the request: {err}"))
                    })?,
                ),
                permission: self.api.write_permission(),
            },
        };
        self.send(&call).await?;
        tracing::info!(api = self.api.as_str(), uid, "removed subscription");
        Ok(())
    }

    /// Management API only: asks RxScale to send a test delivery
    /// (`POST /v1/management/notification-subscriptions/test`). Not retried.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) on the External Pharmacy API, which
    /// documents no test facility (spec §5); status errors (`403` names
    /// `notification_subscription:write`).
    pub async fn send_test(&self, test: &TestDelivery) -> Result<TestDeliveryOutcome, Error> {
        const OPERATION: &str = "send test delivery";
        if self.api != Api::Management {
            return Err(Error::config(format!(
                "{OPERATION}: the External Pharmacy API documents no test delivery (spec §5); \
                 use the Management API, or send a signed delivery yourself with \
                 `rxscale-webhooks send`"
            )));
        }
        let body = serde_json::to_vec(test).map_err(|err| {
            Error::config(format!("{OPERATION}: cannot encode the request: {err}"))
        })?;
        let call = Call {
            operation: OPERATION,
            method: Method::POST,
            path: format!("{MANAGEMENT_PATH}/test"),
            uid_query: None,
            body: Some(body),
            permission: self.api.write_permission(),
        };
        let (status, body) = self.send(&call).await?;
        Ok(TestDeliveryOutcome {
            status: status.as_u16(),
            message: response_message(&body, self.api_key.expose_secret()),
        })
    }

    /// Sends one request and returns a success status with its body, or the status's error.
    async fn send(&self, call: &Call<'_>) -> Result<(StatusCode, Vec<u8>), Error> {
        let mut url = self.base.clone();
        let path = format!("{}{}", self.base.path().trim_end_matches('/'), call.path);
        url.set_path(&path);
        {
            let mut query = url.query_pairs_mut();
            if let Some(uid) = call.uid_query {
                query.append_pair("uid", uid);
            }
            if let Some(pharmacy_uid) = &self.pharmacy_uid {
                query.append_pair("pharmacy_uid", pharmacy_uid);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let mut key = HeaderValue::from_str(self.api_key.expose_secret()).map_err(|_| {
            Error::config("the API key holds characters an HTTP header cannot carry")
        })?;
        key.set_sensitive(true);
        let mut request = self
            .http
            .request(call.method.clone(), url)
            .header("X-API-Key", key)
            .header(ACCEPT, "application/json");
        if let Some(body) = &call.body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let mut response = request
            .send()
            .await
            .map_err(|err| Error::transport(call.operation, err))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| Error::transport(call.operation, err))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(Error::invalid_response(format!(
                    "{}: the response exceeds {MAX_RESPONSE_BYTES} bytes",
                    call.operation
                )));
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(
            api = self.api.as_str(),
            method = %call.method,
            path = %call.path,
            status = status.as_u16(),
            "RxScale API answered"
        );
        if status.is_success() {
            return Ok((status, body));
        }
        Err(Error::status(
            call.operation,
            status.as_u16(),
            response_message(&body, self.api_key.expose_secret()),
            call.permission,
        ))
    }
}

fn retryable(err: &Error) -> bool {
    match err.kind() {
        crate::ErrorKind::Transport => true,
        crate::ErrorKind::Server => matches!(err.http_status(), Some(500 | 502 | 503 | 504)),
        _ => false,
    }
}

/// Percent-encodes a path segment, so that a uid cannot change the path.
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A serde_json error without the input it quotes: position and category only, since response
/// bodies may hold personal data.
fn describe_json_error(err: &serde_json::Error) -> String {
    let category = match err.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "unexpected shape or missing field",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!("{category} at line {} column {}", err.line(), err.column())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn base_urls_https_or_loopback_http() {
        for ok in [
            PRODUCTION_BASE_URL,
            DEVELOPMENT_BASE_URL,
            "http://127.0.0.1:8080",
            "http://[::1]:1/",
            "http://localhost:9",
        ] {
            assert!(parse_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.rxscale.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "nope",
            "https://a?x=1",
        ] {
            assert_eq!(
                parse_base_url(bad).unwrap_err().kind(),
                ErrorKind::Config,
                "{bad}"
            );
        }
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("sub-abc_1.2~"), "sub-abc_1.2~");
        assert_eq!(encode_segment("../x?y#z"), "..%2Fx%3Fy%23z");
    }
}
