//! Runnable examples for the rxscale-webhooks crates; see the `examples/` directory.
