//! The plain `verify()` path, without any web framework.
//!
//! Plays RxScale: signs a sample pharmacy order with a demo secret, verifies it as a receiver
//! would, then tampers with one byte and shows the rejection.
//!
//! ```text
//! cargo run -p examples --example manual_verify
//! ```

use rxscale_webhooks::testing::fixture_at;
use rxscale_webhooks::{Event, EventType, OffsetDateTime, SigningSecret, Verifier, sign};
use tracing_subscriber::EnvFilter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // RUST_LOG overrides the default, which shows the rejection below and start-up warnings.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    // In production: SigningSecret::from_env("RXSCALE_WEBHOOK_SECRET")?
    let secret = SigningSecret::new("whsec_demo_only_not_a_real_secret");
    let verifier = Verifier::builder().secret(secret.clone()).build()?;

    // What RxScale sends: the raw body and the X-Webhook-Signature header.
    let body = fixture_at(
        EventType::PharmacyOrderCreated,
        OffsetDateTime::now_utc().unix_timestamp(),
    );
    let signature = sign(&secret, &body);

    // What a receiver does with them.
    match verifier.verify(&body, &signature) {
        Ok(verified) => {
            println!("genuine delivery: accepted");
            println!("  event_type  {}", verified.event_type());
            println!("  dedup_key   {}", verified.dedup_key());
            println!("  secret      {}", verified.fingerprint());
            if let Event::PharmacyOrderCreated(order) = verified.event() {
                println!(
                    "  order       {} ({}), status {}, {} item(s)",
                    order.uid,
                    order.name.as_deref().unwrap_or("unnamed"),
                    order.status,
                    order.order_items.len()
                );
            }
        }
        Err(err) => return Err(format!("the genuine delivery was rejected: {err}").into()),
    }

    // Change a single byte: "init" becomes "inIt".
    let tampered = body.replacen("\"init\"", "\"inIt\"", 1);
    match verifier.verify(&tampered, &signature) {
        Ok(_) => Err("the tampered delivery was accepted".into()),
        Err(err) => {
            println!("tampered delivery: rejected");
            println!("  kind        {:?}", err.kind());
            println!(
                "  answer      HTTP {} {}",
                err.kind().status_code(),
                err.kind().response_body()
            );
            Ok(())
        }
    }
}
