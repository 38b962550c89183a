//! A printer's plate on its view (issue 16's plate gate seen from the printers page): after a
//! print ends the view says `plate_cleared: false` — over REST, on the events socket and across
//! a restart —, the page shows the "Plate cleared" button to a `printers:clear_plate` holder
//! only, confirming flips it back, and a waiver (`waive_plate_clear`) hides the button.

use pw_testkit::{Auth, TestServer};
use serde_json::{Value, json};

use crate::archive::{farm, user_with};
use crate::archive_page::{cookie, html, next_printer};
use crate::journey::server_with;
use crate::printers::{print, wait_for};
use crate::support::{Socket, ws};

/// Reads the socket until the printer's message satisfies `check`.
async fn socket_until(socket: &mut Socket, id: i64, check: impl Fn(&Value) -> bool) -> Value {
    loop {
        let p = next_printer(socket, id).await;
        if check(&p) {
            return p;
        }
    }
}

/// The plate banner of the printers page: `Some(shown)` when rendered, `None` when absent.
fn plate_banner(page: &str) -> Option<bool> {
    let at = page.find("data-field=\"plate\"")?;
    let tag_end = at + page[at..].find('>')?;
    Some(!page[at..tag_end].contains("hidden"))
}

async fn print_to_the_end(server: &TestServer, admin: &Auth, printer: i64) {
    let (status, body) = print(
        server,
        admin,
        printer,
        "benchy.gcode.3mf",
        crate::printfiles::sliced_project(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    wait_for(server, admin, printer, |v| {
        v["plate_cleared"] == false && v["status"]["busy"] == false
    })
    .await;
}

#[tokio::test]
async fn a_finished_print_leaves_the_plate_to_clear_on_the_view_the_socket_and_the_page() {
    let (farm, _dir) = farm(1, 1.0).await;
    let sim = &farm.printers[0];
    let (server, admin, printer) = server_with(sim).await;
    let clara = user_with(
        &server,
        &admin,
        "clara",
        &["printers:read", "printers:clear_plate"],
    )
    .await;
    let vic = user_with(&server, &admin, "vic", &["printers:read"]).await;

    // Nothing printed yet: clear, no waiver, no button shown.
    let idle = wait_for(&server, &admin, printer, |v| v["status"]["state"] == "IDLE").await;
    assert_eq!(idle["plate_cleared"], true, "{idle}");
    assert_eq!(idle["waive_plate_clear"], false, "{idle}");
    assert_eq!(
        plate_banner(&html(&server, &clara, "/printers").await.1),
        Some(false)
    );

    let mut socket = ws(&server, "/api/v1/events", cookie(&clara), true)
        .await
        .unwrap();
    print_to_the_end(&server, &admin, printer).await;
    let told = socket_until(&mut socket, printer, |p| p["plate_cleared"] == false).await;
    assert_eq!(told["waive_plate_clear"], false, "{told}");
    let listed = server.call(&vic, "GET", "/api/v1/printers", None).await;
    assert_eq!(listed.status, 200, "{:?}", listed.json);
    assert_eq!(listed.json["items"][0]["plate_cleared"], false);

    // The page: the button for who may clear the plate, nothing for who may not.
    let (status, page) = html(&server, &clara, "/printers").await;
    assert_eq!(status, 200);
    assert_eq!(plate_banner(&page), Some(true), "shown to clara");
    assert!(page.contains("data-plate-cleared"));
    let (status, page) = html(&server, &vic, "/printers").await;
    assert_eq!(status, 200);
    assert_eq!(plate_banner(&page), None, "no banner for vic");
    assert!(!page.contains("data-plate-cleared"));

    // A restart remembers the plate.
    let server = server.restart(Vec::new()).await;
    let admin = server.login("admin", pw_testkit::TEST_PASSWORD).await;
    let clara = server.login("clara", pw_testkit::TEST_PASSWORD).await;
    let after = wait_for(&server, &admin, printer, crate::printers::online).await;
    assert_eq!(after["plate_cleared"], false, "{after}");

    // Confirming it clear flips it, on REST, the socket and the page.
    let mut socket = ws(&server, "/api/v1/events", cookie(&clara), true)
        .await
        .unwrap();
    let cleared = server
        .call(
            &clara,
            "POST",
            &format!("/api/v1/printers/{printer}/plate-cleared"),
            None,
        )
        .await;
    assert_eq!(cleared.status, 204, "{:?}", cleared.json);
    let got = server
        .call(&clara, "GET", &format!("/api/v1/printers/{printer}"), None)
        .await;
    assert_eq!(got.json["plate_cleared"], true, "{:?}", got.json);
    socket_until(&mut socket, printer, |p| p["plate_cleared"] == true).await;
    assert_eq!(
        plate_banner(&html(&server, &clara, "/printers").await.1),
        Some(false)
    );

    // A waiver: the plate still needs clearing after the next print, but nobody is asked.
    print_to_the_end(&server, &admin, printer).await;
    assert_eq!(
        plate_banner(&html(&server, &clara, "/printers").await.1),
        Some(true)
    );
    let waived = server
        .call(
            &admin,
            "PATCH",
            &format!("/api/v1/printers/{printer}"),
            Some(json!({"waive_plate_clear": true})),
        )
        .await;
    assert_eq!(waived.status, 200, "{:?}", waived.json);
    assert_eq!(waived.json["waive_plate_clear"], true);
    assert_eq!(waived.json["plate_cleared"], false);
    let told = socket_until(&mut socket, printer, |p| p["waive_plate_clear"] == true).await;
    assert_eq!(told["plate_cleared"], false, "{told}");
    assert_eq!(
        plate_banner(&html(&server, &clara, "/printers").await.1),
        Some(false)
    );
}
