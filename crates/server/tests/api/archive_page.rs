//! The archive pages and the printer's link to its running job (issue 15 item 6): rights decide
//! which controls render (the editor and delete only for who may change THAT entry, purge for
//! `archives:purge`), a viewer without archive rights has no navigation link and gets the 403
//! page, another user's entry is the 404 page for an owner-only reader, the filter form
//! round-trips through its URL (and the CSV link carries it), and `PrinterView.archive_id`
//! (API, page and events socket) names the running job's entry only to who may read it.

use std::time::Duration;

use futures_util::StreamExt;
use pw_simulator::{Farm, Model, Options};
use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::printers::{add, command, print, wait_for, with_online};
use crate::support::{Socket, ws};

async fn farm(count: usize) -> (Farm, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(count, dir.path());
    options.models = vec![Model::P1S; count];
    options.interval = Duration::from_millis(100);
    options.behaviour.job_seconds = 600.0;
    options.behaviour.prepare_seconds = 0.5;
    (Farm::start(options).await.unwrap(), dir)
}

async fn user_with(server: &TestServer, admin: &Auth, name: &str, permissions: &[&str]) -> Auth {
    let group = server
        .create_group(admin, &format!("{name}'s rights"), permissions)
        .await;
    server.create_user(admin, name, &[group]).await;
    server.login(name, TEST_PASSWORD).await
}

/// A page's status and HTML, read with `auth`'s session cookie.
pub(crate) async fn html(server: &TestServer, auth: &Auth, path: &str) -> (u16, String) {
    let cookie = match auth {
        Auth::Cookie(c) => c.as_str(),
        Auth::None | Auth::Key(_) => "",
    };
    let r = server
        .client
        .get(server.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The `href` of the element with `id`, unescaped.
pub(crate) fn href(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..];
    let start = tag.find("href=\"")? + 6;
    let end = tag[start..].find('"')? + start;
    Some(
        tag[start..end]
            .replace("&amp;", "&")
            .replace("&#38;", "&")
            .replace("&#x3d;", "="),
    )
}

/// The archive ids shown in the page's grid, in order.
fn shown(html: &str) -> Vec<i64> {
    let grid = html
        .split("id=\"archive-grid\"")
        .nth(1)
        .and_then(|g| g.split("</ul>").next())
        .unwrap_or_default();
    grid.split("data-archive-id=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next()?.parse().ok())
        .collect()
}

/// Whether the main navigation links the archive.
fn nav_has_archive(html: &str) -> bool {
    html.split("<nav class=\"nav\"")
        .nth(1)
        .and_then(|n| n.split("</nav>").next())
        .is_some_and(|n| n.contains("href=\"/archive\""))
}

/// Records a print by hand as `auth` (1 January 2026, `hour`:00–:30 UTC) and returns its id.
async fn record(
    server: &TestServer,
    auth: &Auth,
    printer: i64,
    file: &str,
    hour: u32,
    outcome: &str,
) -> i64 {
    let got = server
        .call(
            auth,
            "POST",
            "/api/v1/archives",
            Some(json!({
                "printer_id": printer, "file_name": file,
                "started_at": format!("2026-01-01T{hour:02}:00:00Z"),
                "ended_at": format!("2026-01-01T{hour:02}:30:00Z"),
                "outcome": outcome,
                "error": (outcome == "failed").then_some("The nozzle clogged."),
            })),
        )
        .await;
    assert_eq!(got.status, 201, "{:?}", got.json);
    got.json["id"].as_i64().unwrap()
}

#[tokio::test]
async fn archive_pages_render_controls_by_rights_and_hide_what_the_viewer_may_not_read() {
    let (farm, _dir) = farm(1).await;
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let printer = add(&server, &admin, &farm.printers[0], json!({})).await;
    let ann = user_with(
        &server,
        &admin,
        "ann",
        &[
            "printers:read",
            "archives:read_own",
            "archives:create",
            "archives:update_own",
            "archives:delete_own",
        ],
    )
    .await;
    let val = user_with(
        &server,
        &admin,
        "val",
        &["printers:read", "archives:read_all"],
    )
    .await;
    let nora = user_with(&server, &admin, "nora", &["printers:read"]).await;
    let anns = record(&server, &ann, printer, "ann-benchy.3mf", 1, "cancelled").await;
    let admins = record(&server, &admin, printer, "admin-vase.3mf", 2, "failed").await;

    // No archive right: no link, and both pages are the 403 page.
    let (status, page) = html(&server, &nora, "/printers").await;
    assert_eq!(status, 200);
    assert!(!nav_has_archive(&page));
    for path in ["/archive".to_owned(), format!("/archive/{anns}")] {
        let (status, page) = html(&server, &nora, &path).await;
        assert_eq!(status, 403, "{path}");
        assert!(page.contains("Not allowed"), "{path}");
    }
    // Signed out: the sign-in page first.
    let signed_out = server
        .client
        .get(server.url("/archive"))
        .send()
        .await
        .unwrap();
    assert!(signed_out.status().is_redirection());

    // An owner-only reader: their own entry with its editor and delete; another's is a 404.
    let (status, page) = html(&server, &ann, "/archive").await;
    assert_eq!(status, 200);
    assert!(nav_has_archive(&page));
    assert_eq!(shown(&page), [anns]);
    assert!(page.contains("Cancelled") && page.contains("30 min"));
    assert!(!page.contains("admin-vase"));
    assert!(!page.contains("id=\"archive-purge\""), "no purge right");
    let (status, page) = html(&server, &ann, &format!("/archive/{anns}")).await;
    assert_eq!(status, 200);
    for control in [
        "id=\"entry-form\"",
        "id=\"entry-delete\"",
        "id=\"photo-form\"",
    ] {
        assert!(page.contains(control), "{control}");
    }
    assert!(page.contains("ann-benchy.3mf") && page.contains("30 min"));
    let (status, page) = html(&server, &ann, &format!("/archive/{admins}")).await;
    assert_eq!(status, 404);
    assert!(!page.contains("admin-vase"));
    for bad in ["/archive/999999", "/archive/not-a-number"] {
        assert_eq!(html(&server, &ann, bad).await.0, 404, "{bad}");
    }

    // A reader of every entry without write rights: everything, no controls.
    let (status, page) = html(&server, &val, "/archive").await;
    assert_eq!(status, 200);
    assert_eq!(shown(&page), [admins, anns], "newest first");
    let (status, page) = html(&server, &val, &format!("/archive/{admins}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("The nozzle clogged."), "the error in words");
    assert!(
        page.contains("id=\"entry-who\">admin</dd>"),
        "who started it"
    );
    for control in [
        "id=\"entry-form\"",
        "id=\"entry-delete\"",
        "id=\"photo-form\"",
    ] {
        assert!(!page.contains(control), "{control} without the right");
    }

    // The administrator: purge, and the editor on another user's entry (update_all).
    let (_, page) = html(&server, &admin, "/archive").await;
    assert!(page.contains("id=\"archive-purge\""));
    assert!(page.contains("id=\"purge-dialog\""));
    let (_, page) = html(&server, &admin, &format!("/archive/{anns}")).await;
    assert!(page.contains("id=\"entry-form\"") && page.contains("id=\"entry-delete\""));
}

#[tokio::test]
async fn the_archive_filters_round_trip_through_the_address_pages_and_the_csv_link() {
    let (farm, _dir) = farm(2).await;
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let a = add(&server, &admin, &farm.printers[0], json!({})).await;
    let b = add(&server, &admin, &farm.printers[1], json!({})).await;
    let one = record(&server, &admin, a, "gear one.3mf", 1, "finished").await;
    let two = record(&server, &admin, a, "gear two.3mf", 2, "finished").await;
    let three = record(&server, &admin, a, "gear three.3mf", 3, "finished").await;
    let other_printer = record(&server, &admin, b, "gear four.3mf", 4, "finished").await;
    let failed = record(&server, &admin, a, "gear five.3mf", 5, "failed").await;
    let other_text = record(&server, &admin, a, "bracket.3mf", 6, "finished").await;

    // 1 January 2026 in UTC+1 (the browser reports -60) runs 2025-12-31T23:00Z–2026-01-01T23:00Z.
    let query = format!(
        "printer_id={a}&outcome=finished&q=gear&from=2026-01-01&to=2026-01-01&tz=-60&limit=2"
    );
    let (status, page) = html(&server, &admin, &format!("/archive?{query}")).await;
    assert_eq!(status, 200);
    assert_eq!(shown(&page), [three, two]);
    // The form shows what was asked.
    assert!(page.contains(&format!("<option value=\"{a}\" selected>")));
    assert!(page.contains("<option value=\"finished\" selected>"));
    assert!(page.contains("value=\"gear\""));
    assert!(page.contains("value=\"2026-01-01\""));
    // The CSV link carries the same filters as instants.
    let export = href(&page, "archive-export").unwrap();
    assert!(
        export.starts_with("/api/v1/archives/export.csv?"),
        "{export}"
    );
    for part in [
        format!("printer_id={a}"),
        "outcome=finished".to_owned(),
        "q=gear".to_owned(),
        "since=2025-12-31T23%3A00%3A00Z".to_owned(),
        "until=2026-01-01T23%3A00%3A00Z".to_owned(),
    ] {
        assert!(export.contains(&part), "{export} lacks {part}");
    }
    let csv = server
        .client
        .get(server.url(&export))
        .header(
            "cookie",
            match &admin {
                Auth::Cookie(c) => c.as_str(),
                _ => "",
            },
        )
        .header("origin", server.origin())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 4, "header + three entries: {csv}");
    assert!(!csv.contains("gear four") && !csv.contains("gear five") && !csv.contains("bracket"));

    // "Older" keeps the filters; the last page links back to the newest.
    let older = href(&page, "archive-older").unwrap();
    assert!(older.contains("q=gear") && older.contains("tz=-60") && older.contains("cursor="));
    let (status, page) = html(&server, &admin, &older).await;
    assert_eq!(status, 200);
    assert_eq!(shown(&page), [one]);
    assert!(href(&page, "archive-older").is_none());
    let newest = href(&page, "archive-newest").unwrap();
    assert!(!newest.contains("cursor=") && newest.contains("q=gear"));

    // No filters: everything, newest first.
    let (_, page) = html(&server, &admin, "/archive").await;
    assert_eq!(
        shown(&page),
        [other_text, failed, other_printer, three, two, one]
    );
    // A day outside the range shows nothing, and says so.
    let (_, page) = html(&server, &admin, "/archive?from=2026-02-01").await;
    assert!(shown(&page).is_empty() && page.contains("No prints match these filters."));

    // Bad filters are a 400 page in words, never a 500.
    for (bad, words) in [
        ("from=soon", "must be a date"),
        ("to=2026-13-40", "must be a date"),
        ("tz=99999", "time zone"),
        ("outcome=melted", "outcome must be"),
        ("printer_id=first", "printer"),
        ("cursor=garbage", "cursor"),
    ] {
        let (status, page) = html(&server, &admin, &format!("/archive?{bad}")).await;
        assert_eq!(status, 400, "{bad}");
        assert!(page.contains(words), "{bad}: {page}");
        assert!(
            page.contains("id=\"archive-filters\""),
            "{bad}: the form stays"
        );
    }
}

pub(crate) async fn next_printer(socket: &mut Socket, id: i64) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time")
            .expect("stream open")
            .expect("no error");
        let Message::Text(t) = msg else { continue };
        let v: Value = serde_json::from_str(&t).unwrap();
        let printer = match v["type"].as_str() {
            Some("printer") => v["printer"].clone(),
            Some("snapshot") => v["printers"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["id"] == id).cloned())
                .unwrap_or(Value::Null),
            _ => Value::Null,
        };
        if printer["id"] == id {
            return printer;
        }
    }
}

pub(crate) fn cookie(auth: &Auth) -> Option<&str> {
    match auth {
        Auth::Cookie(c) => Some(c),
        _ => None,
    }
}

#[tokio::test]
async fn a_printing_printer_links_its_archive_entry_only_for_who_may_read_it() {
    let (farm, _dir) = farm(1).await;
    let sim = &farm.printers[0];
    let (server, admin, id) = with_online(sim).await;
    let cody = user_with(
        &server,
        &admin,
        "cody",
        &[
            "printers:read",
            "printers:control",
            "queue:create",
            "archives:read_own",
        ],
    )
    .await;
    // Reads printers and their own entries, but this print is cody's.
    let olga = user_with(
        &server,
        &admin,
        "olga",
        &["printers:read", "archives:read_own"],
    )
    .await;
    // Reads every entry.
    let rita = user_with(
        &server,
        &admin,
        "rita",
        &["printers:read", "archives:read_all"],
    )
    .await;
    let mut cody_socket = ws(&server, "/api/v1/events", cookie(&cody), true)
        .await
        .unwrap();
    let mut olga_socket = ws(&server, "/api/v1/events", cookie(&olga), true)
        .await
        .unwrap();
    let idle = wait_for(&server, &cody, id, |v| v["status"]["state"] == "IDLE").await;
    assert!(idle["archive_id"].is_null(), "nothing runs: {idle}");

    // A real sliced file: upload-and-print refuses a body that is no print file.
    let (status, body) = print(
        &server,
        &cody,
        id,
        "benchy.gcode.3mf",
        crate::printfiles::sliced_project(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let running = wait_for(&server, &cody, id, |v| v["archive_id"].is_i64()).await;
    let entry = running["archive_id"].as_i64().unwrap();
    let listed = server.call(&cody, "GET", "/api/v1/archives", None).await;
    assert_eq!(listed.json["items"][0]["id"], entry);
    assert_eq!(listed.json["items"][0]["outcome"], "printing");
    let all = server
        .call(&admin, "GET", &format!("/api/v1/printers/{id}"), None)
        .await;
    assert_eq!(all.json["archive_id"], entry);
    let reader = server
        .call(&rita, "GET", &format!("/api/v1/printers/{id}"), None)
        .await;
    assert_eq!(reader.json["archive_id"], entry);
    let other = server
        .call(&olga, "GET", &format!("/api/v1/printers/{id}"), None)
        .await;
    assert_eq!(other.status, 200);
    assert!(other.json["archive_id"].is_null(), "{}", other.json);
    let other_list = server.call(&olga, "GET", "/api/v1/printers", None).await;
    assert!(other_list.json["items"][0]["archive_id"].is_null());

    // The card links the entry for cody only.
    let link = format!("href=\"/archive/{entry}\"");
    let (_, page) = html(&server, &cody, "/printers").await;
    assert!(page.contains(&link), "cody's card links the entry");
    let (_, page) = html(&server, &olga, "/printers").await;
    assert!(!page.contains(&link), "olga's card does not");

    // The events socket: cody's messages carry the link, olga's never do.
    let mut seen = false;
    for _ in 0..200 {
        if next_printer(&mut cody_socket, id).await["archive_id"] == entry {
            seen = true;
            break;
        }
    }
    assert!(seen, "cody's socket never carried the entry");
    for _ in 0..10 {
        let p = next_printer(&mut olga_socket, id).await;
        assert!(p["archive_id"].is_null(), "olga got the link: {p}");
    }

    // Stopped: the entry ends and the link goes.
    let stop = command(&server, &cody, id, json!({"command": "stop"})).await;
    assert_eq!(stop.status, 200, "{:?}", stop.json);
    let stopped = wait_for(&server, &cody, id, |v| v["archive_id"].is_null()).await;
    assert!(stopped["archive_id"].is_null());
    let mut gone = false;
    for _ in 0..200 {
        if next_printer(&mut cody_socket, id).await["archive_id"].is_null() {
            gone = true;
            break;
        }
    }
    assert!(gone, "cody's socket kept the link after the stop");
    let ended = server
        .call(&cody, "GET", &format!("/api/v1/archives/{entry}"), None)
        .await;
    assert_eq!(ended.json["outcome"], "cancelled");
}
