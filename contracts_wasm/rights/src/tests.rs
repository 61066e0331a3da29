use super::*;
use consortia_sdk::testing::{self, invoke};
use consortia_sdk::{Address, Value};
use std::cell::RefCell;

const DID: [u8; 20] = [0xd1; 20];
const POINTS: [u8; 20] = [0xee; 20];
const REGULATOR: [u8; 20] = [0x5e; 20];
const HOSPITAL: [u8; 20] = [0x40; 20];
const BANK: [u8; 20] = [0xb0; 20];
const FUND: [u8; 20] = [0xf0; 20];
const H: &str = "did:consortia:hospital";
const B: &str = "did:consortia:bank";

thread_local! {
    /// The signer's points and the settlements made: (payee, amount).
    static WALLET: RefCell<(u64, Vec<(Vec<u8>, u64)>)> = RefCell::new((0, Vec::new()));
}

fn mock(addr: Address, method: String, args: Value) -> Result<Value, String> {
    let s = |k: &str| args.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    match (addr, method.as_str()) {
        (DID, "controls") => {
            let who = args.get("address").and_then(|v| v.as_bin()).unwrap().to_vec();
            Ok(Value::Bool((s("did") == H && who == HOSPITAL) || (s("did") == B && who == BANK)))
        }
        (DID, "resolve") => Ok(if s("did") == H || s("did") == B { Value::map().with("deactivated", false) } else { Value::Nil }),
        (POINTS, "settle") => WALLET.with(|w| {
            let mut w = w.borrow_mut();
            let amount = args.get("amount").and_then(|v| v.as_u64()).unwrap();
            if w.0 < amount {
                return Err(format!("insufficient points: has {}, needs {}", w.0, amount));
            }
            w.0 -= amount;
            w.1.push((args.get("payee").and_then(|v| v.as_bin()).unwrap().to_vec(), amount));
            Ok(Value::map())
        }),
        _ => Err(format!("unexpected call {}", method)),
    }
}

fn setup() -> u64 {
    testing::reset();
    testing::mock_contracts(mock);
    WALLET.with(|w| *w.borrow_mut() = (1000, Vec::new()));
    testing::set_block(10, 1);
    testing::grant_role("regulator", REGULATOR);
    testing::set_caller(REGULATOR);
    invoke(METHODS, "init", Value::map().with("did", DID).with("points", POINTS)).unwrap();
    invoke(METHODS, "create_template", Value::map().with("id", "usage-right").with("name", "Data usage right").with("rights_type", "usage").with("terms", "non-exclusive")).unwrap();
    issue().unwrap().get("id").and_then(|v| v.as_u64()).unwrap()
}

fn issue() -> Result<Value, String> {
    invoke(METHODS, "issue", Value::map().with("template", "usage-right").with("holder", H).with("source", "catalog dataset 1")
        .with("scope", "credit scoring, 2026").with("profit_share_bp", 1000u32).with("beneficiary", FUND))
}

fn holder(id: u64) -> String {
    invoke(METHODS, "certificate", Value::map().with("cert", id)).unwrap().get("holder").and_then(|v| v.as_str()).unwrap().to_string()
}

#[test]
fn templates_and_issuance_need_roles() {
    setup();
    testing::set_caller(BANK);
    let tpl = Value::map().with("id", "x").with("name", "X").with("rights_type", "usage");
    assert!(invoke(METHODS, "create_template", tpl).unwrap_err().contains("consortium leader or a regulator"));
    assert!(issue().unwrap_err().contains("only a regulator"));
    testing::set_caller(REGULATOR);
    let bad = invoke(METHODS, "issue", Value::map().with("template", "usage-right").with("holder", "did:consortia:ghost").with("source", "s")
        .with("scope", "s").with("profit_share_bp", 0u8).with("beneficiary", FUND)).unwrap_err();
    assert!(bad.contains("not an active DID"), "{}", bad);
    let bad = invoke(METHODS, "issue", Value::map().with("template", "nope").with("holder", H)).unwrap_err();
    assert!(bad.contains("template 'nope' not found"), "{}", bad);
    let over = invoke(METHODS, "issue", Value::map().with("template", "usage-right").with("holder", H).with("source", "s").with("scope", "s")
        .with("profit_share_bp", 10_001u32).with("beneficiary", FUND)).unwrap_err();
    assert!(over.contains("profit_share_bp must be 0 to 10000"));
}

#[test]
fn sale_settles_in_points_with_the_profit_share() {
    let id = setup();
    testing::set_caller(BANK);
    assert!(invoke(METHODS, "list_for_sale", Value::map().with("cert", id).with("price", 200u32)).unwrap_err().contains("does not control"));
    assert!(invoke(METHODS, "buy", Value::map().with("cert", id).with("buyer", B)).unwrap_err().contains("not for sale"));
    testing::set_caller(HOSPITAL);
    invoke(METHODS, "list_for_sale", Value::map().with("cert", id).with("price", 200u32)).unwrap();
    testing::set_caller(BANK);
    invoke(METHODS, "buy", Value::map().with("cert", id).with("buyer", B)).unwrap();
    assert_eq!(holder(id), B);
    let paid = WALLET.with(|w| w.borrow().1.clone());
    assert_eq!(paid, vec![(FUND.to_vec(), 20), (HOSPITAL.to_vec(), 180)]);
    let trail = invoke(METHODS, "history", Value::map().with("cert", id)).unwrap();
    let actions: Vec<String> = trail.get("items").and_then(|v| v.as_array()).unwrap().iter().map(|e| e.get("action").and_then(|v| v.as_str()).unwrap().to_string()).collect();
    assert_eq!(actions, vec!["issued", "listed", "sold"]);
    assert!(invoke(METHODS, "buy", Value::map().with("cert", id).with("buyer", B)).unwrap_err().contains("not for sale"));
}

#[test]
fn a_sale_the_buyer_cannot_pay_changes_nothing() {
    let id = setup();
    WALLET.with(|w| w.borrow_mut().0 = 50);
    testing::set_caller(HOSPITAL);
    invoke(METHODS, "list_for_sale", Value::map().with("cert", id).with("price", 200u32)).unwrap();
    testing::set_caller(BANK);
    let err = invoke(METHODS, "buy", Value::map().with("cert", id).with("buyer", B)).unwrap_err();
    assert!(err.contains("points: insufficient points"), "{}", err);
    assert_eq!(holder(id), H);
}

#[test]
fn transfer_and_revocation() {
    let id = setup();
    testing::set_caller(BANK);
    assert!(invoke(METHODS, "transfer", Value::map().with("cert", id).with("to", B)).unwrap_err().contains("does not control"));
    testing::set_caller(HOSPITAL);
    assert!(invoke(METHODS, "transfer", Value::map().with("cert", id).with("to", "did:consortia:ghost")).unwrap_err().contains("not an active DID"));
    invoke(METHODS, "transfer", Value::map().with("cert", id).with("to", B)).unwrap();
    assert_eq!(holder(id), B);
    let held = invoke(METHODS, "by_holder", Value::map().with("holder", B)).unwrap();
    assert_eq!(held.get("items").and_then(|v| v.as_array()).map(|a| a.len()), Some(1));
    let old = invoke(METHODS, "by_holder", Value::map().with("holder", H)).unwrap();
    assert_eq!(old.get("items").and_then(|v| v.as_array()).map(|a| a.len()), Some(0));
    testing::set_caller(BANK);
    assert!(invoke(METHODS, "revoke", Value::map().with("cert", id)).unwrap_err().contains("only a regulator"));
    testing::set_caller(REGULATOR);
    invoke(METHODS, "revoke", Value::map().with("cert", id).with("reason", "source withdrawn")).unwrap();
    testing::set_caller(BANK);
    assert!(invoke(METHODS, "transfer", Value::map().with("cert", id).with("to", H)).unwrap_err().contains("is revoked"));
}
