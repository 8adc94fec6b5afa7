//! Policy evaluation against the examples of AWS's IAM User Guide. Each case names the page it
//! comes from; where the guide's example is about S3, EC2 or DynamoDB, the case keeps its
//! policy's shape and condition keys (evaluation does not depend on the service), and moves it
//! onto Kinesis ARNs only where the account in the ARN matters (S3 ARNs name none).

use std::sync::Arc;

use freshet_iam::{
    Access, AccessDenied, Context, Denial, Identity, Policy, PolicyKind, PrincipalKind, authorize,
};

use Denial::*;

const ME: &str = "111122223333";
const OTHER: &str = "444455556666";
const ORDERS: &str = "arn:aws:kinesis:us-east-1:111122223333:stream/orders";

#[derive(Clone, Copy)]
enum Who {
    Root(&'static str),
    /// Account and user name.
    User(&'static str, &'static str),
    /// Account, role name and session name.
    Session(&'static str, &'static str, &'static str),
}

const ALICE: Who = Who::User(ME, "alice");

struct Case {
    name: &'static str,
    who: Who,
    identity: &'static [&'static str],
    session: Option<&'static str>,
    resource_policy: Option<&'static str>,
    action: &'static str,
    resource: &'static str,
    /// Condition keys besides the principal's own; one value is `set`, any other count `set_all`.
    context: &'static [(&'static str, &'static [&'static str])],
    expect: Result<(), Denial>,
}

const BASE: Case = Case {
    name: "",
    who: ALICE,
    identity: &[],
    session: None,
    resource_policy: None,
    action: "kinesis:PutRecord",
    resource: ORDERS,
    context: &[],
    expect: Ok(()),
};

/// Allows everything, so that a case isolates what a `Deny` statement does.
const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;

fn identity_of(who: Who, policies: Vec<Policy>, session_policy: Option<Policy>) -> Identity {
    let (account, arn, user_id, kind, token_issued_ms) = match who {
        Who::Root(account) => (
            account,
            format!("arn:aws:iam::{account}:root"),
            account.to_string(),
            PrincipalKind::Root,
            None,
        ),
        Who::User(account, name) => (
            account,
            format!("arn:aws:iam::{account}:user/{name}"),
            format!("AIDA{}", name.to_uppercase()),
            PrincipalKind::User {
                name: name.to_string(),
            },
            None,
        ),
        Who::Session(account, role, session) => (
            account,
            format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
            format!("AROA{}:{session}", role.to_uppercase()),
            PrincipalKind::AssumedRole {
                role_arn: format!("arn:aws:iam::{account}:role/{role}"),
                session: session.to_string(),
            },
            Some(1_700_000_000_000),
        ),
    };
    Identity {
        account: account.to_string(),
        arn,
        user_id,
        kind,
        policies: policies.into(),
        session_policy: session_policy.map(Arc::new),
        token_issued_ms,
    }
}

fn parse(text: &str, kind: PolicyKind, case: &str) -> Policy {
    Policy::parse(text, kind).unwrap_or_else(|e| panic!("{case}: {e}: {text}"))
}

fn run(case: &Case) -> Result<(), AccessDenied> {
    let policies = case
        .identity
        .iter()
        .map(|p| parse(p, PolicyKind::Identity, case.name))
        .collect();
    let session = case
        .session
        .map(|p| parse(p, PolicyKind::Identity, case.name));
    let identity = identity_of(case.who, policies, session);
    let resource_policy = case
        .resource_policy
        .map(|p| parse(p, PolicyKind::Resource, case.name));
    let mut ctx = Context::default();
    identity.describe(&mut ctx);
    for (key, values) in case.context {
        match values {
            [one] => ctx.set(key, *one),
            many => ctx.set_all(key, many.iter().map(|v| v.to_string()).collect()),
        }
    }
    authorize(
        &identity,
        &Access {
            action: case.action,
            resource: case.resource,
            resource_policy: resource_policy.as_ref(),
            context: &ctx,
        },
    )
}

fn cases() -> Vec<Case> {
    vec![
        // --- Policy evaluation logic ---------------------------------------------------------
        // IAM User Guide, How AWS enforcement code logic evaluates requests: "By default, all
        // requests are implicitly denied with the exception of the AWS account root user".
        Case {
            name: "a user without policies is implicitly denied",
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        Case {
            name: "the account root needs no policy in its own account",
            who: Who::Root(ME),
            ..BASE
        },
        // IAM User Guide, Policy evaluation for requests within a single account: the Carlos
        // example (DenyS3Logs wins over AllowS3Self; both policies allow his own bucket).
        Case {
            name: "carlos: an explicit deny on *log* beats his allow",
            who: Who::User(ME, "carlossalazar"),
            identity: &[r#"{"Version":"2012-10-17","Statement":[
                {"Sid":"AllowSelf","Effect":"Allow","Action":"kinesis:*",
                 "Resource":"arn:aws:kinesis:*:*:stream/carlossalazar*"},
                {"Sid":"DenyLogs","Effect":"Deny","Action":"kinesis:*",
                 "Resource":"arn:aws:kinesis:*:*:stream/*log*"}]}"#],
            resource: "arn:aws:kinesis:us-east-1:111122223333:stream/carlossalazar-logs",
            expect: Err(IdentityDeny),
            ..BASE
        },
        Case {
            name: "carlos: identity and resource policy both allow his own stream",
            who: Who::User(ME, "carlossalazar"),
            identity: &[r#"{"Version":"2012-10-17","Statement":[
                {"Sid":"AllowSelf","Effect":"Allow","Action":"kinesis:*",
                 "Resource":"arn:aws:kinesis:*:*:stream/carlossalazar*"},
                {"Sid":"DenyLogs","Effect":"Deny","Action":"kinesis:*",
                 "Resource":"arn:aws:kinesis:*:*:stream/*log*"}]}"#],
            resource_policy: Some(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
                "Principal":{"AWS":"arn:aws:iam::111122223333:user/carlossalazar"},
                "Action":"kinesis:*",
                "Resource":"arn:aws:kinesis:us-east-1:111122223333:stream/carlossalazar"}}"#,
            ),
            resource: "arn:aws:kinesis:us-east-1:111122223333:stream/carlossalazar",
            ..BASE
        },
        // IAM User Guide, The difference between explicit and implicit denies: AllowGetList
        // and DenyReports.
        Case {
            name: "explicit deny: iam:*Report beats iam:Get*",
            identity: &[GET_LIST_NO_REPORTS],
            action: "iam:GetOrganizationsAccessReport",
            resource: "*",
            expect: Err(IdentityDeny),
            ..BASE
        },
        Case {
            name: "allowed: iam:List*",
            identity: &[GET_LIST_NO_REPORTS],
            action: "iam:ListUsers",
            resource: "*",
            ..BASE
        },
        Case {
            name: "implicit deny: iam:CreatePolicy is in no statement",
            identity: &[GET_LIST_NO_REPORTS],
            action: "iam:CreatePolicy",
            resource: "*",
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        // --- Action and Resource ---------------------------------------------------------------
        // IAM User Guide, IAM JSON policy elements: Action: "The prefix and the action name are
        // case insensitive. For example, iam:ListAccessKeys is the same as IAM:listaccesskeys."
        Case {
            name: "actions match without regard to case, wildcards included",
            identity: &[
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":[
                    "IAM:listaccesskeys","KINESIS:get*"],"Resource":"*"}}"#,
            ],
            action: "kinesis:GetRecords",
            ..BASE
        },
        // IAM User Guide, IAM JSON policy elements: Resource: "In the Resource element, the IAM
        // user name is case sensitive."
        Case {
            name: "resources match case-sensitively",
            identity: &[
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:*AccessKey*",
                    "Resource":"arn:aws:iam::111122223333:user/Bob"}}"#,
            ],
            action: "iam:CreateAccessKey",
            resource: "arn:aws:iam::111122223333:user/bob",
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        // IAM User Guide, IAM JSON policy elements: Resource, Using wildcards in resource ARNs:
        // a * at the end of a segment may expand past its colons.
        Case {
            name: "a trailing * in a resource reaches past colons",
            identity: &[
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*",
                    "Resource":"arn:aws:kinesis:*:111122223333:stream/orders/*"}}"#,
            ],
            action: "kinesis:DescribeStreamConsumer",
            resource: "arn:aws:kinesis:us-east-1:111122223333:stream/orders/consumer/c:1700000000",
            ..BASE
        },
        // --- NotAction and NotResource ---------------------------------------------------------
        // IAM User Guide, IAM JSON policy elements: NotAction, "NotAction with Allow": every
        // action in every service except IAM's.
        Case {
            name: "allow NotAction iam:* allows kinesis",
            identity: &[ALLOW_ALL_BUT_IAM],
            ..BASE
        },
        Case {
            name: "allow NotAction iam:* does not allow iam",
            identity: &[ALLOW_ALL_BUT_IAM],
            action: "iam:CreateUser",
            resource: "*",
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        // IAM User Guide, IAM JSON policy elements: NotAction, "NotAction with Deny": the
        // DenyAllUsersNotUsingMFA example.
        Case {
            name: "deny NotAction iam:* without MFA denies kinesis",
            identity: &[ALLOW_ALL, DENY_ALL_BUT_IAM_WITHOUT_MFA],
            expect: Err(IdentityDeny),
            ..BASE
        },
        Case {
            name: "deny NotAction iam:* without MFA leaves iam alone",
            identity: &[ALLOW_ALL, DENY_ALL_BUT_IAM_WITHOUT_MFA],
            action: "iam:ChangePassword",
            resource: "*",
            ..BASE
        },
        Case {
            name: "deny NotAction iam:* does not apply when signed in with MFA",
            identity: &[ALLOW_ALL, DENY_ALL_BUT_IAM_WITHOUT_MFA],
            context: &[("aws:MultiFactorAuthPresent", &["true"])],
            ..BASE
        },
        // IAM User Guide, IAM JSON policy elements: NotResource: the HRPayroll example.
        Case {
            name: "deny NotResource denies every other resource",
            identity: &[ALLOW_ALL, DENY_ALL_BUT_PAYROLL],
            resource: "arn:aws:kinesis:us-east-1:111122223333:stream/Marketing",
            expect: Err(IdentityDeny),
            ..BASE
        },
        Case {
            name: "deny NotResource leaves the listed resources alone",
            identity: &[ALLOW_ALL, DENY_ALL_BUT_PAYROLL],
            resource: "arn:aws:kinesis:us-east-1:111122223333:stream/Payroll/archive",
            ..BASE
        },
        // --- Conditions: several keys and values ---------------------------------------------
        // IAM User Guide, Creating a condition with multiple keys or values: several values for
        // one key are ORed, several keys and operators ANDed.
        Case {
            name: "one of several values matches, every key present",
            who: Who::User("123456789012", "alice"),
            identity: &[DEPARTMENT_AND_ROLE],
            resource: "*",
            context: &[
                ("aws:PrincipalTag/department", &["HR"]),
                ("aws:PrincipalTag/role", &["audit"]),
            ],
            ..BASE
        },
        Case {
            name: "a second key that is missing fails the AND",
            who: Who::User("123456789012", "alice"),
            identity: &[DEPARTMENT_AND_ROLE],
            context: &[("aws:PrincipalTag/department", &["hr"])],
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        Case {
            name: "a second operator that fails fails the AND",
            identity: &[DEPARTMENT_AND_ROLE],
            context: &[
                ("aws:PrincipalTag/department", &["hr"]),
                ("aws:PrincipalTag/role", &["security"]),
            ],
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        // Same page, Note: a negated operator with several values holds only when the key
        // matches none of them.
        Case {
            name: "StringNotEquals with several values: matching one is not a match",
            who: Who::User(OTHER, "alice"),
            identity: &[ALLOW_ALL, DENY_OUTSIDE_TWO_ACCOUNTS],
            resource: "*",
            ..BASE
        },
        Case {
            name: "StringNotEquals with several values: matching none denies",
            who: Who::User("999999999999", "mallory"),
            identity: &[ALLOW_ALL, DENY_OUTSIDE_TWO_ACCOUNTS],
            resource: "*",
            expect: Err(IdentityDeny),
            ..BASE
        },
        // IAM User Guide, IAM JSON policy elements: Condition operators: "If the policy
        // condition requires that the key is not matched, such as StringNotLike ..., and the
        // right key is not present, the condition is true."
        Case {
            name: "a negated operator holds when its key is missing",
            identity: &[
                ALLOW_ALL,
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*",
                    "Condition":{"StringNotLike":{"aws:PrincipalTag/team":"data-*"}}}}"#,
            ],
            expect: Err(IdentityDeny),
            ..BASE
        },
        // --- IfExists and Null -----------------------------------------------------------------
        // IAM User Guide, Condition operators, ...IfExists: the RunInstance example and the
        // THISPOLICYDOESNOTWORK one before it.
        Case {
            name: "StringLikeIfExists holds when the key is missing",
            identity: &[RUN_SMALL_INSTANCES_IF_EXISTS],
            action: "ec2:RunInstances",
            resource: "*",
            ..BASE
        },
        Case {
            name: "StringLikeIfExists still compares a present key",
            identity: &[RUN_SMALL_INSTANCES_IF_EXISTS],
            action: "ec2:RunInstances",
            resource: "*",
            context: &[("ec2:InstanceType", &["m5.large"])],
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        Case {
            name: "StringLike without IfExists fails when the key is missing",
            identity: &[
                r#"{"Version":"2012-10-17","Statement":{"Sid":"THISPOLICYDOESNOTWORK",
                    "Effect":"Allow","Action":"ec2:RunInstances","Resource":"*","Condition":{
                    "StringLike":{"ec2:InstanceType":["t1.*","t2.*","m3.*"]}}}}"#,
            ],
            action: "ec2:RunInstances",
            resource: "*",
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        // Same section: "If you are using an Effect: Deny element with a negated condition
        // operator like StringNotEqualsIfExists, the request is still denied even if the tag
        // is missing."
        Case {
            name: "deny with StringNotEqualsIfExists applies to a missing key",
            identity: &[
                ALLOW_ALL,
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"*","Resource":"*",
                    "Condition":{"StringNotEqualsIfExists":{"aws:PrincipalTag/team":"data"}}}}"#,
            ],
            expect: Err(IdentityDeny),
            ..BASE
        },
        // IAM User Guide, Condition operators, Null: aws:TokenIssueTime exists only for
        // temporary credentials.
        Case {
            name: "Null true: long-term keys carry no aws:TokenIssueTime",
            identity: &[LONG_TERM_KEYS_ONLY],
            action: "ec2:DescribeInstances",
            resource: "*",
            ..BASE
        },
        Case {
            name: "Null true: a role session carries aws:TokenIssueTime",
            who: Who::Session(ME, "ops", "s1"),
            identity: &[LONG_TERM_KEYS_ONLY],
            action: "ec2:DescribeInstances",
            resource: "*",
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        // --- Set operators ---------------------------------------------------------------------
        // IAM User Guide, Creating a condition with multiple keys or values: the DynamoDB Thread
        // table examples.
        Case {
            name: "ForAllValues: every requested value is listed",
            identity: &[THREAD_READ_ONLY_LISTED],
            action: "dynamodb:GetItem",
            resource: "arn:aws:dynamodb:us-east-1:111122223333:table/Thread",
            context: &[("dynamodb:Attributes", &["ID", "Message", "Tags"])],
            ..BASE
        },
        Case {
            name: "ForAllValues: one requested value is not listed",
            identity: &[THREAD_READ_ONLY_LISTED],
            action: "dynamodb:GetItem",
            resource: "arn:aws:dynamodb:us-east-1:111122223333:table/Thread",
            context: &[("dynamodb:Attributes", &["PostDateTime", "UserName"])],
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        // Same page: ForAllValues "also returns true if there are no keys in the request, or if
        // the key values resolve to a null data set, such as an empty string".
        Case {
            name: "ForAllValues holds when the key is missing",
            identity: &[THREAD_READ_ONLY_LISTED],
            action: "dynamodb:GetItem",
            resource: "arn:aws:dynamodb:us-east-1:111122223333:table/Thread",
            ..BASE
        },
        Case {
            name: "ForAllValues holds when the key is an empty string",
            identity: &[THREAD_READ_ONLY_LISTED],
            action: "dynamodb:GetItem",
            resource: "arn:aws:dynamodb:us-east-1:111122223333:table/Thread",
            context: &[("dynamodb:Attributes", &[""])],
            ..BASE
        },
        Case {
            name: "ForAnyValue: one requested value is forbidden",
            identity: &[ALLOW_ALL, THREAD_NO_PUT_OF_KEYS],
            action: "dynamodb:PutItem",
            resource: "arn:aws:dynamodb:us-east-1:111122223333:table/Thread",
            context: &[(
                "dynamodb:Attributes",
                &["UserName", "Message", "PostDateTime"],
            )],
            expect: Err(IdentityDeny),
            ..BASE
        },
        Case {
            name: "ForAnyValue: no requested value is forbidden",
            identity: &[ALLOW_ALL, THREAD_NO_PUT_OF_KEYS],
            action: "dynamodb:PutItem",
            resource: "arn:aws:dynamodb:us-east-1:111122223333:table/Thread",
            context: &[("dynamodb:Attributes", &["UserName"])],
            ..BASE
        },
        // Same page: ForAnyValue, "For no matching key or a null dataset, the condition returns
        // false."
        Case {
            name: "ForAnyValue fails when the key is missing",
            identity: &[TAGGING_WITH_ENV],
            action: "kinesis:AddTagsToStream",
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        // IAM User Guide, Condition operators, ...IfExists: "You can add IfExists to the end of
        // any condition operator name except the Null condition ... If the key is not present,
        // evaluate the condition element as true."
        Case {
            name: "ForAnyValue with IfExists holds when the key is missing",
            identity: &[r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
                    "Action":"kinesis:AddTagsToStream","Resource":"*","Condition":{
                    "ForAnyValue:StringEqualsIfExists":{"aws:TagKeys":"env"}}}}"#],
            action: "kinesis:AddTagsToStream",
            ..BASE
        },
        // --- IP addresses, transport, dates and numbers -----------------------------------------
        // IAM User Guide, AWS: Denies access to AWS based on the source IP (two CIDRs ORed,
        // ANDed with aws:ViaAWSService).
        Case {
            name: "deny-ip: inside one of the ranges",
            identity: &[ALLOW_ALL, DENY_OUTSIDE_RANGES],
            context: &[
                ("aws:SourceIp", &["203.0.113.77"]),
                ("aws:ViaAWSService", &["false"]),
            ],
            ..BASE
        },
        Case {
            name: "deny-ip: outside both ranges",
            identity: &[ALLOW_ALL, DENY_OUTSIDE_RANGES],
            context: &[
                ("aws:SourceIp", &["198.51.100.1"]),
                ("aws:ViaAWSService", &["false"]),
            ],
            expect: Err(IdentityDeny),
            ..BASE
        },
        Case {
            name: "deny-ip: outside, but through an AWS service",
            identity: &[ALLOW_ALL, DENY_OUTSIDE_RANGES],
            context: &[
                ("aws:SourceIp", &["198.51.100.1"]),
                ("aws:ViaAWSService", &["true"]),
            ],
            ..BASE
        },
        // IAM User Guide, Condition operators, IP address: IPv4 and IPv6 ranges mixed; "If you
        // specify an IP address without the associated routing prefix, IAM uses ... /32".
        Case {
            name: "IpAddress matches an IPv6 range",
            identity: &[FROM_OFFICE],
            context: &[("aws:SourceIp", &["2001:db8:1234:5678::42"])],
            ..BASE
        },
        Case {
            name: "IpAddress without a prefix is one address",
            identity: &[FROM_OFFICE],
            context: &[("aws:SourceIp", &["192.0.2.8"])],
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        // IAM User Guide, Condition operators, Boolean: deny unless aws:SecureTransport.
        Case {
            name: "Bool: a request without TLS is denied",
            identity: &[ALLOW_ALL, DENY_INSECURE],
            context: &[("aws:SecureTransport", &["false"])],
            expect: Err(IdentityDeny),
            ..BASE
        },
        Case {
            name: "Bool: a request over TLS is not",
            identity: &[ALLOW_ALL, DENY_INSECURE],
            context: &[("aws:SecureTransport", &["true"])],
            ..BASE
        },
        // IAM User Guide, AWS: Allows access based on date and time.
        Case {
            name: "dates: inside the window",
            identity: &[SECOND_QUARTER_2020],
            context: &[("aws:CurrentTime", &["2020-05-15T12:00:00Z"])],
            ..BASE
        },
        Case {
            name: "dates: after the window",
            identity: &[SECOND_QUARTER_2020],
            context: &[("aws:CurrentTime", &["2020-07-01T00:00:00Z"])],
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        // IAM User Guide, AWS: Allows specific access using MFA within specific dates (a JSON
        // boolean as the value).
        Case {
            name: "MFA and dates, all three conditions hold",
            identity: &[
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["kinesis:*",
                    "firehose:PutRecord"],"Resource":"*","Condition":{"Bool":{
                    "aws:MultiFactorAuthPresent":true},"DateGreaterThan":{
                    "aws:CurrentTime":"2017-07-01T00:00:00Z"},"DateLessThan":{
                    "aws:CurrentTime":"2017-12-31T23:59:59Z"}}}}"#,
            ],
            context: &[
                ("aws:MultiFactorAuthPresent", &["true"]),
                ("aws:CurrentTime", &["2017-09-01T08:00:00Z"]),
            ],
            ..BASE
        },
        // IAM User Guide, Condition operators, Date: aws:TokenIssueTime is missing for long-term
        // keys, so "if an IAM user attempts to view or edit an access key, the request is
        // denied".
        Case {
            name: "a date condition on a missing key fails",
            identity: &[
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:*AccessKey*",
                    "Resource":"arn:aws:iam::111122223333:user/*","Condition":{"DateGreaterThan":{
                    "aws:TokenIssueTime":"2020-01-01T00:00:01Z"}}}}"#,
            ],
            action: "iam:ListAccessKeys",
            resource: "arn:aws:iam::111122223333:user/alice",
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        // IAM User Guide, Condition operators, Numeric: s3:max-keys up to 10.
        Case {
            name: "NumericLessThanEquals refuses 11",
            identity: &[
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket",
                    "Resource":"arn:aws:s3:::example_bucket","Condition":{"NumericLessThanEquals":{
                    "s3:max-keys":"10"}}}}"#,
            ],
            action: "s3:ListBucket",
            resource: "arn:aws:s3:::example_bucket",
            context: &[("s3:max-keys", &["11"])],
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        // --- Policy variables --------------------------------------------------------------------
        // IAM User Guide, IAM policy elements: Variables and tags: iam:*AccessKey* on
        // user/${aws:username}.
        Case {
            name: "${aws:username} names the caller's own user",
            who: Who::User(ME, "David"),
            identity: &[OWN_ACCESS_KEYS],
            action: "iam:CreateAccessKey",
            resource: "arn:aws:iam::111122223333:user/David",
            ..BASE
        },
        Case {
            name: "${aws:username} names no one else",
            who: Who::User(ME, "David"),
            identity: &[OWN_ACCESS_KEYS],
            action: "iam:CreateAccessKey",
            resource: "arn:aws:iam::111122223333:user/Adele",
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        // Same page, Principal key values: aws:username is "not present" for a role session,
        // "and any attempt to match it fails".
        Case {
            name: "${aws:username} matches nothing for a role session",
            who: Who::Session(ME, "David", "David"),
            identity: &[OWN_ACCESS_KEYS],
            action: "iam:CreateAccessKey",
            resource: "arn:aws:iam::111122223333:user/David",
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        // Same page: "If you don't include the Version element ..., variables like
        // ${aws:username} are treated as literal strings in the policy."
        Case {
            name: "without a Version, ${aws:username} is literal",
            who: Who::User(ME, "David"),
            identity: &[
                r#"{"Statement":{"Effect":"Allow","Action":"iam:*AccessKey*",
                    "Resource":"arn:aws:iam::111122223333:user/${aws:username}"}}"#,
            ],
            action: "iam:CreateAccessKey",
            resource: "arn:aws:iam::111122223333:user/David",
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        // Same page, Specifying default values.
        Case {
            name: "a variable's default stands in for a missing key",
            who: Who::Session(ME, "analyst", "s1"),
            identity: &[
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:*",
                    "Resource":
                    "arn:aws:kinesis:*:*:stream/${aws:PrincipalTag/team, 'company-wide'}"}}"#,
            ],
            resource: "arn:aws:kinesis:us-east-1:111122223333:stream/company-wide",
            ..BASE
        },
        // Same page, Condition element: a variable in a StringLike value (the home-directory
        // example of Condition operators, String).
        Case {
            name: "a variable in a StringLike condition value",
            who: Who::User(ME, "David"),
            identity: &[
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket",
                    "Resource":"arn:aws:s3:::BUCKET-NAME","Condition":{"StringLike":{"s3:prefix":[
                    "","home/","home/${aws:username}/"]}}}}"#,
            ],
            action: "s3:ListBucket",
            resource: "arn:aws:s3:::BUCKET-NAME",
            context: &[("s3:prefix", &["home/David/"])],
            ..BASE
        },
        // Same page, Special characters: "${*} - use where you need an * (asterisk) character",
        // because a literal * "would be interpreted as a wildcard".
        Case {
            name: "${*} is an asterisk, not a wildcard",
            identity: &[STAR_STREAM],
            resource: "arn:aws:kinesis:us-east-1:111122223333:stream/a-b",
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        Case {
            name: "${*} matches an asterisk",
            identity: &[STAR_STREAM],
            resource: "arn:aws:kinesis:us-east-1:111122223333:stream/a*b",
            ..BASE
        },
        // --- Resource policies in one account ----------------------------------------------------
        // IAM User Guide, Policy evaluation logic, resource-based policies, "IAM user": a grant to
        // the user's ARN "is not limited by an implicit deny in an identity-based policy".
        Case {
            name: "a resource policy naming the user suffices",
            resource_policy: Some(RESOURCE_ALLOWS_ALICE),
            ..BASE
        },
        // IAM User Guide, AWS JSON policy elements: Principal, AWS account principals: naming the
        // account "delegates authority to the account"; an identity there must be granted it.
        Case {
            name: "a resource policy naming only the account needs an identity policy",
            resource_policy: Some(RESOURCE_ALLOWS_MY_ACCOUNT),
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        Case {
            name: "a resource policy naming the account, with an identity policy",
            identity: &[PUT_ORDERS],
            resource_policy: Some(RESOURCE_ALLOWS_MY_ACCOUNT),
            ..BASE
        },
        // IAM User Guide, AWS JSON policy elements: Principal, All principals: with "*", "For IAM
        // users and role principals within your account, no other permissions are required."
        Case {
            name: "a resource policy for everyone suffices in the account",
            resource_policy: Some(RESOURCE_ALLOWS_EVERYONE),
            ..BASE
        },
        // IAM User Guide, Policy evaluation logic: "An explicit deny in either of these policies
        // overrides the allow."
        Case {
            name: "a resource policy's explicit deny beats an identity allow",
            identity: &[PUT_ORDERS],
            resource_policy: Some(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":{
                    "AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kinesis:Put*",
                    "Resource":"*"}}"#,
            ),
            expect: Err(ResourceDeny),
            ..BASE
        },
        // --- Across accounts ---------------------------------------------------------------------
        // IAM User Guide, Cross-account policy evaluation logic: the Carlos example, with the
        // Production bucket as a stream of account 222222222222.
        Case {
            name: "cross-account: identity and resource policy both allow",
            who: Who::User("111111111111", "carlossalazar"),
            identity: &[CARLOS_CROSS_ACCOUNT],
            resource_policy: Some(PRODUCTION_ALLOWS_CARLOS),
            resource: "arn:aws:kinesis:us-east-1:222222222222:stream/Production",
            ..BASE
        },
        Case {
            name: "cross-account: his own deny on *log* decides first",
            who: Who::User("111111111111", "carlossalazar"),
            identity: &[CARLOS_CROSS_ACCOUNT],
            resource: "arn:aws:kinesis:us-east-1:222222222222:stream/Production-logs",
            expect: Err(IdentityDeny),
            ..BASE
        },
        // Same page: "the requester in the trusted AccountA must have an identity-based policy
        // ... Additionally, the resource-based policy in AccountB must allow".
        Case {
            name: "cross-account: the resource policy alone is not enough",
            who: Who::User("111111111111", "carlossalazar"),
            resource_policy: Some(PRODUCTION_ALLOWS_CARLOS),
            resource: "arn:aws:kinesis:us-east-1:222222222222:stream/Production",
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        Case {
            name: "cross-account: the identity policy alone is not enough",
            who: Who::User("111111111111", "carlossalazar"),
            identity: &[CARLOS_CROSS_ACCOUNT],
            resource: "arn:aws:kinesis:us-east-1:222222222222:stream/Production",
            expect: Err(NoResourceAllow),
            ..BASE
        },
        // Same page: "You can specify the entire account".
        Case {
            name: "cross-account: a resource policy naming the caller's account",
            who: Who::User("111111111111", "carlossalazar"),
            identity: &[CARLOS_CROSS_ACCOUNT],
            resource_policy: Some(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{
                    "AWS":"111111111111"},"Action":"kinesis:PutRecord","Resource":"*"}}"#,
            ),
            resource: "arn:aws:kinesis:us-east-1:222222222222:stream/Production",
            ..BASE
        },
        // --- NotPrincipal ------------------------------------------------------------------------
        // IAM User Guide, AWS JSON policy elements: NotPrincipal, "IAM user in the same or a
        // different account": everyone but Bob of 444455556666 is denied.
        Case {
            name: "NotPrincipal: Bob is not denied",
            who: Who::User(OTHER, "Bob"),
            identity: &[ALLOW_ALL],
            resource_policy: Some(ONLY_BOB),
            ..BASE
        },
        Case {
            name: "NotPrincipal: another user of Bob's account is denied",
            who: Who::User(OTHER, "alice"),
            identity: &[ALLOW_ALL],
            resource_policy: Some(ONLY_BOB),
            expect: Err(ResourceDeny),
            ..BASE
        },
        Case {
            name: "NotPrincipal: a user of the resource's account is denied",
            identity: &[ALLOW_ALL],
            resource_policy: Some(ONLY_BOB),
            expect: Err(ResourceDeny),
            ..BASE
        },
        // Same page: "If the NotPrincipal element contained only Bob's ARN, the effect of the
        // policy might be to explicitly deny access to the AWS account that contains the user
        // Bob"; where AWS says it might deny, the deny is the safe reading.
        Case {
            name: "NotPrincipal: Bob without his account is denied",
            who: Who::User(OTHER, "Bob"),
            identity: &[ALLOW_ALL],
            resource_policy: Some(
                r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kinesis:*",
                 "Resource":"*"},
                {"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::444455556666:user/Bob"},
                 "Action":"kinesis:*","Resource":"*"}]}"#,
            ),
            expect: Err(ResourceDeny),
            ..BASE
        },
        // Same page, "IAM role in the same or different account": only the session
        // cross-account-audit-app escapes the deny.
        Case {
            name: "NotPrincipal: the named role session is not denied",
            who: Who::Session(
                OTHER,
                "cross-account-read-only-role",
                "cross-account-audit-app",
            ),
            identity: &[ALLOW_ALL],
            resource_policy: Some(ONLY_AUDIT_APP),
            ..BASE
        },
        Case {
            name: "NotPrincipal: another session of the same role is denied",
            who: Who::Session(OTHER, "cross-account-read-only-role", "someone-else"),
            identity: &[ALLOW_ALL],
            resource_policy: Some(ONLY_AUDIT_APP),
            expect: Err(ResourceDeny),
            ..BASE
        },
        // --- Session policies --------------------------------------------------------------------
        // IAM User Guide, Policies and permissions, Session policies: "The permissions for a
        // session are the intersection of the identity-based policies ... and the session
        // policies."
        Case {
            name: "session policy: the intersection allows GetRecords",
            who: Who::Session(ME, "ops", "s1"),
            identity: &[KINESIS_ALL],
            session: Some(READ_ONLY_SESSION),
            action: "kinesis:GetRecords",
            ..BASE
        },
        Case {
            name: "session policy: the identity allows PutRecord, the session does not",
            who: Who::Session(ME, "ops", "s1"),
            identity: &[KINESIS_ALL],
            session: Some(READ_ONLY_SESSION),
            expect: Err(NoSessionAllow),
            ..BASE
        },
        Case {
            name: "session policy: the session allows what the identity does not",
            who: Who::Session(ME, "ops", "s1"),
            session: Some(READ_ONLY_SESSION),
            action: "kinesis:GetRecords",
            expect: Err(NoIdentityAllow),
            ..BASE
        },
        Case {
            name: "session policy: its explicit deny",
            who: Who::Session(ME, "ops", "s1"),
            identity: &[KINESIS_ALL],
            session: Some(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*",
                    "Resource":"*"},{"Effect":"Deny","Action":"kinesis:Put*","Resource":"*"}]}"#,
            ),
            expect: Err(SessionDeny),
            ..BASE
        },
        // Same section: a resource policy naming the role's ARN is limited by the session policy;
        // one naming the session's ARN "are not limited by the session policy".
        Case {
            name: "session policy limits a resource policy naming the role",
            who: Who::Session(ME, "ops", "s1"),
            session: Some(READ_ONLY_SESSION),
            resource_policy: Some(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{
                    "AWS":"arn:aws:iam::111122223333:role/ops"},"Action":"kinesis:*",
                    "Resource":"*"}}"#,
            ),
            expect: Err(NoSessionAllow),
            ..BASE
        },
        Case {
            name: "session policy does not limit a resource policy naming the session",
            who: Who::Session(ME, "ops", "s1"),
            session: Some(READ_ONLY_SESSION),
            resource_policy: Some(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{
                    "AWS":"arn:aws:sts::111122223333:assumed-role/ops/s1"},"Action":"kinesis:*",
                    "Resource":"*"}}"#,
            ),
            ..BASE
        },
        // IAM User Guide, AWS JSON policy elements: Principal, IAM role principals: "session
        // policies do not limit permissions granted using the aws:PrincipalArn condition key with
        // a wildcard(*) in the Principal element".
        Case {
            name: "session policy does not limit a wildcard principal",
            who: Who::Session(ME, "ops", "s1"),
            session: Some(READ_ONLY_SESSION),
            resource_policy: Some(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*",
                    "Action":"kinesis:*","Resource":"*","Condition":{"ArnEquals":{
                    "aws:PrincipalArn":"arn:aws:iam::111122223333:role/ops"}}}}"#,
            ),
            ..BASE
        },
        // IAM User Guide, Cross-account policy evaluation logic: in the trusted account "it checks
        // the identity-based policy and any policies that can limit an identity-based policy";
        // the session exemption above is stated "Within the same account" (Policy evaluation
        // logic, IAM role session).
        Case {
            name: "across accounts the session policy limits even a grant to the session",
            who: Who::Session(ME, "ops", "s1"),
            identity: &[KINESIS_ALL],
            session: Some(READ_ONLY_SESSION),
            resource_policy: Some(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{
                    "AWS":"arn:aws:sts::111122223333:assumed-role/ops/s1"},"Action":"kinesis:*",
                    "Resource":"*"}}"#,
            ),
            resource: "arn:aws:kinesis:us-east-1:444455556666:stream/shared",
            expect: Err(NoSessionAllow),
            ..BASE
        },
    ]
}

const GET_LIST_NO_REPORTS: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Sid":"AllowGetList","Effect":"Allow","Action":["iam:Get*","iam:List*"],"Resource":"*"},
    {"Sid":"DenyReports","Effect":"Deny","Action":"iam:*Report","Resource":"*"}]}"#;

const ALLOW_ALL_BUT_IAM: &str =
    r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#;

const DENY_ALL_BUT_IAM_WITHOUT_MFA: &str = r#"{"Version":"2012-10-17","Statement":[{
    "Sid":"DenyAllUsersNotUsingMFA","Effect":"Deny","NotAction":"iam:*","Resource":"*",
    "Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}"#;

const DENY_ALL_BUT_PAYROLL: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny",
    "Action":"kinesis:*","NotResource":["arn:aws:kinesis:us-east-1:111122223333:stream/Payroll",
    "arn:aws:kinesis:us-east-1:111122223333:stream/Payroll/*"]}}"#;

const DEPARTMENT_AND_ROLE: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Action":"kinesis:*","Resource":"*","Condition":{
    "StringEqualsIgnoreCase":{"aws:PrincipalTag/department":["finance","hr","legal"],
                              "aws:PrincipalTag/role":["audit","security"]},
    "StringEquals":{"aws:PrincipalAccount":"123456789012"}}}}"#;

const DENY_OUTSIDE_TWO_ACCOUNTS: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny",
    "Action":"*","Resource":"*","Condition":{"StringNotEquals":
    {"aws:PrincipalAccount":["111122223333","444455556666"]}}}}"#;

const RUN_SMALL_INSTANCES_IF_EXISTS: &str = r#"{"Version":"2012-10-17","Statement":[{
    "Sid":"RunInstance","Effect":"Allow","Action":"ec2:RunInstances","Resource":"*",
    "Condition":{"StringLikeIfExists":{"ec2:InstanceType":["t1.*","t2.*","m3.*"]}}}]}"#;

const LONG_TERM_KEYS_ONLY: &str = r#"{"Version":"2012-10-17","Statement":{"Action":"ec2:*",
    "Effect":"Allow","Resource":"*","Condition":{"Null":{"aws:TokenIssueTime":"true"}}}}"#;

const THREAD_READ_ONLY_LISTED: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    "Action":"dynamodb:GetItem","Resource":"arn:aws:dynamodb:*:*:table/Thread","Condition":
    {"ForAllValues:StringEquals":{"dynamodb:Attributes":["ID","Message","Tags"]}}}]}"#;

const THREAD_NO_PUT_OF_KEYS: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny",
    "Action":"dynamodb:PutItem","Resource":"arn:aws:dynamodb:*:*:table/Thread","Condition":
    {"ForAnyValue:StringEquals":{"dynamodb:Attributes":["ID","PostDateTime"]}}}}"#;

const TAGGING_WITH_ENV: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Action":"kinesis:AddTagsToStream","Resource":"*",
    "Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":"env"}}}}"#;

const DENY_OUTSIDE_RANGES: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny",
    "Action":"*","Resource":"*","Condition":{
    "NotIpAddress":{"aws:SourceIp":["192.0.2.0/24","203.0.113.0/24"]},
    "Bool":{"aws:ViaAWSService":"false"}}}}"#;

const FROM_OFFICE: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Action":"kinesis:*","Resource":"*","Condition":{"IpAddress":
    {"aws:SourceIp":["192.0.2.7","2001:DB8:1234:5678::/64"]}}}}"#;

const DENY_INSECURE: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"BooleanExample",
    "Action":"kinesis:*","Effect":"Deny","Resource":"arn:aws:kinesis:*:*:stream/*",
    "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;

const SECOND_QUARTER_2020: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    "Action":"kinesis:PutRecord","Resource":"*","Condition":{
    "DateGreaterThan":{"aws:CurrentTime":"2020-04-01T00:00:00Z"},
    "DateLessThan":{"aws:CurrentTime":"2020-06-30T23:59:59Z"}}}]}"#;

const OWN_ACCESS_KEYS: &str = r#"{"Version":"2012-10-17","Statement":[{"Action":["iam:*AccessKey*"],
    "Effect":"Allow","Resource":["arn:aws:iam::111122223333:user/${aws:username}"]}]}"#;

const STAR_STREAM: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Action":"kinesis:PutRecord","Resource":"arn:aws:kinesis:*:*:stream/a${*}b"}}"#;

const PUT_ORDERS: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Action":"kinesis:PutRecord",
    "Resource":"arn:aws:kinesis:us-east-1:111122223333:stream/orders"}}"#;

const KINESIS_ALL: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Action":"kinesis:*","Resource":"*"}}"#;

const READ_ONLY_SESSION: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Action":["kinesis:Get*","kinesis:List*","kinesis:Describe*"],"Resource":"*"}}"#;

const RESOURCE_ALLOWS_ALICE: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kinesis:PutRecord",
    "Resource":"arn:aws:kinesis:us-east-1:111122223333:stream/orders"}}"#;

const RESOURCE_ALLOWS_MY_ACCOUNT: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kinesis:PutRecord",
    "Resource":"arn:aws:kinesis:us-east-1:111122223333:stream/orders"}}"#;

const RESOURCE_ALLOWS_EVERYONE: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
    "Principal":"*","Action":"kinesis:PutRecord","Resource":"*"}}"#;

const CARLOS_CROSS_ACCOUNT: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Sid":"AllowListRead","Effect":"Allow","Action":"kinesis:ListStreams","Resource":"*"},
    {"Sid":"AllowProductionActions","Effect":"Allow","Action":"kinesis:*Record*",
     "Resource":"arn:aws:kinesis:*:*:stream/Production*"},
    {"Sid":"DenyLogs","Effect":"Deny","Action":"kinesis:*",
     "Resource":["arn:aws:kinesis:*:*:stream/*log*","arn:aws:kinesis:*:*:stream/*log*/*"]}]}"#;

const PRODUCTION_ALLOWS_CARLOS: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    "Action":["kinesis:GetRecord*","kinesis:PutRecord*"],
    "Principal":{"AWS":"arn:aws:iam::111111111111:user/carlossalazar"},
    "Resource":"arn:aws:kinesis:us-east-1:222222222222:stream/Production"}]}"#;

/// The NotPrincipal page's first example, with the grant that it says must come from another
/// statement.
const ONLY_BOB: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Principal":{"AWS":["444455556666","111122223333"]},"Action":"kinesis:*",
     "Resource":"*"},
    {"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::444455556666:user/Bob",
     "arn:aws:iam::444455556666:root"]},"Action":"kinesis:*","Resource":"*"}]}"#;

const ONLY_AUDIT_APP: &str = r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kinesis:*","Resource":"*"},
    {"Effect":"Deny","NotPrincipal":{"AWS":[
     "arn:aws:sts::444455556666:assumed-role/cross-account-read-only-role/cross-account-audit-app",
     "arn:aws:iam::444455556666:role/cross-account-read-only-role",
     "arn:aws:iam::444455556666:root"]},"Action":"kinesis:*","Resource":"*"}]}"#;

#[test]
fn documented_examples() {
    let cases = cases();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let got = run(case).map_err(|e| e.why);
            (got != case.expect)
                .then(|| format!("{}: expected {:?}, got {:?}", case.name, case.expect, got))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from the IAM User Guide:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// IAM User Guide, Troubleshooting access denied error messages: "User user is not authorized to
/// perform action on resource because context", with "with an explicit deny in a type policy"
/// or "because no type policy allows the action action"; no "on resource" part when the action
/// is on no resource.
#[test]
fn access_denied_messages_read_as_aws_writes_them() {
    let message = |case: Case| match run(&case) {
        Ok(()) => panic!("{}: allowed", case.name),
        Err(e) => e.message(),
    };
    assert_eq!(
        message(Case {
            name: "implicit",
            ..BASE
        }),
        "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: \
         kinesis:PutRecord on resource: arn:aws:kinesis:us-east-1:111122223333:stream/orders \
         because no identity-based policy allows the kinesis:PutRecord action"
    );
    assert_eq!(
        message(Case {
            name: "implicit, no resource",
            who: Who::User("123456789012", "JohnDoe"),
            action: "codecommit:ListRepositories",
            resource: "*",
            ..BASE
        }),
        "User: arn:aws:iam::123456789012:user/JohnDoe is not authorized to perform: \
         codecommit:ListRepositories because no identity-based policy allows the \
         codecommit:ListRepositories action"
    );
    assert_eq!(
        message(Case {
            name: "explicit, identity",
            identity: &[GET_LIST_NO_REPORTS],
            action: "iam:GetOrganizationsAccessReport",
            resource: "*",
            ..BASE
        }),
        "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: \
         iam:GetOrganizationsAccessReport with an explicit deny in an identity-based policy"
    );
    assert_eq!(
        message(Case {
            name: "explicit, resource",
            identity: &[ALLOW_ALL],
            resource_policy: Some(ONLY_BOB),
            ..BASE
        }),
        "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: \
         kinesis:PutRecord on resource: arn:aws:kinesis:us-east-1:111122223333:stream/orders \
         with an explicit deny in a resource-based policy"
    );
    assert_eq!(
        message(Case {
            name: "implicit, resource",
            who: Who::User("111111111111", "carlossalazar"),
            identity: &[CARLOS_CROSS_ACCOUNT],
            resource: "arn:aws:kinesis:us-east-1:222222222222:stream/Production",
            ..BASE
        }),
        "User: arn:aws:iam::111111111111:user/carlossalazar is not authorized to perform: \
         kinesis:PutRecord on resource: arn:aws:kinesis:us-east-1:222222222222:stream/Production \
         because no resource-based policy allows the kinesis:PutRecord action"
    );
    assert_eq!(
        message(Case {
            name: "implicit, session",
            who: Who::Session("123456789012", "role-name", "role-session-name"),
            identity: &[ALLOW_ALL],
            session: Some(READ_ONLY_SESSION),
            action: "codecommit:ListRepositories",
            resource: "*",
            ..BASE
        }),
        "User: arn:aws:sts::123456789012:assumed-role/role-name/role-session-name is not \
         authorized to perform: codecommit:ListRepositories because no session policy allows \
         the codecommit:ListRepositories action"
    );
}
