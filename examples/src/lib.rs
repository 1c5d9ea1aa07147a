//! Runnable examples for the rxscale-webhooks crates; see the `examples/` directory.

pub mod metrics {
    //! What the receivers share for `RXSCALE_METRICS=1`: the Prometheus recorder, installed by
    //! the application (the SDK never installs one), with the buckets the SDK recommends.
    //! `actix_receiver` serves [`PrometheusHandle::render`] on `GET /metrics` with actix-web;
    //! `axum_receiver` and `rocket_receiver` with [`serve_with_axum`]; each on a port of its own.

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

    /// Installs the Prometheus recorder and serves it on `GET /metrics` at `host` and
    /// [`port`], with axum, in a task of its own: for the receivers whose framework has no
    /// second server to spare (`axum_receiver`, `rocket_receiver`).
    ///
    /// # Errors
    ///
    /// When a recorder is installed already, [`port`] fails, or the port cannot be bound.
    pub async fn serve_with_axum(host: &str) -> Result<(), Box<dyn std::error::Error>> {
        use axum::http::header::CONTENT_TYPE;

        let handle = install_prometheus()?;
        let listener = tokio::net::TcpListener::bind((host, port()?)).await?;
        eprintln!("metrics on http://{}/metrics", listener.local_addr()?);
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                std::future::ready(([(CONTENT_TYPE, self::CONTENT_TYPE)], handle.render()))
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(())
    }
}

pub mod receiver {
    //! What every `*_receiver` example reads from its environment and prints, whatever its
    //! framework: `RXSCALE_WEBHOOK_SECRET` and `RXSCALE_BODY_READ_TIMEOUT_MS` for the
    //! verifier, `HOST` and `PORT` for the listener, `RXSCALE_REDIS_URL` for the replay guard,
    //! and one `{"handled": <event_type>, "key": <dedup key>}` line on stdout per handled
    //! event. Each error names its variable, never a secret.

    use std::time::Duration;

    use rxscale_webhooks::{ReplayGuard, SigningSecret, Verifier};
    use rxscale_webhooks_redis::RedisStore;
    use tracing_subscriber::EnvFilter;

    /// The port without `PORT`.
    pub const DEFAULT_PORT: u16 = 3000;

    /// Logs to stderr, filtered by `RUST_LOG`, else by `default_filter`; stdout is left to
    /// [`print_handled`].
    pub fn log_to_stderr(default_filter: &str) {
        let filter =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }

    /// The verifier for `RXSCALE_WEBHOOK_SECRET`, with `RXSCALE_BODY_READ_TIMEOUT_MS` as its
    /// body-read deadline when set (else the verifier's default, 2 s).
    ///
    /// # Errors
    ///
    /// When the secret is missing or not a `whsec_` secret, or the deadline not a number.
    pub fn verifier() -> Result<Verifier, Box<dyn std::error::Error>> {
        let mut verifier =
            Verifier::builder().secret(SigningSecret::from_env("RXSCALE_WEBHOOK_SECRET")?);
        if let Ok(ms) = std::env::var("RXSCALE_BODY_READ_TIMEOUT_MS") {
            let ms = ms
                .parse()
                .map_err(|_| "RXSCALE_BODY_READ_TIMEOUT_MS is not a number of milliseconds")?;
            verifier = verifier.body_read_timeout(Duration::from_millis(ms));
        }
        Ok(verifier.build()?)
    }

    /// `HOST`, or `127.0.0.1`.
    #[must_use]
    pub fn host() -> String {
        std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned())
    }

    /// `PORT`, or [`DEFAULT_PORT`].
    ///
    /// # Errors
    ///
    /// A message naming the variable when it is not a port number.
    pub fn port() -> Result<u16, String> {
        match std::env::var("PORT") {
            Ok(port) => port
                .parse()
                .map_err(|_| format!("PORT is not a port number: {port}")),
            Err(_) => Ok(DEFAULT_PORT),
        }
    }

    /// A guard whose claims live in Redis when `RXSCALE_REDIS_URL` is set (several
    /// comma-separated `redis://` node URLs: a Redis Cluster), so that instances share them,
    /// and in memory otherwise.
    ///
    /// # Errors
    ///
    /// A message naming the variable when Redis cannot be reached.
    pub async fn replay_guard() -> Result<ReplayGuard, String> {
        Ok(match std::env::var("RXSCALE_REDIS_URL") {
            Ok(url) => ReplayGuard::new(
                RedisStore::connect(&url)
                    .await
                    .map_err(|error| format!("RXSCALE_REDIS_URL: {error}"))?,
            ),
            Err(_) => ReplayGuard::in_memory(),
        })
    }

    /// Prints the line every receiver prints for a handled event:
    /// `{"handled": <event_type>, "key": <dedup key>}`.
    pub fn print_handled(event_type: &str, key: &str) {
        println!("{}", serde_json::json!({"handled": event_type, "key": key}));
    }
}

pub mod pharmacy {
    //! What `pharmacy_receiver` and `inbox_receiver` share: the example's fixed tables
    //! (`orders`, `sku_stock`, `effects_log`), one event's effects on them, and the environment
    //! both read. Each receiver decides *when* the effects run: inside the ledger claim's
    //! transaction, at once (`pharmacy_receiver`) or in a worker (`inbox_receiver`).

    use std::time::Duration;

    use rxscale_webhooks::{Event, Verified};
    use rxscale_webhooks_sqlx::Backend;
    use rxscale_webhooks_sqlx::sqlx::{
        self, Encode, Executor, IntoArguments, Pool, Postgres, Sqlite, Type,
    };

    const TABLES: [&str; 3] = [
        "CREATE TABLE IF NOT EXISTS orders (uid TEXT PRIMARY KEY, status TEXT NOT NULL, updated_at BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS sku_stock (pharmacy_sku_uid TEXT PRIMARY KEY, stock BIGINT NOT NULL, updated_at BIGINT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS effects_log (dedup_key TEXT NOT NULL)",
    ];
    // The ledger orders events per order and SKU, so a plain upsert never goes back in time.
    const UPSERT_ORDER: &str = "INSERT INTO orders (uid, status, updated_at) VALUES ($1, $2, $3) \
        ON CONFLICT (uid) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at";
    const UPSERT_STOCK: &str = "INSERT INTO sku_stock (pharmacy_sku_uid, stock, updated_at) \
        VALUES ($1, $2, $3) ON CONFLICT (pharmacy_sku_uid) \
        DO UPDATE SET stock = excluded.stock, updated_at = excluded.updated_at";

    /// A database the example runs on: Postgres or SQLite.
    ///
    /// A trait of the example's own, so that the receivers' generic code names one bound
    /// instead of sqlx's executor and encoding bounds.
    pub trait Store: Backend {
        /// Creates the example's tables when they are missing.
        fn create_tables(pool: &Pool<Self>) -> impl Future<Output = sqlx::Result<()>> + Send;

        /// Writes `verified`'s effects on `conn`, which is inside the claim's transaction:
        /// an upsert of the order or SKU stock it carries, and one `effects_log` row.
        fn apply<'c>(
            conn: &'c mut Self::Connection,
            verified: &'c Verified,
        ) -> impl Future<Output = sqlx::Result<()>> + Send + 'c;
    }

    impl Store for Postgres {
        fn create_tables(pool: &Pool<Self>) -> impl Future<Output = sqlx::Result<()>> + Send {
            create_tables(pool)
        }
        fn apply<'c>(
            conn: &'c mut Self::Connection,
            verified: &'c Verified,
        ) -> impl Future<Output = sqlx::Result<()>> + Send + 'c {
            apply::<Self>(conn, verified)
        }
    }

    impl Store for Sqlite {
        fn create_tables(pool: &Pool<Self>) -> impl Future<Output = sqlx::Result<()>> + Send {
            create_tables(pool)
        }
        fn apply<'c>(
            conn: &'c mut Self::Connection,
            verified: &'c Verified,
        ) -> impl Future<Output = sqlx::Result<()>> + Send + 'c {
            apply::<Self>(conn, verified)
        }
    }

    async fn create_tables<DB: Backend>(pool: &Pool<DB>) -> sqlx::Result<()>
    where
        for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    {
        for table in TABLES {
            pool.execute(table).await?;
        }
        Ok(())
    }

    async fn apply<DB: Backend>(conn: &mut DB::Connection, verified: &Verified) -> sqlx::Result<()>
    where
        for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
        for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
        for<'q> &'q str: Encode<'q, DB> + Type<DB>,
        for<'q> i64: Encode<'q, DB> + Type<DB>,
    {
        match verified.event() {
            Event::PharmacyOrderCreated(order) | Event::PharmacyOrderUpdated(order) => {
                sqlx::query(UPSERT_ORDER)
                    .bind(order.uid.as_str())
                    .bind(order.status.as_str())
                    .bind(order.updated_at.unix_timestamp())
                    .execute(&mut *conn)
                    .await?;
            }
            Event::PharmacySkuStockUpdated(sku) => {
                if let (Some(uid), Some(stock)) = (sku.uid.as_deref(), sku.stock) {
                    let updated_at = sku.updated_at.unwrap_or(verified.timestamp());
                    sqlx::query(UPSERT_STOCK)
                        .bind(uid)
                        .bind(stock)
                        .bind(updated_at.unix_timestamp())
                        .execute(&mut *conn)
                        .await?;
                }
            }
            _ => {}
        }
        sqlx::query("INSERT INTO effects_log (dedup_key) VALUES ($1)")
            .bind(verified.dedup_key().as_str())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// The environment variable `name` as a number, or `default` when it is not set.
    ///
    /// # Errors
    ///
    /// A message naming the variable (not its value) when it is set but not a number.
    pub fn env_number(name: &str, default: u64) -> Result<u64, String> {
        std::env::var(name).map_or(Ok(default), |value| {
            value.parse().map_err(|_| format!("{name} is not a number"))
        })
    }

    /// `env_number(name, default)` milliseconds.
    ///
    /// # Errors
    ///
    /// As [`env_number`].
    pub fn env_millis(name: &str, default: u64) -> Result<Duration, String> {
        env_number(name, default).map(Duration::from_millis)
    }
}
