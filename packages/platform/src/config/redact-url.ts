/**
 * The one URL redaction for logs and error messages: the user-info part (`user:password@`, or a
 * NATS token as user name) and credential-like query parameters (`?password=`, libpq's
 * `sslpassword=`, `token=`, `secret=`…) are masked. Works on text that is not a valid URL and on
 * comma-separated server lists (`nats://a@h1,nats://b@h2`), so it never throws.
 */
const USERINFO = /\/\/[^@/?#,]*@/g;
const SECRET_PARAM = /([?&;](?:[a-z_]*password|token|secret|access_?key|pin-value)=)[^&;#,]*/gi;

export function redactUrl(url: string): string {
  return url.replace(USERINFO, '//***@').replace(SECRET_PARAM, '$1***');
}
