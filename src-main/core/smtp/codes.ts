/**
 * Named SMTP reply codes (RFC 5321 §4.2.2, §4.2.3) and RFC 3463 enhanced status codes, named
 * by number and meaning as in mox's smtp package, so code reads `C452StorageFull` instead of a
 * bare 452 whose meaning the reader has to look up.
 */

// RFC 5321 §4.2.2 / §4.2.3.
export const C211SystemStatus = 211;
export const C214Help = 214;
export const C220ServiceReady = 220;
export const C221Closing = 221;
export const C250Completed = 250;
export const C251UserNotLocalWillForward = 251;
export const C252WithoutVrfy = 252;

export const C354StartData = 354;

export const C421ServiceUnavail = 421;
export const C450MailboxUnavail = 450;
export const C451LocalErr = 451;
/** Also "too many recipients" (RFC 5321 §4.5.3.1.10). */
export const C452StorageFull = 452;
export const C455BadParams = 455;

export const C500BadSyntax = 500;
export const C501BadParamSyntax = 501;
export const C502CmdNotImpl = 502;
export const C503BadCmdSeq = 503;
export const C504ParamNotImpl = 504;
export const C521HostNoMail = 521;
export const C550MailboxUnavail = 550;
export const C551UserNotLocal = 551;
/** Historically also "too many recipients"; RFC 5321 §4.5.3.1.10 says treat that as 452. */
export const C552MailboxFull = 552;
export const C553BadMailbox = 553;
export const C554TransactionFailed = 554;
export const C555UnrecognizedAddrParams = 555;

// RFC 3463 enhanced status codes (and later registrations) the client assigns locally.
/** RFC 3463 §3.4: message length exceeds administrative limit. */
export const SeSys3MsgLimitExceeded4 = '5.3.4';
/** RFC 3463 §3.6: content conversion (8-bit to 7-bit) not supported. */
export const SeMsg6ConversionUnsupported3 = '5.6.3';
/** RFC 6531 §3.5: non-ASCII addresses not permitted for that sender/recipient. */
export const SeMsg6NonASCIIAddrNotPermitted7 = '5.6.7';
/** RFC 8689 §5: REQUIRETLS support required. */
export const SePol7RequireTLS30 = '5.7.30';
/** RFC 3463 §3.5: too many recipients (X.5.3), transient and permanent forms. */
export const SeProto5TooManyRcpts3Temp = '4.5.3';
export const SeProto5TooManyRcpts3Perm = '5.5.3';
/** RFC 7504 §3: the domain does not accept mail (the reply for a null MX, RFC 7505 §4.2). */
export const C556DomainNoMail = 556;

/** RFC 3463 §3.2: bad destination system address (the domain does not exist). */
export const SeAddr1BadDestSystem2 = '5.1.2';
/** RFC 7505 §4.2: the destination domain has a null MX. */
export const SeAddr1NullMX10 = '5.1.10';
/** RFC 3463 §3.5: no answer from host (connect failed or timed out). */
export const SeNet4NoAnswer1 = '4.4.1';
/** RFC 3463 §3.5: bad connection (the peer broke the protocol mid-session). */
export const SeNet4BadConnection2 = '4.4.2';
/** RFC 3463 §3.5: directory server failure (DNS). */
export const SeNet4DirServerFailure3 = '4.4.3';
/** RFC 3463 §3.5: unable to route (no usable MX host). */
export const SeNet4UnableToRoute4 = '4.4.4';
/** RFC 3463 §3.5: delivery time expired (the per-domain attempt budget ran out). */
export const SeNet4DeliveryTimeExpired7 = '4.4.7';
/** RFC 3463 §3.8: cryptographic failure (TLS required and not achieved), transient form. */
export const SeSec7CryptoFailure5 = '4.7.5';
