//! The stand-in for RxScale's subscription APIs (`rxscale_webhooks_tests::rxscale_api_standin`)
//! as a process, for trying the CLI by hand and for the transcripts in `docs/cli.md`:
//!
//! ```text
//! cargo run -p rxscale-webhooks-tests --bin rxscale_api_standin
//! ```
//!
//! Prints its base URL and keys, then serves until standard input closes or the process is
//! stopped. It is no RxScale server: it only answers the shapes of spec §1.6.

use std::io::Read;

use rxscale_webhooks_tests::rxscale_api_standin::{
    MANAGEMENT_KEY, MANAGEMENT_READ_ONLY_KEY, PHARMACY_KEY, PHARMACY_READ_ONLY_KEY,
    RxscaleApiStandin,
};

fn main() {
    let standin = RxscaleApiStandin::start();
    println!("stand-in for RxScale's API on {}", standin.base_url());
    println!("pharmacy key (webhooks_read+write): {PHARMACY_KEY}");
    println!("pharmacy key (webhooks_read only):  {PHARMACY_READ_ONLY_KEY}");
    println!("org key (notification_subscription:read+write): {MANAGEMENT_KEY}");
    println!("org key (notification_subscription:read only):  {MANAGEMENT_READ_ONLY_KEY}");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(standin);
}
