//! Guest stdout/stderr: captured per call (bounded, excess dropped) and then
//! written to tracing tagged with the app id. The guest never sees the host's
//! own streams.

use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// A bounded in-memory sink for one guest stream.
#[derive(Clone)]
pub struct GuestOutput {
    buf: Arc<Mutex<Vec<u8>>>,
    cap: usize,
}

impl GuestOutput {
    pub fn new(cap: usize) -> Self {
        GuestOutput {
            buf: Arc::new(Mutex::new(Vec::new())),
            cap,
        }
    }

    fn push(&self, bytes: &[u8]) {
        if let Ok(mut buf) = self.buf.lock() {
            let room = self.cap.saturating_sub(buf.len());
            buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
    }

    /// Everything captured so far, as text.
    pub fn text(&self) -> String {
        self.buf
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Writes the captured lines to tracing, at most `max_lines` of them
    /// and then one line counting the rest (64 KiB of one-byte lines would
    /// otherwise be 32,768 log lines from one call). Returns how many
    /// lines it wrote.
    pub fn emit(&self, app: &str, stream: &'static str, max_lines: usize) -> usize {
        let text = self.text();
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let mut written = 0;
        for line in lines.by_ref().take(max_lines) {
            tracing::info!(target: "superapp::guest", app, stream, "{line}");
            written += 1;
        }
        let dropped = lines.count();
        if dropped > 0 {
            tracing::warn!(target: "superapp::guest", app, stream, dropped, "further output lines of this call dropped");
            written += 1;
        }
        written
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        // Always accept: past the cap bytes are dropped, so a chatty guest
        // loses log lines instead of failing its call.
        Ok(64 << 10)
    }
}

#[async_trait::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_short_lines_reaches_the_log_as_a_bounded_number_of_lines() {
        let out = GuestOutput::new(64 << 10);
        out.push(&b"x\n".repeat(100_000));
        assert_eq!(out.text().len(), 64 << 10, "captured output is capped");
        // 256 lines and one that counts what was dropped.
        assert_eq!(out.emit("flooder", "stdout", 256), 257);
        let quiet = GuestOutput::new(64 << 10);
        quiet.push(b"one\ntwo\n");
        assert_eq!(quiet.emit("calm", "stdout", 256), 2);
    }
}
