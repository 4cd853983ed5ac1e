//! `secret.*` events are written by the secret writes themselves, inside their transaction: a
//! rotation's write names the rotation, and a rolled-back write leaves nothing in the outbox.

use sqlx::PgPool;
use store::connections::Sealed;
use store::secrets::{self as db, NewSecret, NextVersion, Writer};
use store::{EnvironmentId, FolderId, SecretId, SecretVersionId};
use uuid::Uuid;

use crate::support::Fixture;
use crate::webhooks::endpoint;

/// The test project's `prod` environment and its root folder.
async fn prod_root(fx: &Fixture) -> (EnvironmentId, FolderId) {
    sqlx::query_as(
        "select e.id, f.id from environments e join secret_folders f on f.environment_id = e.id \
         where e.project_id = $1 and e.slug = 'prod' and f.path = '/'",
    )
    .bind(fx.project_id)
    .fetch_one(&fx.pool)
    .await
    .expect("prod root folder")
}

async fn outbox(fx: &Fixture) -> Vec<serde_json::Value> {
    sqlx::query_scalar("select payload from webhook_events order by id")
        .fetch_all(&fx.pool)
        .await
        .expect("outbox")
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn writes_enqueue_their_events_and_a_rollback_enqueues_nothing(pool: PgPool) {
    let fx = Fixture::new(pool).await;
    endpoint(&fx, &["*"], true).await;
    let (environment_id, folder_id) = prod_root(&fx).await;
    let sealed = Sealed(vec![1, 2, b'k', b'1', 0]);
    let rotation = Uuid::now_v7();
    let new = NewSecret {
        id: SecretId::new(),
        project_id: fx.project_id,
        environment_id,
        folder_id,
        key: "AUTH0_CLIENT_SECRET",
        comment: "",
        version_id: SecretVersionId::new(),
        value_sealed: &sealed,
        by: Writer::Rotation(rotation),
    };

    // Rolled back with its write: no event.
    let mut tx = fx.pool.begin().await.expect("tx");
    db::create(&mut tx, &new).await.expect("create");
    tx.rollback().await.expect("rollback");
    assert!(outbox(&fx).await.is_empty());

    let mut tx = fx.pool.begin().await.expect("tx");
    let made = db::create(&mut tx, &new).await.expect("create");
    let next = NextVersion {
        secret_id: made.id,
        expected: 1,
        key: "AUTH0_CLIENT_SECRET",
        comment: "",
        version_id: SecretVersionId::new(),
        value_sealed: &sealed,
        by: Writer::Rotation(rotation),
    };
    db::add_version(&mut tx, &next).await.expect("update");
    tx.commit().await.expect("commit");

    // A write refused by its version check enqueues nothing either.
    let mut tx = fx.pool.begin().await.expect("tx");
    let stale = db::add_version(&mut tx, &next).await;
    assert!(matches!(
        stale,
        Err(store::Error::VersionMismatch { current: 2 })
    ));
    tx.rollback().await.expect("rollback");

    let mut tx = fx.pool.begin().await.expect("tx");
    db::delete(&mut tx, made.id, &Writer::Member(Uuid::nil()))
        .await
        .expect("delete");
    tx.commit().await.expect("commit");
    let mut conn = fx.pool.acquire().await.expect("conn");
    assert!(matches!(
        db::delete(&mut conn, made.id, &Writer::Member(Uuid::nil())).await,
        Err(store::Error::NotFound)
    ));

    let events = outbox(&fx).await;
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        ["secret.created", "secret.updated", "secret.deleted"]
    );
    let by_rotation = serde_json::json!({ "type": "rotation", "id": rotation });
    assert_eq!(events[0]["data"]["writtenBy"], by_rotation);
    assert_eq!(events[1]["data"]["writtenBy"], by_rotation);
    assert_eq!(events[1]["data"]["version"], 2);
    assert!(events[1]["data"].get("previousSecretKey").is_none());
    assert_eq!(
        events[2]["data"]["writtenBy"],
        serde_json::json!({ "type": "member", "id": Uuid::nil() })
    );
    for event in &events {
        assert_eq!(event["data"]["environment"], "prod");
        assert_eq!(event["data"]["secretPath"], "/");
        assert_eq!(event["data"]["secretKey"], "AUTH0_CLIENT_SECRET");
    }
}
