//! Config parsing tests.

use super::*;

#[test]
fn env_overrides_nested_keys() {
    let env = vec![
        ("WASMUX_LISTEN".to_string(), "127.0.0.1:9999".to_string()),
        ("WASMUX_LIMITS__QUEUE_CAP".to_string(), "7".to_string()),
        (
            "WASMUX_PLUGINS__GITHUB__SECRETS__WEBHOOK".to_string(),
            "env:GH".to_string(),
        ),
        ("OTHER".to_string(), "x".to_string()),
    ];
    let c = Config::from_toml_and_env("[limits]\nbody_bytes = 10\n", env.into_iter()).unwrap();
    assert_eq!(c.listen.port(), 9999);
    assert_eq!(c.limits.queue_cap, 7);
    assert_eq!(c.limits.body_bytes, 10);
    assert_eq!(c.plugins["github"].secrets["webhook"], "env:GH");
}

#[test]
fn environment_variables_that_are_not_config_keys_are_ignored() {
    let env = vec![
        ("WASMUX_SESSION".to_string(), "demo".to_string()),
        ("WASMUX_PYTHON".to_string(), "/usr/bin/python3".to_string()),
        ("WASMUX_LIMITS__NOPE".to_string(), "1".to_string()),
        ("WASMUX___".to_string(), "1".to_string()),
        ("WASMUX_LIMITS__QUEUE_CAP".to_string(), "9".to_string()),
    ];
    let c = Config::from_toml_and_env("", env.into_iter()).unwrap();
    assert_eq!(c.limits.queue_cap, 9);
}

#[test]
fn a_bad_value_for_a_known_key_names_the_variable() {
    let env = vec![("WASMUX_LIMITS__QUEUE_CAP".to_string(), "\"many\"".to_string())];
    let e = Config::from_toml_and_env("", env.into_iter()).unwrap_err();
    assert!(e.to_string().contains("WASMUX_LIMITS__QUEUE_CAP"), "{e}");
}

#[test]
fn unknown_keys_are_errors() {
    let e = Config::from_toml_and_env("lisen = 1\n", std::iter::empty()).unwrap_err();
    assert!(e.to_string().contains("lisen"), "{e}");
}
