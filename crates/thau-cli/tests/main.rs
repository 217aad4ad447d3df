//! Every integration test of `thau-cli` in one binary: each file below is a module, so the
//! crate and candle are linked once instead of once per file.

mod cli;
mod common;
mod export;
mod foreign;
mod growth;
mod image;
mod learn;
mod memory;
mod serve;
mod tools_data;
