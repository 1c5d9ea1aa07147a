use rxscale_webhooks::Verifier;
use tower_layer::Layer;

use crate::service::Verify;

/// Verifies every request as an RxScale webhook before the wrapped service sees it.
///
/// See the [crate documentation](crate) for what happens on success and on failure.
///
/// ```
/// use rxscale_webhooks::Verifier;
/// use rxscale_webhooks_tower::VerifyLayer;
///
/// # fn main() -> Result<(), rxscale_webhooks::ConfigError> {
/// let verifier = Verifier::builder().secret("whsec_abc123").build()?;
/// let layer = VerifyLayer::new(verifier).pass_invalid_event_data(false);
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
#[must_use]
#[derive(Debug, Clone)]
pub struct VerifyLayer {
    pub(crate) config: Config,
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) verifier: Verifier,
    pub(crate) pass_invalid_event_data: bool,
}

impl VerifyLayer {
    /// A layer that checks deliveries with `verifier`, including its `max_body_bytes` limit.
    pub fn new(verifier: Verifier) -> Self {
        VerifyLayer {
            config: Config {
                verifier,
                pass_invalid_event_data: false,
            },
        }
    }

    /// Whether an authentic, fresh delivery of a known event type whose `data` does not decode
    /// ([`ErrorKind::InvalidEventData`](rxscale_webhooks::ErrorKind::InvalidEventData)) is
    /// passed on to the service with an [`UndecodedEvent`](crate::UndecodedEvent) in its
    /// extensions, instead of being answered with 422.
    ///
    /// Passing it on lets you acknowledge (and store) an event whose shape changed before this
    /// SDK learned it, rather than have RxScale retry it for as long as it retries.
    ///
    /// Default: `false`, such deliveries are rejected with 422.
    pub fn pass_invalid_event_data(mut self, pass: bool) -> Self {
        self.config.pass_invalid_event_data = pass;
        self
    }

    /// The verifier this layer checks with.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        &self.config.verifier
    }
}

impl<S> Layer<S> for VerifyLayer {
    type Service = Verify<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Verify::from_config(inner, self.config.clone())
    }
}
