#!/usr/bin/env python3
"""Independent reference implementation of tracemark format v1 (docs/SPEC.md §1-§4).

Written from the text of docs/SPEC.md alone, without looking at lib/, so that any
disagreement with the C++ library exposes a bug on one side or an ambiguity in
the specification. Pure Python 3 standard library.

Running it (re)generates the known-answer vectors in data/spec-v1/*.json,
deterministically: every secret and every test input is fixed or derived from
SplitMix64 with fixed seeds; nothing comes from the OS's randomness. The layout
of the files is documented in data/spec-v1/README.md.

    python3 scripts/spec_reference.py            # write data/spec-v1/
    python3 scripts/spec_reference.py --check    # verify the files are up to date
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import struct
import sys
from fractions import Fraction

MASK64 = (1 << 64) - 1

# ---------------------------------------------------------------------------
# Primitives
# ---------------------------------------------------------------------------


def le32(x: int) -> bytes:
    if not 0 <= x < (1 << 32):
        raise ValueError(f"LE32 out of range: {x}")
    return struct.pack("<I", x)


def le64(x: int) -> bytes:
    if not 0 <= x <= MASK64:
        raise ValueError(f"LE64 out of range: {x}")
    return struct.pack("<Q", x)


def le64_inv(b: bytes) -> int:
    assert len(b) == 8
    return struct.unpack("<Q", b)[0]


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & MASK64


def siphash24(k0: int, k1: int, msg: bytes) -> int:
    """SipHash-2-4 (Aumasson & Bernstein 2012), 128-bit key (k0, k1), 64-bit output."""
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573

    def sipround():
        nonlocal v0, v1, v2, v3
        v0 = (v0 + v1) & MASK64
        v1 = _rotl(v1, 13)
        v1 ^= v0
        v0 = _rotl(v0, 32)
        v2 = (v2 + v3) & MASK64
        v3 = _rotl(v3, 16)
        v3 ^= v2
        v0 = (v0 + v3) & MASK64
        v3 = _rotl(v3, 21)
        v3 ^= v0
        v2 = (v2 + v1) & MASK64
        v1 = _rotl(v1, 17)
        v1 ^= v2
        v2 = _rotl(v2, 32)

    n = len(msg)
    full = n - (n % 8)
    for i in range(0, full, 8):
        m = le64_inv(msg[i:i + 8])
        v3 ^= m
        sipround()
        sipround()
        v0 ^= m
    # Last block: remaining bytes, zero padded, length mod 256 in the top byte.
    tail = msg[full:] + bytes(7 - (n - full))
    m = le64_inv(tail + bytes([n & 0xFF]))
    v3 ^= m
    sipround()
    sipround()
    v0 ^= m
    v2 ^= 0xFF
    for _ in range(4):
        sipround()
    return v0 ^ v1 ^ v2 ^ v3


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 per RFC 5869 (extract then expand)."""
    if length > 255 * 32:
        raise ValueError("HKDF length too large")
    prk = hmac.new(salt if salt else bytes(32), ikm, hashlib.sha256).digest()
    okm = b""
    t = b""
    counter = 1
    while len(okm) < length:
        t = hmac.new(prk, t + info + bytes([counter]), hashlib.sha256).digest()
        okm += t
        counter += 1
    return okm[:length]


def hkdf_prk(ikm: bytes, salt: bytes) -> bytes:
    return hmac.new(salt, ikm, hashlib.sha256).digest()


class SplitMix64:
    """SplitMix64 (Steele, Lea, Flood 2014), used only to derive fixed test inputs."""

    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        # Unbiasedness is irrelevant for test inputs; keep it simple and exact.
        return self.next() % n

    def bytes(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += le64(self.next())
        return out[:n]


def _self_test_primitives() -> None:
    # SipHash paper, Appendix A: key 00..0f.
    key = bytes(range(16))
    k0, k1 = le64_inv(key[:8]), le64_inv(key[8:])
    assert siphash24(k0, k1, bytes(range(15))) == 0xA129CA6149BE45E5
    assert siphash24(k0, k1, b"") == 0x726FDB47DD0E0E31
    # RFC 5869, test case 1 (SHA-256).
    ikm = bytes([0x0B] * 22)
    salt = bytes(range(0x00, 0x0D))
    info = bytes(range(0xF0, 0xFA))
    assert hkdf_prk(ikm, salt).hex() == (
        "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
    assert hkdf_sha256(ikm, salt, info, 42).hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c"
        "5db02d56ecc4c5bf34007208d5b887185865")
    # SplitMix64 from seed 0 (first output widely published: 0xe220a8397b1dcdaf).
    assert SplitMix64(0).next() == 0xE220A8397B1DCDAF


# ---------------------------------------------------------------------------
# Format v1
# ---------------------------------------------------------------------------

SALT = b"tracemark/v1"
SCHEMES = ("kgw-lefthash", "kgw-selfhash", "kgw-minhash", "unigram")


def fingerprint(secret: bytes) -> str:
    """§1: "tmk1:" || hex(HKDF-SHA256(IKM = secret, salt, info = "fingerprint", L = 8))."""
    assert len(secret) == 32
    return "tmk1:" + hkdf_sha256(secret, SALT, b"fingerprint", 8).hex()


def key_file_text(secret: bytes) -> str:
    """§1: the three non-comment lines of a key file (no comment lines, LF endings)."""
    return ("tracemark-key 1\n"
            f"secret {secret.hex()}\n"
            f"fingerprint {fingerprint(secret)}\n")


def green_threshold(gamma: float) -> int:
    """§4: T = floor(gamma * 2^64) computed exactly (gamma is a double, 0 < gamma < 1, T >= 1)."""
    if not isinstance(gamma, float) or not math.isfinite(gamma):
        raise ValueError("gamma must be a finite double")
    if not 0.0 < gamma < 1.0:
        raise ValueError("gamma must be in (0, 1)")
    t = math.floor(Fraction(gamma) * (1 << 64))
    if t < 1:
        raise ValueError("gamma too small: T = 0")
    assert t <= MASK64
    return t


def derivation_info(scheme: str, h: int, gamma: float, vocab: int, account: bytes) -> bytes:
    """§2: info = "kgw;scheme=" S ";h=" h ";T=" hex16(T) ";vocab=" V ";account=" len(A) ":" A."""
    t = green_threshold(gamma)
    return (b"kgw;scheme=" + scheme.encode("ascii")
            + b";h=" + str(h).encode("ascii")
            + b";T=" + f"{t:016x}".encode("ascii")
            + b";vocab=" + str(vocab).encode("ascii")
            + b";account=" + str(len(account)).encode("ascii") + b":" + account)


class Scheme:
    def __init__(self, secret: bytes, scheme: str, h: int, gamma: float, vocab: int,
                 account: bytes):
        if scheme not in SCHEMES:
            raise ValueError(scheme)
        if scheme == "unigram":
            if h != 0:
                raise ValueError("unigram has h = 0")
        elif not 1 <= h <= 16:
            raise ValueError("h must be in 1..16")
        if not 1 <= vocab <= (1 << 32):
            raise ValueError("vocab out of range")
        self.scheme, self.h, self.gamma, self.vocab = scheme, h, gamma, vocab
        self.T = green_threshold(gamma)
        self.info = derivation_info(scheme, h, gamma, vocab, account)
        self.okm = hkdf_sha256(secret, SALT, self.info, 32)
        self.k_ctx = (le64_inv(self.okm[0:8]), le64_inv(self.okm[8:16]))
        self.k_green = (le64_inv(self.okm[16:24]), le64_inv(self.okm[24:32]))

    def _tok(self, v: int) -> bytes:
        if not 0 <= v < self.vocab:
            raise ValueError("token out of range")
        return le32(v)

    def seed(self, ctx: list[int], v: int) -> int:
        """§3: the seed s of the tuple (context c_1..c_h oldest first, candidate v)."""
        if len(ctx) != self.h:
            raise ValueError("context must have exactly h tokens")
        if self.scheme == "kgw-lefthash":
            return siphash24(*self.k_ctx, b"".join(self._tok(c) for c in ctx))
        if self.scheme == "kgw-selfhash":
            return siphash24(*self.k_ctx, b"".join(self._tok(c) for c in ctx) + self._tok(v))
        if self.scheme == "kgw-minhash":
            return min(siphash24(*self.k_ctx, self._tok(c)) for c in ctx)
        return 0  # unigram

    def prf(self, s: int, v: int) -> int:
        """§4: SipHash(K_green, LE64(s) || LE32(v))."""
        return siphash24(*self.k_green, le64(s) + self._tok(v))

    def green(self, s: int, v: int) -> bool:
        return self.prf(s, v) < self.T


# ---------------------------------------------------------------------------
# Vector generation
# ---------------------------------------------------------------------------


def _secret_from_splitmix(seed: int) -> bytes:
    return SplitMix64(seed).bytes(32)


SECRETS = {
    "bytes-00-1f": bytes(range(32)),
    "zeros": bytes(32),
    "ff": bytes([0xFF] * 32),
    "splitmix64-seed-1": _secret_from_splitmix(1),
    "splitmix64-seed-0x746d6b31": _secret_from_splitmix(0x746D6B31),
    "splitmix64-seed-2024": _secret_from_splitmix(2024),
}

# A gamma with all 53 significand bits set: (2^53 - 1) / 2^53.
GAMMA_MANY_BITS = float.fromhex("0x1.fffffffffffffp-1")

GAMMAS = [
    0.25, 0.5, 0.1, 0.7, 1e-3,
    1.0 / 3.0,                         # 0x1.5555555555555p-2
    0.123456789012345678,              # arbitrary decimal, full mantissa
    float.fromhex("0x1.3a5f0c2d4e6b7p-1"),  # ~0.6139: many significand bits, odd last bit
    GAMMA_MANY_BITS,                   # largest double below 1: T = 2^64 - 2^11
    2.0 ** -64,                        # smallest gamma with T >= 1: T = 1
    float.fromhex("0x1.8p-64"),        # 1.5 * 2^-64: T = 1 (floor)
    0.9,
    1e-6,
]

# Values that are not valid gammas under §4 (0 < gamma < 1 and T >= 1).
INVALID_GAMMAS = [
    ("0", 0.0), ("1", 1.0), ("-0.25", -0.25), ("1.5", 1.5),
    ("2^-65", 2.0 ** -65), ("min-subnormal", 5e-324),
    ("nan", float("nan")), ("inf", float("inf")),
]

ACCOUNT_ASCII = "alice@example.com"
ACCOUNT_UTF8 = "Zoë/東京-🔑"  # 2-, 3- and 4-byte UTF-8 sequences: 8 code points, 16 bytes

# (secret name, scheme, h, gamma, vocab, account)
CONFIGS = [
    ("bytes-00-1f", "kgw-lefthash", 1, 0.25, 50257, ""),
    ("bytes-00-1f", "kgw-lefthash", 4, 0.5, 32000, ACCOUNT_ASCII),
    ("splitmix64-seed-1", "kgw-lefthash", 16, 0.1, 151936, ACCOUNT_UTF8),
    ("bytes-00-1f", "kgw-selfhash", 1, 0.25, 50257, ""),
    ("splitmix64-seed-0x746d6b31", "kgw-selfhash", 4, 0.7, 128256, ACCOUNT_ASCII),
    ("bytes-00-1f", "kgw-selfhash", 3, 1e-3, 10000, ACCOUNT_UTF8),
    ("bytes-00-1f", "kgw-minhash", 1, 0.5, 50257, ""),
    ("splitmix64-seed-1", "kgw-minhash", 4, 0.25, 32000, ACCOUNT_ASCII),
    ("bytes-00-1f", "kgw-minhash", 16, GAMMA_MANY_BITS, 256000, ACCOUNT_UTF8),
    ("bytes-00-1f", "unigram", 0, 0.5, 50257, ""),
    ("splitmix64-seed-2024", "unigram", 0, 0.25, 32000, ACCOUNT_ASCII),
    ("bytes-00-1f", "unigram", 0, 0.1, 2147483647, ACCOUNT_UTF8),
    ("splitmix64-seed-2024", "kgw-selfhash", 2, 0.5, 2147483647, "bob"),
    ("ff", "kgw-lefthash", 2, 0.25, 2147483647, "bob"),
]

CASES_PER_CONFIG = 50
FRACTION_TOKENS = 10000


def _cases(sch: Scheme, rng: SplitMix64) -> list[dict]:
    V, h = sch.vocab, sch.h
    contexts: list[list[int]] = []
    tokens: list[int] = []
    # Edge cases first: smallest and largest ids, repeated tokens.
    edge = [
        ([0] * h, 0),
        ([V - 1] * h, V - 1),
        ([0] * h, V - 1),
        ([min(i, V - 1) for i in range(h)], min(h, V - 1)),
    ]
    if V > (1 << 30):
        # Ids with bit 30 set (and the largest id), to catch sign or width slips.
        edge.append(([V - 1 - i for i in range(h)], V - 2))
    for c, v in edge:
        contexts.append(c)
        tokens.append(v)
    prev_ctx = None
    while len(contexts) < CASES_PER_CONFIG:
        r = rng.below(8)
        if r == 0 and prev_ctx is not None:
            ctx = list(prev_ctx)  # same context, different candidate
        elif r == 1 and h >= 2:
            ctx = [rng.below(V)] * h  # constant context
        elif r == 2 and h >= 2:
            # permutation of a previous context (min-hash seed must not change)
            base = prev_ctx if prev_ctx is not None else [rng.below(V) for _ in range(h)]
            ctx = list(reversed(base))
        else:
            ctx = [rng.below(V) for _ in range(h)]
        v = rng.below(V)
        contexts.append(ctx)
        tokens.append(v)
        prev_ctx = ctx
    out = []
    for ctx, v in zip(contexts, tokens):
        s = sch.seed(ctx, v)
        p = sch.prf(s, v)
        out.append({"context": ctx, "token": v, "seed": str(s), "prf": str(p),
                    "green": p < sch.T})
    return out


def _fraction(sch: Scheme, rng: SplitMix64) -> dict:
    ctx = [rng.below(sch.vocab) for _ in range(sch.h)]
    n = min(FRACTION_TOKENS, sch.vocab)
    count = 0
    if sch.scheme == "kgw-selfhash":
        for v in range(n):
            count += sch.green(sch.seed(ctx, v), v)
    else:
        s = sch.seed(ctx, 0)
        for v in range(n):
            count += sch.green(s, v)
    return {"context": ctx, "tokens": n, "green_count": count, "green_fraction": count / n}


def build_vectors() -> dict[str, dict]:
    files: dict[str, dict] = {}

    files["primitives.json"] = {
        "description": "SipHash-2-4 and HKDF-SHA256 building blocks (SPEC §2, §4).",
        "siphash24": _siphash_vectors(),
        "hkdf_sha256": _hkdf_vectors(),
    }

    fk = "bytes-00-1f"
    files["keys.json"] = {
        "description": "Key fingerprints and key file text (SPEC §1).",
        "fingerprints": [
            {"name": name, "secret": sec.hex(), "fingerprint": fingerprint(sec)}
            for name, sec in SECRETS.items()
        ],
        "key_file": {"secret_name": fk, "secret": SECRETS[fk].hex(),
                     "text": key_file_text(SECRETS[fk])},
    }

    files["thresholds.json"] = {
        "description": "Green threshold T = floor(gamma * 2^64) (SPEC §4).",
        "valid": [
            {"gamma": g, "gamma_hex": g.hex(), "T": str(green_threshold(g)),
             "T_hex16": f"{green_threshold(g):016x}"}
            for g in GAMMAS
        ],
        "invalid": [
            {"name": name, "gamma_hex": g.hex() if math.isfinite(g) else name,
             "why": ("T = floor(gamma * 2^64) = 0"
                     if math.isfinite(g) and 0.0 < g < 1.0 else "not 0 < gamma < 1")}
            for name, g in INVALID_GAMMAS
        ],
    }
    for name, g in INVALID_GAMMAS:
        try:
            green_threshold(g)
        except ValueError:
            pass
        else:
            raise AssertionError(f"invalid gamma accepted: {name}")

    configs = []
    for i, (sname, scheme, h, gamma, vocab, account) in enumerate(CONFIGS):
        secret = SECRETS[sname]
        acc = account.encode("utf-8")
        sch = Scheme(secret, scheme, h, gamma, vocab, acc)
        rng = SplitMix64(0x5EED0000 + i)
        configs.append({
            "secret_name": sname,
            "secret": secret.hex(),
            "scheme": scheme,
            "h": h,
            "gamma": gamma,
            "gamma_hex": gamma.hex(),
            "vocab": vocab,
            "account": account,
            "account_hex": acc.hex(),
            "T": str(sch.T),
            "info": sch.info.decode("utf-8"),
            "info_hex": sch.info.hex(),
            "okm": sch.okm.hex(),
            "k_ctx": [str(sch.k_ctx[0]), str(sch.k_ctx[1])],
            "k_green": [str(sch.k_green[0]), str(sch.k_green[1])],
            "cases": _cases(sch, rng),
            "fraction": _fraction(sch, rng),
        })
    files["schemes.json"] = {
        "description": "Sub-key derivation, seeds and green-list membership (SPEC §2-§4).",
        "configs": configs,
    }
    for f in files.values():
        f["format"] = "tracemark-spec-vectors 1"
        f["generator"] = "scripts/spec_reference.py"
    return files


def _siphash_vectors() -> list[dict]:
    key = bytes(range(16))
    out = []
    for n in list(range(0, 17)) + [63, 64]:
        msg = bytes(range(n))
        out.append({"key": key.hex(), "k0": str(le64_inv(key[:8])), "k1": str(le64_inv(key[8:])),
                    "message": msg.hex(), "hash": str(siphash24(le64_inv(key[:8]),
                                                                le64_inv(key[8:]), msg))})
    rng = SplitMix64(0x51F)
    for n in (4, 8, 12, 20, 68):
        k0, k1 = rng.next(), rng.next()
        msg = rng.bytes(n)
        out.append({"key": (le64(k0) + le64(k1)).hex(), "k0": str(k0), "k1": str(k1),
                    "message": msg.hex(), "hash": str(siphash24(k0, k1, msg))})
    return out


def _hkdf_vectors() -> list[dict]:
    ikm = bytes([0x0B] * 22)
    salt = bytes(range(0x00, 0x0D))
    info = bytes(range(0xF0, 0xFA))
    out = [{"name": "RFC 5869 A.1", "ikm": ikm.hex(), "salt": salt.hex(), "info": info.hex(),
            "length": 42, "okm": hkdf_sha256(ikm, salt, info, 42).hex()}]
    sec = SECRETS["bytes-00-1f"]
    for info, n in ((b"fingerprint", 8), (b"", 32), (b"x" * 100, 80)):
        out.append({"name": "tracemark salt", "ikm": sec.hex(), "salt": SALT.hex(),
                    "info": info.hex(), "length": n, "okm": hkdf_sha256(sec, SALT, info, n).hex()})
    return out


# ---------------------------------------------------------------------------
# Output: stable, diff-friendly JSON (one case per line).
# ---------------------------------------------------------------------------


def _is_flat(x) -> bool:
    if isinstance(x, dict):
        return all(not isinstance(v, (dict, list)) or
                   (isinstance(v, list) and all(not isinstance(e, (dict, list)) for e in v))
                   for v in x.values())
    if isinstance(x, list):
        return all(not isinstance(e, (dict, list)) for e in x)
    return True


def _dump(x, indent: int = 0) -> str:
    pad = " " * indent
    if _is_flat(x):
        return json.dumps(x, ensure_ascii=False, separators=(", ", ": "), allow_nan=False)
    if isinstance(x, dict):
        items = [f'{pad} {json.dumps(k)}: {_dump(v, indent + 1)}' for k, v in x.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    items = [pad + " " + _dump(e, indent + 1) for e in x]
    return "[\n" + ",\n".join(items) + "\n" + pad + "]"


def main(argv: list[str]) -> int:
    _self_test_primitives()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outdir = os.path.join(root, "data", "spec-v1")
    check = "--check" in argv
    files = build_vectors()
    stale = []
    for name, content in files.items():
        text = _dump(content) + "\n"
        json.loads(text)  # must parse back
        path = os.path.join(outdir, name)
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    if f.read() != text:
                        stale.append(name)
            except FileNotFoundError:
                stale.append(name)
        else:
            os.makedirs(outdir, exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
    if check:
        if stale:
            print("stale or missing:", ", ".join(stale), file=sys.stderr)
            return 1
        print("data/spec-v1 is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
