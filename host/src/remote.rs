//! The running server as the command line sees it. `superapp serve` writes
//! `DATA/serve.json` (its address and a fresh admin token, mode 0600) and
//! removes it on shutdown; while it runs it holds the data folder's lock, so
//! the CLI sends installs, upgrades, rollbacks, removals and trust changes
//! to its `/admin` routes instead, and the server swaps apps live.

use crate::http::admin::{AdminApp, NewUser, RekeyRequest, TrustRequest, VerifyRequest};
use crate::identity::{HostKeyInfo, UserView};
use crate::packages::{KeyBinding, Removal, TrustedKey};
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

/// A client for a running server's admin routes.
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
    ) -> Result<T, String> {
        self.send_keyed(method, path, body, None)
    }

    /// `send` with an `Idempotency-Key` header (routes that move money).
    fn send_keyed<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
        key: Option<&str>,
    ) -> Result<T, String> {
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
                    .map_err(|e| e.to_string())?,
            ),
            None => self.agent.run(builder.body(()).map_err(|e| e.to_string())?),
        };
        let mut resp =
            result.map_err(|e| format!("the server at {} did not answer: {e}", self.base))?;
        let status = resp.status();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        if status.is_success() {
            serde_json::from_str(&text)
                .map_err(|e| format!("unexpected answer from the server: {e}"))
        } else {
            let p: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            Err(format!(
                "[{}] {}",
                p["title"].as_str().unwrap_or("error"),
                p["detail"].as_str().unwrap_or(&text)
            ))
        }
    }

    /// Installs package bytes; `mode` is install, upgrade, dev, dev-replace
    /// or dev-replace-signed.
    pub fn install(&self, package: Vec<u8>, mode: &str) -> Result<AdminApp, String> {
        self.send(
            "POST",
            &format!("/admin/apps?mode={mode}"),
            Some((package, "application/octet-stream")),
        )
    }

    pub fn apps(&self) -> Result<Vec<AdminApp>, String> {
        self.send("GET", "/admin/apps", None)
    }

    pub fn app(&self, id: &str) -> Result<AdminApp, String> {
        self.send("GET", &format!("/admin/apps/{id}"), None)
    }

    pub fn rollback(&self, id: &str) -> Result<AdminApp, String> {
        self.send("POST", &format!("/admin/apps/{id}/rollback"), None)
    }

    /// Binds `id` to the developer key `public_key` for its next upgrade.
    pub fn rekey(&self, id: &str, public_key: &str) -> Result<KeyBinding, String> {
        let body = serde_json::to_vec(&RekeyRequest {
            public_key: public_key.to_string(),
        })
        .map_err(|e| e.to_string())?;
        self.send(
            "PUT",
            &format!("/admin/apps/{id}/developer-key"),
            Some((body, "application/json")),
        )
    }

    pub fn remove(&self, id: &str, purge_data: bool) -> Result<Removal, String> {
        self.send(
            "DELETE",
            &format!("/admin/apps/{id}?purge_data={purge_data}"),
            None,
        )
    }

    pub fn trust_list(&self) -> Result<Vec<TrustedKey>, String> {
        self.send("GET", "/admin/trust", None)
    }

    pub fn trust_add(&self, public_key: &str, name: Option<String>) -> Result<TrustedKey, String> {
        let body = serde_json::to_vec(&TrustRequest {
            public_key: public_key.to_string(),
            name,
        })
        .map_err(|e| e.to_string())?;
        self.send("POST", "/admin/trust", Some((body, "application/json")))
    }

    pub fn trust_remove(&self, public_key: &str) -> Result<TrustedKey, String> {
        self.send("DELETE", &format!("/admin/trust/{public_key}"), None)
    }

    pub fn add_user(
        &self,
        handle: &str,
        display_name: Option<String>,
        password: &str,
    ) -> Result<UserView, String> {
        let body = serde_json::to_vec(&NewUser {
            handle: handle.to_string(),
            display_name,
            password: Some(password.to_string()),
        })
        .map_err(|e| e.to_string())?;
        self.send("POST", "/admin/users", Some((body, "application/json")))
    }

    pub fn users(&self) -> Result<Vec<UserView>, String> {
        self.send("GET", "/admin/users", None)
    }

    pub fn verify_user(&self, handle: &str, birth_date: &str) -> Result<UserView, String> {
        let body = serde_json::to_vec(&VerifyRequest {
            birth_date: birth_date.to_string(),
        })
        .map_err(|e| e.to_string())?;
        self.send(
            "POST",
            &format!("/admin/users/{handle}/verify"),
            Some((body, "application/json")),
        )
    }

    /// Lists the launch-token keys, rotating first if `rotate`.
    pub fn host_keys(&self, rotate: bool) -> Result<Vec<HostKeyInfo>, String> {
        match rotate {
            true => self.send("POST", "/admin/host-keys/rotate", None),
            false => self.send("GET", "/admin/host-keys", None),
        }
    }

    /// Tops up (`withdraw` false) or withdraws money.
    pub fn move_money(
        &self,
        withdraw: bool,
        holder: &crate::platform::HolderRef,
        amount: u64,
        key: &str,
    ) -> Result<crate::platform::TransactionView, String> {
        use crate::platform::HolderRef;
        let (handle, app) = match holder {
            HolderRef::Person(h) => (Some(h.clone()), None),
            HolderRef::App(a) => (None, Some(a.clone())),
        };
        let body = serde_json::to_vec(&crate::http::wallet::OperatorMove {
            handle,
            app,
            amount,
        })
        .map_err(|e| e.to_string())?;
        let path = if withdraw {
            "/admin/wallet/withdraw"
        } else {
            "/admin/wallet/topup"
        };
        self.send_keyed("POST", path, Some((body, "application/json")), Some(key))
    }

    pub fn balance(&self, handle: &str) -> Result<crate::platform::WalletView, String> {
        self.send("GET", &format!("/admin/wallet/users/{handle}"), None)
    }

    pub fn merchants(&self) -> Result<Vec<crate::platform::MerchantBalance>, String> {
        self.send("GET", "/admin/wallet/merchants", None)
    }

    pub fn audit(&self) -> Result<crate::wallet::Audit, String> {
        self.send("GET", "/admin/wallet/audit", None)
    }
}
