//! Projects' rows: create, page newest first, change (a due date can be cleared), delete; members
//! added idempotently (a file's planned copies replaced), read only through the visibility the
//! caller passes for each kind, and gone with their member (`ON DELETE CASCADE`) or project.

use pw_domain::{PrinterId, UserId};
use pw_store::{
    ArchiveFilter, NewArchive, NewLibraryFile, NewProject, NewQueueItem, OwnerFilter, PageAfter,
    PrinterFilter, ProjectMember, ProjectPatch, QueueTarget, Store,
};

use crate::harness::{T0, fresh, printer, user};

async fn project(db: &Store, name: &str, by: Option<UserId>) -> i64 {
    db.insert_project(&NewProject {
        name,
        notes: "",
        due: Some("2026-03-01"),
        created_by: by,
        created_by_name: by.map(|_| "olga"),
        now: T0,
    })
    .await
    .unwrap()
}

async fn file(db: &Store, owner: UserId) -> pw_domain::LibraryFileId {
    db.insert_library_file(&NewLibraryFile {
        folder_id: None,
        name: "bracket.gcode",
        kind: "gcode",
        size: 1,
        sha256: "aa",
        owner_id: Some(owner),
        owner_name: Some("olga"),
        metadata: "{}",
        now: T0,
    })
    .await
    .unwrap()
}

async fn item(db: &Store, owner: UserId) -> i64 {
    let target = QueueTarget::Model("X1C".into());
    db.insert_queue_item(&NewQueueItem {
        library_file_id: None,
        archive_id: None,
        file_sha256: "aa",
        file_name: "bracket.gcode",
        plate: 1,
        target: &target,
        copies: 3,
        priority: 0,
        not_before: None,
        options: "{}",
        ams_mapping: None,
        created_by: Some(owner),
        created_by_name: Some("olga"),
        now: T0,
    })
    .await
    .unwrap()
}

async fn entry(db: &Store, p: PrinterId, by: UserId) -> i64 {
    db.open_archive(&NewArchive {
        printer_id: p,
        printer_name: "P",
        file_name: "bracket.gcode",
        plate: None,
        job_key: Some("bracket"),
        job_id: None,
        source: "printwarden",
        started_by: Some(by),
        started_by_name: Some("olga"),
        print_job_id: None,
        started_at: T0,
        filaments: "[]",
    })
    .await
    .unwrap()
    .unwrap()
}

fn archives_of(user: Option<UserId>) -> ArchiveFilter {
    let mut f = ArchiveFilter::nothing();
    f.own = user.map(|u| (u.get(), PrinterFilter::All));
    f
}

#[tokio::test]
async fn projects_page_change_and_delete() {
    let db = fresh().await;
    let olga = user(&db, "olga").await;
    let a = project(&db, "A", Some(olga)).await;
    let b = project(&db, "B", None).await;
    let first = db
        .projects_page(&PageAfter {
            after: None,
            fetch: 1,
        })
        .await
        .unwrap();
    assert_eq!(first.iter().map(|p| p.id).collect::<Vec<_>>(), [b]);
    let next = db
        .projects_page(&PageAfter {
            after: Some((String::new(), b)),
            fetch: 10,
        })
        .await
        .unwrap();
    assert_eq!(next.iter().map(|p| p.id).collect::<Vec<_>>(), [a]);
    assert_eq!(next[0].created_by, Some(olga));

    let patch = ProjectPatch {
        name: Some("A2"),
        notes: None,
        due: Some(None),
    };
    assert!(db.update_project(a, &patch, T0 + 1).await.unwrap());
    let row = db.project(a).await.unwrap().unwrap();
    assert_eq!(
        (row.name.as_str(), row.due, row.updated_at),
        ("A2", None, T0 + 1)
    );
    assert!(db.delete_project(a).await.unwrap());
    assert!(!db.delete_project(a).await.unwrap());
    assert!(db.project(a).await.unwrap().is_none());
}

#[tokio::test]
async fn members_are_read_through_the_callers_visibility_and_go_with_their_member() {
    let db = fresh().await;
    let olga = user(&db, "olga").await;
    let otto = user(&db, "otto").await;
    let p = printer(&db, "P", "S1").await;
    let id = project(&db, "Order", Some(olga)).await;
    let f = file(&db, olga).await;
    let q = item(&db, olga).await;
    let a = entry(&db, p, olga).await;
    let members = [
        ProjectMember::File(f, Some(40)),
        ProjectMember::QueueItem(q),
        ProjectMember::Archive(a),
    ];
    assert_eq!(db.add_project_members(id, &members, T0).await.unwrap(), 3);
    // Again: nothing new, the file's plan replaced.
    db.add_project_members(id, &[ProjectMember::File(f, Some(12))], T0)
        .await
        .unwrap();
    assert_eq!(
        db.add_project_members(id, &[ProjectMember::QueueItem(q)], T0)
            .await
            .unwrap(),
        0
    );
    assert_eq!(db.count_project_members(id).await.unwrap(), 3);

    // Olga sees all three; otto (owner filters for himself) none; nobody sees nothing.
    let files = db
        .project_files(id, OwnerFilter::Only(olga.get()))
        .await
        .unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].copies, Some(12));
    assert_eq!(
        db.project_queue_items(id, OwnerFilter::All)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        db.project_archives(id, &archives_of(Some(olga)))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        db.project_files(id, OwnerFilter::Only(otto.get()))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.project_queue_items(id, OwnerFilter::Only(otto.get()))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.project_archives(id, &archives_of(Some(otto)))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.project_files(id, OwnerFilter::Nothing)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.project_archives(id, &archives_of(None))
            .await
            .unwrap()
            .is_empty()
    );
    // Another project's members are not this one's.
    let other = project(&db, "Other", None).await;
    assert!(
        db.project_files(other, OwnerFilter::All)
            .await
            .unwrap()
            .is_empty()
    );

    // Removing: once; a deleted member leaves no row; the project's deletion takes the rest.
    assert!(
        db.remove_project_member(id, ProjectMember::QueueItem(q), T0)
            .await
            .unwrap()
    );
    assert!(
        !db.remove_project_member(id, ProjectMember::QueueItem(q), T0)
            .await
            .unwrap()
    );
    assert!(db.delete_library_file(f).await.unwrap());
    assert_eq!(db.count_project_members(id).await.unwrap(), 1);
    assert!(db.delete_project(id).await.unwrap());
    assert_eq!(db.count_project_members(id).await.unwrap(), 0);
    assert!(db.archive(a).await.unwrap().is_some(), "the entry stays");
}
