//! PostgreSQL over TLS: the URL's `sslmode`, `sslrootcert`, `sslcert` and `sslkey` read as
//! libpq reads them, and the rustls connector that does what they say.
//!
//! | `sslmode` | TLS | server certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `allow`, `prefer` (the default) | if the server offers it | not checked, unless there is a root file: then chained to it |
//! | `require` | always | not checked, unless there is a root file: then chained to it |
//! | `verify-ca` | always | chained to the root file |
//! | `verify-full` | always | chained to the root file (or the system's roots with `sslrootcert=system`), and naming the host |
//!
//! The root file is `sslrootcert`, or else `~/.postgresql/root.crt` if it exists, as in libpq;
//! `verify-ca` and `verify-full` refuse to start without one. `sslrootcert=system` (the
//! operating system's roots) is taken only with `verify-full`, as libpq takes it: anyone can
//! buy a certificate chained to a public root, so only the host name makes it the server's.
//!
//! `sslcert` and `sslkey` (PEM files) give a client certificate for servers that ask for one;
//! one without the other is an error.
//! tokio-postgres itself knows only `disable`, `prefer` and `require`; these parameters are
//! taken out of the URL before it reads the rest.
//!
//! # Invariants
//!
//! - `verify-ca` and `verify-full` never connect without a chain to a trusted root, and the
//!   system's roots are trusted only where the host name is checked too; a certificate that
//!   does not verify fails the connection with rustls's reason.
//! - Only `verify-full` checks the host name, as in libpq.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Not at all (TLS only encrypts).
    Nothing,
    /// Chained to a trusted root.
    Chain,
    /// Chained, and naming the host.
    ChainAndName,
}

/// Where to connect and how: the rest of the URL for tokio-postgres, and the TLS connector.
#[derive(Clone)]
pub(crate) struct Target {
    pub config: tokio_postgres::Config,
    pub tls: MakeRustlsConnect,
}

/// Why a URL's TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSettingsError {
    /// An `sslmode` libpq does not have.
    #[error("unknown sslmode `{0}` (disable, allow, prefer, require, verify-ca, verify-full)")]
    Mode(String),
    /// A file named by the URL could not be read.
    #[error("{what} `{path}`: {reason}")]
    File {
        /// Which parameter named it.
        what: &'static str,
        /// The path.
        path: String,
        /// Why it could not be used.
        reason: String,
    },
    /// `verify-ca` or `verify-full` without any root to verify against.
    #[error(
        "no root certificates to verify the server with: give sslrootcert (a PEM file, or `system` with sslmode=verify-full)"
    )]
    NoRoots,
    /// `sslrootcert=system` with a mode that does not check the host name.
    #[error(
        "sslrootcert=system needs sslmode=verify-full: a public root vouches for anyone's certificate, only the host name makes it the server's"
    )]
    SystemRootsNeedName,
    /// A client certificate without its key, or a key without its certificate.
    #[error("sslcert and sslkey go together: give both or neither")]
    ClientKeyPair,
    /// rustls refused the settings.
    #[error("TLS settings: {0}")]
    Rustls(#[from] Error),
    /// The rest of the URL is not one tokio-postgres reads.
    #[error("the URL: {0}")]
    Url(#[from] tokio_postgres::Error),
}

/// The TLS parameters of a URL.
#[derive(Debug, Default, PartialEq, Eq)]
struct Params {
    mode: Option<String>,
    root_cert: Option<String>,
    cert: Option<String>,
    key: Option<String>,
}

/// Decodes `%XX` escapes (and `+` is kept: libpq does not read it as a space).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits the TLS parameters out of a URL's query; the URL without them.
fn split(url: &str) -> (String, Params) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), Params::default());
    };
    let mut params = Params::default();
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "sslmode" => params.mode = Some(v),
            "sslrootcert" => params.root_cert = Some(v),
            "sslcert" => params.cert = Some(v),
            "sslkey" => params.key = Some(v),
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, params)
}

fn read_file(what: &'static str, path: &str) -> Result<Vec<u8>, TlsSettingsError> {
    std::fs::read(path).map_err(|e| TlsSettingsError::File {
        what,
        path: path.to_string(),
        reason: e.to_string(),
    })
}

fn certificates(
    what: &'static str,
    path: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsSettingsError> {
    let pem = read_file(what, path)?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(c),
        Ok(_) => Err(TlsSettingsError::File {
            what,
            path: path.to_string(),
            reason: "no PEM certificate in it".into(),
        }),
        Err(e) => Err(TlsSettingsError::File {
            what,
            path: path.to_string(),
            reason: e.to_string(),
        }),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    /// None: the server's certificate cannot be verified.
    None,
    /// A PEM file.
    File(String),
    /// The operating system's roots (`sslrootcert=system`).
    System,
}

impl Roots {
    /// `sslrootcert`, or libpq's default file if it exists.
    fn of(root_cert: Option<&str>) -> Roots {
        match root_cert {
            Some("system") => Roots::System,
            Some(path) => Roots::File(path.to_string()),
            None => std::env::var_os("HOME")
                .map(|home| std::path::Path::new(&home).join(".postgresql/root.crt"))
                .filter(|p| p.is_file())
                .map_or(Roots::None, |p| Roots::File(p.display().to_string())),
        }
    }

    fn load(&self) -> Result<RootCertStore, TlsSettingsError> {
        let mut roots = RootCertStore::empty();
        match self {
            Roots::None => {}
            Roots::File(path) => {
                for c in certificates("sslrootcert", path)? {
                    roots.add(c)?;
                }
            }
            Roots::System => {
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
        }
        if roots.is_empty() {
            return Err(TlsSettingsError::NoRoots);
        }
        Ok(roots)
    }
}

/// Reads a PostgreSQL URL: tokio-postgres's settings and the TLS connector its `sslmode` asks
/// for.
pub(crate) fn target(url: &str) -> Result<(Target, Verify), TlsSettingsError> {
    let (rest, params) = split(url);
    let mut config: tokio_postgres::Config = rest.parse()?;
    let roots = Roots::of(params.root_cert.as_deref());
    // libpq verifies the chain in every mode once it has a root file.
    let file = matches!(roots, Roots::File(_));
    let (ssl_mode, verify) = match params.mode.as_deref().unwrap_or("prefer") {
        "disable" => (SslMode::Disable, Verify::Nothing),
        "allow" | "prefer" if file => (SslMode::Prefer, Verify::Chain),
        "allow" | "prefer" => (SslMode::Prefer, Verify::Nothing),
        "require" if file => (SslMode::Require, Verify::Chain),
        "require" => (SslMode::Require, Verify::Nothing),
        "verify-ca" => (SslMode::Require, Verify::Chain),
        "verify-full" => (SslMode::Require, Verify::ChainAndName),
        other => return Err(TlsSettingsError::Mode(other.to_string())),
    };
    if roots == Roots::System && verify != Verify::ChainAndName && ssl_mode != SslMode::Disable {
        return Err(TlsSettingsError::SystemRootsNeedName);
    }
    config.ssl_mode(ssl_mode);
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::Nothing => Arc::new(Unchecked(provider())),
        Verify::Chain | Verify::ChainAndName => {
            let roots = roots.load()?;
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| Error::General(e.to_string()))?;
            Arc::new(Checked {
                webpki,
                name: verify == Verify::ChainAndName,
            })
        }
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let client = match (&params.cert, &params.key) {
        (Some(cert), Some(key)) => {
            let chain = certificates("sslcert", cert)?;
            let pem = read_file("sslkey", key)?;
            let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsSettingsError::File {
                what: "sslkey",
                path: key.clone(),
                reason: e.to_string(),
            })?;
            builder.with_client_auth_cert(chain, key)?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(TlsSettingsError::ClientKeyPair),
    };
    Ok((
        Target {
            config,
            tls: MakeRustlsConnect::new(client),
        },
        verify,
    ))
}

/// `verify-ca` and `verify-full`: webpki's verification, with the name left out for the first.
#[derive(Debug)]
struct Checked {
    webpki: Arc<WebPkiServerVerifier>,
    name: bool,
}

impl ServerCertVerifier for Checked {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `prefer` and `require` without a root: the certificate is not checked (libpq's meaning),
/// but the handshake's signatures still are.
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_are_taken_out_of_the_url() {
        let (rest, p) = split(
            "postgres://u:p@db.example:5432/arus?sslmode=verify-full&application_name=arus&sslrootcert=%2Fetc%2Fca.pem",
        );
        assert_eq!(
            rest,
            "postgres://u:p@db.example:5432/arus?application_name=arus"
        );
        assert_eq!(p.mode.as_deref(), Some("verify-full"));
        assert_eq!(p.root_cert.as_deref(), Some("/etc/ca.pem"));
        let (rest, p) = split("postgres://localhost/arus");
        assert_eq!(
            (rest.as_str(), p),
            ("postgres://localhost/arus", Params::default())
        );
        let (rest, _) = split("postgres://localhost/arus?sslmode=disable");
        assert_eq!(rest, "postgres://localhost/arus");
    }

    #[test]
    fn modes_map_to_what_libpq_does() {
        let mode = |url: &str| target(url).map(|(t, v)| (t.config.get_ssl_mode(), v));
        assert_eq!(
            mode("postgres://h/d").ok(),
            Some((SslMode::Prefer, Verify::Nothing))
        );
        assert_eq!(
            mode("postgres://h/d?sslmode=disable").ok(),
            Some((SslMode::Disable, Verify::Nothing))
        );
        assert_eq!(
            mode("postgres://h/d?sslmode=require").ok(),
            Some((SslMode::Require, Verify::Nothing))
        );
        assert!(matches!(
            mode("postgres://h/d?sslmode=verify-full&sslrootcert=/nonexistent"),
            Err(TlsSettingsError::File {
                what: "sslrootcert",
                ..
            })
        ));
        assert!(matches!(
            mode("postgres://h/d?sslmode=sometimes"),
            Err(TlsSettingsError::Mode(_))
        ));
        // The system's roots only where the name is checked too (libpq 16's rule).
        assert!(matches!(
            mode("postgres://h/d?sslmode=verify-ca&sslrootcert=system"),
            Err(TlsSettingsError::SystemRootsNeedName)
        ));
        assert!(matches!(
            mode("postgres://h/d?sslmode=require&sslrootcert=system"),
            Err(TlsSettingsError::SystemRootsNeedName)
        ));
        // verify-ca with no root file at all (libpq's default file absent) cannot start.
        if Roots::of(None) == Roots::None {
            assert!(matches!(
                mode("postgres://h/d?sslmode=verify-ca"),
                Err(TlsSettingsError::NoRoots)
            ));
        }
        // A root file makes even prefer verify the chain, as in libpq.
        assert_eq!(
            Roots::of(Some("/etc/ca.pem")),
            Roots::File("/etc/ca.pem".into())
        );
        // A client certificate needs its key.
        assert!(matches!(
            mode("postgres://h/d?sslcert=/etc/client.pem"),
            Err(TlsSettingsError::ClientKeyPair)
        ));
        assert!(matches!(
            mode("postgres://h/d?sslkey=/etc/client.key"),
            Err(TlsSettingsError::ClientKeyPair)
        ));
    }
}
