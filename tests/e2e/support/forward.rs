//! A TCP forwarder on a chosen loopback port: a node that "comes back" on the address the gateway
//! was configured with, and a count of the connections made through it (remote calls made).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Forwards every connection on `port` to `to` (`host:port`); counts the connections.
pub async fn forward(port: u16, to: String) -> Arc<AtomicUsize> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let to = to.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    count
}
