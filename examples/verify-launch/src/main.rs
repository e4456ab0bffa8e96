//! `verify-launch --host http://127.0.0.1:8080 --app shop`: serves
//! `POST /session` for one app's backend (see the crate docs).

use clap::Parser;
use std::sync::Arc;
use verify_launch::{Verifier, router};

/// A mini-app backend that trades launch tokens for open ids.
#[derive(Parser)]
struct Args {
    /// The Superapp host's public URL (the tokens' issuer).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    host: String,
    /// The app whose tokens this backend accepts.
    #[arg(long)]
    app: String,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let verifier = Arc::new(Verifier::new(&args.host, &args.app));
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    println!(
        "verifying {} launch tokens from {} on http://{}/session",
        args.app, args.host, args.listen
    );
    axum::serve(listener, router(verifier)).await
}
