//! DID (`did:consortia:<id>`): identity documents of the consortium's institutions, the
//! credential issuers among them, and credentials anchored by hash.
//!
//! A document is changed only by its controller account; a deactivated document stays readable
//! but can no longer act (issue, be issued to, own data). Issuers are DIDs whose controller holds
//! the `credential_issuer` role. See `docs/contract-did.md` for the exact encodings.

pub mod cred;
pub mod doc;

use consortia_sdk::contract;

contract! {
    "create" => doc::create,
    "update" => doc::update,
    "deactivate" => doc::deactivate,
    "resolve" => doc::resolve,
    "controls" => doc::controls,
    "by_controller" => doc::by_controller,
    "count" => doc::count,
    "register_issuer" => cred::register_issuer,
    "remove_issuer" => cred::remove_issuer,
    "issuer" => cred::issuer,
    "issue_credential" => cred::issue,
    "revoke_credential" => cred::revoke,
    "credential" => cred::credential,
    "credential_status" => cred::status,
    "credentials_of" => cred::credentials_of,
    "has_valid_credential" => cred::has_valid_credential,
}

#[cfg(test)]
mod tests;
