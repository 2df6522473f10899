/**
 * TLS policy building blocks for delivery: MTA-STS (RFC 8461), DANE for SMTP (RFC 7672),
 * PKIX verdicts, and the TLSRPT vocabulary (RFC 8460) they report in. Pure logic plus the
 * MTA-STS HTTPS fetcher; the delivery orchestration decides how to combine them.
 */
export * from './tlsrpt';
export * from './policy-error';
export * from './mta-sts-record';
export * from './mta-sts-policy';
export * from './mta-sts-fetch';
export * from './mta-sts-cache';
export * from './mta-sts';
export * from './dane';
export * from './pkix';
