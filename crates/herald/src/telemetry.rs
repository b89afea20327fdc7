//! Logging on stderr, filtered by `HERALD_LOG` / `--log`: human-readable lines, or one JSON object per line for log
//! collectors. Colours only on a terminal, so files and pipes get plain text.

use std::io::IsTerminal;

use anyhow::{Context, anyhow, bail};
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    /// One JSON object per line, with the fields of the spans it happened in (a request's `request_id`).
    Json,
}

impl LogFormat {
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        match name {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => bail!("log_format must be \"text\" or \"json\", not {other:?}"),
        }
    }
}

/// Install the logger. A filter that does not parse is an error: silently logging at another level would hide
/// exactly the lines the operator asked for.
pub fn init(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let parsed = EnvFilter::builder().parse(filter).with_context(|| {
        format!(
            "invalid log filter {filter:?} (use tracing's EnvFilter syntax, e.g. \"info\" or \"herald=debug,info\")"
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(parsed)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(true).try_init(),
    };
    installed.map_err(|e| anyhow!("installing the logger: {e}"))
}
