//! The config fuzzer's strategies: TOML values, config-shaped sections
//! (drawn from the config's own schema), documents and `WASMUX_*`
//! overrides.

use proptest::prelude::*;

/// A TOML value: the kinds and edge values a config may meet.
fn value() -> impl Strategy<Value = toml::Value> {
    let leaf = prop_oneof![
        prop::sample::select(vec![
            0i64,
            1,
            2,
            -1,
            100,
            65535,
            65536,
            i64::MAX,
            i64::MIN,
            u32::MAX as i64 + 1
        ])
        .prop_map(toml::Value::Integer),
        any::<i64>().prop_map(toml::Value::Integer),
        prop::sample::select(vec![0.0, -0.0, 1.5, f64::NAN, f64::INFINITY, 1e300]).prop_map(toml::Value::Float),
        any::<bool>().prop_map(toml::Value::Boolean),
        prop::sample::select(vec![
            "127.0.0.1:7420",
            "0.0.0.0:0",
            "[::1]:9",
            "localhost:80",
            "normal",
            "full",
            "log",
            "http",
            "bridge",
            "nope",
            "~/.claude/projects",
            "env:X",
            "file:/nonexistent",
            "*",
            "",
        ])
        .prop_map(|s| toml::Value::String(s.into())),
        prop::collection::vec(any::<char>(), 0..12).prop_map(|c| toml::Value::String(String::from_iter(c))),
        Just(toml::Value::Datetime("1979-05-27T07:32:00Z".parse().unwrap())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
            prop::collection::btree_map(key(), inner, 0..4).prop_map(|m| toml::Value::Table(m.into_iter().collect())),
        ]
    })
}

/// A key: mostly a config field name (of any section), sometimes not.
fn key() -> impl Strategy<Value = String> {
    const KEYS: &[&str] = &[
        "listen",
        "state_dir",
        "plugins_dir",
        "body_bytes",
        "queue_cap",
        "turn_timeout_secs",
        "durability",
        "deadline_ms",
        "memory_mib",
        "grants",
        "config",
        "secrets",
        "http_allow",
        "allow_create",
        "enabled",
        "allowed_origins",
        "retention_bytes",
        "client_buffer_frames",
        "output_notifications",
        "transcript_roots",
        "redeliver_after_restart",
        "cols",
        "rows",
        "allowed_hosts",
        "header_timeout_secs",
        "body_timeout_secs",
        "public",
        "scrape_token",
        "per_session",
        "max_sessions",
        "github",
        "x",
    ];
    prop_oneof![
        9 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => prop::collection::vec(any::<char>(), 0..6).prop_map(String::from_iter),
    ]
}

/// What a config field holds, to draw mostly valid values for it.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Uint,
    Bool,
    Addr,
    Str,
    Strs,
    Caps,
    Durability,
    Values,
    Secrets,
    Plugin,
}

/// Every section of the config with its fields (`[plugins.github]` stands
/// for any plugin; `[plugins]` holds plugins by name).
const SCHEMA: &[(&[&str], &[(&str, Kind)])] = &[
    (
        &[],
        &[
            ("listen", Kind::Addr),
            ("state_dir", Kind::Str),
            ("plugins_dir", Kind::Str),
        ],
    ),
    (
        &["limits"],
        &[
            ("body_bytes", Kind::Uint),
            ("queue_cap", Kind::Uint),
            ("turn_timeout_secs", Kind::Uint),
        ],
    ),
    (&["store"], &[("durability", Kind::Durability)]),
    (
        &["plugin_defaults"],
        &[
            ("deadline_ms", Kind::Uint),
            ("memory_mib", Kind::Uint),
            ("grants", Kind::Caps),
        ],
    ),
    (&["plugins"], &[("github", Kind::Plugin), ("x", Kind::Plugin)]),
    (
        &["plugins", "github"],
        &[
            ("grants", Kind::Caps),
            ("config", Kind::Values),
            ("secrets", Kind::Secrets),
            ("http_allow", Kind::Strs),
            ("deadline_ms", Kind::Uint),
            ("memory_mib", Kind::Uint),
            ("allow_create", Kind::Bool),
            ("enabled", Kind::Bool),
        ],
    ),
    (
        &["plugins", "github", "config"],
        &[("a", Kind::Str), ("n", Kind::Uint), ("x", Kind::Values)],
    ),
    (
        &["plugins", "github", "secrets"],
        &[("webhook", Kind::Str), ("token", Kind::Str)],
    ),
    (
        &["stream"],
        &[
            ("allowed_origins", Kind::Strs),
            ("retention_bytes", Kind::Uint),
            ("client_buffer_frames", Kind::Uint),
            ("output_notifications", Kind::Bool),
        ],
    ),
    (
        &["sessions"],
        &[
            ("transcript_roots", Kind::Strs),
            ("redeliver_after_restart", Kind::Bool),
            ("cols", Kind::Uint),
            ("rows", Kind::Uint),
        ],
    ),
    (
        &["server"],
        &[
            ("allowed_hosts", Kind::Strs),
            ("header_timeout_secs", Kind::Uint),
            ("body_timeout_secs", Kind::Uint),
        ],
    ),
    (
        &["metrics"],
        &[
            ("public", Kind::Bool),
            ("scrape_token", Kind::Str),
            ("per_session", Kind::Bool),
            ("max_sessions", Kind::Uint),
        ],
    ),
];

fn string() -> impl Strategy<Value = toml::Value> {
    prop_oneof![
        prop::sample::select(vec![
            "x",
            "~/.claude/projects",
            "env:X",
            "file:/nonexistent",
            "*",
            "http://a:1",
            "é",
            ""
        ])
        .prop_map(|s| toml::Value::String(s.into())),
        prop::collection::vec(any::<char>(), 0..12).prop_map(|c| toml::Value::String(String::from_iter(c))),
    ]
}

/// A value that is usually right for `kind` (and sometimes just off).
fn value_for(kind: Kind) -> BoxedStrategy<toml::Value> {
    use toml::Value as V;
    let caps = || {
        prop::collection::vec(
            prop::sample::select(vec![
                "log",
                "clock",
                "config",
                "kv",
                "crypto",
                "http",
                "enqueue",
                "transcript",
                "bridge",
                "Log",
            ]),
            0..4,
        )
        .prop_map(|c| V::Array(c.into_iter().map(|c| V::String(c.into())).collect()))
    };
    match kind {
        Kind::Uint => prop_oneof![
            0i64..100_000,
            prop::sample::select(vec![0i64, 1, 65535, 65536, u32::MAX as i64 + 1, i64::MAX, -1]),
        ]
        .prop_map(V::Integer)
        .boxed(),
        Kind::Bool => any::<bool>().prop_map(V::Boolean).boxed(),
        Kind::Addr => prop::sample::select(vec![
            "127.0.0.1:7420",
            "0.0.0.0:0",
            "[::1]:9",
            "[::]:65535",
            "127.0.0.1:65536",
            "localhost:80",
            "127.0.0.1",
        ])
        .prop_map(|s| V::String(s.into()))
        .boxed(),
        Kind::Str => string().boxed(),
        Kind::Strs => prop::collection::vec(string(), 0..4).prop_map(V::Array).boxed(),
        Kind::Caps => caps().boxed(),
        Kind::Durability => prop::sample::select(vec!["normal", "full", "Full", "fsync"])
            .prop_map(|s| V::String(s.into()))
            .boxed(),
        Kind::Values => value().boxed(),
        Kind::Secrets => prop::collection::btree_map(key(), string(), 0..3)
            .prop_map(|m| V::Table(m.into_iter().collect()))
            .boxed(),
        Kind::Plugin => (caps(), any::<bool>(), prop::collection::btree_map(key(), value(), 0..3))
            .prop_map(|(grants, enabled, config)| {
                let mut t = toml::Table::new();
                t.insert("grants".into(), grants);
                t.insert("enabled".into(), V::Boolean(enabled));
                t.insert("config".into(), V::Table(config.into_iter().collect()));
                V::Table(t)
            })
            .boxed(),
    }
}

/// One `[section]` with a few of its fields: mostly fields it has with
/// fitting values, sometimes unknown fields or values of any kind.
pub(super) fn section() -> impl Strategy<Value = (Vec<String>, Vec<(String, toml::Value)>)> {
    let known = (0..SCHEMA.len()).prop_flat_map(|i| {
        let (path, fields) = SCHEMA[i];
        let entry = (0..fields.len()).prop_flat_map(move |f| {
            let (name, kind) = fields[f];
            prop_oneof![
                14 => value_for(kind).prop_map(move |v| (name.to_string(), v)),
                1 => value().prop_map(move |v| (name.to_string(), v)),
                1 => (key(), value()),
            ]
        });
        (
            Just(path.iter().map(|p| p.to_string()).collect::<Vec<_>>()),
            prop::collection::vec(entry, 0..5),
        )
    });
    prop_oneof![
        9 => known,
        1 => (prop::collection::vec(key(), 1..3), prop::collection::vec((key(), value()), 0..3)),
    ]
}

/// A TOML key (bare when it can be, else quoted).
fn toml_key(k: &str) -> String {
    if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        k.to_string()
    } else {
        toml::Value::String(k.to_string()).to_string()
    }
}

/// `[section]` blocks of `key = value` lines.
pub(super) type Document = Vec<(Vec<String>, Vec<(String, toml::Value)>)>;

/// The document as TOML: top-level keys first, each section once, each
/// key once (its first value); duplicates are the arbitrary-text test's.
pub(super) fn render(doc: &Document) -> String {
    let mut sections: std::collections::BTreeMap<&[String], Vec<&(String, toml::Value)>> = Default::default();
    for (path, entries) in doc {
        let keys = sections.entry(path).or_default();
        for e in entries {
            if !keys.iter().any(|k| k.0 == e.0) {
                keys.push(e);
            }
        }
    }
    let mut out = String::new();
    for (path, entries) in sections {
        if !path.is_empty() {
            let path: Vec<String> = path.iter().map(|p| toml_key(p)).collect();
            out.push_str(&format!("[{}]\n", path.join(".")));
        }
        for (k, v) in entries {
            out.push_str(&format!("{} = {v}\n", toml_key(k)));
        }
    }
    out
}

/// `WASMUX_*` overrides: mostly a config field with a fitting value as
/// an operator would type it (TOML, or a bare string), sometimes any
/// name (not all are config keys) with any value.
pub(super) fn env() -> impl Strategy<Value = Vec<(String, String)>> {
    let field = (0..SCHEMA.len()).prop_flat_map(|i| {
        let (path, fields) = SCHEMA[i];
        (0..fields.len()).prop_flat_map(move |f| {
            let (name, kind) = fields[f];
            let var = format!("WASMUX_{}", [path, &[name]].concat().join("__").to_ascii_uppercase());
            let raw = value_for(kind).prop_map(|v| match v {
                toml::Value::String(s) if !s.is_empty() && !s.contains(['"', '\\']) => s,
                v => v.to_string(),
            });
            (Just(var), raw)
        })
    });
    let path = prop::sample::select(SCHEMA.iter().map(|s| s.0.join("__")).collect::<Vec<_>>());
    let name = prop::collection::vec(prop_oneof![path, key()], 1..3)
        .prop_map(|parts| format!("WASMUX_{}", parts.join("__").to_ascii_uppercase()));
    let raw = prop_oneof![
        prop::sample::select(vec![
            "1",
            "-1",
            "true",
            "\"x\"",
            "[\"log\"]",
            "127.0.0.1:1",
            "{ a = 1 }",
            "1\nlisten = 2",
            "[",
            "",
            "nan",
        ])
        .prop_map(str::to_string),
        prop::collection::vec(any::<char>(), 0..10).prop_map(String::from_iter),
    ];
    prop::collection::vec(prop_oneof![4 => field, 1 => (name, raw)], 0..3)
}
