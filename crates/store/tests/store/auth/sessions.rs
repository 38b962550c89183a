//! Sessions: lookup by digest with the user's stamp, rotation, the owner-filtered list and
//! delete, expiry (absolute and idle) and revocation of a user's sessions.

use pw_domain::{SessionId, UserId};
use pw_store::{NewSession, StoreError};

use crate::harness::{T0, fresh, session, user};

const DAY: i64 = 86_400_000;

#[tokio::test]
async fn a_session_is_found_by_its_digest_with_the_stamp() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    let id = session(&db, u, "digest-1").await;
    let (row, stamp) = db.session_by_digest("digest-1").await.unwrap().unwrap();
    assert_eq!(row.id, id);
    assert_eq!(row.user_id, u);
    assert_eq!(
        (row.created_at, row.last_seen_at, row.expires_at),
        (T0, T0, T0 + DAY)
    );
    assert_eq!(row.ip.as_deref(), Some("192.0.2.1"));
    assert_eq!(row.user_agent.as_deref(), Some("test"));
    assert_eq!(stamp, 0);
    assert_eq!(db.session_stamp(id).await.unwrap(), Some(0));
    assert!(db.session_by_digest("digest-2").await.unwrap().is_none());
    assert_eq!(
        db.session_stamp(SessionId::from_db(id.get() + 1))
            .await
            .unwrap(),
        None
    );
    // Digests are unique; a session needs an existing user.
    let err = db
        .insert_session(&NewSession {
            user_id: u,
            token_digest: "digest-1",
            now: T0,
            expires_at: T0 + DAY,
            ip: None,
            user_agent: None,
            strength: pw_domain::SignInStrength::Password,
        })
        .await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    let err = db
        .insert_session(&NewSession {
            user_id: UserId::from_db(9_999),
            token_digest: "digest-3",
            now: T0,
            expires_at: T0 + DAY,
            ip: None,
            user_agent: None,
            strength: pw_domain::SignInStrength::Password,
        })
        .await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
}

#[tokio::test]
async fn rotation_replaces_the_token_and_touch_moves_last_seen() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    let id = session(&db, u, "old").await;
    assert!(db.rotate_session(id, "new", T0 + 10).await.unwrap());
    assert!(db.session_by_digest("old").await.unwrap().is_none());
    let (row, _) = db.session_by_digest("new").await.unwrap().unwrap();
    assert_eq!((row.id, row.last_seen_at), (id, T0 + 10));
    db.touch_session(id, T0 + 20).await.unwrap();
    assert_eq!(
        db.session_by_digest("new")
            .await
            .unwrap()
            .unwrap()
            .0
            .last_seen_at,
        T0 + 20
    );
    assert!(
        !db.rotate_session(SessionId::from_db(9_999), "x", T0)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn the_list_shows_only_the_users_live_sessions_newest_first() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    let other = user(&db, "other").await;
    let mk = |digest: &'static str, created: i64, expires: i64| NewSession {
        user_id: u,
        token_digest: digest,
        now: created,
        expires_at: expires,
        ip: None,
        user_agent: None,
        strength: pw_domain::SignInStrength::Password,
    };
    let older = db.insert_session(&mk("a", T0, T0 + DAY)).await.unwrap();
    let newer = db.insert_session(&mk("b", T0 + 5, T0 + DAY)).await.unwrap();
    let tie = db.insert_session(&mk("c", T0 + 5, T0 + DAY)).await.unwrap();
    db.insert_session(&mk("expired", T0, T0 + 100))
        .await
        .unwrap();
    let idle = db
        .insert_session(&mk("idle", T0 + 1, T0 + DAY))
        .await
        .unwrap();
    session(&db, other, "theirs").await;
    db.touch_session(older, T0 + 1_000).await.unwrap();
    db.touch_session(newer, T0 + 1_000).await.unwrap();
    db.touch_session(tie, T0 + 1_000).await.unwrap();
    let _ = idle; // last seen at T0 + 1, before the idle cutoff below
    let now = T0 + 200;
    let ids: Vec<SessionId> = db
        .list_sessions(u, T0 + 500, now)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, [tie, newer, older]);
    // Both ends are exclusive: expiring exactly now, or last seen exactly at the cutoff, is out.
    let at_expiry = db.list_sessions(u, T0, T0 + 100).await.unwrap();
    assert!(at_expiry.iter().all(|s| s.expires_at > T0 + 100));
    let at_cutoff = db.list_sessions(u, T0 + 1, now).await.unwrap();
    assert!(!at_cutoff.iter().any(|s| s.id == idle));
}

#[tokio::test]
async fn a_user_deletes_only_their_own_sessions() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    let other = user(&db, "other").await;
    let mine = session(&db, u, "mine").await;
    let theirs = session(&db, other, "theirs").await;
    assert!(!db.delete_session(u, theirs).await.unwrap());
    assert!(db.session_by_digest("theirs").await.unwrap().is_some());
    assert!(db.delete_session(u, mine).await.unwrap());
    assert!(!db.delete_session(u, mine).await.unwrap());
    assert!(db.session_by_digest("mine").await.unwrap().is_none());
}

#[tokio::test]
async fn sign_out_everywhere_keeps_one_and_counts_the_rest() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    let other = user(&db, "other").await;
    let keep = session(&db, u, "keep").await;
    session(&db, u, "x").await;
    session(&db, u, "y").await;
    session(&db, other, "theirs").await;
    assert_eq!(db.delete_sessions_of(u, Some(keep)).await.unwrap(), 2);
    assert!(db.session_by_digest("keep").await.unwrap().is_some());
    assert_eq!(db.delete_sessions_of(u, None).await.unwrap(), 1);
    assert!(db.session_by_digest("keep").await.unwrap().is_none());
    assert!(db.session_by_digest("theirs").await.unwrap().is_some());
}

#[tokio::test]
async fn expiry_sweeps_absolute_and_idle_sessions_only() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    let mk = |digest: &'static str, expires: i64| NewSession {
        user_id: u,
        token_digest: digest,
        now: T0,
        expires_at: expires,
        ip: None,
        user_agent: None,
        strength: pw_domain::SignInStrength::Password,
    };
    db.insert_session(&mk("past", T0 + 100)).await.unwrap();
    let idle = db.insert_session(&mk("idle", T0 + DAY)).await.unwrap();
    let live = db.insert_session(&mk("live", T0 + DAY)).await.unwrap();
    db.touch_session(live, T0 + 600).await.unwrap();
    let _ = idle;
    assert_eq!(
        db.delete_expired_sessions(T0 + 500, T0 + 100)
            .await
            .unwrap(),
        2
    );
    assert!(db.session_by_digest("live").await.unwrap().is_some());
    assert!(db.session_by_digest("past").await.unwrap().is_none());
    assert!(db.session_by_digest("idle").await.unwrap().is_none());
    assert_eq!(
        db.delete_expired_sessions(T0 + 500, T0 + 100)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn invalidating_users_bumps_stamps_and_ends_their_sessions() {
    let db = fresh().await;
    let a = user(&db, "a").await;
    let b = user(&db, "b").await;
    let c = user(&db, "c").await;
    let keep = session(&db, a, "a-keep").await;
    session(&db, a, "a-drop").await;
    session(&db, b, "b").await;
    session(&db, c, "c").await;
    db.invalidate_users(&[a, b], Some(keep)).await.unwrap();
    assert_eq!(db.session_stamp(keep).await.unwrap(), Some(1));
    assert!(db.session_by_digest("a-drop").await.unwrap().is_none());
    assert!(db.session_by_digest("b").await.unwrap().is_none());
    assert_eq!(db.user(b).await.unwrap().unwrap().security_stamp, 1);
    let (_, stamp) = db.session_by_digest("c").await.unwrap().unwrap();
    assert_eq!(stamp, 0);
}
