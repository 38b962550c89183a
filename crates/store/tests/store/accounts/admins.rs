//! The last-administrator guard: who counts, and that two concurrent demotions of the last
//! two administrators cannot both commit.

use pw_domain::UserId;
use pw_store::{AdminCheck, StoreError, UserPatch};

use crate::harness::{T0, admins_group, fresh, group, user_in};

#[tokio::test]
async fn only_active_members_of_the_system_administrators_group_count() {
    let db = fresh().await;
    assert_eq!(db.count_administrators(&AdminCheck).await.unwrap(), 0);
    // A user group that holds rights, even one spelled like the system group, is not it.
    let lookalike = group(&db, "Admins", false, &["users:update", "groups:update"]).await;
    user_in(&db, "rights", &[lookalike]).await;
    let other_system = group(&db, "Everyone", true, &[]).await;
    user_in(&db, "everyone", &[other_system]).await;
    assert_eq!(db.count_administrators(&AdminCheck).await.unwrap(), 0);
    let admins = admins_group(&db).await;
    let a = user_in(&db, "a", &[admins]).await;
    user_in(&db, "b", &[admins]).await;
    assert_eq!(db.count_administrators(&AdminCheck).await.unwrap(), 2);
    let disable = UserPatch {
        disabled: Some(true),
        ..UserPatch::default()
    };
    db.update_user(a, &disable, &AdminCheck, None, T0)
        .await
        .unwrap();
    assert_eq!(db.count_administrators(&AdminCheck).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_administrators_demoting_each_other_at_once_leave_one() {
    let db = fresh().await;
    let admins = admins_group(&db).await;
    let a = user_in(&db, "a", &[admins]).await;
    let b = user_in(&db, "b", &[admins]).await;
    let demote = |who: UserId| {
        let store = db.store.clone();
        tokio::spawn(async move {
            let patch = UserPatch {
                group_ids: Some(vec![]),
                ..UserPatch::default()
            };
            store.update_user(who, &patch, &AdminCheck, None, T0).await
        })
    };
    let (ra, rb) = (demote(a), demote(b));
    let results = [ra.await.unwrap(), rb.await.unwrap()];
    let ok = results.iter().filter(|r| matches!(r, Ok(true))).count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::LastAdministrator)))
        .count();
    assert_eq!((ok, refused), (1, 1), "{results:?}");
    assert_eq!(db.count_administrators(&AdminCheck).await.unwrap(), 1);
}
