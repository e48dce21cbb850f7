"""Word-level text features shared by the hashing embedder and the offline model.

Both must agree on what a "content word" is: the embedder ranks passages by these terms
and the offline model decides relevance with the same ones, so a question the index
cannot match is also one the model declines to answer.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

# one string split once: easier to read and edit than a list literal
_STOPWORD_TEXT = (
    "a about above after again against all also am an and any are as at be because been before being "
    "below between both but by can could did do does doing don down during each few for from further "
    "get got had has have having he her here hers herself him himself his how i i'm if in into is it "
    "its itself just many may me might more most much must my myself need needs no nor not now of off "
    "on once one only or other our ours ourselves out over own per please same she should so some "
    "such tell than that the their theirs them themselves then there these they this those through to "
    "too under until up us very was we were what what's whats when where which while who whom why "
    "will with would you your yours yourself yourselves "
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split(" ")) - {""}


def _stem(word: str) -> str:
    """A deliberately crude suffix stripper: enough to match `days`/`day`, `travelling`/`travel`."""
    if word.endswith("'s"):
        word = word[:-2]
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    if len(word) > 4 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]  # travell -> travel
    return word


def words(text: str) -> list[str]:
    """Lower-cased word tokens, stopwords kept (bigrams need them gone later, not here)."""
    return _WORD.findall(text.lower())


def content_terms(text: str) -> list[str]:
    """Stemmed non-stopword tokens in order; the unit of relevance."""
    return [_stem(word) for word in words(text) if word not in STOPWORDS and len(word) > 1]
