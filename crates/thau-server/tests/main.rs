//! Every integration test of `thau-server` in one binary: each file below is a module, so the
//! crate and candle are linked once instead of once per file.

mod api_memory;
mod chat;
mod learn;
mod memory_routes;
mod routes;
mod tools;
mod vision_routes;
