//! Printers: round trip, serial uniqueness, patches (keep, change, clear the location), the
//! certificate state, deletion, and the printer filter run in SQL.

use pw_domain::{LocationId, PrinterId};
use pw_store::{PrinterFilter, PrinterPatch, StoreError};

use crate::harness::{T0, fresh, printer, printer_at};

#[tokio::test]
async fn a_printer_round_trips_and_serials_are_unique() {
    let db = fresh().await;
    let loc = db.insert_location("Lab", "", T0).await.unwrap();
    let p = printer_at(&db, "Bench 1", "01S00A123", Some(loc)).await;
    let row = db.printer(p).await.unwrap().unwrap();
    assert_eq!(
        (row.name.as_str(), row.serial.as_str(), row.host.as_str()),
        ("Bench 1", "01S00A123", "192.0.2.10")
    );
    assert_eq!(
        (row.mqtt_port, row.ftps_port, row.camera_port),
        (8883, 990, 6000)
    );
    assert_eq!((row.model.as_str(), row.location_id), ("X1C", Some(loc)));
    assert_eq!(row.access_code, "sealed:code");
    assert_eq!(
        (row.pinned_sha256, row.presented_sha256, row.created_by),
        (None, None, None)
    );
    assert_eq!((row.created_at, row.updated_at), (T0, T0));
    let err = db
        .insert_printer(
            &pw_store::NewPrinter {
                name: "Other name",
                serial: "01S00A123",
                host: "h",
                mqtt_port: 1,
                ftps_port: 2,
                camera_port: 3,
                model: "",
                location_id: None,
                access_code: "x",
                created_by: None,
            },
            T0,
        )
        .await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    assert!(
        db.printer(PrinterId::from_db(p.get() + 1))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_patch_changes_only_what_it_names() {
    let db = fresh().await;
    let lab = db.insert_location("Lab", "", T0).await.unwrap();
    let p = printer_at(&db, "P", "S1", Some(lab)).await;
    let patch = PrinterPatch {
        name: Some("Renamed"),
        mqtt_port: Some(18_883),
        ..PrinterPatch::default()
    };
    assert!(db.update_printer(p, &patch, T0 + 1).await.unwrap());
    let row = db.printer(p).await.unwrap().unwrap();
    assert_eq!(
        (row.name.as_str(), row.mqtt_port, row.ftps_port),
        ("Renamed", 18_883, 990)
    );
    assert_eq!(
        (row.host.as_str(), row.location_id, row.updated_at),
        ("192.0.2.10", Some(lab), T0 + 1)
    );
    let all = PrinterPatch {
        host: Some("printer.lan"),
        ftps_port: Some(9_990),
        camera_port: Some(6_001),
        model: Some("P1S"),
        access_code: Some("sealed:new"),
        ..PrinterPatch::default()
    };
    assert!(db.update_printer(p, &all, T0 + 2).await.unwrap());
    let row = db.printer(p).await.unwrap().unwrap();
    assert_eq!(
        (row.host.as_str(), row.ftps_port, row.camera_port),
        ("printer.lan", 9_990, 6_001)
    );
    assert_eq!(
        (row.model.as_str(), row.access_code.as_str()),
        ("P1S", "sealed:new")
    );
    assert_eq!((row.name.as_str(), row.location_id), ("Renamed", Some(lab)));
    let clear = PrinterPatch {
        location_id: Some(None),
        ..PrinterPatch::default()
    };
    assert!(db.update_printer(p, &clear, T0).await.unwrap());
    assert_eq!(db.printer(p).await.unwrap().unwrap().location_id, None);
    let missing = PrinterPatch {
        location_id: Some(Some(LocationId::from_db(9_999))),
        ..PrinterPatch::default()
    };
    let err = db.update_printer(p, &missing, T0).await;
    assert!(matches!(err, Err(StoreError::Conflict)), "{err:?}");
    assert!(
        !db.update_printer(PrinterId::from_db(9_999), &patch, T0)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn the_certificate_state_is_stored_as_given_and_deletion_is_reported() {
    let db = fresh().await;
    let p = printer(&db, "P", "S1").await;
    db.set_printer_certificate(p, Some("aa11"), Some("bb22"), T0 + 5)
        .await
        .unwrap();
    let row = db.printer(p).await.unwrap().unwrap();
    assert_eq!(
        (
            row.pinned_sha256.as_deref(),
            row.presented_sha256.as_deref()
        ),
        (Some("aa11"), Some("bb22"))
    );
    assert_eq!(row.updated_at, T0 + 5);
    db.set_printer_certificate(p, Some("bb22"), None, T0 + 6)
        .await
        .unwrap();
    let row = db.printer(p).await.unwrap().unwrap();
    assert_eq!(
        (row.pinned_sha256.as_deref(), row.presented_sha256),
        (Some("bb22"), None)
    );
    assert!(db.delete_printer(p).await.unwrap());
    assert!(!db.delete_printer(p).await.unwrap());
    assert!(db.printer(p).await.unwrap().is_none());
}

fn ids(rows: &[pw_store::PrinterRow]) -> Vec<PrinterId> {
    rows.iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn the_printer_filter_narrows_in_sql() {
    let db = fresh().await;
    let lab = db.insert_location("Lab", "", T0).await.unwrap();
    let shop = db.insert_location("Shop", "", T0).await.unwrap();
    let a = printer_at(&db, "A", "S-A", Some(lab)).await;
    let b = printer_at(&db, "B", "S-B", Some(lab)).await;
    let c = printer_at(&db, "C", "S-C", Some(shop)).await;
    let d = printer(&db, "D", "S-D").await;
    let set = |everywhere,
               printers: &[PrinterId],
               locations: &[LocationId],
               within: Option<&[PrinterId]>| {
        PrinterFilter::Set {
            everywhere,
            printers: printers.iter().map(|p| p.get()).collect(),
            locations: locations.iter().map(|l| l.get()).collect(),
            within: within.map(|w| w.iter().map(|p| p.get()).collect()),
        }
    };
    let cases: Vec<(PrinterFilter, Vec<PrinterId>)> = vec![
        (PrinterFilter::All, vec![a, b, c, d]),
        (PrinterFilter::Nothing, vec![]),
        (set(false, &[], &[], None), vec![]),
        (set(false, &[d], &[], None), vec![d]),
        (set(false, &[], &[lab], None), vec![a, b]),
        (set(false, &[c], &[lab], None), vec![a, b, c]),
        (set(false, &[c], &[lab], Some(&[b, c, d])), vec![b, c]),
        (set(true, &[], &[], None), vec![a, b, c, d]),
        (set(true, &[], &[], Some(&[d, a])), vec![a, d]),
        (set(true, &[], &[], Some(&[])), vec![]),
        (
            set(
                false,
                &[PrinterId::from_db(9_999)],
                &[LocationId::from_db(9_999)],
                None,
            ),
            vec![],
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(
            ids(&db.printers_where(&filter).await.unwrap()),
            want,
            "{filter:?}"
        );
    }
    assert_eq!(ids(&db.list_printers().await.unwrap()), [a, b, c, d]);
}

/// The dispatcher's one read of a free printer: its row, its plate (clear and not waived when
/// it has no plate row) and whether an archive entry is open on it.
#[tokio::test]
async fn the_dispatch_state_reads_row_plate_and_open_archive_together() {
    let db = fresh().await;
    let p = printer(&db, "P", "S1").await;
    let (row, plate, open) = db.printer_dispatch_state(p).await.unwrap().unwrap();
    assert_eq!(row, db.printer(p).await.unwrap().unwrap());
    assert_eq!(plate, db.plate(p).await.unwrap());
    assert!(!plate.needs_clearing && !plate.waived && !open);

    db.set_plate_needs_clearing(p, true, T0).await.unwrap();
    db.set_plate_waived(p, true, T0).await.unwrap();
    let entry = pw_store::NewArchive {
        printer_id: p,
        printer_name: "P",
        file_name: "a.3mf",
        plate: None,
        job_key: Some("a.3mf"),
        job_id: None,
        source: "elsewhere",
        started_by: None,
        started_by_name: None,
        print_job_id: None,
        started_at: T0,
        filaments: "[]",
    };
    let a = db.open_archive(&entry).await.unwrap().unwrap();
    let (_, plate, open) = db.printer_dispatch_state(p).await.unwrap().unwrap();
    assert_eq!(plate, db.plate(p).await.unwrap());
    assert!(plate.needs_clearing && plate.waived && open);

    let ended = pw_store::ArchiveEnd {
        outcome: "finished",
        ended_at: T0 + 1,
        error_code: None,
        error: None,
        filaments: None,
    };
    assert!(db.end_archive(a, &ended).await.unwrap());
    let (_, _, open) = db.printer_dispatch_state(p).await.unwrap().unwrap();
    assert!(!open, "an ended entry holds nothing");
    assert_eq!(
        db.printer_dispatch_state(PrinterId::from_db(p.get() + 1000))
            .await
            .unwrap(),
        None
    );
}
