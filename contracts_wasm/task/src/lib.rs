//! Collaboration tasks: an initiator names participants, authorized datasets, an algorithm,
//! parameters, result receivers and a DAG of steps; every participant acknowledges every phase
//! (prepare → align → compute → cleanup); a failure reported by anyone ends the task for all;
//! the four evidence points are written to the evidence contract as the phases pass, and a task
//! cannot succeed unless all of them are there. See `docs/contract-task.md`.

pub mod links;
pub mod spec;
pub mod flow;

use consortia_sdk::contract;

contract! {
    "init" => links::init,
    "config" => links::config,
    "create" => spec::create,
    "task" => spec::get,
    "ack" => flow::ack,
    "receive" => flow::receive,
    "fail" => flow::fail,
    "terminate" => flow::terminate,
    "verify_commitment" => flow::verify_commitment,
}

#[cfg(test)]
mod tests;
