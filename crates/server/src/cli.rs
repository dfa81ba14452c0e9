//! The `coffer server …` command, called by the `coffer` binary: with no subcommand it runs the
//! server; `rotate-data-key` rotates the server data key offline (on the data folder and store
//! URLs), re-wraps every value and retires the old keys.

use crate::config::{Config, LogFormat, ServerArgs};
use crate::error::ServerError;

/// `coffer server [FLAGS] [SUBCOMMAND]`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerCommand {
    /// Server flags.
    #[command(flatten)]
    pub args: ServerArgs,
    /// What to do instead of serving.
    #[command(subcommand)]
    pub command: Option<ServerSubcommand>,
}

/// Subcommands of `coffer server`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ServerSubcommand {
    /// Rotate the server data key now, re-wrap every stored value under it and retire the old
    /// keys (run it while the server is stopped, or let the running server's job do it).
    RotateDataKey,
}

/// Initialises logging to stderr (once; later calls are no-ops). The level comes from
/// `COFFER_LOG` (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("COFFER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs `coffer server …`.
pub async fn run(cmd: ServerCommand) -> Result<(), ServerError> {
    let config = Config::resolve(&cmd.args, &|k| std::env::var(k).ok())?;
    init_logging(config.log_format);
    match cmd.command {
        None => crate::startup::run(config).await,
        Some(ServerSubcommand::RotateDataKey) => {
            let state = crate::startup::open_state(&config).await?;
            let key = crate::jobs::rotate_data_key(&state).await?;
            let report = crate::jobs::rewrap_and_retire(&state).await?;
            println!(
                "data key rotated: current key {}, {} value(s) re-wrapped, {} old key(s) retired",
                hex::encode(key.as_bytes()),
                report.rewrapped,
                report.retired
            );
            state.main.close().await;
            state.values.close().await;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Top,
    }

    #[derive(clap::Subcommand)]
    enum Top {
        Server(ServerCommand),
    }

    #[test]
    fn parses_flags_and_subcommand() {
        let Cli {
            cmd: Top::Server(c),
        } = Cli::parse_from([
            "coffer",
            "server",
            "--listen",
            "127.0.0.1:0",
            "--insecure-http",
        ]);
        assert!(c.command.is_none());
        assert_eq!(c.args.listen.unwrap().port(), 0);
        assert_eq!(c.args.insecure_http, Some(true));

        let Cli {
            cmd: Top::Server(c),
        } = Cli::parse_from(["coffer", "server", "--data-dir", "/d", "rotate-data-key"]);
        assert!(matches!(c.command, Some(ServerSubcommand::RotateDataKey)));
        assert_eq!(c.args.data_dir.unwrap(), std::path::PathBuf::from("/d"));

        let Cli {
            cmd: Top::Server(c),
        } = Cli::parse_from(["coffer", "server", "rotate-data-key", "--data-dir", "/e"]);
        assert_eq!(c.args.data_dir.unwrap(), std::path::PathBuf::from("/e"));
    }
}
