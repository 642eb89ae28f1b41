//! Stored API keys: `ApiKeyRecord` (id, name, scope, SHA-256 digest of the
//! secret, creation and revocation times) in the `api_keys` column family.
//! The engine stores and lists them; what a scope allows is the API's business.

use serde::{Deserialize, Serialize};

/// One API key as stored. The secret itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Public id, also the key's visible prefix.
    pub id: String,
    /// A label chosen by the operator.
    pub name: String,
    /// What the key may do (`admin`, `write`, `debit`, `read`).
    pub scope: String,
    /// SHA-256 of the secret.
    pub digest: [u8; 32],
    /// When it was created (ms since the epoch).
    pub created_at_ms: i64,
    /// When it was revoked, if it was.
    pub revoked_at_ms: Option<i64>,
}

impl crate::store::codec::Stored for ApiKeyRecord {}
