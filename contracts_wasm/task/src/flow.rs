//! Running a task: acknowledgements phase by phase, result receipts, failure and termination.

use std::collections::BTreeMap;

use consortia_sdk::check::{self, set, str_of};
use consortia_sdk::storage;
use consortia_sdk::{emit, ensure, env, Args, Error, Value};

use crate::links::{call, evidence, require_controller};
use crate::spec::{load, task_key, PHASES};

/// The evidence points a task records, in order; success needs all of them.
pub const EVIDENCE_POINTS: [&str; 5] = ["task_config", "data_input", "compute_start", "compute_end", "result_receipt"];

/// After cleanup, the task waits here for every receiver's receipt.
pub const RECEIPT_PHASE: &str = "receipt";

fn strings(rec: &Value, field: &str) -> Vec<String> {
    rec.get(field).and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|x| x.as_str().map(|s| s.to_string())).collect()).unwrap_or_default()
}

fn sub_map(rec: &Value, field: &str, key: &str) -> BTreeMap<String, Value> {
    rec.get(field).and_then(|m| m.get(key)).and_then(|v| v.as_map()).cloned().unwrap_or_default()
}

fn put_sub(rec: &mut Value, field: &str, key: &str, value: Value) {
    let mut outer = rec.get(field).and_then(|v| v.as_map()).cloned().unwrap_or_default();
    outer.insert(key.to_string(), value);
    set(rec, field, Value::Map(outer));
}

/// The commitments of `phase` concatenated in the order of `order` (participants or receivers).
fn concat(map: &BTreeMap<String, Value>, order: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for who in order {
        if let Some(b) = map.get(who).and_then(|v| v.as_bin()) {
            out.extend_from_slice(&(who.len() as u32).to_be_bytes());
            out.extend_from_slice(who.as_bytes());
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        }
    }
    out
}

fn running(rec: &Value, id: &str) -> Result<(), Error> {
    let state = str_of(rec, "state");
    ensure!(state == "running", "task '{}' is {}", id, state);
    Ok(())
}

fn save(id: &str, rec: &mut Value) {
    set(rec, "updated", env::block_height());
    storage::set_value(task_key(id).bytes(), rec);
}

fn record_point(rec: &mut Value, id: &str, kind: &str, data: &[u8]) -> Result<(), Error> {
    let hash = evidence(id, kind, data)?;
    put_sub(rec, "evidence", kind, Value::Bin(hash));
    Ok(())
}

/// Succeed if cleanup is done and every receiver has confirmed: record the receipt point and
/// check with the evidence contract that all the task's points are on chain.
fn maybe_finish(rec: &mut Value, id: &str) -> Result<(), Error> {
    let receivers = strings(rec, "receivers");
    let receipts = rec.get("receipts").and_then(|v| v.as_map()).cloned().unwrap_or_default();
    if str_of(rec, "phase") != RECEIPT_PHASE || receivers.iter().any(|r| !receipts.contains_key(r)) {
        return Ok(());
    }
    record_point(rec, id, "result_receipt", &concat(&receipts, &receivers))?;
    // Ask the evidence contract for each of this task's own records (submitted by this contract):
    // records anyone else filed under the same task id do not count.
    let mut missing = Vec::new();
    for kind in EVIDENCE_POINTS.iter() {
        let hash = rec.get("evidence").and_then(|e| e.get(kind)).and_then(|v| v.as_bin()).map(|b| b.to_vec()).unwrap_or_default();
        let there = !hash.is_empty()
            && call("evidence", "verify", Value::map().with("hash", hash).with("submitter", env::self_address()))? == Value::Bool(true);
        if !there {
            missing.push(*kind);
        }
    }
    ensure!(missing.is_empty(), "task '{}' cannot finish: evidence points missing: {}", id, missing.join(", "));
    set(rec, "state", "succeeded");
    set(rec, "phase", "done");
    emit("TaskSucceeded", &Value::map().with("id", id));
    Ok(())
}

/// ack {task, participant, phase, commitment?} -> task: `commitment` (16-64 bytes, a salted hash)
/// is required in prepare (data input), align (intermediate result) and compute (final result).
pub fn ack(args: &Args) -> Result<Value, Error> {
    let id = args.req_str("task")?;
    let mut rec = load(id)?;
    running(&rec, id)?;
    let participant = args.req_str("participant")?;
    let phase = args.req_str("phase")?;
    let current = str_of(&rec, "phase").to_string();
    ensure!(phase == current, "task '{}' is in phase {}, not {}", id, current, phase);
    ensure!(PHASES.contains(&phase), "phase {} takes no acknowledgements", phase);
    let participants = strings(&rec, "participants");
    ensure!(participants.iter().any(|p| p == participant), "{} is not a participant of task '{}'", participant, id);
    let mut acks = rec.get("acks").and_then(|v| v.as_map()).cloned().unwrap_or_default();
    let key = format!("{}/{}", phase, participant);
    ensure!(!acks.contains_key(&key), "{} already acknowledged {} of task '{}'", participant, phase, id);
    let commitment = args.opt_bin("commitment")?;
    if phase != "cleanup" {
        ensure!(commitment.is_some(), "acknowledging {} needs a commitment (a salted hash)", phase);
    }
    if let Some(c) = commitment {
        check::digest("commitment", c)?;
        let mut commits = sub_map(&rec, "commitments", phase);
        commits.insert(participant.to_string(), Value::from(c));
        put_sub(&mut rec, "commitments", phase, Value::Map(commits));
    }
    require_controller(participant)?;
    acks.insert(key, Value::from(env::block_height()));
    set(&mut rec, "acks", Value::Map(acks.clone()));
    emit("PhaseAcknowledged", &Value::map().with("task", id).with("participant", participant).with("phase", phase));

    let done = participants.iter().all(|p| acks.contains_key(&format!("{}/{}", phase, p)));
    if done {
        let commits = sub_map(&rec, "commitments", phase);
        let data = concat(&commits, &participants);
        let next = match phase {
            "prepare" => {
                record_point(&mut rec, id, "data_input", &data)?;
                "align"
            }
            "align" => {
                let mut d = data.clone();
                d.extend_from_slice(&env::block_height().to_be_bytes());
                record_point(&mut rec, id, "compute_start", &d)?;
                "compute"
            }
            "compute" => {
                record_point(&mut rec, id, "compute_end", &data)?;
                "cleanup"
            }
            _ => RECEIPT_PHASE,
        };
        set(&mut rec, "phase", next);
        emit("PhaseCompleted", &Value::map().with("task", id).with("phase", phase).with("next", next));
        maybe_finish(&mut rec, id)?;
    }
    save(id, &mut rec);
    Ok(rec)
}

/// receive {task, receiver, commitment} -> task: a named receiver confirms it received the result.
pub fn receive(args: &Args) -> Result<Value, Error> {
    let id = args.req_str("task")?;
    let mut rec = load(id)?;
    running(&rec, id)?;
    let receiver = args.req_str("receiver")?;
    let commitment = args.req_bin("commitment")?;
    check::digest("commitment", commitment)?;
    ensure!(strings(&rec, "receivers").iter().any(|r| r == receiver), "{} is not a named receiver of task '{}'", receiver, id);
    let phase = str_of(&rec, "phase").to_string();
    ensure!(phase == "cleanup" || phase == RECEIPT_PHASE, "task '{}' has no result yet (phase {})", id, phase);
    let mut receipts = rec.get("receipts").and_then(|v| v.as_map()).cloned().unwrap_or_default();
    ensure!(!receipts.contains_key(receiver), "{} already confirmed receipt", receiver);
    require_controller(receiver)?;
    receipts.insert(receiver.to_string(), Value::from(commitment));
    set(&mut rec, "receipts", Value::Map(receipts));
    emit("ResultReceived", &Value::map().with("task", id).with("receiver", receiver).with("commitment", commitment));
    maybe_finish(&mut rec, id)?;
    save(id, &mut rec);
    Ok(rec)
}

fn end(args: &Args, who_field: &str, state: &str, event: &str) -> Result<Value, Error> {
    let id = args.req_str("task")?;
    let mut rec = load(id)?;
    running(&rec, id)?;
    let reason = args.opt_str("reason")?.unwrap_or("");
    check::text("reason", reason, 0, 256)?;
    let who = if who_field == "initiator" {
        str_of(&rec, "initiator").to_string()
    } else {
        let p = args.req_str("participant")?;
        ensure!(strings(&rec, "participants").iter().any(|x| x == p), "{} is not a participant of task '{}'", p, id);
        p.to_string()
    };
    require_controller(&who)?;
    set(&mut rec, "state", state);
    set(&mut rec, "reason", reason);
    set(&mut rec, "ended_by", who.as_str());
    emit(event, &Value::map().with("id", id).with("by", who.as_str()).with("phase", str_of(&rec, "phase")).with("reason", reason));
    save(id, &mut rec);
    Ok(rec)
}

/// fail {task, participant, reason?} -> task: any participant; the task ends as failed for all.
pub fn fail(args: &Args) -> Result<Value, Error> {
    end(args, "participant", "failed", "TaskFailed")
}

/// terminate {task, reason?} -> task: the initiator stops the task.
pub fn terminate(args: &Args) -> Result<Value, Error> {
    end(args, "initiator", "terminated", "TaskTerminated")
}

/// verify_commitment {task, phase, participant, salt, value} -> bool: H(salt ‖ value) is the stored commitment.
pub fn verify_commitment(args: &Args) -> Result<Value, Error> {
    let rec = load(args.req_str("task")?)?;
    let stored = sub_map(&rec, "commitments", args.req_str("phase")?);
    let want = match stored.get(args.req_str("participant")?).and_then(|v| v.as_bin()) {
        Some(w) => w.to_vec(),
        None => return Ok(Value::Bool(false)),
    };
    let mut pre = args.req_bin("salt")?.to_vec();
    pre.extend_from_slice(args.req_bin("value")?);
    Ok(Value::Bool(env::hash(&pre)[..] == want[..]))
}
