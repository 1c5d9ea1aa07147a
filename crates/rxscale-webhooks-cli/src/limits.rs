//! The verifier's limits, as options shared by `verify` and `listen`, defaulting to the core's.

use std::time::Duration;

use clap::Args;
use rxscale_webhooks::{
    DEFAULT_MAX_AGE, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_FUTURE_SKEW, SigningSecret, Verifier,
};

use crate::failure::Failure;

#[derive(Debug, Clone, Args)]
pub(crate) struct LimitArgs {
    /// Reject events older than this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_MAX_AGE.as_secs())]
    max_age: u64,

    /// Reject events dated further than this many seconds ahead of the clock.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_MAX_FUTURE_SKEW.as_secs())]
    max_future_skew: u64,

    /// Reject bodies larger than this many bytes.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
}

impl LimitArgs {
    /// A verifier for `secret` with these limits; a limit the core refuses is exit 2.
    pub(crate) fn verifier(&self, secret: &SigningSecret) -> Result<Verifier, Failure> {
        Verifier::builder()
            .secret(secret.clone())
            .max_age(Duration::from_secs(self.max_age))
            .max_future_skew(Duration::from_secs(self.max_future_skew))
            .max_body_bytes(self.max_body_bytes)
            .build()
            .map_err(Failure::usage)
    }
}
