//! The authorisation matrix: every route × every kind of caller, with the status each must get.
//! The table below is the specification; a route the API serves but this table does not list fails
//! `every_route_is_in_the_matrix`, so a new route cannot ship without deciding who may call it.
//! Narrowed memberships (a role × a scope inside or outside the fixtures' environment) are
//! callers too, against every route.

use std::collections::BTreeSet;

use api::auth::Role;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::{
    CLIENT_ID, DB_CONNECTION, DOMAIN, Identity, TARGET_ID, TestApp, USER_PATH_ID, VAULT_API,
    VAULT_READY_ID,
};

#[derive(Clone, Copy, Debug)]
enum Access {
    /// No token needed.
    Public,
    /// Any valid token.
    Authenticated,
    /// Instance admins only; others get 403.
    InstanceAdmin,
    /// At least this role in the resource's project; non-members get 404.
    Project(Role),
}

/// (method, route, who may call it, the success status).
fn matrix() -> Vec<(Method, &'static str, Access, StatusCode)> {
    use Access::*;
    let ok = StatusCode::OK;
    let created = StatusCode::CREATED;
    vec![
        (Method::GET, "/healthz", Public, ok),
        (Method::GET, "/readyz", Public, ok),
        (Method::GET, "/metrics", Public, ok),
        (
            Method::POST,
            "/api/v1/auth/universal-auth/login",
            Public,
            ok,
        ),
        (Method::POST, "/api/v1/auth/login", Public, ok),
        (Method::POST, "/api/v1/auth/token/revoke", Authenticated, ok),
        (Method::GET, "/api/v1/identities", InstanceAdmin, ok),
        (Method::POST, "/api/v1/identities", InstanceAdmin, created),
        (
            Method::GET,
            "/api/v1/identities/{identityId}",
            InstanceAdmin,
            ok,
        ),
        (
            Method::PATCH,
            "/api/v1/identities/{identityId}",
            InstanceAdmin,
            ok,
        ),
        (
            Method::DELETE,
            "/api/v1/identities/{identityId}",
            InstanceAdmin,
            ok,
        ),
        (
            Method::POST,
            "/api/v1/identities/{identityId}/client-secret",
            InstanceAdmin,
            ok,
        ),
        (Method::GET, "/api/v1/projects", Authenticated, ok),
        (Method::POST, "/api/v1/projects", Authenticated, created),
        (
            Method::GET,
            "/api/v1/projects/{projectId}",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::PATCH,
            "/api/v1/projects/{projectId}",
            Project(Role::Admin),
            ok,
        ),
        (
            Method::DELETE,
            "/api/v1/projects/{projectId}",
            Project(Role::Admin),
            ok,
        ),
        (
            Method::GET,
            "/api/v1/projects/{projectId}/memberships",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::POST,
            "/api/v1/projects/{projectId}/memberships",
            Project(Role::Admin),
            created,
        ),
        (
            Method::PATCH,
            "/api/v1/projects/{projectId}/memberships/{identityId}",
            Project(Role::Admin),
            ok,
        ),
        (
            Method::DELETE,
            "/api/v1/projects/{projectId}/memberships/{identityId}",
            Project(Role::Admin),
            ok,
        ),
        (
            Method::GET,
            "/api/v1/app-connections/options",
            Authenticated,
            ok,
        ),
        (Method::GET, "/api/v1/app-connections", Authenticated, ok),
        (
            Method::GET,
            "/api/v1/app-connections/auth0",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::POST,
            "/api/v1/app-connections/auth0",
            Project(Role::Member),
            created,
        ),
        (
            Method::GET,
            "/api/v1/app-connections/auth0/{connectionId}",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::PATCH,
            "/api/v1/app-connections/auth0/{connectionId}",
            Project(Role::Member),
            ok,
        ),
        (
            Method::DELETE,
            "/api/v1/app-connections/auth0/{connectionId}",
            Project(Role::Member),
            ok,
        ),
        (
            Method::GET,
            "/api/v1/app-connections/auth0/connection-name/{connectionName}",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::GET,
            "/api/v1/app-connections/auth0/{connectionId}/clients",
            Project(Role::Member),
            ok,
        ),
        (
            Method::POST,
            "/api/v1/app-connections/auth0/{connectionId}/validate",
            Project(Role::Member),
            ok,
        ),
        (
            Method::POST,
            "/api/v1/app-connections/auth0/{connectionId}/users",
            Project(Role::Member),
            created,
        ),
        (
            Method::GET,
            "/api/v1/app-connections/auth0/{connectionId}/users/{userId}",
            Project(Role::Member),
            ok,
        ),
        (
            Method::PATCH,
            "/api/v1/app-connections/auth0/{connectionId}/users/{userId}",
            Project(Role::Member),
            ok,
        ),
        (
            Method::POST,
            "/api/v1/app-connections/auth0/{connectionId}/token-vault/refresh-token-exchange",
            Project(Role::Member),
            ok,
        ),
        (
            Method::POST,
            "/api/v1/app-connections/auth0/{connectionId}/token-vault/access-token-exchange",
            Project(Role::Member),
            ok,
        ),
        (Method::GET, "/api/v1/audit-logs", Project(Role::Admin), ok),
        (
            Method::GET,
            "/api/v2/secret-rotations/options",
            Authenticated,
            ok,
        ),
        (
            Method::GET,
            "/api/v2/secret-rotations",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::GET,
            "/api/v2/secret-rotations/auth0-client-secret",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::POST,
            "/api/v2/secret-rotations/auth0-client-secret",
            Project(Role::Member),
            created,
        ),
        (
            Method::GET,
            "/api/v2/secret-rotations/auth0-client-secret/{rotationId}",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::PATCH,
            "/api/v2/secret-rotations/auth0-client-secret/{rotationId}",
            Project(Role::Member),
            ok,
        ),
        (
            Method::DELETE,
            "/api/v2/secret-rotations/auth0-client-secret/{rotationId}",
            Project(Role::Member),
            ok,
        ),
        (
            Method::GET,
            "/api/v2/secret-rotations/auth0-client-secret/rotation-name/{rotationName}",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::POST,
            "/api/v2/secret-rotations/auth0-client-secret/{rotationId}/rotate-secrets",
            Project(Role::Member),
            ok,
        ),
        (
            Method::GET,
            "/api/v2/secret-rotations/auth0-client-secret/{rotationId}/generated-credentials",
            Project(Role::Admin),
            ok,
        ),
        (
            Method::GET,
            "/api/v2/secret-rotations/auth0-client-secret/{rotationId}/attempts",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::GET,
            "/api/v2/secret-rotations/auth0-private-key-jwt",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::POST,
            "/api/v2/secret-rotations/auth0-private-key-jwt",
            Project(Role::Member),
            created,
        ),
        (
            Method::GET,
            "/api/v2/secret-rotations/auth0-private-key-jwt/{rotationId}",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::PATCH,
            "/api/v2/secret-rotations/auth0-private-key-jwt/{rotationId}",
            Project(Role::Member),
            ok,
        ),
        (
            Method::DELETE,
            "/api/v2/secret-rotations/auth0-private-key-jwt/{rotationId}",
            Project(Role::Member),
            ok,
        ),
        (
            Method::GET,
            "/api/v2/secret-rotations/auth0-private-key-jwt/rotation-name/{rotationName}",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::POST,
            "/api/v2/secret-rotations/auth0-private-key-jwt/{rotationId}/rotate-secrets",
            Project(Role::Member),
            ok,
        ),
        (
            Method::GET,
            "/api/v2/secret-rotations/auth0-private-key-jwt/{rotationId}/attempts",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::GET,
            "/api/v1/workspace/{workspaceId}/environments",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::POST,
            "/api/v1/workspace/{workspaceId}/environments",
            Project(Role::Admin),
            ok,
        ),
        (
            Method::GET,
            "/api/v1/workspace/{workspaceId}/environments/{envId}",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::PATCH,
            "/api/v1/workspace/{workspaceId}/environments/{envId}",
            Project(Role::Admin),
            ok,
        ),
        (
            Method::DELETE,
            "/api/v1/workspace/{workspaceId}/environments/{envId}",
            Project(Role::Admin),
            ok,
        ),
        (Method::GET, "/api/v2/folders", Project(Role::Viewer), ok),
        (Method::POST, "/api/v2/folders", Project(Role::Member), ok),
        (Method::GET, "/api/v1/folders", Project(Role::Viewer), ok),
        (Method::POST, "/api/v1/folders", Project(Role::Member), ok),
        (
            Method::GET,
            "/api/v2/folders/{folderId}",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::PATCH,
            "/api/v2/folders/{folderId}",
            Project(Role::Member),
            ok,
        ),
        (
            Method::DELETE,
            "/api/v2/folders/{folderId}",
            Project(Role::Member),
            ok,
        ),
        (
            Method::GET,
            "/api/v3/secrets/raw",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::GET,
            "/api/v3/secrets/raw/{secretName}",
            Project(Role::Viewer),
            ok,
        ),
        (
            Method::POST,
            "/api/v3/secrets/raw/{secretName}",
            Project(Role::Member),
            ok,
        ),
        (
            Method::PATCH,
            "/api/v3/secrets/raw/{secretName}",
            Project(Role::Member),
            ok,
        ),
        (
            Method::DELETE,
            "/api/v3/secrets/raw/{secretName}",
            Project(Role::Member),
            ok,
        ),
        (
            Method::GET,
            "/api/v1/audit-log-streams",
            Project(Role::Admin),
            ok,
        ),
        (
            Method::POST,
            "/api/v1/audit-log-streams",
            Project(Role::Admin),
            created,
        ),
        (
            Method::GET,
            "/api/v1/audit-log-streams/{streamId}",
            Project(Role::Admin),
            ok,
        ),
        (
            Method::PATCH,
            "/api/v1/audit-log-streams/{streamId}",
            Project(Role::Admin),
            ok,
        ),
        (
            Method::DELETE,
            "/api/v1/audit-log-streams/{streamId}",
            Project(Role::Admin),
            ok,
        ),
        (Method::GET, "/api/v1/webhooks", Project(Role::Admin), ok),
        (
            Method::POST,
            "/api/v1/webhooks",
            Project(Role::Admin),
            created,
        ),
        (
            Method::GET,
            "/api/v1/webhooks/{webhookId}",
            Project(Role::Admin),
            ok,
        ),
        (
            Method::PATCH,
            "/api/v1/webhooks/{webhookId}",
            Project(Role::Admin),
            ok,
        ),
        (
            Method::DELETE,
            "/api/v1/webhooks/{webhookId}",
            Project(Role::Admin),
            ok,
        ),
        (
            Method::POST,
            "/api/v1/webhooks/{webhookId}/rotate-secret",
            Project(Role::Admin),
            ok,
        ),
        (
            Method::POST,
            "/api/v1/webhooks/{webhookId}/test",
            Project(Role::Admin),
            StatusCode::ACCEPTED,
        ),
        (
            Method::GET,
            "/api/v1/webhooks/{webhookId}/deliveries",
            Project(Role::Admin),
            ok,
        ),
        (
            Method::POST,
            "/api/v1/webhooks/{webhookId}/deliveries/{deliveryId}/redeliver",
            Project(Role::Admin),
            StatusCode::ACCEPTED,
        ),
    ]
}

#[test]
fn every_route_is_in_the_matrix() {
    let served: BTreeSet<(String, &str)> = api::route_table()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p))
        .collect();
    let listed: BTreeSet<(String, &str)> = matrix()
        .into_iter()
        .map(|(m, p, _, _)| (m.to_string(), p))
        .collect();
    let unlisted: Vec<_> = served.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&served).collect();
    assert!(
        unlisted.is_empty(),
        "routes missing from the authorisation matrix: {unlisted:?}"
    );
    assert!(
        stale.is_empty(),
        "matrix rows for routes that do not exist: {stale:?}"
    );
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Nobody,
    Outsider,
    Viewer,
    Member,
    ProjectAdmin,
    InstanceAdmin,
    /// A membership narrowed to environments and a folder: `in_scope` callers are narrowed to
    /// `dev` (where the fixtures are), the others to `prod` at `/orders`.
    Narrowed {
        role: Role,
        in_scope: bool,
    },
}

impl Who {
    fn role(self) -> Option<Role> {
        match self {
            Who::Viewer => Some(Role::Viewer),
            Who::Member => Some(Role::Member),
            Who::ProjectAdmin | Who::InstanceAdmin => Some(Role::Admin),
            Who::Narrowed { role, .. } => Some(role),
            Who::Nobody | Who::Outsider => None,
        }
    }
}

fn expected(access: Access, who: Who, route: &str, success: StatusCode) -> StatusCode {
    match (access, who) {
        (Access::Project(min), Who::Narrowed { role, in_scope }) => {
            narrowed(min, role, in_scope, route, success)
        }
        (_, Who::Narrowed { .. }) => expected(access, Who::Member, route, success),
        (Access::Public, _) => success,
        (_, Who::Nobody) => StatusCode::UNAUTHORIZED,
        (Access::Authenticated, _) => success,
        (Access::InstanceAdmin, Who::InstanceAdmin) => success,
        (Access::InstanceAdmin, _) => StatusCode::FORBIDDEN,
        (Access::Project(_), Who::Outsider) => StatusCode::NOT_FOUND,
        (Access::Project(min), who) => match who.role() {
            Some(role) if role >= min => success,
            _ => StatusCode::FORBIDDEN,
        },
    }
}

/// A narrowed membership reaches the secrets and folders routes only, and there only its scope:
/// outside it a secret or folder path is 403 and a folder or environment by id 404.
fn narrowed(min: Role, role: Role, in_scope: bool, route: &str, success: StatusCode) -> StatusCode {
    if role < min {
        return StatusCode::FORBIDDEN;
    }
    if route.starts_with("/api/v1/workspace/") {
        // Only the reads reach here (managing environments needs an admin, never narrowed); the
        // fixture's environment is a new one, outside both scopes.
        return if route.ends_with("{envId}") {
            StatusCode::NOT_FOUND
        } else {
            success
        };
    }
    let secrets = route.starts_with("/api/v2/folders")
        || route.starts_with("/api/v1/folders")
        || route.starts_with("/api/v3/secrets/");
    match (secrets, in_scope) {
        (false, _) => StatusCode::FORBIDDEN,
        (true, true) => success,
        (true, false) if route.ends_with("{folderId}") => StatusCode::NOT_FOUND,
        (true, false) => StatusCode::FORBIDDEN,
    }
}

struct Callers {
    outsider: Identity,
    viewer: Identity,
    member: Identity,
    admin: Identity,
    narrowed_viewer: Identity,
    narrowed_member: Identity,
    out_of_scope: Identity,
}

impl Callers {
    fn get(&self, who: Who) -> Option<&Identity> {
        match who {
            Who::Outsider => Some(&self.outsider),
            Who::Viewer => Some(&self.viewer),
            Who::Member => Some(&self.member),
            Who::ProjectAdmin => Some(&self.admin),
            Who::Narrowed {
                role: Role::Viewer,
                in_scope: true,
            } => Some(&self.narrowed_viewer),
            Who::Narrowed { in_scope: true, .. } => Some(&self.narrowed_member),
            Who::Narrowed { .. } => Some(&self.out_of_scope),
            Who::Nobody | Who::InstanceAdmin => None,
        }
    }
}

/// A request for `route` against fresh resources of the test project, so destructive calls never
/// disturb the next row.
async fn request(
    app: &TestApp,
    method: &Method,
    route: &str,
    who: Who,
    callers: &Callers,
    n: usize,
) -> (String, Option<Value>) {
    let project = &app.project_id;
    match route {
        "/api/v1/auth/universal-auth/login" => {
            let id = app.identity(&format!("login-{n}"), None).await;
            (
                route.to_owned(),
                Some(json!({ "clientId": id.client_id, "clientSecret": id.client_secret })),
            )
        }
        "/api/v1/auth/login" => {
            let email = format!("user{n}@example.com");
            let body = json!({ "type": "user", "name": "User", "email": email, "password": "a long enough password" });
            let made = app
                .call(Method::POST, "/api/v1/identities", Some(body), &[])
                .await;
            assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
            (
                route.to_owned(),
                Some(json!({ "email": email, "password": "a long enough password" })),
            )
        }
        "/api/v1/auth/token/revoke" => {
            // Revoke a second token of the caller's, not the one the matrix keeps using.
            let body = match callers.get(who) {
                Some(id) => {
                    json!({ "accessToken": app.login(&id.client_id, &id.client_secret).await })
                }
                None if who == Who::InstanceAdmin => {
                    json!({ "accessToken": app.login(&app.admin.0, &app.admin.1).await })
                }
                None => json!({ "accessToken": "kh_nothing" }),
            };
            (route.to_owned(), Some(body))
        }
        "/api/v1/identities" => (
            route.to_owned(),
            Some(json!({ "type": "machine", "name": format!("made-{n}") })),
        ),
        "/api/v1/identities/{identityId}" | "/api/v1/identities/{identityId}/client-secret" => {
            let target = app.identity(&format!("target-{n}"), None).await;
            let path = route.replace("{identityId}", &target.id);
            (path, Some(json!({ "name": format!("renamed-{n}") })))
        }
        "/api/v1/projects" => (
            route.to_owned(),
            Some(json!({ "name": format!("project-{n}") })),
        ),
        "/api/v1/projects/{projectId}" if *method == Method::PATCH => (
            route.replace("{projectId}", project),
            Some(json!({ "description": format!("changed {n}") })),
        ),
        "/api/v1/projects/{projectId}" if *method == Method::DELETE => {
            // An empty project of its own, where the callers hold the fixture project's roles.
            let made = app
                .call(
                    Method::POST,
                    "/api/v1/projects",
                    Some(json!({ "name": format!("doomed-{n}") })),
                    &[],
                )
                .await;
            assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
            let id = made.json["project"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let members = [
                (&callers.viewer, "viewer"),
                (&callers.member, "member"),
                (&callers.admin, "admin"),
                // Narrowing needs the environment; as plain members they are refused alike.
                (&callers.narrowed_viewer, "viewer"),
                (&callers.narrowed_member, "member"),
                (&callers.out_of_scope, "member"),
            ];
            for (identity, role) in members {
                let added = app
                    .call(
                        Method::POST,
                        &format!("/api/v1/projects/{id}/memberships"),
                        Some(json!({ "identityId": identity.id, "role": role })),
                        &[],
                    )
                    .await;
                assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
            }
            (route.replace("{projectId}", &id), None)
        }
        "/api/v1/projects/{projectId}" | "/api/v1/projects/{projectId}/memberships" => {
            let target = app.identity(&format!("joiner-{n}"), None).await;
            (
                route.replace("{projectId}", project),
                Some(json!({ "identityId": target.id, "role": "viewer" })),
            )
        }
        "/api/v1/projects/{projectId}/memberships/{identityId}" => {
            let target = app
                .identity(&format!("member-{n}"), Some((project, "viewer")))
                .await;
            let path = route
                .replace("{projectId}", project)
                .replace("{identityId}", &target.id);
            (path, Some(json!({ "role": "member" })))
        }
        "/api/v1/app-connections/auth0" => (
            format!("{route}?projectId={project}"),
            Some(app.connection_body(&format!("made-{n}"))),
        ),
        "/api/v1/app-connections/auth0/{connectionId}" => {
            let connection = app.create(&format!("conn-{n}")).await;
            let path = route.replace(
                "{connectionId}",
                connection["id"].as_str().unwrap_or_default(),
            );
            (path, Some(json!({ "description": "changed" })))
        }
        r if r.starts_with("/api/v1/app-connections/auth0/{connectionId}/") => {
            // Calls through a connection: one that holds every scope they use.
            let connection = app.create_wide(&format!("use-{n}")).await;
            let path = route
                .replace(
                    "{connectionId}",
                    connection["id"].as_str().unwrap_or_default(),
                )
                .replace("{userId}", USER_PATH_ID);
            let body = match route.rsplit('/').next().unwrap_or_default() {
                "users" => json!({
                    "connection": DB_CONNECTION,
                    "email": format!("matrix-{n}@acme.test"),
                    "password": "Matrix-Passw0rd!",
                }),
                "{userId}" => json!({ "user_metadata": { "n": n } }),
                "refresh-token-exchange" => json!({ "clientId": VAULT_READY_ID }),
                "access-token-exchange" => {
                    json!({ "apiIdentifier": VAULT_API, "apiName": "Vault API", "scopes": [] })
                }
                _ => Value::Null,
            };
            (path, (!body.is_null()).then_some(body))
        }
        "/api/v1/app-connections/auth0/connection-name/{connectionName}" => {
            app.create(&format!("named-{n}")).await;
            (
                format!(
                    "/api/v1/app-connections/auth0/connection-name/named-{n}?projectId={project}"
                ),
                None,
            )
        }
        "/api/v1/audit-logs" | "/api/v2/secret-rotations" => {
            (format!("{route}?projectId={project}"), None)
        }
        "/api/v2/secret-rotations/auth0-client-secret" => {
            let connection = app.create(&format!("rot-conn-{n}")).await;
            let body = app.rotation_body(
                &format!("made-{n}"),
                connection["id"].as_str().unwrap_or_default(),
                TARGET_ID,
            );
            (format!("{route}?projectId={project}"), Some(body))
        }
        "/api/v2/secret-rotations/auth0-client-secret/rotation-name/{rotationName}" => {
            app.rotation(&format!("named-rot-{n}")).await;
            (
                format!(
                    "/api/v2/secret-rotations/auth0-client-secret/rotation-name/named-rot-{n}?projectId={project}"
                ),
                None,
            )
        }
        r if r.starts_with("/api/v2/secret-rotations/auth0-client-secret/{rotationId}") => {
            let rotation = app.rotation(&format!("rot-{n}")).await;
            let path = route.replace("{rotationId}", rotation["id"].as_str().unwrap_or_default());
            (path, Some(json!({ "description": "changed" })))
        }
        "/api/v2/secret-rotations/auth0-private-key-jwt" => {
            let connection = app.create(&format!("key-conn-{n}")).await;
            let body = app.key_rotation_body(
                &format!("made-key-{n}"),
                connection["id"].as_str().unwrap_or_default(),
                TARGET_ID,
            );
            (format!("{route}?projectId={project}"), Some(body))
        }
        "/api/v2/secret-rotations/auth0-private-key-jwt/rotation-name/{rotationName}" => {
            app.key_rotation(&format!("named-key-{n}")).await;
            (
                format!(
                    "/api/v2/secret-rotations/auth0-private-key-jwt/rotation-name/named-key-{n}?projectId={project}"
                ),
                None,
            )
        }
        r if r.starts_with("/api/v2/secret-rotations/auth0-private-key-jwt/{rotationId}") => {
            let rotation = app.key_rotation(&format!("key-{n}")).await;
            let path = route.replace("{rotationId}", rotation["id"].as_str().unwrap_or_default());
            (path, Some(json!({ "description": "changed" })))
        }
        r if r.starts_with("/api/v1/workspace/") => {
            let path = r.replace("{workspaceId}", project);
            if r.ends_with("{envId}") {
                let env = app.environment(&format!("env-{n}")).await;
                let path = path.replace("{envId}", env["id"].as_str().unwrap_or_default());
                (path, Some(json!({ "name": format!("Renamed {n}") })))
            } else {
                let slug = format!("made-{n}");
                (path, Some(json!({ "name": slug, "slug": slug })))
            }
        }
        // The v1 alias as Infisical's Node SDK calls it: `workspaceId`, not `projectId`.
        "/api/v1/folders" => (
            format!("{route}?workspaceId={project}&environment=dev&path=%2F"),
            Some(
                json!({ "workspaceId": project, "environment": "dev", "path": "/", "name": format!("made-{n}") }),
            ),
        ),
        "/api/v2/folders" => (
            format!("{route}?projectId={project}&environment=dev"),
            Some(
                json!({ "projectId": project, "environment": "dev", "name": format!("made-{n}") }),
            ),
        ),
        "/api/v2/folders/{folderId}" => {
            let folder = app.folder("dev", "/", &format!("folder-{n}")).await;
            let path = route.replace("{folderId}", folder["id"].as_str().unwrap_or_default());
            (path, Some(json!({ "name": format!("renamed-{n}") })))
        }
        "/api/v3/secrets/raw" => (
            format!("{route}?workspaceId={project}&environment=dev"),
            None,
        ),
        "/api/v3/secrets/raw/{secretName}" => {
            let name = format!("SECRET_{n}");
            let mut body = json!({ "workspaceId": project, "environment": "dev" });
            if *method != Method::DELETE {
                body["secretValue"] = json!("v");
            }
            if *method != Method::POST {
                app.secret("dev", "/", &name, "value").await;
            }
            (
                format!("/api/v3/secrets/raw/{name}?workspaceId={project}&environment=dev"),
                Some(body),
            )
        }
        "/api/v1/audit-log-streams" => (
            format!("{route}?projectId={project}"),
            Some(json!({ "projectId": project, "url": "https://intake.example.com/k" })),
        ),
        "/api/v1/audit-log-streams/{streamId}" => {
            // A fresh stream per call; earlier ones go, so the project stays under its limit.
            sqlx::query("delete from audit_streams where project_id = $1::uuid")
                .bind(project)
                .execute(&app.pool)
                .await
                .expect("clear the streams");
            let made = app
                .call(
                    Method::POST,
                    "/api/v1/audit-log-streams",
                    Some(json!({ "projectId": project, "url": format!("https://intake{n}.example.com/") })),
                    &[],
                )
                .await;
            assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
            let id = made.json["auditLogStream"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (
                route.replace("{streamId}", &id),
                Some(json!({ "description": "changed" })),
            )
        }
        "/api/v1/webhooks" => (
            format!("{route}?projectId={project}"),
            Some(
                json!({ "projectId": project, "url": "https://hooks.example.com/k", "eventTypes": ["*"] }),
            ),
        ),
        r if r.starts_with("/api/v1/webhooks/{webhookId}") => {
            // Every call gets a fresh endpoint; earlier ones go, so the project stays under its
            // endpoint limit with every caller of the matrix.
            sqlx::query("delete from webhook_endpoints where project_id = $1::uuid")
                .bind(project)
                .execute(&app.pool)
                .await
                .expect("clear the endpoints");
            let made = app
                .call(
                    Method::POST,
                    "/api/v1/webhooks",
                    Some(json!({ "projectId": project, "url": format!("https://hooks{n}.example.com/"), "eventTypes": ["*"] })),
                    &[],
                )
                .await;
            assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
            let id = made.json["webhook"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let mut path = route.replace("{webhookId}", &id);
            if route.contains("{deliveryId}") {
                // A delivery that failed, so it may be redelivered.
                let test = app
                    .call(
                        Method::POST,
                        &format!("/api/v1/webhooks/{id}/test"),
                        None,
                        &[],
                    )
                    .await;
                let delivery = test.json["delivery"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                sqlx::query("update webhook_deliveries set status = 'failed' where id = $1::uuid")
                    .bind(&delivery)
                    .execute(&app.pool)
                    .await
                    .expect("fail the delivery");
                path = path.replace("{deliveryId}", &delivery);
            }
            (path, Some(json!({ "description": "changed" })))
        }
        other => (other.to_owned(), None),
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn every_route_answers_every_caller_as_specified(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let project = app.project_id.clone();
    let callers = Callers {
        outsider: app.identity("outsider", None).await,
        viewer: app.identity("viewer", Some((&project, "viewer"))).await,
        member: app.identity("member", Some((&project, "member"))).await,
        admin: app
            .identity("project-admin", Some((&project, "admin")))
            .await,
        narrowed_viewer: app
            .narrowed("dev-viewer", "viewer", json!(["dev"]), json!("/"))
            .await,
        narrowed_member: app
            .narrowed("dev-member", "member", json!(["dev"]), json!(null))
            .await,
        out_of_scope: app
            .narrowed("orders-member", "member", json!(["prod"]), json!("/orders"))
            .await,
    };
    let everyone = [
        Who::Nobody,
        Who::Outsider,
        Who::Viewer,
        Who::Member,
        Who::ProjectAdmin,
        Who::InstanceAdmin,
        Who::Narrowed {
            role: Role::Viewer,
            in_scope: true,
        },
        Who::Narrowed {
            role: Role::Member,
            in_scope: true,
        },
        Who::Narrowed {
            role: Role::Member,
            in_scope: false,
        },
    ];
    let mut failures = Vec::new();
    let mut n = 0;
    for (method, route, access, success) in matrix() {
        for who in everyone {
            n += 1;
            let (path, body) = request(&app, &method, route, who, &callers, n).await;
            // Infisical's secret deletes carry their fields in a body.
            let keeps_body = route.starts_with("/api/v3/secrets/");
            let body = if method == Method::GET || (method == Method::DELETE && !keeps_body) {
                None
            } else {
                body
            };
            let token = match who {
                Who::Nobody => None,
                Who::InstanceAdmin => Some(app.admin_token.as_str()),
                other => callers.get(other).map(|i| i.token.as_str()),
            };
            let reply = app.call_as(token, method.clone(), &path, body, &[]).await;
            let want = expected(access, who, route, success);
            if reply.status != want {
                failures.push(format!(
                    "{method} {route} as {who:?}: want {want}, got {} {}",
                    reply.status, reply.text
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {n} calls answered wrongly:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Sanity: the fixtures really touched Auth0 through the emulator.
    assert!(
        app.emulator
            .admin()
            .counters(DOMAIN)
            .expect("tenant")
            .tokens_issued
            > 0
    );
    assert!(!CLIENT_ID.is_empty());
}
