/**
 * AWS list prices used by `npm run cost`, us-east-1, on-demand, no free tier.
 *
 * Checked 2026-12-02 against the public pricing pages named beside each figure
 * (aws.amazon.com/<service>/pricing). Update the date and the figures together.
 */
export const PRICES = {
  region: 'us-east-1',
  checked: '2026-12-02',
  lambda: {
    /** "AWS Lambda Pricing", Arm price per GB-second (first 7.5 billion GB-s/month tier). */
    armGbSecond: 0.0000133334,
    /** "AWS Lambda Pricing", requests: $0.20 per 1M. */
    perRequest: 0.2 / 1e6,
  },
  apiGateway: {
    /** "Amazon API Gateway pricing", HTTP APIs: $1.00 per million (first 300M, per 512 KB). */
    httpPerRequest: 1.0 / 1e6,
  },
  sqs: {
    /** "Amazon SQS pricing", standard queue requests: $0.40 per million 64 KB chunks (after 1M free). */
    standardPerRequest: 0.4 / 1e6,
    /** "Amazon SQS pricing", FIFO queue requests: $0.50 per million 64 KB chunks. */
    fifoPerRequest: 0.5 / 1e6,
  },
  dynamodb: {
    /** "Amazon DynamoDB pricing for on-demand capacity": $0.625 per million write request units. */
    perWru: 0.625 / 1e6,
    /** Same page: $0.125 per million read request units. */
    perRru: 0.125 / 1e6,
  },
  secretsManager: {
    /** "AWS Secrets Manager pricing": $0.05 per 10,000 API calls. */
    perCall: 0.05 / 10_000,
    /** Same page: $0.40 per secret per month. */
    perSecretMonth: 0.4,
  },
  cloudWatch: {
    /** "Amazon CloudWatch pricing", Logs, Standard ingestion: $0.50 per GB. */
    logsPerGb: 0.5,
    /** Same page, Metrics: $0.30 per custom metric per month (first 10,000); EMF metrics count here. */
    perMetricMonth: 0.3,
    /** Same page, Alarms: $0.10 per standard-resolution alarm metric per month. */
    perAlarmMonth: 0.1,
    /** Same page, Dashboards: $3.00 per dashboard per month (beyond the 3 free). */
    perDashboardMonth: 3.0,
  },
  kms: {
    /** "AWS Key Management Service pricing": $1.00 per customer managed key per month. */
    perKeyMonth: 1.0,
    /** Same page: $0.03 per 10,000 requests. */
    perRequest: 0.03 / 10_000,
  },
  fargate: {
    /** "AWS Fargate Pricing", Linux/ARM: $0.03238 per vCPU-hour. */
    armVcpuHour: 0.03238,
    /** Same page, Linux/ARM: $0.00356 per GB-hour. */
    armGbHour: 0.00356,
  },
  s3: {
    /** "Amazon S3 pricing", S3 Standard: $0.005 per 1,000 PUT, COPY, POST, LIST requests. */
    perPut: 0.005 / 1000,
    /** Same page: $0.0004 per 1,000 GET and other requests. */
    perGet: 0.0004 / 1000,
    /** Same page, S3 Standard storage: $0.023 per GB-month (first 50 TB). */
    standardPerGbMonth: 0.023,
  },
  s3Vectors: {
    /** "Amazon S3 pricing", S3 Vectors: $0.06 per logical GB-month stored (vectors, keys, metadata). */
    storagePerGbMonth: 0.06,
    /** Same page: $0.20 per logical GB written by PutVectors. */
    putPerGb: 0.2,
    /** Same page: $2.50 per 1M QueryVectors requests (plus a per-TB processing charge, negligible here). */
    perQuery: 2.5 / 1e6,
  },
} as const;

/** Seconds in the 730-hour month AWS pricing pages use. */
export const SECONDS_PER_MONTH = 730 * 3600;
