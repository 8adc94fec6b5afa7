//! Stream ARNs and shard ids: the names AWS clients use for our objects.

/// `arn:aws:kinesis:<region>:<account>:stream/<name>`
pub fn stream_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:kinesis:{region}:{account}:stream/{name}")
}

/// The stream name in a stream ARN of this region and account; `None` for any other ARN.
pub fn stream_name_from_arn<'a>(arn: &'a str, region: &str, account: &str) -> Option<&'a str> {
    resource_name_from_arn(arn, "kinesis", region, account, "stream")
}

/// The name in `arn:<partition>:<service>:<region>:<account>:<kind>/<name>` for this region and
/// account (every service's resource ARNs have this form: streams, delivery streams,
/// applications); `None` for any other ARN.
pub fn resource_name_from_arn<'a>(
    arn: &'a str,
    service: &str,
    region: &str,
    account: &str,
    kind: &str,
) -> Option<&'a str> {
    let rest = arn.strip_prefix("arn:")?;
    let (_partition, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix(service)?.strip_prefix(':')?;
    let rest = rest.strip_prefix(region)?.strip_prefix(':')?;
    let rest = rest.strip_prefix(account)?.strip_prefix(':')?;
    let name = rest.strip_prefix(kind)?.strip_prefix('/')?;
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

/// `<stream ARN>/consumer/<name>:<creation epoch seconds>`, AWS's consumer ARN.
pub fn consumer_arn(stream_arn: &str, name: &str, created_ms: i64) -> String {
    format!("{stream_arn}/consumer/{name}:{}", created_ms / 1000)
}

/// The stream name, consumer name and creation seconds in a consumer ARN of this region and
/// account.
pub fn consumer_from_arn<'a>(
    arn: &'a str,
    region: &str,
    account: &str,
) -> Option<(&'a str, &'a str, i64)> {
    let (stream_part, rest) = arn.split_once("/consumer/")?;
    let stream = stream_name_from_arn(stream_part, region, account)?;
    let (name, created) = rest.rsplit_once(':')?;
    let created = created.parse().ok()?;
    (!name.is_empty() && !name.contains('/')).then_some((stream, name, created))
}

/// `shardId-000000000007` for index 7.
pub fn shard_id(index: u32) -> String {
    format!("shardId-{index:012}")
}

/// The index in a shard id. AWS accepts the bare number too (`7`, `shardId-7`).
pub fn shard_index(shard_id: &str) -> Option<u32> {
    let digits = shard_id.strip_prefix("shardId-").unwrap_or(shard_id);
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_round_trip() {
        let arn = stream_arn("us-east-1", "000000000000", "orders");
        assert_eq!(arn, "arn:aws:kinesis:us-east-1:000000000000:stream/orders");
        assert_eq!(
            stream_name_from_arn(&arn, "us-east-1", "000000000000"),
            Some("orders")
        );
        assert_eq!(
            stream_name_from_arn(&arn, "eu-west-1", "000000000000"),
            None
        );
        assert_eq!(
            stream_name_from_arn(&arn, "us-east-1", "111111111111"),
            None
        );
        assert_eq!(
            stream_name_from_arn(
                "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:1",
                "us-east-1",
                "000000000000"
            ),
            None
        );
    }

    #[test]
    fn consumer_arns_round_trip() {
        let stream = stream_arn("us-east-1", "000000000000", "orders");
        let arn = consumer_arn(&stream, "app", 1_700_000_000_999);
        assert_eq!(
            arn,
            "arn:aws:kinesis:us-east-1:000000000000:stream/orders/consumer/app:1700000000"
        );
        assert_eq!(
            consumer_from_arn(&arn, "us-east-1", "000000000000"),
            Some(("orders", "app", 1_700_000_000))
        );
        assert_eq!(
            consumer_from_arn(&stream, "us-east-1", "000000000000"),
            None
        );
        assert_eq!(
            consumer_from_arn(
                &format!("{stream}/consumer/app"),
                "us-east-1",
                "000000000000"
            ),
            None
        );
    }

    #[test]
    fn shard_ids() {
        assert_eq!(shard_id(7), "shardId-000000000007");
        assert_eq!(shard_index("shardId-000000000007"), Some(7));
        assert_eq!(shard_index("7"), Some(7));
        assert_eq!(shard_index("shardId-x"), None);
        assert_eq!(shard_index("shardId-9999999999999"), None);
    }
}
