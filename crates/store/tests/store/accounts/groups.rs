//! Groups: permissions and scope round trips, name uniqueness, order, membership, and which
//! edits revoke the members' sessions (and which only bump their stamps).

use pw_domain::{GroupId, GroupName, UserId};
use pw_store::{AdminCheck, GroupPatch, NewGroup, StoreError};

use crate::harness::{T0, fresh, group, session, user, user_in, with_admin};

#[tokio::test]
async fn a_group_round_trips_with_permissions_and_scope() {
    let db = fresh().await;
    let id = db
        .insert_group(
            &NewGroup {
                name: GroupName::parse("Lab Crew").unwrap(),
                description: "the lab".into(),
                is_system: false,
                scope: Some(r#"{"locations":[1],"printers":[]}"#.into()),
                permissions: vec!["printers:read", "print_jobs:start", "printers:read"],
            },
            T0,
        )
        .await
        .unwrap();
    let g = db.group(id).await.unwrap().unwrap();
    assert_eq!(g.name.as_str(), "Lab Crew");
    assert_eq!(g.description, "the lab");
    assert!(!g.is_system);
    assert_eq!(
        g.scope.as_deref(),
        Some(r#"{"locations":[1],"printers":[]}"#)
    );
    let mut perms = g.permissions.clone();
    perms.sort();
    assert_eq!(
        perms,
        ["print_jobs:start", "printers:read"],
        "duplicates stored once"
    );
    assert_eq!((g.created_at, g.updated_at), (T0, T0));
    assert!(
        db.group(GroupId::from_db(id.get() + 1))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn names_are_unique_case_insensitively_on_insert_and_rename() {
    let db = fresh().await;
    with_admin(&db).await;
    group(&db, "Makers", false, &[]).await;
    let other = group(&db, "Others", false, &[]).await;
    let dup = NewGroup {
        name: GroupName::parse("MAKERS").unwrap(),
        description: String::new(),
        is_system: false,
        scope: None,
        permissions: vec!["printers:read"],
    };
    let err = db.insert_group(&dup, T0).await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    let rename = GroupPatch {
        name: Some(GroupName::parse("makers").unwrap()),
        ..GroupPatch::default()
    };
    let err = db.update_group(other, &rename, &AdminCheck, None, T0).await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    assert_eq!(
        db.group(other).await.unwrap().unwrap().name.as_str(),
        "Others"
    );
}

#[tokio::test]
async fn lists_put_system_groups_first_then_names() {
    let db = fresh().await;
    let z = group(&db, "zeta", false, &["printers:read"]).await;
    let s = group(&db, "Administrators", true, &[]).await;
    let a = group(&db, "Alpha", false, &["printers:read", "users:read"]).await;
    let list = db.list_groups().await.unwrap();
    let ids: Vec<GroupId> = list.iter().map(|g| g.id).collect();
    assert_eq!(ids, [s, a, z]);
    assert!(list[0].is_system && list[0].permissions.is_empty());
    assert_eq!(list[1].permissions.len(), 2);
    let u = user_in(&db, "u", &[z, s]).await;
    let mine: Vec<GroupId> = db
        .groups_of_user(u)
        .await
        .unwrap()
        .iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(mine, [s, z]);
    let mut members = db.group_members(z).await.unwrap();
    members.sort();
    assert_eq!(members, [u]);
    assert!(db.group_members(a).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_rights_change_revokes_members_and_a_rename_only_bumps_stamps() {
    let db = fresh().await;
    with_admin(&db).await;
    let g = group(&db, "Crew", false, &["printers:read"]).await;
    let m = user_in(&db, "member", &[g]).await;
    let outsider = user(&db, "outsider").await;
    session(&db, m, "s-m").await;
    session(&db, outsider, "s-o").await;

    let rename = GroupPatch {
        name: Some(GroupName::parse("Crew 2").unwrap()),
        description: Some("new words".into()),
        ..GroupPatch::default()
    };
    let affected = db
        .update_group(g, &rename, &AdminCheck, None, T0 + 1)
        .await
        .unwrap();
    assert_eq!(affected, Some(vec![]), "a rename changes nobody's rights");
    assert_eq!(db.user(m).await.unwrap().unwrap().security_stamp, 1);
    assert!(db.session_by_digest("s-m").await.unwrap().is_some());
    let row = db.group(g).await.unwrap().unwrap();
    assert_eq!(
        (row.name.as_str(), row.description.as_str()),
        ("Crew 2", "new words")
    );
    assert_eq!(row.updated_at, T0 + 1);

    let rights = GroupPatch {
        permissions: Some(vec!["users:read"]),
        ..GroupPatch::default()
    };
    let affected = db
        .update_group(g, &rights, &AdminCheck, None, T0)
        .await
        .unwrap();
    assert_eq!(affected, Some(vec![m]));
    assert_eq!(
        db.group(g).await.unwrap().unwrap().permissions,
        ["users:read"]
    );
    assert!(db.session_by_digest("s-m").await.unwrap().is_none());
    assert!(db.session_by_digest("s-o").await.unwrap().is_some());
    assert_eq!(db.user(outsider).await.unwrap().unwrap().security_stamp, 0);

    let keep = session(&db, m, "s-keep").await;
    session(&db, m, "s-drop").await;
    let scope = GroupPatch {
        scope: Some(Some(r#"{"locations":[],"printers":[3]}"#.into())),
        ..GroupPatch::default()
    };
    assert_eq!(
        db.update_group(g, &scope, &AdminCheck, Some(keep), T0)
            .await
            .unwrap(),
        Some(vec![m])
    );
    assert!(db.session_by_digest("s-keep").await.unwrap().is_some());
    assert!(db.session_by_digest("s-drop").await.unwrap().is_none());
    let clear = GroupPatch {
        scope: Some(None),
        ..GroupPatch::default()
    };
    db.update_group(g, &clear, &AdminCheck, None, T0)
        .await
        .unwrap();
    assert_eq!(db.group(g).await.unwrap().unwrap().scope, None);

    let ghost = GroupId::from_db(9_999);
    assert_eq!(
        db.update_group(ghost, &rights, &AdminCheck, None, T0)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn deleting_a_group_drops_memberships_and_revokes_members() {
    let db = fresh().await;
    with_admin(&db).await;
    let g = group(&db, "Temp", false, &["printers:read"]).await;
    let m = user_in(&db, "m", &[g]).await;
    session(&db, m, "s-m").await;
    assert_eq!(
        db.delete_group(g, &AdminCheck, None).await.unwrap(),
        Some(vec![m])
    );
    assert!(db.group(g).await.unwrap().is_none());
    assert!(
        db.memberships()
            .await
            .unwrap()
            .iter()
            .all(|(_, gid)| *gid != g)
    );
    assert!(db.session_by_digest("s-m").await.unwrap().is_none());
    assert!(db.user(m).await.unwrap().is_some(), "members stay");
    assert_eq!(db.delete_group(g, &AdminCheck, None).await.unwrap(), None);
}

#[tokio::test]
async fn membership_changes_report_no_ops_and_guard_the_last_administrator() {
    let db = fresh().await;
    let (admins, admin) = with_admin(&db).await;
    let g = group(&db, "Crew", false, &[]).await;
    let u = user(&db, "u").await;
    session(&db, u, "s-u").await;
    assert!(
        db.set_membership(g, u, true, &AdminCheck, None)
            .await
            .unwrap()
    );
    assert!(db.memberships().await.unwrap().contains(&(u, g)));
    assert!(db.session_by_digest("s-u").await.unwrap().is_none());
    assert!(
        !db.set_membership(g, u, true, &AdminCheck, None)
            .await
            .unwrap()
    );
    assert!(
        db.set_membership(g, u, false, &AdminCheck, None)
            .await
            .unwrap()
    );
    assert!(
        !db.set_membership(g, u, false, &AdminCheck, None)
            .await
            .unwrap()
    );
    assert!(!db.memberships().await.unwrap().contains(&(u, g)));

    let err = db
        .set_membership(admins, admin, false, &AdminCheck, None)
        .await;
    assert!(matches!(err, Err(StoreError::LastAdministrator)), "{err:?}");
    let err = db.delete_group(admins, &AdminCheck, None).await;
    assert!(matches!(err, Err(StoreError::LastAdministrator)), "{err:?}");
    assert!(db.memberships().await.unwrap().contains(&(admin, admins)));
    // A user that does not exist cannot become a member.
    let err = db
        .set_membership(g, UserId::from_db(9_999), true, &AdminCheck, None)
        .await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
}
