//! A user's accounts (seed 002): the **general** wallet, in money, which is
//! the very wallet the deposit API credits for that user (one identity across
//! every face), and the **AI credit** wallet, which gateway debits and holds
//! draw from; and the platform's fee wallet, where transfer fees go. Each is
//! an ordinary wallet found through the `users` CF by an account key: the
//! user's name for the general wallet (as the deposit API always had), a
//! tagged name for the others. Tags start with NUL, which no user name may
//! contain (names refuse control characters), so they never collide.

/// Which of a user's wallets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    /// Money: funded by deposits and payments.
    General,
    /// AI credits: funded by transfers from the general wallet.
    Ai,
}

/// Tag of AI wallets' keys.
const AI: &str = "\0ai\0";
/// The key of the platform's fee wallet.
pub const PLATFORM_FEES: &str = "\0platform\0fees";

/// The `users` CF key of `user`'s `account`.
pub fn key(user: &str, account: Account) -> String {
    match account {
        Account::General => user.to_owned(),
        Account::Ai => format!("{AI}{user}"),
    }
}

/// The customer a wallet of account key `key` belongs to, and the name it
/// is given.
pub fn parts(key: &str) -> (&str, Option<&'static str>) {
    if key == PLATFORM_FEES {
        return ("platform", Some("Platform fees"));
    }
    match key.strip_prefix(AI) {
        Some(user) => (user, Some("AI credits")),
        None => (key, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_keys_name_their_customer_and_never_collide() {
        assert_eq!(key("bob", Account::General), "bob");
        assert_eq!(parts(&key("bob", Account::Ai)), ("bob", Some("AI credits")));
        assert_eq!(parts("bob"), ("bob", None));
        assert_eq!(parts(PLATFORM_FEES).0, "platform");
        assert_ne!(
            key("bob", Account::Ai),
            key("\0ai\0bob", Account::General).replace('\0', "")
        );
    }
}
