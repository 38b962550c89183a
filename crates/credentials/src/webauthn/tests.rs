//! Registration and assertion against the software authenticator: the happy paths for both
//! algorithms and every refusal, plus properties (no input makes the parser panic; any change
//! to a signed byte is refused).

use proptest::prelude::*;

use super::soft::SoftAuthenticator;
use super::*;

const CHALLENGE: [u8; 32] = [7; 32];

fn rp() -> RelyingParty {
    RelyingParty::from_origin("https://farm.example:3443").unwrap_or_else(|| unreachable!())
}

fn registered(auth: &mut SoftAuthenticator) -> NewCredential {
    let rp = rp();
    let c = auth.create(&rp.id, &rp.origin, &CHALLENGE, b"handle");
    verify_registration(
        &rp,
        &CHALLENGE,
        &c.client_data_json,
        &c.attestation_object,
        true,
    )
    .unwrap()
}

fn assert_with(
    auth: &mut SoftAuthenticator,
    cred: &NewCredential,
    stored_count: u32,
) -> Result<Assertion, WebauthnError> {
    let rp = rp();
    let a = auth.get(&rp.id, &rp.origin, &CHALLENGE).unwrap();
    verify_assertion(
        &rp,
        &CHALLENGE,
        StoredCredential {
            public_key: &cred.public_key,
            sign_count: stored_count,
            backup_eligible: cred.backup_eligible,
        },
        &a.client_data_json,
        &a.authenticator_data,
        &a.signature,
        true,
    )
}

#[test]
fn rp_from_origin() {
    let rp = rp();
    assert_eq!(rp.id, "farm.example");
    assert_eq!(rp.origin, "https://farm.example:3443");
    assert_eq!(
        RelyingParty::from_origin("https://localhost/").map(|r| r.id),
        Some("localhost".into())
    );
    assert!(RelyingParty::from_origin("https://127.0.0.1:3443").is_none());
    assert!(RelyingParty::from_origin("https://[::1]:3443").is_none());
    assert!(RelyingParty::from_origin("https://farm.example/path").is_none());
    assert!(RelyingParty::from_origin("ftp://farm.example").is_none());
}

#[test]
fn es256_and_ed25519_register_and_sign_in() {
    for mut auth in [
        SoftAuthenticator::es256().unwrap(),
        SoftAuthenticator::ed25519().unwrap(),
    ] {
        let cred = registered(&mut auth);
        assert_eq!(cred.id, auth.credential_id);
        assert!(cred.backup_eligible && !cred.backup_state && cred.user_verified);
        let a = assert_with(&mut auth, &cred, 0).unwrap();
        assert_eq!(a.sign_count, 1);
        let a = assert_with(&mut auth, &cred, a.sign_count).unwrap();
        assert_eq!(a.sign_count, 2);
    }
}

#[test]
fn counter_backwards_is_refused_and_zero_zero_allowed() {
    let mut auth = SoftAuthenticator::es256().unwrap();
    let cred = registered(&mut auth);
    assert_with(&mut auth, &cred, 0).unwrap();
    // A clone still at counter 0 answers 1 while we stored 5.
    auth.counter = 0;
    assert_eq!(
        assert_with(&mut auth, &cred, 5),
        Err(WebauthnError::Counter)
    );
    // The same value again is refused too.
    auth.counter = 4;
    assert_eq!(
        assert_with(&mut auth, &cred, 5),
        Err(WebauthnError::Counter)
    );
    // An authenticator without a counter (always 0).
    auth.counter = u32::MAX;
    assert!(assert_with(&mut auth, &cred, 0).is_ok());
}

#[test]
fn wrong_origin_rp_challenge_type_flags_are_refused() {
    let rp = rp();
    let mut auth = SoftAuthenticator::es256().unwrap();
    let c = auth.create(&rp.id, "https://evil.example", &CHALLENGE, b"h");
    assert_eq!(
        verify_registration(
            &rp,
            &CHALLENGE,
            &c.client_data_json,
            &c.attestation_object,
            true
        ),
        Err(WebauthnError::Origin)
    );
    let c = auth.create("evil.example", &rp.origin, &CHALLENGE, b"h");
    assert_eq!(
        verify_registration(
            &rp,
            &CHALLENGE,
            &c.client_data_json,
            &c.attestation_object,
            true
        ),
        Err(WebauthnError::RpId)
    );
    let c = auth.create(&rp.id, &rp.origin, &[8; 32], b"h");
    assert_eq!(
        verify_registration(
            &rp,
            &CHALLENGE,
            &c.client_data_json,
            &c.attestation_object,
            true
        ),
        Err(WebauthnError::Challenge)
    );
    let cred = registered(&mut auth);
    let a = auth.get(&rp.id, &rp.origin, &CHALLENGE).unwrap();
    // An assertion offered as a registration: wrong type.
    assert_eq!(
        verify_registration(
            &rp,
            &CHALLENGE,
            &a.client_data_json,
            &c.attestation_object,
            true
        ),
        Err(WebauthnError::WrongType)
    );
    auth.verify_user = false;
    assert_eq!(
        assert_with(&mut auth, &cred, 1),
        Err(WebauthnError::UserNotVerified)
    );
    auth.user_present = false;
    auth.verify_user = true;
    assert_eq!(
        assert_with(&mut auth, &cred, 2),
        Err(WebauthnError::UserNotPresent)
    );
    auth.user_present = true;
    auth.backup_eligible = false;
    assert_eq!(
        assert_with(&mut auth, &cred, 3),
        Err(WebauthnError::BackupEligibility)
    );
}

#[test]
fn another_credentials_key_does_not_verify() {
    let mut mine = SoftAuthenticator::es256().unwrap();
    let mut other = SoftAuthenticator::es256().unwrap();
    let cred = registered(&mut mine);
    assert_eq!(
        assert_with(&mut other, &cred, 0),
        Err(WebauthnError::Signature)
    );
}

#[test]
fn unsupported_algorithm_is_refused() {
    // kty EC2 with ES384.
    let key = soft::map(&[
        (soft::int(1), soft::int(2)),
        (soft::int(3), soft::int(-35)),
        (soft::int(-1), soft::int(2)),
    ]);
    assert!(matches!(
        PublicKey::from_cose(&key),
        Err(WebauthnError::Algorithm)
    ));
}

#[test]
fn cbor_limits() {
    // Nested arrays past the depth limit.
    let deep = [0x81u8; 20];
    assert!(cbor::decode(&deep).is_err());
    // A byte string claiming 4 GiB.
    assert!(cbor::decode(&[0x5a, 0xff, 0xff, 0xff, 0xff]).is_err());
    // An array claiming 2^64-1 items.
    assert!(cbor::decode(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
    // Indefinite lengths are refused.
    assert!(cbor::decode(&[0x5f, 0x41, 0x00, 0xff]).is_err());
    assert_eq!(
        cbor::decode(&[0x39, 0x01, 0x00]).map(|(v, _)| v),
        Ok(cbor::Value::Int(-257))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes never panic any parser.
    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = cbor::decode(&bytes);
        let _ = AuthData::parse(&bytes);
        let _ = PublicKey::from_cose(&bytes);
        let _ = verify_registration(&rp(), &CHALLENGE, &bytes, &bytes, true);
    }

    /// Any single changed bit in the signed data, the client data or the signature is refused.
    #[test]
    fn any_flipped_bit_is_refused(which in 0usize..3, index in any::<prop::sample::Index>(), bit in 0u8..8) {
        let rp = rp();
        let mut auth = SoftAuthenticator::ed25519().unwrap();
        let cred = registered(&mut auth);
        let mut a = auth.get(&rp.id, &rp.origin, &CHALLENGE).unwrap();
        let target = match which {
            0 => &mut a.authenticator_data,
            1 => &mut a.client_data_json,
            _ => &mut a.signature,
        };
        let i = index.index(target.len());
        target[i] ^= 1 << bit;
        let result = verify_assertion(
            &rp,
            &CHALLENGE,
            StoredCredential { public_key: &cred.public_key, sign_count: 0, backup_eligible: true },
            &a.client_data_json,
            &a.authenticator_data,
            &a.signature,
            false,
        );
        prop_assert!(result.is_err());
    }

    /// Counters: accepted exactly when they move forward (or both are 0).
    #[test]
    fn counter_rule(stored in 0u32..10, next in 0u32..10) {
        let rp = rp();
        let mut auth = SoftAuthenticator::ed25519().unwrap();
        let cred = registered(&mut auth);
        auth.counter = next.wrapping_sub(1);
        let a = auth.get(&rp.id, &rp.origin, &CHALLENGE).unwrap();
        let result = verify_assertion(
            &rp,
            &CHALLENGE,
            StoredCredential { public_key: &cred.public_key, sign_count: stored, backup_eligible: true },
            &a.client_data_json,
            &a.authenticator_data,
            &a.signature,
            true,
        );
        prop_assert_eq!(result.is_ok(), next > stored || (next == 0 && stored == 0));
    }
}
