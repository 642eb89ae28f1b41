//! Bearer-key authentication and authorization for `/v1`.
//!
//! The bootstrap key (settings, `TALLY_API_KEY`, or generated on first start
//! into `<data_dir>/api_key`, mode 0600) has the `admin` scope. More keys are
//! created with a scope (`admin`, `write`, `debit`, `read`) through the admin
//! endpoints or `tally keys`; they look like `tally_<id>_<secret>`, only the
//! SHA-256 of the whole key is stored, and digests are compared in constant
//! time. The `Keyring` holds them in memory, so changes apply with no restart.

use crate::error::ApiError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{http::header, web, HttpMessage, ResponseError};
use engine::credentials::ApiKeyRecord;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use subtle::ConstantTimeEq;

/// File name of a generated key inside the data folder.
pub const KEY_FILE: &str = "api_key";

/// The shortest bootstrap key accepted, from a file or from settings.
pub const KEY_LEN_MIN: usize = 16;

/// Why the bootstrap key could not be loaded or generated.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The key file exists but holds no usable key. An empty file (a failed
    /// write, `touch`, a truncated copy) must not become a key anyone can
    /// guess, and must not be silently replaced: the operator decides.
    #[error(
        "the API key file {path} is {problem}: put a key of at least {KEY_LEN_MIN} \
         characters in it, or delete it to have a new one generated"
    )]
    Unusable {
        path: PathBuf,
        problem: &'static str,
    },
    /// Reading, creating or writing the key file failed.
    #[error("{action} the API key file {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The configured API key, as a digest.
pub struct ApiKey {
    digest: [u8; 32],
}

/// Where the key came from, for the startup log.
pub enum KeySource {
    /// From settings or `TALLY_API_KEY`.
    Configured,
    /// Read from a file generated on an earlier start.
    Stored(PathBuf),
    /// Generated now and written to this file.
    Generated(PathBuf),
}

impl ApiKey {
    /// A key from its secret text.
    pub fn new(secret: &str) -> ApiKey {
        ApiKey {
            digest: Sha256::digest(secret.as_bytes()).into(),
        }
    }

    /// The configured key, or the one stored in `data_dir`, or a new one
    /// (only when the file does not exist). A file that exists but holds an
    /// empty, whitespace-only or too short key is refused.
    pub fn load_or_generate(
        configured: &str,
        data_dir: &Path,
    ) -> Result<(ApiKey, KeySource), KeyFileError> {
        if !configured.is_empty() {
            return Ok((ApiKey::new(configured), KeySource::Configured));
        }
        let path = data_dir.join(KEY_FILE);
        let io = |action, path: &Path| {
            let path = path.to_owned();
            move |source| KeyFileError::Io {
                action,
                path,
                source,
            }
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let secret = text.trim();
                let problem = if secret.is_empty() {
                    Some("empty")
                } else if secret.chars().count() < KEY_LEN_MIN {
                    Some("too short")
                } else {
                    None
                };
                if let Some(problem) = problem {
                    return Err(KeyFileError::Unusable { path, problem });
                }
                return Ok((ApiKey::new(secret), KeySource::Stored(path)));
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(io("reading", &path)(error)),
        }
        std::fs::create_dir_all(data_dir).map_err(io("creating the folder of", &path))?;
        let secret = format!("tally_{}", hex::encode(rand::random::<[u8; 24]>()));
        let mut file = open_private(&path).map_err(io("creating", &path))?;
        file.write_all(secret.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .map_err(io("writing", &path))?;
        Ok((ApiKey::new(&secret), KeySource::Generated(path)))
    }

    /// True when `presented` is the key.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.ct_eq(&self.digest).into()
    }
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    /// Everything, including key management and verification.
    Admin,
    /// Wallets, top-ups, voids, debits, deposits, and reads.
    Write,
    /// Debits and balance reads only: what an LLM gateway holds.
    Debit,
    /// Reads only.
    Read,
    /// One user's accounts on seed 002's face, and nothing else: the key
    /// is bound to a user (`Grant::user`).
    User,
}

/// A key's scope and, for a `user` key, its user. Stored as the scope's
/// name, or `user:<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub scope: Scope,
    pub user: Option<String>,
}

impl Grant {
    /// A grant of `scope` (not `user`).
    pub fn of(scope: Scope) -> Grant {
        Grant { scope, user: None }
    }

    /// The grant as stored in a key's record.
    pub fn stored(&self) -> String {
        match &self.user {
            Some(user) => format!("user:{user}"),
            None => self.scope.as_str().to_owned(),
        }
    }

    /// A stored grant.
    pub fn parse_stored(text: &str) -> Option<Grant> {
        match text.strip_prefix("user:") {
            Some(user) if !user.is_empty() => Some(Grant {
                scope: Scope::User,
                user: Some(user.to_owned()),
            }),
            Some(_) => None,
            None => Scope::parse(text)
                .filter(|scope| *scope != Scope::User)
                .map(Grant::of),
        }
    }
}

/// The user a `user` key is bound to, left in the request by the guard.
#[derive(Debug, Clone)]
pub struct BoundUser(pub std::sync::Arc<str>);

impl Scope {
    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Write => "write",
            Scope::Debit => "debit",
            Scope::Read => "read",
            Scope::User => "user",
        }
    }

    /// A scope by name.
    pub fn parse(name: &str) -> Option<Scope> {
        [
            Scope::Admin,
            Scope::Write,
            Scope::Debit,
            Scope::Read,
            Scope::User,
        ]
        .into_iter()
        .find(|scope| scope.as_str() == name)
    }

    /// Whether this scope may call a route that needs `need`.
    pub fn allows(self, need: Need) -> bool {
        match (self, need) {
            (_, Need::Public) | (Scope::Admin, _) => true,
            (Scope::Write, Need::Admin) => false,
            (Scope::Write, _) => true,
            (Scope::Debit, Need::Debit | Need::BalanceRead) => true,
            (Scope::Read, Need::Read | Need::BalanceRead) => true,
            (Scope::User, Need::Wallet) => true,
            (Scope::Debit | Scope::Read | Scope::User, _) => false,
        }
    }
}

/// What a route needs from the caller's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// No key at all (`/health`, `/metrics`).
    Public,
    /// Any read.
    Read,
    /// Reading a balance: what a `debit` key may also do.
    BalanceRead,
    /// Usage debits.
    Debit,
    /// Any other change.
    Write,
    /// Key management and verification.
    Admin,
    /// Seed 002's face: one user's accounts (a `user` key's own, or any
    /// user's for an admin or write key).
    Wallet,
}

/// A route's label (its pattern, for metrics) and what it needs for reads
/// (GET) and for everything else. Each resource carries its own, so no
/// request is matched against the route table twice.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    /// The route pattern, e.g. `/v1/wallets/{id}/debits`.
    pub route: &'static str,
    /// Need of GET requests.
    pub read: Need,
    /// Need of every other method.
    pub write: Need,
}

/// The matched route's label, left in the request for the metrics middleware.
#[derive(Debug, Clone, Copy)]
pub struct RouteLabel(pub &'static str);

/// A key as the keyring keeps it.
struct Known {
    digest: [u8; 32],
    scope: Scope,
    user: Option<std::sync::Arc<str>>,
    revoked: bool,
}

/// Every key that may call the API, by id, plus the bootstrap key.
pub struct Keyring {
    bootstrap: ApiKey,
    keys: RwLock<HashMap<String, Known>>,
}

impl Keyring {
    /// A keyring with the bootstrap key and the stored keys.
    pub fn new(bootstrap: ApiKey, records: &[ApiKeyRecord]) -> Keyring {
        let keyring = Keyring {
            bootstrap,
            keys: RwLock::new(HashMap::new()),
        };
        records.iter().for_each(|record| keyring.upsert(record));
        keyring
    }

    /// Adds or replaces a stored key (after create or revoke).
    pub fn upsert(&self, record: &ApiKeyRecord) {
        let Some(grant) = Grant::parse_stored(&record.scope) else {
            tracing::warn!(id = %record.id, scope = %record.scope, "ignoring a stored key with an unknown scope");
            return;
        };
        if let Ok(mut keys) = self.keys.write() {
            let known = Known {
                digest: record.digest,
                scope: grant.scope,
                user: grant.user.map(std::sync::Arc::from),
                revoked: record.revoked_at_ms.is_some(),
            };
            keys.insert(record.id.clone(), known);
        }
    }

    /// The scope of a presented key (and the user of a `user` key), or None
    /// if it is unknown or revoked.
    pub fn authenticate(&self, presented: &str) -> Option<(Scope, Option<std::sync::Arc<str>>)> {
        if self.bootstrap.matches(presented) {
            return Some((Scope::Admin, None));
        }
        let id = key_id(presented)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let keys = self.keys.read().ok()?;
        let known = keys.get(id)?;
        let equal: bool = digest.ct_eq(&known.digest).into();
        (equal && !known.revoked).then(|| (known.scope, known.user.clone()))
    }
}

/// Random bytes of a key id: 96 bits, so ids of independently created keys
/// practically never meet (with 32 bits, a collision was likely after some
/// tens of thousands of keys, and it replaced the older key). A collision is
/// still checked for at creation (`keys::create_key`).
pub const KEY_ID_BYTES: usize = 12;

/// Hex length of ids made before ids had [`KEY_ID_BYTES`]; such keys keep
/// working.
const LEGACY_KEY_ID_LEN: usize = 8;

/// The id inside `tally_<id>_<secret>`.
fn key_id(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix("tally_")?;
    let (id, secret) = rest.split_once('_')?;
    let known_length = id.len() == 2 * KEY_ID_BYTES || id.len() == LEGACY_KEY_ID_LEN;
    (known_length && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty()).then_some(id)
}

/// A new key: its record (to store) and its secret (to show once). Store
/// it with `keys::create_key`, which refuses an id already taken.
pub fn generate_key(name: &str, scope: Scope, now_ms: i64) -> (ApiKeyRecord, String) {
    generate_granted_key(name, &Grant::of(scope), now_ms)
}

/// [`generate_key`] for any grant, a `user` key's included.
pub fn generate_granted_key(name: &str, grant: &Grant, now_ms: i64) -> (ApiKeyRecord, String) {
    let id = hex::encode(rand::random::<[u8; KEY_ID_BYTES]>());
    let secret = format!("tally_{id}_{}", hex::encode(rand::random::<[u8; 24]>()));
    let record = ApiKeyRecord {
        id,
        name: name.to_owned(),
        scope: grant.stored(),
        digest: Sha256::digest(secret.as_bytes()).into(),
        created_at_ms: now_ms,
        revoked_at_ms: None,
    };
    (record, secret)
}

/// Resource middleware: labels the request with its route, then answers
/// 401 unless the bearer key is known and 403 unless its scope allows the
/// route's need.
pub async fn guard<B: MessageBody>(
    access: Access,
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    request.extensions_mut().insert(RouteLabel(access.route));
    let need = if request.method() == actix_web::http::Method::GET {
        access.read
    } else {
        access.write
    };
    if need != Need::Public {
        let scope = request
            .app_data::<web::Data<Keyring>>()
            .and_then(|keyring| {
                let presented = request
                    .headers()
                    .get(header::AUTHORIZATION)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.strip_prefix("Bearer "))?;
                keyring.authenticate(presented.trim())
            });
        let refusal = match scope {
            None => Some(ApiError::Unauthorized),
            Some((scope, _)) if !scope.allows(need) => Some(ApiError::Forbidden {
                scope: scope.as_str(),
            }),
            Some((_, Some(user))) => {
                request.extensions_mut().insert(BoundUser(user));
                None
            }
            Some(_) => None,
        };
        if let Some(refusal) = refusal {
            // Seed 002's face answers in its own envelope, errors included.
            let response = if access.route.starts_with("/api/v1/wallet") {
                refusal.enveloped_response()
            } else {
                refusal.error_response()
            };
            return Ok(request.into_response(response).map_into_right_body());
        }
    }
    next.call(request)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_stored_privately_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (key, source) = ApiKey::load_or_generate("", dir.path()).expect("generates");
        let KeySource::Generated(path) = source else {
            panic!("expected a new key")
        };
        let secret = std::fs::read_to_string(&path).expect("stored");
        assert!(key.matches(secret.trim()));
        assert!(!key.matches("wrong"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, source) = ApiKey::load_or_generate("", dir.path()).expect("loads");
        assert!(matches!(source, KeySource::Stored(_)));
        assert!(again.matches(secret.trim()));
        let (configured, _) =
            ApiKey::load_or_generate("configured-key-123", dir.path()).expect("ok");
        assert!(configured.matches("configured-key-123"));
        assert!(!configured.matches(secret.trim()));
    }

    #[test]
    fn an_unusable_key_file_is_refused_not_replaced() {
        for (content, problem) in [
            ("", "empty"),
            ("  \n\t\n", "empty"),
            ("short\n", "too short"),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join(KEY_FILE);
            std::fs::write(&path, content).expect("write");
            let Err(error) = ApiKey::load_or_generate("", dir.path()) else {
                panic!("{content:?} was accepted");
            };
            let message = error.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains(problem), "{message}");
            assert_eq!(std::fs::read_to_string(&path).expect("kept"), content);
        }
    }
}

#[cfg(test)]
mod scope_tests {
    use super::*;

    #[test]
    fn scopes_allow_what_they_say() {
        let check = |scope: Scope, need: Need, expect: bool| {
            assert_eq!(scope.allows(need), expect, "{scope:?} {need:?}");
        };
        check(Scope::Debit, Need::Debit, true);
        check(Scope::Debit, Need::BalanceRead, true);
        check(Scope::Debit, Need::Read, false);
        check(Scope::Debit, Need::Write, false);
        check(Scope::Read, Need::Read, true);
        check(Scope::Read, Need::BalanceRead, true);
        check(Scope::Read, Need::Debit, false);
        check(Scope::Read, Need::Admin, false);
        check(Scope::Write, Need::Write, true);
        check(Scope::Write, Need::Debit, true);
        check(Scope::Write, Need::Admin, false);
        check(Scope::Admin, Need::Admin, true);
        check(Scope::Read, Need::Public, true);
    }

    #[test]
    fn keyring_authenticates_by_digest_and_honours_revocation() {
        let keyring = Keyring::new(ApiKey::new("bootstrap-key-0123456789"), &[]);
        assert_eq!(
            keyring.authenticate("bootstrap-key-0123456789"),
            Some((Scope::Admin, None))
        );
        let (mut record, secret) = generate_key("gateway", Scope::Debit, 1);
        keyring.upsert(&record);
        assert_eq!(keyring.authenticate(&secret), Some((Scope::Debit, None)));
        // A user key carries its user; its stored scope names it.
        let grant = Grant {
            scope: Scope::User,
            user: Some("bob".into()),
        };
        let (bound, bound_secret) = generate_granted_key("app", &grant, 1);
        assert_eq!(bound.scope, "user:bob");
        assert_eq!(Grant::parse_stored("user:bob"), Some(grant));
        assert_eq!(
            Grant::parse_stored("user"),
            None,
            "a user key names its user"
        );
        keyring.upsert(&bound);
        assert_eq!(
            keyring.authenticate(&bound_secret),
            Some((Scope::User, Some(std::sync::Arc::from("bob"))))
        );
        assert!(Scope::User.allows(Need::Wallet));
        assert!(!Scope::User.allows(Need::Read));
        assert!(!Scope::Read.allows(Need::Wallet));
        let forged = format!("{}x", &secret[..secret.len() - 1]);
        assert_eq!(keyring.authenticate(&forged), None);
        record.revoked_at_ms = Some(2);
        keyring.upsert(&record);
        assert_eq!(keyring.authenticate(&secret), None);
    }

    #[test]
    fn key_ids_have_96_random_bits_and_legacy_ids_still_work() {
        let (record, secret) = generate_key("gateway", Scope::Read, 1);
        assert_eq!(record.id.len(), 2 * KEY_ID_BYTES);
        assert_eq!(key_id(&secret), Some(record.id.as_str()));
        let legacy = "tally_0123abcd_5ecret";
        assert_eq!(key_id(legacy), Some("0123abcd"));
        let keyring = Keyring::new(ApiKey::new("bootstrap-key-0123456789"), &[]);
        let legacy_record = ApiKeyRecord {
            id: "0123abcd".into(),
            name: "old".into(),
            scope: "read".into(),
            digest: Sha256::digest(legacy.as_bytes()).into(),
            created_at_ms: 0,
            revoked_at_ms: None,
        };
        keyring.upsert(&legacy_record);
        assert_eq!(keyring.authenticate(legacy), Some((Scope::Read, None)));
        assert_eq!(key_id("tally_0123abc_5ecret"), None, "odd length");
    }
}
