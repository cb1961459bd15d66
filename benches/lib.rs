//! Benchmarks for cordon live in `benches/`.
