//! Tickets: one redemption per ticket (also under a race), expiry, the sweep on insert, and
//! the cascades from the user, printer, key and session a ticket is bound to.

use pw_domain::{ApiKeyId, PrinterId};
use pw_store::{NewApiKey, StoreError, TicketRow};

use crate::harness::{T0, fresh, printer, race, session, user};

fn ticket(user: pw_domain::UserId) -> TicketRow {
    TicketRow {
        user_id: user,
        purpose: "events".into(),
        printer_id: None,
        api_key_id: None,
        session_id: None,
    }
}

#[tokio::test]
async fn a_ticket_redeems_once_with_what_it_grants() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    let p = printer(&db, "P", "S1").await;
    let s = session(&db, u, "s").await;
    let t = TicketRow {
        user_id: u,
        purpose: "camera".into(),
        printer_id: Some(p),
        api_key_id: None,
        session_id: Some(s),
    };
    db.insert_ticket("t1", &t, T0, T0 + 30_000).await.unwrap();
    let err = db.insert_ticket("t1", &t, T0, T0 + 30_000).await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    assert_eq!(db.redeem_ticket("t1", T0 + 1).await.unwrap(), Some(t));
    assert_eq!(db.redeem_ticket("t1", T0 + 1).await.unwrap(), None);
    assert_eq!(db.redeem_ticket("never", T0).await.unwrap(), None);
}

#[tokio::test]
async fn an_expired_ticket_does_not_redeem_and_is_swept_by_the_next_insert() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    db.insert_ticket("old", &ticket(u), T0, T0 + 100)
        .await
        .unwrap();
    assert_eq!(
        db.redeem_ticket("old", T0 + 100).await.unwrap(),
        None,
        "expiry is exclusive"
    );
    db.insert_ticket("new", &ticket(u), T0 + 200, T0 + 300)
        .await
        .unwrap();
    // Swept: even a clock turned back cannot redeem it now.
    assert_eq!(db.redeem_ticket("old", T0).await.unwrap(), None);
    assert!(db.redeem_ticket("new", T0 + 250).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_redemptions_let_exactly_one_win() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    for round in 0..3 {
        let digest = format!("race-{round}");
        db.insert_ticket(&digest, &ticket(u), T0, T0 + 30_000)
            .await
            .unwrap();
        let wins = race(8, || {
            let store = db.store.clone();
            let digest = digest.clone();
            async move {
                store
                    .redeem_ticket(&digest, T0 + 1)
                    .await
                    .unwrap()
                    .is_some()
            }
        })
        .await;
        assert_eq!(wins, 1, "round {round}");
    }
}

#[tokio::test]
async fn tickets_die_with_their_user_printer_key_and_session() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    let p = printer(&db, "P", "S1").await;
    let s = session(&db, u, "s").await;
    let k = db
        .insert_api_key(&NewApiKey {
            user_id: u,
            name: "k",
            scopes: "[]",
            printer_ids: None,
            now: T0,
            expires_at: None,
            kind: "api",
        })
        .await
        .unwrap();
    let bound =
        |printer_id: Option<PrinterId>, api_key_id: Option<ApiKeyId>, session_id| TicketRow {
            user_id: u,
            purpose: "events".into(),
            printer_id,
            api_key_id,
            session_id,
        };
    db.insert_ticket("by-printer", &bound(Some(p), None, None), T0, T0 + 1_000)
        .await
        .unwrap();
    db.insert_ticket("by-key", &bound(None, Some(k), None), T0, T0 + 1_000)
        .await
        .unwrap();
    db.insert_ticket("by-session", &bound(None, None, Some(s)), T0, T0 + 1_000)
        .await
        .unwrap();
    db.insert_ticket("plain", &bound(None, None, None), T0, T0 + 1_000)
        .await
        .unwrap();
    assert!(db.delete_printer(p).await.unwrap());
    assert!(db.delete_api_key(k).await.unwrap());
    assert!(db.delete_session(u, s).await.unwrap());
    for gone in ["by-printer", "by-key", "by-session"] {
        assert_eq!(db.redeem_ticket(gone, T0).await.unwrap(), None, "{gone}");
    }
    assert!(db.redeem_ticket("plain", T0).await.unwrap().is_some());
    // A ticket for a printer that does not exist is refused.
    let err = db
        .insert_ticket("ghost", &bound(Some(p), None, None), T0, T0 + 1_000)
        .await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
}
