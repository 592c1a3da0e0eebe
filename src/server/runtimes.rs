//! Connections and calls on runtimes of their own.
//!
//! A committed event wakes the stream of every watcher, thousands of tasks at once. Were they
//! on the runtime that answers calls, a call's every step (each database statement returns
//! to it through the runtime's queue) would wait behind all of them: with 10,000 watchers a
//! single statement took over 100 ms. So connections, and the streams hyper writes, live on a
//! network runtime, and each call's handler runs on the application's runtime
//! ([`crate::runtime`]), where the queue stays short; the operating system shares the cores
//! between the two.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::runtime::{Handle, Runtime};
use tower::{Layer, Service};

use crate::runtime::AppRuntime;

/// The network runtime: stops in the background when dropped, as a runtime may not be
/// dropped where it would block.
pub struct Network(Option<Runtime>);

impl Network {
    pub fn start() -> std::io::Result<Network> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("feedbackd-net")
            .enable_all()
            .build()?;
        Ok(Network(Some(runtime)))
    }

    pub fn handle(&self) -> &Handle {
        self.0.as_ref().expect("runs until dropped").handle()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs each call's handler on `app`; a call whose caller goes away is dropped there too.
#[derive(Clone)]
pub struct OnApp {
    pub app: AppRuntime,
}

impl<S> Layer<S> for OnApp {
    type Service = OnAppService<S>;

    fn layer(&self, inner: S) -> OnAppService<S> {
        OnAppService {
            inner,
            app: self.app.clone(),
        }
    }
}

#[derive(Clone)]
pub struct OnAppService<S> {
    inner: S,
    app: AppRuntime,
}

impl<S, R> Service<R> for OnAppService<S>
where
    S: Service<R>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let (app, call) = (self.app.clone(), self.inner.call(request));
        Box::pin(async move { app.run(call).await })
    }
}
