//! `tally keys create|list|revoke`: manage API keys on a running server
//! (through the admin endpoints, with `--url` and an admin `--key`) or in a
//! data folder no server has open. A key's secret is printed once, at
//! creation; only its digest is stored.

use crate::auth::{generate_key, Scope};
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
    actix_web::rt::System::new().block_on(async move {
        let engine = Engine::open(
            config,
            std::sync::Arc::new(engine::SystemClock),
            &prometheus::Registry::new(),
        )?;
        let result = run_on_engine(&engine, command).await;
        engine.shutdown();
        result
    })
}

async fn run_on_engine(engine: &Engine, command: KeysCommand) -> Result<(), KeysError> {
    let now_ms = engine::Clock::now_ms(&engine::SystemClock);
    match command {
        KeysCommand::Create { name, scope } => {
            let (record, secret) = generate_key(&name, scope, now_ms);
            engine.put_api_key(&record).await?;
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
        KeysCommand::Create { name, scope } => ureq::post(&format!("{base}/v1/admin/api-keys"))
            .set("Authorization", &auth)
            .send_json(serde_json::json!({ "name": name, "scope": scope.as_str() })),
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
