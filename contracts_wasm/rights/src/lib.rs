//! Data-rights certificates (数据权益凭证): templates defined by the consortium, certificates
//! issued by a regulator to a holder DID (type, source, scope, profit share, price), transfers,
//! sales settled in points (with the profit share paid to the beneficiary), revocation, and an
//! audit trail of every step. See `docs/contract-rights.md`.

pub mod cert;
pub mod links;

use consortia_sdk::contract;

contract! {
    "init" => links::init,
    "config" => links::config,
    "create_template" => cert::create_template,
    "template" => cert::template,
    "issue" => cert::issue,
    "transfer" => cert::transfer,
    "list_for_sale" => cert::list_for_sale,
    "buy" => cert::buy,
    "revoke" => cert::revoke,
    "certificate" => cert::certificate,
    "by_holder" => cert::by_holder,
    "history" => cert::history,
}

#[cfg(test)]
mod tests;
