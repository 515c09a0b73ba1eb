"""Token verification with PyJWT against the published JWKS, as a resource server would:
the access token for the mail resource is ES256 with `aud` = the mail resource URI, the ID
token is RS256 with `aud` = the client id; both carry `iss` = the issuer URL."""

import ssl

import jwt

from conftest import IMAP_SCOPE, MAIL_CLIENT_ID, MAIL_RESOURCE, Browser, auth_code_sign_in


def jwks_client(mailward) -> jwt.PyJWKClient:
    jwks_uri = mailward.discovery()["jwks_uri"]
    return jwt.PyJWKClient(jwks_uri, ssl_context=ssl.create_default_context(cafile=mailward.ca))


def test_access_and_id_tokens_verify_against_jwks(mailward, msal_app, user):
    result = auth_code_sign_in(msal_app, Browser(mailward), user, [IMAP_SCOPE])
    assert "access_token" in result, result
    keys = jwks_client(mailward)

    at = result["access_token"]
    assert jwt.get_unverified_header(at)["alg"] == "ES256"
    claims = jwt.decode(
        at,
        keys.get_signing_key_from_jwt(at).key,
        algorithms=["ES256"],
        audience=MAIL_RESOURCE,
        issuer=mailward.url,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    assert claims["upn"] == user.upn
    assert "IMAP.AccessAsUser.All" in claims["scp"].split()
    assert claims["azp"] == MAIL_CLIENT_ID or claims.get("appid") == MAIL_CLIENT_ID
    assert "mfa" in claims.get("amr", []) or "otp" in claims.get("amr", []), claims

    idt = result["id_token"]
    assert jwt.get_unverified_header(idt)["alg"] == "RS256"
    id_claims = jwt.decode(
        idt,
        keys.get_signing_key_from_jwt(idt).key,
        algorithms=["RS256"],
        audience=MAIL_CLIENT_ID,
        issuer=mailward.url,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    assert id_claims["preferred_username"] == user.upn
    assert id_claims["nonce"] == result["id_token_claims"]["nonce"]


def test_access_token_is_refused_for_another_audience(mailward, msal_app, user):
    result = auth_code_sign_in(msal_app, Browser(mailward), user, [IMAP_SCOPE])
    at = result["access_token"]
    key = jwks_client(mailward).get_signing_key_from_jwt(at).key
    try:
        jwt.decode(at, key, algorithms=["ES256"], audience=MAIL_CLIENT_ID, issuer=mailward.url)
    except jwt.InvalidAudienceError:
        pass
    else:
        raise AssertionError("an access token for the mail resource verified for the client id")
