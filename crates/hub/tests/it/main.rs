//! spam-hub's integration tests, one binary (a module per topic).

mod hub;
