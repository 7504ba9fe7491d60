"""The tiktoken fast path gives tokenizer.json's ids on every document, or is not used at all."""

import json
import logging
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tiktoken
from tokenizers import Tokenizer

from cpt.data.fast_tokenizer import (GPT2_PATTERN, LLAMA3_PATTERN, PARAGRAPH_END, Unsupported, encoding_from_spec,
                                      needs_reference, reference_spans, splits_at_paragraphs, tiktoken_encoding)
from cpt.data.formats import DocumentShard
from cpt.data.download import write_listing
from cpt.data.tokenize import DocumentEncoder, tokenize_shard
from llama3_tokenizer import BOS_ID, EOS_ID, llama3_model_dir, meta_reference

SCRIPTS = {  # a few words per script; documents draw from all of them
    "latin": "the quick brown fox jumps über naïve café façade Øresund Łódź İstanbul ſtraße",
    "cyrillic": "Съешь же ещё этих мягких французских булок да выпей чаю",
    "greek": "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία ΐ ΰ",
    "arabic": "صِفْ خَلْقَ خَوْدٍ كَمِثْلِ الشَّمْسِ إِذْ بَزَغَتْ",
    "hebrew": "דג סקרן שט בים מאוכזב ולפתע מצא חברה",
    "devanagari": "ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले",
    "thai": "เป็นมนุษย์สุดประเสริฐเลิศคุณค่า กว่าบรรดาฝูงสัตว์เดรัจฉาน",
    "cjk": "天地玄黄宇宙洪荒 日月盈昃辰宿列张 いろはにほへと ちりぬるを",
    "hangul": "키스의 고유조건은 입술끼리 만나야 하고 특별한 기술은 필요치 않다",
    "emoji": "👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇫🇷 😀😃😄 ✓ ☃",
    "combining": "e\u0301 a\u0308\u0301 Z\u0351\u0300\u0330a\u0334l\u0336g\u0337o\u0338 n\u0303 \u20dd x\u0327",
    "code": "def f(x):\n\tif x  >= 10:\n\t\treturn {'k': [1, 2, 3]}  # ok\r\n    x += 0x1F; y = \"\\n\"\n",
    "whitespace": "a     b\t\t\tc\n\n\n\nd \u00a0 \u3000 e\u2028f\u200bg\r\n\r\n   \n ",
    "numbers": "1234567890 3.14159 1,000,000 ١٢٣ ४५६ ½ ² 10⁻³",
    "specials": "<|begin_of_text|> text <|end_of_text|><|eot_id|> <|reserved_special_token_7|> <|not_special|>",
    "contractions": "it's I'M we'LL they'Ve you'd She'S don't 'tis",
    "casefold": "'ſ 'K 'ﬆ 'ẗ 'ǰ İi\u0307 ß ẞ 'Ｓ ŉ ᾳ\u0345 ΐ",  # case folds that are not one-to-one
    "spaces": "a\u2000\u2009b\u202f\u205f\u1680c\u0085d\ufeffe\u180ef\r\n\r\n\t \u3000\n",
    "zwj": "👩\u200d💻 👁\ufe0f\u200d🗨\ufe0f क्\u200dष a\u200cb "
           "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # ZWJ, ZWNJ, emoji tag sequence
}


def corpus(seed: int = 0, documents: int = 100) -> list[str]:
    """Documents mixing two scripts each, marks, code and whitespace runs; a few long ones; an empty one."""
    rng = random.Random(seed)
    separators = [" ", "  ", "\n", "\n\n", "\t", "", "'s ", "\r\n"]
    docs = list(SCRIPTS.values())
    for _ in range(documents):
        words = [w for script in rng.sample(list(SCRIPTS), 2) for w in SCRIPTS[script].split(" ")]
        docs.append("".join(rng.choice(words) + rng.choice(separators) for _ in range(rng.choice([3, 30, 300]))))
    docs.append("".join(SCRIPTS.values()) * 150)  # ~120k characters
    docs += ["", " " * 5000, "a" * 20000, "\n" * 1000 + "x"]
    return docs


@pytest.fixture(scope="module")
def llama3(tmp_path_factory):
    """Meta's Llama-3 tokenizer (128,256 tokens) as tokenizer.json, from the llama-models wheel."""
    try:
        return llama3_model_dir()
    except RuntimeError as err:  # no package index: the demo-tokenizer tests below still run
        pytest.skip(f"Meta's Llama-3 tokenizer.model is unavailable: {err}")


@pytest.fixture(scope="module")
def reference(llama3):
    return Tokenizer.from_file(str(llama3 / "tokenizer.json"))


@pytest.fixture(scope="module")
def fast(llama3):
    return tiktoken_encoding(llama3 / "tokenizer.json")


def expected(tokenizer: Tokenizer, text: str) -> list[int]:
    return [BOS_ID] + tokenizer.encode(text, add_special_tokens=False).ids + [EOS_ID]


def test_llama3_runs_the_fast_path_with_tokenizer_json_ids(llama3, reference, caplog):
    with caplog.at_level(logging.INFO, logger="cpt"):
        encoder = DocumentEncoder(llama3)
    assert encoder.fast is not None and encoder.fast.n_vocab == 128256
    assert "tiktoken fast path" in caplog.text
    docs = corpus()
    offsets, values = encoder.encode(docs)
    for i, text in enumerate(docs):
        assert values[offsets[i]:offsets[i + 1]].tolist() == expected(reference, text), f"document {i}"
    flagged = [text for text in docs if needs_reference(text)]
    assert encoder.reference_documents == len(flagged) and 0 < len(flagged) < len(docs)


def test_tiktoken_alone_agrees_with_tokenizer_json_and_where_meta_differs(fast, reference):
    """Without routing, tiktoken already gives tokenizer.json's ids on this corpus, marks included;
    Meta's reference differs from both only where text spells a special token (Meta encodes it
    as text, tokenizer.json as the special id)."""
    meta = meta_reference()
    for text in corpus(seed=1, documents=40):
        ids = reference.encode(text, add_special_tokens=False).ids
        assert fast.encode(text, allowed_special="all") == ids
        assert (meta.encode(text, disallowed_special=()) == ids) == ("<|" not in text or not any(
            special in text for special in fast.special_tokens_set))


def test_every_code_point_between_letters_and_spaces(fast, reference):
    """Each regex engine's Unicode classes: a sample of all code points, 4,000 per document."""
    points = [c for c in range(0, 0x110000, 37) if not 0xD800 <= c < 0xE000]
    for start in range(0, len(points), 4000):
        text = "\n".join(f"a{chr(c)}b {chr(c)}{chr(c)} '{chr(c)}" for c in points[start:start + 4000])
        assert fast.encode(text, allowed_special="all") == reference.encode(text, add_special_tokens=False).ids


PARAGRAPH_EDGES = ["a\nb", "a\n\nb", "}\n x", "'s\n's", "x \nY", "12\n34", "a\r\nb", "é\nñ", "a\n\u0301b",
                   ".\n.", "a\n<|eot_id|>b", "a\u00a0\nb", "x\n  \ny", "ab\ncd\n"]


@pytest.mark.parametrize("pattern", [LLAMA3_PATTERN, GPT2_PATTERN])
def test_a_document_encodes_as_its_paragraphs(fast, reference, pattern):
    """PARAGRAPH_END cuts no piece of either pattern: split there, a document's ids are the
    concatenation of its paragraphs' ids, under tiktoken (fancy-regex) and, for Llama-3,
    tokenizer.json (Oniguruma)."""
    encoding = fast if pattern == LLAMA3_PATTERN else tiktoken.Encoding(
        "gpt2-split", pat_str=pattern, mergeable_ranks=fast._mergeable_ranks, special_tokens=fast._special_tokens)
    rng = random.Random(2)
    docs = corpus(seed=2, documents=60) + ["".join(rng.choices(PARAGRAPH_EDGES, k=200)) for _ in range(20)]
    split = 0
    for text in docs:
        paragraphs = PARAGRAPH_END.split(text)
        split += len(paragraphs) > 1
        whole = encoding.encode(text, allowed_special="all")
        assert whole == [i for p in paragraphs for i in encoding.encode(p, allowed_special="all")], repr(text)
        if pattern == LLAMA3_PATTERN:
            assert whole == [i for p in paragraphs for i in reference.encode(p, add_special_tokens=False).ids]
    assert split > len(docs) / 4


def test_only_paragraphs_with_marks_go_to_tokenizers(fast):
    assert splits_at_paragraphs(fast) and fast._pat_str == LLAMA3_PATTERN
    text = "plain\nLine with cafe\u0301 ok\nand more\nplain ascii\n"
    assert reference_spans(text, by_paragraph=True) == [
        ("plain\n", False), ("Line with cafe\u0301 ok\n", True), ("and more\nplain ascii\n", False)]
    assert reference_spans(text, by_paragraph=False) == [(text, True)]
    assert reference_spans("no mark: café\n", by_paragraph=True) == [("no mark: café\n", False)]


def test_needs_reference_finds_combining_marks_only():
    assert not needs_reference("plain ascii text, with 'quotes' and\ttabs")
    assert not needs_reference("naïve café ÿ 日本語 👍")  # precomposed: no mark
    assert needs_reference("cafe\u0301") and needs_reference("\u0930\u093e")  # Latin + Devanagari vowel sign


@pytest.fixture(scope="module")
def llama3_spec(llama3):
    return json.loads((llama3 / "tokenizer.json").read_text())


@pytest.mark.parametrize("edit, reason", [
    (lambda s: s.update(normalizer={"type": "NFC"}), "normalizer 'NFC'"),
    (lambda s: s["added_tokens"][0].update(lstrip=True), "lstrip"),
    (lambda s: s["added_tokens"].append({"id": 7, "content": "<|begin"}), "prefix"),
    (lambda s: s["model"].update(ignore_merges=False), "ignore_merges"),
    (lambda s: s["model"]["merges"].reverse(), "out of rank order"),
    (lambda s: s["model"]["merges"].pop(1000), "not a merge"),
    (lambda s: s.update(pre_tokenizer={"type": "Whitespace"}), "pre-tokenizer"),
    (lambda s: s["model"].update(type="WordPiece"), "not BPE"),
])
def test_what_tiktoken_cannot_express_is_named(llama3_spec, edit, reason):
    spec = {**llama3_spec, "model": {**llama3_spec["model"], "merges": list(llama3_spec["model"]["merges"])},
            "added_tokens": [dict(token) for token in llama3_spec["added_tokens"]]}  # a cheap private copy
    edit(spec)
    with pytest.raises(Unsupported, match=reason):
        encoding_from_spec(spec, "edited")


def test_demo_tokenizer_falls_back_with_one_log_line(model_dir, caplog):
    """The demo's trained BPE lacks ignore_merges: tokenizers encodes it, and the log says so."""
    with caplog.at_level(logging.INFO, logger="cpt"):
        encoder = DocumentEncoder(model_dir)
    assert encoder.fast is None
    assert [r.message for r in caplog.records if "tokenizers for every document" in r.message
            and "ignore_merges" in r.message]
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    config = json.loads((model_dir / "config.json").read_text())
    offsets, values = encoder.encode([SCRIPTS["latin"], ""])
    assert values[offsets[0]:offsets[1]].tolist() == [config["bos_token_id"]] + tokenizer.encode(
        SCRIPTS["latin"], add_special_tokens=False).ids + [config["eos_token_id"]]
    assert values[offsets[1]:].tolist() == [config["bos_token_id"], config["eos_token_id"]]


def test_a_large_document_is_its_block_repeated(llama3, reference, tmp_path):
    """A 4 MB document through the whole stage (parquet -> Arrow): no special case, no crash,
    time and memory linear in it (one text, one id array). It repeats a block of every script,
    one per line, and ASCII prose; the block ends at a paragraph end, so the document's ids must
    be the block's tokenizer.json ids, repeated."""
    block = "".join(f"{name}: {text} .\n" for name, text in SCRIPTS.items()) + "plain prose, x += 1; 'tis.\n" * 40
    assert PARAGRAPH_END.split(block + block) == PARAGRAPH_END.split(block) * 2
    copies = 4_000_000 // len(block)
    (tmp_path / "src").mkdir()
    pq.write_table(pa.table({"text": [block * copies, "", "after"]}), tmp_path / "src" / "part.parquet")
    source = {"local_dir": str(tmp_path / "src"), "glob": "*.parquet", "format": "parquet", "text_field": "text",
              "id_field": None, "encoding_errors": "strict"}
    write_listing(tmp_path / "listing.txt", source["local_dir"], ["part.parquet"])
    stats = tokenize_shard("big", source, str(tmp_path / "listing.txt"), 0, 1, str(llama3), 8192,
                           str(tmp_path / "out.arrow"))
    assert stats["rows"] == 2 and stats["skipped_documents"] == 1  # the empty document: counted, not written
    assert 0 < stats["reference_characters"] < len(block) * copies / 2
    shard = DocumentShard(tmp_path / "out.arrow")
    assert shard.document(0).tolist() == [BOS_ID] + reference.encode(block, add_special_tokens=False).ids * copies + [
        EOS_ID]
    assert shard.document(1).tolist() == expected(reference, "after")
