//! Model-based property test of the wallet state machine: random sequences
//! of commands (valid and invalid) against a naive model on integer
//! mantissas. Invariants: the same accept/refuse decisions, the same
//! balances, never below zero, granted spent before paid, and the ledger
//! (deltas and `after` of every entry) sums to the balance.

use engine::money::Credits;
use engine::{Command, Currency, NewWallet, TxnId, Wallet, WalletError, WalletId};
use proptest::prelude::*;

/// A naive wallet: balances as mantissas at scale 9.
#[derive(Debug, Default, Clone, Copy)]
struct Model {
    paid: i128,
    granted: i128,
}

#[derive(Debug, Clone)]
enum Op {
    TopUp { paid: i64, granted: i64 },
    Debit(i64),
    Void(i64),
    Deposit { cents: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    // Amounts in mantissa units of 1e-9, including zero (refused) and
    // amounts larger than any balance (refused).
    let amount = prop_oneof![
        Just(0i64),
        1i64..1_000,
        1i64..5_000_000_000,
        Just(1_000_000_000)
    ];
    prop_oneof![
        (amount.clone(), amount.clone()).prop_map(|(paid, granted)| Op::TopUp { paid, granted }),
        amount.clone().prop_map(Op::Debit),
        amount.prop_map(Op::Void),
        (0i64..10_000).prop_map(|cents| Op::Deposit { cents }),
    ]
}

fn credits(mantissa: i64) -> Credits {
    Credits::from_mantissa(i128::from(mantissa)).expect("in range")
}

/// What the model expects: the new balances, or None for a refusal.
fn model_step(model: Model, op: &Op) -> Option<Model> {
    match *op {
        Op::TopUp { paid, granted } => (paid > 0 || granted > 0).then(|| Model {
            paid: model.paid + i128::from(paid),
            granted: model.granted + i128::from(granted),
        }),
        Op::Debit(amount) | Op::Void(amount) => {
            let amount = i128::from(amount);
            if amount <= 0 || amount > model.paid + model.granted {
                return None;
            }
            let from_granted = amount.min(model.granted);
            Some(Model {
                paid: model.paid - (amount - from_granted),
                granted: model.granted - from_granted,
            })
        }
        // Rate 0.5 USD per credit: one cent buys 0.02 credits = 2e7 units.
        Op::Deposit { cents } => (cents > 0).then(|| Model {
            paid: model.paid + i128::from(cents) * 20_000_000,
            granted: model.granted,
        }),
    }
}

fn command(op: &Op) -> Command {
    match *op {
        Op::TopUp { paid, granted } => Command::TopUp {
            paid: credits(paid),
            granted: credits(granted),
            metadata: Vec::new(),
            expires_at_ms: None,
        },
        Op::Debit(amount) => Command::Debit {
            credits: credits(amount),
            metadata: Vec::new(),
            fee_type: engine::FeeType::Charge,
        },
        Op::Void(amount) => Command::Void {
            credits: credits(amount),
            metadata: Vec::new(),
            lot: None,
        },
        Op::Deposit { cents } => Command::Deposit {
            amount: rust_decimal::Decimal::new(cents, 2),
            metadata: Vec::new(),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn wallet_agrees_with_a_naive_model(ops in proptest::collection::vec(op(), 0..120)) {
        let spec = NewWallet {
            external_customer_id: "model".into(),
            currency: Currency::parse("USD").expect("known"),
            rate_amount: rust_decimal::Decimal::new(5, 1),
            paid_credits: Credits::ZERO,
            granted_credits: Credits::ZERO,
            status: engine::WalletStatus::Active,
            terms: engine::TermsSpec::default(),
        };
        let (mut wallet, opening) = Wallet::open(WalletId::generate(1), TxnId::generate(1), spec, None, 1).expect("opens");
        let mut model = Model::default();
        let mut ledger = vec![opening];
        for (step, op) in ops.iter().enumerate() {
            let expected = model_step(model, op);
            match (wallet.apply(TxnId::generate(2), &command(op), None, 2), expected) {
                (Ok(entry), Some(next)) => {
                    wallet.advance(&entry);
                    ledger.push(entry);
                    model = next;
                }
                (Err(refusal), None) => {
                    let known = matches!(refusal, WalletError::InsufficientCredits { .. } | WalletError::NotPositive { .. });
                    prop_assert!(known, "step {step}: unexpected refusal {refusal:?}");
                }
                (got, want) => prop_assert!(false, "step {step} {op:?}: engine {got:?}, model {want:?}"),
            }
            prop_assert_eq!(wallet.balance.paid.mantissa(), model.paid);
            prop_assert_eq!(wallet.balance.granted.mantissa(), model.granted);
            prop_assert!(!wallet.balance.paid.is_negative() && !wallet.balance.granted.is_negative());
        }
        // The ledger alone recomputes the balance, entry by entry.
        let (mut paid, mut granted) = (0i128, 0i128);
        for (index, entry) in ledger.iter().enumerate() {
            prop_assert_eq!(entry.seq, index as u64 + 1);
            paid += entry.delta.paid.mantissa();
            granted += entry.delta.granted.mantissa();
            prop_assert_eq!(entry.after.paid.mantissa(), paid);
            prop_assert_eq!(entry.after.granted.mantissa(), granted);
            // Granted before paid: a debit or void touches paid only once granted is gone.
            if entry.delta.paid.is_negative() {
                prop_assert_eq!(entry.after.granted.mantissa(), 0);
            }
        }
        prop_assert_eq!(wallet.seq, ledger.len() as u64);
    }
}
