use super::*;
use consortia_sdk::testing::{self, invoke};
use consortia_sdk::Value;

const ALICE: [u8; 20] = [0xa1; 20];
const BOB: [u8; 20] = [0xb0; 20];
const REGULATOR: [u8; 20] = [0x5e; 20];

fn key(id: &str, kind: &str, len: usize) -> Value {
    let mut k = vec![7u8; len];
    if len == 65 {
        k[0] = 4;
    }
    Value::map().with("id", id).with("type", kind).with("public_key", k)
}

fn create_args(did: &str) -> Value {
    Value::map()
        .with("did", did)
        .with("verification_methods", vec![key("key-1", "Ed25519VerificationKey2020", 32), key("kx-1", "X25519KeyAgreementKey2020", 32)])
        .with("authentication", vec![Value::from("key-1")])
        .with("key_agreement", vec![Value::from("kx-1")])
        .with("services", vec![Value::map().with("id", "worker").with("type", "PrivacyWorker").with("endpoint", "https://a.example/worker")])
}

fn setup() {
    testing::reset();
    testing::set_block(10, 1_000_000);
    testing::set_caller(ALICE);
}

fn did_of(name: &str) -> String {
    format!("did:consortia:{}", name)
}

#[test]
fn create_resolve_update_deactivate() {
    setup();
    let a = did_of("alice");
    assert_eq!(invoke(METHODS, "create", create_args(&a)).unwrap().get("version"), Some(&Value::from(1u8)));
    let doc = invoke(METHODS, "resolve", Value::map().with("did", a.as_str())).unwrap();
    assert_eq!(doc.get("controller").and_then(|v| v.as_bin()), Some(&ALICE[..]));
    assert_eq!(doc.get("verification_methods").and_then(|v| v.as_array()).map(|a| a.len()), Some(2));
    assert_eq!(testing::events()[0].0, "DIDCreated");

    let services = vec![Value::map().with("id", "api").with("type", "DataApi").with("endpoint", "https://a.example/api")];
    let out = invoke(METHODS, "update", Value::map().with("did", a.as_str()).with("services", services)).unwrap();
    assert_eq!(out.get("version"), Some(&Value::from(2u8)));
    let doc = invoke(METHODS, "resolve", Value::map().with("did", a.as_str())).unwrap();
    assert_eq!(doc.get("services").and_then(|v| v.as_array()).and_then(|a| a[0].get("id")).and_then(|v| v.as_str()), Some("api"));
    assert_eq!(doc.get("authentication").and_then(|v| v.as_array()).map(|a| a.len()), Some(1));

    let controls = |who: [u8; 20]| invoke(METHODS, "controls", Value::map().with("did", a.as_str()).with("address", who)).unwrap();
    assert_eq!(controls(ALICE), Value::Bool(true));
    assert_eq!(controls(BOB), Value::Bool(false));
    invoke(METHODS, "deactivate", Value::map().with("did", a.as_str())).unwrap();
    assert_eq!(controls(ALICE), Value::Bool(false));
    let err = invoke(METHODS, "update", Value::map().with("did", a.as_str()).with("controller", BOB)).unwrap_err();
    assert!(err.contains("deactivated"), "{}", err);
    let doc = invoke(METHODS, "resolve", Value::map().with("did", a.as_str())).unwrap();
    assert_eq!(doc.get("deactivated"), Some(&Value::Bool(true)));
}

#[test]
fn only_the_controller_changes_a_did_and_transfer_moves_control() {
    setup();
    let a = did_of("alice");
    invoke(METHODS, "create", create_args(&a)).unwrap();
    testing::set_caller(BOB);
    let before = testing::with_env(|e| e.storage.clone());
    for (method, args) in [
        ("update", Value::map().with("did", a.as_str()).with("controller", BOB)),
        ("deactivate", Value::map().with("did", a.as_str())),
    ] {
        let err = invoke(METHODS, method, args).unwrap_err();
        assert!(err.contains("only the controller"), "{}", err);
    }
    assert_eq!(testing::with_env(|e| e.storage.clone()), before);
    testing::set_caller(ALICE);
    invoke(METHODS, "update", Value::map().with("did", a.as_str()).with("controller", BOB)).unwrap();
    assert!(invoke(METHODS, "update", Value::map().with("did", a.as_str()).with("controller", ALICE)).is_err());
    let mine = |who: [u8; 20]| invoke(METHODS, "by_controller", Value::map().with("controller", who)).unwrap();
    assert_eq!(mine(BOB).get("items").and_then(|v| v.as_array()).map(|a| a.len()), Some(1));
    assert_eq!(mine(ALICE).get("items").and_then(|v| v.as_array()).map(|a| a.len()), Some(0));
}

#[test]
fn malformed_documents_are_refused() {
    setup();
    let a = did_of("alice");
    let bad = [
        (create_args("did:other:x"), "must start with"),
        (create_args("did:consortia:has space"), "may only contain"),
        (create_args(&a).with("verification_methods", Vec::<Value>::new()), "at least one verification method"),
        (create_args(&a).with("verification_methods", vec![key("key-1", "RsaKey", 32)]), "unknown verification method type"),
        (create_args(&a).with("verification_methods", vec![key("key-1", "Ed25519VerificationKey2020", 31)]), "is 32 bytes"),
        (create_args(&a).with("verification_methods", vec![key("key-1", "SM2VerificationKey", 65).with("public_key", vec![2u8; 65])]), "uncompressed"),
        (create_args(&a).with("verification_methods", vec![key("key-1", "Ed25519VerificationKey2020", 32), key("key-1", "Ed25519VerificationKey2020", 32)]), "used twice"),
        (create_args(&a).with("authentication", vec![Value::from("kx-1")]), "cannot be used for authentication"),
        (create_args(&a).with("authentication", vec![Value::from("nope")]), "unknown verification method"),
        (create_args(&a).with("authentication", Vec::<Value>::new()), "at least one authentication"),
        (create_args(&a).with("key_agreement", vec![Value::from("key-1")]), "cannot be used for key agreement"),
        (create_args(&a).with("services", vec![Value::map().with("id", "s").with("type", "T")]), "needs a string 'endpoint'"),
        (create_args(&a).with("services", "x"), "must be an array"),
        (create_args(&a).with("controller", vec![1u8; 3]), "20-byte address"),
    ];
    for (args, message) in bad.iter() {
        let err = invoke(METHODS, "create", args.clone()).unwrap_err();
        assert!(err.contains(message), "expected '{}' in '{}'", message, err);
    }
    assert_eq!(invoke(METHODS, "count", Value::map()).unwrap(), Value::from(0u8));
    invoke(METHODS, "create", create_args(&a)).unwrap();
    assert!(invoke(METHODS, "create", create_args(&a)).unwrap_err().contains("already exists"));
    assert!(invoke(METHODS, "update", Value::map().with("did", a.as_str())).unwrap_err().contains("nothing to update"));
    let sm = create_args(&did_of("sm")).with("verification_methods", vec![key("k", "SM2VerificationKey", 65)]).with("authentication", vec![Value::from("k")]).with("key_agreement", vec![Value::from("k")]);
    invoke(METHODS, "create", sm).unwrap();
    assert!(testing::events().len() == 2);
}

fn issuer_setup() -> (String, String) {
    setup();
    let (i, s) = (did_of("issuer"), did_of("subject"));
    invoke(METHODS, "create", create_args(&i)).unwrap();
    testing::set_caller(BOB);
    invoke(METHODS, "create", create_args(&s)).unwrap();
    testing::set_caller(ALICE);
    (i, s)
}

fn cred(hash: u8, issuer: &str, subject: &str) -> Value {
    Value::map().with("hash", vec![hash; 32]).with("issuer", issuer).with("subject", subject).with("schema", "org-license")
}

#[test]
fn issuers_need_the_role_and_credentials_have_a_status() {
    let (i, s) = issuer_setup();
    let err = invoke(METHODS, "register_issuer", Value::map().with("did", i.as_str())).unwrap_err();
    assert!(err.contains("credential_issuer role"), "{}", err);
    testing::grant_role("credential_issuer", ALICE);
    assert!(invoke(METHODS, "issue_credential", cred(1, &i, &s)).unwrap_err().contains("not a registered credential issuer"));
    invoke(METHODS, "register_issuer", Value::map().with("did", i.as_str()).with("name", "Licensing Office")).unwrap();
    invoke(METHODS, "issue_credential", cred(1, &i, &s).with("expires_ms", 2_000_000u64)).unwrap();
    let status = |h: u8| invoke(METHODS, "credential_status", Value::map().with("hash", vec![h; 32])).unwrap().get("status").cloned().unwrap();
    assert_eq!(status(1), Value::from("valid"));
    assert_eq!(status(9), Value::from("unknown"));
    let has = |schema: &str| invoke(METHODS, "has_valid_credential", Value::map().with("subject", s.as_str()).with("schema", schema)).unwrap();
    assert_eq!(has("org-license"), Value::Bool(true));
    assert_eq!(has("other"), Value::Bool(false));
    testing::set_block(11, 2_000_000);
    assert_eq!(status(1), Value::from("expired"));
    assert_eq!(has("org-license"), Value::Bool(false));

    invoke(METHODS, "issue_credential", cred(2, &i, &s)).unwrap();
    assert!(invoke(METHODS, "issue_credential", cred(2, &i, &s)).unwrap_err().contains("already anchored"));
    testing::set_caller(BOB);
    assert!(invoke(METHODS, "revoke_credential", Value::map().with("hash", vec![2u8; 32])).unwrap_err().contains("only the issuer"));
    assert!(invoke(METHODS, "issue_credential", cred(3, &i, &s)).unwrap_err().contains("only the controller"));
    testing::set_caller(REGULATOR);
    testing::grant_role("regulator", REGULATOR);
    invoke(METHODS, "revoke_credential", Value::map().with("hash", vec![2u8; 32]).with("reason", "licence withdrawn")).unwrap();
    assert_eq!(status(2), Value::from("revoked"));
    assert!(invoke(METHODS, "revoke_credential", Value::map().with("hash", vec![2u8; 32])).unwrap_err().contains("already revoked"));
    let list = invoke(METHODS, "credentials_of", Value::map().with("subject", s.as_str())).unwrap();
    assert_eq!(list.get("total").and_then(|v| v.as_u64()), Some(2));
}

#[test]
fn removed_issuers_and_deactivated_subjects_invalidate_credentials() {
    let (i, s) = issuer_setup();
    testing::grant_role("credential_issuer", ALICE);
    invoke(METHODS, "register_issuer", Value::map().with("did", i.as_str())).unwrap();
    assert!(invoke(METHODS, "register_issuer", Value::map().with("did", i.as_str())).unwrap_err().contains("already a registered"));
    invoke(METHODS, "issue_credential", cred(1, &i, &s)).unwrap();
    let status = || invoke(METHODS, "credential_status", Value::map().with("hash", vec![1u8; 32])).unwrap().get("status").cloned().unwrap();
    testing::set_caller(BOB);
    assert!(invoke(METHODS, "remove_issuer", Value::map().with("did", i.as_str())).unwrap_err().contains("controller or a regulator"));
    invoke(METHODS, "deactivate", Value::map().with("did", s.as_str())).unwrap();
    assert_eq!(status(), Value::from("subject_deactivated"));
    testing::set_caller(ALICE);
    assert!(invoke(METHODS, "issue_credential", cred(2, &i, &s)).unwrap_err().contains("is deactivated"));
    invoke(METHODS, "remove_issuer", Value::map().with("did", i.as_str())).unwrap();
    assert_eq!(status(), Value::from("issuer_removed"));
    assert!(invoke(METHODS, "issue_credential", cred(3, &i, &i)).unwrap_err().contains("not a registered"));
}

#[test]
fn bad_credential_arguments_are_refused() {
    let (i, s) = issuer_setup();
    testing::grant_role("credential_issuer", ALICE);
    invoke(METHODS, "register_issuer", Value::map().with("did", i.as_str())).unwrap();
    let bad = [
        (cred(1, &i, &s).with("hash", vec![1u8; 3]), "16 to 64 byte hash"),
        (cred(1, &i, &s).with("schema", ""), "schema must be 1 to"),
        (cred(1, &i, &s).with("expires_ms", 5u8), "is not after the block time"),
        (cred(1, &i, "did:consortia:nobody"), "not found"),
        (cred(1, &i, &s).with("subject", 5u8), "must be a string"),
    ];
    for (args, message) in bad.iter() {
        let err = invoke(METHODS, "issue_credential", args.clone()).unwrap_err();
        assert!(err.contains(message), "expected '{}' in '{}'", message, err);
    }
    assert!(invoke(METHODS, "credentials_of", Value::map().with("subject", s.as_str()).with("limit", 0u8)).is_err());
}
