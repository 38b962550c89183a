//! `printwarden backup create|verify|restore` through the real binary, against a server that
//! keeps writing: a restore brings back the same rows, the same content files and certificates,
//! and secrets that open with the same key — across SQLite and PostgreSQL — and a damaged,
//! forged or newer archive is refused in plain words with nothing changed on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pw_testkit::{Auth, Options, PgDatabase, TEST_PASSWORD, TestDb, TestServer};
use serde_json::json;
use sha2::{Digest, Sha256};

pub(crate) const PASSPHRASE: &str = "correct horse battery staple";
pub(crate) const ACCESS_CODE: &str = "87654321";

fn printwarden(data_dir: &Path, database_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_printwarden"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PRINTWARDEN_DATA_DIR", data_dir)
        .env("PRINTWARDEN_DATABASE_URL", database_url)
        .env("PRINTWARDEN_LOG", "warn")
        .env("PRINTWARDEN_BACKUP_PASSPHRASE", PASSPHRASE);
    cmd
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sqlite_url(data_dir: &Path) -> String {
    format!(
        "sqlite://{}?mode=rwc",
        data_dir.join("printwarden.db").display()
    )
}

/// Row counts of every table the backup copies (the migration ledger and SQLite's derived
/// search tables left out), read straight from the database.
pub(crate) async fn row_counts(url: &str) -> BTreeMap<String, i64> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let names_sql = if url.starts_with("sqlite") {
        "SELECT name FROM sqlite_master WHERE type = 'table'"
    } else {
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
    };
    let names: Vec<String> = sqlx::query(names_sql)
        .fetch_all(&pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>("name"))
        .filter(|n| {
            n != "schema_migrations"
                && !n.starts_with("sqlite_")
                && !n.starts_with("archives_search")
        })
        .collect();
    let mut counts = BTreeMap::new();
    for name in names {
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM {name}"
        )))
        .fetch_one(&pool)
        .await
        .unwrap()
        .get("n");
        counts.insert(name, n);
    }
    pool.close().await;
    counts
}

pub(crate) async fn sealed_access_code(url: &str, printer: i64) -> String {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let code: String = sqlx::query("SELECT access_code FROM printers WHERE id = $1")
        .bind(printer)
        .fetch_one(&pool)
        .await
        .unwrap()
        .get("access_code");
    pool.close().await;
    code
}

/// Every file under `dir` (relative path → SHA-256), for comparing blob stores and TLS dirs.
fn checksums(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(
                    rel,
                    hex::encode(Sha256::digest(std::fs::read(&path).unwrap())),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out.retain(|k, _| !k.starts_with("tmp/"));
    out
}

/// A server with an administrator, a printer (sealed access code), library files, a webhook
/// with a secret, a location and a second user.
pub(crate) async fn seeded(options: Options) -> (TestServer, Auth, i64) {
    let server = TestServer::spawn_with(options).await;
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
    crate::library::upload(
        &server,
        &admin,
        "bracket.gcode.3mf",
        &crate::library::sliced_project(),
    )
    .await;
    crate::library::upload(&server, &admin, "cube.stl", &crate::library::stl()).await;
    let hook = server
        .call(
            &admin,
            "POST",
            "/api/v1/webhooks",
            Some(json!({"name": "ops", "url": "https://hooks.example.com/x", "events": ["*"], "secret": "whsec-backup-test"})),
        )
        .await;
    assert_eq!(hook.status, 201, "{:?}", hook.json);
    crate::support::locations(&server, &admin, &["Hall A"]).await;
    let viewers = server.group_id(&admin, "Viewers").await;
    server.create_user(&admin, "vera", &[viewers]).await;
    (server, admin, printer)
}

fn manifest_counts(backup: &Path) -> BTreeMap<String, i64> {
    let file = std::fs::File::open(backup).unwrap();
    let verified =
        pw_app::backup::verify_backup(file, &pw_app::SecretString::new(PASSPHRASE.into())).unwrap();
    verified
        .manifest
        .tables
        .iter()
        .map(|t| (t.name.clone(), i64::try_from(t.rows).unwrap()))
        .collect()
}

/// Backs up `server` with the binary while `writes` more users are being created.
async fn backup_while_writing(server: &TestServer, admin: &Auth, out: &Path, extra: &[&str]) {
    let viewers = server.group_id(admin, "Viewers").await;
    let writer = async {
        for i in 0..15 {
            server
                .create_user(admin, &format!("busy{i}"), &[viewers])
                .await;
        }
    };
    let data_dir = server.data_dir.clone();
    let url = server.database_url.clone();
    let out_path = out.to_owned();
    let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    let backup = tokio::task::spawn_blocking(move || {
        printwarden(&data_dir, &url)
            .args(["backup", "create", "--out"])
            .arg(&out_path)
            .args(&extra)
            .output()
            .unwrap()
    });
    let ((), out) = tokio::join!(writer, backup);
    let stdout = ok(&out.unwrap());
    assert!(stdout.contains("backup written to"), "{stdout}");
}

/// Starts a server on a restored data directory and database, signs in as the original
/// administrator and checks the library downloads and the printer.
async fn check_restored(data_dir: &Path, url: &str, printer: i64, key_file: &Path) {
    let key = pw_credentials::SealingKey::from_base64(&std::fs::read_to_string(key_file).unwrap())
        .unwrap();
    let sealed = sealed_access_code(url, printer).await;
    assert_ne!(sealed, ACCESS_CODE, "the access code is stored sealed");
    let opened = key
        .open(&sealed, &format!("printer:{printer}:access_code"))
        .expect("the restored access code opens with the original key");
    assert_eq!(opened, ACCESS_CODE.as_bytes());
    let server = TestServer::spawn_with(Options {
        data_dir: Some(data_dir.to_owned()),
        database_url: Some(url.to_owned()),
        ..Options::default()
    })
    .await;
    let admin = server.login("admin", TEST_PASSWORD).await;
    let files = server
        .call(&admin, "GET", "/api/v1/library/files", None)
        .await;
    assert_eq!(files.status, 200);
    let items = files.json["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "{:?}", files.json);
    for item in items {
        let id = item["id"].as_i64().unwrap();
        let resp = server
            .client
            .get(server.url(&format!("/api/v1/library/files/{id}/download")))
            .header(
                "cookie",
                match &admin {
                    Auth::Cookie(c) => c.clone(),
                    _ => String::new(),
                },
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let bytes = resp.bytes().await.unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            item["sha256"].as_str().unwrap()
        );
    }
    let printers = server.call(&admin, "GET", "/api/v1/printers", None).await;
    assert!(
        printers.json.to_string().contains("P1S one"),
        "{:?}",
        printers.json
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_while_the_server_writes_restores_rows_files_tls_and_secrets() {
    let (server, admin, printer) = seeded(Options::default()).await;
    let work = tempfile::tempdir().unwrap();
    let backup = work.path().join("farm.pwbk");
    backup_while_writing(&server, &admin, &backup, &[]).await;

    let verify = ok(&printwarden(&server.data_dir, &server.database_url)
        .args(["backup", "verify"])
        .arg(&backup)
        .output()
        .unwrap());
    assert!(
        verify.contains("good") && verify.contains("sealing key inside: no"),
        "{verify}"
    );
    let expected = manifest_counts(&backup);
    assert!(expected["users"] >= 2, "{expected:?}");
    assert_eq!(expected["printers"], 1);
    assert_eq!(expected["library_files"], 2);

    // The same backend as the original, into a fresh data directory (and database).
    let restored_dir = work.path().join("restored");
    let pg;
    let url = match TestDb::from_env() {
        TestDb::Sqlite => sqlite_url(&restored_dir),
        TestDb::Postgres => {
            pg = PgDatabase::create().await;
            pg.url.clone()
        }
    };
    let mut restore = printwarden(&restored_dir, &sqlite_url(&restored_dir));
    restore.args(["backup", "restore"]).arg(&backup);
    if TestDb::from_env() == TestDb::Postgres {
        restore.args(["--database-url", &url]);
    }
    let stdout = ok(&restore.output().unwrap());
    assert!(stdout.contains("restored"), "{stdout}");
    assert_eq!(
        row_counts(&url).await,
        expected,
        "row counts equal the snapshot's"
    );
    assert_eq!(
        checksums(&restored_dir.join("blobs")),
        checksums(&server.data_dir.join("blobs")),
        "every content file restored with its checksum"
    );
    for file in ["ca.crt", "ca.key"] {
        assert_eq!(
            std::fs::read(restored_dir.join("tls").join(file)).unwrap(),
            std::fs::read(server.data_dir.join("tls").join(file)).unwrap(),
            "{file} restored"
        );
    }
    assert!(
        !restored_dir.join("secret.key").exists(),
        "the sealing key is not in a backup unless asked for"
    );
    // The operator keeps the key apart from the backup and puts it back (or sets it in the
    // environment) when restoring.
    let key_file = work.path().join("secret.key");
    std::fs::copy(server.data_dir.join("secret.key"), &key_file).unwrap();
    std::fs::copy(&key_file, restored_dir.join("secret.key")).unwrap();
    server.stop().await;
    check_restored(&restored_dir, &url, printer, &key_file).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sealing_key_is_inside_only_when_asked_and_the_cover_says_so() {
    let (server, admin, _) = seeded(Options::default()).await;
    let work = tempfile::tempdir().unwrap();
    let backup = work.path().join("with-key.pwbk");
    backup_while_writing(&server, &admin, &backup, &["--include-key"]).await;
    let verify = ok(&printwarden(&server.data_dir, &server.database_url)
        .args(["backup", "verify"])
        .arg(&backup)
        .output()
        .unwrap());
    assert!(verify.contains("sealing key inside: YES"), "{verify}");
    let verified = pw_app::backup::verify_backup(
        std::fs::File::open(&backup).unwrap(),
        &pw_app::SecretString::new(PASSPHRASE.into()),
    )
    .unwrap();
    assert!(verified.cover.includes_sealing_key);
    assert!(verified.cover.note.contains("CONTAINS THE SEALING KEY"));
    assert!(
        verified
            .manifest
            .entries
            .iter()
            .any(|e| e.name == "files/secret.key")
    );
    server.stop().await;
}

/// SQLite → PostgreSQL → SQLite: each restore brings the same rows, and the restored
/// PostgreSQL server is backed up in turn.
#[tokio::test(flavor = "multi_thread")]
async fn a_sqlite_backup_restores_into_postgres_and_back() {
    if TestDb::from_env() != TestDb::Postgres {
        return; // needs PostgreSQL: runs with PRINTWARDEN_TEST_DB=postgres
    }
    let work = tempfile::tempdir().unwrap();
    let source_dir = work.path().join("source");
    let (server, admin, printer) = seeded(Options {
        data_dir: Some(source_dir.clone()),
        database_url: Some(sqlite_url(&source_dir)),
        ..Options::default()
    })
    .await;
    let first = work.path().join("sqlite.pwbk");
    backup_while_writing(&server, &admin, &first, &[]).await;
    let expected = manifest_counts(&first);
    let key_file = work.path().join("secret.key");
    std::fs::copy(source_dir.join("secret.key"), &key_file).unwrap();
    server.stop().await;

    let pg = PgDatabase::create().await;
    let pg_dir = work.path().join("on-postgres");
    ok(&printwarden(&pg_dir, &pg.url)
        .args(["backup", "restore"])
        .arg(&first)
        .output()
        .unwrap());
    assert_eq!(row_counts(&pg.url).await, expected);
    std::fs::copy(&key_file, pg_dir.join("secret.key")).unwrap();
    check_restored(&pg_dir, &pg.url, printer, &key_file).await;

    let second = work.path().join("postgres.pwbk");
    ok(&printwarden(&pg_dir, &pg.url)
        .args(["backup", "create", "--out"])
        .arg(&second)
        .output()
        .unwrap());
    let back_dir = work.path().join("back-on-sqlite");
    ok(&printwarden(&back_dir, &sqlite_url(&back_dir))
        .args(["backup", "restore"])
        .arg(&second)
        .output()
        .unwrap());
    let back = row_counts(&sqlite_url(&back_dir)).await;
    // The PostgreSQL server's start wrote its own rows (sign-in, session): compare with the
    // second backup's snapshot, and the first one's tables for everything but those.
    assert_eq!(back, manifest_counts(&second));
    for table in [
        "users",
        "printers",
        "library_files",
        "webhooks",
        "groups",
        "group_members",
    ] {
        assert_eq!(back[table], expected[table], "{table}");
    }
    std::fs::copy(&key_file, back_dir.join("secret.key")).unwrap();
    check_restored(&back_dir, &sqlite_url(&back_dir), printer, &key_file).await;
}

/// Builds an archive the way printwarden writes one — cover first, manifest last with every
/// entry's size and checksum — around `entries` given as raw tar headers, so that only the
/// property under test is wrong.
pub(crate) fn forge(
    path: &Path,
    passphrase: &str,
    schema: Vec<i64>,
    entries: &[(&str, u8, Vec<u8>)],
) {
    let cover = json!({
        "format": "printwarden-backup", "format_version": 1, "app_version": "0.1.0",
        "created_at": "2026-12-07T00:00:00Z", "backend": "sqlite", "schema_versions": schema,
        "includes_sealing_key": false, "note": "forged",
    });
    let cover = serde_json::to_vec(&cover).unwrap();
    let mut all: Vec<(String, u8, Vec<u8>)> =
        vec![("printwarden-backup.json".to_owned(), b'0', cover)];
    all.extend(
        entries
            .iter()
            .map(|(n, t, d)| ((*n).to_owned(), *t, d.clone())),
    );
    let listed: Vec<serde_json::Value> = all
        .iter()
        .map(|(n, _, d)| json!({"name": n, "size": d.len(), "sha256": hex::encode(Sha256::digest(d))}))
        .collect();
    let manifest = json!({
        "format": "printwarden-backup", "format_version": 1, "app_version": "0.1.0",
        "created_at": "2026-12-07T00:00:00Z", "backend": "sqlite", "schema_versions": schema,
        "includes_sealing_key": false, "tables": [], "sequences": [], "entries": listed,
        "missing_blobs": [],
    });
    all.push((
        "manifest.json".to_owned(),
        b'0',
        serde_json::to_vec(&manifest).unwrap(),
    ));
    let file = std::fs::File::create(path).unwrap();
    // A low work factor: a forged archive is refused after decryption, and each run of scrypt
    // at the product's strength costs a second and 256 MiB (many of them made this test the
    // slowest of the suite on a busy machine). Restores accept any factor up to the ceiling.
    let mut recipient =
        age::scrypt::Recipient::new(age::secrecy::SecretString::from(passphrase.to_owned()));
    recipient.set_work_factor(10);
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .unwrap();
    let sealed = encryptor.wrap_output(file).unwrap();
    let mut builder = tar::Builder::new(sealed);
    for (name, kind, data) in &all {
        let mut header = tar::Header::new_gnu();
        // Raw name bytes: the tar crate's own path setter refuses `..` and absolute names.
        let field = &mut header.as_gnu_mut().unwrap().name;
        field[..name.len()].copy_from_slice(name.as_bytes());
        header.set_entry_type(tar::EntryType::new(*kind));
        if *kind == b'2' {
            header.set_link_name("/etc/passwd").unwrap();
            header.set_size(0);
        } else {
            header.set_size(data.len() as u64);
        }
        header.set_mode(0o600);
        header.set_cksum();
        let body: &[u8] = if *kind == b'2' { &[] } else { data };
        builder.append(&header, body).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
}

pub(crate) fn known_schema() -> Vec<i64> {
    pw_store::MIGRATIONS.iter().map(|m| m.version).collect()
}

/// Runs `restore` of `archive` into `target` and asserts it is refused with `words`, leaving
/// `target`'s parent exactly as it was.
fn refused(archive: &Path, target: &Path, passphrase: &str, words: &str) {
    let parent = target.parent().unwrap();
    let before = checksums(parent);
    let listing_before: Vec<PathBuf> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let out = printwarden(target, &sqlite_url(target))
        .env("PRINTWARDEN_BACKUP_PASSPHRASE", passphrase)
        .args(["backup", "restore"])
        .arg(archive)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}: {stderr}",
        archive.display()
    );
    assert!(
        stderr.contains(words),
        "{}: expected `{words}` in: {stderr}",
        archive.display()
    );
    let mut listing_after: Vec<PathBuf> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let mut listing_before = listing_before;
    listing_before.sort();
    listing_after.sort();
    assert_eq!(
        listing_after, listing_before,
        "nothing new beside the target"
    );
    assert_eq!(checksums(parent), before, "nothing changed on disk");
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_forged_and_newer_archives_are_refused_and_change_nothing() {
    let (server, _admin, _) = seeded(Options::default()).await;
    let work = tempfile::tempdir().unwrap();
    let good = work.path().join("good.pwbk");
    ok(&printwarden(&server.data_dir, &server.database_url)
        .args(["backup", "create", "--out"])
        .arg(&good)
        .output()
        .unwrap());
    server.stop().await;
    let bytes = std::fs::read(&good).unwrap();
    // The passphrase's scrypt strength is fixed (2^18), not measured on a busy machine.
    let header = String::from_utf8_lossy(&bytes[..200.min(bytes.len())]).into_owned();
    let stanza = header
        .lines()
        .find(|l| l.starts_with("-> scrypt "))
        .unwrap();
    assert!(stanza.ends_with(" 18"), "{stanza}");

    // The target: an existing data directory with something in it, which must stay as is.
    let sandbox = work.path().join("sandbox");
    let target = sandbox.join("data");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("keep.txt"), b"the operator's own file").unwrap();

    refused(
        &good,
        &target,
        "not the passphrase at all",
        "wrong passphrase",
    );

    let truncated = work.path().join("truncated.pwbk");
    std::fs::write(&truncated, &bytes[..bytes.len() - 700]).unwrap();
    refused(&truncated, &target, PASSPHRASE, "damaged or truncated");

    let flipped = work.path().join("flipped.pwbk");
    let mut changed = bytes.clone();
    let middle = changed.len() / 2;
    changed[middle] ^= 0x01;
    std::fs::write(&flipped, &changed).unwrap();
    refused(&flipped, &target, PASSPHRASE, "damaged or truncated");

    let not_age = work.path().join("plain.tar");
    std::fs::write(&not_age, b"just some bytes, not an encrypted backup").unwrap();
    refused(&not_age, &target, PASSPHRASE, "not a printwarden backup");

    let schema = known_schema();
    let dotdot = work.path().join("dotdot.pwbk");
    forge(
        &dotdot,
        PASSPHRASE,
        schema.clone(),
        &[("files/tls/../../../escape", b'0', b"x".to_vec())],
    );
    refused(&dotdot, &target, PASSPHRASE, "climbs out of its directory");

    let absolute = work.path().join("absolute.pwbk");
    forge(
        &absolute,
        PASSPHRASE,
        schema.clone(),
        &[("/tmp/pw-backup-absolute", b'0', b"x".to_vec())],
    );
    refused(&absolute, &target, PASSPHRASE, "is an absolute path");
    assert!(!Path::new("/tmp/pw-backup-absolute").exists());

    let symlink = work.path().join("symlink.pwbk");
    forge(
        &symlink,
        PASSPHRASE,
        schema.clone(),
        &[("files/tls/ca.crt", b'2', Vec::new())],
    );
    refused(&symlink, &target, PASSPHRASE, "is a symbolic link");

    let duplicate = work.path().join("duplicate.pwbk");
    forge(
        &duplicate,
        PASSPHRASE,
        schema.clone(),
        &[
            ("files/tls/ca.crt", b'0', b"a".to_vec()),
            ("files/tls/ca.crt", b'0', b"b".to_vec()),
        ],
    );
    refused(&duplicate, &target, PASSPHRASE, "twice");

    let mut newer = schema.clone();
    newer.push(9999);
    let future = work.path().join("newer.pwbk");
    forge(&future, PASSPHRASE, newer, &[]);
    refused(
        &future,
        &target,
        PASSPHRASE,
        "newer than this printwarden knows",
    );

    // The forged archive that is not wrong otherwise is accepted by verify: the refusals above
    // come from the property under test, not from the forgery.
    let plain = work.path().join("plain-forged.pwbk");
    forge(
        &plain,
        PASSPHRASE,
        schema,
        &[("files/tls/ca.crt", b'0', b"pem".to_vec())],
    );
    ok(&printwarden(&target, &sqlite_url(&target))
        .args(["backup", "verify"])
        .arg(&plain)
        .output()
        .unwrap());
    assert_eq!(
        std::fs::read(target.join("keep.txt")).unwrap(),
        b"the operator's own file"
    );
}

/// The closing note's figures: backup and restore time and size with 100,000 archive entries.
/// Run once by hand: `cargo nextest run -p printwarden --test api --run-ignored only -E
/// 'test(/backup::measure/)' --no-capture` (with `PRINTWARDEN_TEST_DB=postgres` for PostgreSQL).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, run by hand"]
async fn measure_backup_and_restore_of_100k_archive_entries() {
    let (server, _admin, printer) = seeded(Options::default()).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&server.database_url).await.unwrap();
    let series = if server.database_url.starts_with("sqlite") {
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
         SELECT i FROM n"
    } else {
        "SELECT generate_series(1, 100000)::bigint AS i"
    };
    let seeded = std::time::Instant::now();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO archives (printer_id, printer_name, file_name, plate, source, started_by_name, \
         started_at, ended_at, duration_s, outcome, filaments, notes, tags, created_at) \
         SELECT {printer}, 'P1S one', 'part-' || i || '.gcode.3mf', 1, 'elsewhere', 'admin', \
         1700000000000 + i * 60000, 1700000000000 + i * 60000 + 3600000, 3600, 'finished', \
         '[{{\"type\":\"PLA\",\"color\":\"#FFFFFF\",\"grams\":12.5}}]', 'batch ' || (i % 97), '[\"bulk\"]', \
         1700000000000 + i * 60000 FROM ({series}) AS s"
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let seed_time = seeded.elapsed();
    let work = tempfile::tempdir().unwrap();
    let backup = work.path().join("100k.pwbk");
    let started = std::time::Instant::now();
    let out = ok(&printwarden(&server.data_dir, &server.database_url)
        .args(["backup", "create", "--out"])
        .arg(&backup)
        .output()
        .unwrap());
    let backup_time = started.elapsed();
    let size = std::fs::metadata(&backup).unwrap().len();
    let started = std::time::Instant::now();
    ok(&printwarden(&server.data_dir, &server.database_url)
        .args(["backup", "verify"])
        .arg(&backup)
        .output()
        .unwrap());
    let verify_time = started.elapsed();
    let restored_dir = work.path().join("restored");
    let pg;
    let mut restore = printwarden(&restored_dir, &sqlite_url(&restored_dir));
    restore.args(["backup", "restore"]).arg(&backup);
    let url = if TestDb::from_env() == TestDb::Postgres {
        pg = PgDatabase::create().await;
        restore.args(["--database-url", &pg.url]);
        pg.url.clone()
    } else {
        sqlite_url(&restored_dir)
    };
    let started = std::time::Instant::now();
    ok(&restore.output().unwrap());
    let restore_time = started.elapsed();
    let counts = row_counts(&url).await;
    assert_eq!(counts["archives"], 100_000);
    let _ = writeln_note(&format!(
        "100k archive entries ({:?}): seeded in {seed_time:.1?}; backup {backup_time:.1?}, {size} bytes \
         ({:.1} MiB); verify {verify_time:.1?}; restore {restore_time:.1?}\n{out}",
        TestDb::from_env(),
        size as f64 / 1_048_576.0
    ));
    server.stop().await;
}

fn writeln_note(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(std::io::stderr(), "{text}")
}

pub(crate) async fn download(
    server: &TestServer,
    auth: &Auth,
    body: serde_json::Value,
) -> (u16, Vec<u8>) {
    let resp = start_download(server, auth, body).await;
    let status = resp.status().as_u16();
    (status, resp.bytes().await.unwrap().to_vec())
}

/// The backup route's answer, its body not read yet.
async fn start_download(
    server: &TestServer,
    auth: &Auth,
    body: serde_json::Value,
) -> reqwest::Response {
    let mut req = server
        .client
        .post(server.url("/api/v1/system/backup"))
        .json(&body);
    req = match auth {
        Auth::Cookie(c) => req.header("cookie", c).header("origin", server.origin()),
        Auth::Key(k) => req.bearer_auth(k),
        Auth::None => req,
    };
    req.send().await.unwrap()
}

/// One backup at a time: a download still being written (its reader is slow) makes a second
/// one wait its turn with 409 — parallel requests cannot each read the whole farm at once —
/// and once it is done the next one runs.
#[tokio::test(flavor = "multi_thread")]
async fn backups_are_written_one_at_a_time() {
    let (server, admin, _) = seeded(Options::default()).await;
    let body = json!({"passphrase": PASSPHRASE});
    let first = start_download(&server, &admin, body.clone()).await;
    assert_eq!(first.status(), 200);
    let (status, refused) = download(&server, &admin, body.clone()).await;
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&refused));
    assert!(String::from_utf8_lossy(&refused).contains("being written already"));
    assert!(!first.bytes().await.unwrap().is_empty());
    // The first one's writer lets go once its stream is finished.
    let mut status = 0;
    for _ in 0..100 {
        status = download(&server, &admin, body.clone()).await.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200);
}

/// The web route streams the same backup; only `system:backup` opens it — not another admin
/// right, not an API key without that scope — and every download is audited.
#[tokio::test(flavor = "multi_thread")]
async fn the_backup_route_streams_a_backup_only_with_system_backup() {
    let (server, admin, _) = seeded(Options::default()).await;
    let body = json!({"passphrase": PASSPHRASE});

    let (status, bytes) = download(&server, &admin, body.clone()).await;
    assert_eq!(status, 200);
    let verified = pw_app::backup::verify_backup(
        bytes.as_slice(),
        &pw_app::SecretString::new(PASSPHRASE.into()),
    )
    .unwrap();
    assert!(!verified.manifest.includes_sealing_key);
    assert_eq!(
        verified
            .manifest
            .tables
            .iter()
            .find(|t| t.name == "printers")
            .map(|t| t.rows),
        Some(1)
    );

    let (status, _) = download(&server, &admin, json!({"passphrase": "short"})).await;
    assert_eq!(status, 400, "a passphrase under 12 characters is refused");

    // Every other settings and system right, but not system:backup.
    let others = server
        .create_group(
            &admin,
            "almost admins",
            &[
                "settings:security",
                "settings:email",
                "system:read",
                "audit:read",
            ],
        )
        .await;
    server.create_user(&admin, "sam", &[others]).await;
    let sam = server.login("sam", TEST_PASSWORD).await;
    assert_eq!(download(&server, &sam, body.clone()).await.0, 403);

    let no_scope = crate::support::api_key(&server, &admin, "metrics", &["system:read"]).await;
    assert_eq!(download(&server, &no_scope, body.clone()).await.0, 403);
    let scoped = crate::support::api_key(&server, &admin, "backups", &["system:backup"]).await;
    let (status, bytes) = download(&server, &scoped, body.clone()).await;
    assert_eq!(status, 200);
    assert!(
        pw_app::backup::verify_backup(
            bytes.as_slice(),
            &pw_app::SecretString::new(PASSPHRASE.into())
        )
        .is_ok()
    );

    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=system.backup", None)
        .await;
    assert_eq!(audit.status, 200);
    assert!(
        audit.json["items"].as_array().map_or(0, Vec::len) >= 2,
        "{:?}",
        audit.json
    );
    server.stop().await;
}

/// An age key pair as `age-keygen` writes it: (public key, identity file path).
#[expect(
    deprecated,
    reason = "X25519 keys are what operators have; age prefers pq for new ones"
)]
fn keygen(dir: &Path, name: &str) -> (String, PathBuf) {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "# created: by the test\n# public key: {public}\n{}\n",
            identity.to_string().expose_secret()
        ),
    )
    .unwrap();
    (public, path)
}

/// Sealed to a public key from the CLI: only the matching identity file opens it (not the
/// passphrase, not another key), and it restores on either backend with the same rows.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_sealed_to_a_public_key_opens_only_with_its_identity_and_restores() {
    let (server, _admin, printer) = seeded(Options::default()).await;
    let work = tempfile::tempdir().unwrap();
    let (public, identity) = keygen(work.path(), "backup.key");
    let (_, stranger) = keygen(work.path(), "other.key");
    let backup = work.path().join("to-key.pwbk");
    let mut create = printwarden(&server.data_dir, &server.database_url);
    create.env_remove("PRINTWARDEN_BACKUP_PASSPHRASE");
    let stdout = ok(&create
        .args(["backup", "create", "--recipient", &public, "--out"])
        .arg(&backup)
        .output()
        .unwrap());
    assert!(
        stdout.contains(&format!("sealed with the public key {public}")),
        "{stdout}"
    );

    let verify = ok(&printwarden(&server.data_dir, &server.database_url)
        .args(["backup", "verify", "--identity"])
        .arg(&identity)
        .arg(&backup)
        .output()
        .unwrap());
    assert!(verify.contains("good"), "{verify}");
    for (args, words) in [
        (vec![], "sealed to a public key, not a passphrase"),
        (
            vec!["--identity".to_owned(), stranger.display().to_string()],
            "sealed to another public key",
        ),
    ] {
        let out = printwarden(&server.data_dir, &server.database_url)
            .args(["backup", "verify"])
            .args(&args)
            .arg(&backup)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(words), "{stderr}");
        assert!(!stderr.contains("AGE-SECRET-KEY"), "{stderr}");
    }
    // A secret key given where the public key belongs is refused without being echoed.
    let secret = std::fs::read_to_string(&identity).unwrap();
    let secret = secret.lines().last().unwrap().to_owned();
    let out = printwarden(&server.data_dir, &server.database_url)
        .args(["backup", "create", "--recipient", &secret, "--out"])
        .arg(work.path().join("never.pwbk"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("secret key") && !stderr.contains(&secret),
        "{stderr}"
    );
    assert!(!work.path().join("never.pwbk").exists());

    let expected = {
        let verified = pw_app::backup::verify_backup(
            std::fs::File::open(&backup).unwrap(),
            pw_app::backup::Opening::Identities(
                pw_app::backup::BackupIdentity::parse_file(
                    &std::fs::read_to_string(&identity).unwrap(),
                )
                .unwrap(),
            ),
        )
        .unwrap();
        verified
            .manifest
            .tables
            .iter()
            .map(|t| (t.name.clone(), i64::try_from(t.rows).unwrap()))
            .collect::<BTreeMap<_, _>>()
    };
    let restored_dir = work.path().join("restored");
    let pg;
    let url = match TestDb::from_env() {
        TestDb::Sqlite => sqlite_url(&restored_dir),
        TestDb::Postgres => {
            pg = PgDatabase::create().await;
            pg.url.clone()
        }
    };
    let mut restore = printwarden(&restored_dir, &sqlite_url(&restored_dir));
    restore.env_remove("PRINTWARDEN_BACKUP_PASSPHRASE");
    restore
        .args(["backup", "restore", "--identity"])
        .arg(&identity)
        .arg(&backup);
    if TestDb::from_env() == TestDb::Postgres {
        restore.args(["--database-url", &url]);
    }
    ok(&restore.output().unwrap());
    assert_eq!(row_counts(&url).await, expected);
    let key_file = work.path().join("secret.key");
    std::fs::copy(server.data_dir.join("secret.key"), &key_file).unwrap();
    std::fs::copy(&key_file, restored_dir.join("secret.key")).unwrap();
    server.stop().await;
    check_restored(&restored_dir, &url, printer, &key_file).await;
}

/// The download route seals to a public key too; a request with both, neither, or a secret key
/// is refused before anything is written.
#[tokio::test(flavor = "multi_thread")]
async fn the_backup_route_seals_to_a_public_key() {
    let (server, admin, _) = seeded(Options::default()).await;
    let work = tempfile::tempdir().unwrap();
    let (public, identity) = keygen(work.path(), "backup.key");
    let (status, bytes) = download(&server, &admin, json!({"recipient": public})).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let opening = pw_app::backup::Opening::Identities(
        pw_app::backup::BackupIdentity::parse_file(&std::fs::read_to_string(&identity).unwrap())
            .unwrap(),
    );
    assert!(pw_app::backup::verify_backup(bytes.as_slice(), &opening).is_ok());
    assert!(
        pw_app::backup::verify_backup(
            bytes.as_slice(),
            &pw_app::SecretString::new(PASSPHRASE.into())
        )
        .is_err()
    );
    let secret = std::fs::read_to_string(&identity).unwrap();
    let secret = secret.lines().last().unwrap().to_owned();
    for body in [
        json!({"recipient": public, "passphrase": PASSPHRASE}),
        json!({}),
        json!({"recipient": secret}),
        json!({"recipient": "age1notakey"}),
    ] {
        let (status, bytes) = download(&server, &admin, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert!(!String::from_utf8_lossy(&bytes).contains("AGE-SECRET-KEY"));
    }
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=system.backup", None)
        .await;
    assert!(audit.json.to_string().contains(&public), "{:?}", audit.json);
    server.stop().await;
}

/// A page's status and HTML, as the browser would fetch it.
pub(crate) async fn page(server: &TestServer, auth: &Auth, path: &str) -> (u16, String) {
    let mut req = server.client.get(server.url(path));
    if let Auth::Cookie(c) = auth {
        req = req.header("cookie", c.clone());
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn schedule_body(dir: &Path, enabled: bool, keep: u32) -> serde_json::Value {
    json!({
        "enabled": enabled, "dir": dir.display().to_string(), "interval_hours": 24, "keep": keep,
        "passphrase": PASSPHRASE,
    })
}

fn written(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Turning the schedule on writes a backup at once (the background task), every run keeps
/// only the newest `keep` of the schedule's own files (an operator's file in the directory is
/// left alone), each verifies from the page's Verify, the page lists them with their sizes, and
/// the passphrase is stored sealed and never shown.
#[tokio::test(flavor = "multi_thread")]
async fn the_schedule_writes_backups_keeps_the_newest_and_verifies_them() {
    let (server, admin, _) = seeded(Options::default()).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("operator-notes.txt"), b"mine").unwrap();

    let put = server
        .call(
            &admin,
            "PUT",
            "/api/v1/system/backup/schedule",
            Some(schedule_body(&dir, true, 2)),
        )
        .await;
    assert_eq!(put.status, 200, "{:?}", put.json);
    assert_eq!(put.json["sealed_with"], "passphrase");
    assert!(!put.json.to_string().contains(PASSPHRASE));
    // The scheduler wakes on the change and writes the first one (it never ran).
    let mut first = Vec::new();
    for _ in 0..200 {
        first = written(&dir);
        if first.iter().any(|n| n.ends_with(".pwbk")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        first.len(),
        2,
        "one backup beside the operator's file: {first:?}"
    );

    for _ in 0..3 {
        let run = server
            .call(&admin, "POST", "/api/v1/system/backup/schedule/run", None)
            .await;
        assert_eq!(run.status, 200, "{:?}", run.json);
        assert_eq!(run.json["ok"], true, "{:?}", run.json);
    }
    let names = written(&dir);
    let backups: Vec<&String> = names.iter().filter(|n| n.ends_with(".pwbk")).collect();
    assert_eq!(backups.len(), 2, "keep 2: {names:?}");
    assert!(names.contains(&"operator-notes.txt".to_owned()));
    assert!(
        !names.iter().any(|n| n.starts_with('.')),
        "no temporary file left: {names:?}"
    );
    assert!(!backups.contains(&&first[0]) || first[0].ends_with(".txt"));
    for name in &backups {
        let verified = pw_app::backup::verify_backup(
            std::fs::File::open(dir.join(name)).unwrap(),
            &pw_app::SecretString::new(PASSPHRASE.into()),
        )
        .unwrap();
        assert_eq!(
            verified
                .manifest
                .tables
                .iter()
                .find(|t| t.name == "printers")
                .map(|t| t.rows),
            Some(1)
        );
        let check = server
            .call(
                &admin,
                "POST",
                "/api/v1/system/backup/schedule/verify",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(check.status, 200, "{:?}", check.json);
        assert_eq!(check.json["ok"], true, "{:?}", check.json);
    }

    // A flipped byte: Verify says so in words.
    let damaged = dir.join(backups[0]);
    let mut bytes = std::fs::read(&damaged).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&damaged, bytes).unwrap();
    let check = server
        .call(
            &admin,
            "POST",
            "/api/v1/system/backup/schedule/verify",
            Some(json!({"name": backups[0]})),
        )
        .await;
    assert_eq!(check.status, 200);
    assert_eq!(check.json["ok"], false);
    assert!(
        check.json["message"].as_str().unwrap().contains("not good"),
        "{:?}",
        check.json
    );
    // Only the schedule's own names, never a path.
    for name in ["../printwarden.db", "operator-notes.txt", "/etc/passwd"] {
        let check = server
            .call(
                &admin,
                "POST",
                "/api/v1/system/backup/schedule/verify",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(check.status, 404, "{name}");
    }

    let view = server
        .call(&admin, "GET", "/api/v1/system/backup/schedule", None)
        .await;
    assert_eq!(view.status, 200);
    assert_eq!(view.json["backups"].as_array().unwrap().len(), 2);
    assert_eq!(view.json["last"]["ok"], true);
    assert!(view.json["next_at"].is_string());
    let (status, html) = page(&server, &admin, "/settings/backup").await;
    assert_eq!(status, 200);
    for name in &backups {
        assert!(html.contains(name.as_str()), "the page lists {name}");
    }
    assert!(html.contains("Create and download") && html.contains("Passphrase again"));
    assert!(
        html.contains("KiB") || html.contains("MiB"),
        "sizes in words"
    );
    assert!(!html.contains(PASSPHRASE));
    // At rest the passphrase is sealed (the search is shown to work on a stored value).
    assert!(server.stored_contains(b"backup.schedule").await);
    assert!(!server.stored_contains(PASSPHRASE.as_bytes()).await);
    server.stop().await;
}

/// The directory is checked before anything is stored; a run that fails (the directory is
/// gone) is audited and shown on the page in words; a scheduled run while a download is being
/// written is refused (one backup at a time).
#[tokio::test(flavor = "multi_thread")]
async fn a_bad_directory_is_refused_and_a_failed_run_is_shown_and_audited() {
    let (server, admin, _) = seeded(Options::default()).await;
    let work = tempfile::tempdir().unwrap();
    let put = |body: serde_json::Value| {
        server.call(&admin, "PUT", "/api/v1/system/backup/schedule", Some(body))
    };
    for (dir, words) in [
        (PathBuf::from("relative/dir"), "absolute"),
        (work.path().join("missing"), "does not exist"),
        (server.data_dir.clone(), "outside the data directory"),
        (server.data_dir.join("blobs"), "outside the data directory"),
    ] {
        let answer = put(schedule_body(&dir, true, 3)).await;
        assert_eq!(answer.status, 400, "{}", dir.display());
        let message = answer.json["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{message}");
    }
    let mut short = schedule_body(work.path(), true, 3);
    short["passphrase"] = json!("short");
    assert_eq!(put(short).await.status, 400);
    let mut zero = schedule_body(work.path(), true, 0);
    zero["keep"] = json!(0);
    assert_eq!(put(zero).await.status, 400);
    let view = server
        .call(&admin, "GET", "/api/v1/system/backup/schedule", None)
        .await;
    assert_eq!(view.json["dir"], "", "nothing stored: {:?}", view.json);

    let dir = work.path().join("backups");
    std::fs::create_dir(&dir).unwrap();
    assert_eq!(put(schedule_body(&dir, false, 3)).await.status, 200);
    // Changing the interval keeps the stored passphrase.
    let mut again = schedule_body(&dir, false, 3);
    again.as_object_mut().unwrap().remove("passphrase");
    again["interval_hours"] = json!(6);
    let answer = put(again).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(answer.json["sealed_with"], "passphrase");

    // One at a time: a download holds the lock.
    let download = start_download(&server, &admin, json!({"passphrase": PASSPHRASE})).await;
    assert_eq!(download.status(), 200);
    let run = server
        .call(&admin, "POST", "/api/v1/system/backup/schedule/run", None)
        .await;
    assert_eq!(run.status, 409, "{:?}", run.json);
    drop(download.bytes().await.unwrap());

    std::fs::remove_dir(&dir).unwrap();
    let mut run = server
        .call(&admin, "POST", "/api/v1/system/backup/schedule/run", None)
        .await;
    for _ in 0..100 {
        if run.status != 409 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        run = server
            .call(&admin, "POST", "/api/v1/system/backup/schedule/run", None)
            .await;
    }
    assert_eq!(run.status, 200, "{:?}", run.json);
    assert_eq!(run.json["ok"], false);
    let message = run.json["message"].as_str().unwrap();
    assert!(message.contains("does not exist"), "{message}");
    assert!(!message.contains("os error"), "{message}");
    let (_, html) = page(&server, &admin, "/settings/backup").await;
    assert!(
        html.contains("The scheduled backup failed"),
        "shown on the page"
    );
    let audit = server
        .call(&admin, "GET", "/api/v1/audit?event=system.backup", None)
        .await;
    let failed = audit.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["success"] == false && e["details"]["scheduled"] == true);
    assert!(failed, "{:?}", audit.json);
    let changes = server
        .call(
            &admin,
            "GET",
            "/api/v1/audit?event=system.backup_schedule",
            None,
        )
        .await;
    assert!(changes.json["items"].as_array().unwrap().len() >= 2);
    assert!(!changes.json.to_string().contains(PASSPHRASE));
    server.stop().await;
}

/// Only `system:backup` opens the page and the schedule: not every other settings right, not an
/// API key with one other scope; a key with exactly `system:backup` may.
#[tokio::test(flavor = "multi_thread")]
async fn the_backup_page_and_schedule_need_system_backup() {
    let (server, admin, _) = seeded(Options::default()).await;
    let work = tempfile::tempdir().unwrap();
    let others = server
        .create_group(
            &admin,
            "almost admins",
            &[
                "settings:security",
                "settings:email",
                "system:read",
                "audit:read",
            ],
        )
        .await;
    server.create_user(&admin, "sam", &[others]).await;
    let sam = server.login("sam", TEST_PASSWORD).await;
    let other_key = crate::support::api_key(&server, &admin, "metrics", &["system:read"]).await;
    let body = schedule_body(work.path(), true, 3);
    for auth in [&sam, &other_key] {
        for (method, path, body) in [
            ("GET", "/api/v1/system/backup/schedule", None),
            ("PUT", "/api/v1/system/backup/schedule", Some(body.clone())),
            ("POST", "/api/v1/system/backup/schedule/run", None),
            (
                "POST",
                "/api/v1/system/backup/schedule/verify",
                Some(json!({"name": "printwarden-20260101T000000-000Z.pwbk"})),
            ),
        ] {
            let answer = server.call(auth, method, path, body).await;
            assert_eq!(answer.status, 403, "{method} {path}");
        }
    }
    let (status, html) = page(&server, &sam, "/settings/backup").await;
    assert_eq!(status, 403, "{html}");
    let (_, settings) = page(&server, &sam, "/settings").await;
    assert!(
        !settings.contains("/settings/backup"),
        "no tab without the right"
    );
    let (_, settings) = page(&server, &admin, "/settings").await;
    assert!(
        settings.contains("/settings/backup"),
        "the tab for those who may"
    );
    let scoped = crate::support::api_key(&server, &admin, "backups", &["system:backup"]).await;
    let view = server
        .call(&scoped, "GET", "/api/v1/system/backup/schedule", None)
        .await;
    assert_eq!(view.status, 200);
    assert!(
        written(work.path()).is_empty(),
        "nothing was written by the refused calls"
    );
    server.stop().await;
}
