//! Paginated lists (issue 14): `?limit=&cursor=` answered with `{"items", "next"}`, keyset
//! pages run in SQL with the visibility filter in the same query. Guards: walking the pages
//! yields every visible row once, in order, over more than two pages; a row deleted between
//! pages (even the row the cursor names) neither repeats a row nor skips one; a scoped user or
//! a key bound to some printers gets full pages of only their rows (a hidden row shows up
//! neither as an item nor as a short page); out-of-range limits and tampered cursors are 400s.
//! The same for the audit log (newest first, filters kept), API keys (own, or everyone's with
//! `?all=true`) and camera tokens (own): another user's keys never appear on any page, never
//! shorten one and never keep a `next` alive; the Audit and Account pages page through with
//! the cursor and answer a bad one with a 400 page in plain words.

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
    walk_from(server, auth, path, limit, name, None).await
}

/// Walks a list with `limit` from the page at `start` (the first page when `None`).
async fn walk_from(
    server: &TestServer,
    auth: &Auth,
    path: &str,
    limit: u32,
    name: &str,
    start: Option<String>,
) -> Vec<Vec<(i64, String)>> {
    let mut pages = Vec::new();
    let mut cursor = start;
    let sep = if path.contains('?') { '&' } else { '?' };
    loop {
        let url = match &cursor {
            None => format!("{path}{sep}limit={limit}"),
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
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
    let halls = crate::support::locations(&server, &admin, &["Hall A", "Hall B"]).await;
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

/// A page's status and HTML, signed in with `auth`'s cookie.
async fn html(server: &TestServer, auth: &Auth, path: &str) -> (u16, String) {
    // Pages are read with a session cookie; anything else reads them signed out.
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
fn href(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..at];
    let start = tag.find("href=\"")? + 6;
    let end = tag[start..].find('"')? + start;
    Some(
        tag[start..end]
            .replace("&amp;", "&")
            .replace("&#38;", "&")
            .replace("&#x3d;", "="),
    )
}

fn ids(pages: &[Vec<(i64, String)>]) -> Vec<i64> {
    pages.iter().flatten().map(|(i, _)| *i).collect()
}

fn sizes(pages: &[Vec<(i64, String)>]) -> Vec<usize> {
    pages.iter().map(Vec::len).collect()
}

/// Bad paging input on `path` is a 400 with a message, never a 500.
async fn refuses_bad_paging(server: &TestServer, auth: &Auth, path: &str, foreign: &str) {
    let sep = if path.contains('?') { '&' } else { '?' };
    for bad in [
        "limit=0".to_owned(),
        "limit=501".to_owned(),
        "limit=ten".to_owned(),
        "limit=-1".to_owned(),
        "cursor=not-a-cursor".to_owned(),
        "cursor=%21%21".to_owned(),
        format!("cursor={foreign}"),
    ] {
        let r = server
            .call(auth, "GET", &format!("{path}{sep}{bad}"), None)
            .await;
        assert_eq!(r.status, 400, "{path} {bad}: {:?}", r.json);
        assert_eq!(r.json["error"]["code"], "bad_request", "{bad}");
        let m = r.message();
        assert!(
            m.contains("limit") || m.contains("cursor"),
            "{bad}: a plain message naming the parameter: {m}"
        );
    }
}

#[tokio::test]
async fn audit_pages_walk_newest_first_keep_filters_and_refuse_bad_cursors() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let mut users = Vec::new();
    for n in 1..=7 {
        users.push(server.create_user(&admin, &format!("u{n}"), &[]).await);
    }
    // The filter is kept across pages: only the seven user.create events, newest first.
    let pages = walk(
        &server,
        &admin,
        "/api/v1/audit?event=user.create",
        2,
        "event",
    )
    .await;
    assert_eq!(sizes(&pages), [2, 2, 2, 1], "{pages:?}");
    assert!(pages.iter().flatten().all(|(_, e)| e == "user.create"));
    let seen = ids(&pages);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first, once: {seen:?}"
    );
    let all = server
        .call(&admin, "GET", "/api/v1/audit?event=user.&limit=500", None)
        .await;
    let targets: Vec<String> = all.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target_id"].as_str().unwrap().to_owned())
        .collect();
    let mut expected: Vec<String> = users.iter().rev().map(ToString::to_string).collect();
    assert_eq!(targets, expected, "the prefix filter pages the same rows");
    assert_eq!(all.json["next"], Value::Null);

    // Events written between pages are newer: the walk from a cursor neither repeats a row
    // nor shifts (the log is append-only, so nothing is deleted under it).
    let first = server
        .call(
            &admin,
            "GET",
            "/api/v1/audit?event=user.create&limit=3",
            None,
        )
        .await;
    let cursor = first.json["next"].as_str().unwrap().to_owned();
    for n in 8..=9 {
        expected.insert(
            0,
            server
                .create_user(&admin, &format!("u{n}"), &[])
                .await
                .to_string(),
        );
    }
    let rest = walk_from(
        &server,
        &admin,
        "/api/v1/audit?event=user.create",
        3,
        "event",
        Some(cursor),
    )
    .await;
    let first_ids: Vec<i64> = rows(&first.json, "event").iter().map(|(i, _)| *i).collect();
    let rest_ids = ids(&rest);
    assert_eq!(rest_ids.len(), 4, "{rest:?}");
    assert!(rest_ids.iter().all(|i| i < first_ids.last().unwrap()));
    assert_eq!([first_ids, rest_ids].concat(), seen, "no repeat, no gap");

    // Someone without audit:read gets no page at all.
    let u1 = server.login("u1", TEST_PASSWORD).await;
    let r = server.call(&u1, "GET", "/api/v1/audit?limit=1", None).await;
    assert_eq!(r.status, 403, "{:?}", r.json);

    // A numeric `before=` is gone (unknown parameter); bad limits and cursors are 400s.
    let r = server
        .call(&admin, "GET", "/api/v1/audit?before=5", None)
        .await;
    assert_eq!(r.status, 400, "{:?}", r.json);
    refuses_bad_paging(&server, &admin, "/api/v1/audit?event=user.", "azE6MTo").await;
    let total = server
        .call(&admin, "GET", "/api/v1/audit?limit=500", None)
        .await
        .json["items"]
        .as_array()
        .unwrap()
        .len();
    let r = server.call(&admin, "GET", "/api/v1/audit", None).await;
    assert!(total > 9 && total < 50, "{total}");
    assert_eq!(
        r.json["items"].as_array().unwrap().len(),
        total,
        "default 50"
    );

    // The Audit page pages through with the cursor, keeping the filters.
    let (status, page) = html(&server, &admin, "/audit?event=user.create&limit=4").await;
    assert_eq!(status, 200);
    assert_eq!(page.matches("data-event=\"user.create\"").count(), 4);
    assert!(href(&page, "audit-newest").is_none(), "the first page");
    let older = href(&page, "audit-older").expect("an Older link");
    assert!(
        older.contains("cursor=")
            && older.contains("event=user.create")
            && older.contains("limit=4"),
        "{older}"
    );
    let (status, page) = html(&server, &admin, &older).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page.matches("data-event=\"user.create\"").count(),
        4,
        "{older}"
    );
    assert!(href(&page, "audit-newest").is_some());
    let last = href(&page, "audit-older").expect("a third page");
    let (_, page) = html(&server, &admin, &last).await;
    assert_eq!(page.matches("data-event=\"user.create\"").count(), 1);
    assert!(href(&page, "audit-older").is_none(), "the oldest page");
    for (bad, says) in [
        ("/audit?cursor=garbage", "page cursor is not valid"),
        ("/audit?cursor=azE6MTo", "page cursor is not valid"),
        ("/audit?limit=0", "limit must be a whole number"),
        ("/audit?limit=lots", "limit must be a whole number"),
    ] {
        let (status, page) = html(&server, &admin, bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(
            page.contains("id=\"audit-error\"") && page.contains(says),
            "{bad}: {page}"
        );
    }
}

async fn key(server: &TestServer, auth: &Auth, name: &str) -> i64 {
    let k = server
        .call(
            auth,
            "POST",
            "/api/v1/api-keys",
            Some(json!({"name": name, "scopes": ["printers:read"]})),
        )
        .await;
    assert_eq!(k.status, 201, "{:?}", k.json);
    k.json["id"].as_i64().unwrap()
}

async fn camera_token(server: &TestServer, auth: &Auth, name: &str) -> i64 {
    let t = server
        .call(
            auth,
            "POST",
            "/api/v1/camera-tokens",
            Some(json!({"name": name, "days": 30})),
        )
        .await;
    assert_eq!(t.status, 201, "{:?}", t.json);
    t.json["id"].as_i64().unwrap()
}

async fn delete(server: &TestServer, auth: &Auth, path: &str) {
    let d = server.call(auth, "DELETE", path, None).await;
    assert_eq!(d.status, 204, "{path}: {:?}", d.json);
}

#[tokio::test]
async fn api_key_pages_show_only_own_keys_and_survive_deletes() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let gid = server
        .create_group(&admin, "Key makers", &["api_keys:create", "printers:read"])
        .await;
    server.create_user(&admin, "lee", &[gid]).await;
    let lee = server.login("lee", TEST_PASSWORD).await;
    // The administrator's keys are the oldest and sit between Lee's: a filter applied after
    // the LIMIT would shorten Lee's pages or keep a `next` alive past Lee's last key.
    let mut theirs = vec![key(&server, &admin, "admin 0").await];
    let mut mine = Vec::new();
    for n in 1..=6 {
        mine.push(key(&server, &lee, &format!("lee {n}")).await);
        if n % 2 == 0 {
            theirs.push(key(&server, &admin, &format!("admin {n}")).await);
        }
    }
    // A camera token is a key row of another kind: never in this list.
    camera_token(&server, &admin, "admin camera").await;
    let newest_first = |v: &[i64]| v.iter().rev().copied().collect::<Vec<_>>();

    for limit in [2, 3] {
        let pages = walk(&server, &lee, "/api/v1/api-keys", limit, "name").await;
        assert_eq!(
            sizes(&pages),
            vec![limit as usize; 6 / limit as usize],
            "{pages:?}"
        );
        assert_eq!(ids(&pages), newest_first(&mine), "Lee's keys only, once");
        assert!(pages.iter().flatten().all(|(_, n)| n.starts_with("lee")));
    }
    let page = server
        .call(&lee, "GET", "/api/v1/api-keys?limit=6", None)
        .await;
    assert_eq!(page.json["next"], Value::Null, "no next for hidden keys");
    assert!(!page.json.to_string().contains("admin"), "{:?}", page.json);

    // Everyone's keys with api_keys:read_all; without it, 403 — and a cursor of the
    // administrator's page grants Lee nothing.
    let every = walk(&server, &admin, "/api/v1/api-keys?all=true", 4, "name").await;
    assert_eq!(sizes(&every), [4, 4, 2]);
    let mut all: Vec<i64> = mine.iter().chain(&theirs).copied().collect();
    all.sort_unstable();
    assert_eq!(ids(&every), newest_first(&all));
    let own = walk(&server, &admin, "/api/v1/api-keys", 2, "name").await;
    assert_eq!(
        ids(&own),
        newest_first(&theirs),
        "without all: own keys only"
    );
    let r = server
        .call(&lee, "GET", "/api/v1/api-keys?all=true", None)
        .await;
    assert_eq!(r.status, 403, "{:?}", r.json);
    let admins_page = server
        .call(&admin, "GET", "/api/v1/api-keys?all=true&limit=1", None)
        .await;
    let foreign = admins_page.json["next"].as_str().unwrap();
    let r = server
        .call(
            &lee,
            "GET",
            &format!("/api/v1/api-keys?cursor={foreign}"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert!(
        rows(&r.json, "name")
            .iter()
            .all(|(_, n)| n.starts_with("lee"))
    );

    // Deletes between pages: the cursor's own key and the next page's first key go.
    let first = server
        .call(&lee, "GET", "/api/v1/api-keys?limit=2", None)
        .await;
    let cursor = first.json["next"].as_str().unwrap().to_owned();
    let newest = newest_first(&mine);
    for id in [newest[1], newest[2]] {
        delete(&server, &lee, &format!("/api/v1/api-keys/{id}")).await;
    }
    let rest = walk_from(&server, &lee, "/api/v1/api-keys", 2, "name", Some(cursor)).await;
    assert_eq!(
        ids(&rest),
        [newest[3], newest[4], newest[5]],
        "no repeat, no skip, it ends"
    );

    refuses_bad_paging(&server, &lee, "/api/v1/api-keys", "YTE6MTo").await;
    refuses_bad_paging(&server, &admin, "/api/v1/api-keys?all=true", "YzE6MTo").await;
}

#[tokio::test]
async fn camera_token_pages_show_only_own_tokens_and_survive_deletes() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let gid = server
        .create_group(
            &admin,
            "Kiosk makers",
            &[
                "camera:tokens",
                "camera:view",
                "printers:read",
                "api_keys:create",
            ],
        )
        .await;
    server.create_user(&admin, "kim", &[gid]).await;
    let kim = server.login("kim", TEST_PASSWORD).await;
    let mut theirs = vec![camera_token(&server, &admin, "admin 0").await];
    let mut mine = Vec::new();
    for n in 1..=5 {
        mine.push(camera_token(&server, &kim, &format!("kim {n}")).await);
        theirs.push(camera_token(&server, &admin, &format!("admin {n}")).await);
    }
    // An API key is a key row of another kind: never in this list.
    key(&server, &kim, "not a token").await;
    let newest: Vec<i64> = mine.iter().rev().copied().collect();

    let pages = walk(&server, &kim, "/api/v1/camera-tokens", 2, "name").await;
    assert_eq!(sizes(&pages), [2, 2, 1], "{pages:?}");
    assert_eq!(ids(&pages), newest, "Kim's tokens only, once");
    let pages = walk(&server, &kim, "/api/v1/camera-tokens", 5, "name").await;
    assert_eq!(
        sizes(&pages),
        [5],
        "no next for the administrator's older tokens"
    );
    let own = walk(&server, &admin, "/api/v1/camera-tokens", 4, "name").await;
    assert_eq!(ids(&own), theirs.iter().rev().copied().collect::<Vec<_>>());

    let first = server
        .call(&kim, "GET", "/api/v1/camera-tokens?limit=2", None)
        .await;
    let cursor = first.json["next"].as_str().unwrap().to_owned();
    for id in [newest[1], newest[2]] {
        delete(&server, &kim, &format!("/api/v1/camera-tokens/{id}")).await;
    }
    let rest = walk_from(
        &server,
        &kim,
        "/api/v1/camera-tokens",
        2,
        "name",
        Some(cursor),
    )
    .await;
    assert_eq!(
        ids(&rest),
        [newest[3], newest[4]],
        "no repeat, no skip, it ends"
    );

    refuses_bad_paging(&server, &kim, "/api/v1/camera-tokens", "azE6MTo").await;
}

#[tokio::test]
async fn the_account_page_pages_through_keys_and_tokens() {
    let server = TestServer::spawn().await;
    let admin = server.setup_admin().await;
    let gid = server
        .create_group(
            &admin,
            "Makers",
            &[
                "camera:tokens",
                "camera:view",
                "printers:read",
                "api_keys:create",
            ],
        )
        .await;
    server.create_user(&admin, "max", &[gid]).await;
    let max = server.login("max", TEST_PASSWORD).await;
    // One key more than a page (50), and another user's keys the page must never show.
    for n in 0..51 {
        key(&server, &max, &format!("max key {n}")).await;
    }
    key(&server, &admin, "admin key").await;
    camera_token(&server, &max, "max token").await;

    let (status, page) = html(&server, &max, "/account").await;
    assert_eq!(status, 200);
    assert_eq!(page.matches("data-key-id=").count(), 50);
    assert!(page.contains("max key 50") && !page.contains("max key 0<"));
    assert!(!page.contains("admin key"));
    assert!(href(&page, "api-keys-newest").is_none());
    assert!(
        href(&page, "camera-tokens-older").is_none(),
        "one token, one page"
    );
    let older = href(&page, "api-keys-older").expect("an Older keys link");
    assert!(older.starts_with("/account?keys_cursor="), "{older}");
    let (status, page) = html(&server, &max, &older).await;
    assert_eq!(status, 200);
    assert_eq!(page.matches("data-key-id=").count(), 1);
    assert!(page.contains("max key 0<"));
    assert!(!page.contains("admin key"));
    assert_eq!(
        page.matches("data-camera-token-id=").count(),
        1,
        "tokens keep their page"
    );
    assert_eq!(
        href(&page, "api-keys-newest").as_deref(),
        Some("/account#api-keys")
    );
    assert!(href(&page, "api-keys-older").is_none());

    for bad in [
        "/account?keys_cursor=garbage",
        "/account?tokens_cursor=azE6MTo",
    ] {
        let (status, page) = html(&server, &max, bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(page.contains("page cursor is not valid"), "{bad}: {page}");
    }
}
