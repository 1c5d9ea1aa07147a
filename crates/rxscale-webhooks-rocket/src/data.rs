use std::ops::{Deref, DerefMut};

use bytes::{Bytes, BytesMut};
use rocket::data::{self, Data, FromData, ToByteUnit as _};
use rocket::http::Status;
use rocket::outcome::Outcome;
use rocket::request::Request;
use rxscale_webhooks::Verified;
use rxscale_webhooks::pipeline::{
    CheckedDelivery, Delivery, Rejection, body_read_failed, content_length,
};
use tokio::io::AsyncReadExt as _;
use tracing::Instrument as _;

use crate::fairing::{Pending, Settings, Slot};
use crate::rejection::WebhookRejection;

/// An authentic, fresh RxScale delivery, as a typed [`Event`](rxscale_webhooks::Event): a data
/// guard (`FromData`) that verifies the body before the handler runs.
///
/// It reads the body within the smaller of the Rocket limit
/// [`json/rxscale-webhook`](crate::LIMIT_NAME) and the verifier's `max_body_bytes` (413 past
/// it, before a byte is read when the `Content-Length` says so) and within the verifier's
/// `body_read_timeout` (408), then checks the signature first, then the envelope and the
/// event. With a [replay guard](crate::VerifyWebhooks::replay_guard) it then claims the event:
/// a duplicate or an event in flight never reaches the handler.
///
/// It needs the [`VerifyWebhooks`](crate::VerifyWebhooks) fairing, which holds the verifier and
/// answers refusals with [`WebhookRejection`]; without it every delivery is answered 500.
///
/// ```
/// use rocket::http::Status;
/// use rxscale_webhooks_rocket::{Event, VerifiedEvent};
///
/// #[rocket::post("/webhooks/rxscale", data = "<event>")]
/// fn handle(event: VerifiedEvent) -> Status {
///     if let Event::PharmacyOrderCreated(order) = event.event() {
///         println!("order {} ({})", order.uid, event.dedup_key());
///     }
///     Status::Ok // any 2xx acknowledges; anything else makes RxScale retry
/// }
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedEvent(pub Verified);

impl VerifiedEvent {
    /// The verified delivery.
    #[must_use]
    pub fn into_inner(self) -> Verified {
        self.0
    }
}

impl Deref for VerifiedEvent {
    type Target = Verified;

    fn deref(&self) -> &Verified {
        &self.0
    }
}

impl DerefMut for VerifiedEvent {
    fn deref_mut(&mut self) -> &mut Verified {
        &mut self.0
    }
}

#[rocket::async_trait]
impl<'r> FromData<'r> for VerifiedEvent {
    type Error = WebhookRejection;

    async fn from_data(request: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let delivery = Delivery::start();
        let span = delivery.span().clone();
        let verified = verify(request, data, &delivery).instrument(span).await;
        match verified {
            Ok(verified) => Outcome::Success(VerifiedEvent(verified)),
            Err(rejection) => {
                delivery.record(rejection.outcome());
                delivery.finish();
                let status = Status::new(rejection.status());
                Slot::put(request, Pending::Reject(rejection.clone()));
                Outcome::Error((status, rejection.into()))
            }
        }
    }
}

/// Reads, checks and claims the delivery; leaves the claim for the fairing to settle.
async fn verify(
    request: &Request<'_>,
    data: Data<'_>,
    delivery: &Delivery,
) -> Result<Verified, Rejection> {
    let Some(settings) = request.rocket().state::<Settings>() else {
        tracing::error!(
            target: "rxscale_webhooks",
            path = %request.uri().path(),
            "no rxscale_webhooks_rocket::VerifyWebhooks fairing is attached, so every delivery \
             is answered 500: add `.attach(VerifyWebhooks::new(verifier))` to the Rocket"
        );
        return Err(Rejection::verifier_not_configured());
    };
    let pipeline = &settings.pipeline;
    let limit = settings.limit(request.limits());
    let headers = request.headers();
    let body = read_body(request, data, pipeline, limit).await?;
    let (checked, admission) = pipeline
        .check_and_admit(|name| headers.get(name).map(str::as_bytes), &body, delivery)
        .await?;
    let verified = match checked {
        CheckedDelivery::Decoded(verified) => verified,
        // Pass-through is never turned on here.
        CheckedDelivery::Undecoded(undecoded) => {
            return Err(Rejection::from_error(undecoded.into_parts().1));
        }
    };
    match admission {
        // Held in the request until the fairing sees the answer: if the request is dropped
        // first, the admission's `Drop` releases the claim.
        Some(admission) => Slot::put(request, Pending::Settle(delivery.clone(), admission)),
        None => delivery.finish(),
    }
    Ok(verified)
}

/// Reads the whole body within `limit` and the verifier's body-read deadline.
async fn read_body(
    request: &Request<'_>,
    data: Data<'_>,
    pipeline: &rxscale_webhooks::pipeline::Pipeline,
    limit: usize,
) -> Result<Bytes, Rejection> {
    let declared = content_length(
        request
            .headers()
            .get_one("content-length")
            .map(str::as_bytes),
    );
    let mut reader = pipeline.body_reader_within(declared, limit)?;
    let limit = limit.min(pipeline.verifier().max_body_bytes());
    // One byte past the limit, so that a body that passes it is seen to.
    let mut stream = data.open((limit as u64).saturating_add(1).bytes());
    // Room for the declared body and one byte more, so that the read that finds the end does
    // not grow (and copy) the buffer.
    let capacity = declared.map_or(16 * 1024, |length| {
        usize::try_from(length).map_or(limit, |length| length.saturating_add(1))
    });
    let mut buffer = BytesMut::with_capacity(capacity.min(limit.saturating_add(1)));
    let read = async {
        while stream.read_buf(&mut buffer).await? != 0 {}
        Ok::<_, std::io::Error>(())
    };
    match tokio::time::timeout(reader.timeout(), read).await {
        Ok(Ok(())) => {
            reader.push(buffer.freeze())?;
            Ok(reader.finish())
        }
        Ok(Err(error)) => Err(body_read_failed(error)),
        Err(_elapsed) => Err(reader.timed_out()),
    }
}
