//! The `superapp` command line as a binary of this test crate, so tests can
//! run a real server process (and `kill -9` it) through
//! `CARGO_BIN_EXE_superapp-under-test`.

fn main() -> std::process::ExitCode {
    superapp_host::cli::log_to_stderr();
    superapp_host::cli::run(
        std::env::args_os(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
}
