//! Runnable examples for the rxscale-webhooks crates; see the `examples/` directory.

pub mod metrics {
    //! What `axum_receiver` and `actix_receiver` share for `RXSCALE_METRICS=1`: the Prometheus
    //! recorder, installed by the application (the SDK never installs one), with the buckets
    //! the SDK recommends. Each receiver serves [`PrometheusHandle::render`] on `GET /metrics`
    //! with its own framework, on its own port.

    use std::time::Duration;

    use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
    use rxscale_webhooks::metrics as names;

    /// The variable that turns the endpoint on, when set to `1`.
    pub const ENABLE_VAR: &str = "RXSCALE_METRICS";
    /// The variable holding the endpoint's port; `0` picks a free one.
    pub const PORT_VAR: &str = "METRICS_PORT";
    /// The port without `METRICS_PORT`: the one OpenTelemetry's Prometheus exporter uses.
    pub const DEFAULT_PORT: u16 = 9464;
    /// The `Content-Type` of Prometheus' text exposition format.
    pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

    /// Whether `RXSCALE_METRICS=1`.
    #[must_use]
    pub fn enabled() -> bool {
        std::env::var(ENABLE_VAR).is_ok_and(|value| value == "1")
    }

    /// `METRICS_PORT`, or [`DEFAULT_PORT`].
    ///
    /// # Errors
    ///
    /// A message naming the variable when it is not a port number.
    pub fn port() -> Result<u16, String> {
        match std::env::var(PORT_VAR) {
            Ok(port) => port
                .parse()
                .map_err(|_| format!("{PORT_VAR} is not a port number: {port}")),
            Err(_) => Ok(DEFAULT_PORT),
        }
    }

    /// Installs the Prometheus recorder as the process's global recorder, with histogram
    /// buckets for the SDK's durations and clock skew, and describes the SDK's metrics.
    ///
    /// # Errors
    ///
    /// When a recorder is installed already.
    pub fn install_prometheus() -> Result<PrometheusHandle, BuildError> {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(names::HANDLER_DURATION_SECONDS.to_owned()),
                names::HANDLER_DURATION_BUCKETS,
            )?
            .set_buckets_for_metric(
                Matcher::Full(names::VERIFICATION_DURATION_SECONDS.to_owned()),
                names::DURATION_BUCKETS,
            )?
            .set_buckets_for_metric(
                Matcher::Full(names::STORE_DURATION_SECONDS.to_owned()),
                names::DURATION_BUCKETS,
            )?
            .set_buckets_for_metric(
                Matcher::Full(names::SENDER_CLOCK_SKEW_SECONDS.to_owned()),
                names::CLOCK_SKEW_BUCKETS,
            )?
            .install_recorder()?;
        names::describe();
        // Without the exporter's own HTTP listener, upkeep is the application's job.
        let upkeep = handle.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(5));
                upkeep.run_upkeep();
            }
        });
        Ok(handle)
    }
}
