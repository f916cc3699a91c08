//! Writing to stdout, where a reader that leaves early is normal: `rowstream export … |
//! head` stops at the next write to the closed pipe and exits with code 0 and nothing on
//! stderr ([`Closed`]), as `rg` does. (`cat`, killed by `SIGPIPE`, exits 141 in a shell;
//! Rust programs ignore `SIGPIPE`, and an export has a database query to stop and a pool
//! to close on the way out.) `rowstream serve`, which writes nothing to stdout once its
//! banner is out, watches a piped stdout ([`closed`]) and shuts down when the reader
//! leaves, so `rowstream serve | head -2` ends too. Depends on nothing else of the crate.

use std::fmt;
use std::io::{ErrorKind, Write as _};

/// A write to stdout found its reader gone (`EPIPE`): the command stops, and the process
/// exits with code 0 and without a word ([`crate::cli::finish`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout was closed by its reader")
    }
}

impl std::error::Error for Closed {}

/// The error a failed write to stdout ends a command with: [`Closed`] for a broken pipe,
/// else the I/O error under "cannot write to stdout".
pub fn write_error(err: std::io::Error) -> anyhow::Error {
    if err.kind() == ErrorKind::BrokenPipe {
        anyhow::Error::new(Closed)
    } else {
        anyhow::Error::new(err).context("cannot write to stdout")
    }
}

/// Writes `text` and a newline to stdout.
///
/// # Errors
///
/// As [`write_error`]: [`Closed`] if the reader has gone.
pub fn line(text: impl fmt::Display) -> anyhow::Result<()> {
    writeln!(std::io::stdout().lock(), "{text}").map_err(write_error)
}

/// Completes when stdout is a pipe whose reader has gone (`rowstream serve | head -2`,
/// once `head` has its lines); never when stdout is a terminal, a file, a socket or
/// anything else, nor where pipes cannot be watched.
pub async fn closed() {
    #[cfg(unix)]
    if let Some(pipe) = watch_pipe() {
        // The write end of a pipe without readers reports an error (`EPOLLERR`).
        if pipe.ready(tokio::io::Interest::ERROR).await.is_ok() {
            return;
        }
    }
    std::future::pending::<()>().await;
}

/// A copy of stdout registered for its error events, if stdout is a pipe.
#[cfg(unix)]
fn watch_pipe() -> Option<tokio::io::unix::AsyncFd<std::fs::File>> {
    use std::os::fd::AsFd as _;
    use std::os::unix::fs::FileTypeExt as _;

    let file = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned().ok()?);
    if !file.metadata().ok()?.file_type().is_fifo() {
        return None;
    }
    // Deprecated because an arbitrary `AsRawFd` may hand out another descriptor later
    // (tokio#8587); a `File` owns its descriptor and always returns that one. The
    // replacement, `register_with_interest`, is `unsafe`, which this crate forbids.
    #[allow(deprecated)]
    tokio::io::unix::AsyncFd::with_interest(file, tokio::io::Interest::ERROR).ok()
}

/// Whether `err` is, or was caused by, [`Closed`].
pub fn is_closed(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| cause.is::<Closed>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_closed_other_errors_are_not() {
        let closed = write_error(std::io::Error::from(ErrorKind::BrokenPipe));
        assert!(is_closed(&closed));
        assert!(is_closed(&closed.context("while exporting")));
        let full = write_error(std::io::Error::from(ErrorKind::StorageFull));
        assert!(!is_closed(&full));
        assert!(
            format!("{full:#}").starts_with("cannot write to stdout: "),
            "{full:#}"
        );
    }
}
