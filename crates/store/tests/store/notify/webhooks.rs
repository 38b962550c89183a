//! Webhooks: round trip, patches (including removing versus keeping the secret), the enabled
//! list, delivery records and deletion.

use pw_domain::WebhookId;
use pw_store::{DeliveryRecord, NewWebhook, WebhookPatch};

use crate::harness::{T0, fresh, user};

fn hook<'a>(name: &'a str, enabled: bool) -> NewWebhook<'a> {
    NewWebhook {
        name,
        url: "https://hooks.example.com/in",
        secret: Some("sealed:secret"),
        events: r#"["print.finished"]"#,
        enabled,
        created_by: None,
        kind: "printwarden",
    }
}

#[tokio::test]
async fn a_webhook_round_trips_and_patches_keep_what_they_leave_out() {
    let db = fresh().await;
    let u = user(&db, "u").await;
    let mut new = hook("ci", true);
    new.created_by = Some(u);
    let id = db.insert_webhook(&new, T0).await.unwrap();
    let row = db.webhook(id).await.unwrap().unwrap();
    assert_eq!(
        (row.name.as_str(), row.url.as_str()),
        ("ci", "https://hooks.example.com/in")
    );
    assert_eq!(
        (row.secret.as_deref(), row.events.as_str()),
        (Some("sealed:secret"), r#"["print.finished"]"#)
    );
    assert!(row.enabled);
    assert_eq!(
        (row.created_by, row.created_at, row.updated_at, row.last),
        (Some(u), T0, T0, None)
    );

    let rename = WebhookPatch {
        name: Some("renamed"),
        enabled: Some(false),
        ..WebhookPatch::default()
    };
    assert!(db.update_webhook(id, &rename, T0 + 1).await.unwrap());
    let row = db.webhook(id).await.unwrap().unwrap();
    assert_eq!(
        (row.name.as_str(), row.enabled, row.updated_at),
        ("renamed", false, T0 + 1)
    );
    assert_eq!(
        row.secret.as_deref(),
        Some("sealed:secret"),
        "kept when not named"
    );
    assert_eq!(row.url, "https://hooks.example.com/in");

    let replace = WebhookPatch {
        url: Some("https://other.example.com/"),
        secret: Some(Some("sealed:new")),
        events: Some("[]"),
        ..WebhookPatch::default()
    };
    assert!(db.update_webhook(id, &replace, T0).await.unwrap());
    let row = db.webhook(id).await.unwrap().unwrap();
    assert_eq!(
        (row.url.as_str(), row.secret.as_deref(), row.events.as_str()),
        ("https://other.example.com/", Some("sealed:new"), "[]")
    );
    assert!(!row.enabled, "kept when not named");

    let remove = WebhookPatch {
        secret: Some(None),
        ..WebhookPatch::default()
    };
    assert!(db.update_webhook(id, &remove, T0).await.unwrap());
    assert_eq!(db.webhook(id).await.unwrap().unwrap().secret, None);
    assert!(
        !db.update_webhook(WebhookId::from_db(9_999), &remove, T0)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn the_enabled_list_and_delivery_records() {
    let db = fresh().await;
    let on = db.insert_webhook(&hook("on", true), T0).await.unwrap();
    let off = db.insert_webhook(&hook("off", false), T0).await.unwrap();
    let on2 = db.insert_webhook(&hook("on2", true), T0).await.unwrap();
    let ids = |rows: Vec<pw_store::WebhookRow>| rows.iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(db.list_webhooks().await.unwrap()), [on, off, on2]);
    assert_eq!(ids(db.enabled_webhooks().await.unwrap()), [on, on2]);

    let failed = DeliveryRecord {
        at: T0 + 10,
        event: "print.failed".into(),
        ok: false,
        status: Some(502),
        error: Some("the receiver answered 502".into()),
    };
    db.record_delivery(on, &failed).await.unwrap();
    assert_eq!(db.webhook(on).await.unwrap().unwrap().last, Some(failed));
    let unreachable = DeliveryRecord {
        at: T0 + 20,
        event: "print.finished".into(),
        ok: false,
        status: None,
        error: Some("timed out".into()),
    };
    db.record_delivery(on, &unreachable).await.unwrap();
    assert_eq!(
        db.webhook(on).await.unwrap().unwrap().last,
        Some(unreachable)
    );
    let fine = DeliveryRecord {
        at: T0 + 30,
        event: "print.finished".into(),
        ok: true,
        status: Some(204),
        error: None,
    };
    db.record_delivery(on2, &fine).await.unwrap();
    assert_eq!(db.webhook(on2).await.unwrap().unwrap().last, Some(fine));
    assert_eq!(db.webhook(off).await.unwrap().unwrap().last, None);

    assert!(db.delete_webhook(off).await.unwrap());
    assert!(!db.delete_webhook(off).await.unwrap());
    assert_eq!(ids(db.list_webhooks().await.unwrap()), [on, on2]);
}
