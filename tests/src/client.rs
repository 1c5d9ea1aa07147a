//! The HTTP client side of the tests: one real request to a test server on loopback.

use std::net::SocketAddr;

/// POSTs `body` as JSON to `http://{addr}{path}` with the extra `headers`, and returns the
/// response's status and body text.
pub async fn post_to(
    addr: SocketAddr,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the test server answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a text body"))
}
