use super::*;
use consortia_sdk::testing::{self, invoke};
use consortia_sdk::{Address, Value};
use std::cell::RefCell;

const DID: [u8; 20] = [0xd1; 20];
const CATALOG: [u8; 20] = [0xca; 20];
const EVIDENCE: [u8; 20] = [0xe5; 20];
const BANK: [u8; 20] = [0xb0; 20];
const HOSPITAL: [u8; 20] = [0x40; 20];
const STRANGER: [u8; 20] = [0x99; 20];
const B: &str = "did:consortia:bank";
const H: &str = "did:consortia:hospital";

thread_local! {
    /// Evidence (task, kind, hash) recorded, uses the catalog counted, and a switch to lose evidence.
    static EVIDENCE_LOG: RefCell<Vec<(String, String, Vec<u8>)>> = RefCell::new(Vec::new());
    static USES: RefCell<Vec<u64>> = RefCell::new(Vec::new());
    static DROP_KIND: RefCell<Option<String>> = RefCell::new(None);
}

fn mock(addr: Address, method: String, args: Value) -> Result<Value, String> {
    let s = |k: &str| args.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    match (addr, method.as_str()) {
        (DID, "controls") => {
            let who = args.get("address").and_then(|v| v.as_bin()).unwrap().to_vec();
            Ok(Value::Bool((s("did") == B && who == BANK) || (s("did") == H && who == HOSPITAL)))
        }
        (CATALOG, "algorithm") => Ok(if s("id") == "logreg" { Value::map().with("id", "logreg") } else { Value::Nil }),
        (CATALOG, "authorization") => {
            let auth = args.get("auth").and_then(|v| v.as_u64()).unwrap();
            Ok(match auth {
                1 => Value::map().with("requester", B),
                2 => Value::map().with("requester", H),
                _ => Value::Nil,
            })
        }
        (CATALOG, "use") => {
            if s("task_id") != "t1" && s("task_id") != "t2" {
                return Err("authorization 1 is for task 't1' only".to_string());
            }
            USES.with(|u| u.borrow_mut().push(args.get("auth").and_then(|v| v.as_u64()).unwrap()));
            Ok(Value::map())
        }
        (EVIDENCE, "record") => {
            let kind = s("kind");
            if DROP_KIND.with(|d| d.borrow().as_deref() == Some(kind.as_str())) {
                return Ok(Value::map()); // pretend the write happened but lose it
            }
            let hash = args.get("hash").and_then(|v| v.as_bin()).unwrap().to_vec();
            EVIDENCE_LOG.with(|l| l.borrow_mut().push((s("task_id"), kind, hash)));
            Ok(Value::map().with("seq", 0u8))
        }
        (EVIDENCE, "verify") => {
            let hash = args.get("hash").and_then(|v| v.as_bin()).unwrap().to_vec();
            Ok(Value::Bool(EVIDENCE_LOG.with(|l| l.borrow().iter().any(|(_, _, h)| *h == hash))))
        }
        _ => Err(format!("unexpected call {}", method)),
    }
}

fn setup() {
    testing::reset();
    testing::mock_contracts(mock);
    EVIDENCE_LOG.with(|l| l.borrow_mut().clear());
    USES.with(|u| u.borrow_mut().clear());
    DROP_KIND.with(|d| *d.borrow_mut() = None);
    testing::set_block(10, 1);
    invoke(METHODS, "init", Value::map().with("did", DID).with("catalog", CATALOG).with("evidence", EVIDENCE)).unwrap();
}

fn spec(id: &str) -> Value {
    Value::map()
        .with("id", id)
        .with("initiator", B)
        .with("participants", vec![Value::from(B), Value::from(H)])
        .with("receivers", vec![Value::from(B)])
        .with("datasets", vec![Value::from(1u8)])
        .with("algorithm", "logreg")
        .with("purpose", "credit model")
        .with("parameters", Value::map().with("rounds", 5u8))
        .with("steps", vec![Value::map().with("id", "psi"), Value::map().with("id", "train").with("deps", vec![Value::from("psi")])])
}

fn create(id: &str) -> Result<Value, String> {
    testing::set_caller(BANK);
    invoke(METHODS, "create", spec(id))
}

fn ack(who: [u8; 20], did: &str, phase: &str, task: &str) -> Result<Value, String> {
    testing::set_caller(who);
    invoke(METHODS, "ack", Value::map().with("task", task).with("participant", did).with("phase", phase).with("commitment", vec![7u8; 32]))
}

fn phase(task: &str) -> String {
    invoke(METHODS, "task", Value::map().with("id", task)).unwrap().get("phase").and_then(|v| v.as_str()).unwrap().to_string()
}

fn run_phases(task: &str) {
    for p in ["prepare", "align", "compute", "cleanup"] {
        ack(BANK, B, p, task).unwrap();
        assert_eq!(phase(task), p, "one acknowledgement does not advance {}", p);
        ack(HOSPITAL, H, p, task).unwrap();
    }
}

#[test]
fn a_task_runs_through_every_phase_and_succeeds_with_all_evidence() {
    setup();
    create("t1").unwrap();
    assert_eq!(USES.with(|u| u.borrow().clone()), vec![1]);
    run_phases("t1");
    assert_eq!(phase("t1"), "receipt");
    testing::set_caller(HOSPITAL);
    assert!(invoke(METHODS, "receive", Value::map().with("task", "t1").with("receiver", H).with("commitment", vec![8u8; 32])).unwrap_err().contains("not a named receiver"));
    testing::set_caller(BANK);
    let out = invoke(METHODS, "receive", Value::map().with("task", "t1").with("receiver", B).with("commitment", vec![8u8; 32])).unwrap();
    assert_eq!(out.get("state").and_then(|v| v.as_str()), Some("succeeded"));
    let kinds: Vec<String> = EVIDENCE_LOG.with(|l| l.borrow().iter().map(|(_, k, _)| k.clone()).collect());
    assert_eq!(kinds, vec!["task_config", "data_input", "compute_start", "compute_end", "result_receipt"]);
    assert!(ack(BANK, B, "cleanup", "t1").unwrap_err().contains("is succeeded"));
}

#[test]
fn a_missing_evidence_point_stops_the_task_from_finishing() {
    setup();
    DROP_KIND.with(|d| *d.borrow_mut() = Some("compute_start".to_string()));
    create("t1").unwrap();
    run_phases("t1");
    testing::set_caller(BANK);
    let err = invoke(METHODS, "receive", Value::map().with("task", "t1").with("receiver", B).with("commitment", vec![8u8; 32])).unwrap_err();
    assert!(err.contains("evidence points missing: compute_start"), "{}", err);
    assert_eq!(phase("t1"), "receipt");
}

#[test]
fn acknowledgements_are_checked() {
    setup();
    create("t1").unwrap();
    assert!(ack(STRANGER, "did:consortia:mallory", "prepare", "t1").unwrap_err().contains("not a participant"));
    assert!(ack(STRANGER, H, "prepare", "t1").unwrap_err().contains("does not control"));
    assert!(ack(BANK, B, "align", "t1").unwrap_err().contains("in phase prepare, not align"));
    ack(BANK, B, "prepare", "t1").unwrap();
    assert!(ack(BANK, B, "prepare", "t1").unwrap_err().contains("already acknowledged"));
    testing::set_caller(HOSPITAL);
    let err = invoke(METHODS, "ack", Value::map().with("task", "t1").with("participant", H).with("phase", "prepare")).unwrap_err();
    assert!(err.contains("needs a commitment"), "{}", err);
    testing::set_caller(BANK);
    assert!(invoke(METHODS, "receive", Value::map().with("task", "t1").with("receiver", B).with("commitment", vec![8u8; 32])).unwrap_err().contains("no result yet"));
}

#[test]
fn a_failure_by_any_participant_ends_the_task_for_all() {
    setup();
    create("t1").unwrap();
    ack(BANK, B, "prepare", "t1").unwrap();
    testing::set_caller(BANK);
    assert!(invoke(METHODS, "fail", Value::map().with("task", "t1").with("participant", H)).unwrap_err().contains("does not control"));
    testing::set_caller(HOSPITAL);
    invoke(METHODS, "fail", Value::map().with("task", "t1").with("participant", H).with("reason", "worker crashed")).unwrap();
    assert!(ack(BANK, B, "prepare", "t1").unwrap_err().contains("is failed"));
    create("t2").unwrap();
    testing::set_caller(HOSPITAL);
    assert!(invoke(METHODS, "terminate", Value::map().with("task", "t2")).unwrap_err().contains("does not control"));
    testing::set_caller(BANK);
    invoke(METHODS, "terminate", Value::map().with("task", "t2")).unwrap();
    assert_eq!(invoke(METHODS, "task", Value::map().with("id", "t2")).unwrap().get("state").and_then(|v| v.as_str()), Some("terminated"));
}

#[test]
fn only_authorized_datasets_of_the_initiator_can_be_named() {
    setup();
    let bad = [
        (spec("t1").with("datasets", vec![Value::from(2u8)]), "not to the initiator"),
        (spec("t1").with("datasets", vec![Value::from(9u8)]), "does not exist"),
        (spec("t3"), "catalog: authorization 1 is for task 't1' only"),
        (spec("t1").with("algorithm", "svm"), "not registered"),
        (spec("t1").with("initiator", "did:consortia:x"), "one of the participants"),
        (spec("t1").with("steps", vec![Value::map().with("id", "a").with("deps", vec![Value::from("b")])]), "not an earlier step"),
        (spec("t1").with("datasets", Vec::<Value>::new()), "at least one authorized dataset"),
        (spec("t1").with("receivers", vec![Value::from("bank")]), "malformed DID"),
        (spec("bad id"), "may only contain"),
    ];
    for (args, message) in bad.iter() {
        testing::set_caller(BANK);
        let err = invoke(METHODS, "create", args.clone()).unwrap_err();
        assert!(err.contains(message), "expected '{}' in '{}'", message, err);
    }
    assert!(USES.with(|u| u.borrow().is_empty()));
    create("t1").unwrap();
    assert!(create("t1").unwrap_err().contains("already exists"));
}

#[test]
fn commitments_can_be_verified() {
    setup();
    create("t1").unwrap();
    let salt = vec![3u8; 16];
    let value = vec![4u8; 32];
    let mut pre = salt.clone();
    pre.extend_from_slice(&value);
    let commitment = testing::mock_hash(&pre);
    testing::set_caller(BANK);
    invoke(METHODS, "ack", Value::map().with("task", "t1").with("participant", B).with("phase", "prepare").with("commitment", commitment.to_vec())).unwrap();
    let check = |v: Vec<u8>| invoke(METHODS, "verify_commitment", Value::map().with("task", "t1").with("phase", "prepare").with("participant", B).with("salt", salt.clone()).with("value", v)).unwrap();
    assert_eq!(check(value.clone()), Value::Bool(true));
    assert_eq!(check(vec![5u8; 32]), Value::Bool(false));
}
