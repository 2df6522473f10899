/**
 * The RFC 8460 §4.4 JSON report schema, written out in zod for the tests that validate the
 * reports the outbox sends (unit: tls-reports.test.ts; real peers: queue-features.test.ts).
 */
import { z } from 'zod';

/** RFC 8460 §4.4 "JSON Report Schema", field by field (RFC 3339 date-times, counts ≥ 0). */
const RESULT_TYPES = [
  'starttls-not-supported', 'certificate-host-mismatch', 'certificate-expired', 'certificate-not-trusted', 'validation-failure',
  'tlsa-invalid', 'dnssec-invalid', 'dane-required', 'sts-policy-fetch-error', 'sts-policy-invalid', 'sts-webpki-invalid',
] as const;
const dateTime = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
const count = z.number().int().nonnegative();
export const Rfc8460Report = z
  .object({
    'organization-name': z.string().min(1),
    'date-range': z.object({ 'start-datetime': dateTime, 'end-datetime': dateTime }).strict(),
    'contact-info': z.string().min(1),
    'report-id': z.string().min(1),
    policies: z.array(
      z
        .object({
          policy: z
            .object({
              'policy-type': z.enum(['tlsa', 'sts', 'no-policy-found']),
              'policy-string': z.array(z.string()).optional(),
              'policy-domain': z.string().min(1),
              'mx-host': z.array(z.string()).optional(), // RFC 8460 errata 6241: a list
            })
            .strict(),
          summary: z.object({ 'total-successful-session-count': count, 'total-failure-session-count': count }).strict(),
          'failure-details': z
            .array(
              z
                .object({
                  'result-type': z.enum(RESULT_TYPES),
                  // §4.4: our address on the failed session; absent only when no connection was
                  // made (a policy fetch error happens before any).
                  'sending-mta-ip': z.union([z.ipv4(), z.ipv6()]).optional(),
                  'receiving-mx-hostname': z.string().optional(),
                  'receiving-mx-helo': z.string().optional(),
                  'receiving-ip': z.string().optional(),
                  'failed-session-count': count,
                  'additional-information': z.string().optional(),
                  'failure-reason-code': z.string().optional(),
                })
                .strict(),
            )
            .optional(),
        })
        .strict(),
    ).min(1),
  })
  .strict();

