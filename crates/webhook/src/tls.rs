//! The serving certificate, reloaded when the mounted Secret rotates.
//!
//! The kubelet updates a Secret volume with its AtomicWriter: the files live in a timestamped
//! directory (`..2026_01_01_00_00_00.123`), `..data` is a symlink to it, and `tls.crt` is a
//! symlink to `..data/tls.crt`. On rotation it writes a new timestamped directory, renames a
//! new `..data` symlink over the old one and deletes the old directory. A watch on the files
//! themselves (kubewarden's policy-server) follows the old inodes and misses the swap.
//!
//! [`ReloadingCert`] never watches: on a TLS handshake (a new connection), at most once per
//! `interval`, it resolves the paths again (`canonicalize` follows `..data` to the current
//! timestamped directory) and compares path, inode, size and mtime with what it loaded. When
//! they differ it reads both files, checks that the key matches the certificate, and serves the
//! new pair from then on; if anything fails, the previous pair stays in use and the error is
//! logged and counted. Established connections keep the certificate they were opened with, as
//! with any TLS server.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("the key {key} does not match the certificate {cert}: {message}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
    #[error("the certificate or key changed while being read; will retry")]
    Changed,
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Identity of one file as last seen: where its path resolves, and its inode, size and mtime.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    resolved: PathBuf,
    ino: u64,
    len: u64,
    mtime: Option<SystemTime>,
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let resolved = std::fs::canonicalize(path)?;
    let meta = std::fs::metadata(&resolved)?;
    Ok(Stamp {
        resolved,
        ino: meta.ino(),
        len: meta.len(),
        mtime: meta.modified().ok(),
    })
}

struct State {
    checked: Instant,
    stamps: (Stamp, Stamp),
    key: Arc<CertifiedKey>,
    /// The stamps of the last failed load, so that one bad rotation is logged once.
    failed: Option<(Stamp, Stamp)>,
}

/// A [`ResolvesServerCert`] that serves the certificate and key at two paths and picks up
/// changes to them (see the module docs).
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    interval: Duration,
    state: Mutex<State>,
    metrics: Option<Arc<Metrics>>,
}

impl fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

fn file_err(path: &Path, e: impl ToString) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Read a PEM certificate chain and private key, and check that they belong together.
pub fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_err(cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(cert, e))?;
    if chain.is_empty() {
        return Err(file_err(cert, "no PEM certificate in the file"));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e))?;
    let signing =
        rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| file_err(key, e))?;
    let pair = CertifiedKey::new(chain, signing);
    pair.keys_match().map_err(|e| TlsError::Mismatch {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(pair)
}

impl ReloadingCert {
    /// Load the pair now (an error here stops the server from starting) and check again for
    /// changes at most every `interval`.
    pub fn new(
        cert: &Path,
        key: &Path,
        interval: Duration,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Self, TlsError> {
        let (stamps, pair) = Self::load(cert, key)?;
        if let Some(m) = &metrics {
            m.tls_reload(true);
        }
        Ok(ReloadingCert {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            interval,
            state: Mutex::new(State {
                checked: Instant::now(),
                stamps,
                key: Arc::new(pair),
                failed: None,
            }),
            metrics,
        })
    }

    fn stamps(cert: &Path, key: &Path) -> Result<(Stamp, Stamp), TlsError> {
        Ok((
            stamp(cert).map_err(|e| file_err(cert, e))?,
            stamp(key).map_err(|e| file_err(key, e))?,
        ))
    }

    /// Read both files between two identical stamps, so that a pair straddling a rotation is
    /// never accepted.
    fn load(cert: &Path, key: &Path) -> Result<((Stamp, Stamp), CertifiedKey), TlsError> {
        let before = Self::stamps(cert, key)?;
        let pair = load_pair(&before.0.resolved, &before.1.resolved)?;
        if Self::stamps(cert, key)? != before {
            return Err(TlsError::Changed);
        }
        Ok((before, pair))
    }

    /// The pair to serve now, reloaded first if the files changed.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.checked.elapsed() < self.interval {
            return state.key.clone();
        }
        state.checked = Instant::now();
        let stamps = match Self::stamps(&self.cert, &self.key) {
            Ok(s) => s,
            Err(error) => {
                // Mid-rotation or a removed file: keep serving what we have.
                tracing::debug!(%error, "cannot stat the certificate files; keeping the current pair");
                return state.key.clone();
            }
        };
        if stamps == state.stamps || state.failed.as_ref() == Some(&stamps) {
            return state.key.clone();
        }
        match Self::load(&self.cert, &self.key) {
            Ok((stamps, pair)) => {
                tracing::info!(
                    cert = %stamps.0.resolved.display(),
                    key = %stamps.1.resolved.display(),
                    "loaded a new serving certificate"
                );
                state.stamps = stamps;
                state.key = Arc::new(pair);
                state.failed = None;
                if let Some(m) = &self.metrics {
                    m.tls_reload(true);
                }
            }
            Err(TlsError::Changed) => {} // retried at the next check
            Err(error) => {
                tracing::error!(%error, "cannot reload the serving certificate; keeping the previous one");
                state.failed = Some(stamps);
                if let Some(m) = &self.metrics {
                    m.tls_reload(false);
                }
            }
        }
        state.key.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3, ALPN h2 and http/1.1) that
/// serves `resolver`'s certificate.
pub fn server_config(resolver: Arc<ReloadingCert>) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
