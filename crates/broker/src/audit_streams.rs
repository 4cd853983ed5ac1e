//! Audit log streams' sealed values: the `whsec_` signing secret and the extra request headers
//! (an intake's API key, say), each bound to the stream's row, organisation and project.

use crypto::{ExposeSecret, SecretString};
use store::connections::Sealed;
use store::{OrgId, ProjectId};
use uuid::Uuid;

use crate::Broker;
use crate::aad::{self, AUDIT_STREAM_HEADERS_PLACE, AUDIT_STREAM_SECRET_PLACE};
use crate::error::{Error, Result};

/// Where a stream's sealed values belong.
#[derive(Clone, Copy, Debug)]
pub struct StreamPlace {
    pub id: Uuid,
    pub org_id: OrgId,
    pub project_id: Option<ProjectId>,
}

impl Broker {
    pub fn seal_audit_stream_secret(
        &self,
        place: StreamPlace,
        secret: &SecretString,
    ) -> Result<Sealed> {
        let binding = aad::audit_stream(
            AUDIT_STREAM_SECRET_PLACE,
            place.id,
            place.org_id,
            place.project_id,
        );
        Ok(Sealed(self.keyring.seal_str(secret, &binding.aad())?))
    }

    /// Seals extra request headers as one JSON object (`{}` when there are none, so the column
    /// always holds an envelope).
    pub fn seal_audit_stream_headers(
        &self,
        place: StreamPlace,
        headers: &[(String, SecretString)],
    ) -> Result<Sealed> {
        let object: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .map(|(name, value)| {
                (
                    name.clone(),
                    serde_json::Value::String(value.expose_secret().to_owned()),
                )
            })
            .collect();
        let text = zeroize::Zeroizing::new(serde_json::Value::Object(object).to_string());
        let binding = aad::audit_stream(
            AUDIT_STREAM_HEADERS_PLACE,
            place.id,
            place.org_id,
            place.project_id,
        );
        Ok(Sealed(self.keyring.seal_str(
            &SecretString::from(text.as_str()),
            &binding.aad(),
        )?))
    }

    pub fn open_audit_stream_secret(
        &self,
        place: StreamPlace,
        sealed: &Sealed,
    ) -> Result<SecretString> {
        let binding = aad::audit_stream(
            AUDIT_STREAM_SECRET_PLACE,
            place.id,
            place.org_id,
            place.project_id,
        );
        Ok(self.keyring.open_str(&sealed.0, &binding.aad())?)
    }

    /// The extra request headers, names with their opened values.
    pub fn open_audit_stream_headers(
        &self,
        place: StreamPlace,
        sealed: &Sealed,
    ) -> Result<Vec<(String, SecretString)>> {
        let binding = aad::audit_stream(
            AUDIT_STREAM_HEADERS_PLACE,
            place.id,
            place.org_id,
            place.project_id,
        );
        let opened = self.keyring.open_str(&sealed.0, &binding.aad())?;
        let parsed: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(opened.expose_secret()).map_err(|_| Error::Unreadable)?;
        Ok(parsed
            .into_iter()
            .filter_map(|(name, value)| match value {
                serde_json::Value::String(v) => Some((name, SecretString::from(v))),
                _ => None,
            })
            .collect())
    }
}
