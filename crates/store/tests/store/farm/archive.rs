//! The archive: one open entry per printer and one entry per print job (a second open is a
//! `None`, not a duplicate), ending once with its duration, the visibility filter and the
//! list's filters run in SQL with keyset pages newest first, purge keeping open entries, and the
//! foreign keys (printer and starter go NULL, their names stay).

use pw_domain::{PrinterId, UserId};
use pw_store::{
    AdminCheck, ArchiveEnd, ArchiveFilter, ArchivePatch, NewArchive, NewArchivePhoto,
    PrinterFilter, StarterMatch, Store,
};

use crate::harness::{T0, admins_group, fresh, printer, user, user_in};

fn new<'a>(printer: PrinterId, file: &'a str, by: Option<UserId>, at: i64) -> NewArchive<'a> {
    NewArchive {
        printer_id: printer,
        printer_name: "P",
        file_name: file,
        plate: None,
        job_key: Some(file),
        job_id: None,
        source: if by.is_some() {
            "printwarden"
        } else {
            "elsewhere"
        },
        started_by: by,
        started_by_name: by.map(|_| "maker"),
        print_job_id: None,
        started_at: at,
        filaments: "[]",
    }
}

fn end(outcome: &str, at: i64) -> ArchiveEnd<'_> {
    ArchiveEnd {
        outcome,
        ended_at: at,
        error_code: None,
        error: None,
        filaments: None,
    }
}

fn everything() -> ArchiveFilter {
    ArchiveFilter {
        all: PrinterFilter::All,
        ..ArchiveFilter::nothing()
    }
}

async fn ids(db: &Store, filter: &ArchiveFilter) -> Vec<i64> {
    db.archives_page(filter, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

#[tokio::test]
async fn one_open_entry_per_printer_ending_once_with_its_duration() {
    let db = fresh().await;
    let u = user(&db, "maker").await;
    let p = printer(&db, "P", "S1").await;
    let q = printer(&db, "Q", "S2").await;
    let job = db
        .insert_print_job(p, Some(u), "maker", "a.3mf", T0)
        .await
        .unwrap();
    let mut first = new(p, "a.3mf", Some(u), T0);
    first.print_job_id = Some(job);
    let a = db.open_archive(&first).await.unwrap().unwrap();
    assert_eq!(
        db.open_archive(&new(p, "b.3mf", None, T0 + 1))
            .await
            .unwrap(),
        None,
        "a second open entry on the same printer"
    );
    assert!(db.print_job_archived(job).await.unwrap());
    let mut again = new(q, "a.3mf", Some(u), T0);
    again.print_job_id = Some(job);
    assert_eq!(
        db.open_archive(&again).await.unwrap(),
        None,
        "a print job archived twice"
    );
    let open = db.open_archive_of(p).await.unwrap().unwrap();
    assert_eq!((open.id, open.outcome.as_str()), (a, "printing"));
    assert!(
        db.end_archive(a, &end("finished", T0 + 90_500))
            .await
            .unwrap()
    );
    assert!(
        !db.end_archive(a, &end("failed", T0 + 99_000))
            .await
            .unwrap()
    );
    let row = db.archive(a).await.unwrap().unwrap();
    assert_eq!(
        (row.outcome.as_str(), row.duration_s, row.ended_at),
        ("finished", Some(90), Some(T0 + 90_500))
    );
    assert_eq!(db.open_archive_of(p).await.unwrap(), None);
    // Once ended, the printer can open the next one.
    assert!(
        db.open_archive(&new(p, "b.3mf", None, T0 + 100_000))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn entries_keep_printer_and_starter_names_and_orphans_can_be_ended() {
    let db = fresh().await;
    let admins = admins_group(&db).await;
    user_in(&db, "root", &[admins]).await;
    let u = user(&db, "maker").await;
    let p = printer(&db, "P", "S1").await;
    let a = db
        .open_archive(&new(p, "a.3mf", Some(u), T0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(db.count_archives_of(u).await.unwrap(), 1);
    assert_eq!(db.archives_of(u).await.unwrap()[0].id, a);
    assert!(
        db.delete_user(u, &[("archives", "started_by")], &AdminCheck)
            .await
            .unwrap()
    );
    assert!(db.delete_printer(p).await.unwrap());
    let row = db.archive(a).await.unwrap().unwrap();
    assert_eq!(
        (row.printer_id, row.printer_name.as_str()),
        (None, "P"),
        "printer link cleared, name kept"
    );
    assert_eq!(
        (row.started_by, row.started_by_name.as_deref()),
        (None, Some("maker"))
    );
    assert_eq!(
        db.end_orphaned_archives(T0 + 5_000, "gone").await.unwrap(),
        1
    );
    let row = db.archive(a).await.unwrap().unwrap();
    assert_eq!(
        (row.outcome.as_str(), row.error.as_deref(), row.duration_s),
        ("failed", Some("gone"), Some(5))
    );
}

#[tokio::test]
async fn the_list_filters_visibility_and_pages_newest_first_in_sql() {
    let db = fresh().await;
    let me = user(&db, "me").await;
    let other = user(&db, "other").await;
    let p = printer(&db, "Alpha", "S1").await;
    let q = printer(&db, "Beta", "S2").await;
    // Six ended entries: mine on p, other's on p and q, ownerless on q.
    let mut made = Vec::new();
    for (i, (pr, by, file)) in [
        (p, Some(me), "mine-1.3mf"),
        (q, Some(other), "theirs-1.3mf"),
        (q, None, "elsewhere-1.3mf"),
        (p, Some(me), "mine-2.3mf"),
        (p, Some(other), "theirs_%-2.3mf"),
        (q, None, "elsewhere-2.3mf"),
    ]
    .into_iter()
    .enumerate()
    {
        let at = T0 + i64::try_from(i).unwrap() * 1000;
        let mut entry = new(pr, file, by, at);
        entry.printer_name = if pr == p { "Alpha" } else { "Beta" };
        let id = db.open_archive(&entry).await.unwrap().unwrap();
        let outcome = if i % 2 == 0 { "finished" } else { "failed" };
        assert!(db.end_archive(id, &end(outcome, at + 500)).await.unwrap());
        made.push(id);
    }
    let newest_first: Vec<i64> = made.iter().rev().copied().collect();
    assert_eq!(ids(&db, &everything()).await, newest_first);
    // Own only (`read_own` everywhere, no `read_all`).
    let own = ArchiveFilter {
        own: Some((me.get(), PrinterFilter::All)),
        ..ArchiveFilter::nothing()
    };
    assert_eq!(ids(&db, &own).await, vec![made[3], made[0]]);
    // `read_all` on printer q only, plus own anywhere.
    let scoped = ArchiveFilter {
        all: PrinterFilter::Set {
            everywhere: false,
            printers: vec![q.get()],
            locations: vec![],
            within: None,
        },
        own: Some((me.get(), PrinterFilter::All)),
        ..ArchiveFilter::nothing()
    };
    assert_eq!(
        ids(&db, &scoped).await,
        vec![made[5], made[3], made[2], made[1], made[0]]
    );
    assert!(ids(&db, &ArchiveFilter::nothing()).await.is_empty());
    // Filters.
    let f = |g: fn(&mut ArchiveFilter)| {
        let mut filter = everything();
        g(&mut filter);
        filter
    };
    assert_eq!(
        ids(&db, &f(|x| x.printer = None)).await.len(),
        6,
        "no filter"
    );
    let only_p = ArchiveFilter {
        printer: Some(p.get()),
        ..everything()
    };
    assert_eq!(ids(&db, &only_p).await, vec![made[4], made[3], made[0]]);
    assert_eq!(
        ids(&db, &f(|x| x.outcome = Some("failed".into()))).await,
        vec![made[5], made[3], made[1]]
    );
    let by_other = ArchiveFilter {
        user: Some(StarterMatch::Id(other.get())),
        ..everything()
    };
    assert_eq!(ids(&db, &by_other).await, vec![made[4], made[1]]);
    assert_eq!(
        ids(
            &db,
            &f(|x| x.user = Some(StarterMatch::Name("maker".into())))
        )
        .await,
        vec![made[4], made[3], made[1], made[0]],
        "the name kept on the entry"
    );
    assert_eq!(
        ids(&db, &f(|x| x.q = Some("ELSEWHERE".into()))).await,
        vec![made[5], made[2]],
        "case-insensitive"
    );
    assert_eq!(
        ids(&db, &f(|x| x.q = Some("_%".into()))).await,
        vec![made[4]],
        "wildcards are literal"
    );
    assert_eq!(
        ids(&db, &f(|x| x.q = Some("beta".into()))).await,
        vec![made[5], made[2], made[1]],
        "printer name"
    );
    assert_eq!(
        ids(
            &db,
            &f(|x| {
                x.since = Some(T0 + 1000);
                x.until = Some(T0 + 3000);
            })
        )
        .await,
        vec![made[2], made[1]]
    );
    // Keyset pages of two.
    let mut after = None;
    let mut seen = Vec::new();
    loop {
        let page = db.archives_page(&everything(), after, 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| (r.started_at, r.id));
        seen.extend(page.into_iter().map(|r| r.id));
    }
    assert_eq!(seen, newest_first);
}

#[tokio::test]
async fn patch_delete_and_purge_keep_open_entries() {
    let db = fresh().await;
    let p = printer(&db, "P", "S1").await;
    let q = printer(&db, "Q", "S2").await;
    let old = db
        .open_archive(&new(p, "old.3mf", None, T0))
        .await
        .unwrap()
        .unwrap();
    db.end_archive(old, &end("finished", T0 + 1)).await.unwrap();
    let running = db
        .open_archive(&new(q, "running.3mf", None, T0))
        .await
        .unwrap()
        .unwrap();
    assert!(
        db.update_archive(
            old,
            &ArchivePatch {
                notes: Some("nice"),
                tags: Some("[\"a\"]"),
                rating: Some(Some(4)),
            }
        )
        .await
        .unwrap()
    );
    let row = db.archive(old).await.unwrap().unwrap();
    assert_eq!(
        (row.notes.as_str(), row.tags.as_str(), row.rating),
        ("nice", "[\"a\"]", Some(4))
    );
    assert!(
        db.update_archive(
            old,
            &ArchivePatch {
                rating: Some(None),
                ..ArchivePatch::default()
            }
        )
        .await
        .unwrap()
    );
    let row = db.archive(old).await.unwrap().unwrap();
    assert_eq!((row.notes.as_str(), row.rating), ("nice", None));
    assert_eq!(db.purge_archives(T0 + 10).await.unwrap(), (1, Vec::new()));
    assert!(db.archive(old).await.unwrap().is_none());
    assert!(
        db.archive(running).await.unwrap().is_some(),
        "still printing"
    );
    assert!(db.delete_archive(running).await.unwrap());
    assert!(!db.delete_archive(running).await.unwrap());
}

#[tokio::test]
async fn the_entry_of_a_print_job_is_found_by_its_job() {
    let db = fresh().await;
    let u = user(&db, "maker").await;
    let p = printer(&db, "P", "S1").await;
    let job = db
        .insert_print_job(p, Some(u), "maker", "a.3mf", T0)
        .await
        .unwrap();
    assert_eq!(
        db.archive_for_print_job(job).await.unwrap(),
        None,
        "not yet"
    );
    let mut first = new(p, "a.3mf", Some(u), T0);
    first.print_job_id = Some(job);
    let a = db.open_archive(&first).await.unwrap().unwrap();
    assert_eq!(
        db.archive_for_print_job(job).await.unwrap(),
        Some((a, Some(u)))
    );
    assert_eq!(db.archive_for_print_job(job + 1).await.unwrap(), None);
}

#[tokio::test]
async fn every_row_naming_a_blob_counts_and_deletes_name_what_they_free() {
    let db = fresh().await;
    let p = printer(&db, "p", "SN-BLOBS").await;
    let maker = user(&db, "maker").await;
    let id = db
        .open_archive(&new(p, "a.gcode.3mf", None, T0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(db.blob_references("aa").await.unwrap(), 0);
    assert!(db.set_archive_file(id, "aa", None).await.unwrap());
    assert!(
        !db.set_archive_file(id, "bb", None).await.unwrap(),
        "linked once"
    );
    assert!(db.set_archive_thumbnail(id, "aa").await.unwrap());
    assert!(db.set_archive_snapshot(id, "cc").await.unwrap());
    assert!(!db.set_archive_snapshot(id, "dd").await.unwrap());
    let photo = db
        .insert_archive_photo(&NewArchivePhoto {
            archive_id: id,
            sha256: "aa",
            kind: "png",
            size: 3,
            added_by: Some(maker),
            added_by_name: Some("maker"),
            added_at: T0,
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(db.blob_references("aa").await.unwrap(), 3);
    assert_eq!(db.blob_references("cc").await.unwrap(), 1);
    assert_eq!(db.count_archive_photos(id).await.unwrap(), 1);
    assert_eq!(db.archive_photos(&[id, id + 99]).await.unwrap().len(), 1);
    let mut blobs = db.archive_blobs(id).await.unwrap();
    blobs.sort();
    assert_eq!(blobs, ["aa", "cc"]);
    assert!(db.delete_archive_photo(id, photo).await.unwrap());
    assert!(!db.delete_archive_photo(id, photo).await.unwrap());
    assert_eq!(db.blob_references("aa").await.unwrap(), 2);
    // A photo of an entry that is gone is refused, not stored.
    let gone = NewArchivePhoto {
        archive_id: id + 1000,
        sha256: "ee",
        kind: "png",
        size: 3,
        added_by: None,
        added_by_name: None,
        added_at: T0,
    };
    assert_eq!(db.insert_archive_photo(&gone).await.unwrap(), None);
    assert!(db.end_archive(id, &end("finished", T0 + 5)).await.unwrap());
    let (n, mut freed) = db.purge_archives(T0 + 10).await.unwrap();
    freed.sort();
    assert_eq!(
        (n, freed.as_slice()),
        (1, ["aa".to_owned(), "cc".to_owned()].as_slice())
    );
    assert_eq!(db.blob_references("aa").await.unwrap(), 0);
}

#[tokio::test]
async fn pages_cross_entries_started_at_the_same_moment_without_repeats_or_gaps() {
    // The keyset condition is `started_at <= t AND (started_at < t OR id < i)`; entries sharing
    // a start time straddle page boundaries.
    let db = fresh().await;
    let mut expected = Vec::new();
    for n in 0..7 {
        let p = printer(&db, &format!("P{n}"), &format!("SER{n:03}")).await;
        let at = if (1..=4).contains(&n) { T0 } else { T0 + n };
        let id = db
            .open_archive(&new(p, "a.3mf", None, at))
            .await
            .unwrap()
            .unwrap();
        expected.push((at, id));
    }
    expected.sort_by(|a, b| b.cmp(a));
    let expected: Vec<i64> = expected.into_iter().map(|(_, id)| id).collect();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = db.archives_page(&everything(), after, 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| (r.started_at, r.id));
        seen.extend(page.into_iter().map(|r| r.id));
    }
    assert_eq!(seen, expected);
}
