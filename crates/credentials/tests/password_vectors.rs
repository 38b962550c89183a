//! Imported-hash compatibility: hashes produced by independent implementations (passlib,
//! hashlib.scrypt, the `bcrypt` package, argon2-cffi — see scripts/vectors/passwords.py) verify
//! with our code, wrong passwords do not, and only argon2id at our parameters needs no rehash.

use pw_credentials::password::{Verified, verify_password};

#[test]
fn vectors_from_independent_implementations_verify() {
    let text = include_str!("data/password_vectors.json");
    let doc: serde_json::Value = serde_json::from_str(text).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for v in vectors {
        let (kind, password, hash) = (
            v["kind"].as_str().unwrap(),
            v["password"].as_str().unwrap(),
            v["hash"].as_str().unwrap(),
        );
        kinds.insert(kind);
        let rehash = kind != "argon2id";
        assert_eq!(
            verify_password(password, hash),
            Verified::Valid { rehash },
            "{kind}: {hash}"
        );
        assert_eq!(
            verify_password(&format!("{password}!"), hash),
            Verified::Invalid,
            "{kind} wrong password"
        );
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["argon2id", "bcrypt", "pbkdf2-sha256", "scrypt"]
    );
}
