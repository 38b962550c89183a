//! `printwarden import bambuddy|3dprintforge|filament-bridge` through the real binary, on
//! fixtures built here from each tool's documented schema: the dry run writes nothing, the
//! import lets users sign in with their old passwords over the real server with exactly the
//! mapped rights, imported printers come online against the simulator, a second run imports
//! nothing, and a corrupt source is refused in words with nothing imported. Misuse: look-alike
//! admin flags, a role-less 3DPrintForge user (full admin there by a flaw), permissions the
//! source never really granted, and a local user of the same name.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use pw_simulator::{Farm, Model, Options as SimOptions, Printer};
use pw_testkit::{Auth, Options, PgDatabase, TEST_PASSWORD, TestDb, TestServer};
use serde_json::{Value, json};

/// The password behind the imported vectors (crates/credentials/tests/data).
const PASSWORD: &str = "correct horse battery staple";
const PBKDF2: &str =
    "$pbkdf2-sha256$29000$lJJyzpnT.n/POYeQ0nqPMQ$eXjnbJamBq8yLqvrQXmCEzSL0I0fjJrnr9KX3yX8YUk";
const SCRYPT: &str = "scrypt:902fedcb28b47a609a56ad983494334a:a0cbd5269e5c48e2fd78d8a888e307e44537eb835797c1c55c38d8b48ca410df3574043e731f59378deb394913f9a03ad9b3898c99f27799e8ade9ba4578d1eb";
const BCRYPT: &str = "$2b$04$HcO13LRrzHX8bZIhPh5jhOmN.Om8HuPJZq50j4kLKb3z3j285kP2O";
/// The sealing key of both the server and the importer (32 bytes of 0x03, base64).
const KEY: &str = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=";

/// A data directory and a database for this test (PostgreSQL when the run says so).
struct Place {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
    url: String,
    _pg: Option<PgDatabase>,
}

async fn place() -> Place {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let data = root.join("data");
    let (pg, url) = match TestDb::from_env() {
        TestDb::Postgres => {
            let db = PgDatabase::create().await;
            let url = db.url.clone();
            (Some(db), url)
        }
        TestDb::Sqlite => (
            None,
            format!(
                "sqlite://{}?mode=rwc",
                data.join("printwarden.db").display()
            ),
        ),
    };
    Place {
        _dir: dir,
        root,
        data,
        url,
        _pg: pg,
    }
}

impl Place {
    async fn server(&self) -> TestServer {
        TestServer::spawn_with(Options {
            data_dir: Some(self.data.clone()),
            database_url: Some(self.url.clone()),
            env: vec![
                ("PRINTWARDEN_RATE_LIMIT_LOGIN".into(), "0".into()),
                ("PRINTWARDEN_RATE_LIMIT_LOGIN_ACCOUNT".into(), "0".into()),
                // The importer seals access codes with the same key the server opens them with.
                ("PRINTWARDEN_SECRET_KEY".into(), KEY.into()),
            ],
            ..Options::default()
        })
        .await
    }

    fn import(&self, tool: &str, file: &Path, extra: &[&str]) -> Output {
        std::fs::create_dir_all(&self.data).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_printwarden"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PRINTWARDEN_DATA_DIR", &self.data)
            .env("PRINTWARDEN_DATABASE_URL", &self.url)
            .env("PRINTWARDEN_LOG", "warn")
            .arg("import")
            .arg(tool)
            .arg(file)
            .env("PRINTWARDEN_SECRET_KEY", KEY)
            .args(extra);
        cmd.output().unwrap()
    }

    /// Rows of the tables an import writes, read straight from the database.
    async fn counts(&self) -> Vec<(String, i64)> {
        use sqlx::Row;
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&self.url).await.unwrap();
        let mut out = Vec::new();
        for t in [
            "users",
            "groups",
            "group_members",
            "group_permissions",
            "printers",
            "archives",
            "library_folders",
            "library_files",
            "queue_items",
        ] {
            let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) AS n FROM {t}"
            )))
            .fetch_one(&pool)
            .await
            .map(|r| r.get("n"))
            .unwrap_or(-1);
            out.push((t.to_owned(), n));
        }
        pool.close().await;
        out
    }
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

fn refused(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected a refusal, got: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh SQLite file with these statements run in it.
async fn sqlite_file(path: &Path, statements: &[String]) {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    for s in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(s.clone()))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("{s}: {e}"))
            .unwrap();
    }
}

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Bambuddy's tables as its SQLAlchemy models declare them (maziggy/bambuddy
/// backend/app/models/{user,group,printer,archive,library,print_queue}.py), the columns the
/// importer reads and a few more. Paths in `file_path` / `thumbnail_path` are relative to the
/// directory holding `bambuddy.db` (its `base_dir`, backend/app/core/config.py): archive files
/// under `archive/<printer id>/<time>_<name>/` (backend/app/services/archive.py), library
/// files under `archive/library/files/<uuid>.<ext>` (backend/app/api/routes/library.py).
fn bambuddy_schema() -> Vec<String> {
    [
        "CREATE TABLE users (id INTEGER PRIMARY KEY, username VARCHAR(100) UNIQUE, email VARCHAR(255) UNIQUE, \
         password_hash VARCHAR(255), role VARCHAR(20), auth_source VARCHAR(20) DEFAULT 'local', \
         is_active BOOLEAN DEFAULT 1, created_at DATETIME, updated_at DATETIME, password_changed_at DATETIME, \
         cloud_token VARCHAR(500), cloud_email VARCHAR(255))",
        "CREATE TABLE groups (id INTEGER PRIMARY KEY, name VARCHAR(100) UNIQUE, description VARCHAR(500), \
         permissions JSON, is_system BOOLEAN DEFAULT 0, restrict_printers BOOLEAN DEFAULT 0, \
         created_at DATETIME, updated_at DATETIME)",
        "CREATE TABLE user_groups (user_id INTEGER, group_id INTEGER, PRIMARY KEY (user_id, group_id))",
        "CREATE TABLE group_printers (group_id INTEGER, printer_id INTEGER, PRIMARY KEY (group_id, printer_id))",
        "CREATE TABLE group_locations (group_id INTEGER, location VARCHAR(100), PRIMARY KEY (group_id, location))",
        "CREATE TABLE printers (id INTEGER PRIMARY KEY, name VARCHAR(100), serial_number VARCHAR(50) UNIQUE, \
         ip_address VARCHAR(45), access_code VARCHAR(20), model VARCHAR(50), location VARCHAR(100), \
         is_active BOOLEAN DEFAULT 1, auto_archive BOOLEAN DEFAULT 1, created_at DATETIME, updated_at DATETIME)",
        "CREATE TABLE print_archives (id INTEGER PRIMARY KEY, printer_id INTEGER, filename VARCHAR(255), \
         file_path VARCHAR(500), file_size INTEGER, content_hash VARCHAR(64), thumbnail_path VARCHAR(500), \
         timelapse_path VARCHAR(500), print_name VARCHAR(255), print_time_seconds INTEGER, \
         filament_used_grams FLOAT, filament_type VARCHAR(50), filament_color VARCHAR(50), \
         status VARCHAR(20), started_at DATETIME, completed_at DATETIME, extra_data JSON, \
         is_favorite BOOLEAN DEFAULT 0, tags TEXT, notes TEXT, cost FLOAT, photos JSON, \
         failure_reason VARCHAR(100), quantity INTEGER DEFAULT 1, created_by_id INTEGER, \
         deleted_at DATETIME, created_at DATETIME)",
        "CREATE TABLE library_folders (id INTEGER PRIMARY KEY, name VARCHAR(255), parent_id INTEGER, \
         is_external BOOLEAN DEFAULT 0, external_readonly BOOLEAN DEFAULT 0, external_path VARCHAR(500), \
         project_id INTEGER, archive_id INTEGER, created_at DATETIME, updated_at DATETIME)",
        "CREATE TABLE library_files (id INTEGER PRIMARY KEY, folder_id INTEGER, project_id INTEGER, \
         is_external BOOLEAN DEFAULT 0, filename VARCHAR(255), file_path VARCHAR(500), file_type VARCHAR(10), \
         file_size INTEGER, file_hash VARCHAR(64), thumbnail_path VARCHAR(500), file_metadata JSON, \
         print_count INTEGER DEFAULT 0, notes TEXT, created_by_id INTEGER, deleted_at DATETIME, \
         created_at DATETIME, updated_at DATETIME)",
        "CREATE TABLE library_tags (id INTEGER PRIMARY KEY, name VARCHAR(64) NOT NULL, name_key VARCHAR(64) UNIQUE)",
        "CREATE TABLE library_file_tags (file_id INTEGER, tag_id INTEGER, created_at DATETIME, \
         PRIMARY KEY (file_id, tag_id))",
        "CREATE TABLE print_queue (id INTEGER PRIMARY KEY, printer_id INTEGER, target_model VARCHAR(50), \
         target_location VARCHAR(100), archive_id INTEGER, library_file_id INTEGER, position INTEGER DEFAULT 0, \
         scheduled_time DATETIME, manual_start BOOLEAN DEFAULT 0, ams_mapping TEXT, plate_id INTEGER, \
         bed_levelling BOOLEAN DEFAULT 1, flow_cali BOOLEAN DEFAULT 0, timelapse BOOLEAN DEFAULT 0, \
         use_ams BOOLEAN DEFAULT 1, status VARCHAR(20) DEFAULT 'pending', created_at DATETIME, \
         created_by_id INTEGER)",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn bambuddy_printer(id: i64, p: &Printer) -> String {
    format!(
        "INSERT INTO printers (id, name, serial_number, ip_address, access_code, model) VALUES \
         ({id}, {}, {}, {}, {}, {})",
        q(&format!("Bay {id}")),
        q(&p.info.serial),
        q(&format!("{}:{}", p.info.host, p.info.mqtt_port)),
        q(&p.info.access_code),
        q(&p.info.model)
    )
}

async fn farm(n: usize) -> (Farm, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = SimOptions::new(n, dir.path());
    options.models = vec![Model::X1C, Model::P1S];
    options.interval = Duration::from_millis(100);
    (Farm::start(options).await.unwrap(), dir)
}

async fn me(server: &TestServer, auth: &Auth) -> Vec<String> {
    let me = server.call(auth, "GET", "/api/v1/auth/me", None).await;
    assert_eq!(me.status, 200, "{:?}", me.json);
    let mut p: Vec<String> = me.json["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    p.sort();
    p
}

async fn login_status(server: &TestServer, user: &str, password: &str) -> u16 {
    server
        .call(
            &Auth::None,
            "POST",
            "/api/v1/auth/login",
            Some(json!({"username": user, "password": password})),
        )
        .await
        .status
        .as_u16()
}

async fn all_online(server: &TestServer, auth: &Auth, n: usize) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let list = server.call(auth, "GET", "/api/v1/printers", None).await;
        let items = list.json["items"].as_array().cloned().unwrap_or_default();
        last = list.json;
        if items.len() == n && items.iter().all(|p| p["connection"] == "online") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let items = last["items"].as_array().cloned().unwrap_or_default();
    assert!(
        items.len() == n && items.iter().all(|p| p["connection"] == "online"),
        "imported printers did not come online: {last}"
    );
    last
}

#[tokio::test]
async fn bambuddy_import_dry_run_then_sign_in_rights_printers_and_idempotence() {
    let (farm, _sim) = farm(2).await;
    let place = place().await;
    // A running farm with its own administrator and a local `carol`.
    let server = place.server().await;
    let admin = server.setup_admin().await;
    server.create_user(&admin, "carol", &[]).await;
    server.stop().await;

    let file = place.root.join("bambuddy.db");
    let all_ops = json!([
        "printers:read",
        "printers:control",
        "queue:reorder",
        "users:create",
        "settings:update",
        "archives:read"
    ])
    .to_string();
    let mut sql = bambuddy_schema();
    sql.extend([
        format!("INSERT INTO groups (id, name, permissions, is_system) VALUES (1, 'Administrators', {}, 1)", q(&json!(["printers:read"]).to_string())),
        format!("INSERT INTO groups (id, name, permissions, is_system) VALUES (2, 'Operators', {}, 1)", q(&all_ops)),
        // Look-alike of the administrators' group: an ordinary custom group in Bambuddy.
        format!("INSERT INTO groups (id, name, permissions, is_system) VALUES (3, 'administrators ', {}, 0)", q(&json!(["users:read"]).to_string())),
        format!("INSERT INTO groups (id, name, permissions, is_system, restrict_printers) VALUES (4, 'Lab A', {}, 0, 1)", q(&json!(["printers:read", "printers:delete"]).to_string())),
        // Limited to printers none of which exists: must not become "every printer".
        format!("INSERT INTO groups (id, name, permissions, is_system, restrict_printers) VALUES (5, 'Lab B', {}, 0, 1)", q(&json!(["printers:control"]).to_string())),
        "INSERT INTO group_printers VALUES (4, 1), (5, 99)".to_owned(),
        format!("INSERT INTO users (id, username, email, password_hash, role, is_active) VALUES (1, 'alice', 'alice@example.com', {}, 'admin', 1)", q(PBKDF2)),
        // Unique in Bambuddy (SQLite compares with case), one address here.
        format!("INSERT INTO users (id, username, email, password_hash, role, is_active) VALUES (2, 'bob', 'ALICE@example.com', {}, 'user', 1)", q(BCRYPT)),
        format!("INSERT INTO users (id, username, password_hash, role, is_active) VALUES (3, 'eve', {}, 'Admin', 1)", q(PBKDF2)),
        format!("INSERT INTO users (id, username, password_hash, role, is_active) VALUES (4, 'Carol', {}, 'admin', 1)", q(PBKDF2)),
        format!("INSERT INTO users (id, username, password_hash, role, is_active) VALUES (5, 'dave', {}, 'user', 0)", q(PBKDF2)),
        "INSERT INTO user_groups VALUES (2, 2), (3, 3), (3, 4), (3, 5), (5, 2)".to_owned(),
        bambuddy_printer(1, &farm.printers[0]),
        bambuddy_printer(2, &farm.printers[1]),
        "INSERT INTO print_archives (printer_id, filename, status, started_at, completed_at, created_by_id) VALUES \
         (1, 'cube.3mf', 'completed', '2026-05-01 10:00:00.000000', '2026-05-01 11:30:00', 2), \
         (1, 'vase.3mf', 'failed', '2026-05-02 10:00:00', '2026-05-02 10:20:00', NULL), \
         (2, 'now.3mf', 'printing', '2026-05-03 10:00:00', NULL, 1)".to_owned(),
        "INSERT INTO library_files (filename, file_path, file_size) VALUES ('a.3mf', 'library/a.3mf', 10)".to_owned(),
    ]);
    sqlite_file(&file, &sql).await;

    // The dry run reports in words and writes nothing.
    let before = place.counts().await;
    let report = ok(&place.import("bambuddy", &file, &["--dry-run"]));
    for needle in [
        "Dry run",
        "4 user(s), 3 group(s), 2 printer(s), 2 archive entr(ies) would be imported",
        "user `alice` as an administrator",
        "user `Carol`: a user of that name exists here already; not overwritten",
        "`settings:update`",
        "`queue:reorder`",
        "`users:create` (group `Operators`): Bambuddy also requires the admin role",
        "group `Lab A (Bambuddy)` with 2 permission(s): printers:read, printers:delete, limited to 1 printer(s) as in the source",
        "group `Lab B` is limited to printers none of which is imported; left out",
        "Bambuddy library file `a.3mf`: its file `library/a.3mf` is missing",
        "user `bob`: their email address is invalid or used here already; imported without it",
    ] {
        assert!(report.contains(needle), "missing {needle:?} in:\n{report}");
    }
    assert!(
        !report.contains(&farm.printers[0].info.access_code),
        "{report}"
    );
    assert!(!report.contains("$pbkdf2"), "{report}");
    assert_eq!(place.counts().await, before, "a dry run writes nothing");

    let done = ok(&place.import("bambuddy", &file, &[]));
    assert!(done.contains("Import done."), "{done}");
    let after = place.counts().await;
    assert_ne!(after, before);
    // A second run finds everything here and imports nothing.
    let again = ok(&place.import("bambuddy", &file, &[]));
    assert!(
        again.contains("0 user(s), 0 group(s), 0 printer(s), 0 archive entr(ies) imported"),
        "{again}"
    );
    assert_eq!(
        place.counts().await,
        after,
        "the second run imported nothing"
    );

    let server = place.server().await;
    // alice: `role = admin` in Bambuddy → administrator here; signs in with her old password.
    let alice = server.login("alice", PASSWORD).await;
    let admin_rights = me(&server, &alice).await;
    assert!(
        admin_rights.contains(&"users:create".to_owned()),
        "{admin_rights:?}"
    );
    // bob: Operators, mapped string by string — no `queue:reorder` (Bambuddy checks
    // update_all), no `users:create` (needs the admin role there), nothing for legacy strings.
    let bob = server.login("bob", PASSWORD).await;
    assert_eq!(
        me(&server, &bob).await,
        vec!["printers:control", "printers:read"]
    );
    // eve: `Admin` is not `admin`, and `administrators ` is not `Administrators`; Lab A keeps
    // its limit to one printer as a scope, and Lab B (limited to a printer that does not
    // exist) is left out rather than widened to every printer.
    let eve = server.login("eve", PASSWORD).await;
    assert_eq!(
        me(&server, &eve).await,
        vec!["printers:delete", "printers:read", "users:read"]
    );
    // The local carol keeps her password; Bambuddy's does not open her account.
    assert_eq!(login_status(&server, "carol", PASSWORD).await, 401);
    server.login("carol", TEST_PASSWORD).await;
    // dave was disabled in Bambuddy and stays so.
    assert_ne!(login_status(&server, "dave", PASSWORD).await, 200);

    // The printers come online with their sealed access codes; certificates pinned now.
    let list = all_online(&server, &admin_again(&server).await, 2).await;
    assert!(
        !list
            .to_string()
            .contains(&farm.printers[0].info.access_code)
    );
    let seen = server.call(&eve, "GET", "/api/v1/printers", None).await;
    let seen = seen.json["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["serial"], farm.printers[0].info.serial.as_str());
    let archives = server.call(&alice, "GET", "/api/v1/archives", None).await;
    assert_eq!(archives.status, 200, "{:?}", archives.json);
    let names = archives.json.to_string();
    assert!(
        names.contains("cube.3mf") && names.contains("vase.3mf") && !names.contains("now.3mf"),
        "{names}"
    );

    // An administrator widens the imported group; a later import must not hand that to a new
    // member from the source.
    let ops = server.group_id(&alice, "Operators (Bambuddy)").await;
    let widened = server
        .call(
            &alice,
            "PATCH",
            &format!("/api/v1/groups/{ops}"),
            Some(json!({"permissions": ["printers:read", "printers:control", "printers:delete"]})),
        )
        .await;
    assert_eq!(widened.status, 200, "{:?}", widened.json);
    server.stop().await;
    sqlite_file(
        &file,
        &[
            format!("INSERT INTO users (id, username, password_hash, role, is_active) VALUES (6, 'frank', {}, 'user', 1)", q(PBKDF2)),
            "INSERT INTO user_groups VALUES (6, 2)".to_owned(),
        ],
    )
    .await;
    let third = ok(&place.import("bambuddy", &file, &[]));
    assert!(
        third.contains("1 user(s), 0 group(s), 0 printer(s)"),
        "{third}"
    );
    assert!(
        third.contains("group `Operators (Bambuddy)` exists here with other rights"),
        "{third}"
    );
    let server = place.server().await;
    let frank = server.login("frank", PASSWORD).await;
    assert!(
        me(&server, &frank).await.is_empty(),
        "frank got the widened group"
    );
}

/// The first administrator of the place (signed in again after a restart).
async fn admin_again(server: &TestServer) -> Auth {
    server.login("admin", TEST_PASSWORD).await
}

#[tokio::test]
async fn forge_and_filament_bridge_map_roles_and_a_roleless_user_gets_nothing() {
    let (farm, _sim) = farm(1).await;
    let place = place().await;
    let forge = place.root.join("dashboard.db");
    let p = &farm.printers[0];
    sqlite_file(
        &forge,
        &[
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY)".to_owned(),
            "INSERT INTO schema_version VALUES (34), (45), (117)".to_owned(),
            "CREATE TABLE user_roles (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, \
             permissions TEXT NOT NULL DEFAULT '[]', description TEXT, is_default INTEGER DEFAULT 0)".to_owned(),
            "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT NOT NULL UNIQUE, \
             password_hash TEXT NOT NULL, role_id INTEGER, display_name TEXT, created_at TEXT, last_login TEXT, \
             totp_secret TEXT, totp_enabled INTEGER DEFAULT 0, totp_backup_codes TEXT)".to_owned(),
            "CREATE TABLE printers (id TEXT PRIMARY KEY, name TEXT NOT NULL, ip TEXT, serial TEXT, access_code TEXT, \
             model TEXT, added_at TEXT, type TEXT)".to_owned(),
            format!("INSERT INTO user_roles (id, name, permissions) VALUES (1, 'admin', {}), (2, 'operator', {}), (3, 'viewer', {})",
                q(r#"["*"]"#), q(r#"["view","print","queue","controls","filament","macros"]"#), q(r#"["view"]"#)),
            format!("INSERT INTO users (username, password_hash, role_id) VALUES ('root', {s}, 1), ('op', {s}, 2), ('norole', {s}, NULL)", s = q(SCRYPT)),
            format!("INSERT INTO printers (id, name, ip, serial, access_code, model) VALUES ('p1', 'Forge X1', {}, {}, {}, {})",
                q(&format!("{}:{}", p.info.host, p.info.mqtt_port)), q(&p.info.serial), q(&p.info.access_code), q(&p.info.model)),
            "INSERT INTO printers (id, name, ip, type) VALUES ('k1', 'Voron', '10.0.0.9', 'moonraker')".to_owned(),
        ],
    )
    .await;
    let bridge = place.root.join("filament-bridge.db");
    sqlite_file(
        &bridge,
        &[
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)".to_owned(),
            "INSERT INTO alembic_version VALUES ('f8d3e9c1a7b2')".to_owned(),
            "CREATE TABLE bridge_config (key VARCHAR NOT NULL PRIMARY KEY, value TEXT NOT NULL, updated_at DATETIME NOT NULL)".to_owned(),
            format!("INSERT INTO bridge_config VALUES ('admin_password_hash', {}, '2026-01-01 00:00:00')", q(&json!(BCRYPT).to_string())),
            "INSERT INTO bridge_config VALUES ('api_token', '\"tok-not-imported\"', '2026-01-01 00:00:00')".to_owned(),
        ],
    )
    .await;

    // Into an instance that was never set up: the importer needs no server.
    let report = ok(&place.import("3dprintforge", &forge, &[]));
    assert!(report.contains("schema version 117"), "{report}");
    assert!(
        report.contains("user `norole`; no role in 3DPrintForge"),
        "{report}"
    );
    assert!(
        report.contains("1 3DPrintForge printer(s) of other brands"),
        "{report}"
    );
    let bridged = ok(&place.import("filament-bridge", &bridge, &[]));
    assert!(bridged.contains("user `filament-bridge`"), "{bridged}");
    assert!(bridged.contains("API token"), "{bridged}");
    assert!(!bridged.contains("tok-not-imported"), "{bridged}");

    let server = place.server().await;
    let root = server.login("root", PASSWORD).await;
    assert!(
        me(&server, &root)
            .await
            .contains(&"users:create".to_owned())
    );
    // operator = the presets of its strings; `filament` and `macros` map to nothing.
    let op = server.login("op", PASSWORD).await;
    let mut expected: Vec<String> = ["view", "print", "queue", "controls"]
        .iter()
        .flat_map(|n| {
            pw_domain::PRESETS
                .iter()
                .find(|p| p.name == *n)
                .unwrap()
                .permissions
        })
        .map(|p| p.as_str().to_owned())
        .collect();
    expected.sort();
    expected.dedup();
    assert_eq!(me(&server, &op).await, expected);
    // A role-less user is a full admin in 3DPrintForge by a flaw; here they hold nothing.
    let norole = server.login("norole", PASSWORD).await;
    assert!(me(&server, &norole).await.is_empty());
    let fb = server.login("filament-bridge", PASSWORD).await;
    assert!(me(&server, &fb).await.is_empty());
    all_online(&server, &root, 1).await;
}

#[tokio::test]
async fn corrupt_sources_are_refused_in_words_with_nothing_imported() {
    let place = place().await;
    // The database exists and is migrated (a first refusal still migrates it).
    let empty = place.root.join("empty.db");
    sqlite_file(&empty, &["CREATE TABLE unrelated (x INTEGER)".to_owned()]).await;
    let err = refused(&place.import("bambuddy", &empty, &[]));
    assert!(
        err.contains("cannot be imported: it has no `users` table. Nothing was imported."),
        "{err}"
    );
    let before = place.counts().await;

    let not_sqlite = place.root.join("notes.txt");
    std::fs::write(&not_sqlite, "just some text, not a database at all").unwrap();
    let err = refused(&place.import("bambuddy", &not_sqlite, &[]));
    assert!(err.contains("not an SQLite database"), "{err}");

    let cases: Vec<(&str, &str, Vec<String>)> = vec![
        (
            "the password of `mallory` is stored in a format printwarden cannot verify",
            "md5",
            vec![format!(
                "INSERT INTO users (username, password_hash, role) VALUES ('ok', {}, 'user'), \
                 ('mallory', '5f4dcc3b5aa765d61d8327deb882cf99', 'user')",
                q(PBKDF2)
            )],
        ),
        (
            "the usernames `bob` and `Bob` differ only in case",
            "case",
            vec![format!(
                "INSERT INTO users (username, password_hash, role) VALUES ('bob', {h}, 'user'), ('Bob', {h}, 'admin')",
                h = q(PBKDF2)
            )],
        ),
        (
            "the permissions of group `G` are not a JSON list of strings",
            "json",
            vec!["INSERT INTO groups (name, permissions) VALUES ('G', 'printers:read')".to_owned()],
        ),
    ];
    for (needle, name, rows) in cases {
        let file = place.root.join(format!("{name}.db"));
        let mut sql = bambuddy_schema();
        // A valid printer and user beside the bad row: none of them may land.
        sql.push(format!(
            "INSERT INTO users (username, password_hash, role) VALUES ('fine', {}, 'admin')",
            q(BCRYPT)
        ));
        sql.push("INSERT INTO printers (name, serial_number, ip_address, access_code, model) VALUES ('P', '01S00A000000001', '127.0.0.1', '12345678', 'X1C')".to_owned());
        sql.extend(rows);
        sqlite_file(&file, &sql).await;
        let err = refused(&place.import("bambuddy", &file, &[]));
        assert!(err.contains(needle), "{name}: {err}");
        assert!(err.contains("Nothing was imported"), "{name}: {err}");
        assert!(!err.contains("5f4dcc3b"), "no hash in the message: {err}");
        assert_eq!(place.counts().await, before, "{name}: nothing imported");
    }

    // 3DPrintForge older than the schema the reader knows.
    let old = place.root.join("old.db");
    sqlite_file(
        &old,
        &[
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY)".to_owned(),
            "INSERT INTO schema_version VALUES (12)".to_owned(),
        ],
    )
    .await;
    let err = refused(&place.import("3dprintforge", &old, &[]));
    assert!(
        err.contains("its schema is version 12; printwarden reads version 45 and later"),
        "{err}"
    );
    assert_eq!(place.counts().await, before);
}

#[tokio::test]
async fn a_real_import_refuses_to_run_beside_a_server() {
    let place = place().await;
    let server = place.server().await;
    let file = place.root.join("b.db");
    sqlite_file(&file, &bambuddy_schema()).await;
    let err = refused(&place.import("bambuddy", &file, &[]));
    assert!(err.contains("in use by a running server"), "{err}");
    // The dry run only reads, so it may.
    ok(&place.import("bambuddy", &file, &["--dry-run"]));
    server.stop().await;
}

/// Writes `bytes` at `rel` below `dir`, creating the directories on the way.
fn put(dir: &Path, rel: &str, bytes: &[u8]) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Every stored blob's bytes below the data directory (the content store).
fn blob_contents(data: &Path) -> Vec<Vec<u8>> {
    fn walk(dir: &Path, out: &mut Vec<Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = Vec::new();
    walk(&data.join("blobs"), &mut out);
    out
}

fn names_of(page: &Value, field: &str) -> Vec<String> {
    let mut n: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[field].as_str().unwrap_or_default().to_owned())
        .collect();
    n.sort();
    n
}

const SECRET: &[u8] = b"TOP SECRET: the sealing key of another service";

/// Bambuddy's archive, library and queue with the files they name: the dry run copies and
/// writes nothing; the import brings entries (owned by the imported user who started them, so
/// `archives:read_own` sees only theirs), the library file byte for byte with its folder, tags
/// and uploader, the plate image, and the waiting queue items in their order; a second run
/// changes nothing; a path climbing out with `..`, an absolute path elsewhere and a symbolic
/// link leaving the data directory are refused and reported, and their content is nowhere here.
#[tokio::test]
async fn bambuddy_archive_library_and_queue_come_with_their_files() {
    let place = place().await;
    let server = place.server().await;
    server.setup_admin().await;
    server.stop().await;

    // Bambuddy's data directory: its database and the files its rows name.
    let bb = place.root.join("bambuddy");
    let sliced = crate::library::sliced_project();
    put(
        &bb,
        "archive/1/20260501_100000_cube/cube.gcode.3mf",
        &sliced,
    );
    put(
        &bb,
        "archive/1/20260501_100000_cube/thumbnail.png",
        crate::library::PNG,
    );
    put(&bb, "archive/library/files/0a1b2c.gcode.3mf", &sliced);
    put(&bb, "archive/library/files/notes.txt", b"just words");
    // Outside the data directory, and a link from inside to it.
    let secret = place.root.join("secret.txt");
    std::fs::write(&secret, SECRET).unwrap();
    std::os::unix::fs::symlink(&secret, bb.join("archive/library/files/evil.gcode.3mf")).unwrap();
    std::os::unix::fs::symlink(&place.root, bb.join("archive/up")).unwrap();
    let file = bb.join("bambuddy.db");
    let viewers = json!(["archives:read_own", "library:read_own", "queue:read_own"]).to_string();
    let mut sql = bambuddy_schema();
    sql.extend([
        format!("INSERT INTO groups (id, name, permissions, is_system) VALUES (2, 'Viewers', {}, 1)", q(&viewers)),
        format!("INSERT INTO users (id, username, password_hash, role, is_active) VALUES (1, 'alice', {}, 'admin', 1)", q(PBKDF2)),
        format!("INSERT INTO users (id, username, password_hash, role, is_active) VALUES (2, 'bob', {}, 'user', 1)", q(BCRYPT)),
        "INSERT INTO user_groups VALUES (2, 2)".to_owned(),
        "INSERT INTO printers (id, name, serial_number, ip_address, access_code, model) VALUES \
         (1, 'Bay 1', '01S00A000000001', '127.0.0.1', '12345678', 'X1C')".to_owned(),
        "INSERT INTO print_archives (id, printer_id, filename, file_path, thumbnail_path, status, started_at, \
         completed_at, created_by_id, tags, notes, filament_used_grams, filament_type, filament_color) VALUES \
         (1, 1, 'cube.gcode.3mf', 'archive/1/20260501_100000_cube/cube.gcode.3mf', \
          'archive/1/20260501_100000_cube/thumbnail.png', 'completed', '2026-05-01 10:00:00', \
          '2026-05-01 11:30:00', 2, 'gift, red', 'first', 12.3, 'PLA', '#FF8000')".to_owned(),
        "INSERT INTO print_archives (id, printer_id, filename, status, started_at, completed_at, created_by_id, \
         failure_reason) VALUES (2, 1, 'vase.3mf', 'failed', '2026-05-02 10:00:00', '2026-05-02 10:20:00', 1, \
         'Spaghetti')".to_owned(),
        // Its printer was removed in Bambuddy: kept by name.
        "INSERT INTO print_archives (id, printer_id, filename, status, started_at, completed_at) VALUES \
         (3, 7, 'old.3mf', 'completed', '2026-04-01 10:00:00', '2026-04-01 11:00:00')".to_owned(),
        "INSERT INTO print_archives (id, printer_id, filename, file_path, status, started_at, completed_at, \
         created_by_id) VALUES (4, 1, 'evil.3mf', '../secret.txt', 'completed', '2026-05-03 10:00:00', \
         '2026-05-03 11:00:00', 2)".to_owned(),
        "INSERT INTO print_archives (id, printer_id, filename, file_path, status, started_at, completed_at, \
         created_by_id) VALUES (5, 1, 'lost.3mf', 'archive/1/nope/lost.3mf', 'completed', \
         '2026-05-04 10:00:00', '2026-05-04 11:00:00', 2)".to_owned(),
        "INSERT INTO print_archives (id, printer_id, filename, file_path, status, started_at, completed_at) \
         VALUES (6, 1, 'linked.3mf', 'archive/up/secret.txt', 'completed', '2026-05-05 10:00:00', \
         '2026-05-05 11:00:00')".to_owned(),
        "INSERT INTO print_archives (id, printer_id, filename, status, started_at, completed_at, deleted_at) \
         VALUES (7, 1, 'trash.3mf', 'completed', '2026-05-06 10:00:00', '2026-05-06 11:00:00', \
         '2026-05-07 10:00:00')".to_owned(),
        "INSERT INTO library_folders (id, name, parent_id) VALUES (1, 'Parts', NULL), (2, 'Small', 1)".to_owned(),
        format!("INSERT INTO library_folders (id, name, is_external, external_path) VALUES (3, 'NAS', 1, {})",
            q(&place.root.display().to_string())),
        format!("INSERT INTO library_files (id, folder_id, filename, file_path, created_by_id, created_at) VALUES \
         (1, 2, 'cube.gcode.3mf', 'archive/library/files/0a1b2c.gcode.3mf', 2, '2026-04-20 09:00:00'), \
         (2, NULL, 'evil.gcode.3mf', 'archive/library/files/evil.gcode.3mf', 2, NULL), \
         (3, NULL, 'up.gcode.3mf', '../secret.txt', 2, NULL), \
         (4, NULL, 'gone.gcode.3mf', 'archive/library/files/missing.gcode.3mf', 2, NULL), \
         (5, 3, 'abs.gcode.3mf', {}, 2, NULL), \
         (6, NULL, 'notes.txt', 'archive/library/files/notes.txt', 1, NULL)", q(&secret.display().to_string())),
        "INSERT INTO library_files (id, filename, file_path, deleted_at) VALUES \
         (7, 'binned.gcode.3mf', 'archive/library/files/0a1b2c.gcode.3mf', '2026-05-01 00:00:00')".to_owned(),
        "INSERT INTO library_tags (id, name, name_key) VALUES (1, 'Functional', 'functional')".to_owned(),
        "INSERT INTO library_file_tags (file_id, tag_id) VALUES (1, 1)".to_owned(),
        "INSERT INTO print_queue (id, library_file_id, printer_id, position, status, created_by_id, created_at) VALUES \
         (1, 1, 1, 2, 'pending', 2, '2026-05-05 10:00:00')".to_owned(),
        "INSERT INTO print_queue (id, library_file_id, target_model, position, status, created_by_id, created_at) VALUES \
         (2, 1, 'x1c', 1, 'pending', 1, '2026-05-05 10:01:00')".to_owned(),
        "INSERT INTO print_queue (id, archive_id, printer_id, position, status, created_at) VALUES \
         (3, 1, 1, 3, 'pending', '2026-05-05 10:02:00')".to_owned(),
        "INSERT INTO print_queue (id, library_file_id, printer_id, position, status, created_at) VALUES \
         (4, 2, 1, 4, 'pending', '2026-05-05 10:03:00')".to_owned(),
        "INSERT INTO print_queue (id, library_file_id, target_model, target_location, position, status, created_at) \
         VALUES (5, 1, 'X1C', 'Lab', 5, 'pending', '2026-05-05 10:04:00')".to_owned(),
        "INSERT INTO print_queue (id, library_file_id, printer_id, position, status, created_at) VALUES \
         (6, 1, 1, 6, 'completed', '2026-05-05 10:05:00')".to_owned(),
        "INSERT INTO print_queue (id, library_file_id, printer_id, position, status, manual_start, created_at) \
         VALUES (7, 1, 1, 7, 'pending', 1, '2026-05-05 10:06:00')".to_owned(),
    ]);
    sqlite_file(&file, &sql).await;

    // Dry run: the report in words and as JSON; nothing written, nothing copied.
    let before = place.counts().await;
    let report = ok(&place.import("bambuddy", &file, &["--dry-run"]));
    for needle in [
        "2 user(s), 1 group(s), 1 printer(s), 4 archive entr(ies) would be imported",
        "2 library folder(s), 1 library file(s), 3 queue item(s) would be imported; 4 file(s)",
        "archive entry `evil.3mf` (2026-05-03T10:00:00Z on Bay 1): refused, its path `../secret.txt` climbs out with `..`",
        "archive entry `linked.3mf` (2026-05-05T10:00:00Z on Bay 1): refused, its path `archive/up/secret.txt` leads outside Bambuddy's data directory through a symbolic link",
        "archive entry `lost.3mf` (2026-05-04T10:00:00Z on Bay 1): its file `archive/1/nope/lost.3mf` is missing; imported without it",
        "library file `evil.gcode.3mf`: refused, its path `archive/library/files/evil.gcode.3mf` leads outside Bambuddy's data directory through a symbolic link",
        "library file `up.gcode.3mf`: refused, its path `../secret.txt` climbs out with `..`",
        "lies outside Bambuddy's data directory",
        "library file `gone.gcode.3mf`: its file `archive/library/files/missing.gcode.3mf` is missing",
        "library file `notes.txt`: not a print file the library takes",
        "queue item 4: cannot be queued here: its library file was not imported",
        "queue item 5: cannot be queued here: it is limited to the location `Lab`",
        "queue item 7: cannot be queued here: it waits for a manual start",
        "Bambuddy folder `NAS` is an external folder",
        "1 Bambuddy queue item(s) that are not waiting",
        "1 Bambuddy archive entr(ies) in its trash",
        "1 Bambuddy library file(s) in its trash",
    ] {
        assert!(report.contains(needle), "missing {needle:?} in:\n{report}");
    }
    assert!(!report.contains("TOP SECRET"), "{report}");
    let json_report: Value = serde_json::from_str(&ok(&place.import(
        "bambuddy",
        &file,
        &["--dry-run", "--json"],
    )))
    .unwrap();
    assert_eq!(json_report["dry_run"], true);
    assert_eq!(json_report["library_files_created"], 1);
    assert_eq!(json_report["queue_items_created"], 3);
    assert_eq!(json_report["archives_created"], 4);
    assert!(
        json_report["problems"].as_array().unwrap().len() >= 9,
        "{json_report}"
    );
    assert_eq!(place.counts().await, before, "a dry run writes nothing");
    assert!(
        blob_contents(&place.data).is_empty(),
        "a dry run copies nothing"
    );

    let done = ok(&place.import("bambuddy", &file, &["--json"]));
    let done: Value = serde_json::from_str(&done).unwrap();
    assert_eq!(
        (
            done["archives_created"].as_i64(),
            done["library_files_created"].as_i64(),
            done["folders_created"].as_i64(),
            done["queue_items_created"].as_i64()
        ),
        (Some(4), Some(1), Some(2), Some(3)),
        "{done}"
    );
    let stored = blob_contents(&place.data);
    assert!(
        stored
            .iter()
            .all(|b| !b.windows(10).any(|w| w == &SECRET[..10])),
        "the refused file's content is not in the content store"
    );
    // One sliced project (archive and library share it), one plate image; nothing staged.
    assert_eq!(stored.len(), 2, "blobs");
    let after = place.counts().await;
    let again = ok(&place.import("bambuddy", &file, &[]));
    assert!(
        again.contains("0 user(s), 0 group(s), 0 printer(s), 0 archive entr(ies) imported")
            && again.contains("0 library folder(s), 0 library file(s), 0 queue item(s) imported"),
        "{again}"
    );
    assert_eq!(
        place.counts().await,
        after,
        "the second run changed nothing"
    );
    assert_eq!(blob_contents(&place.data).len(), 2);

    let server = place.server().await;
    let alice = server.login("alice", PASSWORD).await;
    let all = server.call(&alice, "GET", "/api/v1/archives", None).await;
    assert_eq!(all.status, 200, "{:?}", all.json);
    assert_eq!(
        names_of(&all.json, "file_name"),
        vec!["cube.gcode.3mf", "lost.3mf", "old.3mf", "vase.3mf"]
    );
    let items = all.json["items"].as_array().unwrap().clone();
    let by = |n: &str| items.iter().find(|i| i["file_name"] == n).unwrap().clone();
    let cube = by("cube.gcode.3mf");
    assert_eq!(cube["started_by"]["name"], "bob", "{cube}");
    assert_eq!(cube["outcome"], "finished");
    assert_eq!(cube["duration_s"], 5400);
    assert_eq!(cube["tags"], json!(["gift", "red"]));
    assert_eq!(cube["notes"], "first");
    assert_eq!(cube["filaments"][0]["type"], "PLA");
    assert_eq!(cube["filaments"][0]["color"], "FF8000FF");
    assert_eq!(cube["filaments"][0]["grams"], 12.3);
    assert_eq!(by("vase.3mf")["outcome"], "failed");
    assert_eq!(by("vase.3mf")["error"], "Spaghetti");
    assert_eq!(by("vase.3mf")["started_by"]["name"], "alice");
    let old = by("old.3mf");
    assert!(old["printer_id"].is_null(), "{old}");
    assert_eq!(old["printer_name"], "Bambuddy printer 7");
    assert!(old["started_by"].is_null(), "{old}");
    // The plate image, byte for byte.
    let thumb = crate::library::get_raw(
        &server,
        &alice,
        &format!("/api/v1/archives/{}/thumbnail", cube["id"]),
        None,
    )
    .await;
    assert_eq!(thumb.status(), 200);
    assert_eq!(thumb.bytes().await.unwrap().as_ref(), crate::library::PNG);

    // bob holds archives:read_own: the entries he started, nothing else.
    let bob = server.login("bob", PASSWORD).await;
    let his = server.call(&bob, "GET", "/api/v1/archives", None).await;
    assert_eq!(his.status, 200, "{:?}", his.json);
    assert_eq!(
        names_of(&his.json, "file_name"),
        vec!["cube.gcode.3mf", "lost.3mf"]
    );
    let vase = by("vase.3mf")["id"].clone();
    let theirs = server
        .call(&bob, "GET", &format!("/api/v1/archives/{vase}"), None)
        .await;
    assert_eq!(
        theirs.status, 404,
        "another owner's entry is not his to read"
    );

    // The library file, his, in Parts/Small, tagged, and its bytes exactly as in Bambuddy.
    let files = server
        .call(&bob, "GET", "/api/v1/library/files", None)
        .await;
    assert_eq!(files.status, 200, "{:?}", files.json);
    assert_eq!(names_of(&files.json, "name"), vec!["cube.gcode.3mf"]);
    let f = files.json["items"][0].clone();
    assert_eq!(f["tags"], json!(["Functional"]), "{f}");
    let download = crate::library::get_raw(
        &server,
        &bob,
        &format!("/api/v1/library/files/{}/download", f["id"]),
        None,
    )
    .await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().as_ref(), sliced.as_slice());
    let folders = server
        .call(&alice, "GET", "/api/v1/library/folders", None)
        .await;
    assert_eq!(folders.status, 200, "{:?}", folders.json);
    let folders = folders.json.to_string();
    assert!(
        folders.contains("\"Parts\"") && folders.contains("\"Small\""),
        "{folders}"
    );
    assert!(!folders.contains("NAS"), "{folders}");

    // The waiting items, in Bambuddy's order; bob sees his own.
    let queue = server.call(&alice, "GET", "/api/v1/queue", None).await;
    assert_eq!(queue.status, 200, "{:?}", queue.json);
    let q = queue.json["items"].as_array().unwrap().clone();
    assert_eq!(q.len(), 3, "{q:?}");
    assert_eq!(q[0]["target"]["model"], "X1C", "{q:?}");
    assert_eq!(q[1]["owner"]["name"], "bob", "{q:?}");
    assert_eq!(
        q[2]["archive_id"], cube["id"],
        "the reprint names its entry: {q:?}"
    );
    assert!(q.iter().all(|i| i["state"] == "queued"), "{q:?}");
    let mine = server.call(&bob, "GET", "/api/v1/queue", None).await;
    assert_eq!(mine.status, 200, "{:?}", mine.json);
    assert_eq!(
        mine.json["items"].as_array().unwrap().len(),
        1,
        "{:?}",
        mine.json
    );
    server.stop().await;
}
