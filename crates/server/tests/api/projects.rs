//! Projects (issue 16, item 4): create, read, change and delete with `projects:*`; members
//! (library files, queue items, archive entries) added only when the caller can read them —
//! one they cannot is refused with the words of one that does not exist —, listed and counted
//! only as far as the viewer can read each; progress (done / total, filament, time); a
//! principal with only `projects:read`, an API key with one scope, and hostile input.

use pw_testkit::{Auth, TestServer};
use serde_json::{Value, json};

use crate::library::{sliced_project, upload, user_with};

const WORKER: &[&str] = &[
    "printers:read",
    "library:read_own",
    "library:upload",
    "queue:read_own",
    "queue:create",
    "queue:delete_own",
    "archives:read_own",
    "archives:create",
    "projects:read",
    "projects:create",
    "projects:update",
    "projects:delete",
];

async fn printer(server: &TestServer, admin: &Auth) -> i64 {
    let p = server
        .call(
            admin,
            "POST",
            "/api/v1/printers",
            Some(
                json!({"name": "P1S-01", "serial": "01P00A000000001", "host": "127.0.0.1",
                        "mqtt_port": 1, "camera_port": 1, "access_code": "12345678"}),
            ),
        )
        .await;
    assert_eq!(p.status, 201, "{:?}", p.json);
    p.json["id"].as_i64().unwrap()
}

/// An archive entry recorded by hand: `outcome`, one hour long.
async fn entry(server: &TestServer, auth: &Auth, printer: i64, outcome: &str) -> i64 {
    let a = server
        .call(
            auth,
            "POST",
            "/api/v1/archives",
            Some(
                json!({"printer_id": printer, "file_name": "bracket.gcode.3mf", "plate": 1,
                        "started_at": "2026-01-01T00:00:00Z",
                        "ended_at": "2026-01-01T01:00:00Z", "outcome": outcome}),
            ),
        )
        .await;
    assert_eq!(a.status, 201, "{:?}", a.json);
    a.json["id"].as_i64().unwrap()
}

/// A library file, one queue item of it (3 copies) and a finished archive entry, all `auth`'s.
async fn content(server: &TestServer, auth: &Auth, printer: i64) -> (i64, i64, i64) {
    let file = upload(server, auth, "bracket.gcode.3mf", &sliced_project()).await["id"]
        .as_i64()
        .unwrap();
    let item = server
        .call(
            auth,
            "POST",
            "/api/v1/queue",
            Some(json!({"file_id": file, "target": {"model": "X1C"}, "copies": 3})),
        )
        .await;
    assert_eq!(item.status, 201, "{:?}", item.json);
    let entry = entry(server, auth, printer, "finished").await;
    (file, item.json["id"].as_i64().unwrap(), entry)
}

async fn create(server: &TestServer, auth: &Auth, body: Value) -> pw_testkit::Answer {
    server
        .call(auth, "POST", "/api/v1/projects", Some(body))
        .await
}

#[tokio::test]
async fn projects_track_members_and_progress() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let printer = printer(&server, &admin).await;
    let (_, olga) = user_with(&server, &admin, "olga", WORKER).await;
    let (file, item, finished) = content(&server, &olga, printer).await;
    let failed = entry(&server, &olga, printer, "failed").await;

    let p = create(
        &server,
        &olga,
        json!({"name": "  Order 1042 ", "due": "2026-03-01", "notes": "40 brackets"}),
    )
    .await;
    assert_eq!(p.status, 201, "{:?}", p.json);
    assert_eq!(p.json["name"], "Order 1042");
    assert_eq!(p.json["due"], "2026-03-01");
    assert_eq!(p.json["created_by"]["name"], "olga");
    assert_eq!(p.json["progress"]["done"], 0);
    assert_eq!(p.json["progress"]["total"], 0);
    let id = p.json["id"].as_i64().unwrap();
    let path = format!("/api/v1/projects/{id}");

    let added = server
        .call(
            &olga,
            "POST",
            &format!("{path}/members"),
            Some(
                json!({"files": [{"id": file, "copies": 40}], "queue_items": [item],
                        "archives": [finished, failed]}),
            ),
        )
        .await;
    assert_eq!(added.status, 200, "{:?}", added.json);
    assert_eq!(added.json["files"][0]["id"], file);
    assert_eq!(added.json["files"][0]["copies"], 40);
    let thumb = added.json["files"][0]["thumbnail_url"].as_str().unwrap();
    assert!(thumb.starts_with(&format!("/api/v1/library/files/{file}/plates/1/thumbnail")));
    assert_eq!(added.json["queue_items"][0]["id"], item);
    assert_eq!(added.json["queue_items"][0]["thumbnail_url"], thumb);
    assert_eq!(added.json["archives"].as_array().unwrap().len(), 2);
    // Adding again changes nothing but a file's planned copies.
    let again = server
        .call(
            &olga,
            "POST",
            &format!("{path}/members"),
            Some(json!({"queue_items": [item]})),
        )
        .await;
    assert_eq!(again.status, 200, "{:?}", again.json);
    assert_eq!(again.json["queue_items"].as_array().unwrap().len(), 1);

    // Progress: planned 40 (file) + 3 (queue item); printed 1 (the finished entry, not the
    // failed one); its hour of printing.
    let got = server.call(&olga, "GET", &path, None).await;
    assert_eq!(got.status, 200, "{:?}", got.json);
    let progress = &got.json["progress"];
    assert_eq!(progress["total"], 43, "{progress}");
    assert_eq!(progress["done"], 1, "{progress}");
    assert_eq!(progress["print_time_s"], 3600, "{progress}");
    assert_eq!(progress["files"], 1);
    assert_eq!(progress["queue_items"], 1);
    assert_eq!(progress["archives"], 2);
    let list = server.call(&olga, "GET", "/api/v1/projects", None).await;
    assert_eq!(list.status, 200, "{:?}", list.json);
    assert_eq!(list.json["items"][0]["id"], id);
    assert_eq!(list.json["items"][0]["progress"]["total"], 43);

    // Change: name, notes, clear the due date.
    let patched = server
        .call(
            &olga,
            "PATCH",
            &path,
            Some(json!({"name": "Order 1042b", "due": null})),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.json);
    assert_eq!(patched.json["name"], "Order 1042b");
    assert_eq!(patched.json["due"], Value::Null);
    assert_eq!(patched.json["notes"], "40 brackets");

    // Remove a member: the file stays in the library, the plan shrinks.
    let gone = server
        .call(
            &olga,
            "DELETE",
            &format!("{path}/members/files/{file}"),
            None,
        )
        .await;
    assert_eq!(gone.status, 204, "{:?}", gone.json);
    let again = server
        .call(
            &olga,
            "DELETE",
            &format!("{path}/members/files/{file}"),
            None,
        )
        .await;
    assert_eq!(again.status, 404);
    let got = server.call(&olga, "GET", &path, None).await;
    assert_eq!(got.json["progress"]["total"], 3);
    assert_eq!(
        server
            .call(&olga, "GET", &format!("/api/v1/library/files/{file}"), None)
            .await
            .status,
        200
    );
    // A cancelled queue item plans only what it printed (nothing): the finished entry is
    // all that is left, so done = total = 1.
    let item_path = format!("/api/v1/queue/{item}");
    assert_eq!(
        server.call(&olga, "DELETE", &item_path, None).await.status,
        204
    );
    let got = server.call(&olga, "GET", &path, None).await;
    assert_eq!(got.json["progress"]["total"], 1, "{:?}", got.json);
    assert_eq!(got.json["progress"]["done"], 1);
    // A deleted member leaves no dangling row.
    assert_eq!(
        server.call(&olga, "DELETE", &item_path, None).await.status,
        204
    );
    let members = server
        .call(&olga, "GET", &format!("{path}/members"), None)
        .await;
    assert_eq!(members.json["queue_items"], json!([]));

    // Delete the project: its members stay.
    assert_eq!(server.call(&olga, "DELETE", &path, None).await.status, 204);
    assert_eq!(server.call(&olga, "GET", &path, None).await.status, 404);
    assert_eq!(
        server
            .call(&olga, "GET", &format!("/api/v1/archives/{finished}"), None)
            .await
            .status,
        200
    );

    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=project.", None)
        .await;
    assert_eq!(audit.status, 200, "{:?}", audit.json);
    let text = audit.json.to_string();
    for event in [
        "project.create",
        "project.update",
        "project.members_add",
        "project.member_remove",
        "project.delete",
    ] {
        assert!(text.contains(event), "{event} in {text}");
    }
}

#[tokio::test]
async fn a_member_the_caller_cannot_read_does_not_exist_for_them() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let printer = printer(&server, &admin).await;
    let (_, olga) = user_with(&server, &admin, "olga", WORKER).await;
    let (_, otto) = user_with(&server, &admin, "otto", WORKER).await;
    let (_, vera) = user_with(&server, &admin, "vera", &["projects:read"]).await;
    let (file, item, finished) = content(&server, &olga, printer).await;

    let id = create(&server, &olga, json!({"name": "Olga's order"}))
        .await
        .json["id"]
        .as_i64()
        .unwrap();
    let members = format!("/api/v1/projects/{id}/members");
    let add = server
        .call(
            &olga,
            "POST",
            &members,
            Some(
                json!({"files": [{"id": file, "copies": 10}], "queue_items": [item],
                        "archives": [finished]}),
            ),
        )
        .await;
    assert_eq!(add.status, 200, "{:?}", add.json);

    // Otto shares the project but not olga's content: refused with the words of a member that
    // does not exist, nothing added.
    for (body, kind, real, missing) in [
        (
            json!({"files": [{"id": file}]}),
            "library file",
            file,
            999_999,
        ),
        (json!({"queue_items": [item]}), "queue item", item, 999_999),
        (
            json!({"archives": [finished]}),
            "archive entry",
            finished,
            999_999,
        ),
    ] {
        let theirs = server.call(&otto, "POST", &members, Some(body)).await;
        assert_eq!(theirs.status, 400, "{:?}", theirs.json);
        assert_eq!(
            theirs.message(),
            format!("There is no {kind} {real} that you can see.")
        );
        let absent = match kind {
            "library file" => json!({"files": [{"id": missing}]}),
            "queue item" => json!({"queue_items": [missing]}),
            _ => json!({"archives": [missing]}),
        };
        let absent = server.call(&otto, "POST", &members, Some(absent)).await;
        assert_eq!(absent.status, 400);
        assert_eq!(
            absent.message(),
            format!("There is no {kind} {missing} that you can see."),
            "the same answer as for a member that does not exist"
        );
    }

    // Otto sees the project, none of olga's members, and no progress from them.
    let seen = server.call(&otto, "GET", &members, None).await;
    assert_eq!(seen.status, 200, "{:?}", seen.json);
    assert_eq!(
        seen.json,
        json!({"files": [], "queue_items": [], "archives": []})
    );
    let p = server
        .call(&otto, "GET", &format!("/api/v1/projects/{id}"), None)
        .await;
    assert_eq!(p.json["progress"]["total"], 0, "{:?}", p.json);
    assert_eq!(p.json["progress"]["done"], 0);
    assert_eq!(p.json["progress"]["print_time_s"], 0);
    let list = server.call(&otto, "GET", "/api/v1/projects", None).await;
    assert_eq!(list.json["items"][0]["progress"]["files"], 0);
    // …and cannot take them out (404, as for a member that is not one).
    for (kind, member) in [
        ("files", file),
        ("queue_items", item),
        ("archives", finished),
    ] {
        let out = server
            .call(&otto, "DELETE", &format!("{members}/{kind}/{member}"), None)
            .await;
        assert_eq!(out.status, 404, "{kind}");
    }
    let still = server.call(&olga, "GET", &members, None).await;
    assert_eq!(still.json["files"].as_array().unwrap().len(), 1);

    // Only `projects:read`: reads work, every change is a 403, no member shows.
    let list = server.call(&vera, "GET", "/api/v1/projects", None).await;
    assert_eq!(list.status, 200, "{:?}", list.json);
    assert_eq!(list.json["items"][0]["progress"]["total"], 0);
    assert_eq!(server.call(&vera, "GET", &members, None).await.status, 200);
    let path = format!("/api/v1/projects/{id}");
    for (method, p, body) in [
        (
            "POST",
            "/api/v1/projects".to_owned(),
            Some(json!({"name": "x"})),
        ),
        ("PATCH", path.clone(), Some(json!({"name": "x"}))),
        ("DELETE", path.clone(), None),
        (
            "POST",
            members.clone(),
            Some(json!({"queue_items": [item]})),
        ),
        ("DELETE", format!("{members}/files/{file}"), None),
    ] {
        assert_eq!(
            server.call(&vera, method, &p, body).await.status,
            403,
            "{method} {p}"
        );
    }
    // No project right at all: 403 at the door.
    let (_, nobody) = user_with(&server, &admin, "nobody", &["library:read_own"]).await;
    assert_eq!(
        server
            .call(&nobody, "GET", "/api/v1/projects", None)
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn project_api_key_acts_only_through_its_one_scope() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let mut rights = WORKER.to_vec();
    rights.push("api_keys:create");
    let (_, olga) = user_with(&server, &admin, "olga", &rights).await;
    let id = create(&server, &olga, json!({"name": "Keyed"})).await.json["id"]
        .as_i64()
        .unwrap();
    let key = crate::support::api_key(&server, &olga, "board", &["projects:read"]).await;
    let path = format!("/api/v1/projects/{id}");
    assert_eq!(
        server
            .call(&key, "GET", "/api/v1/projects", None)
            .await
            .status,
        200
    );
    assert_eq!(server.call(&key, "GET", &path, None).await.status, 200);
    assert_eq!(
        create(&server, &key, json!({"name": "x"})).await.status,
        403
    );
    assert_eq!(
        server
            .call(&key, "PATCH", &path, Some(json!({"notes": "x"})))
            .await
            .status,
        403
    );
    assert_eq!(server.call(&key, "DELETE", &path, None).await.status, 403);
}

#[tokio::test]
async fn projects_refuse_hostile_input_in_words() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let (_, olga) = user_with(&server, &admin, "olga", WORKER).await;
    let id = create(&server, &olga, json!({"name": "Order"})).await.json["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/projects/{id}");
    let members = format!("{path}/members");

    // 10,000 members in one request: refused before any lookup, in words.
    let many: Vec<i64> = (1..=10_000).collect();
    let a = server
        .call(&olga, "POST", &members, Some(json!({"queue_items": many})))
        .await;
    assert_eq!(a.status, 400, "{:?}", a.json);
    assert!(a.message().contains("At most 100"), "{}", a.message());
    let a = server.call(&olga, "POST", &members, Some(json!({}))).await;
    assert_eq!(a.status, 400);
    assert!(a.message().contains("at least one"), "{}", a.message());
    let a = server
        .call(
            &olga,
            "POST",
            &members,
            Some(json!({"files": [{"id": 1, "copies": 0}]})),
        )
        .await;
    assert_eq!(a.status, 400);
    assert!(a.message().contains("copies"), "{}", a.message());

    for (body, words) in [
        (json!({"name": "x", "notes": "n".repeat(10_001)}), "Notes"),
        (json!({"name": ""}), "name"),
        (json!({"name": "y".repeat(201)}), "name"),
        (json!({"name": "a\u{202e}b"}), "invisible"),
        (json!({"name": "x", "due": "2026-02-30"}), "YYYY-MM-DD"),
        (json!({"name": "x", "due": "soon"}), "YYYY-MM-DD"),
    ] {
        let a = create(&server, &olga, body.clone()).await;
        assert_eq!(a.status, 400, "{body}");
        assert!(a.message().contains(words), "{words}: {}", a.message());
    }
    let a = create(&server, &olga, json!({"name": "x", "owner": 1})).await;
    assert_eq!(a.status, 400);
    let a = server
        .call(
            &olga,
            "PATCH",
            &path,
            Some(json!({"notes": "n".repeat(20_000)})),
        )
        .await;
    assert_eq!(a.status, 400);
    assert!(a.message().contains("Notes"), "{}", a.message());
    let a = server.call(&olga, "PATCH", &path, Some(json!({}))).await;
    assert_eq!(a.status, 400);
    assert!(a.message().contains("Nothing to change"), "{}", a.message());
    let a = server
        .call(&olga, "DELETE", &format!("{members}/printers/1"), None)
        .await;
    assert_eq!(a.status, 400);
    assert!(
        a.message().contains("files, queue_items or archives"),
        "{}",
        a.message()
    );
    let a = server
        .call(&olga, "DELETE", &format!("{members}/files/abc"), None)
        .await;
    assert_eq!(a.status, 400);
    for bad in ["/api/v1/projects/abc", "/api/v1/projects/999999"] {
        assert_eq!(
            server.call(&olga, "GET", bad, None).await.status,
            404,
            "{bad}"
        );
    }
}

/// A page's status and HTML, read with `auth`'s session cookie.
async fn html(server: &TestServer, auth: &Auth, path: &str) -> (u16, String) {
    let Auth::Cookie(cookie) = auth else {
        unreachable!("pages are read with a session")
    };
    let r = server
        .client
        .get(server.url(path))
        .header("cookie", cookie.as_str())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn project_pages_show_progress_members_and_only_allowed_controls() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let printer = printer(&server, &admin).await;
    let (_, olga) = user_with(&server, &admin, "olga", WORKER).await;
    let (_, otto) = user_with(&server, &admin, "otto", WORKER).await;
    let (_, vera) = user_with(&server, &admin, "vera", &["projects:read"]).await;
    let (_, nobody) = user_with(&server, &admin, "nobody", &["library:read_own"]).await;
    let (file, item, finished) = content(&server, &olga, printer).await;
    let id = create(
        &server,
        &olga,
        json!({"name": "Order <1042>", "due": "2026-03-01"}),
    )
    .await
    .json["id"]
        .as_i64()
        .unwrap();
    let add = server
        .call(
            &olga,
            "POST",
            &format!("/api/v1/projects/{id}/members"),
            Some(
                json!({"files": [{"id": file, "copies": 40}], "queue_items": [item],
                        "archives": [finished]}),
            ),
        )
        .await;
    assert_eq!(add.status, 200, "{:?}", add.json);
    let page = format!("/projects/{id}");

    // The list: the navigation link, the card with its progress bar, the create form.
    let (status, list) = html(&server, &olga, "/projects").await;
    assert_eq!(status, 200, "{list}");
    assert!(list.contains("href=\"/projects\""), "nav link");
    assert!(list.contains(&format!("href=\"/projects/{id}\"")));
    assert!(
        list.contains("Order &") && !list.contains("Order <1042>"),
        "escaped name"
    );
    assert!(list.contains(&format!(
        "<progress id=\"project-progress-{id}\" max=\"43\" value=\"1\""
    )));
    assert!(list.contains("1 of 43 printed"));
    assert!(list.contains("id=\"new-project-form\""));
    assert!(!list.contains("style="), "no inline style");

    // One project: progress, members with thumbnails, every control for olga.
    let (status, detail) = html(&server, &olga, &page).await;
    assert_eq!(status, 200, "{detail}");
    assert!(detail.contains("<progress id=\"project-progress\" max=\"43\" value=\"1\""));
    assert!(detail.contains(&format!("href=\"/library/files/{file}\"")));
    assert!(detail.contains(&format!("/api/v1/library/files/{file}/plates/1/thumbnail")));
    assert!(detail.contains(&format!(
        "data-kind=\"queue_items\" data-member-id=\"{item}\""
    )));
    assert!(detail.contains(&format!("href=\"/archive/{finished}\"")));
    assert!(detail.contains("40 planned"));
    for control in [
        "id=\"project-form\"",
        "id=\"project-delete\"",
        "id=\"member-search-form\"",
        "data-remove-member",
    ] {
        assert!(detail.contains(control), "{control}");
    }
    assert!(!detail.contains("style="), "no inline style");

    // Otto: the project, none of olga's members.
    let (status, theirs) = html(&server, &otto, &page).await;
    assert_eq!(status, 200);
    assert!(!theirs.contains(&format!("href=\"/library/files/{file}\"")));
    assert!(!theirs.contains(&format!("href=\"/archive/{finished}\"")));
    assert!(!theirs.contains("data-member-id"));
    assert!(theirs.contains("max=\"0\" value=\"0\""));

    // Only `projects:read`: no control at all.
    let (status, read_only) = html(&server, &vera, &page).await;
    assert_eq!(status, 200);
    for control in [
        "id=\"project-form\"",
        "id=\"project-delete\"",
        "id=\"member-search-form\"",
        "data-remove-member",
    ] {
        assert!(!read_only.contains(control), "{control}");
    }
    let (_, list) = html(&server, &vera, "/projects").await;
    assert!(!list.contains("id=\"new-project-form\""));

    // No project right: no link, and the page is the 403 page; a missing project is a 404.
    let (status, _) = html(&server, &nobody, "/projects").await;
    assert_eq!(status, 403);
    let (_, library) = html(&server, &nobody, "/library").await;
    assert!(!library.contains("href=\"/projects\""));
    let (status, _) = html(&server, &olga, "/projects/999999").await;
    assert_eq!(status, 404);
}
