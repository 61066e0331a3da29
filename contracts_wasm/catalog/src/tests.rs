use super::*;
use consortia_sdk::testing::{self, invoke};
use consortia_sdk::{Address, Value};
use std::cell::RefCell;

const DID_CONTRACT: [u8; 20] = [0xd1; 20];
const OWNER: [u8; 20] = [0x0a; 20];
const USER: [u8; 20] = [0x0b; 20];
const PROVIDER: [u8; 20] = [0x0c; 20];
const OWNER_DID: &str = "did:consortia:hospital";
const USER_DID: &str = "did:consortia:bank";

thread_local! {
    /// (did, controller, active) and (subject, schema) the mocked DID contract knows.
    static DIDS: RefCell<Vec<(String, Address, bool)>> = RefCell::new(Vec::new());
    static CREDENTIALS: RefCell<Vec<(String, String)>> = RefCell::new(Vec::new());
    /// Points the mocked points contract lets the payer spend, and the charges it saw.
    static WALLET: RefCell<(u64, Vec<Value>)> = RefCell::new((0, Vec::new()));
}

const POINTS_CONTRACT: [u8; 20] = [0xee; 20];

fn did_mock(addr: Address, method: String, args: Value) -> Result<Value, String> {
    if addr == POINTS_CONTRACT {
        assert_eq!(method, "charge_use");
        let amount = args.get("amount").and_then(|v| v.as_u64()).unwrap();
        return WALLET.with(|w| {
            let mut w = w.borrow_mut();
            if w.0 < amount {
                return Err(format!("insufficient points: has {}, needs {}", w.0, amount));
            }
            w.0 -= amount;
            w.1.push(args.clone());
            Ok(Value::map())
        });
    }
    assert_eq!(addr, DID_CONTRACT, "the catalog calls the DID contract it was given");
    let s = |k: &str| args.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    match method.as_str() {
        "controls" => {
            let who = args.get("address").and_then(|v| v.as_bin()).map(|b| b.to_vec()).unwrap_or_default();
            let did = s("did");
            if !did.starts_with("did:consortia:") {
                return Err("argument 'did' must start with 'did:consortia:'".to_string());
            }
            Ok(Value::Bool(DIDS.with(|d| d.borrow().iter().any(|(x, c, active)| *x == did && c[..] == who[..] && *active))))
        }
        "has_valid_credential" => Ok(Value::Bool(CREDENTIALS.with(|c| c.borrow().iter().any(|(d, sc)| *d == s("subject") && *sc == s("schema"))))),
        _ => Err(format!("unknown method '{}'", method)),
    }
}

fn setup() {
    testing::reset();
    testing::mock_contracts(did_mock);
    DIDS.with(|d| *d.borrow_mut() = vec![(OWNER_DID.to_string(), OWNER, true), (USER_DID.to_string(), USER, true)]);
    CREDENTIALS.with(|c| c.borrow_mut().clear());
    testing::set_block(100, 1_000_000);
    testing::set_caller(OWNER);
    invoke(METHODS, "init", Value::map().with("did", DID_CONTRACT)).unwrap();
    testing::grant_role("algorithm_provider", PROVIDER);
}

fn dataset_args() -> Value {
    let field = |n: &str, t: &str| Value::map().with("name", n).with("type", t).with("length", 16u8);
    Value::map()
        .with("owner", OWNER_DID)
        .with("name", "Outpatient visits 2025")
        .with("description", "de-identified visits")
        .with("schema", vec![field("patient_id", "string"), field("visits", "int")])
        .with("sample_hash", vec![9u8; 32])
        .with("category", "health")
        .with("level", 3u8)
        .with("share_mode", "compute")
        .with("access", "https://hospital.example/ds/1")
        .with("price", 5u8)
}

fn register_dataset() -> u64 {
    testing::set_caller(OWNER);
    invoke(METHODS, "register_dataset", dataset_args()).unwrap().get("id").and_then(|v| v.as_u64()).unwrap()
}

fn register_algorithm(id: &str) {
    testing::set_caller(PROVIDER);
    invoke(METHODS, "register_algorithm", Value::map().with("id", id).with("code_hash", vec![1u8; 32]).with("compiler", "rustc 1.63")).unwrap();
}

fn request(ds: u64, extra: Value) -> Result<Value, String> {
    testing::set_caller(USER);
    let mut args = Value::map().with("dataset", ds).with("requester", USER_DID).with("purpose", "credit risk model").with("scope", "window").with("until_height", 200u8).with("quota", 2u8);
    if let (Value::Map(a), Value::Map(e)) = (&mut args, extra) {
        a.extend(e);
    }
    invoke(METHODS, "request_access", args)
}

fn auth_id(out: Value) -> u64 {
    out.get("id").and_then(|v| v.as_u64()).unwrap()
}

fn use_auth(id: u64, extra: Value) -> Result<Value, String> {
    testing::set_caller(USER);
    let mut args = Value::map().with("auth", id);
    if let (Value::Map(a), Value::Map(e)) = (&mut args, extra) {
        a.extend(e);
    }
    invoke(METHODS, "use", args)
}

fn approve(id: u64) {
    testing::set_caller(OWNER);
    invoke(METHODS, "approve", Value::map().with("auth", id)).unwrap();
}

fn status(id: u64) -> String {
    invoke(METHODS, "authorization", Value::map().with("auth", id)).unwrap().get("status").and_then(|v| v.as_str()).unwrap().to_string()
}

#[test]
fn datasets_keep_versions_and_are_searchable() {
    setup();
    let id = register_dataset();
    assert_eq!(id, 1);
    testing::set_caller(USER);
    let err = invoke(METHODS, "update_dataset", Value::map().with("id", id).with("level", 4u8)).unwrap_err();
    assert!(err.contains("does not control"), "{}", err);
    testing::set_caller(OWNER);
    let out = invoke(METHODS, "update_dataset", Value::map().with("id", id).with("level", 4u8).with("category", "medical")).unwrap();
    assert_eq!(out.get("version").and_then(|v| v.as_u64()), Some(2));
    let v1 = invoke(METHODS, "dataset", Value::map().with("id", id).with("version", 1u8)).unwrap();
    assert_eq!(v1.get("level").and_then(|v| v.as_u64()), Some(3));
    let now = invoke(METHODS, "dataset", Value::map().with("id", id)).unwrap();
    assert_eq!(now.get("level").and_then(|v| v.as_u64()), Some(4));
    register_dataset();
    let found = |args: Value| invoke(METHODS, "search", args).unwrap().get("items").and_then(|v| v.as_array()).map(|a| a.len()).unwrap();
    assert_eq!(found(Value::map().with("owner", OWNER_DID)), 2);
    assert_eq!(found(Value::map().with("category", "health")), 1, "dataset 1 moved to 'medical'");
    assert_eq!(found(Value::map().with("category", "medical")), 1);
    assert_eq!(found(Value::map().with("level", 3u8)), 1);
    assert_eq!(found(Value::map().with("owner", OWNER_DID).with("level", 4u8)), 1);
    let page = invoke(METHODS, "search", Value::map().with("limit", 1u8)).unwrap();
    assert_eq!(page.get("next").and_then(|v| v.as_u64()), Some(1));
    testing::set_caller(OWNER);
    invoke(METHODS, "update_dataset", Value::map().with("id", id).with("active", false)).unwrap();
    assert_eq!(found(Value::map().with("owner", OWNER_DID)), 1);
    assert_eq!(found(Value::map().with("owner", OWNER_DID).with("active_only", false)), 2);
}

#[test]
fn malformed_datasets_are_refused() {
    setup();
    let bad = [
        (dataset_args().with("level", 9u8), "level must be 1 to 5"),
        (dataset_args().with("schema", Vec::<Value>::new()), "at least one schema field"),
        (dataset_args().with("schema", vec![Value::map().with("name", "a").with("type", "int").with("x", 1u8)]), "only name, type and length"),
        (dataset_args().with("category", "Health!"), "may only contain"),
        (dataset_args().with("sample_hash", vec![1u8; 2]), "16 to 64 byte hash"),
        (dataset_args().with("owner", "not-a-did"), "must start with"),
        (dataset_args().with("owner", "did:consortia:nobody"), "does not control"),
        (dataset_args().with("name", 5u8), "must be a string"),
        (dataset_args().with("active", true), "always active"),
    ];
    for (args, message) in bad.iter() {
        let err = invoke(METHODS, "register_dataset", args.clone()).unwrap_err();
        assert!(err.contains(message), "expected '{}' in '{}'", message, err);
    }
    assert!(invoke(METHODS, "dataset", Value::map().with("id", 1u8)).unwrap().is_nil());
    assert!(invoke(METHODS, "init", Value::map().with("did", DID_CONTRACT)).unwrap_err().contains("already initialised"));
}

#[test]
fn algorithms_need_the_provider_role() {
    setup();
    testing::set_caller(USER);
    let args = Value::map().with("id", "logreg").with("code_hash", vec![1u8; 32]).with("compiler", "rustc");
    assert!(invoke(METHODS, "register_algorithm", args.clone()).unwrap_err().contains("algorithm_provider role"));
    register_algorithm("logreg");
    testing::set_caller(PROVIDER);
    assert!(invoke(METHODS, "register_algorithm", args).unwrap_err().contains("already registered"));
    let rec = invoke(METHODS, "algorithm", Value::map().with("id", "logreg")).unwrap();
    assert_eq!(rec.get("signer").and_then(|v| v.as_bin()), Some(&PROVIDER[..]));
    assert_eq!(invoke(METHODS, "algorithms", Value::map()).unwrap().get("total").and_then(|v| v.as_u64()), Some(1));
}

#[test]
fn five_step_flow_counts_every_use_and_refuses_past_the_quota() {
    setup();
    let ds = register_dataset();
    register_algorithm("logreg");
    let id = auth_id(request(ds, Value::map().with("algorithms", vec![Value::from("logreg")])).unwrap());
    assert_eq!(status(id), "requested");
    assert!(use_auth(id, Value::map()).unwrap_err().contains("is requested, not approved"));
    testing::set_caller(USER);
    assert!(invoke(METHODS, "approve", Value::map().with("auth", id)).unwrap_err().contains("does not control"));
    approve(id);
    let first = use_auth(id, Value::map().with("algorithm", "logreg")).unwrap();
    assert_eq!(first.get("access").and_then(|v| v.as_str()), Some("https://hospital.example/ds/1"));
    assert_eq!(first.get("remaining").and_then(|v| v.as_u64()), Some(1));
    assert!(use_auth(id, Value::map().with("algorithm", "svm")).unwrap_err().contains("not allowed"));
    testing::set_caller(OWNER);
    assert!(invoke(METHODS, "use", Value::map().with("auth", id)).unwrap_err().contains("does not control"));
    use_auth(id, Value::map()).unwrap();
    assert_eq!(status(id), "consumed");
    let before = testing::with_env(|e| (e.storage.clone(), e.events.len()));
    let err = use_auth(id, Value::map()).unwrap_err();
    assert!(err.contains("has used its quota of 2 (quota exceeded)"), "{}", err);
    assert_eq!(testing::with_env(|e| (e.storage.clone(), e.events.len())), before);
    let log = invoke(METHODS, "uses", Value::map().with("auth", id)).unwrap();
    assert_eq!(log.get("total").and_then(|v| v.as_u64()), Some(2));
    let used: Vec<_> = testing::events().into_iter().filter(|e| e.0 == "AuthorizationUsed").collect();
    assert_eq!(used.len(), 2);
    assert_eq!(used[1].1.get("remaining").and_then(|v| v.as_u64()), Some(0));
}

#[test]
fn windows_tasks_revocation_and_credentials_are_enforced() {
    setup();
    let ds = register_dataset();
    // Window: usable up to and including until_height.
    let w = auth_id(request(ds, Value::map().with("until_height", 150u8).with("quota", 10u8)).unwrap());
    approve(w);
    testing::set_block(150, 2);
    use_auth(w, Value::map()).unwrap();
    testing::set_block(151, 3);
    assert!(use_auth(w, Value::map()).unwrap_err().contains("expired at height 150"));
    assert_eq!(status(w), "expired");
    // Task scope: only that task.
    let t = auth_id(request(ds, Value::map().with("scope", "task").with("task_id", "task-7").with("until_height", Value::Nil)).unwrap());
    approve(t);
    assert!(use_auth(t, Value::map()).unwrap_err().contains("for task 'task-7' only"));
    assert!(use_auth(t, Value::map().with("task_id", "task-8")).unwrap_err().contains("only"));
    assert!(use_auth(t, Value::map().with("task_id", "x".repeat(500).as_str())).unwrap_err().contains("task_id must be 1 to 128"));
    use_auth(t, Value::map().with("task_id", "task-7")).unwrap();
    assert!(use_auth(t, Value::map().with("task_id", "task-7").with("purpose", "marketing")).unwrap_err().contains("another purpose"));
    // Revocation by the owner ends it.
    testing::set_caller(OWNER);
    invoke(METHODS, "revoke", Value::map().with("auth", t).with("reason", "contract ended")).unwrap();
    assert!(use_auth(t, Value::map().with("task_id", "task-7")).unwrap_err().contains("is revoked"));
    // A credential requirement is checked at use time.
    testing::set_caller(OWNER);
    invoke(METHODS, "update_dataset", Value::map().with("id", ds).with("credential_schema", "org-license")).unwrap();
    let c = auth_id(request(ds, Value::map().with("until_height", 500u32)).unwrap());
    approve(c);
    assert!(use_auth(c, Value::map()).unwrap_err().contains("no valid 'org-license' credential"));
    CREDENTIALS.with(|cr| cr.borrow_mut().push((USER_DID.to_string(), "org-license".to_string())));
    use_auth(c, Value::map()).unwrap();
    // A deactivated requester DID can no longer use it.
    DIDS.with(|d| d.borrow_mut()[1].2 = false);
    assert!(use_auth(c, Value::map()).unwrap_err().contains("does not control the active DID"));
}

#[test]
fn decisions_and_requests_are_checked() {
    setup();
    let ds = register_dataset();
    let bad = [
        (Value::map().with("scope", "forever"), "scope must be"),
        (Value::map().with("quota", 0u8), "quota must be"),
        (Value::map().with("until_height", 50u8), "is not after the current height"),
        (Value::map().with("until_height", Value::Nil), "needs until_height"),
        (Value::map().with("scope", "task").with("until_height", Value::Nil), "needs a task_id"),
        (Value::map().with("algorithms", vec![Value::from("nope")]), "not registered"),
        (Value::map().with("dataset", 99u8), "dataset 99 not found"),
        (Value::map().with("requester", OWNER_DID), "does not control"),
        (Value::map().with("purpose", ""), "purpose must be"),
    ];
    for (extra, message) in bad.iter() {
        let err = request(ds, extra.clone()).unwrap_err();
        assert!(err.contains(message), "expected '{}' in '{}'", message, err);
    }
    let id = auth_id(request(ds, Value::map()).unwrap());
    testing::set_caller(OWNER);
    assert!(invoke(METHODS, "approve", Value::map().with("auth", id).with("quota", 3u8)).unwrap_err().contains("not raise"));
    assert!(invoke(METHODS, "approve", Value::map().with("auth", id).with("until_height", 300u32)).unwrap_err().contains("not extend"));
    assert!(invoke(METHODS, "revoke", Value::map().with("auth", id)).unwrap_err().contains("is requested, not approved"));
    invoke(METHODS, "reject", Value::map().with("auth", id).with("reason", "purpose too broad")).unwrap();
    assert_eq!(status(id), "rejected");
    assert!(invoke(METHODS, "approve", Value::map().with("auth", id)).unwrap_err().contains("is rejected"));
    let mine = invoke(METHODS, "authorizations", Value::map().with("requester", USER_DID)).unwrap();
    assert_eq!(mine.get("total").and_then(|v| v.as_u64()), Some(1));
    assert!(invoke(METHODS, "authorizations", Value::map()).is_err());
    let long = "x".repeat(2000);
    assert!(invoke(METHODS, "authorizations", Value::map().with("owner", long.as_str())).unwrap_err().contains("must be a DID"));
    assert!(invoke(METHODS, "search", Value::map().with("owner", long.as_str())).unwrap_err().contains("must be a DID"));
    assert!(invoke(METHODS, "search", Value::map().with("category", long.as_str())).unwrap_err().contains("category must be"));
    assert!(request(ds, Value::map().with("requester", long.as_str())).unwrap_err().contains("must be a DID"));
}

#[test]
fn paid_uses_are_settled_with_the_linked_points_contract() {
    setup();
    WALLET.with(|w| *w.borrow_mut() = (7, Vec::new()));
    testing::set_caller(USER);
    assert!(invoke(METHODS, "link_points", Value::map().with("points", POINTS_CONTRACT)).unwrap_err().contains("only the account that deployed"));
    testing::set_caller(OWNER);
    invoke(METHODS, "link_points", Value::map().with("points", POINTS_CONTRACT)).unwrap();
    assert!(invoke(METHODS, "link_points", Value::map().with("points", POINTS_CONTRACT)).unwrap_err().contains("already linked"));
    let ds = register_dataset(); // price 5
    let id = auth_id(request(ds, Value::map()).unwrap());
    approve(id);
    use_auth(id, Value::map()).unwrap();
    let charged = WALLET.with(|w| w.borrow().1.clone());
    assert_eq!(charged.len(), 1);
    assert_eq!(charged[0].get("payer").and_then(|v| v.as_bin()), Some(&USER[..]));
    assert_eq!(charged[0].get("payee").and_then(|v| v.as_bin()), Some(&OWNER[..]));
    assert_eq!(charged[0].get("amount").and_then(|v| v.as_u64()), Some(5));
    // 2 points left: the second use cannot be paid for, so it does not happen.
    let err = use_auth(id, Value::map()).unwrap_err();
    assert!(err.contains("points: insufficient points"), "{}", err);
    let rec = invoke(METHODS, "authorization", Value::map().with("auth", id)).unwrap();
    assert_eq!(rec.get("used").and_then(|v| v.as_u64()), Some(1));
}
