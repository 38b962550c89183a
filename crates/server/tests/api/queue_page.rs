//! The queue page and the add-to-queue dialog (issue 16 item 6): rights decide the controls
//! (edit and cancel only for who may change THAT item, reorder and pause for `queue:reorder`),
//! a viewer without queue read rights has no navigation link and gets the 403 page, a
//! `read_own` viewer never sees another user's item, and "Add to queue…" shows only with
//! `queue:create`.

use pw_testkit::{Auth, TestServer};
use serde_json::json;

use crate::library::{upload_sliced, user_with};

const OWN: &[&str] = &[
    "library:read_own",
    "library:upload",
    "queue:read_own",
    "queue:create",
    "queue:update_own",
    "queue:delete_own",
];

/// A page's status and HTML, read with `auth`'s session cookie.
async fn html(server: &TestServer, auth: &Auth, path: &str) -> (u16, String) {
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

/// The markup of the queue item `id` in the global list, if shown there.
fn item(html: &str, id: i64) -> Option<String> {
    let list = html
        .split("id=\"queue-list\"")
        .nth(1)?
        .split("</ol>")
        .next()?;
    let at = list.find(&format!("data-item-id=\"{id}\""))?;
    Some(list[at..].split("</li>").next()?.to_owned())
}

fn nav_has_queue(html: &str) -> bool {
    html.split("<nav class=\"nav\"")
        .nth(1)
        .and_then(|n| n.split("</nav>").next())
        .is_some_and(|n| n.contains("href=\"/queue\""))
}

#[tokio::test]
async fn queue_page_renders_controls_by_rights_and_hides_other_users_items() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let (_, olga) = user_with(&server, &admin, "olga", OWN).await;
    let (_, otto) = user_with(&server, &admin, "otto", OWN).await;
    let (_, val) = user_with(&server, &admin, "val", &["queue:read_all"]).await;
    let (_, boss) = user_with(
        &server,
        &admin,
        "boss",
        &[
            "queue:read_all",
            "queue:update_all",
            "queue:delete_all",
            "queue:reorder",
            "library:read_all",
        ],
    )
    .await;
    let (_, reader) = user_with(&server, &admin, "reader", &["library:read_all"]).await;

    let file = upload_sliced(&server, &olga, "benchy.gcode.3mf").await;
    let mut ids = Vec::new();
    for priority in [0, 0] {
        let created = server
            .call(
                &olga,
                "POST",
                "/api/v1/queue",
                Some(json!({"file_id": file, "target": {"model": "X1C"}, "priority": priority})),
            )
            .await;
        assert_eq!(created.status, 201, "{:?}", created.json);
        ids.push(created.json["id"].as_i64().unwrap());
    }

    // The owner: her items, in order, with edit and cancel; no reorder or pause.
    let (status, page) = html(&server, &olga, "/queue").await;
    assert_eq!(status, 200);
    assert!(nav_has_queue(&page));
    let first = item(&page, ids[0]).expect("olga sees her item");
    assert!(item(&page, ids[1]).is_some());
    assert!(
        page.find(&format!("data-item-id=\"{}\"", ids[0]))
            < page.find(&format!("data-item-id=\"{}\"", ids[1]))
    );
    assert!(first.contains("benchy.gcode.3mf"), "{first}");
    assert!(first.contains("Any X1C printer"), "{first}");
    assert!(first.contains("Waiting for a free X1C printer."), "{first}");
    assert!(first.contains("0 of 1"), "{first}");
    assert!(
        first.contains("data-edit") && first.contains("data-cancel"),
        "{first}"
    );
    assert!(
        !first.contains("data-move") && !first.contains("draggable"),
        "{first}"
    );
    assert!(
        first.contains(&format!(
            "/api/v1/library/files/{file}/plates/1/thumbnail?v="
        )),
        "{first}"
    );
    assert!(!page.contains("id=\"queue-pause\""));

    // Another owner: nothing of olga's.
    let (status, page) = html(&server, &otto, "/queue").await;
    assert_eq!(status, 200);
    for id in &ids {
        assert!(
            !page.contains(&format!("data-item-id=\"{id}\"")),
            "otto sees {id}"
        );
    }
    assert!(page.contains("id=\"queue-empty\""));

    // A reader of every item: shown, no controls.
    let (_, page) = html(&server, &val, "/queue").await;
    let shown = item(&page, ids[0]).expect("val sees it");
    assert!(
        !shown.contains("data-edit") && !shown.contains("data-cancel"),
        "{shown}"
    );
    assert!(!page.contains("id=\"queue-pause\""));

    // Who runs the queue: move buttons, drag handles, pause; edit and cancel by `_all`.
    let (_, page) = html(&server, &boss, "/queue").await;
    let shown = item(&page, ids[1]).expect("boss sees it");
    assert!(
        shown.contains("draggable=\"true\"") && shown.contains("data-move=\"up\""),
        "{shown}"
    );
    assert!(
        shown.contains("data-edit") && shown.contains("data-cancel"),
        "{shown}"
    );
    assert!(page.contains("id=\"queue-pause\""));
    let paused = server
        .call(&boss, "POST", "/api/v1/queue/pause", Some(json!({})))
        .await;
    assert_eq!(paused.status, 200, "{:?}", paused.json);
    let (_, page) = html(&server, &boss, "/queue").await;
    assert!(page.contains("id=\"queue-resume\""));
    assert!(page.contains("Paused: the whole queue is paused."));

    // A cancelled item leaves the list for "Recently ended", with a remove button.
    let cancelled = server
        .call(&olga, "DELETE", &format!("/api/v1/queue/{}", ids[0]), None)
        .await;
    assert_eq!(cancelled.status, 204);
    let (_, page) = html(&server, &olga, "/queue").await;
    assert!(item(&page, ids[0]).is_none());
    let ended = page.split("id=\"queue-ended\"").nth(1).unwrap_or_default();
    assert!(ended.contains(&format!("data-item-id=\"{}\"", ids[0])));
    assert!(ended.contains("Cancelled") && ended.contains("data-remove"));

    // No queue read right: no navigation link, and the page is refused.
    let (status, page) = html(&server, &reader, "/library").await;
    assert_eq!(status, 200);
    assert!(!nav_has_queue(&page));
    assert_eq!(html(&server, &reader, "/queue").await.0, 403);

    // "Add to queue…" on the file page only with `queue:create`.
    let path = format!("/library/files/{file}");
    let (status, page) = html(&server, &olga, &path).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"open-queue\"") && page.contains("id=\"queue-dialog\""));
    assert!(page.contains("value=\"model:") || page.contains("id=\"queue-target\""));
    let (status, page) = html(&server, &boss, &path).await;
    assert_eq!(status, 200);
    assert!(!page.contains("id=\"open-queue\"") && !page.contains("id=\"queue-dialog\""));
}
