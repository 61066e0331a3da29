//! Evidence (存证): tamper-evident records of hashes, indexed by submitter and by collaboration task.
//!
//! A record says "this hash (of a document, data set, configuration or result) existed at this
//! block and was submitted by this account". Each task has four evidence points: its
//! configuration / contract, its data inputs, the start and end of computation, and the result
//! receipt; `task_points` shows which of them are on chain.

use consortia_sdk::storage::{self, Key, List};
use consortia_sdk::msgpack::Writer;
use consortia_sdk::{contract, ensure, env, hex, Args, Error, Value};

/// The standard evidence kinds of a collaboration task, in the order they happen.
pub const TASK_POINTS: [&str; 5] = ["task_config", "data_input", "compute_start", "compute_end", "result_receipt"];

pub const MAX_HASH_LEN: usize = 64;
pub const MIN_HASH_LEN: usize = 16;
pub const MAX_KIND_LEN: usize = 32;
pub const MAX_TASK_ID_LEN: usize = 128;
pub const MAX_METADATA_BYTES: usize = 4096;
pub const MAX_PAGE: u64 = 100;

fn record_key(hash: &[u8]) -> Key {
    Key::new("rec").part(hash)
}
fn all_records() -> List {
    List::new(Key::new("all"))
}
fn by_submitter_list(submitter: &[u8]) -> List {
    List::new(Key::new("sub").part(submitter))
}
fn by_task_list(task_id: &str) -> List {
    List::new(Key::new("task").part(task_id.as_bytes()))
}
fn point_key(task_id: &str, kind: &str) -> Key {
    Key::new("point").part(task_id.as_bytes()).part(kind.as_bytes())
}

fn check_kind(kind: &str) -> Result<(), Error> {
    ensure!(!kind.is_empty() && kind.len() <= MAX_KIND_LEN, "kind must be 1 to {} characters", MAX_KIND_LEN);
    ensure!(
        kind.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.' || b == b'-'),
        "kind may only contain a-z, 0-9, '_', '.' and '-'"
    );
    Ok(())
}

fn check_task_id(task_id: &str) -> Result<(), Error> {
    ensure!(!task_id.is_empty() && task_id.len() <= MAX_TASK_ID_LEN, "task_id must be 1 to {} bytes", MAX_TASK_ID_LEN);
    Ok(())
}

/// record {hash: bin, kind: str, metadata?: any, task_id?: str} -> {seq}
fn record(args: &Args) -> Result<Value, Error> {
    let hash = args.req_bin("hash")?;
    ensure!(
        hash.len() >= MIN_HASH_LEN && hash.len() <= MAX_HASH_LEN,
        "hash must be {} to {} bytes, got {}",
        MIN_HASH_LEN,
        MAX_HASH_LEN,
        hash.len()
    );
    let kind = args.req_str("kind")?;
    check_kind(kind)?;
    let task_id = args.opt_str("task_id")?;
    if let Some(t) = task_id {
        check_task_id(t)?;
    }
    let metadata = args.get("metadata").map(|m| m.encode()).unwrap_or_else(|| vec![0xc0]);
    ensure!(metadata.len() <= MAX_METADATA_BYTES, "metadata larger than {} bytes", MAX_METADATA_BYTES);

    let key = record_key(hash);
    ensure!(!storage::has(key.bytes()), "evidence 0x{} is already recorded", hex(hash));

    let submitter = env::caller();
    let seq = all_records().push(hash);
    // Written directly as msgpack (keys in sorted order): this runs on every record.
    let mut rec = Writer::new()
        .map(9)
        .str("hash")
        .bin(hash)
        .str("height")
        .uint(env::block_height())
        .entry_str("kind", kind)
        .str("metadata")
        .finish();
    rec.extend_from_slice(&metadata);
    let rec = Writer::from_bytes(rec)
        .str("origin")
        .bin(&env::origin())
        .str("seq")
        .uint(seq)
        .str("submitter")
        .bin(&submitter)
        .str("task_id")
        .opt_str(task_id)
        .str("timestamp_ms")
        .uint(env::block_timestamp())
        .finish();
    storage::set(key.bytes(), &rec);
    by_submitter_list(&submitter).push(hash);
    if let Some(t) = task_id {
        by_task_list(t).push(hash);
        let point = point_key(t, kind);
        if TASK_POINTS.contains(&kind) && !storage::has(point.bytes()) {
            storage::set(point.bytes(), hash);
        }
    }
    let event = Writer::new()
        .map(5)
        .str("hash")
        .bin(hash)
        .entry_str("kind", kind)
        .str("seq")
        .uint(seq)
        .str("submitter")
        .bin(&submitter)
        .str("task_id")
        .opt_str(task_id)
        .finish();
    env::emit_raw("EvidenceRecorded", &event);
    Ok(Value::map().with("seq", seq))
}

fn load(hash: &[u8]) -> Result<Option<Value>, Error> {
    storage::get_value(record_key(hash).bytes())
}

/// get {hash} -> record | nil
fn get(args: &Args) -> Result<Value, Error> {
    Ok(load(args.req_bin("hash")?)?.unwrap_or(Value::Nil))
}

/// exists {hash} -> bool
fn exists(args: &Args) -> Result<Value, Error> {
    Ok(Value::Bool(storage::has(record_key(args.req_bin("hash")?).bytes())))
}

/// verify {hash, submitter?} -> bool: is `hash` recorded (and, if given, by `submitter`)?
fn verify(args: &Args) -> Result<Value, Error> {
    let rec = match load(args.req_bin("hash")?)? {
        Some(r) => r,
        None => return Ok(Value::Bool(false)),
    };
    match args.opt_bin("submitter")? {
        Some(who) => Ok(Value::Bool(rec.get("submitter").and_then(|v| v.as_bin()) == Some(who))),
        None => Ok(Value::Bool(true)),
    }
}

fn page_of(list: List, args: &Args) -> Result<Value, Error> {
    let offset = args.opt_u64("offset")?.unwrap_or(0);
    let limit = args.opt_u64("limit")?.unwrap_or(MAX_PAGE);
    ensure!(limit >= 1 && limit <= MAX_PAGE, "limit must be 1 to {}", MAX_PAGE);
    let mut items = Vec::new();
    for hash in list.page(offset, limit) {
        if let Some(rec) = load(&hash)? {
            items.push(rec);
        }
    }
    Ok(Value::map().with("total", list.len()).with("offset", offset).with("items", items))
}

/// by_submitter {submitter: bin20, offset?, limit?} -> {total, offset, items}
fn by_submitter(args: &Args) -> Result<Value, Error> {
    let submitter = args.req_address("submitter")?;
    page_of(by_submitter_list(&submitter), args)
}

/// by_task {task_id, offset?, limit?} -> {total, offset, items}
fn by_task(args: &Args) -> Result<Value, Error> {
    let task_id = args.req_str("task_id")?;
    check_task_id(task_id)?;
    page_of(by_task_list(task_id), args)
}

/// task_points {task_id} -> {points: {kind: hash|nil}, complete: bool}
fn task_points(args: &Args) -> Result<Value, Error> {
    let task_id = args.req_str("task_id")?;
    check_task_id(task_id)?;
    let mut points = Value::map();
    let mut complete = true;
    for kind in TASK_POINTS.iter() {
        let hash = storage::get(point_key(task_id, kind).bytes());
        complete &= hash.is_some();
        points = points.with(kind, hash);
    }
    Ok(Value::map().with("points", points).with("complete", complete))
}

/// count {} -> number of records
fn count(_args: &Args) -> Result<Value, Error> {
    Ok(Value::from(all_records().len()))
}

contract! {
    "record" => record,
    "get" => get,
    "exists" => exists,
    "verify" => verify,
    "by_submitter" => by_submitter,
    "by_task" => by_task,
    "task_points" => task_points,
    "count" => count,
}

#[cfg(test)]
mod tests {
    use super::*;
    use consortia_sdk::testing::{self, invoke};

    const ALICE: [u8; 20] = [0xa1; 20];
    const BOB: [u8; 20] = [0xb0; 20];

    fn rec(hash: u8, kind: &str, task: Option<&str>) -> Value {
        Value::map().with("hash", vec![hash; 32]).with("kind", kind).with("task_id", task)
    }

    #[test]
    fn records_and_reads_back() {
        testing::reset();
        testing::set_caller(ALICE);
        testing::set_block(7, 1_700_000_000_000);
        let out = invoke(METHODS, "record", rec(1, "document", None).with("metadata", Value::map().with("name", "contract.pdf"))).unwrap();
        assert_eq!(out.get("seq").and_then(|v| v.as_u64()), Some(0));
        let got = invoke(METHODS, "get", Value::map().with("hash", vec![1u8; 32])).unwrap();
        assert_eq!(got.get("submitter").and_then(|v| v.as_bin()), Some(&ALICE[..]));
        assert_eq!(got.get("height").and_then(|v| v.as_u64()), Some(7));
        assert_eq!(got.get("metadata").and_then(|m| m.get("name")).and_then(|v| v.as_str()), Some("contract.pdf"));
        let events = testing::events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, "EvidenceRecorded");
    }

    #[test]
    fn duplicates_are_rejected_and_change_nothing() {
        testing::reset();
        testing::set_caller(ALICE);
        invoke(METHODS, "record", rec(2, "document", None)).unwrap();
        testing::set_caller(BOB);
        let err = invoke(METHODS, "record", rec(2, "other", None)).unwrap_err();
        assert!(err.contains("already recorded"), "{}", err);
        assert_eq!(invoke(METHODS, "count", Value::map()).unwrap(), Value::from(1u8));
        assert_eq!(testing::events().len(), 1);
    }

    #[test]
    fn indexes_by_submitter_and_task_with_paging() {
        testing::reset();
        testing::set_caller(ALICE);
        for i in 0..5u8 {
            invoke(METHODS, "record", rec(10 + i, "data_input", Some("task-1"))).unwrap();
        }
        testing::set_caller(BOB);
        invoke(METHODS, "record", rec(20, "result_receipt", Some("task-1"))).unwrap();
        let page = invoke(METHODS, "by_submitter", Value::map().with("submitter", ALICE).with("offset", 3u8).with("limit", 10u8)).unwrap();
        assert_eq!(page.get("total").and_then(|v| v.as_u64()), Some(5));
        assert_eq!(page.get("items").and_then(|v| v.as_array()).map(|a| a.len()), Some(2));
        let task = invoke(METHODS, "by_task", Value::map().with("task_id", "task-1")).unwrap();
        assert_eq!(task.get("total").and_then(|v| v.as_u64()), Some(6));
        assert!(invoke(METHODS, "by_task", Value::map().with("task_id", "task-1").with("limit", 1000u32)).is_err());
    }

    #[test]
    fn task_points_track_the_four_evidence_points() {
        testing::reset();
        testing::set_caller(ALICE);
        let points = |t: &str| invoke(METHODS, "task_points", Value::map().with("task_id", t)).unwrap();
        assert_eq!(points("t").get("complete"), Some(&Value::Bool(false)));
        for (i, kind) in TASK_POINTS.iter().enumerate() {
            invoke(METHODS, "record", rec(40 + i as u8, kind, Some("t"))).unwrap();
        }
        let p = points("t");
        assert_eq!(p.get("complete"), Some(&Value::Bool(true)));
        assert_eq!(p.get("points").and_then(|m| m.get("compute_end")).and_then(|v| v.as_bin()), Some(&[43u8; 32][..]));
    }

    #[test]
    fn bad_arguments_are_refused() {
        testing::reset();
        assert!(invoke(METHODS, "record", Value::map().with("kind", "x")).unwrap_err().contains("missing argument 'hash'"));
        assert!(invoke(METHODS, "record", rec(1, "Bad Kind", None)).is_err());
        assert!(invoke(METHODS, "record", Value::map().with("hash", vec![1u8; 4]).with("kind", "x")).is_err());
        assert!(invoke(METHODS, "record", rec(1, "x", None).with("metadata", vec![0u8; 5000])).is_err());
        assert!(invoke(METHODS, "record", rec(1, "x", None).with("task_id", 5u8)).is_err());
        assert!(invoke(METHODS, "nope", Value::map()).is_err());
        assert_eq!(invoke(METHODS, "count", Value::map()).unwrap(), Value::from(0u8));
    }

    #[test]
    fn verify_checks_the_submitter() {
        testing::reset();
        testing::set_caller(ALICE);
        invoke(METHODS, "record", rec(3, "document", None)).unwrap();
        let v = |who: [u8; 20]| invoke(METHODS, "verify", Value::map().with("hash", vec![3u8; 32]).with("submitter", who)).unwrap();
        assert_eq!(v(ALICE), Value::Bool(true));
        assert_eq!(v(BOB), Value::Bool(false));
    }
}
