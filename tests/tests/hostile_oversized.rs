//! Hostile clients, oversized bodies (issue 14), on every example receiver as shipped:
//!
//! - with `Expect: 100-continue` and a `Content-Length` over the limit, the 413 comes before
//!   any `100 Continue` (on Rocket, a deviation: `100 Continue`, then the 413 once Rocket has
//!   read the body's first 14 bytes);
//! - a client that keeps sending an oversized body reads the 413 (not a reset), every time;
//! - after the 413 the rest of the body is discarded within bounds, then the connection closes:
//!   a client that would send for ever is cut off within seconds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rxscale_webhooks::DEFAULT_MAX_BODY_BYTES;
use rxscale_webhooks_tests::hostile::{
    Example, Phase, ROCKET_PEEKED_BYTES, Receiver, STEP, connect, deliver_valid, head, read_status,
    write_all,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OVER: usize = DEFAULT_MAX_BODY_BYTES + DEFAULT_MAX_BODY_BYTES / 10; // 2.2 MiB

async fn expect_continue_gets_413_first(example: Example, receiver: &Receiver) {
    let mut stream = connect(receiver.addr).await;
    let extra = format!("content-length: {OVER}\r\nexpect: 100-continue\r\n");
    assert!(write_all(&mut stream, head(&extra).as_bytes()).await);
    let first = read_status(&mut stream, Duration::from_secs(5)).await;
    if let Some(deviation) = example.deviation(Phase::ExpectContinue) {
        assert_eq!(
            first,
            Some(100),
            "{example:?}: 100 Continue first; if the 413 now comes first, remove the deviation \
             \"{}\"",
            deviation.why
        );
        let peeked = vec![b'x'; ROCKET_PEEKED_BYTES as usize];
        assert!(write_all(&mut stream, &peeked).await);
        let then = read_status(&mut stream, Duration::from_secs(5)).await;
        assert_eq!(
            then,
            Some(413),
            "{example:?}: the 413 after the peeked bytes"
        );
        eprintln!(
            "{example:?}: 100 Continue, then 413 (deviation: {})",
            deviation.why
        );
        return;
    }
    assert_eq!(
        first,
        Some(413),
        "{example:?}: the first answer is the 413, not 100 Continue"
    );
}

/// Sends an oversized body as fast as it can (declared, or chunked) while reading the answer;
/// the status read.
async fn keep_sending(receiver: &Receiver, chunked: bool) -> Option<u16> {
    let stream = connect(receiver.addr).await;
    let (mut read, mut write) = stream.into_split();
    let extra = if chunked {
        "transfer-encoding: chunked\r\n".to_owned()
    } else {
        format!("content-length: {OVER}\r\n")
    };
    let head = head(&extra);
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        let piece = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < OVER {
            if chunked {
                write.write_all(b"10000\r\n").await?;
                write.write_all(&piece).await?;
                write.write_all(b"\r\n").await?;
            } else {
                write
                    .write_all(&piece[..(OVER - sent).min(piece.len())])
                    .await?;
            }
            sent += piece.len();
        }
        if chunked {
            write.write_all(b"0\r\n\r\n").await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut response = Vec::new();
    let mut buffer = [0u8; 1024];
    let _ = tokio::time::timeout(STEP, async {
        while !response.windows(4).any(|w| w == b"\r\n\r\n") {
            match read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    writer.abort();
    let text = String::from_utf8_lossy(&response);
    text.split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
}

async fn keeps_sending_and_reads_413(example: Example, receiver: &Receiver) {
    for round in 0..12 {
        for chunked in [false, true] {
            let status = keep_sending(receiver, chunked).await;
            assert_eq!(
                status,
                Some(413),
                "{example:?}: round {round}, chunked {chunked}: the client reads the 413"
            );
        }
    }
}

/// A chunked body that never ends: after the 413 the receiver discards a bounded amount, then
/// closes. Returns (how long the client could send, how many bytes it got to send in all,
/// kernel socket buffers included).
async fn endless_body_is_cut_off(example: Example, receiver: &Receiver) -> (Duration, u64) {
    let stream = connect(receiver.addr).await;
    let (mut read, mut write) = stream.into_split();
    let sent = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        write
            .write_all(head("transfer-encoding: chunked\r\n").as_bytes())
            .await?;
        let mut chunk = b"10000\r\n".to_vec();
        chunk.extend(std::iter::repeat_n(b'x', 0x10000));
        chunk.extend_from_slice(b"\r\n");
        // At most 30 s of sending: the test fails long before that if the cut-off is missing.
        while started.elapsed() < Duration::from_secs(30) {
            write.write_all(&chunk).await?;
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        Ok::<_, std::io::Error>(())
    });
    let mut response = Vec::new();
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(STEP, async {
        while !response.windows(4).any(|w| w == b"\r\n\r\n") {
            match read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .expect("the 413 in time");
    let text = String::from_utf8_lossy(&response).into_owned();
    assert!(text.starts_with("HTTP/1.1 413"), "{example:?}: {text}");
    let result = tokio::time::timeout(Duration::from_secs(20), writer)
        .await
        .expect("the writer stops within 20 s: the receiver closed the connection")
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        result.is_err(),
        "{example:?}: the receiver read 30 s of body"
    );
    (elapsed, sent.load(Ordering::Relaxed))
}

async fn oversized(example: Example) {
    let receiver = Receiver::start(example, None).await;
    expect_continue_gets_413_first(example, &receiver).await;
    keeps_sending_and_reads_413(example, &receiver).await;
    let (elapsed, sent) = endless_body_is_cut_off(example, &receiver).await;
    eprintln!(
        "{example:?}: endless chunked body cut off after {elapsed:?}, {sent} bytes sent in all \
         (kernel buffers included)"
    );
    // 1 s of discarding (actix-web: 1 s of lingering), plus slack for a loaded machine.
    assert!(elapsed < Duration::from_secs(5), "{example:?}: {elapsed:?}");
    if example != Example::Actix {
        // The limit, the 4 MiB discarded, and at most 16 MiB of kernel buffers on loopback.
        let bound = (DEFAULT_MAX_BODY_BYTES + 4 * 1024 * 1024 + 16 * 1024 * 1024) as u64;
        assert!(
            sent <= bound,
            "{example:?}: {sent} bytes taken, bound {bound}"
        );
    }
    let (status, _) = deliver_valid(receiver.addr, 1).await;
    assert_eq!(status, 200, "{example:?} still delivers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_receiver_answers_oversized_bodies_readably_and_briefly() {
    oversized(Example::Axum).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actix_receiver_answers_oversized_bodies_readably_and_briefly() {
    oversized(Example::Actix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pharmacy_receiver_answers_oversized_bodies_readably_and_briefly() {
    oversized(Example::Pharmacy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocket_receiver_answers_oversized_bodies_readably_and_briefly() {
    oversized(Example::Rocket).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poem_receiver_answers_oversized_bodies_readably_and_briefly() {
    oversized(Example::Poem).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salvo_receiver_answers_oversized_bodies_readably_and_briefly() {
    oversized(Example::Salvo).await;
}
