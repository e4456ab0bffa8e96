//! The OpenAPI schemas of the service types the API sends or takes as they
//! are (a user, a grant, a launch token's claims…). The services own those
//! types and their serde shape and know nothing of OpenAPI; these mirrors
//! describe that shape for the document, and the test below fails when a
//! mirror and its type disagree on a field or a value.

// Each mirror has the name of the type it describes, so the document's
// component names stay what they were.
#![allow(dead_code)]

use utoipa::ToSchema;

/// A user as operators and the person themselves see them (no hash).
#[derive(ToSchema)]
pub struct UserView {
    pub handle: String,
    pub display_name: String,
    /// When the account was made (RFC 3339).
    pub created_at: String,
    /// Whether the operator verified the person's real name.
    pub verified: bool,
    /// `YYYY-MM-DD`, if verified.
    pub birth_date: Option<String>,
    /// Whether the person is under 18; none when not verified.
    pub is_minor: Option<bool>,
}

/// A session as its owner sees it in an export (never the token).
#[derive(ToSchema)]
pub struct SessionInfo {
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
}

/// A person's standing decision.
#[derive(ToSchema)]
#[schema(rename_all = "kebab-case")]
pub enum GrantState {
    Granted,
    Denied,
}

/// What the person asks for.
#[derive(ToSchema)]
#[schema(rename_all = "kebab-case")]
pub enum Decision {
    /// Let the app use the scope.
    Grant,
    /// Refuse it; the app is told so and should not ask again.
    Deny,
    /// Withdraw any decision: back to undecided.
    Revoke,
}

/// How a capability call ended.
#[derive(ToSchema)]
#[schema(rename_all = "kebab-case")]
pub enum AccessOutcome {
    /// The host answered with the person's data (or wrote it).
    Allowed,
    /// The host refused (no grant, or not declared).
    Denied,
    /// The host failed or the request was invalid.
    Failed,
}

/// One public key in the JWKS (RFC 8037: OKP, Ed25519).
#[derive(ToSchema)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[schema(rename = "use")]
    pub use_: String,
}

/// The claims of a launch token.
#[derive(ToSchema)]
pub struct LaunchClaims {
    /// The host's public URL.
    pub iss: String,
    /// The app id.
    pub aud: String,
    /// The person's open id in this app.
    pub sub: String,
    /// The person's union id for this app's developer.
    pub union_id: String,
    pub scene: String,
    pub path: String,
    pub iat: i64,
    pub exp: i64,
    /// A unique token id, for replay checks.
    pub jti: String,
}

/// The developer key an app id is bound to. Set by the app's first signed
/// install and changed only by the operator (`apps rekey`); it outlives a
/// removal that keeps the app's data (that data is the developer's users'),
/// and is forgotten only with the data (`--purge-data`).
#[derive(ToSchema)]
pub struct KeyBinding {
    /// The key every signed package for this id must be signed with
    /// (`ed25519:…`).
    pub key: String,
    /// Unix seconds: the first signed install, or the rekey that set it.
    pub bound_at: u64,
    /// The keys it was bound to before, oldest first.
    #[schema(required = false)]
    pub earlier: Vec<EarlierKey>,
}

/// A key an app was bound to before a rekey.
#[derive(ToSchema)]
pub struct EarlierKey {
    pub key: String,
    /// Unix seconds: when the rekey replaced it.
    pub until: u64,
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use crate::identity::{
        AccessOutcome, Decision, GrantState, Jwk, LaunchClaims, SessionInfo, UserView,
    };
    use crate::packages::{EarlierKey, KeyBinding};
    use serde::Serialize;
    use serde_json::{Value, json};
    use std::collections::BTreeSet;

    fn schema<T: utoipa::PartialSchema>() -> Value {
        serde_json::to_value(T::schema()).unwrap_or_default()
    }

    /// The fields a mirror documents, and which of them it requires.
    fn documented(schema: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
        let props = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let required = schema["required"].as_array().cloned().unwrap_or_default();
        (
            props.keys().cloned().collect(),
            required
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
        )
    }

    /// `value` serialised: every field name, and the ones that are not null.
    fn sent(value: impl Serialize) -> (BTreeSet<String>, BTreeSet<String>) {
        let v = serde_json::to_value(value).unwrap_or_default();
        let fields = v.as_object().cloned().unwrap_or_default();
        (
            fields.keys().cloned().collect(),
            fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k.clone())
                .collect(),
        )
    }

    fn same_fields<T: utoipa::PartialSchema>(value: impl Serialize, what: &str) {
        let (doc_fields, required) = documented(&schema::<T>());
        let (fields, present) = sent(value);
        assert_eq!(
            doc_fields, fields,
            "{what}: documented fields vs sent fields"
        );
        assert!(
            required.is_subset(&present),
            "{what}: required {required:?} but sent {present:?}"
        );
    }

    fn same_values<T: utoipa::PartialSchema>(values: Vec<Value>, what: &str) {
        let text = |v: &Value| v.to_string();
        let doc: BTreeSet<String> = schema::<T>()["enum"]
            .as_array()
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default();
        let sent: BTreeSet<String> = values.iter().map(text).collect();
        assert!(!sent.is_empty(), "{what}: no values");
        assert_eq!(doc, sent, "{what}: documented values");
    }

    fn s(v: impl Serialize) -> Value {
        serde_json::to_value(v).unwrap_or_default()
    }

    // Each match names every variant, so a new one fails to compile here
    // until it is added to the list the test compares.
    fn grant_states() -> Vec<Value> {
        [GrantState::Granted, GrantState::Denied]
            .map(|g| match g {
                GrantState::Granted | GrantState::Denied => s(g),
            })
            .to_vec()
    }

    fn decisions() -> Vec<Value> {
        [Decision::Grant, Decision::Deny, Decision::Revoke]
            .map(|d| match d {
                Decision::Grant | Decision::Deny | Decision::Revoke => s(d),
            })
            .to_vec()
    }

    fn outcomes() -> Vec<Value> {
        [
            AccessOutcome::Allowed,
            AccessOutcome::Denied,
            AccessOutcome::Failed,
        ]
        .map(|o| match o {
            AccessOutcome::Allowed | AccessOutcome::Denied | AccessOutcome::Failed => s(o),
        })
        .to_vec()
    }

    #[test]
    fn each_mirror_documents_exactly_what_its_type_sends() {
        let user: UserView = serde_json::from_value(json!({
            "handle": "ann", "display_name": "Ann", "created_at": "2026-01-01T00:00:00Z",
            "verified": true, "birth_date": "1990-01-01", "is_minor": false
        }))
        .unwrap_or_else(|e| panic!("user: {e}"));
        same_fields::<super::UserView>(&user, "UserView");
        let session = SessionInfo {
            created_at: "a".into(),
            expires_at: "b".into(),
            revoked_at: Some("c".into()),
        };
        same_fields::<super::SessionInfo>(&session, "SessionInfo");
        let jwk: Jwk = serde_json::from_value(json!({
            "kty": "OKP", "crv": "Ed25519", "x": "k", "kid": "i", "alg": "EdDSA", "use": "sig"
        }))
        .unwrap_or_else(|e| panic!("jwk: {e}"));
        same_fields::<super::Jwk>(&jwk, "Jwk");
        let claims = LaunchClaims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "s".into(),
            union_id: "u".into(),
            scene: "c".into(),
            path: "/".into(),
            iat: 1,
            exp: 2,
            jti: "j".into(),
        };
        same_fields::<super::LaunchClaims>(&claims, "LaunchClaims");
        let earlier = EarlierKey {
            key: "k".into(),
            until: 1,
        };
        same_fields::<super::EarlierKey>(&earlier, "EarlierKey");
        let binding = KeyBinding {
            key: "k".into(),
            bound_at: 1,
            earlier: vec![earlier],
        };
        same_fields::<super::KeyBinding>(&binding, "KeyBinding");

        same_values::<super::GrantState>(grant_states(), "GrantState");
        same_values::<super::Decision>(decisions(), "Decision");
        same_values::<super::AccessOutcome>(outcomes(), "AccessOutcome");
    }
}
