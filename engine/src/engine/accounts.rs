//! `Engine`'s accounts of a user (see `crate::accounts`): found, or made on
//! first use in one durable write (the deposit API's way of making a user's
//! wallet), so a user never has two of one kind.

use super::Engine;
use crate::accounts::{self, Account};
use crate::error::Error;
use crate::ids::WalletId;
use crate::wallet::Wallet;

impl Engine {
    /// `user`'s wallet of `account`, made on first use.
    pub async fn account(&self, user: &str, account: Account) -> Result<Wallet, Error> {
        let id = self.account_id(&accounts::key(user, account)).await?;
        self.wallet(&id).await
    }

    /// `user`'s wallet of `account`, if it was ever made.
    pub async fn existing_account(
        &self,
        user: &str,
        account: Account,
    ) -> Result<Option<Wallet>, Error> {
        match self.user_wallet_id(&accounts::key(user, account))? {
            Some(id) => self.wallet(&id).await.map(Some),
            None => Ok(None),
        }
    }

    /// The platform's fee wallet, made on first use.
    pub async fn platform_fee_wallet(&self) -> Result<WalletId, Error> {
        self.account_id(accounts::PLATFORM_FEES).await
    }

    async fn account_id(&self, key: &str) -> Result<WalletId, Error> {
        match self.user_wallet_id(key)? {
            Some(id) => Ok(id),
            None => self.create_user_wallet(key).await,
        }
    }
}
