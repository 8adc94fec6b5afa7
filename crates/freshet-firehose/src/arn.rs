//! Delivery stream ARNs: `arn:aws:firehose:<region>:<account>:deliverystream/<name>`.

/// The ARN of delivery stream `name`.
pub fn delivery_stream_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:firehose:{region}:{account}:deliverystream/{name}")
}

/// The delivery stream name in a delivery stream ARN of this region and account.
pub fn delivery_stream_name_from_arn<'a>(
    arn: &'a str,
    region: &str,
    account: &str,
) -> Option<&'a str> {
    freshet_streams::arn::resource_name_from_arn(arn, "firehose", region, account, "deliverystream")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_round_trip() {
        let arn = delivery_stream_arn("us-east-1", "000000000000", "clicks");
        assert_eq!(
            arn,
            "arn:aws:firehose:us-east-1:000000000000:deliverystream/clicks"
        );
        assert_eq!(
            delivery_stream_name_from_arn(&arn, "us-east-1", "000000000000"),
            Some("clicks")
        );
        assert_eq!(
            delivery_stream_name_from_arn(&arn, "eu-west-1", "000000000000"),
            None
        );
    }
}
