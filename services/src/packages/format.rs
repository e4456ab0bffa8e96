//! The `.sapp` package format: manifest + component (+ the app's UI files)
//! in one file, signed with Ed25519 over a digest that covers every byte
//! before the signature, so neither the code, the UI nor the requested
//! capabilities can change without breaking it. Byte layout:
//! docs/package-format.md. The UI section's own rules live in `ui.rs`.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The first bytes of every package.
pub const MAGIC: &[u8; 4] = b"SAPP";
/// The format version this host reads and writes.
pub const FORMAT_VERSION: u8 = 1;
const HEADER_LEN: usize = 8;
const TAG_MANIFEST: u8 = 1;
const TAG_COMPONENT: u8 = 2;
const TAG_UI: u8 = 3;
const TAG_SIGNATURE: u8 = 0xFF;
const SIGNATURE_BODY_LEN: usize = 32 + 64;
/// Domain separation: a package signature can never be replayed as a
/// signature over anything else.
const SIGNING_CONTEXT: &[u8] = b"superapp package v1\0";

/// Why a file is not an acceptable package. Codes are stable.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PackageError {
    #[error("the file is empty")]
    Empty,
    #[error("not a Superapp package (it does not start with `SAPP`)")]
    NotAPackage,
    #[error("package format version {0} is not supported (this host reads version 1)")]
    UnsupportedVersion(u8),
    #[error("the package is truncated: {0}")]
    Truncated(String),
    #[error("the package is malformed: {0}")]
    Malformed(String),
    #[error("the package is not signed")]
    Unsigned,
    #[error(
        "the signature does not match the package contents (the package was altered or damaged)"
    )]
    BadSignature,
    #[error(
        "the package is signed by {0}, which is not a trusted developer key (add it with `superapp trust add`)"
    )]
    UnknownSigner(String),
    #[error("the {what} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
    },
}

impl PackageError {
    /// Refuses `size` bytes of `what` over `limit`.
    pub fn check_size(what: &'static str, size: usize, limit: u64) -> Result<(), PackageError> {
        match size as u64 > limit {
            true => Err(PackageError::TooLarge {
                what,
                size: size as u64,
                limit,
            }),
            false => Ok(()),
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PackageError::Empty => "empty-file",
            PackageError::NotAPackage => "not-a-package",
            PackageError::UnsupportedVersion(_) => "unsupported-package-version",
            PackageError::Truncated(_) => "truncated-package",
            PackageError::Malformed(_) => "malformed-package",
            PackageError::Unsigned => "unsigned-package",
            PackageError::BadSignature => "bad-signature",
            PackageError::UnknownSigner(_) => "unknown-signer",
            PackageError::TooLarge { .. } => "too-large",
        }
    }
}

/// A parsed package. `signer` is set only if the signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub manifest_toml: String,
    pub component: Vec<u8>,
    /// The UI section's body, unchecked (see `ui::check_ui`); None when the
    /// package has no UI.
    pub ui: Option<Vec<u8>>,
    pub signer: Option<[u8; 32]>,
}

fn push_section(out: &mut Vec<u8>, tag: u8, body: &[u8]) -> Result<(), PackageError> {
    PackageError::check_size("section", body.len(), u32::MAX as u64)?;
    let len = body.len() as u32;
    out.push(tag);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    Ok(())
}

fn digest(signed_part: &[u8]) -> Vec<u8> {
    let mut message = SIGNING_CONTEXT.to_vec();
    message.extend_from_slice(&Sha256::digest(signed_part));
    message
}

/// Builds a package without a UI; signed when `key` is given (unsigned
/// packages are only for `install --dev` through the admin API).
pub fn encode(
    manifest_toml: &str,
    component: &[u8],
    key: Option<&SigningKey>,
) -> Result<Vec<u8>, PackageError> {
    encode_with_ui(manifest_toml, component, None, key)
}

/// [`encode`], with the UI section body `ui` (`Ui::body`) if given.
pub fn encode_with_ui(
    manifest_toml: &str,
    component: &[u8],
    ui: Option<&[u8]>,
    key: Option<&SigningKey>,
) -> Result<Vec<u8>, PackageError> {
    let ui_len = ui.map_or(0, <[u8]>::len);
    let mut out = Vec::with_capacity(component.len() + ui_len + manifest_toml.len() + 128);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[FORMAT_VERSION, 0, 0, 0]);
    push_section(&mut out, TAG_MANIFEST, manifest_toml.as_bytes())?;
    push_section(&mut out, TAG_COMPONENT, component)?;
    if let Some(ui) = ui {
        push_section(&mut out, TAG_UI, ui)?;
    }
    if let Some(key) = key {
        let signature = key.sign(&digest(&out));
        let mut body = key.verifying_key().to_bytes().to_vec();
        body.extend_from_slice(&signature.to_bytes());
        push_section(&mut out, TAG_SIGNATURE, &body)?;
    }
    Ok(out)
}

/// Parses a package and verifies its signature if it has one. Every byte
/// counts: unknown tags, duplicate or missing sections, trailing bytes and
/// non-zero reserved bytes are all refused.
pub fn decode(bytes: &[u8]) -> Result<Package, PackageError> {
    if bytes.is_empty() {
        return Err(PackageError::Empty);
    }
    if bytes.len() < MAGIC.len() || &bytes[..4] != MAGIC {
        return Err(PackageError::NotAPackage);
    }
    if bytes.len() < HEADER_LEN {
        return Err(PackageError::Truncated("the header is incomplete".into()));
    }
    if bytes[4] != FORMAT_VERSION {
        return Err(PackageError::UnsupportedVersion(bytes[4]));
    }
    if bytes[5..8] != [0, 0, 0] {
        return Err(PackageError::Malformed(
            "reserved header bytes are not zero".into(),
        ));
    }
    let mut pos = HEADER_LEN;
    let mut manifest = None;
    let mut component = None;
    let mut ui = None;
    let mut signer = None;
    while pos < bytes.len() {
        let section_start = pos;
        let header = bytes
            .get(pos..pos + 5)
            .ok_or_else(|| PackageError::Truncated(format!("section header at byte {pos}")))?;
        let tag = header[0];
        let len = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
        pos += 5;
        let body = bytes.get(pos..pos + len).ok_or_else(|| {
            PackageError::Truncated(format!(
                "section {tag} at byte {section_start} needs {len} bytes, {} remain",
                bytes.len() - pos
            ))
        })?;
        pos += len;
        let dup = || PackageError::Malformed(format!("section {tag} appears twice"));
        match tag {
            TAG_MANIFEST if manifest.is_none() && component.is_none() => {
                PackageError::check_size("manifest", len, super::MAX_MANIFEST_BYTES)?;
                let text = std::str::from_utf8(body).map_err(|_| {
                    PackageError::Malformed("the manifest is not valid UTF-8".into())
                })?;
                manifest = Some(text.to_string());
            }
            TAG_COMPONENT if component.is_none() && manifest.is_some() => {
                component = Some(body.to_vec())
            }
            TAG_UI if ui.is_none() && component.is_some() => ui = Some(body.to_vec()),
            TAG_UI => {
                return Err(if ui.is_some() {
                    dup()
                } else {
                    PackageError::Malformed("the UI section must follow the component".into())
                });
            }
            TAG_SIGNATURE => {
                if len != SIGNATURE_BODY_LEN {
                    return Err(PackageError::Malformed(format!(
                        "the signature section has {len} bytes, not {SIGNATURE_BODY_LEN}"
                    )));
                }
                if pos != bytes.len() {
                    return Err(PackageError::Malformed(
                        "bytes follow the signature section".into(),
                    ));
                }
                if manifest.is_none() || component.is_none() {
                    return Err(PackageError::Malformed(
                        "the signature comes before the manifest and component".into(),
                    ));
                }
                let mut key = [0u8; 32];
                key.copy_from_slice(&body[..32]);
                let mut sig = [0u8; 64];
                sig.copy_from_slice(&body[32..]);
                let verifying =
                    VerifyingKey::from_bytes(&key).map_err(|_| PackageError::BadSignature)?;
                verifying
                    .verify_strict(
                        &digest(&bytes[..section_start]),
                        &Signature::from_bytes(&sig),
                    )
                    .map_err(|_| PackageError::BadSignature)?;
                signer = Some(key);
            }
            TAG_MANIFEST | TAG_COMPONENT => {
                return Err(
                    if tag == TAG_MANIFEST && manifest.is_some()
                        || tag == TAG_COMPONENT && component.is_some()
                    {
                        dup()
                    } else {
                        PackageError::Malformed(
                            "the manifest must come before the component".into(),
                        )
                    },
                );
            }
            other => {
                return Err(PackageError::Malformed(format!(
                    "unknown section tag {other} at byte {section_start}"
                )));
            }
        }
    }
    let manifest_toml =
        manifest.ok_or_else(|| PackageError::Truncated("no manifest section".into()))?;
    let component =
        component.ok_or_else(|| PackageError::Truncated("no component section".into()))?;
    Ok(Package {
        manifest_toml,
        component,
        ui,
        signer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn a_signed_package_round_trips_with_its_signer() -> Result<(), PackageError> {
        let bytes = encode("id = \"x\"", b"\0asm....", Some(&key()))?;
        let p = decode(&bytes)?;
        assert_eq!(p.manifest_toml, "id = \"x\"");
        assert_eq!(p.component, b"\0asm....");
        assert_eq!(p.signer, Some(key().verifying_key().to_bytes()));
        let unsigned = decode(&encode("m", b"c", None)?)?;
        assert_eq!(unsigned.signer, None);
        Ok(())
    }

    #[test]
    fn every_single_byte_flip_is_rejected() -> Result<(), PackageError> {
        let bytes = encode(
            "id = \"x\"\nname = \"X\"",
            &[1, 2, 3, 4, 5, 6],
            Some(&key()),
        )?;
        for i in 0..bytes.len() {
            let mut m = bytes.clone();
            m[i] ^= 0x01;
            match decode(&m) {
                Ok(p) if p.signer == Some(key().verifying_key().to_bytes()) => {
                    return Err(PackageError::Malformed(format!("flip at {i} accepted")));
                }
                _ => {}
            }
        }
        Ok(())
    }

    #[test]
    fn the_ui_section_is_signed_and_must_follow_the_component() -> Result<(), PackageError> {
        let bytes = encode_with_ui("m", b"c", Some(b"ui bytes"), Some(&key()))?;
        let p = decode(&bytes)?;
        assert_eq!(p.ui.as_deref(), Some(&b"ui bytes"[..]));
        assert_eq!(p.signer, Some(key().verifying_key().to_bytes()));
        assert_eq!(decode(&encode("m", b"c", None)?)?.ui, None);
        // A UI byte changed under the same signature.
        let at = bytes.len() - 96 - 5 - 3;
        let mut altered = bytes.clone();
        altered[at] ^= 1;
        assert_eq!(decode(&altered), Err(PackageError::BadSignature));
        // A UI section before the component, or twice.
        let mut early = MAGIC.to_vec();
        early.extend_from_slice(&[FORMAT_VERSION, 0, 0, 0]);
        push_section(&mut early, TAG_MANIFEST, b"m")?;
        let mut twice = early.clone();
        push_section(&mut early, TAG_UI, b"u")?;
        push_section(&mut early, TAG_COMPONENT, b"c")?;
        assert!(matches!(decode(&early), Err(PackageError::Malformed(m)) if m.contains("follow")));
        push_section(&mut twice, TAG_COMPONENT, b"c")?;
        push_section(&mut twice, TAG_UI, b"u")?;
        push_section(&mut twice, TAG_UI, b"u")?;
        assert!(matches!(decode(&twice), Err(PackageError::Malformed(m)) if m.contains("twice")));
        Ok(())
    }

    #[test]
    fn truncation_and_garbage_get_their_own_errors() -> Result<(), PackageError> {
        let bytes = encode("m", b"c", Some(&key()))?;
        assert_eq!(decode(b""), Err(PackageError::Empty));
        assert_eq!(decode(b"PK\x03\x04zip"), Err(PackageError::NotAPackage));
        assert!(matches!(
            decode(&bytes[..6]),
            Err(PackageError::Truncated(_))
        ));
        assert!(matches!(
            decode(&bytes[..bytes.len() - 1]),
            Err(PackageError::Truncated(_))
        ));
        let mut v2 = bytes.clone();
        v2[4] = 2;
        assert_eq!(decode(&v2), Err(PackageError::UnsupportedVersion(2)));
        let mut trailing = bytes;
        trailing.push(0);
        assert!(matches!(decode(&trailing), Err(PackageError::Malformed(_))));
        Ok(())
    }
}
