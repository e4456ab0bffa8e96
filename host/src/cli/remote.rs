//! The running server as the command line sees it. `superapp serve` writes
//! `DATA/serve.json` (its address and a fresh admin token, mode 0600) and
//! removes it on shutdown; while it runs it holds the data folder's lock, so
//! the CLI sends installs, upgrades, rollbacks, removals and trust changes
//! to its `/admin` routes instead, and the server swaps apps live.

use super::{CliError, Operator};
use crate::http::admin::{AdminApp, NewUser, RekeyRequest, TrustRequest, VerifyRequest};
use crate::http::wallet::OperatorMove;
use crate::identity::{HostKeyInfo, UserView};
use crate::packages::{
    AppRecord, CommitMode, DevApp, KeyBinding, Removal, TrustedKey, Ui, encode_package_with_ui,
};
use crate::platform::{HolderRef, MerchantBalance, TransactionView, WalletView};
use crate::wallet::Audit;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a running server tells the CLI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServeInfo {
    pub addr: String,
    pub token: String,
    pub pid: u32,
}

impl ServeInfo {
    fn path(data: &Path) -> PathBuf {
        data.join("serve.json")
    }

    /// Writes the file readable by its owner only.
    pub fn write(&self, data: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let tmp = data.join(".serve.json.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp)?;
        std::io::Write::write_all(&mut f, &json)?;
        f.sync_all()?;
        std::fs::rename(&tmp, Self::path(data))
    }

    pub fn read(data: &Path) -> Option<ServeInfo> {
        serde_json::from_slice(&std::fs::read(Self::path(data)).ok()?).ok()
    }

    pub fn remove(data: &Path) {
        let _ = std::fs::remove_file(Self::path(data));
    }
}

/// A client for a running server's admin routes: the CLI's operator while
/// `superapp serve` holds the data folder.
pub struct Remote {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Remote {
    /// The server running on `data`, if one answers.
    pub fn connect(data: &Path) -> Option<Remote> {
        let info = ServeInfo::read(data)?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(300)))
            .build()
            .into();
        let base = format!("http://{}", info.addr);
        let alive = agent
            .get(format!("{base}/healthz"))
            .call()
            .is_ok_and(|r| r.status().is_success());
        alive.then_some(Remote {
            base,
            token: info.token,
            agent,
        })
    }

    /// The server's address, for messages.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn send<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
    ) -> Result<T, CliError> {
        self.send_keyed(method, path, body, None)
    }

    /// `send` with an `Idempotency-Key` header (routes that move money).
    fn send_keyed<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
        key: Option<&str>,
    ) -> Result<T, CliError> {
        let url = format!("{}{path}", self.base);
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("authorization", format!("Bearer {}", self.token));
        if let Some(key) = key {
            builder = builder.header("idempotency-key", key);
        }
        let result = match body {
            Some((bytes, content_type)) => self.agent.run(
                builder
                    .header("content-type", content_type)
                    .body(bytes)
                    .map_err(CliError::plain)?,
            ),
            None => self.agent.run(builder.body(()).map_err(CliError::plain)?),
        };
        let mut resp = result.map_err(|e| {
            CliError::plain(format!("the server at {} did not answer: {e}", self.base))
        })?;
        let status = resp.status();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(CliError::plain)?;
        if status.is_success() {
            serde_json::from_str(&text)
                .map_err(|e| CliError::plain(format!("unexpected answer from the server: {e}")))
        } else {
            Err(problem(&text))
        }
    }

    /// Posts package bytes; `mode` is install, upgrade, dev, dev-replace or
    /// dev-replace-signed.
    fn install(&self, package: Vec<u8>, mode: &str) -> Result<AppRecord, CliError> {
        let app: AdminApp = self.send(
            "POST",
            &format!("/admin/apps?mode={mode}"),
            Some((package, "application/octet-stream")),
        )?;
        Ok(app.record)
    }

    fn send_json<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &impl Serialize,
        key: Option<&str>,
    ) -> Result<T, CliError> {
        let body = serde_json::to_vec(body).map_err(CliError::plain)?;
        self.send_keyed(method, path, Some((body, "application/json")), key)
    }

    /// Tops up (`withdraw` false) or withdraws money.
    fn move_money(
        &self,
        withdraw: bool,
        holder: HolderRef,
        amount: u64,
        key: &str,
    ) -> Result<TransactionView, CliError> {
        let (handle, app) = match holder {
            HolderRef::Person(h) => (Some(h), None),
            HolderRef::App(a) => (None, Some(a)),
        };
        let path = if withdraw {
            "/admin/wallet/withdraw"
        } else {
            "/admin/wallet/topup"
        };
        let body = OperatorMove {
            handle,
            app,
            amount,
        };
        self.send_json("POST", path, &body, Some(key))
    }
}

/// A problem+json answer as the CLI's error: its `title` is the code, its
/// `detail` the message (the raw body if it is not a problem).
fn problem(body: &str) -> CliError {
    let p: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    CliError::new(
        p["title"].as_str().unwrap_or("error").to_string(),
        p["detail"].as_str().unwrap_or(body),
    )
}

impl Operator for Remote {
    fn install_package(&self, package: Vec<u8>, mode: CommitMode) -> Result<AppRecord, CliError> {
        let mode = if mode == CommitMode::Upgrade {
            "upgrade"
        } else {
            "install"
        };
        self.install(package, mode)
    }

    fn install_dev(&self, app: DevApp, mode: CommitMode) -> Result<AppRecord, CliError> {
        // The admin route takes packages: the dev app goes as an unsigned one.
        let ui = app.ui.as_ref().map(Ui::body);
        let package = encode_package_with_ui(&app.manifest_toml, &app.component, ui, None)?;
        let mode = match mode {
            CommitMode::ReplaceSigned => "dev-replace-signed",
            CommitMode::Replace => "dev-replace",
            CommitMode::Install | CommitMode::Upgrade => "dev",
        };
        self.install(package, mode)
    }

    fn apps(&self) -> Result<Vec<(AppRecord, u64)>, CliError> {
        let apps: Vec<AdminApp> = self.send("GET", "/admin/apps", None)?;
        Ok(apps
            .into_iter()
            .map(|a| (a.record, a.storage_used))
            .collect())
    }

    fn app(&self, id: &str) -> Result<(AppRecord, u64), CliError> {
        let a: AdminApp = self.send("GET", &format!("/admin/apps/{id}"), None)?;
        Ok((a.record, a.storage_used))
    }

    fn developer_key(&self, id: &str) -> Result<Option<KeyBinding>, CliError> {
        let a: AdminApp = self.send("GET", &format!("/admin/apps/{id}"), None)?;
        Ok(a.developer_key)
    }

    fn rollback(&self, id: &str) -> Result<AppRecord, CliError> {
        let a: AdminApp = self.send("POST", &format!("/admin/apps/{id}/rollback"), None)?;
        Ok(a.record)
    }

    fn rekey(&self, id: &str, public_key: &str) -> Result<KeyBinding, CliError> {
        let body = RekeyRequest {
            public_key: public_key.to_string(),
        };
        self.send_json(
            "PUT",
            &format!("/admin/apps/{id}/developer-key"),
            &body,
            None,
        )
    }

    fn remove(&self, id: &str, purge_data: bool) -> Result<Removal, CliError> {
        self.send(
            "DELETE",
            &format!("/admin/apps/{id}?purge_data={purge_data}"),
            None,
        )
    }

    fn trusted_keys(&self) -> Result<Vec<TrustedKey>, CliError> {
        self.send("GET", "/admin/trust", None)
    }

    fn trust(&self, public_key: &str, name: Option<String>) -> Result<TrustedKey, CliError> {
        let body = TrustRequest {
            public_key: public_key.to_string(),
            name,
        };
        self.send_json("POST", "/admin/trust", &body, None)
    }

    fn distrust(&self, public_key: &str) -> Result<TrustedKey, CliError> {
        self.send("DELETE", &format!("/admin/trust/{public_key}"), None)
    }

    fn add_user(
        &self,
        handle: &str,
        display_name: Option<String>,
        password: &str,
    ) -> Result<UserView, CliError> {
        let body = NewUser {
            handle: handle.to_string(),
            display_name,
            password: Some(password.to_string()),
        };
        self.send_json("POST", "/admin/users", &body, None)
    }

    fn users(&self) -> Result<Vec<UserView>, CliError> {
        self.send("GET", "/admin/users", None)
    }

    fn verify_user(&self, handle: &str, birth_date: &str) -> Result<UserView, CliError> {
        let body = VerifyRequest {
            birth_date: birth_date.to_string(),
        };
        self.send_json(
            "POST",
            &format!("/admin/users/{handle}/verify"),
            &body,
            None,
        )
    }

    fn host_keys(&self) -> Result<Vec<HostKeyInfo>, CliError> {
        self.send("GET", "/admin/host-keys", None)
    }

    fn rotate_host_key(&self) -> Result<Vec<HostKeyInfo>, CliError> {
        self.send("POST", "/admin/host-keys/rotate", None)
    }

    fn top_up(&self, handle: &str, amount: u64, key: &str) -> Result<TransactionView, CliError> {
        self.move_money(false, HolderRef::Person(handle.to_string()), amount, key)
    }

    fn withdraw(
        &self,
        from: HolderRef,
        amount: u64,
        key: &str,
    ) -> Result<TransactionView, CliError> {
        self.move_money(true, from, amount, key)
    }

    fn balance(&self, handle: &str) -> Result<WalletView, CliError> {
        self.send("GET", &format!("/admin/wallet/users/{handle}"), None)
    }

    fn merchants(&self) -> Result<Vec<MerchantBalance>, CliError> {
        self.send("GET", "/admin/wallet/merchants", None)
    }

    fn audit(&self) -> Result<Audit, CliError> {
        self.send("GET", "/admin/wallet/audit", None)
    }
}

#[cfg(test)]
mod tests {
    use super::problem;

    #[test]
    fn a_problem_answer_becomes_the_same_error_the_local_host_gives() {
        let body = r#"{"type":"urn:superapp:problem:not-installed","title":"not-installed","status":404,"detail":"no app with id `x` is installed"}"#;
        let e = problem(body);
        assert_eq!(e.code(), Some("not-installed"));
        assert_eq!(
            e.to_string(),
            "[not-installed] no app with id `x` is installed"
        );
        // Not a problem (a proxy's page, say): the body is the message.
        assert_eq!(problem("Bad Gateway").to_string(), "[error] Bad Gateway");
    }
}
