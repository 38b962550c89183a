//! Paginated lists (issue 14): `?limit=&cursor=` answered with `{"items", "next"}`, keyset
//! pages run in SQL with the visibility filter in the same query. Guards: walking the pages
//! yields every visible row once, in order, over more than two pages; a row deleted between
//! pages (even the row the cursor names) neither repeats a row nor skips one; a scoped user or
//! a key bound to some printers gets full pages of only their rows (a hidden row shows up
//! neither as an item nor as a short page); out-of-range limits and tampered cursors are 400s.

use pw_testkit::{Auth, TEST_PASSWORD, TestServer};
use serde_json::{Value, json};

/// Walks a list with `limit`, returning each page's `(id, name)` pairs.
async fn walk(
    server: &TestServer,
    auth: &Auth,
    path: &str,
    limit: u32,
    name: &str,
) -> Vec<Vec<(i64, String)>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            None => format!("{path}?limit={limit}"),
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
        };
        let page = server.call(auth, "GET", &url, None).await;
        assert_eq!(page.status, 200, "{url}: {:?}", page.json);
        pages.push(rows(&page.json, name));
        let next = &page.json["next"];
        if next.is_null() {
            break;
        }
        cursor = Some(next.as_str().expect("next is a string or null").to_owned());
        assert!(pages.len() < 50, "the pages never end");
    }
    pages
}

fn rows(json: &Value, name: &str) -> Vec<(i64, String)> {
    json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_i64().unwrap(),
                i[name].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn printer(server: &TestServer, admin: &Auth, n: u32, location: i64) -> i64 {
    let p = server
        .call(
            admin,
            "POST",
            "/api/v1/printers",
            Some(json!({
                "name": format!("P{n:02}"),
                "serial": format!("PAGE{n:04}"),
                "host": "127.0.0.1",
                "mqtt_port": 9,
                "access_code": "12345678",
                "location_id": location,
            })),
        )
        .await;
    assert_eq!(p.status, 201, "{:?}", p.json);
    p.json["id"].as_i64().unwrap()
}

#[tokio::test]
async fn printer_pages_cover_the_scope_once_and_survive_deletes() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let mut halls = Vec::new();
    for name in ["Hall A", "Hall B"] {
        let l = server
            .call(
                &admin,
                "POST",
                "/api/v1/locations",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(l.status, 201, "{:?}", l.json);
        halls.push(l.json["id"].as_i64().unwrap());
    }
    // P01..P09: odd ones in hall A, even ones in hall B. Created out of name order, so the
    // page order (by name) is not the id order.
    let mut ids = std::collections::BTreeMap::new();
    for n in [5, 1, 9, 2, 7, 4, 3, 8, 6] {
        ids.insert(
            n,
            printer(&server, &admin, n, halls[(n as usize + 1) % 2]).await,
        );
    }
    let id = |n: u32| ids[&n];

    // The administrator: every printer, once, in name order, over four pages.
    let pages = walk(&server, &admin, "/api/v1/printers", 2, "name").await;
    assert_eq!(pages.len(), 5, "{pages:?}");
    let names: Vec<String> = pages.iter().flatten().map(|(_, n)| n.clone()).collect();
    assert_eq!(
        names,
        [
            "P01", "P02", "P03", "P04", "P05", "P06", "P07", "P08", "P09"
        ]
    );

    // A crew scoped to hall A plus printer P02: full pages of only their printers.
    let group = server
        .call(
            &admin,
            "POST",
            "/api/v1/groups",
            Some(
                json!({"name": "Hall A crew", "permissions": ["printers:read", "api_keys:create"],
                        "scope": {"locations": [halls[0]], "printers": [id(2)]}}),
            ),
        )
        .await;
    assert_eq!(group.status, 201, "{:?}", group.json);
    let gid = group.json["id"].as_i64().unwrap();
    server.create_user(&admin, "anna", &[gid]).await;
    let anna = server.login("anna", TEST_PASSWORD).await;
    let pages = walk(&server, &anna, "/api/v1/printers", 2, "name").await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(
        sizes,
        [2, 2, 2],
        "full pages, no hidden row counted: {pages:?}"
    );
    let seen: Vec<i64> = pages.iter().flatten().map(|(i, _)| *i).collect();
    assert_eq!(seen, [id(1), id(2), id(3), id(5), id(7), id(9)]);

    // Her key bound to P03 and P04 sees P03 only (P04 is outside her scope).
    let key = server
        .call(
            &anna,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": "kiosk", "scopes": ["printers:read"],
                        "printer_ids": [id(3)]})),
        )
        .await;
    assert_eq!(key.status, 201, "{:?}", key.json);
    let key = Auth::Key(key.json["key"].as_str().unwrap().to_owned());
    let pages = walk(&server, &key, "/api/v1/printers", 1, "name").await;
    assert_eq!(pages, [vec![(id(3), "P03".to_owned())]]);

    // Deletes between pages: the cursor's own row and the next page's first row go.
    let first = server
        .call(&admin, "GET", "/api/v1/printers?limit=2", None)
        .await;
    assert_eq!(
        rows(&first.json, "name"),
        [(id(1), "P01".to_owned()), (id(2), "P02".to_owned())]
    );
    let cursor = first.json["next"].as_str().unwrap().to_owned();
    for n in [2, 3] {
        let d = server
            .call(
                &admin,
                "DELETE",
                &format!("/api/v1/printers/{}", id(n)),
                None,
            )
            .await;
        assert_eq!(d.status, 204, "{:?}", d.json);
    }
    let second = server
        .call(
            &admin,
            "GET",
            &format!("/api/v1/printers?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(second.status, 200, "{:?}", second.json);
    assert_eq!(
        rows(&second.json, "name"),
        [(id(4), "P04".to_owned()), (id(5), "P05".to_owned())],
        "no repeat, no skip"
    );

    // Bad paging input: a plain 400; the same request with a good value answers.
    for bad in [
        "limit=0",
        "limit=501",
        "limit=ten",
        "cursor=not-a-cursor",
        "cursor=cDE6eDpQMA",     // a cursor with its id mangled
        "cursor=dTE6MTphZG1pbg", // a users cursor
    ] {
        let r = server
            .call(&admin, "GET", &format!("/api/v1/printers?{bad}"), None)
            .await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.json);
        assert!(!r.message().is_empty(), "{bad}");
    }
    let r = server
        .call(&admin, "GET", "/api/v1/printers?limit=500", None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["items"].as_array().unwrap().len(), 7);
    assert_eq!(r.json["next"], Value::Null);
    let r = server.call(&admin, "GET", "/api/v1/printers", None).await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 7, "default 50");
}

#[tokio::test]
async fn user_pages_cover_every_user_once_and_survive_deletes() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let mut ids = std::collections::BTreeMap::new();
    for name in ["dora", "bert", "fay", "carl", "emil", "gus", "ada"] {
        ids.insert(name, server.create_user(&admin, name, &[]).await);
    }
    let pages = walk(&server, &admin, "/api/v1/users", 3, "username").await;
    assert_eq!(pages.len(), 3, "{pages:?}");
    let names: Vec<String> = pages.iter().flatten().map(|(_, n)| n.clone()).collect();
    let mut expected: Vec<String> = ids.keys().map(|s| (*s).to_owned()).collect();
    expected.push("admin".into());
    expected.sort();
    assert_eq!(names, expected);

    // Delete the cursor's row and the next page's first row between pages.
    let first = server
        .call(&admin, "GET", "/api/v1/users?limit=2", None)
        .await;
    let names: Vec<String> = rows(&first.json, "username")
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(names, ["ada", "admin"]);
    let cursor = first.json["next"].as_str().unwrap().to_owned();
    for name in ["ada", "bert"] {
        let d = server
            .call(
                &admin,
                "DELETE",
                &format!("/api/v1/users/{}", ids[name]),
                None,
            )
            .await;
        assert_eq!(d.status, 204, "{:?}", d.json);
    }
    let second = server
        .call(
            &admin,
            "GET",
            &format!("/api/v1/users?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    let names: Vec<String> = rows(&second.json, "username")
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(names, ["carl", "dora"], "no repeat, no skip");

    // Someone without users:read sees no page at all (not an empty one).
    let carl = server.login("carl", TEST_PASSWORD).await;
    let r = server
        .call(&carl, "GET", "/api/v1/users?limit=1", None)
        .await;
    assert_eq!(r.status, 403, "{:?}", r.json);

    for bad in ["limit=0", "limit=9999", "cursor=%21%21"] {
        let r = server
            .call(&admin, "GET", &format!("/api/v1/users?{bad}"), None)
            .await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.json);
    }
}

#[tokio::test]
async fn webhook_pages_cover_every_hook_once_and_survive_deletes() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let mut ids = Vec::new();
    for n in 1..=5 {
        let h = server
            .call(
                &admin,
                "POST",
                "/api/v1/webhooks",
                Some(
                    json!({"name": format!("hook {n}"), "url": "https://93.184.216.34/hook",
                            "events": ["auth.logout"]}),
                ),
            )
            .await;
        assert_eq!(h.status, 201, "{:?}", h.json);
        ids.push(h.json["id"].as_i64().unwrap());
    }
    let pages = walk(&server, &admin, "/api/v1/webhooks", 2, "name").await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [2, 2, 1]);
    let seen: Vec<i64> = pages.iter().flatten().map(|(i, _)| *i).collect();
    assert_eq!(seen, ids);

    let first = server
        .call(&admin, "GET", "/api/v1/webhooks?limit=2", None)
        .await;
    let cursor = first.json["next"].as_str().unwrap().to_owned();
    for id in [ids[1], ids[2]] {
        let d = server
            .call(&admin, "DELETE", &format!("/api/v1/webhooks/{id}"), None)
            .await;
        assert_eq!(d.status, 204, "{:?}", d.json);
    }
    let second = server
        .call(
            &admin,
            "GET",
            &format!("/api/v1/webhooks?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    let seen: Vec<i64> = rows(&second.json, "name").iter().map(|(i, _)| *i).collect();
    assert_eq!(seen, [ids[3], ids[4]], "no repeat, no skip");
    assert_eq!(second.json["next"], Value::Null);

    // Without notifications:read: no page at all; a printers cursor is refused here.
    server.create_user(&admin, "nobody", &[]).await;
    let nobody = server.login("nobody", TEST_PASSWORD).await;
    let r = server.call(&nobody, "GET", "/api/v1/webhooks", None).await;
    assert_eq!(r.status, 403, "{:?}", r.json);
    for bad in ["limit=0", "limit=501", "cursor=cDE6MTpQMA"] {
        let r = server
            .call(&admin, "GET", &format!("/api/v1/webhooks?{bad}"), None)
            .await;
        assert_eq!(r.status, 400, "{bad}: {:?}", r.json);
    }
}
