//! Session lifetime and the principal cache, with a hand-moved clock (no sleeping): idle and
//! absolute expiry, authenticated requests served without the database, revocation events.
#![expect(clippy::unwrap_used, reason = "tests fail fast with the cause")]

use std::sync::Arc;
use std::time::Duration;

use pw_app::{
    App, AppConfig, ManualClock, Presented, RequestMeta, Revocation, SecretString, SetupRequest,
};
use pw_policy::Principal;
use pw_store::Store;

const DAY: i64 = 86_400_000;

struct Fixture {
    app: App,
    clock: Arc<ManualClock>,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let mut config = AppConfig::new("test");
    config.session_idle = Duration::from_secs(7 * 86_400);
    config.session_absolute = Duration::from_secs(30 * 86_400);
    let app = App::start_with_clock(store.clone(), config, clock.clone())
        .await
        .unwrap();
    Fixture {
        app,
        clock,
        store,
        _dir: dir,
    }
}

async fn signed_in(f: &Fixture) -> String {
    let code = f.app.issue_setup_code([7u8; 12]).await.unwrap().unwrap();
    let outcome = f
        .app
        .setup(
            SetupRequest {
                setup_code: code,
                username: "root".into(),
                password: SecretString::new("long enough pw".into()),
                email: None,
            },
            RequestMeta::default(),
        )
        .await
        .unwrap();
    outcome.token.expose().to_owned()
}

async fn principal(f: &Fixture, token: &str) -> Principal {
    f.app
        .resolve_principal(Presented {
            session: Some(token),
            api_key: None,
            ..Presented::default()
        })
        .await
}

#[tokio::test]
async fn idle_sessions_end_and_activity_keeps_them_alive() {
    let f = fixture().await;
    let token = signed_in(&f).await;
    assert!(matches!(principal(&f, &token).await, Principal::User(_)));
    f.clock.advance(6 * DAY);
    assert!(
        matches!(principal(&f, &token).await, Principal::User(_)),
        "used within the idle window"
    );
    f.clock.advance(6 * DAY);
    assert!(
        matches!(principal(&f, &token).await, Principal::User(_)),
        "activity moved the idle deadline"
    );
    f.clock.advance(7 * DAY);
    assert_eq!(
        principal(&f, &token).await,
        Principal::Anonymous,
        "idle for 7 days"
    );
}

#[tokio::test]
async fn the_sweep_deletes_only_expired_sessions() {
    let f = fixture().await;
    let old = signed_in(&f).await;
    f.clock.advance(8 * DAY);
    assert_eq!(
        f.app.sweep_expired_sessions().await.unwrap(),
        1,
        "idle too long"
    );
    let fresh = f
        .app
        .login(
            "root",
            &SecretString::new("long enough pw".into()),
            None,
            RequestMeta::default(),
        )
        .await;
    assert!(fresh.is_ok());
    assert_eq!(
        f.app.sweep_expired_sessions().await.unwrap(),
        0,
        "a live session stays"
    );
    assert!(matches!(principal(&f, &old).await, Principal::Anonymous));
}

#[tokio::test]
async fn a_second_instance_picks_up_the_auth_switch_on_reload() {
    let f = fixture().await;
    let token = signed_in(&f).await;
    let other = App::start_with_clock(f.store.clone(), AppConfig::new("test"), f.clock.clone())
        .await
        .unwrap();
    let admin = f.app.resolve(
        Presented {
            session: Some(&token),
            api_key: None,
            ..Presented::default()
        },
        RequestMeta::default(),
    );
    f.app.set_auth_enabled(&admin.await, false).await.unwrap();
    assert!(other.auth_enabled(), "not yet re-read");
    other.reload_settings().await.unwrap();
    assert!(!other.auth_enabled());
    let anonymous = other
        .resolve_principal(Presented {
            session: None,
            api_key: None,
            ..Presented::default()
        })
        .await;
    assert!(matches!(anonymous, Principal::AuthDisabled));
}

#[tokio::test]
async fn sessions_end_at_the_absolute_limit_however_active() {
    let f = fixture().await;
    let token = signed_in(&f).await;
    for _ in 0..4 {
        f.clock.advance(7 * DAY - 1);
        assert!(matches!(principal(&f, &token).await, Principal::User(_)));
    }
    f.clock.advance(2 * DAY + 4);
    assert_eq!(
        principal(&f, &token).await,
        Principal::Anonymous,
        "30 days after sign-in"
    );
}

#[tokio::test]
async fn the_hot_path_does_not_touch_the_database() {
    let f = fixture().await;
    let token = signed_in(&f).await;
    assert!(matches!(principal(&f, &token).await, Principal::User(_)));
    // With the pool closed every query fails: a cached principal still resolves...
    f.store.close().await;
    assert!(
        matches!(principal(&f, &token).await, Principal::User(_)),
        "served from memory"
    );
    // ...until it is due for revalidation, which then fails closed.
    f.clock.advance(6_000);
    assert_eq!(principal(&f, &token).await, Principal::Anonymous);
}

#[tokio::test]
async fn junk_and_unknown_tokens_are_anonymous() {
    let f = fixture().await;
    signed_in(&f).await;
    for junk in ["", "x", "not a token", &"A".repeat(43)] {
        assert_eq!(principal(&f, junk).await, Principal::Anonymous, "{junk:?}");
    }
}

#[tokio::test]
async fn a_password_change_publishes_a_revocation() {
    let f = fixture().await;
    let token = signed_in(&f).await;
    let mut events = f.app.subscribe_revocations();
    let actor = f
        .app
        .resolve(
            Presented {
                session: Some(&token),
                api_key: None,
                ..Presented::default()
            },
            RequestMeta::default(),
        )
        .await;
    let user = actor.user_id.unwrap();
    f.app
        .change_password(
            &actor,
            Some(&SecretString::new("long enough pw".into())),
            &SecretString::new("another long pw".into()),
        )
        .await
        .unwrap();
    assert_eq!(events.try_recv().unwrap(), Revocation::User(user));
}
