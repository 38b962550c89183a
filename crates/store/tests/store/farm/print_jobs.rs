//! Print jobs: at most one open job per printer, ending once, forgetting a job that never
//! started, and the foreign keys (printer: cascade; starter: set null, name kept).

use pw_store::AdminCheck;

use crate::harness::{T0, admins_group, fresh, printer, user, user_in};

#[tokio::test]
async fn a_new_job_replaces_the_open_one_on_its_printer_only() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    let p = printer(&db, "P", "S1").await;
    let q = printer(&db, "Q", "S2").await;
    assert_eq!(db.open_print_job(p).await.unwrap(), None);
    let first = db
        .insert_print_job(p, Some(u), "u", "a.3mf", T0)
        .await
        .unwrap();
    let on_q = db
        .insert_print_job(q, None, "system", "q.3mf", T0)
        .await
        .unwrap();
    let second = db
        .insert_print_job(p, Some(u), "u", "b.3mf", T0 + 1)
        .await
        .unwrap();
    let open = db.open_print_job(p).await.unwrap().unwrap();
    assert_eq!(
        (open.id, open.file_name.as_str(), open.started_by),
        (second, "b.3mf", Some(u))
    );
    assert_eq!(open.started_by_name.as_deref(), Some("u"));
    assert!(
        !db.end_print_job(first, "finished", T0 + 2).await.unwrap(),
        "closed as replaced"
    );
    assert_eq!(db.open_print_job(q).await.unwrap().unwrap().id, on_q);
    assert!(db.end_print_job(second, "finished", T0 + 2).await.unwrap());
    assert!(!db.end_print_job(second, "failed", T0 + 3).await.unwrap());
    assert_eq!(db.open_print_job(p).await.unwrap(), None);
    db.delete_print_job(on_q).await.unwrap();
    assert_eq!(db.open_print_job(q).await.unwrap(), None);
}

#[tokio::test]
async fn jobs_go_with_their_printer_and_keep_their_starters_name() {
    let db = fresh().await;
    let admins = admins_group(&db).await;
    user_in(&db, "root", &[admins]).await;
    let u = user(&db, "maker").await;
    let p = printer(&db, "P", "S1").await;
    let q = printer(&db, "Q", "S2").await;
    db.insert_print_job(p, Some(u), "maker", "a.3mf", T0)
        .await
        .unwrap();
    let kept = db
        .insert_print_job(q, Some(u), "maker", "b.3mf", T0)
        .await
        .unwrap();
    assert!(db.delete_user(u, &[], &AdminCheck).await.unwrap());
    let open = db.open_print_job(q).await.unwrap().unwrap();
    assert_eq!(
        (open.id, open.started_by, open.started_by_name.as_deref()),
        (kept, None, Some("maker"))
    );
    assert!(db.delete_printer(p).await.unwrap());
    assert_eq!(db.open_print_job(p).await.unwrap(), None);
    // A job for a printer that does not exist is refused.
    assert!(matches!(
        db.insert_print_job(p, None, "x", "c.3mf", T0).await,
        Err(pw_store::StoreError::Conflict)
    ));
}

#[tokio::test]
async fn a_job_records_its_library_file_and_keeps_the_rest_when_the_file_goes() {
    use pw_store::{NewLibraryFile, PrintJobFile};
    let db = fresh().await;
    let u = user(&db, "maker").await;
    let p = printer(&db, "P", "S1").await;
    let sha = "ab".repeat(32);
    let file = db
        .insert_library_file(&NewLibraryFile {
            folder_id: None,
            name: "cube.gcode.3mf",
            kind: "gcode.3mf",
            size: 10,
            sha256: &sha,
            owner_id: Some(u),
            owner_name: Some("maker"),
            metadata: "{}",
            now: T0,
        })
        .await
        .unwrap();
    let job = db
        .insert_print_job(p, Some(u), "maker", "cube.gcode.3mf", T0)
        .await
        .unwrap();
    let open = db.open_print_job(p).await.unwrap().unwrap();
    assert_eq!(
        (open.file_sha256, open.plate, open.task_id),
        (None, None, None)
    );
    db.set_print_job_file(
        job,
        &PrintJobFile {
            library_file_id: Some(file),
            file_sha256: Some(&sha),
            plate: Some(2),
            task_id: Some("12345"),
        },
    )
    .await
    .unwrap();
    let open = db.open_print_job(p).await.unwrap().unwrap();
    assert_eq!(open.library_file_id, Some(file));
    assert_eq!(open.file_sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(
        (open.plate, open.task_id.as_deref()),
        (Some(2), Some("12345"))
    );
    assert!(db.delete_library_file(file).await.unwrap());
    let open = db.open_print_job(p).await.unwrap().unwrap();
    assert_eq!(open.library_file_id, None, "the file went, the job stays");
    assert_eq!(open.file_sha256.as_deref(), Some(sha.as_str()));
}
