//! Integration tests for cordon live in `all/`.
