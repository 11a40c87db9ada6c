//! `rofs webhook certs`: a private CA and a serving certificate for the webhook's Service, for
//! clusters without cert-manager.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid {what} {value:?}: expected a DNS label (lowercase letters, digits, `-`)")]
    Name { what: &'static str, value: String },
    #[error("--days {0}: the validity must be 1 to {MAX_DAYS} days (100 years)")]
    Days(u32),
}

/// The longest validity `generate` accepts for the serving certificate: 100 years.
pub const MAX_DAYS: u32 = 36_500;

/// PEM texts of a CA, a serving certificate it signed, and the serving key.
#[derive(Debug, Clone)]
pub struct Generated {
    pub ca_cert: String,
    pub ca_key: String,
    pub cert: String,
    pub key: String,
    /// The DNS names of the serving certificate.
    pub dns_names: Vec<String>,
}

impl Generated {
    /// The MutatingWebhookConfiguration's `caBundle`: base64 of the CA certificate's PEM.
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca_cert)
    }
}

/// The names the API server may use for `service.namespace`: it dials
/// `<service>.<namespace>.svc`.
pub fn dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
        format!("{service}.{namespace}"),
        service.to_string(),
    ]
}

/// Generate a CA (valid 10 years) and a serving certificate for `service.namespace.svc`
/// (valid `days` days, 1 to [`MAX_DAYS`]), both ECDSA P-256.
pub fn generate(service: &str, namespace: &str, days: u32) -> Result<Generated, CertError> {
    // 0 would be a certificate already expired (not_before is an hour ago); far beyond
    // 100 years `now + days` overflows time's year 9999.
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(CertError::Days(days));
    }
    for (what, value) in [("service name", service), ("namespace", namespace)] {
        if !rofs_core::settings::is_dns_label(value) {
            return Err(CertError::Name {
                what,
                value: value.to_string(),
            });
        }
    }
    let now = OffsetDateTime::now_utc();
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, format!("rofs webhook CA ({namespace})"));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now - Duration::hours(1);
    ca.not_after = now + Duration::days(3650);
    let ca_cert = ca.self_signed(&ca_key)?;
    let ca_cert_pem = ca_cert.pem();
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca, ca_key);

    let names = dns_names(service, namespace);
    let key = KeyPair::generate()?;
    let mut leaf = CertificateParams::new(names.clone())?;
    leaf.distinguished_name
        .push(DnType::CommonName, names[0].clone());
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = now - Duration::hours(1);
    leaf.not_after = now + Duration::days(i64::from(days));
    let cert = leaf.signed_by(&key, &issuer)?;
    Ok(Generated {
        ca_cert: ca_cert_pem,
        ca_key: ca_key_pem,
        cert: cert.pem(),
        key: key.serialize_pem(),
        dns_names: names,
    })
}

/// Write `ca.crt`, `ca.key`, `tls.crt`, `tls.key` into `dir` (created if needed; keys mode
/// 0600). The names are those of a `kubernetes.io/tls` Secret, so
/// `kubectl create secret generic --from-file=DIR` makes the Secret the Deployment mounts.
pub fn write(dir: &Path, generated: &Generated) -> Result<Vec<PathBuf>, CertError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CertError::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(werr(dir))?;
    let mut written = Vec::new();
    for (name, text, mode) in [
        ("ca.crt", &generated.ca_cert, 0o644),
        ("ca.key", &generated.ca_key, 0o600),
        ("tls.crt", &generated.cert, 0o644),
        ("tls.key", &generated.key, 0o600),
    ] {
        let path = dir.join(name);
        // Write beside, then rename: a running webhook reading these files never sees half
        // of one.
        let tmp = dir.join(format!(".{name}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(werr(&tmp))?;
        f.write_all(text.as_bytes()).map_err(werr(&tmp))?;
        f.sync_all().map_err(werr(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(werr(&path))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_a_pair_rustls_accepts() {
        let g = generate("rofs-webhook", "rofs-system", 30).expect("generated");
        assert_eq!(g.dns_names[0], "rofs-webhook.rofs-system.svc");
        let dir = tempfile::tempdir().expect("tempdir");
        let files = write(dir.path(), &g).expect("written");
        assert_eq!(files.len(), 4);
        crate::tls::load_pair(&dir.path().join("tls.crt"), &dir.path().join("tls.key"))
            .expect("the key matches the certificate");
        let bundle = base64::engine::general_purpose::STANDARD
            .decode(g.ca_bundle())
            .expect("base64");
        assert!(bundle.starts_with(b"-----BEGIN CERTIFICATE-----"));
        assert!(matches!(
            generate("Bad_Name", "ns", 1),
            Err(CertError::Name { .. })
        ));
    }

    #[test]
    fn days_out_of_range_are_errors_not_panics() {
        for days in [0, MAX_DAYS + 1, 3_000_000, u32::MAX] {
            let e = generate("rofs-webhook", "rofs-system", days).expect_err("refused");
            assert!(matches!(e, CertError::Days(d) if d == days), "{e}");
            assert!(e.to_string().contains("1 to 36500 days"), "{e}");
        }
        generate("rofs-webhook", "rofs-system", MAX_DAYS).expect("100 years is representable");
    }
}
