//! Balances, minting by the regulator, transfers, and the catalog's pay-per-use settlement.

use consortia_sdk::check::{self, bin_of};
use consortia_sdk::storage::{self, Key};
use consortia_sdk::{emit, ensure, env, hex, Address, Args, Error, Value};

use crate::scores;

pub const REGULATOR_ROLE: &str = "regulator";
pub const MAX_MEMO: usize = 256;

fn config_key() -> Key {
    Key::new("config")
}
fn balance_key(who: &Address) -> Key {
    Key::new("bal").part(who)
}
fn supply_key() -> Key {
    Key::new("supply")
}

pub fn balance_of(who: &Address) -> u64 {
    storage::get_u64(balance_key(who).bytes())
}

pub fn credit(who: &Address, amount: u64) -> Result<(), Error> {
    let now = balance_of(who);
    let new = now.checked_add(amount).ok_or_else(|| Error::new("balance would overflow"))?;
    storage::set_u64(balance_key(who).bytes(), new);
    Ok(())
}

pub fn debit(who: &Address, amount: u64) -> Result<(), Error> {
    let now = balance_of(who);
    ensure!(now >= amount, "insufficient points: 0x{} has {}, needs {}", hex(who), now, amount);
    storage::set_u64(balance_key(who).bytes(), now - amount);
    Ok(())
}

/// init {catalog: bin20} -> nil: the catalog is the only caller of `charge_use`; the deployer
/// (`admin`) may later add settlement contracts (`add_settler`).
pub fn init(args: &Args) -> Result<Value, Error> {
    ensure!(!storage::has(config_key().bytes()), "points are already initialised");
    let catalog = args.req_address("catalog")?;
    storage::set_value(config_key().bytes(), &Value::map().with("catalog", catalog).with("admin", env::origin()).with("settlers", Vec::<Value>::new()));
    Ok(Value::Nil)
}

/// add_settler {contract: bin20} -> nil: by the deployer; that contract may then `settle`.
pub fn add_settler(args: &Args) -> Result<Value, Error> {
    let contract = args.req_address("contract")?;
    let mut cfg = storage::get_value(config_key().bytes())?.ok_or_else(|| Error::new("points are not initialised (deploy with init {catalog})"))?;
    ensure!(bin_of(&cfg, "admin") == &env::caller()[..], "only the account that deployed the points contract may add settlers");
    let mut settlers = cfg.get("settlers").and_then(|v| v.as_array()).cloned().unwrap_or_default();
    ensure!(!settlers.iter().any(|s| s.as_bin() == Some(&contract[..])), "0x{} is already a settler", hex(&contract));
    ensure!(settlers.len() < 16, "at most 16 settlers");
    settlers.push(Value::from(contract));
    check::set(&mut cfg, "settlers", settlers);
    storage::set_value(config_key().bytes(), &cfg);
    emit("SettlerAdded", &Value::map().with("contract", contract));
    Ok(Value::Nil)
}

/// settle {payee, amount, ref} -> {payer_balance}: a settler contract moves points from the
/// transaction's signer (never anyone else) to `payee`, inside the signer's own transaction.
pub fn settle(args: &Args) -> Result<Value, Error> {
    let caller = env::caller();
    let cfg = storage::get_value(config_key().bytes())?.ok_or_else(|| Error::new("points are not initialised (deploy with init {catalog})"))?;
    let allowed = cfg.get("settlers").and_then(|v| v.as_array()).map(|a| a.iter().any(|s| s.as_bin() == Some(&caller[..]))).unwrap_or(false);
    ensure!(allowed, "only a settler contract may settle");
    let payee = args.req_address("payee")?;
    let amount = args.req_u64("amount")?;
    let reference = args.req_str("ref")?;
    check::text("ref", reference, 0, 128)?;
    let payer = env::origin();
    if amount > 0 && payer != payee {
        debit(&payer, amount)?;
        credit(&payee, amount)?;
    }
    emit("Settled", &Value::map().with("payer", payer).with("payee", payee).with("amount", amount).with("by", caller).with("ref", reference));
    Ok(Value::map().with("payer_balance", balance_of(&payer)))
}

/// config {} -> {catalog, admin, settlers} | nil
pub fn config(_args: &Args) -> Result<Value, Error> {
    Ok(storage::get_value(config_key().bytes())?.unwrap_or(Value::Nil))
}

fn catalog() -> Result<Vec<u8>, Error> {
    let cfg = storage::get_value(config_key().bytes())?.ok_or_else(|| Error::new("points are not initialised (deploy with init {catalog})"))?;
    Ok(bin_of(&cfg, "catalog").to_vec())
}

fn amount_arg(args: &Args) -> Result<u64, Error> {
    let amount = args.req_u64("amount")?;
    ensure!(amount > 0, "amount must be positive");
    Ok(amount)
}

/// mint {to, amount, memo?} -> {balance}: regulator only.
pub fn mint(args: &Args) -> Result<Value, Error> {
    let to = args.req_address("to")?;
    let amount = amount_arg(args)?;
    let memo = args.opt_str("memo")?.unwrap_or("");
    check::text("memo", memo, 0, MAX_MEMO)?;
    let caller = env::caller();
    ensure!(env::has_role(REGULATOR_ROLE, &caller), "only a regulator may mint points");
    let supply = storage::get_u64(supply_key().bytes()).checked_add(amount).ok_or_else(|| Error::new("supply would overflow"))?;
    credit(&to, amount)?;
    storage::set_u64(supply_key().bytes(), supply);
    emit("PointsMinted", &Value::map().with("to", to).with("amount", amount).with("by", caller).with("memo", memo));
    Ok(Value::map().with("balance", balance_of(&to)))
}

/// transfer {to, amount, memo?} -> {balance}: from the caller.
pub fn transfer(args: &Args) -> Result<Value, Error> {
    let to = args.req_address("to")?;
    let amount = amount_arg(args)?;
    let memo = args.opt_str("memo")?.unwrap_or("");
    check::text("memo", memo, 0, MAX_MEMO)?;
    let from = env::caller();
    ensure!(from != to, "cannot transfer to yourself");
    debit(&from, amount)?;
    credit(&to, amount)?;
    emit("PointsTransferred", &Value::map().with("from", from).with("to", to).with("amount", amount).with("memo", memo));
    Ok(Value::map().with("balance", balance_of(&from)))
}

/// balance {account} -> uint
pub fn balance(args: &Args) -> Result<Value, Error> {
    Ok(Value::from(balance_of(&args.req_address("account")?)))
}

/// supply {} -> uint: points minted so far
pub fn supply(_args: &Args) -> Result<Value, Error> {
    Ok(Value::from(storage::get_u64(supply_key().bytes())))
}

/// charge_use {payer, payee, amount, auth, use, dataset} -> {payer_balance}: the catalog only,
/// inside its `use`, so the debit, the credit and the use stand or fall together.
pub fn charge_use(args: &Args) -> Result<Value, Error> {
    ensure!(env::caller()[..] == catalog()?[..], "only the catalog contract may settle uses");
    let payer = args.req_address("payer")?;
    let payee = args.req_address("payee")?;
    let amount = args.req_u64("amount")?;
    let auth = args.req_u64("auth")?;
    let n = args.req_u64("use")?;
    let dataset = args.req_u64("dataset")?;
    if amount > 0 && payer != payee {
        debit(&payer, amount)?;
        credit(&payee, amount)?;
    }
    scores::count_use(&payer, &payee, dataset, amount)?;
    emit("UseSettled", &Value::map().with("payer", payer).with("payee", payee).with("amount", amount).with("auth", auth).with("use", n).with("dataset", dataset));
    Ok(Value::map().with("payer_balance", balance_of(&payer)))
}
