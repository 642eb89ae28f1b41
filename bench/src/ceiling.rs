//! The `http-ceiling` baseline server: a bare actix-web handler on the debit
//! route that reads and parses the same JSON body and answers a small JSON,
//! with the same worker count as Tally. It measures the HTTP limit.

use actix_web::{web, App, HttpResponse, HttpServer};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct DebitBody {
    credits: String,
    #[allow(dead_code)]
    metadata: Option<BTreeMap<String, serde_json::Value>>,
}

async fn debit(path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    match serde_json::from_slice::<DebitBody>(&body) {
        Ok(parsed) => HttpResponse::Created().json(serde_json::json!({
            "id": "txn_ceiling",
            "wallet_id": path.into_inner(),
            "credits": parsed.credits,
            "sequence": 1,
        })),
        Err(_) => HttpResponse::BadRequest().finish(),
    }
}

/// Serves until killed; prints the bound address like Tally does.
pub(crate) fn serve(workers: usize) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let server =
            HttpServer::new(|| App::new().route("/v1/wallets/{id}/debits", web::post().to(debit)))
                .workers(workers)
                .bind("127.0.0.1:0")?;
        let addr = server
            .addrs()
            .first()
            .copied()
            .ok_or_else(|| anyhow::anyhow!("not bound"))?;
        println!("http-ceiling listening on http://{addr}");
        server.run().await?;
        Ok(())
    })
}
