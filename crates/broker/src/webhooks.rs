//! Webhook signing secrets: generating one (Standard Webhooks' `whsec_` + base64 of 32 random
//! bytes), and sealing and opening it bound to its row, project and endpoint (`aad`), so a
//! secret row moved under another endpoint or project signs nothing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto::SecretString;
use rand::TryRng;
use store::ProjectId;
use store::connections::Sealed;
use store::webhooks::SigningSecret;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::Broker;
use crate::aad;
use crate::error::Result;

/// The prefix Standard Webhooks libraries expect before the base64 key.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` + base64 of 32 bytes from the operating system's generator.
pub fn generate_signing_secret() -> std::result::Result<SecretString, String> {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rngs::SysRng
        .try_fill_bytes(key.as_mut_slice())
        .map_err(|_| "the operating system's random generator failed".to_owned())?;
    let mut text = String::with_capacity(SECRET_PREFIX.len() + 44);
    text.push_str(SECRET_PREFIX);
    STANDARD.encode_string(key.as_slice(), &mut text);
    Ok(SecretString::from(text))
}

impl Broker {
    /// Seals `secret` as signing secret row `id` of `endpoint_id` in `project_id`.
    pub fn seal_webhook_secret(
        &self,
        id: Uuid,
        project_id: ProjectId,
        endpoint_id: Uuid,
        secret: &SecretString,
    ) -> Result<Sealed> {
        let binding = aad::webhook_secret(id, project_id, endpoint_id);
        Ok(Sealed(self.keyring.seal_str(secret, &binding.aad())?))
    }

    /// Opens a signing secret to sign a delivery of `endpoint_id` in `project_id` (the
    /// delivery's own endpoint and project, not the row's say-so).
    pub fn open_webhook_secret(
        &self,
        secret: &SigningSecret,
        project_id: ProjectId,
        endpoint_id: Uuid,
    ) -> Result<SecretString> {
        let binding = aad::webhook_secret(secret.id, project_id, endpoint_id);
        Ok(self
            .keyring
            .open_str(&secret.secret_sealed.0, &binding.aad())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto::ExposeSecret;

    #[test]
    fn secrets_are_whsec_and_32_bytes() {
        let a = generate_signing_secret().expect("secret");
        let b = generate_signing_secret().expect("secret");
        assert_ne!(a.expose_secret(), b.expose_secret());
        let raw = a
            .expose_secret()
            .strip_prefix(SECRET_PREFIX)
            .expect("prefix");
        assert_eq!(STANDARD.decode(raw).expect("base64").len(), 32);
    }
}
