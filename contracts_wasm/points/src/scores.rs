//! Contribution and consumption scores, dataset ratings and rankings.

use consortia_sdk::check::{self, set, u64_of};
use consortia_sdk::storage::{self, Key, List};
use consortia_sdk::{emit, ensure, env, Address, Args, Error, Value};

use crate::ledger::REGULATOR_ROLE;

/// Contribution counters (data provider side) and consumption counters (data user side).
pub const CONTRIBUTION: [&str; 5] = ["data_volume", "dimensions", "model_share_bp", "participations", "uses_served"];
pub const CONSUMPTION: [&str; 3] = ["queries", "task_rounds", "points_spent"];
/// Datasets a ranking looks at.
pub const MAX_RANKED: u64 = 500;

fn score_key(who: &Address) -> Key {
    Key::new("score").part(who)
}
fn dataset_key(id: u64) -> Key {
    Key::new("dstat").num(id)
}
fn datasets_seen() -> List {
    List::new(Key::new("dseen"))
}
fn used_key(dataset: u64, who: &Address) -> Key {
    Key::new("used").num(dataset).part(who)
}
fn rating_key(dataset: u64, who: &Address) -> Key {
    Key::new("rate").num(dataset).part(who)
}

fn load_or(key: &Key, init: Value) -> Result<Value, Error> {
    Ok(storage::get_value(key.bytes())?.unwrap_or(init))
}

fn add(rec: &mut Value, field: &str, amount: u64) -> Result<(), Error> {
    let v = u64_of(rec, field).checked_add(amount).ok_or_else(|| Error::new(format!("{} would overflow", field)))?;
    set(rec, field, v);
    Ok(())
}

fn dataset_stats(id: u64) -> Result<Value, Error> {
    load_or(&dataset_key(id), Value::map().with("dataset", id).with("uses", 0u8).with("earned", 0u8).with("ratings", 0u8).with("rating_sum", 0u8))
}

/// A settled use: the payer consumed, the payee served, the dataset was used.
pub fn count_use(payer: &Address, payee: &Address, dataset: u64, amount: u64) -> Result<(), Error> {
    let mut p = load_or(&score_key(payer), Value::map())?;
    add(&mut p, "queries", 1)?;
    add(&mut p, "points_spent", amount)?;
    storage::set_value(score_key(payer).bytes(), &p);
    let mut q = load_or(&score_key(payee), Value::map())?;
    add(&mut q, "uses_served", 1)?;
    storage::set_value(score_key(payee).bytes(), &q);
    let key = dataset_key(dataset);
    if !storage::has(key.bytes()) {
        datasets_seen().push(&dataset.to_be_bytes());
    }
    let mut d = dataset_stats(dataset)?;
    add(&mut d, "uses", 1)?;
    add(&mut d, "earned", amount)?;
    storage::set_value(key.bytes(), &d);
    let used = used_key(dataset, payer);
    storage::set_u64(used.bytes(), storage::get_u64(used.bytes()) + 1);
    Ok(())
}

fn record(args: &Args, fields: &[&str], event: &str) -> Result<Value, Error> {
    let caller = env::caller();
    ensure!(env::has_role(REGULATOR_ROLE, &caller), "only a regulator may record scores");
    let who = args.req_address("account")?;
    let mut rec = load_or(&score_key(&who), Value::map())?;
    let mut any = false;
    for f in fields {
        if let Some(n) = args.opt_u64(f)? {
            add(&mut rec, f, n)?;
            any = true;
        }
    }
    ensure!(any, "give at least one of {}", fields.join(", "));
    storage::set_value(score_key(&who).bytes(), &rec);
    emit(event, &Value::map().with("account", who).with("by", caller));
    Ok(rec)
}

/// record_contribution {account, data_volume?, dimensions?, model_share_bp?, participations?} -> scores (regulator)
pub fn record_contribution(args: &Args) -> Result<Value, Error> {
    record(args, &CONTRIBUTION[..4], "ContributionRecorded")
}

/// record_consumption {account, queries?, task_rounds?} -> scores (regulator)
pub fn record_consumption(args: &Args) -> Result<Value, Error> {
    record(args, &CONSUMPTION[..2], "ConsumptionRecorded")
}

/// scores {account} -> {contribution: {...}, consumption: {...}, contribution_score, consumption_score}
pub fn get(args: &Args) -> Result<Value, Error> {
    let who = args.req_address("account")?;
    let rec = load_or(&score_key(&who), Value::map())?;
    let mut contribution = Value::map();
    for f in CONTRIBUTION.iter() {
        contribution = contribution.with(f, u64_of(&rec, f));
    }
    let mut consumption = Value::map();
    for f in CONSUMPTION.iter() {
        consumption = consumption.with(f, u64_of(&rec, f));
    }
    // One number each, with fixed weights (docs/contract-points.md).
    let c = |f: &str| u64_of(&rec, f) as u128;
    let contribution_score = c("data_volume") / 1000 + c("dimensions") * 10 + c("model_share_bp") + c("participations") * 100 + c("uses_served") * 10;
    let consumption_score = c("queries") * 10 + c("task_rounds") * 100;
    Ok(Value::map()
        .with("contribution", contribution)
        .with("consumption", consumption)
        .with("contribution_score", contribution_score.min(u64::MAX as u128) as u64)
        .with("consumption_score", consumption_score.min(u64::MAX as u128) as u64))
}

/// rate {dataset, score: 1-5} -> rating: only accounts that used the dataset (a settled use); a new rating replaces the old.
pub fn rate(args: &Args) -> Result<Value, Error> {
    let dataset = args.req_u64("dataset")?;
    let score = args.req_u64("score")?;
    ensure!(score >= 1 && score <= 5, "score must be 1 to 5");
    let who = env::caller();
    ensure!(storage::get_u64(used_key(dataset, &who).bytes()) > 0, "only an account that used dataset {} may rate it", dataset);
    let mut d = dataset_stats(dataset)?;
    let key = rating_key(dataset, &who);
    let old = storage::get_u64(key.bytes());
    if old == 0 {
        add(&mut d, "ratings", 1)?;
    }
    let sum = u64_of(&d, "rating_sum") - old + score;
    set(&mut d, "rating_sum", sum);
    storage::set_u64(key.bytes(), score);
    storage::set_value(dataset_key(dataset).bytes(), &d);
    emit("DatasetRated", &Value::map().with("dataset", dataset).with("by", who).with("score", score));
    rating_of(d)
}

fn rating_of(d: Value) -> Result<Value, Error> {
    let n = u64_of(&d, "ratings");
    let avg = if n == 0 { 0 } else { u64_of(&d, "rating_sum") * 100 / n };
    let mut d = d;
    set(&mut d, "average_x100", avg);
    Ok(d)
}

/// rating {dataset} -> {dataset, uses, earned, ratings, rating_sum, average_x100}
pub fn rating(args: &Args) -> Result<Value, Error> {
    rating_of(dataset_stats(args.req_u64("dataset")?)?)
}

/// ranking {by: "rating"|"uses"|"earned", limit?} -> [stats], best first (ties: lower dataset id first)
pub fn ranking(args: &Args) -> Result<Value, Error> {
    let by = args.req_str("by")?;
    ensure!(by == "rating" || by == "uses" || by == "earned", "by must be rating, uses or earned");
    let (_, limit) = check::page(args)?;
    let mut rows: Vec<(u64, u64, Value)> = Vec::new();
    for raw in datasets_seen().page(0, MAX_RANKED) {
        if raw.len() != 8 {
            continue;
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(&raw);
        let id = u64::from_be_bytes(b);
        let d = rating_of(dataset_stats(id)?)?;
        let key = match by {
            "rating" => u64_of(&d, "average_x100"),
            "uses" => u64_of(&d, "uses"),
            _ => u64_of(&d, "earned"),
        };
        rows.push((key, id, d));
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    Ok(Value::Array(rows.into_iter().take(limit as usize).map(|r| r.2).collect()))
}
