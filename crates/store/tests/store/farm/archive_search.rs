//! The archive list's text filter (`q`, migration 0018): a substring of the file name, the
//! printer name or the notes, ASCII letters in any case and every other character as typed,
//! `%` and `_` plain characters — the same entries on both backends, whether a backend answers
//! from its trigram index (3 characters or more) or by walking the entries (fewer, or a
//! printer name matching); notes edited later are found, deleted and purged entries are gone,
//! and the visibility filter and keyset pages still apply. A list page searches a text of 1–2
//! characters among a window of entries and says where it stopped; following the pages finds
//! exactly what a naive filter over every entry finds, on both sides of every threshold.

use pw_domain::{PrinterId, UserId};
use pw_store::{
    ArchiveFilter, ArchivePatch, Backend, ManualArchive, PrinterFilter, SHORT_TEXT_WINDOW,
    SQLITE_SEARCH_SORT_MAX, SearchTuning, Store, short_text,
};

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

/// A small deterministic generator (xorshift): the same "random" archive on every run and
/// both backends, so a failure names its seed and repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }
    fn text(&mut self, max: usize) -> String {
        // Few letters (so short texts match now and then), both cases, LIKE's special
        // characters, and a non-ASCII letter.
        const CHARS: &[char] = &['a', 'b', 'c', 'B', 'x', '_', '%', '-', '.', 'é', 'Z'];
        let len = self.below(max + 1);
        (0..len).map(|_| CHARS[self.below(CHARS.len())]).collect()
    }
}

/// One generated entry and what the naive filter needs to know of it.
struct Generated {
    id: i64,
    at: i64,
    printer: PrinterId,
    printer_name: String,
    file: String,
    notes: String,
    by: Option<UserId>,
}

/// The naive text match: a substring after the ASCII-only fold, in any searched column.
fn naive_text(e: &Generated, q: &str) -> bool {
    let q = q.to_ascii_lowercase();
    [&e.file, &e.printer_name, &e.notes]
        .iter()
        .any(|c| c.to_ascii_lowercase().contains(&q))
}

/// Follows a list to its end the way the API does (a page of `limit`, one more fetched to
/// know whether more follow; a page that stopped at its window continues after it), and
/// returns every id in order, with how many pages stopped at the window.
async fn walk(db: &Store, filter: &ArchiveFilter, limit: i64) -> (Vec<i64>, usize) {
    let mut ids = Vec::new();
    let mut after = None;
    let mut stopped = 0;
    for _ in 0..10_000 {
        let page = db.archives_list(filter, after, limit + 1).await.unwrap();
        let shown = usize::try_from(limit).unwrap();
        let more = page.rows.len() > shown;
        let rows: Vec<_> = page.rows.into_iter().take(shown).collect();
        ids.extend(rows.iter().map(|r| r.id));
        after = if more {
            assert!(page.searched_to.is_none(), "a full page never stops early");
            rows.last().map(|r| (r.started_at, r.id))
        } else if let Some(to) = page.searched_to {
            stopped += 1;
            // The window's end is never before a row the page shows (no match repeats).
            assert!(rows.iter().all(|r| (r.started_at, r.id) >= to));
            Some(to)
        } else {
            return (ids, stopped);
        };
    }
    assert!(after.is_none(), "the list did not end within 10,000 pages");
    (ids, stopped)
}

#[tokio::test]
async fn following_the_pages_finds_exactly_the_naive_matches_for_every_text_length() {
    let mut db = fresh().await;
    let me = user(&db, "me").await;
    let other = user(&db, "other").await;
    let printers = [
        (printer(&db, "Alpha", "S1").await, "Alpha"),
        (printer(&db, "Beta_2", "S2").await, "Beta_2"),
        (printer(&db, "Gamma %", "S3").await, "Gamma %"),
    ];
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut all = Vec::new();
    for _ in 0..80 {
        let (p, name) = printers[rng.below(printers.len())];
        let file = format!("{}.3mf", rng.text(6));
        let notes = if rng.below(3) == 0 {
            rng.text(5)
        } else {
            String::new()
        };
        // Few distinct times: many entries share one (the id breaks the tie).
        let at = T0 + i64::try_from(rng.below(40)).unwrap() * 1000;
        // Mine, the other user's, and nobody's (recorded outside printwarden), interleaved.
        let by = match rng.below(3) {
            0 => Some(me),
            1 => Some(other),
            _ => None,
        };
        let id = db
            .insert_manual_archive(&ManualArchive {
                printer_id: p,
                printer_name: name,
                file_name: &file,
                plate: None,
                started_by: by,
                started_by_name: "someone",
                started_at: at,
                ended_at: at + 1000,
                outcome: "finished",
                error: None,
                notes: &notes,
                tags: "[]",
                rating: None,
                now: at,
            })
            .await
            .unwrap();
        all.push(Generated {
            id,
            at,
            printer: p,
            printer_name: name.to_owned(),
            file,
            notes,
            by,
        });
    }
    all.sort_by_key(|e| std::cmp::Reverse((e.at, e.id)));
    // Texts of 1, 2 and 3+ characters: pieces of real entries (they match) and made-up ones
    // (mostly nothing).
    let mut texts: Vec<String> = vec!["%".into(), "zq".into()];
    for len in 1..=4 {
        for _ in 0..2 {
            let e = &all[rng.below(all.len())];
            let chars: Vec<char> = e.file.chars().collect();
            if chars.len() >= len {
                let start = rng.below(chars.len() - len + 1);
                texts.push(chars[start..start + len].iter().collect());
            }
        }
        let made_up: String = (0..len)
            .map(|_| ['q', 'x', 'B', '-'][rng.below(4)])
            .collect();
        texts.push(made_up);
    }
    // Whose view: everything; my entries on Alpha only (`read_own` scoped); Beta's entries
    // plus mine anywhere; everything on Gamma (a `?printer_id=`).
    let alpha = PrinterFilter::Set {
        everywhere: false,
        printers: vec![printers[0].0.get()],
        locations: vec![],
        within: None,
    };
    let beta = PrinterFilter::Set {
        everywhere: false,
        printers: vec![printers[1].0.get()],
        locations: vec![],
        within: None,
    };
    type Sees = Box<dyn Fn(&Generated) -> bool>;
    let (a, b, g) = (printers[0].0, printers[1].0, printers[2].0);
    let views: Vec<(&str, ArchiveFilter, Sees)> = vec![
        (
            "all",
            ArchiveFilter {
                all: PrinterFilter::All,
                ..ArchiveFilter::nothing()
            },
            Box::new(|_| true),
        ),
        (
            "own on Alpha",
            ArchiveFilter {
                own: Some((me.get(), alpha)),
                ..ArchiveFilter::nothing()
            },
            Box::new(move |e| e.by == Some(me) && e.printer == a),
        ),
        (
            "Beta and mine",
            ArchiveFilter {
                all: beta,
                own: Some((me.get(), PrinterFilter::All)),
                ..ArchiveFilter::nothing()
            },
            Box::new(move |e| e.printer == b || e.by == Some(me)),
        ),
        (
            "printer Gamma",
            ArchiveFilter {
                all: PrinterFilter::All,
                printer: Some(g.get()),
                ..ArchiveFilter::nothing()
            },
            Box::new(move |e| e.printer == g),
        ),
    ];
    let default = db.store.clone();
    // A window of 7 entries (the production one is 5,000): 80 entries make many windows. A
    // SQLite sort limit of 5 puts texts on both sides of the switch between the search table
    // and the walk.
    let small = default.clone().with_search_tuning(SearchTuning {
        sqlite_sort_max: 5,
        short_text_window: 7,
    });
    let mut stopped_short = 0;
    for (view, filter, sees) in &views {
        for q in &texts {
            let want: Vec<i64> = all
                .iter()
                .filter(|e| sees(e) && naive_text(e, q))
                .map(|e| e.id)
                .collect();
            let filter = ArchiveFilter {
                q: Some(q.clone()),
                ..filter.clone()
            };
            for (tuning, store, limit) in [
                ("default", &default, 50),
                ("small", &small, 2),
                ("small", &small, 50),
            ] {
                {
                    db.store = store.clone();
                    let (got, stopped) = walk(&db, &filter, limit).await;
                    assert_eq!(
                        got, want,
                        "view {view}, q = {q:?}, limit {limit}, tuning {tuning}"
                    );
                    if !short_text(q) || tuning == "default" {
                        assert_eq!(stopped, 0, "only short texts stop at the window");
                    }
                    stopped_short += stopped;
                }
            }
            // The export's read (every match, no window) agrees too.
            db.store = small.clone();
            let mut export: Vec<i64> = db
                .archives_page(&filter, None, 1000)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect();
            assert_eq!(export, want, "export, view {view}, q = {q:?}");
            export.clear();
        }
    }
    assert!(
        stopped_short > 30,
        "the window was reached: {stopped_short}"
    );
}

#[tokio::test]
async fn a_short_text_page_stops_at_its_window_and_says_where() {
    let mut db = fresh().await;
    let me = user(&db, "me").await;
    let p = (printer(&db, "P", "S1").await, "P");
    // 10 entries, the oldest one matching "zq".
    let old = entry(&db, p, "zq.3mf", "", me, T0).await;
    for i in 1..10 {
        entry(&db, p, "part.3mf", "", me, T0 + i * 1000).await;
    }
    db.store = db.store.clone().with_search_tuning(SearchTuning {
        sqlite_sort_max: SQLITE_SEARCH_SORT_MAX,
        short_text_window: 4,
    });
    let f = everything("zq");
    // The 4 newest read, no match: an empty page that says how far it searched.
    let page = db.archives_list(&f, None, 51).await.unwrap();
    assert!(page.rows.is_empty());
    assert_eq!(page.searched_to, Some((T0 + 6000, old + 6)));
    let page = db.archives_list(&f, page.searched_to, 51).await.unwrap();
    assert!(page.rows.is_empty());
    assert_eq!(page.searched_to, Some((T0 + 2000, old + 2)));
    // The last window reaches the oldest entry: the match, and nothing more to search.
    let page = db.archives_list(&f, page.searched_to, 51).await.unwrap();
    assert_eq!(
        page.rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![old]
    );
    assert_eq!(page.searched_to, None);
    // Exactly the window's size left: it ends with the data, no empty page after it.
    let page = db
        .archives_list(&f, Some((T0 + 4000, old + 4)), 51)
        .await
        .unwrap();
    assert_eq!(
        page.rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![old]
    );
    assert_eq!(page.searched_to, None);
    // Three characters: the index (or the whole walk), never a window.
    let page = db
        .archives_list(&everything("zq."), None, 51)
        .await
        .unwrap();
    assert_eq!(
        page.rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![old]
    );
    assert_eq!(page.searched_to, None);
    // A common short text fills the page inside the window: no stop.
    let page = db.archives_list(&everything("pa"), None, 3).await.unwrap();
    assert_eq!(page.rows.len(), 3);
    assert_eq!(page.searched_to, None);
}

#[tokio::test]
async fn sqlite_takes_the_search_table_up_to_its_sort_limit_and_the_walk_beyond() {
    let mut db = fresh().await;
    let me = user(&db, "me").await;
    let p = (printer(&db, "Printer", "S1").await, "Printer");
    let mut rare = Vec::new();
    let mut common = Vec::new();
    for i in 0..20 {
        let (file, list) = if i % 5 == 0 {
            ("rare-bracket.3mf", &mut rare)
        } else {
            ("common-hinge.3mf", &mut common)
        };
        list.push(entry(&db, p, file, "", me, T0 + i * 1000).await);
    }
    let mut both = rare.clone();
    both.extend(&common);
    both.sort_unstable();
    let store = db.store.clone();
    // 4 rare entries, 16 common ones: with a limit of 10, "bracket" is on the search table's
    // side and "hinge" on the walk's; with 100 both on the search table's, with 1 both walk.
    for (limit, rare_path, common_path) in [
        (10, "search table", "walk"),
        (100, "search table", "search table"),
        (1, "walk", "walk"),
    ] {
        db.store = store.clone().with_search_tuning(SearchTuning {
            sqlite_sort_max: limit,
            short_text_window: SHORT_TEXT_WINDOW,
        });
        let path = |q: &'static str| {
            let db = db.store.clone();
            async move { db.archive_search_path(q).await.unwrap() }
        };
        if db.backend() == Backend::Sqlite {
            assert_eq!(path("bracket").await, rare_path, "limit {limit}");
            assert_eq!(path("hinge").await, common_path, "limit {limit}");
            // A printer name matches: the walk, whatever the count.
            assert_eq!(path("printer").await, "walk", "limit {limit}");
        } else {
            assert_eq!(path("bracket").await, "trigram index or walk");
        }
        // The same entries on either side, in pages too (newest first there).
        for (q, want) in [("BRACKET", &rare), ("hinge", &common), (".3mf", &both)] {
            assert_eq!(&found(&db, &everything(q)).await, want, "q = {q:?}");
            let mut newest_first = want.clone();
            newest_first.reverse();
            assert_eq!(
                walk(&db, &everything(q), 3).await.0,
                newest_first,
                "q = {q:?}"
            );
        }
    }
}

#[tokio::test]
async fn the_index_check_tells_when_postgresql_lacks_the_trigram_indexes() {
    let db = fresh().await;
    assert!(db.archive_search_indexed().await.unwrap());
    let Some(url) = db.pg_url() else {
        return;
    };
    // As after a migration where pg_trgm could not be created: no search indexes.
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql("DROP INDEX archives_search_notes")
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(!db.archive_search_indexed().await.unwrap());
    // The search still answers, by walking.
    let me = user(&db, "me").await;
    let p = (printer(&db, "P", "S1").await, "P");
    let id = entry(&db, p, "part.3mf", "warped corner", me, T0).await;
    assert_eq!(found(&db, &everything("corner")).await, vec![id]);
}
