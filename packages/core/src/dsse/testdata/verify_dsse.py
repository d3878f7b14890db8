#!/usr/bin/python3
"""Independent DSSE v1 verifier for interop tests: Debian's python3-securesystemslib (0.26) does
the cryptography; this script only adds PAE (DSSE protocol.md), which that version lacks.

Usage: /usr/bin/python3 verify_dsse.py ENVELOPE.json [--threshold N] KEY...
  KEY is ed25519:<64 hex raw public key> | ecdsa:<SPKI PEM file> | rsa:<SPKI PEM file>
Prints "<valid>/<signatures> valid" and exits 0 when at least N (default 1) distinct keys verified
a signature, 1 otherwise, 2 on usage errors. The envelope's signature keyids are used as sslib
keyids, so this also checks that they are hex (sslib's KEYID_SCHEMA).
"""
import base64
import json
import sys

from securesystemslib.signer import Signature, SSlibKey

SCHEMES = {"ed25519": ("ed25519", "ed25519"), "ecdsa": ("ecdsa", "ecdsa-sha2-nistp256"), "rsa": ("rsa", "rsassa-pss-sha256")}


def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def b64(s: str) -> bytes:
    s = s.replace("-", "+").replace("_", "/")
    return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    env_path, rest = argv[0], argv[1:]
    threshold = 1
    if rest[:1] == ["--threshold"]:
        threshold, rest = int(rest[1]), rest[2:]
    keys = []
    for spec in rest:
        kind, _, value = spec.partition(":")
        if kind not in SCHEMES:
            print(f"unknown key kind {kind}", file=sys.stderr)
            return 2
        public = value if kind == "ed25519" else open(value, encoding="ascii").read()
        keys.append((kind, public))
    with open(env_path, "rb") as f:
        env = json.load(f)
    data = pae(env["payloadType"], b64(env["payload"]))
    verified = set()
    for s in env["signatures"]:
        sig = Signature(keyid=s["keyid"], sig=b64(s["sig"]).hex())
        for i, (kind, public) in enumerate(keys):
            keytype, scheme = SCHEMES[kind]
            key = SSlibKey(s["keyid"], keytype, scheme, {"public": public})
            try:
                key.verify_signature(sig, data)
                verified.add(i)
                break
            except Exception as e:  # noqa: BLE001 - report and try the next key
                print(f"key {i} ({kind}) rejects signature {s['keyid'] or '<no keyid>'}: {type(e).__name__}", file=sys.stderr)
    print(f"{len(verified)}/{len(env['signatures'])} valid")
    return 0 if len(verified) >= threshold else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
