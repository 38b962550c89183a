//! The farm at a glance (issue 18): every printer's state in words and as one of the home
//! page's counts (`glance`), the home page counting only what the viewer may read, and the
//! printers page rendering each control for the viewer's right on *that* printer and for the
//! printer's state (Resume, not Pause, on a paused printer; no Stop without a job).

use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};

use crate::archive::farm;
use crate::archive_page::html;
use crate::printers::{add, command, online, print, wait_for};

/// The card of printer `id` in the printers page (from its `<li` to the next card's).
fn card(page: &str, id: i64) -> &str {
    let marker = format!("data-printer-id=\"{id}\"");
    assert!(page.contains(&marker), "no card for printer {id}");
    let start = page.find(&marker).unwrap_or_default();
    let rest = &page[start..];
    let end = rest[marker.len()..]
        .find("data-printer-id=\"")
        .map_or(rest.len(), |e| e + marker.len());
    &rest[..end]
}

/// Whether the card renders the control, and shows it (`Some(true)`) or hides it.
fn control(card: &str, command: &str) -> Option<bool> {
    let at = card.find(&format!("data-command=\"{command}\""))?;
    let tag_end = at + card[at..].find('>')?;
    Some(!card[at..tag_end].contains("hidden"))
}

/// The home page's count for a state.
fn count(page: &str, glance: &str) -> Option<u32> {
    let at = page.find(&format!("data-glance=\"{glance}\""))?;
    let rest = &page[at..];
    let n = rest.find("data-count>")? + "data-count>".len();
    let end = rest[n..].find('<')?;
    rest[n..n + end].parse().ok()
}

async fn printer(server: &TestServer, auth: &Auth, id: i64) -> Value {
    server
        .call(auth, "GET", &format!("/api/v1/printers/{id}"), None)
        .await
        .json
}

#[tokio::test]
async fn states_read_as_words_counts_follow_visibility_and_controls_follow_rights_and_state() {
    let (farm, _dir) = farm(2, 600.0).await;
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let hall = server
        .call(
            &admin,
            "POST",
            "/api/v1/locations",
            Some(json!({"name": "Hall"})),
        )
        .await;
    assert_eq!(hall.status, 201, "{:?}", hall.json);
    let hall = hall.json["id"].as_i64().unwrap();
    let outside = add(
        &server,
        &admin,
        &farm.printers[0],
        json!({"ftps_port": farm.printers[0].info.ftps_port}),
    )
    .await;
    let inside = add(
        &server,
        &admin,
        &farm.printers[1],
        json!({"location_id": hall}),
    )
    .await;
    wait_for(&server, &admin, outside, online).await;
    wait_for(&server, &admin, inside, online).await;
    let idle = printer(&server, &admin, inside).await;
    assert_eq!(idle["glance"], "idle", "{idle}");
    assert_eq!(idle["state_words"], "Idle");
    assert!(idle["ends_at_ms"].is_null());

    // Ivy reads every printer but may change and control only those in the hall; Sam reads
    // only the hall.
    let group = |name: &str, permissions: &[&str], scoped: bool| {
        let mut body = json!({"name": name, "permissions": permissions});
        if scoped {
            body["scope"] = json!({"locations": [hall]});
        }
        body
    };
    let mut ids = Vec::new();
    for body in [
        group("Readers", &["printers:read"], false),
        group(
            "Hall editors",
            &["printers:read", "printers:update", "printers:control"],
            true,
        ),
    ] {
        let g = server
            .call(&admin, "POST", "/api/v1/groups", Some(body))
            .await;
        assert_eq!(g.status, 201, "{:?}", g.json);
        ids.push(g.json["id"].as_i64().unwrap());
    }
    server.create_user(&admin, "ivy", &ids).await;
    server.create_user(&admin, "sam", &ids[1..]).await;
    let ivy = server.login("ivy", TEST_PASSWORD).await;
    let sam = server.login("sam", TEST_PASSWORD).await;

    // Per printer rights: Edit and the controls only where the scope reaches.
    let (status, page) = html(&server, &ivy, "/printers").await;
    assert_eq!(status, 200);
    assert!(card(&page, inside).contains("data-edit"));
    assert!(!card(&page, outside).contains("data-edit"));
    assert_eq!(control(card(&page, outside), "pause"), None);
    // An idle printer: the controls exist for Ivy, but none is shown.
    for c in ["pause", "resume", "stop"] {
        assert_eq!(control(card(&page, inside), c), Some(false), "{c}");
    }

    // Printing: the counts say so, for whoever may see that printer.
    let (status, body) = print(
        &server,
        &admin,
        outside,
        "benchy.gcode.3mf",
        crate::printfiles::sliced_project(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let running = wait_for(&server, &admin, outside, |v| {
        v["status"]["state"] == "RUNNING"
    })
    .await;
    assert_eq!(running["glance"], "printing");
    assert_eq!(running["state_words"], "Printing");
    assert!(running["ends_at_ms"].as_i64().unwrap() > 0, "{running}");
    let (_, home) = html(&server, &admin, "/").await;
    assert_eq!(count(&home, "printing"), Some(1));
    assert_eq!(count(&home, "idle"), Some(1));
    assert!(home.contains("id=\"finishing-soon\""));
    assert!(home.contains("done ≈ "), "the end time is on the home page");
    // Sam reads only the hall: the printing printer is not counted, nor listed.
    let (_, home) = html(&server, &sam, "/").await;
    assert_eq!(count(&home, "printing"), Some(0));
    assert_eq!(count(&home, "idle"), Some(1));
    assert!(!home.contains("benchy"), "a job Sam may not see");
    // Without printers:read there is no farm on the home page at all.
    let nobody = crate::archive::user_with(&server, &admin, "nobody", &["users:read"]).await;
    let (_, home) = html(&server, &nobody, "/").await;
    assert!(!home.contains("glance-counts"));

    // Paused: Resume, not Pause; Stop stays.
    let paused = command(&server, &admin, outside, json!({"command": "pause"})).await;
    assert_eq!(paused.status, 200, "{:?}", paused.json);
    let v = wait_for(&server, &admin, outside, |v| v["glance"] == "paused").await;
    assert_eq!(v["state_words"], "Paused");
    let (_, page) = html(&server, &admin, "/printers").await;
    let c = card(&page, outside);
    assert_eq!(control(c, "pause"), Some(false));
    assert_eq!(control(c, "resume"), Some(true));
    assert_eq!(control(c, "stop"), Some(true));
    assert!(c.contains("badge--paused"));

    // A user's stop is "Cancelled", waiting for the plate, never a red "Failed".
    let stopped = command(&server, &admin, outside, json!({"command": "stop"})).await;
    assert_eq!(stopped.status, 200, "{:?}", stopped.json);
    // The archive ends the entry and marks the plate to clear a moment after the report.
    let v = wait_for(&server, &admin, outside, |v| {
        v["status"]["busy"] == false && v["glance"] == "finished"
    })
    .await;
    assert_eq!(v["state_words"], "Cancelled — needs plate clearing");
    let (_, page) = html(&server, &admin, "/printers?state=finished&view=list").await;
    let c = card(&page, outside);
    assert!(!c.contains("FAILED") && !c.contains("badge--failed"));
    for cmd in ["pause", "resume", "stop"] {
        assert_eq!(control(c, cmd), Some(false), "{cmd}");
    }
    // The filter from the address: the idle printer is rendered but hidden.
    let hidden = card(&page, inside);
    let tag = &hidden[..hidden.find('>').unwrap()];
    assert!(tag.contains(" hidden"), "{tag}");
    assert!(page.contains("printer-grid--list"));
}
