//! `keyhold bootstrap`: the instance's organisation and its first instance-admin machine identity,
//! created once from the command line (never over the network), with the secret printed once.

use anyhow::Context;
use crypto::{ExposeSecret, SecretString};
use serde_json::json;
use store::PgPool;

use crate::config::DbArgs;

/// The first admin's credentials, as printed to the operator.
pub struct AdminCredentials {
    pub org_id: store::OrgId,
    pub client_id: String,
    pub client_secret: SecretString,
}

/// `None` when the instance was already bootstrapped.
pub async fn bootstrap(pool: &PgPool) -> anyhow::Result<Option<AdminCredentials>> {
    let client_id = uuid::Uuid::new_v4().to_string();
    let secret = crypto::random_secret(64);
    let for_hash = SecretString::from(secret.expose_secret().to_owned());
    let hash = tokio::task::spawn_blocking(move || crypto::password::hash_secret(&for_hash))
        .await?
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let admin = store::identities::NewIdentity {
        id: store::IdentityId::new(),
        org_id: store::OrgId::new(),
        kind: store::identities::Kind::Machine,
        name: "instance-admin",
        email: None,
        client_id: Some(&client_id),
        secret_hash: &hash,
        is_instance_admin: true,
    };
    let created = store::orgs::bootstrap(pool, "default", &admin)
        .await
        .context("bootstrapping")?;
    let Some(identity) = created else {
        return Ok(None);
    };
    let mut conn = pool.acquire().await?;
    let event = store::audit::NewEvent {
        org_id: Some(identity.org_id),
        project_id: None,
        actor_id: None,
        actor_kind: "cli".to_owned(),
        action: "instance.bootstrap".to_owned(),
        resource_type: "identity".to_owned(),
        resource_id: Some(identity.id.to_string()),
        outcome: "success".to_owned(),
        request_id: None,
        source_ip: None,
        metadata: json!({ "clientId": client_id }),
    };
    store::audit::record(&mut conn, &event).await?;
    Ok(Some(AdminCredentials {
        org_id: identity.org_id,
        client_id,
        client_secret: secret,
    }))
}

pub async fn run(db: DbArgs, as_json: bool) -> anyhow::Result<()> {
    let pool = crate::db::connect_and_migrate(&db).await?;
    let Some(admin) = bootstrap(&pool).await? else {
        anyhow::bail!(
            "this instance is already bootstrapped; use an instance admin to create more identities \
             (POST /api/v1/identities)"
        );
    };
    // Printed once on purpose: only the argon2id hash of the secret is stored.
    if as_json {
        let body = json!({
            "orgId": admin.org_id,
            "clientId": admin.client_id,
            "clientSecret": admin.client_secret.expose_secret(),
        });
        println!("{body}");
    } else {
        println!("Instance bootstrapped. Keep these; the secret is not shown again.");
        println!("  orgId:        {}", admin.org_id);
        println!("  clientId:     {}", admin.client_id);
        println!("  clientSecret: {}", admin.client_secret.expose_secret());
        println!(
            "Log in with POST /api/v1/auth/universal-auth/login {{\"clientId\",\"clientSecret\"}}."
        );
    }
    Ok(())
}
