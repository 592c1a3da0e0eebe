//! The application's runtime: where calls are answered and every database connection lives.
//!
//! Connections, and the response streams they write, run on a network runtime of their own
//! (`server::runtimes`): one commit wakes thousands of watcher streams, and on the runtime
//! that answers calls each database statement a call waits on would queue behind them. A
//! database connection is driven by the runtime that opened it, and a connection opened
//! from the busy network runtime would be slow for every call that uses it later, so a
//! response stream that reads the database is polled here ([`AppRuntime::stream`]), or, a
//! watcher's, runs each read here ([`AppRuntime::run`]): thousands of watchers each with a
//! task of its own would cost more than their rare reads.

use std::future::Future;

use futures::{Stream, StreamExt};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

/// A handle on the application's runtime.
#[derive(Clone, Debug)]
pub struct AppRuntime(Handle);

impl AppRuntime {
    /// The runtime this is called on. Handlers run on the application's runtime, so a
    /// handler that makes a response stream takes it here.
    pub fn current() -> AppRuntime {
        AppRuntime(Handle::current())
    }

    /// Runs `work` on the application's runtime and waits for it; dropping the wait drops
    /// the work there too.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> T {
        match AbortOnDropHandle::new(self.0.spawn(work)).await {
            Ok(done) => done,
            // Work that panicked panics here, where it would have without the hop.
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // The runtime is stopping, and the process with it.
            Err(_) => std::future::pending().await,
        }
    }

    /// `stream` polled on the application's runtime, its items handed over one at a time;
    /// dropping the returned stream stops it there. A stream that panics panics here when
    /// read, so that its reader sees it broken, never cleanly ended.
    pub fn stream<T: Send + 'static>(
        &self,
        stream: impl Stream<Item = T> + Send + 'static,
    ) -> impl Stream<Item = T> + Send + 'static {
        let (items, handed) = mpsc::channel(1);
        let polling = AbortOnDropHandle::new(self.0.spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                if items.send(item).await.is_err() {
                    break;
                }
            }
        }));
        futures::stream::unfold((handed, polling), |(mut handed, polling)| async move {
            match handed.recv().await {
                Some(item) => Some((item, (handed, polling))),
                None => match polling.await {
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    _ => None,
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;

    use super::*;

    /// A runtime like the network one, whose threads say so.
    fn network() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("network")
            .enable_all()
            .build()
            .unwrap()
    }

    fn thread() -> String {
        std::thread::current().name().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn streams_and_work_run_on_the_application_runtime_when_read_elsewhere() {
        let app = AppRuntime::current();
        let network = network();
        let stream = app.stream(futures::stream::iter(0..3).then(|i| async move { (i, thread()) }));
        let worker = app.clone();
        let read = network.spawn(async move {
            let items: Vec<(i32, String)> = stream.collect().await;
            let ran = worker.run(async { thread() }).await;
            (items, ran, thread())
        });
        let (items, ran, reader) = read.await.unwrap();
        assert_eq!(reader, "network");
        assert_eq!(items.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(items.iter().all(|(_, on)| *on != "network"), "{items:?}");
        assert_ne!(ran, "network");
        network.shutdown_background();
    }

    #[tokio::test]
    async fn a_stream_that_panics_panics_its_reader_instead_of_ending() {
        let failing =
            futures::stream::iter([1, 2]).map(|i| if i == 2 { panic!("broken") } else { i });
        let stream = AppRuntime::current().stream(failing);
        let read = tokio::spawn(stream.collect::<Vec<i32>>()).await;
        assert!(read.is_err_and(|e| e.is_panic()));
    }

    #[tokio::test]
    async fn dropping_a_stream_stops_it_on_the_application_runtime() {
        let (alive, stopped) = tokio::sync::oneshot::channel::<()>();
        let endless = futures::stream::unfold(alive, |alive| async move { Some((1, alive)) });
        let mut stream = Box::pin(AppRuntime::current().stream(endless));
        assert_eq!(stream.next().await, Some(1));
        drop(stream);
        let closed = tokio::time::timeout(Duration::from_secs(5), stopped).await;
        assert!(
            matches!(closed, Ok(Err(_))),
            "the stream still runs: {closed:?}"
        );
    }
}
