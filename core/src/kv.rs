//! What an app's storage key may be, and how many keys one list call
//! returns: one rule for the host's storage and the SDK's mock host.

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// Most keys one list call returns.
pub const MAX_LIST_LIMIT: u32 = 1000;
/// Keys one list call returns when the caller passes 0.
pub const DEFAULT_LIST_LIMIT: u32 = 100;

/// Whether `key` may name a stored value; the error says what is wrong.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("a key cannot be empty".into());
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "a key is at most {MAX_KEY_BYTES} bytes, this one has {}",
            key.len()
        ));
    }
    if key.chars().any(char::is_control) {
        return Err("a key cannot contain control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_non_empty_bounded_and_free_of_control_characters() {
        let why = |key: &str| check_key(key).err().unwrap_or_default();
        assert!(check_key("cart:ann").is_ok());
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert_eq!(why(""), "a key cannot be empty");
        assert!(why(&"k".repeat(MAX_KEY_BYTES + 1)).contains("at most 512 bytes"));
        assert!(why("a\nb").contains("control"));
    }
}
