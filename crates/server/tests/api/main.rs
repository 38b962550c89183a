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
mod archive_media;
mod archive_page;
mod archive_search;
mod audit;
mod auth;
mod backup;
mod camera;
mod camera_video;
mod certificates;
mod cli;
mod cloud;
mod connections;
mod crash;
mod dispatch;
mod display_names;
mod events;
mod foundation;
mod glance;
mod grants;
mod hardening;
mod import;
mod journey;
mod keys;
mod landing;
mod ldap;
mod library;
mod library_print;
mod lifecycle;
mod listeners;
mod mail;
mod masking;
mod matrix;
mod mfa;
mod notify_events;
mod oidc;
mod packaging;
mod pages;
mod passkeys;
mod plates;
mod printer_groups;
mod printers;
/// The hand-built print files of `pw-printfile`'s tests, shared rather than copied.
#[path = "../../../printfile/tests/common/mod.rs"]
mod printfiles;
mod projects;
mod queue;
mod queue_page;
mod reprint;
mod sealing;
mod shapes;
mod sign_in_rules;
mod storage;
mod support;
mod web_restore;
mod webhook_flood;
mod webhooks;
