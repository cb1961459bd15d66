//! The tool's stdout and stderr: streamed live, capped together by `maxOutputBytes`.

use std::io::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Where one stream goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// The host's stdout.
    Stdout,
    /// The host's stderr.
    Stderr,
    /// A buffer the caller reads after the run.
    Capture(Arc<Mutex<Vec<u8>>>),
    /// A pipe the caller reads while the tool runs: a tool that writes faster than the
    /// caller reads waits (back-pressure); a caller that stops reading makes its writes fail.
    Stream(Arc<Mutex<tokio::io::DuplexStream>>),
}

/// The budget stdout and stderr share.
#[derive(Debug, Default)]
pub struct Budget {
    state: Mutex<BudgetState>,
}

#[derive(Debug, Default)]
struct BudgetState {
    limit: Option<u64>,
    used: u64,
    discarded: u64,
}

impl Budget {
    /// A budget of `limit` bytes (`None`: unlimited).
    pub fn new(limit: Option<u64>) -> Arc<Self> {
        Arc::new(Self { state: Mutex::new(BudgetState { limit, used: 0, discarded: 0 }) })
    }

    /// How many of `n` bytes may still pass; the rest is counted as discarded.
    fn take(&self, n: usize) -> usize {
        let mut s = match self.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let n64 = n as u64;
        let allowed = match s.limit {
            None => n64,
            Some(limit) => n64.min(limit.saturating_sub(s.used)),
        };
        s.used += allowed;
        s.discarded += n64 - allowed;
        allowed as usize
    }

    /// Reserves as many of `n` bytes as fit under the cap (charged now, under one lock, so
    /// stdout and stderr writing at once cannot both take the last room).
    fn reserve(&self, n: usize) -> usize {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let room = match s.limit {
            None => n,
            Some(limit) => (n as u64).min(limit.saturating_sub(s.used)) as usize,
        };
        s.used += room as u64;
        room
    }

    /// Gives back `unused` reserved bytes and counts `dropped` as discarded.
    fn settle(&self, unused: usize, dropped: usize) {
        let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        s.used -= unused as u64;
        s.discarded += dropped as u64;
    }

    /// Bytes dropped because the cap was reached.
    pub fn discarded(&self) -> u64 {
        match self.state.lock() {
            Ok(s) => s.discarded,
            Err(p) => p.into_inner().discarded,
        }
    }
}

/// One of the tool's output streams.
#[derive(Debug, Clone)]
pub struct Sink {
    target: Target,
    budget: Arc<Budget>,
}

impl Sink {
    /// A stream to `target`, counted against `budget`.
    pub fn new(target: Target, budget: Arc<Budget>) -> Self {
        Self { target, budget }
    }

    fn write_now(&self, buf: &[u8]) -> std::io::Result<()> {
        let n = self.budget.take(buf.len());
        let buf = &buf[..n];
        if buf.is_empty() {
            return Ok(());
        }
        match &self.target {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(buf)?;
                out.flush()
            }
            Target::Stderr => {
                let mut err = std::io::stderr().lock();
                err.write_all(buf)?;
                err.flush()
            }
            Target::Capture(v) => {
                match v.lock() {
                    Ok(mut v) => v.extend_from_slice(buf),
                    Err(p) => p.into_inner().extend_from_slice(buf),
                }
                Ok(())
            }
            // Written by `poll_write` (it may have to wait).
            Target::Stream(_) => Ok(()),
        }
    }

    /// A write to a stream target: what fits under the cap goes into the pipe when it has
    /// room (else the tool waits); what is past the cap is dropped and counted.
    fn poll_stream(
        &self,
        pipe: &Mutex<tokio::io::DuplexStream>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let room = self.budget.reserve(buf.len());
        if room == 0 {
            self.budget.settle(0, buf.len());
            return Poll::Ready(Ok(buf.len()));
        }
        let mut pipe = pipe.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match Pin::new(&mut *pipe).poll_write(cx, &buf[..room]) {
            Poll::Ready(Ok(n)) if n == room => {
                self.budget.settle(0, buf.len() - room);
                Poll::Ready(Ok(buf.len()))
            }
            Poll::Ready(Ok(n)) => {
                self.budget.settle(room - n, 0);
                Poll::Ready(Ok(n))
            }
            other => {
                self.budget.settle(room, 0);
                other
            }
        }
    }
}

impl IsTerminal for Sink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Sink {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for Sink {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if let Target::Stream(pipe) = &self.target {
            return self.poll_stream(pipe, cx, buf);
        }
        // Written through at once, so output streams live; bytes past the cap are dropped
        // (and counted) while the tool keeps running.
        match self.write_now(buf) {
            Ok(()) => Poll::Ready(Ok(buf.len())),
            // The reader went away (for example a closed pipe): the tool sees the error.
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // A stream ends when the run does (the last handle to its pipe is dropped), not when
        // one of the guest's handles to stdout is closed.
        Poll::Ready(Ok(()))
    }
}
