"""tiktoken as the fast path of a byte-level BPE tokenizer.json, with `tokenizers` as its oracle.

Meta's Llama-3 reference tokenizer is tiktoken over the same vocabulary and pre-tokenizer
pattern as the HF tokenizer.json; it encodes several times faster than `tokenizers`. The ids
must still equal tokenizer.json's on every document, so:

- `tiktoken_encoding` builds an Encoding only from a tokenizer.json whose every part tiktoken
  expresses (BPE over the 256-byte alphabet, ignore_merges, no normalizer, a Split(Regex) +
  ByteLevel pre-tokenizer, prefix-free added tokens matched as specials); anything else returns
  the reason it cannot, and the caller runs `tokenizers` and logs that reason;
- `needs_reference` flags text that holds a combining mark (Unicode category M), the one class of
  text where the two were reported to disagree (2 of 680 documents when the fast path was
  proposed, issue 12). That has not been reproduced with this pair of libraries (tiktoken 0.14,
  tokenizers 0.23): every code point in five contexts, 1.28 M two-character strings over marks,
  case-fold specials, spaces, ZWJ and digits in nine contexts, 300 k random strings of 3-40 of
  those characters, and 40 MB of licences and sources all gave identical ids. The two can only
  disagree where their regex engines do (fancy-regex / Rust regex against Oniguruma, each with its
  own Unicode tables), so marks stay routed, but by paragraph: `reference_spans` cuts a flagged
  document at `PARAGRAPH_END`, where no piece of Llama-3's or GPT-2's pattern crosses, and only
  the paragraphs with a mark go to `tokenizers` (0.2% of the benchmark corpus's characters; whole
  documents were 2% of its tokens).
Where the two differ, tiktoken is what Meta's reference runs (same ranks, same pattern).
"""

from __future__ import annotations

import json
from itertools import groupby
from pathlib import Path

import regex
import tiktoken

# Byte-level BPE writes byte b as this printable character (GPT-2's table).
def _byte_level_alphabet() -> dict[str, int]:
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[chr(byte)] = byte
        else:
            chars[chr(256 + extra)] = byte
            extra += 1
    return chars


BYTE_OF_CHAR = _byte_level_alphabet()
# ByteLevel(use_regex=True) splits with GPT-2's pattern before mapping bytes.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
COMBINING_MARK = regex.compile(r"\p{M}")
# Under Llama-3's and GPT-2's patterns no piece crosses a newline that has a printable ASCII
# character on each side (no alternative joins a non-space, a newline and a non-space; after
# the newline matching starts afresh, and no alternative looks behind), so the pieces of a
# document are the pieces of its paragraphs split there: each paragraph can take its own path.
PARAGRAPH_END = regex.compile(r"(?<=[!-~]\n)(?=[!-~])")
SPLITS_AT_PARAGRAPHS = {LLAMA3_PATTERN, GPT2_PATTERN}


def needs_reference(text: str) -> bool:
    """Whether `text` goes to `tokenizers`: it holds a combining mark. ASCII text (most of it)
    costs one isascii() call; other text one scan by `regex` (~20 M characters/s)."""
    return not text.isascii() and COMBINING_MARK.search(text) is not None


def reference_spans(text: str, by_paragraph: bool) -> list[tuple[str, bool]]:
    """`text` as consecutive (span, needs_reference) pairs: one pair for most documents; with
    `by_paragraph` (the pattern splits at PARAGRAPH_END), only the paragraphs that hold a mark
    go to `tokenizers`, runs of the others stay joined for tiktoken."""
    if not needs_reference(text):
        return [(text, False)]
    if not by_paragraph:
        return [(text, True)]
    return [("".join(run), flag) for flag, run in groupby(PARAGRAPH_END.split(text), key=needs_reference)]


def splits_at_paragraphs(encoding: tiktoken.Encoding) -> bool:
    """Whether `encoding`'s pattern is one that PARAGRAPH_END splits exactly."""
    return encoding._pat_str in SPLITS_AT_PARAGRAPHS


class Unsupported(ValueError):
    """tiktoken cannot reproduce this tokenizer.json exactly; the message says which part."""


def tiktoken_encoding(tokenizer_json: str | Path) -> tiktoken.Encoding:
    """An Encoding whose ids equal tokenizer.json's (documents with combining marks aside).
    Raises Unsupported naming the part of tokenizer.json that tiktoken cannot express."""
    return encoding_from_spec(json.loads(Path(tokenizer_json).read_text()), Path(tokenizer_json).name)


def encoding_from_spec(spec: dict, name: str) -> tiktoken.Encoding:
    """tiktoken_encoding of a parsed tokenizer.json."""
    pattern = _pre_tokenizer_pattern(spec.get("pre_tokenizer"))
    if spec.get("normalizer") is not None:
        raise Unsupported(f"normalizer {spec['normalizer'].get('type')!r} (tiktoken has none)")
    ranks = _mergeable_ranks(spec["model"])
    specials = _special_tokens(spec.get("added_tokens") or [], ranks)
    try:
        return tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)
    except Exception as err:  # fancy-regex rejects some Oniguruma syntax
        raise Unsupported(f"tiktoken rejects the pre-tokenizer pattern {pattern!r}: {err}") from err


def _pre_tokenizer_pattern(pre: dict | None) -> str:
    steps = pre.get("pretokenizers", []) if pre and pre.get("type") == "Sequence" else [pre]
    types = [s.get("type") if s else None for s in steps]
    if types == ["ByteLevel"] and steps[0].get("use_regex", True) and not steps[0].get("add_prefix_space"):
        return GPT2_PATTERN
    if types == ["Split", "ByteLevel"]:
        split, byte_level = steps
        if (split.get("behavior") == "Isolated" and not split.get("invert") and "Regex" in split["pattern"]
                and not byte_level.get("use_regex", True) and not byte_level.get("add_prefix_space")):
            return split["pattern"]["Regex"]
    raise Unsupported(f"pre-tokenizer {types} is not byte-level Split(Regex, Isolated) + ByteLevel")


def _mergeable_ranks(model: dict) -> dict[bytes, int]:
    """tiktoken's ranks are the token ids; its merge (lowest rank of the joined pair) equals
    tokenizers' BPE when ignore_merges is on and every merge's rank follows its product's id."""
    if model.get("type") != "BPE":
        raise Unsupported(f"model type {model.get('type')!r} is not BPE")
    for key, allowed in (("ignore_merges", {True}), ("dropout", {None}), ("byte_fallback", {False, None}),
                         ("continuing_subword_prefix", {None, ""}), ("end_of_word_suffix", {None, ""})):
        if model.get(key) not in allowed:
            raise Unsupported(f"model.{key} = {model.get(key)!r}")
    try:
        ranks = {bytes(BYTE_OF_CHAR[c] for c in token): rank for token, rank in model["vocab"].items()}
    except KeyError as err:
        raise Unsupported(f"vocabulary token with character {err} outside the byte-level alphabet") from err
    if missing := [b for b in range(256) if bytes([b]) not in ranks]:
        raise Unsupported(f"{len(missing)} of the 256 single bytes are not tokens")
    merges, last = set(), -1
    for merge in model["merges"]:
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        product = model["vocab"].get(left + right)
        if product is None or product < last:
            raise Unsupported(f"merge {left!r} + {right!r} is out of rank order")
        merges.add((left, right))
        last = product
    # tiktoken joins any two adjacent tokens whose concatenation is a token: each such pair must be a merge
    vocab = model["vocab"]
    for token in vocab:
        for cut in range(1, len(token)):
            if token[:cut] in vocab and token[cut:] in vocab and (token[:cut], token[cut:]) not in merges:
                raise Unsupported(f"token {token!r} splits into tokens {token[:cut]!r} + {token[cut:]!r} "
                                  "that are not a merge")
    return ranks


def _special_tokens(added: list[dict], ranks: dict[bytes, int]) -> dict[str, int]:
    """tokenizers extracts added tokens from text before BPE (leftmost-longest); tiktoken's
    allowed specials do the same when none is a prefix of another and none has strip rules."""
    specials = {}
    for token in added:
        if token.get("lstrip") or token.get("rstrip") or token.get("single_word"):
            raise Unsupported(f"added token {token['content']!r} has lstrip/rstrip/single_word")
        if token["content"].encode() in ranks:
            raise Unsupported(f"added token {token['content']!r} is also a vocabulary token")
        specials[token["content"]] = token["id"]
    ordered = sorted(specials)
    for shorter, longer in zip(ordered, ordered[1:]):
        if longer.startswith(shorter):
            raise Unsupported(f"added token {shorter!r} is a prefix of {longer!r}")
    return specials
