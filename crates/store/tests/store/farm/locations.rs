//! Locations: case-insensitive unique names on insert and rename, order, partial updates, and
//! deletion leaving the printers without a location.

use pw_domain::LocationId;
use pw_store::StoreError;

use crate::harness::{T0, fresh, printer_at};

#[tokio::test]
async fn locations_round_trip_and_names_are_unique_case_insensitively() {
    let db = fresh().await;
    let shop = db
        .insert_location("Shop", "ground floor", T0)
        .await
        .unwrap();
    let lab = db.insert_location("lab", "", T0 + 1).await.unwrap();
    let row = db.location(shop).await.unwrap().unwrap();
    assert_eq!(
        (row.name.as_str(), row.description.as_str(), row.created_at),
        ("Shop", "ground floor", T0)
    );
    let names: Vec<String> = db
        .list_locations()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["lab", "Shop"]);
    let err = db.insert_location("SHOP", "", T0).await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    let err = db.update_location(lab, Some("shop"), None, T0).await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    assert!(
        db.update_location(lab, None, Some("upstairs"), T0)
            .await
            .unwrap()
    );
    let row = db.location(lab).await.unwrap().unwrap();
    assert_eq!(
        (row.name.as_str(), row.description.as_str()),
        ("lab", "upstairs")
    );
    assert!(
        db.update_location(lab, Some("Lab 2"), None, T0)
            .await
            .unwrap()
    );
    assert_eq!(db.location(lab).await.unwrap().unwrap().name, "Lab 2");
    // The old key is free again, the new one is taken.
    db.insert_location("LAB", "", T0).await.unwrap();
    assert!(matches!(
        db.insert_location("lab 2", "", T0).await,
        Err(StoreError::Conflict)
    ));
    assert!(
        !db.update_location(LocationId::from_db(9_999), Some("x"), None, T0)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn deleting_a_location_keeps_its_printers_without_one() {
    let db = fresh().await;
    let lab = db.insert_location("Lab", "", T0).await.unwrap();
    let other = db.insert_location("Other", "", T0).await.unwrap();
    let p = printer_at(&db, "P", "S1", Some(lab)).await;
    let q = printer_at(&db, "Q", "S2", Some(other)).await;
    assert!(db.delete_location(lab).await.unwrap());
    assert!(!db.delete_location(lab).await.unwrap());
    assert!(db.location(lab).await.unwrap().is_none());
    assert_eq!(db.printer(p).await.unwrap().unwrap().location_id, None);
    assert_eq!(
        db.printer(q).await.unwrap().unwrap().location_id,
        Some(other)
    );
}
