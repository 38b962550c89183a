//! Storage: migrations on both backends produce the same schema; the history is checked.

use pw_store::{MIGRATIONS, Store, StoreError};
use pw_testkit::PgDatabase;

async fn sqlite_store(dir: &std::path::Path) -> Store {
    let store = Store::connect(&format!("sqlite://{}?mode=rwc", dir.join("t.db").display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

#[tokio::test]
async fn cross_backend_migrations_give_the_same_tables_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_store(dir.path()).await;
    let pg_db = PgDatabase::create().await;
    let pg = Store::connect(&pg_db.url).await.unwrap();
    let applied = pg.migrate().await.unwrap();
    assert_eq!(applied.len(), MIGRATIONS.len());
    let (a, b) = (
        sqlite.schema_columns().await.unwrap(),
        pg.schema_columns().await.unwrap(),
    );
    assert!(
        a.iter().any(|(t, c)| t == "users" && c == "username_key"),
        "{a:?}"
    );
    assert_eq!(a, b, "SQLite and PostgreSQL schemas differ");
    pg.close().await;
}

#[tokio::test]
async fn migrating_twice_applies_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    assert!(store.migrate().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_edited_or_unknown_migration_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = sqlite_store(dir.path()).await;
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    let err = store.migrate().await.unwrap_err();
    assert!(
        matches!(&err, StoreError::MigrationMismatch(m) if m.contains("append-only")),
        "{err}"
    );
    sqlx::query("UPDATE schema_migrations SET version = 999 WHERE version = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    let err = store.migrate().await.unwrap_err();
    assert!(
        matches!(&err, StoreError::MigrationMismatch(m) if m.contains("newer release")),
        "{err}"
    );
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let _store = sqlite_store(dir.path()).await;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
    let row = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(sqlx::Row::get::<String, _>(&row, 0), "wal");
}

#[tokio::test]
async fn unsupported_database_urls_are_refused() {
    assert!(matches!(
        Store::connect("mysql://x").await,
        Err(StoreError::UnsupportedUrl)
    ));
}

#[tokio::test]
async fn a_corrupt_sealing_key_file_stops_the_start_and_survives() {
    printwarden::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("secret.key"), "garbage\n").unwrap();
    let settings = pw_testkit::settings(
        &data,
        &format!("sqlite://{}?mode=rwc", data.join("db").display()),
        &[],
    );
    let err = printwarden::start(&settings).await.unwrap_err();
    assert!(err.to_string().contains("never overwritten"), "{err}");
    assert_eq!(
        std::fs::read_to_string(data.join("secret.key")).unwrap(),
        "garbage\n"
    );
}

use sqlx::Connection;

fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Threat: the database holds password hashes, token digests and sealed secrets; a 0644 file
/// (the default umask) lets every local account copy them. A server started on SQLite creates
/// the file, its WAL and shared-memory files 0600.
#[tokio::test]
async fn the_sqlite_file_and_its_wal_are_private_after_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let db = data.join("printwarden.db");
    // SQLite on both runs: the check is about the file, whatever PRINTWARDEN_TEST_DB says.
    let server = pw_testkit::TestServer::spawn_with(pw_testkit::Options {
        data_dir: Some(data.clone()),
        database_url: Some(format!("sqlite://{}?mode=rwc", db.display())),
        ..pw_testkit::Options::default()
    })
    .await;
    server.setup_admin().await; // a write, so the WAL has content
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        assert!(file.exists(), "{} exists", file.display());
        assert_eq!(
            mode(&file),
            0o600,
            "{} is {:o}",
            file.display(),
            mode(&file)
        );
    }
    server.stop().await;
}

/// A database left 0644 by an older version (and its WAL) is tightened to 0600 at connect.
#[tokio::test]
async fn an_existing_world_readable_sqlite_file_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    for suffix in ["", "-wal"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", db.display()));
        std::fs::write(&file, std::fs::read(&file).unwrap_or_default()).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let store = Store::connect(&url).await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&dir.path().join("old.db-wal")), 0o600);
    store.close().await;
}
