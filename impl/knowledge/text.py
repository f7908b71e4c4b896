"""Text handling of the local knowledge bases: segments (chunks) and search terms.

Segments follow Dify's automatic segmentation in spirit: split on blank lines, then lines, then
sentences, packing pieces up to `chunk_size` characters, neighbours sharing up to `chunk_overlap`
characters. Terms are lower-cased words; CJK runs give one term per character pair (bigrams) so
Chinese and Japanese text is searchable without a dictionary.
"""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+")
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s*")
_SEPARATORS = ("\n\n", "\n")


def terms(text: str) -> list[str]:
    """The search terms of `text`, in order."""
    found: list[str] = []
    for word in _WORD.findall(text.lower()):
        pos = 0
        for run in _CJK.finditer(word):
            if run.start() > pos:
                found.append(word[pos : run.start()])
            chars = run.group()
            found.extend([chars] if len(chars) == 1 else [chars[i : i + 2] for i in range(len(chars) - 1)])
            pos = run.end()
        if pos < len(word):
            found.append(word[pos:])
    return found


def term_counts(text: str) -> dict[str, int]:
    return dict(Counter(terms(text)))


def word_count(text: str) -> int:
    return len(terms(text))


def _pieces(text: str, size: int, level: int = 0) -> list[str]:
    """`text` cut at the coarsest separator that makes every piece fit `size`."""
    if len(text) <= size:
        return [text]
    if level < len(_SEPARATORS):
        parts = [p for p in text.split(_SEPARATORS[level]) if p.strip()]
    elif level == len(_SEPARATORS):
        parts = [p for p in _SENTENCE.split(text) if p.strip()]
    else:
        return [text[i : i + size] for i in range(0, len(text), size)]
    if len(parts) <= 1:
        return _pieces(text, size, level + 1)
    out: list[str] = []
    for part in parts:
        out.extend(_pieces(part.strip(), size, level + 1) if len(part) > size else [part.strip()])
    return out


def chunk(text: str, size: int, overlap: int) -> list[str]:
    """The segments of a document's text (empty text: none)."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return []
    chunks: list[str] = []
    current = ""
    for piece in _pieces(text, size):
        if current and len(current) + 1 + len(piece) > size:
            chunks.append(current)
            tail = current[-overlap:] if overlap else ""
            # start the overlap at a word boundary
            cut = tail.find(" ")
            tail = tail[cut + 1 :] if 0 <= cut < len(tail) - 1 else tail
            current = f"{tail} {piece}".strip() if tail and len(tail) + 1 + len(piece) <= size else piece
        else:
            current = f"{current}\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks
