//! Running a command against a data folder no server has open (`tally keys`,
//! `tally prices` without `--url`): an engine on the system clock inside its
//! own actix System, shut down (queue drained and synced) when the work ends.

use engine::{Engine, EngineConfig, OpenError, SystemClock};
use std::future::Future;
use std::sync::Arc;

/// Opens the engine over `config.data_dir`, runs `work` on it, shuts it down.
pub fn with_engine<T, E, F, Fut>(config: EngineConfig, work: F) -> Result<T, E>
where
    E: From<OpenError>,
    F: FnOnce(Arc<Engine>) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    actix_web::rt::System::new().block_on(async move {
        let engine = Arc::new(Engine::open(
            config,
            Arc::new(SystemClock),
            &prometheus::Registry::new(),
        )?);
        let result = work(Arc::clone(&engine)).await;
        engine.shutdown();
        result
    })
}
