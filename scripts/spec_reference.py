#!/usr/bin/env python3
"""Independent reference implementation of tracemark format v1 (docs/SPEC.md §1-§4, §6.1-§6.2).

Written from the text of docs/SPEC.md alone, without looking at lib/, so that any
disagreement with the C++ library exposes a bug on one side or an ambiguity in
the specification. Pure Python 3 standard library; p-values are computed exactly
(integer arithmetic) and only then rounded.

Running it (re)generates the known-answer vectors in data/spec-v1/*.json,
deterministically: every secret and every test input is fixed or derived from
SplitMix64 with fixed seeds; nothing comes from the OS's randomness. The layout
of the files is documented in data/spec-v1/README.md.

    python3 scripts/spec_reference.py                    # write data/spec-v1/
    python3 scripts/spec_reference.py --check            # verify the files (and the worked
                                                         # examples in docs/SPEC.md) are up to date
    python3 scripts/spec_reference.py worked-examples    # print SPEC §9 (Markdown)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import struct
import sys
from decimal import Decimal, localcontext
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
        if not 1 <= vocab <= (1 << 31) - 1:
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


def gamma_from_decimal(text: str) -> float:
    """§4: a decimal gamma is the IEEE-754 double nearest to its exact value (ties to even).

    Python's float() of a decimal string is correctly rounded, as C's strtod is."""
    if not re.fullmatch(r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?", text) or not re.search(r"[0-9]", text):
        raise ValueError(f"not a decimal number: {text!r}")
    return float(text)


# ---------------------------------------------------------------------------
# §1 key file grammar
# ---------------------------------------------------------------------------

KEY_FILE_MAX_BYTES = 4096
MAGIC = "tracemark-key 1"
_HEX = "0123456789abcdefABCDEF"


class KeyFileError(ValueError):
    """A key file the §1 grammar rejects; `line` is the 1-based line at fault, or None."""

    def __init__(self, why: str, line: int | None = None):
        super().__init__(f"line {line}: {why}" if line is not None else why)
        self.line = line


def _is_hex(s: str, n: int) -> bool:
    return len(s) == n and all(c in _HEX for c in s)


def parse_key_file(data: bytes) -> bytes:
    """§1: the 32-byte secret of a key file's content, or KeyFileError."""
    if len(data) > KEY_FILE_MAX_BYTES:
        raise KeyFileError("over 4096 bytes")
    if data.startswith(b"\xef\xbb\xbf"):
        raise KeyFileError("starts with a byte order mark", 1)
    # Lines end in LF or CR LF; the last line may lack its terminator (then a CR is content).
    raw = data.split(b"\n")
    terminated = [True] * (len(raw) - 1) + [False]
    if raw[-1] == b"":
        raw, terminated = raw[:-1], terminated[:-1]
    secret_hex = fp_text = None
    saw_magic = False
    for n, (b, term) in enumerate(zip(raw, terminated), start=1):
        if term and b.endswith(b"\r"):
            b = b[:-1]
        try:
            line = b.decode("utf-8", errors="strict")  # RFC 3629: no overlongs, surrogates
        except UnicodeDecodeError:
            raise KeyFileError("not UTF-8", n) from None
        if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in line):
            raise KeyFileError("control character", n)
        if line == "" or line.startswith("#"):
            continue
        if line.strip(" \t") == "":
            raise KeyFileError("only blanks", n)
        if line.endswith((" ", "\t")):
            raise KeyFileError("trailing blank", n)
        if not saw_magic:
            if line != MAGIC:
                raise KeyFileError("not the format line", n)
            saw_magic = True
        elif line.startswith("secret "):
            if secret_hex is not None:
                raise KeyFileError("second secret line", n)
            secret_hex = line[len("secret "):]
            if not _is_hex(secret_hex, 64):
                raise KeyFileError("secret is not 64 hex digits", n)
        elif line.startswith("fingerprint "):
            if fp_text is not None:
                raise KeyFileError("second fingerprint line", n)
            fp_text = line[len("fingerprint "):]
            if not (fp_text.startswith("tmk1:") and _is_hex(fp_text[5:], 16)):
                raise KeyFileError("fingerprint is not tmk1: and 16 hex digits", n)
        else:
            raise KeyFileError("not a field line", n)
    if not saw_magic or secret_hex is None or fp_text is None:
        raise KeyFileError("truncated")
    secret = bytes.fromhex(secret_hex)
    if "tmk1:" + fp_text[5:].lower() != fingerprint(secret):
        raise KeyFileError("fingerprint does not match")
    return secret


# ---------------------------------------------------------------------------
# §6.1-§6.2 detection
# ---------------------------------------------------------------------------


def score_tokens(sch: "Scheme", tokens: list[int], n_prompt: int, dedup: bool = True) -> list[dict]:
    """§6.1: what happens at each position of x[0, n) whose first P tokens are a prompt."""
    P = min(max(n_prompt, 0), len(tokens))
    scored: dict[tuple[int, int], int] = {}  # (s, v) -> the position that scored it
    out = []
    for i, v in enumerate(tokens):
        if i < P:
            out.append({"i": i, "token": v, "mark": "prompt"})
            continue
        if i < sch.h:
            out.append({"i": i, "token": v, "mark": "no_context"})
            continue
        ctx = tokens[i - sch.h:i]
        s = sch.seed(ctx, v)
        rec = {"i": i, "token": v, "context": ctx, "seed": s}
        if dedup and (s, v) in scored:
            rec.update(mark="repeat", repeat_of=scored[(s, v)])
        else:
            scored[(s, v)] = i
            prf = sch.prf(s, v)
            rec.update(prf=prf, mark="green" if prf < sch.T else "red")
        out.append(rec)
    return out


def _log10_int(x: int) -> Decimal:
    """log10 of a positive integer to about 60 significant digits."""
    shift = max(0, x.bit_length() - 256)
    with localcontext() as c:
        c.prec = 70
        return Decimal(x >> shift).log10() + shift * Decimal(2).log10()


def tail_numerator(N: int, G: int, T: int) -> int:
    """§6.2: P[Binomial(N, T/2^64) >= G] * 2^(64N), exact but for a rest below 2^-300 of it.

    Terms A_j = C(N, j) T^j U^(N-j), U = 2^64 - T, by the exact integer recurrence
    A_(j+1) = A_j (N-j) T / ((j+1) U)."""
    if G <= 0:
        return 1 << (64 * N)
    if G > N:
        return 0
    U = (1 << 64) - T
    if G << 64 > N * T:  # above the mean: terms fall from j = G on
        term = math.comb(N, G) * T**G * U**(N - G)
        total, j = term, G
        while j < N:
            term, r = divmod(term * (N - j) * T, (j + 1) * U)
            assert r == 0
            j += 1
            total += term
            # The rest (terms j+1..N, each below this one) is below term * (N - j).
            if (term * (N - j)).bit_length() + 300 < total.bit_length():
                break
        return total
    # At or below the mean: 1 - P[X <= G-1], summed exactly.
    term, lower = U**N, 0
    for j in range(G):
        lower += term
        term, r = divmod(term * (N - j) * T, (j + 1) * U)
        assert r == 0
    return (1 << (64 * N)) - lower


def tail_log10(N: int, G: int, T: int) -> Decimal | None:
    """§6.2: log10 p to about 50 significant digits; None for p = 0 (G > N)."""
    num = tail_numerator(N, G, T)
    if num == 0:
        return None
    if num == 1 << (64 * N):
        return Decimal(0)
    with localcontext() as c:
        c.prec = 60
        return +(_log10_int(num) - 64 * N * Decimal(2).log10())


def z_score(N: int, G: int, T: int) -> float:
    """§6.2: z = (G - N g) / sqrt((N g)(1 - g)) in IEEE double, g = T / 2^64; 0 when N = 0."""
    if N == 0:
        return 0.0
    g = T / float(1 << 64)  # exact: T/2^64 is a double whenever T < 2^53 or its low bits are 0
    assert Fraction(g) == Fraction(T, 1 << 64)
    n = float(N)
    return (float(G) - n * g) / math.sqrt(n * g * (1.0 - g))


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
    files["key_files.json"] = {
        "description": "Key files the §1 grammar accepts and rejects (SPEC §1).",
        "secret": SECRETS["bytes-00-1f"].hex(),
        "cases": _key_file_cases(),
    }
    files["tails.json"] = {
        "description": "Exact binomial tails log10 P[Binomial(N, T/2^64) >= G] and z (SPEC §6.2).",
        "cases": _tail_cases(),
    }
    files["worked_examples.json"] = {
        "description": "The worked examples of SPEC §9, every number printed there.",
        "examples": _worked_examples(),
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
# Key file grammar vectors (§1)
# ---------------------------------------------------------------------------


def _key_file_cases() -> list[dict]:
    sec = SECRETS["bytes-00-1f"]
    S, F = sec.hex(), fingerprint(sec)
    comment = "# tracemark master key. Secret: keep mode 0600, never share or commit.\n"
    body = f"{MAGIC}\nsecret {S}\nfingerprint {F}\n"
    writer = (comment + body).encode()
    u = lambda t: t.encode("utf-8")
    pad = lambda text, size: b"#" + b"y" * (size - len(text) - 2) + b"\n" + text
    ok = [
        ("what tracemark keygen writes", writer),
        ("no comment lines", u(body)),
        ("CR LF line ends", u(body.replace("\n", "\r\n"))),
        ("LF and CR LF mixed", u(f"{MAGIC}\r\nsecret {S}\nfingerprint {F}\r\n")),
        ("no newline after the last line", u(body[:-1])),
        ("fingerprint before secret", u(f"{MAGIC}\nfingerprint {F}\nsecret {S}\n")),
        ("uppercase hexadecimal digits", u(f"{MAGIC}\nsecret {S.upper()}\nfingerprint tmk1:{F[5:].upper()}\n")),
        ("blank and comment lines anywhere",
         u(f"\n# a\n\n{MAGIC}\n\n# b\nsecret {S}\n#\n\nfingerprint {F}\n\n# end\n")),
        ("UTF-8 in a comment", u("# clé 🔑 東京\n" + body)),
        ("tab and trailing blanks in a comment", u("#\tnote \t \n" + body)),
        ("U+0085 (a C1 control, valid UTF-8) in a comment", u("# \u0085\n" + body)),
        ("exactly 4096 bytes", pad(writer, 4096)),
    ]
    bad = [
        ("UTF-8 byte order mark at the start", b"\xef\xbb\xbf" + writer, 1),
        ("byte order mark before a comment", b"\xef\xbb\xbf# key\n" + u(body), 1),
        ("invalid UTF-8 in a comment: byte FF", b"# \xff\n" + u(body), 1),
        ("invalid UTF-8 in a comment: overlong C0 AF", b"# \xc0\xaf\n" + u(body), 1),
        ("invalid UTF-8 in a comment: surrogate ED A0 80", b"# \xed\xa0\x80\n" + u(body), 1),
        ("invalid UTF-8 in a comment: truncated E2 82", b"# \xe2\x82\n" + u(body), 1),
        ("invalid UTF-8 in a comment: above U+10FFFF", b"# \xf4\x90\x80\x80\n" + u(body), 1),
        ("invalid UTF-8 in a comment after the fields", u(body) + b"# caf\xe9\n", 4),
        ("NUL in a comment", b"# a\x00b\n" + u(body), 1),
        ("DEL in a comment", b"# \x7f\n" + u(body), 1),
        ("ESC in a comment", b"# \x1b[0m\n" + u(body), 1),
        ("CR inside a comment", b"# a\rb\n" + u(body), 1),
        ("CR CR LF", u(f"{MAGIC}\r\r\nsecret {S}\nfingerprint {F}\n"), 1),
        ("CR at the end of the file without LF", u(body[:-1] + "\r"), 3),
        ("trailing space after the format line", u(f"{MAGIC} \nsecret {S}\nfingerprint {F}\n"), 1),
        ("trailing space after the secret", u(f"{MAGIC}\nsecret {S} \nfingerprint {F}\n"), 2),
        ("trailing tab after the fingerprint", u(f"{MAGIC}\nsecret {S}\nfingerprint {F}\t\n"), 3),
        ("a line of spaces", u(f"{MAGIC}\n  \nsecret {S}\nfingerprint {F}\n"), 2),
        ("a line of one tab", u(f"\t\n{body}"), 1),
        ("indented comment", u(f" # note\n{body}"), 1),
        ("indented field", u(f"{MAGIC}\n secret {S}\nfingerprint {F}\n"), 2),
        ("two spaces after the field name", u(f"{MAGIC}\nsecret  {S}\nfingerprint {F}\n"), 2),
        ("tab after the field name", u(f"{MAGIC}\nsecret\t{S}\nfingerprint {F}\n"), 2),
        ("'=' after the field name", u(f"{MAGIC}\nsecret={S}\nfingerprint {F}\n"), 2),
        ("uppercase field name", u(f"{MAGIC}\nSecret {S}\nfingerprint {F}\n"), 2),
        ("uppercase fingerprint prefix", u(f"{MAGIC}\nsecret {S}\nfingerprint TMK1:{F[5:]}\n"), 3),
        ("uppercase format line", u(f"Tracemark-key 1\nsecret {S}\nfingerprint {F}\n"), 1),
        ("format version 2", u(f"tracemark-key 2\nsecret {S}\nfingerprint {F}\n"), 1),
        ("secret of 63 digits", u(f"{MAGIC}\nsecret {S[:63]}\nfingerprint {F}\n"), 2),
        ("secret of 65 digits", u(f"{MAGIC}\nsecret {S}0\nfingerprint {F}\n"), 2),
        ("secret with a non-hex digit", u(f"{MAGIC}\nsecret {S[:10]}g{S[11:]}\nfingerprint {F}\n"), 2),
        ("fingerprint of 15 digits", u(f"{MAGIC}\nsecret {S}\nfingerprint {F[:-1]}\n"), 3),
        ("fingerprint of 17 digits", u(f"{MAGIC}\nsecret {S}\nfingerprint {F}0\n"), 3),
        ("fingerprint without its prefix", u(f"{MAGIC}\nsecret {S}\nfingerprint {F[5:]}\n"), 3),
        ("secret twice", u(f"{MAGIC}\nsecret {S}\nsecret {S}\nfingerprint {F}\n"), 3),
        ("fingerprint twice", u(f"{MAGIC}\nsecret {S}\nfingerprint {F}\nfingerprint {F}\n"), 4),
        ("format line twice", u(f"{MAGIC}\n{MAGIC}\nsecret {S}\nfingerprint {F}\n"), 2),
        ("field before the format line", u(f"secret {S}\n{MAGIC}\nfingerprint {F}\n"), 1),
        ("unknown field", u(body + "comment hello\n"), 4),
        ("empty file", b"", None),
        ("only comments", b"# nothing here\n", None),
        ("only the format line", u(MAGIC + "\n"), None),
        ("no fingerprint line", u(f"{MAGIC}\nsecret {S}\n"), None),
        ("no secret line", u(f"{MAGIC}\nfingerprint {F}\n"), None),
        ("fingerprint of another secret", u(f"{MAGIC}\nsecret {S}\nfingerprint {fingerprint(bytes(32))}\n"), None),
        ("4097 bytes", pad(writer, 4097), None),
    ]
    cases = []
    for name, data in ok:
        assert parse_key_file(data) == sec, name
        cases.append({"name": name, "accept": True, "error_line": None, "bytes": data.hex()})
    for name, data, line in bad:
        try:
            parse_key_file(data)
        except KeyFileError as e:
            assert e.line == line, (name, e, line)
        else:
            raise AssertionError(f"accepted: {name}")
        cases.append({"name": name, "accept": False, "error_line": line, "bytes": data.hex()})
    return cases


# ---------------------------------------------------------------------------
# Exact tails (§6.2)
# ---------------------------------------------------------------------------

# (N, G, gamma as a decimal string): both sides of the mean, both sides of n = 4096,
# p below 1e-250 and below the double range, gamma whose T/2^64 is not gamma.
TAIL_CASES = [
    (0, 0, "0.25"), (10, 0, "0.25"), (10, 3, "0.25"), (10, 10, "0.25"), (1, 1, "0.9"),
    (50, 20, "0.25"), (200, 40, "0.25"), (200, 80, "0.25"), (1000, 250, "0.25"),
    (1000, 300, "0.25"), (3000, 1000, "0.25"), (2000, 2000, "0.25"), (4096, 1100, "0.25"),
    (4096, 2048, "0.5"), (4096, 3000, "0.7"), (4097, 1100, "0.25"), (5000, 1200, "0.25"),
    (5000, 1400, "0.25"), (3000, 2500, "0.5"), (1000, 1, "0.001"), (1000, 5, "0.001"),
    (300, 3, "0.0001"), (40000, 9, "0.0001"), (100, 85, "0.9"), (100, 95, "0.9"),
    (60, 30, "0.3333333333333333"), (500, 100, "0.123456789012345678"),
    (20000, 5600, "0.25"), (20000, 7100, "0.25"), (20000, 7800, "0.25"), (20000, 15000, "0.5"),
    (8000, 8000, "0.25"),
]


def _tail_cases() -> list[dict]:
    out = []
    for N, G, gtext in TAIL_CASES:
        gamma = gamma_from_decimal(gtext)
        T = green_threshold(gamma)
        lp = tail_log10(N, G, T)
        out.append({"n_scored": N, "n_green": G, "gamma": gtext, "gamma_hex": gamma.hex(), "T": str(T),
                    "log10_p": _sig(lp, 20), "z": z_score(N, G, T)})
    return out


def _sig(x: Decimal, digits: int) -> str:
    """x to `digits` significant digits, plain decimal notation when short enough."""
    if x == 0:
        return "0"
    with localcontext() as c:
        c.prec = digits
        y = +x
    t = f"{y:.{digits}g}" if abs(y.adjusted()) < 12 else f"{y:.{digits - 1}e}"
    return t


# ---------------------------------------------------------------------------
# Worked examples (§9)
# ---------------------------------------------------------------------------

# One per scheme family: (title, scheme, h, gamma as given, V, account, tokens, P).
WORKED_EXAMPLES = [
    ("kgw-lefthash", "kgw-lefthash", 2, "0.25", 32000, "",
     [464, 3290, 318, 257, 1332, 318, 257, 1332], 0),
    ("kgw-selfhash", "kgw-selfhash", 1, "0.5", 32000, "alice",
     [1576, 29871, 3290, 29871, 3290, 1576, 29871, 3290], 0),
    ("kgw-minhash", "kgw-minhash", 2, "0.25", 32000, "",
     [5012, 318, 1332, 7001, 318, 5012, 1332, 9999], 0),
    ("unigram", "unigram", 0, "0.1", 32000, "",
     [42, 1000, 42, 7, 1000, 42, 8, 9], 1),
]


def h16(x: int) -> str:
    """A 64-bit value as 16 lowercase hex digits, most significant first (as hex16(T))."""
    return f"{x:016x}"


def _worked_examples() -> list[dict]:
    sec = SECRETS["bytes-00-1f"]
    out = []
    for title, scheme, h, gtext, V, account, tokens, P in WORKED_EXAMPLES:
        gamma = gamma_from_decimal(gtext)
        acc = account.encode("utf-8")
        sch = Scheme(sec, scheme, h, gamma, V, acc)
        rows = score_tokens(sch, tokens, P)
        positions = []
        first_inputs = None
        for r in rows:
            p = {"i": r["i"], "token": r["token"], "mark": r["mark"]}
            if "seed" in r:
                p["context"] = r["context"]
                if scheme == "kgw-minhash":
                    p["context_hashes_hex16"] = [h16(siphash24(*sch.k_ctx, le32(c))) for c in r["context"]]
                p["seed_hex16"] = h16(r["seed"])
            if "prf" in r:
                p["prf_hex16"] = h16(r["prf"])
                if first_inputs is None:
                    if scheme in ("kgw-lefthash", "kgw-selfhash"):
                        seed_in = b"".join(le32(c) for c in r["context"])
                        if scheme == "kgw-selfhash":
                            seed_in += le32(r["token"])
                        seed_in_hex = seed_in.hex()
                    else:
                        seed_in_hex = None
                    first_inputs = {"i": r["i"], "seed_input": seed_in_hex,
                                    "prf_input": (le64(r["seed"]) + le32(r["token"])).hex()}
            if "repeat_of" in r:
                p["repeat_of"] = r["repeat_of"]
            positions.append(p)
        N = sum(r["mark"] in ("green", "red") for r in rows)
        G = sum(r["mark"] == "green" for r in rows)
        lp = tail_log10(N, G, sch.T)
        z = z_score(N, G, sch.T)
        with localcontext() as c:
            c.prec = 40
            p_value = Decimal(10) ** lp
        out.append({
            "title": title, "secret": sec.hex(), "scheme": scheme, "h": h, "gamma": gtext,
            "gamma_hex": gamma.hex(), "vocab": V, "account": account, "account_hex": acc.hex(),
            "T": str(sch.T), "T_hex16": h16(sch.T), "info": sch.info.decode("utf-8"), "okm": sch.okm.hex(),
            "k_ctx_hex16": [h16(sch.k_ctx[0]), h16(sch.k_ctx[1])],
            "k_green_hex16": [h16(sch.k_green[0]), h16(sch.k_green[1])],
            "tokens": tokens, "n_prompt": P, "dedup": True,
            "first_inputs": first_inputs, "positions": positions,
            "n_scored": N, "n_green": G,
            "n_repeat": sum(r["mark"] == "repeat" for r in rows),
            "n_no_context": sum(r["mark"] == "no_context" for r in rows),
            "gamma_eff": _sig(Decimal(sch.T) / Decimal(1 << 64), 25),
            "z": z, "z_text": f"{z:.12g}",
            "log10_p": _sig(lp, 20), "log10_p_text": _sig(lp, 12), "p_text": _sig(p_value, 10),
        })
    return out


# ---------------------------------------------------------------------------
# Markdown of the worked examples (docs/SPEC.md §9)
# ---------------------------------------------------------------------------

WORKED_BEGIN = "<!-- worked examples: generated by `python3 scripts/spec_reference.py worked-examples`; do not edit by hand -->"
WORKED_END = "<!-- end of generated worked examples -->"

_SEED_RULE = {
    "kgw-lefthash": "s = SipHash(K_ctx, LE32(c_0) || LE32(c_1))",
    "kgw-selfhash": "s = SipHash(K_ctx, LE32(c_0) || LE32(v))",
    "kgw-minhash": "s = min(SipHash(K_ctx, LE32(c_0)), SipHash(K_ctx, LE32(c_1)))",
    "unigram": "s = 0",
}


def _mark_text(p: dict) -> str:
    m = p["mark"]
    if m == "repeat":
        return f"skipped: `repeat` of i = {p['repeat_of']}"
    if m in ("prompt", "no_context"):
        return f"skipped: `{m}`"
    return "**green**" if m == "green" else "red"


def render_worked_examples(examples: list[dict]) -> str:
    out = [WORKED_BEGIN, ""]
    for k, e in enumerate(examples, start=1):
        acc = f'`"{e["account"]}"` ({len(e["account_hex"]) // 2} bytes)' if e["account"] else "empty"
        out.append(f"### 9.{k} {e['title']} (h = {e['h']})")
        out.append("")
        out.append(f"Secret `{e['secret']}` (`tmk1:{fingerprint(bytes.fromhex(e['secret']))[5:]}`), "
                   f"scheme `{e['scheme']}`, h = {e['h']}, gamma given as `{e['gamma']}` "
                   f"(the double `{e['gamma_hex']}`), V = {e['vocab']}, account {acc}, "
                   f"P = {e['n_prompt']} prompt token{'s' if e['n_prompt'] != 1 else ''}, deduplication on.")
        out.append("")
        out.append("```")
        out.append(f"T       = floor(gamma * 2^64) = {e['T']} = 0x{e['T_hex16']}")
        out.append(f"info    = \"{e['info']}\"")
        out.append(f"OKM     = {e['okm'][:32]}")
        out.append(f"          {e['okm'][32:]}")
        out.append(f"K_ctx   = (k0 = 0x{e['k_ctx_hex16'][0]}, k1 = 0x{e['k_ctx_hex16'][1]})")
        out.append(f"K_green = (k0 = 0x{e['k_green_hex16'][0]}, k1 = 0x{e['k_green_hex16'][1]})")
        fi = e["first_inputs"]
        out.append(f"seed    : {_SEED_RULE[e['scheme']]}")
        if fi["seed_input"] is not None:
            out.append(f"          at i = {fi['i']} the SipHash input is {fi['seed_input']}")
        out.append(f"PRF     : SipHash(K_green, LE64(s) || LE32(v)) < T ?")
        out.append(f"          at i = {fi['i']} the SipHash input is {fi['prf_input']}")
        out.append("```")
        out.append("")
        ctx_head = f"context x[i-{e['h']}, i)" if e["h"] else "context"
        seed_head = "SipHash(K_ctx, LE32(c_j)); seed s" if e["scheme"] == "kgw-minhash" else "seed s"
        out.append(f"| i | x_i | {ctx_head} | {seed_head} | PRF(s, x_i) | result |")
        out.append("|---|---|---|---|---|---|")
        for p in e["positions"]:
            ctx = ", ".join(str(c) for c in p["context"]) if "context" in p else "-"
            if e["h"] == 0 and "context" in p:
                ctx = "(none)"
            if "seed_hex16" in p:
                seed = f"`{p['seed_hex16']}`"
                if "context_hashes_hex16" in p:
                    seed = " ".join(f"`{x}`" for x in p["context_hashes_hex16"]) + f" -> `{p['seed_hex16']}`"
            else:
                seed = "-"
            prf = f"`{p['prf_hex16']}`" if "prf_hex16" in p else "-"
            out.append(f"| {p['i']} | {p['token']} | {ctx} | {seed} | {prf} | {_mark_text(p)} |")
        out.append("")
        out.append("```")
        out.append(f"N = {e['n_scored']} scored, G = {e['n_green']} green "
                   f"({e['n_repeat']} repeat, {e['n_no_context']} no_context, {e['n_prompt']} prompt)")
        out.append(f"gamma_eff = T / 2^64 = {e['gamma_eff']}")
        out.append(f"z         = {e['z_text']}")
        out.append(f"log10 p   = {e['log10_p_text']}")
        out.append(f"p         = {e['p_text']}")
        out.append("```")
        out.append("")
    out.append(WORKED_END)
    return "\n".join(out) + "\n"


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
    if "worked-examples" in argv:
        sys.stdout.write(render_worked_examples(files["worked_examples.json"]["examples"]))
        return 0
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
        # The worked examples printed in the spec are exactly the generated ones.
        with open(os.path.join(root, "docs", "SPEC.md"), encoding="utf-8") as f:
            if render_worked_examples(files["worked_examples.json"]["examples"]) not in f.read():
                stale.append("docs/SPEC.md §9 (worked examples)")
        if stale:
            print("stale or missing:", ", ".join(stale), file=sys.stderr)
            return 1
        print("data/spec-v1 and the worked examples of docs/SPEC.md are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
