//! Hostile clients, time (issue 14): every phase of a request has a deadline on every example
//! receiver as shipped. A body that has not fully arrived within the body-read deadline (2 s by
//! default) is answered 408 `{"error":"body_read_timeout"}` and never reaches a handler; a
//! request head that does not arrive within the header-read timeout (2 s), and an idle
//! connection, are closed. Where Rocket and poem cannot give a phase's deadline, the test
//! asserts what they really do instead (`hostile::DEVIATIONS`, docs/security.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use rxscale_webhooks_tests::hostile::{
    Example, Phase, ROCKET_PEEKED_BYTES, Receiver, closed_within, connect, deliver_valid, head,
    read_status, write_all,
};
use tokio::io::AsyncWriteExt;

/// The default deadlines are 2 s; a loaded machine gets this much slack on top.
const SLACK: Duration = Duration::from_secs(3);
const DEADLINE: Duration = Duration::from_secs(2);

/// A body trickled at one byte every 200 ms (it would take 200 s) is answered 408 once the
/// deadline passes, while the client is still sending. On Rocket (a deviation) the deadline
/// starts once Rocket has read the body's first bytes, 2.6 s into the trickle.
async fn trickled_body_gets_408(example: Example, receiver: &Receiver) {
    const BYTE_EVERY: Duration = Duration::from_millis(200);
    // When the deadline starts: at once, or, on Rocket, at the last byte Rocket peeks.
    let deadline_starts = match example.deviation(Phase::TrickledBody) {
        Some(_) => BYTE_EVERY * (ROCKET_PEEKED_BYTES - 1),
        None => Duration::ZERO,
    };
    let mut stream = connect(receiver.addr).await;
    assert!(write_all(&mut stream, head("content-length: 1000\r\n").as_bytes()).await);
    let started = Instant::now();
    let (mut read, mut write) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..1000 {
            if write.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(BYTE_EVERY).await;
        }
    });
    let mut response = Vec::new();
    let status = tokio::time::timeout(deadline_starts + DEADLINE + SLACK, async {
        use tokio::io::AsyncReadExt;
        let mut buffer = [0u8; 512];
        loop {
            match read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buffer[..n]),
            }
            if response.windows(4).any(|w| w == b"\r\n\r\n") && response.ends_with(b"}") {
                break;
            }
        }
    })
    .await;
    trickle.abort();
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&response);
    assert!(
        status.is_ok(),
        "{example:?}: no answer within {:?}",
        deadline_starts + DEADLINE + SLACK
    );
    assert!(text.starts_with("HTTP/1.1 408"), "{example:?}: {text}");
    assert!(
        text.ends_with(r#"{"error":"body_read_timeout"}"#),
        "{example:?}: {text}"
    );
    assert!(
        elapsed >= deadline_starts + DEADLINE - Duration::from_millis(100),
        "{example:?}: {elapsed:?}"
    );
    eprintln!("{example:?}: trickled body answered 408 after {elapsed:?}");
}

/// A `Content-Length` larger than what is sent, then a stall: 408 at the deadline.
async fn stalled_body_gets_408(example: Example, receiver: &Receiver) {
    let mut stream = connect(receiver.addr).await;
    assert!(write_all(&mut stream, head("content-length: 5000\r\n").as_bytes()).await);
    assert!(write_all(&mut stream, br#"{"event_type":"#).await);
    let started = Instant::now();
    let status = read_status(&mut stream, DEADLINE + SLACK).await;
    let elapsed = started.elapsed();
    assert_eq!(status, Some(408), "{example:?} after {elapsed:?}");
    assert!(
        elapsed >= DEADLINE - Duration::from_millis(100),
        "{example:?}: {elapsed:?}"
    );
    eprintln!("{example:?}: stalled body answered 408 after {elapsed:?}");
}

/// A request head sent in part, then nothing: the connection is closed at the header-read
/// timeout, without an answer reaching a handler.
async fn unfinished_head_is_closed(example: Example, receiver: &Receiver) {
    let mut stream = connect(receiver.addr).await;
    assert!(
        write_all(
            &mut stream,
            b"POST /webhooks/rxscale HTTP/1.1\r\nhost: x\r\nx-a: "
        )
        .await
    );
    let closed = closed_within(&mut stream, DEADLINE + SLACK).await;
    if let Some(deviation) = example.deviation(Phase::UnfinishedHead) {
        assert!(
            closed.is_none(),
            "{example:?}: the unfinished head was closed after {closed:?}: remove the deviation \
             \"{}\"",
            deviation.why
        );
        eprintln!(
            "{example:?}: unfinished head still open after {:?} (deviation: {})",
            DEADLINE + SLACK,
            deviation.why
        );
        return;
    }
    assert!(closed.is_some(), "{example:?}: unfinished head still open");
    eprintln!("{example:?}: unfinished head closed after {closed:?}");
}

/// A connection that sends nothing is closed at the header-read timeout.
async fn silent_connection_is_closed(example: Example, receiver: &Receiver) {
    let mut stream = connect(receiver.addr).await;
    let closed = closed_within(&mut stream, DEADLINE + SLACK).await;
    if let Some(deviation) = example.deviation(Phase::SilentConnection) {
        assert!(
            closed.is_none(),
            "{example:?}: the silent connection was closed after {closed:?}: remove the \
             deviation \"{}\"",
            deviation.why
        );
        eprintln!(
            "{example:?}: silent connection still open after {:?} (deviation: {})",
            DEADLINE + SLACK,
            deviation.why
        );
        return;
    }
    assert!(
        closed.is_some(),
        "{example:?}: silent connection still open"
    );
    eprintln!("{example:?}: silent connection closed after {closed:?}");
}

/// A kept-alive connection that sends nothing after its first request is closed too.
async fn idle_keep_alive_is_closed(example: Example, receiver: &Receiver) {
    let mut stream = connect(receiver.addr).await;
    assert!(write_all(&mut stream, head("content-length: 2\r\n").as_bytes()).await);
    assert!(write_all(&mut stream, b"{}").await);
    assert_eq!(
        read_status(&mut stream, SLACK).await,
        Some(401),
        "{example:?}"
    );
    let closed = closed_within(&mut stream, DEADLINE + SLACK).await;
    assert!(
        closed.is_some(),
        "{example:?}: idle kept-alive connection still open"
    );
    eprintln!("{example:?}: idle kept-alive connection closed {closed:?} after its answer");
}

async fn every_deadline(example: Example) {
    let receiver = Receiver::start(example, None).await;
    tokio::join!(
        trickled_body_gets_408(example, &receiver),
        stalled_body_gets_408(example, &receiver),
        unfinished_head_is_closed(example, &receiver),
        silent_connection_is_closed(example, &receiver),
        idle_keep_alive_is_closed(example, &receiver),
    );
    let (status, _) = deliver_valid(receiver.addr, 1).await;
    assert_eq!(status, 200, "{example:?} still delivers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_receiver_enforces_every_deadline() {
    every_deadline(Example::Axum).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_receiver_enforces_every_deadline() {
    every_deadline(Example::Actix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pharmacy_receiver_enforces_every_deadline() {
    every_deadline(Example::Pharmacy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocket_receiver_enforces_every_deadline() {
    every_deadline(Example::Rocket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poem_receiver_enforces_every_deadline() {
    every_deadline(Example::Poem).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salvo_receiver_enforces_every_deadline() {
    every_deadline(Example::Salvo).await;
}
