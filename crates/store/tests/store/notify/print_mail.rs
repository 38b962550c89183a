//! Mail preferences: a replaced set, sorted reads, per-user isolation, and the cascade from
//! the user.

use pw_store::AdminCheck;

use crate::harness::{admins_group, fresh, user, user_in};

#[tokio::test]
async fn preferences_are_replaced_as_a_set_per_user() {
    let db = fresh().await;
    let admins = admins_group(&db).await;
    user_in(&db, "root", &[admins]).await;
    let u = user(&db, "u").await;
    let other = user(&db, "other").await;
    assert!(db.mail_preferences(u).await.unwrap().is_empty());
    db.set_mail_preferences(u, &["print.finished", "print.failed"])
        .await
        .unwrap();
    db.set_mail_preferences(other, &["print.paused"])
        .await
        .unwrap();
    assert_eq!(
        db.mail_preferences(u).await.unwrap(),
        ["print.failed", "print.finished"]
    );
    db.set_mail_preferences(u, &["print.paused"]).await.unwrap();
    assert_eq!(db.mail_preferences(u).await.unwrap(), ["print.paused"]);
    // A duplicate fails the whole replacement, which leaves the old set.
    assert!(db.set_mail_preferences(u, &["a", "a"]).await.is_err());
    assert_eq!(db.mail_preferences(u).await.unwrap(), ["print.paused"]);
    db.set_mail_preferences(u, &[]).await.unwrap();
    assert!(db.mail_preferences(u).await.unwrap().is_empty());
    assert_eq!(db.mail_preferences(other).await.unwrap(), ["print.paused"]);
    assert!(db.delete_user(other, &[], &AdminCheck).await.unwrap());
    assert!(db.mail_preferences(other).await.unwrap().is_empty());
}
