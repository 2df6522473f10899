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
