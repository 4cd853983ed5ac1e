//! Secret rotations through the API, with the real worker driving them against the emulator.

use axum::http::{Method, StatusCode};
use serde_json::json;
use sqlx::PgPool;

use crate::support::{DOMAIN, NARROW_ID, NARROW_SECRET, TARGET_ID, TestApp};

const BASE: &str = "/api/v2/secret-rotations/auth0-client-secret";

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn create_rotates_at_once_and_reveals_what_auth0_holds(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create("rotator").await;
    let body = app.rotation_body(
        "target-secret",
        connection["id"].as_str().expect("id"),
        TARGET_ID,
    );
    let created = app.call(Method::POST, BASE, Some(body), &[]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let r = &created.json["secretRotation"];
    assert_eq!(r["type"], "auth0-client-secret");
    assert_eq!(r["parameters"]["clientId"], TARGET_ID);
    assert_eq!(r["rotationInterval"], 30);
    assert_eq!(r["rotateAtUtc"], json!({ "hours": 3, "minutes": 15 }));
    assert_eq!(r["connection"]["name"], "rotator");
    assert_eq!(r["rotationStatus"], "pending");
    assert_eq!(r["isRotating"], true);
    assert!(
        r["nextRotationAt"]
            .as_str()
            .is_some_and(|t| t.contains("T03:15:00")),
        "{}",
        r["nextRotationAt"]
    );
    let id = r["id"].as_str().expect("id").to_owned();

    let reports = app.run_worker().await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    let fetched = app
        .call(Method::GET, &format!("{BASE}/{id}"), None, &[])
        .await;
    assert_eq!(
        fetched.json["secretRotation"]["rotationStatus"], "success",
        "{}",
        fetched.text
    );
    assert_eq!(fetched.json["secretRotation"]["isRotating"], false);
    assert!(fetched.json["secretRotation"]["lastRotatedAt"].is_string());

    let revealed = app
        .call(
            Method::GET,
            &format!("{BASE}/{id}/generated-credentials"),
            None,
            &[],
        )
        .await;
    assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.text);
    let held = app
        .emulator
        .admin()
        .client_secret(DOMAIN, TARGET_ID)
        .expect("secret");
    let active = revealed.json["activeIndex"].as_u64().expect("index") as usize;
    assert_eq!(
        revealed.json["generatedCredentials"][active]["clientSecret"],
        held.as_str()
    );
    assert_eq!(
        revealed.json["generatedCredentials"][active]["clientId"],
        TARGET_ID
    );
    assert_eq!(revealed.json["type"], "auth0-client-secret");
    // No other route shows the secret.
    assert!(!fetched.text.contains(&held));
    let audit = app
        .call(
            Method::GET,
            &format!(
                "/api/v1/audit-logs?projectId={}&action=secret_rotation.reveal",
                app.project_id
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(audit.json["auditLogs"].as_array().map(Vec::len), Some(1));
    assert!(!audit.text.contains(&held));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_reveal_keeps_its_reason_in_the_audit_row_but_never_a_secret(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let rotation = app.rotation("reasons").await;
    let id = rotation["id"].as_str().expect("id");
    let reveal = |query: String| {
        let app = &app;
        async move {
            app.call(
                Method::GET,
                &format!("{BASE}/{id}/generated-credentials{query}"),
                None,
                &[],
            )
            .await
        }
    };
    let held = app
        .emulator
        .admin()
        .client_secret(DOMAIN, TARGET_ID)
        .expect("secret");

    // Why, in plain words: kept with the reveal's audit row (trimmed).
    let revealed =
        reveal("?reason=%20incident%2042%3A%20checking%20the%20orders%20app%20".into()).await;
    assert_eq!(revealed.status, StatusCode::OK, "{}", revealed.text);
    // No reason: the row has none.
    let plain = reveal(String::new()).await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.text);

    // Refused, and nothing recorded: too long, a control character, the secret itself.
    let long = "a".repeat(201);
    for (query, said) in [
        (format!("?reason={long}"), "at most 200"),
        ("?reason=line%0Abreak".to_owned(), "plain text"),
        (
            format!("?reason=it%20is%20{held}"),
            "must not contain a secret",
        ),
    ] {
        let refused = reveal(query).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.text
        );
        assert_eq!(
            refused.json["errors"][0]["field"], "reason",
            "{}",
            refused.text
        );
        assert!(refused.text.contains(said), "{}", refused.text);
        assert!(
            !refused.text.contains(&held),
            "the refusal repeats the secret"
        );
    }
    let exactly = reveal(format!("?reason={}", "b".repeat(200))).await;
    assert_eq!(exactly.status, StatusCode::OK, "{}", exactly.text);
    // Only the secret Auth0 holds now, when asked so.
    let active = reveal("?activeOnly=true".into()).await;
    assert_eq!(active.status, StatusCode::OK, "{}", active.text);
    assert_eq!(active.json["activeIndex"], 0);
    assert_eq!(
        active.json["generatedCredentials"],
        json!([{ "clientId": TARGET_ID, "clientSecret": held }])
    );

    let audit = app
        .call(
            Method::GET,
            &format!(
                "/api/v1/audit-logs?projectId={}&action=secret_rotation.reveal",
                app.project_id
            ),
            None,
            &[],
        )
        .await;
    let rows = audit.json["auditLogs"].as_array().expect("rows");
    assert_eq!(rows.len(), 4, "{}", audit.text);
    let revealed: Vec<&serde_json::Value> =
        rows.iter().map(|r| &r["metadata"]["revealed"]).collect();
    assert_eq!(
        revealed.iter().filter(|r| ***r == json!("active")).count(),
        1,
        "{}",
        audit.text
    );
    let reasons: Vec<&serde_json::Value> = rows.iter().map(|r| &r["metadata"]["reason"]).collect();
    assert!(
        reasons.contains(&&json!("incident 42: checking the orders app")),
        "{}",
        audit.text
    );
    assert!(
        reasons.contains(&&serde_json::Value::Null),
        "{}",
        audit.text
    );
    assert!(reasons.contains(&&json!("b".repeat(200))), "{}", audit.text);
    assert!(!audit.text.contains(&held));
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn rotate_now_queues_once_and_flips_the_active_slot(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let rotation = app.rotation("flip").await;
    let id = rotation["id"].as_str().expect("id");
    let first = app
        .call(
            Method::GET,
            &format!("{BASE}/{id}/generated-credentials"),
            None,
            &[],
        )
        .await;
    let first_index = first.json["activeIndex"].as_i64().expect("index");

    let queued = app
        .call(
            Method::POST,
            &format!("{BASE}/{id}/rotate-secrets"),
            None,
            &[],
        )
        .await;
    assert_eq!(queued.status, StatusCode::OK, "{}", queued.text);
    assert_eq!(queued.json["secretRotation"]["isRotating"], true);
    let again = app
        .call(
            Method::POST,
            &format!("{BASE}/{id}/rotate-secrets"),
            None,
            &[],
        )
        .await;
    let problem = again.problem(StatusCode::CONFLICT);
    assert_eq!(
        problem["detail"],
        "A rotation is already in progress. Please try again shortly."
    );
    // Deleting while it runs could lose the pending secret.
    app.call(Method::DELETE, &format!("{BASE}/{id}"), None, &[])
        .await
        .problem(StatusCode::CONFLICT);

    app.run_worker().await;
    let second = app
        .call(
            Method::GET,
            &format!("{BASE}/{id}/generated-credentials"),
            None,
            &[],
        )
        .await;
    let second_index = second.json["activeIndex"].as_i64().expect("index");
    assert_ne!(first_index, second_index);
    assert_eq!(
        second.json["generatedCredentials"].as_array().map(Vec::len),
        Some(2)
    );
    let held = app
        .emulator
        .admin()
        .client_secret(DOMAIN, TARGET_ID)
        .expect("secret");
    assert_eq!(
        second.json["generatedCredentials"][second_index as usize]["clientSecret"],
        held.as_str()
    );
    // With two secrets, activeOnly sends just the one Auth0 holds.
    let only = app
        .call(
            Method::GET,
            &format!("{BASE}/{id}/generated-credentials?activeOnly=true"),
            None,
            &[],
        )
        .await;
    assert_eq!(only.status, StatusCode::OK, "{}", only.text);
    assert_eq!(only.json["activeIndex"], 0);
    assert_eq!(
        only.json["generatedCredentials"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        only.json["generatedCredentials"][0]["clientSecret"],
        held.as_str()
    );
    let fetched = app
        .call(Method::GET, &format!("{BASE}/{id}"), None, &[])
        .await;
    assert_eq!(fetched.json["secretRotation"]["isLastRotationManual"], true);

    let attempts = app
        .call(
            Method::GET,
            &format!("{BASE}/{id}/attempts?limit=1"),
            None,
            &[],
        )
        .await;
    assert_eq!(attempts.status, StatusCode::OK, "{}", attempts.text);
    assert_eq!(attempts.json["attempts"][0]["outcome"], "succeeded");
    assert_eq!(attempts.json["attempts"][0]["step"], "finished");
    assert_eq!(attempts.json["attempts"][0]["isManual"], true);
    let cursor = attempts.json["nextCursor"].as_str().expect("older attempt");
    let older = app
        .call(
            Method::GET,
            &format!("{BASE}/{id}/attempts?limit=1&cursor={cursor}"),
            None,
            &[],
        )
        .await;
    assert_eq!(older.json["attempts"][0]["isManual"], false);
    assert!(older.json["nextCursor"].is_null());
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn create_names_what_the_connection_cannot_do(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create("main").await;
    let id = connection["id"].as_str().expect("id");
    let unknown = app
        .call(
            Method::POST,
            BASE,
            Some(app.rotation_body("ghost", id, "noSuchClient")),
            &[],
        )
        .await;
    unknown.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.fields(), ["parameters.clientId"]);

    let mut narrow = app.connection_body("narrow");
    narrow["credentials"]["clientId"] = json!(NARROW_ID);
    narrow["credentials"]["clientSecret"] = json!(NARROW_SECRET);
    let narrow = app
        .call(
            Method::POST,
            "/api/v1/app-connections/auth0",
            Some(narrow),
            &[],
        )
        .await;
    assert_eq!(narrow.status, StatusCode::CREATED, "{}", narrow.text);
    let narrow_id = narrow.json["appConnection"]["id"].as_str().expect("id");
    let blind = app
        .call(
            Method::POST,
            BASE,
            Some(app.rotation_body("blind", narrow_id, TARGET_ID)),
            &[],
        )
        .await;
    blind.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(blind.fields(), ["connectionId"]);
    assert!(
        blind.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("read:clients")),
        "{}",
        blind.text
    );

    let bad = [
        (json!({ "rotationInterval": 0 }), "rotationInterval"),
        (
            json!({ "rotateAtUtc": { "hours": 24, "minutes": 0 } }),
            "rotateAtUtc",
        ),
        (json!({ "name": "Not A Slug" }), "name"),
        (json!({ "connectionId": "nope" }), "connectionId"),
    ];
    for (change, field) in bad {
        let mut body = app.rotation_body("bad", id, TARGET_ID);
        for (k, v) in change.as_object().expect("object") {
            body[k] = v.clone();
        }
        let reply = app.call(Method::POST, BASE, Some(body), &[]).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.fields(), [field], "{}", reply.text);
    }
    let count: i64 = sqlx::query_scalar("select count(*) from secret_rotations")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 0);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn update_reschedules_and_honours_if_match(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let rotation = app.rotation("sched").await;
    let id = rotation["id"].as_str().expect("id");
    let path = format!("{BASE}/{id}");
    let current = app.call(Method::GET, &path, None, &[]).await;
    let version = current.json["secretRotation"]["version"]
        .as_i64()
        .expect("version");
    let stale = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "rotationInterval": 7 })),
            &[("if-match", "\"999\"")],
        )
        .await;
    stale.problem(StatusCode::PRECONDITION_FAILED);
    let tag = format!("\"{version}\"");
    let changed = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "rotationInterval": 7, "rotateAtUtc": { "hours": 22, "minutes": 5 } })),
            &[("if-match", &tag)],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.json["secretRotation"]["rotationInterval"], 7);
    assert!(
        changed.json["secretRotation"]["nextRotationAt"]
            .as_str()
            .is_some_and(|t| t.contains("T22:05:00"))
    );
    let off = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({ "isAutoRotationEnabled": false })),
            &[],
        )
        .await;
    assert!(
        off.json["secretRotation"]["nextRotationAt"].is_null(),
        "{}",
        off.text
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn deleting_with_revoke_kills_the_stored_secret(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let rotation = app.rotation("revoke").await;
    let id = rotation["id"].as_str().expect("id");
    let stored = app
        .emulator
        .admin()
        .client_secret(DOMAIN, TARGET_ID)
        .expect("secret");
    // The connection cannot go while a rotation uses it.
    let connection_path = format!(
        "/api/v1/app-connections/auth0/{}",
        rotation["connectionId"].as_str().expect("id")
    );
    app.call(Method::DELETE, &connection_path, None, &[])
        .await
        .problem(StatusCode::CONFLICT);

    let removed = app
        .call(
            Method::DELETE,
            &format!("{BASE}/{id}?revokeGeneratedCredentials=true"),
            None,
            &[],
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text);
    let now = app
        .emulator
        .admin()
        .client_secret(DOMAIN, TARGET_ID)
        .expect("secret");
    assert_ne!(now, stored, "Auth0 still accepts the secret Keyhold stored");
    app.call(Method::GET, &format!("{BASE}/{id}"), None, &[])
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_eq!(
        app.call(Method::DELETE, &connection_path, None, &[])
            .await
            .status,
        StatusCode::OK
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn lists_and_lookups(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.rotation("bravo").await;
    app.rotation("alpha").await;
    let list = app
        .call(
            Method::GET,
            &format!("{BASE}?projectId={}&limit=1", app.project_id),
            None,
            &[],
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(list.json["secretRotations"][0]["name"], "alpha");
    let cursor = list.json["nextCursor"].as_str().expect("more");
    let next = app
        .call(
            Method::GET,
            &format!(
                "{BASE}?projectId={}&limit=1&cursor={cursor}",
                app.project_id
            ),
            None,
            &[],
        )
        .await;
    assert_eq!(next.json["secretRotations"][0]["name"], "bravo");
    assert_eq!(list.json["totalCount"], 2, "{}", list.text);
    assert_eq!(next.json["totalCount"], 2, "{}", next.text);
    let searched = app
        .call(
            Method::GET,
            &format!("{BASE}?projectId={}&search=RAV", app.project_id),
            None,
            &[],
        )
        .await;
    assert_eq!(searched.json["totalCount"], 1, "{}", searched.text);
    // By status: both rotations succeeded; none failed; an unknown status is refused.
    for (status, n) in [("success", 2), ("failed", 0), ("pending", 0)] {
        let by_status = app
            .call(
                Method::GET,
                &format!("{BASE}?projectId={}&status={status}", app.project_id),
                None,
                &[],
            )
            .await;
        assert_eq!(by_status.status, StatusCode::OK, "{}", by_status.text);
        assert_eq!(
            by_status.json["totalCount"], n,
            "{status}: {}",
            by_status.text
        );
        assert_eq!(
            by_status.json["secretRotations"].as_array().map(Vec::len),
            Some(n),
            "{status}"
        );
    }
    let bogus = app
        .call(
            Method::GET,
            &format!("{BASE}?projectId={}&status=broken", app.project_id),
            None,
            &[],
        )
        .await;
    bogus.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bogus.fields(), ["status"]);
    let all = app
        .call(
            Method::GET,
            &format!("/api/v2/secret-rotations?projectId={}", app.project_id),
            None,
            &[],
        )
        .await;
    assert_eq!(
        all.json["secretRotations"].as_array().map(Vec::len),
        Some(2)
    );
    let by_name = app
        .call(
            Method::GET,
            &format!("{BASE}/rotation-name/bravo?projectId={}", app.project_id),
            None,
            &[],
        )
        .await;
    assert_eq!(by_name.json["secretRotation"]["name"], "bravo");
    let options = app
        .call(Method::GET, "/api/v2/secret-rotations/options", None, &[])
        .await;
    assert_eq!(
        options.json["secretRotationOptions"][0]["type"],
        "auth0-client-secret"
    );
}

/// A rotation attempt's pending secret is bound to the connection's tenant and the rotated
/// client (issue 14): neither may move while the attempt is open, and both may once it closes.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn nothing_moves_under_an_open_attempt(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create("rotator").await;
    let connection_id = connection["id"].as_str().expect("id");
    let body = app.rotation_body("target-secret", connection_id, TARGET_ID);
    let created = app.call(Method::POST, BASE, Some(body), &[]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json["secretRotation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let rotation_id: uuid::Uuid = id.parse().expect("uuid");
    // An attempt left open between its steps, as a worker leaves it while it retries.
    sqlx::query(
        "with a as (insert into rotation_attempts (id, rotation_id, attempt_no, is_manual) \
                    values (gen_random_uuid(), $1, 1, true) returning id) \
         update secret_rotations set current_attempt_id = (select id from a) where id = $1",
    )
    .bind(rotation_id)
    .execute(&app.pool)
    .await
    .expect("open attempt");

    let connection_path = format!("/api/v1/app-connections/auth0/{connection_id}");
    let other_client = json!({ "credentials": {
        "domain": DOMAIN, "clientId": NARROW_ID, "clientSecret": NARROW_SECRET } });
    let moved = app
        .call(
            Method::PATCH,
            &connection_path,
            Some(other_client.clone()),
            &[],
        )
        .await;
    let problem = moved.problem(StatusCode::CONFLICT);
    assert!(
        moved.text.contains(&id),
        "names the rotation: {}",
        moved.text
    );
    assert_eq!(
        problem["errors"][0]["field"], "credentials.domain",
        "{problem}"
    );
    let unchanged = app.call(Method::GET, &connection_path, None, &[]).await;
    assert_eq!(
        unchanged.json["appConnection"]["credentials"]["clientId"],
        connection["credentials"]["clientId"]
    );
    // A new secret for the same tenant and client is not a move.
    let same_place = json!({ "name": "renamed-while-rotating" });
    let renamed = app
        .call(Method::PATCH, &connection_path, Some(same_place), &[])
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);

    let rotation_path = format!("{BASE}/{id}");
    let retarget = json!({ "parameters": { "clientId": NARROW_ID } });
    let refused = app
        .call(Method::PATCH, &rotation_path, Some(retarget.clone()), &[])
        .await;
    let problem = refused.problem(StatusCode::CONFLICT);
    assert_eq!(
        problem["errors"][0]["field"], "parameters.clientId",
        "{problem}"
    );
    let still = app.call(Method::GET, &rotation_path, None, &[]).await;
    assert_eq!(
        still.json["secretRotation"]["parameters"]["clientId"],
        TARGET_ID
    );

    // Once the attempt is closed, both changes go through.
    sqlx::query(
        "update secret_rotations set current_attempt_id = null, rotate_requested_at = null where id = $1",
    )
    .bind(rotation_id)
    .execute(&app.pool)
    .await
    .expect("close attempt");
    let retargeted = app
        .call(Method::PATCH, &rotation_path, Some(retarget), &[])
        .await;
    assert_eq!(retargeted.status, StatusCode::OK, "{}", retargeted.text);
    let moved = app
        .call(Method::PATCH, &connection_path, Some(other_client), &[])
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
}

/// One broker per process: the API's calls through a connection and the worker's rotation use
/// one token cache, so Auth0 is asked for the connection's Management token once for both.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn the_api_and_the_worker_share_one_management_token(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let connection = app.create("rotator").await;
    let connection_id = connection["id"].as_str().expect("id");
    let misses = app.state.broker.tokens.misses();
    let clients = app
        .call(
            Method::GET,
            &format!("/api/v1/app-connections/auth0/{connection_id}/clients"),
            None,
            &[],
        )
        .await;
    assert_eq!(clients.status, StatusCode::OK, "{}", clients.text);
    let body = app.rotation_body("target-secret", connection_id, TARGET_ID);
    let created = app.call(Method::POST, BASE, Some(body), &[]).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let reports = app.run_worker().await;
    assert!(
        matches!(
            reports.as_slice(),
            [worker::JobReport {
                outcome: worker::JobOutcome::Rotated { .. },
                ..
            }]
        ),
        "{reports:?}"
    );
    assert_eq!(
        app.state.broker.tokens.misses() - misses,
        1,
        "the API and the worker asked Auth0 for the connection's token once in all"
    );
    assert!(app.state.broker.tokens.hits() >= 2);
}

/// Reads of rotations arriving together share their statements: each request still gets its own
/// rotation with its own connection's name, and the type a route serves still decides.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn reads_answered_together_each_get_their_own_rotation(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let secret = app.rotation("by-secret").await;
    let key = app.key_rotation("by-key").await;
    let keys_base = crate::support::KEY_ROTATIONS;
    let (secret_id, key_id) = (
        secret["id"].as_str().expect("id"),
        key["id"].as_str().expect("id"),
    );
    let unknown = uuid::Uuid::now_v7().to_string();
    // (route, id, the connection name it must show; None: 404)
    let cases = [
        (BASE, secret_id, Some("by-secret-conn")),
        (keys_base, key_id, Some("by-key-conn")),
        (BASE, key_id, None),
        (keys_base, secret_id, None),
        (BASE, unknown.as_str(), None),
    ];
    let asked: Vec<_> = (0..40).map(|i| cases[i % cases.len()]).collect();
    let paths: Vec<String> = asked
        .iter()
        .map(|(base, id, _)| format!("{base}/{id}"))
        .collect();
    let replies =
        futures_util::future::join_all(paths.iter().map(|p| app.call(Method::GET, p, None, &[])))
            .await;
    for ((_, id, name), reply) in asked.iter().zip(&replies) {
        match name {
            Some(name) => {
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
                assert_eq!(reply.json["secretRotation"]["id"], *id);
                assert_eq!(reply.json["secretRotation"]["connection"]["name"], *name);
            }
            None => {
                reply.problem(StatusCode::NOT_FOUND);
            }
        }
    }
}
