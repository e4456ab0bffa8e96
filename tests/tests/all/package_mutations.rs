//! Property: no mutation of a valid signed package is ever accepted — a
//! flipped byte anywhere, a truncation, an inserted byte. Built from the real
//! `hello` component.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use std::sync::OnceLock;
use superapp_host::packages::{decode_package, encode_package};
use superapp_tests::{guest, root};

fn package() -> &'static Vec<u8> {
    static PKG: OnceLock<Vec<u8>> = OnceLock::new();
    PKG.get_or_init(|| {
        let manifest = std::fs::read_to_string(root().join("examples/hello/superapp.toml"))
            .unwrap_or_default();
        let wasm = std::fs::read(guest("hello")).unwrap_or_default();
        let key = SigningKey::from_bytes(&[42u8; 32]);
        encode_package(&manifest, &wasm, Some(&key)).unwrap_or_default()
    })
}

/// Tag, length and body (key + signature) of the signature section.
const SIGNATURE_SECTION: usize = 1 + 4 + 32 + 64;

#[test]
fn the_unmutated_package_is_accepted() {
    let p = decode_package(package());
    assert!(matches!(p, Ok(ref p) if p.signer.is_some()), "{p:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn a_flipped_byte_anywhere_is_rejected(pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let mut m = package().clone();
        let at = pos.index(m.len());
        m[at] ^= xor;
        prop_assert!(decode_package(&m).is_err(), "flip of byte {} by {:#x} accepted", at, xor);
    }

    /// Cutting exactly before the signature section leaves a well-formed
    /// *unsigned* package, which install refuses as unsigned; every other cut
    /// is malformed. Either way it is never accepted as signed.
    #[test]
    fn a_truncated_package_is_never_accepted_as_signed(cut in any::<prop::sample::Index>()) {
        let p = package();
        let len = cut.index(p.len());
        match decode_package(&p[..len]) {
            Err(_) => {}
            Ok(unsigned) => {
                prop_assert_eq!(unsigned.signer, None, "truncation to {} accepted as signed", len);
                prop_assert_eq!(len, p.len() - SIGNATURE_SECTION, "only the signature may be cut off");
            }
        }
    }

    #[test]
    fn an_inserted_byte_is_rejected(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut m = package().clone();
        let at = pos.index(m.len() + 1);
        m.insert(at, byte);
        prop_assert!(decode_package(&m).is_err(), "insertion at {} accepted", at);
    }
}
