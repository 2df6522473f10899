/**
 * The SMTP client (delivery-rules §9, STARTTLS of §4, transactions of §8). See client.ts for
 * the session's steps and threats.
 */
export * from './capabilities';
export * from './client';
export * from './codes';
export { DataEncoder, dataEncodeStream } from './data-encoder';
export { parseEnhancedCode, parseReply, parseReplyLine, ReplyParser, replyText, isPermanent, MAX_REPLY_LINE, MAX_REPLY_LINES } from './reply';
export type { Reply, ReplyContext, ReplyLine } from './reply';
