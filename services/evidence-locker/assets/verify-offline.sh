#!/bin/sh
# verify-offline.sh — checks this portable evidence bundle (portable-bundle-v1) on a host with no
# network and no StellaOps software: only POSIX sh, sha256sum and openssl (3.x) are used; no other
# program (not even cat, sed or mktemp) and no temporary file.
#
#   sh verify-offline.sh [--key trusted-seal.pub.pem] [--tsa-ca tsa-ca.pem]
#
# Without --key the bundle's own keys/seal.pub.pem is used: that proves integrity, not who sealed.
# Exit 0: every check passed. Exit 3: a check failed (each failure is a "FAIL <check>" line naming
# the artifact or signature). Exit 1: usage or a missing tool.
# Format: docs/formats/evidence-bundle.md "Portable bundle"; ADR 0011 (commitments).
set -u
LC_ALL=C
export LC_ALL

key=
tsaca=
while [ $# -gt 0 ]; do
  case $1 in
    --key | --tsa-ca)
      [ $# -ge 2 ] || { echo "verify-offline.sh: $1 needs a file" >&2; exit 1; }
      case $2 in /*) f=$2 ;; *) f=$PWD/$2 ;; esac
      [ -r "$f" ] || { echo "verify-offline.sh: cannot read $2" >&2; exit 1; }
      if [ "$1" = --key ]; then key=$f; else tsaca=$f; fi
      shift 2
      ;;
    *) echo "usage: sh verify-offline.sh [--key trusted.pem] [--tsa-ca ca.pem]" >&2; exit 1 ;;
  esac
done
for tool in sha256sum openssl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "verify-offline.sh: $tool is required" >&2; exit 1; }
done
case $0 in */*) cd "${0%/*}" || exit 1 ;; esac
keynote="given key"
[ -n "$key" ] || { key=keys/seal.pub.pem; keynote="key from the bundle"; }

fails=0
pass() { printf 'PASS %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; fails=$((fails + 1)); }

# 1. Every file against checksums.txt, and no file that checksums.txt does not list.
res=$(sha256sum -c checksums.txt 2>&1)
if [ $? -eq 0 ]; then
  pass "checksums: sha256sum -c checksums.txt"
else
  while IFS= read -r l; do
    case $l in *': OK') ;; *': FAILED'*) fail "checksum:${l%%: FAILED*} (sha256 differs)" ;; *) fail "checksum: $l" ;; esac
  done <<END
$res
END
fi
listed=$(while IFS= read -r l; do printf '%s\n' "${l#*  }"; done <checksums.txt)
walk() {
  for f in "$1"/* "$1"/.[!.]*; do
    [ -e "$f" ] || continue
    if [ -d "$f" ]; then walk "$f"; continue; fi
    p=${f#./}
    case $p in checksums.txt) continue ;; esac
    case "
$listed
" in *"
$p
"*) ;; *) fail "checksum:$p (in the bundle but not listed in checksums.txt)" ;; esac
  done
}
walk .

# 2. Each Merkle leaf (merkle/leaves.jsonl line i = the RFC 8785 bytes of entry i) with its
#    opening (openings.jsonl line i): a present artifact's sha256 is the opening's digest and
#    HMAC-SHA256(salt, digest) is the entry's commitment; a withheld one is absent.
unescape() { # the JSON string body of an archive path: only \" can occur (no \, no controls)
  s=$1 r=
  while :; do
    case $s in
      *'\"'*) r=$r${s%%'\"'*}'"' s=${s#*'\"'} ;;
      *) r=$r$s; break ;;
    esac
  done
  case $r in *\\*) return 1 ;; esac
  out=$r
}
hashes=
n=0
present=0
withheld=0
exec 3<merkle/leaves.jsonl 4<openings.jsonl
while IFS= read -r leaf <&3; do
  n=$((n + 1))
  h=$(printf '\000%s' "$leaf" | sha256sum)
  hashes="$hashes ${h%% *}"
  if ! IFS= read -r open <&4; then fail "openings.jsonl has fewer lines than merkle/leaves.jsonl"; break; fi
  case $leaf in
    '{"commitment":"hmac-sha256:'*',"path":"'*'","role":"'*) ;;
    *) fail "leaf:$n is not an artifact entry"; continue ;;
  esac
  c=${leaf#'{"commitment":"hmac-sha256:'}
  c=${c%%'"'*}
  jpath=${leaf#*',"path":"'}
  jpath=${jpath%%'","role":"'*}
  if ! unescape "$jpath"; then fail "leaf:$n path needs JSON unescaping this script does not do"; continue; fi
  path=$out
  case $open in
    '{"digest":"sha256:'*'","path":"'"$jpath"'","salt":"'*'"}')
      d=${open#'{"digest":"sha256:'}
      d=${d%%'"'*}
      salt=${open##*'"salt":"'}
      salt=${salt%'"}'}
      if [ ! -f "artifacts/$path" ]; then fail "artifact:$path is missing from artifacts/"; continue; fi
      got=$(sha256sum <"artifacts/$path")
      got=${got%% *}
      mac=$(printf '%s' "sha256:$d" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$salt" -r 2>/dev/null)
      mac=${mac%% *}
      if [ "$got" != "$d" ]; then
        fail "artifact:$path sha256 is $got, its opening says $d"
      elif [ "$mac" != "$c" ]; then
        fail "artifact:$path the opening does not open the entry's commitment"
      else
        pass "artifact:$path"
        present=$((present + 1))
      fi
      ;;
    '{"path":"'"$jpath"'","withheld":true}')
      if [ -e "artifacts/$path" ]; then
        fail "artifact:$path is marked withheld but present"
      else
        pass "artifact:$path withheld (its entry is leaf $n; content not in this bundle)"
        withheld=$((withheld + 1))
      fi
      ;;
    *) fail "artifact:$path line $n of openings.jsonl is not its opening" ;;
  esac
done
if IFS= read -r open <&4; then fail "openings.jsonl has more lines than merkle/leaves.jsonl"; fi
exec 3<&- 4<&-

# 3. The Merkle root (RFC 9162 §2.1.1): leaf hashes paired bottom-up with SHA-256(0x01||l||r),
#    an odd last node carried up unchanged — the same tree as the RFC's recursive split.
octal() { # hex → printf octal escapes, with shell arithmetic only
  x=$1 o=
  while [ -n "$x" ]; do
    v=$((0x${x%"${x#??}"}))
    x=${x#??}
    o="$o\\$((v / 64))$((v / 8 % 8))$((v % 8))"
  done
}
node() {
  octal "$1"
  l=$o
  octal "$2"
  h=$(printf "\\001$l$o" | sha256sum)
  printf '%s' "${h%% *}"
}
level=$hashes
while :; do
  set -- $level
  [ $# -gt 1 ] || break
  next=
  while [ $# -ge 2 ]; do
    next="$next $(node "$1" "$2")"
    shift 2
  done
  [ $# -eq 1 ] && next="$next $1"
  level=$next
done
root=${1:-}

# 4. The seal: the DSSE signature over PAE(payloadType, payload) (DSSE v1 protocol), and the
#    signed in-toto Statement names this root and leaf count. signature.json is one line of
#    deterministic JSON whose strings (base64, a media type) need no unescaping.
IFS= read -r env <signature.json || [ -n "$env" ] || fail "signature: signature.json is empty"
ptype=${env#*'"payloadType":"'}
ptype=${ptype%%'"'*}
payload=${env#*'"payload":"'}
payload=${payload%%'"'*}
sig=${env#*'"sig":"'}
sig=${sig%%'"'*}
stmt=$(printf '%s' "$payload" | openssl base64 -d -A)
case $stmt in
  *'"subject":[{"digest":{"sha256":"'"$root"'"},"name":"merkle-root:rfc9162-sha256"}]'*)
    case $stmt in
      *'"leafCount":'"$n"'}'*) pass "merkle: root $root over $n leaves is the sealed subject" ;;
      *) fail "merkle: the statement's leafCount is not $n" ;;
    esac
    ;;
  *) fail "merkle: recomputed root $root is not the subject of the signed statement" ;;
esac
[ "$(openssl base64 -A -in signature.sig)" = "$sig" ] || fail "signature: signature.sig is not the envelope's sig"
# openssl cannot verify Ed25519 over a pipe (one-shot signatures need the size), so the PAE bytes
# ship as signature.pae; it must equal the PAE built here from signature.json.
pae=$(printf 'DSSEv1 %s %s %s %s' "${#ptype}" "$ptype" "${#stmt}" "$stmt" | sha256sum)
pae=${pae%% *}
paefile=$(sha256sum <signature.pae)
paefile=${paefile%% *}
ktype=$(openssl pkey -pubin -in "$key" -noout -text 2>/dev/null)
case $ktype in
  ED25519* | ED448*) digest= ;;
  *'ASN1 OID: prime256v1'* | *'NIST CURVE: P-256'*) digest=sha256 ;;
  *'NIST CURVE: P-384'*) digest=sha384 ;;
  *) digest=unsupported ;;
esac
if [ "$digest" = unsupported ]; then
  fail "signature: $key is not an Ed25519 or ECDSA P-256/P-384 public key"
elif [ "$pae" != "$paefile" ]; then
  fail "signature: signature.pae is not PAE(payloadType, payload) of signature.json"
elif openssl pkeyutl -verify -pubin -inkey "$key" -rawin ${digest:+-digest "$digest"} \
  -in signature.pae -sigfile signature.sig >/dev/null 2>&1; then
  pass "signature: DSSE over PAE verifies with $key ($keynote)"
else
  fail "signature: the DSSE signature does not verify with $key ($keynote)"
fi

# 5. The RFC 3161 timestamp, over the signature value (signature.sig), when present.
if [ -f timestamp.tsr ]; then
  if [ -z "$tsaca" ]; then
    printf 'SKIP timestamp: give --tsa-ca <TSA CA PEM> to verify timestamp.tsr\n'
  elif openssl ts -verify -data signature.sig -in timestamp.tsr -CAfile "$tsaca" >/dev/null 2>&1; then
    pass "timestamp: openssl ts -verify"
  else
    fail "timestamp: timestamp.tsr does not verify over signature.sig with $tsaca"
  fi
fi

if [ "$fails" -gt 0 ]; then
  printf 'FAILED: %s check(s) failed\n' "$fails"
  exit 3
fi
printf 'OK: %s present and %s withheld artifact(s), root %s\n' "$present" "$withheld" "$root"
