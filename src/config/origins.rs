//! Compiles `[origins.*]`: upstream pools with Pingora's round-robin balancer and health checks, or a
//! directory the gateway serves itself.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pingora::lb::LoadBalancer;
use pingora::lb::health_check::{HttpHealthCheck, TcpHealthCheck};
use pingora::protocols::tls::CaType;
use pingora::utils::tls::{WrappedX509, parse_x509};
use toml::Spanned;

use super::error::Findings;
use super::schema::OriginToml;
use crate::snapshot::{Origin, OriginKind, Upstream};

/// Compiles one origin. `base` is the directory of the config file.
pub fn compile_origin(
    name: &str,
    o: &Spanned<OriginToml>,
    base: &Path,
    f: &mut Findings<'_>,
) -> Option<Origin> {
    let toml = o.get_ref();
    let kind = match (&toml.static_dir, toml.addresses.is_empty()) {
        (Some(dir), true) => {
            let path = base.join(dir.get_ref());
            if !path.is_dir() {
                f.error(
                    dir.span(),
                    format!(
                        "`{}` is not a directory (paths are relative to the config file)",
                        path.display()
                    ),
                );
                return None;
            }
            OriginKind::Static(path)
        }
        (None, false) => OriginKind::Upstream(upstream(toml, base, f)?),
        _ => {
            f.error(
                o.span(),
                format!("origin `{name}` needs exactly one of `addresses = [\"host:port\", …]` or `static_dir = \"…\"`"),
            );
            return None;
        }
    };
    Some(Origin {
        name: name.to_string(),
        kind,
    })
}

fn upstream(o: &OriginToml, base: &Path, f: &mut Findings<'_>) -> Option<Upstream> {
    let mut ok = true;
    for a in &o.addresses {
        let valid = a.get_ref().parse::<SocketAddr>().is_ok()
            || a.get_ref()
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !valid {
            f.error(a.span(), format!("`{}` is not `host:port`", a.get_ref()));
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    let addresses: Vec<&str> = o.addresses.iter().map(|a| a.get_ref().as_str()).collect();
    let mut balancer = match LoadBalancer::try_from_iter(addresses.iter().copied()) {
        Ok(lb) => lb,
        Err(e) => {
            f.error(
                o.addresses[0].span(),
                format!("cannot resolve the origin addresses: {e}"),
            );
            return None;
        }
    };
    let first_host = addresses[0]
        .rsplit_once(':')
        .map_or(addresses[0], |(h, _)| h);
    let first_host = first_host.trim_start_matches('[').trim_end_matches(']');
    let sni = o.sni.clone().unwrap_or_else(|| first_host.to_string());
    let host_header = o.host_header.clone().filter(|h| h != "preserve");
    let mut health_interval = None;
    if let Some(hc) = &o.health_check {
        let kind = hc.kind.as_ref().map_or("tcp", |k| k.get_ref().as_str());
        match kind {
            "tcp" => balancer.set_health_check(if o.tls {
                TcpHealthCheck::new_tls(&sni)
            } else {
                TcpHealthCheck::new()
            }),
            "http" => {
                let host = host_header.as_deref().unwrap_or(&sni);
                let mut check = HttpHealthCheck::new(host, o.tls);
                let path = hc.path.as_deref().unwrap_or("/");
                match http::Uri::try_from(path) {
                    Ok(uri) => check.req.set_uri(uri),
                    Err(e) => f.error(
                        o.addresses[0].span(),
                        format!("bad health check path `{path}`: {e}"),
                    ),
                }
                balancer.set_health_check(Box::new(check));
            }
            other => {
                let span = hc.kind.as_ref().map(|k| k.span()).unwrap_or_default();
                f.error(
                    span,
                    format!("health check kind `{other}` is not known: expected `tcp` or `http`"),
                );
            }
        }
        health_interval = Some(Duration::from_secs(hc.interval_secs.unwrap_or(5).max(1)));
    }
    Some(Upstream {
        balancer: Arc::new(balancer),
        tls: o.tls,
        tls_verify: o.tls_verify.unwrap_or(true),
        ca: match &o.ca_file {
            Some(file) => Some(ca_file(file, base, f)?),
            None => None,
        },
        sni,
        host_header,
        connect_timeout: Duration::from_millis(o.connect_timeout_ms.unwrap_or(5_000)),
        read_timeout: Duration::from_millis(o.read_timeout_ms.unwrap_or(60_000)),
        health_interval,
    })
}

/// Loads a PEM file of CA certificates; each is parsed first, since Pingora's wrapper panics on a
/// certificate it cannot parse.
fn ca_file(file: &Spanned<String>, base: &Path, f: &mut Findings<'_>) -> Option<Arc<CaType>> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let path = base.join(file.get_ref());
    let certs: Result<Vec<CertificateDer<'static>>, _> = match CertificateDer::pem_file_iter(&path)
    {
        Ok(iter) => iter.collect(),
        Err(e) => Err(e),
    };
    let certs = match certs {
        Ok(c) if !c.is_empty() => c,
        Ok(_) => {
            f.error(
                file.span(),
                format!("`{}` holds no PEM certificate", path.display()),
            );
            return None;
        }
        Err(e) => {
            f.error(
                file.span(),
                format!("cannot read CA file `{}`: {e}", path.display()),
            );
            return None;
        }
    };
    let mut wrapped = Vec::with_capacity(certs.len());
    for der in certs {
        if x509_parser::parse_x509_certificate(der.as_ref()).is_err() {
            f.error(
                file.span(),
                format!(
                    "`{}` holds a certificate that is not valid X.509",
                    path.display()
                ),
            );
            return None;
        }
        wrapped.push(WrappedX509::new(der.to_vec(), parse_x509));
    }
    Some(Arc::from(wrapped))
}
