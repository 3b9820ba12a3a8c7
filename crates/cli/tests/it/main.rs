//! spam-cli's own integration tests: argument parsing and settings at the edge (typed
//! values, help texts, config files), run on the built binary. Whole runs on the real data
//! are the workspace's end-to-end tests (`tests/`).

mod hints;
mod names;
mod serve;
mod settings;
