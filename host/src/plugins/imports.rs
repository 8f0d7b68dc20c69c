//! wasmux's own host interfaces (`log`, `clock`, `config`, `kv`, `crypto`),
//! implemented on [`StoreData`] and linked only when granted.

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;
use wasmtime::component::{HasSelf, Linker};

use super::bindings::types::{ErrorKind, PluginError as WitError};
use super::bindings::{clock, config, crypto, kv, log};
use super::capability::Capability;
use super::store_data::StoreData;

/// Longest log message kept, in bytes.
const MAX_LOG: usize = 8192;

fn wit_error(kind: ErrorKind, message: impl Into<String>) -> WitError {
    WitError {
        kind,
        message: message.into(),
    }
}

impl super::bindings::types::Host for StoreData {}

impl log::Host for StoreData {
    fn log(&mut self, level: log::Level, message: String, fields: Vec<(String, String)>) {
        let (admitted, dropped) = self.ctx.log_limiter.lock().unwrap_or_else(|p| p.into_inner()).admit();
        if !admitted {
            self.ctx
                .stats
                .logs_dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        let plugin = self.ctx.name.as_str();
        if dropped > 0 {
            tracing::warn!(plugin, dropped, "plugin log rate limit: records dropped");
        }
        let mut message = message;
        truncate_utf8(&mut message, MAX_LOG);
        let fields = if fields.is_empty() {
            String::new()
        } else {
            let mut f: String = fields.iter().map(|(k, v)| format!(" {k}={v:?}")).collect();
            truncate_utf8(&mut f, MAX_LOG);
            f
        };
        match level {
            log::Level::Trace => tracing::trace!(target: "plugin", plugin, "{message}{fields}"),
            log::Level::Debug => tracing::debug!(target: "plugin", plugin, "{message}{fields}"),
            log::Level::Info => tracing::info!(target: "plugin", plugin, "{message}{fields}"),
            log::Level::Warn => tracing::warn!(target: "plugin", plugin, "{message}{fields}"),
            log::Level::Error => tracing::error!(target: "plugin", plugin, "{message}{fields}"),
        }
    }
}

fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("…[cut]");
    }
}

impl clock::Host for StoreData {
    fn now_ms(&mut self) -> u64 {
        crate::util::now_ms()
    }
}

impl config::Host for StoreData {
    fn get(&mut self, key: String) -> Option<String> {
        self.ctx.config.get(&key).cloned()
    }
    fn all(&mut self) -> Vec<(String, String)> {
        self.ctx.config.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl kv::Host for StoreData {
    fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, WitError> {
        self.ctx
            .store
            .kv_get(&self.ctx.name, &key)
            .map_err(|e| wit_error(ErrorKind::Internal, e.to_string()))
    }
    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), WitError> {
        self.ctx
            .store
            .kv_set(&self.ctx.name, &key, &value)
            .map_err(|e| wit_error(ErrorKind::InvalidInput, e.to_string()))
    }
    fn delete(&mut self, key: String) -> Result<bool, WitError> {
        self.ctx
            .store
            .kv_delete(&self.ctx.name, &key)
            .map_err(|e| wit_error(ErrorKind::Internal, e.to_string()))
    }
    fn list_keys(&mut self, prefix: String, limit: u32) -> Result<Vec<String>, WitError> {
        self.ctx
            .store
            .kv_list(&self.ctx.name, &prefix, limit)
            .map_err(|e| wit_error(ErrorKind::Internal, e.to_string()))
    }
}

impl StoreData {
    fn secret(&self, name: &str) -> Result<&[u8], WitError> {
        self.ctx.secrets.get(name).map(Vec::as_slice).ok_or_else(|| {
            wit_error(
                ErrorKind::NotFound,
                format!(
                    "no secret `{name}` is configured for plugin `{}` (set [plugins.{}.secrets] {name} = ...)",
                    self.ctx.name, self.ctx.name
                ),
            )
        })
    }
}

/// HMAC of `payload` under `key` with `algorithm`, compared to `signature`
/// in constant time.
pub fn verify_hmac(
    algorithm: &crypto::HashAlgorithm,
    key: &[u8],
    payload: &[u8],
    signature: &[u8],
) -> Result<bool, WitError> {
    macro_rules! check {
        ($digest:ty) => {{
            let mut mac =
                <Hmac<$digest>>::new_from_slice(key).map_err(|e| wit_error(ErrorKind::Internal, e.to_string()))?;
            mac.update(payload);
            Ok(mac.verify_slice(signature).is_ok())
        }};
    }
    match algorithm {
        crypto::HashAlgorithm::Sha256 => check!(sha2::Sha256),
        crypto::HashAlgorithm::Sha512 => check!(sha2::Sha512),
        crypto::HashAlgorithm::Sha1 => check!(sha1::Sha1),
        crypto::HashAlgorithm::Other(name) => Err(wit_error(
            ErrorKind::Unsupported,
            format!("HMAC algorithm `{name}` is not supported"),
        )),
    }
}

impl crypto::Host for StoreData {
    fn has_secret(&mut self, secret_name: String) -> bool {
        self.ctx.secrets.contains_key(&secret_name)
    }
    fn verify_hmac(
        &mut self,
        secret_name: String,
        algorithm: crypto::HashAlgorithm,
        payload: Vec<u8>,
        signature: Vec<u8>,
    ) -> Result<bool, WitError> {
        let key = self.secret(&secret_name)?;
        verify_hmac(&algorithm, key, &payload, &signature)
    }
    fn secret_equals(&mut self, secret_name: String, presented: Vec<u8>) -> Result<bool, WitError> {
        let secret = self.secret(&secret_name)?;
        // Length is not secret-dependent information worth hiding beyond this.
        Ok(secret.len() == presented.len() && bool::from(secret.ct_eq(&presented)))
    }
}

/// Link the wasmux interfaces in `granted` into `linker`.
pub fn link_granted(linker: &mut Linker<StoreData>, granted: &[Capability]) -> wasmtime::Result<()> {
    super::bindings::types::add_to_linker::<StoreData, HasSelf<StoreData>>(linker, |s| s)?;
    for cap in granted {
        match cap {
            Capability::Log => log::add_to_linker::<StoreData, HasSelf<StoreData>>(linker, |s| s)?,
            Capability::Clock => clock::add_to_linker::<StoreData, HasSelf<StoreData>>(linker, |s| s)?,
            Capability::Config => config::add_to_linker::<StoreData, HasSelf<StoreData>>(linker, |s| s)?,
            Capability::Kv => kv::add_to_linker::<StoreData, HasSelf<StoreData>>(linker, |s| s)?,
            Capability::Crypto => crypto::add_to_linker::<StoreData, HasSelf<StoreData>>(linker, |s| s)?,
            // Not interfaces: checked where they are used.
            Capability::Http | Capability::Enqueue | Capability::Transcript | Capability::Bridge => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_documented_signature() {
        // From GitHub's "Validating webhook deliveries" docs.
        let sig = hex::decode("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17").unwrap();
        assert!(
            verify_hmac(
                &crypto::HashAlgorithm::Sha256,
                b"It's a Secret to Everybody",
                b"Hello, World!",
                &sig
            )
            .unwrap()
        );
        assert!(!verify_hmac(&crypto::HashAlgorithm::Sha256, b"wrong", b"Hello, World!", &sig).unwrap());
    }
}
