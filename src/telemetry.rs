//! Logging: the subscriber, and the identity recorded on the request's span once known. The span
//! itself is opened by `crate::http::request_span`.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// Records who the request is for on its span, once known (every later log line carries it).
pub fn record_identity(user_id: &str, session_id: &str) {
    let span = tracing::Span::current();
    span.record("user_id", user_id);
    span.record("session_id", session_id);
}
