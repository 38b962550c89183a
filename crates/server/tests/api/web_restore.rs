//! The guarded web restore (Settings → Backup): upload → verify → confirm → restart, on the
//! real server over TLS and on the backend the suite runs with. A backup taken through the API
//! comes back after the server restarted itself — rows, files and sealed secrets that open —
//! while anyone short of an administrator with a session and their password is refused, and a
//! wrong passphrase, a damaged, cut-off or newer backup is a plain 400 that changes nothing.

use std::path::Path;

use pw_testkit::{Auth, Options, TEST_PASSWORD, TestServer};
use serde_json::json;

use crate::backup::{ACCESS_CODE, PASSPHRASE};

async fn upload(server: &TestServer, auth: &Auth, bytes: Vec<u8>) -> (u16, serde_json::Value) {
    let mut req = server
        .client
        .put(server.url("/api/v1/system/restore/upload"))
        .header("content-type", "application/octet-stream")
        .body(bytes);
    req = match auth {
        Auth::Cookie(c) => req.header("cookie", c).header("origin", server.origin()),
        Auth::Key(k) => req.bearer_auth(k),
        Auth::None => req,
    };
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let json = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// Every file under the data directory but the staging area and the files a running server
/// rewrites, with its checksum: "nothing changed" means this is equal.
fn data_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let path = e.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if rel == "restore" || rel.starts_with("printwarden.db") {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_restored_from_the_page_brings_the_old_data_back_after_the_restart() {
    let mut server = TestServer::spawn_process(
        Path::new(env!("CARGO_BIN_EXE_printwarden")),
        Options::default(),
    )
    .await;
    let admin = server.setup_admin().await;
    let printer = server
        .call(
            &admin,
            "POST",
            "/api/v1/printers",
            Some(json!({
                "name": "P1S one", "serial": "01P00A000000001", "host": "127.0.0.1",
                "mqtt_port": 1, "access_code": ACCESS_CODE, "model": "P1S",
            })),
        )
        .await;
    assert_eq!(printer.status, 201, "{:?}", printer.json);
    let printer = printer.json["id"].as_i64().unwrap();
    crate::library::upload(&server, &admin, "cube.stl", &crate::library::stl()).await;
    let viewers = server.group_id(&admin, "Viewers").await;
    server.create_user(&admin, "vera", &[viewers]).await;

    let (status, backup) =
        crate::backup::download(&server, &admin, json!({"passphrase": PASSPHRASE})).await;
    assert_eq!(status, 200);

    // Life goes on after the backup: a new account, the printer gone.
    server.create_user(&admin, "newcomer", &[viewers]).await;
    let gone = server
        .call(
            &admin,
            "DELETE",
            &format!("/api/v1/printers/{printer}"),
            None,
        )
        .await;
    assert!(gone.status.is_success(), "{:?}", gone.json);

    let (status, staged) = upload(&server, &admin, backup).await;
    assert_eq!(status, 200, "{staged:?}");
    assert_eq!(staged["staged"], true);
    assert_eq!(staged["can_restart"], true, "{staged:?}");

    let cover = server
        .call(
            &admin,
            "POST",
            "/api/v1/system/restore/verify",
            Some(json!({"passphrase": PASSPHRASE})),
        )
        .await;
    assert_eq!(cover.status, 200, "{:?}", cover.json);
    assert_eq!(cover.json["restorable"], true);
    assert_eq!(cover.json["includes_sealing_key"], false);
    let counts = cover.json["counts"].to_string();
    assert!(counts.contains("[\"printers\",1]"), "{counts}");
    let sealed = cover.json["sealed_values"].as_u64().unwrap();
    assert!(
        sealed >= 1,
        "the access code is a sealed value: {:?}",
        cover.json
    );
    assert_eq!(
        cover.json["sealed_values_open"].as_u64(),
        Some(sealed),
        "this server's key opens them all"
    );

    let accepted = server
        .call(
            &admin,
            "POST",
            "/api/v1/system/restore/confirm",
            Some(json!({"passphrase": PASSPHRASE, "current_password": TEST_PASSWORD})),
        )
        .await;
    assert_eq!(accepted.status, 202, "{:?}", accepted.json);
    assert!(
        accepted.json["message"]
            .as_str()
            .unwrap()
            .contains("starts again")
    );

    server.await_restart().await;
    let admin = server.login("admin", TEST_PASSWORD).await;
    let printers = server.call(&admin, "GET", "/api/v1/printers", None).await;
    assert!(
        printers.json.to_string().contains("P1S one"),
        "the printer is back: {:?}",
        printers.json
    );
    let users = server.call(&admin, "GET", "/api/v1/users", None).await;
    let users = users.json.to_string();
    assert!(users.contains("vera"), "{users}");
    assert!(
        !users.contains("newcomer"),
        "later accounts are gone: {users}"
    );
    let files = server
        .call(&admin, "GET", "/api/v1/library/files", None)
        .await;
    assert_eq!(files.json["items"].as_array().map(Vec::len), Some(1));

    // The sealed access code opens with the key the server runs with.
    let key = pw_credentials::SealingKey::from_base64(
        &std::fs::read_to_string(server.data_dir.join("secret.key")).unwrap(),
    )
    .unwrap();
    let stored = crate::backup::sealed_access_code(&server.database_url, printer).await;
    assert_eq!(
        key.open(&stored, &format!("printer:{printer}:access_code"))
            .unwrap(),
        ACCESS_CODE.as_bytes()
    );

    let status = server
        .call(&admin, "GET", "/api/v1/system/restore", None)
        .await;
    assert_eq!(status.json["staged"], false, "the upload is removed");
    assert_eq!(status.json["last_restore"]["ok"], true, "{:?}", status.json);
    assert!(!server.data_dir.join("restore").exists());
    let kept: Vec<String> = std::fs::read_dir(&server.data_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("before-restore-"))
        .collect();
    assert_eq!(kept.len(), 1, "the previous data is kept");
    let audit = server
        .call(
            &admin,
            "GET",
            "/api/v1/audit?event=system.restore.applied",
            None,
        )
        .await;
    assert_eq!(
        audit.json["items"].as_array().map(Vec::len),
        Some(1),
        "{:?}",
        audit.json
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_an_administrator_with_a_session_and_their_password_may_restore() {
    let (server, admin, _) = crate::backup::seeded(Options::default()).await;
    let (_, backup) =
        crate::backup::download(&server, &admin, json!({"passphrase": PASSPHRASE})).await;

    // system:backup alone is not enough: restoring replaces every account.
    let backups = server
        .create_group(&admin, "backup operators", &["system:backup"])
        .await;
    server.create_user(&admin, "bob", &[backups]).await;
    let bob = server.login("bob", TEST_PASSWORD).await;
    assert_eq!(upload(&server, &bob, backup.clone()).await.0, 403);
    for (method, path) in [
        ("GET", "/api/v1/system/restore"),
        ("POST", "/api/v1/system/restore/verify"),
        ("POST", "/api/v1/system/restore/confirm"),
        ("DELETE", "/api/v1/system/restore"),
    ] {
        let answer = server
            .call(&bob, method, path, Some(json!({"passphrase": PASSPHRASE})))
            .await;
        assert_eq!(answer.status, 403, "{method} {path}");
    }
    // The page shows the restore section to administrators only.
    let (status, html) = crate::backup::page(&server, &bob, "/settings/backup").await;
    assert_eq!(status, 200);
    assert!(
        !html.contains("id=\"restore\""),
        "no restore section for bob"
    );
    let (status, html) = crate::backup::page(&server, &admin, "/settings/backup").await;
    assert_eq!(status, 200);
    assert!(html.contains("Restore from a backup"));
    assert!(html.contains("id=\"restore-dialog\""));
    assert!(!html.contains("<script>"), "external scripts only");
    // An API key, even one of an administrator with every scope, is refused at the door.
    let key = crate::support::api_key(&server, &admin, "all", &["system:backup"]).await;
    assert_eq!(upload(&server, &key, backup.clone()).await.0, 401);

    let (status, _) = upload(&server, &admin, backup).await;
    assert_eq!(status, 200);
    // No re-authentication, or a wrong one: refused, the upload stays.
    for body in [
        json!({"passphrase": PASSPHRASE}),
        json!({"passphrase": PASSPHRASE, "current_password": "not my password"}),
    ] {
        let answer = server
            .call(&admin, "POST", "/api/v1/system/restore/confirm", Some(body))
            .await;
        assert_eq!(answer.status, 400, "{:?}", answer.json);
        assert!(
            answer.json.to_string().contains("password"),
            "{:?}",
            answer.json
        );
    }
    // Everything right, but an in-process test server cannot restart itself: it says so.
    let answer = server
        .call(
            &admin,
            "POST",
            "/api/v1/system/restore/confirm",
            Some(json!({"passphrase": PASSPHRASE, "current_password": TEST_PASSWORD})),
        )
        .await;
    assert_eq!(answer.status, 503, "{:?}", answer.json);
    let status = server
        .call(&admin, "GET", "/api/v1/system/restore", None)
        .await;
    assert_eq!(status.json["staged"], true);
    let audit = server
        .call(
            &admin,
            "GET",
            "/api/v1/audit?event=system.restore.confirm",
            None,
        )
        .await;
    assert!(
        audit.json["items"].as_array().map_or(0, Vec::len) >= 2,
        "refused confirmations are audited: {:?}",
        audit.json
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_damaged_cut_off_foreign_and_newer_backups_are_a_plain_400_and_change_nothing() {
    let (server, admin, _) = crate::backup::seeded(Options::default()).await;
    let (_, backup) =
        crate::backup::download(&server, &admin, json!({"passphrase": PASSPHRASE})).await;
    let counts = crate::backup::row_counts(&server.database_url).await;
    let files = data_files(&server.data_dir);

    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.pwbk");
    let mut schema = crate::backup::known_schema();
    schema.push(9999);
    crate::backup::forge(&newer, PASSPHRASE, schema, &[]);
    let mut flipped = backup.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let cut = backup[..backup.len() - 100].to_vec();

    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "wrong passphrase",
            backup.clone(),
            "not the passphrase at all",
            "wrong passphrase",
        ),
        ("flipped byte", flipped, PASSPHRASE, "damaged"),
        ("cut off", cut, PASSPHRASE, "truncated"),
        (
            "not a backup",
            b"PK\x03\x04 a zip file, not ours".to_vec(),
            PASSPHRASE,
            "not a printwarden backup",
        ),
        (
            "newer schema",
            std::fs::read(&newer).unwrap(),
            PASSPHRASE,
            "newer than this printwarden",
        ),
    ];
    for (what, bytes, passphrase, words) in cases {
        let (status, _) = upload(&server, &admin, bytes).await;
        assert_eq!(status, 200, "{what}: the upload itself is accepted");
        let verify = server
            .call(
                &admin,
                "POST",
                "/api/v1/system/restore/verify",
                Some(json!({"passphrase": passphrase})),
            )
            .await;
        assert_eq!(verify.status, 400, "{what}: {:?}", verify.json);
        let message = verify.json.to_string();
        assert!(message.contains(words), "{what}: `{words}` in {message}");
        let confirm = server
            .call(
                &admin,
                "POST",
                "/api/v1/system/restore/confirm",
                Some(json!({"passphrase": passphrase, "current_password": TEST_PASSWORD})),
            )
            .await;
        assert_eq!(confirm.status, 400, "{what}: {:?}", confirm.json);
        let cancel = server
            .call(&admin, "DELETE", "/api/v1/system/restore", None)
            .await;
        assert_eq!(cancel.status, 204, "{what}");
        assert!(!server.data_dir.join("restore").exists(), "{what}");
    }
    assert_eq!(
        crate::backup::row_counts(&server.database_url).await.len(),
        counts.len()
    );
    assert_eq!(
        crate::backup::row_counts(&server.database_url)
            .await
            .into_iter()
            .filter(|(t, _)| t != "audit_events" && t != "sessions")
            .collect::<Vec<_>>(),
        counts
            .into_iter()
            .filter(|(t, _)| t != "audit_events" && t != "sessions")
            .collect::<Vec<_>>(),
        "no row changed"
    );
    assert_eq!(data_files(&server.data_dir), files, "no file changed");
    let audit = server
        .call(
            &admin,
            "GET",
            "/api/v1/audit?event=system.restore.verify",
            None,
        )
        .await;
    assert!(
        audit.json["items"].as_array().map_or(0, Vec::len) >= 5,
        "failed checks are audited: {:?}",
        audit.json
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_uploads_one_wins_the_other_is_a_409_and_cancel_clears_the_way() {
    let (server, admin, _) = crate::backup::seeded(Options::default()).await;
    let Auth::Cookie(cookie) = &admin else {
        panic!("a session")
    };
    // The first upload's body arrives slowly: it holds the slot while the second one asks.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| {
            (
                item.map(|b| hyper::body::Frame::data(bytes::Bytes::from(b))),
                rx,
            )
        })
    });
    let body = reqwest::Body::wrap(http_body_util::StreamBody::new(stream));
    let first = server
        .client
        .put(server.url("/api/v1/system/restore/upload"))
        .header("cookie", cookie)
        .header("origin", server.origin())
        .body(body)
        .send();
    let first = tokio::spawn(first);
    tx.send(Ok(vec![1u8; 64 * 1024])).await.unwrap();
    let part = server.data_dir.join("restore/upload.pwbk.part");
    for _ in 0..500 {
        if part.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(part.exists(), "the first upload is being written");
    let second = upload(&server, &admin, vec![2u8; 1024]).await;
    assert_eq!(second.0, 409, "refused, never queued: {:?}", second.1);
    assert!(second.1.to_string().contains("right now"), "{:?}", second.1);
    drop(tx);
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status(), 200);
    let again = upload(&server, &admin, vec![3u8; 10]).await;
    assert_eq!(again.0, 409, "{:?}", again.1);
    assert!(
        again.1.to_string().contains("already uploaded"),
        "{:?}",
        again.1
    );
    let cancel = server
        .call(&admin, "DELETE", "/api/v1/system/restore", None)
        .await;
    assert_eq!(cancel.status, 204);
    assert_eq!(upload(&server, &admin, vec![3u8; 10]).await.0, 200);
    let audit = server
        .call(
            &admin,
            "GET",
            "/api/v1/audit?event=system.restore.upload",
            None,
        )
        .await;
    assert!(audit.json["items"].as_array().map_or(0, Vec::len) >= 4);
    server.stop().await;
}

/// A body announced larger than the limit is refused before a byte of it is read or written.
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_announced_larger_than_the_limit_is_a_413_and_nothing_is_kept() {
    let (server, admin, _) = crate::backup::seeded(Options::default()).await;
    let Auth::Cookie(cookie) = &admin else {
        panic!("a session")
    };
    let huge = pw_app::backup::RESTORE_MAX_BYTES + 1;
    // The body never comes: the answer must not wait for it.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| {
            (
                item.map(|b| hyper::body::Frame::data(bytes::Bytes::from(b))),
                rx,
            )
        })
    });
    let resp = server
        .client
        .put(server.url("/api/v1/system/restore/upload"))
        .header("cookie", cookie)
        .header("origin", server.origin())
        .header("content-length", huge.to_string())
        .body(reqwest::Body::wrap(http_body_util::StreamBody::new(stream)))
        .send()
        .await
        .unwrap();
    drop(tx);
    assert_eq!(resp.status(), 413);
    assert!(!server.data_dir.join("restore/upload.pwbk").exists());
    server.stop().await;
}

/// [`data_files`] but the addresses file a start rewrites, as names with a hash of the bytes
/// (a failure lists names, not bytes).
fn fingerprints(dir: &Path) -> Vec<(String, u64)> {
    use std::hash::{Hash, Hasher};
    data_files(dir)
        .into_iter()
        .filter(|(name, _)| name != "listening.json")
        .map(|(name, bytes)| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut h);
            (name, h.finish())
        })
        .collect()
}

/// Names in the data directory that start with `prefix`.
fn entries_starting(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// Issue 22: the process dies (`abort`, as a crash or `kill -9` would leave it) at every step
/// of an applied restore — after the backup is written beside the live data, and after each
/// single move of the swap — and the next start puts things right before it opens anything:
/// cut off before the first move, the previous data is back unchanged and the upload stays for
/// another try; cut off after any move, the swap is finished and the backup is the server's
/// data. The rounds go on until a restore needs fewer moves than the round's number, so the
/// test follows the swap if it ever moves more (or fewer) entries.
#[tokio::test(flavor = "multi_thread")]
async fn a_restore_cut_off_at_any_step_is_finished_or_undone_at_the_next_start() {
    const HOOK: &str = "PRINTWARDEN_TEST_RESTORE_CRASH";
    let bin = Path::new(env!("CARGO_BIN_EXE_printwarden"));
    let mut server = TestServer::spawn_process(bin, Options::default()).await;
    let admin = server.setup_admin().await;
    crate::library::upload(&server, &admin, "cube.stl", &crate::library::stl()).await;
    let viewers = server.group_id(&admin, "Viewers").await;
    server.create_user(&admin, "vera", &[viewers]).await;
    let (status, backup) =
        crate::backup::download(&server, &admin, json!({"passphrase": PASSPHRASE})).await;
    assert_eq!(status, 200);

    let mut finished = 0;
    for round in 0.. {
        assert!(round < 30, "the swap never ran out of moves");
        let hook = if round == 0 {
            "restored".to_owned()
        } else {
            format!("after-move:{round}")
        };
        server.set_env(HOOK, Some(&hook));
        server.respawn().await;
        let admin = server.login("admin", TEST_PASSWORD).await;
        let newcomer = format!("newcomer{round}");
        server.create_user(&admin, &newcomer, &[viewers]).await;
        let (status, staged) = upload(&server, &admin, backup.clone()).await;
        assert_eq!(status, 200, "{hook}: {staged:?}");
        let before = fingerprints(&server.data_dir);
        let confirm = server
            .call(
                &admin,
                "POST",
                "/api/v1/system/restore/confirm",
                Some(json!({"passphrase": PASSPHRASE, "current_password": TEST_PASSWORD})),
            )
            .await;
        assert_eq!(confirm.status, 202, "{hook}: {:?}", confirm.json);
        let exit = server.await_restart_or_exit().await;
        server.set_env(HOOK, None);
        let Some(exit) = exit else {
            // The restore needed fewer moves than this round's number: it simply worked.
            assert!(round >= 2, "a swap moves at least one entry out and one in");
            let admin = server.login("admin", TEST_PASSWORD).await;
            let users = server.call(&admin, "GET", "/api/v1/users", None).await;
            assert!(!users.json.to_string().contains(&newcomer));
            break;
        };
        assert!(!exit.success(), "{hook}: the hook aborts the process");
        assert!(
            server.data_dir.join("restore/journal.json").exists(),
            "{hook}: the journal is on disk when the process dies"
        );
        if round == 1 {
            // Nothing else opens the half-swapped directory before the server has fixed it.
            let out = std::process::Command::new(bin)
                .args(["keys", "rotate"])
                .env_clear()
                .env("PRINTWARDEN_DATA_DIR", &server.data_dir)
                .env("PRINTWARDEN_DATABASE_URL", &server.database_url)
                .output()
                .unwrap();
            assert!(!out.status.success());
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("interrupted"),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        server.respawn().await;
        let admin = server.login("admin", TEST_PASSWORD).await;
        let users = server.call(&admin, "GET", "/api/v1/users", None).await;
        let users = users.json.to_string();
        let state = server
            .call(&admin, "GET", "/api/v1/system/restore", None)
            .await;
        let last = &state.json["last_restore"];
        assert!(
            !server.data_dir.join("restore/journal.json").exists(),
            "{hook}: recovery removes the journal"
        );
        assert!(!server.data_dir.join("restore/new").exists(), "{hook}");
        if round == 0 {
            // Cut off before the first move: undone, nothing changed, the upload kept.
            assert!(users.contains(&newcomer), "{hook}: {users}");
            assert_eq!(last["ok"], false, "{hook}: {:?}", state.json);
            assert!(
                last["message"].as_str().unwrap().contains("interrupted"),
                "{:?}",
                state.json
            );
            assert_eq!(state.json["staged"], true, "{hook}: the upload stays");
            assert_eq!(fingerprints(&server.data_dir), before, "{hook}");
            assert!(entries_starting(&server.data_dir, "before-restore-").is_empty());
            let cancel = server
                .call(&admin, "DELETE", "/api/v1/system/restore", None)
                .await;
            assert_eq!(cancel.status, 204);
        } else {
            // Cut off after a move: finished, the backup is the data.
            finished += 1;
            assert!(users.contains("vera"), "{hook}: {users}");
            assert!(!users.contains(&newcomer), "{hook}: {users}");
            assert_eq!(last["ok"], true, "{hook}: {:?}", state.json);
            assert!(
                last["message"].as_str().unwrap().contains("finished"),
                "{:?}",
                state.json
            );
            assert_eq!(state.json["staged"], false, "{hook}");
            assert!(!server.data_dir.join("restore").exists(), "{hook}");
            assert_eq!(
                entries_starting(&server.data_dir, "before-restore-").len(),
                finished,
                "{hook}: the previous data is kept"
            );
            let files = server
                .call(&admin, "GET", "/api/v1/library/files", None)
                .await;
            assert_eq!(
                files.json["items"].as_array().map(Vec::len),
                Some(1),
                "{hook}"
            );
        }
        let audit = server
            .call(
                &admin,
                "GET",
                "/api/v1/audit?event=system.restore.applied",
                None,
            )
            .await;
        assert_eq!(
            audit.json["items"][0]["success"],
            round != 0,
            "{hook}: {:?}",
            audit.json["items"][0]
        );
    }
    assert!(finished >= 2, "at least two moves were cut off");
}
