//! The operator interface the commands drive, and its local implementation
//! (the data folder opened in this process); `remote::Remote` is the other.

use super::remote::Remote;
use super::{CliError, Settings, open};
use crate::Superapp;
use crate::identity::{HostKeyInfo, UserView};
use crate::packages::{
    AppRecord, CommitMode, DevApp, InstallError, KeyBinding, Removal, TrustedKey,
};
use crate::platform::{HolderRef, MerchantBalance, TransactionView, WalletView, block_on};
use crate::wallet::Audit;

/// What operator commands can do to a host. Both implementations answer
/// with the same views, so a command prints the same whether the host runs
/// here or behind `superapp serve`.
pub trait Operator {
    /// Installs a signed package, or with `CommitMode::Upgrade` upgrades to it.
    fn install_package(&self, package: Vec<u8>, mode: CommitMode) -> Result<AppRecord, CliError>;
    /// A developer install of `app` (already read, bounded and confined).
    fn install_dev(&self, app: DevApp, mode: CommitMode) -> Result<AppRecord, CliError>;
    /// Installed apps, each with the bytes its storage uses.
    fn apps(&self) -> Result<Vec<(AppRecord, u64)>, CliError>;
    /// One installed app and the bytes its storage uses.
    fn app(&self, id: &str) -> Result<(AppRecord, u64), CliError>;
    /// The developer key `id` is bound to.
    fn developer_key(&self, id: &str) -> Result<Option<KeyBinding>, CliError>;
    fn rollback(&self, id: &str) -> Result<AppRecord, CliError>;
    /// Binds `id` to the developer key `public_key` for its next upgrade.
    fn rekey(&self, id: &str, public_key: &str) -> Result<KeyBinding, CliError>;
    fn remove(&self, id: &str, purge_data: bool) -> Result<Removal, CliError>;
    fn trusted_keys(&self) -> Result<Vec<TrustedKey>, CliError>;
    fn trust(&self, public_key: &str, name: Option<String>) -> Result<TrustedKey, CliError>;
    fn distrust(&self, public_key: &str) -> Result<TrustedKey, CliError>;
    fn add_user(
        &self,
        handle: &str,
        display_name: Option<String>,
        password: &str,
    ) -> Result<UserView, CliError>;
    fn users(&self) -> Result<Vec<UserView>, CliError>;
    fn verify_user(&self, handle: &str, birth_date: &str) -> Result<UserView, CliError>;
    /// The launch-token keys.
    fn host_keys(&self) -> Result<Vec<HostKeyInfo>, CliError>;
    /// Signs new launch tokens with a new key; answers the keys, newest first.
    fn rotate_host_key(&self) -> Result<Vec<HostKeyInfo>, CliError>;
    /// Adds `amount` (minor units) to a person's wallet; `key` makes a retry safe.
    fn top_up(&self, handle: &str, amount: u64, key: &str) -> Result<TransactionView, CliError>;
    /// Takes `amount` (minor units) out of a wallet or merchant account.
    fn withdraw(
        &self,
        from: HolderRef,
        amount: u64,
        key: &str,
    ) -> Result<TransactionView, CliError>;
    fn balance(&self, handle: &str) -> Result<WalletView, CliError>;
    fn merchants(&self) -> Result<Vec<MerchantBalance>, CliError>;
    /// Replays the journal and checks every ledger invariant.
    fn audit(&self) -> Result<Audit, CliError>;
}

/// Where operator commands go: the data folder itself, or — while
/// `superapp serve` holds it — that server's admin routes, so the running
/// server picks the change up without a restart.
pub(super) fn connect(settings: &Settings) -> Result<Box<dyn Operator>, CliError> {
    if let Some(remote) = Remote::connect(&settings.data) {
        return Ok(Box::new(remote));
    }
    Ok(Box::new(Local(open(settings)?)))
}

/// The data folder, opened (and locked) by this process.
struct Local(Superapp);

impl Operator for Local {
    fn install_package(&self, package: Vec<u8>, mode: CommitMode) -> Result<AppRecord, CliError> {
        Ok(self.0.install_package(&package, mode)?)
    }

    fn install_dev(&self, app: DevApp, mode: CommitMode) -> Result<AppRecord, CliError> {
        Ok(self.0.install_dev_app(app, mode)?)
    }

    fn apps(&self) -> Result<Vec<(AppRecord, u64)>, CliError> {
        self.0
            .apps()
            .map_err(CliError::plain)?
            .into_iter()
            .map(|r| {
                let used = self.0.storage_usage(r.id()).map_err(CliError::plain)?;
                Ok((r, used))
            })
            .collect()
    }

    fn app(&self, id: &str) -> Result<(AppRecord, u64), CliError> {
        let r = self
            .0
            .app(id)
            .map_err(CliError::plain)?
            .ok_or_else(|| InstallError::NotInstalled(id.to_string()))?;
        let used = self.0.storage_usage(id).map_err(CliError::plain)?;
        Ok((r, used))
    }

    fn developer_key(&self, id: &str) -> Result<Option<KeyBinding>, CliError> {
        self.0.developer_key(id).map_err(CliError::plain)
    }

    fn rollback(&self, id: &str) -> Result<AppRecord, CliError> {
        Ok(self.0.rollback(id)?)
    }

    fn rekey(&self, id: &str, public_key: &str) -> Result<KeyBinding, CliError> {
        Ok(self.0.rekey(id, public_key)?)
    }

    fn remove(&self, id: &str, purge_data: bool) -> Result<Removal, CliError> {
        Ok(self.0.remove(id, purge_data)?)
    }

    fn trusted_keys(&self) -> Result<Vec<TrustedKey>, CliError> {
        self.0.trust().list().map_err(CliError::plain)
    }

    fn trust(&self, public_key: &str, name: Option<String>) -> Result<TrustedKey, CliError> {
        Ok(self.0.trust().add(public_key, name)?)
    }

    fn distrust(&self, public_key: &str) -> Result<TrustedKey, CliError> {
        Ok(self.0.trust().remove(public_key)?)
    }

    fn add_user(
        &self,
        handle: &str,
        display_name: Option<String>,
        password: &str,
    ) -> Result<UserView, CliError> {
        let user = self
            .0
            .identity()
            .add_user(handle, display_name.as_deref(), Some(password))?;
        Ok(user.view())
    }

    fn users(&self) -> Result<Vec<UserView>, CliError> {
        let users = self.0.identity().users()?;
        Ok(users.iter().map(|u| u.view()).collect())
    }

    fn verify_user(&self, handle: &str, birth_date: &str) -> Result<UserView, CliError> {
        Ok(self.0.identity().verify_user(handle, birth_date)?.view())
    }

    fn host_keys(&self) -> Result<Vec<HostKeyInfo>, CliError> {
        Ok(self.0.identity().host_keys()?)
    }

    fn rotate_host_key(&self) -> Result<Vec<HostKeyInfo>, CliError> {
        Ok(self.0.identity().rotate_host_key()?)
    }

    fn top_up(&self, handle: &str, amount: u64, key: &str) -> Result<TransactionView, CliError> {
        Ok(block_on(self.0.top_up(handle, amount, key))?)
    }

    fn withdraw(
        &self,
        from: HolderRef,
        amount: u64,
        key: &str,
    ) -> Result<TransactionView, CliError> {
        Ok(block_on(self.0.withdraw(from, amount, key))?)
    }

    fn balance(&self, handle: &str) -> Result<WalletView, CliError> {
        Ok(block_on(self.0.balance_of(handle))?)
    }

    fn merchants(&self) -> Result<Vec<MerchantBalance>, CliError> {
        Ok(block_on(self.0.merchant_balances())?)
    }

    fn audit(&self) -> Result<Audit, CliError> {
        Ok(block_on(self.0.wallet().audit())?)
    }
}
