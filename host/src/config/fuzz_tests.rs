//! Property-based fuzzing of the config parser (issue 13): arbitrary text
//! and arbitrary TOML documents shaped like a config, with arbitrary
//! `WASMUX_*` overrides, give a config or an `invalid config` error, never
//! a panic; a config that parses serializes back to TOML that parses to
//! the same config.

use proptest::prelude::*;

use super::{Config, ConfigError};

mod strategies;

use crate::fuzz_kit::fuzz;
use strategies::{env, render, section};

/// The outcome every input must have: a config, or `Invalid` with a
/// message (reading files and secrets is not part of parsing).
fn parse(text: &str, env: &[(String, String)]) -> Result<Option<Config>, TestCaseError> {
    match Config::from_toml_and_env(text, env.iter().cloned()) {
        Ok(c) => Ok(Some(c)),
        Err(ConfigError::Invalid(m)) if !m.trim().is_empty() => Ok(None),
        Err(e) => Err(TestCaseError::fail(format!("unexpected error for {text:?}: {e:?}"))),
    }
}

/// A parsed config survives `toml::to_string` and parsing again.
fn round_trips(c: &Config) -> Result<(), TestCaseError> {
    let text = toml::to_string(c).map_err(|e| TestCaseError::fail(format!("cannot serialize {c:?}: {e}")))?;
    match Config::from_toml_and_env(&text, std::iter::empty()) {
        Ok(again) => {
            prop_assert_eq!(toml::to_string(&again).unwrap(), text);
            Ok(())
        }
        Err(e) => Err(TestCaseError::fail(format!("{text}\ndoes not parse again: {e}"))),
    }
}

/// Fragments of TOML, config keys and values.
fn toml_ish() -> impl Strategy<Value = String> {
    const PIECES: &[&str] = &[
        "[",
        "]",
        "[[",
        "]]",
        "=",
        " = ",
        ".",
        ",",
        "{",
        "}",
        "\"",
        "'",
        "'''",
        "\"\"\"",
        "\\",
        "\\u",
        "\\U0010FFFF",
        "\\ud800",
        "#",
        "\n",
        "\r\n",
        "\r",
        "\t",
        " ",
        "listen",
        "state_dir",
        "limits",
        "queue_cap",
        "body_bytes",
        "plugins",
        "plugins.github",
        "grants",
        "config",
        "secrets",
        "stream",
        "sessions",
        "cols",
        "server",
        "metrics",
        "store",
        "durability",
        "\"127.0.0.1:7420\"",
        "\"[::1]:0\"",
        "\"full\"",
        "[\"log\", \"http\"]",
        "0",
        "-1",
        "65536",
        "9223372036854775807",
        "9223372036854775808",
        "0x_1",
        "1_000",
        "1e400",
        "nan",
        "-inf",
        "true",
        "1979-05-27T07:32:00Z",
        "07:32:00",
        "1979-05-27",
        "é",
        "\u{0}",
        "\u{feff}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a",
        "{a={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a={a=",
    ];
    let piece = prop_oneof![
        8 => prop::sample::select(PIECES).prop_map(str::to_string),
        1 => any::<String>(),
    ];
    prop::collection::vec(piece, 0..48).prop_map(|p| p.concat())
}

#[test]
fn config_parser_never_panics_on_arbitrary_text() {
    fuzz("config arbitrary text", 20_000, 41, toml_ish(), |text| {
        if let Some(c) = parse(&text, &[])? {
            round_trips(&c)?;
        }
        Ok(())
    });
}

#[test]
fn config_parser_never_panics_on_config_shaped_documents_and_overrides() {
    let doc = prop::collection::vec(section(), 0..5);
    fuzz("config shaped documents", 15_000, 42, (doc, env()), |(doc, env)| {
        let text = render(&doc);
        if let Some(c) = parse(&text, &env)? {
            round_trips(&c)?;
        }
        Ok(())
    });
}

/// Nesting beyond what random pieces reach: the TOML parser's recursion
/// limit answers with an error, not a stack overflow.
#[test]
fn config_parser_refuses_deep_nesting_without_overflowing_the_stack() {
    let deep = 100_000;
    let texts = [
        format!("[plugins.x.config]\n{} = 1\n", vec!["a"; deep].join(".")),
        format!("[plugins.x.config]\nv = {}{}\n", "[".repeat(deep), "]".repeat(deep)),
        format!("[plugins.x.config]\nv = {}\n", "{a=".repeat(deep)),
        format!("[{}]\n", vec!["a"; deep].join(".")),
    ];
    for text in &texts {
        assert!(matches!(
            Config::from_toml_and_env(text, std::iter::empty()),
            Err(ConfigError::Invalid(_))
        ));
    }
    // An override too deep to be TOML is taken as a string.
    let raw = format!("{}{}", "[".repeat(deep), "]".repeat(deep));
    let env = [("WASMUX_PLUGINS__X__CONFIG__A".to_string(), raw.clone())];
    let c = Config::from_toml_and_env("", env.into_iter()).unwrap();
    assert_eq!(c.plugins["x"].config["a"], toml::Value::String(raw));
}
