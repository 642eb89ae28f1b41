//! Idempotency records: what a key did, stored in the same atomic batch as
//! the change it guards, and the request fingerprint that tells a replay
//! (same body) from a reuse (different body).
//!
//! A record points at the ledger entry it produced, so a replay returns that
//! entry and a checker can match records against the ledger. Only successful
//! changes are recorded: a refused request changes nothing, so a retry with
//! the same key is judged afresh.
//!
//! Value layout: format byte ‖ created_at_ms (i64 BE) ‖ bincode(record). The
//! timestamp sits at a fixed offset so the compaction filter can expire
//! records without decoding them.

use crate::ids::WalletId;
use crate::store::codec::FORMAT_VERSION;
use crate::store::StoreError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest idempotency key accepted.
pub const KEY_LEN_MAX: usize = 255;

/// SHA-256 of the canonical (bincode) form of a request.
pub type Fingerprint = [u8; 32];

/// The leading byte of every fingerprinted form. Fixed: it is no storage
/// format version (format 2 happened to hash its own version byte first), so
/// records keep matching across data format upgrades.
const FINGERPRINT_FORM: u8 = 2;

/// Fingerprint of `request` within `scope`: SHA-256 of a fixed form byte and
/// the bincode form of (scope, request).
pub fn fingerprint<T: Serialize>(scope: &str, request: &T) -> Fingerprint {
    let mut hasher = Sha256::new();
    hasher.update([FINGERPRINT_FORM]);
    hasher.update(crate::store::codec::body(&(scope, request)));
    hasher.finalize().into()
}

/// The form an older release gave the same key, when there is one.
///
/// `tally import` once made a line's default key from the file's name and
/// the line number (`import:<tag>:<line>`); it now adds a digest of the
/// line (`import:<tag>:<line>:<digest>`), so another file of the same name
/// is not mistaken for this one. A file imported just before an upgrade and
/// again just after must still replay: the earlier form is looked up too,
/// and counts only with the same fingerprint (the same request), so it can
/// turn a would-be double credit into a replay and nothing else.
pub fn earlier_form(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("import:")?;
    let mut parts = rest.split(':');
    let (tag, line, digest) = (parts.next()?, parts.next()?, parts.next()?);
    let hex =
        |text: &str, len: usize| text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit());
    let well_formed = parts.next().is_none()
        && hex(tag, 16)
        && !line.is_empty()
        && line.bytes().all(|b| b.is_ascii_digit())
        && hex(digest, 32);
    well_formed.then(|| &key[..key.len() - digest.len() - 1])
}

/// What a key did: the entry it produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// Fingerprint of the original request.
    pub fingerprint: Fingerprint,
    /// Wallet whose ledger holds the entry.
    pub wallet_id: WalletId,
    /// Sequence number of the entry.
    pub seq: u64,
}

impl crate::store::codec::Stored for IdempotencyRecord {}

/// Encodes a record made at `created_at_ms`.
pub fn encode(record: &IdempotencyRecord, created_at_ms: i64) -> Vec<u8> {
    let body = crate::store::codec::encode(record);
    let mut bytes = Vec::with_capacity(9 + body.len());
    bytes.push(FORMAT_VERSION);
    bytes.extend_from_slice(&created_at_ms.to_be_bytes());
    // `body` repeats the version byte; skip it.
    bytes.extend_from_slice(body.get(1..).unwrap_or_default());
    bytes
}

/// Decodes a record and its creation time.
pub fn decode(bytes: &[u8]) -> Result<(IdempotencyRecord, i64), StoreError> {
    let created_at_ms = created_at_ms(bytes).ok_or_else(|| StoreError::Corrupt {
        cf: "idempotency",
        reason: "short record".into(),
    })?;
    // The record's body did not change in format 4: read it as such.
    let mut body = vec![FORMAT_VERSION];
    body.extend_from_slice(bytes.get(9..).unwrap_or_default());
    let record = crate::store::codec::decode("idempotency", &body)?;
    Ok((record, created_at_ms))
}

/// The creation time of an encoded record, without decoding the rest.
pub fn created_at_ms(bytes: &[u8]) -> Option<i64> {
    if !bytes
        .first()
        .is_some_and(|version| crate::store::codec::is_readable(*version))
    {
        return None;
    }
    let stamp: [u8; 8] = bytes.get(1..9)?.try_into().ok()?;
    Some(i64::from_be_bytes(stamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_keys_name_their_earlier_form() {
        let tag = "0123456789abcdef";
        let digest = "0123456789abcdef0123456789abcdef";
        let key = format!("import:{tag}:42:{digest}");
        assert_eq!(
            earlier_form(&key),
            Some(format!("import:{tag}:42").as_str())
        );
        for other in [
            format!("import:{tag}:42"),
            format!("import:{tag}:x:{digest}"),
            format!("import:{tag}:42:{digest}:more"),
            format!("other:{tag}:42:{digest}"),
            "evt_1".to_owned(),
        ] {
            assert_eq!(earlier_form(&other), None, "{other}");
        }
    }

    #[test]
    fn records_round_trip_and_expose_their_timestamp() {
        let record = IdempotencyRecord {
            fingerprint: fingerprint("wal_x", &"body"),
            wallet_id: WalletId::generate(5),
            seq: 42,
        };
        let bytes = encode(&record, 1_234);
        assert_eq!(created_at_ms(&bytes), Some(1_234));
        assert_eq!(decode(&bytes).expect("decodes"), (record, 1_234));
        assert!(decode(&bytes[..5]).is_err());
    }

    #[test]
    fn fingerprints_separate_scopes_and_bodies() {
        assert_eq!(fingerprint("a", &1u8), fingerprint("a", &1u8));
        assert_ne!(fingerprint("a", &1u8), fingerprint("b", &1u8));
        assert_ne!(fingerprint("a", &1u8), fingerprint("a", &2u8));
    }
}
