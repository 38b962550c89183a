//! Second factors: TOTP enrolment and forward-only steps, backup codes, emailed codes with
//! their tries and send counts, sign-in challenges, the admin reset — each "use once" checked
//! twice in a row and under a race.

use pw_store::{AdminCheck, Tries};

use crate::harness::{T0, admins_group, fresh, race, session, user, user_in};

fn codes(list: &[&str]) -> Vec<String> {
    list.iter().map(|c| (*c).to_owned()).collect()
}

#[tokio::test]
async fn totp_enrolment_needs_the_pending_secret_and_a_later_step() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    let none = db.user_mfa(u).await.unwrap();
    assert!(!none.any_enabled());
    assert_eq!(none.totp_secret, None);
    db.set_totp_pending(u, "sealed-1", T0).await.unwrap();
    db.set_totp_pending(u, "sealed-2", T0).await.unwrap();
    let row = db.user_mfa(u).await.unwrap();
    assert_eq!(row.totp_pending.as_deref(), Some("sealed-2"));
    assert!(!row.any_enabled(), "pending is not enabled");
    assert!(
        !db.enable_totp(u, "sealed-1", 100, &codes(&["b1"]), T0)
            .await
            .unwrap()
    );
    assert!(
        db.enable_totp(u, "sealed-2", 100, &codes(&["b1", "b2"]), T0)
            .await
            .unwrap()
    );
    assert!(
        !db.enable_totp(u, "sealed-2", 101, &codes(&["x"]), T0)
            .await
            .unwrap(),
        "pending is gone"
    );
    let row = db.user_mfa(u).await.unwrap();
    assert_eq!(row.totp_secret.as_deref(), Some("sealed-2"));
    assert_eq!(
        (row.totp_pending.as_deref(), row.totp_last_step),
        (None, Some(100))
    );
    assert!(row.any_enabled());
    let digests: Vec<String> = db
        .backup_codes(u)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.1)
        .collect();
    assert_eq!(digests, ["b1", "b2"]);
    assert_eq!(db.users_with_second_factor().await.unwrap(), [u]);

    // Steps move forward only; the step used to enrol is spent.
    assert!(!db.accept_totp_step(u, 100).await.unwrap());
    assert!(!db.accept_totp_step(u, 99).await.unwrap());
    assert!(db.accept_totp_step(u, 101).await.unwrap());
    assert!(!db.accept_totp_step(u, 101).await.unwrap());

    // Re-enrolling with an old step fails even with the right pending secret.
    db.set_totp_pending(u, "sealed-3", T0).await.unwrap();
    assert!(
        !db.enable_totp(u, "sealed-3", 101, &codes(&[]), T0)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn disabling_totp_keeps_the_last_step_and_drops_backup_codes() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    db.set_totp_pending(u, "s", T0).await.unwrap();
    assert!(
        db.enable_totp(u, "s", 50, &codes(&["b"]), T0)
            .await
            .unwrap()
    );
    db.disable_totp(u, T0).await.unwrap();
    let row = db.user_mfa(u).await.unwrap();
    assert_eq!(
        (row.totp_secret, row.totp_pending, row.totp_last_step),
        (None, None, Some(50))
    );
    assert!(db.backup_codes(u).await.unwrap().is_empty());
    assert!(
        !db.accept_totp_step(u, 60).await.unwrap(),
        "no secret, no step"
    );
    assert!(db.users_with_second_factor().await.unwrap().is_empty());
    db.set_totp_pending(u, "s", T0).await.unwrap();
    assert!(
        !db.enable_totp(u, "s", 50, &codes(&[]), T0).await.unwrap(),
        "step 50 stays spent"
    );
    assert!(db.enable_totp(u, "s", 51, &codes(&[]), T0).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_totp_step_and_a_backup_code_are_accepted_once_under_a_race() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    let other = user(&db, "other").await;
    db.set_totp_pending(u, "s", T0).await.unwrap();
    assert!(
        db.enable_totp(u, "s", 10, &codes(&["b1", "b2"]), T0)
            .await
            .unwrap()
    );
    let wins = race(8, || {
        let store = db.store.clone();
        async move { store.accept_totp_step(u, 11).await.unwrap() }
    })
    .await;
    assert_eq!(wins, 1);
    let (code, _) = db.backup_codes(u).await.unwrap()[0].clone();
    assert!(
        !db.use_backup_code(other, code).await.unwrap(),
        "someone else's code"
    );
    let wins = race(8, || {
        let store = db.store.clone();
        async move { store.use_backup_code(u, code).await.unwrap() }
    })
    .await;
    assert_eq!(wins, 1);
    assert!(!db.use_backup_code(u, code).await.unwrap());
    assert_eq!(db.backup_codes(u).await.unwrap().len(), 1);
    db.replace_backup_codes(u, &codes(&["n1", "n2", "n3"]))
        .await
        .unwrap();
    let digests: Vec<String> = db
        .backup_codes(u)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.1)
        .collect();
    assert_eq!(digests, ["n1", "n2", "n3"]);
}

#[tokio::test]
async fn emailed_codes_replace_each_other_count_tries_and_are_used_once() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    db.set_email_mfa(u, true, T0).await.unwrap();
    assert!(db.user_mfa(u).await.unwrap().email_enabled);
    assert_eq!(db.users_with_second_factor().await.unwrap(), [u]);
    db.store_email_code(u, "signin", "d1", T0 + 600, T0, T0 - 3_600_000)
        .await
        .unwrap();
    db.store_email_code(u, "signin", "d2", T0 + 600, T0 + 1, T0 - 3_600_000)
        .await
        .unwrap();
    db.store_email_code(u, "enable", "e1", T0 + 600, T0 + 2, T0 - 3_600_000)
        .await
        .unwrap();
    assert_eq!(db.email_code_sends(u, T0 - 1).await.unwrap(), 3);
    assert_eq!(
        db.email_code_sends(u, T0).await.unwrap(),
        2,
        "since is exclusive"
    );
    let live = db.email_code(u, "signin", T0 + 10).await.unwrap().unwrap();
    assert_eq!(
        (live.digest.as_str(), live.expires_at, live.attempts),
        ("d2", T0 + 600, 0)
    );
    assert!(
        !db.use_email_code(u, "signin", "d1", T0 + 10).await.unwrap(),
        "replaced"
    );
    assert_eq!(
        db.fail_email_code(u, "signin", 3).await.unwrap(),
        Tries::Left
    );
    assert_eq!(
        db.fail_email_code(u, "signin", 3).await.unwrap(),
        Tries::Left
    );
    assert_eq!(
        db.email_code(u, "signin", T0)
            .await
            .unwrap()
            .unwrap()
            .attempts,
        2
    );
    assert_eq!(
        db.fail_email_code(u, "signin", 3).await.unwrap(),
        Tries::Exhausted
    );
    assert!(db.email_code(u, "signin", T0).await.unwrap().is_none());
    assert!(!db.use_email_code(u, "signin", "d2", T0).await.unwrap());
    // The other purpose is untouched; expiry is exclusive; a code works once.
    assert!(
        db.email_code(u, "enable", T0 + 600)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !db.use_email_code(u, "enable", "e1", T0 + 600)
            .await
            .unwrap()
    );
    assert!(
        db.use_email_code(u, "enable", "e1", T0 + 599)
            .await
            .unwrap()
    );
    assert!(
        !db.use_email_code(u, "enable", "e1", T0 + 599)
            .await
            .unwrap()
    );
    // Old send records are forgotten when the next code is stored.
    db.store_email_code(u, "signin", "d3", T0 + 9_000, T0 + 5_000, T0 + 1)
        .await
        .unwrap();
    assert_eq!(db.email_code_sends(u, 0).await.unwrap(), 2);
    // Switching emailed codes off voids the live ones.
    db.set_email_mfa(u, false, T0).await.unwrap();
    assert!(!db.user_mfa(u).await.unwrap().email_enabled);
    assert!(db.email_code(u, "signin", T0).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn challenges_are_consumed_once_even_under_a_race() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    db.insert_challenge("c1", u, T0, T0 + 300).await.unwrap();
    assert_eq!(db.challenge_user("c1", T0 + 1).await.unwrap(), Some(u));
    assert_eq!(
        db.challenge_user("c1", T0 + 1).await.unwrap(),
        Some(u),
        "reading keeps it"
    );
    assert_eq!(
        db.challenge_user("c1", T0 + 300).await.unwrap(),
        None,
        "expired"
    );
    let wins = race(8, || {
        let store = db.store.clone();
        async move { store.consume_challenge("c1", T0 + 1).await.unwrap() }
    })
    .await;
    assert_eq!(wins, 1);
    assert!(!db.consume_challenge("c1", T0 + 1).await.unwrap());
    assert_eq!(db.challenge_user("c1", T0 + 1).await.unwrap(), None);
    // An expired challenge cannot be consumed, and the next insert sweeps it.
    db.insert_challenge("c2", u, T0, T0 + 10).await.unwrap();
    assert!(!db.consume_challenge("c2", T0 + 10).await.unwrap());
    db.insert_challenge("c3", u, T0 + 20, T0 + 40)
        .await
        .unwrap();
    assert_eq!(db.challenge_user("c2", T0).await.unwrap(), None, "swept");
}

#[tokio::test]
async fn an_admin_reset_clears_every_factor_and_ends_sessions() {
    let db = fresh().await;
    let admins = admins_group(&db).await;
    user_in(&db, "root", &[admins]).await;
    let u = user(&db, "u").await;
    let other = user(&db, "other").await;
    for who in [u, other] {
        db.set_totp_pending(who, "s", T0).await.unwrap();
        assert!(
            db.enable_totp(who, "s", 1, &codes(&["b"]), T0)
                .await
                .unwrap()
        );
        db.set_email_mfa(who, true, T0).await.unwrap();
        db.store_email_code(who, "signin", "d", T0 + 60, T0, 0)
            .await
            .unwrap();
        db.insert_challenge(&format!("c-{}", who.get()), who, T0, T0 + 60)
            .await
            .unwrap();
    }
    session(&db, u, "s-u").await;
    db.reset_mfa(u).await.unwrap();
    let row = db.user_mfa(u).await.unwrap();
    assert!(!row.any_enabled());
    assert_eq!(row.totp_last_step, None);
    assert!(db.backup_codes(u).await.unwrap().is_empty());
    assert!(db.email_code(u, "signin", T0).await.unwrap().is_none());
    assert_eq!(
        db.challenge_user(&format!("c-{}", u.get()), T0)
            .await
            .unwrap(),
        None
    );
    assert!(db.session_by_digest("s-u").await.unwrap().is_none());
    assert_eq!(db.user(u).await.unwrap().unwrap().security_stamp, 1);
    // The other user keeps everything.
    assert!(db.user_mfa(other).await.unwrap().any_enabled());
    assert_eq!(db.backup_codes(other).await.unwrap().len(), 1);
    assert_eq!(db.users_with_second_factor().await.unwrap(), [other]);
    // Deleting the user cascades their factor rows.
    assert!(db.delete_user(other, &[], &AdminCheck).await.unwrap());
    assert!(db.backup_codes(other).await.unwrap().is_empty());
    assert!(!db.user_mfa(other).await.unwrap().any_enabled());
}
