//! Arguments of `serve`: the model, the address and the server's limits.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use spam_data::Named;
use spam_model::DeviceChoice;
use spam_serve::ServeOptions;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub threshold: crate::best_args::ThresholdArg,
    #[command(flatten)]
    pub precision: crate::precision_args::PrecisionArg,
    /// A run directory (or its model/ folder), or a transformers folder (`spam-cli export`).
    #[arg(long, value_name = "RUN_DIR")]
    pub model: PathBuf,
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,
    #[arg(long, help = DeviceChoice::accepted(), default_value_t = DeviceChoice::default())]
    pub device: DeviceChoice,
    /// Most texts the model classifies in one batch.
    #[arg(long, value_name = "N", default_value_t = ServeOptions::default().max_batch, value_parser = positive)]
    pub max_batch: usize,
    /// Most texts in one request (more: 413).
    #[arg(long, value_name = "N", default_value_t = ServeOptions::default().max_texts, value_parser = positive)]
    pub max_texts: usize,
    /// Most characters in one text (more: 413).
    #[arg(long, value_name = "N", default_value_t = ServeOptions::default().max_text_chars, value_parser = positive)]
    pub max_text_chars: usize,
    /// Largest request body in bytes (larger: 413).
    #[arg(long, value_name = "BYTES", default_value_t = ServeOptions::default().max_body_bytes, value_parser = positive)]
    pub max_body: usize,
    /// Requests handled at once; more wait within their timeout.
    #[arg(long, value_name = "N", default_value_t = ServeOptions::default().max_in_flight, value_parser = positive)]
    pub max_in_flight: usize,
    /// Time for one request, from arrival to answer (past it: 503).
    #[arg(long, value_name = "SECS", default_value_t = ServeOptions::default().request_timeout.as_secs_f64(), value_parser = seconds)]
    pub timeout: f64,
    /// Open connections at most; more get an immediate 503 (lowered to what the open-file
    /// limit allows).
    #[arg(long, value_name = "N", default_value_t = ServeOptions::default().max_connections, value_parser = positive)]
    pub max_connections: usize,
    /// Time a client has to send a request's headers, from their first byte; then its
    /// connection is closed.
    #[arg(long, value_name = "SECS", default_value_t = ServeOptions::default().header_timeout.as_secs_f64(), value_parser = seconds)]
    pub header_timeout: f64,
    /// Time a connection may wait for its next request before it is closed.
    #[arg(long, value_name = "SECS", default_value_t = ServeOptions::default().idle_timeout.as_secs_f64(), value_parser = seconds)]
    pub idle_timeout: f64,
    /// Time requests in progress get to finish after Ctrl-C or SIGTERM; then connections
    /// are dropped (a second signal stops at once).
    #[arg(long, value_name = "SECS", default_value_t = ServeOptions::default().shutdown_timeout.as_secs_f64(), value_parser = seconds)]
    pub shutdown_timeout: f64,
    /// Another `Host` to answer besides localhost, 127.0.0.1 and [::1] on the listening
    /// port (NAME or NAME:PORT; repeatable; `*` answers any, e.g. behind a proxy).
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
}

/// A count of at least 1.
fn positive(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("`{s}` is not a whole number: {e}")),
    }
}

/// A duration in seconds: positive, finite, at most a year.
fn seconds(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 365.0 * 86_400.0 => Ok(x),
        Ok(_) => Err(format!(
            "`{s}` is not a number of seconds above 0 (and at most a year)"
        )),
        Err(e) => Err(format!("`{s}` is not a number of seconds: {e}")),
    }
}
