//! Arbitrary bytes as an IAM policy document (of both kinds: resource policies arrive in
//! PutResourcePolicy, session policies in AssumeRole) and as a principals file (TOML and JSON).
//! Parsing must refuse what it cannot read without panicking, and whatever it accepts must
//! evaluate without panicking: evaluation walks every element parsing let through.
#![no_main]

use freshet_iam::{
    Access, Context, Directory, Identity, Policy, PolicyKind, PrincipalKind, authorize,
};
use libfuzzer_sys::fuzz_target;

const ACCOUNT: &str = "111122223333";

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

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let identity_policy = Policy::parse(text, PolicyKind::Identity).ok();
    let resource_policy = Policy::parse(text, PolicyKind::Resource).ok();
    if identity_policy.is_some() || resource_policy.is_some() {
        let caller = Identity {
            account: ACCOUNT.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:user/bob"),
            user_id: "AIDAEXAMPLE".into(),
            kind: PrincipalKind::User { name: "bob".into() },
            policies: identity_policy
                .clone()
                .into_iter()
                .collect::<Vec<_>>()
                .into(),
            session_policy: identity_policy.map(std::sync::Arc::new),
            token_issued_ms: None,
        };
        let ctx = context();
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
            let _ = authorize(
                &caller,
                &Access {
                    action,
                    resource,
                    resource_policy: resource_policy.as_ref(),
                    context: &ctx,
                },
            );
        }
    }
    for json in [true, false] {
        let _ = Directory::parse(text, json, ACCOUNT);
    }
});
