//! `src/page.rs` through the pages that use it: `(key, id)` order with ties on the key, more
//! than two pages, a cursor past the end, rows deleted or added between pages, and a printer
//! filter applied in the same query (a page never carries a row the filter hides).

use pw_domain::{PrinterId, UserId};
use pw_store::{AdminCheck, PageAfter, PrinterFilter, Store};

use crate::harness::{T0, admins_group, fresh, printer, printer_at, user_in};

/// Reads every page of `fetch` rows, starting each after the last row of the one before.
async fn walk(store: &Store, filter: &PrinterFilter, fetch: i64) -> Vec<Vec<PrinterId>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let rows = store
            .printers_page(
                filter,
                &PageAfter {
                    after: after.clone(),
                    fetch,
                },
            )
            .await
            .unwrap();
        let Some(last) = rows.last() else { break };
        after = Some((last.name.clone(), last.id.get()));
        pages.push(rows.iter().map(|r| r.id).collect());
        assert!(pages.len() < 100, "paging does not end");
    }
    pages
}

#[tokio::test]
async fn pages_follow_name_then_id_across_ties() {
    let db = fresh().await;
    // Inserted out of order; three printers share the name "B".
    let c = printer(&db, "C", "s1").await;
    let b1 = printer(&db, "B", "s2").await;
    let a = printer(&db, "A", "s3").await;
    let b2 = printer(&db, "B", "s4").await;
    let b3 = printer(&db, "B", "s5").await;
    let d = printer(&db, "D", "s6").await;
    let e = printer(&db, "E", "s7").await;
    let order = vec![a, b1, b2, b3, c, d, e];
    let all = db.list_printers().await.unwrap();
    assert_eq!(all.iter().map(|p| p.id).collect::<Vec<_>>(), order);
    for fetch in [1, 2, 3, 7, 50] {
        let pages = walk(&db, &PrinterFilter::All, fetch).await;
        assert_eq!(pages.concat(), order, "fetch {fetch}");
        assert!(pages.iter().all(|p| p.len() as i64 <= fetch));
        let fetch = usize::try_from(fetch).unwrap();
        assert_eq!(pages.len(), order.len().div_ceil(fetch), "fetch {fetch}");
    }
    // Two rows into the tie: the rest of the tie, then the next name.
    let rest = db
        .printers_page(
            &PrinterFilter::All,
            &PageAfter {
                after: Some(("B".into(), b1.get())),
                fetch: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|p| p.id).collect::<Vec<_>>(), [b2, b3, c]);
}

#[tokio::test]
async fn a_cursor_past_the_end_or_before_the_start() {
    let db = fresh().await;
    let a = printer(&db, "A", "s1").await;
    let z = printer(&db, "Z", "s2").await;
    let page = |after: Option<(String, i64)>| {
        let store = db.store.clone();
        async move {
            store
                .printers_page(&PrinterFilter::All, &PageAfter { after, fetch: 10 })
                .await
                .unwrap()
                .iter()
                .map(|p| p.id)
                .collect::<Vec<_>>()
        }
    };
    assert!(page(Some(("Z".into(), z.get()))).await.is_empty());
    assert!(page(Some(("zz".into(), 0))).await.is_empty());
    assert!(page(Some(("Z".into(), i64::MAX))).await.is_empty());
    assert_eq!(page(Some((String::new(), 0))).await, [a, z]);
    assert_eq!(
        page(Some(("A".into(), 0))).await,
        [a, z],
        "same key, smaller id"
    );
    // A cursor naming a row that no longer exists still lands in the right place.
    assert!(db.delete_printer(a).await.unwrap());
    assert_eq!(page(Some(("A".into(), a.get()))).await, [z]);
}

#[tokio::test]
async fn rows_deleted_or_added_between_pages_neither_repeat_nor_skip() {
    let db = fresh().await;
    let mut ids = Vec::new();
    for (i, name) in ["a", "b", "c", "d", "e", "f", "g", "h"].iter().enumerate() {
        ids.push(printer(&db, name, &format!("s{i}")).await);
    }
    let fetch = 3;
    let first = db
        .printers_page(&PrinterFilter::All, &PageAfter { after: None, fetch })
        .await
        .unwrap();
    assert_eq!(first.iter().map(|p| p.id).collect::<Vec<_>>(), ids[0..3]);
    let cursor = Some((first[2].name.clone(), first[2].id.get()));
    // Between pages: the cursor row itself, a row already shown and the next unseen row go;
    // a row sorting before the cursor and one after it arrive.
    assert!(db.delete_printer(ids[2]).await.unwrap());
    assert!(db.delete_printer(ids[0]).await.unwrap());
    assert!(db.delete_printer(ids[3]).await.unwrap());
    printer(&db, "a2", "new-early").await;
    let late = printer(&db, "e2", "new-late").await;
    let second = db
        .printers_page(
            &PrinterFilter::All,
            &PageAfter {
                after: cursor,
                fetch,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        second.iter().map(|p| p.id).collect::<Vec<_>>(),
        [ids[4], late, ids[5]]
    );
    let cursor = Some((second[2].name.clone(), second[2].id.get()));
    let third = db
        .printers_page(
            &PrinterFilter::All,
            &PageAfter {
                after: cursor,
                fetch,
            },
        )
        .await
        .unwrap();
    assert_eq!(third.iter().map(|p| p.id).collect::<Vec<_>>(), ids[6..8]);
}

#[tokio::test]
async fn a_filtered_page_never_carries_a_hidden_printer() {
    let db = fresh().await;
    let lab = db.insert_location("Lab", "", T0).await.unwrap();
    let mut visible = Vec::new();
    let mut hidden = Vec::new();
    for i in 0..12 {
        let name = format!("P{:02}", i);
        if i % 3 == 0 {
            hidden.push(printer(&db, &name, &format!("h{i}")).await);
        } else if i % 3 == 1 {
            visible.push(printer_at(&db, &name, &format!("l{i}"), Some(lab)).await);
        } else {
            let p = printer(&db, &name, &format!("n{i}")).await;
            visible.push(p);
        }
    }
    let named: Vec<i64> = db
        .list_printers()
        .await
        .unwrap()
        .iter()
        .filter(|p| p.location_id.is_none() && !hidden.contains(&p.id))
        .map(|p| p.id.get())
        .collect();
    let scope = PrinterFilter::Set {
        everywhere: false,
        printers: named,
        locations: vec![lab.get()],
        within: None,
    };
    let pages = walk(&db, &scope, 3).await;
    assert!(pages.len() > 2, "{pages:?}");
    assert_eq!(pages.concat(), visible);
    let (last, full) = pages.split_last().unwrap();
    assert!(
        full.iter().all(|p| p.len() == 3) && last.len() == 2,
        "hidden rows do not shorten pages: {pages:?}"
    );
    // An API key's list narrows further: only printers in the lab *and* on the key's list
    // (visible[0] and visible[2] stand in the lab, visible[1] and hidden[0] do not).
    let within = PrinterFilter::Set {
        everywhere: false,
        printers: vec![],
        locations: vec![lab.get()],
        within: Some(vec![
            visible[0].get(),
            hidden[0].get(),
            visible[1].get(),
            visible[2].get(),
        ]),
    };
    assert_eq!(
        walk(&db, &within, 1).await.concat(),
        [visible[0], visible[2]]
    );
    assert!(walk(&db, &PrinterFilter::Nothing, 5).await.is_empty());
}

#[tokio::test]
async fn the_users_page_walks_by_key_and_survives_a_deletion() {
    let db = fresh().await;
    let admins = admins_group(&db).await;
    let mut ids: Vec<(String, UserId)> = Vec::new();
    for name in ["Mia", "al", "Bo", "zed", "Cy", "dee", "eve"] {
        ids.push((name.to_lowercase(), user_in(&db, name, &[admins]).await));
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let rows = db
            .users_page(&PageAfter {
                after: after.clone(),
                fetch: 2,
            })
            .await
            .unwrap();
        let Some(last) = rows.last() else { break };
        after = Some((last.2.clone(), last.0.id.get()));
        for (u, groups, key) in &rows {
            assert_eq!(groups, &[admins]);
            assert_eq!(key, &u.username.key());
            seen.push(u.id);
        }
        pages += 1;
        assert!(pages < 100, "paging does not end");
        if pages == 1 {
            // The next unseen user goes between the first and second page.
            let (_, next) = &ids[2];
            assert!(db.delete_user(*next, &[], &AdminCheck).await.unwrap());
        }
    }
    let want: Vec<UserId> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, (_, id))| *id)
        .collect();
    assert_eq!(seen, want);
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn the_webhooks_page_walks_by_id() {
    let db = fresh().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let name = format!("w{i}");
        ids.push(
            db.insert_webhook(
                &pw_store::NewWebhook {
                    name: &name,
                    url: "https://example.com/",
                    secret: None,
                    events: "[]",
                    enabled: i % 2 == 0,
                    created_by: None,
                    kind: "printwarden",
                },
                T0,
            )
            .await
            .unwrap(),
        );
    }
    let page = |after: Option<i64>, fetch| {
        let store = db.store.clone();
        async move {
            store
                .webhooks_page(&PageAfter {
                    after: after.map(|i| (String::new(), i)),
                    fetch,
                })
                .await
                .unwrap()
                .iter()
                .map(|w| w.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page(None, 2).await, ids[0..2]);
    assert!(db.delete_webhook(ids[2]).await.unwrap());
    assert_eq!(page(Some(ids[1].get()), 2).await, ids[3..5]);
    assert!(page(Some(ids[4].get()), 2).await.is_empty());
    // The text part of the cursor is ignored for lists in id order.
    let odd = db
        .webhooks_page(&PageAfter {
            after: Some(("zzz".into(), ids[0].get())),
            fetch: 10,
        })
        .await
        .unwrap();
    assert_eq!(odd.len(), 3);
}
