//! The last admin of a project, and the last instance admin, survive concurrent demotions: two
//! admins removing each other at the same moment leave exactly one of them, and the other request
//! is refused with a 409 problem.

use std::future::Future;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{Reply, TestApp};

const TRIALS: usize = 30;

/// Runs both requests while the test holds the rows they change locked (`lock_sql`, bound to `key`),
/// and lets go only once both wait on a lock. Both have then passed authorization and started their
/// transactions, so every trial is a real race rather than one request finishing before the other
/// starts.
async fn race(
    pool: &PgPool,
    lock_sql: &'static str,
    key: &str,
    first: impl Future<Output = Reply>,
    second: impl Future<Output = Reply>,
) -> [Reply; 2] {
    let mut hold = pool.begin().await.expect("begin");
    sqlx::query(lock_sql)
        .bind(key)
        .execute(&mut *hold)
        .await
        .expect("lock");
    let release = async move {
        let started = Instant::now();
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "select count(*) from pg_stat_activity \
                 where datname = current_database() and wait_event_type = 'Lock'",
            )
            .fetch_one(pool)
            .await
            .expect("waiting");
            if waiting >= 2 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the two requests never both waited ({waiting} waiting)"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        hold.rollback().await.expect("release");
    };
    let (a, b, ()) = tokio::join!(first, second, release);
    [a, b]
}

/// Exactly one of two racing removals succeeds; the other is a 409 problem.
fn one_wins(trial: usize, replies: &[Reply; 2]) -> usize {
    let winners: Vec<usize> = (0..2)
        .filter(|&n| replies[n].status == StatusCode::OK)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "trial {trial}: {} / {}",
        replies[0].text,
        replies[1].text
    );
    let winner = winners[0];
    replies[1 - winner].problem(StatusCode::CONFLICT);
    winner
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn project_admins_removing_each_other_at_once_leave_one(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let a = app.identity("admin-a", None).await;
    let b = app.identity("admin-b", None).await;
    for trial in 0..TRIALS {
        // A project whose only admins are a and b.
        let made = app
            .call(
                Method::POST,
                "/api/v1/projects",
                Some(json!({ "name": format!("race-{trial}") })),
                &[],
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
        let project = made.json["project"]["id"].as_str().expect("id").to_owned();
        let members = format!("/api/v1/projects/{project}/memberships");
        for id in [&a.id, &b.id] {
            let added = app
                .call(
                    Method::POST,
                    &members,
                    Some(json!({ "identityId": id, "role": "admin" })),
                    &[],
                )
                .await;
            assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
        }
        let creator: String = sqlx::query_scalar(
            "select identity_id::text from project_memberships where project_id = $1::uuid \
             and identity_id not in ($2::uuid, $3::uuid)",
        )
        .bind(&project)
        .bind(&a.id)
        .bind(&b.id)
        .fetch_one(&app.pool)
        .await
        .expect("creator");
        let gone = app
            .call(Method::DELETE, &format!("{members}/{creator}"), None, &[])
            .await;
        assert_eq!(gone.status, StatusCode::OK, "{}", gone.text);

        // Half the trials demote, half delete.
        let (method, body) = if trial % 2 == 0 {
            (Method::PATCH, Some(json!({ "role": "member" })))
        } else {
            (Method::DELETE, None)
        };
        let (of_a, of_b) = (format!("{members}/{}", a.id), format!("{members}/{}", b.id));
        let a_removes_b = app.call_as(Some(&a.token), method.clone(), &of_b, body.clone(), &[]);
        let b_removes_a = app.call_as(Some(&b.token), method, &of_a, body, &[]);
        let lock = "select 1 from project_memberships where project_id = $1::uuid for update";
        let replies = race(&app.pool, lock, &project, a_removes_b, b_removes_a).await;
        one_wins(trial, &replies);
        let admins: i64 = sqlx::query_scalar(
            "select count(*) from project_memberships where project_id = $1::uuid and role = 'admin'",
        )
        .bind(&project)
        .fetch_one(&app.pool)
        .await
        .expect("count");
        assert_eq!(admins, 1, "trial {trial}");
    }
}

/// A new instance admin and its token.
async fn instance_admin(app: &TestApp, token: &str, name: &str) -> (String, String) {
    let made = app
        .call_as(
            Some(token),
            Method::POST,
            "/api/v1/identities",
            Some(json!({ "type": "machine", "name": name, "isInstanceAdmin": true })),
            &[],
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let id = made.json["identity"]["id"].as_str().expect("id").to_owned();
    let token = app
        .login(
            made.json["identity"]["clientId"]
                .as_str()
                .expect("client id"),
            made.json["clientSecret"].as_str().expect("secret"),
        )
        .await;
    (id, token)
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn instance_admins_removing_each_other_at_once_leave_one(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let list = app.call(Method::GET, "/api/v1/identities", None, &[]).await;
    let first = list.json["identities"]
        .as_array()
        .expect("list")
        .iter()
        .find(|i| i["isInstanceAdmin"] == true)
        .and_then(|i| i["id"].as_str())
        .expect("admin")
        .to_owned();
    let mut admins = [
        (first, app.admin_token.clone()),
        instance_admin(&app, &app.admin_token, "second-0").await,
    ];
    for trial in 0..TRIALS {
        // Demote, disable or delete: each would leave the instance without an enabled admin.
        let (method, body): (Method, Option<Value>) = match trial % 3 {
            0 => (Method::PATCH, Some(json!({ "isInstanceAdmin": false }))),
            1 => (Method::PATCH, Some(json!({ "disabled": true }))),
            _ => (Method::DELETE, None),
        };
        let paths = admins
            .clone()
            .map(|(id, _)| format!("/api/v1/identities/{id}"));
        let zero_removes_one = app.call_as(
            Some(&admins[0].1),
            method.clone(),
            &paths[1],
            body.clone(),
            &[],
        );
        let one_removes_zero = app.call_as(Some(&admins[1].1), method, &paths[0], body, &[]);
        let lock = "select 1 from identities where org_id = $1::uuid for update";
        let replies = race(
            &app.pool,
            lock,
            &app.org_id,
            zero_removes_one,
            one_removes_zero,
        )
        .await;
        let winner = one_wins(trial, &replies);
        let left: i64 = sqlx::query_scalar(
            "select count(*) from identities where is_instance_admin and disabled_at is null",
        )
        .fetch_one(&app.pool)
        .await
        .expect("count");
        assert_eq!(left, 1, "trial {trial}");
        // The survivor makes a fresh second admin for the next trial.
        let survivor = admins[winner].clone();
        admins = [
            survivor.clone(),
            instance_admin(&app, &survivor.1, &format!("second-{}", trial + 1)).await,
        ];
    }
}
