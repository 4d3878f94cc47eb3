#!/usr/bin/python3
# Writes the public test key tests/golden/inputs/golden.key (docs/SPEC.md §1) from a fixed
# secret, SHA-256("tracemark golden test key"), so the goldens never depend on a random key.
# The key is PUBLIC: never use it for anything but tests.
import hashlib, hmac, sys

def hkdf_sha256(ikm, salt, info, length):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, t, i = b"", b"", 1
    while len(okm) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm += t
        i += 1
    return okm[:length]

secret = hashlib.sha256(b"tracemark golden test key").digest()
fp = hkdf_sha256(secret, b"tracemark/v1", b"fingerprint", 8).hex()
out = sys.argv[1] if len(sys.argv) > 1 else "inputs/golden.key"
with open(out, "w") as f:
    f.write("# tracemark golden test key: PUBLIC, for tests only (tests/golden/README.md)\n")
    f.write("tracemark-key 1\nsecret %s\nfingerprint tmk1:%s\n" % (secret.hex(), fp))
print("tmk1:" + fp)
