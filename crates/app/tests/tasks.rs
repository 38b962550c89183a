//! The task registry and what actually runs agree: an application starts exactly the registry's
//! tasks for its stage (with the app, with the server, one supervisor per printer), stops all of
//! them on `stop_tasks`, and nothing long-lived is started with a bare `tokio::spawn`.
#![expect(clippy::unwrap_used, reason = "tests fail fast with the cause")]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use pw_app::{Actor, App, AppConfig, CreatePrinter, ManualClock, Starts, Task};
use pw_store::Store;

async fn app(dir: &Path) -> App {
    let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    App::start_with_clock(store, AppConfig::new("test"), clock)
        .await
        .unwrap()
}

fn printer(n: u32) -> CreatePrinter {
    // Port 1 on loopback refuses at once: the supervisor runs, backing off, without a printer.
    serde_json::from_value(serde_json::json!({
        "name": format!("p{n}"), "serial": format!("01P00A00000099{n}"), "host": "127.0.0.1",
        "mqtt_port": 1, "camera_port": 1, "access_code": "12345678",
    }))
    .unwrap()
}

fn expected(pairs: &[(Task, usize)]) -> BTreeMap<Task, usize> {
    pairs.iter().copied().collect()
}

#[tokio::test]
async fn the_registry_lists_what_runs_and_stop_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let with_app: Vec<Task> = Task::ALL
        .iter()
        .copied()
        .filter(|t| t.starts() == Starts::WithApp)
        .collect();
    assert_eq!(
        app.running_tasks(),
        with_app.iter().map(|t| (*t, 1)).collect(),
        "App::start starts exactly the WithApp tasks"
    );

    for n in 0..2 {
        app.create_printer(&Actor::system(), printer(n))
            .await
            .unwrap();
    }
    app.start_background().await.unwrap();
    let mut want: Vec<(Task, usize)> = Vec::new();
    for task in Task::ALL {
        match task.starts() {
            Starts::WithApp | Starts::WithServer => want.push((*task, 1)),
            // Started on create and restarted (not doubled) by start_background.
            Starts::PerPrinter => want.push((*task, 2)),
            // Camera viewers, the server's TLS renewal and an archive entry's media are not
            // started by the app (no print ran).
            Starts::OnDemand | Starts::WithGeneratedTls | Starts::PerPrint => {}
        }
    }
    // An aborted supervisor counts down once its task is dropped: let the runtime get to it.
    for _ in 0..100 {
        if app.running_tasks() == expected(&want) {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(app.running_tasks(), expected(&want));

    app.stop_tasks().await;
    assert_eq!(app.running_tasks(), BTreeMap::new(), "stop_tasks ends all");
    app.create_printer(&Actor::system(), printer(3))
        .await
        .unwrap();
    for _ in 0..100 {
        if app.running_tasks().is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        app.running_tasks(),
        BTreeMap::new(),
        "a task started after stop_tasks is stopped at once"
    );
}

#[test]
fn every_task_has_a_unique_name_and_a_purpose() {
    let mut names: Vec<&str> = Task::ALL.iter().map(|t| t.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Task::ALL.len());
    for t in Task::ALL {
        assert!(!t.purpose().is_empty() && !t.ends().is_empty(), "{t:?}");
    }
}

/// Long-lived work goes through `App::spawn_task`; a bare `tokio::spawn` is only for per-request
/// fire-and-forget work, at these reviewed places (file, count). A new one is either added here
/// with a reason, or is a registry task.
#[test]
fn bare_spawns_are_only_per_request_work() {
    let allowed: &[(&str, usize, &str)] = &[
        (
            "app/src/auth/sessions/resolve.rs",
            2,
            "record a session's / API key's last use",
        ),
        ("app/src/auth/recovery.rs", 1, "a password-reset request"),
        (
            "app/src/system/backup/download.rs",
            1,
            "one backup download, ended by the request's body being dropped",
        ),
        ("app/src/notify/email/send.rs", 1, "one templated mail"),
        (
            "app/src/notify/webhooks/dispatch.rs",
            2,
            "one delivery, under the dispatcher's semaphore; one webhook's lane, which ends \
             when the registered webhook dispatcher drops it",
        ),
        (
            "app/src/farm/fleet/mod.rs",
            1,
            "bench feature only (never in the server): the idle task of a printer without a session",
        ),
    ];
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found: BTreeMap<String, usize> = BTreeMap::new();
    for root in ["app/src", "server/src"] {
        let mut stack = vec![crates.join(root)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let n = std::fs::read_to_string(&path)
                        .unwrap()
                        .matches("tokio::spawn(")
                        .count();
                    if n > 0 {
                        let rel = path.strip_prefix(&crates).unwrap().display().to_string();
                        found.insert(rel, n);
                    }
                }
            }
        }
    }
    let allowed: BTreeMap<String, usize> = allowed
        .iter()
        .map(|(f, n, _)| ((*f).to_owned(), *n))
        .collect();
    assert_eq!(
        found, allowed,
        "a long-lived task belongs in the registry (core/tasks.rs)"
    );
}
