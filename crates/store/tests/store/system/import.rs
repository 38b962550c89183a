//! Imports: a batch is written whole or not at all — a taken username, group name or serial
//! late in the batch rolls back everything written before it; a sealing failure too — and a
//! foreign SQLite file is read without being written.

use pw_domain::{GroupName, Username};
use pw_store::{
    ImportArchive, ImportBatch, ImportFolder, ImportGroup, ImportGroupRef, ImportLibraryFile,
    ImportPrinter, ImportPrinterRef, ImportQueueItem, ImportQueueTarget, ImportRef, ImportUser,
    SourceDb, StoreError,
};

use crate::harness::{T0, fresh, printer, user};

fn batch(username: &str, serial: &str) -> ImportBatch {
    ImportBatch {
        groups: vec![ImportGroup {
            name: GroupName::parse("Operators (Bambuddy)").unwrap(),
            description: "imported".into(),
            permissions: vec!["printers:read", "printers:control"],
            scope: None,
        }],
        users: vec![ImportUser {
            username: Username::parse(username).unwrap(),
            email: None,
            password_hash: "$2b$04$HcO13LRrzHX8bZIhPh5jhOmN.Om8HuPJZq50j4kLKb3z3j285kP2O".into(),
            disabled: true,
            groups: vec![ImportGroupRef::New(0)],
        }],
        printers: vec![ImportPrinter {
            name: "Bay".into(),
            serial: serial.into(),
            host: "127.0.0.1".into(),
            model: "X1C".into(),
            ports: (8883, 990, 6000),
        }],
        archives: vec![archive(
            Some(ImportPrinterRef::New(0)),
            Some(ImportRef::New(0)),
        )],
        ..ImportBatch::default()
    }
}

const SHA: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

fn archive(
    printer: Option<ImportPrinterRef>,
    by: Option<ImportRef<pw_domain::UserId>>,
) -> ImportArchive {
    ImportArchive {
        printer,
        printer_name: "Gone".into(),
        file_name: "cube.3mf".into(),
        started_at: T0,
        ended_at: T0 + 60_000,
        outcome: "finished",
        started_by: by,
        started_by_name: "dave".into(),
        notes: String::new(),
        tags: "[]".into(),
        filaments: "[]".into(),
        error: None,
        file_sha256: Some(SHA.into()),
        thumbnail_sha256: None,
    }
}

/// Archive entries, folders, library files and queue items only: their natural keys.
fn content() -> ImportBatch {
    ImportBatch {
        archives: vec![archive(None, None)],
        folders: vec![
            ImportFolder {
                parent: None,
                name: "Parts".into(),
            },
            ImportFolder {
                parent: Some(ImportRef::New(0)),
                name: "Small".into(),
            },
        ],
        library: vec![ImportLibraryFile {
            folder: Some(ImportRef::New(1)),
            name: "cube.gcode.3mf".into(),
            kind: "gcode.3mf",
            size: 3,
            sha256: SHA.into(),
            owner: None,
            owner_name: Some("dave".into()),
            tags: r#"["a"]"#.into(),
            tags_key: "a".into(),
            metadata: "{}".into(),
            created_at: T0,
        }],
        queue: vec![ImportQueueItem {
            library_file: Some(ImportRef::New(0)),
            archive: Some(ImportRef::New(0)),
            file_sha256: SHA.into(),
            file_name: "cube.gcode.3mf".into(),
            plate: 1,
            target: ImportQueueTarget::Model("X1C".into()),
            not_before: None,
            options: "{}".into(),
            created_by: None,
            created_by_name: Some("dave".into()),
            created_at: T0,
        }],
        ..ImportBatch::default()
    }
}

#[tokio::test]
async fn content_rows_are_written_once_by_their_natural_keys() {
    let db = fresh().await;
    let ids = db
        .apply_import(&content(), |_, _| Ok("x".into()), T0)
        .await
        .unwrap();
    assert_eq!(
        (ids.archives, ids.folders, ids.library, ids.queue),
        (1, 2, 1, 1)
    );
    let parts = db
        .library_folder_named(None, "parts")
        .await
        .unwrap()
        .unwrap();
    let small = db
        .library_folder_named(Some(parts), "SMALL")
        .await
        .unwrap()
        .unwrap();
    let file = db
        .imported_library_file(Some(small), "Cube.gcode.3mf", SHA)
        .await
        .unwrap()
        .unwrap();
    assert!(
        db.imported_library_file(None, "cube.gcode.3mf", SHA)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db.imported_archive_exists(None, "Gone", "cube.3mf", T0)
            .await
            .unwrap()
    );
    assert!(
        !db.imported_archive_exists(None, "Other", "cube.3mf", T0)
            .await
            .unwrap()
    );
    assert!(
        db.imported_queue_item_exists(SHA, "cube.gcode.3mf", T0, Some("dave"))
            .await
            .unwrap()
    );
    let row = db.library_file(file).await.unwrap().unwrap();
    assert_eq!(row.owner_name.as_deref(), Some("dave"));
    // The same batch again: refused whole (the archive entry comes first; the rest must not
    // land either).
    let mut again = content();
    again.archives[0].file_name = "new.3mf".into();
    let err = db.apply_import(&again, |_, _| Ok("x".into()), T0).await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    assert!(
        !db.imported_archive_exists(None, "Gone", "new.3mf", T0)
            .await
            .unwrap(),
        "rolled back"
    );
}

#[tokio::test]
async fn a_batch_is_written_whole_with_sealed_codes_or_not_at_all() {
    let db = fresh().await;
    user(&db, "carol").await;
    printer(&db, "Taken", "01S00A000000009").await;
    let groups = db.list_groups().await.unwrap().len();
    let printers = db.list_printers().await.unwrap().len();

    // A taken username (without case) after the group: nothing stays.
    let err = db
        .apply_import(
            &batch("Carol", "01S00A000000001"),
            |_, _| Ok("sealed".into()),
            T0,
        )
        .await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    // A taken serial after the user.
    let err = db
        .apply_import(
            &batch("dave", "01S00A000000009"),
            |_, _| Ok("sealed".into()),
            T0,
        )
        .await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    // Sealing fails after the printer row exists.
    let err = db
        .apply_import(
            &batch("dave", "01S00A000000001"),
            |_, _| Err(StoreError::Conflict),
            T0,
        )
        .await;
    assert!(err.is_err());
    assert_eq!(db.list_groups().await.unwrap().len(), groups);
    assert_eq!(db.list_printers().await.unwrap().len(), printers);
    assert!(db.user_by_username("dave").await.unwrap().is_none());

    let ids = db
        .apply_import(
            &batch("dave", "01S00A000000001"),
            |id, i| Ok(format!("sealed-{}-{i}", id.get())),
            T0,
        )
        .await
        .unwrap();
    assert_eq!(
        (ids.users.len(), ids.printers.len(), ids.archives),
        (1, 1, 1)
    );
    let dave = db.user_by_username("dave").await.unwrap().unwrap();
    assert!(dave.disabled);
    assert_eq!(
        db.groups_of_user(dave.id).await.unwrap()[0].id,
        ids.groups[0]
    );
    let p = db.printer(ids.printers[0]).await.unwrap().unwrap();
    assert_eq!(p.access_code, format!("sealed-{}-0", p.id.get()));
    // Run again: the same natural keys refuse the whole batch.
    let again = db
        .apply_import(&batch("dave", "01S00A000000001"), |_, _| Ok("x".into()), T0)
        .await;
    assert!(matches!(again, Err(StoreError::Conflict)));
}

#[tokio::test]
async fn a_source_file_is_read_only_and_missing_columns_read_as_null() {
    use sqlx::ConnectOptions;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("src.db");
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, \"odd\"\"name\" TEXT, n INTEGER); \
                   INSERT INTO users VALUES (1, 'a', 7), (2, NULL, NULL);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let src = SourceDb::open(&path).await.unwrap();
    assert!(src.tables().await.unwrap().contains(&"users".to_owned()));
    assert_eq!(src.columns("nope").await.unwrap(), Vec::<String>::new());
    let rows = src
        .rows("users", &["id", "odd\"name", "n", "missing"])
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            vec![Some("1".into()), Some("a".into()), Some("7".into()), None],
            vec![Some("2".into()), None, None, None],
        ]
    );
    src.close().await;
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the source file is not written"
    );
    let not_db = dir.path().join("x.txt");
    std::fs::write(&not_db, "plain text, certainly not an SQLite database file").unwrap();
    assert!(SourceDb::open(&not_db).await.is_err());
}
