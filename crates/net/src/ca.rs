//! The local certificate authority `mailward up` creates on first run: a CA certificate
//! (printed so clients can trust it) and a server certificate for `localhost`,
//! `127.0.0.1` and `::1` signed by it. Files are written once and reused.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// Paths of the local CA material.
#[derive(Debug, Clone)]
pub struct LocalCa {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

/// Errors creating the local CA.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// Creates the CA and a localhost certificate under `dir/tls` unless they exist.
/// `extra_names` adds DNS names to the server certificate.
pub fn ensure(dir: &Path, extra_names: &[String], now: OffsetDateTime) -> Result<LocalCa, CaError> {
    let tls = dir.join("tls");
    let out = LocalCa {
        ca_cert: tls.join("ca.pem"),
        server_cert: tls.join("server.pem"),
        server_key: tls.join("server.key"),
    };
    if out.ca_cert.exists() && out.server_cert.exists() && out.server_key.exists() {
        return Ok(out);
    }
    std::fs::create_dir_all(&tls).map_err(|source| CaError::Write {
        path: tls.display().to_string(),
        source,
    })?;

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "mailward local CA");
    ca_params
        .distinguished_name
        .push(DnType::OrganizationName, "mailward");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = now - Duration::days(1);
    ca_params.not_after = now + Duration::days(3650);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate()?;
    let mut names = vec!["localhost".to_string()];
    names.extend(extra_names.iter().cloned());
    let mut params = CertificateParams::new(names)?;
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(825);
    let server_cert = params.signed_by(&server_key, &issuer)?;

    write(&out.ca_cert, ca_cert.pem().as_bytes(), false)?;
    write(
        &out.server_cert,
        format!("{}{}", server_cert.pem(), ca_cert.pem()).as_bytes(),
        false,
    )?;
    write(&out.server_key, server_key.serialize_pem().as_bytes(), true)?;
    Ok(out)
}

fn write(path: &Path, data: &[u8], private: bool) -> Result<(), CaError> {
    let err = |source| CaError::Write {
        path: path.display().to_string(),
        source,
    };
    std::fs::write(path, data).map_err(err)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    let _ = private;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_and_loads_into_rustls() {
        let dir = std::env::temp_dir().join(format!("mw-ca-{}", std::process::id()));
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let a = ensure(&dir, &[], now).unwrap();
        let first = std::fs::read(&a.server_cert).unwrap();
        let b = ensure(&dir, &[], now).unwrap();
        assert_eq!(std::fs::read(&b.server_cert).unwrap(), first);
        crate::server_config(&a.server_cert, &a.server_key).unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }
}
