//! The column lists of every table, shared by both backends' SQL (`concat!`-ed into
//! statements) so the decoders in `sql/codec.rs` and the queries always agree.

macro_rules! user_cols {
    () => {
        "id, upn, display_name, mail, enabled, immutable_id, source, roles, created_at, \
         tokens_valid_from"
    };
}
pub(crate) use user_cols;

macro_rules! group_cols {
    () => {
        "id, display_name, description, source, created_at"
    };
}
pub(crate) use group_cols;

macro_rules! domain_cols {
    () => {
        "name, verified, authentication, is_default, created_at"
    };
}
pub(crate) use domain_cols;

macro_rules! app_cols {
    () => {
        "client_id, display_name, kind, secret_hash, redirect_uris, grants, first_party, \
         post_logout_redirect_uris, app_roles, created_at"
    };
}
pub(crate) use app_cols;

macro_rules! resource_cols {
    () => {
        "id, uri, display_name, scopes, app_roles, token_alg, access_token_lifetime, \
         first_party, created_at"
    };
}
pub(crate) use resource_cols;

macro_rules! signing_key_cols {
    () => {
        "kid, alg, sealed_private_key, public_jwk, created_at, active_from, retired_at, \
         expires_at"
    };
}
pub(crate) use signing_key_cols;

macro_rules! auth_code_cols {
    () => {
        "code_hash, client_id, user_id, redirect_uri, scopes, resource, code_challenge, nonce, \
         amr, auth_time, mfa_time, session_id, client_app_type, ip, family_id, created_at, \
         expires_at, redeemed_at"
    };
}
pub(crate) use auth_code_cols;

macro_rules! refresh_token_cols {
    () => {
        "token_hash, family_id, client_id, user_id, scopes, resource, amr, auth_time, mfa_time, \
         session_id, client_app_type, created_at, expires_at, used_at, revoked_at"
    };
}
pub(crate) use refresh_token_cols;

macro_rules! device_code_cols {
    () => {
        "device_code_hash, user_code_hash, client_id, scopes, resource, status, \
         approved_user_id, approved_amr, approved_auth_time, approved_mfa_time, \
         approved_session_id, interval_secs, created_at, expires_at, last_poll_at, ip"
    };
}
pub(crate) use device_code_cols;

macro_rules! session_cols {
    () => {
        "id, secret_hash, user_id, amr, auth_time, mfa_time, created_at, expires_at"
    };
}
pub(crate) use session_cols;

macro_rules! passkey_cols {
    () => {
        "id, user_id, name, credential_id, passkey_json, created_at, last_used_at"
    };
}
pub(crate) use passkey_cols;
