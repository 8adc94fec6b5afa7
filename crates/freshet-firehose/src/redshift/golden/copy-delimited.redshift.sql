COPY sales FROM 's3://loads/manifests/m' CREDENTIALS 'aws_iam_role=arn:aws:iam::000000000000:role/firehose' MANIFEST delimiter ',' NULL AS 'NA' IGNOREHEADER 1;
