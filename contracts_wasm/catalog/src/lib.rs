//! Data catalog: datasets owned by DIDs (versioned, searchable), the algorithm registry, and
//! access authorizations whose every use is counted, checked and logged.
//!
//! The five-step rights flow: a DID is registered (did contract) → the requester searches the
//! catalog → applies with its DID (`request_access`) → the owner authorizes (`approve`) → the
//! requester fetches (`use`), which checks the DID, the credential and the authorization at that
//! moment and records the use. See `docs/contract-catalog.md`.

pub mod algo;
pub mod auth;
pub mod config;
pub mod dataset;

use consortia_sdk::contract;

contract! {
    "init" => config::init,
    "config" => config::config,
    "link_points" => config::link_points,
    "link_task" => config::link_task,
    "register_dataset" => dataset::register,
    "update_dataset" => dataset::update,
    "dataset" => dataset::get,
    "search" => dataset::search,
    "register_algorithm" => algo::register,
    "algorithm" => algo::get,
    "algorithms" => algo::list,
    "request_access" => auth::request,
    "approve" => auth::approve,
    "reject" => auth::reject,
    "revoke" => auth::revoke,
    "use" => auth::use_once,
    "authorization" => auth::get,
    "authorizations" => auth::list,
    "uses" => auth::uses,
}

#[cfg(test)]
mod tests;
