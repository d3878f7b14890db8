/**
 * DSSE v1 Pre-Authentication Encoding (DSSE protocol.md, "Signature definition"):
 *
 *   PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
 *
 * LEN is the ASCII decimal byte count without leading zeros; `type` is encoded as UTF-8; `body`
 * is the raw payload (not base64). Signatures cover these bytes, never the JSON envelope, so the
 * payload type is authenticated together with the payload.
 */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = new TextEncoder().encode(payloadType);
  const head = new TextEncoder().encode(`DSSEv1 ${type.length} `);
  const mid = new TextEncoder().encode(` ${payload.length} `);
  const out = new Uint8Array(head.length + type.length + mid.length + payload.length);
  out.set(head, 0);
  out.set(type, head.length);
  out.set(mid, head.length + type.length);
  out.set(payload, head.length + type.length + mid.length);
  return out;
}
