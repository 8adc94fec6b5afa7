//! Hostile input for the two parsers that read text from outside: `Policy::parse` (resource
//! policies arrive in `PutResourcePolicy` requests, session policies in `AssumeRole`) and
//! `Directory::parse` (the principals file). Neither may panic, overflow its stack or run
//! unbounded, whatever the text; what they accept must evaluate without panicking too. The
//! nightly cargo-fuzz target `iam_policy` (fuzz/) covers the same ground with coverage guidance.

use std::sync::Arc;

use freshet_iam::{Access, Context, Directory, Identity, Policy, PolicyKind, PrincipalKind};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

const ACCOUNT: &str = "111122223333";

/// The grammar's own words, so generated documents get past the first checks often enough to
/// reach the deeper ones.
const KEYS: &[&str] = &[
    "Version",
    "Id",
    "Statement",
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    "AWS",
    "Service",
    "Federated",
    "CanonicalUser",
    "StringEquals",
    "StringLike",
    "NumericLessThan",
    "DateGreaterThan",
    "IpAddress",
    "Null",
    "ArnLike",
    "aws:SourceIp",
    "aws:username",
    "aws:CurrentTime",
    "users",
    "roles",
    "name",
    "account",
    "access_keys",
    "id",
    "secret",
    "policies",
    "trust_policy",
    "max_session_duration",
    "",
];

const BASE_OPERATORS: &[&str] = &[
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
    "DateEquals",
    "DateNotEquals",
    "DateLessThan",
    "DateLessThanEquals",
    "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool",
    "BinaryEquals",
    "IpAddress",
    "NotIpAddress",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
    "Null",
    "StringEqualz",
    "",
];

const CONDITION_KEYS: &[&str] = &[
    "aws:SourceIp",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:username",
    "aws:userid",
    "aws:PrincipalArn",
    "aws:PrincipalAccount",
    "aws:PrincipalTag/team",
    "aws:TagKeys",
    "aws:SecureTransport",
    "kinesis:StreamName",
    "AWS:SOURCEIP",
    "nokey",
    ":",
    "",
];

/// Values that sit on the edges of what the operators, principals and resources accept.
const WORDS: &[&str] = &[
    "*",
    "?",
    "**?*",
    "kinesis:*",
    "kinesis:Get*",
    "kinesis:PutRecord",
    "sts:AssumeRole",
    ":PutRecord",
    "PutRecord",
    "arn:aws:kinesis:*:*:stream/*",
    "arn:aws:kinesis:us-east-1:111122223333:stream/orders",
    "arn:aws:kinesis:*:${aws:PrincipalAccount}:stream/${aws:username}-*",
    "arn:aws:iam::111122223333:root",
    "arn:aws:iam::111122223333:user/bob",
    "arn:aws:iam::111122223333:role/*",
    "arn:aws:sts::111122223333:assumed-role/ops/s",
    "arn:aws:s3:::bucket",
    "arn:",
    "arn:aws",
    "::::::",
    "111122223333",
    "11112222333",
    "firehose.amazonaws.com",
    "2012-10-17",
    "2008-10-17",
    "2012-10-18",
    "Allow",
    "Deny",
    "allow",
    "${aws:username}",
    "${aws:userid, 'anonymous'}",
    "${*}${?}${$}",
    "${",
    "${}",
    "${,}",
    "$${aws:username}}",
    "203.0.113.0/24",
    "203.0.113.7",
    "::1/128",
    "300.1.1.1/8",
    "10.0.0.0/33",
    "2023-11-14T22:13:20Z",
    "2024-01-01",
    "2024-02-30",
    "+262143-12-31T23:59:59Z",
    "1700000000",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854776",
    "1e309",
    "NaN",
    "-inf",
    "true",
    "false",
    "TRUE",
    "é",
    "\u{0}",
    "",
];

fn word() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(WORDS).prop_map(str::to_string),
        1 => ".{0,16}",
    ]
    .boxed()
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(KEYS).prop_map(str::to_string),
        1 => select(CONDITION_KEYS).prop_map(str::to_string),
        1 => ".{0,8}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_filter_map("JSON has no NaN or infinity", |f| {
            serde_json::Number::from_f64(f).map(Value::Number)
        }),
        4 => word().prop_map(Value::String),
    ]
}

/// Any JSON value whose object keys come mostly from the policy and principals grammars.
fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// How far a generated document strays from the grammar: at 0 every choice is a valid one (so
/// documents parse and evaluation sees every element), above it that many in 20 are not.
type Noise = u32;

/// `valid`, or now and then (as `noise` says) `noisy`.
fn or_noise<T: std::fmt::Debug + 'static>(
    noise: Noise,
    valid: impl Strategy<Value = T> + 'static,
    noisy: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    if noise == 0 {
        valid.boxed()
    } else {
        prop_oneof![20 => valid, noise => noisy].boxed()
    }
}

fn from(noise: Noise, valid: &'static [&'static str]) -> BoxedStrategy<String> {
    or_noise(noise, select(valid).prop_map(str::to_string), word())
}

/// A string, or a non-empty list of them; with noise also empty lists and other scalars.
fn one_or_many(noise: Noise, words: BoxedStrategy<String>) -> BoxedStrategy<Value> {
    let valid = prop_oneof![
        2 => words.clone().prop_map(Value::String),
        1 => prop::collection::vec(words.prop_map(Value::String), 1..4).prop_map(Value::Array),
    ];
    or_noise(
        noise,
        valid,
        prop_oneof![Just(json!([])), scalar(), json_value()],
    )
}

const ACTIONS: &[&str] = &[
    "*",
    "kinesis:*",
    "kinesis:Get*",
    "kinesis:PutRecord",
    "kinesis:*Stream?",
    "sts:AssumeRole",
    "KINESIS:putrecord",
];

const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:kinesis:*:*:stream/*",
    "arn:aws:kinesis:us-east-1:111122223333:stream/orders",
    "arn:aws:kinesis:*:${aws:PrincipalAccount}:stream/${aws:username}-*",
    "arn:aws:kinesis:*:*:stream/${aws:userid, 'none'}",
    "arn:aws:iam::111122223333:role/*",
    "arn:",
];

const AWS_PRINCIPALS: &[&str] = &[
    "*",
    "111122223333",
    "444455556666",
    "arn:aws:iam::111122223333:root",
    "arn:aws:iam::111122223333:user/bob",
    "arn:aws:iam::444455556666:role/ops",
    "arn:aws:sts::111122223333:assumed-role/ops/s",
];

const STRINGS: &[&str] = &[
    "bob",
    "b*",
    "?ob",
    "${aws:username}",
    "${aws:missing, 'x'}",
    "${aws:missing}",
    "env",
    "",
];
const NUMBERS: &[&str] = &["0", "1700000000", "-1.5", "1e3", "${aws:EpochTime}"];
const DATES: &[&str] = &[
    "2023-11-14T22:13:20Z",
    "2024-01-01",
    "2023-11-14T22:13:20+02:00",
    "1700000000",
    "${aws:CurrentTime}",
];
const BOOLS: &[&str] = &["true", "false"];
const NETWORKS: &[&str] = &["203.0.113.0/24", "203.0.113.7", "10.0.0.0/8", "::/0"];
const ARNS: &[&str] = &[
    "arn:aws:iam::111122223333:user/bob",
    "arn:aws:iam::*:user/*",
    "arn:aws:iam::111122223333:*",
    "arn:*:*:*:*:*",
];

/// Each operator with the values it accepts.
const OPERATORS: &[(&str, &[&str])] = &[
    ("StringEquals", STRINGS),
    ("StringNotEquals", STRINGS),
    ("StringEqualsIgnoreCase", STRINGS),
    ("StringNotEqualsIgnoreCase", STRINGS),
    ("StringLike", STRINGS),
    ("StringNotLike", STRINGS),
    ("NumericEquals", NUMBERS),
    ("NumericNotEquals", NUMBERS),
    ("NumericLessThan", NUMBERS),
    ("NumericLessThanEquals", NUMBERS),
    ("NumericGreaterThan", NUMBERS),
    ("NumericGreaterThanEquals", NUMBERS),
    ("DateEquals", DATES),
    ("DateNotEquals", DATES),
    ("DateLessThan", DATES),
    ("DateLessThanEquals", DATES),
    ("DateGreaterThan", DATES),
    ("DateGreaterThanEquals", DATES),
    ("Bool", BOOLS),
    ("BinaryEquals", STRINGS),
    ("IpAddress", NETWORKS),
    ("NotIpAddress", NETWORKS),
    ("ArnEquals", ARNS),
    ("ArnLike", ARNS),
    ("ArnNotEquals", ARNS),
    ("ArnNotLike", ARNS),
    ("Null", BOOLS),
];

fn condition_values(noise: Noise, pool: &'static [&'static str]) -> BoxedStrategy<Value> {
    let one = or_noise(
        noise,
        select(pool).prop_map(Value::from),
        prop_oneof![
            word().prop_map(Value::String),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            Just(Value::Null),
            Just(json!({"nested": ["x"]})),
        ],
    );
    or_noise(
        noise,
        prop_oneof![
            2 => one.clone(),
            1 => prop::collection::vec(one.clone(), 1..4).prop_map(Value::Array),
        ],
        prop::collection::vec(one, 0..2).prop_map(Value::Array),
    )
}

fn condition_block(noise: Noise) -> BoxedStrategy<Value> {
    let operator = (
        or_noise(
            noise,
            select(&["", "", "", "ForAnyValue:", "ForAllValues:"][..]),
            select(&["ForOneValue:", "forallvalues:", ":"][..]),
        ),
        select(OPERATORS),
        or_noise(
            noise,
            select(&["", "", "IfExists"][..]),
            select(&["ifexists", "IfExistsIfExists"][..]),
        ),
    )
        .prop_flat_map(move |(set, (base, pool), suffix)| {
            // Null has no IfExists form.
            let suffix = if base == "Null" && noise == 0 {
                ""
            } else {
                suffix
            };
            let name = or_noise(
                noise,
                Just(format!("{set}{base}{suffix}")),
                select(BASE_OPERATORS).prop_map(str::to_string),
            );
            let keys = or_noise(noise, 1usize..3, Just(0usize)).prop_flat_map(move |n| {
                prop::collection::vec(
                    (
                        from(noise, CONDITION_KEYS_VALID),
                        condition_values(noise, pool),
                    ),
                    n,
                )
            });
            (name, keys)
        });
    or_noise(
        noise,
        prop::collection::vec(operator, 0..3).prop_map(|ops| {
            Value::Object(
                ops.into_iter()
                    .map(|(op, keys)| (op, Value::Object(keys.into_iter().collect())))
                    .collect(),
            )
        }),
        scalar(),
    )
}

const CONDITION_KEYS_VALID: &[&str] = &[
    "aws:SourceIp",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:username",
    "aws:userid",
    "aws:PrincipalArn",
    "aws:TagKeys",
    "aws:SecureTransport",
    "AWS:SOURCEIP",
    "kinesis:StreamName",
];

fn principal(noise: Noise) -> BoxedStrategy<Value> {
    let map = prop::collection::vec(
        prop_oneof![
            4 => one_or_many(noise, from(noise, AWS_PRINCIPALS)).prop_map(|v| ("AWS", v)),
            1 => one_or_many(noise, word()).prop_map(|v| ("Service", v)),
            1 => one_or_many(noise, word()).prop_map(|v| ("Federated", v)),
        ],
        1..3,
    )
    .prop_map(|kv| {
        Value::Object(
            kv.into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<Map<_, _>>(),
        )
    });
    or_noise(
        noise,
        prop_oneof![1 => Just(json!("*")), 4 => map],
        prop_oneof![
            word().prop_map(Value::String),
            Just(json!({})),
            Just(json!({"aws": "*"})),
            Just(json!({"AWS": "arn:aws:iam::*:root"})),
        ],
    )
}

/// One of a pair of mutually exclusive elements (`Action`/`NotAction`, ...): one of them, and
/// with noise also neither or (wrongly) both.
fn pair(
    noise: Noise,
    name: &'static str,
    not_name: &'static str,
    value: BoxedStrategy<Value>,
) -> BoxedStrategy<Vec<(String, Value)>> {
    let one = prop_oneof![
        2 => value.clone().prop_map(move |v| vec![(name.to_string(), v)]),
        1 => value.clone().prop_map(move |v| vec![(not_name.to_string(), v)]),
    ];
    let wrong = prop_oneof![
        Just(Vec::new()),
        (value.clone(), value)
            .prop_map(move |(a, b)| vec![(name.to_string(), a), (not_name.to_string(), b)]),
    ];
    or_noise(noise, one, wrong)
}

/// A statement; `principal` whether it names one (resource policies must, identity policies
/// must not).
fn statement(noise: Noise, principal_given: bool) -> BoxedStrategy<Value> {
    let principal_given = or_noise(noise, Just(principal_given), Just(!principal_given));
    (
        prop::option::weighted(0.3, word()),
        or_noise(
            noise,
            select(&["Allow", "Deny"][..]).prop_map(Value::from),
            prop_oneof![Just(json!("allow")), scalar()],
        ),
        principal_given.prop_flat_map(move |given| {
            if given {
                pair(noise, "Principal", "NotPrincipal", principal(noise)).boxed()
            } else {
                Just(Vec::new()).boxed()
            }
        }),
        pair(
            noise,
            "Action",
            "NotAction",
            one_or_many(noise, from(noise, ACTIONS)),
        ),
        pair(
            noise,
            "Resource",
            "NotResource",
            one_or_many(noise, from(noise, RESOURCES)),
        ),
        prop::option::weighted(0.6, condition_block(noise)),
        or_noise(noise, Just(None), (key(), scalar()).prop_map(Some)),
    )
        .prop_map(
            |(sid, effect, principal, action, resource, condition, extra)| {
                let mut st = Map::new();
                if let Some(sid) = sid {
                    st.insert("Sid".into(), Value::String(sid));
                }
                st.insert("Effect".into(), effect);
                for (k, v) in principal.into_iter().chain(action).chain(resource) {
                    st.insert(k, v);
                }
                if let Some(condition) = condition {
                    st.insert("Condition".into(), condition);
                }
                if let Some((k, v)) = extra {
                    st.insert(k, v);
                }
                Value::Object(st)
            },
        )
        .boxed()
}

/// A policy document: at noise 0 a valid one of its kind, above that one that strays from the
/// grammar here and there (so most fail somewhere deep inside).
fn document_of(noise: Noise, principal_given: bool) -> BoxedStrategy<Value> {
    let statements = or_noise(
        noise,
        prop_oneof![
            1 => statement(noise, principal_given),
            4 => prop::collection::vec(statement(noise, principal_given), 0..4)
                .prop_map(Value::Array),
        ],
        prop_oneof![
            scalar(),
            Just(Value::Null),
            prop::collection::vec(json_value(), 1..3).prop_map(Value::Array),
        ],
    );
    (
        or_noise(
            noise,
            prop::option::weighted(
                0.9,
                select(&["2012-10-17", "2008-10-17"][..]).prop_map(Value::from),
            ),
            scalar().prop_map(Some),
        ),
        or_noise(noise, statements.prop_map(Some), Just(None)),
        prop::option::weighted(0.1, word()),
        or_noise(noise, Just(None), (key(), scalar()).prop_map(Some)),
    )
        .prop_map(|(version, statement, id, extra)| {
            let mut doc = Map::new();
            if let Some(v) = version {
                doc.insert("Version".into(), v);
            }
            if let Some(st) = statement {
                doc.insert("Statement".into(), st);
            }
            if let Some(id) = id {
                doc.insert("Id".into(), Value::String(id));
            }
            if let Some((k, v)) = extra {
                doc.insert(k, v);
            }
            Value::Object(doc)
        })
        .boxed()
}

fn noise() -> impl Strategy<Value = Noise> {
    select(&[0, 0, 1, 4][..])
}

/// A document of either kind at any noise.
fn document() -> BoxedStrategy<Value> {
    (noise(), any::<bool>())
        .prop_flat_map(|(noise, principal)| document_of(noise, principal))
        .boxed()
}

fn context() -> Context {
    let mut ctx = Context::default();
    ctx.set("aws:SourceIp", "203.0.113.7");
    ctx.set("aws:CurrentTime", "2023-11-14T22:13:20Z");
    ctx.set("aws:EpochTime", "1700000000");
    ctx.set("aws:SecureTransport", "false");
    ctx.set("aws:username", "bob");
    ctx.set("aws:PrincipalArn", "arn:aws:iam::111122223333:user/bob");
    ctx.set("aws:PrincipalAccount", ACCOUNT);
    ctx.set_all("aws:TagKeys", vec!["env".into(), "team".into()]);
    ctx
}

fn user(policies: Vec<Policy>) -> Identity {
    Identity {
        account: ACCOUNT.into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:user/bob"),
        user_id: "AIDAEXAMPLE".into(),
        kind: PrincipalKind::User { name: "bob".into() },
        policies: policies.into(),
        session_policy: None,
        token_issued_ms: None,
    }
}

/// Evaluates whatever parsed against a few requests: evaluation reads every part of a parsed
/// statement, so it must cope with anything the parser lets through.
fn evaluate(identity_policy: Option<Policy>, resource_policy: Option<&Policy>) {
    let ctx = context();
    let mut caller = user(identity_policy.clone().into_iter().collect());
    caller.session_policy = identity_policy.map(Arc::new);
    for (action, resource) in [
        (
            "kinesis:PutRecord",
            "arn:aws:kinesis:us-east-1:111122223333:stream/orders",
        ),
        (
            "kinesis:GetRecords",
            "arn:aws:kinesis:us-east-1:444455556666:stream/bob-x",
        ),
        ("sts:AssumeRole", "arn:aws:iam::111122223333:role/ops"),
        ("kinesis:ListStreams", "*"),
    ] {
        let _ = freshet_iam::authorize(
            &caller,
            &Access {
                action,
                resource,
                resource_policy,
                context: &ctx,
            },
        );
    }
}

fn parse_both(text: &str) -> (Option<Policy>, Option<Policy>) {
    (
        Policy::parse(text, PolicyKind::Identity).ok(),
        Policy::parse(text, PolicyKind::Resource).ok(),
    )
}

/// A principals file of one user whose identity policy is `policy`, in JSON.
fn file_with_policy(policy: &Value) -> Value {
    json!({"users": [{
        "name": "bob",
        "access_keys": [{"id": "AKIAEXAMPLE00000", "secret": "s"}],
        "policies": [policy],
    }]})
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(text in prop_oneof![".*", "[\\[\\]{}\":,0-9a-zA-Z *$?]{0,64}"]) {
        let (identity, resource) = parse_both(&text);
        evaluate(identity, resource.as_ref());
        for json in [true, false] {
            let _ = Directory::parse(&text, json, ACCOUNT);
        }
    }

    #[test]
    fn json_shaped_values_never_panic(value in json_value()) {
        let text = value.to_string();
        let (identity, resource) = parse_both(&text);
        evaluate(identity, resource.as_ref());
        for json in [true, false] {
            let _ = Directory::parse(&text, json, ACCOUNT);
        }
        let file = json!({"users": [value.clone()], "roles": [value]});
        let _ = Directory::parse(&file.to_string(), true, ACCOUNT);
        if let Ok(toml) = toml::to_string(&file) {
            let _ = Directory::parse(&toml, false, ACCOUNT);
        }
    }

    #[test]
    fn policy_like_documents_parse_or_refuse_and_evaluate(doc in document()) {
        let text = doc.to_string();
        let identity = Policy::parse(&text, PolicyKind::Identity);
        let resource = Policy::parse(&text, PolicyKind::Resource);
        for (parsed, kind) in [(&identity, PolicyKind::Identity), (&resource, PolicyKind::Resource)] {
            match parsed {
                Ok(p) => {
                    prop_assert_eq!(p.variables, doc["Version"] == "2012-10-17");
                    let given = match &doc["Statement"] {
                        Value::Array(items) => items.len(),
                        _ => 1,
                    };
                    prop_assert_eq!(p.statements.len(), given);
                    for st in &p.statements {
                        prop_assert_eq!(st.principal.is_some(), kind == PolicyKind::Resource);
                        prop_assert!(!st.action.items.is_empty());
                    }
                }
                // IAM's messages name what is wrong; none is empty.
                Err(e) => prop_assert!(!e.0.is_empty()),
            }
        }
        evaluate(identity.ok(), resource.as_ref().ok());
    }

    /// The principals file takes a policy as JSON text or as a table of its own syntax; both
    /// must accept exactly what `Policy::parse` does.
    #[test]
    fn principals_file_policies_agree_with_the_parser(doc in document()) {
        let expected = Policy::from_value(&doc, PolicyKind::Identity).map_err(|e| e.0);
        let as_text = Value::String(doc.to_string());
        let mut files = vec![
            (file_with_policy(&doc).to_string(), true),
            (file_with_policy(&as_text).to_string(), true),
        ];
        if let Ok(toml) = toml::to_string(&file_with_policy(&as_text)) {
            files.push((toml, false));
        }
        // TOML has no null, and integers beyond i64: such documents have no TOML form.
        if let Ok(toml) = toml::to_string(&file_with_policy(&doc)) {
            files.push((toml, false));
        }
        for (file, json) in files {
            match (&expected, Directory::parse(&file, json, ACCOUNT)) {
                (Ok(_), Ok(dir)) => {
                    let (secret, who) = dir.key("AKIAEXAMPLE00000").expect("the key loads");
                    prop_assert_eq!(secret, "s");
                    prop_assert_eq!(who.policies.len(), 1);
                }
                (Err(want), Err(got)) => {
                    prop_assert!(got.ends_with(want.as_str()), "{} vs {}", got, want);
                }
                (want, got) => {
                    prop_assert!(false, "{file}: parser says {want:?}, file says {:?}", got.err());
                }
            }
        }
    }

    /// Nesting far past what a policy needs, wherever it sits, is refused without exhausting the
    /// stack (the test threads' stacks are small, so a recursive descent would show here).
    #[test]
    fn deep_nesting_is_refused(
        // Past serde_json's recursion limit (128) but within the 64 KiB policy limit, and
        // beyond that limit (which only the principals file, with no limit of its own, reads).
        depth in prop_oneof![1usize..200, 200usize..8_000, 8_000usize..40_000],
        open in select(&["[", "{\"Statement\":", "{\"a\":[", "[{\"AWS\":"][..]),
        at in 0usize..4,
    ) {
        let close: String = open.chars().rev().map(|c| match c {
            '[' => ']',
            '{' => '}',
            _ => ' ',
        }).filter(|c| *c != ' ').collect();
        let deep = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        let text = match at {
            0 => deep,
            1 => format!(r#"{{"Version":"2012-10-17","Statement":{deep}}}"#),
            2 => format!(
                r#"{{"Statement":{{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{{"StringEquals":{{"aws:x":{deep}}}}}}}}}"#
            ),
            _ => format!(
                r#"{{"Statement":{{"Effect":"Allow","Principal":{deep},"Action":"a:b","Resource":"*"}}}}"#
            ),
        };
        let (identity, resource) = parse_both(&text);
        if depth > 64 {
            prop_assert!(identity.is_none() && resource.is_none());
        }
        let policies = format!(r#"{{"users":[{{"name":"u","policies":[{text}]}}]}}"#);
        prop_assert!(depth <= 64 || Directory::parse(&policies, true, ACCOUNT).is_err());
    }

    /// The same in the principals file's TOML: nested arrays, inline tables, dotted keys and
    /// table headers.
    #[test]
    fn deep_toml_is_refused(depth in 1usize..5_000, shape in 0usize..4) {
        let text = match shape {
            0 => format!("x = {}1{}", "[".repeat(depth), "]".repeat(depth)),
            1 => format!("x = {}1{}", "{a = ".repeat(depth), "}".repeat(depth)),
            2 => format!("{} = 1", vec!["a"; depth].join(".")),
            _ => format!("[{}]\nb = 1", vec!["a"; depth].join(".")),
        };
        prop_assert!(Directory::parse(&text, false, ACCOUNT).is_err());
        let policies = format!(
            "[[users]]\nname = \"u\"\npolicies = [{}]",
            text.strip_prefix("x = ").unwrap_or("1")
        );
        let _ = Directory::parse(&policies, false, ACCOUNT);
    }

    /// Wildcards cost time only when matched, which is linear in the text for each `*` of the
    /// pattern: patterns that would make a backtracking matcher exponential finish here.
    #[test]
    fn huge_wildcard_patterns_stay_bounded(
        unit in select(&["*a", "*?", "?*", "**", "*a*b", "*:", "*é"][..]),
        repeat in 1usize..400,
        tail in select(&["b", "", "*", "?", ":x"][..]),
        text_len in 0usize..2_000,
    ) {
        let pattern = unit.repeat(repeat) + tail;
        let resource = format!("arn:{pattern}");
        let doc = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Action": [format!("kinesis:{pattern}"), format!("{pattern}:{pattern}")],
                "Resource": [resource, format!("arn:aws:kinesis:*:*:stream/{pattern}")],
                "Condition": {
                    "StringLike": {"aws:username": pattern.clone()},
                    "ForAnyValue:StringNotLike": {"aws:TagKeys": [pattern.clone()]},
                    "ArnLike": {"aws:PrincipalArn": format!("arn:{pattern}:{pattern}:{pattern}:{pattern}:{pattern}")},
                },
            }],
        });
        let policy = Policy::parse(&doc.to_string(), PolicyKind::Identity).unwrap();
        let long = "a".repeat(text_len);
        let mut ctx = context();
        ctx.set("aws:username", long.clone());
        ctx.set("aws:PrincipalArn", format!("arn:{long}:{long}:{long}:{long}:{long}"));
        ctx.set_all("aws:TagKeys", vec![long.clone(); 4]);
        let caller = user(vec![policy]);
        let action = format!("kinesis:{long}");
        let resource = format!("arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{long}");
        let _ = freshet_iam::authorize(
            &caller,
            &Access { action: &action, resource: &resource, resource_policy: None, context: &ctx },
        );
    }

    /// Users and roles of every shape: a file that loads gives each key its secret and owner,
    /// and a file without noise loads.
    #[test]
    fn principals_files_load_whole_or_not_at_all(
        (noise, users, roles, default_account) in principals_file(),
    ) {
        let users_json: Vec<Value> = users.iter().map(|(name, account, keys, policies)| {
            let mut u = json!({
                "name": name,
                "access_keys": keys.iter().map(|(id, secret)| json!({"id": id, "secret": secret})).collect::<Vec<_>>(),
                "policies": policies,
            });
            if let Some(a) = account {
                u["account"] = json!(a);
            }
            u
        }).collect();
        let roles_json: Vec<Value> = roles.iter().map(|(name, trust, max)| {
            let mut r = json!({"name": name, "trust_policy": trust});
            if let Some(max) = max {
                r["max_session_duration"] = json!(max);
            }
            r
        }).collect();
        let file = json!({"users": users_json, "roles": roles_json});
        let arn = |account: Option<&str>, name: &str| {
            format!("arn:aws:iam::{}:user/{name}", account.unwrap_or(default_account))
        };
        let distinct = |items: Vec<String>| {
            items.len() == items.iter().collect::<std::collections::HashSet<_>>().len()
        };
        let unique = distinct(users.iter().map(|(n, a, _, _)| arn(*a, n)).collect())
            && distinct(roles.iter().map(|(n, _, _)| n.clone()).collect())
            && distinct(users.iter().flat_map(|(_, _, k, _)| k.iter().map(|(id, _)| id.clone())).collect());
        let mut texts = vec![(file.to_string(), true)];
        match toml::to_string(&file) {
            Ok(toml) => texts.push((toml, false)),
            // TOML has no null: only noise brings one.
            Err(e) => prop_assert!(noise > 0, "{}", e),
        }
        for (text, json) in texts {
            let parsed = Directory::parse(&text, json, default_account);
            if noise == 0 && unique {
                prop_assert!(parsed.is_ok(), "{}: {:?}", text, parsed.err());
            }
            let Ok(dir) = parsed else {
                continue;
            };
            for (name, account, keys, _) in &users {
                let arn = arn(*account, name);
                prop_assert!(dir.user(&arn).is_some(), "{}", arn);
                for (id, secret) in keys {
                    let (s, who) = dir.key(id).expect("every key of a loaded file");
                    prop_assert_eq!(s, secret.as_str());
                    prop_assert_eq!(&who.arn, &arn);
                }
            }
            for (name, _, max) in &roles {
                let role = dir.role(&format!("arn:aws:iam::{default_account}:role/{name}"));
                prop_assert_eq!(role.map(|r| r.max_session_secs), Some(max.unwrap_or(3600)));
            }
        }
    }

    /// Without noise the generator writes only valid documents: the parser must take them all
    /// (otherwise it refuses something IAM accepts).
    #[test]
    fn valid_documents_parse(
        (resource, doc) in any::<bool>().prop_flat_map(|r| (Just(r), document_of(0, r))),
    ) {
        let kind = if resource { PolicyKind::Resource } else { PolicyKind::Identity };
        let parsed = Policy::parse(&doc.to_string(), kind);
        prop_assert!(parsed.is_ok(), "{}: {:?}", doc, parsed.err());
        evaluate(
            (!resource).then(|| parsed.clone().unwrap()),
            parsed.as_ref().ok().filter(|_| resource),
        );
    }
}

type UserSpec = (
    String,
    Option<&'static str>,
    Vec<(String, String)>,
    Vec<Value>,
);
type RoleSpec = (String, Value, Option<u32>);

/// The parts of a principals file, with the noise they were made at and the server's account.
fn principals_file() -> impl Strategy<Value = (Noise, Vec<UserSpec>, Vec<RoleSpec>, &'static str)> {
    noise().prop_flat_map(|noise| {
        let policy = prop_oneof![
            document_of(noise, false),
            document_of(noise, false).prop_map(|d| Value::String(d.to_string())),
        ];
        let user = (
            or_noise(noise, "[a-z]{1,6}", ".{0,8}"),
            or_noise(
                noise,
                prop::option::weighted(0.3, select(&[ACCOUNT, "444455556666"][..])),
                prop::option::of(select(&["1234", "abcdefghijkl", ""][..])),
            ),
            prop::collection::vec(
                (
                    or_noise(noise, "[A-Z0-9]{16,24}", "[A-Z0-9]{0,16}"),
                    or_noise(noise, ".{1,6}", Just(String::new())),
                ),
                0..3,
            ),
            prop::collection::vec(policy, 0..2),
        );
        let role = (
            "[a-z]{1,6}",
            document_of(noise, true),
            or_noise(
                noise,
                prop::option::weighted(0.5, select(&[3600u32, 7200, 43200][..])),
                prop::option::of(select(&[0u32, 3599, 43201, u32::MAX][..])),
            ),
        );
        (
            Just(noise),
            prop::collection::vec(user, 0..4),
            prop::collection::vec(role, 0..3),
            or_noise(noise, Just(ACCOUNT), select(&["", "x", "1234"][..])),
        )
    })
}

/// Exact cases the properties found or that sit on a boundary they would reach only by luck.
#[test]
fn boundary_documents() {
    let statement = |condition: &str| {
        format!(
            r#"{{"Statement":{{"Effect":"Allow","Action":"a:b","Resource":"*","Condition":{condition}}}}}"#
        )
    };
    for condition in [
        // Epoch seconds whose milliseconds do not fit in 64 bits.
        r#"{"DateEquals":{"aws:CurrentTime":"9223372036854775807"}}"#,
        r#"{"DateLessThan":{"aws:CurrentTime":-9223372036854775808}}"#,
        r#"{"DateGreaterThan":{"aws:CurrentTime":"9223372036854776"}}"#,
        r#"{"NumericEquals":{"aws:EpochTime":1e308}}"#,
        r#"{"IpAddress":{"aws:SourceIp":"::ffff:0.0.0.0/0"}}"#,
    ] {
        let text = statement(condition);
        let (identity, resource) = parse_both(&text);
        evaluate(identity, resource.as_ref());
    }
    let mut ctx = context();
    ctx.set("aws:CurrentTime", "9223372036854775807");
    ctx.set("aws:EpochTime", "-9223372036854775808");
    let policy = Policy::parse(
        &statement(
            r#"{"DateLessThan":{"aws:CurrentTime":"2024-01-01"},"DateGreaterThan":{"aws:EpochTime":"1"}}"#,
        ),
        PolicyKind::Identity,
    )
    .unwrap();
    let _ = freshet_iam::authorize(
        &user(vec![policy]),
        &Access {
            action: "a:b",
            resource: "*",
            resource_policy: None,
            context: &ctx,
        },
    );
    // Right at the size limit and just past it.
    let pad = |n: usize| format!(r#"{{"Id":"{}","Statement":[]}}"#, "x".repeat(n));
    let base = pad(0).len();
    assert!(Policy::parse(&pad(64 * 1024 - base), PolicyKind::Identity).is_ok());
    assert!(Policy::parse(&pad(64 * 1024 - base + 1), PolicyKind::Identity).is_err());
}
