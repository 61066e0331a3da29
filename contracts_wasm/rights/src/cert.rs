//! Templates, certificates, transfers, sales and the audit trail.

use consortia_sdk::check::{self, bin_of, bool_of, load_map, set, str_of, u64_of};
use consortia_sdk::storage::{self, Key, List};
use consortia_sdk::{emit, ensure, env, Args, Error, Value};

use crate::links::{call, require_controller};

pub const TEMPLATE_ROLES: [&str; 2] = ["consortium_leader", "regulator"];
pub const ISSUER_ROLE: &str = "regulator";
pub const MAX_BP: u64 = 10_000;

fn template_key(id: &str) -> Key {
    Key::new("tpl").part(id.as_bytes())
}
fn cert_key(id: u64) -> Key {
    Key::new("cert").num(id)
}
fn next_key() -> Key {
    Key::new("cert_next")
}
fn holder_list(did: &str) -> List {
    List::new(Key::new("holder").part(did.as_bytes()))
}
fn holder_mark(did: &str, id: u64) -> Key {
    Key::new("holdmark").part(did.as_bytes()).num(id)
}
fn trail(id: u64) -> List {
    List::new(Key::new("trail").num(id))
}

fn load(id: u64) -> Result<Value, Error> {
    load_map(cert_key(id).bytes(), &format!("certificate {}", id))
}

fn did_arg<'a>(args: &'a Args, name: &str) -> Result<&'a str, Error> {
    let did = args.req_str(name)?;
    ensure!(did.starts_with("did:consortia:") && did.len() <= 78, "argument '{}' must be a DID 'did:consortia:<id>'", name);
    Ok(did)
}

fn index_holder(did: &str, id: u64) {
    let mark = holder_mark(did, id);
    if !storage::has(mark.bytes()) {
        storage::set(mark.bytes(), &[1]);
        holder_list(did).push(&id.to_be_bytes());
    }
}

/// Append an audit entry and emit it.
fn audit(id: u64, action: &str, detail: Value) {
    let entry = detail.with("cert", id).with("action", action).with("by", env::caller()).with("height", env::block_height());
    trail(id).push(&entry.encode());
    emit("RightsAudit", &entry);
}

/// An active certificate whose holder DID the caller controls.
fn held(args: &Args) -> Result<(u64, Value), Error> {
    let id = args.req_u64("cert")?;
    let rec = load(id)?;
    ensure!(!bool_of(&rec, "revoked"), "certificate {} is revoked", id);
    let expires = u64_of(&rec, "expires_height");
    ensure!(expires == 0 || env::block_height() <= expires, "certificate {} expired at height {}", id, expires);
    require_controller(str_of(&rec, "holder"))?;
    Ok((id, rec))
}

/// create_template {id, name, rights_type, terms} -> nil: consortium_leader or regulator.
pub fn create_template(args: &Args) -> Result<Value, Error> {
    let id = args.req_str("id")?;
    check::ident("template id", id, 64)?;
    let name = args.req_str("name")?;
    check::text("name", name, 1, 128)?;
    let rights_type = args.req_str("rights_type")?;
    check::token("rights_type", rights_type, 32)?;
    let terms = args.opt_str("terms")?.unwrap_or("");
    check::text("terms", terms, 0, 4096)?;
    let caller = env::caller();
    ensure!(TEMPLATE_ROLES.iter().any(|r| env::has_role(r, &caller)), "only a consortium leader or a regulator may define templates");
    ensure!(!storage::has(template_key(id).bytes()), "template '{}' already exists", id);
    let rec = Value::map().with("id", id).with("name", name).with("rights_type", rights_type).with("terms", terms).with("by", caller).with("height", env::block_height());
    storage::set_value(template_key(id).bytes(), &rec);
    emit("TemplateCreated", &Value::map().with("id", id).with("rights_type", rights_type));
    Ok(Value::Nil)
}

/// template {id} -> record | nil
pub fn template(args: &Args) -> Result<Value, Error> {
    let id = args.req_str("id")?;
    check::ident("template id", id, 64)?;
    Ok(storage::get_value(template_key(id).bytes())?.unwrap_or(Value::Nil))
}

/// issue {template, holder, source, scope, profit_share_bp, beneficiary, price?, expires_height?} -> {id}: regulator.
pub fn issue(args: &Args) -> Result<Value, Error> {
    let tpl_id = args.req_str("template")?;
    check::ident("template id", tpl_id, 64)?;
    let tpl = load_map(template_key(tpl_id).bytes(), &format!("template '{}'", tpl_id))?;
    let holder = did_arg(args, "holder")?;
    let source = args.req_str("source")?;
    check::text("source", source, 1, 256)?;
    let scope = args.req_str("scope")?;
    check::text("scope", scope, 1, 256)?;
    let share = args.req_u64("profit_share_bp")?;
    ensure!(share <= MAX_BP, "profit_share_bp must be 0 to {}", MAX_BP);
    let beneficiary = args.req_address("beneficiary")?;
    let price = args.opt_u64("price")?.unwrap_or(0);
    let expires = args.opt_u64("expires_height")?.unwrap_or(0);
    ensure!(expires == 0 || expires > env::block_height(), "expires_height is not after the current height");
    ensure!(env::has_role(ISSUER_ROLE, &env::caller()), "only a regulator may issue data-rights certificates");
    let exists = call("did", "resolve", Value::map().with("did", holder))?;
    ensure!(!exists.is_nil() && !bool_of(&exists, "deactivated"), "holder {} is not an active DID", holder);
    let id = storage::get_u64(next_key().bytes()) + 1;
    storage::set_u64(next_key().bytes(), id);
    let rec = Value::map()
        .with("id", id)
        .with("template", tpl_id)
        .with("rights_type", str_of(&tpl, "rights_type"))
        .with("holder", holder)
        .with("source", source)
        .with("scope", scope)
        .with("profit_share_bp", share)
        .with("beneficiary", beneficiary)
        .with("price", price)
        .with("for_sale", false)
        .with("expires_height", expires)
        .with("revoked", false)
        .with("issued_height", env::block_height());
    storage::set_value(cert_key(id).bytes(), &rec);
    index_holder(holder, id);
    audit(id, "issued", Value::map().with("to", holder).with("price", price));
    Ok(Value::map().with("id", id))
}

/// transfer {cert, to} -> certificate: the holder's controller gives it away (no payment).
pub fn transfer(args: &Args) -> Result<Value, Error> {
    let to = did_arg(args, "to")?;
    let (id, mut rec) = held(args)?;
    let from = str_of(&rec, "holder").to_string();
    ensure!(from != to, "certificate {} is already held by {}", id, to);
    let target = call("did", "resolve", Value::map().with("did", to))?;
    ensure!(!target.is_nil() && !bool_of(&target, "deactivated"), "{} is not an active DID", to);
    set(&mut rec, "holder", to);
    set(&mut rec, "for_sale", false);
    storage::set_value(cert_key(id).bytes(), &rec);
    index_holder(to, id);
    audit(id, "transferred", Value::map().with("from", from.as_str()).with("to", to));
    Ok(rec)
}

/// list_for_sale {cert, price, payout?} -> certificate: offered at `price` points, paid to `payout` (default the caller).
pub fn list_for_sale(args: &Args) -> Result<Value, Error> {
    let price = args.req_u64("price")?;
    let payout = match args.get("payout") {
        Some(_) => args.req_address("payout")?,
        None => env::caller(),
    };
    let (id, mut rec) = held(args)?;
    set(&mut rec, "price", price);
    set(&mut rec, "for_sale", true);
    set(&mut rec, "payout", payout);
    storage::set_value(cert_key(id).bytes(), &rec);
    audit(id, "listed", Value::map().with("price", price));
    Ok(rec)
}

/// buy {cert, buyer} -> certificate: the buyer's controller pays the price in points
/// (profit_share_bp of it to the beneficiary, the rest to the seller's payout) and becomes the holder.
pub fn buy(args: &Args) -> Result<Value, Error> {
    let id = args.req_u64("cert")?;
    let buyer = did_arg(args, "buyer")?;
    let mut rec = load(id)?;
    ensure!(!bool_of(&rec, "revoked"), "certificate {} is revoked", id);
    ensure!(bool_of(&rec, "for_sale"), "certificate {} is not for sale", id);
    let expires = u64_of(&rec, "expires_height");
    ensure!(expires == 0 || env::block_height() <= expires, "certificate {} expired at height {}", id, expires);
    let seller = str_of(&rec, "holder").to_string();
    ensure!(seller != buyer, "{} already holds certificate {}", buyer, id);
    require_controller(buyer)?;
    let price = u64_of(&rec, "price");
    let share = (price as u128 * u64_of(&rec, "profit_share_bp") as u128 / MAX_BP as u128) as u64;
    let reference = format!("rights certificate {}", id);
    if share > 0 {
        call("points", "settle", Value::map().with("payee", bin_of(&rec, "beneficiary")).with("amount", share).with("ref", reference.as_str()))?;
    }
    if price > share {
        call("points", "settle", Value::map().with("payee", bin_of(&rec, "payout")).with("amount", price - share).with("ref", reference.as_str()))?;
    }
    set(&mut rec, "holder", buyer);
    set(&mut rec, "for_sale", false);
    storage::set_value(cert_key(id).bytes(), &rec);
    index_holder(buyer, id);
    audit(id, "sold", Value::map().with("from", seller.as_str()).with("to", buyer).with("price", price).with("profit_share", share));
    Ok(rec)
}

/// revoke {cert, reason?} -> certificate: regulator.
pub fn revoke(args: &Args) -> Result<Value, Error> {
    let id = args.req_u64("cert")?;
    let reason = args.opt_str("reason")?.unwrap_or("");
    check::text("reason", reason, 0, 256)?;
    ensure!(env::has_role(ISSUER_ROLE, &env::caller()), "only a regulator may revoke data-rights certificates");
    let mut rec = load(id)?;
    ensure!(!bool_of(&rec, "revoked"), "certificate {} is already revoked", id);
    set(&mut rec, "revoked", true);
    set(&mut rec, "for_sale", false);
    storage::set_value(cert_key(id).bytes(), &rec);
    audit(id, "revoked", Value::map().with("reason", reason));
    Ok(rec)
}

/// certificate {cert} -> record | nil
pub fn certificate(args: &Args) -> Result<Value, Error> {
    Ok(storage::get_value(cert_key(args.req_u64("cert")?).bytes())?.unwrap_or(Value::Nil))
}

/// by_holder {holder, offset?, limit?} -> {total, offset, items}: certificates the DID holds now.
pub fn by_holder(args: &Args) -> Result<Value, Error> {
    let holder = did_arg(args, "holder")?;
    let (offset, limit) = check::page(args)?;
    let list = holder_list(holder);
    let mut items = Vec::new();
    for raw in list.page(offset, limit) {
        if raw.len() == 8 {
            let mut b = [0u8; 8];
            b.copy_from_slice(&raw);
            let rec = load(u64::from_be_bytes(b))?;
            if str_of(&rec, "holder") == holder {
                items.push(rec);
            }
        }
    }
    Ok(Value::map().with("total", list.len()).with("offset", offset).with("items", items))
}

/// history {cert, offset?, limit?} -> {total, offset, items}: the audit trail.
pub fn history(args: &Args) -> Result<Value, Error> {
    let id = args.req_u64("cert")?;
    let (offset, limit) = check::page(args)?;
    let list = trail(id);
    let mut items = Vec::new();
    for raw in list.page(offset, limit) {
        items.push(Value::decode(&raw).map_err(|e| Error::new(format!("corrupt audit entry: {}", e)))?);
    }
    Ok(Value::map().with("total", list.len()).with("offset", offset).with("items", items))
}
