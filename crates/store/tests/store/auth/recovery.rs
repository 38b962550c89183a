//! Password links: only the newest link per user and purpose lives, reading does not use it,
//! redeeming does (once, also under a race), and expiry is exclusive.

use pw_store::StoreError;

use crate::harness::{T0, fresh, race, user};

#[tokio::test]
async fn only_the_newest_link_per_user_and_purpose_works() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    let other = user(&db, "other").await;
    db.insert_password_token("r1", u, "reset", T0, T0 + 1_000)
        .await
        .unwrap();
    db.insert_password_token("set1", u, "set", T0, T0 + 1_000)
        .await
        .unwrap();
    db.insert_password_token("o1", other, "reset", T0, T0 + 1_000)
        .await
        .unwrap();
    db.insert_password_token("r2", u, "reset", T0 + 1, T0 + 1_000)
        .await
        .unwrap();
    assert_eq!(db.password_token("r1", T0 + 2).await.unwrap(), None);
    assert_eq!(
        db.password_token("r2", T0 + 2).await.unwrap(),
        Some((u, "reset".into()))
    );
    assert_eq!(
        db.password_token("set1", T0 + 2).await.unwrap(),
        Some((u, "set".into()))
    );
    assert_eq!(
        db.password_token("o1", T0 + 2).await.unwrap(),
        Some((other, "reset".into()))
    );
    let err = db
        .insert_password_token("o1", u, "set", T0, T0 + 1_000)
        .await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    assert_eq!(
        db.password_token("set1", T0 + 2).await.unwrap(),
        Some((u, "set".into())),
        "rolled back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_link_redeems_once_and_not_after_expiry() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    db.insert_password_token("t", u, "reset", T0, T0 + 1_000)
        .await
        .unwrap();
    assert!(db.password_token("t", T0).await.unwrap().is_some());
    assert!(
        db.password_token("t", T0).await.unwrap().is_some(),
        "peeking keeps it"
    );
    let wins = race(8, || {
        let store = db.store.clone();
        async move {
            store
                .redeem_password_token("t", T0 + 1)
                .await
                .unwrap()
                .is_some()
        }
    })
    .await;
    assert_eq!(wins, 1);
    assert_eq!(db.redeem_password_token("t", T0 + 1).await.unwrap(), None);
    db.insert_password_token("late", u, "set", T0, T0 + 1_000)
        .await
        .unwrap();
    assert_eq!(db.password_token("late", T0 + 1_000).await.unwrap(), None);
    assert_eq!(
        db.redeem_password_token("late", T0 + 1_000).await.unwrap(),
        None
    );
    // Expired links are swept by the next insert, whoever it is for.
    let other = user(&db, "other").await;
    db.insert_password_token("o", other, "reset", T0 + 2_000, T0 + 3_000)
        .await
        .unwrap();
    assert_eq!(db.redeem_password_token("late", T0).await.unwrap(), None);
}
