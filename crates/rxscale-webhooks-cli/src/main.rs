//! The `rxscale-webhooks` binary. Everything lives in the `rxscale_webhooks_cli` library.

fn main() -> std::process::ExitCode {
    rxscale_webhooks_cli::run()
}
