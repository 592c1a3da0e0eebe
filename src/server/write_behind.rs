//! A connection's writes, gathered: what HTTP/2 writes goes into a buffer, and a task of the
//! connection's own hands the buffer to the socket, all of it at once.
//!
//! h2 writes every DATA frame over 256 bytes with a write of its own, and flushes after each.
//! A watched event is such a frame, one per watcher; with a thousand watchers on a connection,
//! one commit cost a thousand system calls on it. Here a frame costs a copy into the buffer,
//! and the socket gets one write for whatever gathered while the last one ran: one frame at a
//! time when the connection is quiet, many at once when it is busy.
//!
//! A flush returns once the bytes are in the buffer, which the task is already writing. The
//! buffer is bounded: past [`LIMIT`] a write waits for the socket, so a client that stops
//! reading holds the connection back as it did without the buffer. Shutting the connection
//! down writes out what is buffered first.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Bytes buffered at most before a write waits for the socket.
const LIMIT: usize = 256 * 1024;
/// A buffer larger than this is let go once written, so that a quiet connection holds little.
const KEEP: usize = 16 * 1024;

/// The writing side of a connection; its task ends when this is dropped.
pub struct WriteBehind {
    shared: Arc<Shared>,
    _stop: DropGuard,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the task: something was buffered, or the connection is shutting down.
    work: Notify,
}

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    /// A write waiting for room, or a shutdown waiting for the task.
    waiting: Option<Waker>,
    /// The socket failed: every later write fails the same way.
    failed: Option<(io::ErrorKind, String)>,
    shutting_down: bool,
    /// The task has written everything and shut the socket's writing side.
    shut: bool,
}

impl WriteBehind {
    /// Takes `socket` over; its task runs until the connection is shut down or dropped.
    pub fn new(socket: OwnedWriteHalf) -> WriteBehind {
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            work: Notify::new(),
        });
        let stop = CancellationToken::new();
        tokio::spawn(write(socket, shared.clone(), stop.clone()));
        WriteBehind {
            shared,
            _stop: stop.drop_guard(),
        }
    }

    /// Buffers `bufs` whole when there is room; else waits for the task to make some.
    fn buffer(&self, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let mut state = self.shared.state();
        if let Some(error) = state.error() {
            return Poll::Ready(Err(error));
        }
        if state.pending.len() >= LIMIT {
            state.waiting = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let was_empty = state.pending.is_empty();
        let mut written = 0;
        for buf in bufs {
            state.pending.extend_from_slice(buf);
            written += buf.len();
        }
        drop(state);
        // A task with bytes in hand loops until the buffer is empty: only the first needs it.
        if was_empty && written > 0 {
            self.shared.work.notify_one();
        }
        Poll::Ready(Ok(written))
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one still holds consistent bytes.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn error(&self) -> Option<io::Error> {
        self.failed
            .as_ref()
            .map(|(kind, message)| io::Error::new(*kind, message.clone()))
    }

    /// The socket failed: the waiting write or shutdown, and every later one, hear it.
    fn fail(&mut self, error: io::Error) {
        self.failed = Some((error.kind(), error.to_string()));
        self.wake_waiting();
    }

    fn wake_waiting(&mut self) {
        if let Some(waker) = self.waiting.take() {
            waker.wake();
        }
    }
}

/// The connection's writing task: hands the socket whatever is buffered, until shut down,
/// failed, or stopped.
async fn write(mut socket: OwnedWriteHalf, shared: Arc<Shared>, stop: CancellationToken) {
    let mut batch = Vec::new();
    loop {
        let shutting_down = {
            let mut state = shared.state();
            std::mem::swap(&mut batch, &mut state.pending);
            state.wake_waiting();
            state.shutting_down
        };
        if batch.is_empty() {
            if shutting_down {
                let shut = stop.run_until_cancelled(socket.shutdown()).await;
                let mut state = shared.state();
                state.shut = true;
                match shut {
                    Some(Err(error)) => state.fail(error),
                    _ => state.wake_waiting(),
                }
                return;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = shared.work.notified() => continue,
            }
        }
        match stop.run_until_cancelled(socket.write_all(&batch)).await {
            None => return,
            Some(Ok(())) => {
                batch.clear();
                if batch.capacity() > KEEP {
                    batch = Vec::new();
                }
            }
            Some(Err(error)) => {
                shared.state().fail(error);
                return;
            }
        }
    }
}

impl AsyncWrite for WriteBehind {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.buffer(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.buffer(cx, bufs)
    }

    /// Vectored, so that h2 hands over a large frame with its header instead of copying it
    /// into its own buffer first: it is copied once, here.
    fn is_write_vectored(&self) -> bool {
        true
    }

    /// The task is writing what is buffered; only a failure of the socket is news.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.shared.state().error() {
            Some(error) => Poll::Ready(Err(error)),
            None => Poll::Ready(Ok(())),
        }
    }

    /// Writes out what is buffered, then shuts the socket's writing side.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.shared.state();
        if state.shut {
            return Poll::Ready(state.error().map_or(Ok(()), Err));
        }
        if let Some(error) = state.error() {
            return Poll::Ready(Err(error));
        }
        state.waiting = Some(cx.waker().clone());
        if !state.shutting_down {
            state.shutting_down = true;
            drop(state);
            self.shared.work.notify_one();
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    /// A connection whose writing side is gathered, and the peer reading it.
    async fn pair() -> (WriteBehind, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let to = listener.local_addr().expect("has an address");
        let (connected, accepted) = tokio::join!(TcpStream::connect(to), listener.accept());
        let (_, writer) = connected.expect("connects").into_split();
        (WriteBehind::new(writer), accepted.expect("accepts").0)
    }

    #[tokio::test]
    async fn what_is_written_arrives_in_order_and_shutdown_writes_it_out() {
        let (mut writer, mut peer) = pair().await;
        let mut sent = Vec::new();
        for n in 0..2_000u32 {
            let frame = n.to_be_bytes().repeat(1 + n as usize % 300);
            let (head, body) = frame.split_at(frame.len() / 2);
            let bufs = [io::IoSlice::new(head), io::IoSlice::new(body)];
            let written = writer.write_vectored(&bufs).await.expect("writes");
            assert_eq!(written, frame.len(), "a write takes the whole frame");
            writer.flush().await.expect("flushes");
            sent.extend_from_slice(&frame);
        }
        writer.shutdown().await.expect("shuts down");
        let mut received = Vec::new();
        peer.read_to_end(&mut received)
            .await
            .expect("reads to the end");
        assert_eq!(received.len(), sent.len());
        assert!(received == sent, "the bytes arrive as written");
    }

    #[tokio::test]
    async fn a_peer_that_does_not_read_holds_writes_back() {
        let (mut writer, mut peer) = pair().await;
        let chunk = vec![7u8; 64 * 1024];
        let mut accepted = 0;
        // The socket's buffers and ours fill; then a write waits instead of buffering more.
        loop {
            let write =
                tokio::time::timeout(std::time::Duration::from_millis(200), writer.write(&chunk));
            match write.await {
                Ok(written) => accepted += written.expect("writes"),
                Err(_) => break,
            }
            assert!(accepted < 256 * 1024 * 1024, "writes never waited");
        }
        assert!(
            accepted >= LIMIT,
            "the buffer takes {LIMIT} bytes before waiting"
        );
        // Reading frees room, and everything accepted arrives.
        let reading = tokio::spawn(async move {
            let mut received = 0;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match peer.read(&mut buf).await.expect("reads") {
                    0 => return received,
                    n => received += n,
                }
            }
        });
        writer.write_all(&chunk).await.expect("writes once read");
        writer.shutdown().await.expect("shuts down");
        assert_eq!(reading.await.expect("reader ends"), accepted + chunk.len());
    }

    #[tokio::test]
    async fn a_closed_peer_fails_later_writes() {
        let (mut writer, peer) = pair().await;
        drop(peer);
        let chunk = vec![1u8; 16 * 1024];
        let mut failed = None;
        for _ in 0..1_000 {
            if let Err(error) = writer.write_all(&chunk).await {
                failed = Some(error);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let error = failed.expect("a write to a closed peer fails");
        assert!(
            matches!(
                error.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "{error}"
        );
        assert!(writer.flush().await.is_err(), "a flush reports it too");
    }
}
