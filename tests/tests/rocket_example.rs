//! `cargo run -p examples --example rocket_receiver` follows `axum_receiver`'s contract
//! (`rxscale_webhooks_tests::example_contract`): the real binary, real HTTP on loopback.

use rxscale_webhooks_tests::example_contract;

#[tokio::test]
async fn rocket_receiver_behaves_as_documented() {
    example_contract::behaves_as_documented("rocket_receiver").await;
}

#[tokio::test]
async fn rocket_receiver_shares_its_claims_through_redis_even_with_axum_receiver() {
    example_contract::shares_its_claims_through_redis("rocket_receiver").await;
}
