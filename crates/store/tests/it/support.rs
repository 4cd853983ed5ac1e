//! Fixtures: an org, a project and a connection (its sealed secret is placeholder bytes), and
//! rotations of target clients.

use sqlx::PgPool;
use store::connections::{self, Connection, Credentials, NewConnection, Sealed};
use store::rotations::{self, NewRotation, Rotation};
use store::{ConnectionId, OrgId, ProjectId, RotationId};

pub const DOMAIN: &str = "acme.auth0.test";
pub const CONN_CLIENT: &str = "keyholdConnectionClient0001";

pub struct Fixture {
    pub pool: PgPool,
    pub org_id: OrgId,
    pub project_id: ProjectId,
    pub connection: Connection,
}

pub fn target(i: usize) -> String {
    format!("targetClient{i:04}")
}

impl Fixture {
    pub async fn new(pool: PgPool) -> Fixture {
        let org_id = OrgId::new();
        let mut conn = pool.acquire().await.expect("conn");
        sqlx::query("insert into orgs (id, name) values ($1, 'test')")
            .bind(org_id)
            .execute(&mut *conn)
            .await
            .expect("org");
        let project = store::projects::create(
            &mut conn,
            &store::projects::NewProject {
                org_id,
                name: "team-a",
                description: None,
            },
        )
        .await
        .expect("project");
        let audience = format!("https://{DOMAIN}/api/v2/");
        let connection = connections::insert(
            &mut conn,
            &NewConnection {
                id: ConnectionId::new(),
                org_id,
                project_id: project.id,
                method: "client-credentials",
                name: "acme",
                description: None,
                credentials: Credentials {
                    domain: DOMAIN,
                    client_id: CONN_CLIENT,
                    audience: &audience,
                    client_secret_sealed: &Sealed(vec![0; 16]),
                },
            },
        )
        .await
        .expect("connection");
        Fixture {
            pool,
            org_id,
            project_id: project.id,
            connection,
        }
    }

    /// A rotation of `client_id`, due at once (its first secret is issued on creation).
    pub async fn rotation(&self, name: &str, client_id: &str) -> Rotation {
        let new = NewRotation {
            id: RotationId::new(),
            kind: store::rotations::TYPE_AUTH0_CLIENT_SECRET,
            overlap_seconds: None,
            org_id: self.org_id,
            project_id: self.project_id,
            connection_id: self.connection.id,
            name,
            description: None,
            client_id,
            rotation_interval_days: 30,
            rotate_at_hours: 0,
            rotate_at_minutes: 0,
            is_auto_rotation_enabled: true,
            next_rotation_at: Some(time::OffsetDateTime::now_utc() + time::Duration::days(30)),
            rotate_immediately: true,
        };
        let mut conn = self.pool.acquire().await.expect("conn");
        rotations::insert(&mut conn, &new).await.expect("rotation")
    }

    pub async fn get(&self, id: RotationId) -> Rotation {
        rotations::get(&self.pool, self.org_id, id)
            .await
            .expect("rotation")
    }
}
