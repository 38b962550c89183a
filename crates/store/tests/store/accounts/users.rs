//! Users: insert and read by id, name and email key; uniqueness; patches and what each one
//! revokes; deletion with its cascades, disowned links and kept names; the users page.

use pw_domain::{Email, GroupId, UserId, Username};
use pw_store::{AdminCheck, NewUser, PageAfter, StoreError, UserPatch};

use crate::harness::{T0, admins_group, fresh, group, printer, session, user, user_in, with_admin};

#[tokio::test]
async fn a_user_round_trips_and_is_found_by_its_keys() {
    let db = fresh().await;
    let g = group(&db, "Makers", false, &["printers:read"]).await;
    let id = db
        .insert_user(
            &NewUser {
                username: Username::parse("Ada.L").unwrap(),
                email: Some(Email::parse("Ada@Example.com").unwrap()),
                password_hash: Some("$argon2id$x".into()),
                auth_source: "local",
                group_ids: vec![g],
            },
            T0,
        )
        .await
        .unwrap();
    let row = db.user(id).await.unwrap().unwrap();
    assert_eq!(row.username.as_str(), "Ada.L");
    assert_eq!(row.email.as_ref().unwrap().as_str(), "Ada@Example.com");
    assert_eq!(row.password_hash.as_deref(), Some("$argon2id$x"));
    assert_eq!(row.auth_source, "local");
    assert!(!row.disabled);
    assert_eq!(row.security_stamp, 0);
    assert_eq!((row.created_at, row.updated_at), (T0, T0));
    assert_eq!(db.user_by_username("ada.l").await.unwrap().unwrap().id, id);
    assert!(
        db.user_by_username("Ada.L").await.unwrap().is_none(),
        "lookups use the key"
    );
    assert_eq!(
        db.user_by_email("ada@example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        id
    );
    assert!(
        db.user(UserId::from_db(id.get() + 1))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(db.memberships().await.unwrap(), vec![(id, g)]);
}

#[tokio::test]
async fn usernames_and_emails_are_unique_case_insensitively() {
    let db = fresh().await;
    let a = user(&db, "alice").await;
    let twin = |name: &str, email: &str| NewUser {
        username: Username::parse(name).unwrap(),
        email: Some(Email::parse(email).unwrap()),
        password_hash: None,
        auth_source: "local",
        group_ids: vec![],
    };
    let err = db
        .insert_user(&twin("ALICE", "other@example.com"), T0)
        .await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    let err = db.insert_user(&twin("bob", "Alice@EXAMPLE.com"), T0).await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    // A user without an address does not collide with another one without.
    let mut no_mail = twin("carol", "x@example.com");
    no_mail.email = None;
    db.insert_user(&no_mail, T0).await.unwrap();
    no_mail.username = Username::parse("dave").unwrap();
    db.insert_user(&no_mail, T0).await.unwrap();
    // A membership in a group that does not exist rolls the whole insert back.
    let mut ghost = twin("erin", "erin@example.com");
    ghost.group_ids = vec![GroupId::from_db(999)];
    let err = db.insert_user(&ghost, T0).await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    assert!(db.user_by_username("erin").await.unwrap().is_none());

    assert_eq!(
        db.identity_taken(Some("alice"), Some("alice@example.com"), None)
            .await
            .unwrap(),
        (true, true)
    );
    assert_eq!(
        db.identity_taken(Some("alice"), Some("alice@example.com"), Some(a))
            .await
            .unwrap(),
        (false, false),
        "the user's own name is not taken from them"
    );
    assert_eq!(
        db.identity_taken(None, Some("nobody@example.com"), None)
            .await
            .unwrap(),
        (false, false)
    );
    assert_eq!(
        db.identity_taken(Some("carol"), None, None).await.unwrap(),
        (true, false)
    );
}

#[tokio::test]
async fn lists_are_in_username_order_with_their_groups() {
    let db = fresh().await;
    let g1 = group(&db, "One", false, &[]).await;
    let g2 = group(&db, "Two", false, &[]).await;
    let z = user_in(&db, "Zed", &[g2, g1]).await;
    let a = user(&db, "amy").await;
    let m = user_in(&db, "Mo", &[g1]).await;
    let names: Vec<String> = db
        .list_users()
        .await
        .unwrap()
        .iter()
        .map(|u| u.username.as_str().to_owned())
        .collect();
    assert_eq!(names, ["amy", "Mo", "Zed"]);
    let with: Vec<(UserId, Vec<GroupId>)> = db
        .list_users_with_groups()
        .await
        .unwrap()
        .into_iter()
        .map(|(u, mut g)| {
            g.sort();
            (u.id, g)
        })
        .collect();
    let mut both = vec![g1, g2];
    both.sort();
    assert_eq!(with, vec![(a, vec![]), (m, vec![g1]), (z, both)]);
}

#[tokio::test]
async fn an_email_change_bumps_the_stamp_and_keeps_sessions() {
    let db = fresh().await;
    let (_, admin) = with_admin(&db).await;
    let u = user(&db, "eve").await;
    session(&db, u, "s-eve").await;
    let patch = UserPatch {
        email: Some(Some(Email::parse("New@Example.com").unwrap())),
        ..UserPatch::default()
    };
    assert!(
        db.update_user(u, &patch, &AdminCheck, None, T0 + 5)
            .await
            .unwrap()
    );
    let row = db.user(u).await.unwrap().unwrap();
    assert_eq!(row.email.unwrap().as_str(), "New@Example.com");
    assert_eq!(row.security_stamp, 1);
    assert_eq!(row.updated_at, T0 + 5);
    assert_eq!(
        db.user_by_email("new@example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        u
    );
    assert!(db.session_by_digest("s-eve").await.unwrap().is_some());
    // Clearing it frees the address; taking someone else's is a conflict.
    let clear = UserPatch {
        email: Some(None),
        ..UserPatch::default()
    };
    assert!(
        db.update_user(u, &clear, &AdminCheck, None, T0)
            .await
            .unwrap()
    );
    assert!(db.user(u).await.unwrap().unwrap().email.is_none());
    let steal = UserPatch {
        email: Some(Some(Email::parse("ADMIN@example.com").unwrap())),
        ..UserPatch::default()
    };
    let err = db.update_user(u, &steal, &AdminCheck, None, T0).await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    assert!(
        db.user_by_email("admin@example.com")
            .await
            .unwrap()
            .unwrap()
            .id
            == admin
    );
    // A missing user is reported, not created.
    let ghost = UserId::from_db(9_999);
    assert!(
        !db.update_user(ghost, &clear, &AdminCheck, None, T0)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_password_change_revokes_other_sessions_and_keeps_the_callers() {
    let db = fresh().await;
    with_admin(&db).await;
    let u = user(&db, "pat").await;
    let mine = session(&db, u, "s-mine").await;
    session(&db, u, "s-other").await;
    let patch = UserPatch {
        password_hash: Some("new-hash".into()),
        ..UserPatch::default()
    };
    assert!(
        db.update_user(u, &patch, &AdminCheck, Some(mine), T0 + 1)
            .await
            .unwrap()
    );
    let row = db.user(u).await.unwrap().unwrap();
    assert_eq!(row.password_hash.as_deref(), Some("new-hash"));
    assert_eq!(row.security_stamp, 1);
    assert!(db.session_by_digest("s-mine").await.unwrap().is_some());
    assert!(db.session_by_digest("s-other").await.unwrap().is_none());
    // A rehash changes the hash only.
    db.rehash_password(u, "rehashed").await.unwrap();
    let row = db.user(u).await.unwrap().unwrap();
    assert_eq!(row.password_hash.as_deref(), Some("rehashed"));
    assert_eq!(row.security_stamp, 1);
    assert!(db.session_by_digest("s-mine").await.unwrap().is_some());
}

#[tokio::test]
async fn disabling_or_regrouping_revokes_every_session() {
    let db = fresh().await;
    with_admin(&db).await;
    let g1 = group(&db, "One", false, &[]).await;
    let g2 = group(&db, "Two", false, &[]).await;
    let u = user_in(&db, "dan", &[g1]).await;
    session(&db, u, "s1").await;
    let patch = UserPatch {
        group_ids: Some(vec![g2]),
        ..UserPatch::default()
    };
    assert!(
        db.update_user(u, &patch, &AdminCheck, None, T0)
            .await
            .unwrap()
    );
    assert_eq!(
        db.memberships()
            .await
            .unwrap()
            .iter()
            .filter(|m| m.0 == u)
            .count(),
        1
    );
    assert!(db.memberships().await.unwrap().contains(&(u, g2)));
    assert!(db.session_by_digest("s1").await.unwrap().is_none());
    session(&db, u, "s2").await;
    let patch = UserPatch {
        disabled: Some(true),
        ..UserPatch::default()
    };
    assert!(
        db.update_user(u, &patch, &AdminCheck, None, T0)
            .await
            .unwrap()
    );
    let row = db.user(u).await.unwrap().unwrap();
    assert!(row.disabled);
    assert_eq!(row.security_stamp, 2);
    assert!(db.session_by_digest("s2").await.unwrap().is_none());
}

#[tokio::test]
async fn the_last_administrator_cannot_be_disabled_demoted_or_deleted() {
    let db = fresh().await;
    let (_, admin) = with_admin(&db).await;
    session(&db, admin, "s-admin").await;
    for patch in [
        UserPatch {
            disabled: Some(true),
            ..UserPatch::default()
        },
        UserPatch {
            group_ids: Some(vec![]),
            ..UserPatch::default()
        },
    ] {
        let err = db.update_user(admin, &patch, &AdminCheck, None, T0).await;
        assert!(matches!(err, Err(StoreError::LastAdministrator)), "{err:?}");
    }
    let err = db.delete_user(admin, &[], &AdminCheck).await;
    assert!(matches!(err, Err(StoreError::LastAdministrator)), "{err:?}");
    // Everything rolled back: still enabled, still a member, the session survived.
    let row = db.user(admin).await.unwrap().unwrap();
    assert!(!row.disabled);
    assert_eq!(row.security_stamp, 0);
    assert_eq!(db.count_administrators(&AdminCheck).await.unwrap(), 1);
    assert!(db.session_by_digest("s-admin").await.unwrap().is_some());
}

#[tokio::test]
async fn deleting_a_user_cascades_their_account_rows_and_disowns_the_rest() {
    let db = fresh().await;
    with_admin(&db).await;
    let u = user(&db, "gone").await;
    let keep = user(&db, "stays").await;
    session(&db, u, "s-gone").await;
    session(&db, keep, "s-stays").await;
    let key = db
        .insert_api_key(&pw_store::NewApiKey {
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
    let p = printer(&db, "P1", "SER1").await;
    // Rows that name the user without a foreign key: the caller's registry disowns them.
    let webhook = db
        .insert_webhook(
            &pw_store::NewWebhook {
                name: "w",
                url: "https://example.com/h",
                secret: None,
                events: "[]",
                enabled: true,
                created_by: Some(u),
                kind: "printwarden",
            },
            T0,
        )
        .await
        .unwrap();
    let other = db
        .insert_webhook(
            &pw_store::NewWebhook {
                name: "w2",
                url: "https://example.com/h",
                secret: None,
                events: "[]",
                enabled: true,
                created_by: Some(keep),
                kind: "printwarden",
            },
            T0,
        )
        .await
        .unwrap();
    let job = db
        .insert_print_job(p, Some(u), "gone", "a.3mf", T0)
        .await
        .unwrap();

    let err = db
        .delete_user(u, &[("webhooks; --", "created_by")], &AdminCheck)
        .await;
    assert!(matches!(err, Err(StoreError::Database(_))), "{err:?}");
    assert!(
        db.user(u).await.unwrap().is_some(),
        "a strange name changes nothing"
    );

    assert!(
        db.delete_user(u, &[("webhooks", "created_by")], &AdminCheck)
            .await
            .unwrap()
    );
    assert!(db.user(u).await.unwrap().is_none());
    assert!(db.session_by_digest("s-gone").await.unwrap().is_none());
    assert!(db.session_by_digest("s-stays").await.unwrap().is_some());
    assert!(db.api_key(key).await.unwrap().is_none());
    assert_eq!(db.webhook(webhook).await.unwrap().unwrap().created_by, None);
    assert_eq!(
        db.webhook(other).await.unwrap().unwrap().created_by,
        Some(keep)
    );
    let open = db.open_print_job(p).await.unwrap().unwrap();
    assert_eq!((open.id, open.started_by), (job, None));
    assert_eq!(open.started_by_name.as_deref(), Some("gone"));
    assert!(
        !db.delete_user(u, &[], &AdminCheck).await.unwrap(),
        "already gone"
    );
}

#[tokio::test]
async fn a_second_administrator_can_leave_and_a_disabled_one_does_not_count() {
    let db = fresh().await;
    let g = admins_group(&db).await;
    let a = user_in(&db, "a1", &[g]).await;
    let b = user_in(&db, "a2", &[g]).await;
    assert_eq!(db.count_administrators(&AdminCheck).await.unwrap(), 2);
    let disable = UserPatch {
        disabled: Some(true),
        ..UserPatch::default()
    };
    assert!(
        db.update_user(b, &disable, &AdminCheck, None, T0)
            .await
            .unwrap()
    );
    assert_eq!(db.count_administrators(&AdminCheck).await.unwrap(), 1);
    let err = db.delete_user(a, &[], &AdminCheck).await;
    assert!(matches!(err, Err(StoreError::LastAdministrator)), "{err:?}");
    let enable = UserPatch {
        disabled: Some(false),
        ..UserPatch::default()
    };
    assert!(
        db.update_user(b, &enable, &AdminCheck, None, T0)
            .await
            .unwrap()
    );
    assert!(db.delete_user(a, &[], &AdminCheck).await.unwrap());
    assert_eq!(db.count_administrators(&AdminCheck).await.unwrap(), 1);
}

#[tokio::test]
async fn the_users_page_carries_groups_and_sort_keys() {
    let db = fresh().await;
    let g = group(&db, "G", false, &[]).await;
    let b = user_in(&db, "Bea", &[g]).await;
    let a = user(&db, "al").await;
    let first = db
        .users_page(&PageAfter {
            after: None,
            fetch: 1,
        })
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].0.id, first[0].2.as_str()), (a, "al"));
    assert!(first[0].1.is_empty());
    let next = db
        .users_page(&PageAfter {
            after: Some((first[0].2.clone(), first[0].0.id.get())),
            fetch: 5,
        })
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(
        (next[0].0.id, next[0].1.clone(), next[0].2.as_str()),
        (b, vec![g], "bea")
    );
}
