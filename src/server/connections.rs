//! Client connections: at most `--max-connections` open at once (one more is closed as it
//! comes, so its client fails fast and may try another instance, instead of waiting in the
//! kernel's backlog), and one from which nothing arrives for `--idle-timeout` is closed. A
//! live client answers the server's HTTP/2 keepalive pings, so only silent or dead peers
//! (a half-open socket, a client that never speaks HTTP/2) are cut. What a connection writes
//! is gathered into few system calls ([`WriteBehind`]).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

use super::write_behind::WriteBehind;
use crate::metrics::{Connection, Metrics};

/// The limits on connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max: usize,
    /// `None`: never closed for being idle.
    pub idle: Option<Duration>,
}

/// The connections `incoming` accepts, within `limits`.
pub fn limited(
    incoming: TcpIncoming,
    limits: Limits,
    metrics: Arc<Metrics>,
) -> impl Stream<Item = io::Result<Guarded>> {
    let open = Arc::new(Semaphore::new(limits.max.max(1)));
    incoming.filter_map(move |accepted| {
        let taken = match &accepted {
            Ok(_) => open.clone().try_acquire_owned().ok(),
            Err(_) => None,
        };
        let metrics = metrics.clone();
        async move {
            let stream = match accepted {
                Ok(stream) => stream,
                Err(error) => return Some(Err(error)),
            };
            let Some(permit) = taken else {
                metrics.connection_refused();
                tracing::debug!("closing a connection: --max-connections are open");
                return None;
            };
            let info = stream.connect_info();
            let (reader, writer) = stream.into_split();
            Some(Ok(Guarded {
                info,
                reader,
                writer: WriteBehind::new(writer),
                _permit: permit,
                _counted: metrics.connection(),
                idle: limits.idle.map(|idle| Idle {
                    after: idle,
                    last_read: Instant::now(),
                    timer: Box::pin(tokio::time::sleep(idle)),
                    metrics,
                }),
            }))
        }
    })
}

/// An accepted connection, holding its place among the open ones until it closes.
pub struct Guarded {
    info: TcpConnectInfo,
    reader: OwnedReadHalf,
    writer: WriteBehind,
    _permit: OwnedSemaphorePermit,
    _counted: Connection,
    idle: Option<Idle>,
}

/// When a connection last read something, and the timer that closes it once it has read
/// nothing for `after`.
struct Idle {
    after: Duration,
    last_read: Instant,
    timer: Pin<Box<Sleep>>,
    metrics: Arc<Metrics>,
}

impl Idle {
    /// Whether the connection has been silent too long; else the timer is set for when it
    /// would be. Reads only note their time: the timer is moved when it fires.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let due = self.last_read + self.after;
            if Instant::now() >= due {
                self.metrics.connection_idle();
                return true;
            }
            self.timer.as_mut().reset(due);
        }
    }
}

impl Connected for Guarded {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.reader).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if let Some(idle) = &mut this.idle
                    && buf.filled().len() > before
                {
                    idle.last_read = Instant::now();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                if this.idle.as_mut().is_some_and(|idle| idle.expired(cx)) {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "nothing arrived for --idle-timeout",
                    )));
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.writer.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_shutdown(cx)
    }
}
