//! The archive list's text filter (`q`, migration 0018): a substring of the file name, the
//! printer name or the notes, ASCII letters in any case and every other character as typed,
//! `%` and `_` plain characters — the same entries on both backends, whether a backend answers
//! from its trigram index (3 characters or more) or by walking the entries (fewer, or a
//! printer name matching); notes edited later are found, deleted and purged entries are gone,
//! and the visibility filter and keyset pages still apply.

use pw_domain::{PrinterId, UserId};
use pw_store::{ArchiveFilter, ArchivePatch, ManualArchive, PrinterFilter, Store};

use crate::harness::{T0, fresh, printer, user};

/// Records an ended entry by hand; returns its id.
async fn entry(
    db: &Store,
    printer: (PrinterId, &str),
    file: &str,
    notes: &str,
    by: UserId,
    at: i64,
) -> i64 {
    db.insert_manual_archive(&ManualArchive {
        printer_id: printer.0,
        printer_name: printer.1,
        file_name: file,
        plate: None,
        started_by: Some(by),
        started_by_name: "maker",
        started_at: at,
        ended_at: at + 1000,
        outcome: "finished",
        error: None,
        notes,
        tags: "[]",
        rating: None,
        now: at,
    })
    .await
    .unwrap()
}

fn everything(q: &str) -> ArchiveFilter {
    ArchiveFilter {
        all: PrinterFilter::All,
        q: Some(q.to_owned()),
        ..ArchiveFilter::nothing()
    }
}

/// The ids `filter` lists, oldest first (easier to read against the order they were made).
async fn found(db: &Store, filter: &ArchiveFilter) -> Vec<i64> {
    let mut ids: Vec<i64> = db
        .archives_page(filter, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.reverse();
    ids
}

#[tokio::test]
async fn text_is_a_substring_in_any_ascii_case_with_percent_and_underscore_plain() {
    let db = fresh().await;
    let me = user(&db, "me").await;
    let alpha = (printer(&db, "Alpha One", "S1").await, "Alpha One");
    let beta = (printer(&db, "Beta", "S2").await, "Beta");
    let files = [
        (alpha, "Benchy_Hull.3mf", ""),
        (beta, "calibration-cube.gcode", "first coat too LOW"),
        (alpha, "100%_infill.3mf", ""),
        (beta, "a_b.3mf", ""),
        (beta, "axb.3mf", "\"quoted\" AND NOT OR *"),
        (beta, "Über-Halter.3mf", ""),
    ];
    let mut id = Vec::new();
    for (i, (p, file, notes)) in files.into_iter().enumerate() {
        id.push(
            entry(
                &db,
                p,
                file,
                notes,
                me,
                T0 + i64::try_from(i).unwrap() * 1000,
            )
            .await,
        );
    }
    let cases: &[(&str, Vec<i64>)] = &[
        // 3 characters or more: the trigram indexes.
        ("benchy", vec![id[0]]),
        ("BENCHY_h", vec![id[0]]),
        ("hULL.3M", vec![id[0]]),
        ("coat too low", vec![id[1]]),
        ("a_b", vec![id[3]]),
        ("100%_", vec![id[2]]),
        ("%_i", vec![id[2]]),
        ("\"quoted\" and", vec![id[4]]),
        ("not or *", vec![id[4]]),
        (".3mf", vec![id[0], id[2], id[3], id[4], id[5]]),
        ("nothing like it", vec![]),
        // The printer name (on SQLite: a walk, the search table holds no printer names).
        ("ALPHA o", vec![id[0], id[2]]),
        ("eta", vec![id[1], id[3], id[4], id[5]]),
        // One or two characters: no trigram, the walk on both backends.
        ("y", vec![id[0]]),
        ("_h", vec![id[0]]),
        ("%", vec![id[2]]),
        ("_", vec![id[0], id[2], id[3]]),
        ("*", vec![id[4]]),
        ("zq", vec![]),
        // Non-ASCII letters match as typed (the one fold both backends share is ASCII's).
        ("Über-h", vec![id[5]]),
        ("ÜBER", vec![id[5]]),
        ("über", vec![]),
        ("Ü", vec![id[5]]),
        ("ü", vec![]),
    ];
    for (q, want) in cases {
        assert_eq!(&found(&db, &everything(q)).await, want, "q = {q:?}");
    }
}

#[tokio::test]
async fn notes_edited_later_are_found_and_deleted_or_purged_entries_are_gone() {
    let db = fresh().await;
    let me = user(&db, "me").await;
    let p = (printer(&db, "P", "S1").await, "P");
    let a = entry(&db, p, "bracket.3mf", "", me, T0).await;
    let b = entry(&db, p, "hinge.3mf", "", me, T0 + 1000).await;
    assert!(found(&db, &everything("warped")).await.is_empty());
    let note = |notes| ArchivePatch {
        notes: Some(notes),
        ..ArchivePatch::default()
    };
    assert!(
        db.update_archive(a, &note("Warped corner, use a brim"))
            .await
            .unwrap()
    );
    assert_eq!(found(&db, &everything("WARPED")).await, vec![a]);
    assert_eq!(found(&db, &everything("a brim")).await, vec![a]);
    // Tags and rating leave the notes (and the index) as they were.
    assert!(
        db.update_archive(
            a,
            &ArchivePatch {
                tags: Some("[\"x\"]"),
                rating: Some(Some(3)),
                ..ArchivePatch::default()
            }
        )
        .await
        .unwrap()
    );
    assert_eq!(found(&db, &everything("warped")).await, vec![a]);
    // Edited again: the old words are no longer found, the new ones are.
    assert!(db.update_archive(a, &note("fine now")).await.unwrap());
    assert!(found(&db, &everything("warped")).await.is_empty());
    assert_eq!(found(&db, &everything("fine now")).await, vec![a]);
    assert_eq!(found(&db, &everything(".3mf")).await, vec![a, b]);
    assert!(db.delete_archive(b).await.unwrap());
    assert_eq!(found(&db, &everything("hinge")).await, Vec::<i64>::new());
    assert_eq!(found(&db, &everything(".3mf")).await, vec![a]);
    assert_eq!(db.purge_archives(T0 + 10_000).await.unwrap().0, 1);
    assert!(found(&db, &everything("bracket")).await.is_empty());
    assert!(found(&db, &everything("fine")).await.is_empty());
}

#[tokio::test]
async fn text_keeps_the_visibility_filter_and_the_keyset_pages() {
    let db = fresh().await;
    let me = user(&db, "me").await;
    let other = user(&db, "other").await;
    let p = (printer(&db, "P", "S1").await, "P");
    let q = (printer(&db, "Q", "S2").await, "Q");
    let mut mine = Vec::new();
    for i in 0..5 {
        let at = T0 + i * 1000;
        mine.push(entry(&db, p, &format!("benchy-{i}.3mf"), "", me, at).await);
        entry(&db, p, &format!("benchy-theirs-{i}.3mf"), "", other, at).await;
        entry(&db, q, &format!("benchy-mine-on-q-{i}.3mf"), "", me, at).await;
    }
    // `read_own` on printer p only: my entries there, none of the other user's.
    let own = ArchiveFilter {
        own: Some((
            me.get(),
            PrinterFilter::Set {
                everywhere: false,
                printers: vec![p.0.get()],
                locations: vec![],
                within: None,
            },
        )),
        q: Some("BENCHY".into()),
        ..ArchiveFilter::nothing()
    };
    assert_eq!(found(&db, &own).await, mine);
    for short in ["y", "-1"] {
        let f = ArchiveFilter {
            q: Some(short.into()),
            ..own.clone()
        };
        let got = found(&db, &f).await;
        assert!(
            got.iter().all(|id| mine.contains(id)),
            "q = {short:?}: {got:?}"
        );
        assert!(!got.is_empty(), "q = {short:?}");
    }
    // Pages of two, newest first, through the keyset: every one of mine once.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = db.archives_page(&own, after, 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| (r.started_at, r.id));
        seen.extend(page.into_iter().map(|r| r.id));
    }
    seen.reverse();
    assert_eq!(seen, mine);
    // Nothing visible: nothing found, whatever the text.
    let none = ArchiveFilter {
        q: Some("benchy".into()),
        ..ArchiveFilter::nothing()
    };
    assert!(found(&db, &none).await.is_empty());
}
