//! The per-project connection counts behind an unfiltered list's `totalCount` follow every insert
//! and delete, bulk or not, and agree with counting the rows.

use sqlx::PgPool;
use store::connections::{self, Credentials, ListFilter, NewConnection, Sealed};
use store::page::{Cursor, PageRequest};
use store::{ConnectionId, ProjectId};

use crate::support::{DOMAIN, Fixture};

fn unfiltered(fixture: &Fixture, project_id: Option<ProjectId>) -> ListFilter {
    ListFilter {
        org_id: fixture.org_id,
        project_id,
        visible: None,
        search: None,
        missing_scope: false,
    }
}

async fn rows(pool: &PgPool, project_id: ProjectId) -> Option<u32> {
    let n: i64 = sqlx::query_scalar("select count(*) from app_connections where project_id = $1")
        .bind(project_id)
        .fetch_one(pool)
        .await
        .expect("count");
    u32::try_from(n).ok()
}

async fn second_project(fixture: &Fixture) -> ProjectId {
    let mut conn = fixture.pool.acquire().await.expect("conn");
    store::projects::create(
        &mut conn,
        &store::projects::NewProject {
            org_id: fixture.org_id,
            name: "team-b",
            description: None,
        },
    )
    .await
    .expect("project")
    .id
}

/// `n` connections cloned from the fixture's into `project_id` in one statement.
async fn clone_into(fixture: &Fixture, project_id: ProjectId, n: i32) {
    sqlx::query(
        "insert into app_connections (id, org_id, project_id, method, name, domain, client_id, \
         audience, client_secret_sealed) \
         select gen_random_uuid(), org_id, $2, method, name || '-' || g, domain, client_id, \
                audience, client_secret_sealed \
           from app_connections, generate_series(1, $3) g where id = $1",
    )
    .bind(fixture.connection.id)
    .bind(project_id)
    .bind(n)
    .execute(&fixture.pool)
    .await
    .expect("clones");
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn counts_follow_inserts_and_deletes_single_and_bulk(pool: PgPool) {
    let fixture = Fixture::new(pool.clone()).await;
    let other = second_project(&fixture).await;
    let mut conn = pool.acquire().await.expect("conn");
    let mut added = Vec::new();
    for name in ["beta", "gamma"] {
        added.push(
            insert(
                &mut conn,
                &fixture,
                fixture.project_id,
                ConnectionId::new(),
                name,
            )
            .await,
        );
    }
    clone_into(&fixture, other, 250).await;
    connections::delete(&mut conn, fixture.org_id, added[0], None)
        .await
        .expect("delete");
    sqlx::query("delete from app_connections where project_id = $1 and name like 'acme-1%'")
        .bind(other)
        .execute(&pool)
        .await
        .expect("bulk delete");

    for project in [fixture.project_id, other] {
        let kept = connections::count(&pool, &unfiltered(&fixture, Some(project)), 10)
            .await
            .expect("count");
        assert_eq!(kept, rows(&pool, project).await);
    }
    assert_eq!(
        connections::count(&pool, &unfiltered(&fixture, Some(fixture.project_id)), 10)
            .await
            .expect("count"),
        Some(2)
    );
    // Past the cap a kept count is still exact; the whole organisation and a visible subset add up.
    let other_rows = rows(&pool, other).await.expect("rows");
    assert!(other_rows > 10, "{other_rows}");
    let everything = connections::count(&pool, &unfiltered(&fixture, None), 10)
        .await
        .expect("count");
    assert_eq!(everything, Some(other_rows + 2));
    let visible = ListFilter {
        visible: Some(vec![other]),
        ..unfiltered(&fixture, None)
    };
    assert_eq!(
        connections::count(&pool, &visible, 10)
            .await
            .expect("count"),
        Some(other_rows)
    );
    // A filtered list still counts, up to the cap.
    let searched = ListFilter {
        search: Some("acme-2".to_owned()),
        ..unfiltered(&fixture, Some(other))
    };
    assert_eq!(
        connections::count(&pool, &searched, 10)
            .await
            .expect("count"),
        None
    );
    // Another organisation's project counts nothing for this one.
    let foreign = ListFilter {
        org_id: store::OrgId::new(),
        ..unfiltered(&fixture, Some(other))
    };
    assert_eq!(
        connections::count(&pool, &foreign, 10)
            .await
            .expect("count"),
        Some(0)
    );
}

/// A page reads the list's total in its own statement; it must be the total `count` gives, for
/// every kind of filter, from any position, and for an empty page (no row to carry it).
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_page_carries_the_same_total_as_a_count(pool: PgPool) {
    let fixture = Fixture::new(pool.clone()).await;
    let other = second_project(&fixture).await;
    clone_into(&fixture, other, 25).await;
    let page = |limit, after| PageRequest { limit, after };
    let searched = |search: &str| ListFilter {
        search: Some(search.to_owned()),
        ..unfiltered(&fixture, Some(other))
    };
    let cases = [
        // Kept counts: exact past the cap of 10.
        (unfiltered(&fixture, Some(other)), Some(25)),
        (unfiltered(&fixture, None), Some(26)),
        // Counted: exact under the cap, unknown past it.
        (searched("acme-2"), Some(7)),
        (searched("acme-"), None),
        (
            ListFilter {
                org_id: store::OrgId::new(),
                ..unfiltered(&fixture, Some(other))
            },
            Some(0),
        ),
    ];
    for (filter, total) in cases {
        assert_eq!(
            connections::count(&pool, &filter, 10).await.expect("count"),
            total
        );
        let first = connections::list(&pool, &filter, &page(4, None), 10)
            .await
            .expect("page 1");
        assert_eq!(first.total, total, "page 1 of {filter:?}");
        let Some(after) = first.page.next else {
            assert_eq!(total, Some(0), "{filter:?}");
            continue;
        };
        let second = connections::list(&pool, &filter, &page(4, Some(after)), 10)
            .await
            .expect("page 2");
        assert_eq!(second.total, total, "page 2 of {filter:?}");
        assert!(!second.page.items.is_empty(), "{filter:?}");
        let past_the_end = Cursor {
            name: "zzz".to_owned(),
            id: uuid::Uuid::max(),
        };
        let empty = connections::list(&pool, &filter, &page(4, Some(past_the_end)), 10)
            .await
            .expect("empty page");
        assert!(empty.page.items.is_empty() && empty.page.next.is_none());
        assert_eq!(empty.total, total, "empty page of {filter:?}");
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_connection_cannot_move_to_another_project(pool: PgPool) {
    let fixture = Fixture::new(pool.clone()).await;
    let other = second_project(&fixture).await;
    let moved = sqlx::query("update app_connections set project_id = $2 where id = $1")
        .bind(fixture.connection.id)
        .bind(other)
        .execute(&pool)
        .await;
    assert!(moved.is_err(), "the move was allowed");
    assert_eq!(
        connections::count(&pool, &unfiltered(&fixture, Some(fixture.project_id)), 10)
            .await
            .expect("count"),
        Some(1)
    );
}

/// A connection named `name` in `project_id`.
async fn insert(
    conn: &mut sqlx::PgConnection,
    fixture: &Fixture,
    project_id: ProjectId,
    id: ConnectionId,
    name: &str,
) -> ConnectionId {
    let audience = format!("https://{DOMAIN}/api/v2/");
    connections::insert(
        conn,
        &NewConnection {
            id,
            org_id: fixture.org_id,
            project_id,
            method: "client-credentials",
            name,
            description: None,
            credentials: Credentials {
                domain: DOMAIN,
                client_id: "anotherClient",
                audience: &audience,
                client_secret_sealed: &Sealed(vec![0; 16]),
            },
        },
    )
    .await
    .expect("insert")
    .id
}

/// A connection in `project_id` whose id ends in `last`, the byte that picks its count row.
async fn insert_ending_in(
    conn: &mut sqlx::PgConnection,
    fixture: &Fixture,
    project_id: ProjectId,
    last: u8,
) {
    let mut id = *uuid::Uuid::now_v7().as_bytes();
    id[15] = last;
    let id = ConnectionId(uuid::Uuid::from_bytes(id));
    insert(conn, fixture, project_id, id, &format!("ends-in-{last}")).await;
}

/// Creates in one project used to queue on its one count row from insert to commit. Two creates
/// whose ids pick different rows must not wait for each other; the counts still add up.
#[sqlx::test(migrator = "store::MIGRATOR")]
async fn creates_in_one_project_do_not_wait_for_each_others_commit(pool: PgPool) {
    let fixture = Fixture::new(pool.clone()).await;
    let mut first = pool.begin().await.expect("tx");
    insert_ending_in(&mut first, &fixture, fixture.project_id, 0x01).await;
    let mut second = pool.begin().await.expect("tx");
    sqlx::query("set local lock_timeout = '2s'")
        .execute(&mut *second)
        .await
        .expect("lock timeout");
    insert_ending_in(&mut second, &fixture, fixture.project_id, 0x02).await;
    second.commit().await.expect("commit");
    first.commit().await.expect("commit");
    assert_eq!(
        connections::count(&pool, &unfiltered(&fixture, Some(fixture.project_id)), 10)
            .await
            .expect("count"),
        rows(&pool, fixture.project_id).await
    );
}
