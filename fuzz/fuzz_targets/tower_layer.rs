//! The tower layer driven with arbitrary requests: method, headers, a declared length, and body
//! chunks of arbitrary sizes, possibly ending in a transport error. The wrapped service may only
//! ever see a request whose exact bytes verify.
#![no_main]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use libfuzzer_sys::fuzz_target;
use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{EventType, OffsetDateTime, SigningSecret, Verified, Verifier, sign};
use rxscale_webhooks_tower::{VerifiedBody, VerifyLayer};
use tower::{Layer, Service, ServiceExt, service_fn};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    method: u8,
    headers: Vec<(u8, &'a [u8])>,
    content_length: Option<u32>,
    chunks: Vec<&'a [u8]>,
    genuine: Option<(u8, bool)>,
    fail_at_end: bool,
}

struct Chunks {
    chunks: VecDeque<Bytes>,
    fail_at_end: bool,
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, &'static str>>> {
        let this = self.get_mut();
        match this.chunks.pop_front() {
            Some(chunk) => Poll::Ready(Some(Ok(http_body::Frame::data(chunk)))),
            None if this.fail_at_end => {
                this.fail_at_end = false;
                Poll::Ready(Some(Err("connection reset")))
            }
            None => Poll::Ready(None),
        }
    }
}

const NAMES: [&str; 5] = [
    "x-webhook-signature",
    "x-webhook-event",
    "content-type",
    "content-encoding",
    "x-other",
];

fuzz_target!(|input: Input<'_>| {
    let secret = SigningSecret::new("whsec_fuzz_layer");
    let verifier = Verifier::builder()
        .secret(secret.clone())
        .max_body_bytes(8 * 1024)
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let check = verifier.clone();
    let inner = service_fn(move |request: Request<VerifiedBody>| {
        seen.fetch_add(1, Ordering::SeqCst);
        let verified = request.extensions().get::<Verified>().cloned();
        let signatures: Vec<Vec<u8>> = request
            .headers()
            .get_all("x-webhook-signature")
            .iter()
            .map(|v| v.as_bytes().to_vec())
            .collect();
        let bytes = request.into_body().into_bytes();
        // What reached us must verify on its own, byte for byte.
        assert!(verified.is_some(), "inner service called without a Verified event");
        assert!(check.authenticate(&bytes, &signatures).is_ok(), "inner service saw unauthenticated bytes");
        async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok")))) }
    });
    let mut service = VerifyLayer::new(verifier).layer(inner);

    let mut chunks: VecDeque<Bytes> = input.chunks.iter().map(|c| Bytes::copy_from_slice(c)).collect();
    let mut builder = Request::builder().method(match input.method % 4 {
        0 => "POST",
        1 => "GET",
        2 => "PUT",
        _ => "DELETE",
    });
    if let Some((which, split)) = input.genuine {
        // Half the time, a genuine delivery split at an arbitrary point.
        let event = EventType::ALL[usize::from(which) % EventType::ALL.len()];
        let body = fixture_at(event, OffsetDateTime::now_utc().unix_timestamp());
        builder = builder.header("x-webhook-signature", sign(&secret, &body));
        let body = Bytes::from(body);
        let at = if split { usize::from(which) % body.len() } else { body.len() };
        chunks = [body.slice(..at), body.slice(at..)].into_iter().collect();
    }
    for (name, value) in &input.headers {
        if let Ok(value) = http::HeaderValue::from_bytes(value) {
            builder = builder.header(NAMES[usize::from(*name) % NAMES.len()], value);
        }
    }
    if let Some(length) = input.content_length {
        builder = builder.header("content-length", length.to_string());
    }
    let Ok(request) = builder.body(Chunks { chunks, fail_at_end: input.fail_at_end }) else {
        return;
    };
    let response = futures_executor::block_on(async {
        let response = ServiceExt::<Request<Chunks>>::ready(&mut service)
            .await
            .unwrap()
            .call(request)
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body)
    });
    if calls.load(Ordering::SeqCst) == 0 {
        assert!(!response.0.is_success() || response.1.as_ref() != b"ok");
    }
});
