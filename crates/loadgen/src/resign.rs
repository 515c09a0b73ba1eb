//! `resign-tokens`: copies of access tokens for a resource server that only accepts the JWT
//! header `typ: JWT` (Dovecot 2.3's local validation refuses RFC 9068's `at+jwt`). Each
//! token keeps its header fields (but `typ`) and its claims byte for byte, and is signed
//! again with ES256 by a P-256 key made for the run; the public key is written as PEM under
//! `--key-dir/<azp>/ES256/<kid>`, the layout Dovecot's key dict reads. The copies cost the
//! other server the same work to verify: same algorithm, same size, same claims.

use crate::Args;
use anyhow::{Context, Result, anyhow, bail};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use std::collections::BTreeSet;
use std::path::Path;

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Runs the mode: `--tokens` in, `--out` and `--key-dir` out; returns how many tokens.
pub fn run(args: &Args) -> Result<usize> {
    let input = args
        .tokens
        .as_ref()
        .context("resign-tokens needs --tokens")?;
    let out = args.out.as_ref().context("resign-tokens needs --out")?;
    let key_dir = args
        .key_dir
        .as_ref()
        .context("resign-tokens needs --key-dir")?;
    let text =
        std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| anyhow!("generating a P-256 key"))?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| anyhow!("loading the P-256 key"))?;
    let mut lookups = BTreeSet::new();
    let mut copies = String::with_capacity(text.len() + 64);
    let mut n = 0;
    for (i, token) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let (copy, azp, kid) =
            resign(token, &key, &rng).with_context(|| format!("token {}", i + 1))?;
        lookups.insert((azp, kid));
        copies.push_str(&copy);
        copies.push('\n');
        n += 1;
    }
    if n == 0 {
        bail!("no tokens in {}", input.display());
    }
    let pem = spki_pem(key.public_key().as_ref())?;
    for (azp, kid) in &lookups {
        write_key(key_dir, azp, kid, &pem)?;
    }
    std::fs::write(out, copies).with_context(|| format!("writing {}", out.display()))?;
    Ok(n)
}

/// One token with `typ: JWT`, signed by `key`; also its `azp` and `kid` for the key path.
fn resign(token: &str, key: &EcdsaKeyPair, rng: &SystemRandom) -> Result<(String, String, String)> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        bail!("not a compact JWS");
    };
    let mut h: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&B64URL.decode(header).context("header base64")?)
            .context("header JSON")?;
    if h.get("alg").and_then(|a| a.as_str()) != Some("ES256") {
        bail!("only ES256 tokens are re-signed");
    }
    let kid = h
        .get("kid")
        .and_then(|k| k.as_str())
        .unwrap_or("default")
        .to_string();
    h.insert("typ".into(), "JWT".into());
    let claims: serde_json::Value =
        serde_json::from_slice(&B64URL.decode(payload).context("payload base64")?)
            .context("payload JSON")?;
    let azp = claims
        .get("azp")
        .and_then(|a| a.as_str())
        .unwrap_or("default")
        .to_string();
    let mut signing_input = B64URL.encode(serde_json::to_vec(&h)?);
    signing_input.push('.');
    signing_input.push_str(payload);
    let sig = key
        .sign(rng, signing_input.as_bytes())
        .map_err(|_| anyhow!("signing"))?;
    let copy = format!("{signing_input}.{}", B64URL.encode(sig.as_ref()));
    Ok((copy, azp, kid))
}

/// The PEM `SubjectPublicKeyInfo` of an uncompressed P-256 point (`04 || X || Y`).
fn spki_pem(point: &[u8]) -> Result<String> {
    if point.len() != 65 || point[0] != 4 {
        bail!("unexpected P-256 public key encoding");
    }
    // SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits) }
    let mut der = hex_bytes("3059301306072a8648ce3d020106082a8648ce3d030107034200");
    der.extend_from_slice(point);
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk)?);
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    Ok(pem)
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Writes `pem` at `<dir>/<azp>/ES256/<kid>`, with `/` and `%` in the path parts escaped
/// as Dovecot escapes them before the lookup.
fn write_key(dir: &Path, azp: &str, kid: &str, pem: &str) -> Result<()> {
    let esc = |s: &str| s.replace('%', "%25").replace('/', "%2f");
    let d = dir.join(esc(azp)).join("ES256");
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    let path = d.join(esc(kid));
    std::fs::write(&path, pem).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    #[test]
    fn copies_keep_claims_change_typ_and_verify_with_the_written_key() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let header = B64URL.encode(r#"{"alg":"ES256","kid":"k1","typ":"at+jwt"}"#);
        let payload = B64URL.encode(r#"{"azp":"app/1","sub":"s","upn":"u@d"}"#);
        let token = format!("{header}.{payload}.c2ln");
        let (copy, azp, kid) = resign(&token, &key, &rng).unwrap();
        assert_eq!((azp.as_str(), kid.as_str()), ("app/1", "k1"));
        let parts: Vec<&str> = copy.split('.').collect();
        assert_eq!(parts[1], payload);
        let h: serde_json::Value =
            serde_json::from_slice(&B64URL.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(h["typ"], "JWT");
        assert_eq!(h["kid"], "k1");
        let sig = B64URL.decode(parts[2]).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.public_key().as_ref())
            .verify(input.as_bytes(), &sig)
            .unwrap();

        let dir = std::env::temp_dir().join(format!("resign-test-{}", std::process::id()));
        write_key(
            &dir,
            &azp,
            &kid,
            &spki_pem(key.public_key().as_ref()).unwrap(),
        )
        .unwrap();
        let pem = std::fs::read_to_string(dir.join("app%2f1/ES256/k1")).unwrap();
        assert!(
            pem.starts_with("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_what_it_cannot_copy() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        assert!(resign("a.b", &key, &rng).is_err());
        assert!(resign("!!.b.c", &key, &rng).is_err());
        let rs = B64URL.encode(r#"{"alg":"RS256"}"#);
        assert!(resign(&format!("{rs}.e30.c2ln"), &key, &rng).is_err());
    }
}
