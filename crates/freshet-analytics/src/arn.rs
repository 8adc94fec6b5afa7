//! Application ARNs: `arn:aws:kinesisanalytics:<region>:<account>:application/<name>`, the same
//! in v1 and v2.

/// The ARN of application `name`.
pub fn application_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:kinesisanalytics:{region}:{account}:application/{name}")
}

/// The application name in an application ARN of this region and account.
pub fn application_name_from_arn<'a>(arn: &'a str, region: &str, account: &str) -> Option<&'a str> {
    freshet_streams::arn::resource_name_from_arn(
        arn,
        "kinesisanalytics",
        region,
        account,
        "application",
    )
}

/// The bucket name in an S3 bucket ARN (`arn:aws:s3:::<bucket>`).
pub fn bucket_from_arn(arn: &str) -> Option<&str> {
    let bucket = arn
        .strip_prefix("arn:")?
        .split_once(':')?
        .1
        .strip_prefix("s3:::")?;
    (!bucket.is_empty() && !bucket.contains('/')).then_some(bucket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_round_trip() {
        let arn = application_arn("us-east-1", "000000000000", "app");
        assert_eq!(
            arn,
            "arn:aws:kinesisanalytics:us-east-1:000000000000:application/app"
        );
        assert_eq!(
            application_name_from_arn(&arn, "us-east-1", "000000000000"),
            Some("app")
        );
        assert_eq!(application_name_from_arn(&arn, "us-east-1", "1"), None);
        assert_eq!(bucket_from_arn("arn:aws:s3:::refs"), Some("refs"));
        assert_eq!(bucket_from_arn("arn:aws:s3:::refs/key"), None);
        assert_eq!(bucket_from_arn("arn:aws:kinesis:::refs"), None);
    }
}
