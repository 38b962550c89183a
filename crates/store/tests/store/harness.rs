//! A fresh migrated store per test on the backend `PRINTWARDEN_TEST_DB` selects, and
//! builders for the rows most tests need (users, the system Administrators group, printers).

use std::sync::Arc;

use pw_domain::{Email, GroupId, GroupName, PrinterId, UserId, Username};
use pw_store::{AdminCheck, Backend, NewGroup, NewPrinter, NewSession, NewUser, Store};
use sqlx::Connection;

/// A base time for rows (unix ms); tests move relative to it.
pub const T0: i64 = 1_700_000_000_000;

const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A store on a database that lives as long as this value.
pub struct Db {
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

impl std::ops::Deref for Db {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

/// The backend the tests run on: `PRINTWARDEN_TEST_DB=postgres` or SQLite.
pub fn backend() -> Backend {
    match std::env::var("PRINTWARDEN_TEST_DB").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("PRINTWARDEN_TEST_DB={other}: expected postgres or sqlite"),
    }
}

/// A fresh, migrated database on [`backend`].
pub async fn fresh() -> Db {
    match backend() {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
            let store = Store::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            Db {
                store,
                _dir: Some(dir),
                _pg: None,
            }
        }
        Backend::Postgres => {
            let pg = PgDatabase::create().await;
            let store = Store::connect(&pg.url).await.unwrap();
            assert_eq!(store.backend(), Backend::Postgres);
            store.migrate().await.unwrap();
            Db {
                store,
                _dir: None,
                _pg: Some(pg),
            }
        }
    }
}

fn pg_admin_url() -> String {
    std::env::var("PRINTWARDEN_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.to_owned())
}

/// A PostgreSQL database `pw_test_<random>` for one test, dropped with it.
struct PgDatabase {
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create() -> Self {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let name = format!("pw_test_{}", hex::encode(bytes));
        let admin = pg_admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PRINTWARDEN_TEST_DB=postgres, but PostgreSQL at {admin} is not reachable: {e} \
                 (start it, or set PRINTWARDEN_TEST_PG_URL)"
                )
            });
        // `name` is `pw_test_` + hex from the OS RNG: no caller-controlled text reaches the SQL.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let _ = conn.close().await;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        // Drop runs inside the test's runtime; use a private one on its own thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Creates a user named `name` (email `<name>@example.com`) in `groups`.
pub async fn user_in(store: &Store, name: &str, groups: &[GroupId]) -> UserId {
    store
        .insert_user(
            &NewUser {
                username: Username::parse(name).unwrap(),
                email: Some(Email::parse(&format!("{name}@example.com")).unwrap()),
                password_hash: Some(format!("hash-of-{name}")),
                auth_source: "local",
                group_ids: groups.to_vec(),
            },
            T0,
        )
        .await
        .unwrap()
}

/// Creates a user without groups.
pub async fn user(store: &Store, name: &str) -> UserId {
    user_in(store, name, &[]).await
}

/// Creates a group (`system` ones carry no stored permissions).
pub async fn group(
    store: &Store,
    name: &str,
    system: bool,
    permissions: &[&'static str],
) -> GroupId {
    store
        .insert_group(
            &NewGroup {
                name: GroupName::parse(name).unwrap(),
                description: format!("about {name}"),
                is_system: system,
                scope: None,
                permissions: permissions.to_vec(),
            },
            T0,
        )
        .await
        .unwrap()
}

/// The system Administrators group, which the last-administrator guard counts.
pub async fn admins_group(store: &Store) -> GroupId {
    group(store, "Administrators", true, &[]).await
}

/// The system Administrators group with one member `admin`: the usual farm.
pub async fn with_admin(store: &Store) -> (GroupId, UserId) {
    let g = admins_group(store).await;
    let u = user_in(store, "admin", &[g]).await;
    assert_eq!(store.count_administrators(&AdminCheck).await.unwrap(), 1);
    (g, u)
}

/// A session for `user` with this token digest, expiring a day after [`T0`].
pub async fn session(store: &Store, user: UserId, digest: &str) -> pw_domain::SessionId {
    store
        .insert_session(&NewSession {
            user_id: user,
            token_digest: digest,
            now: T0,
            expires_at: T0 + 86_400_000,
            ip: Some("192.0.2.1"),
            user_agent: Some("test"),
        })
        .await
        .unwrap()
}

/// A printer named `name` with serial `serial`, optionally at a location.
pub async fn printer_at(
    store: &Store,
    name: &str,
    serial: &str,
    location: Option<pw_domain::LocationId>,
) -> PrinterId {
    store
        .insert_printer(
            &NewPrinter {
                name,
                serial,
                host: "192.0.2.10",
                mqtt_port: 8883,
                ftps_port: 990,
                camera_port: 6000,
                model: "X1C",
                location_id: location,
                access_code: "sealed:code",
                created_by: None,
            },
            T0,
        )
        .await
        .unwrap()
}

/// A printer without a location.
pub async fn printer(store: &Store, name: &str, serial: &str) -> PrinterId {
    printer_at(store, name, serial, None).await
}

/// Runs `n` copies of `attempt` at once (released together by a barrier) and returns how many
/// reported success.
pub async fn race<F, Fut>(n: usize, attempt: F) -> usize
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let barrier = barrier.clone();
        let fut = attempt();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap() {
            wins += 1;
        }
    }
    wins
}
