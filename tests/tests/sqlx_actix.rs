//! The actix-web handler of docs/exactly-once.md, run: `Claim` is a `Responder` and the ledger's
//! `Error` a `ResponseError`, with the same answers as on axum (`pharmacy_receiver.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use actix_web::{App, test, web};
use rxscale_webhooks::{OffsetDateTime, sign};
use rxscale_webhooks_actix::{VerifiedEvent, Verifier};
use rxscale_webhooks_sqlx::sqlx::{self, SqlitePool};
use rxscale_webhooks_sqlx::{Claim, Error, Ledger, sqlite};
use rxscale_webhooks_tests::test_secret;

async fn handle(
    pool: web::Data<SqlitePool>,
    ledger: web::Data<Ledger>,
    event: VerifiedEvent,
) -> Result<Claim, Error> {
    let mut tx = ledger.begin(&pool).await?;
    let claim = ledger.claim(&mut tx, &event).await?;
    if claim == Claim::Fresh {
        sqlx::query("INSERT INTO effects_log (dedup_key) VALUES ($1)")
            .bind(event.dedup_key().as_str())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(claim)
}

fn order(timestamp: i64, updated_at: i64) -> String {
    format!(
        r##"{{"event_type":"pharmacy_order_updated","timestamp":{timestamp},"payload_version":"1","data":{{"uid":"po-a","status":"init","name":"#1","created_at":1,"updated_at":{updated_at},"pharmacy":{{"uid":"ph-1"}},"order":{{"uid":"ord-1"}},"order_items":[]}}}}"##
    )
}

#[actix_web::test]
async fn actix_handler_answers_fresh_duplicate_stale_and_503() {
    let path = std::env::temp_dir().join(format!("rxscale-sqlx-actix-{}.db", std::process::id()));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlite::pool(&url).unwrap();
    let ledger = Ledger::new();
    ledger.migrate(&pool).await.unwrap();
    sqlx::query("CREATE TABLE effects_log (dedup_key TEXT NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    let verifier = Verifier::builder().secret(test_secret()).build().unwrap();
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(verifier))
            .app_data(web::Data::new(pool.clone()))
            .app_data(web::Data::new(ledger))
            .route("/webhooks/rxscale", web::post().to(handle)),
    )
    .await;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let newer = order(now - 1, 200);
    let older = order(now - 2, 100);
    let mut answers = Vec::new();
    for body in [&newer, &newer, &older] {
        let request = test::TestRequest::post()
            .uri("/webhooks/rxscale")
            .insert_header(("x-webhook-signature", sign(&test_secret(), body)))
            .set_payload(body.clone())
            .to_request();
        let response = test::call_service(&app, request).await;
        let header = |name: &str| response.headers().get(name).is_some();
        answers.push((
            response.status().as_u16(),
            header("x-webhook-duplicate"),
            header("x-webhook-stale"),
        ));
    }
    assert_eq!(
        answers,
        [(200, false, false), (200, true, false), (200, false, true)]
    );
    let effects: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM effects_log")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(effects, 1);

    // The pool closed: the database is unavailable, and the answer is a 503, not a 2xx.
    pool.close().await;
    let body = order(now, 300);
    let request = test::TestRequest::post()
        .uri("/webhooks/rxscale")
        .insert_header(("x-webhook-signature", sign(&test_secret(), &body)))
        .set_payload(body)
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status().as_u16(), 503);
    let bytes = test::read_body(response).await;
    assert_eq!(&bytes[..], br#"{"error":"database_unavailable"}"#);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
