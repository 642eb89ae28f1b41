//! The price book over a real RocksDB on a manual clock: versions are
//! immutable and chosen by effective time, found by id, listed per model
//! and per book, and survive a restart.

use engine::prices::{ModelName, Price, PriceAmounts, PriceSpec};
use engine::{Currency, Engine, EngineConfig, ManualClock, PriceVersion};
use std::sync::Arc;

const T0: i64 = 1_700_000_000_000;

fn config(dir: &std::path::Path) -> EngineConfig {
    EngineConfig {
        shards: 1,
        ..EngineConfig::small(dir)
    }
}

fn model(name: &str) -> ModelName {
    ModelName::parse(name).expect("model name")
}

fn spec(name: &str, input: &str, effective_from_ms: Option<i64>) -> PriceSpec {
    let price = |text: &str| Price::parse(text).expect("price");
    let amounts = PriceAmounts {
        input_per_million: price(input),
        cached_input_per_million: price("1.25"),
        cache_write_per_million: price("3.125"),
        output_per_million: price("10"),
        reasoning_per_million: price("10"),
        per_request: price("0"),
    };
    PriceSpec::new(
        model(name),
        Currency::parse("USD").expect("known"),
        amounts,
        effective_from_ms,
    )
    .expect("spec")
}

fn input(version: &Option<PriceVersion>) -> Option<String> {
    version
        .as_ref()
        .map(|v| v.amounts.input_per_million.to_string())
}

#[actix_rt::test]
async fn versions_are_chosen_by_effective_time_and_found_by_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::open(
        config(dir.path()),
        clock.clone(),
        &prometheus::Registry::new(),
    )
    .expect("opens");
    assert_eq!(engine.price_at("gpt-4o", T0).expect("read"), None);

    let first = engine
        .put_price(spec("gpt-4o", "5", None))
        .await
        .expect("put");
    assert_eq!(first.effective_from_ms, T0);
    assert_eq!(first.created_at_ms, T0);
    assert!(first.id.as_str().starts_with("prv_"));
    // Written for later: the current price stays until its time.
    let later = engine
        .put_price(spec("gpt-4o", "2.5", Some(T0 + 60_000)))
        .await
        .expect("put");
    assert_eq!(
        input(&engine.price_at("gpt-4o", T0).expect("read")),
        Some("5".into())
    );
    assert_eq!(
        input(&engine.price_at("gpt-4o", T0 + 59_999).expect("read")),
        Some("5".into())
    );
    assert_eq!(
        input(&engine.price_at("gpt-4o", T0 + 60_000).expect("read")),
        Some("2.5".into())
    );
    assert_eq!(engine.price_at("gpt-4o", T0 - 1).expect("read"), None);
    // Two versions at one effective time, written in one millisecond: the
    // later written wins, whatever the ids' random parts.
    let mut tie = first.clone();
    for price in ["6", "7", "8"] {
        tie = engine
            .put_price(spec("gpt-4o", price, Some(T0)))
            .await
            .expect("put");
    }
    assert_eq!(
        input(&engine.price_at("gpt-4o", T0).expect("read")),
        Some("8".into())
    );
    // Every version stays readable by id, in force or not.
    for version in [&first, &later, &tie] {
        assert_eq!(
            engine.price_version(&version.id).expect("read").as_ref(),
            Some(version)
        );
    }
    let unknown = engine::PriceVersionId::generate(T0);
    assert_eq!(engine.price_version(&unknown).expect("read"), None);

    // Versions newest effective first, in pages.
    let gpt = model("gpt-4o");
    let page = engine.price_versions(&gpt, None, 2).expect("page");
    assert_eq!(page.versions.len(), 2);
    assert_eq!(page.versions[0], later);
    assert_eq!(page.versions[1], tie);
    let cursor = engine
        .price_version(page.next_cursor.as_ref().expect("more"))
        .expect("read")
        .expect("cursor version");
    let rest = engine
        .price_versions(&gpt, Some(&cursor), 10)
        .expect("page");
    assert_eq!(rest.versions.len(), 3);
    assert_eq!(rest.versions[2], first);
    assert_eq!(rest.next_cursor, None);
    // A name that is a prefix of another is another model.
    assert!(engine
        .price_versions(&model("gpt-4"), None, 10)
        .expect("page")
        .versions
        .is_empty());
    engine.shutdown();
}

#[actix_rt::test]
async fn the_current_book_pages_by_model_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::open(
        config(dir.path()),
        clock.clone(),
        &prometheus::Registry::new(),
    )
    .expect("opens");
    for name in ["b", "a", "a/b", "ab", "c"] {
        engine.put_price(spec(name, "1", None)).await.expect("put");
    }
    engine
        .put_price(spec("a", "2", Some(T0 + 1)))
        .await
        .expect("put");
    // Only future versions: not in the current book.
    engine
        .put_price(spec("future", "3", Some(T0 + 1_000)))
        .await
        .expect("put");
    let names = |list: &engine::PriceList| -> Vec<String> {
        list.versions
            .iter()
            .map(|v| v.model.as_str().to_owned())
            .collect()
    };
    let all = engine.current_prices(None, 100).expect("list");
    assert_eq!(names(&all), ["a", "a/b", "ab", "b", "c"]);
    assert_eq!(all.next_cursor, None);
    assert_eq!(input(&Some(all.versions[0].clone())), Some("1".into()));
    let first = engine.current_prices(None, 2).expect("list");
    assert_eq!(names(&first), ["a", "a/b"]);
    let after = model(first.next_cursor.as_deref().expect("more"));
    let second = engine.current_prices(Some(&after), 3).expect("list");
    assert_eq!(names(&second), ["ab", "b", "c"]);
    // A model ("future") follows "c", so the page has a cursor; the next
    // page is empty, since nothing of "future" is in force yet.
    assert_eq!(second.next_cursor.as_deref(), Some("c"));
    let last = engine.current_prices(Some(&model("c")), 3).expect("list");
    assert!(last.versions.is_empty());
    assert_eq!(last.next_cursor, None);

    clock.advance(1_000);
    let now = engine.current_prices(None, 100).expect("list");
    assert_eq!(names(&now), ["a", "a/b", "ab", "b", "c", "future"]);
    assert_eq!(input(&Some(now.versions[0].clone())), Some("2".into()));
    engine.shutdown();
    drop(engine);

    // Durable: the book reads the same after a restart.
    let engine =
        Engine::open(config(dir.path()), clock, &prometheus::Registry::new()).expect("reopens");
    let again = engine.current_prices(None, 100).expect("list");
    assert_eq!(again.versions, now.versions);
    engine.shutdown();
}
