//! Stream ARNs in AWS's shape: `arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<created ms>`.
//! The creation time makes the ARN of a recreated stream differ from its predecessor's.

pub fn stream_arn(region: &str, account: &str, name: &str, created_ms: i64) -> String {
    format!("arn:aws:kinesisvideo:{region}:{account}:stream/{name}/{created_ms}")
}

/// The default KMS key AWS reports for streams created without `KmsKeyId`.
pub fn default_kms_key(region: &str, account: &str) -> String {
    format!("arn:aws:kms:{region}:{account}:alias/aws/kinesisvideo")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_have_aws_shape() {
        assert_eq!(
            stream_arn("us-east-1", "000000000000", "cam", 1_700_000_000_123),
            "arn:aws:kinesisvideo:us-east-1:000000000000:stream/cam/1700000000123"
        );
        assert_eq!(
            default_kms_key("eu-west-1", "1"),
            "arn:aws:kms:eu-west-1:1:alias/aws/kinesisvideo"
        );
    }
}
