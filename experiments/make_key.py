#!/usr/bin/env python3
"""Write a tracemark key file (docs/SPEC.md §1) whose secret is derived from a public
seed string, so that the distillation experiment is reproducible bit for bit.

NOT for production: anyone who knows the seed knows the secret. Real keys come from
`tracemark keygen` (OpenSSL's private RNG)."""
import hashlib
import hmac
import os
import sys


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: make_key.py SEED-STRING OUT-FILE", file=sys.stderr)
        return 2
    seed, path = sys.argv[1], sys.argv[2]
    secret = hashlib.sha256(b"tracemark-experiment-key/" + seed.encode()).digest()
    fp = hkdf_sha256(secret, b"tracemark/v1", b"fingerprint", 8).hex()
    text = (f"# experiment key derived from the public seed {seed!r}: not secret\n"
            f"tracemark-key 1\nsecret {secret.hex()}\nfingerprint tmk1:{fp}\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    print(f"tmk1:{fp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
