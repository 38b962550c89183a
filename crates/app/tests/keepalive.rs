//! The supervisor's keep-alive against a simulated printer, on tokio's paused clock (minutes of
//! simulated time pass in moments, no wall-clock waits): an idle P1S, which publishes nothing
//! while nothing changes, keeps its one MQTT session; a printer whose broker stops answering
//! PINGREQ is noticed within 1.5 × keep-alive and reconnected, and the drop shows in the
//! printer's view.
//!
//! The clock is paused only while the printer link alone is exercised: the database pool's
//! timeouts run on the same clock, and an auto-advancing clock would fire them while a query
//! runs on SQLite's thread.
#![expect(clippy::unwrap_used, reason = "tests fail fast with the cause")]

use std::sync::Arc;
use std::time::Duration;

use pw_app::{Actor, App, AppConfig, CreatePrinter, ManualClock};
use pw_domain::PrinterId;
use pw_simulator::{Farm, Model, Options};
use pw_store::Store;
use pw_testdb::{PgDatabase, TestDb};
use tokio::time::Instant;

struct Fixture {
    app: App,
    farm: Farm,
    id: PrinterId,
    _pg: Option<PgDatabase>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::new(1, &dir.path().join("sim"));
    options.models = vec![Model::P1S];
    let farm = Farm::start(options).await.unwrap();
    // The backend `PRINTWARDEN_TEST_DB` selects.
    let (url, pg) = match TestDb::from_env() {
        TestDb::Sqlite => (
            format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display()),
            None,
        ),
        TestDb::Postgres => {
            let pg = PgDatabase::create().await;
            (pg.url.clone(), Some(pg))
        }
    };
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let app = App::start_with_clock(store, AppConfig::new("test"), clock)
        .await
        .unwrap();
    let info = &farm.printers[0].info;
    let input: CreatePrinter = serde_json::from_value(serde_json::json!({
        "name": "quiet P1S", "serial": info.serial, "host": info.host, "model": "P1S",
        "mqtt_port": info.mqtt_port, "ftps_port": info.ftps_port,
        "camera_port": info.camera_port, "access_code": info.access_code,
    }))
    .unwrap();
    let id = app
        .create_printer(&Actor::system(), input)
        .await
        .unwrap()
        .id;
    Fixture {
        app,
        farm,
        id,
        _pg: pg,
        _dir: dir,
    }
}

impl Fixture {
    /// Sessions the simulated printer accepted (right access code) so far.
    fn accepted(&self) -> usize {
        self.farm.printers[0]
            .connects()
            .iter()
            .filter(|c| c.accepted)
            .count()
    }

    /// Waits (in small steps of the runtime's clock, paused or not) until `done` holds; false
    /// after `limit`.
    async fn wait(&self, limit: Duration, done: impl Fn(&Self) -> bool) -> bool {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if done(self) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        done(self)
    }

    async fn online(&self) -> bool {
        let view = self
            .app
            .get_printer(&Actor::system(), self.id)
            .await
            .unwrap();
        view.connection == pw_app::Connection::Online
    }
}

#[tokio::test]
async fn an_idle_p1s_keeps_one_session_for_ten_minutes_of_silence() {
    let f = fixture().await;
    assert!(
        f.wait(Duration::from_secs(30), |f| f.farm.printers[0].sessions()
            == 1)
            .await,
        "the supervisor connects"
    );
    assert_eq!(f.accepted(), 1);

    tokio::time::pause();
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(start.elapsed() >= Duration::from_secs(600));
    tokio::time::resume();

    assert_eq!(
        f.accepted(),
        1,
        "ten silent minutes are not a dead connection: no reconnect"
    );
    assert_eq!(
        f.farm.printers[0].sessions(),
        1,
        "the one session is still open"
    );
    assert!(f.online().await);
    let view = f.app.get_printer(&Actor::system(), f.id).await.unwrap();
    assert_eq!(view.connection_drops_last_hour, 0);
    assert!(
        view.status.is_some(),
        "the full status from connecting (and the slow pushall) is there"
    );
}

#[tokio::test]
async fn a_printer_that_stops_answering_pings_is_reconnected_within_the_bound() {
    let f = fixture().await;
    assert!(
        f.wait(Duration::from_secs(30), |f| f.farm.printers[0].sessions()
            == 1)
            .await
    );
    assert_eq!(f.accepted(), 1);

    tokio::time::pause();
    f.farm.printers[0].set_behaviour(|b| b.answers_pings = false);
    let hung = Instant::now();
    // Noticed at most 1.5 × keep-alive (30 s) after the printer's last packet: the session is
    // closed by the client, not by the printer.
    let bound = Duration::from_secs(45);
    assert!(
        f.wait(bound, |f| f.farm.printers[0].sessions() == 0).await,
        "a dead link is given up within {bound:?}"
    );
    assert!(
        hung.elapsed() >= Duration::from_secs(15),
        "not before a ping went unanswered for 15 s: {:?}",
        hung.elapsed()
    );
    tokio::time::resume();

    // Reconnected after the first backoff (1 s ± 25 %).
    assert!(
        f.wait(Duration::from_secs(30), |f| f.accepted() == 2).await,
        "the supervisor reconnects"
    );
    let view = f.app.get_printer(&Actor::system(), f.id).await.unwrap();
    assert_eq!(
        view.connection_drops_last_hour, 1,
        "the drop shows on the card"
    );
}
