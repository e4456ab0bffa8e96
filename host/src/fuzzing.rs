//! The harnesses of the host's fuzz targets (`fuzz/fuzz_targets/`): one
//! function per target, which the fuzzer calls with its inputs and the
//! tests below call with every saved input under `fuzz/corpus/<target>/`,
//! so `cargo test` replays the corpora without a sanitizer build. Built
//! only for tests and with the `fuzzing` feature.

/// `package`: any bytes yield a package or a typed error, never a panic.
pub fn package(data: &[u8]) {
    let _ = crate::packages::decode_package(data);
}

/// `manifest`: any text yields a manifest or a typed error, never a panic.
pub fn manifest(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::packages::Manifest::parse(text, "fuzz.toml");
    }
}

/// `ledger`: the bytes decode to a sequence of wallet operations, run
/// through the real ledger and the reference model (`wallet::model`).
pub fn ledger(data: &[u8]) {
    crate::wallet::model::run(data)
}

#[cfg(test)]
#[allow(clippy::panic)]
mod replay {
    use std::path::PathBuf;

    /// Every saved input of `target`, with its file name.
    fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|e| e.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display())))
            .filter(|e| e.path().is_file())
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let data = std::fs::read(e.path())
                    .unwrap_or_else(|err| panic!("cannot read {name}: {err}"));
                (name, data)
            })
            .collect();
        assert!(!files.is_empty(), "no saved inputs in {}", dir.display());
        files.sort();
        files
    }

    /// Runs `harness` on every saved input, naming the one that fails.
    fn replay(target: &str, harness: fn(&[u8])) {
        for (name, data) in corpus(target) {
            if std::panic::catch_unwind(|| harness(&data)).is_err() {
                panic!("fuzz/corpus/{target}/{name} fails the {target} harness");
            }
        }
    }

    #[test]
    fn every_saved_package_input_decodes_or_is_refused() {
        replay("package", super::package);
    }

    #[test]
    fn every_saved_manifest_input_parses_or_is_refused() {
        replay("manifest", super::manifest);
    }

    #[test]
    fn every_saved_ledger_input_matches_the_reference_model() {
        replay("ledger", super::ledger);
    }
}
