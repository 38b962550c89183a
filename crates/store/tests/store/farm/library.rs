//! The library's rows: files round-trip; pages in every order with the owner, folder and text
//! filters in SQL (wildcards literal); blob references; folders refuse cycles and deletion
//! while they hold anything; the uploader's name outlives the account.

use pw_domain::LibraryFolderId;
use pw_store::{
    LibraryAfter, LibraryFilePatch, LibraryFileQuery, LibrarySort, NewLibraryFile, OwnerFilter,
    StoreError,
};

use crate::harness::{T0, fresh, user};

fn new_file<'a>(
    name: &'a str,
    sha: &'a str,
    size: i64,
    owner: Option<pw_domain::UserId>,
    now: i64,
) -> NewLibraryFile<'a> {
    NewLibraryFile {
        folder_id: None,
        name,
        kind: "gcode",
        size,
        sha256: sha,
        owner_id: owner,
        owner_name: owner.map(|_| "olga"),
        metadata: "{}",
        now,
    }
}

fn query(owner: OwnerFilter, sort: LibrarySort) -> LibraryFileQuery {
    LibraryFileQuery {
        owner,
        folder: None,
        text: None,
        sort,
        after: None,
        fetch: 100,
    }
}

#[tokio::test]
async fn library_files_page_in_sql_with_owner_folder_and_text_filters() {
    let db = fresh().await;
    let olga = user(&db, "olga").await;
    let otto = user(&db, "otto").await;
    let a = db
        .insert_library_file(&new_file("Alpha_1%.gcode", "aa", 30, Some(olga), T0))
        .await
        .unwrap();
    let b = db
        .insert_library_file(&new_file("bravo.gcode", "bb", 10, Some(otto), T0 + 1))
        .await
        .unwrap();
    let c = db
        .insert_library_file(&new_file("charlie.gcode", "aa", 20, None, T0 + 2))
        .await
        .unwrap();
    let row = db.library_file(a).await.unwrap().unwrap();
    assert_eq!(
        (
            row.name.as_str(),
            row.size,
            row.owner_name.as_deref(),
            row.tags.as_str()
        ),
        ("Alpha_1%.gcode", 30, Some("olga"), "[]")
    );
    let ids =
        |rows: Vec<pw_store::LibraryFileRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(db
            .library_files_page(&query(OwnerFilter::All, LibrarySort::Name(false)))
            .await
            .unwrap()),
        [a, b, c]
    );
    assert_eq!(
        ids(db
            .library_files_page(&query(OwnerFilter::All, LibrarySort::Date(true)))
            .await
            .unwrap()),
        [c, b, a]
    );
    assert_eq!(
        ids(db
            .library_files_page(&query(OwnerFilter::All, LibrarySort::Size(false)))
            .await
            .unwrap()),
        [b, c, a]
    );
    // Owner filter: own rows only, never the ownerless one.
    assert_eq!(
        ids(db
            .library_files_page(&query(
                OwnerFilter::Only(olga.get()),
                LibrarySort::Name(false)
            ))
            .await
            .unwrap()),
        [a]
    );
    assert!(
        db.library_files_page(&query(OwnerFilter::Nothing, LibrarySort::Name(false)))
            .await
            .unwrap()
            .is_empty()
    );
    // Keyset: after b by size ascending.
    let mut q = query(OwnerFilter::All, LibrarySort::Size(false));
    q.after = Some(LibraryAfter::Number(10, b.get()));
    assert_eq!(ids(db.library_files_page(&q).await.unwrap()), [c, a]);
    let mut q = query(OwnerFilter::All, LibrarySort::Name(true));
    q.after = Some(LibraryAfter::Text("charlie.gcode".into(), c.get()));
    q.fetch = 1;
    assert_eq!(ids(db.library_files_page(&q).await.unwrap()), [b]);
    // Text: wildcards are literal; tags count.
    let mut q = query(OwnerFilter::All, LibrarySort::Name(false));
    q.text = Some("_1%".into());
    assert_eq!(ids(db.library_files_page(&q).await.unwrap()), [a]);
    q.text = Some("%".into());
    assert_eq!(ids(db.library_files_page(&q).await.unwrap()), [a]);
    assert!(
        db.update_library_file(
            b,
            &LibraryFilePatch {
                tags: Some(("[\"Bracket\"]", "bracket")),
                ..LibraryFilePatch::default()
            },
            T0 + 5
        )
        .await
        .unwrap()
    );
    q.text = Some("brack".into());
    assert_eq!(ids(db.library_files_page(&q).await.unwrap()), [b]);
    // Blob references and usage.
    assert_eq!(db.blob_references("aa").await.unwrap(), 2);
    let usage = db.library_usage().await.unwrap();
    assert_eq!(
        (
            usage.files,
            usage.blobs,
            usage.stored_bytes,
            usage.listed_bytes
        ),
        (3, 2, 40, 60)
    );
    assert_eq!(db.count_library_files_of(olga).await.unwrap(), 1);
    assert_eq!(db.library_file_ids_of(None).await.unwrap(), [c]);
    assert!(db.delete_library_file(a).await.unwrap());
    assert!(!db.delete_library_file(a).await.unwrap());
    assert_eq!(db.blob_references("aa").await.unwrap(), 1);
}

#[tokio::test]
async fn library_folders_refuse_cycles_and_deletion_while_full() {
    let db = fresh().await;
    let top = db.insert_library_folder(None, "Top", T0).await.unwrap();
    let mid = db
        .insert_library_folder(Some(top), "Mid", T0)
        .await
        .unwrap();
    let low = db
        .insert_library_folder(Some(mid), "Low", T0)
        .await
        .unwrap();
    assert!(matches!(
        db.insert_library_folder(Some(LibraryFolderId::from_db(9_999)), "x", T0)
            .await,
        Err(StoreError::Conflict)
    ));
    for (id, parent) in [(top, low), (top, top), (mid, low)] {
        assert_eq!(
            db.update_library_folder(id, None, Some(Some(parent)), T0)
                .await
                .unwrap(),
            Err(()),
            "{id} under {parent}"
        );
    }
    assert_eq!(
        db.update_library_folder(low, Some("Lower"), Some(Some(top)), T0)
            .await
            .unwrap(),
        Ok(true)
    );
    let row = db.library_folder(low).await.unwrap().unwrap();
    assert_eq!((row.name.as_str(), row.parent_id), ("Lower", Some(top)));
    assert_eq!(
        db.update_library_folder(low, None, Some(None), T0)
            .await
            .unwrap(),
        Ok(true)
    );
    assert_eq!(
        db.library_folder(low).await.unwrap().unwrap().parent_id,
        None
    );
    // Full folders stay.
    let mut f = new_file("in.gcode", "cc", 1, None, T0);
    f.folder_id = Some(mid);
    let file = db.insert_library_file(&f).await.unwrap();
    assert!(!db.library_folder_is_empty(mid).await.unwrap());
    let refused = db.delete_library_folder(mid).await;
    assert!(matches!(refused, Err(StoreError::Conflict)), "{refused:?}");
    assert!(matches!(
        db.delete_library_folder(top).await,
        Err(StoreError::Conflict)
    ));
    db.delete_library_file(file).await.unwrap();
    assert!(db.delete_library_folder(mid).await.unwrap());
    assert!(db.delete_library_folder(top).await.unwrap());
    assert_eq!(db.library_folders().await.unwrap().len(), 1);
}
