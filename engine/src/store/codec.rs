//! Value encoding: one format-version byte, then bincode (serde, standard
//! config). Bumping [`FORMAT_VERSION`] is how a future layout change is
//! recognised instead of misread.

use super::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Version byte at the start of every stored value.
/// Format 3: binary wallet ids in keys, tagged idempotency key spaces, and
/// wallet states stored as checkpoints (see `store` and `migrate`).
pub const FORMAT_VERSION: u8 = 3;

/// Encodes `value` behind the version byte.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = vec![FORMAT_VERSION];
    // Encoding plain data into a Vec cannot fail: no I/O, no unsupported types.
    if let Err(error) =
        bincode::serde::encode_into_std_write(value, &mut bytes, bincode::config::standard())
    {
        unreachable!("bincode encoding into memory failed: {error}");
    }
    bytes
}

/// Decodes a value written by [`encode`]; `cf` names where it came from.
pub fn decode<T: DeserializeOwned>(cf: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { cf, reason };
    match bytes.split_first() {
        Some((&FORMAT_VERSION, body)) => {
            bincode::serde::decode_from_slice(body, bincode::config::standard())
                .map(|(value, _)| value)
                .map_err(|error| corrupt(error.to_string()))
        }
        Some((version, _)) => Err(corrupt(format!("unknown format version {version}"))),
        None => Err(corrupt("empty value".into())),
    }
}
