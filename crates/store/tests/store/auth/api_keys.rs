//! API keys: the reserve-then-seal protocol, per-kind and per-owner lists (newest first),
//! touch, delete, and the cascade from the owner.

use pw_domain::{ApiKeyId, UserId};
use pw_store::{AdminCheck, NewApiKey, OwnerFilter, PageAfter, StoreError};

use crate::harness::{T0, fresh, user};

fn key<'a>(user: UserId, name: &'a str, kind: &'a str) -> NewApiKey<'a> {
    NewApiKey {
        user_id: user,
        name,
        scopes: r#"["printers:read"]"#,
        printer_ids: Some("[1,2]"),
        now: T0,
        expires_at: Some(T0 + 1_000),
        kind,
    }
}

#[tokio::test]
async fn a_key_is_reserved_then_sealed_once() {
    let db = fresh().await;
    let u = user(&db, "owner").await;
    let id = db.insert_api_key(&key(u, "ci", "api")).await.unwrap();
    let row = db.api_key(id).await.unwrap().unwrap();
    assert_eq!(row.secret_digest, "", "no secret matches before sealing");
    assert_eq!(
        (row.user_id, row.username.as_str(), row.name.as_str()),
        (u, "owner", "ci")
    );
    assert_eq!(row.scopes, r#"["printers:read"]"#);
    assert_eq!(row.printer_ids.as_deref(), Some("[1,2]"));
    assert_eq!(
        (row.created_at, row.expires_at, row.last_used_at),
        (T0, Some(T0 + 1_000), None)
    );
    assert_eq!(row.kind, "api");
    db.seal_api_key(id, "digest-1").await.unwrap();
    db.seal_api_key(id, "digest-2").await.unwrap();
    assert_eq!(
        db.api_key(id).await.unwrap().unwrap().secret_digest,
        "digest-1"
    );
    db.touch_api_key(id, T0 + 60_000).await.unwrap();
    assert_eq!(
        db.api_key(id).await.unwrap().unwrap().last_used_at,
        Some(T0 + 60_000)
    );
    assert!(
        db.api_key(ApiKeyId::from_db(id.get() + 1))
            .await
            .unwrap()
            .is_none()
    );
    let err = db
        .insert_api_key(&key(UserId::from_db(9_999), "x", "api"))
        .await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
}

#[tokio::test]
async fn lists_filter_by_kind_and_owner_newest_first() {
    let db = fresh().await;
    let a = user(&db, "a").await;
    let b = user(&db, "b").await;
    let a1 = db.insert_api_key(&key(a, "a1", "api")).await.unwrap();
    let b1 = db.insert_api_key(&key(b, "b1", "api")).await.unwrap();
    let a2 = db.insert_api_key(&key(a, "a2", "api")).await.unwrap();
    let cam = db.insert_api_key(&key(a, "cam", "camera")).await.unwrap();
    let ids = |rows: Vec<pw_store::ApiKeyRow>| rows.iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(db
            .api_keys_page("api", OwnerFilter::Only(a.get()), &first())
            .await
            .unwrap()),
        [a2, a1]
    );
    assert_eq!(
        ids(db
            .api_keys_page("api", OwnerFilter::All, &first())
            .await
            .unwrap()),
        [a2, b1, a1]
    );
    assert_eq!(
        ids(db
            .api_keys_page("camera", OwnerFilter::All, &first())
            .await
            .unwrap()),
        [cam]
    );
    assert_eq!(
        ids(db
            .api_keys_page("camera", OwnerFilter::Only(b.get()), &first())
            .await
            .unwrap()),
        []
    );
    assert!(db.delete_api_key(a2).await.unwrap());
    assert!(!db.delete_api_key(a2).await.unwrap());
    assert_eq!(
        ids(db
            .api_keys_page("api", OwnerFilter::Only(a.get()), &first())
            .await
            .unwrap()),
        [a1]
    );
    assert_eq!(
        ids(db
            .api_keys_page("api", OwnerFilter::Nothing, &first())
            .await
            .unwrap()),
        []
    );
    // The next page starts below the cursor's id, newest first.
    let after_b1 = PageAfter {
        after: Some((String::new(), b1.get())),
        fetch: 10,
    };
    assert_eq!(
        ids(db
            .api_keys_page("api", OwnerFilter::All, &after_b1)
            .await
            .unwrap()),
        [a1]
    );
}

fn first() -> PageAfter {
    PageAfter {
        after: None,
        fetch: 10,
    }
}

#[tokio::test]
async fn keys_go_with_their_owner() {
    let db = fresh().await;
    let a = user(&db, "a").await;
    let b = user(&db, "b").await;
    let ka = db.insert_api_key(&key(a, "a", "api")).await.unwrap();
    let kb = db.insert_api_key(&key(b, "b", "camera")).await.unwrap();
    assert!(
        db.delete_user(a, &[], &AdminCheck).await.is_err(),
        "no administrator at all"
    );
    // Without any administrator the guard refuses every delete; give the farm one.
    let admins = crate::harness::admins_group(&db).await;
    crate::harness::user_in(&db, "root", &[admins]).await;
    assert!(db.delete_user(a, &[], &AdminCheck).await.unwrap());
    assert!(db.api_key(ka).await.unwrap().is_none());
    assert!(db.api_key(kb).await.unwrap().is_some());
}
