//! Logging helpers over the host's `log` import.

use crate::log::{Level, log};

/// Log `message` at info level with no fields.
pub fn info(message: &str) {
    log(Level::Info, message, &[]);
}

/// Log `message` at warn level with no fields.
pub fn warn(message: &str) {
    log(Level::Warn, message, &[]);
}

/// Log `message` at debug level with no fields.
pub fn debug(message: &str) {
    log(Level::Debug, message, &[]);
}
