//! A fresh migrated store per test on the backend `PRINTWARDEN_TEST_DB` selects, and
//! builders for the rows most tests need (users, the system Administrators group, printers).

use std::sync::Arc;

use pw_domain::{Email, GroupId, GroupName, PrinterId, UserId, Username};
use pw_store::{AdminCheck, Backend, NewGroup, NewPrinter, NewSession, NewUser, Store};
use pw_testdb::{PgDatabase, TestDb};

/// A base time for rows (unix ms); tests move relative to it.
pub const T0: i64 = 1_700_000_000_000;

/// A store on a database that lives as long as this value.
pub struct Db {
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

impl Db {
    /// The PostgreSQL database's URL (none on SQLite): for a test that changes the schema
    /// behind the store's back, or opens a second connection of its own (a lock another
    /// claimer holds).
    pub fn pg_url(&self) -> Option<&str> {
        self._pg.as_ref().map(|pg| pg.url.as_str())
    }
}

impl std::ops::Deref for Db {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

/// The backend the tests run on: `PRINTWARDEN_TEST_DB=postgres` or SQLite.
pub fn backend() -> Backend {
    match TestDb::from_env() {
        TestDb::Postgres => Backend::Postgres,
        TestDb::Sqlite => Backend::Sqlite,
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
            strength: pw_domain::SignInStrength::Password,
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
