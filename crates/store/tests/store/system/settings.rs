//! Settings: missing keys, round trip and overwrite (with its time), keys kept apart.

use crate::harness::{T0, fresh};

#[tokio::test]
async fn settings_round_trip_and_overwrite() {
    let db = fresh().await;
    assert_eq!(db.setting("auth.enabled").await.unwrap(), None);
    db.set_setting("auth.enabled", "true", T0).await.unwrap();
    db.set_setting("smtp", r#"{"host":"mail.example.com","port":587}"#, T0)
        .await
        .unwrap();
    assert_eq!(
        db.setting("auth.enabled").await.unwrap().as_deref(),
        Some("true")
    );
    db.set_setting("auth.enabled", "false", T0 + 1)
        .await
        .unwrap();
    assert_eq!(
        db.setting("auth.enabled").await.unwrap().as_deref(),
        Some("false")
    );
    assert_eq!(
        db.setting("smtp").await.unwrap().as_deref(),
        Some(r#"{"host":"mail.example.com","port":587}"#)
    );
    // Keys are exact: no case folding, no prefix match.
    assert_eq!(db.setting("AUTH.enabled").await.unwrap(), None);
    assert_eq!(db.setting("auth").await.unwrap(), None);
    // Text survives as given, including an empty value and non-ASCII.
    db.set_setting("motd", "", T0).await.unwrap();
    assert_eq!(db.setting("motd").await.unwrap().as_deref(), Some(""));
    db.set_setting("motd", "Grüße ✓ 'quoted' \"x\"", T0)
        .await
        .unwrap();
    assert_eq!(
        db.setting("motd").await.unwrap().as_deref(),
        Some("Grüße ✓ 'quoted' \"x\"")
    );
}
