//! Incentive points: a ledger minted only by the regulator; pay-per-use settlement called by the
//! catalog in the same transaction as an authorization use; escrow with hash-matched release and
//! refund on failure or timeout; contribution and consumption scores; dataset ratings and rankings.
//! See `docs/contract-points.md`.

pub mod escrow;
pub mod ledger;
pub mod scores;

use consortia_sdk::contract;

contract! {
    "init" => ledger::init,
    "config" => ledger::config,
    "mint" => ledger::mint,
    "transfer" => ledger::transfer,
    "balance" => ledger::balance,
    "supply" => ledger::supply,
    "charge_use" => ledger::charge_use,
    "add_settler" => ledger::add_settler,
    "settle" => ledger::settle,
    "escrow_lock" => escrow::lock,
    "escrow_deliver" => escrow::deliver,
    "escrow_confirm" => escrow::confirm,
    "escrow_refund" => escrow::refund,
    "escrow" => escrow::get,
    "record_contribution" => scores::record_contribution,
    "record_consumption" => scores::record_consumption,
    "scores" => scores::get,
    "rate" => scores::rate,
    "rating" => scores::rating,
    "ranking" => scores::ranking,
}

#[cfg(test)]
mod tests;
