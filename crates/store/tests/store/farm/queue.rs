//! The queue's rows: many concurrent claimers take each item exactly once; a claim honours
//! targets (printer, model, location), pauses, "not before", retry times, priority and position
//! (across target kinds too), skips an item another claimer holds, and one active item per
//! printer; transitions are compare-and-set; reorder renumbers only
//! the given items; pages run in SQL with the owner and state filters.

use std::sync::{Arc, Mutex};

use pw_domain::{PrinterId, UserId};
use pw_store::{
    NewQueueItem, OwnerFilter, QueueItemPatch, QueueQuery, QueueState, QueueStep, QueueTarget,
    Store,
};

use crate::harness::{T0, fresh, printer, printer_at, race, user};

fn item<'a>(target: &'a QueueTarget, owner: Option<UserId>, priority: i64) -> NewQueueItem<'a> {
    NewQueueItem {
        library_file_id: None,
        archive_id: None,
        file_sha256: "ab",
        file_name: "benchy.gcode.3mf",
        plate: 1,
        target,
        copies: 1,
        priority,
        not_before: None,
        options: "{}",
        ams_mapping: None,
        created_by: owner,
        created_by_name: owner.map(|_| "olga"),
        now: T0,
    }
}

async fn add(db: &Store, target: &QueueTarget, priority: i64) -> i64 {
    db.insert_queue_item(&item(target, None, priority))
        .await
        .unwrap()
}

async fn claim(db: &Store, p: PrinterId, now: i64) -> Option<i64> {
    db.claim_next_queue_item(p, "X1C", None, now)
        .await
        .unwrap()
        .map(|i| i.id)
}

async fn finish(db: &Store, id: i64) -> bool {
    db.set_queue_item_state(
        id,
        QueueState::Dispatching,
        QueueState::Done,
        &QueueStep::default(),
        T0,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn concurrent_claimers_take_every_item_exactly_once() {
    let db = fresh().await;
    let mut printers = Vec::new();
    for i in 0..8 {
        printers.push(printer(&db, &format!("p{i}"), &format!("S{i:03}")).await);
    }
    let model = QueueTarget::Model("X1C".into());
    let mut items = Vec::new();
    for i in 0..60 {
        items.push(add(&db, &model, i % 3).await);
    }
    let claimed = Arc::new(Mutex::new(Vec::new()));
    let store = db.store.clone();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Two claimers per printer, all at once: they race for items and for printers.
    let wins = race(16, || {
        let store = store.clone();
        let claimed = claimed.clone();
        let p = printers[next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 8];
        async move {
            let mut mine = 0;
            loop {
                match store
                    .claim_next_queue_item(p, "X1C", None, T0)
                    .await
                    .unwrap()
                {
                    Some(item) => {
                        assert_eq!(item.state, QueueState::Dispatching);
                        assert_eq!(item.printer_id, Some(p));
                        assert_eq!(item.attempts, 1);
                        claimed.lock().unwrap().push(item.id);
                        mine += 1;
                        assert!(
                            store
                                .set_queue_item_state(
                                    item.id,
                                    QueueState::Dispatching,
                                    QueueState::Done,
                                    &QueueStep::default(),
                                    T0,
                                )
                                .await
                                .unwrap()
                        );
                    }
                    None => {
                        let left = store
                            .queue_items_page(&QueueQuery {
                                owner: OwnerFilter::All,
                                state: Some(QueueState::Queued),
                                printer: None,
                                after: None,
                                fetch: 1,
                            })
                            .await
                            .unwrap();
                        if left.is_empty() {
                            break;
                        }
                        tokio::task::yield_now().await;
                    }
                }
            }
            let _ = mine;
            true
        }
    })
    .await;
    assert_eq!(wins, 16);
    let mut got = claimed.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got.len(), 60, "every item claimed once: {got:?}");
    got.dedup();
    assert_eq!(got.len(), 60, "no item claimed twice");
    items.sort_unstable();
    assert_eq!(got, items);
}

#[tokio::test]
async fn one_printer_holds_one_active_item_whatever_the_race() {
    let db = fresh().await;
    let p = printer(&db, "p", "S1").await;
    let target = QueueTarget::Printer(Some(p));
    for _ in 0..10 {
        add(&db, &target, 0).await;
    }
    let store = db.store.clone();
    let wins = race(10, || {
        let store = store.clone();
        async move { claim(&store, p, T0).await.is_some() }
    })
    .await;
    assert_eq!(wins, 1, "one claim per printer until it is free again");
}

#[tokio::test]
async fn claims_honour_targets_pauses_times_and_order() {
    let db = fresh().await;
    let loc = db.insert_location("Workshop", "", T0).await.unwrap();
    let a = printer_at(&db, "a", "S1", Some(loc)).await;
    let b = printer(&db, "b", "S2").await;
    let to_b = add(&db, &QueueTarget::Printer(Some(b)), 0).await;
    let to_p1s = add(&db, &QueueTarget::Model("P1S".into()), 0).await;
    let low = add(&db, &QueueTarget::Location(Some(loc)), 0).await;
    let high = add(&db, &QueueTarget::Model("X1C".into()), 5).await;
    let later = db
        .insert_queue_item(&NewQueueItem {
            not_before: Some(T0 + 60_000),
            ..item(&QueueTarget::Printer(Some(a)), None, 9)
        })
        .await
        .unwrap();

    // The whole queue paused: nothing; a's lane paused: a gets nothing, b still works.
    assert!(db.pause_queue(None, None, Some("admin"), T0).await.unwrap());
    assert!(!db.pause_queue(None, None, Some("admin"), T0).await.unwrap());
    assert_eq!(claim(&db, a, T0).await, None);
    assert!(db.resume_queue(None).await.unwrap());
    assert!(db.pause_queue(Some(a), None, None, T0).await.unwrap());
    assert_eq!(claim(&db, a, T0).await, None);
    let pauses = db.queue_pauses().await.unwrap();
    assert_eq!(pauses.len(), 1);
    assert_eq!(pauses[0].printer_id, Some(a));
    assert!(db.resume_queue(Some(a)).await.unwrap());
    assert!(!db.resume_queue(Some(a)).await.unwrap());

    // Priority first (the "not before" one waits), then position; b's own item is not a's;
    // the P1S item is nobody's here.
    let got = db
        .claim_next_queue_item(a, "X1C", Some(loc), T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.id, high);
    // Busy: a holds an active item.
    assert!(
        db.claim_next_queue_item(a, "X1C", Some(loc), T0)
            .await
            .unwrap()
            .is_none()
    );
    assert!(finish(&db, high).await);
    assert_eq!(
        db.claim_next_queue_item(a, "X1C", Some(loc), T0)
            .await
            .unwrap()
            .map(|i| i.id),
        Some(low)
    );
    assert!(finish(&db, low).await);
    assert_eq!(claim(&db, a, T0).await, None, "later waits");
    assert_eq!(claim(&db, a, T0 + 60_000).await, Some(later));
    assert_eq!(claim(&db, b, T0).await, Some(to_b));

    // A failed start goes back to queued with a retry time, and waits for it.
    assert!(
        db.set_queue_item_state(
            to_b,
            QueueState::Dispatching,
            QueueState::Queued,
            &QueueStep {
                reason: Some(Some("The printer did not answer.")),
                next_attempt_at: Some(Some(T0 + 30_000)),
                ..QueueStep::default()
            },
            T0,
        )
        .await
        .unwrap()
    );
    let back = db.queue_item(to_b).await.unwrap().unwrap();
    assert_eq!(back.state, QueueState::Queued);
    assert_eq!(back.printer_id, None);
    assert_eq!(back.reason.as_deref(), Some("The printer did not answer."));
    assert_eq!(claim(&db, b, T0 + 29_999).await, None);
    let again = db
        .claim_next_queue_item(b, "X1C", None, T0 + 30_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id, again.attempts), (to_b, 2));
    let untouched = db.queue_item(to_p1s).await.unwrap().unwrap();
    assert_eq!(untouched.state, QueueState::Queued);
    assert_eq!(untouched.target, QueueTarget::Model("P1S".into()));
}

/// The claim looks for the best item of each target kind apart (one ordered index each) and
/// keeps the best of them: across kinds, priority still comes first, then position; within a
/// kind, items not startable yet are walked past; a printer that nothing targets gets nothing
/// however long the queue.
#[tokio::test]
async fn the_best_item_wins_across_printer_model_and_location_targets() {
    let db = fresh().await;
    let hall = db.insert_location("Hall", "", T0).await.unwrap();
    let annex = db.insert_location("Annex", "", T0).await.unwrap();
    let a = printer_at(&db, "a", "S1", Some(hall)).await;
    let lone = printer_at(&db, "lone", "S2", Some(annex)).await;
    let to_a = QueueTarget::Printer(Some(a));
    let x1c = QueueTarget::Model("X1C".into());
    let in_hall = QueueTarget::Location(Some(hall));
    let not_yet = |target| NewQueueItem {
        not_before: Some(T0 + 60_000),
        ..item(target, None, 3)
    };
    // Queue order: each kind's best startable item has priority 1 (the model's is first by
    // position); higher-priority items of every kind wait for "not before".
    db.insert_queue_item(&not_yet(&to_a)).await.unwrap();
    db.insert_queue_item(&not_yet(&x1c)).await.unwrap();
    db.insert_queue_item(&not_yet(&in_hall)).await.unwrap();
    let model_1 = add(&db, &x1c, 1).await;
    let printer_1 = add(&db, &to_a, 1).await;
    let location_2 = add(&db, &in_hall, 2).await;
    let location_1 = add(&db, &in_hall, 1).await;
    for _ in 0..20 {
        add(&db, &QueueTarget::Model("P1S".into()), 5).await;
    }
    let mut order = Vec::new();
    while let Some(got) = db
        .claim_next_queue_item(a, "x1c", Some(hall), T0)
        .await
        .unwrap()
    {
        order.push(got.id);
        assert!(finish(&db, got.id).await);
    }
    assert_eq!(order, [location_2, model_1, printer_1, location_1]);
    // Nothing is for the lone printer's model (H2D), its location or itself.
    assert!(
        db.claim_next_queue_item(lone, "H2D", Some(annex), T0 + 60_000)
            .await
            .unwrap()
            .is_none()
    );
}

/// PostgreSQL only (SQLite has one writer, so no claimer ever holds a row another one looks
/// at): while another transaction holds the best item, a claim takes the next best instead of
/// waiting or giving up, as `SKIP LOCKED` did before the claim looked per target kind.
#[tokio::test]
async fn a_claim_skips_the_item_another_claimer_holds() {
    use sqlx::Connection;
    let db = fresh().await;
    let Some(url) = db.pg_url() else {
        return;
    };
    let a = printer(&db, "a", "S1").await;
    let x1c = QueueTarget::Model("X1C".into());
    let best = add(&db, &x1c, 2).await;
    let next = add(&db, &x1c, 1).await;
    let mut other = sqlx::PgConnection::connect(url).await.unwrap();
    let mut held = other.begin().await.unwrap();
    sqlx::query("SELECT id FROM queue_items WHERE id = $1 FOR UPDATE")
        .bind(best)
        .fetch_one(&mut *held)
        .await
        .unwrap();
    let got = db
        .claim_next_queue_item(a, "X1C", None, T0)
        .await
        .unwrap()
        .map(|i| i.id);
    assert_eq!(got, Some(next));
    held.rollback().await.unwrap();
    assert_eq!(
        db.queue_item(best).await.unwrap().unwrap().state,
        QueueState::Queued
    );
}

#[tokio::test]
async fn transitions_only_move_from_the_expected_state() {
    let db = fresh().await;
    let p = printer(&db, "p", "S1").await;
    let id = add(&db, &QueueTarget::Printer(Some(p)), 0).await;
    let step = QueueStep::default();
    // Not dispatching yet: printing is refused; a patch works while queued.
    assert!(
        !db.set_queue_item_state(id, QueueState::Dispatching, QueueState::Printing, &step, T0)
            .await
            .unwrap()
    );
    assert!(
        db.update_queue_item(
            id,
            &QueueItemPatch {
                copies: Some(3),
                ams_mapping: Some(Some("[]")),
                ..QueueItemPatch::default()
            },
            T0
        )
        .await
        .unwrap()
    );
    assert_eq!(claim(&db, p, T0).await, Some(id));
    // Claimed: a cancel expecting `queued` loses, and so does a patch.
    assert!(
        !db.set_queue_item_state(id, QueueState::Queued, QueueState::Cancelled, &step, T0)
            .await
            .unwrap()
    );
    assert!(
        !db.update_queue_item(
            id,
            &QueueItemPatch {
                copies: Some(1),
                ..QueueItemPatch::default()
            },
            T0
        )
        .await
        .unwrap()
    );
    assert!(
        db.set_queue_item_state(
            id,
            QueueState::Dispatching,
            QueueState::Printing,
            &QueueStep {
                copy_done: true,
                ..QueueStep::default()
            },
            T0 + 1
        )
        .await
        .unwrap()
    );
    assert!(
        db.set_queue_item_state(id, QueueState::Printing, QueueState::Failed, &step, T0 + 2)
            .await
            .unwrap()
    );
    let row = db.queue_item(id).await.unwrap().unwrap();
    assert_eq!(row.state, QueueState::Failed);
    assert_eq!((row.copies, row.copies_done), (3, 1));
    assert_eq!(row.ended_at, Some(T0 + 2));
    assert_eq!(row.printer_id, None, "a final state frees the printer");
    assert_eq!(row.ams_mapping.as_deref(), Some("[]"));
}

#[tokio::test]
async fn reorder_renumbers_only_the_given_items() {
    let db = fresh().await;
    let p = printer(&db, "p", "S1").await;
    let t = QueueTarget::Printer(Some(p));
    let a = add(&db, &t, 0).await;
    let b = add(&db, &t, 0).await;
    let c = add(&db, &t, 0).await;
    let d = add(&db, &t, 0).await;
    assert!(db.reorder_queue_items(&[d, b], T0).await.unwrap());
    let order =
        |rows: Vec<pw_store::QueueItemRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = QueueQuery {
        owner: OwnerFilter::All,
        state: None,
        printer: None,
        after: None,
        fetch: 10,
    };
    assert_eq!(
        order(db.queue_items_page(&all).await.unwrap()),
        [a, d, c, b]
    );
    assert!(!db.reorder_queue_items(&[a, 999_999], T0).await.unwrap());
    assert_eq!(
        order(db.queue_items_page(&all).await.unwrap()),
        [a, d, c, b]
    );
}

#[tokio::test]
async fn pages_run_in_sql_with_owner_state_and_printer_filters() {
    let db = fresh().await;
    let olga = user(&db, "olga").await;
    let otto = user(&db, "otto").await;
    let p = printer(&db, "p", "S1").await;
    let q = printer(&db, "q", "S2").await;
    let tp = QueueTarget::Printer(Some(p));
    let tq = QueueTarget::Printer(Some(q));
    let mut mine = Vec::new();
    for i in 0..5 {
        mine.push(
            db.insert_queue_item(&item(&tp, Some(olga), i % 2))
                .await
                .unwrap(),
        );
        db.insert_queue_item(&item(&tq, Some(otto), 0))
            .await
            .unwrap();
    }
    db.insert_queue_item(&item(&tq, None, 0)).await.unwrap();
    // Olga's, two at a time: priority first, then position, never another's row.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let rows = db
            .queue_items_page(&QueueQuery {
                owner: OwnerFilter::Only(olga.get()),
                state: None,
                printer: None,
                after,
                fetch: 2,
            })
            .await
            .unwrap();
        assert!(rows.iter().all(|r| r.created_by == Some(olga)));
        let Some(last) = rows.last() else { break };
        after = Some((last.priority, last.position, last.id));
        seen.extend(rows.iter().map(|r| r.id));
    }
    assert_eq!(seen, [mine[1], mine[3], mine[0], mine[2], mine[4]]);
    let none = QueueQuery {
        owner: OwnerFilter::Nothing,
        state: None,
        printer: None,
        after: None,
        fetch: 50,
    };
    assert!(db.queue_items_page(&none).await.unwrap().is_empty());
    let on_q = db
        .queue_items_page(&QueueQuery {
            owner: OwnerFilter::All,
            printer: Some(q),
            ..none.clone()
        })
        .await
        .unwrap();
    assert_eq!(on_q.len(), 6);
    assert_eq!(
        db.queue_items_page(&QueueQuery {
            owner: OwnerFilter::All,
            state: Some(QueueState::Done),
            ..none
        })
        .await
        .unwrap()
        .len(),
        0
    );
    assert_eq!(db.count_queue_items_of(olga).await.unwrap(), 5);
    assert_eq!(db.queue_items_of(None).await.unwrap().len(), 1);
    // The name outlives the account; the item goes ownerless (items=keep).
    let row = db.queue_item(mine[0]).await.unwrap().unwrap();
    assert_eq!(row.created_by_name.as_deref(), Some("olga"));
}
