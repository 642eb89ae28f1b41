//! Value encoding: one format-version byte, then bincode (serde, standard
//! config). Bumping [`FORMAT_VERSION`] is how a layout change is recognised
//! instead of misread.
//!
//! Every value is written at [`FORMAT_VERSION`] and read at it or at
//! [`V3`]: each stored type says, through [`Stored`], how it reads its
//! format-3 body. Most types did not change and read it as they read their
//! own; the wallet, its ledger entry and the event that embeds both gained
//! hold fields in format 4 and read format 3 through `store::legacy`. So a
//! format-3 folder opens without a rewrite, its old values read as they
//! were written and new values are written in the new layout.

use super::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Version byte at the start of every value written now.
/// Format 3: binary wallet ids in keys, tagged idempotency key spaces, and
/// wallet states stored as checkpoints (see `store` and `migrate`).
/// Format 4: wallets, entries and events carry holds (`store::legacy`
/// reads their format-3 bodies).
pub const FORMAT_VERSION: u8 = 4;

/// The previous version, whose values are still read.
pub const V3: u8 = 3;

/// Whether a value's leading byte is a version this build reads.
pub fn is_readable(version: u8) -> bool {
    version == FORMAT_VERSION || version == V3
}

/// A type stored in a column family: how it reads a format-3 body. The
/// default reads it as its own layout, for the types format 4 left alone;
/// a type whose layout changed overrides it (never silently: a changed type
/// that kept the default would fail to decode, and `Event` would misread, so
/// each changed type has a test that reads a format-3 value).
pub trait Stored: Serialize + DeserializeOwned {
    /// Decodes a format-3 body (the bytes after the version byte).
    fn decode_v3(body: &[u8]) -> Result<Self, String> {
        body_of(body)
    }

    /// Decodes a body of the current format. A type that gained a trailing
    /// `Option` field after its records were first written reads the older,
    /// shorter records with `body_or_trailing_none`.
    fn decode_current(body: &[u8]) -> Result<Self, String> {
        body_of(body)
    }
}

/// Decodes a body of `T`, or, when it ends a few fields short, the body
/// with those last fields `None` (bincode writes `None` as one 0 byte): a
/// record written before `T` gained trailing `Option` fields reads as it
/// was.
pub(crate) fn body_or_trailing_none<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    /// Most trailing fields a record may lack.
    const MISSING_MAX: usize = 4;
    body_of(body).or_else(|error| {
        let mut grown = body.to_vec();
        for missing in 1..=MISSING_MAX {
            grown.resize(body.len() + missing, 0);
            if let Ok(value) = body_of(&grown) {
                return Ok(value);
            }
        }
        Err(error)
    })
}

/// Decodes a bincode body of `T`.
pub(crate) fn body_of<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    bincode::serde::decode_from_slice(body, bincode::config::standard())
        .map(|(value, _)| value)
        .map_err(|error| error.to_string())
}

/// Encodes `value` behind the version byte.
pub fn encode<T: Stored>(value: &T) -> Vec<u8> {
    let mut bytes = vec![FORMAT_VERSION];
    append(value, &mut bytes);
    bytes
}

/// The bincode form of any value, with no version byte (what fingerprints
/// hash: a request's form, not a stored value).
pub fn body<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = Vec::new();
    append(value, &mut bytes);
    bytes
}

fn append<T: Serialize>(value: &T, bytes: &mut Vec<u8>) {
    // Encoding plain data into a Vec cannot fail: no I/O, no unsupported types.
    if let Err(error) =
        bincode::serde::encode_into_std_write(value, bytes, bincode::config::standard())
    {
        unreachable!("bincode encoding into memory failed: {error}");
    }
}

/// Decodes a value written by [`encode`] (now or by format 3); `cf` names
/// where it came from.
pub fn decode<T: Stored>(cf: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { cf, reason };
    match bytes.split_first() {
        Some((&FORMAT_VERSION, body)) => T::decode_current(body).map_err(corrupt),
        Some((&V3, body)) => T::decode_v3(body).map_err(corrupt),
        Some((version, _)) => Err(corrupt(format!("unknown format version {version}"))),
        None => Err(corrupt("empty value".into())),
    }
}

impl Stored for u32 {}
impl Stored for Vec<u8> {}
impl Stored for crate::ids::WalletId {}
