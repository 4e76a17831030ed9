//! `server`: serves the board. Configuration: see `server --help` or the README.

use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use server::config::Config;

#[tokio::main]
async fn main() -> Result<(), server::BoxError> {
    // The log as configured, and the console's ring of recent warnings and errors.
    tracing_subscriber::registry()
        .with(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")))
        .with(tracing_subscriber::fmt::layer())
        .with(server::admin::errors::Keep)
        .init();
    let config = Config::parse();
    let listener = TcpListener::bind(config.bind).await?;
    server::launch(listener, config, shutdown_signal()).await
}

/// Ctrl-C or SIGTERM: stop accepting and let open requests finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
