//! Escrow: points locked at request time, released to the payee when the payer confirms receipt
//! with the hash the payee delivered, refunded on the payee's failure or after the timeout height.
//!
//! States: locked → delivered → released; locked | delivered → refunded.

use consortia_sdk::check::{self, bin_of, load_map, set, str_of, u64_of};
use consortia_sdk::storage::{self, Key};
use consortia_sdk::{emit, ensure, env, hex, Args, Error, Value};

use crate::ledger::{credit, debit};

fn escrow_key(id: u64) -> Key {
    Key::new("esc").num(id)
}
fn next_key() -> Key {
    Key::new("esc_next")
}

fn load(id: u64) -> Result<Value, Error> {
    load_map(escrow_key(id).bytes(), &format!("escrow {}", id))
}

fn save(id: u64, rec: &Value) {
    storage::set_value(escrow_key(id).bytes(), rec);
}

/// escrow_lock {payee, amount, timeout_height, ref?} -> {id}: the caller's points are held.
pub fn lock(args: &Args) -> Result<Value, Error> {
    let payee = args.req_address("payee")?;
    let amount = args.req_u64("amount")?;
    ensure!(amount > 0, "amount must be positive");
    let timeout = args.req_u64("timeout_height")?;
    ensure!(timeout > env::block_height(), "timeout_height {} is not after the current height {}", timeout, env::block_height());
    let reference = args.opt_str("ref")?.unwrap_or("");
    check::text("ref", reference, 0, 128)?;
    let payer = env::caller();
    ensure!(payer != payee, "the payee must differ from the payer");
    debit(&payer, amount)?;
    let id = storage::get_u64(next_key().bytes()) + 1;
    storage::set_u64(next_key().bytes(), id);
    let rec = Value::map()
        .with("id", id)
        .with("payer", payer)
        .with("payee", payee)
        .with("amount", amount)
        .with("timeout_height", timeout)
        .with("ref", reference)
        .with("state", "locked")
        .with("locked_height", env::block_height());
    save(id, &rec);
    emit("EscrowLocked", &Value::map().with("id", id).with("payer", payer).with("payee", payee).with("amount", amount).with("timeout_height", timeout).with("ref", reference));
    Ok(Value::map().with("id", id))
}

/// escrow_deliver {id, hash} -> escrow: the payee states the hash of what it delivered.
pub fn deliver(args: &Args) -> Result<Value, Error> {
    let id = args.req_u64("id")?;
    let hash = args.req_bin("hash")?;
    check::digest("hash", hash)?;
    let mut rec = load(id)?;
    ensure!(bin_of(&rec, "payee") == &env::caller()[..], "only the payee of escrow {} may deliver", id);
    ensure!(str_of(&rec, "state") == "locked", "escrow {} is {}, not locked", id, str_of(&rec, "state"));
    set(&mut rec, "state", "delivered");
    set(&mut rec, "delivered_hash", hash);
    save(id, &rec);
    emit("EscrowDelivered", &Value::map().with("id", id).with("hash", hash));
    Ok(rec)
}

/// escrow_confirm {id, hash} -> escrow: the payer confirms receipt; the hashes must match.
pub fn confirm(args: &Args) -> Result<Value, Error> {
    let id = args.req_u64("id")?;
    let hash = args.req_bin("hash")?;
    check::digest("hash", hash)?;
    let mut rec = load(id)?;
    ensure!(bin_of(&rec, "payer") == &env::caller()[..], "only the payer of escrow {} may confirm receipt", id);
    ensure!(str_of(&rec, "state") == "delivered", "escrow {} is {}, not delivered", id, str_of(&rec, "state"));
    let delivered = bin_of(&rec, "delivered_hash").to_vec();
    ensure!(delivered == hash, "receipt hash 0x{} does not match the delivered hash 0x{}", hex(hash), hex(&delivered));
    let mut payee = [0u8; 20];
    payee.copy_from_slice(bin_of(&rec, "payee"));
    let amount = u64_of(&rec, "amount");
    credit(&payee, amount)?;
    set(&mut rec, "state", "released");
    set(&mut rec, "closed_height", env::block_height());
    save(id, &rec);
    emit("EscrowReleased", &Value::map().with("id", id).with("payee", payee).with("amount", amount));
    Ok(rec)
}

/// escrow_refund {id, reason?} -> escrow: the payee at any time (it failed), the payer after the timeout.
pub fn refund(args: &Args) -> Result<Value, Error> {
    let id = args.req_u64("id")?;
    let reason = args.opt_str("reason")?.unwrap_or("");
    check::text("reason", reason, 0, 256)?;
    let mut rec = load(id)?;
    let state = str_of(&rec, "state").to_string();
    ensure!(state == "locked" || state == "delivered", "escrow {} is {}, nothing to refund", id, state);
    let caller = env::caller();
    let by_payee = bin_of(&rec, "payee") == &caller[..];
    let by_payer = bin_of(&rec, "payer") == &caller[..];
    let timeout = u64_of(&rec, "timeout_height");
    ensure!(by_payee || by_payer, "only the payer or the payee of escrow {} may refund it", id);
    ensure!(by_payee || env::block_height() > timeout, "the payer may claim a refund only after height {}", timeout);
    let mut payer = [0u8; 20];
    payer.copy_from_slice(bin_of(&rec, "payer"));
    let amount = u64_of(&rec, "amount");
    credit(&payer, amount)?;
    set(&mut rec, "state", "refunded");
    set(&mut rec, "closed_height", env::block_height());
    set(&mut rec, "reason", reason);
    save(id, &rec);
    emit("EscrowRefunded", &Value::map().with("id", id).with("payer", payer).with("amount", amount).with("by", caller).with("reason", reason));
    Ok(rec)
}

/// escrow {id} -> record | nil
pub fn get(args: &Args) -> Result<Value, Error> {
    let id = args.req_u64("id")?;
    Ok(storage::get_value(escrow_key(id).bytes())?.unwrap_or(Value::Nil))
}
