//! Integration tests: the real server, booted in-process on 127.0.0.1:0 over TLS with a fresh
//! database (SQLite, or PostgreSQL with `PRINTWARDEN_TEST_DB=postgres`). One test binary keeps
//! link time down; one module per area.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail fast with the cause"
)]

mod admin;
mod archive;
mod audit;
mod auth;
mod camera;
mod certificates;
mod cli;
mod connections;
mod events;
mod foundation;
mod grants;
mod hardening;
mod keys;
mod landing;
mod library;
mod lifecycle;
mod listeners;
mod mail;
mod masking;
mod matrix;
mod mfa;
mod pages;
mod printers;
mod queue;
mod shapes;
mod storage;
mod support;
mod webhooks;
