//! The audit log: a full round trip, newest first, and each filter (actor case-insensitive,
//! exact event, event prefix with LIKE wildcards taken literally, since/until bounds, id
//! paging, limit).

use pw_domain::{AuditEventId, UserId};
use pw_store::{AuditFilter, AuditRow, NewAuditEvent};

use crate::harness::{T0, fresh};

fn event<'a>(at: i64, actor: &'a str, name: &'a str) -> NewAuditEvent<'a> {
    NewAuditEvent {
        at,
        actor_id: None,
        actor_name: actor,
        event: name,
        target_type: None,
        target_id: None,
        success: true,
        ip: None,
        request_id: None,
        details: "{}",
    }
}

fn all() -> AuditFilter {
    AuditFilter {
        limit: 100,
        ..AuditFilter::default()
    }
}

fn events(rows: &[AuditRow]) -> Vec<&str> {
    rows.iter().map(|r| r.event.as_str()).collect()
}

#[tokio::test]
async fn an_event_round_trips_and_the_log_reads_newest_first() {
    let db = fresh().await;
    db.insert_audit_event(&NewAuditEvent {
        at: T0,
        actor_id: Some(UserId::from_db(42)),
        actor_name: "Ada",
        event: "user.created",
        target_type: Some("user"),
        target_id: Some("7"),
        success: false,
        ip: Some("192.0.2.5"),
        request_id: Some("req-1"),
        details: r#"{"username":"bob"}"#,
    })
    .await
    .unwrap();
    db.insert_audit_event(&event(T0 - 1_000, "system", "server.started"))
        .await
        .unwrap();
    let rows = db.list_audit_events(&all()).await.unwrap();
    assert_eq!(
        events(&rows),
        ["server.started", "user.created"],
        "by id, not by time"
    );
    let row = &rows[1];
    assert_eq!(
        (row.at, row.actor_id, row.actor_name.as_str()),
        (T0, Some(UserId::from_db(42)), "Ada")
    );
    assert_eq!(
        (row.target_type.as_deref(), row.target_id.as_deref()),
        (Some("user"), Some("7"))
    );
    assert!(!row.success);
    assert!(rows[0].success);
    assert_eq!(
        (row.ip.as_deref(), row.request_id.as_deref()),
        (Some("192.0.2.5"), Some("req-1"))
    );
    assert_eq!(row.details, r#"{"username":"bob"}"#);
    assert!(rows[0].id > rows[1].id);
}

#[tokio::test]
async fn actor_and_event_filters() {
    let db = fresh().await;
    for (actor, name) in [
        ("Ada", "auth.login"),
        ("ada", "auth.logout"),
        ("bob", "auth.login"),
        ("bob", "authx.login"),
        ("bob", "auth"),
        ("ada%", "user.created"),
    ] {
        db.insert_audit_event(&event(T0, actor, name))
            .await
            .unwrap();
    }
    let by_actor = |actor: &str| AuditFilter {
        actor: Some(actor.into()),
        ..all()
    };
    let rows = db.list_audit_events(&by_actor("ADA")).await.unwrap();
    assert_eq!(events(&rows), ["auth.logout", "auth.login"]);
    let rows = db.list_audit_events(&by_actor("ada%")).await.unwrap();
    assert_eq!(
        events(&rows),
        ["user.created"],
        "the actor is compared, not matched"
    );
    let by_event = |e: &str| AuditFilter {
        event: Some(e.into()),
        ..all()
    };
    let rows = db.list_audit_events(&by_event("auth.login")).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.event == "auth.login"));
    let rows = db.list_audit_events(&by_event("auth.")).await.unwrap();
    assert_eq!(events(&rows), ["auth.login", "auth.logout", "auth.login"]);
    let rows = db.list_audit_events(&by_event("auth")).await.unwrap();
    assert_eq!(events(&rows), ["auth"], "without a dot the name is exact");
    let both = AuditFilter {
        actor: Some("bob".into()),
        event: Some("auth.".into()),
        ..all()
    };
    assert_eq!(
        events(&db.list_audit_events(&both).await.unwrap()),
        ["auth.login"]
    );
}

#[tokio::test]
async fn like_wildcards_in_an_event_prefix_are_literal() {
    let db = fresh().await;
    for name in [
        "api_key.created",
        "apiXkey.created",
        "100%.done",
        "100x.done",
        "a\\b.c",
        "aXb.c",
    ] {
        db.insert_audit_event(&event(T0, "system", name))
            .await
            .unwrap();
    }
    let prefix = |e: &str| AuditFilter {
        event: Some(e.into()),
        ..all()
    };
    for (p, want) in [
        ("api_key.", "api_key.created"),
        ("100%.", "100%.done"),
        ("a\\b.", "a\\b.c"),
    ] {
        let rows = db.list_audit_events(&prefix(p)).await.unwrap();
        assert_eq!(events(&rows), [want], "prefix {p}");
    }
}

#[tokio::test]
async fn since_until_paging_and_limit() {
    let db = fresh().await;
    for i in 0..6 {
        db.insert_audit_event(&event(T0 + i * 10, "system", &format!("e.{i}")))
            .await
            .unwrap();
    }
    let window = AuditFilter {
        since: Some(T0 + 10),
        until: Some(T0 + 40),
        ..all()
    };
    assert_eq!(
        events(&db.list_audit_events(&window).await.unwrap()),
        ["e.3", "e.2", "e.1"],
        "since inclusive, until exclusive"
    );
    let first = AuditFilter { limit: 2, ..all() };
    let page1 = db.list_audit_events(&first).await.unwrap();
    assert_eq!(events(&page1), ["e.5", "e.4"]);
    let page2 = db
        .list_audit_events(&AuditFilter {
            before_id: Some(page1[1].id),
            limit: 2,
            ..all()
        })
        .await
        .unwrap();
    assert_eq!(events(&page2), ["e.3", "e.2"]);
    let past_the_end = AuditFilter {
        before_id: Some(AuditEventId::from_db(1)),
        ..all()
    };
    assert!(
        db.list_audit_events(&past_the_end)
            .await
            .unwrap()
            .is_empty()
    );
    let zero = AuditFilter { limit: 0, ..all() };
    assert!(db.list_audit_events(&zero).await.unwrap().is_empty());
}

#[tokio::test]
async fn event_names_and_prefixes_are_case_sensitive_like_on_every_backend() {
    let db = fresh().await;
    db.insert_audit_event(&event(T0, "system", "auth.login"))
        .await
        .unwrap();
    for e in ["AUTH.", "Auth.", "AUTH.LOGIN"] {
        let f = AuditFilter {
            event: Some(e.into()),
            ..all()
        };
        assert!(db.list_audit_events(&f).await.unwrap().is_empty(), "{e}");
    }
    let f = AuditFilter {
        event: Some("auth.".into()),
        ..all()
    };
    assert_eq!(
        events(&db.list_audit_events(&f).await.unwrap()),
        ["auth.login"]
    );
}
