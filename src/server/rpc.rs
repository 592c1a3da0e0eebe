//! What every RPC passes through at the edge: a request id, a span naming the method and the
//! peer, the deadline, and, when the call ends, one log line and its metrics, with the
//! whole duration (for a stream, until its last message).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::telemetry;

use crate::metrics::{Metrics, RpcLabels};

/// The header a caller may set to name its request in our logs; we answer with it, or with
/// the one we made up.
const REQUEST_ID: &str = "x-request-id";

/// How much sooner than the caller's deadline a call is answered DEADLINE_EXCEEDED: more
/// than the timer's 1 ms ticks, so that tonic's own timer never fires first.
const AHEAD_OF_TONIC: Duration = Duration::from_millis(5);

/// Longest request id taken from a caller; a longer one is replaced.
const MAX_REQUEST_ID: usize = 64;

#[derive(Clone)]
pub struct RpcLayer {
    /// `--request-timeout`: the longest a handler may run, whatever the caller's deadline.
    pub limit: Duration,
    pub metrics: Arc<Metrics>,
    pub in_flight: Arc<InFlight>,
}

/// What is in progress, for a shutdown to wait for: handlers still working, and replies
/// (streams above all) still being sent.
#[derive(Debug, Default)]
pub struct InFlight {
    handlers: AtomicUsize,
    replies: AtomicUsize,
}

/// How long a shutdown gives replies and streams, once no handler works any more, to reach
/// their callers: enough for one that reads, while a caller that has stopped reading its
/// stream would hold the server for the whole grace period.
const REPLY_DRAIN: Duration = Duration::from_secs(1);

impl InFlight {
    /// Returns when a shutdown should stop waiting for its connections to close by
    /// themselves: when handlers are still at work at the end of `grace`; [`REPLY_DRAIN`]
    /// after the last handler when callers leave replies unread; else at the end of `grace`,
    /// if a connection is still open then. Says what it gave up on.
    pub async fn settle(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        loop {
            idle(&self.handlers, deadline).await;
            let handlers = self.handlers.load(Ordering::Acquire);
            if handlers > 0 {
                tracing::warn!(
                    ?grace,
                    handlers,
                    "calls still in progress after the grace period; stopping anyway"
                );
                return;
            }
            let drained = (Instant::now() + REPLY_DRAIN).min(deadline);
            while self.replies.load(Ordering::Acquire) > 0
                && self.handlers.load(Ordering::Acquire) == 0
                && Instant::now() < drained
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // A call that came in meanwhile (before the connection heard of the shutdown)
            // is waited for like the others.
            if self.handlers.load(Ordering::Acquire) > 0 {
                continue;
            }
            let replies = self.replies.load(Ordering::Acquire);
            if replies > 0 {
                tracing::info!(
                    replies,
                    "callers are not reading their replies or streams; stopping without them"
                );
                return;
            }
            break;
        }
        tokio::time::sleep_until(deadline.into()).await;
        tracing::warn!(
            ?grace,
            "connections still open after the grace period; stopping anyway"
        );
    }
}

/// Waits until nothing is `busy`, or until `deadline`.
async fn idle(busy: &AtomicUsize, deadline: Instant) {
    while busy.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Counts one unit of work in progress until dropped.
struct Busy(Arc<InFlight>, fn(&InFlight) -> &AtomicUsize);

impl Busy {
    fn new(in_flight: &Arc<InFlight>, which: fn(&InFlight) -> &AtomicUsize) -> Busy {
        which(in_flight).fetch_add(1, Ordering::AcqRel);
        Busy(in_flight.clone(), which)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        (self.1)(&self.0).fetch_sub(1, Ordering::AcqRel);
    }
}

impl<S> Layer<S> for RpcLayer {
    type Service = Rpc<S>;

    fn layer(&self, inner: S) -> Rpc<S> {
        Rpc {
            inner,
            limit: self.limit,
            metrics: self.metrics.clone(),
            in_flight: self.in_flight.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Rpc<S> {
    inner: S,
    limit: Duration,
    metrics: Arc<Metrics>,
    in_flight: Arc<InFlight>,
}

impl<S, B> Service<http::Request<B>> for Rpc<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<Observed>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = request.uri().path().to_owned();
        let request_id = request_id(request.headers());
        let peer = peer(request.extensions());
        // The caller is known once the authentication layer, inside this span, has found it.
        let span = tracing::info_span!(
            "rpc",
            %method,
            %peer,
            request_id = %request_id,
            caller = tracing::field::Empty
        );
        // Joins the caller's trace, when traces are exported and the caller sent one.
        let _ = span.set_parent(telemetry::caller_trace(request.headers()));
        // The handler is timed, not the stream it may answer with: a watch runs for as long
        // as its caller reads it.
        let (deadline, whose) = match grpc_timeout(request.headers()) {
            // tonic times the caller's deadline too, from a moment earlier, and would cut the
            // call as CANCELLED: answer a little before it.
            Some(timeout) if timeout < self.limit => (
                timeout.saturating_sub(AHEAD_OF_TONIC),
                "the caller's deadline",
            ),
            _ => (self.limit, "the server's --request-timeout"),
        };
        let end = RpcEnd {
            method,
            started: Instant::now(),
            span: span.clone(),
            metrics: self.metrics.clone(),
            ended: false,
        };
        let handler = Busy::new(&self.in_flight, |f| &f.handlers);
        let in_flight = self.in_flight.clone();
        let call = self.inner.call(request);
        Box::pin(
            async move {
                let answered = tokio::time::timeout(deadline, call).await;
                drop(handler);
                let reply = Busy::new(&in_flight, |f| &f.replies);
                let response = match answered {
                    Ok(response) => response?,
                    Err(_) => tonic::Status::deadline_exceeded(format!(
                        "the call ran out of time: {whose} of {deadline:?} passed"
                    ))
                    .into_http(),
                };
                let (mut parts, body) = response.into_parts();
                if let Ok(value) = HeaderValue::from_str(&request_id) {
                    parts.headers.insert(REQUEST_ID, value);
                }
                // An error comes in the headers alone; a reply ends in trailers.
                let end = match grpc_code(&parts.headers) {
                    Some(code) => {
                        end.finish(code);
                        None
                    }
                    None => Some(end),
                };
                Ok(http::Response::from_parts(
                    parts,
                    Observed {
                        body,
                        end,
                        _reply: reply,
                    },
                ))
            }
            .instrument(span),
        )
    }
}

/// The address a call came from, over TCP or TLS; `-` when unknown.
pub(super) fn peer(extensions: &http::Extensions) -> String {
    extensions
        .get::<TcpConnectInfo>()
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .map(TlsConnectInfo::get_ref)
        })
        .and_then(TcpConnectInfo::remote_addr)
        .map_or_else(|| "-".to_owned(), |addr| addr.to_string())
}

/// The caller's request id if it gave a usable one, else a new one: this process's random
/// prefix and a count, unique without a system call per request.
fn request_id(headers: &HeaderMap) -> String {
    static PREFIX: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= MAX_REQUEST_ID && v.bytes().all(|b| b.is_ascii_graphic())
        })
        .map_or_else(
            || {
                let prefix = PREFIX.get_or_init(|| getrandom::u32().unwrap_or_default());
                format!("{prefix:08x}{:08x}", COUNT.fetch_add(1, Ordering::Relaxed))
            },
            str::to_owned,
        )
}

/// The caller's deadline from its `grpc-timeout` header: up to eight digits and a unit
/// (H, M, S, m, u, n), as the gRPC HTTP/2 protocol writes it.
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

fn grpc_code(headers: &HeaderMap) -> Option<tonic::Code> {
    let value = headers.get("grpc-status")?;
    Some(tonic::Code::from_bytes(value.as_bytes()))
}

/// An RPC in progress, to be logged and counted once when it ends.
/// Ended by [`RpcEnd::finish`], or, dropped before (the caller went away while the handler
/// ran or the reply was sent), as CANCELLED.
struct RpcEnd {
    method: String,
    started: Instant,
    span: tracing::Span,
    metrics: Arc<Metrics>,
    ended: bool,
}

impl RpcEnd {
    fn finish(mut self, code: tonic::Code) {
        self.end(code);
    }

    fn end(&mut self, code: tonic::Code) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        let duration = self.started.elapsed();
        self.span.in_scope(|| log_end(code, duration));
        // Only the methods we serve get their own series: a caller inventing paths gets
        // UNIMPLEMENTED, counted under one name, and cannot grow the registry.
        let method = if code == tonic::Code::Unimplemented {
            "unknown".to_owned()
        } else {
            std::mem::take(&mut self.method)
        };
        let code = code_name(code);
        self.metrics
            .rpc_ended(&RpcLabels { method, code }, duration);
    }
}

impl Drop for RpcEnd {
    fn drop(&mut self) {
        self.end(tonic::Code::Cancelled);
    }
}

/// The code as grpcurl and the log lines name it.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "Ok",
        Cancelled => "Cancelled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

/// One line per RPC: done, cancelled by its caller, refused because of the request (the
/// caller's to fix, at INFO: not the operator's concern), refused because of the service's
/// state (WARN), or failed on our side (ERROR).
fn log_end(code: tonic::Code, duration: Duration) {
    use tonic::Code::*;
    // Microseconds are precision enough, and read (and parse, as JSON) as plain numbers.
    let ms = (duration.as_secs_f64() * 1e6).round() / 1e3;
    match code {
        Ok => tracing::info!(code = ?code, duration_ms = ms, "rpc done"),
        Cancelled => tracing::info!(code = ?code, duration_ms = ms, "rpc cancelled"),
        InvalidArgument | NotFound | AlreadyExists | FailedPrecondition | Aborted | OutOfRange
        | Unauthenticated | PermissionDenied | Unimplemented => {
            tracing::info!(code = ?code, duration_ms = ms, "rpc refused")
        }
        Unavailable | DeadlineExceeded | ResourceExhausted => {
            tracing::warn!(code = ?code, duration_ms = ms, "rpc refused")
        }
        Internal | Unknown | DataLoss => {
            tracing::error!(code = ?code, duration_ms = ms, "rpc failed")
        }
    }
}

/// A reply body that ends its RPC when its trailers pass (dropped before them, the caller
/// went away: its [`RpcEnd`] says so).
pub struct Observed {
    body: tonic::body::Body,
    end: Option<RpcEnd>,
    /// Counts the reply as in progress until it is sent or given up.
    _reply: Busy,
}

impl Body for Observed {
    type Data = <tonic::body::Body as Body>::Data;
    type Error = <tonic::body::Body as Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let frame = ready!(Pin::new(&mut self.body).poll_frame(cx));
        let code = match &frame {
            Some(Ok(frame)) => frame
                .trailers_ref()
                .map(|t| grpc_code(t).unwrap_or(tonic::Code::Unknown)),
            Some(Err(_)) => Some(tonic::Code::Internal),
            None => Some(tonic::Code::Unknown),
        };
        if let Some(code) = code
            && let Some(end) = self.end.take()
        {
            end.finish(code);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout(value: &str) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-timeout", HeaderValue::from_str(value).unwrap());
        grpc_timeout(&headers)
    }

    #[test]
    fn a_grpc_timeout_is_read_in_every_unit() {
        assert_eq!(timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(timeout("10S"), Some(Duration::from_secs(10)));
        assert_eq!(timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(
            timeout("99999999u"),
            Some(Duration::from_micros(99_999_999))
        );
        assert_eq!(timeout("5n"), Some(Duration::from_nanos(5)));
    }

    #[test]
    fn a_malformed_grpc_timeout_is_ignored() {
        for bad in ["", "S", "10", "123456789S", "1.5S", "-1S", "10s", "10 S"] {
            assert_eq!(timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_callers_request_id_is_kept_only_when_it_is_printable_and_short() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_static("crm-42"));
        assert_eq!(request_id(&headers), "crm-42");
        headers.insert(REQUEST_ID, HeaderValue::from_str(&"x".repeat(65)).unwrap());
        let made = request_id(&headers);
        assert_eq!(made.len(), 16, "{made}");
        headers.insert(REQUEST_ID, HeaderValue::from_static("has space"));
        assert_ne!(request_id(&headers), "has space");
    }
}
