//! The archive list's search for 1–2 characters (issue 15): a page reads at most a window of
//! entries, says how far back it looked (`searched_until`) and continues from there through
//! `next`; following `next` to the end gives exactly what a naive filter over every entry the
//! caller may read gives, for 1-, 2- and 3+-character texts, with another user's entries
//! interleaved — and the window counts only the caller's visible entries, so where it stops
//! betrays nothing of the others'. The `/archive` page says it in words with a link that
//! searches on. The window here is 4 entries (production: 5,000).

use pw_testkit::{Auth, Options, TestServer};
use serde_json::{Value, json};

use crate::archive::{list, record, user_with};
use crate::archive_page::{href, html};

/// A printer on a closed loopback port (it stays offline; the archive only names it).
async fn offline_printer(server: &TestServer, admin: &Auth, name: &str, serial: &str) -> i64 {
    let created = server
        .call(
            admin,
            "POST",
            "/api/v1/printers",
            Some(json!({
                "name": name, "serial": serial, "host": "127.0.0.1", "mqtt_port": 9,
                "ftps_port": 9, "camera_port": 9, "access_code": "12345678", "model": "X1C",
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json);
    created.json["id"].as_i64().unwrap()
}

/// Follows `next` from the first page to the end; every id in order, and every
/// `searched_until` seen.
async fn follow(server: &TestServer, auth: &Auth, query: &str) -> (Vec<i64>, Vec<String>) {
    let mut ids = Vec::new();
    let mut searched = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..200 {
        let q = match &cursor {
            None => query.to_owned(),
            Some(c) => format!("{query}&cursor={c}"),
        };
        let page = list(server, auth, &q).await;
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        if let Some(s) = page["searched_until"].as_str() {
            assert!(page["next"].is_string(), "searched_until comes with next");
            searched.push(s.to_owned());
        }
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => return (ids, searched),
        }
    }
    assert!(
        cursor.is_none(),
        "{query}: the pages did not end within 200"
    );
    (ids, searched)
}

#[tokio::test]
async fn short_texts_search_a_window_at_a_time_and_following_next_finds_every_match_once() {
    let server = TestServer::spawn_with(Options {
        search: Some(printwarden::SearchTuning {
            sqlite_sort_max: 3,
            short_text_window: 4,
        }),
        ..Options::default()
    })
    .await;
    let admin = server.setup_admin().await;
    let a = offline_printer(&server, &admin, "Alpha", "ALPHA0001").await;
    let b = offline_printer(&server, &admin, "Beta", "BETA00001").await;
    let ann = user_with(
        &server,
        &admin,
        "ann",
        &["printers:read", "archives:read_own", "archives:create"],
    )
    .await;
    // 20 entries an hour apart, ann's and the administrator's interleaved: (id, hour, file,
    // ann's).
    let mut entries: Vec<(i64, u32, String, bool)> = Vec::new();
    for hour in 0..20_u32 {
        let anns = hour % 3 != 1;
        let file = match hour % 5 {
            0 => format!("benchy-{hour}.3mf"),
            1 => format!("gear-{hour}.3mf"),
            2 => format!("zq-{hour}.gcode"),
            _ => format!("part-{hour}.3mf"),
        };
        let who = if anns { &ann } else { &admin };
        let printer = if hour % 2 == 0 { a } else { b };
        let id = record(&server, who, printer, &file, hour, "finished").await;
        entries.push((id, hour, file, anns));
    }
    entries.reverse();
    let naive = |q: &str, only_ann: bool| -> Vec<i64> {
        let q = q.to_ascii_lowercase();
        entries
            .iter()
            .filter(|(_, hour, file, anns)| {
                let printer = if hour % 2 == 0 { "alpha" } else { "beta" };
                (!only_ann || *anns)
                    && (file.to_ascii_lowercase().contains(&q) || printer.contains(&q))
            })
            .map(|(id, ..)| *id)
            .collect()
    };
    for q in [
        "y", "zq", "Z", "-1", "a", ".g", "benchy", "ZQ-1", "gear-", "nothing",
    ] {
        for (who, auth, only_ann) in [("admin", &admin, false), ("ann", &ann, true)] {
            for limit in [2, 50] {
                let (got, searched) = follow(&server, auth, &format!("?q={q}&limit={limit}")).await;
                assert_eq!(got, naive(q, only_ann), "{who}, q = {q:?}, limit {limit}");
                if q.chars().count() >= 3 {
                    assert!(searched.is_empty(), "{q:?}: no window past 2 characters");
                }
                if who == "ann" {
                    // Where the window stopped is always the start of one of ann's entries:
                    // it counts only what she may read.
                    for s in &searched {
                        let hour: u32 = s[11..13].parse().unwrap();
                        assert!(
                            entries.iter().any(|(_, h, _, anns)| *h == hour && *anns),
                            "{s} is not one of ann's entries"
                        );
                    }
                }
            }
        }
    }
    // "y" (benchy, hours 0, 5, 10, 15) matches none of the 4 newest (hours 19–16): an empty
    // page that says how far it looked, and goes on from there.
    let first = list(&server, &admin, "?q=y").await;
    assert_eq!(first["items"], json!([]));
    assert_eq!(first["searched_until"], "2026-01-01T16:00:00Z");
    let next = first["next"].as_str().unwrap().to_owned();
    let second = list(&server, &admin, &format!("?q=y&cursor={next}")).await;
    assert_eq!(crate::archive::ids(&second), naive("benchy-15", false));
    assert_eq!(second["searched_until"], "2026-01-01T12:00:00Z");
    // A full page, or a text of 3+ characters: null.
    let full = list(&server, &admin, "?q=a&limit=2").await;
    assert_eq!(full["searched_until"], Value::Null);
    assert!(full["next"].is_string());
    let long = list(&server, &admin, "?q=benchy").await;
    assert_eq!(long["searched_until"], Value::Null);
    assert_eq!(long["next"], Value::Null);
    // The CSV export is every match, no window.
    let csv = server
        .client
        .get(server.url("/api/v1/archives/export.csv?q=y"))
        .header(
            "cookie",
            match &admin {
                Auth::Cookie(c) => c.as_str(),
                _ => "",
            },
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for hour in [0, 5, 10, 15] {
        assert!(csv.contains(&format!("benchy-{hour}.3mf")), "{csv}");
    }

    // The page says it in words and links the search on.
    let (status, page) = html(&server, &admin, "/archive?q=y").await;
    assert_eq!(status, 200);
    assert!(page.contains("No matches among the prints since"), "{page}");
    assert!(!page.contains("id=\"archive-empty\""));
    let older = href(&page, "archive-search-older").unwrap();
    assert!(
        older.contains("q=y") && older.contains("cursor="),
        "{older}"
    );
    let (status, page) = html(&server, &admin, &older).await;
    assert_eq!(status, 200);
    assert!(page.contains("benchy-15.3mf"), "{page}");
    assert!(
        page.contains("No more matches among the prints since"),
        "{page}"
    );
}
