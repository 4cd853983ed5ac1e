//! `rotations::mapping`: the secrets a rotation owns. Names are unique per folder across
//! rotations, "taken" sees other rotations and existing secrets but not the rotation's own, and
//! the folder and environment that hold a mapping cannot be deleted (the constraint behind the
//! API's 409), while deleting the rotation drops the mapping and leaves the secrets.

use sqlx::PgPool;
use store::connections::Sealed;
use store::environments::Environment;
use store::folders::Folder;
use store::rotations::mapping::{self, NewMapping, Taken};
use store::secrets::{self, NewSecret};
use store::{RotationId, SecretId, SecretVersionId};

use crate::support::{Fixture, target};

const WRITER: secrets::Writer = secrets::Writer::Member(uuid::Uuid::nil());

async fn prod_root(fx: &Fixture) -> (Environment, Folder) {
    let prod = store::environments::by_slug(&fx.pool, fx.project_id, "prod")
        .await
        .expect("prod");
    let mut conn = fx.pool.acquire().await.expect("conn");
    let root = store::folders::by_path(&mut conn, prod.id, "/")
        .await
        .expect("root");
    (prod, root)
}

async fn map(
    fx: &Fixture,
    rotation: RotationId,
    folder: &Folder,
    names: (&str, &str),
) -> store::Result<()> {
    let mut conn = fx.pool.acquire().await.expect("conn");
    mapping::replace(
        &mut conn,
        rotation,
        Some(&NewMapping {
            environment_id: folder.environment_id,
            folder_id: folder.id,
            names: &[
                (store::rotations::mapping::ROLE_CLIENT_ID, names.0),
                (store::rotations::mapping::ROLE_CLIENT_SECRET, names.1),
            ],
        }),
    )
    .await
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn names_belong_to_one_rotation_and_hold_their_folder(pool: PgPool) {
    let fx = Fixture::new(pool).await;
    let (prod, root) = prod_root(&fx).await;
    let a = fx.rotation("a", &target(0)).await;
    let b = fx.rotation("b", &target(1)).await;
    map(&fx, a.id, &root, ("A_ID", "A_SECRET"))
        .await
        .expect("a maps");
    let mut conn = fx.pool.acquire().await.expect("conn");

    let got = mapping::get(&mut conn, a.id)
        .await
        .expect("get")
        .expect("mapped");
    assert_eq!(
        (
            got.key("clientId").unwrap_or_default(),
            got.key("clientSecret").unwrap_or_default()
        ),
        ("A_ID", "A_SECRET")
    );
    assert_eq!(
        (got.environment_slug.as_str(), got.folder_path.as_str()),
        ("prod", "/")
    );
    assert_eq!(mapping::get(&mut conn, b.id).await.expect("get"), None);

    // Another rotation's name is taken (and the constraint refuses it even unchecked); the
    // rotation's own names are free for it.
    assert_eq!(
        mapping::taken(&mut conn, root.id, &["X", "A_SECRET"], b.id)
            .await
            .expect("taken"),
        Some(Taken::ByRotation {
            key: "A_SECRET".into(),
            rotation: "a".into()
        })
    );
    assert_eq!(
        mapping::taken(&mut conn, root.id, &["A_ID", "A_SECRET"], a.id)
            .await
            .expect("taken"),
        None
    );
    match map(&fx, b.id, &root, ("B_ID", "A_SECRET")).await {
        Err(store::Error::Duplicate { constraint }) => {
            assert_eq!(constraint, "rotation_secrets_folder_key_key")
        }
        other => panic!("expected the unique constraint, got {other:?}"),
    }
    // An ordinary secret's name is taken too.
    let sealed = Sealed(vec![1; 16]);
    secrets::create(
        &mut conn,
        &NewSecret {
            id: SecretId::new(),
            project_id: fx.project_id,
            environment_id: prod.id,
            folder_id: root.id,
            key: "HAND",
            comment: "",
            version_id: SecretVersionId::new(),
            value_sealed: &sealed,
            by: WRITER,
        },
    )
    .await
    .expect("secret");
    assert_eq!(
        mapping::taken(&mut conn, root.id, &["HAND"], b.id)
            .await
            .expect("taken"),
        Some(Taken::BySecret { key: "HAND".into() })
    );
    assert_eq!(
        mapping::owner(&mut conn, root.id, "A_ID")
            .await
            .expect("owner"),
        Some((a.id, "a".to_owned()))
    );
    assert_eq!(
        mapping::owner(&mut conn, root.id, "HAND")
            .await
            .expect("owner"),
        None
    );
    assert_eq!(
        mapping::owner_within(&mut conn, prod.id, None)
            .await
            .expect("within"),
        Some("a".to_owned())
    );

    // The environment holding the mapping cannot be deleted underneath it.
    let refused = store::environments::delete(&mut conn, fx.project_id, prod.id, &WRITER).await;
    assert!(
        matches!(refused, Err(store::Error::MissingReference { .. })),
        "{refused:?}"
    );

    // Deleting the rotation drops its mapping; the secret of another name stays.
    sqlx::query("delete from secret_rotations where id = $1")
        .bind(a.id)
        .execute(&mut *conn)
        .await
        .expect("delete rotation");
    assert_eq!(mapping::get(&mut conn, a.id).await.expect("get"), None);
    assert!(
        secrets::exists(&mut conn, root.id, "HAND")
            .await
            .expect("exists")
    );
    assert_eq!(
        mapping::taken(&mut conn, root.id, &["A_SECRET"], b.id)
            .await
            .expect("taken"),
        None
    );
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn a_folder_holding_a_mapping_stays_and_only_mapped_secrets_are_listed(pool: PgPool) {
    let fx = Fixture::new(pool).await;
    let (_, root) = prod_root(&fx).await;
    let mut conn = fx.pool.acquire().await.expect("conn");
    let orders = store::folders::create(&mut conn, &root, "orders", None)
        .await
        .expect("folder");
    let rotation = fx.rotation("r", &target(0)).await;
    map(&fx, rotation.id, &orders, ("R_ID", "R_SECRET"))
        .await
        .expect("maps");
    assert_eq!(
        mapping::owner_within(&mut conn, orders.environment_id, Some("/orders"))
            .await
            .expect("within"),
        Some("r".to_owned())
    );
    assert_eq!(
        mapping::owner_within(&mut conn, orders.environment_id, Some("/order"))
            .await
            .expect("within"),
        None,
        "a prefix of the name is another folder"
    );
    let refused = store::folders::delete(&mut conn, orders.id, &WRITER).await;
    assert!(
        matches!(refused, Err(store::Error::MissingReference { .. })),
        "{refused:?}"
    );

    let sealed = Sealed(vec![1; 16]);
    for key in ["R_SECRET", "OTHER"] {
        secrets::create(
            &mut conn,
            &NewSecret {
                id: SecretId::new(),
                project_id: fx.project_id,
                environment_id: orders.environment_id,
                folder_id: orders.id,
                key,
                comment: "",
                version_id: SecretVersionId::new(),
                value_sealed: &sealed,
                by: WRITER,
            },
        )
        .await
        .expect("secret");
    }
    let mapped = mapping::mapped_secrets(&mut conn, rotation.id)
        .await
        .expect("mapped");
    assert_eq!(
        mapped.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(),
        ["R_SECRET"],
        "only the mapped names, and only those that exist"
    );
    // Removing the mapping frees the folder.
    mapping::replace(&mut conn, rotation.id, None)
        .await
        .expect("unmap");
    store::folders::delete(&mut conn, orders.id, &WRITER)
        .await
        .expect("deletable now");
}
