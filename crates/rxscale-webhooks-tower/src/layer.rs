use rxscale_webhooks::pipeline::Pipeline;
use rxscale_webhooks::{ReplayGuard, Verifier};
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
    pub(crate) pipeline: Pipeline,
}

impl VerifyLayer {
    /// A layer that checks deliveries with `verifier`, including its `max_body_bytes` limit.
    pub fn new(verifier: Verifier) -> Self {
        VerifyLayer {
            pipeline: Pipeline::new(verifier),
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
        self.pipeline = self.pipeline.pass_invalid_event_data(pass);
        self
    }

    /// Runs every verified delivery through `guard`, so that the wrapped service handles each
    /// event once, across retries and across instances sharing the guard's store.
    ///
    /// After verification the delivery's dedup key is claimed. A fresh claim calls the service;
    /// its response is awaited and, **before it is returned**, a 2xx marks the key completed
    /// (remembered for [`ReplayGuard::completed_ttl_for`] the layer's verifier: its age window
    /// by default) while anything else, an error included, releases the claim so RxScale's
    /// retry is processed. A panic or a dropped response future releases it too. Otherwise the
    /// layer answers by itself, without calling the service:
    ///
    /// | claim found | status | body |
    /// |---|---|---|
    /// | completed before | 200, with `X-Webhook-Duplicate: true` | `{"status":"duplicate"}` |
    /// | a live claim elsewhere | 409 | `{"error":"in_flight"}` |
    /// | the store unreachable (fail-closed) | 503 | `{"error":"replay_store_unavailable"}` |
    ///
    /// Deliveries passed through with an [`UndecodedEvent`](crate::UndecodedEvent) are guarded
    /// too: they have a dedup key like any other.
    ///
    /// The layer's rejection responses carry the [`Rejection`](rxscale_webhooks::pipeline::Rejection)
    /// in their extensions, with the [`GuardAnswer`](rxscale_webhooks::replay::GuardAnswer).
    ///
    /// Default: none, every verified delivery reaches the service and deduplication is yours.
    ///
    /// ```
    /// use rxscale_webhooks::{ReplayGuard, Verifier};
    /// use rxscale_webhooks_tower::VerifyLayer;
    ///
    /// # fn main() -> Result<(), rxscale_webhooks::ConfigError> {
    /// let verifier = Verifier::builder().secret("whsec_abc123").build()?;
    /// // One instance: in memory. Several: `ReplayGuard::new(RedisStore)` from
    /// // `rxscale-webhooks-redis`.
    /// let layer = VerifyLayer::new(verifier).replay_guard(ReplayGuard::in_memory());
    /// # let _ = layer;
    /// # Ok(())
    /// # }
    /// ```
    pub fn replay_guard(mut self, guard: ReplayGuard) -> Self {
        self.pipeline = self.pipeline.replay_guard(guard);
        self
    }

    /// The verifier this layer checks with.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        self.pipeline.verifier()
    }

    /// The pipeline this layer runs every delivery through.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }
}

impl<S> Layer<S> for VerifyLayer {
    type Service = Verify<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Verify::from_pipeline(inner, self.pipeline.clone())
    }
}
