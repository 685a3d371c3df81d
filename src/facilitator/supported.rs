//! The cached answer of `GET /supported`: which (version, scheme, network) the facilitator handles.

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One entry of `kinds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedKind {
    pub x402_version: u8,
    pub scheme: String,
    pub network: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct SupportedJson {
    #[serde(default)]
    kinds: Vec<SupportedKind>,
}

/// What is known about the facilitator's capabilities.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SupportedState {
    /// The last successful answer, if any.
    pub kinds: Option<Vec<SupportedKind>>,
    /// The last failure, if the last attempt failed.
    pub last_error: Option<String>,
}

/// Lock-free cache of the last `/supported` answer.
#[derive(Debug, Default)]
pub struct Supported(ArcSwap<SupportedState>);

impl Supported {
    pub(super) fn record(&self, result: Result<SupportedJson, String>) {
        let previous = self.0.load();
        let next = match result {
            Ok(json) => SupportedState {
                kinds: Some(json.kinds),
                last_error: None,
            },
            Err(e) => SupportedState {
                kinds: previous.kinds.clone(),
                last_error: Some(e),
            },
        };
        self.0.store(Arc::new(next));
    }

    pub fn state(&self) -> Arc<SupportedState> {
        self.0.load_full()
    }

    /// Whether the facilitator lists this kind; `None` while unknown.
    pub fn supports(&self, version: u8, scheme: &str, network: &str) -> Option<bool> {
        self.0.load().kinds.as_ref().map(|kinds| {
            kinds
                .iter()
                .any(|k| k.x402_version == version && k.scheme == scheme && k.network == network)
        })
    }
}
