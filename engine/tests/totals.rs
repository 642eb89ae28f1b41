//! Lifetime totals (credited, spent, removed, lost) over a real RocksDB:
//! moved by every kind of entry, summing to the balance, checkpointed with
//! the wallet and the same after a restart, and summed from the ledger for
//! a wallet stored without them.

use engine::transfers::TransferAmount;
use engine::{
    Command, Credits, Currency, Engine, EngineConfig, ManualClock, NewWallet, TransferSpec,
};
use rust_decimal::Decimal;
use std::sync::Arc;

fn credits(text: &str) -> Credits {
    Credits::parse(text).expect("valid")
}

fn open(dir: &std::path::Path) -> Engine {
    Engine::open(
        EngineConfig::small(dir),
        Arc::new(ManualClock::new(1_700_000_000_000)),
        &prometheus::Registry::new(),
    )
    .expect("opens")
}

#[actix_rt::test]
async fn lifetime_totals_follow_every_entry_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = {
        let engine = open(dir.path());
        let new = |paid: &str, granted: &str| NewWallet {
            external_customer_id: "cus".into(),
            currency: Currency::USD,
            rate_amount: Decimal::ONE,
            paid_credits: credits(paid),
            granted_credits: credits(granted),
            status: engine::WalletStatus::Active,
            terms: engine::TermsSpec::default(),
        };
        let a = engine
            .create_wallet(new("100", "10"), None)
            .await
            .expect("a")
            .wallet
            .id;
        let b = engine
            .create_wallet(new("0", "0"), None)
            .await
            .expect("b")
            .wallet
            .id;
        let debit = |amount: &str| Command::Debit {
            credits: credits(amount),
            metadata: Vec::new(),
            fee_type: engine::FeeType::Charge,
        };
        engine.execute(&a, debit("5"), None).await.expect("debit");
        let void = Command::Void {
            credits: credits("2"),
            metadata: Vec::new(),
            lot: None,
        };
        engine.execute(&a, void, None).await.expect("void");
        let held = engine
            .place_hold(
                &a,
                engine::HoldRequest::Credits(credits("3")),
                60_000,
                Vec::new(),
                None,
            )
            .await
            .expect("hold");
        let hold = held.entry.hold.as_ref().expect("hold").id.clone();
        engine
            .capture_hold(
                &hold,
                engine::CaptureRequest::Credits(credits("1")),
                Vec::new(),
                None,
            )
            .await
            .expect("capture");
        let transfer = TransferSpec {
            from: a.clone(),
            to: b.clone(),
            amount: TransferAmount::Credits(credits("10")),
            fee: None,
            metadata: Vec::new(),
        };
        engine.transfer(transfer, None).await.expect("transfer");
        // Past a checkpoint: 130 more debits of 0.1.
        for _ in 0..130 {
            engine.execute(&a, debit("0.1"), None).await.expect("debit");
        }
        let (wallet, totals) = engine.wallet_totals(&a).await.expect("totals");
        assert_eq!(totals.credited, credits("110"));
        assert_eq!(totals.spent, credits("19"));
        assert_eq!(totals.removed, credits("12"));
        assert_eq!(totals.lost, credits("0"));
        assert_eq!(totals.balance(), Some(wallet.total().total()));
        let (_, b_totals) = engine.wallet_totals(&b).await.expect("totals");
        assert_eq!(b_totals.credited, credits("10"));
        engine
            .execute(&b, Command::Terminate, None)
            .await
            .expect("terminated");
        let (_, b_totals) = engine.wallet_totals(&b).await.expect("totals");
        assert_eq!(b_totals.lost, credits("10"));
        let report = engine.verify().expect("verifies");
        assert!(report.is_clean(), "{:?}", report.mismatches);
        engine.shutdown();
        (a, b)
    };
    let engine = open(dir.path());
    let (_, totals) = engine.wallet_totals(&a).await.expect("totals");
    assert_eq!(
        (totals.credited, totals.spent, totals.removed),
        (credits("110"), credits("19"), credits("12"))
    );
    let (_, b_totals) = engine.wallet_totals(&b).await.expect("totals");
    assert_eq!(b_totals.lost, credits("10"));
    engine.shutdown();
}
