//! Native test harness: an in-memory host so contract methods run under plain `cargo test`.
//!
//! [`invoke`] runs one method like the node would: arguments are encoded and decoded, and a
//! failed call leaves storage and events exactly as they were.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::env::Address;
use crate::{Args, Handler, Value};

/// The state of the mock host.
#[derive(Clone, Debug, Default)]
pub struct MockEnv {
    pub method: String,
    pub args: Vec<u8>,
    pub returned: Vec<u8>,
    pub storage: BTreeMap<Vec<u8>, Vec<u8>>,
    pub events: Vec<(String, Vec<u8>)>,
    pub caller: Address,
    pub origin: Address,
    pub self_address: Address,
    pub height: u64,
    pub timestamp_ms: u64,
    /// (role, address) pairs that `env::has_role` answers true for.
    pub roles: Vec<(String, Address)>,
    /// Answers `env::call_contract` in native tests; None makes every call fail.
    pub contracts: Option<ContractMock>,
}

/// A stand-in for other contracts: (callee, method, decoded args) -> return value or error message.
pub type ContractMock = fn(Address, String, Value) -> Result<Value, String>;

thread_local! {
    static ENV: RefCell<MockEnv> = RefCell::new(MockEnv::default());
}

pub fn with_env<R>(f: impl FnOnce(&mut MockEnv) -> R) -> R {
    ENV.with(|e| f(&mut e.borrow_mut()))
}

/// Start from an empty host.
pub fn reset() {
    with_env(|e| *e = MockEnv::default());
}

/// Make `who` the caller and origin of the next calls.
pub fn set_caller(who: Address) {
    with_env(|e| {
        e.caller = who;
        e.origin = who;
    });
}

/// Let `who` hold `role` for `env::has_role`.
pub fn grant_role(role: &str, who: Address) {
    with_env(|e| e.roles.push((role.to_string(), who)));
}

/// Answer calls to other contracts with `mock`.
pub fn mock_contracts(mock: ContractMock) {
    with_env(|e| e.contracts = Some(mock));
}

/// What `env::call_contract` does natively: ask the mock (outside the env borrow, so it may use it).
pub fn call_mock(addr: &Address, method: &str, args: &[u8]) -> Result<Vec<u8>, String> {
    let mock = with_env(|e| e.contracts);
    let mock = match mock {
        Some(m) => m,
        None => return Err("calls to other contracts are not mocked in this test".to_string()),
    };
    let decoded = Value::decode(args).map_err(|e| e.0)?;
    mock(*addr, method.to_string(), decoded).map(|v| v.encode())
}

pub fn set_block(height: u64, timestamp_ms: u64) {
    with_env(|e| {
        e.height = height;
        e.timestamp_ms = timestamp_ms;
    });
}

/// Events emitted so far, decoded.
pub fn events() -> Vec<(String, Value)> {
    with_env(|e| e.events.iter().map(|(n, d)| (n.clone(), Value::decode(d).unwrap_or(Value::Nil))).collect())
}

/// A stand-in for the chain hash in native tests (not cryptographic; FNV-1a spread over 32 bytes).
pub fn mock_hash(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h: u64 = 0xcbf29ce484222325 ^ i as u64;
        for b in data {
            h = (h ^ *b as u64).wrapping_mul(0x100000001b3);
        }
        chunk.copy_from_slice(&h.to_be_bytes());
    }
    out
}

/// Call `method` of a contract's method table with `args`; state is rolled back on error.
pub fn invoke(methods: &[(&str, Handler)], method: &str, args: Value) -> Result<Value, String> {
    let handler = match methods.iter().find(|(n, _)| *n == method) {
        Some((_, h)) => *h,
        None => return Err(format!("unknown method '{}'", method)),
    };
    let encoded = args.encode();
    let snapshot = with_env(|e| {
        e.method = method.to_string();
        e.args = encoded.clone();
        (e.storage.clone(), e.events.len())
    });
    let decoded = Args::decode(&encoded).map_err(|e| e.0)?;
    match handler(&decoded) {
        Ok(v) => Ok(v),
        Err(err) => {
            with_env(|e| {
                e.storage = snapshot.0;
                e.events.truncate(snapshot.1);
            });
            Err(err.0)
        }
    }
}
