//! Manifest v1: the TOML file that describes a mini-app. Unknown fields are
//! rejected; every field's default is documented here and in the README.

use crate::config::HostConfig;
use crate::fsutil::{FileError, read_text_bounded};
use crate::kv::StorageLimits;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use superapp_core::limits::CallLimits;

/// A capability a manifest can declare. `context` and `log` need no
/// declaration: they reveal nothing about a person beyond the open id.
/// Capabilities that reach a person's data or money are also *scopes*: the
/// operator approves them at install, and each person grants or denies them
/// for themselves (`needs_consent`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Per-app key-value storage (`superapp:platform/storage`).
    Storage,
    /// Scope: the person's display name, whether they are real-name
    /// verified, and whether they are a minor (`superapp:platform/identity`).
    Profile,
    /// Scope: the person's verified real-name data (legal identity details).
    RealName,
    /// Asking the person to pay, refunds, holds and red packets
    /// (`superapp:platform/wallet`). Not a standing grant: the person
    /// confirms each payment in the host instead.
    Wallet,
    /// Notifications, cards into chats and customer-service answers
    /// (`superapp:platform/messaging`). Not a standing grant: each
    /// notification uses one of the person's one-time subscriptions.
    Notify,
}

impl Capability {
    /// Every capability, in a stable order.
    pub const ALL: [Capability; 5] = [
        Capability::Storage,
        Capability::Profile,
        Capability::RealName,
        Capability::Wallet,
        Capability::Notify,
    ];

    /// Whether each person must grant it before the app may use it.
    pub fn needs_consent(self) -> bool {
        // Money needs the person's confirmation of each payment, and each
        // notification a one-time subscription: both stronger than a
        // standing grant.
        !matches!(
            self,
            Capability::Storage | Capability::Wallet | Capability::Notify
        )
    }

    /// What importing the interface `name` (e.g. `superapp:platform/storage@0.2.0`) requires.
    pub fn for_import(name: &str) -> ImportNeed {
        let (unversioned, version) = name.split_once('@').unwrap_or((name, ""));
        if unversioned.starts_with("superapp:platform/") && version != PLATFORM_VERSION {
            return ImportNeed::OtherVersion(version.to_string());
        }
        match unversioned {
            "superapp:platform/context"
            | "superapp:platform/log"
            | "superapp:platform/types"
            | "superapp:platform/events" => ImportNeed::Nothing,
            "superapp:platform/storage" => ImportNeed::Capability(Capability::Storage),
            "superapp:platform/identity" => ImportNeed::Capability(Capability::Profile),
            "superapp:platform/wallet" => ImportNeed::Capability(Capability::Wallet),
            "superapp:platform/messaging" => ImportNeed::Capability(Capability::Notify),
            // WASI p2 is linked with no ambient authority: no preopens, env,
            // args or network, so these imports grant nothing.
            n if n.starts_with("wasi:") => ImportNeed::Nothing,
            _ => ImportNeed::Unknown,
        }
    }

    /// The capability named `name` as manifests and URLs spell it.
    pub fn parse(name: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The name manifests and URLs use.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Storage => "storage",
            Capability::Profile => "profile",
            Capability::RealName => "real-name",
            Capability::Wallet => "wallet",
            Capability::Notify => "notify",
        }
    }
}

/// What a component import requires of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportNeed {
    /// Every app may import it.
    Nothing,
    /// The manifest must declare this capability.
    Capability(Capability),
    /// Not an interface this host offers.
    Unknown,
    /// One of the host's interfaces, in a version of the contract (given)
    /// other than the one this host speaks.
    OtherVersion(String),
}

/// The version of `superapp:platform` (sdk/wit) this host links: a
/// component built against another one cannot be instantiated here.
pub const PLATFORM_VERSION: &str = "0.2.0";

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A manifest, as written by the developer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Required. The app's id: 2–64 of `a-z 0-9 -`, starting with a letter.
    /// It names the app in URLs (`/apps/{id}/…`) and never changes.
    pub id: String,
    /// Required. Display name, 1–64 characters.
    pub name: String,
    /// Required. Semantic version, e.g. `1.2.0`.
    pub version: semver::Version,
    /// Optional, default empty. What the app does, at most 500 characters.
    #[serde(default)]
    pub description: String,
    /// Required. Who publishes the app, 1–100 characters.
    pub developer: String,
    /// Required. Path of the built component, relative to the manifest file.
    pub component: PathBuf,
    /// Optional, default none (deny by default). The capabilities the app
    /// needs, each with the purpose shown to operators and people:
    /// `[capabilities.storage] purpose = "…"`.
    #[serde(default)]
    pub capabilities: BTreeMap<Capability, CapabilityRequest>,
    /// Optional. Per-call and storage limits; each may only lower the host's.
    #[serde(default)]
    pub limits: ManifestLimits,
    /// Optional, default none: an app without a UI is reached only through
    /// its HTTP handler. The app's web UI, which the shell opens in a frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<UiManifest>,
}

/// The `[ui]` table: where the app's UI files are and which page opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiManifest {
    /// Required in `[ui]`. The folder of the UI's static files, relative to
    /// the manifest (and inside its folder, unless the command line names
    /// it with `--ui DIR`). Not used in a package, which carries the files.
    pub dir: PathBuf,
    /// Optional, default `index.html`. The page the frame opens, relative
    /// to `dir`; an `.html` or `.htm` file of the UI.
    #[serde(default = "default_entry")]
    pub entry: String,
    /// Optional, default none (the shell draws a letter). The app's icon,
    /// relative to `dir`; an image file of the UI.
    #[serde(default)]
    pub icon: Option<String>,
}

fn default_entry() -> String {
    "index.html".into()
}

/// Why the app asks for a capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityRequest {
    /// Required. One sentence, 1–200 characters.
    pub purpose: String,
}

/// Limits an app may set for itself (never above the host's maxima).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestLimits {
    /// Linear memory per call in MiB. Default: the host's (64 MiB); at most the host's maximum (256 MiB).
    pub memory_mib: Option<u64>,
    /// Deadline per call in milliseconds. Default: the host's (1000); at most the host's maximum (10000).
    pub deadline_ms: Option<u64>,
    /// Total storage in KiB. Default and maximum: the host's (10 MiB).
    pub storage_quota_kib: Option<u64>,
    /// Largest stored value in KiB. Default and maximum: the host's (1 MiB).
    pub storage_value_kib: Option<u64>,
}

/// The largest manifest file read (a real one is a few hundred bytes).
pub const MAX_MANIFEST_BYTES: u64 = 64 << 10;

/// A manifest that cannot be used; names the file and the field. Never
/// quotes the file's lines: a file given by mistake may be a secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{file}: {detail}")]
    Parse { file: String, detail: String },
    #[error("{file}: field `{field}`: {detail}")]
    Field {
        file: String,
        field: &'static str,
        detail: String,
    },
}

/// A TOML error as `line L, column C: message`, without the excerpt of the
/// offending line that the error's own text includes.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    let Some(before) = e.span().and_then(|s| text.get(..s.start)) else {
        return message.to_string();
    };
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}: {message}")
}

/// Checks an app id: 2–64 of `a-z 0-9 -`, starting with a letter, no `--` or
/// trailing `-`. Ids appear in URLs and storage keys, hence the tight charset.
pub fn check_app_id(id: &str) -> Result<(), String> {
    let ok_chars = id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !(2..=64).contains(&id.len())
        || !ok_chars
        || !id.starts_with(|c: char| c.is_ascii_lowercase())
        || id.ends_with('-')
        || id.contains("--")
    {
        return Err(format!(
            "`{id}` is not a valid app id: use 2–64 characters of a-z, 0-9 and single dashes, starting with a letter"
        ));
    }
    Ok(())
}

impl Manifest {
    /// Reads and validates a manifest file. The component path and the UI
    /// folder in the result are resolved against the manifest's folder.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        Manifest::load_with_text(path).map(|(manifest, _)| manifest)
    }

    /// [`Manifest::load`], also returning the file's text (what a package
    /// carries). The file must be a regular file of at most
    /// [`MAX_MANIFEST_BYTES`].
    pub fn load_with_text(path: &Path) -> Result<(Manifest, String), ManifestError> {
        let file = path.display().to_string();
        let text = read_text_bounded(path, "manifest", MAX_MANIFEST_BYTES)?;
        let mut manifest = Manifest::parse(&text, &file)?;
        let base = path.parent().unwrap_or(Path::new("."));
        manifest.component = base.join(&manifest.component);
        if let Some(ui) = &mut manifest.ui {
            ui.dir = base.join(&ui.dir);
        }
        Ok((manifest, text))
    }

    /// Parses and validates manifest text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            file: file.to_string(),
            detail: toml_error(text, &e),
        })?;
        manifest.validate(file)?;
        Ok(manifest)
    }

    fn validate(&self, file: &str) -> Result<(), ManifestError> {
        let field = |field: &'static str, detail: String| ManifestError::Field {
            file: file.to_string(),
            field,
            detail,
        };
        check_app_id(&self.id).map_err(|d| field("id", d))?;
        let text_len = |name: &'static str, value: &str, min: usize, max: usize| {
            let n = value.trim().chars().count();
            if n < min || value.chars().count() > max {
                Err(field(
                    name,
                    format!("must have {min}–{max} characters, has {n}"),
                ))
            } else {
                Ok(())
            }
        };
        text_len("name", &self.name, 1, 64)?;
        text_len("description", &self.description, 0, 500)?;
        text_len("developer", &self.developer, 1, 100)?;
        if self.component.as_os_str().is_empty() {
            return Err(field("component", "must name the built .wasm file".into()));
        }
        for (cap, req) in &self.capabilities {
            let n = req.purpose.trim().chars().count();
            if n == 0 || req.purpose.chars().count() > 200 {
                return Err(ManifestError::Field {
                    file: file.to_string(),
                    field: "capabilities",
                    detail: format!("`{cap}`: purpose must have 1–200 characters, has {n}"),
                });
            }
        }
        if let Some(ui) = &self.ui {
            if ui.dir.as_os_str().is_empty() {
                return Err(field(
                    "ui.dir",
                    "must name the folder of the UI's files".into(),
                ));
            }
            super::ui::check_path(&ui.entry).map_err(|d| field("ui.entry", d))?;
            if let Some(icon) = &ui.icon {
                super::ui::check_path(icon).map_err(|d| field("ui.icon", d))?;
            }
        }
        let positive = |name: &'static str, v: Option<u64>| match v {
            Some(0) => Err(field(name, "must be greater than 0".into())),
            _ => Ok(()),
        };
        positive("limits.memory_mib", self.limits.memory_mib)?;
        positive("limits.deadline_ms", self.limits.deadline_ms)?;
        positive("limits.storage_quota_kib", self.limits.storage_quota_kib)?;
        positive("limits.storage_value_kib", self.limits.storage_value_kib)?;
        Ok(())
    }

    /// The limits this app runs with on a host configured as `config`.
    /// A limit above the host's maximum is an error naming the field.
    pub fn effective_limits(
        &self,
        config: &HostConfig,
        file: &str,
    ) -> Result<(CallLimits, StorageLimits), ManifestError> {
        let over = |field: &'static str, asked: u64, max: u64, unit: &str| ManifestError::Field {
            file: file.to_string(),
            field,
            detail: format!("{asked} {unit} is over this host's maximum of {max} {unit}"),
        };
        let l = &self.limits;
        let memory_bytes = match l.memory_mib {
            None => config.default_memory_bytes,
            Some(m) if m.saturating_mul(1 << 20) > config.max_memory_bytes => {
                return Err(over(
                    "limits.memory_mib",
                    m,
                    config.max_memory_bytes >> 20,
                    "MiB",
                ));
            }
            Some(m) => m << 20,
        };
        let max_ms = config.max_deadline.as_millis() as u64;
        let deadline = match l.deadline_ms {
            None => config.default_deadline,
            Some(ms) if ms > max_ms => {
                return Err(over("limits.deadline_ms", ms, max_ms, "ms"));
            }
            Some(ms) => Duration::from_millis(ms),
        };
        let kib = |field: &'static str, v: Option<u64>, default: u64| match v {
            None => Ok(default),
            Some(k) if k.saturating_mul(1024) > default => {
                Err(over(field, k, default / 1024, "KiB"))
            }
            Some(k) => Ok(k * 1024),
        };
        let storage = StorageLimits {
            quota_bytes: kib(
                "limits.storage_quota_kib",
                l.storage_quota_kib,
                config.default_storage_quota_bytes,
            )?,
            value_bytes: kib(
                "limits.storage_value_kib",
                l.storage_value_kib,
                config.default_storage_value_bytes,
            )?,
        };
        Ok((
            CallLimits {
                memory_bytes,
                deadline,
            },
            storage,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_version_is_the_one_in_the_sdk_s_wit() {
        let wit = include_str!("../../../sdk/wit/platform.wit");
        let declared = wit
            .lines()
            .find_map(|l| l.strip_prefix("package superapp:platform@"))
            .map(|v| v.trim_end_matches(';'));
        assert_eq!(declared, Some(PLATFORM_VERSION));
    }

    #[test]
    fn an_import_of_another_platform_version_is_told_apart_from_an_unknown_one() {
        let now = format!("superapp:platform/wallet@{PLATFORM_VERSION}");
        assert_eq!(
            Capability::for_import(&now),
            ImportNeed::Capability(Capability::Wallet)
        );
        assert_eq!(
            Capability::for_import("superapp:platform/wallet@0.1.0"),
            ImportNeed::OtherVersion("0.1.0".into())
        );
        assert_eq!(
            Capability::for_import("superapp:platform/log"),
            ImportNeed::OtherVersion(String::new())
        );
        assert_eq!(
            Capability::for_import("acme:other/x@1.0.0"),
            ImportNeed::Unknown
        );
    }

    #[test]
    fn an_install_built_against_another_platform_version_is_refused_by_name()
    -> Result<(), ManifestError> {
        let m = Manifest::parse(GOOD, "shop.toml")?;
        let old = "superapp:platform/context@0.1.0".to_string();
        let err = crate::packages::Packages::check_imports(&m, &[old])
            .err()
            .map(|e| (e.code(), e.to_string()));
        let (code, text) = err.unwrap_or_default();
        assert_eq!(code, "unsupported-platform-version");
        assert!(text.contains("superapp:platform/context@0.1.0"), "{text}");
        assert!(
            text.contains(&format!("superapp:platform@{PLATFORM_VERSION}")),
            "{text}"
        );
        Ok(())
    }

    const GOOD: &str = r#"
id = "shop"
name = "Shop"
version = "1.2.3"
developer = "Acme"
component = "shop.wasm"
[capabilities.storage]
purpose = "Keep your cart."
[limits]
memory_mib = 32
"#;

    #[test]
    fn a_good_manifest_parses_with_its_limits() -> anyhow::Result<()> {
        let m = Manifest::parse(GOOD, "shop.toml")?;
        assert_eq!(m.version, semver::Version::new(1, 2, 3));
        assert!(m.capabilities.contains_key(&Capability::Storage));
        let (call, storage) = m.effective_limits(&HostConfig::new("/tmp/x"), "shop.toml")?;
        assert_eq!(call.memory_bytes, 32 << 20);
        assert_eq!(call.deadline, Duration::from_secs(1));
        assert_eq!(storage.quota_bytes, 10 << 20);
        Ok(())
    }

    fn err(text: &str) -> String {
        match Manifest::parse(text, "m.toml") {
            Ok(_) => "parsed".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unknown_fields_are_refused_naming_the_field_and_file() {
        let e = err(&format!("{GOOD}\ncolour = \"red\""));
        assert!(e.starts_with("m.toml:") && e.contains("colour"), "got: {e}");
        let e = err(&GOOD.replace("memory_mib", "memory_gb"));
        assert!(e.contains("memory_gb"), "got: {e}");
        let e = err(&GOOD.replace("[capabilities.storage]", "[capabilities.camera]"));
        assert!(e.contains("camera"), "got: {e}");
    }

    #[test]
    fn the_ui_table_has_defaults_and_refuses_unknown_fields() -> anyhow::Result<()> {
        assert_eq!(Manifest::parse(GOOD, "m.toml")?.ui, None);
        let m = Manifest::parse(&format!("{GOOD}[ui]\ndir = \"ui\"\n"), "m.toml")?;
        let ui = m.ui.unwrap_or_else(|| UiManifest {
            dir: "".into(),
            entry: "".into(),
            icon: Some("".into()),
        });
        assert_eq!(
            (ui.dir.as_path(), ui.entry.as_str(), ui.icon),
            (Path::new("ui"), "index.html", None)
        );
        for (table, field) in [
            ("entry = \"index.html\"", "dir"),
            ("dir = \"ui\"\ncolour = \"red\"", "colour"),
            ("dir = \"ui\"\nentry = \"../x.html\"", "ui.entry"),
            ("dir = \"ui\"\nicon = \"icon.bmp\"", "ui.icon"),
            ("dir = \"\"", "ui.dir"),
        ] {
            let e = err(&format!("{GOOD}[ui]\n{table}\n"));
            assert!(e.contains(field), "{table}: {e}");
        }
        Ok(())
    }

    #[test]
    fn bad_values_name_their_field() {
        let e = err(&GOOD.replace("1.2.3", "1.2"));
        assert!(e.contains("version"), "got: {e}");
        let e = err(&GOOD.replace("\"shop\"", "\"Shop!\""));
        assert!(e.contains("field `id`"), "got: {e}");
        let e = err(&GOOD.replace("Keep your cart.", ""));
        assert!(e.contains("purpose"), "got: {e}");
        let e = err(&GOOD.replace("memory_mib = 32", "memory_mib = 0"));
        assert!(e.contains("limits.memory_mib"), "got: {e}");
        let m = Manifest::parse(
            &GOOD.replace("memory_mib = 32", "memory_mib = 4096"),
            "m.toml",
        );
        let e = m
            .and_then(|m| m.effective_limits(&HostConfig::new("/tmp/x"), "m.toml"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("limits.memory_mib") && e.contains("maximum"),
            "got: {e}"
        );
    }
}
