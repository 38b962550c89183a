//! OpenID Connect storage: a state is taken once (also under a race of 8) and never after
//! expiry; one subject is one account; auto-link without a verified `email` claim is refused
//! by the table itself; an account's last way to sign in survives parallel unlinks.

use pw_store::{OidcProviderWrite, OidcStateRow, StoreError};

use crate::harness::{T0, fresh, race, user};

fn provider<'a>(name: &'a str, auto_link: bool, verified: bool) -> OidcProviderWrite<'a> {
    OidcProviderWrite {
        name,
        name_key: name,
        issuer: "https://idp.example.com",
        client_id: "farm",
        ca_cert_pem: None,
        scopes: "openid email",
        email_claim: "email",
        groups_claim: None,
        group_mappings: "[]",
        require_verified_email: verified,
        auto_create: false,
        auto_link,
        enabled: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_state_is_taken_once_and_not_after_expiry() {
    let db = fresh().await;
    let p = db
        .insert_oidc_provider(&provider("idp", false, true), T0)
        .await
        .unwrap();
    let state = OidcStateRow {
        browser_digest: "b".into(),
        provider_id: p,
        purpose: "sign_in".into(),
        user_id: None,
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        redirect_uri: "https://127.0.0.1/auth/oidc/callback".into(),
    };
    db.insert_oidc_state("s", &state, T0, T0 + 1_000)
        .await
        .unwrap();
    let wins = race(8, || {
        let store = db.store.clone();
        async move { store.take_oidc_state("s", T0 + 1).await.unwrap().is_some() }
    })
    .await;
    assert_eq!(wins, 1);
    assert_eq!(db.take_oidc_state("s", T0 + 1).await.unwrap(), None);
    db.insert_oidc_state("late", &state, T0, T0 + 1_000)
        .await
        .unwrap();
    assert_eq!(db.take_oidc_state("late", T0 + 1_000).await.unwrap(), None);
    db.insert_oidc_state("fresh", &state, T0, T0 + 1_000)
        .await
        .unwrap();
    assert_eq!(db.take_oidc_state("fresh", T0).await.unwrap(), Some(state));
}

#[tokio::test]
async fn auto_link_needs_a_verified_email_claim_in_the_table_too() {
    let db = fresh().await;
    let refused = db
        .insert_oidc_provider(&provider("loose", true, false), T0)
        .await;
    assert!(refused.is_err(), "the CHECK constraint let it in");
    let mut upn = provider("upn", true, true);
    upn.email_claim = "upn";
    let refused = db.insert_oidc_provider(&upn, T0).await;
    assert!(refused.is_err(), "the CHECK constraint let it in");
    db.insert_oidc_provider(&provider("strict", true, true), T0)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_subject_is_one_account_and_the_last_link_stays() {
    let db = fresh().await;
    let a = db
        .insert_oidc_provider(&provider("a", false, true), T0)
        .await
        .unwrap();
    let b = db
        .insert_oidc_provider(&provider("b", false, true), T0)
        .await
        .unwrap();
    let u = user(&db, "u").await;
    let v = user(&db, "v").await;
    db.insert_oidc_link(u, a, "sub-1", None, T0).await.unwrap();
    let taken = db.insert_oidc_link(v, a, "sub-1", None, T0).await;
    assert!(matches!(taken, Err(StoreError::Conflict)), "{taken:?}");
    let twice = db.insert_oidc_link(u, a, "sub-2", None, T0).await;
    assert!(matches!(twice, Err(StoreError::Conflict)), "{twice:?}");
    db.insert_oidc_link(u, b, "sub-9", None, T0).await.unwrap();
    // `u` has a password (the harness's users do): any link may go.
    assert!(db.delete_oidc_link_unless_last(u, b).await.unwrap());
    db.insert_oidc_link(u, b, "sub-9", None, T0).await.unwrap();
    // An account without a password and with two links: of two parallel unlinks, one wins.
    let w = provider_user(&db, "w").await;
    db.insert_oidc_link(w, a, "sub-3", None, T0).await.unwrap();
    db.insert_oidc_link(w, b, "sub-4", None, T0).await.unwrap();
    let (x, y) = tokio::join!(
        db.delete_oidc_link_unless_last(w, a),
        db.delete_oidc_link_unless_last(w, b)
    );
    assert_eq!(
        u8::from(x.unwrap()) + u8::from(y.unwrap()),
        1,
        "exactly one link was removed"
    );
    assert_eq!(db.oidc_links_of(w).await.unwrap().len(), 1);
    let last = db.oidc_links_of(w).await.unwrap()[0].provider_id;
    assert!(!db.delete_oidc_link_unless_last(w, last).await.unwrap());
}

/// A user made by a provider: no password, `auth_source = oidc`.
async fn provider_user(store: &pw_store::Store, name: &str) -> pw_domain::UserId {
    store
        .insert_user(
            &pw_store::NewUser {
                username: pw_domain::Username::parse(name).unwrap(),
                email: None,
                password_hash: None,
                auth_source: "oidc",
                group_ids: Vec::new(),
            },
            T0,
        )
        .await
        .unwrap()
}
