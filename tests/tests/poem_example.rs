//! `cargo run -p examples --example poem_receiver` behaves as its documentation says: the
//! contract of `rxscale_webhooks_tests::example_contract`, which every `*_receiver` example
//! follows.

use rxscale_webhooks_tests::example_contract;

#[tokio::test]
async fn poem_receiver_behaves_as_documented() {
    example_contract::behaves_as_documented("poem_receiver").await;
}

#[tokio::test]
async fn poem_receiver_shares_its_claims_through_redis_even_with_axum_receiver() {
    example_contract::shares_its_claims_through_redis("poem_receiver").await;
}
