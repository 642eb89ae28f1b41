//! `tally keys create|list|revoke`: manage API keys on a running server
//! (through the admin endpoints, with `--url` and an admin `--key`) or in a
//! data folder no server has open. A key's secret is printed once, at
//! creation; only its digest is stored.

use crate::auth::{generate_granted_key, Grant, Scope};
use engine::credentials::ApiKeyRecord;
use engine::{Engine, EngineConfig};

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key and print its secret (shown this once).
    Create {
        /// A label for the key.
        #[arg(long)]
        name: String,
        /// What it may do.
        #[arg(long, value_enum)]
        scope: Scope,
        /// For `--scope user`: the user whose accounts the key acts for.
        #[arg(long)]
        user: Option<String>,
    },
    /// List keys (never their secrets), optionally by id prefix.
    List {
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Revoke a key by id; it stops working at once.
    Revoke {
        /// The key's id (the part after `tally_`).
        id: String,
    },
}

/// Ids tried before key creation gives up. With 96-bit ids a single
/// collision is already all but impossible; several in a row mean the random
/// source is broken, and creating no key is better than replacing one.
pub const CREATE_ATTEMPTS: usize = 4;

/// Why a key could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateKeyError {
    #[error(transparent)]
    Engine(#[from] engine::Error),
    #[error("no free key id after {CREATE_ATTEMPTS} attempts; is the random source broken?")]
    NoFreeId,
}

/// Generates a key and stores it, with a fresh id whenever the one drawn
/// is already taken (never replacing an existing key). Returns the record and
/// the secret, to be shown once.
pub async fn create_key(
    engine: &Engine,
    name: &str,
    grant: &Grant,
    now_ms: i64,
) -> Result<(ApiKeyRecord, String), CreateKeyError> {
    create_key_with(engine, || generate_granted_key(name, grant, now_ms)).await
}

/// The grant `--scope` and `--user` name: a user for a `user` key, and
/// only for it.
pub fn grant(scope: Scope, user: Option<String>) -> Result<Grant, String> {
    match (scope, user) {
        (Scope::User, Some(user)) if !user.is_empty() && !user.chars().any(char::is_control) => {
            Ok(Grant {
                scope,
                user: Some(user),
            })
        }
        (Scope::User, _) => {
            Err("a user key needs its user (--user NAME, or \"user\" in the body)".into())
        }
        (_, Some(_)) => Err("only a user key is bound to a user".into()),
        (scope, None) => Ok(Grant::of(scope)),
    }
}

/// [`create_key`] with the generator passed in (tests force a collision).
async fn create_key_with(
    engine: &Engine,
    mut generate: impl FnMut() -> (ApiKeyRecord, String),
) -> Result<(ApiKeyRecord, String), CreateKeyError> {
    for _ in 0..CREATE_ATTEMPTS {
        let (record, secret) = generate();
        if engine.insert_api_key(&record).await? {
            return Ok((record, secret));
        }
        tracing::warn!(id = %record.id, "generated API key id is taken; drawing another");
    }
    tracing::error!(
        attempts = CREATE_ATTEMPTS,
        "no free API key id; no key created"
    );
    Err(CreateKeyError::NoFreeId)
}

/// Why a keys command failed.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("opening the data folder: {0}")]
    Open(#[from] engine::OpenError),
    #[error(transparent)]
    Engine(#[from] engine::Error),
    #[error("{0}")]
    Http(String),
    #[error("no key with id {0}")]
    NotFound(String),
    #[error(transparent)]
    Create(#[from] CreateKeyError),
    #[error("{0}")]
    Invalid(String),
}

fn print_key(record: &ApiKeyRecord) {
    let revoked = record.revoked_at_ms.map_or_else(
        || "active".to_owned(),
        |at| format!("revoked {}", crate::dto::timestamp(at)),
    );
    println!(
        "{}\ttally_{}_…\t{}\t{}\tcreated {}\t{revoked}",
        record.id,
        record.id,
        record.scope,
        record.name,
        crate::dto::timestamp(record.created_at_ms)
    );
}

/// Runs against a data folder (server stopped).
pub fn run_local(command: KeysCommand, config: EngineConfig) -> Result<(), KeysError> {
    crate::offline::with_engine(config, |engine| async move {
        run_on_engine(&engine, command).await
    })
}

async fn run_on_engine(engine: &Engine, command: KeysCommand) -> Result<(), KeysError> {
    let now_ms = engine::Clock::now_ms(&engine::SystemClock);
    match command {
        KeysCommand::Create { name, scope, user } => {
            let grant = grant(scope, user).map_err(KeysError::Invalid)?;
            let (record, secret) = create_key(engine, &name, &grant, now_ms).await?;
            print_key(&record);
            println!("secret (shown once): {secret}");
        }
        KeysCommand::List { prefix } => {
            let prefix = prefix.unwrap_or_default();
            let prefix = prefix.strip_prefix("tally_").unwrap_or(&prefix).to_owned();
            engine
                .api_keys()?
                .iter()
                .filter(|r| r.id.starts_with(&prefix))
                .for_each(print_key);
        }
        KeysCommand::Revoke { id } => {
            let mut record = engine
                .api_keys()?
                .into_iter()
                .find(|r| r.id == id)
                .ok_or(KeysError::NotFound(id))?;
            record.revoked_at_ms.get_or_insert(now_ms);
            engine.put_api_key(&record).await?;
            print_key(&record);
        }
    }
    Ok(())
}

/// Runs against a server's admin endpoints.
pub fn run_http(command: KeysCommand, url: &str, key: &str) -> Result<(), KeysError> {
    let base = url.trim_end_matches('/');
    let auth = format!("Bearer {key}");
    let result = match &command {
        KeysCommand::Create { name, scope, user } => {
            ureq::post(&format!("{base}/v1/admin/api-keys"))
                .set("Authorization", &auth)
                .send_json(
                    serde_json::json!({ "name": name, "scope": scope.as_str(), "user": user }),
                )
        }
        KeysCommand::List { prefix } => ureq::get(&format!("{base}/v1/admin/api-keys"))
            .query("prefix", prefix.as_deref().unwrap_or(""))
            .set("Authorization", &auth)
            .call(),
        KeysCommand::Revoke { id } => ureq::delete(&format!("{base}/v1/admin/api-keys/{id}"))
            .set("Authorization", &auth)
            .call(),
    };
    let body = match result {
        Ok(response) => response
            .into_string()
            .map_err(|e| KeysError::Http(e.to_string()))?,
        Err(ureq::Error::Status(status, response)) => {
            return Err(KeysError::Http(format!(
                "{status}: {}",
                response.into_string().unwrap_or_default()
            )));
        }
        Err(error) => return Err(KeysError::Http(error.to_string())),
    };
    println!("{body}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::generate_key;

    #[test]
    fn a_taken_id_is_never_replaced_but_drawn_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = crate::settings::Settings::load_from(None, &[])
            .expect("defaults")
            .engine_config()
            .expect("engine config");
        config.data_dir = dir.path().to_owned();
        config.shards = 1;
        actix_web::rt::System::new().block_on(async move {
            let engine = Engine::open(
                config,
                std::sync::Arc::new(engine::SystemClock),
                &prometheus::Registry::new(),
            )
            .expect("open");
            let (first, _) = create_key(&engine, "first", &Grant::of(Scope::Admin), 1)
                .await
                .expect("created");
            // The generator draws the taken id first, then a new one.
            let mut draws = vec![
                generate_key("second", Scope::Read, 2),
                generate_key("second", Scope::Read, 2),
            ];
            draws[1].0.id = first.id.clone();
            let (second, _) = create_key_with(&engine, || draws.pop().expect("a draw"))
                .await
                .expect("created on the second draw");
            assert_ne!(second.id, first.id);
            // Only ever the taken id: nothing is written, nothing replaced.
            let taken = first.id.clone();
            let refused = create_key_with(&engine, || {
                let (mut record, secret) = generate_key("third", Scope::Read, 3);
                record.id = taken.clone();
                (record, secret)
            })
            .await;
            assert!(matches!(refused, Err(CreateKeyError::NoFreeId)));
            let stored = engine.api_keys().expect("list");
            assert_eq!(stored.len(), 2);
            let kept = stored.iter().find(|r| r.id == first.id).expect("kept");
            assert_eq!(
                (kept.name.as_str(), kept.scope.as_str()),
                ("first", "admin")
            );
            engine.shutdown();
        });
    }
}
