//! Serves a run directory: `cargo run -p spam-serve --example serve -- RUN_DIR [ADDR]`.
//!
//! Then open the printed address in a browser, or
//! `curl -s localhost:8000/v1/classify -H 'content-type: application/json'
//! -d '{"text": "Free entry to win a prize!"}'` (the API takes only JSON bodies).

use std::path::PathBuf;

use anyhow::{Context, Result};
use spam_model::Predictor;
use spam_serve::{ServeEvent, ServeOptions, serve_blocking};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let run_dir = PathBuf::from(args.next().context("usage: serve RUN_DIR [ADDR]")?);
    let mut opts = ServeOptions::default();
    if let Some(addr) = args.next() {
        opts.addr = addr
            .parse()
            .with_context(|| format!("`{addr}` is not an address like 127.0.0.1:8000"))?;
    }
    let predictor = Predictor::load(&run_dir, tch::Device::cuda_if_available())?;
    // An example binary, not the library: it decides what to show.
    serve_blocking(predictor, opts, |event| match event {
        ServeEvent::Listening(addr) => println!("Serving on http://{addr}"),
        other => println!("{other:?}"),
    })?;
    Ok(())
}
