//! The API server client: kube's own layers (base URL, kubeconfig auth, impersonation headers)
//! over a hyper client that offers HTTP/2 as well as HTTP/1.1 in the TLS handshake (ALPN).
//!
//! Why not `kube::Client::try_from(config)`: kube's connector offers only HTTP/1.1, so N
//! concurrent server-side applies open N connections and N TLS handshakes. kubectl, like every
//! Go client, speaks HTTP/2 to the API server; with it the applies of a run share the one
//! connection the trust read opened. Servers without HTTP/2 still get HTTP/1.1.

use std::time::Duration;

use hyper_rustls::FixedServerNameResolver;
use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt;
use tower::{BoxError, ServiceBuilder};

use crate::error::{Error, Result};

/// Builds the client for `config`. A kubeconfig `proxy-url` keeps kube's own builder, which
/// knows how to tunnel (HTTP/1.1 there).
pub fn build(config: kube::Config, server: &str) -> Result<kube::Client> {
    let setup = |e: &dyn std::fmt::Display| {
        Error::failure(format!("cannot set up a client for {server}: {e}"))
    };
    if config.proxy_url.is_some() {
        return kube::Client::try_from(config).map_err(|e| setup(&e));
    }

    let mut http = HttpConnector::new();
    // The cluster URL may be https (the usual case) or http; the TLS layer decides.
    http.enforce_http(false);
    // Without it, Nagle's algorithm holds the second of several concurrent applies on one
    // connection until the first is acknowledged (a delayed ACK: ~40 ms). reqwest does the same.
    http.set_nodelay(true);
    let tls = config.rustls_client_config().map_err(|e| setup(&e))?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let https = match &config.tls_server_name {
        Some(name) => {
            let name = name.clone().try_into().map_err(|e| setup(&e))?;
            https.with_server_name_resolver(FixedServerNameResolver::new(name))
        }
        None => https,
    };
    let https = https.enable_all_versions().wrap_connector(http);

    let mut connector = TimeoutConnector::new(https);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);

    let hyper: hyper_util::client::legacy::Client<_, kube::client::Body> =
        hyper_util::client::legacy::Builder::new(TokioExecutor::new())
            // Keep the connection alive between the trust read and the applies.
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);

    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer().map_err(|e| setup(&e))?)
        .layer(config.extra_headers_layer().map_err(|e| setup(&e))?)
        .map_err(BoxError::from)
        .service(hyper);
    Ok(kube::Client::new(service, config.default_namespace))
}
