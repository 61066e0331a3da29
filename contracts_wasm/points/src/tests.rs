use super::*;
use consortia_sdk::testing::{self, invoke};
use consortia_sdk::Value;

const CATALOG: [u8; 20] = [0xca; 20];
const REGULATOR: [u8; 20] = [0x5e; 20];
const BANK: [u8; 20] = [0xb0; 20];
const HOSPITAL: [u8; 20] = [0x40; 20];

fn setup() {
    testing::reset();
    testing::set_block(100, 1);
    testing::set_caller(REGULATOR);
    testing::grant_role("regulator", REGULATOR);
    invoke(METHODS, "init", Value::map().with("catalog", CATALOG)).unwrap();
    invoke(METHODS, "mint", Value::map().with("to", BANK).with("amount", 100u8)).unwrap();
}

fn balance(who: [u8; 20]) -> u64 {
    invoke(METHODS, "balance", Value::map().with("account", who)).unwrap().as_u64().unwrap()
}

fn charge(amount: u64, dataset: u64) -> Result<Value, String> {
    testing::set_caller(CATALOG);
    invoke(METHODS, "charge_use", Value::map().with("payer", BANK).with("payee", HOSPITAL).with("amount", amount).with("auth", 1u8).with("use", 1u8).with("dataset", dataset))
}

#[test]
fn only_the_regulator_mints() {
    setup();
    testing::set_caller(BANK);
    assert!(invoke(METHODS, "mint", Value::map().with("to", BANK).with("amount", 5u8)).unwrap_err().contains("only a regulator"));
    assert!(invoke(METHODS, "mint", Value::map().with("to", BANK).with("amount", 0u8)).unwrap_err().contains("positive"));
    assert_eq!(balance(BANK), 100);
    assert_eq!(invoke(METHODS, "supply", Value::map()).unwrap(), Value::from(100u8));
    invoke(METHODS, "transfer", Value::map().with("to", HOSPITAL).with("amount", 30u8)).unwrap();
    assert!(invoke(METHODS, "transfer", Value::map().with("to", HOSPITAL).with("amount", 71u8)).unwrap_err().contains("insufficient points"));
    assert_eq!((balance(BANK), balance(HOSPITAL)), (70, 30));
}

#[test]
fn pay_per_use_is_for_the_catalog_only_and_checks_the_balance() {
    setup();
    testing::set_caller(BANK);
    let err = invoke(METHODS, "charge_use", Value::map().with("payer", HOSPITAL).with("payee", BANK).with("amount", 1u8).with("auth", 1u8).with("use", 1u8).with("dataset", 1u8)).unwrap_err();
    assert!(err.contains("only the catalog"), "{}", err);
    charge(40, 1).unwrap();
    assert_eq!((balance(BANK), balance(HOSPITAL)), (60, 40));
    assert!(charge(61, 1).unwrap_err().contains("insufficient points"));
    assert_eq!((balance(BANK), balance(HOSPITAL)), (60, 40));
    let s = invoke(METHODS, "scores", Value::map().with("account", BANK)).unwrap();
    assert_eq!(s.get("consumption").and_then(|c| c.get("queries")).and_then(|v| v.as_u64()), Some(1));
    assert_eq!(s.get("consumption").and_then(|c| c.get("points_spent")).and_then(|v| v.as_u64()), Some(40));
    let h = invoke(METHODS, "scores", Value::map().with("account", HOSPITAL)).unwrap();
    assert_eq!(h.get("contribution").and_then(|c| c.get("uses_served")).and_then(|v| v.as_u64()), Some(1));
}

fn lock(amount: u64, timeout: u64) -> Result<u64, String> {
    testing::set_caller(BANK);
    invoke(METHODS, "escrow_lock", Value::map().with("payee", HOSPITAL).with("amount", amount).with("timeout_height", timeout).with("ref", "task-1"))
        .map(|v| v.get("id").and_then(|x| x.as_u64()).unwrap())
}

fn state(id: u64) -> String {
    invoke(METHODS, "escrow", Value::map().with("id", id)).unwrap().get("state").and_then(|v| v.as_str()).unwrap().to_string()
}

#[test]
fn escrow_releases_on_matching_receipt() {
    setup();
    let id = lock(25, 200).unwrap();
    assert_eq!(balance(BANK), 75);
    testing::set_caller(BANK);
    assert!(invoke(METHODS, "escrow_deliver", Value::map().with("id", id).with("hash", vec![1u8; 32])).unwrap_err().contains("only the payee"));
    assert!(invoke(METHODS, "escrow_confirm", Value::map().with("id", id).with("hash", vec![1u8; 32])).unwrap_err().contains("not delivered"));
    testing::set_caller(HOSPITAL);
    invoke(METHODS, "escrow_deliver", Value::map().with("id", id).with("hash", vec![1u8; 32])).unwrap();
    testing::set_caller(BANK);
    assert!(invoke(METHODS, "escrow_confirm", Value::map().with("id", id).with("hash", vec![2u8; 32])).unwrap_err().contains("does not match"));
    assert_eq!(state(id), "delivered");
    invoke(METHODS, "escrow_confirm", Value::map().with("id", id).with("hash", vec![1u8; 32])).unwrap();
    assert_eq!((balance(BANK), balance(HOSPITAL), state(id)), (75, 25, "released".to_string()));
    assert!(invoke(METHODS, "escrow_refund", Value::map().with("id", id)).unwrap_err().contains("nothing to refund"));
}

#[test]
fn escrow_refunds_on_failure_or_timeout() {
    setup();
    assert!(lock(101, 200).unwrap_err().contains("insufficient"));
    assert!(lock(1, 100).unwrap_err().contains("not after the current height"));
    let a = lock(10, 150).unwrap();
    let b = lock(20, 150).unwrap();
    // The payee gives up on a: refunded at once.
    testing::set_caller(HOSPITAL);
    invoke(METHODS, "escrow_refund", Value::map().with("id", a).with("reason", "worker failed")).unwrap();
    // The payer must wait for the timeout of b.
    testing::set_caller(BANK);
    assert!(invoke(METHODS, "escrow_refund", Value::map().with("id", b)).unwrap_err().contains("only after height 150"));
    testing::set_block(151, 2);
    testing::set_caller([9u8; 20]);
    assert!(invoke(METHODS, "escrow_refund", Value::map().with("id", b)).unwrap_err().contains("only the payer or the payee"));
    testing::set_caller(BANK);
    invoke(METHODS, "escrow_refund", Value::map().with("id", b)).unwrap();
    assert_eq!((balance(BANK), balance(HOSPITAL), state(a), state(b)), (100, 0, "refunded".to_string(), "refunded".to_string()));
}

#[test]
fn ratings_need_a_use_and_rank_datasets() {
    setup();
    testing::set_caller(BANK);
    assert!(invoke(METHODS, "rate", Value::map().with("dataset", 1u8).with("score", 5u8)).unwrap_err().contains("only an account that used"));
    charge(1, 1).unwrap();
    charge(1, 2).unwrap();
    charge(1, 2).unwrap();
    testing::set_caller(BANK);
    invoke(METHODS, "rate", Value::map().with("dataset", 1u8).with("score", 5u8)).unwrap();
    invoke(METHODS, "rate", Value::map().with("dataset", 2u8).with("score", 2u8)).unwrap();
    let r = invoke(METHODS, "rate", Value::map().with("dataset", 2u8).with("score", 3u8)).unwrap();
    assert_eq!((r.get("ratings").and_then(|v| v.as_u64()), r.get("average_x100").and_then(|v| v.as_u64())), (Some(1), Some(300)));
    assert!(invoke(METHODS, "rate", Value::map().with("dataset", 1u8).with("score", 6u8)).is_err());
    let top = |by: &str| -> Vec<u64> {
        invoke(METHODS, "ranking", Value::map().with("by", by)).unwrap().as_array().unwrap().iter().map(|d| d.get("dataset").and_then(|v| v.as_u64()).unwrap()).collect()
    };
    assert_eq!(top("rating"), vec![1, 2]);
    assert_eq!(top("uses"), vec![2, 1]);
    assert!(invoke(METHODS, "ranking", Value::map().with("by", "size")).is_err());
}

#[test]
fn scores_are_recorded_by_the_regulator() {
    setup();
    testing::set_caller(BANK);
    assert!(invoke(METHODS, "record_contribution", Value::map().with("account", HOSPITAL).with("data_volume", 5000u32)).unwrap_err().contains("only a regulator"));
    testing::set_caller(REGULATOR);
    assert!(invoke(METHODS, "record_contribution", Value::map().with("account", HOSPITAL)).unwrap_err().contains("at least one"));
    invoke(METHODS, "record_contribution", Value::map().with("account", HOSPITAL).with("data_volume", 5000u32).with("dimensions", 12u8).with("participations", 1u8)).unwrap();
    invoke(METHODS, "record_consumption", Value::map().with("account", BANK).with("task_rounds", 3u8)).unwrap();
    let h = invoke(METHODS, "scores", Value::map().with("account", HOSPITAL)).unwrap();
    assert_eq!(h.get("contribution_score").and_then(|v| v.as_u64()), Some(5 + 120 + 100));
    let b = invoke(METHODS, "scores", Value::map().with("account", BANK)).unwrap();
    assert_eq!(b.get("consumption_score").and_then(|v| v.as_u64()), Some(300));
}

#[test]
fn settlers_move_only_the_signers_points() {
    setup();
    const RIGHTS: [u8; 20] = [0x77; 20];
    testing::set_caller(BANK);
    assert!(invoke(METHODS, "add_settler", Value::map().with("contract", RIGHTS)).unwrap_err().contains("only the account that deployed"));
    testing::set_caller(REGULATOR);
    invoke(METHODS, "add_settler", Value::map().with("contract", RIGHTS)).unwrap();
    assert!(invoke(METHODS, "add_settler", Value::map().with("contract", RIGHTS)).unwrap_err().contains("already a settler"));
    let settle = |amount: u64| invoke(METHODS, "settle", Value::map().with("payee", HOSPITAL).with("amount", amount).with("ref", "cert 1"));
    testing::set_caller(BANK);
    assert!(settle(5).unwrap_err().contains("only a settler"));
    // The settler is the caller; the payer is always the signer (origin).
    testing::with_env(|e| {
        e.caller = RIGHTS;
        e.origin = BANK;
    });
    settle(30).unwrap();
    assert!(settle(71).unwrap_err().contains("insufficient points"));
    assert_eq!((balance(BANK), balance(HOSPITAL)), (70, 30));
}
