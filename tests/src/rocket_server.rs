//! Real Rocket servers for the tests: on an ephemeral loopback port, in the background.

use std::net::SocketAddr;

use rocket::config::{LogLevel, Shutdown};
use rocket::fairing::AdHoc;
use rocket::{Build, Config, Rocket};

/// A Rocket configuration for tests: 127.0.0.1, port `port` (0 for an ephemeral one), two
/// workers, no logging, no signal handling, and nothing read from `Rocket.toml` or `ROCKET_*`.
pub fn config(port: u16) -> Config {
    Config {
        address: std::net::Ipv4Addr::LOCALHOST.into(),
        port,
        workers: 2,
        log_level: LogLevel::Off,
        cli_colors: false,
        shutdown: Shutdown {
            ctrlc: false,
            #[cfg(unix)]
            signals: Default::default(),
            ..Shutdown::default()
        },
        ..Config::debug_default()
    }
}

/// Launches `rocket` (built with [`config`]) in the background, for as long as the test's
/// runtime lives, and returns the address once it listens.
pub async fn serve(rocket: Rocket<Build>) -> SocketAddr {
    let (bound, listening) = tokio::sync::oneshot::channel();
    let bound = std::sync::Mutex::new(Some(bound));
    let rocket = rocket.attach(AdHoc::on_liftoff("report the port", move |rocket| {
        let config = rocket.config();
        let addr = SocketAddr::new(config.address, config.port);
        if let Some(bound) = bound.lock().ok().and_then(|mut bound| bound.take()) {
            let _ = bound.send(addr);
        }
        Box::pin(async {})
    }));
    tokio::spawn(async move {
        if let Err(error) = rocket.launch().await {
            panic!("the Rocket server stopped: {error}");
        }
    });
    listening.await.expect("Rocket lifts off")
}
