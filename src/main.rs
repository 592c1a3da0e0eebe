//! The feedbackd binary: parse the configuration, set up logging, open the database, serve.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use feedbackd::config::{Cli, Command, Config, LogFormat};
use feedbackd::domain::clock::SystemClock;
use feedbackd::server::{self, telemetry};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Many threads allocate and free small objects all the time (messages, rows, events): glibc's
/// malloc spent a quarter of the server's CPU on it under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let traces = match init_logging(&cli.config) {
        Ok(traces) => traces,
        Err(error) => {
            eprintln!("feedbackd: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let code = match run(cli.command.unwrap_or(Command::Serve), cli.config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    };
    // Sends the spans still buffered: a blocking call, whose export needs the runtime free.
    if let Some(traces) = traces {
        let flushed = tokio::task::spawn_blocking(move || traces.shutdown()).await;
        if let Ok(Err(error)) = flushed {
            eprintln!("feedbackd: could not send the last traces: {error}");
        }
    }
    code
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    let store = server::open_store(&config).await?;
    match command {
        Command::Migrate => {
            tracing::info!(
                database = config.database_kind(),
                "database schema is up to date"
            );
            return Ok(());
        }
        Command::Keys(keys) => return server::keys::run(&config, store, keys).await,
        Command::Serve => {}
    }
    let listeners = server::Listeners::bind(&config).await?;
    let signal = shutdown_signal()?;
    server::serve(&config, store, Arc::new(SystemClock), listeners, signal).await
}

/// Logs to stderr, and traces to the OTLP collector when one is configured (its provider is
/// returned, to be shut down on exit).
fn init_logging(config: &Config) -> anyhow::Result<Option<SdkTracerProvider>> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, and not even then when NO_COLOR says so.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let logs = match config.log_format {
        LogFormat::Text => logs.boxed(),
        LogFormat::Json => logs.json().with_current_span(true).boxed(),
    };
    let provider = config
        .otlp_endpoint
        .as_deref()
        .map(telemetry::otlp_provider)
        .transpose()?;
    // RUST_LOG chooses what is logged; traces take the service's own spans whatever it says.
    let traced = Targets::new().with_target("feedbackd", Level::INFO);
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(
            provider
                .as_ref()
                .map(|p| telemetry::layer(p).with_filter(traced)),
        )
        .init();
    Ok(provider)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are in place when this returns, so
/// a signal that arrives once the server says it is serving is never missed.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
